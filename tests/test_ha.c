/*  test_ha: issue 16's Sentinel deployment, and its baseline, in one
    run. Redis is a master with two replicas watched by three sentinels
    (rb_sentinels). The master is killed with SIGKILL under write and
    read load after the replicas were cut off from it for a few
    acknowledged writes, so that the replica Sentinel promotes lacks
    them: a failover that loses acknowledged writes, every time.

    The baseline: a client writing to Redis directly (SET to the master
    the sentinels name, and a GET of the key), which finds the new
    master after the failover and reads back what survived: the
    acknowledged writes it lost are counted.

    recobus on the same kind of set-up: one recobus-broker, two
    recobus-db following the sentinels, the ops node (recobus-ops serve,
    auto-recover on by default), a latest-only and a stale-ok
    recobus-service. A writer of role ops sends each order to the ops
    node (SUBMIT, as the command line does) and terminals GET the key
    from both services. Asserted: no acknowledged order lost, no
    latest-only answer older than the last order acknowledged for its key
    when it was asked, and the DB normal again, at a new epoch, within
    NORMAL_MS of the kill. The figures of both sides are printed.  */
#include <check.h>
#include <czmq.h>
#include <poll.h>
#include <signal.h>

#include "rb_msg.h"
#include "rb_pcluster.h"
#include "rb_sentinels.h"
#include "rb_testing.h"
#include "rb_tnode.h"

#define MASTER   "rbha"
#define REPLICAS 2
#define KEYS     16 /* k0..k15: written before and after the kill */
#define AT_RISK                                                                \
    16 /* k16..k31: written once while the replicas are cut                    \
          off, never after (read all the time) */
#define ALL_KEYS   (KEYS + AT_RISK)
#define WARM       (2 * ALL_KEYS) /* writes before the cut */
#define GET_MS     8000           /* a GET's deadline (max-wait is 5 s) */
#define SUBMIT_MS  5000           /* an order's deadline */
#define WAIT_MS    10000          /* the replicas catch up within this */
#define NORMAL_MS  20000          /* the DB is normal again within this */
#define AFTER_MS   500            /* load goes on this long after that */
#define LOOK_MS    10             /* between two looks at a condition */
#define LEDGER_MAX 200000

static rb_sentinels_t *s_set; /* the Sentinel set-up of the running side */
static rb_pcluster_t *s_pc;   /* recobus's daemons */

static void
s_teardown (void)
{
    rb_pcluster_stop (&s_pc);
    rb_sentinels_stop (&s_set);
}

/*  --- what both sides share ------------------------------------------- */

/*  The acknowledged writes of one side: each one's key (k<i>: i) and
    seq.  */
typedef struct {
    int key[LEDGER_MAX];
    uint64_t seq[LEDGER_MAX];
    int n;
    uint64_t last[ALL_KEYS]; /* each key's last acknowledged seq */
} ledger_t;

static void
s_acked (ledger_t *l, int k, uint64_t seq)
{
    ck_assert_int_lt (l->n, LEDGER_MAX);
    l->key[l->n] = k;
    l->seq[l->n++] = seq;
    l->last[k] = seq;
}

/*  How many acknowledged writes are missing from read (each key's seq as
    read back).  */
static int
s_lost (const ledger_t *l, const uint64_t read[ALL_KEYS])
{
    int lost = 0;
    for (int i = 0; i < l->n; i++)
        lost += l->seq[i] > read[l->key[i]];
    return lost;
}

/*  The number after field in r's INFO replication, or -1. */
static long long
s_repl_num (rb_redis_t *r, const char *field)
{
    redisReply *rep = rb_redis_cmd (r, "INFO replication");
    const char *at =
        rep->type == REDIS_REPLY_STRING ? strstr (rep->str, field) : NULL;
    long long v = at ? strtoll (at + strlen (field), NULL, 10) : -1;
    freeReplyObject (rep);
    return v;
}

/*  Waits until each replica has all the master wrote so far: from now
    on, only what the test keeps from them is missing.  */
