/*  rb_broker_actor: the broker's sockets and loop (see rb_broker.h):
    polls the ROUTER and the actor's pipe (the tap's subscriptions and
    the connection monitor are read at each tick, rb_broker__on_tick),
    decodes each message's header and hands it to rb_broker.c; binds,
    starts CurveZMQ, and makes and destroys the broker.  */
#include "rb_broker_int.h"
#include "rb_curve.h"
#include "rb_metrics.h"
#include "rb_slots.h"
#include "rb_timers.h"

#include <assert.h>
#include <string.h>

#define RB_BATCH   256 /* messages handled per wake-up */
#define RB_TICK_MS 10  /* expiry timer; the tap publishes its batches */

/*  Rate-limited log of bad input: one line a second at most. */
static void
s_log_bad (broker_t *self, const char *what, const char *detail)
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
    s_log_bad (self, rb_code_name (code), detail);
    rb_outbox__error (self->out, (const uint8_t *) zmq_msg_data (id),
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
            rb_authz_key_t key = {self->cert != NULL, NULL, NULL};
            int fd = -1;
            if (h.kind == RB_K_HELLO) { /* the only kind that needs these */
                if (key.curve) { /* the peer's key, as ZAP vouched for it */
                    key.role = zmq_msg_gets (&frames[1], "role");
                    key.name = zmq_msg_gets (&frames[1], "name");
                }
                fd = zmq_msg_get (&frames[1], ZMQ_SRCFD);
                /* its connection's accept first, and the closing of a
                   node's old one (rb_conns.c) */
                rb_broker__conns (self);
            }
            rb_broker__route (self, &frames[0], &h, &key, fd,
                              count == 3 ? &frames[2] : NULL);
            kept = 2; /* the body, if any, was consumed */
        }
        for (int i = 0; i < kept; i++)
            zmq_msg_close (&frames[i]);
    }
    rb_broker__drop_over (self);
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

/*  systemd: ready once bus and tap are bound (the actor attaches this
    only then), and how many nodes are registered.  */
static void
s_notify (rb_notify_t *notify, void *arg)
{
    broker_t *self = (broker_t *) arg;
    rb_notify_ready (notify);
    rb_notify_status (notify, "%" PRIu32 " nodes",
                      rb_peers__live (self->peers));
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

/*  CurveZMQ for bus and tap: our certificate and ZAP over the authorized
    keys. 0, or -1 logged (the broker then does not serve).  */
static int
s_curve_start (broker_t *self, const rb_broker_opts_t *opts)
{
    char err[400];
    if (rb_curve_server_load (opts->curve_cert, "broker", opts->authorized_keys,
                              &self->cert, &self->auth, err, sizeof err) == 0)
        return 0;
    zsys_error ("broker: %s", err);
    return -1;
}

static broker_t *
s_broker_new (zsock_t *pipe, const rb_broker_opts_t *opts)
{
    broker_t *self = (broker_t *) calloc (1, sizeof *self);
    assert (self);
    self->opts = *opts;
    self->pipe = pipe;
    self->notify = opts->notify ? rb_notify_new () : NULL;
    self->peers = rb_peers__new ((int64_t) opts->heartbeat_ms * opts->liveness);
    self->services =
        rb_services__new ((uint32_t) opts->queue_max, opts->services_max,
                          opts->service_linger_ms);
    self->flights = rb_slots_new (sizeof (rb_flight_t), opts->max_inflight);
    self->flight_due = rb_timers_new ();
    self->grace_ms = (int64_t) opts->heartbeat_ms * opts->liveness;
    /* what flights keep to re-route is bounded as the queues are */
    self->kept.max = (uint64_t) opts->queue_bytes;
    self->router = zsock_new (ZMQ_ROUTER);
    zsock_set_router_mandatory (self->router, 1);
    zsock_set_maxmsgsize (self->router, (int) opts->max_frame);
    /* libzmq's own bound on what waits for one peer, a little above the
       budget the broker keeps itself (s_charge), which trips first */
    zsock_set_sndhwm (self->router, (int) (opts->peer_queue_max +
                                           opts->peer_queue_max / 8 + 64));
    /* what one node sent that the broker has not read yet: past it the
       node's own queue holds the rest (TCP pushes back) */
    zsock_set_rcvhwm (self->router, 1000);
    zsock_set_linger (self->router, 0);
    /* every node reconnects at once after a broker restart: room for
       them in the accept queue (libzmq's default is 100) */
    zsock_set_backlog (self->router, 1024);
    self->router_h = zsock_resolve (self->router);
    self->conns = rb_conns__new (self->router_h, opts->hello_timeout_ms);
    self->drops = (uint64_t *) calloc (opts->nodes_max + 1, sizeof (uint64_t));
    assert (self->drops);
    self->out = rb_outbox__new (self->router_h, NULL, 0);
    bool curve = opts->curve_cert && *opts->curve_cert;
    if (curve && s_curve_start (self, opts))
        return self; /* no endpoints: the actor reports the failure */
    if (curve)
        rb_curve_server (self->router_h, self->cert);
    self->bus_ep = s_bind (self->router, opts->bind);
    if (opts->tap && *opts->tap) {
        self->tap = zsock_new (ZMQ_XPUB);
        if (curve) {
            rb_curve_server (zsock_resolve (self->tap), self->cert);
            zsock_set_xpub_manual (self->tap, 1);
        }
        zsock_set_xpub_verboser (self->tap, 1);
        /* no NODROP: a subscriber that stops reading loses what its own
           pipe cannot hold (libzmq drops for it alone), never the rest */
        zsock_set_sndhwm (self->tap, opts->tap_hwm);
        zsock_set_linger (self->tap, 0);
        self->tap_ep = s_bind (self->tap, opts->tap);
    }
    rb_outbox__destroy (&self->out);
    self->out = rb_outbox__new (self->router_h,
                                self->tap ? zsock_resolve (self->tap) : NULL,
                                opts->tap_hwm);
    return self;
}

static void
s_broker_destroy (broker_t **self_p)
{
    broker_t *self = *self_p;
    if (!self)
        return;
    if (self->flights)
        rb_broker__release_flights (self);
    rb_services__destroy (&self->services);
    rb_peers__destroy (&self->peers);
    rb_outbox__destroy (&self->out);
    rb_slots_destroy (&self->flights);
    rb_timers_destroy (&self->flight_due);
    rb_conns__destroy (&self->conns);
    free (self->drops);
    zsock_destroy (&self->router);
    zsock_destroy (&self->tap);
    zactor_destroy (&self->auth);
    zcert_destroy (&self->cert);
    rb_notify_destroy (&self->notify);
    rb_metrics_destroy (&self->metrics);
    zstr_free (&self->bus_ep);
    zstr_free (&self->tap_ep);
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
    if (ok)
        ok = rb_broker__metrics_start (self, loop) == 0;
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
    zloop_timer (loop, RB_TICK_MS, 0, rb_broker__on_tick, self);
    rb_notify_attach (self->notify, loop, s_notify, self);
    self->last_beat = zclock_mono ();
    zsock_signal (pipe, 0);
    zloop_start (loop);
    rb_notify_stopping (self->notify);
    zloop_destroy (&loop);
    zsys_info ("broker: stopped");
    s_broker_destroy (&self);
}
