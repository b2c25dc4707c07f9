/*  rb_service: the service node actor (see rb_service.h): terminals,
    the cache path, pushes from the DB, counters.  */
#include "rb_service_int.h"
#include "rb_notify.h"

#include <assert.h>
#include <inttypes.h>
#include <string.h>

#define RB_TICK_MS    5   /* deadlines and re-polls */
#define RB_TERM_BURST 512 /* terminal requests handled per wake-up */
#define RB_TERM_CHUNK 64  /* of them taken before the bus is drained */

typedef enum {
    RB_CNT_OK,
    RB_CNT_NOT_FOUND,
    RB_CNT_STALE,
    RB_CNT_UNAVAILABLE,
    RB_CNT_HITS,
    RB_CNT_MISSES,
    RB_CNT_POLLS, /* kept by the waits */
    RB_CNT_RESETS,
    RB_CNT_UPDATES,
    RB_CNT_RECOVERED,
    RB_CNT_MALFORMED,
    RB_CNT_DROPPED,
    RB_CNT_FOREIGN, /* pushes not from a DB node, dropped */
    RB_CNT_REFUSED, /* kept by the waits: past waits-max or waiters-max */
    RB_CNT_HELD,    /* kept by the waits: re-polls held back by poll-rate */
    RB_CNT_COUNT
} rb_counter_t;

/*  One terminal request as taken off the socket: [id][header][body] in
    place, or the whole of anything else.  */
typedef struct {
    zmq_msg_t id, head, body;
    int parts;     /* of id, head, body: how many were read */
    zmsg_t *whole; /* not three frames: the request as a zmsg, else NULL */
} term_req_t;

typedef struct {
    rb_service_opts_t opts; /* strings owned */
    zsock_t *pipe;
    zloop_t *loop;
    zsock_t *terminals; /* ROUTER */
    char *endpoint;     /* as bound */
    rb_bus_t *bus;
    rb_cache_t *cache; /* its epoch: the newest seen (RESET or DATA) */
    rb_waits_t *waits; /* cache misses waiting for the DB */
    rb_body_t body;    /* reused for decoding terminal requests */
    term_req_t chunk[RB_TERM_CHUNK]; /* requests taken, to be served */
    bool bus_handled;                /* a drain of the bus handled something */
    uint8_t *out;                    /* where an ANSWER's body is encoded */
    size_t out_cap;
    uint64_t counters[RB_CNT_COUNT];
    int64_t next_stats;
    uint32_t registrations;    /* the bus registration the cache is good for */
    rb_notify_t *notify;       /* systemd's READY, STATUS, WATCHDOG, or NULL */
    rb_svc_metrics_t *metrics; /* --metrics, or NULL */
} svc_t;

static const char *const s_policies[] = {"latest-only", "stale-ok"};

int
rb_policy_lookup (const char *name)
{
    for (int i = 0; i < 2; i++)
        if (name && streq (name, s_policies[i]))
            return i;
    return -1;
}

const char *
rb_policy_name (int policy)
{
    return policy >= 0 && policy < 2 ? s_policies[policy] : "?";
}

/*  --- answering terminals ------------------------------------------------ */

/*  Sends [id][header][body] of an ANSWER to a terminal: the routing id
    frame id is moved into it (the caller closes it all the same), header
    and body are written by the codec's quick path. A ROUTER drops for a
    gone or full terminal: never blocks.  */
static void
s_send (svc_t *self, zmq_msg_t *id, uint64_t corr, rb_str_t key, int status,
        uint64_t seq, bool has_value, rb_str_t value)
{
    bool has = has_value && status != RB_ANS_UNAVAILABLE;
    if (!has)
        value = rb_strn (NULL, 0);
    size_t cap = (size_t) key.len + value.len + RB_QUICK_BODY_MAX;
    if (cap > self->out_cap) {
        free (self->out);
        self->out = (uint8_t *) malloc (cap);
        assert (self->out);
        self->out_cap = cap;
    }
    uint8_t head[RB_QUICK_HEAD_MAX];
    size_t head_len;
    size_t body_len = rb_answer_quick (head, &head_len, self->out, corr, key,
                                       status, seq, has, value);
    void *sock = zsock_resolve (self->terminals);
    if (zmq_msg_send (id, sock, ZMQ_SNDMORE) != -1) {
        zmq_send (sock, head, head_len, ZMQ_SNDMORE);
        zmq_send (sock, self->out, body_len, 0);
    }
    int counter = status == RB_ANS_OK          ? RB_CNT_OK
                  : status == RB_ANS_NOT_FOUND ? RB_CNT_NOT_FOUND
                  : status == RB_ANS_STALE     ? RB_CNT_STALE
                                               : RB_CNT_UNAVAILABLE;
    self->counters[counter]++;
}

