/*  rb_bench: figures, samples and the report (see rb_bench.h). */
#include "rb_bench.h"

#include <czmq.h>
#include <jansson.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/utsname.h>
#include <time.h>
#include <zmq.h>
#include <unistd.h>

#define RB_FIGURES_MAX 64

static rb_figure_t s_figures[RB_FIGURES_MAX];
static int s_n_figures;

double
rb_now_us (void)
{
    struct timespec ts;
    clock_gettime (CLOCK_MONOTONIC, &ts);
    return (double) ts.tv_sec * 1e6 + (double) ts.tv_nsec / 1e3;
}

void
rb_figure_add (rb_figure_t *f, double product, double baseline)
{
    if (f->n < 32) {
        f->product[f->n] = product;
        f->baseline[f->n] = baseline;
        f->n++;
    }
}

static int
s_cmp (const void *a, const void *b)
{
    double x = *(const double *) a, y = *(const double *) b;
    return x < y ? -1 : x > y;
}

double
rb_figure_median (const double *v, int n)
{
    if (n == 0)
        return 0;
    double sorted[32];
    memcpy (sorted, v, (size_t) n * sizeof (double));
    qsort (sorted, (size_t) n, sizeof (double), s_cmp);
    return n % 2 ? sorted[n / 2] : (sorted[n / 2 - 1] + sorted[n / 2]) / 2;
}

void
rb_figure_ratios (const rb_figure_t *f, double *ratios)
{
    for (int i = 0; i < f->n; i++)
        ratios[i] = f->baseline[i] > 0 ? f->product[i] / f->baseline[i] : 0;
}

bool
rb_figure_met (const rb_figure_t *f)
{
    if (f->target <= 0)
        return true;
    double r[32];
    rb_figure_ratios (f, r);
    double v = f->target_is_abs ? rb_figure_median (f->product, f->n)
                                : rb_figure_median (r, f->n);
    return f->higher_better ? v >= f->target : v <= f->target;
}

void
rb_report_add (const rb_figure_t *f)
{
    if (s_n_figures < RB_FIGURES_MAX)
        s_figures[s_n_figures++] = *f;
}

static void
s_minmax (const double *v, int n, double *lo, double *hi)
{
    *lo = n ? v[0] : 0, *hi = n ? v[0] : 0;
    for (int i = 1; i < n; i++) {
        *lo = v[i] < *lo ? v[i] : *lo;
        *hi = v[i] > *hi ? v[i] : *hi;
    }
}

/*  "12345 (12000-13000)" */
static void
s_cell (char *buf, size_t len, const double *v, int n, const char *fmt)
{
    double lo, hi;
    s_minmax (v, n, &lo, &hi);
    char m[32], a[32], b[32];
    snprintf (m, sizeof m, fmt, rb_figure_median (v, n));
    snprintf (a, sizeof a, fmt, lo);
    snprintf (b, sizeof b, fmt, hi);
    snprintf (buf, len, "%s (%s–%s)", m, a, b);
}

static const char *
s_fmt (const rb_figure_t *f)
{
    return strcmp (f->unit, "req/s") == 0 || strcmp (f->unit, "rec/s") == 0 ||
                   strcmp (f->unit, "ord/s") == 0
               ? "%.0f"
               : "%.2f";
}

static void
s_target (const rb_figure_t *f, char *buf, size_t len)
{
    if (f->target <= 0)
        snprintf (buf, len, "-");
    else if (f->target_is_abs)
        snprintf (buf, len, "%s %.2f %s",
                  f->higher_better ? ">=" : "<=", f->target, f->unit);
    else
        snprintf (buf, len, "%s %.2fx",
                  f->higher_better ? ">=" : "<=", f->target);
}

void
rb_report_print (FILE *out)
{
    fprintf (out, "| figure | product | baseline | ratio | target | met |\n");
    fprintf (out, "|---|---|---|---|---|---|\n");
    for (int i = 0; i < s_n_figures; i++) {
        const rb_figure_t *f = &s_figures[i];
        char p[128], b[128], r[128], t[48];
        double ratios[32];
        rb_figure_ratios (f, ratios);
        s_cell (p, sizeof p, f->product, f->n, s_fmt (f));
        s_cell (b, sizeof b, f->baseline, f->n, s_fmt (f));
        s_cell (r, sizeof r, ratios, f->n, "%.2f");
        s_target (f, t, sizeof t);
        fprintf (out, "| %s (%s; baseline: %s) | %s | %s | %s | %s | %s |\n",
                 f->name, f->unit, f->note, p, b, r, t,
                 f->target <= 0      ? "-"
                 : rb_figure_met (f) ? "yes"
                                     : "NO");
    }
    fflush (out);
}

