/*  rb_bus: the node side of the broker protocol (see rb_bus.h).

    One leg per broker: a DEALER socket, its registration, heartbeats and
    back-off. With a broker pair (two endpoints) a node registers with
    both; requests go out on one registered leg (the first) and are sent
    again on the other if theirs is lost; pushes go out on every
    registered leg (receivers take duplicates: every push is idempotent,
    docs/ha.md); replies and errors go back the way their request came.  */
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
    int leg;          /* the leg it went out on */
    uint32_t tried;   /* the legs it went out on, a bit each */
    zmsg_t *copy;     /* with a pair: the request, to send again */
} rb_pending_t;

/*  One broker and our registration with it. */
typedef struct {
    char *endpoint;
    zsock_t *sock;     /* DEALER to the broker */
    bool registered;   /* WELCOME received since the last HELLO */
    char problem[400]; /* why its last HELLO failed */
    int heartbeat_ms;  /* from WELCOME */
    int liveness;
    int64_t last_heard; /* from the broker */
    int64_t last_beat;  /* our last heartbeat */
    int64_t next_hello; /* when to send HELLO (again) */
    int backoff;        /* ms before the next HELLO */
} rb_leg_t;

struct rb_bus {
    rb_bus_opts_t opts;
    char name[RB_NAME_MAX + 1];
    char services[RB_SERVICES_MAX][RB_NAME_MAX + 1];
    rb_leg_t legs[RB_BUS_BROKERS_MAX];
    int n_legs;
    zcert_t *cert;       /* ours, or NULL: plain */
    char broker_key[41]; /* the broker's public key (Z85) */
    bool unusable;       /* a certificate or the endpoints are unusable */
    char problem[400];   /* why, or why a HELLO was last refused */
    zloop_t *loop;       /* when attached */
    int timer;           /* its tick timer id */
    uint32_t registrations;
    int64_t last_run;    /* our loop last ran (tick or drain) */
    uint32_t stalls;     /* times it stood still too long */
    uint64_t resent;     /* requests sent again on another leg */
    rb_slots_t *pending; /* requests awaiting answers */
    rb_bus_fn *on_request, *on_push;
    rb_bus_idle_fn *on_idle;
    void *idle_arg;
    void *request_arg, *push_arg;
    rb_body_t body; /* reused for decoding */
};

static int s_on_readable (zloop_t *loop, zsock_t *sock, void *arg);

static void
s_open_socket (rb_bus_t *self, rb_leg_t *leg)
{
    leg->sock = zsock_new (ZMQ_DEALER);
    assert (leg->sock);
    zsock_set_linger (leg->sock, 0);
    zsock_set_sndhwm (leg->sock, 100000);
    zsock_set_rcvhwm (leg->sock, 100000);
    /* never block: with no connection up (a CURVE handshake the broker
       refused leaves none) a send fails at once instead */
    zsock_set_sndtimeo (leg->sock, 0);
    if (self->cert)
        rb_curve_client (zsock_resolve (leg->sock), self->cert,
                         self->broker_key);
    if (!self->unusable)
        zsock_connect (leg->sock, "%s", leg->endpoint);
    if (self->loop)
        zloop_reader (self->loop, leg->sock, s_on_readable, self);
}

/*  Sends on one leg; consumes *msg_p either way.  */
static int
s_send_msg (rb_bus_t *self, int leg, zmsg_t **msg_p)
{
    int rc = self->unusable ? -1 : zmsg_send (msg_p, self->legs[leg].sock);
    zmsg_destroy (msg_p); /* left to us when the send failed */
    return rc;
}

