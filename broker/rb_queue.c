/*  rb_queue: bounded FIFO of waiting requests (see rb_queue.h). */
#include "rb_queue.h"

#include <assert.h>
#include <stdlib.h>
#include <string.h>

struct rb_queue {
    rb_queued_t *ring; /* cap entries */
    uint32_t cap;      /* allocated; grows by doubling up to max */
    uint32_t max;      /* the bound */
    uint32_t head;     /* index of the oldest entry */
    uint32_t size;     /* entries in use */
};

rb_queue_t *
rb_queue_new (uint32_t max)
{
    rb_queue_t *self = (rb_queue_t *) calloc (1, sizeof *self);
    assert (self);
    self->max = max;
    return self;
}

void
rb_queue_destroy (rb_queue_t **self_p)
{
    rb_queue_t *self = *self_p;
    if (!self)
        return;
    while (self->size) {
        rb_queued_t *e = rb_queue_head (self);
        if (e->has_body)
            zmq_msg_close (&e->body);
        rb_queue_pop (self);
    }
    free (self->ring);
    free (self);
    *self_p = NULL;
}

uint32_t
rb_queue_size (rb_queue_t *self)
{
    return self->size;
}

/*  Moves an entry: zmq_msg_t may only be moved through its API. */
static void
s_move (rb_queued_t *dst, rb_queued_t *src)
{
    if (dst == src)
        return;
    zmq_msg_t body;
    zmq_msg_init (&body);
    if (src->has_body)
        zmq_msg_move (&body, &src->body);
    *dst = *src;
    zmq_msg_init (&dst->body);
    zmq_msg_move (&dst->body, &body);
    zmq_msg_close (&body);
}

/*  Doubles the ring, unrolling it so head is at 0. */
static void
s_grow (rb_queue_t *self)
{
    uint32_t cap = self->cap ? self->cap * 2 : 16;
    if (cap > self->max)
        cap = self->max;
    rb_queued_t *ring = (rb_queued_t *) malloc (cap * sizeof *ring);
    assert (ring);
    for (uint32_t i = 0; i < self->size; i++)
        s_move (&ring[i], &self->ring[(self->head + i) % self->cap]);
    free (self->ring);
    self->ring = ring;
    self->cap = cap;
    self->head = 0;
}

rb_queued_t *
rb_queue_push (rb_queue_t *self)
{
    if (self->size >= self->max)
        return NULL;
    if (self->size == self->cap)
        s_grow (self);
    rb_queued_t *e = &self->ring[(self->head + self->size) % self->cap];
    self->size++;
    memset (e, 0, sizeof *e);
    return e;
}

rb_queued_t *
rb_queue_head (rb_queue_t *self)
{
    return self->size ? &self->ring[self->head] : NULL;
}

void
rb_queue_pop (rb_queue_t *self)
{
    assert (self->size > 0);
    self->head = (self->head + 1) % self->cap;
    self->size--;
}

int64_t
rb_queue_min_deadline (rb_queue_t *self)
{
    int64_t min = INT64_MAX;
    for (uint32_t i = 0; i < self->size; i++) {
        int64_t d = self->ring[(self->head + i) % self->cap].deadline;
        if (d < min)
            min = d;
    }
    return min;
}

void
rb_queue_expire (rb_queue_t *self, int64_t now, rb_queue_expire_fn *fn,
                 void *arg)
{
    /* compact in place: keep the live entries in order */
    uint32_t kept = 0;
    for (uint32_t i = 0; i < self->size; i++) {
        rb_queued_t *e = &self->ring[(self->head + i) % self->cap];
        if (e->deadline <= now)
            fn (e, arg);
        else
            s_move (&self->ring[(self->head + kept++) % self->cap], e);
    }
    self->size = kept;
}
