/*  rb_broker_nodes: the broker's peers: lookup, registration (HELLO),
    removal and expiry, and the built-in "broker" service (STATUS, NODES).
    See rb_broker_int.h.  */
#include "rb_broker_int.h"

#include <assert.h>
#include <string.h>

/*  --- peers --------------------------------------------------------- */

rb_peer_t *
rb_br_peer_at (broker_t *self, uint32_t index, uint32_t gen)
{
    if (index >= self->n_peers)
        return NULL;
    rb_peer_t *p = &self->peers[index];
    return p->live && p->gen == gen ? p : NULL;
}

static void
s_hex (const uint8_t *id, size_t len, char *out)
{
    static const char digits[] = "0123456789abcdef";
    for (size_t i = 0; i < len; i++) {
        out[2 * i] = digits[id[i] >> 4];
        out[2 * i + 1] = digits[id[i] & 15];
    }
    out[2 * len] = '\0';
}

rb_peer_t *
rb_br_peer_by_id (broker_t *self, zmq_msg_t *id)
{
    char key[2 * RB_ID_MAX + 1];
    size_t len = zmq_msg_size (id);
    if (len > RB_ID_MAX)
        return NULL;
    s_hex ((const uint8_t *) zmq_msg_data (id), len, key);
    uintptr_t v = (uintptr_t) zhashx_lookup (self->by_id, key);
    return v ? &self->peers[v - 1] : NULL;
}

rb_peer_t *
rb_br_peer_by_name (broker_t *self, const char *name)
{
    uintptr_t v = (uintptr_t) zhashx_lookup (self->by_name, name);
    return v ? &self->peers[v - 1] : NULL;
}

uint32_t
rb_br_index (broker_t *self, rb_peer_t *p)
{
    return (uint32_t) (p - self->peers);
}

/*  Takes a free peer slot: a removed one, or a new one. */
static rb_peer_t *
s_peer_alloc (broker_t *self)
{
    if (self->n_free)
        return &self->peers[self->free_peers[--self->n_free]];
    if (self->n_peers == self->cap_peers) {
        self->cap_peers = self->cap_peers ? self->cap_peers * 2 : 16;
        self->peers = (rb_peer_t *) realloc (
            self->peers, self->cap_peers * sizeof (rb_peer_t));
        self->free_peers = (uint32_t *) realloc (
            self->free_peers, self->cap_peers * sizeof (uint32_t));
        assert (self->peers && self->free_peers);
    }
    rb_peer_t *p = &self->peers[self->n_peers++];
    memset (p, 0, sizeof *p);
    return p;
}

/*  Rate-limited log of bad input: one line a second at most. */
void
rb_br_log_bad (broker_t *self, const char *what, const char *detail)
{
    int64_t now = zclock_mono ();
    if (now - self->last_log < 1000) {
        self->unlogged++;
        return;
    }
    zsys_warning ("broker: %s: %s (%" PRIu64 " more since last report)", what,
                  detail, self->unlogged);
    self->last_log = now;
    self->unlogged = 0;
}

/*  --- removal and expiry ----------------------------------------------- */

/*  Removes a peer: requests in flight to it are answered worker_lost at
    once; it leaves every service; its name is free again.  */
void
rb_br_peer_remove (broker_t *self, rb_peer_t *p, const char *why)
{
    uint32_t index = rb_br_index (self, p);
    uint32_t cursor = 0;
    uint64_t fid;
    rb_flight_t *f;
    while ((f = (rb_flight_t *) rb_slots_next (self->flights, &cursor, &fid))) {
        if (f->worker != index || f->worker_gen != p->gen)
            continue;
        rb_peer_t *req = rb_br_peer_at (self, f->requester, f->req_gen);
        uint64_t corr = f->corr;
        rb_slots_free (self->flights, fid);
        if (req && req != p)
            rb_br_error (self, req, corr, RB_S_WORKER_LOST, p->name);
    }
    for (uint32_t i = 0; i < p->n_services; i++) {
        rb_service_t *svc =
            (rb_service_t *) zhashx_lookup (self->services, p->services[i]);
        for (uint32_t j = 0; svc && j < svc->n_workers; j++)
            if (svc->workers[j] == index)
                svc->workers[j--] = svc->workers[--svc->n_workers];
    }
    zsys_info ("broker: node %s (%s) removed: %s", p->name,
               rb_role_name (p->role), why);
    zhashx_delete (self->by_name, p->name);
    zhashx_delete (self->by_id, p->id_key);
    p->live = false;
    p->gen++;
    self->free_peers[self->n_free++] = index;
}

/*  Frees flights whose requester has long given up (a worker that never
    answers must not hold credit or memory forever).  */