static int
s_send (rb_bus_t *self, int leg, rb_header_t *h, const rb_body_t *b)
{
    if (self->unusable)
        return -1; /* unconnected: a send would block */
    zmsg_t *msg = rb_msg_new (h, b);
    return s_send_msg (self, leg, &msg);
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
s_hello (rb_bus_t *self, int leg)
{
    rb_leg_t *l = &self->legs[leg];
    rb_body_t b;
    rb_body_init (&b, RB_T_HELLO);
    b.role = (uint8_t) self->opts.role;
    b.name = rb_str (self->name);
    b.n_services = (uint32_t) self->opts.n_services;
    for (int i = 0; i < self->opts.n_services; i++)
        b.services[i] = rb_str (self->services[i]);
    rb_header_t h = s_header (RB_K_HELLO, &b);
    s_send (self, leg, &h, &b);
    int64_t now = zclock_mono ();
    /* jitter: the next try in [backoff/2, backoff] */
    l->next_hello =
        now + l->backoff / 2 + (int64_t) (randof (l->backoff / 2 + 1));
    l->backoff =
        l->backoff * 2 > RB_BACKOFF_MAX ? RB_BACKOFF_MAX : l->backoff * 2;
}

/*  The leg new requests go out on: the first registered one, else 0. */
static int
s_leg_for_requests (rb_bus_t *self)
{
    for (int i = 0; i < self->n_legs; i++)
        if (self->legs[i].registered)
            return i;
    return 0;
}

/*  Sends again, on the leg requests now take, each pending request that
    went out on a lost leg (a pair only: one broker has no other way).
    The answer that comes first settles it; a later one is dropped.  */
static void
s_resend_from (rb_bus_t *self, int lost)
{
    int to = s_leg_for_requests (self);
    if (to == lost || !self->legs[to].registered)
        return; /* nowhere else to go: they time out locally */
    uint32_t cursor = 0;
    uint64_t corr;
    rb_pending_t *p;
    while (
        (p = (rb_pending_t *) rb_slots_next (self->pending, &cursor, &corr))) {
        if (p->leg != lost || !p->copy)
            continue;
        zmsg_t *again = zmsg_dup (p->copy);
        p->leg = to;
        p->tried |= 1u << to;
        if (again && s_send_msg (self, to, &again) == 0)
            self->resent++;
    }
}

/*  A broker answered the request corr through leg that it cannot route
    it (no worker there, the worker lost, or we are unknown to it): with
    a pair, the request goes out through a registered leg it has not
    tried, and true says the ERROR is not the answer. True also when it
    was sent elsewhere already (its leg was found lost meanwhile).  */
static bool
s_retry_elsewhere (rb_bus_t *self, int leg, uint64_t corr)
{
    rb_pending_t *p = (rb_pending_t *) rb_slots_get (self->pending, corr);
    if (!p || !p->copy)
        return false;
    if (p->leg != leg)
        return true;
    for (int i = 0; i < self->n_legs; i++) {
        if (i == leg || !self->legs[i].registered || (p->tried & (1u << i)))
            continue;
        zmsg_t *again = zmsg_dup (p->copy);
        p->leg = i;
        p->tried |= 1u << i;
        if (again && s_send_msg (self, i, &again) == 0)
            self->resent++;
        return true;
    }
    return false;
}

/*  Starts registering leg again; after broker loss also on a fresh
    socket (a DEALER may hold messages for a dead peer).  */
static void
s_reregister (rb_bus_t *self, int leg, bool new_socket)
{
    rb_leg_t *l = &self->legs[leg];
    l->registered = false;
    if (new_socket) {
        if (self->loop)
            zloop_reader_end (self->loop, l->sock);
        zsock_destroy (&l->sock);
        s_open_socket (self, l);
    }
    l->next_hello = zclock_mono ();
    s_resend_from (self, leg);
}

/*  Splits the comma-separated endpoints into legs; false if there are
    none or too many (self->problem says so).  */
static bool
s_split_endpoints (rb_bus_t *self, const char *endpoints)
{
    const char *p = endpoints ? endpoints : "";
    size_t n = strlen (p);
    while (*p || (n && endpoints[n - 1] == ',')) {
        size_t len = strcspn (p, ",");
        if (len == 0 || self->n_legs == RB_BUS_BROKERS_MAX) {
            snprintf (self->problem, sizeof self->problem,
                      "broker endpoints \"%s\": give one, or two separated "
                      "by a comma (a pair), none empty",
                      endpoints);
            return false;
        }
        self->legs[self->n_legs++].endpoint = strndup (p, len);
        p += len + (p[len] == ',');
    }
    if (self->n_legs == 0)
        self->legs[self->n_legs++].endpoint = strdup ("");
    return true;
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
    self->pending = rb_slots_new (sizeof (rb_pending_t), RB_PENDING_MAX);
    rb_body_init (&self->body, RB_T_NONE);
    if (!s_split_endpoints (self, opts->endpoint))
        self->unusable = true;
    else if (opts->curve_cert && *opts->curve_cert &&
             rb_curve_client_load (opts->curve_cert, opts->broker_cert,
                                   &self->cert, self->broker_key, self->problem,
                                   sizeof self->problem))
        self->unusable = true; /* never connects, never registers */
    if (self->unusable)
        zsys_error ("bus: %s", self->problem);
    self->last_run = zclock_mono ();
    for (int i = 0; i < self->n_legs; i++) {
        rb_leg_t *l = &self->legs[i];
        l->heartbeat_ms = 1000;
        l->liveness = 3;
        l->backoff = RB_BACKOFF_MIN;
        l->last_heard = self->last_run;
        s_open_socket (self, l);
        s_hello (self, i);
    }
    return self;
}

static void
s_free_pending (rb_bus_t *self)
{
    uint32_t cursor = 0;
    uint64_t corr;
    rb_pending_t *p;
    while ((p = (rb_pending_t *) rb_slots_next (self->pending, &cursor, &corr)))
        zmsg_destroy (&p->copy);
    rb_slots_destroy (&self->pending);
}

void
rb_bus_destroy (rb_bus_t **self_p)
{
    rb_bus_t *self = *self_p;
    if (!self)
        return;
    for (int i = 0; i < self->n_legs; i++) {
        rb_leg_t *l = &self->legs[i];
        if (l->registered) {
            rb_header_t h = s_header (RB_K_BYE, NULL);
            s_send (self, i, &h, NULL);
        }
        if (self->loop)
            zloop_reader_end (self->loop, l->sock);
        zsock_destroy (&l->sock);
        free (l->endpoint);
    }
    if (self->loop)
        zloop_timer_end (self->loop, self->timer);
    zcert_destroy (&self->cert);
    s_free_pending (self);
    rb_body_release (&self->body);
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
    for (int i = 0; i < self->n_legs; i++)
        if (self->legs[i].registered)
            return true;
    return false;
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

int
rb_bus_brokers (rb_bus_t *self)
{
    return self->n_legs;
}

uint64_t
rb_bus_resent (rb_bus_t *self)
{
    return self->resent;
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
    p->leg = s_leg_for_requests (self);
    p->tried = 1u << p->leg;
    p->copy = NULL;
    rb_header_t h = s_header (RB_K_REQUEST, b);
    h.addr = (uint8_t) addr;
    snprintf (h.dest, sizeof h.dest, "%s", dest);
    h.corr = corr;
    h.timeout_ms = timeout_ms;
    *corr_p = corr;
    if (self->unusable)
        return 0; /* the answer is a local timeout */
    zmsg_t *msg = rb_msg_new (&h, b);
    if (self->n_legs > 1)
        p->copy = zmsg_dup (msg);    /* to send again if its leg is lost */
    s_send_msg (self, p->leg, &msg); /* if it fails: a local timeout */
    return 0;
}

int
rb_bus_request (rb_bus_t *self, int addr, const char *dest, const rb_body_t *b,
                uint32_t timeout_ms, rb_bus_answer_fn *fn, void *arg,
                uint64_t cookie)
{
    uint64_t corr;
    rb_pending_t answer = {fn, arg, cookie, 0, 0, 0, NULL};
    return s_request (self, addr, dest, b, timeout_ms, answer, &corr);
}

int
rb_bus_reply (rb_bus_t *self, const rb_header_t *req, const rb_body_t *b)
{
    rb_header_t h = s_header (RB_K_REPLY, b);
    h.corr = req->corr;
    return s_send (self, req->via < self->n_legs ? req->via : 0, &h, b);
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
    return s_send (self, req->via < self->n_legs ? req->via : 0, &h, &b);
}

/*  On every registered leg (on leg 0 when none is: it fails or waits
    there as it did with one broker). 0 if it went out on one at least.  */
int
rb_bus_push (rb_bus_t *self, int addr, const char *dest, const rb_body_t *b)
{
    rb_header_t h = s_header (RB_K_PUSH, b);
    h.addr = (uint8_t) addr;
    snprintf (h.dest, sizeof h.dest, "%s", dest);
    if (self->n_legs == 1 || !rb_bus_registered (self))
        return s_send (self, 0, &h, b);
    int rc = -1;
    for (int i = 0; i < self->n_legs; i++)
        if (self->legs[i].registered && s_send (self, i, &h, b) == 0)
            rc = 0;
    return rc;
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
    zmsg_destroy (&copy.copy);
    copy.fn (self, h, &self->body, msg_p, copy.arg, copy.cookie);
}

static void
s_on_error (rb_bus_t *self, int leg, const rb_header_t *h, zmsg_t **msg_p)
{
    rb_leg_t *l = &self->legs[leg];
    if (h->status == RB_S_UNKNOWN_NODE)
        s_reregister (self, leg, false);
    if (h->status == RB_S_NAME_TAKEN || h->status == RB_S_BAD_ROLE ||
        (h->status == RB_S_FORBIDDEN && !l->registered) ||
        (h->status == RB_S_OVERLOADED && !l->registered && !h->corr)) {
        /* our HELLO refused (the broker says forbidden only to a HELLO or
           to a registered node; overloaded with corr 0 only to a HELLO:
           its tables are full, and the next try may get in) */
        snprintf (l->problem, sizeof l->problem, "%s: %.*s",
                  rb_code_name (h->status), (int) self->body.text.len,
                  self->body.text.ptr);
        snprintf (self->problem, sizeof self->problem, "%s", l->problem);
        zsys_warning ("bus: %s cannot register with %s: %s", self->name,
                      l->endpoint, l->problem);
        return;
    }
    if ((h->status == RB_S_UNKNOWN_SERVICE || h->status == RB_S_WORKER_LOST ||
         h->status == RB_S_UNKNOWN_NODE) &&
        s_retry_elsewhere (self, leg, h->corr))
        return;
    s_answer (self, h, msg_p);
}

static void
s_welcome (rb_bus_t *self, int leg)
{
    rb_leg_t *l = &self->legs[leg];
    l->registered = true;
    l->problem[0] = '\0';
    l->backoff = RB_BACKOFF_MIN;
    l->heartbeat_ms = (int) self->body.heartbeat_ms;
    l->liveness = (int) self->body.liveness;
    /* every WELCOME counts, a pair's second included: pushes sent while
       a leg was away may have missed us (docs/ha.md) */
    self->registrations++;
    self->problem[0] = '\0';
    /* what went out on a leg still unregistered may never get through */
    for (int i = 0; i < self->n_legs; i++)
        if (i != leg && !self->legs[i].registered)
            s_resend_from (self, i);
}

static void
s_dispatch (rb_bus_t *self, int leg, const rb_header_t *h, zmsg_t **msg_p)
{
    switch (h->kind) {
        case RB_K_WELCOME: s_welcome (self, leg); break;
        case RB_K_HEARTBEAT:
            if (h->corr && self->legs[leg].registered) {
                /* echo the broker's mark at once: all it sent before
                   the mark has been read (its send budget for us) */
                rb_header_t echo = s_header (RB_K_HEARTBEAT, NULL);
                echo.corr = h->corr;
                s_send (self, leg, &echo, NULL);
            }
            break;
        case RB_K_ERROR: s_on_error (self, leg, h, msg_p); break;
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

/*  Whether the loop stood still so long that a broker may have expired
    this node: it last heard us at least a heartbeat before our loop last
    ran, and expires a node after heartbeat x liveness of silence. Then,
    with rehello_after_stall, registers again on every leg before
    anything that came meanwhile is handled.  */
static void
s_check_stall (rb_bus_t *self)
{
    int64_t now = zclock_mono ();
    int64_t still = now - self->last_run;
    self->last_run = now;
    if (!self->opts.rehello_after_stall || !rb_bus_registered (self))
        return;
    bool stalled = false;
    for (int i = 0; i < self->n_legs; i++) {
        rb_leg_t *l = &self->legs[i];
        int64_t limit =
            (int64_t) l->heartbeat_ms * (l->liveness > 1 ? l->liveness - 1 : 1);
        stalled |= l->registered && still > limit;
    }
    if (!stalled)
        return;
    self->stalls++;
    zsys_warning ("bus: %s: stood still for %d ms (the broker may have "
                  "expired us): registering again",
                  self->name, (int) still);
    for (int i = 0; i < self->n_legs; i++)
        if (self->legs[i].registered)
            s_reregister (self, i, false);
}

/*  Reads and handles the messages waiting on one leg; how many. */
static int
s_drain_leg (rb_bus_t *self, int leg)
{
    rb_leg_t *l = &self->legs[leg];
    int handled = 0;
    while (handled < RB_BUS_BURST && (zsock_events (l->sock) & ZMQ_POLLIN)) {
        zmsg_t *msg = zmsg_recv (l->sock);
        if (!msg)
            break;
        handled++;
        l->last_heard = zclock_mono ();
        rb_header_t h;
        rb_err_t err;
        int rc = rb_msg_decode (msg, &self->opts.limits, &h, &self->body, &err);
        if (rc == RB_OK && h.kind == RB_K_WELCOME && h.type != RB_T_WELCOME)
            rc = RB_E_TYPE;
        h.via = (uint8_t) leg;
        if (rc == RB_OK)
            s_dispatch (self, leg, &h, &msg);
        else {
            zsys_warning ("bus: %s: dropped a malformed message: %s",
                          self->name, err.text);
            /* the header decoded: a requester can be told at once */
            if (h.kind == RB_K_REQUEST)
                rb_bus_error (self, &h, RB_S_MALFORMED, err.text);
        }
        zmsg_destroy (&msg);
    }
    return handled;
}

/*  Reads and handles every message waiting on the sockets. */
static void
s_drain (rb_bus_t *self)
{
    s_check_stall (self);
    int handled = 0;
    for (int i = 0; i < self->n_legs; i++)
        handled += s_drain_leg (self, i);
    if (handled && self->on_idle)
        self->on_idle (self, self->idle_arg);
}

/*  Requests past their deadline get a local ERROR timeout. */
static void
s_expire (rb_bus_t *self, int64_t now)
{
    uint32_t cursor = 0;
    uint64_t corr;
    rb_pending_t *p;
    while (
        (p = (rb_pending_t *) rb_slots_next (self->pending, &cursor, &corr))) {
        if (now < p->deadline)
            continue;
        rb_pending_t copy = *p;
        rb_slots_free (self->pending, corr);
        zmsg_destroy (&copy.copy);
        rb_header_t h = s_header (RB_K_ERROR, NULL);
        h.corr = corr;
        h.status = RB_S_TIMEOUT;
        rb_body_t b;
        rb_body_init (&b, RB_T_ERROR);
        b.text = rb_str ("no answer before the deadline");
        zmsg_t *none = NULL;
        copy.fn (self, &h, &b, &none, copy.arg, copy.cookie);
    }
}

/*  Heartbeats, broker loss and HELLO retries of one leg. */
static void
s_tick_leg (rb_bus_t *self, int leg, int64_t now)
{
    rb_leg_t *l = &self->legs[leg];
    int64_t silence = (int64_t) l->heartbeat_ms * l->liveness;
    if (l->registered && now - l->last_heard > silence) {
        zsys_warning ("bus: %s: broker %s silent for %d ms, reconnecting",
                      self->name, l->endpoint, (int) (now - l->last_heard));
        l->last_heard = now;
        s_reregister (self, leg, true);
    }
    if (!l->registered && now >= l->next_hello)
        s_hello (self, leg);
    if (l->registered && now - l->last_beat >= l->heartbeat_ms) {
        rb_header_t h = s_header (RB_K_HEARTBEAT, NULL);
        s_send (self, leg, &h, NULL);
        l->last_beat = now;
    }
}

static void
s_tick (rb_bus_t *self)
{
    s_check_stall (self);
    int64_t now = zclock_mono ();
    s_expire (self, now);
    for (int i = 0; i < self->n_legs; i++)
        s_tick_leg (self, i, now);
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
    for (int i = 0; i < self->n_legs; i++)
        zloop_reader (loop, self->legs[i].sock, s_on_readable, self);
    self->timer = zloop_timer (loop, RB_BUS_TICK_MS, 0, s_on_timer, self);
}

/*  --- synchronous use ---------------------------------------------------- */

int
rb_bus_poll (rb_bus_t *self, int timeout_ms)
{
    int wait = timeout_ms < RB_BUS_TICK_MS ? timeout_ms : RB_BUS_TICK_MS;
    zmq_pollitem_t items[RB_BUS_BROKERS_MAX];
    for (int i = 0; i < self->n_legs; i++)
        items[i] = (zmq_pollitem_t){zsock_resolve (self->legs[i].sock), 0,
                                    ZMQ_POLLIN, 0};
    int rc = zmq_poll (items, self->n_legs, wait);
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
    while (!rb_bus_registered (self) && zclock_mono () < deadline)
        if (rb_bus_poll (self, (int) (deadline - zclock_mono ())) == -1)
            return -1;
    return rb_bus_registered (self) ? 0 : -1;
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
    rb_pending_t answer = {s_call_done, &call, 0, 0, 0, 0, NULL};
    if (s_request (self, addr, dest, req, timeout_ms, answer, &corr))
        return RB_S_OVERLOADED;
    while (!call.done)
        if (rb_bus_poll (self, RB_BUS_TICK_MS) == -1)
            break;
    if (!call.done) { /* interrupted: forget it, a late answer is dropped */
        rb_pending_t *p = (rb_pending_t *) rb_slots_get (self->pending, corr);
        if (p)
            zmsg_destroy (&p->copy);
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