static void
s_wait_replicated (void)
{
    const char *f = "master_repl_offset:";
    long long want = s_repl_num (rb_sentinels_master (s_set), f);
    int64_t deadline = rb_clock_ms () + WAIT_MS;
    for (int i = 0; i < REPLICAS; i++)
        while (s_repl_num (rb_sentinels_replica (s_set, i), f) < want) {
            ck_assert_msg (rb_clock_ms () < deadline,
                           "replica %d never caught up", i);
            poll (NULL, 0, LOOK_MS);
        }
}

/*  The replicas stopped and their links cut (the master drops what it
    had not sent them): what it acknowledges now, it alone holds.  */
static void
s_cut_replicas (void)
{
    for (int i = 0; i < REPLICAS; i++)
        ck_assert_int_eq (
            kill (rb_redis_pid (rb_sentinels_replica (s_set, i)), SIGSTOP), 0);
    freeReplyObject (
        rb_redis_cmd (rb_sentinels_master (s_set), "CLIENT KILL TYPE replica"));
}

/*  kill -9 of the master, then the replicas go on: Sentinel promotes one
    that lacks every write since the cut. When the master died.  */
static int64_t
s_kill_master (void)
{
    rb_redis_t *master = rb_sentinels_master (s_set);
    ck_assert_int_eq (kill (rb_redis_pid (master), SIGKILL), 0);
    int64_t killed = rb_clock_ms ();
    for (int i = 0; i < REPLICAS; i++)
        ck_assert_int_eq (
            kill (rb_redis_pid (rb_sentinels_replica (s_set, i)), SIGCONT), 0);
    return killed;
}

static void
s_start_set (void)
{
    s_set = rb_sentinels_start (MASTER, REPLICAS);
    ck_assert_ptr_nonnull (s_set);
}

/*  One write of key k<k> by one side, and reads.  */
typedef void (s_step_fn) (void *side, int k);

/*  The run up to the kill, the same for both sides: WARM writes over
    every key, the replicas caught up, then cut off for one write of each
    key from KEYS on, then the master killed. The writes acknowledged
    while they were cut off; when the master died into *killed.  */
static int
s_run_to_kill (s_step_fn *step, void *side, const ledger_t *l, int64_t *killed)
{
    for (int i = 0; i < WARM; i++)
        step (side, i % ALL_KEYS);
    s_wait_replicated ();
    s_cut_replicas ();
    int before = l->n;
    for (int i = 0; i < AT_RISK; i++)
        step (side, KEYS + i);
    int at_risk = l->n - before;
    *killed = s_kill_master ();
    return at_risk;
}

/*  --- the baseline: Redis written directly ------------------------------ */

typedef struct {
    redisContext *c; /* to the master, or NULL */
    bool fresh;      /* c was made after the kill */
    char dead[64];   /* the killed master's address */
    uint64_t seq;    /* writes sent */
    ledger_t *ledger;
    int at_risk;    /* acknowledged while the replicas were cut off */
    int lost;       /* acknowledged, not on the new master */
    int refused;    /* writes not acknowledged after the kill */
    bool read_back; /* the new master was read back */
    int64_t killed; /* when the master died, or 0 */
    int64_t back;   /* the first write acknowledged after it */
} base_t;

/*  The master the sentinels name now (not the killed one), if it says
    it is a master: connected into b->c; 0 or -1.  */
static int
s_base_connect (base_t *b)
{
    char at[64];
    if (rb_sentinels_master_addr (s_set, at, sizeof at) || streq (at, b->dead))
        return -1;
    b->c = rb_redis_connect_at (at);
    struct timeval tv = {1, 0};
    redisReply *r = b->c && redisSetTimeout (b->c, tv) == REDIS_OK
                        ? (redisReply *) redisCommand (b->c, "ROLE")
                        : NULL;
    bool master = r && r->type == REDIS_REPLY_ARRAY && r->elements > 0 &&
                  r->element[0]->type == REDIS_REPLY_STRING &&
                  streq (r->element[0]->str, "master");
    freeReplyObject (r);
    if (!master) {
        redisFree (b->c);
        b->c = NULL;
    }
    b->fresh = master && b->killed;
    return master ? 0 : -1;
}

