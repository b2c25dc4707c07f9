/*  bench broker: request-reply through recobus-broker (tap on, one
    subscriber reading it) against a bare zmq_proxy (ROUTER frontend,
    DEALER backend), with the same client and echo worker on both sides:
    throughput at 64 in flight, p50/p99 latency at 1 in flight.

    bench curve: the same broker path under CurveZMQ (bus and tap, keys
    and ZAP as docs/security.md) against itself in plain mode, with the
    same roles on both sides.  */
#include "rb_bench.h"
#include "rb_broker.h"
#include "rb_curve.h"
#include "rb_msg.h"

#include <czmq.h>

#define VALUE_BYTES 100

/*  Keys for the CurveZMQ runs: the broker's files, the clients' certs. */
typedef struct {
    char broker_secret[600]; /* its secret file */
    char authorized[600];    /* the authorized-keys dir */
    char broker_key[41];     /* its public key (Z85) */
    zcert_t *worker, *client, *monitor;
} curve_t;

/*  How one peer connects: where, as whom, with which key (NULL: plain). */
typedef struct {
    const char *endpoint;
    bool via_broker; /* else the bare proxy */
    int role;        /* its HELLO's */
    const char *name;
    const curve_t *curve;
    zcert_t *cert;
} peer_t;

/*  A socket of type connected as p says (CURVE options before connect). */
static zsock_t *
s_connect (int type, const peer_t *p)
{
    zsock_t *sock = zsock_new (type);
    if (p->curve)
        rb_curve_client (zsock_resolve (sock), p->cert, p->curve->broker_key);
    zsock_connect (sock, "%s", p->endpoint);
    return sock;
}

static void
s_hello (zsock_t *sock, const peer_t *p, const char *service)
{
    rb_header_t h = {.kind = RB_K_HELLO, .type = RB_T_HELLO};
    rb_body_t b;
    rb_body_init (&b, RB_T_HELLO);
    b.role = (uint8_t) p->role;
    b.name = rb_str (p->name);
    if (service) {
        b.services[0] = rb_str (service);
        b.n_services = 1;
    }
    rb_msg_send (zsock_resolve (sock), &h, &b);
}

/*  Echoes a HEARTBEAT carrying a mark of the broker's send budget, as
    every node does (docs/protocol.md, "Send budget"): without it the
    broker drops the peer once 2 x peer-queue-max messages went to it.  */
static void
s_echo_mark (zsock_t *sock, const rb_header_t *h)
{
    if (h->kind != RB_K_HEARTBEAT || h->corr == 0)
        return;
    rb_header_t echo = {.kind = RB_K_HEARTBEAT, .corr = h->corr};
    rb_msg_send (zsock_resolve (sock), &echo, NULL);
}

/*  The echo worker: answers each request with a REPLY carrying its
    correlation id and the request's body. Over the proxy the frames come
    after the client's routing id, which it sends back first.  */
static void
s_worker (zsock_t *pipe, void *args)
{
    const peer_t *p = (const peer_t *) args;
    bool via_broker = p->via_broker;
    zsock_t *sock = s_connect (ZMQ_DEALER, p);
    if (via_broker)
        s_hello (sock, p, "echo");
    zsock_signal (pipe, 0);
    zpoller_t *poller = zpoller_new (pipe, sock, NULL);
    while (zpoller_wait (poller, -1) == sock) {
        zmsg_t *msg = zmsg_recv (sock);
        zframe_t *id = via_broker ? NULL : zmsg_pop (msg);
        zframe_t *hf = zmsg_pop (msg);
        rb_header_t h;
        bool ok = hf && rb_header_decode (zframe_data (hf), zframe_size (hf),
                                          &h, NULL) == 0;
        if (ok && h.kind == RB_K_REQUEST) {
            rb_header_t r = {
                .kind = RB_K_REPLY, .type = h.type, .corr = h.corr};
            zframe_t *rf = rb_header_frame (&r);
            zmsg_prepend (msg, &rf);
            if (id)
                zmsg_prepend (msg, &id);
            zmsg_send (&msg, sock);
        } else if (ok && via_broker)
            s_echo_mark (sock, &h);
        zframe_destroy (&id);
        zframe_destroy (&hf);
        zmsg_destroy (&msg);
    }
    zpoller_destroy (&poller);
    zsock_destroy (&sock);
}

