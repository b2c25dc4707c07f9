/*  rb_broker: routing, registration and liveness (see rb_broker.h);
    rb_broker_actor.c reads the sockets and calls in here.

    Data path: frames are received into zmq_msg_t's; only the header is
    decoded; the body frame is moved to its destination (and shared by
    reference count with the tap), never decoded or copied. Requests in
    flight live in an rb_slots table whose ids go to workers as the
    correlation id, so a reply finds its requester in O(1) without any
    allocation per request.  */
#include "rb_broker_int.h"
#include "rb_slots.h"
#include "rb_timers.h"

#include <assert.h>
#include <string.h>

/*  --- sending: each peer within its budget ------------------------------ */

/*  The key of p in the drops list and the connections' table.  */
static uint64_t
s_key (broker_t *self, const rb_peer_t *p)
{
    return (uint64_t) p->gen << 32 | rb_peers__index (self->peers, p);
}

/*  Lists p to be dropped at the end of this step (rb_broker__drop_over).
    A peer removed and its slot taken again within one step can leave
    an entry more than there are peers: past the array's room it is
    found by the next tick instead (rb_broker__on_tick).  */
static void
s_drop_later (broker_t *self, rb_peer_t *p)
{
    if (self->n_drops <= self->opts.nodes_max)
        self->drops[self->n_drops++] = s_key (self, p);
}

/*  Marks p to be dropped for not reading: nothing more is sent to it
    meanwhile.  */
static void
s_over_budget (broker_t *self, rb_peer_t *p)
{
    if (p->over_budget)
        return;
    p->over_budget = true;
    self->over_budget++;
    s_drop_later (self, p);
}

/*  Marks p to be dropped as unreachable (a send to it failed: its
    connection is gone): nothing more is sent to it, nor picked.  */
static void
s_gone (broker_t *self, rb_peer_t *p)
{
    if (p->gone || p->over_budget)
        return;
    p->gone = true;
    s_drop_later (self, p);
}

/*  Whether p must be dropped at now (rb_budget_drop): it stalls once
    no echo came for as long as the broker waits before expiring a
    silent node.  */
static bool
s_past_budget (broker_t *self, rb_peer_t *p, int64_t now)
{
    return rb_budget_drop (&p->budget, (uint64_t) self->opts.peer_queue_bytes,
                           self->opts.peer_queue_max, self->grace_ms, now);
}

/*  Sends p a HEARTBEAT carrying a new mark of its budget (rb_budget.h). */
static void
s_mark (broker_t *self, rb_peer_t *p)
{
    rb_header_t h = rb_outbox__header (RB_K_HEARTBEAT, RB_T_NONE,
                                       rb_budget_mark (&p->budget));
    zmq_msg_t header;
    rb_outbox__encode (&header, &h);
    long n = rb_outbox__send (self->out, p->id, p->id_len, &header, NULL);
    if (n > 0)
        rb_budget_sent (&p->budget, (size_t) n);
    else if (n == RB_OUT_FULL)
        s_over_budget (self, p);
}

/*  What a send to p returned (rb_outbox__send): charged to its budget;
    0, or -1 if nothing was sent.  */
static int
s_charge (broker_t *self, rb_peer_t *p, long n)
{
    if (n > 0) {
        rb_budget_sent (&p->budget, (size_t) n);
        if (s_past_budget (self, p, zclock_mono ()))
            s_over_budget (self, p);
        else if (rb_budget_due (&p->budget,
                                (uint64_t) self->opts.peer_queue_bytes,
                                self->opts.peer_queue_max))
            s_mark (self, p);
    } else if (n == RB_OUT_FULL)
        s_over_budget (self, p);
    else
        s_gone (self, p);
    return n > 0 ? 0 : -1;
}

/*  Sends p [header][body?] (header encoded: rb_outbox__encode); both
    are consumed. 0, or -1 if nothing was sent.  */
static int
s_send (broker_t *self, rb_peer_t *p, zmq_msg_t *header, zmq_msg_t *body)
{
    if (p->over_budget || p->gone) {
        zmq_msg_close (header);
        if (body)
            zmq_msg_close (body);
        return -1;
    }
    return s_charge (
        self, p, rb_outbox__send (self->out, p->id, p->id_len, header, body));
}

/*  h encoded into header, and a copy of [header][body?] held for the
    tap (rb_outbox__tap): body is not consumed.  */
