/*  bench load: `recobus-ops load` of N orders (a process of its own:
    journal, one fsync per batch, batches pipelined) against the DB-side
    apply path alone: the same orders sent by the bench as DIFF batches
    of 1000, four in flight. Each run uses fresh keys, so every order is
    really applied on both sides.  */
#include "rb_bench_cluster.h"
#include "rb_opsrun.h"
#include "rb_msg.h"
#include "rb_service.h"

#include <string.h>
#include <sys/wait.h>

#define BATCH       1000
#define VALUE_BYTES RB_BENCH_VALUE_LEN
#define LOAD_MS     600000 /* the longest a load may take */

static char *
s_write_file (const rb_bench_opts_t *o, int run, int n)
{
    char *path = zsys_sprintf ("%s/load-%d.tsv", o->tmp, run);
    FILE *f = fopen (path, "w");
    char value[VALUE_BYTES + 1];
    memset (value, 'v', VALUE_BYTES);
    value[VALUE_BYTES] = '\0';
    for (int i = 0; f && i < n; i++)
        fprintf (f, "o%dk%d\t%s\n", run, i, value);
    if (f)
        fclose (f);
    return path;
}

/*  recobus-ops load of the file, timed from its start to its exit. */
static double
s_ops_load (const rb_bench_opts_t *o, rb_bcluster_t *c, int run, int n)
{
    char *file = s_write_file (o, run, n);
    char *journal = zsys_sprintf ("%s/load-%d.journal", o->tmp, run);
    char *bin = zsys_sprintf ("%s/recobus-ops", o->bin_dir);
    char batch[16];
    snprintf (batch, sizeof batch, "%d", BATCH);
    rb_opsrun_opts_t opts = {bin, c->cluster->bus, journal, 0, false, NULL,
                             NULL};
    double start = rb_now_us ();
    rb_opsrun_t r = rb_opsrun (
        &opts, (const char *[]){"--batch", batch, "load", file, NULL}, LOAD_MS);
    double secs = ((double) r.exited_us - start) / 1e6;
    if (r.rc != 0)
        fprintf (stderr, "bench load: recobus-ops load exited %d: %s\n", r.rc,
                 r.err ? r.err : "");
    rb_opsrun_done (&r);
    unlink (file);
    unlink (journal);
    zstr_free (&bin);
    zstr_free (&journal);
    zstr_free (&file);
    return r.rc == 0 ? secs : 0;
}

/*  The same orders as DIFF batches straight from the bench. */
static double
s_direct (rb_bcluster_t *c, int run, int n, uint64_t *seq)
{
    char tag[16];
    snprintf (tag, sizeof tag, "d%d", run);
    return rb_bench_diffs (c, tag, n, BATCH, 4, seq, NULL);
}

int
rb_bench_load_run (const rb_bench_opts_t *o)
{
    int n = o->smoke ? 5000 : 1000000;
    rb_bcluster_t c;
    if (rb_bcluster_start (&c, o, 0, RB_POLICY_LATEST_ONLY))
        return -1;
    rb_figure_t f = {.unit = "ord/s",
                     .higher_better = true,
                     .target = o->smoke ? 0 : 0.5,
                     .note = "DIFF batches of 1000 straight to the DB, 4 in "
                             "flight"};
    snprintf (f.name, sizeof f.name, "load of %d orders (recobus-ops)", n);
    uint64_t seq = 0;
    for (int run = 0; run < o->runs; run++) {
        double a = s_ops_load (o, &c, run, n);
        double b = s_direct (&c, run, n, &seq);
        if (a <= 0 || b <= 0) {
            rb_bcluster_stop (&c);
            return -1;
        }
        rb_figure_add (&f, n / a, n / b);
        fprintf (stderr, "load: run %d: %.2f s vs %.2f s\n", run + 1, a, b);
    }
    rb_report_add (&f);
    rb_bcluster_stop (&c);
    return 0;
}
