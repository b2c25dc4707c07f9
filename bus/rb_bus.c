/*  rb_bus: the node side of the broker protocol (see rb_bus.h). */
#include "rb_bus.h"
#include "rb_curve.h"
#include "rb_slots.h"

#include <assert.h>
#include <string.h>

#define RB_BUS_TICK_MS    10
#define RB_BACKOFF_MIN    100
#define RB_BACKOFF_MAX    5000
#define RB_PENDING_MAX    (1u << 20)
#define RB_LOCAL_SLACK_MS 50
#define RB_BUS_BURST      1024 /* messages handled before yielding */

typedef struct {
    rb_bus_answer_fn *fn; /* called once with the answer */
    void *arg;
    uint64_t cookie;  /* given back to fn beside arg */
    int64_t deadline; /* zclock_mono () ms: local timeout */
} rb_pending_t;

struct rb_bus {
    rb_bus_opts_t opts;
    char name[RB_NAME_MAX + 1];
    char services[RB_SERVICES_MAX][RB_NAME_MAX + 1];
    char *endpoint;
    zcert_t *cert;       /* ours, or NULL: plain */
    char broker_key[41]; /* the broker's public key (Z85) */
    bool unusable;       /* a certificate could not be loaded */
    zsock_t *sock;       /* DEALER to the broker */
    zloop_t *loop;       /* when attached */
    int timer;           /* its tick timer id */
    bool registered;     /* WELCOME received since the last HELLO */
    uint32_t registrations;
    char problem[400]; /* why the last HELLO failed */
    int heartbeat_ms;  /* from WELCOME */
    int liveness;
    int64_t last_heard;  /* from the broker */
    int64_t last_beat;   /* our last heartbeat */
    int64_t last_run;    /* our loop last ran (tick or drain) */
    uint32_t stalls;     /* times it stood still too long */
    int64_t next_hello;  /* when to send HELLO (again) */
    int backoff;         /* ms before the next HELLO */
    rb_slots_t *pending; /* requests awaiting answers */
    rb_bus_fn *on_request, *on_push;
    rb_bus_idle_fn *on_idle;
    void *idle_arg;
    void *request_arg, *push_arg;
    rb_body_t body; /* reused for decoding */
    bool in_call;   /* inside rb_bus_call */
};

static int s_on_readable (zloop_t *loop, zsock_t *sock, void *arg);

static void
s_open_socket (rb_bus_t *self)
{
    self->sock = zsock_new (ZMQ_DEALER);
    assert (self->sock);
    zsock_set_linger (self->sock, 0);
    zsock_set_sndhwm (self->sock, 100000);
    zsock_set_rcvhwm (self->sock, 100000);
    /* never block: with no connection up (a CURVE handshake the broker
       refused leaves none) a send fails at once instead */
    zsock_set_sndtimeo (self->sock, 0);
    if (self->cert)
        rb_curve_client (zsock_resolve (self->sock), self->cert,
                         self->broker_key);
    if (!self->unusable)
        zsock_connect (self->sock, "%s", self->endpoint);
    if (self->loop)
        zloop_reader (self->loop, self->sock, s_on_readable, self);
}

static int
s_send (rb_bus_t *self, rb_header_t *h, const rb_body_t *b)
{
    if (self->unusable)
        return -1; /* unconnected: a send would block */
    zmsg_t *msg = rb_msg_new (h, b);
    int rc = zmsg_send (&msg, self->sock);
    zmsg_destroy (&msg); /* left to us when the send failed */
    return rc;
}

static rb_header_t
s_header (int kind, const rb_body_t *b)
{
    rb_header_t h;
    memset (&h, 0, sizeof h);
    h.kind = (uint8_t) kind;
    h.type = b ? b->type : RB_T_NONE;
    return h;
}

