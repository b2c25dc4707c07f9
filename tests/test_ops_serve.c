/*  test_ops_serve: recobus-ops serve, the ops node, as a program next to
    the recobus-db program and a real redis-server (rb_otest.h): orders
    from the command line while it owns the journal, the DB away and
    back, the recovery it starts by itself (also after a kill -9 of the
    node mid-recovery), and an order whose answer was lost, sent again
    under the same request id; its --metrics scraped through all that.  */
#include <check.h>
#include <czmq.h>
#include <jansson.h>
#include <signal.h>
#include <sysexits.h>

#include "rb_otest.h"
#include "rb_scrape.h"
#include "rb_testing.h"

#define RID "0123456789abcdef0123456789abcdef"

static rb_proc_t *s_node;  /* the ops node */
static char s_metrics[32]; /* its --metrics, or "" (off) */

/*  Starts recobus-ops serve and waits for it. */
static void
s_serve (const char *batch)
{
    char *argv[] = {RB_OT_OPS_BIN,
                    "--broker",
                    rb_ot.c->bus,
                    "--journal",
                    rb_ot.journal,
                    "--timeout",
                    "3000",
                    "--watch-interval",
                    "200",
                    "--batch",
                    (char *) batch,
                    "--metrics",
                    s_metrics,
                    "serve",
                    NULL};
    s_node = rb_proc_start (argv, NULL);
    ck_assert_ptr_nonnull (s_node);
    ck_assert_int_eq (rb_proc_wait_output (s_node, "serving as", 10000), 0);
}

/*  SIGTERM: it stops cleanly (exit 0) and lets the journal go. */
static void
s_serve_stop (void)
{
    rb_proc_kill (s_node, SIGTERM);
    int rc = rb_proc_wait (s_node, 10000);
    char *err = rb_proc_stderr (s_node);
    ck_assert_msg (rc == 0, "serve exit %d: %s", rc, err);
    free (err);
    rb_proc_destroy (&s_node);
    char side[600];
    snprintf (side, sizeof side, "%s.serve", rb_ot.journal);
    ck_assert_int_ne (access (side, F_OK), 0);
}

static void
s_teardown (void)
{
    s_metrics[0] = '\0';
    rb_proc_destroy (&s_node);
    rb_ot_teardown ();
}

/*  Orders in the journal, counted by journal check (the node stopped). */
static int
s_journal_orders (void)
{
    char *out = EXPECT (0, "--json", "journal", "check");
    json_t *o = rb_ot_json_line (out, 0);
    int n = (int) rb_ot_int (o, "orders");
    json_decref (o);
    free (out);
    return n;
}

/*  Waits (pumping the probe) until status --json says state; 60 s. */
static void
s_wait_state (const char *state)
{
    int64_t deadline = rb_clock_ms () + 60000;
    while (rb_clock_ms () < deadline) {
        rb_opsrun_t r = OPS ("--json", "status");
        bool there = r.rc == 0 && strstr (r.out, state) != NULL;
        rb_opsrun_done (&r);
        if (there)
            return;
        rb_tnode_pump (&rb_ot.probe, 100);
    }
    char *out = rb_proc_stdout (s_node), *err = rb_proc_stderr (s_node);
    ck_abort_msg ("the DB never reached %s; serve said: %s %s", state, out,
                  err);
}