/*  Whether a run's measurement v of figure f says the path did nothing:
    not a number, or no rate or time where one must be (a rate of 0 is a
    path that answered nothing, or nothing correct).  */
static bool
s_broken (const rb_figure_t *f, double v)
{
    bool positive = f->higher_better || streq (f->unit, "us");
    return !isfinite (v) || v < 0 || (positive && v <= 0);
}

int
rb_report_broken (FILE *out)
{
    int broken = 0;
    for (int i = 0; i < s_n_figures; i++) {
        const rb_figure_t *f = &s_figures[i];
        for (int r = 0; r < f->n; r++)
            if (s_broken (f, f->product[r]) || s_broken (f, f->baseline[r])) {
                fprintf (out,
                         "recobus-bench: %s: run %d measured nothing "
                         "(%g vs %g %s): a broken path\n",
                         f->name, r + 1, f->product[r], f->baseline[r],
                         f->unit);
                broken++;
                break;
            }
    }
    return broken;
}

int
rb_report_missed (void)
{
    int missed = 0;
    for (int i = 0; i < s_n_figures; i++)
        missed += !rb_figure_met (&s_figures[i]);
    return missed;
}

static json_t *
s_array (const double *v, int n)
{
    json_t *a = json_array ();
    for (int i = 0; i < n; i++)
        json_array_append_new (a, json_real (v[i]));
    return a;
}

int
rb_report_write (const char *md_path, const char *json_path,
                 const char *command)
{
    FILE *md = fopen (md_path, "w");
    if (!md)
        return -1;
    struct utsname u;
    uname (&u);
    int major, minor, patch;
    zmq_version (&major, &minor, &patch);
    fprintf (md, "# recobus-bench results\n\nCommand: `%s`\n\n", command);
    fprintf (md, "Machine: %s %s, %ld cores; libzmq %d.%d.%d\n\n", u.sysname,
             u.machine, sysconf (_SC_NPROCESSORS_ONLN), major, minor, patch);
    rb_report_print (md);
    fclose (md);
    json_t *root = json_object ();
    json_object_set_new (root, "command", json_string (command));
    json_t *figs = json_array ();
    for (int i = 0; i < s_n_figures; i++) {
        const rb_figure_t *f = &s_figures[i];
        double r[32];
        rb_figure_ratios (f, r);
        json_t *o = json_object ();
        json_object_set_new (o, "name", json_string (f->name));
        json_object_set_new (o, "unit", json_string (f->unit));
        json_object_set_new (o, "baseline_is", json_string (f->note));
        json_object_set_new (o, "product", s_array (f->product, f->n));
        json_object_set_new (o, "baseline", s_array (f->baseline, f->n));
        json_object_set_new (o, "ratio_median",
                             json_real (rb_figure_median (r, f->n)));
        json_object_set_new (o, "target", json_real (f->target));
        json_object_set_new (o, "met", json_boolean (rb_figure_met (f)));
        json_array_append_new (figs, o);
    }
    json_object_set_new (root, "figures", figs);
    int rc = json_dump_file (root, json_path, JSON_INDENT (1));
    json_decref (root);
    return rc;
}

void
rb_samples_add (rb_samples_t *s, double us)
{
    if (s->n == s->cap) {
        s->cap = s->cap ? s->cap * 2 : 1024;
        s->v = (double *) realloc (s->v, (size_t) s->cap * sizeof (double));
    }
    s->v[s->n++] = us;
}

double
rb_samples_pct (rb_samples_t *s, double pct)
{
    if (s->n == 0)
        return 0;
    qsort (s->v, (size_t) s->n, sizeof (double), s_cmp);
    int i = (int) ceil (pct / 100.0 * s->n) - 1;
    return s->v[i < 0 ? 0 : i];
}

void
rb_samples_free (rb_samples_t *s)
{
    free (s->v);
    memset (s, 0, sizeof *s);
}
