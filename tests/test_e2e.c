/*  test_e2e: the seeded randomized disaster run. Each seed builds a fresh
    cluster (a throwaway redis-server, the recobus-broker and recobus-db
    programs, a latest-only and a stale-ok service node, recobus-ops with
    its own journal), puts terminal load on both services and probes the
    DB directly (e2e_load.c), and meanwhile, as the seed decides: orders,
    backups, a disaster (FLUSHALL, a Redis restart, SIGKILL of the DB node
    or of the broker), a restore, orders while recovering, and the real
    `recobus-ops recover`, possibly hit mid-way (SIGKILL of ops, of the
    DB node, of the broker, or another FLUSHALL) and run again. Then every
    answer is held against what the ops side had acknowledged
    (e2e_check.c), and the final data against every order journaled.

    RECOBUS_SEEDS=N runs seeds 1..N (default 20; RECOBUS_SEED_FIRST moves
    the start); RECOBUS_SEED=N replays that one seed alone.  */
#include <check.h>
#include <czmq.h>
#include <inttypes.h>
#include <jansson.h>
#include <signal.h>
#include <stdarg.h>
#include <sysexits.h>

#include "e2e.h"
#include "rb_cluster.h"
#include "rb_proc.h"
#include "rb_service.h"
#include "rb_testing.h"

#define OPS_BIN    RECOBUS_BINARY_DIR "/recobus-ops"
#define DB_BIN     RECOBUS_BINARY_DIR "/recobus-db"
#define BROKER_BIN RECOBUS_BINARY_DIR "/recobus-broker"

#define MAX_WAIT     800   /* both services' max-wait, ms */
#define OPS_TIMEOUT  3000  /* recobus-ops --timeout while all is up */
#define DOWN_TIMEOUT 1000  /* and while a peer is down */
#define RUN_DEADLINE 30000 /* any recobus-ops run must end within, ms */
#define STATE_WAIT   15000 /* deadline of waiting for a DB state, ms */

typedef enum {
    D_FLUSH,         /* FLUSHALL */
    D_REDIS_RESTART, /* SIGKILL of redis-server, started empty */
    D_DB_FLUSH,      /* SIGKILL of every DB node, FLUSHALL, restart */
    D_DB_KILL,       /* SIGKILL of one DB node, restart: data kept */
    D_BROKER_KILL,   /* SIGKILL of the broker, restart: data kept */
    D_NONE,          /* nothing: a restore all the same */
    D_COUNT
} disaster_t;

typedef enum {
    F_NONE,
    F_KILL_OPS,    /* SIGKILL of recobus-ops recover */
    F_KILL_DB,     /* SIGKILL of a DB node */
    F_KILL_BROKER, /* SIGKILL of the broker */
    F_FLUSH,       /* FLUSHALL: a second disaster */
    F_COUNT
} fault_t;

static const char *const s_disasters[] = {"flushall",         "redis-restart",
                                          "db-kill+flushall", "db-kill",
                                          "broker-kill",      "none"};
static const char *const s_faults[] = {"none", "kill-ops", "kill-db",
                                       "kill-broker", "flushall"};

typedef struct {
    int n_db;
    uint32_t cache_size;
    int disaster, fault;
    bool fault_in_diffs; /* hit after the list went out, not after the scan */
    bool two_backups, restore_older, restore;
    int batch; /* recover --batch */
} plan_t;

/*  One seed's world; static so that every helper reaches it.  */
static struct {
    plan_t plan;
    e2e_rng_t rng;
    e2e_model_t m;
    rb_cluster_t *c; /* redis-server and the backup dir */
    int port;        /* the broker's */
    rb_proc_t *broker;
    rb_proc_t *db[2];
    zactor_t *svc[2];
    char ep[2][256];
    zactor_t *load;
    char *dir; /* journal and load files */
    char journal[512];
    char first_backup[512];
    int values, files;
    char timeline[16384]; /* the steps, printed when a seed fails */
    size_t timeline_len;
} W;

static uint32_t
s_rand (uint32_t n)
{
    return e2e_rng_below (&W.rng, n);
}