START_TEST (ops_serve_takes_put_delete_load_and_sync_from_the_cli)
{
    rb_ot_db_start (true);
    s_serve ("1000");
    char *out = EXPECT (0, "put", "k1", "v1");
    ck_assert_str_eq (out, "seq 1\n");
    free (out);
    out = EXPECT (0, "--json", "put", "k2", "v2");
    json_t *o = rb_ot_json_line (out, 0);
    ck_assert_int_eq (rb_ot_int (o, "seq"), 2);
    ck_assert_str_eq (rb_ot_str (o, "status"), "applied");
    json_decref (o);
    free (out);
    out = EXPECT (0, "delete", "k1");
    ck_assert_str_eq (out, "seq 3\n");
    free (out);
    char *f = rb_ot_load_file ("l.txt", "l", "w", 0, 2500);
    out = EXPECT (0, "load", f);
    ck_assert_ptr_nonnull (
        strstr (out, "2500 orders journaled (seqs 4..2503)"));
    free (out);
    free (f);
    out = EXPECT (0, "sync");
    ck_assert_str_eq (out, "nothing pending (next seq 2504)\n");
    free (out);
    rb_ot_expect_record ("k1", "(del)", 3);
    rb_ot_expect_record ("k2", "v2", 2);
    rb_ot_expect_record ("l2499", "w2499", 2503);
    s_serve_stop ();
    ck_assert_int_eq (s_journal_orders (), 2503);
    out = EXPECT (0, "put", "k3", "v3"); /* no node: as before */
    ck_assert_str_eq (out, "seq 2504\n");
    free (out);
}
END_TEST

START_TEST (ops_serve_sends_pending_orders_itself_when_the_db_is_back)
{
    rb_ot_db_start (true);
    s_serve ("1000");
    OK ("put", "a", "1");
    rb_ot_db_kill ();
    rb_opsrun_t r = OPS ("put", "b", "2");
    ck_assert_int_eq (r.rc, EX_UNAVAILABLE);
    ck_assert_ptr_nonnull (strstr (r.err, "journaled as seq 2, pending"));
    rb_opsrun_done (&r);
    rb_ot_db_start (false);
    int64_t deadline = rb_clock_ms () + 20000; /* no sync: by itself */
    for (;;) {
        redisReply *v = rb_redis_cmd (rb_ot.c->redis, "HGET rb:{0}:r:b s");
        bool there = v->type == REDIS_REPLY_STRING && streq (v->str, "2");
        freeReplyObject (v);
        if (there)
            break;
        ck_assert_msg (rb_clock_ms () < deadline, "b never applied");
        rb_tnode_pump (&rb_ot.probe, 50);
    }
    json_t *st = rb_ot_status (0);
    ck_assert_int_eq (rb_ot_int (st, "pending"), 0);
    json_decref (st);
    s_serve_stop ();
    ck_assert_int_eq (s_journal_orders (), 2);
}
END_TEST

/*  A backup at watermark 100, then n keys k<i> after it, Redis flushed
    and the backup restored by hand: the DB is recovering.  */
static void
s_disaster (int n)
{
    char *f = rb_ot_load_file ("base.txt", "r", "base", 0, 100);
    OK ("load", f);
    free (f);
    OK ("backup");
    f = rb_ot_load_file ("after.txt", "k", "after", 0, n);
    OK ("load", f);
    free (f);
    freeReplyObject (rb_redis_cmd (rb_ot.c->redis, "FLUSHALL"));
    OK ("restore");
}

static void
s_expect_recovered (int n)
{
    s_wait_state ("\"state\":\"normal\"");
    for (int i = 0; i < n; i += 97) {
        char key[16], value[24];
        snprintf (key, sizeof key, "k%d", i);
        snprintf (value, sizeof value, "after%d", i);
        rb_ot_expect_record (key, value, 101 + (uint64_t) i);
    }
    rb_ot_expect_record ("r7", "base7", 8);
    json_t *st = rb_ot_status (0);
    ck_assert_int_eq (rb_ot_int (st, "recovering"), 0);
    ck_assert_int_eq (rb_ot_int (st, "watermark"), 100 + n);
    json_decref (st);
}

START_TEST (ops_serve_recovers_by_itself_after_a_restore_by_hand)
{
    rb_ot_db_start (true);
    s_serve ("200");
    s_disaster (1000);
    s_expect_recovered (1000);
    rb_opsrun_t r = OPS ("status");
    ck_assert_ptr_nonnull (strstr (r.out, "recovery done"));
    rb_opsrun_done (&r);
    s_serve_stop ();
}
END_TEST

