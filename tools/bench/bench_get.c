/*  bench get / hit.
    get: terminal -> service node (cache size 0: every GET a miss) ->
    broker -> DB node -> Redis (the GET script), against plain hiredis GETs
    of the same number of 100-byte values with the same number in flight;
    @64 also against the bare skeleton of the path (bench_skeleton.c), and
    Redis's own time per GET against a plain HMGET of the same record.
    hit: cache hits from a service node against a bare ROUTER echo.  */
#include "rb_bench_cluster.h"
#include "rb_msg.h"
#include "rb_scripts.h"
#include "rb_service.h"

#include <errno.h>
#include <string.h>
#include <strings.h>

#define KEYS        10000
#define VALUE_BYTES 100

/*  One command on key i: a plain GET of bk<i>, or an HMGET of record
    k<i>'s hash, the read at the heart of the GET script.  */
static void
s_append (redisContext *r, bool hmget, int i)
{
    if (hmget)
        redisAppendCommand (r, "HMGET rb:{0}:r:k%d v s d", i);
    else
        redisAppendCommand (r, "GET bk%d", i);
}

/*  depth commands in flight on one hiredis connection for seconds. */
static double
s_pipelined (const rb_bench_opts_t *o, bool hmget, int depth, double seconds)
{
    redisContext *r = rb_redis_connect_at (o->redis);
    if (!r)
        return 0;
    for (int i = 0; i < depth; i++)
        s_append (r, hmget, i % KEYS);
    long done = 0;
    int next = depth;
    double start = rb_now_us (), end = start + seconds * 1e6, now = start;
    while (now < end) {
        void *reply;
        if (redisGetReply (r, &reply) != REDIS_OK)
            break;
        freeReplyObject (reply);
        done++;
        s_append (r, hmget, next++ % KEYS);
        now = rb_now_us ();
    }
    redisFree (r);
    return done / ((now - start) / 1e6);
}

/*  depth plain GETs in flight on one hiredis connection for seconds. */
static double
s_hiredis (const rb_bench_opts_t *o, int depth, double seconds)
{
    return s_pipelined (o, false, depth, seconds);
}

/*  Plain keys bk<i> holding what record k<i> holds (rb_bcluster_fill):
    hiredis GETs them, and so does the skeleton's worker for a terminal's
    "k<i>" (it reads "b<key>"), so its answers carry the value the
    terminal checks, rb_bcluster_filled (VALUE_BYTES), with no record
    layout to decode: what a worker without recobus's logic would read. */
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
        redisAppendCommand (r, "EVALSHA %s 0 /0 600 64 bench-svc k%d 0", digest,
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
        redisAppendCommand (r, "EVALSHA %s 0 /0 600 64 bench-svc k%d 0", digest,
                            next++ % KEYS);
        now = rb_now_us ();
    }
    redisFree (r);
    return done / ((now - start) / 1e6);
}

/*  --- Redis's own time per GET ------------------------------------------

    From INFO commandstats since a CONFIG RESETSTAT: the usec Redis
    records for each command it runs. It records a command a script runs
    twice: under the command's own name, and within the script's time
    (EVALSHA's usec includes it). So once a script has run, the commands
    the GET script calls are left out of the sum and each microsecond is
    counted once: the script's own time holds them. The CONFIG commands
    are the bench's, not the path's, and are left out too.  */

#define CMDSTATS_MAX 512

typedef struct {
    char name[64];
    unsigned long long calls, usec;
} cmdstat_t;

/*  Reads a number at *p that ends at a ',' or the end of the line. */
static int
s_number (const char **p, unsigned long long *v)
{
    if (**p < '0' || **p > '9')
        return -1;
    char *end;
    errno = 0;
    *v = strtoull (*p, &end, 10);
    if (errno || (*end != ',' && *end != '\0'))
        return -1;
    *p = end;
    return 0;
}

/*  Parses "NAME:calls=N,usec=N[,...]" (cmdstat_ stripped). */
static int
s_cmdstat (const char *line, cmdstat_t *st)
{
    const char *colon = strchr (line, ':');
    if (!colon || colon == line || colon - line >= (long) sizeof st->name ||
        strncmp (colon, ":calls=", 7) != 0)
        return -1;
    memcpy (st->name, line, (size_t) (colon - line));
    st->name[colon - line] = '\0';
    const char *p = colon + 7;
    if (s_number (&p, &st->calls) || strncmp (p, ",usec=", 6) != 0)
        return -1;
    p += 6;
    return s_number (&p, &st->usec);
}