static void
s_encode_tap (broker_t *self, const rb_header_t *h, zmq_msg_t *header,
              zmq_msg_t *body)
{
    rb_outbox__encode (header, h);
    rb_outbox__tap (self->out, h, header, body);
}

static void
s_error (broker_t *self, rb_peer_t *p, uint64_t corr, int code,
         const char *text)
{
    if (!p->over_budget && !p->gone)
        s_charge (
            self, p,
            rb_outbox__error (self->out, p->id, p->id_len, corr, code, text));
}

/*  --- requests: workers, flights, queues -------------------------------- */

/*  A message its sender's role may not send: answered FORBIDDEN (a
    request, so its sender does not wait), counted, logged at most once a
    minute per peer; nothing else happens.  */
static void
s_refuse (broker_t *self, rb_peer_t *p, const rb_header_t *h, zmq_msg_t *body)
{
    self->refused++;
    if (body)
        zmq_msg_close (body);
    int64_t now = zclock_mono ();
    if (!p->last_refused_log || now - p->last_refused_log >= 60000) {
        p->last_refused_log = now;
        zsys_warning ("broker: refused %s %s from %s (role %s): not allowed "
                      "for its role (logged once a minute)",
                      rb_kind_name (h->kind), rb_type_name (h->type), p->name,
                      rb_role_name (p->role));
    }
    if (h->kind == RB_K_REQUEST)
        s_error (self, p, h->corr, RB_S_FORBIDDEN,
                 "not allowed for this node's role");
}

/*  The live worker with the fewest requests in flight and credit left. */
static rb_peer_t *
s_pick (broker_t *self, rb_service_t *svc)
{
    rb_peer_t *best = NULL;
    for (uint32_t i = 0; i < svc->n_workers; i++) {
        rb_peer_t *w = rb_peers__get (self->peers, svc->workers[i]);
        if (!w->over_budget && !w->gone &&
            w->inflight < (uint32_t) self->opts.worker_credit &&
            (!best || w->inflight < best->inflight))
            best = w;
    }
    return best;
}

/*  Whether svc has a worker that may still be sent to (credit or not). */
static bool
s_has_worker (broker_t *self, rb_service_t *svc)
{
    for (uint32_t i = 0; i < svc->n_workers; i++) {
        rb_peer_t *w = rb_peers__get (self->peers, svc->workers[i]);
        if (!w->over_budget && !w->gone)
            return true;
    }
    return false;
}

static void s_reroute (broker_t *self, uint64_t fid, rb_flight_t *f,
                       const rb_peer_t *lost, const char *text);

/*  Forwards a request to worker, stamped with the requester's identity
    and the flight's id as correlation id. Consumes body.  */
static void
s_forward (broker_t *self, rb_peer_t *req, rb_peer_t *worker,
           const rb_header_t *h, zmq_msg_t *body, int64_t deadline)
{
    uint64_t fid;
    rb_flight_t *f = (rb_flight_t *) rb_slots_alloc (self->flights, &fid);
    if (!f) {
        if (body)
            zmq_msg_close (body);
        s_error (self, req, h->corr, RB_S_OVERLOADED, "too many in flight");
        return;
    }
    f->requester = rb_peers__index (self->peers, req);
    f->req_gen = req->gen;
    f->worker = rb_peers__index (self->peers, worker);
    f->worker_gen = worker->gen;
    f->corr = h->corr;
    f->deadline = deadline;
    rb_timers_add (self->flight_due, deadline + self->grace_ms, fid);
    rb_header_t out = *h;
    out.corr = fid;
    memcpy (out.sender, req->name, sizeof out.sender);
    out.role = req->role;
    zmq_msg_t header;
    s_encode_tap (self, &out, &header, body);
    if (h->addr == RB_ADDR_SERVICE)
        rb_flights__keep (f, h->type, &header, body, &self->kept);
    if (s_send (self, worker, &header, body) == 0) {
        worker->inflight++;
        self->routed[h->type]++;
        return;
    }
    s_reroute (self, fid, f, NULL, "worker unreachable");
}

/*  Serves queued requests of svc while a worker has credit. */
static void
s_dispatch (broker_t *self, rb_service_t *svc)
{
    rb_peer_t *worker;
    while (rb_queue_size (svc->queue) && (worker = s_pick (self, svc))) {
        rb_queued_t *e = rb_queue_head (svc->queue);
        rb_peer_t *req = rb_peers__at (self->peers, e->requester, e->req_gen);
        zmq_msg_t *body = e->has_body ? &e->body : NULL;
        self->queued_bytes -= body ? zmq_msg_size (body) : 0;
        if (req)
            s_forward (self, req, worker, &e->header, body, e->deadline);
        else if (body)
            zmq_msg_close (body);
        rb_queue_pop (svc->queue);
    }
}