/*  Sends ANSWER to one terminal, with d's seq and value (if d); an
    rb_waits__answer_fn.  */
static void
s_answer (void *arg, const rb_asker_t *to, const char *key, int status,
          const rb_body_t *d)
{
    svc_t *self = (svc_t *) arg;
    zmq_msg_t id;
    zmq_msg_init_size (&id, to->id_len);
    memcpy (zmq_msg_data (&id), to->id, to->id_len);
    s_send (self, &id, to->corr, rb_str (key), status, d ? d->seq : 0,
            d && d->has_value, d ? d->value : rb_strn (NULL, 0));
    zmq_msg_close (&id);
}

static void
s_error (svc_t *self, zframe_t *id, uint64_t corr, int code, const char *text)
{
    rb_header_t h;
    memset (&h, 0, sizeof h);
    h.kind = RB_K_ERROR;
    h.type = RB_T_ERROR;
    h.corr = corr;
    h.status = (uint16_t) code;
    rb_body_t e;
    rb_body_init (&e, RB_T_ERROR);
    e.text = rb_str (text);
    zmsg_t *msg = rb_msg_new (&h, &e);
    zmsg_pushmem (msg, zframe_data (id), zframe_size (id));
    zmsg_send (&msg, self->terminals);
    self->counters[RB_CNT_MALFORMED]++;
}

/*  Whether the cache may answer. Pushes (UPDATE, RESET) keep it
    current, and pushes sent while the node was away from the broker are
    lost: so nothing is answered from it while unregistered, and a new
    registration (after broker loss) drops it.  */
static bool
s_cache_usable (svc_t *self)
{
    uint32_t registrations = rb_bus_registrations (self->bus);
    if (registrations != self->registrations) {
        uint32_t dropped = rb_cache_clear (self->cache);
        if (self->registrations)
            zsys_info ("service %s: registered again, %u cached record(s) "
                       "dropped",
                       self->opts.name, dropped);
        self->registrations = registrations;
    }
    return rb_bus_registered (self->bus);
}

/*  A terminal's GET of key: answered from the cache at once, or parked
    until the DB answers. id holds the terminal's routing id; a hit's
    answer takes it over.  */
static void
s_get (svc_t *self, zmq_msg_t *id, uint64_t corr, rb_str_t key)
{
    rb_asker_t from = {zmq_msg_data (id), zmq_msg_size (id), corr};
    rb_cached_t c;
    if (s_cache_usable (self) &&
        rb_cache_get (self->cache, key.ptr, key.len, &c) &&
        c.epoch >= rb_cache_epoch (self->cache)) {
        self->counters[RB_CNT_HITS]++;
        s_send (self, id, corr, key, c.found ? RB_ANS_OK : RB_ANS_NOT_FOUND,
                c.seq, c.found, rb_strn (c.value, c.value_len));
    } else if (from.id_len > RB_SVC__ID_MAX)
        self->counters[RB_CNT_DROPPED]++;
    else {
        self->counters[RB_CNT_MISSES]++;
        if (rb_waits__add (self->waits, key, &from)) /* full */
            s_send (self, id, corr, key, RB_ANS_UNAVAILABLE, 0, false,
                    rb_strn (NULL, 0));
    }
}

/*  A terminal request the quick decode did not take, whole as a zmsg:
    [id][header][body], or anything else, which is answered ERROR.  */