static void
s_reap_flights (broker_t *self, int64_t now)
{
    int64_t grace = (int64_t) self->opts.heartbeat_ms * self->opts.liveness;
    uint32_t cursor = 0;
    uint64_t fid;
    rb_flight_t *f;
    while ((f = (rb_flight_t *) rb_slots_next (self->flights, &cursor, &fid))) {
        if (now <= f->deadline + grace)
            continue;
        rb_peer_t *w = rb_br_peer_at (self, f->worker, f->worker_gen);
        if (w && w->inflight)
            w->inflight--;
        rb_slots_free (self->flights, fid);
    }
}

int
rb_br_on_tick (zloop_t *loop, int timer_id, void *arg)
{
    broker_t *self = (broker_t *) arg;
    int64_t now = zclock_mono ();
    int64_t silence = (int64_t) self->opts.heartbeat_ms * self->opts.liveness;
    for (uint32_t i = 0; i < self->n_peers; i++) {
        rb_peer_t *p = &self->peers[i];
        if (p->live && now - p->last_heard > silence) {
            self->expired++;
            rb_br_peer_remove (self, p, "silent, expired");
        }
    }
    rb_br_expire_queues (self, now);
    if (now - self->last_beat >= self->opts.heartbeat_ms) {
        self->last_beat = now;
        rb_header_t h = rb_br_own_header (RB_K_HEARTBEAT, RB_T_NONE, 0);
        for (uint32_t i = 0; i < self->n_peers; i++)
            if (self->peers[i].live)
                rb_br_send (self, &self->peers[i], &h, NULL);
        s_reap_flights (self, now);
    }
    return 0;
}

/*  --- registration ------------------------------------------------------- */

static void
s_register (broker_t *self, rb_peer_t *p, const rb_body_t *b, zmq_msg_t *id)
{
    p->live = true;
    snprintf (p->name, sizeof p->name, "%.*s", (int) b->name.len, b->name.ptr);
    p->role = b->role;
    p->id_len = zmq_msg_size (id);
    memcpy (p->id, zmq_msg_data (id), p->id_len);
    s_hex (p->id, p->id_len, p->id_key);
    p->last_heard = zclock_mono ();
    p->inflight = 0;
    p->n_services = b->n_services;
    uintptr_t index = rb_br_index (self, p) + 1;
    zhashx_insert (self->by_name, p->name, (void *) index);
    zhashx_insert (self->by_id, p->id_key, (void *) index);
    for (uint32_t i = 0; i < b->n_services; i++) {
        snprintf (p->services[i], sizeof p->services[i], "%.*s",
                  (int) b->services[i].len, b->services[i].ptr);
        rb_service_t *svc = rb_br_service_require (self, p->services[i]);
        if (svc->n_workers == svc->cap_workers) {
            svc->cap_workers = svc->cap_workers ? svc->cap_workers * 2 : 4;
            svc->workers = (uint32_t *) realloc (
                svc->workers, svc->cap_workers * sizeof (uint32_t));
            assert (svc->workers);
        }
        svc->workers[svc->n_workers++] = (uint32_t) index - 1;
    }
    zsys_info ("broker: node %s (%s) registered, %u service(s)", p->name,
               rb_role_name (p->role), p->n_services);
}

void
rb_br_on_hello (broker_t *self, zmq_msg_t *id, const rb_header_t *h,
                zmq_msg_t *body)
{
    const uint8_t *idb = (const uint8_t *) zmq_msg_data (id);
    size_t id_len = zmq_msg_size (id);
    rb_body_t b;
    rb_body_init (&b, RB_T_NONE);
    rb_err_t err;
    int rc = h->type != RB_T_HELLO || !body
                 ? RB_E_TYPE
                 : rb_body_decode (zmq_msg_data (body), zmq_msg_size (body),
                                   RB_T_HELLO, NULL, &b, &err);
    if (rc) {
        bool role = rc == RB_E_ENUM;
        rb_br_error_id (self, idb, id_len, h->corr,
                        role ? RB_S_BAD_ROLE : RB_S_MALFORMED,
                        role ? "unknown role" : "bad HELLO");
        return;
    }
    char name[RB_NAME_MAX + 1];
    snprintf (name, sizeof name, "%.*s", (int) b.name.len, b.name.ptr);
    rb_peer_t *holder = rb_br_peer_by_name (self, name);
    rb_peer_t *same = rb_br_peer_by_id (self, id);
    if (holder && holder != same) {
        rb_br_error_id (self, idb, id_len, h->corr, RB_S_NAME_TAKEN, name);
        return;
    }
    if (same)
        rb_br_peer_remove (self, same, "registered again");
    rb_peer_t *p = s_peer_alloc (self);
    s_register (self, p, &b, id);
    rb_header_t out = rb_br_own_header (RB_K_WELCOME, RB_T_WELCOME, h->corr);
    rb_body_t w;
    rb_body_init (&w, RB_T_WELCOME);
    w.heartbeat_ms = (uint64_t) self->opts.heartbeat_ms;
    w.liveness = (uint64_t) self->opts.liveness;
    zmq_msg_t wm;
    rb_br_body_msg (&wm, &w);
    rb_br_send (self, p, &out, &wm);
    rb_br_dispatch_worker (self, p);
}