static void
s_hello (rb_bus_t *self)
{
    rb_body_t b;
    rb_body_init (&b, RB_T_HELLO);
    b.role = (uint8_t) self->opts.role;
    b.name = rb_str (self->name);
    b.n_services = (uint32_t) self->opts.n_services;
    for (int i = 0; i < self->opts.n_services; i++)
        b.services[i] = rb_str (self->services[i]);
    rb_header_t h = s_header (RB_K_HELLO, &b);
    s_send (self, &h, &b);
    int64_t now = zclock_mono ();
    /* jitter: the next try in [backoff/2, backoff] */
    self->next_hello =
        now + self->backoff / 2 + (int64_t) (randof (self->backoff / 2 + 1));
    self->backoff =
        self->backoff * 2 > RB_BACKOFF_MAX ? RB_BACKOFF_MAX : self->backoff * 2;
}

/*  Starts registering again; after broker loss also on a fresh socket
    (a DEALER may hold messages for a dead peer).  */
static void
s_reregister (rb_bus_t *self, bool new_socket)
{
    self->registered = false;
    if (new_socket) {
        if (self->loop)
            zloop_reader_end (self->loop, self->sock);
        zsock_destroy (&self->sock);
        s_open_socket (self);
    }
    self->next_hello = zclock_mono ();
}

rb_bus_t *
rb_bus_new (const rb_bus_opts_t *opts)
{
    rb_bus_t *self = (rb_bus_t *) calloc (1, sizeof *self);
    assert (self);
    self->opts = *opts;
    if (!self->opts.limits.max_value)
        self->opts.limits = rb_limits_default;
    snprintf (self->name, sizeof self->name, "%s", opts->name);
    for (int i = 0; i < opts->n_services && i < RB_SERVICES_MAX; i++)
        snprintf (self->services[i], sizeof self->services[i], "%s",
                  opts->services[i]);
    self->endpoint = strdup (opts->endpoint);
    self->pending = rb_slots_new (sizeof (rb_pending_t), RB_PENDING_MAX);
    self->heartbeat_ms = 1000;
    self->liveness = 3;
    self->backoff = RB_BACKOFF_MIN;
    rb_body_init (&self->body, RB_T_NONE);
    if (opts->curve_cert && *opts->curve_cert &&
        rb_curve_client_load (opts->curve_cert, opts->broker_cert, &self->cert,
                              self->broker_key, self->problem,
                              sizeof self->problem)) {
        self->unusable = true; /* never connects, never registers */
        zsys_error ("bus: %s", self->problem);
    }
    s_open_socket (self);
    self->last_heard = zclock_mono ();
    self->last_run = self->last_heard;
    s_hello (self);
    return self;
}

void
rb_bus_destroy (rb_bus_t **self_p)
{
    rb_bus_t *self = *self_p;
    if (!self)
        return;
    if (self->registered) {
        rb_header_t h = s_header (RB_K_BYE, NULL);
        s_send (self, &h, NULL);
    }
    if (self->loop) {
        zloop_reader_end (self->loop, self->sock);
        zloop_timer_end (self->loop, self->timer);
    }
    zsock_destroy (&self->sock);
    zcert_destroy (&self->cert);
    rb_slots_destroy (&self->pending);
    rb_body_release (&self->body);
    free (self->endpoint);
    free (self);
    *self_p = NULL;
}

void
rb_bus_on_request (rb_bus_t *self, rb_bus_fn *fn, void *arg)
{
    self->on_request = fn;
    self->request_arg = arg;
}

void
rb_bus_on_idle (rb_bus_t *self, rb_bus_idle_fn *fn, void *arg)
{
    self->on_idle = fn;
    self->idle_arg = arg;
}

void
rb_bus_on_push (rb_bus_t *self, rb_bus_fn *fn, void *arg)
{
    self->on_push = fn;
    self->push_arg = arg;
}

bool
rb_bus_registered (rb_bus_t *self)
{
    return self->registered;
}

const char *
rb_bus_problem (rb_bus_t *self)
{
    return self->problem[0] ? self->problem : NULL;
}

uint32_t
rb_bus_pending (rb_bus_t *self)
{
    return rb_slots_used (self->pending);
}

uint32_t
rb_bus_registrations (rb_bus_t *self)
{
    return self->registrations;
}

/*  --- sending --------------------------------------------------------- */