static void
s_dispatch_worker (broker_t *self, rb_peer_t *w)
{
    for (uint32_t i = 0; i < w->n_services; i++) {
        rb_service_t *svc = rb_services__find (self->services, w->services[i]);
        if (svc)
            s_dispatch (self, svc);
    }
}

/*  Queue expiry callback: the requester gets ERROR timeout. */
static void
s_expire_queued (rb_queued_t *e, void *arg)
{
    broker_t *self = (broker_t *) arg;
    rb_peer_t *req = rb_peers__at (self->peers, e->requester, e->req_gen);
    if (e->has_body) {
        self->queued_bytes -= zmq_msg_size (&e->body);
        zmq_msg_close (&e->body);
    }
    if (req)
        s_error (self, req, e->header.corr, RB_S_TIMEOUT,
                 "no free worker before the deadline");
}

static void
s_enqueue (broker_t *self, rb_service_t *svc, rb_peer_t *req,
           const rb_header_t *h, zmq_msg_t *body, int64_t deadline)
{
    size_t size = body ? zmq_msg_size (body) : 0;
    rb_queued_t *e =
        self->queued_bytes + size > (uint64_t) self->opts.queue_bytes
            ? NULL
            : rb_services__push (self->services, svc, deadline);
    if (!e) {
        if (body)
            zmq_msg_close (body);
        s_error (self, req, h->corr, RB_S_OVERLOADED,
                 rb_queue_size (svc->queue) < (uint32_t) self->opts.queue_max
                     ? "the broker's queues hold queue-bytes already"
                     : "service queue full");
        return;
    }
    self->queued_bytes += size;
    e->header = *h;
    e->requester = rb_peers__index (self->peers, req), e->req_gen = req->gen;
    e->deadline = deadline;
    e->has_body = body != NULL;
    zmq_msg_init (&e->body);
    if (body)
        zmq_msg_move (&e->body, body);
}

/*  A request to svc: to a worker with credit, or into its queue.  */
static void
s_to_service (broker_t *self, rb_service_t *svc, rb_peer_t *req,
              const rb_header_t *h, zmq_msg_t *body, int64_t deadline)
{
    rb_peer_t *worker = rb_queue_size (svc->queue) ? NULL : s_pick (self, svc);
    if (worker)
        s_forward (self, req, worker, h, body, deadline);
    else
        s_enqueue (self, svc, req, h, body, deadline);
}

/*  A flight whose worker was lost (removed, or a send to it failed):
    the request it kept goes to another worker of its service, or waits
    in its queue, with its first deadline; one that kept nothing, or
    whose service has no other worker left, is answered worker_lost
    (text) as before. The flight is freed: a late reply to its id is a
    stray. lost, when given, is the removed peer, never answered.  */
static void
s_reroute (broker_t *self, uint64_t fid, rb_flight_t *f, const rb_peer_t *lost,
           const char *text)
{
    rb_peer_t *req = rb_peers__at (self->peers, f->requester, f->req_gen);
    rb_header_t h;
    zmq_msg_t body;
    bool kept = rb_flights__take (f, &h, &body, &self->kept) == 0;
    uint64_t corr = f->corr;
    int64_t deadline = f->deadline;
    rb_slots_free (self->flights, fid);
    if (req == lost)
        req = NULL;
    rb_service_t *svc =
        kept && req ? rb_services__find (self->services, h.dest) : NULL;
    /* a send that fails re-routes again, to the next worker: as deep as
       the sends that fail in a row, which RB_REROUTE_DEPTH bounds */
    if (svc && s_has_worker (self, svc) &&
        self->reroute_depth < RB_REROUTE_DEPTH) {
        self->rerouted++;
        self->reroute_depth++;
        s_to_service (self, svc, req, &h, h.type ? &body : NULL, deadline);
        self->reroute_depth--;
        if (!h.type)
            zmq_msg_close (&body);
        return;
    }
    zmq_msg_close (&body);
    if (req)
        s_error (self, req, corr, RB_S_WORKER_LOST, text);
}

