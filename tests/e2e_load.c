/*  e2e_load: terminal load on both service nodes and direct probes of
    the db service, recorded for the checker (see e2e.h).

    Every tick (TICK_MS) it tops each service up to INFLIGHT GETs, a few
    at a time, from TERMINALS DEALER sockets per service, on keys drawn
    from the key space (mostly the hot set), and keeps PROBES GETs in
    flight to the db service through a bus node of its own.  */
#include "e2e.h"

#include <assert.h>
#include <string.h>
#include <time.h>

#include "rb_bus.h"
#include "rb_msg.h"

#define TICK_MS   5
#define TERMINALS 3    /* DEALERs per service */
#define INFLIGHT  48   /* GETs in flight per service, at most */
#define PER_TICK  6    /* new GETs per service per tick, at most */
#define PROBES    4    /* probes in flight, at most */
#define MARGIN_MS 4000 /* past max-wait, how long an answer may take */

typedef struct {
    e2e_load_opts_t opts;
    e2e_rng_t rng;
    zsock_t *pipe;
    zsock_t *t[2][TERMINALS];
    rb_bus_t *bus;
    e2e_rec_t *recs;
    size_t n, cap;
    int inflight[3];
    bool holding;        /* told to hold: sending nothing new */
    bool held;           /* and said so */
    int last_ok;         /* hot key latest-only answered ok last, or -1 */
    bool stopping;       /* told to stop: draining */
    bool stopped;        /* records handed over: idle until $TERM */
    int64_t drain_until; /* e2e_us */
} load_t;

static void
s_name (int i, char buf[16])
{
    if (i < E2E_HOT)
        snprintf (buf, 16, "h%02d", i);
    else if (i < E2E_HOT + E2E_BULK)
        snprintf (buf, 16, "b%03d", i - E2E_HOT);
    else
        snprintf (buf, 16, "x%d", i - E2E_HOT - E2E_BULK);
}

const char *
e2e_key (int i)
{
    static char names[E2E_KEYS][16];
    static bool ready;
    if (!ready) {
        for (int k = 0; k < E2E_KEYS; k++)
            s_name (k, names[k]);
        ready = true;
    }
    assert (i >= 0 && i < E2E_KEYS);
    return names[i];
}

int
e2e_key_index (const char *name, size_t len)
{
    for (int k = 0; k < E2E_KEYS; k++)
        if (strlen (e2e_key (k)) == len && memcmp (e2e_key (k), name, len) == 0)
            return k;
    return -1;
}