static double
s_ms (int64_t us)
{
    return (double) (us - W.m.t0) / 1000.0;
}

/*  Notes a step of the scenario on the seed's timeline. */
static void s_step (const char *fmt, ...)
    __attribute__ ((format (printf, 1, 2)));

static void
s_step (const char *fmt, ...)
{
    size_t room = sizeof W.timeline - W.timeline_len;
    int n = snprintf (W.timeline + W.timeline_len, room, "  %9.1f ms  ",
                      s_ms (e2e_us ()));
    if (n > 0 && (size_t) n < room) {
        W.timeline_len += (size_t) n;
        room -= (size_t) n;
        va_list args;
        va_start (args, fmt);
        n = vsnprintf (W.timeline + W.timeline_len, room, fmt, args);
        va_end (args);
        if (n > 0 && (size_t) n + 1 < room) {
            W.timeline_len += (size_t) n;
            W.timeline[W.timeline_len++] = '\n';
            W.timeline[W.timeline_len] = '\0';
        }
    }
}

/*  --- processes -------------------------------------------------------- */

static void
s_broker_start (bool new_port)
{
    for (int attempt = 0; attempt < 5 && !W.broker; attempt++) {
        if (new_port || !W.port)
            W.port = rb_free_port ();
        char bind[64];
        snprintf (bind, sizeof bind, "tcp://127.0.0.1:%d", W.port);
        char *argv[] = {BROKER_BIN, "--bind",      bind,  "--tap",
                        "",         "--heartbeat", "200", NULL};
        rb_proc_t *p = rb_proc_start (argv, NULL);
        ck_assert_ptr_nonnull (p);
        if (rb_proc_wait_output (p, "recobus-broker: bus", 5000) == 0) {
            s_step ("broker started on %s", bind);
            W.broker = p;
            snprintf (W.c->bus, sizeof W.c->bus, "%s", bind);
        } else
            rb_proc_destroy (&p); /* the port was taken meanwhile */
    }
    ck_assert_msg (W.broker, "seed %" PRIu64 ": the broker did not start",
                   W.m.seed);
}

static void
s_kill (rb_proc_t **p_p, const char *what)
{
    s_step ("SIGKILL %s", what);
    rb_proc_kill (*p_p, SIGKILL);
    ck_assert_int_eq (rb_proc_wait (*p_p, 5000), 128 + SIGKILL);
    rb_proc_destroy (p_p);
}

static void
s_db_start (int i, bool init)
{
    char name[16];
    snprintf (name, sizeof name, "db-%d", i + 1);
    char *argv[] = {DB_BIN,
                    "--name",
                    name,
                    "--broker",
                    W.c->bus,
                    "--redis",
                    (char *) rb_redis_address (W.c->redis),
                    "--backup-dir",
                    W.c->backups,
                    init ? "--init" : NULL,
                    NULL};
    W.db[i] = rb_proc_start (argv, NULL);
    ck_assert_ptr_nonnull (W.db[i]);
    ck_assert_msg (rb_proc_wait_output (W.db[i], "serving", 10000) == 0,
                   "seed %" PRIu64 ": %s did not start", W.m.seed, name);
    s_step ("%s started%s", name, init ? " (--init)" : "");
}

static zactor_t *
s_service (int policy, char *endpoint)
{
    static rb_service_opts_t opts[2];
    rb_service_opts_t *o = &opts[policy];
    rb_service_opts_default (o);
    o->name = policy == RB_POLICY_LATEST_ONLY ? "svc-latest" : "svc-stale";
    o->policy = policy;
    o->listen = "tcp://127.0.0.1:*";
    o->broker = W.c->bus;
    o->max_wait_ms = MAX_WAIT;
    o->cache_size = W.plan.cache_size;
    zactor_t *svc = zactor_new (rb_service_actor, o);
    zstr_send (svc, "ENDPOINT");
    char *ep = zstr_recv (svc);
    ck_assert (ep && *ep);
    snprintf (endpoint, 256, "%s", ep);
    zstr_free (&ep);
    return svc;
}