/*  --- nodes: registration, removal and expiry ---------------------------- */

/*  Removes a peer: it leaves every service, and each request in flight
    to it is re-routed or answered worker_lost at once (s_reroute); its
    name is free again.  */
static void
s_peer_remove (broker_t *self, rb_peer_t *p, const char *why)
{
    uint32_t index = rb_peers__index (self->peers, p);
    for (uint32_t i = 0; i < p->n_services; i++)
        rb_services__leave (self->services, p->services[i], index);
    p->gone = true; /* nothing more goes to it meanwhile */
    uint32_t cursor = 0;
    uint64_t fid;
    rb_flight_t *f;
    while ((f = (rb_flight_t *) rb_slots_next (self->flights, &cursor, &fid)))
        if (f->worker == index && f->worker_gen == p->gen)
            s_reroute (self, fid, f, p, p->name);
    rb_nodelog__line (&self->node_log, false, "node %s (%s) removed: %s",
                      p->name, rb_role_name (p->role), why);
    rb_conns__left (self->conns, p->fd);
    rb_peers__remove (self->peers, p);
}

/*  Drops the peers found over budget in this step: their requests in
    flight are answered worker_lost, and each is told unknown_node as
    soon as its queue has room (s_tell_dropped), so that it registers
    again and, if it caches, drops its cache (docs/faults.md).  */
void
rb_broker__drop_over (broker_t *self)
{
    for (uint32_t i = 0; i < self->n_drops; i++) {
        uint64_t key = self->drops[i];
        rb_peer_t *p =
            rb_peers__at (self->peers, (uint32_t) key, (uint32_t) (key >> 32));
        if (!p)
            continue;          /* removed meanwhile */
        if (!p->over_budget) { /* gone: a send to it failed */
            self->nodes_lost++;
            s_peer_remove (self, p, "unreachable (a send to it failed)");
            continue;
        }
        char why[160];
        snprintf (why, sizeof why,
                  "over its send budget (%" PRIu64 " messages, %" PRIu64
                  " bytes not read)",
                  rb_budget_queued_msgs (&p->budget),
                  rb_budget_queued_bytes (&p->budget));
        uint32_t slot =
            self->n_told < RB_TOLD_MAX ? self->n_told++ : RB_TOLD_MAX - 1;
        memcpy (self->told[slot].id, p->id, p->id_len);
        self->told[slot].id_len = p->id_len;
        self->told[slot].until =
            zclock_mono () + (int64_t) self->opts.heartbeat_ms * 2;
        s_peer_remove (self, p, why);
    }
    self->n_drops = 0;
}

void
rb_broker__conns (broker_t *self)
{
    rb_conns__drain (self->conns);
    uint64_t key;
    while (rb_conns__closed (self->conns, &key)) {
        rb_peer_t *p =
            rb_peers__at (self->peers, (uint32_t) key, (uint32_t) (key >> 32));
        if (!p)
            continue; /* removed before its connection closed */
        self->nodes_lost++;
        s_peer_remove (self, p, "its connection closed");
    }
}

/*  Tells each dropped peer it is unknown now, once its queue takes it;
    gives up after two heartbeats (its own next heartbeat is answered
    unknown_node anyway) or when it registered again.  */
static void
s_tell_dropped (broker_t *self, int64_t now)
{
    uint32_t kept = 0;
    for (uint32_t i = 0; i < self->n_told; i++) {
        const uint8_t *id = self->told[i].id;
        size_t len = self->told[i].id_len;
        bool done =
            now > self->told[i].until ||
            rb_peers__by_id (self->peers, id, len) ||
            rb_outbox__error (self->out, id, len, 0, RB_S_UNKNOWN_NODE,
                              "dropped: over its send budget") != RB_OUT_FULL;
        if (!done)
            self->told[kept++] = self->told[i];
    }
    self->n_told = kept;
}

/*  Frees flights whose requester has long given up (a worker that never
    answers must not hold credit or memory forever).  */
static void
s_reap_flights (broker_t *self, int64_t now)
{
    int64_t at;
    uint64_t fid;
    while (rb_timers_pop (self->flight_due, now, &at, &fid)) {
        rb_flight_t *f = (rb_flight_t *) rb_slots_get (self->flights, fid);
        if (!f)
            continue; /* answered, or reaped with its worker */
        rb_peer_t *w = rb_peers__at (self->peers, f->worker, f->worker_gen);
        if (w && w->inflight)
            w->inflight--;
        rb_flights__release (f, &self->kept);
        rb_slots_free (self->flights, fid);
    }
}

