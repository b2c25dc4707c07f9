/*  e2e_ops: recobus-ops runs for the seeded run (see e2e_world.h):
    orders and loads (started, then finished, so that several may run at
    once), sync, status, backup and restore; each recorded in the model
    from what the command itself reported.  */
#include "e2e_world.h"

#include <check.h>
#include <inttypes.h>
#include <sysexits.h>

#define OPS_BIN RECOBUS_BINARY_DIR "/recobus-ops"

#define RESTORE_RETRY 25000 /* ms a restore is retried while refused */

rb_proc_t *
e2e_ops_start (e2e_world_t *w, int timeout_ms, const char *const *args)
{
    rb_opsrun_opts_t o = {OPS_BIN,
                          w->c->bus,
                          w->journal,
                          timeout_ms,
                          true,
                          rb_cluster_key (w->c, "ops", "ops"),
                          w->c->broker_cert};
    rb_proc_t *p = rb_opsrun_start (&o, args);
    ck_assert_ptr_nonnull (p);
    return p;
}

/*  A command refused the journal as damaged: the journal broke, which
    nothing may do. The seed cannot go on.  */
static void
s_check_journal (e2e_world_t *w, const e2e_run_t *r)
{
    if (r->rc != EX_DATAERR || !strstr (r->err, w->journal) ||
        !strstr (r->err, "offset"))
        return;
    e2e_violation (&w->m, "recobus-ops exit 65, the journal is damaged: %s",
                   r->err);
    e2e_world_abort (w, "the journal is damaged");
}

e2e_run_t
e2e_ops_wait (e2e_world_t *w, rb_proc_t **p_p, int64_t start)
{
    rb_opsrun_t run = rb_opsrun_wait (p_p, E2E_RUN_DEADLINE, NULL, NULL);
    e2e_run_t r = {run.rc, start, run.exited_us, run.out, run.err, NULL};
    if (r.rc == -1)
        e2e_world_abort (w, "recobus-ops ran over %d ms", E2E_RUN_DEADLINE);
    json_error_t jerr;
    r.json = json_loadb (r.out, strcspn (r.out, "\n"), 0, &jerr);
    s_check_journal (w, &r);
    return r;
}

e2e_run_t
e2e_ops (e2e_world_t *w, int timeout_ms, const char *const *args)
{
    int64_t start = e2e_us ();
    rb_proc_t *p = e2e_ops_start (w, timeout_ms, args);
    return e2e_ops_wait (w, &p, start);
}

void
e2e_run_done (e2e_run_t *r)
{
    free (r->out);
    free (r->err);
    json_decref (r->json);
}

uint64_t
e2e_run_num (const e2e_run_t *r, const char *name)
{
    json_t *v = r->json ? json_object_get (r->json, name) : NULL;
    return json_is_integer (v) ? (uint64_t) json_integer_value (v) : 0;
}

const char *
e2e_run_text (const e2e_run_t *r, const char *name)
{
    json_t *v = r->json ? json_object_get (r->json, name) : NULL;
    return json_is_string (v) ? json_string_value (v) : "";
}

void
e2e_expect (e2e_world_t *w, const e2e_run_t *r, int rc, const char *what)
{
    if (r->rc != rc)
        e2e_world_abort (w, "%s: exit %d, want %d; out: %s err: %s", what,
                         r->rc, rc, r->out, r->err);
}

/*  --- orders ------------------------------------------------------------- */

int
e2e_order_key (e2e_rng_t *rng)
{
    return e2e_rng_below (rng, 100) < 85
               ? (int) e2e_rng_below (rng, E2E_HOT)
               : E2E_HOT + (int) e2e_rng_below (rng, E2E_BULK);
}

void
e2e_order_start (e2e_world_t *w, e2e_pending_order_t *o, int key, bool del,
                 int timeout_ms)
{
    memset (o, 0, sizeof o[0]);
    o->key = key;
    o->del = del;
    snprintf (o->value, sizeof o->value, "p%d", ++w->values);
    o->start = e2e_us ();
    o->proc =
        del ? e2e_ops_start (w, timeout_ms,
                             (const char *[]){"delete", e2e_key (key), NULL})
            : e2e_ops_start (
                  w, timeout_ms,
                  (const char *[]){"put", e2e_key (key), o->value, NULL});
}