/*  A tap subscriber that reads everything and throws it away: every
    frame waiting at each wake-up, into one reused zmq_msg_t, as a lean
    monitor would (one wake-up and a zmsg per message made the bench's
    own reader the tap's largest cost on two cores).  */
static void
s_tap_reader (zsock_t *pipe, void *args)
{
    zsock_t *sub = s_connect (ZMQ_SUB, (const peer_t *) args);
    zsock_set_subscribe (sub, "");
    zsock_signal (pipe, 0);
    zpoller_t *poller = zpoller_new (pipe, sub, NULL);
    zmq_msg_t frame;
    zmq_msg_init (&frame);
    while (zpoller_wait (poller, -1) == sub)
        while (zmq_msg_recv (&frame, zsock_resolve (sub), ZMQ_DONTWAIT) >= 0)
            ;
    zmq_msg_close (&frame);
    zpoller_destroy (&poller);
    zsock_destroy (&sub);
}

/*  The bare proxy, until told TERMINATE. */
static void
s_proxy (zsock_t *pipe, void *args)
{
    zsock_t *front = zsock_new (ZMQ_ROUTER);
    zsock_t *back = zsock_new (ZMQ_DEALER);
    zsock_bind (front, "tcp://127.0.0.1:*");
    zsock_bind (back, "tcp://127.0.0.1:*");
    char *f = zsock_last_endpoint (front), *b = zsock_last_endpoint (back);
    zsock_signal (pipe, 0);
    zsock_send (pipe, "ss", f, b);
    zstr_free (&f);
    zstr_free (&b);
    zmq_proxy_steerable (zsock_resolve (front), zsock_resolve (back), NULL,
                         zsock_resolve (pipe));
    zsock_destroy (&front);
    zsock_destroy (&back);
    char *term = zstr_recv (pipe); /* $TERM */
    zstr_free (&term);
}

/*  The client: keeps `depth` requests in flight for `seconds`; returns
    replies per second, and each round trip in *lat when given.  */
static double
s_client (const peer_t *p, int depth, double seconds, rb_samples_t *lat)
{
    zsock_t *sock = s_connect (ZMQ_DEALER, p);
    zsock_set_rcvtimeo (sock, 3000);
    if (p->via_broker) {
        s_hello (sock, p, NULL);
        zmsg_t *welcome = zmsg_recv (sock);
        zmsg_destroy (&welcome);
    }
    static char value[VALUE_BYTES];
    rb_body_t body;
    rb_body_init (&body, RB_T_ECHO);
    body.has_value = true;
    body.value = rb_strn (value, sizeof value);
    rb_header_t h = {
        .kind = RB_K_REQUEST, .type = RB_T_ECHO, .addr = RB_ADDR_SERVICE};
    strcpy (h.dest, "echo");
    double *sent = (double *) calloc ((size_t) depth, sizeof (double));
    for (int i = 0; i < depth; i++) {
        h.corr = (uint64_t) i;
        sent[i] = rb_now_us ();
        rb_msg_send (zsock_resolve (sock), &h, &body);
    }
    long done = 0;
    double start = rb_now_us (), end = start + seconds * 1e6, now = start;
    while (now < end) {
        zmsg_t *msg = zmsg_recv (sock);
        if (!msg)
            break; /* 3 s without an answer: give up */
        rb_header_t r;
        zframe_t *hf = zmsg_first (msg);
        now = rb_now_us ();
        bool ok = rb_header_decode (zframe_data (hf), zframe_size (hf), &r,
                                    NULL) == 0;
        if (ok && r.kind == RB_K_REPLY && r.corr < (uint64_t) depth) {
            if (lat)
                rb_samples_add (lat, now - sent[r.corr]);
            done++;
            h.corr = r.corr;
            sent[r.corr] = now;
            rb_msg_send (zsock_resolve (sock), &h, &body);
        } else if (ok && p->via_broker)
            s_echo_mark (sock, &r);
        zmsg_destroy (&msg);
    }
    free (sent);
    zsock_destroy (&sock);
    return done / ((now - start) / 1e6);
}

/*  The roles of a measurement's two peers: BENCH for the broker figures;
    the curve figures use roles a key may carry (db worker, ops client),
    plain and CURVE alike.  */
