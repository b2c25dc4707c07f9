/*  test_sentinel: a DB node whose Redis may have lost acknowledged writes
    (a failover to a replica, a restart from a snapshot) answers nothing
    from it as current: the dataset goes RECOVERING at a new epoch (one
    bump, however many DB nodes find it), and recobus-ops recover brings
    the lost orders back. The FAILOVER script alone; recobus-db on a
    restarted Redis; recobus-db following Redis Sentinels through a real
    failover; and the sentinel options' errors. Real redis-server,
    sentinels, recobus-db and recobus-ops processes.  */
#include <check.h>
#include <czmq.h>
#include <signal.h>
#include <sysexits.h>

#include "rb_failover.h"
#include "rb_otest.h"
#include "rb_sentinels.h"
#include "rb_testing.h"

#define MASTER_NAME "rbmaster"
#define N_DBS       2

static rb_sentinels_t *s_set; /* the sentinel set-up, or NULL */
static rb_proc_t *s_dbs[N_DBS];
static const char *s_db_extra[4]; /* more arguments for s_db_start */

/*  --- fixtures ------------------------------------------------------------ */

static void
s_teardown (void)
{
    for (int i = 0; i < N_DBS; i++)
        rb_proc_destroy (&s_dbs[i]);
    rb_ot_teardown ();
    rb_sentinels_stop (&s_set);
}

/*  rb_otest's world, on a Redis watched by sentinels.  */
static void
s_setup_sentinels (void)
{
    s_set = rb_sentinels_start (MASTER_NAME, 1);
    ck_assert_ptr_nonnull (s_set);
    memset (&rb_ot, 0, sizeof rb_ot);
    rb_cluster_opts_t o = {.redis =
                               rb_redis_address (rb_sentinels_master (s_set))};
    rb_ot.c = rb_fixture_cluster (&o);
    rb_tnode_start (&rb_ot.probe, rb_ot.c, RB_ROLE_OPS, "probe");
    rb_ot.dir = rb_temp_dir ("rb-failover-test");
    ck_assert_ptr_nonnull (rb_ot.dir);
    snprintf (rb_ot.journal, sizeof rb_ot.journal, "%s/ops.journal", rb_ot.dir);
}

/*  recobus-db db-N (i from 0) on the cluster's Redis, or through the
    sentinels when there are; with init, it creates the dataset first.  */
static void
s_db_start (int i, bool init)
{
    char name[16], dir[600];
    snprintf (name, sizeof name, "db-%d", i + 1);
    snprintf (dir, sizeof dir, "%s/%s", rb_ot.c->backups, name);
    const char *a[20] = {RB_OT_DB_BIN, "--broker",     rb_ot.c->bus, "--name",
                         name,         "--backup-dir", dir};
    int n = 7;
    if (s_set) {
        a[n++] = "--redis-sentinels", a[n++] = rb_sentinels_list (s_set);
        a[n++] = "--redis-master-name", a[n++] = MASTER_NAME;
    } else
        a[n++] = "--redis", a[n++] = rb_ot.c->redis_address;
    if (init)
        a[n++] = "--init";
    for (int e = 0; e < 4 && s_db_extra[e]; e++)
        a[n++] = s_db_extra[e];
    a[n] = NULL;
    s_dbs[i] = rb_proc_start ((char *const *) a, NULL);
    ck_assert_ptr_nonnull (s_dbs[i]);
    ck_assert_int_eq (rb_proc_wait_output (s_dbs[i], "serving", 10000), 0);
    rb_tnode_wait_db (&rb_ot.probe);
}

/*  A numeric STATUS item of DB node i, asked of it by name.  */
static uint64_t
s_db_num (int i, const char *item)
{
    char name[16];
    snprintf (name, sizeof name, "db-%d", i + 1);
    uint64_t v = 0;
    int64_t deadline = zclock_mono () + 10000;
    while (rb_status_num (rb_ot.probe.bus, RB_ADDR_NODE, name, item, 2000, 0,
                          &v) != 0) {
        ck_assert_msg (zclock_mono () < deadline, "%s never answered", name);
        rb_tnode_pump (&rb_ot.probe, 20);
    }
    return v;
}

/*  Asks GET key until an answer carries epoch (30 s at most). No answer
    on the way may be a stale one given as current: each is flagged, or
    at least at seq floor (the last acknowledged write of key).  */
