/*  bench restore / flag.
    restore: RESTORE of an N-record backup (100-byte values) against
    redis-cli --pipe mass insertion of the same HSET commands into an
    empty Redis. flag: a RECOVERY_LIST of 100,000 keys (batches of 10,000)
    against pipelined variadic SADD of the same keys.  */
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
        fprintf (f, "*8\r\n$4\r\nHSET\r\n$%d\r\nrb:r:%s\r\n$1\r\nv\r\n$%d\r\n",
                 klen + 5, key, VALUE_BYTES);
        fwrite (value, 1, VALUE_BYTES, f);
        fprintf (f, "\r\n$1\r\ns\r\n$%d\r\n%s\r\n$1\r\nd\r\n$1\r\n0\r\n", slen,
                 seq);
    }
    fclose (f);
    uint64_t bytes;
    return rb_backup_writer_finish (&w, backup, &bytes, err, sizeof err);
}

static double
s_restore_once (rb_bcluster_t *c, const char *path)
{
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
    zmsg_destroy (&reply);
    rb_body_release (&b);
    return rc ? 0 : secs;
}

static double
s_pipe_once (const rb_bench_opts_t *o, const char *resp)
{
    redisContext *r = rb_redis_connect_at (o->redis);
    freeReplyObject (redisCommand (r, "FLUSHALL"));
    redisFree (r);
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
        double a = s_restore_once (&c, backup);
        double b = s_pipe_once (o, resp);
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

/*  Sends the list of n keys f<i> in batches; returns seconds. */
static double
s_flag_once (rb_bcluster_t *c, int n, int batch)
{
    rb_entry_t *entries =
        (rb_entry_t *) calloc ((size_t) batch, sizeof (rb_entry_t));
    char (*keys)[16] = calloc ((size_t) batch, 16);
    double start = rb_now_us ();
    int rc = 0;
    for (int at = 0; at < n && rc == 0; at += batch) {
        int count = n - at < batch ? n - at : batch;
        for (int i = 0; i < count; i++) {
            snprintf (keys[i], 16, "f%d", at + i);
            entries[i] = (rb_entry_t){rb_str (keys[i]), 5};
        }
        rb_body_t req, b;
        rb_body_init (&req, RB_T_RECOVERY_LIST);
        rb_body_init (&b, RB_T_NONE);
        req.entries = entries;
        req.n_entries = (uint32_t) count;
        req.last = at + count >= n;
        zmsg_t *reply;
        rb_header_t h;
        rc = rb_bus_call (c->ops, RB_ADDR_SERVICE, "db", &req, 60000, &reply,
                          &h, &b);
        zmsg_destroy (&reply);
        rb_body_release (&b);
    }
    double secs = (rb_now_us () - start) / 1e6;
    free (entries);
    free (keys);
    return rc ? 0 : secs;
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
            lens[i + 2] = (size_t) snprintf (keys[i], 16, "f%d", at + i);
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
s_recovering (rb_bcluster_t *c, const char *backup)
{
    return s_restore_once (c, backup) > 0 ? 0 : -1;
}

int
rb_bench_flag (const rb_bench_opts_t *o)
{
    int n = o->smoke ? 5000 : 100000, batch = 10000;
    rb_bcluster_t c;
    if (rb_bcluster_start (&c, o, 0, RB_POLICY_LATEST_ONLY))
        return -1;
    char *backup = NULL, *resp = NULL;
    if (s_make_files (o, c.cluster->backups, 10, &backup, &resp))
        return -1;
    rb_figure_t f = {.unit = "s",
                     .target = o->smoke ? 0 : 1.5,
                     .note = "pipelined variadic SADD"};
    snprintf (f.name, sizeof f.name, "flag %d keys (list)", n);
    for (int run = 0; run < o->runs; run++) {
        if (s_recovering (&c, backup))
            return -1;
        double a = s_flag_once (&c, n, batch);
        double b = s_sadd_once (o, n, batch);
        if (a <= 0)
            return -1;
        rb_figure_add (&f, a, b);
        fprintf (stderr, "flag: run %d: %.3f s vs %.3f s\n", run + 1, a, b);
    }
    rb_report_add (&f);
    unlink (resp);
    zstr_free (&resp);
    free (backup);
    rb_bcluster_stop (&c);
    return 0;
}
