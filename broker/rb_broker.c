/*  rb_broker: routing, registration and liveness (see rb_broker.h).

    Data path: frames are received into zmq_msg_t's; only the header is
    decoded; the body frame is moved to its destination (and shared by
    reference count with the tap), never decoded or copied. Requests in
    flight live in an rb_slots table whose ids go to workers as the
    correlation id, so a reply finds its requester in O(1) without any
    allocation per request.  */
#include "rb_broker_int.h"

#include <assert.h>
#include <string.h>

/*  --- sending ---------------------------------------------------------- */

void
rb_br_header_msg (zmq_msg_t *m, const rb_header_t *h)
{
    uint8_t buf[RB_HDR_BUF];
    size_t len = rb_header_encode (h, buf, sizeof buf);
    zmq_msg_init_size (m, len);
    memcpy (zmq_msg_data (m), buf, len);
}

void
rb_br_body_msg (zmq_msg_t *m, const rb_body_t *b)
{
    size_t len = rb_body_encode (b, NULL, 0);
    zmq_msg_init_size (m, len);
    rb_body_encode (b, (uint8_t *) zmq_msg_data (m), len);
}

/*  Publishes a copy of a routed message on the tap, if anyone listens:
    [topic = body type or kind name][header][body?]. Never blocks: a full
    subscriber makes the send fail at once, counted as a tap drop.  */
void
rb_br_tap (broker_t *self, const rb_header_t *h, zmq_msg_t *body)
{
    if (self->tap_subs <= 0)
        return;
    const char *topic =
        h->type ? rb_type_name (h->type) : rb_kind_name (h->kind);
    zmq_msg_t m;
    zmq_msg_init_size (&m, strlen (topic));
    memcpy (zmq_msg_data (&m), topic, strlen (topic));
    if (zmq_msg_send (&m, self->tap_h, ZMQ_SNDMORE | ZMQ_DONTWAIT) == -1) {
        zmq_msg_close (&m);
        self->tap_drops++;
        return;
    }
    rb_br_header_msg (&m, h);
    zmq_msg_send (&m, self->tap_h, (body ? ZMQ_SNDMORE : 0) | ZMQ_DONTWAIT);
    if (body) {
        zmq_msg_init (&m);
        zmq_msg_copy (&m, body); /* shares the data, no copy */
        zmq_msg_send (&m, self->tap_h, ZMQ_DONTWAIT);
    }
}

/*  Sends [id][header][body?] on the router; body (may be NULL) is
    consumed either way. Returns 0, or -1 if the peer is gone or full.  */
int
rb_br_send_id (broker_t *self, const uint8_t *id, size_t id_len,
               const rb_header_t *h, zmq_msg_t *body)
{
    zmq_msg_t m;
    zmq_msg_init_size (&m, id_len);
    memcpy (zmq_msg_data (&m), id, id_len);
    if (zmq_msg_send (&m, self->router_h, ZMQ_SNDMORE | ZMQ_DONTWAIT) == -1) {
        zmq_msg_close (&m);
        if (body)
            zmq_msg_close (body);
        self->send_fails++;
        return -1;
    }
    rb_br_header_msg (&m, h);
    zmq_msg_send (&m, self->router_h, (body ? ZMQ_SNDMORE : 0) | ZMQ_DONTWAIT);
    if (body)
        zmq_msg_send (body, self->router_h, ZMQ_DONTWAIT);
    return 0;
}

int
rb_br_send (broker_t *self, rb_peer_t *p, const rb_header_t *h, zmq_msg_t *body)
{
    return rb_br_send_id (self, p->id, p->id_len, h, body);
}

/*  A header from the broker itself. */
rb_header_t
rb_br_own_header (int kind, int type, uint64_t corr)
{
    rb_header_t h;
    memset (&h, 0, sizeof h);
    h.kind = (uint8_t) kind;
    h.type = (uint8_t) type;
    h.corr = corr;
    strcpy (h.sender, "broker");
    return h;
}

/*  Sends ERROR {message} with status code to a routing id. */
void
rb_br_error_id (broker_t *self, const uint8_t *id, size_t id_len, uint64_t corr,
                int code, const char *text)
{
    rb_header_t h = rb_br_own_header (RB_K_ERROR, RB_T_ERROR, corr);
    h.status = (uint16_t) code;
    rb_body_t b;
    rb_body_init (&b, RB_T_ERROR);
    b.text = rb_str (text);
    zmq_msg_t body;
    rb_br_body_msg (&body, &b);
    if (code >= RB_S_MALFORMED && code <= RB_S_INTERNAL)
        self->errors[code - RB_S_MALFORMED]++;
    rb_br_tap (self, &h, &body);
    rb_br_send_id (self, id, id_len, &h, &body);
}

