/*  test_monitor_program: the real recobus-monitor on a cluster's tap: a
    whole recovery shown step by step as text, JSON and a stats table,
    the --type filter; garbage on a tap that does not stop it; usage
    errors. The formatter, labels and counters are test_monitor's.  */
#include <check.h>
#include <czmq.h>
#include <signal.h>

#include "rb_fixture.h"
#include "rb_mtest.h"
#include "rb_proc.h"
#include "rb_testing.h"

#ifndef RECOBUS_BINARY_DIR
#error "RECOBUS_BINARY_DIR must name the build tree"
#endif

#define MONITOR RECOBUS_BINARY_DIR "/recobus-monitor"
#define WAIT_MS 5000

/*  --------------------------------------------------------------------
    The real program on a real tap */

/*  The broker's count of tap subscriptions. */
static uint64_t
s_tap_subscribers (rb_tnode_t *n)
{
    rb_body_t req;
    rb_body_init (&req, RB_T_STATUS);
    zmsg_t *reply = NULL;
    rb_header_t h;
    rb_body_t b;
    rb_body_init (&b, RB_T_NONE);
    uint64_t subs = 0;
    if (rb_bus_call (n->bus, RB_ADDR_SERVICE, "broker", &req, 2000, &reply, &h,
                     &b) == 0)
        for (uint32_t i = 0; i < b.n_items; i++)
            if (rb_str_eq (b.items[i].name, "tap_subscribers"))
                subs = b.items[i].num;
    zmsg_destroy (&reply);
    rb_body_release (&b);
    return subs;
}

/*  Starts recobus-monitor on the tap with extra flags (NULL-ended) and
    waits until the broker sees its subscriptions.  */
static rb_proc_t *
s_monitor (rb_tnode_t *n, const char *tap, const char *flag1, const char *flag2,
           const char *flag3)
{
    uint64_t before = s_tap_subscribers (n);
    char *argv[] = {
        MONITOR,        "--tap",        (char *) tap, (char *) flag1,
        (char *) flag2, (char *) flag3, NULL};
    rb_proc_t *p = rb_proc_start (argv, NULL);
    ck_assert_ptr_nonnull (p);
    int64_t until = zclock_mono () + WAIT_MS;
    while (s_tap_subscribers (n) == before && zclock_mono () < until)
        rb_bus_poll (n->bus, 10);
    ck_assert_uint_gt (s_tap_subscribers (n), before);
    return p;
}

static void
s_expect_output (rb_proc_t *p, const char *needle)
{
    if (rb_proc_wait_output (p, needle, WAIT_MS) == 0)
        return;
    char *out = rb_proc_stdout (p), *err = rb_proc_stderr (p);
    ck_abort_msg ("no '%s' in the monitor's output:\n%s\nstderr:\n%s", needle,
                  out, err);
}

/*  SIGINT: a clean exit 0. */
static void
s_interrupt (rb_proc_t **p)
{
    ck_assert_int_eq (rb_proc_kill (*p, SIGINT), 0);
    ck_assert_int_eq (rb_proc_wait (*p, WAIT_MS), 0);
    rb_proc_destroy (p);
}

/*  The recovery story on the bus: orders, a GET, backup and restore, a
    flagged answer and its re-poll, list, diff, end, an UPDATE.  */
static void
s_story (rb_tnode_t *ops, rb_tnode_t *svc)
{
    ck_assert_int_eq (rb_tnode_order (ops, 1, "k1", "v1"), 0);
    ck_assert_str_eq (rb_tnode_get (svc, "k1").value, "v1");
    uint64_t records, watermark;
    char *path = rb_tnode_backup (ops, &records, &watermark);
    ck_assert_int_eq (rb_tnode_order (ops, 2, "k1", "v2"), 0);
    rb_reply_t r;
    ck_assert_int_eq (rb_tnode_restore (ops, path, &r), 0);
    rb_reply_done (&r);
    free (path);
    ck_assert (rb_tnode_get (svc, "k1").recovering);
    ck_assert (rb_tnode_get (svc, "k1").recovering);
    rb_entry_t e = {rb_str ("k1"), 2};
    ck_assert_int_eq (rb_tnode_list (ops, &e, 1, true, &r), 0);
    ck_assert_uint_eq (r.b.flagged, 1);
    rb_reply_done (&r);
    rb_order_t o = {2, rb_str ("k1"), RB_OP_PUT, true, rb_str ("v2")};
    ck_assert_int_eq (rb_tnode_diff (ops, &o, 1, &r), 0);
    ck_assert_uint_eq (r.b.cleared, 1);
    rb_reply_done (&r);
    rb_got_t g = rb_tnode_get (svc, "k1");
    ck_assert (!g.recovering);
    ck_assert_str_eq (g.value, "v2");
    ck_assert_int_eq (rb_tnode_end (ops), 0);
    ck_assert_int_eq (rb_tnode_order (ops, 3, "k1", "v3"), 0);
}

