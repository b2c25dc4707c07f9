/*  e2e_faults: the fault episodes of the seeded run (see e2e_world.h and
    docs/faults-testing.md). Each one records a window in the model from
    the fault's start to its heal; the checker excuses `unavailable`
    answers only inside the windows of outages.

    - ops-race: a long `load` holds the journal while puts, deletes, a
      `sync` and maybe a `backup` start beside it; the seqs each command
      reports must all differ and match the journal.
    - redis-stall: SIGSTOP of redis-server for 1-5 s (well past the DB
      nodes' redis-timeout) while a put of a key latest-only has cached
      goes out; then `sync`.
    - db-pause, broker-pause: SIGSTOP of the DB nodes / of the broker for
      1-5 s (past heartbeat x liveness) while orders go out (for the DB
      nodes: one into the stopped node's socket, more once the broker
      let it go); then `sync`.
    - db-kill-apply: the APPLY of a put of a cached key sits in the
      stopped redis-server's socket when the DB nodes are killed; Redis
      then runs it, nobody pushes; the DB nodes restart; `sync`.
    - ops-kill: the DB nodes stopped a moment, a put's recobus-ops killed
      once the order is in the journal (fsynced, no ACK yet); `sync`
      must re-send it, and the journal hold it once.
    - svc-kill, svc-pause: SIGKILL (restart on the same endpoint) or
      SIGSTOP for 1-5 s of the service node run as a program, while
      orders land (when paused: one before the broker let it go, more
      after, whose UPDATEs it never gets, and their keys asked of it;
      or three pauses that end as soon as that is done, just past the
      expiry, before the node's own clock tells it the broker was
      silent).
    - restore:kill-db, restore:takeover: the DB node running a restore
      frozen as soon as it logs that it began, then killed; restarted at
      once, or (the takeover, two DB nodes) only after the other one took
      the restore over once the lease ran out.
    - redis-rewind: a SAVE, orders acknowledged after it, redis-server
      killed and started again from the snapshot: the DB nodes must find
      Redis behind by themselves (recovering at a new epoch, before any
      read); then orders, and recover. Drawn from a generator of its own
      (one seed in four), so that no other seed changes.  */
#include "rb_parts.h"
#include "e2e_world.h"

#include <check.h>
#include <inttypes.h>
#include <signal.h>
#include <sysexits.h>

#define RACE_TIMEOUT 10000 /* recobus-ops --timeout (its lock wait) */
#define INPUT_WAIT   3000  /* for a command to reach the stopped Redis */
#define JOURNAL_WAIT 5000  /* for a recobus-ops to journal */
#define AT_ONCE_MAX  4     /* orders started side by side */
#define REWIND_SALT  0x4ed15b4c6e11a9d3ULL /* redis-rewind's own draws */

static const struct {
    int fault;
    int weight;
} s_kinds[] = {
    {E2E_F_OPS_RACE, 3},     {E2E_F_REDIS_STALL, 3},   {E2E_F_DB_PAUSE, 2},
    {E2E_F_BROKER_PAUSE, 2}, {E2E_F_DB_KILL_APPLY, 3}, {E2E_F_OPS_KILL, 2},
    {E2E_F_SVC_KILL, 2},     {E2E_F_SVC_PAUSE, 2},
};
#define KINDS ((int) (sizeof s_kinds / sizeof s_kinds[0]))

static int
s_pick_kind (e2e_world_t *w)
{
    int total = 0;
    for (int i = 0; i < KINDS; i++)
        total += s_kinds[i].weight;
    int dice = (int) e2e_frand (w, (uint32_t) total);
    int i = 0;
    while (dice >= s_kinds[i].weight)
        dice -= s_kinds[i++].weight;
    return s_kinds[i].fault;
}

/*  How long a SIGSTOP lasts: 1-5 s.  */
static int
s_pause_ms (e2e_world_t *w)
{
    return 1000 + (int) e2e_frand (w, 4001);
}