void
rb_broker__release_flights (broker_t *self)
{
    uint32_t cursor = 0;
    uint64_t fid;
    rb_flight_t *f;
    while ((f = (rb_flight_t *) rb_slots_next (self->flights, &cursor, &fid)))
        rb_flights__release (f, &self->kept);
}

int
rb_broker__on_tick (zloop_t *loop, int timer_id, void *arg)
{
    broker_t *self = (broker_t *) arg;
    /* subscriptions and connection events wait for the tick: the loop
       polls only the ROUTER and the pipe, so that a message's wake-up
       costs no look at sockets that seldom have anything */
    while (rb_outbox__on_tap (self->out, self->cert != NULL))
        ;
    rb_broker__conns (self);
    int64_t now = zclock_mono ();
    uint32_t cursor = 0;
    rb_peer_t *p;
    while ((p = rb_peers__silent (self->peers, now))) {
        self->expired++;
        s_peer_remove (self, p, "silent, expired");
    }
    rb_services__expire (self->services, now, s_expire_queued, self);
    if (now - self->last_beat >= self->opts.heartbeat_ms) {
        self->last_beat = now;
        cursor = 0;
        while ((p = rb_peers__next (self->peers, &cursor)))
            if (p->over_budget || p->gone) /* missed by its step */
                s_drop_later (self, p);
            else if (s_past_budget (self, p, now))
                s_over_budget (self, p); /* it stopped reading */
            else
                s_mark (self, p); /* the heartbeat, with a mark */
        s_reap_flights (self, now);
    }
    rb_broker__drop_over (self);
    s_tell_dropped (self, now);
    rb_conns__expire (self->conns, now);
    rb_outbox__flush (self->out);
    return 0;
}

/*  The HELLO body, or an ERROR to its sender and -1.  */
static int
s_hello_body (broker_t *self, zmq_msg_t *id, const rb_header_t *h,
              zmq_msg_t *body, rb_body_t *b)
{
    rb_body_init (b, RB_T_NONE);
    rb_err_t err;
    int rc = h->type != RB_T_HELLO || !body
                 ? RB_E_TYPE
                 : rb_body_decode (zmq_msg_data (body), zmq_msg_size (body),
                                   RB_T_HELLO, NULL, b, &err);
    if (rc == 0)
        return 0;
    bool role = rc == RB_E_ENUM;
    rb_outbox__error (self->out, (const uint8_t *) zmq_msg_data (id),
                      zmq_msg_size (id), h->corr,
                      role ? RB_S_BAD_ROLE : RB_S_MALFORMED,
                      role ? "unknown role" : "bad HELLO");
    return -1;
}

/*  Whether a HELLO agrees with its key and the table; else an ERROR
    forbidden to its sender and false.  */
static bool
s_hello_allowed (broker_t *self, zmq_msg_t *id, const rb_header_t *h,
                 const rb_authz_key_t *key, const rb_body_t *b)
{
    char why[300];
    const char *refusal = rb_authz__hello (key, b, why, sizeof why);
    if (!refusal)
        return true;
    self->refused++;
    rb_nodelog__line (&self->node_log, true, "HELLO from %.*s refused: %s",
                      (int) b->name.len, b->name.ptr, refusal);
    rb_outbox__error (self->out, (const uint8_t *) zmq_msg_data (id),
                      zmq_msg_size (id), h->corr, RB_S_FORBIDDEN, refusal);
    return false;
}

