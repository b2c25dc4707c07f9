/*  rb_broker_int: what the broker's files share (internal: not for
    users of the library).

    rb_broker.c is the actor: intake, routing, services and their
    queues, requests in flight, registration and expiry, the built-in
    "broker" service. It calls the files below it, the first three each
    with a struct of its own: rb_peers.c, the registered nodes;
    rb_services.c, the services with their workers and queues
    (rb_queue.c); rb_outbox.c, the sending end (ROUTER and tap);
    rb_authz.c, the table of who may say what; rb_info.c, the STATUS
    answer; rb_conns.c, the TCP connections, closed when they never
    register, and told when a registered one closes; rb_budget.c, what
    each peer was sent and has read; rb_flights.c, what a request in
    flight keeps to be sent again; rb_nodelog.c, its lines about nodes.
    None calls back, so calls go one way:
    rb_broker -> rb_peers, rb_services -> rb_queue, rb_outbox, rb_authz,
    rb_info, rb_conns, rb_budget, rb_flights, rb_nodelog.  */
#ifndef RB_BROKER_INT_H
#define RB_BROKER_INT_H

#ifndef RB_INSIDE_BROKER
#error "rb_broker_int.h is internal to its floor; include its public header"
#endif

#include "rb_broker.h"
#include "rb_budget.h"
#include "rb_msg.h"
#include "rb_notify.h"
#include "rb_queue.h"
#include "rb_slots.h"
#include "rb_timers.h"

#define RB_ID_MAX  255 /* bytes in a ZeroMQ routing id */
#define RB_HDR_BUF 256 /* an encoded header always fits */
#define RB_CODES   (RB_S_INTERNAL - RB_S_MALFORMED + 1)

/*  --- rb_authz.c: who may say what --------------------------------------- */

/*  What a peer's key says about it (ZAP metadata of its CurveZMQ
    certificate); both NULL in plain mode.  */
typedef struct {
    bool curve; /* CurveZMQ: role and name must be there */
    const char *role;
    const char *name;
} rb_authz_key_t;

/*  Whether a peer of role may send a message of kind (REQUEST, REPLY,
    ERROR, PUSH) carrying a body of type.  */
bool rb_authz__may_send (int role, int kind, int type);
/*  Whether a peer of role may offer (be a worker of) service.  */
bool rb_authz__may_offer (int role, const char *service);
/*  NULL when a HELLO agrees with its key (role, name) and offers only
    services its role may offer; else why not, written into why.  */
const char *rb_authz__hello (const rb_authz_key_t *key, const rb_body_t *hello,
                             char *why, size_t len);

/*  --- rb_peers.c: the registered nodes --------------------------------- */

/*  One node, registered or (not live) a slot waiting for reuse. The
    table fills it at registration; the actor keeps last_heard and
    inflight.  */
typedef struct {
    bool live;    /* registered now */
    uint32_t gen; /* bumped at each removal */
    char name[RB_NAME_MAX + 1];
    uint8_t role; /* rb_role_t */
    char services[RB_SERVICES_MAX][RB_NAME_MAX + 1];
    uint32_t n_services;
    uint8_t id[RB_ID_MAX]; /* ZeroMQ routing id */
    size_t id_len;
    char id_key[2 * RB_ID_MAX + 1]; /* id in hex: the table's key */
    int64_t last_heard;             /* zclock_mono () of its last message */
    int64_t last_refused_log;       /* when a refusal of it was last logged */
    uint32_t inflight;              /* requests sent to it, not answered */
    int fd;                         /* its TCP connection's descriptor, or -1 */
    rb_budget_t budget;             /* sent to it, and read by it */
    bool over_budget; /* to be dropped: nothing more is sent to it */
    bool gone;        /* a send to it failed (disconnected): likewise */
} rb_peer_t;

typedef struct rb_peers rb_peers_t;