static void
s_print_plan (e2e_world_t *w)
{
    const e2e_plan_t *p = &w->plan;
    char text[512];
    size_t len = 0;
    for (int phase = 0; phase < 2; phase++)
        for (int i = 0; i < p->n_episodes[phase]; i++)
            len += (size_t) snprintf (text + len, sizeof text - len, " %s%s",
                                      e2e_fault_name (p->episodes[phase][i]),
                                      phase ? " (after recovery)" : "");
    fprintf (stderr,
             "e2e: RECOBUS_SEED=%" PRIu64 ": episodes:%s; restore fault %s; "
             "recover after %d ms%s%s%s\n",
             w->m.seed, len ? text : " none", e2e_fault_name (p->restore_fault),
             p->recover_delay_ms,
             p->backup_flow ? "; backups every second" : "",
             p->race_in_recover ? "; orders at once during recover" : "",
             p->svc_proc == 0   ? "; svc-latest a program"
             : p->svc_proc == 1 ? "; svc-stale a program"
                                : "");
}

void
e2e_faults_plan (e2e_world_t *w)
{
    e2e_plan_t *p = &w->plan;
    p->n_episodes[0] = 1 + (int) e2e_frand (w, 2);
    p->n_episodes[1] = (int) e2e_frand (w, 2);
    bool svc = false;
    for (int phase = 0; phase < 2; phase++)
        for (int i = 0; i < p->n_episodes[phase]; i++) {
            int f = s_pick_kind (w);
            /* on a Redis Cluster (RECOBUS_REDIS_CLUSTER) the redis-server
               stall is a DB node's: a master stopped past the cluster's
               node timeout is a failover, the dbcluster suite's */
            if (f == E2E_F_REDIS_STALL && rb_cluster_env_masters ())
                f = E2E_F_DB_PAUSE;
            p->episodes[phase][i] = f;
            svc = svc || f == E2E_F_SVC_KILL || f == E2E_F_SVC_PAUSE;
        }
    p->svc_proc = svc ? (int) e2e_frand (w, 2) : -1;
    p->restore_fault = -1;
    if (p->restore && p->n_db == 2 && e2e_frand (w, 4) == 0)
        p->restore_fault = E2E_F_RESTORE_TAKEOVER;
    else if (p->restore && e2e_frand (w, 4) == 0)
        p->restore_fault = E2E_F_RESTORE_KILL;
    p->backup_flow = e2e_frand (w, 4) == 0;
    p->race_in_recover = e2e_frand (w, 3) == 0;
    p->recover_delay_ms =
        e2e_frand (w, 3) ? 1500 + (int) e2e_frand (w, 1501) : 0;
    /* drawn last, so that the draws above stay what they were */
    p->pair = e2e_frand (w, 4) == 0;
    if (p->pair)
        p->episodes[0][p->n_episodes[0]++] = E2E_F_PAIR_KILL;
    /* from a generator of its own: every other draw of the seed, in
       the plan and while it runs, stays what it was */
    e2e_rng_t rewind = {w->m.seed ^ REWIND_SALT};
    if (e2e_rng_below (&rewind, 4) == 0 && !rb_cluster_env_masters ()) {
        int phase = (int) e2e_rng_below (&rewind, 2);
        p->episodes[phase][p->n_episodes[phase]++] = E2E_F_REDIS_REWIND;
    }
    s_print_plan (w);
}

/*  --- helpers ------------------------------------------------------------ */

/*  n orders one after the other, keys from the episodes' generator.  */
static void
s_orders (e2e_world_t *w, int n, bool down)
{
    for (int i = 0; i < n; i++) {
        e2e_pending_order_t o;
        e2e_order_start (w, &o, e2e_order_key (&w->frng),
                         e2e_frand (w, 100) < 20,
                         down ? E2E_DOWN_TIMEOUT : E2E_OPS_TIMEOUT);
        e2e_order_finish (w, &o);
    }
}