static void
s_on_get (svc_t *self, zmsg_t *msg)
{
    zframe_t *id = zmsg_pop (msg);
    rb_header_t h = {0}; /* read below even when the decode failed early */
    rb_err_t err = {0};
    int rc =
        id ? rb_msg_decode (msg, NULL, &h, &self->body, &err) : RB_E_FRAMES;
    if (rc == RB_OK && (h.kind != RB_K_REQUEST || h.type != RB_T_GET))
        rc = RB_E_TYPE,
        snprintf (err.text, sizeof err.text, "terminals send REQUEST GET");
    if (rc != RB_OK) {
        if (id && zframe_size (id) <= 255)
            s_error (self, id, h.kind ? h.corr : 0, RB_S_MALFORMED, err.text);
    } else {
        zmq_msg_t idm;
        zmq_msg_init_size (&idm, zframe_size (id));
        memcpy (zmq_msg_data (&idm), zframe_data (id), zframe_size (id));
        s_get (self, &idm, h.corr, self->body.key);
        zmq_msg_close (&idm);
    }
    zframe_destroy (&id);
}

/*  The frames of r read so far, and those that follow, as one zmsg. */
static zmsg_t *
s_whole (void *sock, term_req_t *r, bool more)
{
    zmsg_t *msg = zmsg_new ();
    zmq_msg_t *part[3] = {&r->id, &r->head, &r->body};
    for (int i = 0; i < r->parts; i++)
        zmsg_addmem (msg, zmq_msg_data (part[i]), zmq_msg_size (part[i]));
    while (more) {
        zframe_t *frame = zframe_recv (sock);
        if (!frame)
            break;
        more = zframe_more (frame);
        zmsg_append (msg, &frame);
    }
    return msg;
}

/*  Takes one request off the terminals without waiting: 0, or -1 when
    none is there. Its frames after the first are there with it.  */
static int
s_recv (void *sock, term_req_t *r)
{
    zmq_msg_t *part[3] = {&r->id, &r->head, &r->body};
    zmq_msg_init (&r->id);
    if (zmq_msg_recv (&r->id, sock, ZMQ_DONTWAIT) == -1) {
        zmq_msg_close (&r->id);
        return -1;
    }
    r->parts = 1;
    r->whole = NULL;
    bool more = zmq_msg_more (&r->id);
    while (more && r->parts < 3) {
        zmq_msg_t *p = part[r->parts];
        zmq_msg_init (p);
        if (zmq_msg_recv (p, sock, 0) == -1) { /* interrupted: what came */
            zmq_msg_close (p);
            more = false;
            break;
        }
        r->parts++;
        more = zmq_msg_more (p);
    }
    if (more || r->parts != 3) /* not [id][header][body]: the slow way */
        r->whole = s_whole (sock, r, more);
    return 0;
}

/*  Serves one request taken by s_recv and frees its frames. */
static void
s_serve (svc_t *self, term_req_t *r)
{
    rb_header_t h;
    rb_str_t key;
    if (!r->whole &&
        rb_get_quick (zmq_msg_data (&r->head), zmq_msg_size (&r->head),
                      zmq_msg_data (&r->body), zmq_msg_size (&r->body), &h,
                      &key) == RB_OK)
        s_get (self, &r->id, h.corr, key);
    else {
        zmsg_t *msg = r->whole ? r->whole : s_whole (NULL, r, false);
        s_on_get (self, msg);
        zmsg_destroy (&msg);
    }
    zmq_msg_t *part[3] = {&r->id, &r->head, &r->body};
    for (int i = 0; i < r->parts; i++)
        zmq_msg_close (part[i]);
}

/*  Handles what waits on the bus: drains until one finds nothing, at
    most times drains (one handles RB_BUS_BURST messages at most).  */
static void
s_drain_bus (svc_t *self, int times)
{
    for (int i = 0; i < times; i++) {
        self->bus_handled = false;
        rb_bus_drain (self->bus);
        if (!self->bus_handled)
            break;
    }
}