/*  --- recobus-ops --------------------------------------------------------- */

typedef struct {
    int rc;
    int64_t start, end;
    char *out, *err;
    json_t *json; /* the first line of out, if it is an object */
} run_t;

static rb_proc_t *
s_ops_start (int timeout_ms, const char *const *args)
{
    char timeout[16];
    snprintf (timeout, sizeof timeout, "%d", timeout_ms);
    char *argv[32];
    int n = 0;
    argv[n++] = OPS_BIN;
    argv[n++] = "--broker";
    argv[n++] = W.c->bus;
    argv[n++] = "--journal";
    argv[n++] = W.journal;
    argv[n++] = "--timeout";
    argv[n++] = timeout;
    argv[n++] = "--json";
    for (int i = 0; args[i] && n < 31; i++)
        argv[n++] = (char *) args[i];
    argv[n] = NULL;
    rb_proc_t *p = rb_proc_start (argv, NULL);
    ck_assert_ptr_nonnull (p);
    return p;
}

static run_t
s_ops_wait (rb_proc_t **p_p, int64_t start)
{
    run_t r;
    memset (&r, 0, sizeof r);
    r.start = start;
    r.rc = rb_proc_wait (*p_p, RUN_DEADLINE);
    r.end = e2e_us ();
    r.out = rb_proc_stdout (*p_p);
    r.err = rb_proc_stderr (*p_p);
    rb_proc_destroy (p_p);
    ck_assert_msg (r.rc != -1, "seed %" PRIu64 ": recobus-ops ran over %d ms",
                   W.m.seed, RUN_DEADLINE);
    json_error_t jerr;
    r.json = json_loadb (r.out, strcspn (r.out, "\n"), 0, &jerr);
    return r;
}

static run_t
s_ops (int timeout_ms, const char *const *args)
{
    int64_t start = e2e_us ();
    rb_proc_t *p = s_ops_start (timeout_ms, args);
    return s_ops_wait (&p, start);
}

#define OPS(timeout, ...) s_ops (timeout, (const char *[]){__VA_ARGS__, NULL})

static void
s_done (run_t *r)
{
    free (r->out);
    free (r->err);
    json_decref (r->json);
}

static uint64_t
s_num (const run_t *r, const char *name)
{
    json_t *v = r->json ? json_object_get (r->json, name) : NULL;
    return json_is_integer (v) ? (uint64_t) json_integer_value (v) : 0;
}

static const char *
s_text (const run_t *r, const char *name)
{
    json_t *v = r->json ? json_object_get (r->json, name) : NULL;
    return json_is_string (v) ? json_string_value (v) : "";
}

/*  The last lines a daemon wrote to stderr, to explain a failure. */
static void
s_print_log (const char *what, rb_proc_t *p)
{
    if (!p)
        return;
    char *text = rb_proc_stderr (p);
    size_t len = strlen (text);
    const char *tail = len > 3000 ? text + len - 3000 : text;
    fprintf (stderr, "e2e: RECOBUS_SEED=%" PRIu64 " %s stderr (tail):\n%s\n",
             W.m.seed, what, tail);
    free (text);
}

static void
s_expect (const run_t *r, int rc, const char *what)
{
    if (r->rc != rc) {
        fprintf (stderr, "e2e: RECOBUS_SEED=%" PRIu64 " timeline:\n%s",
                 W.m.seed, W.timeline);
        s_print_log ("broker", W.broker);
        s_print_log ("db-1", W.db[0]);
        s_print_log ("db-2", W.db[1]);
    }
    ck_assert_msg (r->rc == rc,
                   "seed %" PRIu64 ": %s: exit %d, want %d; out: %s err: %s",
                   W.m.seed, what, r->rc, rc, r->out, r->err);
}

static int
s_order_key (void)
{
    return s_rand (100) < 85 ? (int) s_rand (E2E_HOT)
                             : E2E_HOT + (int) s_rand (E2E_BULK);
}

/*  One put or delete of a random key. Down: a peer may be down (short
    timeout; pending is fine).  */