void
e2e_orders_at_once (e2e_world_t *w, int n, int timeout_ms)
{
    e2e_pending_order_t o[AT_ONCE_MAX];
    if (n > AT_ONCE_MAX)
        n = AT_ONCE_MAX;
    for (int i = 0; i < n; i++)
        e2e_order_start (w, &o[i], e2e_order_key (&w->frng),
                         e2e_frand (w, 100) < 20, timeout_ms);
    for (int i = 0; i < n; i++)
        e2e_order_finish (w, &o[i]);
}

/*  Sleeps until the fault has lasted its time (the scenario's timing). */
static void
s_last_until (int64_t until_ms)
{
    int64_t left = until_ms - zclock_mono ();
    if (left > 0)
        zclock_sleep ((int) left);
}

static void
s_pause_dbs (e2e_world_t *w, bool stop)
{
    for (int i = 0; i < 2; i++)
        if (w->db[i]) {
            const char *name = i ? "db-2" : "db-1";
            if (stop)
                e2e_pause (w, rb_proc_pid (w->db[i]), name);
            else
                e2e_resume (w, rb_proc_pid (w->db[i]), name);
        }
}

/*  After a heal: the DB answers, and what is pending goes out.  */
static void
s_settle (e2e_world_t *w)
{
    free (e2e_wait_reachable (w));
    int rc = e2e_sync (w, NULL);
    if (rc != 0)
        e2e_world_abort (w, "sync after a heal: exit %d", rc);
}

/*  --- several recobus-ops at once ------------------------------------------
 */

/*  Waits until the journal has grown past size (writer holds it and
    writes). 0, or -1 at the deadline or if writer ended first.  */
static int
s_wait_journal_growth (e2e_world_t *w, long size, rb_proc_t *writer)
{
    int64_t deadline = zclock_mono () + JOURNAL_WAIT;
    while (e2e_journal_size (w) <= size)
        if (zclock_mono () >= deadline || rb_proc_wait (writer, 0) != -1)
            return -1;
        else
            zclock_sleep (1);
    return 0;
}

static void
s_finish_side_run (e2e_world_t *w, rb_proc_t **p_p, int64_t start,
                   const char *what)
{
    e2e_run_t r = e2e_ops_wait (w, p_p, start);
    e2e_step (w, "%s (from %.1f ms, beside a load): exit %d", what,
              e2e_ms (w, start), r.rc);
    if (r.rc == 0 && streq (what, "sync"))
        e2e_model_settle (&w->m, r.start, r.end);
    else if (r.rc != 0 && r.rc != EX_UNAVAILABLE &&
             !(r.rc == EX_DATAERR && strstr (r.err, "running")))
        e2e_expect (w, &r, 0, what);
    e2e_run_done (&r);
}

static void
s_ops_race (e2e_world_t *w)
{
    int window = e2e_fault_begin (&w->m, E2E_F_OPS_RACE, -1);
    int keys[E2E_HOT + E2E_BULK];
    int n = 150 + (int) e2e_frand (w, 190);
    for (int i = 0; i < n; i++)
        keys[i] = e2e_order_key (&w->frng);
    long size = e2e_journal_size (w);
    e2e_pending_load_t l;
    e2e_load_start (w, &l, keys, n, 4 + (int) e2e_frand (w, 12), RACE_TIMEOUT);
    if (s_wait_journal_growth (w, size, l.proc))
        e2e_step (w, "the load journaled nothing");
    int64_t start = e2e_us ();
    rb_proc_t *sync =
        e2e_frand (w, 2)
            ? e2e_ops_start (w, RACE_TIMEOUT, (const char *[]){"sync", NULL})
            : NULL;
    rb_proc_t *backup =
        e2e_frand (w, 3) == 0
            ? e2e_ops_start (w, RACE_TIMEOUT, (const char *[]){"backup", NULL})
            : NULL;
    e2e_orders_at_once (w, 1 + (int) e2e_frand (w, 3), RACE_TIMEOUT);
    if (sync)
        s_finish_side_run (w, &sync, start, "sync");
    if (backup)
        s_finish_side_run (w, &backup, start, "backup");
    e2e_load_finish (w, &l, false);
    e2e_fault_heal (&w->m, window);
}