/*  A table whose peers are silent once not heard from for silence_ms. */
rb_peers_t *rb_peers__new (int64_t silence_ms);
/*  The next live peer silent at now (caller removes it), or NULL: costs
    only the peers due, not a walk over all.  */
rb_peer_t *rb_peers__silent (rb_peers_t *self, int64_t now);
void rb_peers__destroy (rb_peers_t **self_p);

/*  Registers a node from its HELLO and routing id (at most RB_ID_MAX
    bytes) in a free slot: the name must not be taken. The pointer holds
    until the next registration.  */
rb_peer_t *rb_peers__add (rb_peers_t *self, const rb_body_t *hello,
                          const uint8_t *id, size_t id_len);
/*  Unregisters p: its name and id are free, its slot is reused later,
    with its generation bumped.  */
void rb_peers__remove (rb_peers_t *self, rb_peer_t *p);

/*  The live peer at index with generation gen, or NULL.  */
rb_peer_t *rb_peers__at (rb_peers_t *self, uint32_t index, uint32_t gen);
/*  The slot at index (an index taken from a live peer).  */
rb_peer_t *rb_peers__get (rb_peers_t *self, uint32_t index);
/*  The live peer with a routing id, or a name; NULL if none.  */
rb_peer_t *rb_peers__by_id (rb_peers_t *self, const uint8_t *id, size_t len);
rb_peer_t *rb_peers__by_name (rb_peers_t *self, const char *name);
uint32_t rb_peers__index (rb_peers_t *self, const rb_peer_t *p);
/*  The next live peer in index order, from *cursor (start at 0); NULL at
    the end. The current one may be removed meanwhile.  */
rb_peer_t *rb_peers__next (rb_peers_t *self, uint32_t *cursor);
/*  Live peers, and slots in all (live or not).  */
uint32_t rb_peers__live (rb_peers_t *self);
uint32_t rb_peers__slots (rb_peers_t *self);

/*  Fills b as a NODES body listing the live peers (at most 1024); each
    one's services, comma-separated, are written in services[] (the
    caller's, rb_peers__slots + 1 entries), which b points into.  */
void rb_peers__list (rb_peers_t *self, rb_body_t *b,
                     char (*services)[RB_TEXT_MAX]);

/*  --- rb_services.c: services, their workers and queues ----------------- */

/*  One service; the table makes it, the actor reads it to pick a worker
    and to serve its queue.  */
typedef struct {
    char name[RB_NAME_MAX + 1];
    uint32_t *workers; /* peer indexes of live workers */
    uint32_t n_workers, cap_workers;
    rb_queue_t *queue;    /* requests waiting for a free worker */
    int64_t min_deadline; /* lower bound of the queue's deadlines */
    int64_t idle_since;   /* when its last worker left; 0 while it has one */
    uint64_t id;          /* its id in the table's heap of due times */
} rb_service_t;

typedef struct rb_services rb_services_t;

/*  A table of at most max services, each queueing at most queue_max
    requests; one without workers is freed after linger_ms, once its
    queue is empty.  */
rb_services_t *rb_services__new (uint32_t queue_max, uint32_t max,
                                 int linger_ms);
/*  Whether the services a HELLO offers fit in the table. */
bool rb_services__fit (rb_services_t *self, const rb_body_t *hello);
uint32_t rb_services__count (rb_services_t *self);
/*  Destroys every service and every request still queued.  */
void rb_services__destroy (rb_services_t **self_p);

/*  The service called name, or NULL if no worker ever offered it.  */
rb_service_t *rb_services__find (rb_services_t *self, const char *name);
/*  The peer at index worker offers name (made on first use) / no more.  */
void rb_services__join (rb_services_t *self, const char *name, uint32_t worker);
void rb_services__leave (rb_services_t *self, const char *name,
                         uint32_t worker);
/*  A free entry at the tail of svc's queue, expiring at deadline, to
    fill in; NULL if the queue is full.  */
