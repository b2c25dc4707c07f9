/*  test_dbcluster: recobus on a Redis Cluster (docs/operations.md,
    "Redis Cluster"), the whole product as real processes: a 3-master +
    3-replica cluster (rb_rediscluster), recobus-broker, recobus-db with
    --redis-cluster, the ops node (recobus-ops serve, auto-recover on), a
    latest-only and a stale-ok recobus-service. A writer of role ops
    sends its orders to the ops node (SUBMIT, as the command line does);
    terminals GET keys from both services after each order.

    1. Live resharding: thousands of slots move from one master to
       another (redis-cli --cluster reshard), then some back, while the
       orders and GETs go on and a backup taken before is restored, so
       that the ops node's recovery runs during the move too.
    2. A master's failover inside the cluster: its replica is stopped and
       cut off for a few acknowledged orders of its slots, then the master
       is killed with SIGKILL, and the replica, which lacks them, is
       promoted.

    Asserted in both: no latest-only answer older than the order
    acknowledged for its key before the GET was sent (an answer at the
    order acknowledged just before, its UPDATE overtaken by the GET, is
    "late": counted apart, docs/faults.md), no acknowledged order lost
    (each key read back from the DB at the end), the DB normal at the end
    (at a new epoch after the failover, within NORMAL_MS). The figures
    of each run are printed.  */
#include <check.h>
#include <czmq.h>
#include <poll.h>
#include <signal.h>

#include "rb_msg.h"
#include "rb_parts.h"
#include "rb_pcluster.h"
#include "rb_testing.h"
#include "rb_tnode.h"

#define MASTERS    3
#define KEYS_MAX   4096
#define LEDGER_MAX 100000
#define GET_MS     8000  /* a GET's deadline (max-wait is 5 s) */
#define SUBMIT_MS  5000  /* an order's deadline */
#define LOAD_MS    20000 /* a batch of the load's */
#define NORMAL_MS  20000 /* the DB is normal again within this */
#define WAIT_MS    10000 /* a replica catches up, the cluster settles */
#define LOOK_MS    10    /* between two looks at a condition */

/*  Live resharding */
#define LOADED     3000 /* r0..r2999, loaded before the reshard */
#define LOAD_BATCH 500
#define WORKING    64   /* k0..k63: written and read all along */
#define MOVED      4000 /* slots from master 0 to master 1 */
#define MOVED_BACK 1000 /* then from master 1 to master 0 */
#define RESHARD_MS 60000
#define RESTORE_AT 500 /* ms into the first reshard */

/*  Failover */
#define KEYS 16 /* k0..k15, written before and after the kill */
#define AT_RISK                                                                \
    16           /* f..: of the victim's slots, written once while its         \
                    replica is cut off, never after (read all along) */
#define VICTIM 0 /* the master killed */

static rb_pcluster_t *s_pc;

static void
s_teardown (void)
{
    rb_pcluster_stop (&s_pc);
}

/*  --- the world: keys, orders acknowledged, answers counted ------------ */

typedef struct {
    rb_tnode_t writer;           /* role ops: SUBMITs to the ops node */
    rb_term_t latest, stale;     /* terminals of the two services */
    char name[KEYS_MAX][16];     /* key i's name */
    int keys;                    /* named so far */
    uint64_t last[KEYS_MAX];     /* each key's last acknowledged seq */
    uint64_t prev[KEYS_MAX];     /* and the one before */
    uint64_t acked_at[KEYS_MAX]; /* the order number of last */
    uint64_t newest[KEYS_MAX];   /* the newest seq journaled (acknowledged
                                    or pending) */
    uint64_t value[KEYS_MAX];    /* the order number in newest's value */
    int lkey[LEDGER_MAX];        /* every order journaled: key, seq */
    uint64_t lseq[LEDGER_MAX];
    bool lacked[LEDGER_MAX];         /* acknowledged (else pending) */
    int journaled, acked;            /* in the ledger; acknowledged */
    uint64_t n;                      /* orders sent */
    int pending, unanswered;         /* orders journaled not applied; none */
    int answers, stale_answers;      /* latest-only, and those stale */
    int late;                        /* at prev: the ACK/UPDATE window */
    int unavailable;                 /* latest-only neither ok nor found */
    int stale_ok_stale, stale_ok_na; /* stale-ok flagged stale; no answer */
    int lost;                        /* acknowledged, not read back */
    int pending_lost;                /* pending, not there after a sync */
    int wrong_value;                 /* read at last, another value */
} world_t;

