/*  e2e_check: every recorded answer held against what the scenario did
    (see e2e.h). The rules:

    - every terminal request is answered, once, with an ANSWER (but one
      in flight to a service node that was killed);
    - an answer's seq names the order that wrote what it carries: that
      order is for the same key, a put if a value came (the same value),
      a delete if none did; seq 0 only with no value;
    - an `ok` / `not_found` answer (either service) and an unflagged DB
      answer are never older than the newest order acknowledged for the
      key before the request was sent;
    - latest-only never answers `stale`;
    - stale-ok answers `stale` only between a restore's start and the end
      of the recovery after it, and never after the DB itself answered
      the key unflagged (outside any restore) with no restore since;
    - neither service answers `ok` / `not_found` while the DB flags the
      key all along: the request was sent after a restore ended, and the
      DB answered the key flagged after it was answered, with no restore
      between (once a restore is done, a key's flag only ever clears);
    - liveness: `unavailable` only when the request overlapped an outage
      that hit its service (a fault window, up to when the cluster was
      seen whole again, plus e2e_fault_grace_us) or a restore, or after a wait
   that really ran to max-wait; and not even then when the DB answered the key
   current (unflagged; for stale-ok, with data at all) after the request was
      sent and early enough for the service's next poll to see it;
    - each service answered something, and the DB answered some probes.

    The DB's own answers (probes) are "DATA, flagged or not" at one
    instant between their sending and their arrival, which is all the
    flag rules lean on.  */
#include "e2e.h"

#include <assert.h>
#include <check.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "rb_msg.h"

#define SLACK_US 50000 /* an answer at max-wait may come this early */
#define POLL_SLACK_US                                                          \
    300000 /* past a re-poll's back-off: the GET's round trip, the tick */
#define LOST_SLACK_US 200000 /* a request sent as the service came back */

static const char *const s_who[] = {"latest-only", "stale-ok", "db probe"};

static double
s_ms (const e2e_model_t *m, int64_t us)
{
    return (double) (us - m->t0) / 1000.0;
}

/*  --- the newest acknowledged order per key, at any time ------------------ */

typedef struct {
    int64_t acked;
    uint64_t seq; /* the highest seq acknowledged up to then */
} ack_t;

typedef struct {
    ack_t *acks[E2E_KEYS];
    size_t n[E2E_KEYS];
} acks_t;

static int
s_by_time (const void *a, const void *b)
{
    const ack_t *x = (const ack_t *) a, *y = (const ack_t *) b;
    return x->acked < y->acked ? -1 : x->acked > y->acked;
}

static void
s_acks_build (acks_t *a, const e2e_model_t *m)
{
    memset (a, 0, sizeof *a);
    for (int k = 0; k < E2E_KEYS; k++)
        a->acks[k] = (ack_t *) calloc (m->n_orders + 1, sizeof (ack_t));
    for (uint64_t i = 0; i < m->n_orders; i++) {
        const e2e_order_t *o = &m->orders[i];
        if (o->known && o->acked != E2E_NEVER)
            a->acks[o->key][a->n[o->key]++] = (ack_t){o->acked, i + 1};
    }
    for (int k = 0; k < E2E_KEYS; k++) {
        qsort (a->acks[k], a->n[k], sizeof (ack_t), s_by_time);
        for (size_t i = 1; i < a->n[k]; i++)
            if (a->acks[k][i].seq < a->acks[k][i - 1].seq)
                a->acks[k][i].seq = a->acks[k][i - 1].seq;
    }
}

static void
s_acks_free (acks_t *a)
{
    for (int k = 0; k < E2E_KEYS; k++)
        free (a->acks[k]);
}

/*  The highest seq acknowledged for key strictly before t (0: none). */
static uint64_t
s_required (const acks_t *a, int key, int64_t t)
{
    size_t lo = 0, hi = a->n[key];
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (a->acks[key][mid].acked < t)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo ? a->acks[key][lo - 1].seq : 0;
}

/*  --- the rules --------------------------------------------------------- */