/*  Up to RB_TERM_BURST terminal requests a wake-up, in chunks: up to
    RB_TERM_CHUNK are taken off the socket, then the bus is drained, then
    they are served in order. A request was waiting on the terminals
    socket before that drain began, so every push and DB answer that came
    to the bus socket before it is handled before it is served: a
    terminal that asks after an order was acknowledged is not answered
    from a cache the order's UPDATE has not reached yet (the DB sends the
    UPDATE before the ACK). docs/service.md has the argument.  */
static int
s_on_terminals (zloop_t *loop, zsock_t *sock, void *arg)
{
    svc_t *self = (svc_t *) arg;
    void *handle = zsock_resolve (sock);
    int n = RB_TERM_CHUNK;
    for (int total = 0; n == RB_TERM_CHUNK && total < RB_TERM_BURST;
         total += n) {
        n = 0;
        while (n < RB_TERM_CHUNK && s_recv (handle, &self->chunk[n]) == 0)
            n++;
        if (n)
            s_drain_bus (self, n);
        for (int i = 0; i < n; i++)
            s_serve (self, &self->chunk[i]);
    }
    rb_waits__flush (self->waits); /* the burst's misses, together */
    return 0;
}

/*  --- the bus: pushes and STATUS -------------------------------------------
 */

static void
s_on_push (rb_bus_t *bus, const rb_header_t *h, const rb_body_t *b,
           zmsg_t **msg_p, void *arg)
{
    svc_t *self = (svc_t *) arg;
    if (h->role != RB_ROLE_DB) { /* the role the broker stamped */
        self->counters[RB_CNT_FOREIGN]++;
        return;
    }
    switch (h->type) {
        case RB_T_RESET:
            self->counters[RB_CNT_RESETS]++;
            zsys_info ("service %s: RESET to epoch %" PRIu64 ", %u cached "
                       "record(s) dropped",
                       self->opts.name, b->epoch,
                       rb_cache_reset (self->cache, b->epoch));
            break;
        case RB_T_UPDATE:
            self->counters[RB_CNT_UPDATES]++;
            if (b->epoch >= rb_cache_epoch (self->cache))
                rb_cache_refresh (self->cache, b->key.ptr, b->key.len,
                                  b->has_value, b->value.ptr, b->value.len,
                                  b->seq, b->epoch);
            rb_waits__updated (self->waits, b->key, b->seq, b->epoch);
            break;
        case RB_T_RECOVERED:
            self->counters[RB_CNT_RECOVERED]++;
            rb_waits__recovered (self->waits, b->key);
            break;
        default: break;
    }
}

/*  The polls that pushes and DB answers started go out together. The
    bus calls it after a drain that handled any message: s_drain_bus
    learns from it that there may be more.  */
static void
s_on_bus_idle (rb_bus_t *bus, void *arg)
{
    svc_t *self = (svc_t *) arg;
    self->bus_handled = true;
    rb_waits__flush (self->waits);
}

static const char *const s_counter_names[RB_CNT_COUNT] = {
    "answers.ok",     "answers.not_found",
    "answers.stale",  "answers.unavailable",
    "cache.hits",     "cache.misses",
    "polls",          "resets",
    "updates",        "recovered",
    "malformed",      "dropped",
    "foreign_pushes", "waits_refused",
    "polls_held"};

static uint64_t
s_counter (svc_t *self, int counter)
{
    return counter == RB_CNT_POLLS     ? rb_waits__polls (self->waits)
           : counter == RB_CNT_REFUSED ? rb_waits__refused (self->waits)
           : counter == RB_CNT_HELD    ? rb_waits__held (self->waits)
                                       : self->counters[counter];
}