/*  One write of key k (its value the seq), then a read of it and of
    one of the keys written while the replicas are cut off. A command
    that fails drops the connection (hiredis: never reused).  */
static void
s_base_step (void *side, int k)
{
    base_t *b = (base_t *) side;
    uint64_t seq = ++b->seq;
    redisReply *r =
        (redisReply *) redisCommand (b->c, "SET k%d %" PRIu64, k, seq);
    bool ok = r && r->type == REDIS_REPLY_STATUS;
    freeReplyObject (r);
    if (ok)
        s_acked (b->ledger, k, seq);
    if (ok && b->killed && !b->back)
        b->back = rb_clock_ms ();
    b->refused += !ok && b->killed;
    r = ok ? (redisReply *) redisCommand (b->c, "GET k%d", k) : NULL;
    freeReplyObject (r);
    r = r ? (redisReply *) redisCommand (b->c, "GET k%d",
                                         KEYS + (int) (seq % AT_RISK))
          : NULL;
    if (!r) {
        redisFree (b->c);
        b->c = NULL;
    }
    freeReplyObject (r);
}

/*  Each key read back from the new master, before any write to it: the
    acknowledged writes it lacks are lost.  */
static void
s_base_read_back (base_t *b)
{
    uint64_t read[ALL_KEYS] = {0};
    for (int k = 0; k < ALL_KEYS; k++) {
        redisReply *r = (redisReply *) redisCommand (b->c, "GET k%d", k);
        ck_assert_ptr_nonnull (r);
        if (r->type == REDIS_REPLY_STRING)
            read[k] = strtoull (r->str, NULL, 10);
        freeReplyObject (r);
    }
    b->lost = s_lost (b->ledger, read);
    b->read_back = true;
}

/*  After the kill: writes go on, through the master the sentinels name,
    until one is acknowledged again.  */
static void
s_base_after_kill (base_t *b)
{
    int64_t deadline = b->killed + NORMAL_MS;
    while (!b->back) {
        ck_assert_msg (rb_clock_ms () < deadline,
                       "baseline: no write acknowledged %d ms after the kill",
                       NORMAL_MS);
        if (!b->c && s_base_connect (b)) {
            b->refused++;
            poll (NULL, 0, LOOK_MS);
            continue;
        }
        if (b->fresh && !b->read_back)
            s_base_read_back (b);
        s_base_step (b, (int) (b->seq % KEYS));
    }
}

/*  The baseline from start to end, its Sentinel set stopped after.  */
static void
s_baseline (base_t *b)
{
    s_start_set ();
    ck_assert_int_eq (s_base_connect (b), 0);
    b->at_risk = s_run_to_kill (s_base_step, b, b->ledger, &b->killed);
    snprintf (b->dead, sizeof b->dead, "%s",
              rb_redis_address (rb_sentinels_master (s_set)));
    s_base_after_kill (b);
    ck_assert (b->read_back);
    redisFree (b->c);
    b->c = NULL;
    rb_sentinels_stop (&s_set);
}

/*  --- recobus ------------------------------------------------------------ */