/*  INFO commandstats into stats: how many, or -1 when the reply is not
    one INFO gives (an error, not a bulk string, a line it cannot read,
    none at all).  */
static int
s_commandstats (redisContext *r, cmdstat_t *stats)
{
    redisReply *reply = (redisReply *) redisCommand (r, "INFO commandstats");
    int n = reply && reply->type == REDIS_REPLY_STRING ? 0 : -1;
    const char *p = n == 0 ? reply->str : NULL;
    const char *end = p ? p + reply->len : NULL;
    while (p && p < end && n >= 0) {
        const char *eol = (const char *) memchr (p, '\n', (size_t) (end - p));
        size_t len = (size_t) ((eol ? eol : end) - p);
        char line[256];
        if (len > 8 && memcmp (p, "cmdstat_", 8) == 0) {
            snprintf (line, sizeof line, "%.*s", (int) (len - 8), p + 8);
            line[strcspn (line, "\r")] = '\0';
            if (len >= sizeof line || n == CMDSTATS_MAX ||
                s_cmdstat (line, &stats[n]))
                n = -1;
            else
                n++;
        }
        p = eol ? eol + 1 : end;
    }
    freeReplyObject (reply);
    return n > 0 ? n : -1;
}

/*  Whether the GET script calls command name (as INFO spells it).  */
static bool
s_script_calls (const char *name)
{
    const char *src = rb_script_source (RB_SCRIPT_GET);
    size_t len = strlen (name);
    for (const char *p = strstr (src, "redis.call('"); p;
         p = strstr (p + 1, "redis.call('")) {
        if (strncasecmp (p + 12, name, len) == 0 && p[12 + len] == '\'')
            return true;
    }
    return false;
}

static bool
s_is_script (const char *name)
{
    return strncmp (name, "eval", 4) == 0 || strncmp (name, "fcall", 5) == 0;
}

static int
s_resetstat (redisContext *r)
{
    redisReply *reply = (redisReply *) redisCommand (r, "CONFIG RESETSTAT");
    int rc = reply && reply->type == REDIS_REPLY_STATUS ? 0 : -1;
    freeReplyObject (reply);
    return rc;
}

/*  Redis's time since the last reset, in usec, each counted once (see
    above), and what HMGET alone took: 0, or -1 when INFO could not be
    read.  */
static int
s_redis_time (redisContext *r, double *usec, double *hmget_usec,
              double *hmget_calls)
{
    static cmdstat_t stats[CMDSTATS_MAX];
    int n = s_commandstats (r, stats);
    if (n < 0)
        return -1;
    bool scripts = false;
    for (int i = 0; i < n; i++)
        scripts |= s_is_script (stats[i].name) && stats[i].calls > 0;
    double all = 0;
    *usec = *hmget_usec = *hmget_calls = 0;
    for (int i = 0; i < n; i++) {
        const char *name = stats[i].name;
        all += (double) stats[i].usec;
        if (strncmp (name, "config", 6) != 0 &&
            !(scripts && s_script_calls (name)))
            *usec += (double) stats[i].usec;
        if (streq (name, "hmget")) {
            *hmget_usec = (double) stats[i].usec;
            *hmget_calls = (double) stats[i].calls;
        }
    }
    fprintf (stderr, "redis time: %.0f usec counted once, %.0f summed\n", *usec,
             all);
    return 0;
}

/*  Redis's main thread CPU time so far (INFO cpu), in usec; -1 if it
    could not be read. What a GET costs Redis in all: parsing, the
    commands or scripts, the replies, the socket I/O. INFO commandstats
    cannot say it once a script has run (it counts a script's commands
    twice, and a plain HMGET cannot be told from one a script ran).  */
static double
s_redis_cpu (redisContext *r)
{
    redisReply *reply = (redisReply *) redisCommand (r, "INFO cpu");
    double total = -1;
    if (reply && reply->type == REDIS_REPLY_STRING) {
        const char *u = strstr (reply->str, "used_cpu_user_main_thread:");
        const char *s = strstr (reply->str, "used_cpu_sys_main_thread:");
        char *end_u = NULL, *end_s = NULL;
        double user = u ? strtod (u + 26, &end_u) : 0;
        double sys = s ? strtod (s + 25, &end_s) : 0;
        if (u && s && end_u != u + 26 && end_s != s + 25 && user >= 0 &&
            sys >= 0)
            total = (user + sys) * 1e6;
    }
    freeReplyObject (reply);
    return total;
}

/*  One product run @64 with Redis's CPU time per correct answer in
 *per_get (0 when it could not be read).  */
