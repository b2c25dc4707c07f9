/*  test_ops_recover: recobus-ops recover after a disaster, run as a
    program (rb_otest.h): killed, or its DB node killed, mid-diffs and run
    again; orders issued while the DB recovers and while recover runs;
    recover refused when there is nothing to recover.  */
#include <check.h>
#include <czmq.h>
#include <jansson.h>
#include <signal.h>
#include <sysexits.h>

#include "rb_otest.h"
#include "rb_testing.h"

static long long
s_redis_int (const char *fmt, const char *arg)
{
    redisReply *r = rb_redis_cmd (rb_ot.c->redis, fmt, arg);
    long long v = r->type == REDIS_REPLY_INTEGER ? r->integer : -1;
    freeReplyObject (r);
    return v;
}

/*  A cluster after a disaster: a backup at watermark 100 (keys r0..r99),
    then keys k0..k(n-1) written twice (the second value wins), Redis
    flushed and the backup restored. Returns the seq of k0's last order.  */
static uint64_t
s_disaster (int n)
{
    rb_ot_db_start (true);
    char *f = rb_ot_load_file ("base.txt", "r", "base", 0, 100);
    OK ("load", f);
    free (f);
    OK ("backup");
    f = rb_ot_load_file ("first.txt", "k", "first", 0, n);
    OK ("load", f);
    free (f);
    f = rb_ot_load_file ("second.txt", "k", "second", 0, n);
    OK ("load", f);
    free (f);
    freeReplyObject (rb_redis_cmd (rb_ot.c->redis, "FLUSHALL"));
    OK ("restore");
    return 100 + (uint64_t) n + 1;
}

/*  Every k is at its second value and newest seq, nothing flagged. */
static void
s_expect_recovered (int n, uint64_t first_seq)
{
    for (int i = 0; i < n; i++) {
        char key[16], value[24];
        snprintf (key, sizeof key, "k%d", i);
        snprintf (value, sizeof value, "second%d", i);
        rb_ot_expect_record (key, value, first_seq + (uint64_t) i);
    }
    ck_assert_int_eq (s_redis_int ("HLEN %s", "rb:{0}:rec"), 0);
    json_t *st = rb_ot_status (0);
    ck_assert_str_eq (rb_ot_str (st, "state"), "normal");
    ck_assert_int_eq (rb_ot_int (st, "keys"), 100 + n);
    ck_assert_int_eq (rb_ot_int (st, "watermark"), 100 + 2 * n);
    json_decref (st);
}

/*  After s_disaster (n) (*first its seq), recover started and past its
    list: the diffs are under way (batches of 20).  */
static rb_proc_t *
s_recover_mid_diffs (int n, uint64_t *first)
{
    *first = s_disaster (n);
    rb_proc_t *p =
        rb_ot_ops_start ((const char *[]){"--batch", "20", "recover", NULL});
    ck_assert_int_eq (rb_proc_wait_output (p, "list: ", 60000), 0);
    return p;
}

START_TEST (ops_recover_killed_mid_diffs_then_run_again_finishes_exactly)
{
    int n = 15000;
    uint64_t first;
    rb_proc_t *p = s_recover_mid_diffs (n, &first);
    rb_proc_kill (p, SIGKILL);
    rb_opsrun_t r = rb_ot_ops_wait (&p);
    ck_assert_int_eq (r.rc, 128 + SIGKILL);
    ck_assert_ptr_null (strstr (r.out, "diffs:"));
    rb_opsrun_done (&r);
    /* mid-diffs: still recovering, keys still flagged */
    rb_tnode_expect_state (&rb_ot.probe, "recovering");
    ck_assert_uint_gt (rb_tnode_status_num (&rb_ot.probe, "recovering"), 0);
    char *out = EXPECT (0, "recover");
    ck_assert_ptr_nonnull (strstr (out, "end: the DB is normal"));
    free (out);
    s_expect_recovered (n, first);
}
END_TEST