static rb_got_t
s_get_until_epoch (const char *key, uint64_t epoch, uint64_t floor)
{
    int64_t deadline = zclock_mono () + 30000;
    while (true) {
        rb_got_t g = rb_tnode_get (&rb_ot.probe, key);
        if (g.rc == 0)
            ck_assert_msg (g.recovering || g.seq >= floor,
                           "%s answered %s at seq %d, epoch %d, unflagged: "
                           "an acknowledged write lost and not noticed",
                           key, g.value, (int) g.seq, (int) g.epoch);
        if (g.rc == 0 && g.epoch >= epoch)
            return g;
        ck_assert_msg (zclock_mono () < deadline,
                       "no answer at epoch %d (last: rc %d, epoch %d)",
                       (int) epoch, g.rc, (int) g.epoch);
        rb_tnode_pump (&rb_ot.probe, 20);
    }
}

/*  Both DB nodes at epoch 2, one transition between them, and the
    dataset (seen through the probe) recovering at epoch 2.  */
static void
s_expect_one_transition (void)
{
    int64_t deadline = zclock_mono () + 10000;
    for (int i = 0; i < N_DBS; i++)
        while (s_db_num (i, "epoch") != 2) {
            ck_assert_msg (zclock_mono () < deadline, "db-%d not at epoch 2",
                           i + 1);
            rb_tnode_pump (&rb_ot.probe, 20);
        }
    ck_assert_uint_eq (s_db_num (0, "failovers") + s_db_num (1, "failovers"),
                       1);
    char *state = rb_tnode_status_text (&rb_ot.probe, "state");
    ck_assert_str_eq (state, "recovering");
    free (state);
}

/*  recover, then key is current again: value at seq, not flagged.  */
static void
s_recover_and_expect (const char *key, const char *value, uint64_t seq)
{
    OK ("recover");
    rb_got_t g = rb_tnode_get (&rb_ot.probe, key);
    ck_assert_int_eq (g.rc, 0);
    ck_assert_str_eq (g.value, value);
    ck_assert_uint_eq (g.seq, seq);
    ck_assert (!g.recovering);
    rb_tnode_expect_state (&rb_ot.probe, "normal");
}

/*  --- the script alone ------------------------------------------------------
 */

/*  FAILOVER on partition 0 with ARGV ds, acked epoch, acked watermark,
    and other masters' replication ids (other: "" for none), parsed. */
static int
s_failover_other (const char *ds, const char *epoch, const char *wm,
                  const char *other, rb_failover_reply_t *rep)
{
    redisReply *r =
        *other ? rb_redis_cmd (rb_ot.c->redis,
                               "EVAL %s 2 rb:{0}:meta rb:{0}:stable %s %s %s %s",
                               rb_script_source (RB_SCRIPT_FAILOVER), ds, epoch,
                               wm, other)
               : rb_redis_cmd (rb_ot.c->redis,
                               "EVAL %s 2 rb:{0}:meta rb:{0}:stable %s %s %s",
                               rb_script_source (RB_SCRIPT_FAILOVER), ds, epoch,
                               wm);
    int rc = rb_failover_reply_parse (r, rep);
    freeReplyObject (r);
    return rc;
}

static int
s_failover (const char *ds, const char *epoch, const char *wm,
            rb_failover_reply_t *rep)
{
    return s_failover_other (ds, epoch, wm, "", rep);
}

static char *
s_meta (const char *field)
{
    redisReply *r = rb_redis_cmd (rb_ot.c->redis, "HGET rb:{0}:meta %s", field);
    char *v = strdup (r->type == REDIS_REPLY_STRING ? r->str : "(nil)");
    freeReplyObject (r);
    return v;
}

static void
s_expect_meta (const char *field, const char *want)
{
    char *v = s_meta (field);
    ck_assert_msg (streq (v, want), "rb:{0}:meta %s is %s, want %s", field, v,
                   want);
    free (v);
}

#define ID "0123456789abcdef0123456789abcdef"

static void
s_meta_set (const char *state, const char *replid)
{
    freeReplyObject (
        rb_redis_cmd (rb_ot.c->redis,
                      "HSET rb:{0}:meta dataset " ID
                      " state %s watermark 5 restored_watermark 2 replid %s",
                      state, replid));
}