int
e2e_order_finish (e2e_world_t *w, e2e_pending_order_t *o)
{
    e2e_run_t r = e2e_ops_wait (w, &o->proc, o->start);
    uint64_t seq = e2e_run_num (&r, "seq");
    const char *by = o->del ? "delete" : "put";
    const char *status = e2e_run_text (&r, "status");
    e2e_step (w, "%s %s (from %.1f ms): seq %" PRIu64 " %s, exit %d", by,
              e2e_key (o->key), e2e_ms (w, r.start), seq, status, r.rc);
    if (seq &&
        (r.rc == 0 || r.rc == EX_UNAVAILABLE || streq (status, "skipped")))
        e2e_model_add (&w->m, seq, o->key, o->del, o->value, r.start, r.end,
                       r.rc == 0, by);
    if (streq (status, "skipped")) /* its seq was applied already */
        e2e_violation (&w->m,
                       "%s %s: seq %" PRIu64 " skipped: the DB holds a newer "
                       "record (a seq handed out twice?)",
                       by, e2e_key (o->key), seq);
    else if (r.rc == 0 && !streq (status, "applied"))
        e2e_world_abort (w, "%s: exit 0, status '%s'", by, status);
    else if (r.rc != 0 && r.rc != EX_UNAVAILABLE) /* 69: pending, or held */
        e2e_expect (w, &r, 0, by);
    if (r.rc == 0)
        e2e_model_settle (&w->m, r.start, r.end);
    int rc = r.rc;
    e2e_run_done (&r);
    return rc;
}

void
e2e_orders (e2e_world_t *w, int n, bool down)
{
    for (int i = 0; i < n; i++) {
        int key = e2e_order_key (&w->rng);
        bool del = e2e_rand (w, 100) < 20;
        e2e_pending_order_t o;
        e2e_order_start (w, &o, key, del,
                         down ? E2E_DOWN_TIMEOUT : E2E_OPS_TIMEOUT);
        e2e_order_finish (w, &o);
    }
}

/*  --- loads --------------------------------------------------------------- */

void
e2e_load_start (e2e_world_t *w, e2e_pending_load_t *l, const int *keys, int n,
                int batch, int timeout_ms)
{
    ck_assert_int_le (n, (int) (sizeof l->keys / sizeof l->keys[0]));
    memcpy (l->keys, keys, (size_t) n * sizeof *keys);
    l->n = n;
    snprintf (l->path, sizeof l->path, "%s/load-%d.txt", w->dir, ++w->files);
    FILE *f = fopen (l->path, "w");
    ck_assert_ptr_nonnull (f);
    l->first_value = w->values + 1;
    for (int i = 0; i < n; i++)
        fprintf (f, "%s\tl%d\n", e2e_key (keys[i]), ++w->values);
    fclose (f);
    char b[16];
    snprintf (b, sizeof b, "%d", batch);
    l->start = e2e_us ();
    l->proc = e2e_ops_start (
        w, timeout_ms, (const char *[]){"--batch", b, "load", l->path, NULL});
}

int
e2e_load_finish (e2e_world_t *w, e2e_pending_load_t *l, bool must)
{
    e2e_run_t r = e2e_ops_wait (w, &l->proc, l->start);
    uint64_t first = e2e_run_num (&r, "first_seq");
    e2e_step (
        w, "load of %d (from %.1f ms): seqs %" PRIu64 "..%" PRIu64 ", exit %d",
        l->n, e2e_ms (w, r.start), first,
        first ? first + (uint64_t) l->n - 1 : 0, r.rc);
    if (must || (r.rc != 0 && r.rc != EX_UNAVAILABLE))
        e2e_expect (w, &r, 0, "load");
    if (first && e2e_run_num (&r, "orders") != (uint64_t) l->n)
        e2e_world_abort (w, "load: %" PRIu64 " orders, not %d",
                         e2e_run_num (&r, "orders"), l->n);
    for (int i = 0; first && i < l->n; i++) {
        char value[E2E_VALUE];
        snprintf (value, sizeof value, "l%d", l->first_value + i);
        e2e_model_add (&w->m, first + (uint64_t) i, l->keys[i], false, value,
                       r.start, r.end, r.rc == 0, "load");
    }
    if (r.rc == 0)
        e2e_model_settle (&w->m, r.start, r.end);
    int rc = r.rc;
    e2e_run_done (&r);
    remove (l->path);
    return rc;
}

