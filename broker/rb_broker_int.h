/*  rb_broker_int: what the broker's two source files share (internal:
    not for users of the library). rb_broker.c holds sending, services,
    routing, intake and the actor; rb_broker_nodes.c holds peers,
    registration, expiry and the built-in "broker" service.  */
#ifndef RB_BROKER_INT_H
#define RB_BROKER_INT_H

#ifndef RB_INSIDE_BROKER
#error "rb_broker_int.h is internal to its floor; include its public header"
#endif

#include "rb_broker.h"
#include "rb_msg.h"
#include "rb_queue.h"
#include "rb_slots.h"

#define RB_ID_MAX  255 /* bytes in a ZeroMQ routing id */
#define RB_BATCH   256 /* messages handled per wake-up */
#define RB_TICK_MS 10  /* expiry timer */
#define RB_HDR_BUF 256 /* an encoded header always fits */
#define RB_CODES   (RB_S_INTERNAL - RB_S_MALFORMED + 1)

typedef struct {
    bool live;    /* registered now */
    uint32_t gen; /* bumped at each removal */
    char name[RB_NAME_MAX + 1];
    uint8_t role; /* rb_role_t */
    char services[RB_SERVICES_MAX][RB_NAME_MAX + 1];
    uint32_t n_services;
    uint8_t id[RB_ID_MAX]; /* ZeroMQ routing id */
    size_t id_len;
    char id_key[2 * RB_ID_MAX + 1]; /* id in hex: the by_id key */
    int64_t last_heard;             /* zclock_mono () of its last message */
    uint32_t inflight;              /* requests sent to it, not answered */
} rb_peer_t;

typedef struct {
    char name[RB_NAME_MAX + 1];
    uint32_t *workers; /* peer indexes of live workers */
    uint32_t n_workers, cap_workers;
    rb_queue_t *queue;    /* requests waiting for a free worker */
    int64_t min_deadline; /* lower bound of the queue's deadlines */
} rb_service_t;

typedef struct {
    uint32_t requester, req_gen; /* who asked */
    uint32_t worker, worker_gen; /* who was asked */
    uint64_t corr;               /* the requester's correlation id */
    int64_t deadline;            /* after which the requester gave up */
} rb_flight_t;

typedef struct {
    rb_broker_opts_t opts;
    zsock_t *pipe;   /* to the actor's owner */
    zsock_t *router; /* every node */
    zsock_t *tap;    /* XPUB, or NULL */
    void *router_h;  /* libzmq handles of the two */
    void *tap_h;
    char *bus_ep, *tap_ep; /* resolved endpoints */
    rb_peer_t *peers;      /* indexed by peer index */
    uint32_t n_peers, cap_peers;
    uint32_t *free_peers; /* indexes of removed peers, for reuse */
    uint32_t n_free;
    zhashx_t *by_name;            /* name → index + 1 */
    zhashx_t *by_id;              /* id hex → index + 1 */
    zhashx_t *services;           /* name → rb_service_t */
    rb_slots_t *flights;          /* requests in flight */
    int tap_subs;                 /* live tap subscriptions */
    int64_t last_beat;            /* when heartbeats last went out */
    uint64_t routed[RB_T_COUNT_]; /* forwarded messages by body type */
    uint64_t errors[RB_CODES];    /* ERRORs sent by status */
    uint64_t expired, malformed, strays, tap_drops, send_fails;
    int64_t last_log;  /* rate limit for bad-input logs */
    uint64_t unlogged; /* bad inputs not logged since */
    bool terminated;
} broker_t;

/*  rb_broker_nodes.c */
rb_peer_t *rb_br_peer_at (broker_t *self, uint32_t index, uint32_t gen);
rb_peer_t *rb_br_peer_by_id (broker_t *self, zmq_msg_t *id);
rb_peer_t *rb_br_peer_by_name (broker_t *self, const char *name);
uint32_t rb_br_index (broker_t *self, rb_peer_t *p);
void rb_br_log_bad (broker_t *self, const char *what, const char *detail);
void rb_br_peer_remove (broker_t *self, rb_peer_t *p, const char *why);
int rb_br_on_tick (zloop_t *loop, int timer_id, void *arg);
void rb_br_on_hello (broker_t *self, zmq_msg_t *id, const rb_header_t *h,
                     zmq_msg_t *body);
void rb_br_introspect (broker_t *self, rb_peer_t *req, const rb_header_t *h);

/*  rb_broker.c */
void rb_br_header_msg (zmq_msg_t *m, const rb_header_t *h);
void rb_br_body_msg (zmq_msg_t *m, const rb_body_t *b);
void rb_br_tap (broker_t *self, const rb_header_t *h, zmq_msg_t *body);
int rb_br_send_id (broker_t *self, const uint8_t *id, size_t id_len,
                   const rb_header_t *h, zmq_msg_t *body);
int rb_br_send (broker_t *self, rb_peer_t *p, const rb_header_t *h,
                zmq_msg_t *body);
rb_header_t rb_br_own_header (int kind, int type, uint64_t corr);
void rb_br_error_id (broker_t *self, const uint8_t *id, size_t id_len,
                     uint64_t corr, int code, const char *text);
void rb_br_error (broker_t *self, rb_peer_t *p, uint64_t corr, int code,
                  const char *text);
rb_service_t *rb_br_service_require (broker_t *self, const char *name);
void rb_br_service_destroy (void **item);
void rb_br_dispatch_worker (broker_t *self, rb_peer_t *w);
void rb_br_expire_queues (broker_t *self, int64_t now);

#endif
