/*  bench cluster: recobus with its data on a Redis Cluster of 3 masters
    (no replicas: throughput, not failover) against the same recobus on
    one Redis (the bench's own, o->redis), both up at once, their runs
    alternating, with the same sizes. A measurement for docs/benchmarks.md
    ("Scaling"), not a target: every figure's target is 0.

    Two sides, each a whole in-process cluster (rb_bench_cluster.h): the
    broker, a DB node, a service node with cache size 0 (every GET a
    miss) and an ops node. On the Redis Cluster a dataset has 1024
    partitions rb:{N}:..., one hash slot each; on one Redis it has one,
    rb:{0}:... (docs/db.md, "Redis key layout").

    1. GET miss path @64: terminal -> service node -> broker -> DB node ->
       Redis, 64 GETs in flight, over the same records on both sides
       (loaded through the DB node with DIFFs, so each side lays them out
       its own way). Two figures: correct answers per second, and Redis's
       CPU time per answer (INFO cpu used_cpu_user + used_cpu_sys, summed
       over every master, before and after the run), so the cost of the
       partitions to the servers shows, not only the rate. Each run also
       says on stderr the HMGETs and script calls per GET (INFO
       commandstats): where that CPU goes. Before the runs, every key is
       read once (untimed), so both DB nodes read plainly from then on.
    2. Restore: the same backup file (100,000 records of 100 bytes; 2,000
       with --smoke) restored by each side's DB node (RESTORE over the
       bus, forced: a made-up dataset) into its emptied Redis, records
       per second.  */
#include "rb_backup.h"
#include "rb_bench_cluster.h"
#include "rb_msg.h"
#include "rb_service.h"

#include <inttypes.h>
#include <string.h>

#define MASTERS     3                  /* of the Redis Cluster side */
#define VALUE_BYTES RB_BENCH_VALUE_LEN /* what rb_bench_diffs writes */
#define MAX_SERVERS 16 /* rb_rcluster_start's limit of masters */

/*  One side: a cluster and the Redis servers holding its data.  */
typedef struct {
    const char *name; /* "cluster", "one Redis": for the log lines */
    rb_bcluster_t c;
    char servers[MAX_SERVERS][64]; /* HOST:PORT of each master */
    int n_servers;
    bool up; /* c is running */
} side_t;

/*  Starts a side on a throwaway Redis Cluster of masters masters, or on
    the bench's Redis when masters is 0, and notes its servers.  */
static int
s_side_start (side_t *s, const rb_bench_opts_t *o, int masters)
{
    if (rb_bcluster_start_on (&s->c, o, 0, RB_POLICY_LATEST_ONLY, false,
                              masters)) {
        fprintf (stderr, "bench cluster: %s: cannot start\n", s->name);
        return -1;
    }
    s->up = true;
    rb_rcluster_t *rc = s->c.cluster->rcluster;
    if (!rc) {
        snprintf (s->servers[0], sizeof s->servers[0], "%s", o->redis);
        s->n_servers = 1;
        return 0;
    }
    for (int i = 0; i < rb_rcluster_count (rc) && s->n_servers < MAX_SERVERS;
         i++) {
        if (rb_rcluster_is_master (rc, i))
            snprintf (s->servers[s->n_servers++], sizeof s->servers[0], "%s",
                      rb_rcluster_address (rc, i));
    }
    return s->n_servers == masters ? 0 : -1;
}

static void
s_side_stop (side_t *s)
{
    if (s->up)
        rb_bcluster_stop (&s->c);
    s->up = false;
}

/*  The number after name (e.g. "used_cpu_user:") in an INFO reply:
    missing when it is not there, -1 when it is not a number.  */
static double
s_info_number (const char *info, const char *name, double missing)
{
    const char *p = strstr (info, name);
    if (!p)
        return missing;
    p += strlen (name);
    char *end;
    double v = strtod (p, &end);
    return end != p && v >= 0 ? v : -1;
}

/*  The sum over every server of a side of INFO section's numbers after
    each of names (missing counting as missing); -1 if a server did not
    answer or a number could not be read.  */