START_TEST (ops_recover_after_the_db_node_died_mid_diffs_finishes_exactly)
{
    int n = 15000;
    uint64_t first;
    rb_proc_t *p = s_recover_mid_diffs (n, &first);
    rb_ot_db_kill ();
    rb_opsrun_t r = rb_ot_ops_wait (&p);
    ck_assert_int_eq (r.rc, EX_UNAVAILABLE);
    ck_assert_ptr_nonnull (strstr (r.err, "run 'recobus-ops recover' again"));
    rb_opsrun_done (&r);
    rb_ot_db_start (false);
    rb_tnode_expect_state (&rb_ot.probe, "recovering");
    OK ("recover");
    s_expect_recovered (n, first);
}
END_TEST

START_TEST (ops_orders_issued_while_recovering_survive)
{
    int n = 3000;
    uint64_t first = s_disaster (n);
    /* k0 gets a newer value than its recovery target; r5 is deleted; x
       is new */
    OK ("put", "k0", "newest");
    OK ("delete", "r5");
    OK ("put", "x", "x1");
    uint64_t next = 100 + 2 * (uint64_t) n + 1;
    /* and more while the recovery itself runs */
    rb_proc_t *p =
        rb_ot_ops_start ((const char *[]){"--batch", "5", "recover", NULL});
    ck_assert_int_eq (rb_proc_wait_output (p, "scan: ", 60000), 0);
    OK ("put", "k1", "during");
    rb_opsrun_t r = rb_ot_ops_wait (&p);
    ck_assert_msg (r.rc == 0, "recover: %s", r.err);
    rb_opsrun_done (&r);
    rb_ot_expect_record ("k0", "newest", next);
    rb_ot_expect_record ("r5", "(del)", next + 1);
    rb_ot_expect_record ("x", "x1", next + 2);
    rb_ot_expect_record ("k1", "during", next + 3);
    rb_ot_expect_record ("k2", "second2", first + 2);
    rb_ot_expect_record ("r6", "base6", 7);
    json_t *st = rb_ot_status (0);
    ck_assert_str_eq (rb_ot_str (st, "state"), "normal");
    ck_assert_int_eq (rb_ot_int (st, "recovering"), 0);
    json_decref (st);
}
END_TEST

START_TEST (ops_recover_needs_a_recovering_db)
{
    rb_opsrun_t r = OPS ("recover");
    ck_assert_int_eq (r.rc, EX_UNAVAILABLE); /* no DB node at all */
    ck_assert_ptr_nonnull (strstr (r.err, "unknown_service"));
    rb_opsrun_done (&r);
    rb_ot_db_start (true);
    r = OPS ("recover");
    ck_assert_int_eq (r.rc, EX_DATAERR);
    ck_assert_ptr_nonnull (strstr (r.err, "normal, not recovering"));
    rb_opsrun_done (&r);
    freeReplyObject (rb_redis_cmd (rb_ot.c->redis, "FLUSHALL"));
    r = OPS ("recover");
    ck_assert_int_eq (r.rc, EX_DATAERR);
    ck_assert_ptr_nonnull (strstr (r.err, "restore' first"));
    rb_opsrun_done (&r);
}
END_TEST

int
main (void)
{
    Suite *s = suite_create ("ops_recover");
    TCase *tc = tcase_create ("recover");
    tcase_set_timeout (tc, 150);
    tcase_add_checked_fixture (tc, rb_ot_setup, rb_ot_teardown);
    tcase_add_test (
        tc, ops_recover_killed_mid_diffs_then_run_again_finishes_exactly);
    tcase_add_test (
        tc, ops_recover_after_the_db_node_died_mid_diffs_finishes_exactly);
    tcase_add_test (tc, ops_orders_issued_while_recovering_survive);
    tcase_add_test (tc, ops_recover_needs_a_recovering_db);
    suite_add_tcase (s, tc);
    return rb_test_run (s);
}
