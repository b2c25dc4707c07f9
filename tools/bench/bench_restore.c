/*  bench restore / flag.
    restore: RESTORE of an N-record backup (100-byte values) against
    redis-cli --pipe mass insertion of the same HSET commands into an
    empty Redis, both from an empty Redis, each checked for its count.
    flag: a RECOVERY_LIST of 100,000 keys (batches of 10,000, all in
    flight at once; half the keys in the restored backup, so some are
    current; 1,000 polled while every key was flagged, so the last batch
    has RECOVERED pushes to send) against pipelined variadic SADD of the
    same keys.  */
#include "rb_backup.h"
#include "rb_bench_cluster.h"
#include "rb_msg.h"
#include "rb_service.h"

#include <inttypes.h>
#include <string.h>

#define VALUE_BYTES 100

/*  Writes the backup file and, beside it, the same records as RESP
    commands for redis-cli --pipe.  */
static int
s_make_files (const rb_bench_opts_t *o, const char *dir, int n, char **backup,
              char **resp)
{
    rb_backup_header_t h = {
        .epoch = 1, .watermark = (uint64_t) n, .created_ms = 1700000000000ULL};
    memset (h.dataset, 'a', 32);
    char err[256];
    rb_backup_writer_t *w =
        rb_backup_writer_new (dir, &h, NULL, err, sizeof err);
    *resp = zsys_sprintf ("%s/restore.resp", o->tmp);
    FILE *f = fopen (*resp, "w");
    if (!w || !f) {
        fprintf (stderr, "bench restore: %s\n", w ? *resp : err);
        return -1;
    }
    char value[VALUE_BYTES];
    memset (value, 'v', sizeof value);
    for (int i = 0; i < n; i++) {
        char key[32], seq[24];
        int klen = snprintf (key, sizeof key, "k%d", i);
        int slen = snprintf (seq, sizeof seq, "%d", i + 1);
        rb_backup_record_t r = {
            key,         (uint32_t) klen,  (uint8_t *) value,
            VALUE_BYTES, (uint64_t) i + 1, false};
        rb_backup_writer_add (w, &r, err, sizeof err);
        fprintf (f, "*8\r\n$4\r\nHSET\r\n$%d\r\nrb:{0}:r:%s\r\n$1\r\nv\r\n$%d\r\n",
                 klen + 9, key, VALUE_BYTES);
        fwrite (value, 1, VALUE_BYTES, f);
        fprintf (f, "\r\n$1\r\ns\r\n$%d\r\n%s\r\n$1\r\nd\r\n$1\r\n0\r\n", slen,
                 seq);
    }
    fclose (f);
    uint64_t bytes;
    return rb_backup_writer_finish (&w, backup, &bytes, err, sizeof err);
}

/*  FLUSHALL, untimed: both sides start from an empty Redis.  */
static void
s_flush (const rb_bench_opts_t *o)
{
    redisContext *r = rb_redis_connect_at (o->redis);
    if (r)
        freeReplyObject (redisCommand (r, "FLUSHALL"));
    redisFree (r);
}

/*  Keys in Redis now, or -1.  */
static long long
s_dbsize (const rb_bench_opts_t *o)
{
    redisContext *r = rb_redis_connect_at (o->redis);
    redisReply *rep = r ? (redisReply *) redisCommand (r, "DBSIZE") : NULL;
    long long n = rep && rep->type == REDIS_REPLY_INTEGER ? rep->integer : -1;
    freeReplyObject (rep);
    redisFree (r);
    return n;
}

/*  Seconds of one RESTORE of the n records of path into an empty Redis,
    or 0 if it failed or restored another count.  */
static double
s_restore_once (const rb_bench_opts_t *o, rb_bcluster_t *c, const char *path,
                int n)
{
    s_flush (o);
    rb_body_t req, b;
    rb_body_init (&req, RB_T_RESTORE);
    rb_body_init (&b, RB_T_NONE);
    req.text = rb_str (strrchr (path, '/') + 1); /* a name in the backup dir */
    req.force = true; /* a made-up dataset, and no journal */
    zmsg_t *reply;
    rb_header_t h;
    double start = rb_now_us ();
    int rc = rb_bus_call (c->ops, RB_ADDR_SERVICE, "db", &req, 600000, &reply,
                          &h, &b);
    double secs = (rb_now_us () - start) / 1e6;
    if (rc)
        fprintf (stderr, "bench restore: %s\n", rb_code_name (rc));
    else if (b.type != RB_T_RESTORED || b.records != (uint64_t) n) {
        fprintf (stderr, "bench restore: restored %" PRIu64 " of %d records\n",
                 b.records, n);
        rc = -1;
    }
    zmsg_destroy (&reply);
    rb_body_release (&b);
    return rc ? 0 : secs;
}