static void
s_order (bool down)
{
    int key = s_order_key ();
    bool del = s_rand (100) < 20;
    char value[E2E_VALUE];
    snprintf (value, sizeof value, "p%d", ++W.values);
    int timeout = down ? DOWN_TIMEOUT : OPS_TIMEOUT;
    run_t r = del ? OPS (timeout, "delete", e2e_key (key))
                  : OPS (timeout, "put", e2e_key (key), value);
    uint64_t seq = s_num (&r, "seq");
    s_step ("%s %s: seq %" PRIu64 ", exit %d", del ? "delete" : "put",
            e2e_key (key), seq, r.rc);
    if (r.rc == 0) {
        ck_assert_str_eq (s_text (&r, "status"), "applied");
        e2e_model_add (&W.m, seq, key, del, value, r.start, r.end, true);
        e2e_model_settle (&W.m, r.start, r.end);
    } else if (r.rc == EX_UNAVAILABLE && seq)
        e2e_model_add (&W.m, seq, key, del, value, r.start, r.end,
                       false);       /* pending */
    else if (r.rc != EX_UNAVAILABLE) /* else: not journaled (held) */
        s_expect (&r, 0, "put/delete");
    s_done (&r);
}

static void
s_orders (int n, bool down)
{
    for (int i = 0; i < n; i++)
        s_order (down);
}

/*  A load of keys[0..n-1] (one order each, in that order). */
static void
s_load (const int *keys, int n, bool must)
{
    char *path = zsys_sprintf ("%s/load-%d.txt", W.dir, ++W.files);
    FILE *f = fopen (path, "w");
    ck_assert_ptr_nonnull (f);
    int first_value = W.values + 1;
    for (int i = 0; i < n; i++)
        fprintf (f, "%s\tl%d\n", e2e_key (keys[i]), ++W.values);
    fclose (f);
    run_t r = OPS (OPS_TIMEOUT, "--batch", "64", "load", path);
    uint64_t first = s_num (&r, "first_seq");
    s_step ("load of %d: seqs %" PRIu64 "..., exit %d", n, first, r.rc);
    if (must)
        s_expect (&r, 0, "load");
    if (r.rc != 0 && r.rc != EX_UNAVAILABLE)
        s_expect (&r, 0, "load");
    if (first)
        ck_assert_uint_eq (s_num (&r, "orders"), (uint64_t) n);
    for (int i = 0; first && i < n; i++) {
        char value[E2E_VALUE];
        snprintf (value, sizeof value, "l%d", first_value + i);
        e2e_model_add (&W.m, first + (uint64_t) i, keys[i], false, value,
                       r.start, r.end, r.rc == 0);
    }
    if (r.rc == 0)
        e2e_model_settle (&W.m, r.start, r.end);
    s_done (&r);
    remove (path);
    zstr_free (&path);
}

/*  Some bulk keys, in one load: recoveries get work to do. */
static void
s_bulk_load (int n)
{
    int keys[E2E_BULK];
    for (int i = 0; i < n && i < E2E_BULK; i++)
        keys[i] = E2E_HOT + (int) s_rand (E2E_BULK);
    s_load (keys, n < E2E_BULK ? n : E2E_BULK, true);
}

/*  --- DB states, backups, restores ---------------------------------------- */

/*  The DB's state as recobus-ops status sees it (caller frees). */
static char *
s_state (void)
{
    run_t r = OPS (DOWN_TIMEOUT, "status");
    char *state = strdup (*s_text (&r, "state") ? s_text (&r, "state") : "?");
    s_done (&r);
    return state;
}

/*  Waits until the DB answers (state not unreachable); returns it. */
static char *
s_wait_reachable (void)
{
    int64_t deadline = zclock_mono () + STATE_WAIT;
    char *state = s_state ();
    while ((streq (state, "unreachable") || streq (state, "restoring")) &&
           zclock_mono () < deadline) {
        free (state);
        state = s_state ();
    }
    ck_assert_msg (!streq (state, "unreachable"),
                   "seed %" PRIu64 ": the DB stayed unreachable", W.m.seed);
    return state;
}