static world_t *
s_world_new (void)
{
    world_t *w = (world_t *) calloc (1, sizeof *w);
    ck_assert_ptr_nonnull (w);
    return w;
}

/*  Names key i (prefix and number); its index.  */
static int
s_name (world_t *w, const char *prefix, int number)
{
    ck_assert_int_lt (w->keys, KEYS_MAX);
    snprintf (w->name[w->keys], sizeof w->name[0], "%s%d", prefix, number);
    return w->keys++;
}

/*  An order journaled (its seq known), acknowledged or pending. */
static void
s_journaled (world_t *w, int k, uint64_t seq, uint64_t order, bool acked)
{
    ck_assert_int_lt (w->journaled, LEDGER_MAX);
    w->lkey[w->journaled] = k;
    w->lacked[w->journaled] = acked;
    w->lseq[w->journaled++] = seq;
    w->newest[k] = seq;
    w->value[k] = order;
    if (!acked)
        return;
    w->acked++;
    w->prev[k] = w->last[k];
    w->last[k] = seq;
    w->acked_at[k] = order;
}

/*  One SUBMIT of an order to each of the count keys k[] (values
    "n<order number>"), as recobus-ops put sends it: 1 applied (each
    acknowledged into the ledger), 0 journaled but pending, -1 no
    answer.  */
static int
s_submit (world_t *w, const int *k, int count, int timeout_ms)
{
    rb_order_t o[LOAD_BATCH];
    char values[LOAD_BATCH][24];
    ck_assert_int_le (count, LOAD_BATCH);
    for (int i = 0; i < count; i++) {
        snprintf (values[i], sizeof values[i], "n%" PRIu64, w->n + 1 + i);
        o[i] = (rb_order_t){.key = rb_str (w->name[k[i]]),
                            .op = RB_OP_PUT,
                            .has_value = true,
                            .value = rb_str (values[i])};
    }
    char rid[40];
    snprintf (rid, sizeof rid, "%016x%016" PRIx64, 0xdbc1, w->n);
    rb_body_t req, b;
    rb_body_init (&req, RB_T_SUBMIT);
    req.text = rb_str (rid);
    req.orders = o;
    req.n_orders = (uint32_t) count;
    rb_body_init (&b, RB_T_NONE);
    zmsg_t *msg = NULL;
    rb_header_t h;
    int rc = rb_bus_call (w->writer.bus, RB_ADDR_SERVICE, "ops", &req,
                          timeout_ms, &msg, &h, &b);
    int result = -1;
    if (rc == 0 && b.type == RB_T_INFO)
        result = rb_info_num (&b, "applied") && !rb_info_num (&b, "left");
    for (int i = 0; result >= 0 && rb_info_num (&b, "seq") && i < count; i++)
        s_journaled (w, k[i], rb_info_num (&b, "seq") + (uint64_t) i,
                     w->n + 1 + i, result == 1);
    w->n += (uint64_t) count;
    rb_body_release (&b);
    zmsg_destroy (&msg);
    return result;
}

/*  A GET of key k from a terminal, its answer counted against what was
    acknowledged before it was sent.  */