static double
s_side_info (const side_t *s, const char *section, const char **names,
             int n_names, double missing)
{
    double total = 0;
    for (int i = 0; i < s->n_servers && total >= 0; i++) {
        redisContext *r = rb_redis_connect_at (s->servers[i]);
        redisReply *reply =
            r ? (redisReply *) redisCommand (r, "INFO %s", section) : NULL;
        if (!reply || reply->type != REDIS_REPLY_STRING)
            total = -1;
        for (int k = 0; k < n_names && total >= 0; k++) {
            double v = s_info_number (reply->str, names[k], missing);
            total = v < 0 ? -1 : total + v;
        }
        if (reply)
            freeReplyObject (reply);
        redisFree (r);
    }
    return total;
}

/*  CPU time (user + sys, INFO cpu: every thread of the process, the
    cluster bus included) of a side's servers so far, summed, in usec;
    -1 if a server could not tell.  */
static double
s_side_cpu (const side_t *s)
{
    const char *names[] = {"used_cpu_user:", "used_cpu_sys:"};
    double secs = s_side_info (s, "cpu", names, 2, -1);
    return secs < 0 ? -1 : secs * 1e6;
}

/*  Calls of command (as INFO commandstats names it: "hmget") a side's
    servers have run so far, summed; -1 if a server could not tell.  */
static double
s_side_calls (const side_t *s, const char *command)
{
    char name[64];
    snprintf (name, sizeof name, "cmdstat_%s:calls=", command);
    const char *names[] = {name};
    return s_side_info (s, "commandstats", names, 1, 0);
}

/*  --- 1. GET miss path ---------------------------------------------------- */

/*  Records "k<i>", i < n, of VALUE_BYTES bytes of 'v' (what
    rb_bcluster_filled expects), through the DB node: DIFFs of 100
    orders, 8 in flight.  */
static int
s_fill (side_t *s, int n)
{
    uint64_t seq = 0;
    double secs = rb_bench_diffs (&s->c, "", n, 100, 8, &seq, NULL);
    if (secs <= 0) {
        fprintf (stderr, "bench cluster: %s: a DIFF of the load failed\n",
                 s->name);
        return -1;
    }
    fprintf (stderr, "cluster: %s: %d records loaded in %.2f s\n", s->name, n,
             secs);
    return 0;
}

/*  One run of 64 GETs in flight for seconds on a side: correct answers
    per second, and the side's Redis CPU per correct answer in *per_get
    (0 when it could not be read). -1 if an answer was wrong: a rate of
    a path that answers wrongly means nothing.  */
static double
s_get_run (side_t *s, int keys, double seconds, double *per_get)
{
    long answered = 0, wrong = 0;
    double hmget0 = s_side_calls (s, "hmget"),
           evalsha0 = s_side_calls (s, "evalsha");
    double cpu0 = s_side_cpu (s);
    double rate = rb_bench_terminal_n (s->c.terminals, 64, keys,
                                       rb_bcluster_filled (VALUE_BYTES),
                                       seconds, NULL, &wrong, &answered);
    double cpu1 = s_side_cpu (s);
    double hmget1 = s_side_calls (s, "hmget"),
           evalsha1 = s_side_calls (s, "evalsha");
    *per_get = answered && cpu0 >= 0 && cpu1 > cpu0
                   ? (cpu1 - cpu0) / (double) answered
                   : 0;
    /* where the CPU goes: a plain read is an HMGET per key and two per
       partition a round reads (its meta, before and after: docs/db.md,
       "Plain reads"); the script calls are reads that had to register
       and the DB node's once-a-second check of every partition's state
       (1024 calls a second on a cluster, whatever the load) */
    if (answered && hmget0 >= 0 && hmget1 >= 0 && evalsha0 >= 0 &&
        evalsha1 >= 0)
        fprintf (stderr,
                 "cluster: %s: %.2f HMGET and %.3f script calls per GET\n",
                 s->name, (hmget1 - hmget0) / (double) answered,
                 (evalsha1 - evalsha0) / (double) answered);
    if (wrong) {
        fprintf (stderr,
                 "bench cluster: %s: %ld answers of %ld were not the "
                 "record's value\n",
                 s->name, wrong, wrong + answered);
        return -1;
    }
    return rate;
}