/*  Waits until the node's scrapes show series at want (at least, with
    at_least), pumping the probe.  */
static void
s_expect_metric (int port, const char *series, double want, bool at_least)
{
    double v = rb_scrape_wait (port, series, want, at_least, &rb_ot.probe);
    ck_assert_msg (v == want || (at_least && v >= want), "%s: %g, not %s%g",
                   series, v, at_least ? ">= " : "", want);
}

#define PHASE(p) "recobus_ops_recovery_phase{phase=\"" p "\"}"

START_TEST (ops_serve_metrics_show_orders_and_a_recovery)
{
    int port = rb_free_port ();
    snprintf (s_metrics, sizeof s_metrics, "127.0.0.1:%d", port);
    rb_ot_db_start (true);
    s_serve ("10");
    s_expect_metric (port, PHASE ("idle"), 1, false);
    s_expect_metric (port, "recobus_ops_db_state{state=\"normal\"}", 1, false);
    s_expect_metric (port, "recobus_ops_orders_pending", 0, false);
    ck_assert_int_eq (rb_scrape_promtool (port), 0);
    /* a recovery of its own: the phase moves from idle to done */
    s_disaster (1000);
    s_expect_metric (port, "recobus_ops_orders_journaled_total", 1100, false);
    s_expect_metric (port, "recobus_ops_orders_acknowledged_total", 1100,
                     false);
    s_expect_metric (port, "recobus_ops_recovery_runs_total", 1, false);
    s_expect_recovered (1000);
    s_expect_metric (port, PHASE ("done"), 1, false);
    s_expect_metric (port, PHASE ("idle"), 0, false);
    s_expect_metric (port, "recobus_ops_recovery_diffs", 1000, true);
    s_expect_metric (port, "recobus_ops_recovery_keys", 1100, false);
    s_expect_metric (port, "recobus_ops_submits_total", 2, true);
    /* an order the DB cannot take stays pending, then is re-sent */
    rb_ot_db_kill ();
    rb_opsrun_t r = OPS ("put", "b", "2");
    ck_assert_int_eq (r.rc, EX_UNAVAILABLE);
    rb_opsrun_done (&r);
    s_expect_metric (port, "recobus_ops_orders_pending", 1, false);
    s_expect_metric (port, "recobus_ops_db_state{state=\"unreachable\"}", 1,
                     false);
    s_expect_metric (port, "recobus_ops_orders_journaled_total", 1101, false);
    s_expect_metric (port, "recobus_ops_db_failures_total", 1, true);
    rb_ot_db_start (false);
    s_expect_metric (port, "recobus_ops_orders_pending", 0, false);
    s_expect_metric (port, "recobus_ops_orders_acknowledged_total", 1101,
                     false);
    s_expect_metric (port, "recobus_ops_orders_resent_total", 1, false);
    ck_assert_int_eq (rb_scrape_promtool (port), 0);
    s_serve_stop ();
}
END_TEST

START_TEST (ops_serve_killed_mid_recovery_resumes_by_itself)
{
    int n = 4000;
    rb_ot_db_start (true);
    s_serve ("10");
    s_disaster (n);
    ck_assert_int_eq (rb_proc_wait_output (s_node, "scan: ", 30000), 0);
    rb_proc_kill (s_node, SIGKILL);
    ck_assert_int_eq (rb_proc_wait (s_node, 5000), 128 + SIGKILL);
    char *out = rb_proc_stdout (s_node);
    ck_assert_ptr_null (strstr (out, "end: the DB is normal"));
    free (out);
    rb_proc_destroy (&s_node);
    rb_tnode_expect_state (&rb_ot.probe, "recovering");
    s_serve ("10");
    s_expect_recovered (n);
    s_serve_stop ();
    ck_assert_int_eq (s_journal_orders (), 100 + n);
}
END_TEST