rb_queued_t *rb_services__push (rb_services_t *self, rb_service_t *svc,
                                int64_t deadline);
/*  Expires the queued requests due by now, through fn, and frees the
    services whose linger is over.  */
void rb_services__expire (rb_services_t *self, int64_t now,
                          rb_queue_expire_fn *fn, void *arg);
/*  Requests queued in all.  */
uint32_t rb_services__queued (rb_services_t *self);

/*  --- rb_outbox.c: what the broker sends --------------------------------- */

typedef struct rb_outbox rb_outbox_t;

typedef struct {
    int tap_subs;              /* live tap subscriptions */
    uint64_t tap_refused;      /* subscriptions without a monitor key */
    uint64_t tap_drops;        /* copies a full subscriber did not take */
    uint64_t send_fails;       /* sends to a gone or full peer */
    uint64_t errors[RB_CODES]; /* ERRORs sent by status */
} rb_outbox_stats_t;

/*  Sends on router and tap (libzmq handles, borrowed; tap may be NULL,
    else each subscriber's queue holds tap_hwm messages, 0 unbounded). */
rb_outbox_t *rb_outbox__new (void *router, void *tap, int tap_hwm);
void rb_outbox__destroy (rb_outbox_t **self_p);

/*  Takes one subscription message from the tap: counted, and with
    monitors_only (CurveZMQ, XPUB_MANUAL) applied only for monitor keys
    (others counted as tap_refused). false if none was waiting.  */
bool rb_outbox__on_tap (rb_outbox_t *self, bool monitors_only);
const rb_outbox_stats_t *rb_outbox__stats (rb_outbox_t *self);

/*  A header from the broker itself; a header or a body encoded into a
    frame.  */
rb_header_t rb_outbox__header (int kind, int type, uint64_t corr);
void rb_outbox__encode (zmq_msg_t *m, const rb_header_t *h);
void rb_outbox__body (zmq_msg_t *m, const rb_body_t *b);

/*  Holds a copy of a routed message for the tap, if anyone listens:
    [topic = h's body type or kind name][header][body?], published at
    the next rb_outbox__flush, or with its batch when the copies held
    reach their bound (rb_outbox.c). header (h encoded) and body are
    shared, not consumed.  */
void rb_outbox__tap (rb_outbox_t *self, const rb_header_t *h, zmq_msg_t *header,
                     zmq_msg_t *body);
/*  Publishes the tap copies held, in order (at each tick).  */
void rb_outbox__flush (rb_outbox_t *self);
/*  What rb_outbox__send returns when nothing was sent.  */
#define RB_OUT_GONE -1 /* no such peer (disconnected) */
#define RB_OUT_FULL -2 /* its queue is at the high-water mark */

/*  Sends [id][header][body?] on the router; header and body (may be
    NULL) are consumed either way. Returns the bytes sent (header and
    body), or RB_OUT_GONE or RB_OUT_FULL.  */
long rb_outbox__send (rb_outbox_t *self, const uint8_t *id, size_t id_len,
                      zmq_msg_t *header, zmq_msg_t *body);
/*  Sends ERROR {text} with status code to a routing id, and taps it;
    returns as rb_outbox__send.  */
long rb_outbox__error (rb_outbox_t *self, const uint8_t *id, size_t id_len,
                       uint64_t corr, int code, const char *text);

/*  --- rb_conns.c: TCP connections that never register ------------------ */

typedef struct rb_conns rb_conns_t;

typedef struct {
    uint64_t accepted;    /* TCP connections accepted */
    uint64_t idle_closed; /* closed for sending no HELLO in time */
} rb_conns_stats_t;

/*  Watches router's connections (its libzmq handle): one that is not
    registered hello_ms after its accept, or after its node was removed,
    is closed; hello_ms 0 never closes.  */
