/*  bench memory: peak RSS (VmHWM) of the broker, DB node and service node
    processes after 10k records and 10k requests, then after 1M records
    and 1M requests (distinct keys, default cache size). Targets: broker
    and DB node grow by < 20 MB (data lives in Redis); the service node
    grows by no more than its cache holds (100,000 entries).  */
#include "rb_bench_cluster.h"
#include "rb_msg.h"
#include "rb_proc.h"

#include <signal.h>
#include <string.h>

/*  Starts bin_dir/prog with args (NULL-ended), its output captured. */
static rb_proc_t *
s_spawn (const rb_bench_opts_t *o, const char *prog, char **args)
{
    char *argv[24];
    int n = 0;
    argv[n++] = zsys_sprintf ("%s/%s", o->bin_dir, prog);
    for (int i = 0; args[i] && n < 22; i++)
        argv[n++] = args[i];
    argv[n] = NULL;
    rb_proc_t *p = rb_proc_start (argv, NULL);
    zstr_free (&argv[0]);
    return p;
}

static double
s_hwm_mb (pid_t pid)
{
    char path[64], line[256];
    snprintf (path, sizeof path, "/proc/%d/status", (int) pid);
    FILE *f = fopen (path, "r");
    double kb = 0;
    while (f && fgets (line, sizeof line, f))
        if (strncmp (line, "VmHWM:", 6) == 0)
            kb = atof (line + 6);
    if (f)
        fclose (f);
    return kb / 1024;
}

/*  Sends count GETs over nkeys distinct keys, depth in flight. */
static long
s_requests (const char *endpoint, int depth, int nkeys, long count)
{
    zsock_t *sock = zsock_new_dealer (endpoint);
    zsock_set_rcvtimeo (sock, 10000);
    long sent = 0, done = 0;
    rb_body_t b;
    rb_body_init (&b, RB_T_GET);
    char k[32];
    for (; sent < depth && sent < count; sent++) {
        snprintf (k, sizeof k, "k%ld", sent % nkeys);
        b.key = rb_str (k);
        rb_header_t h = {
            .kind = RB_K_REQUEST, .type = RB_T_GET, .corr = (uint64_t) sent};
        rb_msg_send (zsock_resolve (sock), &h, &b);
    }
    while (done < count) {
        zmsg_t *msg = zmsg_recv (sock);
        if (!msg)
            break;
        zmsg_destroy (&msg);
        done++;
        if (sent < count) {
            snprintf (k, sizeof k, "k%ld", sent % nkeys);
            b.key = rb_str (k);
            rb_header_t h = {.kind = RB_K_REQUEST,
                             .type = RB_T_GET,
                             .corr = (uint64_t) sent++};
            rb_msg_send (zsock_resolve (sock), &h, &b);
        }
    }
    zsock_destroy (&sock);
    return done;
}

static bool
s_alive (rb_proc_t **procs, int n)
{
    for (int i = 0; i < n; i++)
        if (!procs[i] || rb_proc_wait (procs[i], 0) != -1)
            return false;
    return true;
}

int
rb_bench_memory (const rb_bench_opts_t *o)
{
    long small = o->smoke ? 1000 : 10000, big = o->smoke ? 5000 : 1000000;
    redisContext *r = rb_redis_connect_at (o->redis);
    if (!r)
        return -1;
    freeReplyObject (redisCommand (r, "FLUSHALL"));
    redisFree (r);
    char bus[64], tap[64], term[64], backups[512];
    snprintf (bus, sizeof bus, "tcp://127.0.0.1:%d", rb_free_port ());
    snprintf (tap, sizeof tap, "tcp://127.0.0.1:%d", rb_free_port ());
    snprintf (term, sizeof term, "tcp://127.0.0.1:%d", rb_free_port ());
    snprintf (backups, sizeof backups, "%s/memory-backups", o->tmp);
    char *bargs[] = {"--bind", bus, "--tap", tap, NULL};
    char *dargs[] = {"--broker",     bus,     "--redis", (char *) o->redis,
                     "--backup-dir", backups, "--init",  NULL};
    char *sargs[] = {"--name",      "mem-svc",  "--policy",
                     "latest-only", "--broker", bus,
                     "--listen",    term,       NULL};
    rb_proc_t *procs[3] = {s_spawn (o, "recobus-broker", bargs),
                           s_spawn (o, "recobus-db", dargs),
                           s_spawn (o, "recobus-service", sargs)};
    const char *names[3] = {"broker", "db node", "service node"};
    double at_small[3], at_big[3];
    int rc = -1;
    /* the DB node has created its dataset once it serves */
    if (s_alive (procs, 3) &&
        rb_proc_wait_output (procs[1], "serving", 10000) == 0 &&
        rb_bcluster_fill (o, (int) small, 100) == 0 &&
        s_requests (term, 64, (int) small, small) == small &&
        s_alive (procs, 3)) {
        for (int i = 0; i < 3; i++)
            at_small[i] = s_hwm_mb (rb_proc_pid (procs[i]));
        if (rb_bcluster_fill (o, (int) big, 100) == 0 &&
            s_requests (term, 256, (int) big, big) == big &&
            s_alive (procs, 3)) {
            for (int i = 0; i < 3; i++)
                at_big[i] = s_hwm_mb (rb_proc_pid (procs[i]));
            rc = 0;
        }
    }
    for (int i = 0; i < 3; i++) {
        if (procs[i] && rb_proc_kill (procs[i], SIGTERM) == 0)
            rb_proc_wait (procs[i], 5000);
        rb_proc_destroy (&procs[i]);
    }
    if (rc) {
        fprintf (stderr, "bench memory: the cluster did not answer\n");
        return -1;
    }
    for (int i = 0; i < 3; i++) {
        rb_figure_t f = {.unit = "MB",
                         .target = o->smoke ? 0 : (i == 2 ? 40 : 20),
                         .target_is_abs = true};
        snprintf (f.name, sizeof f.name, "%s peak RSS growth %ldk->%ldk",
                  names[i], small / 1000, big / 1000);
        snprintf (f.note, sizeof f.note, "peak RSS at %ldk records+requests",
                  small / 1000);
        rb_figure_add (&f, at_big[i] - at_small[i], at_small[i]);
        rb_report_add (&f);
    }
    return 0;
}

/*  bench load: recobus-ops load of N orders against the DB-side apply
    path alone (DIFF batches of the same orders sent by the bench).  */
int
rb_bench_load (const rb_bench_opts_t *o)
{
    char *ops = zsys_sprintf ("%s/recobus-ops", o->bin_dir);
    bool present = access (ops, X_OK) == 0;
    zstr_free (&ops);
    if (!present) {
        fprintf (stderr, "bench load: recobus-ops not built: skipped\n");
        return 0;
    }
    return rb_bench_load_run (o);
}