/*  The data an answer carries matches the order its seq names. */
static void
s_check_consistent (e2e_model_t *m, const e2e_rec_t *r)
{
    const char *key = e2e_key (r->key);
    if (r->seq == 0) {
        if (r->found)
            e2e_violation (m, "%s: %s value '%s' with seq 0 at %.1f ms",
                           s_who[r->who], key, r->value, s_ms (m, r->done));
        return;
    }
    const e2e_order_t *o = e2e_model_order (m, r->seq);
    if (!o) {
        e2e_violation (m, "%s: %s seq %" PRIu64 " was never issued",
                       s_who[r->who], key, r->seq);
        return;
    }
    if (o->key != r->key || o->del == r->found ||
        (r->found && strcmp (o->value, r->value) != 0))
        e2e_violation (m,
                       "%s: %s answered %s '%s' seq %" PRIu64
                       ", but that order was %s %s '%s'",
                       s_who[r->who], key, r->found ? "value" : "no value",
                       r->value, r->seq, o->del ? "delete" : "put",
                       e2e_key (o->key), o->value);
}

static void
s_check_fresh (e2e_model_t *m, const acks_t *a, const e2e_rec_t *r)
{
    uint64_t want = s_required (a, r->key, r->sent);
    if (r->seq >= want)
        return;
    const e2e_order_t *o = &m->orders[want - 1];
    e2e_violation (m,
                   "%s: %s answered %s seq %" PRIu64
                   " (sent %.1f ms, answered %.1f ms), but seq %" PRIu64
                   " (%s) was acknowledged at %.1f ms",
                   s_who[r->who], e2e_key (r->key),
                   r->who == E2E_PROBE      ? "unflagged"
                   : r->status == RB_ANS_OK ? "ok"
                                            : "not_found",
                   r->seq, s_ms (m, r->sent), s_ms (m, r->done), want,
                   o->del ? "delete" : "put", s_ms (m, o->acked));
}

/*  When the recovery that followed restore i was seen complete. */
static int64_t
s_recovery_end (const e2e_model_t *m, int i)
{
    for (int j = i; j < m->n_restores; j++)
        if (m->normal[j] != E2E_NEVER)
            return m->normal[j];
    return E2E_NEVER;
}

static bool
s_in_recovery (const e2e_model_t *m, const e2e_rec_t *r)
{
    for (int i = 0; i < m->n_restores; i++)
        if (m->restores[i].start < r->done && r->sent < s_recovery_end (m, i))
            return true;
    return false;
}

static bool
s_restore_between (const e2e_model_t *m, int64_t from, int64_t to)
{
    for (int i = 0; i < m->n_restores; i++)
        if (m->restores[i].start > from && m->restores[i].start < to)
            return true;
    return false;
}

static bool
s_overlaps_restore (const e2e_model_t *m, const e2e_rec_t *r)
{
    for (int i = 0; i < m->n_restores; i++)
        if (r->sent <= m->restores[i].end && r->done >= m->restores[i].start)
            return true;
    return false;
}

/*  The DB's answers to the probes, by key, in the order they were sent:
    the unflagged ones and the flagged ones.  */
typedef struct {
    const e2e_rec_t **at;
    size_t n, cap;
} list_t;

typedef struct {
    list_t clear[E2E_KEYS], flagged[E2E_KEYS];
} probes_t;

static void
s_list_add (list_t *l, const e2e_rec_t *r)
{
    if (l->n == l->cap) {
        l->cap = l->cap ? 2 * l->cap : 64;
        l->at = (const e2e_rec_t **) realloc (l->at, l->cap * sizeof *l->at);
        assert (l->at);
    }
    l->at[l->n++] = r;
}

static void
s_probes_build (probes_t *p, const e2e_rec_t *recs, size_t n)
{
    memset (p, 0, sizeof *p);
    for (size_t i = 0; i < n; i++) {
        const e2e_rec_t *r = &recs[i];
        if (r->who == E2E_PROBE && r->status == 1)
            s_list_add (r->flagged ? &p->flagged[r->key] : &p->clear[r->key],
                        r);
    }
}

static void
s_probes_free (probes_t *p)
{
    for (int k = 0; k < E2E_KEYS; k++) {
        free (p->clear[k].at);
        free (p->flagged[k].at);
    }
}