void
rb_br_error (broker_t *self, rb_peer_t *p, uint64_t corr, int code,
             const char *text)
{
    rb_br_error_id (self, p->id, p->id_len, corr, code, text);
}

/*  --- services and requests -------------------------------------------- */

rb_service_t *
rb_br_service_require (broker_t *self, const char *name)
{
    rb_service_t *svc = (rb_service_t *) zhashx_lookup (self->services, name);
    if (!svc) {
        svc = (rb_service_t *) calloc (1, sizeof *svc);
        assert (svc);
        snprintf (svc->name, sizeof svc->name, "%s", name);
        svc->queue = rb_queue_new ((uint32_t) self->opts.queue_max);
        svc->min_deadline = INT64_MAX;
        zhashx_insert (self->services, name, svc);
    }
    return svc;
}

void
rb_br_service_destroy (void **item)
{
    rb_service_t *svc = (rb_service_t *) *item;
    rb_queue_destroy (&svc->queue);
    free (svc->workers);
    free (svc);
    *item = NULL;
}

/*  The live worker with the fewest requests in flight and credit left. */
static rb_peer_t *
s_pick (broker_t *self, rb_service_t *svc)
{
    rb_peer_t *best = NULL;
    for (uint32_t i = 0; i < svc->n_workers; i++) {
        rb_peer_t *w = &self->peers[svc->workers[i]];
        if (w->inflight < (uint32_t) self->opts.worker_credit &&
            (!best || w->inflight < best->inflight))
            best = w;
    }
    return best;
}

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
        rb_br_error (self, req, h->corr, RB_S_OVERLOADED, "too many in flight");
        return;
    }
    f->requester = rb_br_index (self, req), f->req_gen = req->gen;
    f->worker = rb_br_index (self, worker), f->worker_gen = worker->gen;
    f->corr = h->corr;
    f->deadline = deadline;
    rb_header_t out = *h;
    out.corr = fid;
    memcpy (out.sender, req->name, sizeof out.sender);
    out.role = req->role;
    rb_br_tap (self, &out, body);
    if (rb_br_send (self, worker, &out, body) == 0) {
        worker->inflight++;
        self->routed[h->type]++;
        return;
    }
    rb_slots_free (self->flights, fid);
    rb_br_error (self, req, h->corr, RB_S_WORKER_LOST, "worker unreachable");
}

/*  Serves queued requests of svc while a worker has credit. */
static void
s_dispatch (broker_t *self, rb_service_t *svc)
{
    rb_peer_t *worker;
    while (rb_queue_size (svc->queue) && (worker = s_pick (self, svc))) {
        rb_queued_t *e = rb_queue_head (svc->queue);
        rb_peer_t *req = rb_br_peer_at (self, e->requester, e->req_gen);
        zmq_msg_t *body = e->has_body ? &e->body : NULL;
        if (req)
            s_forward (self, req, worker, &e->header, body, e->deadline);
        else if (body)
            zmq_msg_close (body);
        rb_queue_pop (svc->queue);
    }
}

void
rb_br_dispatch_worker (broker_t *self, rb_peer_t *w)
{
    for (uint32_t i = 0; i < w->n_services; i++) {
        rb_service_t *svc =
            (rb_service_t *) zhashx_lookup (self->services, w->services[i]);
        if (svc)
            s_dispatch (self, svc);
    }
}

/*  Queue expiry callback: the requester gets ERROR timeout. */
static void
s_expire_queued (rb_queued_t *e, void *arg)
{
    broker_t *self = (broker_t *) arg;
    rb_peer_t *req = rb_br_peer_at (self, e->requester, e->req_gen);
    if (e->has_body)
        zmq_msg_close (&e->body);
    if (req)
        rb_br_error (self, req, e->header.corr, RB_S_TIMEOUT,
                     "no free worker before the deadline");
}

