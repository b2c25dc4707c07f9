/*  bench broker: request-reply through recobus-broker (tap on, one
    subscriber reading it) against a bare zmq_proxy (ROUTER frontend,
    DEALER backend), with the same client and echo worker on both sides:
    throughput at 64 in flight, p50/p99 latency at 1 in flight.  */
#include "rb_bench.h"
#include "rb_broker.h"
#include "rb_msg.h"

#include <czmq.h>

#define VALUE_BYTES 100

/*  The echo worker: answers each request with a REPLY carrying its
    correlation id and the request's body. Over the proxy the frames come
    after the client's routing id, which it sends back first.  */
static void
s_worker (zsock_t *pipe, void *args)
{
    const char **a = (const char **) args; /* endpoint, "broker"|"proxy" */
    bool via_broker = streq (a[1], "broker");
    zsock_t *sock = zsock_new_dealer (a[0]);
    if (via_broker) {
        rb_header_t h = {.kind = RB_K_HELLO, .type = RB_T_HELLO};
        rb_body_t b;
        rb_body_init (&b, RB_T_HELLO);
        b.role = RB_ROLE_BENCH;
        b.name = rb_str ("bench-worker");
        b.services[0] = rb_str ("echo");
        b.n_services = 1;
        rb_msg_send (zsock_resolve (sock), &h, &b);
    }
    zsock_signal (pipe, 0);
    zpoller_t *poller = zpoller_new (pipe, sock, NULL);
    while (zpoller_wait (poller, -1) == sock) {
        zmsg_t *msg = zmsg_recv (sock);
        zframe_t *id = via_broker ? NULL : zmsg_pop (msg);
        zframe_t *hf = zmsg_pop (msg);
        rb_header_t h;
        if (hf &&
            rb_header_decode (zframe_data (hf), zframe_size (hf), &h, NULL) ==
                0 &&
            h.kind == RB_K_REQUEST) {
            rb_header_t r = {
                .kind = RB_K_REPLY, .type = h.type, .corr = h.corr};
            zframe_t *rf = rb_header_frame (&r);
            zmsg_prepend (msg, &rf);
            if (id)
                zmsg_prepend (msg, &id);
            zmsg_send (&msg, sock);
        }
        zframe_destroy (&id);
        zframe_destroy (&hf);
        zmsg_destroy (&msg);
    }
    zpoller_destroy (&poller);
    zsock_destroy (&sock);
}

/*  A tap subscriber that reads everything and throws it away. */
static void
s_tap_reader (zsock_t *pipe, void *args)
{
    zsock_t *sub = zsock_new_sub ((const char *) args, "");
    zsock_signal (pipe, 0);
    zpoller_t *poller = zpoller_new (pipe, sub, NULL);
    while (zpoller_wait (poller, -1) == sub) {
        zmsg_t *msg = zmsg_recv (sub);
        zmsg_destroy (&msg);
    }
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
s_client (const char *endpoint, bool via_broker, int depth, double seconds,
          rb_samples_t *lat)
{
    zsock_t *sock = zsock_new_dealer (endpoint);
    zsock_set_rcvtimeo (sock, 3000);
    if (via_broker) {
        rb_header_t h = {.kind = RB_K_HELLO, .type = RB_T_HELLO};
        rb_body_t b;
        rb_body_init (&b, RB_T_HELLO);
        b.role = RB_ROLE_BENCH;
        b.name = rb_str ("bench-client");
        rb_msg_send (zsock_resolve (sock), &h, &b);
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
        if (rb_header_decode (zframe_data (hf), zframe_size (hf), &r, NULL) ==
                0 &&
            r.kind == RB_K_REPLY && r.corr < (uint64_t) depth) {
            if (lat)
                rb_samples_add (lat, now - sent[r.corr]);
            done++;
            h.corr = r.corr;
            sent[r.corr] = now;
            rb_msg_send (zsock_resolve (sock), &h, &body);
        }
        zmsg_destroy (&msg);
    }
    free (sent);
    zsock_destroy (&sock);
    return done / ((now - start) / 1e6);
}

/*  One measurement through one path. */
static double
s_measure_tap (bool via_broker, bool with_tap, int depth, double seconds,
               rb_samples_t *lat)
{
    zactor_t *broker = NULL, *proxy = NULL, *tap = NULL;
    char front[256], back[256];
    if (via_broker) {
        static rb_broker_opts_t o;
        rb_broker_opts_default (&o);
        o.bind = "tcp://127.0.0.1:*";
        o.tap = "tcp://127.0.0.1:*";
        o.liveness = 1000; /* idle between runs: never expire */
        broker = zactor_new (rb_broker_actor, &o);
        zstr_send (broker, "ENDPOINTS");
        char *bus, *t;
        zsock_recv (broker, "ss", &bus, &t);
        snprintf (front, sizeof front, "%s", bus);
        snprintf (back, sizeof back, "%s", bus);
        if (with_tap)
            tap = zactor_new (s_tap_reader, t);
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
    const char *wargs[] = {back, via_broker ? "broker" : "proxy"};
    zactor_t *worker = zactor_new (s_worker, wargs);
    zclock_sleep (200); /* connections settle: not part of any figure */
    double rate = s_client (front, via_broker, depth, seconds, lat);
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
                       .target = o->smoke ? 0 : 0.8,
                       .note = "zmq_proxy ROUTER/DEALER"};
    rb_figure_t bare = {.name = "broker throughput @64, no tap subscriber",
                        .unit = "req/s",
                        .higher_better = true,
                        .note = "zmq_proxy ROUTER/DEALER (routing alone)"};
    rb_figure_t p50 = {.name = "broker latency p50 @1",
                       .unit = "us",
                       .target = o->smoke ? 0 : 1.25,
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
