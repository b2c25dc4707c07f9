/*  rb_queue: a bounded FIFO of requests waiting for a free worker of one
    service. Each entry keeps the request's header and its body frame
    (moved in, never copied) and the deadline after which it expires.  */
#ifndef RB_QUEUE_H
#define RB_QUEUE_H

#include <stdbool.h>
#include <stdint.h>
#include <zmq.h>

#include "rb_msg.h"

typedef struct {
    rb_header_t header; /* as received, sender already known */
    zmq_msg_t body;     /* the body frame, owned by the entry */
    bool has_body;
    uint32_t requester; /* peer index of the requester */
    uint32_t req_gen;   /* its generation, to detect a vanished peer */
    int64_t deadline;   /* zclock_mono() ms after which it expires */
} rb_queued_t;

typedef struct rb_queue rb_queue_t;

rb_queue_t *rb_queue_new (uint32_t max);
/*  Destroys the queue and every body frame still in it. */
void rb_queue_destroy (rb_queue_t **self_p);

uint32_t rb_queue_size (rb_queue_t *self);
/*  A free entry at the tail to fill in, or NULL when the queue is full. */
rb_queued_t *rb_queue_push (rb_queue_t *self);
/*  The head entry, or NULL when empty. Valid until the next push. */
rb_queued_t *rb_queue_head (rb_queue_t *self);
/*  Drops the head entry; its body must have been moved or closed. */
void rb_queue_pop (rb_queue_t *self);
/*  The earliest deadline of the entries, INT64_MAX when empty. */
int64_t rb_queue_min_deadline (rb_queue_t *self);

/*  Removes every entry whose deadline is at or before now, calling
    expire (which must close or move the body) for each, in order.  */
typedef void (rb_queue_expire_fn) (rb_queued_t *entry, void *arg);
void rb_queue_expire (rb_queue_t *self, int64_t now, rb_queue_expire_fn *fn,
                      void *arg);

#endif