START_TEST (monitor_shows_a_recovery_step_by_step)
{
    rb_fixture_t *f = rb_fixture_new (&(rb_fixture_opts_t){.tap = true});
    const char *tap = f->c->tap;
    rb_proc_t *json = s_monitor (&f->ops, tap, "--json", NULL, NULL);
    rb_proc_t *text = s_monitor (&f->ops, tap, NULL, NULL, NULL);
    rb_proc_t *acks = s_monitor (&f->ops, tap, "--type", "ack", "--json");
    rb_proc_t *stats = s_monitor (&f->ops, tap, "--stats", NULL, NULL);

    s_story (&f->ops, &f->svc);

    const char *const steps[] = {
        "\"label\":\"S1 restore\"",    "\"label\":\"RESET\"",
        "\"label\":\"S2 recovering\"", "\"label\":\"S5 flagged answer\"",
        "\"label\":\"S7 re-poll\"",    "\"label\":\"S3 list\"",
        "\"label\":\"S4 flagged\"",    "\"label\":\"S8 diff\"",
        "\"label\":\"S9 cleared\"",    "\"label\":\"RECOVERED push\"",
        "\"label\":\"S11 fresh\"",     "\"label\":\"S10 end\"",
        "\"label\":\"S10 normal\"",    "\"label\":\"UPDATE push\"",
        "\"type\":\"BACKUP_DONE\"",    "\"type\":\"ORDER\""};
    for (size_t i = 0; i < sizeof steps / sizeof steps[0]; i++)
        s_expect_output (json, steps[i]);
    s_expect_output (json, "\"kind\":\"REQUEST\",\"type\":\"RECOVERY_LIST\","
                           "\"sender\":\"ops-1\",\"role\":\"ops\",\"dest\":"
                           "\"db\",\"addr\":\"service\"");
    s_expect_output (text, " REQUEST ops-1 → db RECOVERY_LIST entries=1 "
                           "last=yes [S3 list]");
    s_expect_output (text, " REPLY db-1 → ops-1 ACK flagged=1 [S4 flagged]");
    s_expect_output (text, " REPLY db-1 → svc-1 DATA key=k1 seq=1 epoch=2 "
                           "len=2 recovering [S5 flagged answer]");
    s_expect_output (text, " PUSH db-1 → *service RESET epoch=2 [RESET]");
    s_expect_output (text, " PUSH db-1 → svc-1 UPDATE key=k1 seq=3 epoch=2 "
                           "len=2 [UPDATE push]");
    s_expect_output (acks, "\"label\":\"S10 normal\"");
    s_expect_output (acks, "\"label\":\"S4 flagged\"");
    s_expect_output (stats, "steps: S1 restore 1, S2 recovering 1, S3 list 1, "
                            "S4 flagged 1, S5 flagged answer 2, S7 re-poll 2, "
                            "S8 diff 1, S9 cleared 1, S10 end 1, S10 normal 1, "
                            "S11 fresh 1, RESET 1, UPDATE push ");
    s_expect_output (stats, "  RECOVERY_LIST               1");
    s_expect_output (acks, "\"watermark\":3"); /* the last ACK */

    /* --type ack: nothing but ACKs */
    char *out = rb_proc_stdout (acks);
    int lines = 0;
    for (char *line = strtok (out, "\n"); line; line = strtok (NULL, "\n")) {
        ck_assert_msg (strstr (line, "\"type\":\"ACK\""), "%s", line);
        lines++;
    }
    ck_assert_int_eq (lines, 6); /* three orders, list, diff, end */
    free (out);
    out = rb_proc_stdout (json);
    ck_assert (!strstr (out, "undecodable"));
    free (out);

    s_interrupt (&json);
    s_interrupt (&text);
    s_interrupt (&acks);
    s_interrupt (&stats);
    rb_fixture_destroy (&f);
}
END_TEST