static void
s_read (world_t *w, rb_term_t *t, int k, bool latest)
{
    uint64_t acked = w->last[k], prev = w->prev[k], seq = 0;
    bool just = w->acked_at[k] == w->n; /* by the order just sent */
    int status = rb_term_get (t, w->name[k], GET_MS, &seq);
    bool answered = status == RB_ANS_OK || status == RB_ANS_NOT_FOUND;
    if (!latest) {
        w->stale_ok_stale += status == RB_ANS_STALE;
        w->stale_ok_na += !answered && status != RB_ANS_STALE;
        return;
    }
    w->answers++;
    w->unavailable += !answered;
    if (answered && seq < acked)
        just &&seq >= prev ? w->late++ : w->stale_answers++;
}

/*  One order to key k, then a GET of it and of key other from each
    service.  */
static void
s_step (world_t *w, int k, int other)
{
    int rc = s_submit (w, &k, 1, SUBMIT_MS);
    if (rc != 1)
        rc == 0 ? w->pending++ : w->unanswered++;
    s_read (w, &w->latest, k, true);
    s_read (w, &w->stale, k, false);
    s_read (w, &w->latest, other, true);
    s_read (w, &w->stale, other, false);
}

/*  The DB's state is normal (at an epoch above 1 with new_epoch); its
    epoch into *epoch.  */
static bool
s_db_normal (world_t *w, bool new_epoch, uint64_t *epoch)
{
    return rb_tnode_db_normal (&w->writer, epoch) && (!new_epoch || *epoch > 1);
}

/*  The ops node's numeric STATUS item name.  */
static uint64_t
s_ops_num (world_t *w, const char *name)
{
    uint64_t v = 0;
    ck_assert_int_eq (rb_status_num (w->writer.bus, RB_ADDR_NODE, "ops-serve",
                                     name, 5000, 0, &v),
                      0);
    return v;
}

/*  A sync (SUBMIT without orders): the ops node re-sends what is
    pending, and answers once nothing is; within NORMAL_MS.  */
static void
s_sync (world_t *w)
{
    int64_t deadline = rb_clock_ms () + NORMAL_MS;
    for (;;) {
        rb_body_t req, b;
        rb_body_init (&req, RB_T_SUBMIT);
        char rid[40];
        snprintf (rid, sizeof rid, "%016x%016" PRIx64, 0x5c, w->n++);
        req.text = rb_str (rid);
        rb_body_init (&b, RB_T_NONE);
        zmsg_t *msg = NULL;
        rb_header_t h;
        int rc = rb_bus_call (w->writer.bus, RB_ADDR_SERVICE, "ops", &req,
                              SUBMIT_MS, &msg, &h, &b);
        bool done =
            rc == 0 && b.type == RB_T_INFO && !rb_info_num (&b, "pending");
        rb_body_release (&b);
        zmsg_destroy (&msg);
        if (done)
            return;
        ck_assert_msg (rb_clock_ms () < deadline,
                       "orders still pending %d ms after the DB was normal",
                       NORMAL_MS);
    }
}

/*  Every key read back from the DB (a GET of role ops, straight to the
    DB node) after a sync: each order journaled with a seq above what it
    holds is lost (acknowledged) or pending_lost; a key read at its
    newest seq must hold its value.  */
static void
s_read_back (world_t *w)
{
    static uint64_t read[KEYS_MAX];
    s_sync (w);
    for (int k = 0; k < w->keys; k++) {
        rb_got_t g = rb_tnode_get (&w->writer, w->name[k]);
        read[k] = g.rc == 0 && g.found && !g.recovering ? g.seq : 0;
        char want[24];
        snprintf (want, sizeof want, "n%" PRIu64, w->value[k]);
        w->wrong_value +=
            read[k] == w->newest[k] && w->newest[k] && strcmp (g.value, want);
    }
    w->lost = w->pending_lost = 0;
    for (int i = 0; i < w->journaled; i++)
        if (w->lseq[i] > read[w->lkey[i]])
            w->lacked[i] ? w->lost++ : w->pending_lost++;
}