/*  --- Redis, DB nodes, broker paused ----------------------------------- */

/*  A put of a key latest-only has cached, sent while redis-server is
    stopped; *o is under way when it returns (the load goes on).  */
static pid_t
s_put_into_stopped_redis (e2e_world_t *w, e2e_pending_order_t *o)
{
    int key = e2e_load_hold (w);
    pid_t redis = e2e_redis_pid (w, key);
    e2e_pause (w, redis, "redis-server");
    e2e_order_start (w, o, key, false, E2E_OPS_TIMEOUT);
    if (e2e_redis_wait_input (w, key, INPUT_WAIT))
        e2e_step (w, "nothing reached the stopped redis-server");
    else
        e2e_step (w, "a command waits in redis-server's socket");
    return redis;
}

static void
s_redis_stall (e2e_world_t *w)
{
    int64_t until = zclock_mono () + s_pause_ms (w);
    int window = e2e_fault_begin (&w->m, E2E_F_REDIS_STALL, -1);
    e2e_pending_order_t o;
    pid_t redis = s_put_into_stopped_redis (w, &o);
    e2e_load_go (w);
    e2e_order_finish (w, &o);
    s_last_until (until);
    e2e_resume (w, redis, "redis-server");
    e2e_heal (w, window);
    s_settle (w);
}

static void
s_db_kill_apply (e2e_world_t *w)
{
    int window = e2e_fault_begin (&w->m, E2E_F_DB_KILL_APPLY, -1);
    e2e_pending_order_t o;
    pid_t redis = s_put_into_stopped_redis (w, &o);
    for (int i = 0; i < 2; i++)
        if (w->db[i])
            e2e_kill (w, &w->db[i], i ? "db-2" : "db-1");
    e2e_resume (w, redis, "redis-server");
    e2e_load_go (w);
    e2e_order_finish (w, &o);
    for (int i = 0; i < w->plan.n_db; i++)
        e2e_db_start (w, i, false);
    e2e_heal (w, window);
    s_settle (w);
}

static void
s_db_pause (e2e_world_t *w)
{
    int64_t until = zclock_mono () + s_pause_ms (w);
    int window = e2e_fault_begin (&w->m, E2E_F_DB_PAUSE, -1);
    s_pause_dbs (w, true);
    s_orders (w, 1, true); /* into the stopped node's socket */
    e2e_wait_expired (w, "db-1");
    s_orders (w, 1 + (int) e2e_frand (w, 2), true); /* to nobody */
    s_last_until (until);
    s_pause_dbs (w, false);
    e2e_heal (w, window);
    s_settle (w);
}

static void
s_broker_pause (e2e_world_t *w)
{
    int64_t until = zclock_mono () + s_pause_ms (w);
    int window = e2e_fault_begin (&w->m, E2E_F_BROKER_PAUSE, -1);
    e2e_pause (w, rb_proc_pid (w->broker), "the broker");
    s_orders (w, 1 + (int) e2e_frand (w, 2), true);
    s_last_until (until);
    e2e_resume (w, rb_proc_pid (w->broker), "the broker");
    e2e_heal (w, window);
    s_settle (w);
}

/*  One broker of the pair killed with SIGKILL for 1-5 s while orders go
    (not an outage: the other carries them), then back on its port.  */
static void
s_pair_kill (e2e_world_t *w)
{
    bool second = e2e_frand (w, 2);
    int64_t until = zclock_mono () + s_pause_ms (w);
    int window = e2e_fault_begin (&w->m, E2E_F_PAIR_KILL, -1);
    e2e_kill (w, second ? &w->broker2 : &w->broker,
              second ? "the second broker" : "the broker");
    s_orders (w, 1 + (int) e2e_frand (w, 3), false);
    s_last_until (until);
    if (second)
        e2e_broker2_start (w);
    else
        e2e_broker_start (w, false);
    e2e_heal (w, window);
    s_settle (w);
}