/*  Sends a request; *corr_p gets its correlation id. */
static int
s_request (rb_bus_t *self, int addr, const char *dest, const rb_body_t *b,
           uint32_t timeout_ms, rb_pending_t answer, uint64_t *corr_p)
{
    uint64_t corr;
    rb_pending_t *p = (rb_pending_t *) rb_slots_alloc (self->pending, &corr);
    if (!p)
        return -1;
    *p = answer;
    /* the broker's deadline is timeout_ms; ours a little later, so a live
       broker's own ERROR timeout (naming the cause) arrives first */
    p->deadline = zclock_mono () + timeout_ms + RB_LOCAL_SLACK_MS;
    rb_header_t h = s_header (RB_K_REQUEST, b);
    h.addr = (uint8_t) addr;
    snprintf (h.dest, sizeof h.dest, "%s", dest);
    h.corr = corr;
    h.timeout_ms = timeout_ms;
    *corr_p = corr;
    s_send (self, &h, b); /* if it fails, the answer is a local timeout */
    return 0;
}

int
rb_bus_request (rb_bus_t *self, int addr, const char *dest, const rb_body_t *b,
                uint32_t timeout_ms, rb_bus_answer_fn *fn, void *arg,
                uint64_t cookie)
{
    uint64_t corr;
    rb_pending_t answer = {fn, arg, cookie, 0};
    return s_request (self, addr, dest, b, timeout_ms, answer, &corr);
}

int
rb_bus_reply (rb_bus_t *self, const rb_header_t *req, const rb_body_t *b)
{
    rb_header_t h = s_header (RB_K_REPLY, b);
    h.corr = req->corr;
    return s_send (self, &h, b);
}

int
rb_bus_error (rb_bus_t *self, const rb_header_t *req, int code,
              const char *text)
{
    rb_body_t b;
    rb_body_init (&b, RB_T_ERROR);
    b.text = rb_str (text ? text : "");
    if (b.text.len > RB_TEXT_MAX)
        b.text.len = RB_TEXT_MAX;
    rb_header_t h = s_header (RB_K_ERROR, &b);
    h.corr = req->corr;
    h.status = (uint16_t) code;
    return s_send (self, &h, &b);
}

int
rb_bus_push (rb_bus_t *self, int addr, const char *dest, const rb_body_t *b)
{
    rb_header_t h = s_header (RB_K_PUSH, b);
    h.addr = (uint8_t) addr;
    snprintf (h.dest, sizeof h.dest, "%s", dest);
    return s_send (self, &h, b);
}

/*  --- receiving -------------------------------------------------------- */

/*  Hands an answer to its pending request, if it is still pending. */
static void
s_answer (rb_bus_t *self, const rb_header_t *h, zmsg_t **msg_p)
{
    rb_pending_t *p = (rb_pending_t *) rb_slots_get (self->pending, h->corr);
    if (!p)
        return; /* answered already, or timed out locally */
    rb_pending_t copy = *p;
    rb_slots_free (self->pending, h->corr);
    copy.fn (self, h, &self->body, msg_p, copy.arg, copy.cookie);
}

static void
s_on_error (rb_bus_t *self, const rb_header_t *h, zmsg_t **msg_p)
{
    if (h->status == RB_S_UNKNOWN_NODE)
        s_reregister (self, false);
    if (h->status == RB_S_NAME_TAKEN || h->status == RB_S_BAD_ROLE ||
        (h->status == RB_S_FORBIDDEN && !self->registered) ||
        (h->status == RB_S_OVERLOADED && !self->registered && !h->corr)) {
        /* our HELLO refused (the broker says forbidden only to a HELLO or
           to a registered node; overloaded with corr 0 only to a HELLO:
           its tables are full, and the next try may get in) */
        snprintf (self->problem, sizeof self->problem, "%s: %.*s",
                  rb_code_name (h->status), (int) self->body.text.len,
                  self->body.text.ptr);
        zsys_warning ("bus: %s cannot register: %s", self->name, self->problem);
        return;
    }
    s_answer (self, h, msg_p);
}

