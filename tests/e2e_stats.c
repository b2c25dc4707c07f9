/*  e2e_stats: the figures of a seed and of a run (see e2e.h): answers
    checked per status and service, faults injected per type,
    `unavailable` answers per fault type, and the time to the first `ok`
    after each heal (max and median; the max per fault type too).

    Every seed runs in a child that Check forks, so a seed appends its
    figures to a file as one line ("seed N v V s S a ... f ... u ... l L
    h K ms..."); the run's totals are read back from it at the end.  */
#include "e2e.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rb_msg.h"

static int
s_cmp_double (const void *a, const void *b)
{
    double x = *(const double *) a, y = *(const double *) b;
    return x < y ? -1 : x > y;
}

/*  Max and median of values[0..n-1] (sorts them). */
static void
s_max_median (double *values, int n, double *max, double *median)
{
    *max = *median = 0;
    if (n == 0)
        return;
    qsort (values, (size_t) n, sizeof *values, s_cmp_double);
    *max = values[n - 1];
    *median = n % 2 ? values[n / 2] : (values[n / 2 - 1] + values[n / 2]) / 2;
}

static void
s_print_answers (const e2e_stats_t *s, const char *label)
{
    const uint64_t (*a)[5] = s->answers;
    fprintf (stderr,
             "e2e: %s answers: latest-only ok %" PRIu64 " not_found %" PRIu64
             " unavailable %" PRIu64 "; stale-ok ok %" PRIu64
             " not_found %" PRIu64 " stale %" PRIu64 " unavailable %" PRIu64
             "; db probes %" PRIu64 " unflagged, %" PRIu64 " flagged, %" PRIu64
             " errors; %" PRIu64 " lost with a killed service\n",
             label, a[0][RB_ANS_OK], a[0][RB_ANS_NOT_FOUND],
             a[0][RB_ANS_UNAVAILABLE], a[1][RB_ANS_OK], a[1][RB_ANS_NOT_FOUND],
             a[1][RB_ANS_STALE], a[1][RB_ANS_UNAVAILABLE], a[2][1], a[2][2],
             a[2][0], s->lost);
}

/*  " name N (unavailable U, ok again within M ms);" for fault f, or the
    answers outside any fault (f = E2E_F_COUNT).  */
static int
s_fault_text (const e2e_stats_t *s, int f, char *out, size_t len)
{
    if (f == E2E_F_COUNT)
        return snprintf (out, len,
                         " outside any fault: unavailable %" PRIu64 ";",
                         s->unavailable[f]);
    if (!e2e_fault_is_outage (f))
        return snprintf (out, len, " %s %" PRIu64 ";", e2e_fault_name (f),
                         s->faults[f]);
    return snprintf (
        out, len,
        " %s %" PRIu64 " (unavailable %" PRIu64 ", ok again within %.0f ms);",
        e2e_fault_name (f), s->faults[f], s->unavailable[f], s->heal_max[f]);
}

/*  Every fault injected or hit, on one line. */
static void
s_print_faults (const e2e_stats_t *s, const char *label)
{
    char line[4096];
    size_t len = 0;
    for (int f = 0; f <= E2E_F_COUNT && len < sizeof line; f++) {
        uint64_t n = f < E2E_F_COUNT ? s->faults[f] : 0;
        if (n == 0 && s->unavailable[f] == 0)
            continue;
        int w = s_fault_text (s, f, line + len, sizeof line - len);
        len += w > 0 ? (size_t) w : 0;
    }
    fprintf (stderr, "e2e: %s faults:%s\n", label, len ? line : " none");
}

void
e2e_stats_print (const e2e_stats_t *s, const char *label)
{
    s_print_answers (s, label);
    s_print_faults (s, label);
    double values[E2E_HEALS], max, median;
    memcpy (values, s->heal_ms, sizeof values);
    s_max_median (values, s->n_heals, &max, &median);
    fprintf (stderr,
             "e2e: %s time to ok after a heal: %d heal(s), max %.1f ms, "
             "median %.1f ms\n",
             label, s->n_heals, max, median);
}

/*  --- the run's totals ------------------------------------------------- */