typedef struct {
    rb_tnode_t writer;         /* role ops: SUBMITs to the ops node */
    rb_term_t latest, stale;   /* terminals of the two services */
    ledger_t *ledger;          /* the orders acknowledged */
    uint64_t n;                /* orders sent */
    int at_risk;               /* acknowledged while the replicas were cut */
    int stale_answers;         /* latest-only answers older than acked */
    int64_t killed;            /* when the master died, or 0 */
    int pending, unanswered;   /* orders after it: journaled, not applied
                                  yet; no answer */
    int latest_bad;            /* latest-only answers not ok after it */
    int stale_stale, stale_na; /* stale-ok answers stale, not answered */
    int64_t last_bad;          /* the last latest-only answer not ok */
    int64_t back;      /* the first latest-only ok asked after it, or 0 */
    int64_t first_ok;  /* the first latest-only ok asked after the kill */
    int64_t fresh;     /* the first latest-only ok of an order journaled
                          after the kill */
    uint64_t kill_seq; /* the last seq acknowledged before the kill */
    int64_t slowest;   /* the longest latest-only answer after the kill */
    int64_t applied;   /* the first order applied after the kill */
    int64_t normal;    /* the DB seen normal at a new epoch */
    int lost;          /* acknowledged orders not read back at the end */
    uint64_t epoch;    /* the DB's at the end */
    uint64_t runs;     /* the ops node's recovery runs */
    char *ops_log;     /* what the ops node said, when it took too long */
} world_t;

/*  One order key = value to the ops node, as recobus-ops put sends it
    (SUBMIT, a request id of its own): 1 applied (its seq into *seq), 0
    journaled but pending, -1 no answer.  */
static int
s_submit (world_t *w, const char *key, const char *value, uint64_t *seq)
{
    char rid[40];
    snprintf (rid, sizeof rid, "%016x%016" PRIx64, 0x4a0a, w->n);
    rb_order_t o = {.key = rb_str (key),
                    .op = RB_OP_PUT,
                    .has_value = true,
                    .value = rb_str (value)};
    rb_body_t req, b;
    rb_body_init (&req, RB_T_SUBMIT);
    req.text = rb_str (rid);
    req.orders = &o;
    req.n_orders = 1;
    rb_body_init (&b, RB_T_NONE);
    zmsg_t *msg = NULL;
    rb_header_t h;
    int rc = rb_bus_call (w->writer.bus, RB_ADDR_SERVICE, "ops", &req,
                          SUBMIT_MS, &msg, &h, &b);
    int result = -1;
    if (rc == 0 && b.type == RB_T_INFO) {
        result = rb_info_num (&b, "applied") && !rb_info_num (&b, "left");
        *seq = rb_info_num (&b, "seq");
    }
    rb_body_release (&b);
    zmsg_destroy (&msg);
    return result;
}

/*  A latest-only answer after the kill (asked at asked), counted. */
static void
s_latest_after_kill (world_t *w, int status, uint64_t seq, int64_t asked)
{
    int64_t now = rb_clock_ms ();
    if (now - asked > w->slowest)
        w->slowest = now - asked;
    if (status != RB_ANS_OK) {
        w->latest_bad++, w->last_bad = now, w->back = 0;
        return;
    }
    if (!w->back && asked >= w->last_bad)
        w->back = now;
    if (!w->first_ok)
        w->first_ok = now;
    if (!w->fresh && seq > w->kill_seq)
        w->fresh = now;
}

/*  A GET of key k from a terminal; what it answered, counted.  */
static void
s_read (world_t *w, rb_term_t *t, const char *key, int k, bool latest)
{
    uint64_t acked = w->ledger->last[k], seq = 0;
    int64_t asked = rb_clock_ms ();
    int status = rb_term_get (t, key, GET_MS, &seq);
    bool answered = status == RB_ANS_OK || status == RB_ANS_NOT_FOUND;
    if (latest && answered && seq < acked)
        w->stale_answers++;
    if (!w->killed) /* not found: a key not written yet */
        ck_assert_msg (answered, "%s answered %s before the kill", key,
                       rb_answer_name (status));
    else if (!latest)
        status == RB_ANS_STALE ? w->stale_stale++
                               : (w->stale_na += status != RB_ANS_OK);
    else
        s_latest_after_kill (w, status, seq, asked);
}

/*  One order to key k, then a GET of it and of one of the keys written
    while the replicas are cut off, from each service.  */