static void
s_dispatch (rb_bus_t *self, const rb_header_t *h, zmsg_t **msg_p)
{
    switch (h->kind) {
        case RB_K_WELCOME:
            self->registered = true;
            self->registrations++;
            self->problem[0] = '\0';
            self->backoff = RB_BACKOFF_MIN;
            self->heartbeat_ms = (int) self->body.heartbeat_ms;
            self->liveness = (int) self->body.liveness;
            break;
        case RB_K_HEARTBEAT:
            if (h->corr && self->registered) {
                /* echo the broker's mark at once: all it sent before
                   the mark has been read (its send budget for us) */
                rb_header_t echo = s_header (RB_K_HEARTBEAT, NULL);
                echo.corr = h->corr;
                s_send (self, &echo, NULL);
            }
            break;
        case RB_K_ERROR: s_on_error (self, h, msg_p); break;
        case RB_K_REPLY: s_answer (self, h, msg_p); break;
        case RB_K_REQUEST:
            if (self->on_request)
                self->on_request (self, h, &self->body, msg_p,
                                  self->request_arg);
            else
                rb_bus_error (self, h, RB_S_BAD_REQUEST, "not a worker");
            break;
        case RB_K_PUSH:
            if (self->on_push)
                self->on_push (self, h, &self->body, msg_p, self->push_arg);
            break;
        default: break;
    }
}

/*  Whether the loop stood still so long that the broker may have expired
    this node: it last heard us at least a heartbeat before our loop last
    ran, and expires a node after heartbeat x liveness of silence. Then,
    with rehello_after_stall, registers again before anything that came
    meanwhile is handled.  */
static void
s_check_stall (rb_bus_t *self)
{
    int64_t now = zclock_mono ();
    int64_t still = now - self->last_run;
    int64_t limit = (int64_t) self->heartbeat_ms *
                    (self->liveness > 1 ? self->liveness - 1 : 1);
    self->last_run = now;
    if (!self->opts.rehello_after_stall || !self->registered || still <= limit)
        return;
    self->stalls++;
    zsys_warning ("bus: %s: stood still for %d ms (the broker may have "
                  "expired us): registering again",
                  self->name, (int) still);
    s_reregister (self, false);
}

/*  Reads and handles every message waiting on the socket. */
static void
s_drain (rb_bus_t *self)
{
    s_check_stall (self);
    int handled = 0;
    while (handled < RB_BUS_BURST && (zsock_events (self->sock) & ZMQ_POLLIN)) {
        zmsg_t *msg = zmsg_recv (self->sock);
        if (!msg)
            break;
        handled++;
        self->last_heard = zclock_mono ();
        rb_header_t h;
        rb_err_t err;
        int rc = rb_msg_decode (msg, &self->opts.limits, &h, &self->body, &err);
        if (rc == RB_OK && h.kind == RB_K_WELCOME && h.type != RB_T_WELCOME)
            rc = RB_E_TYPE;
        if (rc == RB_OK)
            s_dispatch (self, &h, &msg);
        else {
            zsys_warning ("bus: %s: dropped a malformed message: %s",
                          self->name, err.text);
            /* the header decoded: a requester can be told at once */
            if (h.kind == RB_K_REQUEST)
                rb_bus_error (self, &h, RB_S_MALFORMED, err.text);
        }
        zmsg_destroy (&msg);
    }
    if (handled && self->on_idle)
        self->on_idle (self, self->idle_arg);
}