/*  Seconds of redis-cli --pipe of the same records into an empty Redis,
    or 0 if it failed or left another count of keys.  */
static double
s_pipe_once (const rb_bench_opts_t *o, const char *resp, int n)
{
    s_flush (o);
    char host[64];
    snprintf (host, sizeof host, "%s", o->redis);
    char *colon = strrchr (host, ':');
    *colon = '\0';
    char *cmd = zsys_sprintf ("redis-cli -h %s -p %s --pipe < '%s' >/dev/null",
                              host, colon + 1, resp);
    double start = rb_now_us ();
    int rc = system (cmd);
    double secs = (rb_now_us () - start) / 1e6;
    zstr_free (&cmd);
    long long keys = s_dbsize (o);
    if (rc == 0 && keys != n) {
        fprintf (stderr,
                 "bench restore: redis-cli --pipe left %lld keys of %d\n", keys,
                 n);
        rc = -1;
    }
    return rc == 0 ? secs : 0;
}

int
rb_bench_restore (const rb_bench_opts_t *o)
{
    int n = o->smoke ? 2000 : 1000000;
    rb_bcluster_t c;
    if (rb_bcluster_start (&c, o, 0, RB_POLICY_LATEST_ONLY))
        return -1;
    char *backup = NULL, *resp = NULL;
    if (s_make_files (o, c.cluster->backups, n, &backup, &resp))
        return -1;
    rb_figure_t f = {.unit = "rec/s",
                     .higher_better = true,
                     .target = o->smoke ? 0 : 1.0,
                     .note = "redis-cli --pipe, same HSETs"};
    snprintf (f.name, sizeof f.name, "restore of %d records", n);
    for (int run = 0; run < o->runs; run++) {
        double a = s_restore_once (o, &c, backup, n);
        double b = s_pipe_once (o, resp, n);
        if (a <= 0 || b <= 0)
            return -1;
        rb_figure_add (&f, n / a, n / b);
        fprintf (stderr, "restore: run %d: %.2f s vs %.2f s\n", run + 1, a, b);
    }
    rb_report_add (&f);
    unlink (resp);
    unlink (backup);
    zstr_free (&resp);
    free (backup);
    rb_bcluster_stop (&c);
    return 0;
}

/*  Answers to the pipelined RECOVERY_LIST batches. */
typedef struct {
    int answered, failed;
} flag_acks_t;

static void
s_flag_answer (rb_bus_t *bus, const rb_header_t *h, const rb_body_t *b,
               zmsg_t **msg_p, void *arg, uint64_t cookie)
{
    flag_acks_t *a = (flag_acks_t *) arg;
    a->answered++;
    a->failed += h->kind != RB_K_REPLY;
}

/*  Sends the list of n keys k<i> (target 5) in batches, all of them in
    flight at once as the baseline pipelines its SADDs, the last marked
    last; returns seconds once every batch is answered, 0 on failure.  */
static double
s_flag_once (rb_bcluster_t *c, int n, int batch)
{
    int batches = (n + batch - 1) / batch;
    rb_entry_t *entries =
        (rb_entry_t *) calloc ((size_t) n, sizeof (rb_entry_t));
    char (*keys)[16] = calloc ((size_t) n, 16);
    for (int i = 0; i < n; i++) {
        snprintf (keys[i], 16, "k%d", i);
        entries[i] = (rb_entry_t){rb_str (keys[i]), 5};
    }
    flag_acks_t acks = {0};
    double start = rb_now_us ();
    int rc = 0;
    for (int at = 0; at < n && rc == 0; at += batch) {
        rb_body_t req;
        rb_body_init (&req, RB_T_RECOVERY_LIST);
        req.entries = entries + at;
        req.n_entries = (uint32_t) (n - at < batch ? n - at : batch);
        req.last = at + batch >= n;
        rc = rb_bus_request (c->ops, RB_ADDR_SERVICE, "db", &req, 60000,
                             s_flag_answer, &acks, 0);
    }
    while (rc == 0 && acks.answered < batches)
        rb_bus_poll (c->ops, 10);
    double secs = (rb_now_us () - start) / 1e6;
    free (entries);
    free (keys);
    return rc || acks.failed ? 0 : secs;
}