rb_conns_t *rb_conns__new (void *router, int64_t hello_ms);
void rb_conns__destroy (rb_conns_t **self_p);
/*  Reads every monitor event waiting: before each HELLO from the
    ROUTER, and at each tick.  */
void rb_conns__drain (rb_conns_t *self);
/*  A node registered on connection fd (its HELLO's ZMQ_SRCFD), owner
    being the caller's key for it / its node was removed: it waits for a
    HELLO again. -1 is ignored.  */
void rb_conns__hello (rb_conns_t *self, int fd, uint64_t owner);
void rb_conns__left (rb_conns_t *self, int fd);
/*  The owner of a registered connection that closed (seen by the last
    rb_conns__drain), each once; false when there is none left.  */
bool rb_conns__closed (rb_conns_t *self, uint64_t *owner);
/*  Closes the connections whose wait for a HELLO is over by now.  */
void rb_conns__expire (rb_conns_t *self, int64_t now);
const rb_conns_stats_t *rb_conns__stats (rb_conns_t *self);

/*  --- rb_nodelog.c: lines about nodes, rate-limited ---------------------- */

typedef struct {
    int64_t at;    /* when this second of lines began */
    uint32_t sent; /* lines logged in it */
    uint64_t held; /* and not logged */
} rb_nodelog_t;

/*  A line about a node (registered, removed, a HELLO refused), prefixed
    "broker: ", at warning or info level: at most RB_NODE_LOGS a second,
    the rest counted and said in one line when the next second begins.  */
#define RB_NODE_LOGS 20
void rb_nodelog__line (rb_nodelog_t *self, bool warning, const char *fmt, ...)
    __attribute__ ((format (printf, 3, 4)));

/*  --- rb_broker.c and rb_broker_actor.c: the broker ---------------------- */

#define RB_TOLD_MAX      64 /* dropped peers still to be told, at most */
#define RB_REROUTE_DEPTH 8  /* failed sends in a row one request may take */

/*  A request in flight: an entry of the flights table, whose id is the
    correlation id the worker sees.  */
typedef struct {
    uint32_t requester, req_gen; /* who asked */
    uint32_t worker, worker_gen; /* who was asked */
    uint64_t corr;               /* the requester's correlation id */
    int64_t deadline;            /* after which the requester gave up */
    bool kept;                   /* header and body kept, to be sent again */
    zmq_msg_t header;            /* as forwarded (shared with what was sent) */
    zmq_msg_t body;              /* likewise; empty when the request has none */
} rb_flight_t;

/*  --- rb_flights.c: what a request in flight keeps ---------------------- */

/*  What flights keep: bytes now, and the most they may.  */
typedef struct {
    uint64_t bytes, max;
} rb_kept_t;

/*  Whether a request of body type may be sent again to another worker
    when its worker is lost (the table in rb_flights.c; docs/faults.md
    says why each is, or is not).  */
bool rb_flights__reroutable (int type);
/*  Keeps in f shared copies (zmq_msg_copy: counted references, no bytes
    copied) of the header and body (may be NULL) forwarded for a request
    of body type to a service, if its type may be re-routed and the bytes
    kept stay within kept->max; else f keeps nothing.  */
void rb_flights__keep (rb_flight_t *f, int type, zmq_msg_t *header,
                       zmq_msg_t *body, rb_kept_t *kept);
/*  Closes what f keeps (nothing if it keeps nothing).  */
void rb_flights__release (rb_flight_t *f, rb_kept_t *kept);
/*  The request f kept, as its requester sent it: *h decoded, with the
    requester's corr; the body moved into body (initialized here, empty
    when none). f keeps nothing after. -1 (body still initialized) if f
    kept nothing or its header does not decode.  */
int rb_flights__take (rb_flight_t *f, rb_header_t *h, zmq_msg_t *body,
                      rb_kept_t *kept);