/*  Some bulk keys, in one load: recoveries get work to do. */
void
e2e_bulk_load (e2e_world_t *w, int n)
{
    int keys[E2E_BULK];
    if (n > E2E_BULK)
        n = E2E_BULK;
    for (int i = 0; i < n; i++)
        keys[i] = E2E_HOT + (int) e2e_rand (w, E2E_BULK);
    e2e_pending_load_t l;
    e2e_load_start (w, &l, keys, n, 64, E2E_OPS_TIMEOUT);
    e2e_load_finish (w, &l, true);
}

/*  --- sync, status ------------------------------------------------------- */

long
e2e_journal_size (e2e_world_t *w)
{
    FILE *f = fopen (w->journal, "rb");
    if (!f)
        return 0;
    fseek (f, 0, SEEK_END);
    long size = ftell (f);
    fclose (f);
    return size;
}

/*  Orders a killed recobus-ops journaled, now in the model. */
static void
s_adopt (e2e_world_t *w, const e2e_run_t *r)
{
    e2e_journal_t j;
    if (e2e_journal_read (w->journal, &j))
        return;
    int n = e2e_journal_adopt (&w->m, &j, r->start, r->end, r->rc == 0);
    if (n)
        e2e_step (w,
                  "%d order(s) of a killed recobus-ops found in the "
                  "journal",
                  n);
    e2e_journal_free (&j);
}

int
e2e_sync (e2e_world_t *w, uint64_t *resent)
{
    /* a DB node that was killed may hold on to its registration (and
       get requests it cannot answer) until the broker expires it */
    int64_t deadline = zclock_mono () + E2E_STATE_WAIT;
    e2e_run_t r = E2E_OPS (w, E2E_OPS_TIMEOUT, "sync");
    for (int tries = 1; r.rc == EX_UNAVAILABLE && zclock_mono () < deadline;
         tries++) {
        if (tries == 1 || tries % 50 == 0) /* the timeline stays short */
            e2e_step (w, "sync: exit %d (try %d): %s", r.rc, tries,
                      e2e_run_text (&r, "error"));
        e2e_run_done (&r);
        r = E2E_OPS (w, E2E_OPS_TIMEOUT, "sync");
    }
    e2e_step (w,
              "sync (from %.1f ms): resent %" PRIu64 ", applied %" PRIu64
              ", skipped %" PRIu64 ", exit %d",
              e2e_ms (w, r.start), e2e_run_num (&r, "resent"),
              e2e_run_num (&r, "applied"), e2e_run_num (&r, "skipped"), r.rc);
    s_adopt (w, &r);
    if (resent)
        *resent = e2e_run_num (&r, "resent");
    if (r.rc == 0)
        e2e_model_settle (&w->m, r.start, r.end);
    int rc = r.rc;
    e2e_run_done (&r);
    return rc;
}

/*  The DB's state in a status run: "unreachable" also when the DB node
    that answered could not read Redis (it then reports the state it
    last saw, with zero counts: see docs/faults-testing.md).  */
static const char *
s_state_of (e2e_world_t *w, const e2e_run_t *r)
{
    const char *state = e2e_run_text (r, "state");
    if (!*state)
        return "?";
    if (!streq (state, "unreachable") &&
        e2e_run_num (r, "redis_connected") == 0) {
        e2e_step (w,
                  "status from a DB node without Redis: %s, watermark "
                  "%" PRIu64,
                  state, e2e_run_num (r, "watermark"));
        return "unreachable";
    }
    return state;
}

char *
e2e_state (e2e_world_t *w)
{
    e2e_run_t r = E2E_OPS (w, E2E_DOWN_TIMEOUT, "status");
    char *state = strdup (s_state_of (w, &r));
    e2e_run_done (&r);
    return state;
}

e2e_run_t
e2e_status (e2e_world_t *w)
{
    int64_t deadline = zclock_mono () + E2E_STATE_WAIT;
    e2e_run_t r = E2E_OPS (w, E2E_OPS_TIMEOUT, "status");
    while (streq (s_state_of (w, &r), "unreachable") &&
           zclock_mono () < deadline) {
        e2e_run_done (&r);
        r = E2E_OPS (w, E2E_OPS_TIMEOUT, "status");
    }
    return r;
}