/*  GETs of keys k0 .. k(n-1) from a node of role service while every key
    is flagged (before the list): the DB remembers it polled each, so
    the list's last batch has its RECOVERED work to do for those that
    turn out current.  */
static int
s_poll_keys (rb_bcluster_t *c, rb_bus_t *poller, int n)
{
    for (int i = 0; i < n; i++) {
        char key[16];
        snprintf (key, sizeof key, "k%d", i);
        rb_body_t req, b;
        rb_body_init (&req, RB_T_GET);
        rb_body_init (&b, RB_T_NONE);
        req.key = rb_str (key);
        zmsg_t *reply;
        rb_header_t h;
        int rc = rb_bus_call (poller, RB_ADDR_SERVICE, "db", &req, 5000, &reply,
                              &h, &b);
        bool flagged = rc == 0 && b.type == RB_T_DATA && b.recovering;
        zmsg_destroy (&reply);
        rb_body_release (&b);
        if (!flagged)
            return -1;
    }
    return 0;
}

static double
s_sadd_once (const rb_bench_opts_t *o, int n, int batch)
{
    redisContext *r = rb_redis_connect_at (o->redis);
    freeReplyObject (redisCommand (r, "DEL bench:set"));
    const char **argv =
        (const char **) calloc ((size_t) batch + 2, sizeof (char *));
    size_t *lens = (size_t *) calloc ((size_t) batch + 2, sizeof (size_t));
    char (*keys)[16] = calloc ((size_t) batch, 16);
    double start = rb_now_us ();
    int sent = 0;
    for (int at = 0; at < n; at += batch, sent++) {
        int count = n - at < batch ? n - at : batch;
        argv[0] = "SADD", lens[0] = 4;
        argv[1] = "bench:set", lens[1] = 9;
        for (int i = 0; i < count; i++) {
            lens[i + 2] = (size_t) snprintf (keys[i], 16, "k%d", at + i);
            argv[i + 2] = keys[i];
        }
        redisAppendCommandArgv (r, count + 2, argv, lens);
    }
    for (int i = 0; i < sent; i++) {
        void *reply;
        redisGetReply (r, &reply);
        freeReplyObject (reply);
    }
    double secs = (rb_now_us () - start) / 1e6;
    free (argv);
    free (lens);
    free (keys);
    redisFree (r);
    return secs;
}

/*  Puts the DB in RECOVERING with an empty recovering set. */
static int
s_recovering (const rb_bench_opts_t *o, rb_bcluster_t *c, const char *backup,
              int records)
{
    return s_restore_once (o, c, backup, records) > 0 ? 0 : -1;
}

int
rb_bench_flag (const rb_bench_opts_t *o)
{
    int n = o->smoke ? 5000 : 100000, batch = 10000;
    int present = n / 2, polled = o->smoke ? 100 : 1000;
    rb_bcluster_t c;
    if (rb_bcluster_start (&c, o, 0, RB_POLICY_LATEST_ONLY))
        return -1;
    char *backup = NULL, *resp = NULL;
    if (s_make_files (o, c.cluster->backups, present, &backup, &resp))
        return -1;
    rb_bus_opts_t po = {
        .endpoint = c.cluster->bus,
        .role = RB_ROLE_SERVICE,
        .name = "bench-poller",
        .curve_cert = rb_cluster_key (c.cluster, "service", "bench-poller"),
        .broker_cert = c.cluster->broker_cert};
    rb_bus_t *poller = rb_bus_new (&po);
    if (rb_bus_wait_ready (poller, 5000)) {
        rb_bus_destroy (&poller);
        return -1;
    }
    rb_figure_t f = {.unit = "s",
                     .target = o->smoke ? 0 : 1.5,
                     .note = "pipelined variadic SADD"};
    snprintf (f.name, sizeof f.name,
              "flag %d keys (list; %d present, %d polled)", n, present, polled);
    for (int run = 0; run < o->runs; run++) {
        if (s_recovering (o, &c, backup, present) ||
            s_poll_keys (&c, poller, polled))
            return -1;
        double a = s_flag_once (&c, n, batch);
        double b = s_sadd_once (o, n, batch);
        if (a <= 0)
            return -1;
        rb_figure_add (&f, a, b);
        fprintf (stderr, "flag: run %d: %.3f s vs %.3f s\n", run + 1, a, b);
    }
    rb_report_add (&f);
    rb_bus_destroy (&poller);
    unlink (resp);
    zstr_free (&resp);
    free (backup);
    rb_bcluster_stop (&c);
    return 0;
}