static void
s_enqueue (broker_t *self, rb_service_t *svc, rb_peer_t *req,
           const rb_header_t *h, zmq_msg_t *body, int64_t deadline)
{
    rb_queued_t *e = rb_queue_push (svc->queue);
    if (!e) {
        if (body)
            zmq_msg_close (body);
        rb_br_error (self, req, h->corr, RB_S_OVERLOADED, "service queue full");
        return;
    }
    e->header = *h;
    e->requester = rb_br_index (self, req), e->req_gen = req->gen;
    e->deadline = deadline;
    e->has_body = body != NULL;
    zmq_msg_init (&e->body);
    if (body)
        zmq_msg_move (&e->body, body);
    if (deadline < svc->min_deadline)
        svc->min_deadline = deadline;
}

void
rb_br_expire_queues (broker_t *self, int64_t now)
{
    rb_service_t *svc = (rb_service_t *) zhashx_first (self->services);
    for (; svc; svc = (rb_service_t *) zhashx_next (self->services)) {
        if (now < svc->min_deadline)
            continue;
        rb_queue_expire (svc->queue, now, s_expire_queued, self);
        svc->min_deadline = rb_queue_min_deadline (svc->queue);
    }
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
        rb_br_introspect (self, req, h);
        return;
    }
    if (h->addr == RB_ADDR_NODE) {
        rb_peer_t *target = rb_br_peer_by_name (self, h->dest);
        if (target)
            s_forward (self, req, target, h, body, deadline);
        else {
            if (body)
                zmq_msg_close (body);
            rb_br_error (self, req, h->corr, RB_S_UNKNOWN_SERVICE, h->dest);
        }
        return;
    }
    rb_service_t *svc =
        h->addr == RB_ADDR_SERVICE
            ? (rb_service_t *) zhashx_lookup (self->services, h->dest)
            : NULL;
    if (!svc) {
        if (body)
            zmq_msg_close (body);
        rb_br_error (self, req, h->corr, RB_S_UNKNOWN_SERVICE, h->dest);
        return;
    }
    rb_peer_t *worker = rb_queue_size (svc->queue) ? NULL : s_pick (self, svc);
    if (worker)
        s_forward (self, req, worker, h, body, deadline);
    else
        s_enqueue (self, svc, req, h, body, deadline);
}

/*  A REPLY or ERROR from a worker: back to the requester of its flight. */
static void
s_on_reply (broker_t *self, rb_peer_t *worker, const rb_header_t *h,
            zmq_msg_t *body)
{
    rb_flight_t *f = (rb_flight_t *) rb_slots_get (self->flights, h->corr);
    if (!f || f->worker != rb_br_index (self, worker) ||
        f->worker_gen != worker->gen) {
        self->strays++; /* late (after worker_lost or reaping) or forged */
        if (body)
            zmq_msg_close (body);
        return;
    }
    rb_peer_t *req = rb_br_peer_at (self, f->requester, f->req_gen);
    rb_header_t out = *h;
    out.corr = f->corr;
    memcpy (out.sender, worker->name, sizeof out.sender);
    out.role = worker->role;
    if (req)
        memcpy (out.dest, req->name, sizeof out.dest);
    rb_slots_free (self->flights, h->corr);
    worker->inflight--;
    self->routed[h->type]++;
    rb_br_tap (self, &out, body);
    if (req)
        rb_br_send (self, req, &out, body);
    else if (body)
        zmq_msg_close (body);
    rb_br_dispatch_worker (self, worker);
}

static void
s_on_push (broker_t *self, rb_peer_t *from, const rb_header_t *h,
           zmq_msg_t *body)
{
    rb_header_t out = *h;
    memcpy (out.sender, from->name, sizeof out.sender);
    out.role = from->role;
    self->routed[h->type]++;
    rb_br_tap (self, &out, body);
    if (h->addr == RB_ADDR_NODE) {
        rb_peer_t *target = rb_br_peer_by_name (self, h->dest);
        if (target)
            rb_br_send (self, target, &out, body);
        else if (body)
            zmq_msg_close (body);
        return;
    }
    int role = h->addr == RB_ADDR_ROLE ? rb_role_lookup (h->dest) : -1;
    for (uint32_t i = 0; role > 0 && i < self->n_peers; i++) {
        rb_peer_t *p = &self->peers[i];
        if (!p->live || p->role != role || p == from)
            continue;
        zmq_msg_t copy;
        zmq_msg_init (&copy);
        if (body)
            zmq_msg_copy (&copy, body); /* shared, not copied */
        rb_br_send (self, p, &out, body ? &copy : NULL);
    }
    if (body)
        zmq_msg_close (body);
}