static void
s_on_request (rb_bus_t *bus, const rb_header_t *h, const rb_body_t *b,
              zmsg_t **msg_p, void *arg)
{
    svc_t *self = (svc_t *) arg;
    if (h->type != RB_T_STATUS) {
        rb_bus_error (bus, h, RB_S_BAD_REQUEST,
                      "a service node answers "
                      "STATUS");
        return;
    }
    rb_item_t items[RB_CNT_COUNT + 6];
    rb_body_t info;
    rb_body_init (&info, RB_T_INFO);
    info.items = items;
    for (int i = 0; i < RB_CNT_COUNT; i++)
        items[info.n_items++] = (rb_item_t){
            rb_str (s_counter_names[i]), false, {NULL, 0}, s_counter (self, i)};
    items[info.n_items++] =
        (rb_item_t){rb_str ("policy"), true,
                    rb_str (rb_policy_name (self->opts.policy)), 0};
    items[info.n_items++] = (rb_item_t){
        rb_str ("waits"), false, {NULL, 0}, rb_waits__count (self->waits)};
    items[info.n_items++] = (rb_item_t){
        rb_str ("cached"), false, {NULL, 0}, rb_cache_size (self->cache)};
    items[info.n_items++] = (rb_item_t){
        rb_str ("cache_size"), false, {NULL, 0}, self->opts.cache_size};
    items[info.n_items++] = (rb_item_t){
        rb_str ("epoch"), false, {NULL, 0}, rb_cache_epoch (self->cache)};
    rb_bus_reply (bus, h, &info);
}

/*  The numbers the metrics show (an rb_svc__counts_fn). */
static void
s_counts (void *arg, rb_svc__counts_t *c)
{
    svc_t *self = (svc_t *) arg;
    const uint64_t *n = self->counters;
    *c = (rb_svc__counts_t){{n[RB_CNT_OK], n[RB_CNT_NOT_FOUND], n[RB_CNT_STALE],
                             n[RB_CNT_UNAVAILABLE]},
                            n[RB_CNT_HITS],
                            n[RB_CNT_MISSES],
                            s_counter (self, RB_CNT_POLLS),
                            n[RB_CNT_RESETS],
                            n[RB_CNT_UPDATES],
                            n[RB_CNT_RECOVERED],
                            s_counter (self, RB_CNT_REFUSED),
                            rb_waits__count (self->waits),
                            rb_cache_size (self->cache),
                            self->opts.cache_size,
                            rb_waits__wait_time (self->waits)};
}

static int
s_on_tick (zloop_t *loop, int timer_id, void *arg)
{
    svc_t *self = (svc_t *) arg;
    rb_waits__tick (self->waits);
    rb_waits__flush (self->waits);
    int64_t now = zclock_mono ();
    if (self->opts.verbose && self->opts.stats_every_s > 0 &&
        now >= self->next_stats) {
        self->next_stats = now + self->opts.stats_every_s * 1000LL;
        uint64_t *c = self->counters;
        zsys_info ("service %s: ok %" PRIu64 " not_found %" PRIu64
                   " stale %" PRIu64 " unavailable %" PRIu64 " hits %" PRIu64
                   " misses %" PRIu64 " polls %" PRIu64 " waits %u",
                   self->opts.name, c[RB_CNT_OK], c[RB_CNT_NOT_FOUND],
                   c[RB_CNT_STALE], c[RB_CNT_UNAVAILABLE], c[RB_CNT_HITS],
                   c[RB_CNT_MISSES], s_counter (self, RB_CNT_POLLS),
                   rb_waits__count (self->waits));
    }
    return 0;
}

static int
s_on_pipe (zloop_t *loop, zsock_t *pipe, void *arg)
{
    svc_t *self = (svc_t *) arg;
    char *command = zstr_recv (pipe);
    if (!command || streq (command, "$TERM")) {
        zstr_free (&command);
        return -1;
    }
    if (streq (command, "ENDPOINT"))
        zstr_send (pipe, self->endpoint ? self->endpoint : "");
    zstr_free (&command);
    return 0;
}

/*  systemd: ready once terminals can connect (the actor attaches this
    only then) and the broker took our HELLO; whether we still are
    registered, and what the cache holds.  */
static void
s_notify (rb_notify_t *notify, void *arg)
{
    svc_t *self = (svc_t *) arg;
    bool registered = rb_bus_registered (self->bus);
    if (registered)
        rb_notify_ready (notify);
    rb_notify_status (notify, "%s, %" PRIu32 " cached",
                      registered ? "registered" : "not registered",
                      rb_cache_size (self->cache));
}