static void
s_start (world_t *w)
{
    rb_pcluster_opts_t o = {
        .bin_dir = RECOBUS_BINARY_DIR,
        .redis_masters = MASTERS,
        .ops_node = true,
        .services = {{"svc-latest", "latest-only"}, {"svc-stale", "stale-ok"}}};
    s_pc = rb_pcluster_new (&o);
    ck_assert_ptr_nonnull (s_pc);
    ck_assert_ptr_nonnull (s_pc->c->rcluster);
    rb_tnode_start (&w->writer, s_pc->c, RB_ROLE_OPS, "dbc-writer");
    rb_tnode_wait_db (&w->writer);
    rb_term_open (&w->latest, s_pc->svc_ep[0]);
    rb_term_open (&w->stale, s_pc->svc_ep[1]);
}

/*  Everything stopped: every daemon must exit 0.  */
static void
s_stop (world_t *w)
{
    rb_term_close (&w->latest);
    rb_term_close (&w->stale);
    rb_tnode_stop (&w->writer);
    ck_assert_int_eq (rb_pcluster_stop (&s_pc), 0);
    free (w);
}

/*  The asserts both tests make, on what the world counted.  */
static void
s_expect_nothing_lost (world_t *w)
{
    ck_assert_msg (w->stale_answers == 0,
                   "%d stale latest-only answers (of %d)", w->stale_answers,
                   w->answers);
    ck_assert_msg (w->lost == 0 && w->pending_lost == 0 && w->wrong_value == 0,
                   "%d acknowledged orders lost, %d pending ones, %d keys "
                   "with another value",
                   w->lost, w->pending_lost, w->wrong_value);
}

/*  --- the Redis Cluster ------------------------------------------------ */

/*  Slots node i is master of, as node i's CLUSTER SLOTS says.  */
static int
s_slots_of (int i)
{
    rb_rcluster_t *rc = s_pc->c->rcluster;
    redisReply *r = rb_rcluster_cmd (rc, i, "CLUSTER SLOTS");
    int slots = 0;
    for (size_t e = 0; r && r->type == REDIS_REPLY_ARRAY && e < r->elements;
         e++) {
        redisReply *range = r->element[e];
        if (range->type == REDIS_REPLY_ARRAY && range->elements >= 3 &&
            range->element[2]->type == REDIS_REPLY_ARRAY &&
            range->element[2]->elements >= 2 &&
            range->element[2]->element[1]->integer == rb_rcluster_port (rc, i))
            slots += (int) (range->element[1]->integer -
                            range->element[0]->integer + 1);
    }
    freeReplyObject (r);
    return slots;
}

/*  The node a key's partition lives on now.  */
static int
s_key_owner (const char *key)
{
    int p = rb_part_of (RB_PARTS_CLUSTER, key, strlen (key));
    return rb_rcluster_slot_owner (s_pc->c->rcluster, rb_part_slot (p));
}

/*  --- 1. live resharding ------------------------------------------------ */

typedef struct {
    int moved, moved_back; /* slots master 1 gained, then gave back */
    int64_t reshard_ms[2]; /* each reshard's time */
    int steps_moving;      /* orders sent while slots moved */
    bool restored;         /* the restore answered while slots moved */
    int64_t restored_at;   /* when it was sent */
    uint64_t backup_records, backup_watermark;
    uint64_t epoch, runs; /* the DB's at the end; recoveries run */
    int64_t normal_ms;    /* from the restore to the DB normal again */
    int64_t looked;       /* the DB's state last looked at */
} reshard_t;

/*  LOADED keys r<i> in batches, then a few rounds of orders over the
    working set.  */