typedef struct {
    bool via_broker, with_tap;
    bool real_roles;
    const curve_t *curve; /* NULL: plain */
} path_t;

/*  One measurement through one path. */
static double
s_measure_path (const path_t *path, int depth, double seconds,
                rb_samples_t *lat)
{
    bool via_broker = path->via_broker;
    const curve_t *curve = path->curve;
    zactor_t *broker = NULL, *proxy = NULL, *tap = NULL;
    char front[256], back[256], tap_ep[256];
    if (via_broker) {
        static rb_broker_opts_t o;
        rb_broker_opts_default (&o);
        o.bind = "tcp://127.0.0.1:*";
        o.tap = "tcp://127.0.0.1:*";
        o.liveness = 1000; /* idle between runs: never expire */
        if (curve) {
            o.curve_cert = curve->broker_secret;
            o.authorized_keys = curve->authorized;
        }
        broker = zactor_new (rb_broker_actor, &o);
        zstr_send (broker, "ENDPOINTS");
        char *bus, *t;
        zsock_recv (broker, "ss", &bus, &t);
        snprintf (front, sizeof front, "%s", bus);
        snprintf (back, sizeof back, "%s", bus);
        snprintf (tap_ep, sizeof tap_ep, "%s", t);
        peer_t reader = {tap_ep, true,  0,
                         "",     curve, curve ? curve->monitor : NULL};
        if (path->with_tap)
            tap = zactor_new (s_tap_reader, &reader);
        zstr_free (&bus);
        zstr_free (&t);
    } else {
        proxy = zactor_new (s_proxy, NULL);
        char *f, *b;
        zsock_recv (proxy, "ss", &f, &b);
        snprintf (front, sizeof front, "%s", f);
        snprintf (back, sizeof back, "%s", b);
        zstr_free (&f);
        zstr_free (&b);
    }
    bool real = path->real_roles;
    peer_t wp = {back,           via_broker, real ? RB_ROLE_DB : RB_ROLE_BENCH,
                 "bench-worker", curve,      curve ? curve->worker : NULL};
    peer_t cp = {front,          via_broker, real ? RB_ROLE_OPS : RB_ROLE_BENCH,
                 "bench-client", curve,      curve ? curve->client : NULL};
    zactor_t *worker = zactor_new (s_worker, &wp);
    zclock_sleep (200); /* connections settle: not part of any figure */
    double rate = s_client (&cp, depth, seconds, lat);
    zactor_destroy (&worker);
    zactor_destroy (&tap);
    zactor_destroy (&broker);
    if (proxy) {
        zstr_send (proxy, "TERMINATE");
        zactor_destroy (&proxy);
    }
    return rate;
}

static double
s_measure_tap (bool via_broker, bool with_tap, int depth, double seconds,
               rb_samples_t *lat)
{
    path_t path = {via_broker, with_tap, false, NULL};
    return s_measure_path (&path, depth, seconds, lat);
}

static double
s_measure (bool via_broker, int depth, double seconds, rb_samples_t *lat)
{
    return s_measure_tap (via_broker, true, depth, seconds, lat);
}

int
rb_bench_broker (const rb_bench_opts_t *o)
{
    double seconds = o->smoke ? 0.2 : 2.0;
    rb_figure_t thr = {.name = "broker throughput @64 in flight",
                       .unit = "req/s",
                       .higher_better = true,
                       .target = o->smoke ? 0 : 0.9,
                       .note = "zmq_proxy ROUTER/DEALER"};
    rb_figure_t bare = {.name = "broker throughput @64, no tap subscriber",
                        .unit = "req/s",
                        .higher_better = true,
                        .note = "zmq_proxy ROUTER/DEALER (routing alone)"};
    rb_figure_t p50 = {.name = "broker latency p50 @1",
                       .unit = "us",
                       .target = o->smoke ? 0 : 1.1,
                       .note = "zmq_proxy ROUTER/DEALER"};
    rb_figure_t p99 = p50;
    snprintf (p99.name, sizeof p99.name, "broker latency p99 @1");
    p99.target = 0;
    for (int run = 0; run < o->runs; run++) {
        double a = s_measure (true, 64, seconds, NULL);
        double b = s_measure (false, 64, seconds, NULL);
        rb_figure_add (&thr, a, b);
        rb_figure_add (&bare, s_measure_tap (true, false, 64, seconds, NULL),
                       s_measure (false, 64, seconds, NULL));
        rb_samples_t la = {0}, lb = {0};
        s_measure (true, 1, seconds, &la);
        s_measure (false, 1, seconds, &lb);
        rb_figure_add (&p50, rb_samples_pct (&la, 50),
                       rb_samples_pct (&lb, 50));
        rb_figure_add (&p99, rb_samples_pct (&la, 99),
                       rb_samples_pct (&lb, 99));
        rb_samples_free (&la);
        rb_samples_free (&lb);
        fprintf (stderr, "broker: run %d/%d: %.0f vs %.0f req/s\n", run + 1,
                 o->runs, a, b);
    }
    rb_report_add (&thr);
    rb_report_add (&bare);
    rb_report_add (&p50);
    rb_report_add (&p99);
    return 0;
}