static void
s_on_hello (broker_t *self, zmq_msg_t *id, const rb_header_t *h,
            const rb_authz_key_t *key, int fd, zmq_msg_t *body)
{
    const uint8_t *idb = (const uint8_t *) zmq_msg_data (id);
    size_t id_len = zmq_msg_size (id);
    rb_body_t b;
    if (s_hello_body (self, id, h, body, &b))
        return;
    if (!s_hello_allowed (self, id, h, key, &b))
        return;
    if (!rb_services__fit (self->services, &b)) {
        rb_outbox__error (self->out, (const uint8_t *) zmq_msg_data (id),
                          zmq_msg_size (id), h->corr, RB_S_OVERLOADED,
                          "the broker's table of services is full");
        return;
    }
    char name[RB_NAME_MAX + 1];
    rb_str_to (name, sizeof name, b.name);
    rb_peer_t *holder = rb_peers__by_name (self->peers, name);
    rb_peer_t *same = rb_peers__by_id (self->peers, idb, id_len);
    if (holder && holder != same) {
        rb_outbox__error (self->out, idb, id_len, h->corr, RB_S_NAME_TAKEN,
                          name);
        return;
    }
    if (!same && rb_peers__live (self->peers) >= self->opts.nodes_max) {
        self->nodes_refused++;
        rb_outbox__error (self->out, idb, id_len, h->corr, RB_S_OVERLOADED,
                          "the broker's table of nodes is full");
        return;
    }
    if (same)
        s_peer_remove (self, same, "registered again");
    rb_peer_t *p = rb_peers__add (self->peers, &b, idb, id_len);
    p->fd = fd;
    rb_conns__hello (self->conns, fd, s_key (self, p));
    uint32_t index = rb_peers__index (self->peers, p);
    for (uint32_t i = 0; i < p->n_services; i++)
        rb_services__join (self->services, p->services[i], index);
    rb_nodelog__line (&self->node_log, false,
                      "node %s (%s) registered, %u service(s)", p->name,
                      rb_role_name (p->role), p->n_services);
    rb_header_t out = rb_outbox__header (RB_K_WELCOME, RB_T_WELCOME, h->corr);
    rb_body_t w;
    rb_body_init (&w, RB_T_WELCOME);
    w.heartbeat_ms = (uint64_t) self->opts.heartbeat_ms;
    w.liveness = (uint64_t) self->opts.liveness;
    zmq_msg_t header, wm;
    rb_outbox__encode (&header, &out);
    rb_outbox__body (&wm, &w);
    s_send (self, p, &header, &wm);
    s_dispatch_worker (self, p);
}

/*  --- introspection: the built-in "broker" service ---------------------- */

static void
s_introspect (broker_t *self, rb_peer_t *req, const rb_header_t *h)
{
    rb_body_t b;
    char (*services)[RB_TEXT_MAX] = NULL;
    if (h->type == RB_T_STATUS)
        rb_info__broker (self, &b);
    else if (h->type == RB_T_NODES) {
        services = calloc (rb_peers__slots (self->peers) + 1, RB_TEXT_MAX);
        assert (services);
        rb_peers__list (self->peers, &b, services);
    } else {
        s_error (self, req, h->corr, RB_S_BAD_REQUEST,
                 "the broker service answers STATUS and NODES");
        return;
    }
    rb_header_t out = rb_outbox__header (RB_K_REPLY, b.type, h->corr);
    zmq_msg_t header, m;
    rb_outbox__body (&m, &b);
    s_encode_tap (self, &out, &header, &m);
    s_send (self, req, &header, &m);
    rb_body_release (&b);
    free (services);
}

/*  --- routing ------------------------------------------------------------ */

static void
s_on_request (broker_t *self, rb_peer_t *req, const rb_header_t *h,
              zmq_msg_t *body)
{
    uint32_t wait =
        h->timeout_ms ? h->timeout_ms : (uint32_t) self->opts.queue_timeout_ms;
    int64_t deadline = zclock_mono () + wait;
    if (h->addr == RB_ADDR_SERVICE && strcmp (h->dest, "broker") == 0) {
        if (body)
            zmq_msg_close (body);
        s_introspect (self, req, h);
        return;
    }
    if (h->addr == RB_ADDR_NODE) {
        rb_peer_t *target = rb_peers__by_name (self->peers, h->dest);
        if (target)
            s_forward (self, req, target, h, body, deadline);
        else {
            if (body)
                zmq_msg_close (body);
            s_error (self, req, h->corr, RB_S_UNKNOWN_SERVICE, h->dest);
        }
        return;
    }
    rb_service_t *svc = h->addr == RB_ADDR_SERVICE
                            ? rb_services__find (self->services, h->dest)
                            : NULL;
    if (!svc) {
        if (body)
            zmq_msg_close (body);
        s_error (self, req, h->corr, RB_S_UNKNOWN_SERVICE, h->dest);
        return;
    }
    s_to_service (self, svc, req, h, body, deadline);
}