static void
s_load (world_t *w)
{
    for (int i = 0; i < WORKING; i++)
        s_name (w, "k", i);
    int batch[LOAD_BATCH];
    for (int i = 0; i < LOADED; i += LOAD_BATCH) {
        for (int j = 0; j < LOAD_BATCH; j++)
            batch[j] = s_name (w, "r", i + j);
        ck_assert_int_eq (s_submit (w, batch, LOAD_BATCH, LOAD_MS), 1);
    }
    for (int i = 0; i < 2 * WORKING; i++)
        s_step (w, i % WORKING, WORKING + i * 7 % LOADED);
    ck_assert_int_eq (w->stale_answers, 0);
}

/*  A RESTORE of the backup at path: the DB recovering at a new epoch,
    and the ops node recovering it by itself.  */
static void
s_restore (world_t *w, const char *path, reshard_t *rs)
{
    rb_reply_t r;
    ck_assert_int_eq (rb_tnode_restore (&w->writer, path, &r), 0);
    ck_assert_msg (r.b.type == RB_T_RESTORED, "restore: %.*s",
                   (int) r.b.text.len, r.b.text.ptr);
    ck_assert_uint_eq (r.b.records, rs->backup_records);
    rb_reply_done (&r);
}

/*  After the restore: whether the DB is normal again at a new epoch,
    looked at every 100 ms; when it first was into rs->normal_ms.  */
static void
s_watch_normal (world_t *w, reshard_t *rs)
{
    if (!rs->restored_at || rs->normal_ms || rb_clock_ms () - rs->looked < 100)
        return;
    rs->looked = rb_clock_ms ();
    if (s_db_normal (w, true, &rs->epoch))
        rs->normal_ms = rb_clock_ms () - rs->restored_at;
}

/*  One reshard of slots from master from to master to, orders and GETs
    all along; restore (when not NULL) once it has run RESTORE_AT ms.  */
static void
s_reshard (world_t *w, reshard_t *rs, int from, int to, int slots,
           const char *restore, int64_t *took)
{
    rb_proc_t *p =
        rb_rcluster_reshard_start (s_pc->c->rcluster, from, to, slots);
    ck_assert_ptr_nonnull (p);
    int64_t start = rb_clock_ms ();
    while (rb_proc_wait (p, 0) == -1) {
        ck_assert_msg (rb_clock_ms () - start < RESHARD_MS,
                       "the reshard still runs after %d ms", RESHARD_MS);
        int k = (int) (w->n % WORKING);
        s_step (w, k, (k * 13 + 5) % WORKING);
        rs->steps_moving++;
        s_watch_normal (w, rs);
        if (restore && rb_clock_ms () - start >= RESTORE_AT) {
            rs->restored_at = rb_clock_ms ();
            s_restore (w, restore, rs);
            rs->restored = rb_proc_wait (p, 0) == -1;
            restore = NULL;
        }
    }
    *took = rb_clock_ms () - start;
    ck_assert_int_eq (rb_proc_wait (p, 0), 0);
    rb_proc_destroy (&p);
}

/*  Orders and GETs until the DB is normal, the recovery ran, and the
    cluster is stable.  */
static void
s_settle (world_t *w, reshard_t *rs)
{
    int64_t deadline = rb_clock_ms () + NORMAL_MS;
    while (!s_db_normal (w, true, &rs->epoch)) {
        ck_assert_msg (rb_clock_ms () < deadline,
                       "the DB not normal %d ms after the reshards", NORMAL_MS);
        int k = (int) (w->n % WORKING);
        s_step (w, k, (k * 5 + 3) % WORKING);
    }
    if (!rs->normal_ms)
        rs->normal_ms = rb_clock_ms () - rs->restored_at;
    rs->runs = s_ops_num (w, "recovery.runs");
    ck_assert_int_eq (rb_rcluster_wait_stable (s_pc->c->rcluster, WAIT_MS), 0);
}