/*  Untimed: every key read once, so the DB node has registered its
    service node for each (its later reads are plain: docs/db.md, "Plain
    reads"), loaded its scripts, and its connections have settled.  */
static int
s_warm (side_t *s, int keys)
{
    long read = 0;
    for (int i = 0; i < 100 && read < keys; i++) {
        long answered = 0, wrong = 0;
        rb_bench_terminal_n (s->c.terminals, 64, keys,
                             rb_bcluster_filled (VALUE_BYTES), 0.2, NULL,
                             &wrong, &answered);
        if (wrong || !answered) {
            fprintf (stderr,
                     "bench cluster: %s: warming up, %ld answers right, "
                     "%ld wrong\n",
                     s->name, answered, wrong);
            return -1;
        }
        read += answered;
    }
    return 0;
}

static int
s_get_figures (const rb_bench_opts_t *o, side_t *cl, side_t *one, int keys)
{
    rb_figure_t rate = {.name = "get (miss path) @64, 3-master cluster vs "
                                "one Redis",
                        .unit = "req/s",
                        .higher_better = true,
                        .note = "the same path, cache 0, on one Redis"};
    rb_figure_t cpu = {.name = "Redis CPU per GET, 3-master cluster vs one "
                               "Redis",
                       .unit = "us",
                       .note = "INFO cpu user+sys of every master summed, "
                               "per answer; on one Redis"};
    double seconds = o->smoke ? 0.2 : 2.0;
    if (s_warm (cl, keys) || s_warm (one, keys))
        return -1;
    for (int run = 0; run < o->runs; run++) {
        double cpu_a, cpu_b;
        double a = s_get_run (cl, keys, seconds, &cpu_a);
        double b = s_get_run (one, keys, seconds, &cpu_b);
        if (a < 0 || b < 0)
            return -1;
        rb_figure_add (&rate, a, b);
        rb_figure_add (&cpu, cpu_a, cpu_b);
        fprintf (stderr,
                 "cluster: get @64: run %d: %.0f vs %.0f req/s; Redis CPU "
                 "%.2f vs %.2f us per GET\n",
                 run + 1, a, b, cpu_a, cpu_b);
    }
    rb_report_add (&rate);
    rb_report_add (&cpu);
    return 0;
}

/*  --- 2. restore ---------------------------------------------------------- */

/*  A backup of n records "k<i>" (VALUE_BYTES of 'v', seq i + 1) in dir;
    its path in *path (the caller frees it). The file is the same bytes
    in every dir (a fixed header, the same records), so both sides
    restore the same backup.  */
static int
s_write_backup (const char *dir, int n, char **path)
{
    rb_backup_header_t h = {
        .epoch = 1, .watermark = (uint64_t) n, .created_ms = 1700000000000ULL};
    memset (h.dataset, 'a', 32);
    char err[256], value[VALUE_BYTES];
    memset (value, 'v', sizeof value);
    rb_backup_writer_t *w =
        rb_backup_writer_new (dir, &h, NULL, err, sizeof err);
    for (int i = 0; w && i < n; i++) {
        char key[32];
        int klen = snprintf (key, sizeof key, "k%d", i);
        rb_backup_record_t r = {
            key,         (uint32_t) klen,  (uint8_t *) value,
            VALUE_BYTES, (uint64_t) i + 1, false};
        if (rb_backup_writer_add (w, &r, err, sizeof err))
            rb_backup_writer_abort (&w);
    }
    uint64_t bytes;
    if (!w || rb_backup_writer_finish (&w, path, &bytes, err, sizeof err)) {
        fprintf (stderr, "bench cluster: backup in %s: %s\n", dir, err);
        return -1;
    }
    return 0;
}