char *
e2e_wait_reachable (e2e_world_t *w)
{
    int64_t deadline = zclock_mono () + E2E_STATE_WAIT;
    char *state = e2e_state (w);
    while ((streq (state, "unreachable") || streq (state, "restoring")) &&
           zclock_mono () < deadline) {
        free (state);
        state = e2e_state (w);
    }
    if (streq (state, "unreachable"))
        e2e_world_abort (w, "the DB stayed unreachable");
    return state;
}

/*  Which of the seed's nodes the broker does not list in r (NULL: all
    are there) and whether the DB answered.  */
static const char *
s_missing (e2e_world_t *w, const e2e_run_t *r)
{
    static const char *const names[] = {"db-1", "db-2", "svc-latest",
                                        "svc-stale"};
    const char *state = s_state_of (w, r);
    if (streq (state, "?") || streq (state, "unreachable") ||
        streq (state, "restoring"))
        return "the DB";
    json_t *nodes = r->json ? json_object_get (r->json, "nodes") : NULL;
    for (int i = 0; i < 4; i++)
        if ((i >= 2 || w->db[i]) && !json_object_get (nodes, names[i]))
            return names[i];
    return NULL;
}

void
e2e_heal (e2e_world_t *w, int window)
{
    e2e_fault_heal (&w->m, window);
    int64_t deadline = zclock_mono () + E2E_STATE_WAIT;
    const char *missing = "the DB";
    while (missing && zclock_mono () < deadline) {
        e2e_run_t r = E2E_OPS (w, E2E_DOWN_TIMEOUT, "status");
        missing = s_missing (w, &r);
        e2e_run_done (&r);
    }
    if (missing)
        e2e_violation (&w->m, "%s not back %d ms after the heal of %s", missing,
                       E2E_STATE_WAIT,
                       e2e_fault_name (w->m.windows[window].fault));
    else
        e2e_step (w, "whole again after %s",
                  e2e_fault_name (w->m.windows[window].fault));
    e2e_fault_whole (&w->m, window);
}

/*  --- backups and restores ---------------------------------------------- */

void
e2e_backup (e2e_world_t *w, char *path, size_t len)
{
    free (e2e_wait_reachable (w));
    e2e_run_t r = E2E_OPS (w, E2E_OPS_TIMEOUT, "backup");
    for (int i = 0; i < 20 && r.rc == EX_DATAERR && strstr (r.err, "running");
         i++) { /* a scheduled backup is running */
        e2e_run_done (&r);
        r = E2E_OPS (w, E2E_OPS_TIMEOUT, "backup");
    }
    e2e_expect (w, &r, 0, "backup");
    e2e_step (w, "backup: watermark %" PRIu64, e2e_run_num (&r, "watermark"));
    if (path)
        snprintf (path, len, "%s", e2e_run_text (&r, "path"));
    e2e_run_done (&r);
}

/*  Refused for now: a backup or restore job runs, or holds the lease. */
static bool
s_refused_for_now (const e2e_run_t *r)
{
    return r->rc == EX_DATAERR && (strstr (r->err, "is running") ||
                                   strstr (r->err, "took the restore"));
}

int
e2e_restore (e2e_world_t *w, const char *path)
{
    int64_t start = e2e_us ();
    int64_t deadline = zclock_mono () + RESTORE_RETRY;
    e2e_run_t r;
    for (;;) {
        r = path ? E2E_OPS (w, E2E_OPS_TIMEOUT, "restore", path)
                 : E2E_OPS (w, E2E_OPS_TIMEOUT, "restore");
        if (!s_refused_for_now (&r) || zclock_mono () >= deadline)
            break;
        e2e_step (w, "restore refused for now: %s", e2e_run_text (&r, "error"));
        e2e_run_done (&r);
        zclock_sleep (250); /* poll: the lease or the job ends by itself */
    }
    e2e_model_span (&w->m, start, r.end);
    int rc = r.rc;
    e2e_step (w, "restore %s (from %.1f ms): watermark %" PRIu64 ", exit %d",
              path ? path : "(newest)", e2e_ms (w, start),
              e2e_run_num (&r, "watermark"), rc);
    if (rc != 0 && rc != EX_UNAVAILABLE)
        e2e_expect (w, &r, 0, "restore");
    e2e_run_done (&r);
    return rc;
}