static void
s_print_reshard (const world_t *w, const reshard_t *rs)
{
    fprintf (stderr,
             "dbcluster reshard: %d keys, %d orders acknowledged (%d "
             "pending, %d lost of those, %d unanswered), %d sent while slots "
             "moved; %d slots "
             "moved in %d ms, %d back in %d ms; a backup of %" PRIu64
             " records restored %s; DB normal at epoch %" PRIu64
             " %d ms after the restore, %" PRIu64
             " recovery runs; latest-only: %d answers, %d unavailable, "
             "%d stale, %d late; stale-ok: %d stale, %d not answered; %d "
             "lost, %d wrong values\n",
             w->keys, w->acked, w->pending, w->pending_lost, w->unanswered,
             rs->steps_moving, rs->moved, (int) rs->reshard_ms[0],
             rs->moved_back, (int) rs->reshard_ms[1], rs->backup_records,
             rs->restored ? "while slots moved" : "after the reshard",
             rs->epoch, (int) rs->normal_ms, rs->runs, w->answers,
             w->unavailable, w->stale_answers, w->late, w->stale_ok_stale,
             w->stale_ok_na, w->lost, w->wrong_value);
}

START_TEST (dbcluster_reshard_under_orders_reads_and_a_recovery)
{
    world_t *w = s_world_new ();
    reshard_t rs = {0};
    s_start (w);
    s_load (w);
    char *path =
        rb_tnode_backup (&w->writer, &rs.backup_records, &rs.backup_watermark);
    for (int i = 0; i < WORKING; i++) /* the window the restore loses */
        s_step (w, i, WORKING + i);
    int before = s_slots_of (1);
    s_reshard (w, &rs, 0, 1, MOVED, path, &rs.reshard_ms[0]);
    ck_assert_int_eq (rb_rcluster_wait_stable (s_pc->c->rcluster, WAIT_MS), 0);
    rs.moved = s_slots_of (1) - before;
    s_reshard (w, &rs, 1, 0, MOVED_BACK, NULL, &rs.reshard_ms[1]);
    ck_assert_int_eq (rb_rcluster_wait_stable (s_pc->c->rcluster, WAIT_MS), 0);
    rs.moved_back = before + rs.moved - s_slots_of (1);
    s_settle (w, &rs);
    s_read_back (w);
    s_print_reshard (w, &rs);
    free (path);
    ck_assert_int_eq (rs.moved, MOVED);
    ck_assert_int_eq (rs.moved_back, MOVED_BACK);
    ck_assert_msg (rs.restored, "the restore was not answered while slots "
                                "moved: make the reshard longer");
    ck_assert_uint_ge (rs.runs, 1);
    s_expect_nothing_lost (w);
    s_stop (w);
}
END_TEST

/*  --- 2. a master's failover -------------------------------------------- */

typedef struct {
    int replica;               /* the victim's replica, promoted */
    int at_risk;               /* orders acknowledged while it was cut off */
    long long cut_offset;      /* its replication offset at the cut */
    long long promoted_offset; /* and when it went on after the kill */
    long long master_offset;   /* the victim's at the kill */
    int64_t killed;            /* when */
    int64_t promoted;          /* the replica master of the victim's slots */
    int64_t normal;            /* the DB normal at a new epoch */
    int64_t fresh;             /* a latest-only GET ok after it */
    uint64_t epoch, runs;
    bool db_restarted; /* db-1 killed with the victim, started again once
                          the replica was promoted: it remembers no
                          acknowledged watermark, so only the replication
                          id can tell it the replica may lack writes */
} failover_t;

/*  The number after field in node i's INFO replication, or -1.  */
static long long
s_repl_num (int i, const char *field)
{
    redisReply *r = rb_rcluster_cmd (s_pc->c->rcluster, i, "INFO replication");
    const char *at =
        r && r->type == REDIS_REPLY_STRING ? strstr (r->str, field) : NULL;
    long long v = at ? strtoll (at + strlen (field), NULL, 10) : -1;
    freeReplyObject (r);
    return v;
}