/*  Keys on every server of a side, summed; -1 if one did not say.  */
static long long
s_side_keys (const side_t *s)
{
    long long keys = 0;
    for (int i = 0; i < s->n_servers && keys >= 0; i++) {
        redisContext *r = rb_redis_connect_at (s->servers[i]);
        redisReply *rep = r ? (redisReply *) redisCommand (r, "DBSIZE") : NULL;
        keys =
            rep && rep->type == REDIS_REPLY_INTEGER ? keys + rep->integer : -1;
        if (rep)
            freeReplyObject (rep);
        redisFree (r);
    }
    return keys;
}

/*  Seconds of one RESTORE of the n records of the backup at path into a
    side's emptied Redis (FLUSHALL on every master, untimed), or 0 if it
    failed, said it restored another count, or left fewer keys than
    records in Redis.  */
static double
s_restore_run (side_t *s, const char *path, int n)
{
    if (rb_cluster_flushall (s->c.cluster))
        return 0;
    rb_body_t req, b;
    rb_body_init (&req, RB_T_RESTORE);
    rb_body_init (&b, RB_T_NONE);
    req.text = rb_str (strrchr (path, '/') + 1); /* a name in the backup dir */
    req.force = true; /* a made-up dataset, and no journal */
    zmsg_t *reply = NULL;
    rb_header_t h;
    double start = rb_now_us ();
    int rc = rb_bus_call (s->c.ops, RB_ADDR_SERVICE, "db", &req, 600000, &reply,
                          &h, &b);
    double secs = (rb_now_us () - start) / 1e6;
    if (rc)
        fprintf (stderr, "bench cluster: %s: restore: %s\n", s->name,
                 rb_code_name (rc));
    else if (b.type != RB_T_RESTORED || b.records != (uint64_t) n) {
        fprintf (stderr,
                 "bench cluster: %s: restored %" PRIu64 " of %d records\n",
                 s->name, b.records, n);
        rc = -1;
    }
    zmsg_destroy (&reply);
    rb_body_release (&b);
    long long keys = rc ? 0 : s_side_keys (s);
    if (rc == 0 && keys < n) {
        fprintf (stderr,
                 "bench cluster: %s: %lld keys in Redis after restoring %d "
                 "records\n",
                 s->name, keys, n);
        rc = -1;
    }
    return rc ? 0 : secs;
}

static int
s_restore_figure (const rb_bench_opts_t *o, side_t *cl, side_t *one)
{
    int n = o->smoke ? 2000 : 100000;
    char *path_a = NULL, *path_b = NULL;
    int rc = s_write_backup (cl->c.cluster->backups, n, &path_a) ||
             s_write_backup (one->c.cluster->backups, n, &path_b);
    rb_figure_t f = {.unit = "rec/s",
                     .higher_better = true,
                     .note = "the same backup into one Redis"};
    snprintf (f.name, sizeof f.name,
              "restore of %d records, 3-master cluster vs one Redis", n);
    for (int run = 0; run < o->runs && rc == 0; run++) {
        double a = s_restore_run (cl, path_a, n);
        double b = s_restore_run (one, path_b, n);
        if (a <= 0 || b <= 0)
            rc = -1;
        else {
            rb_figure_add (&f, n / a, n / b);
            fprintf (stderr,
                     "cluster: restore: run %d: %.2f s vs %.2f s (%.0f vs "
                     "%.0f rec/s)\n",
                     run + 1, a, b, n / a, n / b);
        }
    }
    if (rc == 0)
        rb_report_add (&f);
    if (path_a)
        unlink (path_a);
    if (path_b)
        unlink (path_b);
    free (path_a);
    free (path_b);
    return rc;
}

int
rb_bench_cluster (const rb_bench_opts_t *o)
{
    int keys = o->smoke ? 2000 : 10000;
    side_t cl = {.name = "cluster"}, one = {.name = "one Redis"};
    /* GET first: the restores flush what it reads */
    int rc = s_side_start (&cl, o, MASTERS) || s_side_start (&one, o, 0) ||
             s_fill (&cl, keys) || s_fill (&one, keys) ||
             s_get_figures (o, &cl, &one, keys) ||
             s_restore_figure (o, &cl, &one);
    s_side_stop (&cl);
    s_side_stop (&one);
    return rc ? -1 : 0;
}