START_TEST (ops_serve_unanswered_order_is_journaled_once_when_sent_again)
{
    rb_ot_db_start (true);
    s_serve ("1000");
    rb_proc_kill (s_node, SIGSTOP);
    rb_opsrun_opts_t o = {RB_OT_OPS_BIN, rb_ot.c->bus, rb_ot.journal, 800,
                          false,         NULL,         NULL};
    rb_proc_t *p = rb_opsrun_start (
        &o, (const char *[]){"--request-id", RID, "put", "x", "1", NULL});
    rb_opsrun_t r = rb_ot_ops_wait (&p);
    ck_assert_int_eq (r.rc, EX_UNAVAILABLE);
    ck_assert_ptr_nonnull (strstr (r.err, "did not answer"));
    ck_assert_ptr_nonnull (strstr (r.err, "--request-id " RID));
    rb_opsrun_done (&r);
    rb_proc_kill (s_node, SIGCONT);
    /* sent again under its id until the node says it is applied (it may
       have been expired while stopped: then it is pending a while) */
    int64_t deadline = rb_clock_ms () + 30000;
    for (;;) {
        r = OPS ("--request-id", RID, "put", "x", "1");
        bool done = r.rc == 0;
        if (done)
            ck_assert_str_eq (r.out, "seq 1\n");
        else
            ck_assert_msg (r.rc == EX_UNAVAILABLE && strstr (r.err, "seq 1"),
                           "exit %d: %s", r.rc, r.err);
        rb_opsrun_done (&r);
        if (done)
            break;
        ck_assert_msg (rb_clock_ms () < deadline, "x never applied");
        rb_tnode_pump (&rb_ot.probe, 100);
    }
    char *out = EXPECT (0, "--request-id", RID, "put", "x", "1");
    ck_assert_str_eq (out, "seq 1\n");
    free (out);
    rb_ot_expect_record ("x", "1", 1);
    s_serve_stop ();
    ck_assert_int_eq (s_journal_orders (), 1);
}
END_TEST

START_TEST (ops_serve_refuses_orders_from_other_roles)
{
    rb_ot_db_start (true);
    s_serve ("1000");
    rb_tnode_t svc;
    rb_tnode_start (&svc, rb_ot.c, RB_ROLE_SERVICE, "svc-x");
    rb_body_t req;
    rb_body_init (&req, RB_T_SUBMIT);
    req.text = rb_str (RID);
    rb_reply_t a;
    rb_body_init (&a.b, RB_T_NONE);
    int rc = rb_bus_call (svc.bus, RB_ADDR_NODE, "ops-serve", &req, 3000,
                          &a.msg, &a.h, &a.b);
    ck_assert_int_eq (rc, RB_S_FORBIDDEN);
    rb_reply_done (&a);
    OK ("put", "k", "v"); /* role ops: taken */
    rb_tnode_stop (&svc);
    s_serve_stop ();
}
END_TEST

int
main (void)
{
    Suite *s = suite_create ("ops_serve");
    TCase *tc = tcase_create ("serve");
    tcase_set_timeout (tc, 120);
    tcase_add_checked_fixture (tc, rb_ot_setup, s_teardown);
    tcase_add_test (tc, ops_serve_takes_put_delete_load_and_sync_from_the_cli);
    tcase_add_test (tc,
                    ops_serve_sends_pending_orders_itself_when_the_db_is_back);
    tcase_add_test (tc, ops_serve_recovers_by_itself_after_a_restore_by_hand);
    tcase_add_test (tc, ops_serve_killed_mid_recovery_resumes_by_itself);
    tcase_add_test (tc, ops_serve_metrics_show_orders_and_a_recovery);
    tcase_add_test (
        tc, ops_serve_unanswered_order_is_journaled_once_when_sent_again);
    tcase_add_test (tc, ops_serve_refuses_orders_from_other_roles);
    suite_add_tcase (s, tc);
    return rb_test_run (s);
}