static void
s_step (void *side, int k)
{
    world_t *w = (world_t *) side;
    char key[16], value[32];
    snprintf (key, sizeof key, "k%d", k);
    snprintf (value, sizeof value, "v%" PRIu64, w->n + 1);
    uint64_t seq = 0;
    int rc = s_submit (w, key, value, &seq);
    w->n++;
    if (rc == 1)
        s_acked (w->ledger, k, seq);
    if (rc == 1 && w->killed && !w->applied)
        w->applied = rb_clock_ms ();
    if (rc != 1 && w->killed)
        rc == 0 ? w->pending++ : w->unanswered++;
    s_read (w, &w->latest, key, k, true);
    s_read (w, &w->stale, key, k, false);
    k = KEYS + (int) (w->n % AT_RISK);
    snprintf (key, sizeof key, "k%d", k);
    s_read (w, &w->latest, key, k, true);
    s_read (w, &w->stale, key, k, false);
}

/*  Whether the DB says normal at an epoch above the first; its epoch
    into *epoch.  */
static bool
s_db_normal (world_t *w, uint64_t *epoch)
{
    return rb_tnode_db_normal (&w->writer, epoch) && *epoch > 1;
}

/*  After the kill: load until the DB is normal at a new epoch and
    latest-only answers ok with an order given after the kill, then
    AFTER_MS more; or until NORMAL_MS after the kill (the ops node's log
    is kept then).  */
static void
s_after_kill (world_t *w)
{
    int64_t deadline = w->killed + NORMAL_MS, looked = 0;
    while (!w->normal || !w->back || !w->fresh) {
        if (rb_clock_ms () >= deadline) {
            char *log = rb_proc_stdout (s_pc->ops);
            size_t len = strlen (log);
            w->ops_log = strdup (log + (len > 1500 ? len - 1500 : 0));
            free (log);
            return;
        }
        s_step (w, (int) (w->n % KEYS));
        if (!w->normal && rb_clock_ms () - looked >= 100) {
            looked = rb_clock_ms ();
            if (s_db_normal (w, &w->epoch))
                w->normal = rb_clock_ms ();
        }
    }
    int64_t until = rb_clock_ms () + AFTER_MS;
    while (rb_clock_ms () < until)
        s_step (w, (int) (w->n % KEYS));
}

/*  Every key read back through the latest-only service and from the DB
    (from Redis: a service's cache may still hold what Redis lost); the
    lower seq of the two counts.  */
static void
s_read_back (world_t *w)
{
    uint64_t read[ALL_KEYS] = {0};
    for (int k = 0; k < ALL_KEYS; k++) {
        char key[16];
        snprintf (key, sizeof key, "k%d", k);
        if (rb_term_get (&w->latest, key, GET_MS, &read[k]) != RB_ANS_OK)
            read[k] = 0;
        rb_got_t g = rb_tnode_get (&w->writer, key);
        uint64_t db = g.rc == 0 && g.found && !g.recovering ? g.seq : 0;
        if (db < read[k])
            read[k] = db;
    }
    w->lost = s_lost (w->ledger, read);
}

static void
s_start_recobus (world_t *w)
{
    s_start_set ();
    rb_pcluster_opts_t o = {
        .bin_dir = RECOBUS_BINARY_DIR,
        .redis = rb_redis_address (rb_sentinels_master (s_set)),
        .sentinels = rb_sentinels_list (s_set),
        .master_name = MASTER,
        .db2 = true,
        .ops_node = true,
        .services = {{"svc-latest", "latest-only"}, {"svc-stale", "stale-ok"}}};
    s_pc = rb_pcluster_new (&o);
    ck_assert_ptr_nonnull (s_pc);
    rb_tnode_start (&w->writer, s_pc->c, RB_ROLE_OPS, "ha-writer");
    rb_tnode_wait_db (&w->writer);
    rb_term_open (&w->latest, s_pc->svc_ep[0]);
    rb_term_open (&w->stale, s_pc->svc_ep[1]);
}