/*  --- the actor ----------------------------------------------------------- */

static svc_t *
s_svc_new (zsock_t *pipe, const rb_service_opts_t *opts)
{
    svc_t *self = (svc_t *) calloc (1, sizeof *self);
    assert (self);
    self->pipe = pipe;
    self->notify = opts->notify ? rb_notify_new () : NULL;
    self->opts = *opts;
    self->opts.name = strdup (opts->name);
    self->opts.listen = strdup (opts->listen);
    self->opts.broker = strdup (opts->broker);
    self->opts.metrics = strdup (opts->metrics ? opts->metrics : "");
    self->cache = rb_cache_new (opts->cache_size);
    rb_cache_set_ttl (self->cache, opts->cache_ttl_ms);
    rb_body_init (&self->body, RB_T_NONE);
    self->terminals = zsock_new (ZMQ_ROUTER);
    zsock_set_maxmsgsize (self->terminals, 64 * 1024);
    zsock_set_sndhwm (self->terminals, 100000);
    zsock_set_rcvhwm (self->terminals, 100000);
    zsock_set_linger (self->terminals, 0);
    if (zsock_bind (self->terminals, "%s", opts->listen) != -1)
        self->endpoint = zsock_last_endpoint (self->terminals);
    else
        zsys_error ("service %s: cannot bind %s: %s", opts->name, opts->listen,
                    zmq_strerror (zmq_errno ()));
    rb_bus_opts_t bo = {.endpoint = opts->broker,
                        .role = RB_ROLE_SERVICE,
                        .name = opts->name,
                        .rehello_after_stall = true,
                        .curve_cert = opts->curve_cert,
                        .broker_cert = opts->broker_cert};
    self->bus = rb_bus_new (&bo);
    rb_waits_opts_t wo = {opts->policy,        opts->max_wait_ms,
                          opts->poll_min_ms,   opts->poll_max_ms,
                          opts->db_timeout_ms, opts->waits_max,
                          opts->waiters_max,   opts->poll_rate};
    self->waits = rb_waits__new (&wo, self->bus, self->cache, s_answer, self);
    rb_bus_on_push (self->bus, s_on_push, self);
    rb_bus_on_request (self->bus, s_on_request, self);
    rb_bus_on_idle (self->bus, s_on_bus_idle, self);
    return self;
}

static void
s_svc_destroy (svc_t **self_p)
{
    svc_t *self = *self_p;
    if (!self)
        return;
    rb_waits__destroy (&self->waits);
    rb_cache_destroy (&self->cache);
    rb_body_release (&self->body);
    free (self->out);
    zsock_destroy (&self->terminals);
    zstr_free (&self->endpoint);
    free ((char *) self->opts.name);
    free ((char *) self->opts.listen);
    free ((char *) self->opts.broker);
    rb_notify_destroy (&self->notify);
    free ((char *) self->opts.metrics);
    free (self);
    *self_p = NULL;
}

void
rb_service_actor (zsock_t *pipe, void *args)
{
    svc_t *self = s_svc_new (pipe, (const rb_service_opts_t *) args);
    self->loop = zloop_new ();
    zloop_reader (self->loop, pipe, s_on_pipe, self);
    if (self->endpoint) {
        zloop_reader (self->loop, self->terminals, s_on_terminals, self);
        rb_bus_attach (self->bus, self->loop);
        zloop_timer (self->loop, RB_TICK_MS, 0, s_on_tick, self);
        rb_notify_attach (self->notify, self->loop, s_notify, self);
        self->metrics = rb_svc__metrics_new (self->opts.metrics, self->loop,
                                             self->opts.name, s_counts, self);
        zsys_info ("service %s (%s): terminals on %s", self->opts.name,
                   rb_policy_name (self->opts.policy), self->endpoint);
    }
    zsock_signal (pipe, 0);
    zloop_start (self->loop);
    rb_notify_stopping (self->notify);
    rb_bus_destroy (&self->bus); /* leaves the loop before it goes */
    zloop_destroy (&self->loop);
    rb_svc__metrics_destroy (&self->metrics);
    s_svc_destroy (&self);
}