int64_t
e2e_us (void)
{
    struct timespec ts;
    clock_gettime (CLOCK_MONOTONIC, &ts);
    return (int64_t) ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

uint64_t
e2e_rng_next (e2e_rng_t *r)
{
    uint64_t z = (r->state += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

uint32_t
e2e_rng_below (e2e_rng_t *r, uint32_t n)
{
    return (uint32_t) (e2e_rng_next (r) % n);
}

/*  Mostly hot keys, some bulk, a few never written. */
static uint16_t
s_pick_key (load_t *self)
{
    uint32_t dice = e2e_rng_below (&self->rng, 100);
    if (dice < 70)
        return (uint16_t) e2e_rng_below (&self->rng, E2E_HOT);
    if (dice < 93)
        return (uint16_t) (E2E_HOT + e2e_rng_below (&self->rng, E2E_BULK));
    return (uint16_t) (E2E_HOT + E2E_BULK +
                       e2e_rng_below (&self->rng, E2E_ABSENT));
}

static e2e_rec_t *
s_new_rec (load_t *self, int who, size_t *index)
{
    if (self->n == self->cap) {
        self->cap = self->cap ? self->cap * 2 : 4096;
        self->recs =
            (e2e_rec_t *) realloc (self->recs, self->cap * sizeof *self->recs);
        assert (self->recs);
    }
    *index = self->n;
    e2e_rec_t *r = &self->recs[self->n++];
    memset (r, 0, sizeof *r);
    r->who = (uint8_t) who;
    r->key = s_pick_key (self);
    return r;
}

/*  --- terminals ----------------------------------------------------------- */

/*  A GET of key (-1: one drawn) to service svc. */
static void
s_send_get (load_t *self, int svc, int key)
{
    size_t index;
    e2e_rec_t *r = s_new_rec (self, svc, &index);
    if (key >= 0)
        r->key = (uint16_t) key;
    rb_header_t h;
    memset (&h, 0, sizeof h);
    h.kind = RB_K_REQUEST;
    h.type = RB_T_GET;
    h.corr = index + 1;
    rb_body_t b;
    rb_body_init (&b, RB_T_GET);
    b.key = rb_str (e2e_key (r->key));
    zsock_t *t = self->t[svc][e2e_rng_below (&self->rng, TERMINALS)];
    r->sent = e2e_us ();
    int rc = rb_msg_send (zsock_resolve (t), &h, &b);
    assert (rc == 0);
    self->inflight[svc]++;
}

static void
s_on_answer (load_t *self, zmsg_t *msg)
{
    int64_t now = e2e_us ();
    rb_header_t h;
    rb_body_t b;
    rb_body_init (&b, RB_T_NONE);
    rb_err_t err;
    int rc = rb_msg_decode (msg, NULL, &h, &b, &err);
    if (rc == 0 && !self->stopped && h.corr >= 1 && h.corr <= self->n) {
        e2e_rec_t *r = &self->recs[h.corr - 1];
        if (r->done)
            r->twice = true;
        else {
            r->done = now;
            self->inflight[r->who]--;
            if (h.kind == RB_K_ERROR)
                r->error = h.status ? h.status : 1;
            else if (b.type == RB_T_ANSWER) {
                r->status = b.answer;
                if (r->who == E2E_LATEST && b.answer == RB_ANS_OK &&
                    r->key < E2E_HOT)
                    self->last_ok = r->key;
                r->seq = b.seq;
                r->found = b.has_value;
                snprintf (r->value, sizeof r->value, "%.*s", (int) b.value.len,
                          b.has_value ? b.value.ptr : "");
            } else
                r->error = 1;
        }
    }
    rb_body_release (&b);
}

static int
s_on_terminal (zloop_t *loop, zsock_t *sock, void *arg)
{
    load_t *self = (load_t *) arg;
    while (zsock_events (sock) & ZMQ_POLLIN) {
        zmsg_t *msg = zmsg_recv (sock);
        if (!msg)
            break;
        s_on_answer (self, msg);
        zmsg_destroy (&msg);
    }
    return 0;
}

/*  --- probes ------------------------------------------------------------- */

static void
s_on_probe (rb_bus_t *bus, const rb_header_t *h, const rb_body_t *b,
            zmsg_t **msg_p, void *arg, uint64_t cookie)
{
    load_t *self = (load_t *) arg;
    if (self->stopped)
        return; /* the records were handed over */
    e2e_rec_t *r = &self->recs[cookie];
    r->done = e2e_us ();
    self->inflight[E2E_PROBE]--;
    if (h->kind == RB_K_REPLY && b->type == RB_T_DATA &&
        rb_str_eq (b->key, e2e_key (r->key))) {
        r->status = 1;
        r->seq = b->seq;
        r->epoch = b->epoch;
        r->flagged = b->recovering;
        r->found = b->has_value;
        snprintf (r->value, sizeof r->value, "%.*s", (int) b->value.len,
                  b->has_value ? b->value.ptr : "");
    } else
        r->error = h->status ? h->status : 1;
}

static void
s_send_probe (load_t *self)
{
    size_t index;
    e2e_rec_t *r = s_new_rec (self, E2E_PROBE, &index);
    rb_body_t get;
    rb_body_init (&get, RB_T_GET);
    get.key = rb_str (e2e_key (r->key));
    r->sent = e2e_us ();
    if (rb_bus_request (self->bus, RB_ADDR_SERVICE, "db", &get, 1000,
                        s_on_probe, self, index) == 0)
        self->inflight[E2E_PROBE]++;
    else
        self->n--; /* not sent: forget it */
}

/*  --- the loop ------------------------------------------------------------ */

static bool
s_drained (load_t *self)
{
    return self->inflight[0] + self->inflight[1] + self->inflight[2] == 0 ||
           e2e_us () >= self->drain_until;
}

/*  Holding: says so once nothing is in flight (or at the deadline). */
static void
s_hold_tick (load_t *self)
{
    if (!self->held && s_drained (self)) {
        zsock_send (self->pipe, "i", self->last_ok);
        self->held = true;
    }
}

static int
s_on_tick (zloop_t *loop, int timer_id, void *arg)
{
    load_t *self = (load_t *) arg;
    if (self->holding && !self->stopping) {
        s_hold_tick (self);
        return 0;
    }
    if (self->stopped || (self->stopping && !s_drained (self)))
        return 0;
    if (self->stopping) {
        zsock_send (self->pipe, "pi", self->recs, (int) self->n);
        self->recs = NULL; /* the caller's now */
        self->stopped = true;
        return 0;
    }
    for (int svc = 0; svc < 2; svc++)
        for (int i = 0; i < PER_TICK && self->inflight[svc] < INFLIGHT; i++)
            s_send_get (self, svc, -1);
    if (rb_bus_registered (self->bus))
        while (self->inflight[E2E_PROBE] < PROBES)
            s_send_probe (self);
    return 0;
}

static int
s_on_pipe (zloop_t *loop, zsock_t *pipe, void *arg)
{
    load_t *self = (load_t *) arg;
    zmsg_t *msg = zmsg_recv (pipe);
    char *cmd = msg ? zmsg_popstr (msg) : NULL;
    int rc = 0;
    if (!cmd || streq (cmd, "$TERM"))
        rc = -1;
    else if (streq (cmd, "ASK") && zmsg_size (msg) == 2) {
        char *svc = zmsg_popstr (msg), *key = zmsg_popstr (msg);
        s_send_get (self, atoi (svc) != 0, atoi (key));
        zstr_free (&svc);
        zstr_free (&key);
    } else if (streq (cmd, "HOLD")) {
        self->holding = true;
        self->held = false;
        self->drain_until =
            e2e_us () + (int64_t) (self->opts.max_wait_ms + MARGIN_MS) * 1000;
    } else if (streq (cmd, "GO"))
        self->holding = false;
    else if (streq (cmd, "STOP")) {
        assert (!self->holding);
        self->stopping = true;
        self->drain_until =
            e2e_us () + (int64_t) (self->opts.max_wait_ms + MARGIN_MS) * 1000;
    }
    zstr_free (&cmd);
    zmsg_destroy (&msg);
    return rc;
}

void
e2e_load_actor (zsock_t *pipe, void *args)
{
    load_t self;
    memset (&self, 0, sizeof self);
    self.opts = *(const e2e_load_opts_t *) args;
    self.rng.state = self.opts.seed * 7919 + 17;
    self.pipe = pipe;
    self.last_ok = -1;
    zloop_t *loop = zloop_new ();
    zloop_reader (loop, pipe, s_on_pipe, &self);
    for (int svc = 0; svc < 2; svc++)
        for (int i = 0; i < TERMINALS; i++) {
            self.t[svc][i] = zsock_new_dealer (self.opts.endpoint[svc]);
            assert (self.t[svc][i]);
            zsock_set_linger (self.t[svc][i], 0);
            zloop_reader (loop, self.t[svc][i], s_on_terminal, &self);
        }
    rb_bus_opts_t bo = {.endpoint = self.opts.bus,
                        .role = RB_ROLE_OPS, /* GETs that record no fetcher */
                        .name = "e2e-probe",
                        .curve_cert = self.opts.curve_cert,
                        .broker_cert = self.opts.broker_cert};
    self.bus = rb_bus_new (&bo);
    rb_bus_attach (self.bus, loop);
    zloop_timer (loop, TICK_MS, 0, s_on_tick, &self);
    zsock_signal (pipe, 0);
    zloop_start (loop);
    rb_bus_destroy (&self.bus);
    zloop_destroy (&loop);
    for (int svc = 0; svc < 2; svc++)
        for (int i = 0; i < TERMINALS; i++)
            zsock_destroy (&self.t[svc][i]);
    free (self.recs);
}