static void
s_backup (char *path, size_t len)
{
    free (s_wait_reachable ());
    run_t r = OPS (OPS_TIMEOUT, "backup");
    s_expect (&r, 0, "backup");
    s_step ("backup: watermark %" PRIu64, s_num (&r, "watermark"));
    if (path)
        snprintf (path, len, "%s", s_text (&r, "path"));
    s_done (&r);
}

/*  A restore, recorded as a span (also when it fails: it may have begun).
    Returns its exit code.  */
static int
s_restore (const char *path)
{
    ck_assert_int_lt (W.m.n_restores, E2E_SPANS);
    e2e_span_t *span = &W.m.restores[W.m.n_restores];
    W.m.normal[W.m.n_restores++] = E2E_NEVER;
    span->start = e2e_us ();
    run_t r = path ? OPS (OPS_TIMEOUT, "restore", path)
                   : OPS (OPS_TIMEOUT, "restore");
    span->end = r.end;
    int rc = r.rc;
    s_step ("restore %s (from %.1f ms): watermark %" PRIu64 ", exit %d",
            path ? path : "(newest)", s_ms (span->start),
            s_num (&r, "watermark"), rc);
    if (rc != 0 && rc != EX_UNAVAILABLE)
        s_expect (&r, 0, "restore");
    s_done (&r);
    return rc;
}

static void
s_recovered_at (int64_t when)
{
    if (W.m.n_restores && W.m.normal[W.m.n_restores - 1] == E2E_NEVER)
        W.m.normal[W.m.n_restores - 1] = when;
}

/*  --- recovery and the faults that hit it ------------------------------- */

static void
s_fault (rb_proc_t *recover)
{
    const char *needle =
        W.plan.fault_in_diffs ? "\"phase\":\"list\"" : "\"phase\":\"scan\"";
    rb_proc_wait_output (recover, needle, 10000); /* or it ended */
    s_step ("fault %s after %s", s_faults[W.plan.fault], needle);
    switch (W.plan.fault) {
        case F_KILL_OPS: rb_proc_kill (recover, SIGKILL); break;
        case F_KILL_DB: s_kill (&W.db[0], "db-1"); break;
        case F_KILL_BROKER: s_kill (&W.broker, "the broker"); break;
        case F_FLUSH:
            s_step ("FLUSHALL");
            freeReplyObject (rb_redis_cmd (W.c->redis, "FLUSHALL"));
            break;
        default: break;
    }
}

/*  One recobus-ops recover, with the plan's fault on the first, and
    orders issued while it runs. Returns its exit code.  */
static int
s_recover_once (bool first)
{
    char batch[16];
    snprintf (batch, sizeof batch, "%d", W.plan.batch);
    bool faulty = first && W.plan.fault != F_NONE;
    /* a peer killed mid-way: it need not wait long to notice */
    bool down = faulty && W.plan.fault != F_KILL_OPS;
    int64_t start = e2e_us ();
    rb_proc_t *p =
        s_ops_start (down ? 2 * DOWN_TIMEOUT : OPS_TIMEOUT,
                     (const char *[]){"recover", "--batch", batch, NULL});
    if (faulty)
        s_fault (p);
    s_orders ((int) s_rand (4), down);
    run_t r = s_ops_wait (&p, start);
    int rc = r.rc;
    s_step ("recover (from %.1f ms): exit %d", s_ms (start), rc);
    if (rc == 0) {
        ck_assert_str_eq (s_text (&r, "phase"), "scan");
        e2e_model_settle (&W.m, r.start, r.end);
        s_recovered_at (r.end);
    }
    s_done (&r);
    if (faulty && W.plan.fault == F_KILL_DB)
        s_db_start (0, false);
    if (faulty && W.plan.fault == F_KILL_BROKER)
        s_broker_start (false);
    return rc;
}

/*  Until the DB is normal again: restore when it needs one, recover when
    it is recovering.  */
