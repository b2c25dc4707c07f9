/*  bench get / hit.
    get: terminal -> service node (cache size 0: every GET a miss) ->
    broker -> DB node -> Redis (the GET script), against plain hiredis GETs
    of the same number of 100-byte values with the same number in flight.
    hit: cache hits from a service node against a bare ROUTER echo.  */
#include "rb_bench_cluster.h"
#include "rb_msg.h"
#include "rb_scripts.h"
#include "rb_service.h"

#include <string.h>

#define KEYS        10000
#define VALUE_BYTES 100

/*  depth plain GETs in flight on one hiredis connection for seconds. */
static double
s_hiredis (const rb_bench_opts_t *o, int depth, double seconds)
{
    redisContext *r = rb_redis_connect_at (o->redis);
    if (!r)
        return 0;
    for (int i = 0; i < depth; i++)
        redisAppendCommand (r, "GET bk%d", i % KEYS);
    long done = 0;
    int next = depth;
    double start = rb_now_us (), end = start + seconds * 1e6, now = start;
    while (now < end) {
        void *reply;
        if (redisGetReply (r, &reply) != REDIS_OK)
            break;
        freeReplyObject (reply);
        done++;
        redisAppendCommand (r, "GET bk%d", next++ % KEYS);
        now = rb_now_us ();
    }
    redisFree (r);
    return done / ((now - start) / 1e6);
}

static int
s_fill_plain (const rb_bench_opts_t *o)
{
    redisContext *r = rb_redis_connect_at (o->redis);
    if (!r)
        return -1;
    char value[VALUE_BYTES];
    memset (value, 'v', sizeof value);
    for (int i = 0; i < KEYS; i++)
        redisAppendCommand (r, "SET bk%d %b", i, value, sizeof value);
    for (int i = 0; i < KEYS; i++) {
        void *reply;
        redisGetReply (r, &reply);
        freeReplyObject (reply);
    }
    redisFree (r);
    return 0;
}

/*  The floor of the miss path: the DB node's GET script alone, through
    EVALSHA from hiredis at the same depth (no bus, no nodes).  */
static double
s_script_only (const rb_bench_opts_t *o, int depth, double seconds)
{
    redisContext *r = rb_redis_connect_at (o->redis);
    if (!r)
        return 0;
    redisReply *sha =
        redisCommand (r, "SCRIPT LOAD %s", rb_script_source (RB_SCRIPT_GET));
    char digest[41];
    snprintf (digest, sizeof digest, "%s", sha ? sha->str : "");
    freeReplyObject (sha);
    for (int i = 0; i < depth; i++)
        redisAppendCommand (r, "EVALSHA %s 0 /0 bench-svc 600 64 k%d", digest,
                            i % KEYS);
    long done = 0;
    int next = depth;
    double start = rb_now_us (), end = start + seconds * 1e6, now = start;
    while (now < end) {
        void *reply;
        if (redisGetReply (r, &reply) != REDIS_OK)
            break;
        freeReplyObject (reply);
        done++;
        redisAppendCommand (r, "EVALSHA %s 0 /0 bench-svc 600 64 k%d", digest,
                            next++ % KEYS);
        now = rb_now_us ();
    }
    redisFree (r);
    return done / ((now - start) / 1e6);
}

int
rb_bench_get (const rb_bench_opts_t *o)
{
    rb_bcluster_t c;
    if (rb_bcluster_start (&c, o, 0, RB_POLICY_LATEST_ONLY) ||
        rb_bcluster_fill (o, KEYS, VALUE_BYTES) || s_fill_plain (o))
        return -1;
    double seconds = o->smoke ? 0.2 : 2.0;
    int depths[] = {1, 16, 64};
    for (int d = 0; d < 3; d++) {
        rb_figure_t f = {.unit = "req/s",
                         .higher_better = true,
                         .target = o->smoke || depths[d] == 1 ? 0 : 0.5,
                         .note = "hiredis GET, same depth"};
        snprintf (f.name, sizeof f.name, "get (miss path) @%d in flight",
                  depths[d]);
        for (int run = 0; run < o->runs; run++) {
            double a = rb_bench_terminal (c.terminals, depths[d], KEYS,
                                          rb_bcluster_filled (VALUE_BYTES),
                                          seconds, NULL, NULL);
            double b = s_hiredis (o, depths[d], seconds);
            rb_figure_add (&f, a, b);
            fprintf (stderr, "get @%d: run %d: %.0f vs %.0f\n", depths[d],
                     run + 1, a, b);
        }
        rb_report_add (&f);
    }
    rb_figure_t floor = {.name = "get script alone (EVALSHA) @64",
                         .unit = "req/s",
                         .higher_better = true,
                         .note = "hiredis GET @64 (explains get's floor)"};
    for (int run = 0; run < o->runs; run++)
        rb_figure_add (&floor, s_script_only (o, 64, seconds),
                       s_hiredis (o, 64, seconds));
    rb_report_add (&floor);
    rb_bcluster_stop (&c);
    return 0;
}