/*  The first entry of l sent after t (l->n if none). */
static size_t
s_first_after (const list_t *l, int64_t t)
{
    size_t lo = 0, hi = l->n;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (l->at[mid]->sent <= t)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

/*  A probe of r's key the DB answered unflagged, outside any restore,
    before r was sent, with no restore started since: the key was not
    flagged when r was sent. NULL if there is none.  */
static const e2e_rec_t *
s_proof_clear (const e2e_model_t *m, const probes_t *p, const e2e_rec_t *r)
{
    const list_t *l = &p->clear[r->key];
    for (size_t i = s_first_after (l, r->sent); i-- > 0;) {
        const e2e_rec_t *q = l->at[i];
        if (q->done < r->sent && !s_overlaps_restore (m, q))
            return s_restore_between (m, q->sent, r->done) ? NULL : q;
    }
    return NULL;
}

/*  A probe of r's key the DB answered flagged, sent after r was answered,
    r itself sent after a restore had ended, with no restore started
    between: the key was flagged all the while r was served (a flag, once
    the restore is done, only ever clears). NULL if there is none.  */
static const e2e_rec_t *
s_proof_flagged (const e2e_model_t *m, const probes_t *p, const e2e_rec_t *r)
{
    int last = -1;
    for (int i = 0; i < m->n_restores; i++)
        if (m->restores[i].start < r->sent)
            last = i;
    if (last < 0 || m->restores[last].end >= r->sent)
        return NULL;
    const list_t *l = &p->flagged[r->key];
    size_t i = s_first_after (l, r->done);
    if (i == l->n || s_restore_between (m, r->sent, l->at[i]->done))
        return NULL;
    return l->at[i];
}

static void
s_check_stale (e2e_model_t *m, const probes_t *p, const e2e_rec_t *r)
{
    const char *key = e2e_key (r->key);
    if (r->who == E2E_LATEST) {
        e2e_violation (
            m, "latest-only: %s answered stale seq %" PRIu64 " at %.1f ms", key,
            r->seq, s_ms (m, r->done));
        return;
    }
    if (!s_in_recovery (m, r)) {
        e2e_violation (m,
                       "stale-ok: %s answered stale seq %" PRIu64
                       " (sent %.1f ms, answered %.1f ms) outside any "
                       "recovery",
                       key, r->seq, s_ms (m, r->sent), s_ms (m, r->done));
        return;
    }
    const e2e_rec_t *q = s_proof_clear (m, p, r);
    if (q)
        e2e_violation (m,
                       "stale-ok: %s answered stale seq %" PRIu64
                       " (sent %.1f ms), but the DB answered it unflagged "
                       "(seq %" PRIu64 ") at %.1f ms",
                       key, r->seq, s_ms (m, r->sent), q->seq,
                       s_ms (m, q->done));
}

/*  An ok / not_found answer: current, and not while the key was flagged. */
static void
s_check_current (e2e_model_t *m, const acks_t *a, const probes_t *p,
                 const e2e_rec_t *r)
{
    s_check_fresh (m, a, r);
    const e2e_rec_t *q = s_proof_flagged (m, p, r);
    if (q)
        e2e_violation (m,
                       "%s: %s answered %s seq %" PRIu64
                       " (sent %.1f ms, answered %.1f ms) while the DB "
                       "flagged it (seq %" PRIu64 " flagged at %.1f ms)",
                       s_who[r->who], e2e_key (r->key),
                       r->status == RB_ANS_OK ? "ok" : "not_found", r->seq,
                       s_ms (m, r->sent), s_ms (m, r->done), q->seq,
                       s_ms (m, q->sent));
}

/*  --- liveness -------------------------------------------------------- */

/*  The outage window that excuses r (it hit r's service and overlapped
    r, up to the cluster seen whole again plus its grace, if graced):
    its index, or -1.  */
static int
s_outage_within (const e2e_model_t *m, const e2e_rec_t *r, bool graced)
{
    for (int i = 0; i < m->n_windows; i++) {
        const e2e_window_t *w = &m->windows[i];
        if (!e2e_fault_is_outage (w->fault) ||
            (w->svc >= 0 && w->svc != r->who))
            continue;
        int64_t grace = graced ? e2e_fault_grace_us (w->fault) : 0;
        int64_t last = w->whole != E2E_NEVER ? w->whole : w->heal;
        int64_t end = last == E2E_NEVER ? E2E_NEVER : last + grace;
        if (r->sent <= end && r->done >= w->start)
            return i;
    }
    return -1;
}

/*  The same, preferring a fault that lasted while r did over one whose
    grace only reaches it.  */
static int
s_outage (const e2e_model_t *m, const e2e_rec_t *r)
{
    int i = s_outage_within (m, r, false);
    return i >= 0 ? i : s_outage_within (m, r, true);
}

static bool
s_near_restore (const e2e_model_t *m, const e2e_rec_t *r)
{
    for (int i = 0; i < m->n_restores; i++)
        if (r->sent <= m->restores[i].end + E2E_RESTORE_GRACE_US &&
            r->done >= m->restores[i].start)
            return true;
    return false;
}

/*  A probe that shows r's key current (unflagged; for stale-ok, any
    data), sent after r and answered early enough for the service's
    next poll to see it before r's deadline, with no restore between.
    NULL if there is none.  */
static const e2e_rec_t *
s_proof_current (const e2e_model_t *m, const probes_t *p, const e2e_rec_t *r)
{
    int64_t by = r->done - (int64_t) m->poll_max_ms * 1000 - POLL_SLACK_US;
    const list_t *lists[2] = {&p->clear[r->key], &p->flagged[r->key]};
    int n_lists = r->who == E2E_STALE ? 2 : 1;
    for (int k = 0; k < n_lists; k++) {
        const list_t *l = lists[k];
        size_t i = s_first_after (l, r->sent);
        if (i < l->n && l->at[i]->done <= by &&
            !s_overlaps_restore (m, l->at[i]) &&
            !s_restore_between (m, r->sent, l->at[i]->done))
            return l->at[i];
    }
    return NULL;
}

static void
s_check_unavailable (e2e_model_t *m, const probes_t *p, const e2e_rec_t *r,
                     e2e_stats_t *stats)
{
    int w = s_outage (m, r);
    stats->unavailable[w >= 0 ? m->windows[w].fault : E2E_F_COUNT]++;
    if (w >= 0 || s_near_restore (m, r))
        return;
    const char *key = e2e_key (r->key);
    double waited = (double) (r->done - r->sent) / 1000.0;
    if (r->done - r->sent < (int64_t) m->max_wait_ms * 1000 - SLACK_US) {
        e2e_violation (m,
                       "%s: %s answered unavailable after %.1f ms (sent %.1f "
                       "ms; max-wait %d ms), outside any outage or restore",
                       s_who[r->who], key, waited, s_ms (m, r->sent),
                       m->max_wait_ms);
        return;
    }
    const e2e_rec_t *q = s_proof_current (m, p, r);
    if (q)
        e2e_violation (m,
                       "%s: %s answered unavailable (sent %.1f ms, answered "
                       "%.1f ms), but the DB answered it %s seq %" PRIu64
                       " at %.1f ms, well within max-wait",
                       s_who[r->who], key, s_ms (m, r->sent), s_ms (m, r->done),
                       q->flagged ? "flagged" : "unflagged", q->seq,
                       s_ms (m, q->done));
}

/*  A request never answered: lost with its service node if that node was
    killed before it came back up.  */
static void
s_check_lost (e2e_model_t *m, const e2e_rec_t *r, e2e_stats_t *stats)
{
    for (int i = 0; i < m->n_windows; i++) {
        const e2e_window_t *w = &m->windows[i];
        if (w->fault == E2E_F_SVC_KILL && w->svc == r->who &&
            r->sent <= w->heal + LOST_SLACK_US) {
            stats->lost++;
            return;
        }
    }
    e2e_violation (m, "%s: %s sent at %.1f ms never answered", s_who[r->who],
                   e2e_key (r->key), s_ms (m, r->sent));
}

static void
s_check_one (e2e_model_t *m, const acks_t *a, const probes_t *p,
             const e2e_rec_t *r, e2e_stats_t *stats)
{
    const char *key = e2e_key (r->key);
    if (r->twice)
        e2e_violation (m, "%s: %s answered twice", s_who[r->who], key);
    if (r->who == E2E_PROBE) {
        if (r->status != 1)
            return; /* ERROR unavailable, timeout ...: no data */
        s_check_consistent (m, r);
        if (!r->flagged)
            s_check_fresh (m, a, r);
        return;
    }
    if (!r->done) {
        s_check_lost (m, r, stats);
        return;
    }
    if (r->error) {
        e2e_violation (m, "%s: %s answered ERROR %d at %.1f ms", s_who[r->who],
                       key, r->error, s_ms (m, r->done));
        return;
    }
    if (r->status == RB_ANS_UNAVAILABLE) {
        s_check_unavailable (m, p, r, stats);
        return;
    }
    s_check_consistent (m, r);
    if (r->status == RB_ANS_STALE)
        s_check_stale (m, p, r);
    else
        s_check_current (m, a, p, r);
}

/*  --- figures ------------------------------------------------------------ */

/*  The first request sent at or after t (records are in sending order). */
static size_t
s_first_sent (const e2e_rec_t *recs, size_t n, int64_t t)
{
    size_t lo = 0, hi = n;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (recs[mid].sent < t)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

/*  When the first outage that began after t began (E2E_NEVER: none). */
static int64_t
s_next_outage (const e2e_model_t *m, int64_t t)
{
    int64_t next = E2E_NEVER;
    for (int i = 0; i < m->n_windows; i++)
        if (e2e_fault_is_outage (m->windows[i].fault) &&
            m->windows[i].start > t && m->windows[i].start < next)
            next = m->windows[i].start;
    return next;
}

/*  For each healed outage: how long after the heal the first `ok` came
    for a request sent after it (from the service it hit; latest-only
    when it hit both), unless another fault began first.  */
static void
s_heal_times (const e2e_model_t *m, const e2e_rec_t *recs, size_t n,
              e2e_stats_t *stats)
{
    for (int i = 0; i < m->n_windows && stats->n_heals < E2E_HEALS; i++) {
        const e2e_window_t *w = &m->windows[i];
        if (!e2e_fault_is_outage (w->fault) || w->heal == E2E_NEVER)
            continue;
        int who = w->svc >= 0 ? w->svc : E2E_LATEST;
        int64_t best = E2E_NEVER;
        for (size_t j = s_first_sent (recs, n, w->heal);
             j < n && recs[j].sent < best; j++)
            if (recs[j].who == who && recs[j].done && !recs[j].error &&
                recs[j].status == RB_ANS_OK && recs[j].done < best)
                best = recs[j].done;
        if (best == E2E_NEVER || best > s_next_outage (m, w->heal))
            continue; /* not seen before another fault began */
        double ms = (double) (best - w->heal) / 1000.0;
        stats->heal_ms[stats->n_heals++] = ms;
        if (ms > stats->heal_max[w->fault])
            stats->heal_max[w->fault] = ms;
    }
}

static void
s_check_counts (e2e_model_t *m, const e2e_stats_t *s)
{
    for (int who = 0; who < 2; who++) {
        uint64_t sum = 0;
        for (int col = 1; col < 5; col++)
            sum += s->answers[who][col];
        if (sum == 0)
            e2e_violation (m, "%s answered nothing", s_who[who]);
    }
    if (s->answers[E2E_PROBE][1] + s->answers[E2E_PROBE][2] == 0)
        e2e_violation (m, "the DB answered no probe with data");
}

int
e2e_check_answers (e2e_model_t *m, const e2e_rec_t *recs, size_t n,
                   e2e_stats_t *stats)
{
    int before = m->n_violations;
    acks_t a;
    s_acks_build (&a, m);
    probes_t p;
    s_probes_build (&p, recs, n);
    for (size_t i = 0; i < n; i++) {
        const e2e_rec_t *r = &recs[i];
        s_check_one (m, &a, &p, r, stats);
        int col = r->who == E2E_PROBE ? (r->status == 1 ? 1 + r->flagged : 0)
                                      : (r->done && !r->error ? r->status : 0);
        stats->answers[r->who][col < 5 ? col : 0]++;
    }
    s_acks_free (&a);
    s_probes_free (&p);
    s_heal_times (m, recs, n, stats);
    s_check_counts (m, stats);
    return m->n_violations - before;
}

/*  --- the end state ------------------------------------------------------- */

/*  Every key, read straight from the DB, is its newest order. A DB node
    may still be reconnecting to a Redis that was just stopped (it answers
    unavailable, never old data, until its next refresh): such a GET is
    asked again, for E2E_FINAL_WAIT at most.  */
void
e2e_check_final_db (e2e_model_t *m, rb_cluster_t *c)
{
    rb_tnode_t n;
    rb_tnode_start (&n, c, RB_ROLE_OPS, "e2e-final");
    int64_t until = zclock_mono () + E2E_FINAL_WAIT;
    for (int k = 0; k < E2E_KEYS; k++) {
        uint64_t seq;
        const e2e_order_t *o = e2e_newest (m, k, &seq);
        rb_got_t g = rb_tnode_get (&n, e2e_key (k));
        while (g.rc == RB_S_UNAVAILABLE && zclock_mono () < until)
            g = rb_tnode_get (&n, e2e_key (k));
        bool found = o && !o->del;
        if (g.rc != 0 || g.recovering || g.found != found || g.seq != seq ||
            (found && !streq (g.value, o->value)))
            e2e_violation (m,
                           "final data: %s is %s seq %" PRIu64
                           "%s (rc %d), but the newest order is %s seq "
                           "%" PRIu64 " '%s'",
                           e2e_key (k), g.found ? g.value : "absent", g.seq,
                           g.recovering ? " flagged" : "", g.rc,
                           !o       ? "none"
                           : o->del ? "a delete"
                                    : "a put",
                           seq, o ? o->value : "");
    }
    rb_tnode_stop (&n);
}

/*  Every key, read through each service, is its newest order. */
void
e2e_check_final_services (e2e_model_t *m, const char *const endpoints[2],
                          int max_wait_ms)
{
    static const char *const names[] = {"latest-only", "stale-ok"};
    for (int svc = 0; svc < 2; svc++) {
        zsock_t *t = zsock_new_dealer (endpoints[svc]);
        ck_assert_ptr_nonnull (t);
        for (int k = 0; k < E2E_KEYS; k++) {
            rb_header_t h = {.kind = RB_K_REQUEST, .type = RB_T_GET};
            h.corr = (uint64_t) k + 1;
            rb_body_t b;
            rb_body_init (&b, RB_T_GET);
            b.key = rb_str (e2e_key (k));
            ck_assert_int_eq (rb_msg_send (zsock_resolve (t), &h, &b), 0);
        }
        bool seen[E2E_KEYS] = {false};
        int answered = 0;
        zpoller_t *poller = zpoller_new (t, NULL);
        int64_t deadline = zclock_mono () + max_wait_ms + 4000;
        while (answered < E2E_KEYS && zclock_mono () < deadline) {
            if (!zpoller_wait (poller, 20))
                continue;
            zmsg_t *msg = zmsg_recv (t);
            rb_header_t h;
            rb_body_t b;
            rb_body_init (&b, RB_T_NONE);
            rb_err_t err;
            int rc = rb_msg_decode (msg, NULL, &h, &b, &err);
            int k = (int) h.corr - 1;
            if (rc == 0 && b.type == RB_T_ANSWER && k >= 0 && k < E2E_KEYS &&
                !seen[k]) {
                seen[k] = true;
                answered++;
                uint64_t seq;
                const e2e_order_t *o = e2e_newest (m, k, &seq);
                bool found = o && !o->del;
                int want = found ? RB_ANS_OK : RB_ANS_NOT_FOUND;
                if (b.answer != want || b.seq != seq || b.has_value != found ||
                    (found && !rb_str_eq (b.value, o->value)))
                    e2e_violation (m,
                                   "final %s answer: %s status %d seq "
                                   "%" PRIu64 ", but the newest order is "
                                   "seq %" PRIu64 " (want status %d)",
                                   names[svc], e2e_key (k), b.answer, b.seq,
                                   seq, want);
            }
            rb_body_release (&b);
            zmsg_destroy (&msg);
        }
        zpoller_destroy (&poller);
        zsock_destroy (&t);
        if (answered < E2E_KEYS)
            e2e_violation (m, "final %s answers: %d of %d keys answered",
                           names[svc], answered, E2E_KEYS);
    }
}