static void
s_recover_all (void)
{
    int64_t deadline = zclock_mono () + 4 * STATE_WAIT;
    bool first = true;
    while (zclock_mono () < deadline) {
        char *state = s_wait_reachable ();
        int64_t seen = e2e_us ();
        s_step ("the DB is %s", state);
        bool normal = streq (state, "normal");
        if (normal)
            s_recovered_at (seen);
        else if (streq (state, "needs_restore"))
            s_restore (NULL);
        else if (streq (state, "recovering")) {
            if (s_recover_once (first) == 0)
                normal = true;
            first = false;
        }
        free (state);
        if (normal)
            return;
    }
    ck_abort_msg ("seed %" PRIu64 ": the DB never came back to normal",
                  W.m.seed);
}

static void
s_disaster (void)
{
    plan_t *p = &W.plan;
    s_step ("disaster: %s", s_disasters[p->disaster]);
    switch (p->disaster) {
        case D_FLUSH:
            freeReplyObject (rb_redis_cmd (W.c->redis, "FLUSHALL"));
            s_orders (1 + (int) s_rand (3), true);
            break;
        case D_REDIS_RESTART:
            ck_assert_int_eq (rb_redis_restart (W.c->redis), 0);
            s_orders (1 + (int) s_rand (3), true);
            break;
        case D_DB_FLUSH:
            for (int i = 0; i < p->n_db; i++)
                s_kill (&W.db[i], i ? "db-2" : "db-1");
            freeReplyObject (rb_redis_cmd (W.c->redis, "FLUSHALL"));
            s_orders (1 + (int) s_rand (2), true);
            for (int i = 0; i < p->n_db; i++)
                s_db_start (i, false);
            break;
        case D_DB_KILL:
            s_kill (&W.db[0], "db-1");
            s_orders (1 + (int) s_rand (2), true);
            s_db_start (0, false);
            break;
        case D_BROKER_KILL:
            s_kill (&W.broker, "the broker");
            /* long enough for the nodes' re-registration back-off to
               spread: orders go on while some are still away */
            s_orders (2, true);
            s_broker_start (false);
            break;
        default: break;
    }
}

/*  --- the plan ------------------------------------------------------------ */

static void
s_plan (void)
{
    plan_t *p = &W.plan;
    p->n_db = s_rand (3) == 0 ? 2 : 1;
    p->cache_size = s_rand (4) == 0 ? 8 : 100000;
    static const int weights[D_COUNT] = {3, 2, 2, 1, 2, 1};
    uint32_t dice = s_rand (11);
    p->disaster = 0;
    while (dice >= (uint32_t) weights[p->disaster])
        dice -= (uint32_t) weights[p->disaster++];
    bool lost = p->disaster <= D_DB_FLUSH;
    p->restore = lost || p->disaster == D_NONE || s_rand (2) == 0;
    p->fault = p->restore ? (int) s_rand (F_COUNT) : F_NONE;
    p->fault_in_diffs = s_rand (2) == 0;
    p->two_backups = s_rand (3) == 0;
    p->restore_older = p->two_backups && s_rand (2) == 0;
    p->batch = 1 + (int) s_rand (8);
    fprintf (stderr,
             "e2e: RECOBUS_SEED=%" PRIu64
             ": %d DB node(s), cache %u, disaster %s, restore %s, "
             "recover --batch %d, fault %s%s\n",
             W.m.seed, p->n_db, p->cache_size, s_disasters[p->disaster],
             !p->restore        ? "no"
             : p->restore_older ? "the older of 2 backups"
             : p->two_backups   ? "the newer of 2 backups"
                                : "the backup",
             p->batch, s_faults[p->fault],
             p->fault == F_NONE  ? ""
             : p->fault_in_diffs ? " (mid-diffs)"
                                 : " (mid-list)");
}

/*  --- the end ------------------------------------------------------------ */