/*  One GET @64 measurement on a fresh cluster, plain or CurveZMQ. */
static double
s_get_once (const rb_bench_opts_t *o, bool curve, double seconds)
{
    rb_bcluster_t c;
    if (rb_bcluster_start_with (&c, o, 0, RB_POLICY_LATEST_ONLY, curve) ||
        rb_bcluster_fill (o, KEYS, VALUE_BYTES))
        return 0;
    double rate = rb_bench_terminal (c.terminals, 64, KEYS,
                                     rb_bcluster_filled (VALUE_BYTES), seconds,
                                     NULL, NULL);
    rb_bcluster_stop (&c);
    return rate;
}

int
rb_bench_get_curve (const rb_bench_opts_t *o)
{
    rb_figure_t f = {.name = "get (miss path) @64, CurveZMQ on the bus",
                     .unit = "req/s",
                     .higher_better = true,
                     .target = o->smoke ? 0 : 0.8,
                     .note = "the same path, plain"};
    double seconds = o->smoke ? 0.2 : 2.0;
    for (int run = 0; run < o->runs; run++) {
        double a = s_get_once (o, true, seconds);
        double b = s_get_once (o, false, seconds);
        if (a <= 0 || b <= 0)
            return -1;
        rb_figure_add (&f, a, b);
        fprintf (stderr, "get curve: run %d: %.0f vs %.0f\n", run + 1, a, b);
    }
    rb_report_add (&f);
    return 0;
}

/*  A bare ROUTER echo: sends every message back as it came, reading in
    bursts of up to 512 per wake-up as the service node does (one wake-up
    per message would make the baseline pay what the product does not).  */
static void
s_echo (zsock_t *pipe, void *args)
{
    zsock_t *router = zsock_new (ZMQ_ROUTER);
    zsock_bind (router, "tcp://127.0.0.1:*");
    char *ep = zsock_last_endpoint (router);
    zsock_signal (pipe, 0);
    zstr_send (pipe, ep);
    zstr_free (&ep);
    zpoller_t *poller = zpoller_new (pipe, router, NULL);
    while (zpoller_wait (poller, -1) == router) {
        for (int n = 0; n < 512 && (zsock_events (router) & ZMQ_POLLIN); n++) {
            zmsg_t *msg = zmsg_recv (router);
            zmsg_send (&msg, router);
        }
    }
    zpoller_destroy (&poller);
    zsock_destroy (&router);
}

int
rb_bench_hit (const rb_bench_opts_t *o)
{
    rb_bcluster_t c;
    if (rb_bcluster_start (&c, o, KEYS * 2, RB_POLICY_LATEST_ONLY) ||
        rb_bcluster_fill (o, KEYS, VALUE_BYTES))
        return -1;
    /* warm the cache: every key once */
    rb_bench_terminal (c.terminals, 64, KEYS, rb_bcluster_filled (VALUE_BYTES),
                       o->smoke ? 0.5 : 2.0, NULL, NULL);
    zactor_t *echo = zactor_new (s_echo, NULL);
    char *echo_ep = zstr_recv (echo);
    double seconds = o->smoke ? 0.2 : 2.0;
    rb_figure_t f = {.name = "hit (cache) @64 in flight",
                     .unit = "req/s",
                     .higher_better = true,
                     .target = o->smoke ? 0 : 0.8,
                     .note = "bare ROUTER echo"};
    for (int run = 0; run < o->runs; run++) {
        double a = rb_bench_terminal (c.terminals, 64, KEYS,
                                      rb_bcluster_filled (VALUE_BYTES), seconds,
                                      NULL, NULL);
        double b = rb_bench_terminal (echo_ep, 64, KEYS, (rb_expect_t){NULL, 0},
                                      seconds, NULL, NULL);
        rb_figure_add (&f, a, b);
        fprintf (stderr, "hit: run %d: %.0f vs %.0f\n", run + 1, a, b);
    }
    rb_report_add (&f);
    zstr_free (&echo_ep);
    zactor_destroy (&echo);
    rb_bcluster_stop (&c);
    return 0;
}