/*  The node that is a replica of master m (ROLE: slave, host, port).  */
static int
s_replica_of (int m)
{
    rb_rcluster_t *rc = s_pc->c->rcluster;
    for (int i = 0; i < rb_rcluster_count (rc); i++) {
        redisReply *r = rb_rcluster_cmd (rc, i, "ROLE");
        bool of = r && r->type == REDIS_REPLY_ARRAY && r->elements >= 3 &&
                  r->element[0]->type == REDIS_REPLY_STRING &&
                  streq (r->element[0]->str, "slave") &&
                  r->element[2]->integer == rb_rcluster_port (rc, m);
        freeReplyObject (r);
        if (of)
            return i;
    }
    ck_abort_msg ("master %d has no replica", m);
    return -1;
}

/*  Names k0..k15, then AT_RISK keys f<i> whose partition is on the
    victim.  */
static void
s_failover_keys (world_t *w)
{
    for (int i = 0; i < KEYS; i++)
        s_name (w, "k", i);
    for (int i = 0; w->keys < KEYS + AT_RISK; i++) {
        char key[16];
        snprintf (key, sizeof key, "f%d", i);
        if (s_key_owner (key) == VICTIM)
            s_name (w, "f", i);
    }
}

/*  Waits until the replica has all its master wrote so far.  */
static void
s_wait_replicated (int replica)
{
    long long want = s_repl_num (VICTIM, "master_repl_offset:");
    int64_t deadline = rb_clock_ms () + WAIT_MS;
    while (s_repl_num (replica, "master_repl_offset:") < want) {
        ck_assert_msg (rb_clock_ms () < deadline, "replica never caught up");
        poll (NULL, 0, LOOK_MS);
    }
}

/*  The replica stopped and its link cut, AT_RISK orders acknowledged
    that only the victim holds, the victim killed and the replica
    resumed: the cluster promotes a replica that lacks them.  */
static void
s_cut_and_kill (world_t *w, failover_t *f)
{
    rb_rcluster_t *rc = s_pc->c->rcluster;
    s_wait_replicated (f->replica);
    f->cut_offset = s_repl_num (f->replica, "master_repl_offset:");
    ck_assert_int_eq (kill (rb_rcluster_pid (rc, f->replica), SIGSTOP), 0);
    freeReplyObject (rb_rcluster_cmd (rc, VICTIM, "CLIENT KILL TYPE replica"));
    int before = w->acked;
    for (int i = 0; i < AT_RISK; i++)
        s_step (w, KEYS + i, i % KEYS);
    f->at_risk = w->acked - before;
    f->master_offset = s_repl_num (VICTIM, "master_repl_offset:");
    if (f->db_restarted)
        ck_assert_int_eq (rb_proc_kill (s_pc->db, SIGKILL), 0);
    rb_rcluster_kill (rc, VICTIM);
    f->killed = rb_clock_ms ();
    ck_assert_int_eq (kill (rb_rcluster_pid (rc, f->replica), SIGCONT), 0);
    f->promoted_offset = s_repl_num (f->replica, "master_repl_offset:");
    if (f->db_restarted) {
        ck_assert_int_eq (rb_rcluster_wait_stable (rc, NORMAL_MS), 0);
        ck_assert_int_eq (rb_pcluster_db_restart (s_pc, 0), 0);
    }
}

/*  Orders and GETs until the DB is normal at a new epoch and a
    latest-only GET answered ok after that, within NORMAL_MS of the
    kill; the replica's promotion noted on the way.  */