/*  One decoded message from a known or unknown sender. */
static void
s_route (broker_t *self, zmq_msg_t *id, const rb_header_t *h, zmq_msg_t *body)
{
    if (h->kind == RB_K_HELLO) {
        rb_br_on_hello (self, id, h, body);
        if (body)
            zmq_msg_close (body);
        return;
    }
    rb_peer_t *p = rb_br_peer_by_id (self, id);
    if (!p) {
        if (body)
            zmq_msg_close (body);
        if (h->kind != RB_K_BYE)
            rb_br_error_id (self, (const uint8_t *) zmq_msg_data (id),
                            zmq_msg_size (id), h->corr, RB_S_UNKNOWN_NODE,
                            "not registered: send HELLO");
        return;
    }
    p->last_heard = zclock_mono ();
    switch (h->kind) {
        case RB_K_HEARTBEAT: break;
        case RB_K_BYE: rb_br_peer_remove (self, p, "said BYE"); break;
        case RB_K_REQUEST: s_on_request (self, p, h, body); return;
        case RB_K_REPLY:
        case RB_K_ERROR: s_on_reply (self, p, h, body); return;
        case RB_K_PUSH: s_on_push (self, p, h, body); return;
        default:
            self->malformed++;
            rb_br_error (self, p, h->corr, RB_S_MALFORMED, "unexpected kind");
    }
    if (body)
        zmq_msg_close (body);
}

/*  --- intake ------------------------------------------------------------- */

/*  Receives one message as [id][header][body?]; returns the number of
    frames it had (extra frames are read and dropped), 0 if none waits. */
static int
s_recv (broker_t *self, zmq_msg_t frames[3])
{
    int count = 0;
    int more = 1;
    while (more) {
        zmq_msg_t *m = &frames[count < 3 ? count : 2];
        if (count >= 3)
            zmq_msg_close (m);
        zmq_msg_init (m);
        if (zmq_msg_recv (m, self->router_h, count ? 0 : ZMQ_DONTWAIT) == -1) {
            zmq_msg_close (m);
            return count; /* EAGAIN on the first frame: nothing waits */
        }
        count++;
        more = zmq_msg_more (m);
    }
    return count;
}

static void
s_on_malformed (broker_t *self, zmq_msg_t *id, int code, const char *detail)
{
    self->malformed++;
    rb_br_log_bad (self, rb_code_name (code), detail);
    rb_br_error_id (self, (const uint8_t *) zmq_msg_data (id),
                    zmq_msg_size (id), 0, RB_S_MALFORMED, detail);
}

static int
s_on_router (zloop_t *loop, zsock_t *sock, void *arg)
{
    broker_t *self = (broker_t *) arg;
    for (int n = 0; n < RB_BATCH; n++) {
        zmq_msg_t frames[3];
        int count = s_recv (self, frames);
        if (count == 0)
            break;
        int kept = count < 3 ? count : 3;
        rb_header_t h;
        rb_err_t err = {0};
        if (count < 2 || count > 3)
            s_on_malformed (self, &frames[0], RB_E_FRAMES,
                            "expected [header][body?]");
        else if (rb_header_decode (zmq_msg_data (&frames[1]),
                                   zmq_msg_size (&frames[1]), &h, &err))
            s_on_malformed (self, &frames[0], err.code, err.text);
        else if ((count == 3) != (h.type != RB_T_NONE))
            s_on_malformed (self, &frames[0], RB_E_FRAMES,
                            "body frame does not match the header's type");
        else {
            s_route (self, &frames[0], &h, count == 3 ? &frames[2] : NULL);
            kept = 2; /* the body, if any, was consumed */
        }
        for (int i = 0; i < kept; i++)
            zmq_msg_close (&frames[i]);
    }
    return 0;
}

/*  Subscriptions arriving on the XPUB tap: 1 + topic, or 0 + topic. */
static int
s_on_tap (zloop_t *loop, zsock_t *sock, void *arg)
{
    broker_t *self = (broker_t *) arg;
    zframe_t *frame = zframe_recv (sock);
    if (frame && zframe_size (frame) > 0)
        self->tap_subs += zframe_data (frame)[0] == 1 ? 1 : -1;
    zframe_destroy (&frame);
    return 0;
}