/*  --- Redis back older than what was acknowledged --------------------- */

/*  After the rewind the DB must be recovering at a newer epoch than
    `epoch` (normal would serve the older records as current;
    needs_restore would throw away data that is still there).  */
static void
s_expect_recovering (e2e_world_t *w, uint64_t epoch)
{
    e2e_run_t r = e2e_status (w);
    const char *state = e2e_run_text (&r, "state");
    uint64_t now = e2e_run_num (&r, "epoch");
    e2e_step (w,
              "the DB is %s at epoch %" PRIu64 " (was %" PRIu64
              "), recovery from watermark %" PRIu64,
              state, now, epoch, e2e_run_num (&r, "restored_watermark"));
    if (!streq (state, "recovering") || now <= epoch)
        e2e_violation (&w->m,
                       "redis-rewind: Redis came back older than what was "
                       "acknowledged, and the DB is %s at epoch %" PRIu64
                       " (was %" PRIu64 "): not recovering at a new epoch",
                       state, now, epoch);
    e2e_run_done (&r);
}

/*  recobus-ops recover until the DB is seen normal (nothing hits it). */
static void
s_recover (e2e_world_t *w)
{
    char batch[16];
    snprintf (batch, sizeof batch, "%d", 1 + (int) e2e_frand (w, 8));
    int64_t deadline = zclock_mono () + 4 * E2E_STATE_WAIT;
    char *state = e2e_wait_reachable (w);
    while (streq (state, "recovering") && zclock_mono () < deadline) {
        e2e_run_t r = E2E_OPS (w, E2E_OPS_TIMEOUT, "recover", "--batch", batch);
        e2e_step (w, "recover --batch %s (from %.1f ms): exit %d", batch,
                  e2e_ms (w, r.start), r.rc);
        if (r.rc == 0) {
            e2e_model_settle (&w->m, r.start, r.end);
            e2e_model_recovered (&w->m, r.end);
        }
        e2e_run_done (&r);
        free (state);
        state = e2e_wait_reachable (w);
    }
    if (!streq (state, "normal"))
        e2e_world_abort (w, "redis-rewind: the DB is %s, not normal", state);
    e2e_model_recovered (&w->m, e2e_us ());
    free (state);
}

/*  A snapshot (SAVE), 1-3 orders acknowledged after it, then
    redis-server killed and started again from that snapshot: the DB
    nodes must find it behind by themselves (docs/db.md, "Failover").
    From the kill to the DB seen recovering the data changed under the
    services, as in a restore (a span); then orders, and recover.  */
static void
s_redis_rewind (e2e_world_t *w)
{
    e2e_run_t r = e2e_status (w);
    uint64_t epoch = e2e_run_num (&r, "epoch");
    e2e_run_done (&r);
    if (rb_redis_save (w->c->redis))
        e2e_world_abort (w, "redis-rewind: SAVE failed");
    e2e_step (w, "SAVE: a snapshot of Redis at epoch %" PRIu64, epoch);
    s_orders (w, 1 + (int) e2e_frand (w, 3), false); /* acknowledged */
    int64_t start = e2e_us ();
    int window = e2e_fault_begin (&w->m, E2E_F_REDIS_REWIND, -1);
    if (rb_redis_rewind (w->c->redis))
        e2e_world_abort (w, "redis-rewind: no redis-server from the snapshot");
    e2e_step (w, "redis-server killed, back from the snapshot");
    e2e_heal (w, window);
    s_expect_recovering (w, epoch);
    e2e_model_span (&w->m, start, e2e_us ());
    s_orders (w, (int) e2e_frand (w, 3), false);
    if (e2e_frand (w, 2)) { /* the operator takes a while */
        int delay_ms = 1000 + (int) e2e_frand (w, 1001);
        e2e_step (w, "recover in %d ms", delay_ms);
        zclock_sleep (delay_ms);
    }
    s_recover (w);
}

/*  --- recobus-ops killed after its fsync -------------------------------- */