/*  Local timeouts, heartbeats, broker loss and HELLO retries. */
static void
s_tick (rb_bus_t *self)
{
    s_check_stall (self);
    int64_t now = zclock_mono ();
    uint32_t cursor = 0;
    uint64_t corr;
    rb_pending_t *p;
    while (
        (p = (rb_pending_t *) rb_slots_next (self->pending, &cursor, &corr))) {
        if (now < p->deadline)
            continue;
        rb_pending_t copy = *p;
        rb_slots_free (self->pending, corr);
        rb_header_t h = s_header (RB_K_ERROR, NULL);
        h.corr = corr;
        h.status = RB_S_TIMEOUT;
        rb_body_t b;
        rb_body_init (&b, RB_T_ERROR);
        b.text = rb_str ("no answer before the deadline");
        zmsg_t *none = NULL;
        copy.fn (self, &h, &b, &none, copy.arg, copy.cookie);
    }
    int64_t silence = (int64_t) self->heartbeat_ms * self->liveness;
    if (self->registered && now - self->last_heard > silence) {
        zsys_warning ("bus: %s: broker silent for %d ms, reconnecting",
                      self->name, (int) (now - self->last_heard));
        self->last_heard = now;
        s_reregister (self, true);
    }
    if (!self->registered && now >= self->next_hello)
        s_hello (self);
    if (self->registered && now - self->last_beat >= self->heartbeat_ms) {
        rb_header_t h = s_header (RB_K_HEARTBEAT, NULL);
        s_send (self, &h, NULL);
        self->last_beat = now;
    }
}

void
rb_bus_drain (rb_bus_t *self)
{
    s_drain (self);
}

static int
s_on_readable (zloop_t *loop, zsock_t *sock, void *arg)
{
    s_drain ((rb_bus_t *) arg);
    return 0;
}

static int
s_on_timer (zloop_t *loop, int timer_id, void *arg)
{
    s_tick ((rb_bus_t *) arg);
    return 0;
}

void
rb_bus_attach (rb_bus_t *self, zloop_t *loop)
{
    self->loop = loop;
    zloop_reader (loop, self->sock, s_on_readable, self);
    self->timer = zloop_timer (loop, RB_BUS_TICK_MS, 0, s_on_timer, self);
}

/*  --- synchronous use ---------------------------------------------------- */

int
rb_bus_poll (rb_bus_t *self, int timeout_ms)
{
    int wait = timeout_ms < RB_BUS_TICK_MS ? timeout_ms : RB_BUS_TICK_MS;
    zmq_pollitem_t item = {zsock_resolve (self->sock), 0, ZMQ_POLLIN, 0};
    int rc = zmq_poll (&item, 1, wait);
    if (rc == -1 && zmq_errno () == EINTR)
        return -1;
    if (rc > 0)
        s_drain (self);
    s_tick (self);
    return 0;
}

int
rb_bus_wait_ready (rb_bus_t *self, int timeout_ms)
{
    int64_t deadline = zclock_mono () + timeout_ms;
    while (!self->registered && zclock_mono () < deadline)
        if (rb_bus_poll (self, (int) (deadline - zclock_mono ())) == -1)
            return -1;
    return self->registered ? 0 : -1;
}

typedef struct {
    bool done;
    zmsg_t *msg;
    rb_header_t h;
} rb_call_t;

static void
s_call_done (rb_bus_t *bus, const rb_header_t *h, const rb_body_t *b,
             zmsg_t **msg_p, void *arg, uint64_t cookie)
{
    rb_call_t *call = (rb_call_t *) arg;
    call->done = true;
    call->h = *h;
    call->msg = *msg_p;
    *msg_p = NULL;
}

int
rb_bus_call (rb_bus_t *self, int addr, const char *dest, const rb_body_t *req,
             uint32_t timeout_ms, zmsg_t **reply, rb_header_t *h, rb_body_t *b)
{
    rb_call_t call = {false, NULL, {0}};
    uint64_t corr;
    *reply = NULL;
    rb_pending_t answer = {s_call_done, &call, 0, 0};
    if (s_request (self, addr, dest, req, timeout_ms, answer, &corr))
        return RB_S_OVERLOADED;
    while (!call.done)
        if (rb_bus_poll (self, RB_BUS_TICK_MS) == -1)
            break;
    if (!call.done) { /* interrupted: forget it, a late answer is dropped */
        rb_slots_free (self->pending, corr);
        return RB_S_TIMEOUT;
    }
    *h = call.h;
    *reply = call.msg;
    if (call.msg) {
        rb_header_t again;
        rb_err_t err;
        rb_msg_decode (call.msg, &self->opts.limits, &again, b, &err);
    }
    return call.h.kind == RB_K_REPLY ? 0 : call.h.status;
}