typedef struct {
    rb_broker_opts_t opts;
    zsock_t *pipe;           /* to the actor's owner */
    zsock_t *router;         /* every node */
    void *router_h;          /* its libzmq handle, for intake */
    zsock_t *tap;            /* XPUB, or NULL */
    char *bus_ep, *tap_ep;   /* resolved endpoints */
    rb_peers_t *peers;       /* registered nodes */
    rb_outbox_t *out;        /* what goes out on router and tap */
    rb_services_t *services; /* services, workers, queues */
    rb_slots_t *flights;     /* requests in flight */
    rb_timers_t *flight_due; /* (deadline + grace, flight id) */
    rb_conns_t *conns;       /* TCP connections, closed if unregistered */
    uint64_t *drops;         /* peers over budget: gen << 32 | index */
    uint32_t n_drops;        /* (room for nodes_max + 1) */
    struct {
        uint8_t id[RB_ID_MAX];
        size_t id_len;
        int64_t until;
    } told[RB_TOLD_MAX]; /* dropped peers to tell unknown_node */
    uint32_t n_told;
    uint64_t over_budget;         /* peers dropped for not reading */
    uint64_t nodes_lost;          /* removed at once: connection closed or a
                                     send to it failed */
    uint64_t rerouted;            /* requests in flight sent to another
                                     worker (or queued) when theirs was lost */
    rb_kept_t kept;               /* what flights keep to be sent again */
    uint32_t reroute_depth;       /* re-routes nested now (failed sends) */
    uint64_t nodes_refused;       /* HELLOs refused: table of nodes full */
    uint64_t queued_bytes;        /* request bodies waiting in service queues */
    rb_nodelog_t node_log;        /* node event lines, rate-limited */
    int64_t grace_ms;             /* a worker's silence before expiry */
    int64_t last_beat;            /* when heartbeats last went out */
    uint64_t routed[RB_T_COUNT_]; /* forwarded messages by body type */
    uint64_t expired, malformed, strays;
    int64_t last_log;           /* rate limit for bad-input logs */
    uint64_t unlogged;          /* bad inputs not logged since */
    zcert_t *cert;              /* CurveZMQ: ours; NULL in plain mode */
    zactor_t *auth;             /* ZAP over the authorized keys */
    uint64_t refused;           /* messages and HELLOs the table refused */
    rb_notify_t *notify;        /* systemd's READY, STATUS, WATCHDOG, or NULL */
    struct rb_metrics *metrics; /* --metrics server, or NULL */
} broker_t;

/*  --- rb_info.c: the STATUS answer --------------------------------------- */

/*  b filled as the broker's INFO: its counters, routed.TYPE for each
    body type, errors.CODE for each status sent (release it).  */
void rb_info__broker (broker_t *self, rb_body_t *b);

/*  --- rb_broker_metrics.c: the Prometheus metrics -------------------- */

/*  Serves the broker's metrics on opts.metrics (nothing if unset), the
    snapshots rendered by a timer on loop. 0, or -1 logged.  */
int rb_broker__metrics_start (broker_t *self, zloop_t *loop);

/*  One message from the ROUTER, its header decoded: from routing id, with
    what its key says (key), on connection fd (-1 if unknown); key and fd
    are read for a HELLO only. body (may be NULL) is consumed.  */
void rb_broker__route (broker_t *self, zmq_msg_t *id, const rb_header_t *h,
                       const rb_authz_key_t *key, int fd, zmq_msg_t *body);
/*  Drops the peers found over their send budget, or unreachable, since
    the last call.  */
void rb_broker__drop_over (broker_t *self);
/*  Reads the connection events waiting (rb_conns__drain) and removes at
    once each node whose connection closed.  */
void rb_broker__conns (broker_t *self);
/*  Closes what every flight still keeps (at the broker's end).  */
void rb_broker__release_flights (broker_t *self);
/*  The periodic tick (a zloop timer handler; arg is the broker).  */
int rb_broker__on_tick (zloop_t *loop, int timer_id, void *arg);

#endif