void
e2e_stats_append (const char *path, uint64_t seed, const e2e_stats_t *s)
{
    char line[8192];
    size_t len = 0;
    len +=
        (size_t) snprintf (line, sizeof line, "seed %" PRIu64 " v %d s %.3f a",
                           seed, s->violations, s->secs);
    for (int i = 0; i < 15; i++)
        len += (size_t) snprintf (line + len, sizeof line - len, " %" PRIu64,
                                  s->answers[i / 5][i % 5]);
    len += (size_t) snprintf (line + len, sizeof line - len, " f");
    for (int f = 0; f < E2E_F_COUNT; f++)
        len += (size_t) snprintf (line + len, sizeof line - len, " %" PRIu64,
                                  s->faults[f]);
    len += (size_t) snprintf (line + len, sizeof line - len, " u");
    for (int f = 0; f <= E2E_F_COUNT; f++)
        len += (size_t) snprintf (line + len, sizeof line - len, " %" PRIu64,
                                  s->unavailable[f]);
    len += (size_t) snprintf (line + len, sizeof line - len, " m");
    for (int f = 0; f < E2E_F_COUNT; f++)
        len += (size_t) snprintf (line + len, sizeof line - len, " %.1f",
                                  s->heal_max[f]);
    len += (size_t) snprintf (line + len, sizeof line - len,
                              " l %" PRIu64 " h %d", s->lost, s->n_heals);
    for (int i = 0; i < s->n_heals; i++)
        len += (size_t) snprintf (line + len, sizeof line - len, " %.1f",
                                  s->heal_ms[i]);
    FILE *f = fopen (path, "a");
    if (f) {
        fprintf (f, "%s\n", line);
        fclose (f);
    }
}

/*  Adds n numbers after the word `word` in *p to sums. */
static bool
s_read_sums (char **p, const char *word, uint64_t *sums, int n)
{
    char *at = strstr (*p, word);
    if (!at)
        return false;
    *p = at + strlen (word);
    for (int i = 0; i < n; i++)
        sums[i] += strtoull (*p, p, 10);
    return true;
}

/*  Keeps in maxes the larger of each and the n numbers after `word`. */
static bool
s_read_max (char **p, const char *word, double *maxes, int n)
{
    char *at = strstr (*p, word);
    if (!at)
        return false;
    *p = at + strlen (word);
    for (int i = 0; i < n; i++) {
        double v = strtod (*p, p);
        if (v > maxes[i])
            maxes[i] = v;
    }
    return true;
}

typedef struct {
    e2e_stats_t sum;
    int seeds, failed;
    double *heals;
    size_t n_heals, cap_heals;
} totals_t;

static void
s_add_line (totals_t *t, char *line)
{
    char *p = strstr (line, " v ");
    if (strncmp (line, "seed ", 5) || !p)
        return;
    int v = (int) strtol (p + 3, &p, 10);
    t->seeds++;
    t->failed += v > 0;
    t->sum.violations += v;
    if (strncmp (p, " s ", 3) == 0)
        t->sum.secs += strtod (p + 3, &p);
    if (!s_read_sums (&p, " a", &t->sum.answers[0][0], 15) ||
        !s_read_sums (&p, " f", t->sum.faults, E2E_F_COUNT) ||
        !s_read_sums (&p, " u", t->sum.unavailable, E2E_F_COUNT + 1) ||
        !s_read_max (&p, " m", t->sum.heal_max, E2E_F_COUNT) ||
        !s_read_sums (&p, " l", &t->sum.lost, 1))
        return;
    uint64_t heals = 0;
    s_read_sums (&p, " h", &heals, 1);
    for (uint64_t i = 0; i < heals; i++) {
        if (t->n_heals == t->cap_heals) {
            t->cap_heals = t->cap_heals ? 2 * t->cap_heals : 256;
            t->heals =
                (double *) realloc (t->heals, t->cap_heals * sizeof (double));
        }
        t->heals[t->n_heals++] = strtod (p, &p);
    }
}

void
e2e_stats_report (const char *path)
{
    FILE *f = fopen (path, "r");
    if (!f)
        return;
    totals_t t;
    memset (&t, 0, sizeof t);
    char line[8192];
    while (fgets (line, sizeof line, f))
        s_add_line (&t, line);
    fclose (f);
    char label[64];
    snprintf (label, sizeof label, "TOTAL over %d seed(s)", t.seeds);
    s_print_answers (&t.sum, label);
    s_print_faults (&t.sum, label);
    double max = 0, median = 0;
    if (t.n_heals)
        s_max_median (t.heals, (int) t.n_heals, &max, &median);
    fprintf (stderr,
             "e2e: %s time to ok after a heal: %zu heal(s), max %.1f ms, "
             "median %.1f ms\n"
             "e2e: %s %d violation(s) in %d failing seed(s), %.1f s in "
             "seeds\n",
             label, t.n_heals, max, median, label, t.sum.violations, t.failed,
             t.sum.secs);
    free (t.heals);
}