/*  A REPLY or ERROR from a worker: back to the requester of its flight. */
static void
s_on_reply (broker_t *self, rb_peer_t *worker, const rb_header_t *h,
            zmq_msg_t *body)
{
    rb_flight_t *f = (rb_flight_t *) rb_slots_get (self->flights, h->corr);
    if (!f || f->worker != rb_peers__index (self->peers, worker) ||
        f->worker_gen != worker->gen) {
        self->strays++; /* late (after worker_lost or reaping) or forged */
        if (body)
            zmq_msg_close (body);
        return;
    }
    rb_peer_t *req = rb_peers__at (self->peers, f->requester, f->req_gen);
    rb_header_t out = *h;
    out.corr = f->corr;
    memcpy (out.sender, worker->name, sizeof out.sender);
    out.role = worker->role;
    if (req)
        memcpy (out.dest, req->name, sizeof out.dest);
    rb_flights__release (f, &self->kept);
    rb_slots_free (self->flights, h->corr);
    worker->inflight--;
    self->routed[h->type]++;
    zmq_msg_t header;
    s_encode_tap (self, &out, &header, body);
    if (req)
        s_send (self, req, &header, body);
    else {
        zmq_msg_close (&header);
        if (body)
            zmq_msg_close (body);
    }
    s_dispatch_worker (self, worker);
}

static void
s_on_push (broker_t *self, rb_peer_t *from, const rb_header_t *h,
           zmq_msg_t *body)
{
    rb_header_t out = *h;
    memcpy (out.sender, from->name, sizeof out.sender);
    out.role = from->role;
    self->routed[h->type]++;
    zmq_msg_t header;
    s_encode_tap (self, &out, &header, body);
    if (h->addr == RB_ADDR_NODE) {
        rb_peer_t *target = rb_peers__by_name (self->peers, h->dest);
        if (target)
            s_send (self, target, &header, body);
        else {
            zmq_msg_close (&header);
            if (body)
                zmq_msg_close (body);
        }
        return;
    }
    int role = h->addr == RB_ADDR_ROLE ? rb_role_lookup (h->dest) : -1;
    uint32_t cursor = 0;
    rb_peer_t *p;
    while (role > 0 && (p = rb_peers__next (self->peers, &cursor))) {
        if (p->role != role || p == from)
            continue;
        zmq_msg_t hcopy, copy; /* shared, not copied */
        zmq_msg_init (&hcopy);
        zmq_msg_copy (&hcopy, &header);
        zmq_msg_init (&copy);
        if (body)
            zmq_msg_copy (&copy, body);
        s_send (self, p, &hcopy, body ? &copy : NULL);
    }
    zmq_msg_close (&header);
    if (body)
        zmq_msg_close (body);
}

/*  One decoded message from a known or unknown sender. */
void
rb_broker__route (broker_t *self, zmq_msg_t *id, const rb_header_t *h,
                  const rb_authz_key_t *key, int fd, zmq_msg_t *body)
{
    if (h->kind == RB_K_HELLO) {
        s_on_hello (self, id, h, key, fd, body);
        if (body)
            zmq_msg_close (body);
        return;
    }
    rb_peer_t *p = rb_peers__by_id (
        self->peers, (const uint8_t *) zmq_msg_data (id), zmq_msg_size (id));
    if (!p) {
        if (body)
            zmq_msg_close (body);
        if (h->kind != RB_K_BYE)
            rb_outbox__error (self->out, (const uint8_t *) zmq_msg_data (id),
                              zmq_msg_size (id), h->corr, RB_S_UNKNOWN_NODE,
                              "not registered: send HELLO");
        return;
    }
    p->last_heard = zclock_mono ();
    bool routed = h->kind == RB_K_REQUEST || h->kind == RB_K_REPLY ||
                  h->kind == RB_K_ERROR || h->kind == RB_K_PUSH;
    if (routed && !rb_authz__may_send (p->role, h->kind, h->type)) {
        s_refuse (self, p, h, body);
        return;
    }
    switch (h->kind) {
        case RB_K_HEARTBEAT:
            rb_budget_echo (&p->budget, h->corr, p->last_heard);
            break;
        case RB_K_BYE: s_peer_remove (self, p, "said BYE"); break;
        case RB_K_REQUEST: s_on_request (self, p, h, body); return;
        case RB_K_REPLY:
        case RB_K_ERROR: s_on_reply (self, p, h, body); return;
        case RB_K_PUSH: s_on_push (self, p, h, body); return;
        default:
            self->malformed++;
            s_error (self, p, h->corr, RB_S_MALFORMED, "unexpected kind");
    }
    if (body)
        zmq_msg_close (body);
}