/*  The DB is normal, nothing recovering, nothing pending. */
static void
s_check_final_status (void)
{
    /* a DB node that was killed may hold on to its registration (and
       get requests it cannot answer) until the broker expires it */
    int64_t deadline = zclock_mono () + STATE_WAIT;
    run_t r = OPS (OPS_TIMEOUT, "sync");
    while (r.rc == EX_UNAVAILABLE && zclock_mono () < deadline) {
        s_step ("sync: exit %d: %s", r.rc, s_text (&r, "error"));
        s_done (&r);
        r = OPS (OPS_TIMEOUT, "sync");
    }
    s_expect (&r, 0, "sync");
    e2e_model_settle (&W.m, r.start, r.end);
    s_done (&r);
    r = OPS (OPS_TIMEOUT, "status");
    s_expect (&r, 0, "status");
    if (!streq (s_text (&r, "state"), "normal") ||
        s_num (&r, "recovering") != 0 || s_num (&r, "pending") != 0 ||
        s_num (&r, "watermark") != W.m.n_orders)
        e2e_violation (
            &W.m,
            "final status: %s, %" PRIu64 " recovering, %" PRIu64
            " pending, watermark %" PRIu64 " (%" PRIu64 " orders issued)",
            s_text (&r, "state"), s_num (&r, "recovering"),
            s_num (&r, "pending"), s_num (&r, "watermark"), W.m.n_orders);
    s_done (&r);
}

/*  --- one seed ----------------------------------------------------------- */

static void
s_start (uint64_t seed)
{
    memset (&W, 0, sizeof W);
    W.m.seed = seed;
    W.m.t0 = e2e_us ();
    W.rng.state = seed;
    s_plan ();
    W.dir = rb_temp_dir ("rb-e2e-seed");
    ck_assert_ptr_nonnull (W.dir);
    snprintf (W.journal, sizeof W.journal, "%s/ops.journal", W.dir);
    W.c = rb_cluster_new_bare ();
    s_broker_start (true);
    for (int i = 0; i < W.plan.n_db; i++)
        s_db_start (i, i == 0);
    W.svc[0] = s_service (RB_POLICY_LATEST_ONLY, W.ep[0]);
    W.svc[1] = s_service (RB_POLICY_STALE_OK, W.ep[1]);
    int keys[E2E_HOT + E2E_BULK];
    for (int k = 0; k < E2E_HOT + E2E_BULK; k++)
        keys[k] = k;
    free (s_wait_reachable ());
    s_load (keys, E2E_HOT + E2E_BULK, true);
    static e2e_load_opts_t lo;
    lo = (e2e_load_opts_t){{W.ep[0], W.ep[1]}, W.c->bus, seed, MAX_WAIT};
    W.load = zactor_new (e2e_load_actor, &lo);
}

/*  Stops everything the seed started and removes its files.  */
static void
s_stop (void)
{
    zactor_destroy (&W.load);
    zactor_destroy (&W.svc[0]);
    zactor_destroy (&W.svc[1]);
    for (int i = 0; i < 2; i++)
        rb_proc_destroy (&W.db[i]);
    rb_proc_destroy (&W.broker);
    rb_cluster_destroy (&W.c);
    if (W.dir)
        rb_remove_tree (W.dir);
    free (W.dir);
    free (W.m.orders);
    W.dir = NULL;
    W.m.orders = NULL;
}

