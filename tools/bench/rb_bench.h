/*  rb_bench: what every recobus-bench scenario shares: the options,
    figures measured over several runs with their baseline alternating in
    the same process, and the report (a table on stdout, markdown and
    JSON files). The cluster, and a throwaway redis-server when none is
    given, come from the test harness (rb_bench_cluster.h).  */
#ifndef RB_BENCH_H
#define RB_BENCH_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

typedef struct {
    int runs;            /* runs of each side (median reported) */
    bool smoke;          /* tiny sizes, no targets: a check it works */
    const char *redis;   /* HOST:PORT of a Redis we may flush */
    const char *bin_dir; /* where recobus-* binaries are */
    char *tmp;           /* scratch dir, removed at the end */
    const char *floods;  /* overload: the floods to run (NULL: default) */
} rb_bench_opts_t;

/*  One figure: a product measurement and its baseline, per run. */
typedef struct {
    char name[64];      /* "broker throughput @64" */
    char unit[16];      /* "req/s", "ms", "MB" */
    bool higher_better; /* throughput yes, time no */
    double target;      /* ratio product/baseline to meet; 0 = none */
    bool target_is_abs; /* target applies to the product value itself */
    double product[32], baseline[32];
    int n;
    char note[160]; /* what the baseline is */
} rb_figure_t;

/*  Records one run's pair. */
void rb_figure_add (rb_figure_t *f, double product, double baseline);
/*  Median of product, of baseline, and of the pairwise ratios.  */
double rb_figure_median (const double *v, int n);
void rb_figure_ratios (const rb_figure_t *f, double *ratios);
bool rb_figure_met (const rb_figure_t *f);

/*  The report. */
void rb_report_add (const rb_figure_t *f);
void rb_report_print (FILE *out);
int rb_report_write (const char *md_path, const char *json_path,
                     const char *command);
int rb_report_missed (void);
/*  Figures one of whose runs measured nothing (a zero rate or time, not
    a number), each said on out; a broken path, --smoke or not.  */
int rb_report_broken (FILE *out);

/*  Latency samples (microseconds) and percentiles. */
typedef struct {
    double *v;
    int n, cap;
} rb_samples_t;
void rb_samples_add (rb_samples_t *s, double us);
double rb_samples_pct (rb_samples_t *s, double pct);
void rb_samples_free (rb_samples_t *s);

double rb_now_us (void);

/*  Scenarios. Each returns 0, or non-zero if it could not run.  */
int rb_bench_broker (const rb_bench_opts_t *o);
int rb_bench_curve (const rb_bench_opts_t *o);
/*  The GET path's figure of the curve scenario (bench_get.c). */
int rb_bench_get_curve (const rb_bench_opts_t *o);
int rb_bench_get (const rb_bench_opts_t *o);
int rb_bench_hit (const rb_bench_opts_t *o);
int rb_bench_restore (const rb_bench_opts_t *o);
int rb_bench_flag (const rb_bench_opts_t *o);
int rb_bench_fresh (const rb_bench_opts_t *o);
int rb_bench_load (const rb_bench_opts_t *o);
int rb_bench_memory (const rb_bench_opts_t *o);
int rb_bench_overload (const rb_bench_opts_t *o);
int rb_bench_storm (const rb_bench_opts_t *o);
int rb_bench_wait (const rb_bench_opts_t *o);
/*  recobus on a 3-master Redis Cluster vs on one Redis (bench_cluster.c). */
int rb_bench_cluster (const rb_bench_opts_t *o);
/*  The first word of a --floods list that names no flood, or NULL.  */
const char *rb_bench_overload_unknown (const char *list);
int rb_bench_load_run (const rb_bench_opts_t *o);

#endif