/*  --- introspection: the built-in "broker" service ---------------------- */

static void
s_item (rb_body_t *b, const char *name, uint64_t num)
{
    if (b->n_items >= b->cap_items || (num == 0 && strchr (name, '.')))
        return;
    b->items[b->n_items++] = (rb_item_t){rb_str (name), false, {NULL, 0}, num};
}

static void
s_reply_info (broker_t *self, rb_body_t *b)
{
    rb_body_init (b, RB_T_INFO);
    b->cap_items = RB_ITEMS_MAX;
    b->items = (rb_item_t *) calloc (RB_ITEMS_MAX, sizeof (rb_item_t));
    assert (b->items);
    uint32_t live = 0, queued = 0;
    for (uint32_t i = 0; i < self->n_peers; i++)
        live += self->peers[i].live;
    rb_service_t *svc = (rb_service_t *) zhashx_first (self->services);
    for (; svc; svc = (rb_service_t *) zhashx_next (self->services))
        queued += rb_queue_size (svc->queue);
    s_item (b, "nodes", live);
    s_item (b, "inflight", rb_slots_used (self->flights));
    s_item (b, "queued", queued);
    s_item (b, "expired", self->expired);
    s_item (b, "malformed", self->malformed);
    s_item (b, "strays", self->strays);
    s_item (b, "send_fails", self->send_fails);
    s_item (b, "tap_subscribers", (uint64_t) self->tap_subs);
    s_item (b, "tap_drops", self->tap_drops);
    /* names of the form routed.TYPE and errors.code are static strings
       held by the codec and this table */
    static char names[RB_T_COUNT_ + RB_CODES][48];
    for (int t = 1; t < RB_T_COUNT_; t++) {
        snprintf (names[t], sizeof names[t], "routed.%s", rb_type_name (t));
        s_item (b, names[t], self->routed[t]);
    }
    for (int c = 0; c < RB_CODES; c++) {
        char *n = names[RB_T_COUNT_ + c];
        snprintf (n, sizeof names[0], "errors.%s",
                  rb_code_name (RB_S_MALFORMED + c));
        s_item (b, n, self->errors[c]);
    }
}

static void
s_reply_nodes (broker_t *self, rb_body_t *b, char (*services)[RB_TEXT_MAX])
{
    rb_body_init (b, RB_T_NODES);
    b->nodes = (rb_node_t *) calloc (self->n_peers + 1, sizeof (rb_node_t));
    assert (b->nodes);
    int64_t now = zclock_mono ();
    for (uint32_t i = 0; i < self->n_peers && b->n_nodes < 1024; i++) {
        rb_peer_t *p = &self->peers[i];
        if (!p->live)
            continue;
        char *list = services[b->n_nodes];
        list[0] = '\0';
        for (uint32_t s = 0; s < p->n_services; s++)
            snprintf (list + strlen (list), RB_TEXT_MAX - strlen (list), "%s%s",
                      s ? "," : "", p->services[s]);
        b->nodes[b->n_nodes++] =
            (rb_node_t){rb_str (p->name), p->role, rb_str (list),
                        (uint64_t) (now - p->last_heard), p->inflight};
    }
}

void
rb_br_introspect (broker_t *self, rb_peer_t *req, const rb_header_t *h)
{
    rb_body_t b;
    char (*services)[RB_TEXT_MAX] = NULL;
    if (h->type == RB_T_STATUS)
        s_reply_info (self, &b);
    else if (h->type == RB_T_NODES) {
        services = calloc (self->n_peers + 1, RB_TEXT_MAX);
        assert (services);
        s_reply_nodes (self, &b, services);
    } else {
        rb_br_error (self, req, h->corr, RB_S_BAD_REQUEST,
                     "the broker service answers STATUS and NODES");
        return;
    }
    rb_header_t out = rb_br_own_header (RB_K_REPLY, b.type, h->corr);
    zmq_msg_t m;
    rb_br_body_msg (&m, &b);
    rb_br_tap (self, &out, &m);
    rb_br_send (self, req, &out, &m);
    rb_body_release (&b);
    free (services);
}
