/*  rb_bus: the bus client every recobus node and tool uses.

    Connects a DEALER to the broker, registers (HELLO → WELCOME) with a
    role, a name and the services it offers, heartbeats both ways, and
    re-registers by itself after broker loss or ERROR unknown_node, with
    jittered back-off from 100 ms to 5 s. Given a broker pair it does all
    that with each, and a request whose broker is lost is sent again
    through the other (docs/ha.md). Requests carry a correlation id
    and a deadline; their replies (or a local ERROR timeout) come back to a
    callback. Works inside a zloop (rb_bus_attach) or synchronously
    (rb_bus_poll / rb_bus_call), for command-line tools.  */
#ifndef RB_BUS_H
#define RB_BUS_H

#include <czmq.h>
#include "rb_msg.h"

#define RB_BUS_BROKERS_MAX 2 /* a broker pair */

typedef struct rb_bus rb_bus_t;

typedef struct {
    /* the broker's bus endpoint; or a broker pair's two, separated by a
       comma: the node registers with both (docs/ha.md) */
    const char *endpoint;
    int role;                              /* rb_role_t */
    const char *name;                      /* unique node name */
    const char *services[RB_SERVICES_MAX]; /* offered, as a worker */
    int n_services;
    rb_limits_t limits; /* for decoding what arrives */
    /* register again after the node's own loop stood still for longer
       than the broker waits before it expires a silent node (a pause,
       SIGSTOP, swapping): pushes to it may have been dropped meanwhile,
       and rb_bus_registrations tells whoever relies on them (a cache) */
    bool rehello_after_stall;
    /* CurveZMQ (docs/security.md): this node's certificate (its secret
       file) and the broker's public one; both NULL or "": plain */
    const char *curve_cert;
    const char *broker_cert;
} rb_bus_opts_t;

/*  Called for a request to serve or a push. b points into the message:
    to keep using it after the call, take the message (*msg_p = NULL,
    yours to destroy) and decode it again.  */
typedef void (rb_bus_fn) (rb_bus_t *bus, const rb_header_t *h,
                          const rb_body_t *b, zmsg_t **msg_p, void *arg);

/*  Called once with the answer to a request sent with rb_bus_request:
    kind REPLY or ERROR, the latter also for a local timeout (status
    timeout, sender ""). arg and cookie are the request's: arg is usually
    the object that asked, cookie which of its requests this answers (an
    id, an index into its table). b and msg_p as for rb_bus_fn.  */
typedef void (rb_bus_answer_fn) (rb_bus_t *bus, const rb_header_t *h,
                                 const rb_body_t *b, zmsg_t **msg_p, void *arg,
                                 uint64_t cookie);

/*  A bus that connects and registers at once. With a certificate that
    cannot be loaded it never connects: rb_bus_problem says why.  */
rb_bus_t *rb_bus_new (const rb_bus_opts_t *opts);
/*  Says BYE to the broker and closes. Pending requests get no callback. */
void rb_bus_destroy (rb_bus_t **self_p);

void rb_bus_on_request (rb_bus_t *self, rb_bus_fn *fn, void *arg);

void rb_bus_on_push (rb_bus_t *self, rb_bus_fn *fn, void *arg);

/*  Called after each burst of arriving messages has been handled: a
    worker that collected requests can serve them together (one Redis
    pipeline for many GETs).  */
typedef void (rb_bus_idle_fn) (rb_bus_t *bus, void *arg);
void rb_bus_on_idle (rb_bus_t *self, rb_bus_idle_fn *fn, void *arg);

/*  Runs inside loop: a reader for the socket and a 10 ms timer. */
void rb_bus_attach (rb_bus_t *self, zloop_t *loop);

/*  Handles the messages already waiting on the socket, as the loop would
    (a node that must see pushes before its other input calls it first). */
void rb_bus_drain (rb_bus_t *self);

/*  Sends a REQUEST to a service (RB_ADDR_SERVICE) or node (RB_ADDR_NODE).
    fn is called exactly once, with arg and cookie. Returns 0, or -1 if
    too many are pending (then fn is not called).  */
int rb_bus_request (rb_bus_t *self, int addr, const char *dest,
                    const rb_body_t *b, uint32_t timeout_ms,
                    rb_bus_answer_fn *fn, void *arg, uint64_t cookie);
/*  Answers a request received through on_request. */
int rb_bus_reply (rb_bus_t *self, const rb_header_t *req, const rb_body_t *b);
int rb_bus_error (rb_bus_t *self, const rb_header_t *req, int code,
                  const char *text);
int rb_bus_push (rb_bus_t *self, int addr, const char *dest,
                 const rb_body_t *b);

bool rb_bus_registered (rb_bus_t *self);
/*  Why registration last failed ("name_taken: ..."), or NULL. */
const char *rb_bus_problem (rb_bus_t *self);
uint32_t rb_bus_pending (rb_bus_t *self);
/*  Times registered: +1 at each WELCOME from any broker (with a pair,
    2 once registered with both). A change means pushes sent meanwhile
    may have missed this node.  */
uint32_t rb_bus_registrations (rb_bus_t *self);
/*  Brokers given (1, or 2 for a pair). */
int rb_bus_brokers (rb_bus_t *self);
/*  Requests sent again through the other broker of a pair after theirs
    was lost.  */
uint64_t rb_bus_resent (rb_bus_t *self);

/*  --- synchronous use ------------------------------------------------- */

/*  Handles traffic and timers for up to timeout_ms; returns early after
    anything arrived. Returns -1 if interrupted.  */
int rb_bus_poll (rb_bus_t *self, int timeout_ms);
/*  Waits until registered; 0, or -1 at the deadline.  */
int rb_bus_wait_ready (rb_bus_t *self, int timeout_ms);

/*  Sends a request and waits for its answer, serving other traffic
    meanwhile. On return *reply is the answer message (yours; NULL only on
    local timeout), *h its header and *b its body (pointing into *reply).
    Returns 0 for a REPLY, else the rb_code_t of the ERROR.  */
int rb_bus_call (rb_bus_t *self, int addr, const char *dest,
                 const rb_body_t *req, uint32_t timeout_ms, zmsg_t **reply,
                 rb_header_t *h, rb_body_t *b);

#endif