/*  How many journaled orders carry value. */
static int
s_journaled (e2e_world_t *w, const char *value)
{
    e2e_journal_t j;
    if (e2e_journal_read (w->journal, &j))
        return -1;
    int n = 0;
    for (size_t i = 0; i < j.n; i++)
        n += streq (j.orders[i].value, value);
    e2e_journal_free (&j);
    return n;
}

static void
s_ops_kill (e2e_world_t *w)
{
    int window = e2e_fault_begin (&w->m, E2E_F_OPS_KILL, -1);
    long size = e2e_journal_size (w);
    s_pause_dbs (w, true);
    e2e_pending_order_t o;
    e2e_order_start (w, &o, e2e_order_key (&w->frng), false, E2E_OPS_TIMEOUT);
    if (s_wait_journal_growth (w, size, o.proc))
        e2e_step (w, "the put journaled nothing");
    rb_proc_kill (o.proc, SIGKILL);
    e2e_step (w, "SIGKILL recobus-ops put %s '%s'", e2e_key (o.key), o.value);
    rb_proc_wait (o.proc, 5000);
    rb_proc_destroy (&o.proc);
    s_pause_dbs (w, false);
    e2e_heal (w, window);
    s_settle (w); /* the status polls re-send it too: they run first */
    int n = s_journaled (w, o.value);
    if (n != 1)
        e2e_violation (&w->m,
                       "ops-kill: put %s '%s' of the killed recobus-ops is "
                       "journaled %d time(s)",
                       e2e_key (o.key), o.value, n);
}

/*  --- service nodes --------------------------------------------------------
 */

static void
s_svc_kill (e2e_world_t *w)
{
    int i = w->plan.svc_proc;
    int window = e2e_fault_begin (&w->m, E2E_F_SVC_KILL, i);
    e2e_kill (w, &w->svc_proc[i], i ? "svc-stale" : "svc-latest");
    s_orders (w, 1 + (int) e2e_frand (w, 3), false);
    e2e_service_start (w, i);
    e2e_heal (w, window);
}

/*  One pause of service i: an order while the broker still lists it
    (its UPDATE waits in the node's socket), n more once it let the node
    go (their UPDATEs go nowhere) and their keys asked of it meanwhile;
    resumed at until, or at once (0).  */
static void
s_svc_pause_once (e2e_world_t *w, int i, int n, int64_t until)
{
    int window = e2e_fault_begin (&w->m, E2E_F_SVC_PAUSE, i);
    pid_t pid = rb_proc_pid (w->svc_proc[i]);
    const char *name = i ? "svc-stale" : "svc-latest";
    e2e_pause (w, pid, name);
    s_orders (w, 1, false);
    e2e_wait_expired (w, name);
    uint64_t first = w->m.n_orders + 1;
    s_orders (w, n, false);
    for (uint64_t seq = first; seq <= w->m.n_orders; seq++)
        if (e2e_model_order (&w->m, seq))
            e2e_load_ask (w, i, e2e_model_order (&w->m, seq)->key);
    if (until)
        s_last_until (until);
    e2e_resume (w, pid, name);
    e2e_heal (w, window);
}

/*  A pause of 1-5 s, or three resumed as soon as the broker let the node
    go: its own clock may not have run out yet, so only its loop having
    stood still tells it that it may have been expired.  */
static void
s_svc_pause (e2e_world_t *w)
{
    int i = w->plan.svc_proc;
    if (e2e_frand (w, 2)) {
        int64_t until = zclock_mono () + s_pause_ms (w);
        s_svc_pause_once (w, i, 1 + (int) e2e_frand (w, 3), until);
    } else
        for (int round = 0; round < 3; round++)
            s_svc_pause_once (w, i, 1, 0);
}