static void
s_run_seed (uint64_t seed)
{
    s_start (seed);
    plan_t *p = &W.plan;
    s_orders (3 + (int) s_rand (6), false);
    s_backup (W.first_backup, sizeof W.first_backup);
    if (p->two_backups) {
        s_orders (2 + (int) s_rand (4), false);
        s_backup (NULL, 0);
    }
    s_orders (3 + (int) s_rand (6), false);
    s_bulk_load (50 + (int) s_rand (250));
    s_orders ((int) s_rand (4), false);
    s_disaster ();
    if (p->restore) {
        free (s_wait_reachable ());
        s_restore (p->restore_older ? W.first_backup : NULL);
        s_orders ((int) s_rand (5), false);
        s_recover_all ();
    }
    s_orders (2 + (int) s_rand (5), false);
    s_check_final_status ();
    /* the load's last requests went out after everything above */
    zstr_send (W.load, "STOP");
    e2e_rec_t *recs;
    int n;
    ck_assert_int_eq (zsock_recv (W.load, "pi", &recs, &n), 0);
    e2e_check_answers (&W.m, recs, (size_t) n);
    free (recs);
    e2e_check_final_db (&W.m, W.c);
    e2e_check_final_services (&W.m, (const char *[]){W.ep[0], W.ep[1]},
                              MAX_WAIT);
    if (W.m.n_violations || getenv ("RECOBUS_E2E_TIMELINE"))
        fprintf (stderr, "e2e: RECOBUS_SEED=%" PRIu64 " timeline:\n%s", seed,
                 W.timeline);
    uint64_t acked = 0;
    for (uint64_t i = 0; i < W.m.n_orders; i++)
        acked += W.m.orders[i].acked != E2E_NEVER;
    int violations = W.m.n_violations;
    double secs = (double) (e2e_us () - W.m.t0) / 1e6;
    fprintf (stderr,
             "e2e: RECOBUS_SEED=%" PRIu64 ": %" PRIu64 " orders (%" PRIu64
             " acknowledged), %d restore(s), %d violation(s), %.1f s\n",
             seed, W.m.n_orders, acked, W.m.n_restores, violations, secs);
    s_stop ();
    ck_assert_msg (violations == 0,
                   "seed %" PRIu64 ": %d violation(s), listed above; replay "
                   "with RECOBUS_SEED=%" PRIu64 " build/tests/test_e2e",
                   seed, violations, seed);
}

static uint64_t s_first = 1;

START_TEST (e2e_randomized_run)
{
    s_run_seed (s_first + (uint64_t) _i);
}
END_TEST

/*  Seeds that found bugs, kept as named tests.

    Seed 56: a service node answered a GET from its cache while the UPDATE
    of an order acknowledged before the GET was sent sat unread on its bus
    socket (the node read terminal input first, and the DB acknowledged
    before it pushed). Timing-dependent: it needs the node's thread held
    up at that moment, so this run seldom fails without the fix.  */
START_TEST (e2e_seed_56_no_cache_answer_overtakes_a_waiting_update)
{
    s_run_seed (56);
}
END_TEST

/*  Seed 73: after a broker restart, UPDATE pushes sent before a service
    node had registered again were lost, and its cache served the old
    records for good. It failed about every other run without the fix, so
    it runs twice.  */
START_TEST (e2e_seed_73_broker_restart_leaves_no_stale_cache)
{
    s_run_seed (73);
    s_run_seed (73);
}
END_TEST

static uint64_t
s_env (const char *name, uint64_t dflt)
{
    const char *v = getenv (name);
    return v && *v ? strtoull (v, NULL, 10) : dflt;
}

int
main (void)
{
    /* everything a seed makes lives under one dir, removed at the end,
       even when a seed's child died on a failed assertion */
    char *root = rb_temp_dir ("rb-e2e");
    if (!root)
        return 1;
    setenv ("TMPDIR", root, 1);
    Suite *s = suite_create ("e2e");
    TCase *tc = tcase_create ("seeds");
    tcase_set_timeout (tc, 120);
    uint64_t one = s_env ("RECOBUS_SEED", 0);
    s_first = one ? one : s_env ("RECOBUS_SEED_FIRST", 1);
    int seeds = one ? 1 : (int) s_env ("RECOBUS_SEEDS", 20);
    tcase_add_loop_test (tc, e2e_randomized_run, 0, seeds);
    suite_add_tcase (s, tc);
    if (!one) {
        TCase *regressions = tcase_create ("regressions");
        tcase_set_timeout (regressions, 120);
        tcase_add_test (regressions,
                        e2e_seed_56_no_cache_answer_overtakes_a_waiting_update);
        tcase_add_test (regressions,
                        e2e_seed_73_broker_restart_leaves_no_stale_cache);
        suite_add_tcase (s, regressions);
    }
    int rc = rb_test_run (s);
    rb_remove_tree (root);
    free (root);
    return rc;
}