/*  --- CurveZMQ against plain ------------------------------------------- */

static zcert_t *
s_key (curve_t *c, const char *dir, const char *role, const char *name)
{
    zcert_t *cert = zcert_new ();
    zcert_set_meta (cert, "role", "%s", role);
    zcert_set_meta (cert, "name", "%s", name);
    char path[700];
    snprintf (path, sizeof path, "%s/%s.cert", c->authorized, name);
    if (!streq (role, "broker"))
        zcert_save_public (cert, path);
    snprintf (path, sizeof path, "%s/%s.cert", dir, name);
    zcert_save (cert, path);
    return cert;
}

static int
s_curve_new (curve_t *c, const char *tmp)
{
    memset (c, 0, sizeof *c);
    char dir[500];
    snprintf (dir, sizeof dir, "%s/curve", tmp);
    snprintf (c->authorized, sizeof c->authorized, "%s/authorized", dir);
    if (zsys_dir_create ("%s", c->authorized))
        return -1;
    zcert_t *broker = s_key (c, dir, "broker", "broker");
    snprintf (c->broker_secret, sizeof c->broker_secret,
              "%s/broker.cert_secret", dir);
    snprintf (c->broker_key, sizeof c->broker_key, "%s",
              zcert_public_txt (broker));
    zcert_destroy (&broker);
    c->worker = s_key (c, dir, "db", "bench-worker");
    c->client = s_key (c, dir, "ops", "bench-client");
    c->monitor = s_key (c, dir, "monitor", "bench-monitor");
    return 0;
}

static void
s_curve_destroy (curve_t *c)
{
    zcert_destroy (&c->worker);
    zcert_destroy (&c->client);
    zcert_destroy (&c->monitor);
}

int
rb_bench_curve (const rb_bench_opts_t *o)
{
    curve_t curve;
    if (s_curve_new (&curve, o->tmp)) {
        fprintf (stderr, "curve: cannot write keys under %s\n", o->tmp);
        return 1;
    }
    double seconds = o->smoke ? 0.2 : 2.0;
    rb_figure_t thr = {.name = "broker @64, CurveZMQ on bus and tap",
                       .unit = "req/s",
                       .higher_better = true,
                       .target = o->smoke ? 0 : 0.8,
                       .note = "the same broker, plain"};
    rb_figure_t p50 = {.name = "broker p50 @1, CurveZMQ",
                       .unit = "us",
                       .note = "the same broker, plain"};
    path_t secure = {true, true, true, &curve};
    path_t plain = {true, true, true, NULL};
    for (int run = 0; run < o->runs; run++) {
        double a = s_measure_path (&secure, 64, seconds, NULL);
        double b = s_measure_path (&plain, 64, seconds, NULL);
        rb_figure_add (&thr, a, b);
        rb_samples_t la = {0}, lb = {0};
        s_measure_path (&secure, 1, seconds, &la);
        s_measure_path (&plain, 1, seconds, &lb);
        rb_figure_add (&p50, rb_samples_pct (&la, 50),
                       rb_samples_pct (&lb, 50));
        rb_samples_free (&la);
        rb_samples_free (&lb);
        fprintf (stderr, "curve: run %d/%d: %.0f vs %.0f req/s\n", run + 1,
                 o->runs, a, b);
    }
    rb_report_add (&thr);
    rb_report_add (&p50);
    s_curve_destroy (&curve);
    return rb_bench_get_curve (o);
}