START_TEST (monitor_survives_garbage_on_the_tap)
{
    zsock_t *tap = zsock_new (ZMQ_XPUB);
    int port = zsock_bind (tap, "tcp://127.0.0.1:*");
    ck_assert_int_gt (port, 0);
    char endpoint[64];
    snprintf (endpoint, sizeof endpoint, "tcp://127.0.0.1:%d", port);
    char *argv[] = {MONITOR, "--tap", endpoint, NULL};
    rb_proc_t *p = rb_proc_start (argv, NULL);
    ck_assert_ptr_nonnull (p);
    /* its subscription says it is connected */
    zpoller_t *poller = zpoller_new (tap, NULL);
    ck_assert_ptr_nonnull (zpoller_wait (poller, WAIT_MS));
    zframe_t *sub = zframe_recv (tap);
    ck_assert_int_eq (zframe_data (sub)[0], 1);
    zframe_destroy (&sub);
    zpoller_destroy (&poller);

    zstr_send (tap, "GET");
    zstr_sendx (tap, "DATA", "\xc1\xc1\xc1", NULL);
    zstr_sendx (tap, "DATA", "a", "b", "c", "d", NULL);
    rb_body_t b;
    rb_body_init (&b, RB_T_RESET);
    b.epoch = 9;
    zmsg_t *good = rb_mt_tap (RB_K_PUSH, "db-1", RB_ROLE_DB, RB_ADDR_ROLE,
                              "service", &b, 0);
    zmsg_send (&good, tap);

    s_expect_output (p, "undecodable: 1 frames, expected topic, header and "
                        "body (bad_frames) [topic GET]");
    s_expect_output (p, "undecodable: header: ");
    s_expect_output (p, "undecodable: 5 frames");
    s_expect_output (p, "PUSH db-1 → *service RESET epoch=9 [RESET]");
    s_interrupt (&p);
    zsock_destroy (&tap);
}
END_TEST

START_TEST (monitor_refuses_an_unknown_type_and_a_bad_endpoint)
{
    char *out, *err;
    char *bad_type[] = {MONITOR, "--type", "BOGUS", NULL};
    ck_assert_int_eq (rb_proc_run (bad_type, WAIT_MS, &out, &err), 64);
    ck_assert_msg (strstr (err, "recobus-monitor: --type 'BOGUS': not a "
                                "message type (one of HELLO, WELCOME, "),
                   "%s", err);
    ck_assert_str_eq (out, "");
    free (out);
    free (err);
    char *bad_tap[] = {MONITOR, "--tap", "nowhere", NULL};
    ck_assert_int_eq (rb_proc_run (bad_tap, WAIT_MS, &out, &err), 64);
    ck_assert_msg (strstr (err, "bad tap endpoint 'nowhere'"), "%s", err);
    free (out);
    free (err);
    char *help[] = {MONITOR, "--help", NULL};
    ck_assert_int_eq (rb_proc_run (help, WAIT_MS, &out, &err), 0);
    ck_assert (strstr (out, "--stats"));
    ck_assert (strstr (out, "--type TYPE"));
    ck_assert (strstr (out, "default: tcp://127.0.0.1:5556"));
    free (out);
    free (err);
    char *operand[] = {MONITOR, "extra", NULL};
    ck_assert_int_eq (rb_proc_run (operand, WAIT_MS, &out, &err), 64);
    free (out);
    free (err);
}
END_TEST

/*  --------------------------------------------------------------------
    Runner */

int
main (void)
{
    Suite *suite = suite_create ("monitor_program");
    TCase *system = tcase_create ("system");
    tcase_set_timeout (system, 60);
    tcase_add_test (system, monitor_shows_a_recovery_step_by_step);
    tcase_add_test (system, monitor_survives_garbage_on_the_tap);
    tcase_add_test (system, monitor_refuses_an_unknown_type_and_a_bad_endpoint);
    suite_add_tcase (suite, system);
    return rb_test_run (suite);
}