START_TEST (failover_script_moves_the_epoch_once_per_sign_of_loss)
{
    rb_failover_reply_t rep;
    ck_assert_int_eq (s_failover ("/0", "0", "0", &rep), -1);
    ck_assert_str_eq (rep.word, "needs_restore");
    freeReplyObject (rb_redis_cmd (rb_ot.c->redis, "HSET rb:{0}:meta dataset " ID
                                                   " epoch 1 state normal "
                                                   "watermark 5"));
    /* first sight: the id is recorded, nothing else */
    ck_assert_int_eq (s_failover (ID "/1", "0", "0", &rep), 0);
    ck_assert (rep.recorded && !rep.moved && rep.epoch == 1);
    char *replid = s_meta ("replid");
    ck_assert_uint_eq (strlen (replid), 40);
    ck_assert_int_eq (s_failover (ID "/1", "1", "5", &rep), 0);
    ck_assert (!rep.recorded && !rep.moved);
    /* another server's id: one transition, the next caller follows */
    s_meta_set ("normal", "0000000000000000000000000000000000000000");
    ck_assert_int_eq (s_failover (ID "/1", "1", "5", &rep), 0);
    ck_assert (rep.moved && rep.epoch == 2);
    ck_assert_str_eq (rep.state, "recovering");
    s_expect_meta ("list_done", "0");
    s_expect_meta ("restored_watermark", "5");
    s_expect_meta ("replid", replid);
    ck_assert_int_eq (s_failover (ID "/1", "1", "5", &rep), 0);
    ck_assert (!rep.moved && rep.epoch == 2);
    /* the same id, but a watermark below one acknowledged in this epoch */
    ck_assert_int_eq (s_failover (ID "/2", "2", "9", &rep), 0);
    ck_assert (rep.moved && rep.epoch == 3);
    ck_assert_int_eq (s_failover (ID "/3", "2", "9", &rep), 0);
    ck_assert (!rep.moved); /* acknowledged in an older epoch: no sign */
    /* recovering already: recovery starts again from the restore's */
    s_meta_set ("recovering", "00");
    ck_assert_int_eq (s_failover (ID "/3", "0", "0", &rep), 0);
    ck_assert (rep.moved && rep.epoch == 4);
    s_expect_meta ("restored_watermark", "2");
    /* restoring: only recorded; another dataset: foreign */
    s_meta_set ("restoring", "00");
    ck_assert_int_eq (s_failover (ID "/4", "0", "0", &rep), 0);
    ck_assert (rep.recorded && rep.epoch == 4);
    ck_assert_int_eq (
        s_failover ("ffffffffffffffffffffffffffffffff/4", "0", "0", &rep), -1);
    ck_assert_str_eq (rep.word, "foreign");
    /* an epoch below the node's: lagging (another partition moved on) */
    ck_assert_int_eq (s_failover (ID "/9", "0", "0", &rep), -1);
    ck_assert_str_eq (rep.word, "lagging");
    /* a partition that moved here by resharding, from a master whose id is
       current: recorded, no transition; an id no master has: moved */
    s_meta_set ("normal", "1111111111111111111111111111111111111111");
    ck_assert_int_eq (
        s_failover_other (ID "/4", "0", "0",
                          "1111111111111111111111111111111111111111", &rep),
        0);
    ck_assert (rep.recorded && !rep.moved && rep.epoch == 4);
    s_expect_meta ("replid", replid);
    s_meta_set ("normal", "1111111111111111111111111111111111111111");
    ck_assert_int_eq (
        s_failover_other (ID "/4", "0", "0",
                          "2222222222222222222222222222222222222222", &rep),
        0);
    ck_assert (rep.moved && rep.epoch == 5);
    free (replid);
}
END_TEST

/*  --- a Redis restarted from a snapshot -------------------------------------
 */

START_TEST (db_restarted_redis_behind_an_ack_answers_nothing_stale)
{
    s_db_start (0, true);
    s_db_start (1, false);
    OK ("put", "k1", "v1");
    OK ("put", "k2", "v2");
    redisReply *r = rb_redis_cmd (rb_ot.c->redis, "SAVE");
    ck_assert_int_eq (r->type, REDIS_REPLY_STATUS);
    freeReplyObject (r);
    OK ("put", "k1", "lost"); /* seq 3: acknowledged, not in the snapshot */
    ck_assert_str_eq (rb_tnode_get (&rb_ot.probe, "k1").value, "lost");
    /* the snapshot comes back (with its own replication id) */
    ck_assert_int_eq (rb_redis_restart (rb_ot.c->redis), 0);
    rb_ot_expect_record ("k1", "v1", 1);
    rb_got_t g = s_get_until_epoch ("k1", 2, 3);
    ck_assert (g.recovering);
    s_expect_one_transition ();
    s_expect_meta ("restored_watermark", "2");
    s_recover_and_expect ("k1", "lost", 3);
    rb_ot_expect_record ("k1", "lost", 3);
}
END_TEST