static void
s_after_kill (world_t *w, failover_t *f)
{
    int64_t deadline = f->killed + NORMAL_MS, looked = 0;
    while (!f->normal || !f->fresh) {
        ck_assert_msg (rb_clock_ms () < deadline,
                       "the DB not normal at a new epoch %d ms after the "
                       "kill (promoted after %d ms)",
                       NORMAL_MS,
                       f->promoted ? (int) (f->promoted - f->killed) : -1);
        int k = (int) (w->n % KEYS), unavailable = w->unavailable;
        s_step (w, k, KEYS + (int) (w->n % AT_RISK));
        if (f->normal && w->unavailable == unavailable)
            f->fresh = rb_clock_ms ();
        if (rb_clock_ms () - looked < 100)
            continue;
        looked = rb_clock_ms ();
        if (!f->promoted &&
            rb_rcluster_is_master (s_pc->c->rcluster, f->replica))
            f->promoted = looked;
        if (!f->normal && s_db_normal (w, true, &f->epoch))
            f->normal = rb_clock_ms ();
    }
    f->runs = s_ops_num (w, "recovery.runs");
    ck_assert_int_eq (rb_rcluster_wait_stable (s_pc->c->rcluster, WAIT_MS), 0);
}

static void
s_print_failover (const world_t *w, const failover_t *f)
{
    fprintf (stderr,
             "dbcluster failover: %d orders acknowledged (%d pending, %d "
             "lost of those, %d unanswered), %d while the replica was cut off "
             "(it was %lld "
             "bytes behind at the kill: %s); replica master after %d ms, "
             "DB normal at epoch %" PRIu64 " after %d ms, %" PRIu64
             " recovery runs; latest-only: %d answers, %d unavailable, %d "
             "stale, %d late; stale-ok: %d stale, %d not answered; %d lost, "
             "%d wrong values\n",
             w->acked, w->pending, w->pending_lost, w->unanswered, f->at_risk,
             f->master_offset - f->promoted_offset,
             f->promoted_offset == f->cut_offset ? "it lacked them"
                                                 : "it had moved on",
             f->promoted ? (int) (f->promoted - f->killed) : -1, f->epoch,
             (int) (f->normal - f->killed), f->runs, w->answers, w->unavailable,
             w->stale_answers, w->late, w->stale_ok_stale, w->stale_ok_na,
             w->lost, w->wrong_value);
}

/*  The failover, seen by db-1 as it was (it knows the watermarks it
    acknowledged), or by db-1 started again after it (it knows none).  */
static void
s_failover (bool db_restarted)
{
    world_t *w = s_world_new ();
    failover_t f = {0};
    f.db_restarted = db_restarted;
    s_start (w);
    ck_assert (rb_rcluster_is_master (s_pc->c->rcluster, VICTIM));
    f.replica = s_replica_of (VICTIM);
    s_failover_keys (w);
    for (int i = 0; i < 2 * (KEYS + AT_RISK); i++)
        s_step (w, i % (KEYS + AT_RISK), KEYS + i % AT_RISK);
    ck_assert_int_eq (w->stale_answers, 0);
    s_cut_and_kill (w, &f);
    s_after_kill (w, &f);
    s_read_back (w);
    s_print_failover (w, &f);
    ck_assert_int_eq (f.at_risk, AT_RISK);
    ck_assert_msg (f.master_offset > f.promoted_offset,
                   "the promoted replica lacked nothing");
    ck_assert_uint_ge (f.runs, 1);
    s_expect_nothing_lost (w);
    s_stop (w);
}

START_TEST (dbcluster_master_failover_loses_no_acknowledged_order)
{
    s_failover (false);
}
END_TEST

START_TEST (dbcluster_master_failover_seen_by_a_restarted_db_node)
{
    s_failover (true);
}
END_TEST

int
main (void)
{
    Suite *s = suite_create ("dbcluster");
    TCase *tc = tcase_create ("dbcluster");
    tcase_set_timeout (tc, 150);
    tcase_add_checked_fixture (tc, NULL, s_teardown);
    tcase_add_test (tc, dbcluster_reshard_under_orders_reads_and_a_recovery);
    tcase_add_test (tc, dbcluster_master_failover_loses_no_acknowledged_order);
    tcase_add_test (tc, dbcluster_master_failover_seen_by_a_restarted_db_node);
    suite_add_tcase (s, tc);
    return rb_test_run (s);
}