static double
s_get_timed (redisContext *ctl, const char *ep, double seconds, double *per_get)
{
    long answered = 0;
    double usec, hu, hc;
    *per_get = 0;
    int reset = s_resetstat (ctl);
    double cpu0 = s_redis_cpu (ctl);
    double rate =
        rb_bench_terminal_n (ep, 64, KEYS, rb_bcluster_filled (VALUE_BYTES),
                             seconds, NULL, NULL, &answered);
    double cpu1 = s_redis_cpu (ctl);
    if (reset == 0 && s_redis_time (ctl, &usec, &hu, &hc) == 0 && answered &&
        cpu0 >= 0 && cpu1 > cpu0) {
        *per_get = (cpu1 - cpu0) / (double) answered;
        fprintf (stderr, "redis: %.2f us CPU per GET; commandstats %.2f us\n",
                 *per_get, usec / (double) answered);
    }
    return rate;
}

/*  The baseline: pipelined HMGETs @64, Redis's usec per HMGET call. */
static double
s_hmget_timed (const rb_bench_opts_t *o, redisContext *ctl, double seconds)
{
    double usec, hu, hc;
    if (s_resetstat (ctl))
        return 0;
    double cpu0 = s_redis_cpu (ctl);
    s_pipelined (o, true, 64, seconds);
    double cpu1 = s_redis_cpu (ctl);
    if (s_redis_time (ctl, &usec, &hu, &hc) || hc <= 0 || cpu0 < 0 ||
        cpu1 <= cpu0)
        return 0;
    fprintf (stderr, "redis: %.2f us CPU per HMGET; commandstats %.2f us\n",
             (cpu1 - cpu0) / hc, hu / hc);
    return (cpu1 - cpu0) / hc;
}

/*  get @64 against the bare skeleton (and the skeleton against hiredis
    GET: the architecture's floor), and Redis's time per GET.  */
static int
s_skeleton_figures (const rb_bench_opts_t *o, rb_bcluster_t *c, double seconds)
{
    rb_skeleton_t sk;
    redisContext *ctl = rb_redis_connect_at (o->redis);
    if (!ctl || rb_skeleton_start (&sk, o)) {
        redisFree (ctl);
        return -1;
    }
    rb_figure_t bare = {.name = "get (miss path) @64 vs bare skeleton",
                        .unit = "req/s",
                        .higher_better = true,
                        .target = o->smoke ? 0 : 0.9,
                        .note = "2 zmq_proxy processes, a worker pipelining "
                                "hiredis GETs per burst, same client"};
    rb_figure_t floor = {.name = "bare skeleton @64",
                         .unit = "req/s",
                         .higher_better = true,
                         .note = "hiredis GET @64 (the architecture's floor)"};
    rb_figure_t redis = {.name = "Redis time per GET (main thread CPU, "
                                 "INFO cpu)",
                         .unit = "us",
                         .target = o->smoke ? 0 : 2.0,
                         .note = "pipelined HMGET rb:{0}:r:KEY v s d @64, the "
                                 "same per call"};
    zclock_sleep (200); /* the skeleton's connections settle */
    for (int run = 0; run < o->runs; run++) {
        double per_get;
        double a = s_get_timed (ctl, c->terminals, seconds, &per_get);
        double b = rb_bench_terminal (sk.terminals, 64, KEYS,
                                      rb_bcluster_filled (VALUE_BYTES), seconds,
                                      NULL, NULL);
        double h = s_hiredis (o, 64, seconds);
        double per_hmget = s_hmget_timed (o, ctl, seconds);
        rb_figure_add (&bare, a, b);
        rb_figure_add (&floor, b, h);
        rb_figure_add (&redis, per_get, per_hmget);
        fprintf (stderr,
                 "get @64: run %d: %.0f vs skeleton %.0f vs hiredis %.0f; "
                 "redis %.2f vs %.2f us\n",
                 run + 1, a, b, h, per_get, per_hmget);
    }
    rb_report_add (&bare);
    rb_report_add (&floor);
    rb_report_add (&redis);
    rb_skeleton_stop (&sk);
    redisFree (ctl);
    return 0;
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
                         .note = "hiredis GET @64 (the floor of get)"};
    for (int run = 0; run < o->runs; run++)
        rb_figure_add (&floor, s_script_only (o, 64, seconds),
                       s_hiredis (o, 64, seconds));
    rb_report_add (&floor);
    int rc = s_skeleton_figures (o, &c, seconds);
    rb_bcluster_stop (&c);
    return rc;
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
                     .target = o->smoke ? 0 : 1.0,
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