/*  --- a Sentinel failover ------------------------------------------------- */

/*  The master takes write k1 = lost (seq 3) that its replica never
    gets: the replica is stopped, its link cut (the master drops what it
    had not sent), the write acknowledged, the master killed, and only
    then the replica let go on: Sentinel promotes a replica without it. */
static void
s_lose_a_write (void)
{
    rb_redis_t *replica = rb_sentinels_replica (s_set, 0);
    rb_redis_t *master = rb_sentinels_master (s_set);
    ck_assert_int_eq (kill (rb_redis_pid (replica), SIGSTOP), 0);
    freeReplyObject (rb_redis_cmd (master, "CLIENT KILL TYPE replica"));
    OK ("put", "k1", "lost");
    ck_assert_str_eq (rb_tnode_get (&rb_ot.probe, "k1").value, "lost");
    ck_assert_int_eq (kill (rb_redis_pid (master), SIGKILL), 0);
    ck_assert_int_eq (kill (rb_redis_pid (replica), SIGCONT), 0);
}

START_TEST (db_follows_a_sentinel_failover_and_recovers_the_lost_write)
{
    s_db_start (0, true);
    s_db_start (1, false);
    OK ("put", "k1", "v1");
    OK ("put", "k2", "v2");
    rb_redis_t *replica = rb_sentinels_replica (s_set, 0);
    int64_t deadline = zclock_mono () + 10000;
    while (true) { /* the replica has both */
        redisReply *r = rb_redis_cmd (replica, "HGET rb:{0}:r:k2 s");
        bool has = r->type == REDIS_REPLY_STRING && streq (r->str, "2");
        freeReplyObject (r);
        if (has)
            break;
        ck_assert (zclock_mono () < deadline);
        rb_tnode_pump (&rb_ot.probe, 20);
    }
    s_lose_a_write ();
    int64_t killed = zclock_mono ();
    ck_assert_int_eq (
        rb_sentinels_wait_master (s_set, rb_redis_address (replica), 30000), 0);
    int64_t switched = zclock_mono ();
    rb_got_t g = s_get_until_epoch ("k1", 2, 3);
    fprintf (stderr,
             "test_failover: master killed; sentinels switched after %d ms, "
             "a GET answered flagged at epoch 2 after %d ms\n",
             (int) (switched - killed), (int) (zclock_mono () - killed));
    ck_assert (g.recovering);
    s_expect_one_transition ();
    s_recover_and_expect ("k1", "lost", 3);
}
END_TEST

/*  --- options ---------------------------------------------------------------
 */

/*  recobus-db with args: exits 78 saying want on stderr.  */
static void
s_expect_refused (const char *want, const char *const *args)
{
    const char *a[16] = {RB_OT_DB_BIN};
    int n = 1;
    for (; args[n - 1]; n++)
        a[n] = args[n - 1];
    a[n] = NULL;
    char *out = NULL, *err = NULL;
    int rc = rb_proc_run ((char *const *) a, 10000, &out, &err);
    ck_assert_msg (rc == EX_CONFIG && strstr (err, want),
                   "exit %d, stderr: %s (want %s)", rc, err, want);
    free (out);
    free (err);
}

#define REFUSED(want, ...)                                                     \
    s_expect_refused (want, (const char *[]){__VA_ARGS__, NULL})

/*  redis-wait-replicas 1: an ACK waits until the replica has the order
    (it holds it when the ACK is read), and a replica that cannot take it
    (stopped) delays the ACK by redis-wait-timeout (100 ms), counted
    short, never refuses it.  */