void
e2e_fault_run (e2e_world_t *w, int fault)
{
    e2e_step (w, "episode: %s", e2e_fault_name (fault));
    switch (fault) {
        case E2E_F_OPS_RACE: s_ops_race (w); break;
        case E2E_F_REDIS_STALL: s_redis_stall (w); break;
        case E2E_F_DB_PAUSE: s_db_pause (w); break;
        case E2E_F_BROKER_PAUSE: s_broker_pause (w); break;
        case E2E_F_DB_KILL_APPLY: s_db_kill_apply (w); break;
        case E2E_F_OPS_KILL: s_ops_kill (w); break;
        case E2E_F_SVC_KILL: s_svc_kill (w); break;
        case E2E_F_SVC_PAUSE: s_svc_pause (w); break;
        case E2E_F_PAIR_KILL: s_pair_kill (w); break;
        case E2E_F_REDIS_REWIND: s_redis_rewind (w); break;
        default: e2e_world_abort (w, "no episode %d", fault);
    }
}

void
e2e_faults_phase (e2e_world_t *w, int phase)
{
    for (int i = 0; i < w->plan.n_episodes[phase]; i++)
        e2e_fault_run (w, w->plan.episodes[phase][i]);
}

/*  --- a restore hit ------------------------------------------------------ */

/*  Which DB node logged that it began the restore (-1: none did). */
static int
s_wait_restoring (e2e_world_t *w)
{
    int64_t deadline = zclock_mono () + INPUT_WAIT;
    while (zclock_mono () < deadline) {
        for (int i = 0; i < 2; i++)
            if (w->db[i] &&
                rb_proc_wait_output (w->db[i], "RESTORE started", 0) == 0)
                return i;
        zclock_sleep (1);
    }
    return -1;
}

/*  What the restore left in Redis, for the timeline. */
static void
s_note_restore_state (e2e_world_t *w)
{
    redisReply *r = rb_cluster_redis_cmd (w->c, rb_part_slot (0),
                                          "HMGET rb:{0}:meta state "
                                          "restore_owner");
    if (r && r->type == REDIS_REPLY_ARRAY && r->elements == 2)
        e2e_step (w, "Redis: state %s, restore owner %s",
                  r->element[0]->str ? r->element[0]->str : "-",
                  r->element[1]->str ? r->element[1]->str : "-");
    freeReplyObject (r);
}

/*  The DB node running the restore frozen as soon as it says so, then
    killed; restarted at once unless db-2 is to take the restore over.
    The restore it ran is a span all the same (RESTORE_BEGIN may have
    flushed).  */
static void
s_kill_restoring (e2e_world_t *w, const char *path, bool takeover)
{
    int64_t start = e2e_us ();
    rb_proc_t *p = path
                       ? e2e_ops_start (w, E2E_OPS_TIMEOUT,
                                        (const char *[]){"restore", path, NULL})
                       : e2e_ops_start (w, E2E_OPS_TIMEOUT,
                                        (const char *[]){"restore", NULL});
    int i = s_wait_restoring (w);
    if (i >= 0) {
        const char *name = i ? "db-2" : "db-1";
        e2e_pause (w, rb_proc_pid (w->db[i]), name);
        s_note_restore_state (w);
        e2e_kill (w, &w->db[i], name);
        if (!takeover)
            e2e_db_start (w, i, false);
    } else
        e2e_step (w, "no DB node began the restore");
    e2e_run_t r = e2e_ops_wait (w, &p, start);
    e2e_step (w, "restore (from %.1f ms, its DB node killed): exit %d",
              e2e_ms (w, start), r.rc);
    e2e_run_done (&r);
    e2e_model_span (&w->m, start, r.end);
}

int
e2e_restore_faulty (e2e_world_t *w, const char *path)
{
    int fault = w->plan.restore_fault;
    if (fault < 0)
        return e2e_restore (w, path);
    e2e_step (w, "episode: %s", e2e_fault_name (fault));
    e2e_fault_begin (&w->m, fault, -1);
    bool takeover = fault == E2E_F_RESTORE_TAKEOVER;
    s_kill_restoring (w, path, takeover);
    int rc = e2e_restore (w, path);
    for (int i = 0; takeover && i < w->plan.n_db; i++)
        if (!w->db[i])
            e2e_db_start (w, i, false);
    return rc;
}