static int
s_on_pipe (zloop_t *loop, zsock_t *pipe, void *arg)
{
    broker_t *self = (broker_t *) arg;
    char *command = zstr_recv (pipe);
    if (!command || streq (command, "$TERM")) {
        zstr_free (&command);
        return -1;
    }
    if (streq (command, "ENDPOINTS"))
        zsock_send (pipe, "ss", self->bus_ep ? self->bus_ep : "",
                    self->tap_ep ? self->tap_ep : "");
    else
        zsys_warning ("broker: unknown command %s", command);
    zstr_free (&command);
    return 0;
}

/*  --- actor --------------------------------------------------------------- */

static char *
s_bind (zsock_t *sock, const char *endpoint)
{
    if (zsock_bind (sock, "%s", endpoint) == -1) {
        zsys_error ("broker: cannot bind %s: %s", endpoint,
                    zmq_strerror (zmq_errno ()));
        return NULL;
    }
    return zsock_last_endpoint (sock);
}

static broker_t *
s_broker_new (zsock_t *pipe, const rb_broker_opts_t *opts)
{
    broker_t *self = (broker_t *) calloc (1, sizeof *self);
    assert (self);
    self->opts = *opts;
    self->pipe = pipe;
    self->by_name = zhashx_new ();
    self->by_id = zhashx_new ();
    self->services = zhashx_new ();
    zhashx_set_destructor (self->services, rb_br_service_destroy);
    self->flights = rb_slots_new (sizeof (rb_flight_t), opts->max_inflight);
    self->router = zsock_new (ZMQ_ROUTER);
    zsock_set_router_mandatory (self->router, 1);
    zsock_set_maxmsgsize (self->router, (int) opts->max_frame);
    zsock_set_sndhwm (self->router, 100000);
    zsock_set_rcvhwm (self->router, 100000);
    zsock_set_linger (self->router, 0);
    self->router_h = zsock_resolve (self->router);
    self->bus_ep = s_bind (self->router, opts->bind);
    if (opts->tap && *opts->tap) {
        self->tap = zsock_new (ZMQ_XPUB);
        zsock_set_xpub_verboser (self->tap, 1);
        zsock_set_xpub_nodrop (self->tap, 1);
        zsock_set_sndhwm (self->tap, opts->tap_hwm);
        zsock_set_linger (self->tap, 0);
        self->tap_h = zsock_resolve (self->tap);
        self->tap_ep = s_bind (self->tap, opts->tap);
    }
    return self;
}

static void
s_broker_destroy (broker_t **self_p)
{
    broker_t *self = *self_p;
    if (!self)
        return;
    zhashx_destroy (&self->services);
    zhashx_destroy (&self->by_name);
    zhashx_destroy (&self->by_id);
    rb_slots_destroy (&self->flights);
    zsock_destroy (&self->router);
    zsock_destroy (&self->tap);
    zstr_free (&self->bus_ep);
    zstr_free (&self->tap_ep);
    free (self->peers);
    free (self->free_peers);
    free (self);
    *self_p = NULL;
}

void
rb_broker_actor (zsock_t *pipe, void *args)
{
    broker_t *self = s_broker_new (pipe, (const rb_broker_opts_t *) args);
    bool ok = self->bus_ep && (!self->tap || self->tap_ep);
    zloop_t *loop = zloop_new ();
    zloop_reader (loop, pipe, s_on_pipe, self);
    if (!ok) {
        /* answer ENDPOINTS with empty strings until told to stop */
        zstr_free (&self->bus_ep);
        zstr_free (&self->tap_ep);
        zsock_signal (pipe, 0);
        zloop_start (loop);
        zloop_destroy (&loop);
        s_broker_destroy (&self);
        return;
    }
    zsys_info ("broker: bus on %s, tap on %s", self->bus_ep,
               self->tap_ep ? self->tap_ep : "(none)");
    zloop_reader (loop, self->router, s_on_router, self);
    if (self->tap)
        zloop_reader (loop, self->tap, s_on_tap, self);
    zloop_timer (loop, RB_TICK_MS, 0, rb_br_on_tick, self);
    self->last_beat = zclock_mono ();
    zsock_signal (pipe, 0);
    zloop_start (loop);
    zloop_destroy (&loop);
    zsys_info ("broker: stopped");
    s_broker_destroy (&self);
}