START_TEST (db_waits_for_a_replica_before_acking_an_order)
{
    s_db_extra[0] = "--redis-wait-replicas", s_db_extra[1] = "1";
    s_db_start (0, true);
    s_db_extra[0] = s_db_extra[1] = NULL;
    rb_redis_t *replica = rb_sentinels_replica (s_set, 0);
    for (int i = 1; i <= 20; i++) {
        char key[16], value[16];
        snprintf (key, sizeof key, "w%d", i);
        snprintf (value, sizeof value, "v%d", i);
        ck_assert_int_eq (
            rb_tnode_order (&rb_ot.probe, (uint64_t) i, key, value), 0);
        redisReply *r = rb_redis_cmd (replica, "HGET rb:{0}:r:%s v", key);
        ck_assert_msg (r && r->type == REDIS_REPLY_STRING &&
                           streq (r->str, value),
                       "the replica lacks %s once its ACK came", key);
        freeReplyObject (r);
    }
    ck_assert_uint_eq (s_db_num (0, "replica_waits"), 20);
    ck_assert_uint_eq (s_db_num (0, "replica_waits_short"), 0);
    ck_assert_int_eq (kill (rb_redis_pid (replica), SIGSTOP), 0);
    int64_t start = zclock_mono ();
    int rc = rb_tnode_order (&rb_ot.probe, 21, "w21", "v21");
    int64_t took = zclock_mono () - start;
    ck_assert_int_eq (kill (rb_redis_pid (replica), SIGCONT), 0);
    ck_assert_int_eq (rc, 0);
    ck_assert_msg (took >= 100, "ACK after %d ms: no WAIT", (int) took);
    ck_assert_uint_eq (s_db_num (0, "replica_waits_short"), 1);
}
END_TEST

START_TEST (db_refuses_sentinel_options_that_do_not_add_up)
{
    REFUSED ("both set", "--redis", "127.0.0.1:6379", "--redis-sentinels",
             "127.0.0.1:26379", "--redis-master-name", "m");
    REFUSED ("redis-sentinels is set without redis-master-name",
             "--redis-sentinels", "127.0.0.1:26379");
    REFUSED ("redis-master-name is set without redis-sentinels",
             "--redis-master-name", "m");
    REFUSED ("bad Redis sentinels", "--redis-sentinels", "127.0.0.1:26379,",
             "--redis-master-name", "m");
    REFUSED ("bad Redis sentinels", "--redis-sentinels", "host:99999",
             "--redis-master-name", "m");
    REFUSED ("bad Redis master name", "--redis-sentinels", "h:1",
             "--redis-master-name", "a b");
}
END_TEST

/*  A "sentinel" that is a plain Redis answers an error, not an address:
    said, and nothing is created.  */
START_TEST (db_says_why_when_no_sentinel_gives_an_address)
{
    rb_db_opts_t o = rb_cluster_db_opts (rb_ot.c, "db-1");
    char list[200], err[700];
    snprintf (list, sizeof list, "127.0.0.1:1,%s", rb_ot.c->redis_address);
    o.redis = "";
    o.redis_sentinels = list;
    o.redis_master_name = MASTER_NAME;
    ck_assert_int_eq (rb_db_init_dataset (&o, err, sizeof err), EX_UNAVAILABLE);
    ck_assert_msg (strstr (err, "no sentinel says where master " MASTER_NAME) &&
                       strstr (err, "127.0.0.1:1: Connection refused") &&
                       strstr (err, "unknown command"),
                   "%s", err);
    s_expect_meta ("dataset", "(nil)");
}
END_TEST

static Suite *
s_suite (void)
{
    Suite *s = suite_create ("sentinel");
    TCase *tc = tcase_create ("redis");
    tcase_set_timeout (tc, 60);
    tcase_add_checked_fixture (tc, rb_ot_setup, s_teardown);
    tcase_add_test (tc, failover_script_moves_the_epoch_once_per_sign_of_loss);
    tcase_add_test (tc, db_restarted_redis_behind_an_ack_answers_nothing_stale);
    tcase_add_test (tc, db_refuses_sentinel_options_that_do_not_add_up);
    tcase_add_test (tc, db_says_why_when_no_sentinel_gives_an_address);
    suite_add_tcase (s, tc);
    TCase *ts = tcase_create ("sentinel");
    tcase_set_timeout (ts, 90);
    tcase_add_checked_fixture (ts, s_setup_sentinels, s_teardown);
    tcase_add_test (ts,
                    db_follows_a_sentinel_failover_and_recovers_the_lost_write);
    tcase_add_test (ts, db_waits_for_a_replica_before_acking_an_order);
    suite_add_tcase (s, ts);
    return s;
}

int
main (void)
{
    return rb_test_run (s_suite ());
}