/*  recobus from start to end, everything stopped after.  */
static void
s_recobus (world_t *w)
{
    s_start_recobus (w);
    w->at_risk = s_run_to_kill (s_step, w, w->ledger, &w->killed);
    w->kill_seq = w->ledger->seq[w->ledger->n - 1];
    w->last_bad = w->killed;
    s_after_kill (w);
    s_read_back (w);
    ck_assert_int_eq (rb_status_num (w->writer.bus, RB_ADDR_NODE, "ops-serve",
                                     "recovery.runs", 5000, 0, &w->runs),
                      0);
    rb_term_close (&w->latest);
    rb_term_close (&w->stale);
    rb_tnode_stop (&w->writer);
    ck_assert_int_eq (rb_pcluster_stop (&s_pc), 0);
    rb_sentinels_stop (&s_set);
}

/*  --- the scenario ------------------------------------------------------- */

/*  ms from killed to at, or -1 when at never came. */
static int
s_ms (int64_t at, int64_t killed)
{
    return at ? (int) (at - killed) : -1;
}

static void
s_print (const base_t *b, const world_t *w)
{
    fprintf (stderr,
             "ha: baseline (SET to the master): %d writes acknowledged, %d "
             "while the replicas were cut off, %d lost; writes acknowledged "
             "again %d ms after the kill\n",
             b->ledger->n, b->at_risk, b->lost, s_ms (b->back, b->killed));
    fprintf (stderr,
             "ha: recobus: %d orders acknowledged, %d while the replicas were "
             "cut off, %d lost, %d stale latest-only answers; after the kill: "
             "latest-only first ok in %d ms, ok again (after the last not ok) "
             "in %d ms, %d answers not ok, slowest %d ms, a new order read "
             "in %d ms; stale-ok %d stale and %d not answered; orders "
             "applied again in %d ms (%d pending, %d unanswered); DB normal "
             "at epoch %d in %d ms\n",
             w->ledger->n, w->at_risk, w->lost, w->stale_answers,
             s_ms (w->first_ok, w->killed), s_ms (w->back, w->killed),
             w->latest_bad, (int) w->slowest, s_ms (w->fresh, w->killed),
             w->stale_stale, w->stale_na, s_ms (w->applied, w->killed),
             w->pending, w->unanswered, (int) w->epoch,
             s_ms (w->normal, w->killed));
}

START_TEST (ha_master_killed_loses_no_acknowledged_order)
{
    base_t *b = (base_t *) calloc (1, sizeof *b);
    world_t *w = (world_t *) calloc (1, sizeof *w);
    ck_assert (b && w);
    b->ledger = (ledger_t *) calloc (1, sizeof *b->ledger);
    w->ledger = (ledger_t *) calloc (1, sizeof *w->ledger);
    ck_assert (b->ledger && w->ledger);
    s_baseline (b);
    s_recobus (w);
    s_print (b, w);
    ck_assert_int_eq (b->at_risk, AT_RISK);
    ck_assert_int_gt (b->lost, 0); /* the failover did lose writes */
    ck_assert_int_eq (w->at_risk, AT_RISK);
    ck_assert_msg (w->lost == 0 && w->stale_answers == 0,
                   "%d acknowledged orders lost, %d stale latest-only answers",
                   w->lost, w->stale_answers);
    ck_assert_msg (w->normal && w->fresh && w->runs >= 1,
                   "the DB not normal at a new epoch (or no new order read "
                   "ok) %d ms after the kill; %d recovery runs; the ops node "
                   "said:\n%s",
                   NORMAL_MS, (int) w->runs, w->ops_log);
    free (w->ops_log);
    free (b->ledger);
    free (w->ledger);
    free (b);
    free (w);
}
END_TEST

int
main (void)
{
    Suite *s = suite_create ("ha");
    TCase *tc = tcase_create ("sentinel");
    tcase_set_timeout (tc, 150);
    tcase_add_checked_fixture (tc, NULL, s_teardown);
    tcase_add_test (tc, ha_master_killed_loses_no_acknowledged_order);
    suite_add_tcase (s, tc);
    return rb_test_run (s);
}
