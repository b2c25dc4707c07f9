/*  test_ops: recobus-ops end to end, run as a program against the real
    broker (in-process actor), the recobus-db program and a throwaway
    redis-server (rb_otest.h): the whole disaster story S1-S11 by the
    tool's own commands, its JSON output, a bad line in a load, orders
    while the DB is down and sync, usage errors. Recovery's faults are in
    test_ops_recover, the journal's in test_ops_journal.  */
#include <check.h>
#include <czmq.h>
#include <jansson.h>
#include <sysexits.h>

#include "rb_otest.h"
#include "rb_testing.h"

/*  --- the whole story ------------------------------------------------------
 */

START_TEST (ops_runs_the_disaster_story_s1_to_s11)
{
    rb_ot_db_start (true);
    char *out = EXPECT (0, "put", "a", "a1");
    ck_assert_str_eq (out, "seq 1\n");
    free (out);
    OK ("put", "b", "b1");
    OK ("put", "c", "c1");
    OK ("delete", "c");
    char *f1 = rb_ot_load_file ("one.txt", "k", "v", 0, 200); /* seqs 5..204 */
    OK ("--batch", "30", "load", f1);
    out = EXPECT (0, "--json", "backup");
    json_t *j = rb_ot_json_line (out, 0);
    ck_assert_int_eq (rb_ot_int (j, "watermark"), 204);
    ck_assert_int_eq (rb_ot_int (j, "records"), 203); /* a, b, c (del), k* */
    json_decref (j);
    free (out);
    OK ("put", "a", "a2"); /* 205 */
    OK ("put", "d", "d1"); /* 206: not in the backup */
    OK ("delete", "b");    /* 207 */
    char *f2 = rb_ot_load_file ("two.txt", "k", "w", 100, 300); /* 208..407 */
    OK ("load", f2);
    json_t *st = rb_ot_status (0);
    ck_assert_str_eq (rb_ot_str (st, "state"), "normal");
    ck_assert_int_eq (rb_ot_int (st, "watermark"), 407);
    json_decref (st);

    /* the disaster: Redis loses everything */
    ck_assert_int_eq (rb_cluster_flushall (rb_ot.c), 0);
    st = rb_ot_status (0);
    ck_assert_str_eq (rb_ot_str (st, "state"), "needs_restore");
    json_decref (st);
    ck_assert_int_eq (rb_tnode_get (&rb_ot.probe, "a").rc, RB_S_UNAVAILABLE);

    /* S1, S2 */
    out = EXPECT (0, "restore");
    ck_assert_ptr_nonnull (strstr (out, "watermark 204"));
    free (out);
    st = rb_ot_status (0);
    ck_assert_str_eq (rb_ot_str (st, "state"), "recovering");
    ck_assert_int_eq (rb_ot_int (st, "restored_watermark"), 204);
    json_decref (st);
    /* S5 before the list: every key flagged, even one the backup lacks */
    rb_got_t g = rb_tnode_get (&rb_ot.probe, "a");
    ck_assert (g.rc == 0 && g.recovering && streq (g.value, "a1"));
    g = rb_tnode_get (&rb_ot.probe, "d");
    ck_assert (g.rc == 0 && g.recovering && !g.found);

    /* S3, S4, S8, S9, S10 */
    out = EXPECT (0, "--batch", "50", "recover");
    ck_assert_msg (strstr (out, "list: 203 keys, 5 batches"), "%s", out);
    ck_assert_ptr_nonnull (strstr (out, "diffs: 203 keys"));
    ck_assert_ptr_nonnull (strstr (out, "end: the DB is normal"));
    free (out);

    /* S11: data only, no flag; the exact final state */
    g = rb_tnode_get (&rb_ot.probe, "a");
    ck_assert (g.rc == 0 && !g.recovering && streq (g.value, "a2"));
    g = rb_tnode_get (&rb_ot.probe, "b");
    ck_assert (g.rc == 0 && !g.recovering && !g.found);
    g = rb_tnode_get (&rb_ot.probe, "d");
    ck_assert (g.rc == 0 && !g.recovering && streq (g.value, "d1"));
    rb_ot_expect_record ("a", "a2", 205);
    rb_ot_expect_record ("b", "(del)", 207);
    rb_ot_expect_record ("c", "(del)", 4);
    rb_ot_expect_record ("d", "d1", 206);
    for (int i = 0; i < 300; i++) {
        char key[16], value[16];
        snprintf (key, sizeof key, "k%d", i);
        snprintf (value, sizeof value, "%s%d", i < 100 ? "v" : "w", i);
        rb_ot_expect_record (key, value,
                             (uint64_t) (i < 100 ? 5 + i : 108 + i));
    }
    st = rb_ot_status (0);
    ck_assert_str_eq (rb_ot_str (st, "state"), "normal");
    ck_assert_int_eq (rb_ot_int (st, "recovering"), 0);
    ck_assert_int_eq (rb_ot_int (st, "watermark"), 407);
    ck_assert_int_eq (rb_ot_int (st, "keys"), 302);     /* a, d, k0..k299 */
    ck_assert_int_eq (rb_ot_int (st, "tombstones"), 2); /* b, c */
    ck_assert_int_eq (rb_ot_int (st, "pending"), 0);
    ck_assert_ptr_nonnull (
        json_object_get (json_object_get (st, "nodes"), "db-1"));
    ck_assert_int_ge (rb_ot_int (json_object_get (st, "broker"), "nodes"), 2);
    json_decref (st);
    free (f1);
    free (f2);
}
END_TEST

START_TEST (ops_json_output_is_one_object_a_line)
{
    rb_ot_db_start (true);
    char *out = EXPECT (0, "--json", "put", "k", "caf\xc3\xa9");
    json_t *j = rb_ot_json_line (out, 0);
    ck_assert_str_eq (rb_ot_str (j, "command"), "put");
    ck_assert_str_eq (rb_ot_str (j, "status"), "applied");
    ck_assert_int_eq (rb_ot_int (j, "seq"), 1);
    json_decref (j);
    free (out);
    OK ("backup");
    ck_assert_int_eq (rb_cluster_flushall (rb_ot.c), 0);
    OK ("restore");
    out = EXPECT (0, "--json", "recover");
    const char *phases[] = {"scan", "list", "diffs", "end"};
    for (int i = 0; i < 4; i++) {
        j = rb_ot_json_line (out, i);
        ck_assert_str_eq (rb_ot_str (j, "phase"), phases[i]);
        if (i == 1 || i == 2) {
            rb_ot_int (j, "keys");
            rb_ot_int (j, "batches");
            ck_assert (json_is_real (json_object_get (j, "seconds")));
        }
        json_decref (j);
    }
    free (out);
    /* an error is a line on stderr, and an object on stdout */
    rb_opsrun_t r = OPS ("--json", "recover");
    ck_assert_int_eq (r.rc, EX_DATAERR);
    j = rb_ot_json_line (r.out, 0);
    ck_assert_int_eq (rb_ot_int (j, "exit"), EX_DATAERR);
    ck_assert_ptr_nonnull (strstr (rb_ot_str (j, "error"), "not recovering"));
    json_decref (j);
    ck_assert_ptr_nonnull (strstr (r.err, "the DB is normal, not recovering"));
    rb_opsrun_done (&r);
    /* bytes that are not UTF-8 go out as base64, marked */
    char *path = rb_ot_load_file ("caf\xe9.txt", "u", "v", 0, 3);
    out = EXPECT (0, "--json", "load", path);
    j = rb_ot_json_line (out, 0);
    ck_assert_str_eq (rb_ot_str (j, "file_encoding"), "base64");
    ck_assert_int_eq (rb_ot_int (j, "orders"), 3);
    ck_assert_int_eq (rb_ot_int (j, "applied"), 3);
    json_decref (j);
    free (out);
    zstr_free (&path);
}
END_TEST

/*  --- load ---------------------------------------------------------------- */

START_TEST (ops_load_stops_at_a_bad_line_and_sends_nothing_after_it)
{
    rb_ot_db_start (true);
    char *path = zsys_sprintf ("%s/bad.txt", rb_ot.dir);
    FILE *f = fopen (path, "w");
    for (int line = 1; line <= 1000; line++)
        if (line == 500)
            fprintf (f, "k%d has no tab\n", line);
        else
            fprintf (f, "k%d\tv%d\n", line, line);
    fclose (f);
    rb_opsrun_t r = OPS ("--batch", "64", "load", path);
    ck_assert_int_eq (r.rc, EX_DATAERR);
    char *where = zsys_sprintf ("%s:500: no TAB", path);
    ck_assert_msg (strstr (r.err, where), "%s", r.err);
    ck_assert_ptr_nonnull (strstr (r.err, "nothing after it"));
    ck_assert_int_eq (strlen (r.err), strcspn (r.err, "\n") + 1); /* 1 line */
    rb_opsrun_done (&r);
    rb_ot_expect_record ("k499", "v499", 499);
    for (int line = 500; line <= 1000; line++) {
        char key[16];
        snprintf (key, sizeof key, "k%d", line);
        rb_ot_expect_record (key, "-", 0);
    }
    json_t *st = rb_ot_status (0);
    ck_assert_int_eq (rb_ot_int (st, "keys"), 499);
    ck_assert_int_eq (rb_ot_int (st, "watermark"), 499);
    ck_assert_int_eq (rb_ot_int (json_object_get (st, "journal"), "next_seq"),
                      500);
    ck_assert_int_eq (rb_ot_int (st, "pending"), 0);
    json_decref (st);
    zstr_free (&where);
    zstr_free (&path);
}
END_TEST

START_TEST (ops_load_reads_stdin_and_reports_bad_keys_and_missing_files)
{
    rb_ot_db_start (true);
    char *path = rb_ot_load_file ("in.txt", "s", "x", 0, 10);
    char *cmd = zsys_sprintf ("%s --broker %s --journal %s load - < %s",
                              RB_OT_OPS_BIN, rb_ot.c->bus, rb_ot.journal, path);
    char *argv[] = {"/bin/sh", "-c", cmd, NULL};
    char *out = NULL, *err = NULL;
    ck_assert_int_eq (rb_proc_run (argv, 60000, &out, &err), 0);
    ck_assert_ptr_nonnull (strstr (out, "load -: 10 orders"));
    free (out);
    free (err);
    rb_ot_expect_record ("s9", "x9", 10);
    rb_opsrun_t r = OPS ("load", "/no/such/file");
    ck_assert_int_eq (r.rc, EX_NOINPUT);
    ck_assert_ptr_nonnull (strstr (r.err, "/no/such/file"));
    rb_opsrun_done (&r);
    FILE *f = fopen (path, "w");
    fprintf (f, "good\tone\nbad key\tvalue\n");
    fclose (f);
    r = OPS ("load", path);
    ck_assert_int_eq (r.rc, EX_DATAERR);
    ck_assert_ptr_nonnull (strstr (r.err, ":2: bad key"));
    rb_opsrun_done (&r);
    rb_ot_expect_record ("good", "one", 11);
    zstr_free (&cmd);
    zstr_free (&path);
}
END_TEST

/*  --- nothing accepted is lost -------------------------------------------- */

START_TEST (ops_put_with_the_db_down_is_pending_then_sync_applies_it_once)
{
    ck_assert_int_eq (rb_cluster_init (rb_ot.c),
                      0); /* a dataset, but no DB node yet */
    rb_opsrun_t r = OPS ("put", "k", "v1");
    ck_assert_int_eq (r.rc, EX_UNAVAILABLE);
    ck_assert_msg (strstr (r.err, "journaled as seq 1, pending"), "%s", r.err);
    rb_opsrun_done (&r);
    r = OPS ("delete", "gone");
    ck_assert_int_eq (r.rc, EX_UNAVAILABLE);
    ck_assert_ptr_nonnull (strstr (r.err, "journaled as seq 2, pending"));
    rb_opsrun_done (&r);
    json_t *st = rb_ot_status (EX_UNAVAILABLE);
    ck_assert_str_eq (rb_ot_str (st, "state"), "unreachable");
    ck_assert_int_eq (rb_ot_int (st, "pending"), 2);
    json_decref (st);
    rb_ot_db_start (false);
    char *out = EXPECT (0, "--json", "sync");
    json_t *j = rb_ot_json_line (out, 0);
    ck_assert_int_eq (rb_ot_int (j, "resent"), 2);
    ck_assert_int_eq (rb_ot_int (j, "applied"), 2);
    ck_assert_int_eq (rb_ot_int (j, "skipped"), 0);
    ck_assert_int_eq (rb_ot_int (j, "pending"), 0);
    json_decref (j);
    free (out);
    rb_ot_expect_record ("k", "v1", 1);
    rb_ot_expect_record ("gone", "(del)", 2);
    out = EXPECT (0, "sync");
    ck_assert_ptr_nonnull (strstr (out, "nothing pending"));
    free (out);
    /* a DB node that dies: the order waits for the next command */
    rb_ot_db_kill ();
    r = OPS ("put", "k", "v2");
    ck_assert_int_eq (r.rc, EX_UNAVAILABLE);
    ck_assert_ptr_nonnull (strstr (r.err, "journaled as seq 3, pending"));
    rb_opsrun_done (&r);
    rb_ot_db_start (false);
    out = EXPECT (0, "put", "other", "o");
    ck_assert_str_eq (out, "seq 4\n");
    free (out);
    rb_ot_expect_record ("k", "v2", 3);
    st = rb_ot_status (0);
    ck_assert_int_eq (rb_ot_int (st, "watermark"), 4);
    ck_assert_int_eq (rb_ot_int (st, "pending"), 0);
    json_decref (st);
}
END_TEST

/*  --- usage and journal errors ----------------------------------------- */

START_TEST (ops_refuses_bad_usage_and_bad_data)
{
    char *argv[] = {RB_OT_OPS_BIN, NULL};
    char *out, *err;
    ck_assert_int_eq (rb_proc_run (argv, 10000, &out, &err), EX_USAGE);
    ck_assert_ptr_nonnull (strstr (err, "COMMAND"));
    free (out);
    free (err);
    rb_opsrun_t r = OPS ("fly");
    ck_assert_int_eq (r.rc, EX_USAGE);
    rb_opsrun_done (&r);
    r = OPS ("put", "k");
    ck_assert_int_eq (r.rc, EX_USAGE);
    ck_assert_ptr_nonnull (strstr (r.err, "put KEY VALUE"));
    rb_opsrun_done (&r);
    r = OPS ("recover", "--batch", "0");
    ck_assert_int_eq (r.rc, EX_USAGE);
    rb_opsrun_done (&r);
    r = OPS ("put", "bad key", "v");
    ck_assert_int_eq (r.rc, EX_DATAERR);
    ck_assert_ptr_nonnull (strstr (r.err, "bad key"));
    rb_opsrun_done (&r);
    char *help[] = {RB_OT_OPS_BIN, "--help", NULL};
    ck_assert_int_eq (rb_proc_run (help, 10000, &out, &err), 0);
    ck_assert_ptr_nonnull (strstr (out, "recover [--batch N]"));
    ck_assert_ptr_nonnull (strstr (out, "journal repair [--next-seq N]"));
    free (out);
    free (err);
    const char *bad[][5] = {{"journal"},
                            {"journal", "fix"},
                            {"journal", "check", "now"},
                            {"journal", "repair", "--next-seq", "0"},
                            {"journal", "repair", "--next-seq=-1"}};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        r = rb_ot_ops (bad[i]);
        ck_assert_msg (r.rc == EX_USAGE, "%s %s: %d", bad[i][0],
                       bad[i][1] ? bad[i][1] : "", r.rc);
        rb_opsrun_done (&r);
    }
}
END_TEST

int
main (void)
{
    Suite *s = suite_create ("ops");
    TCase *tc = tcase_create ("ops");
    tcase_set_timeout (tc, 150);
    tcase_add_checked_fixture (tc, rb_ot_setup, rb_ot_teardown);
    tcase_add_test (tc, ops_runs_the_disaster_story_s1_to_s11);
    tcase_add_test (tc, ops_json_output_is_one_object_a_line);
    tcase_add_test (tc,
                    ops_load_stops_at_a_bad_line_and_sends_nothing_after_it);
    tcase_add_test (
        tc, ops_load_reads_stdin_and_reports_bad_keys_and_missing_files);
    tcase_add_test (
        tc, ops_put_with_the_db_down_is_pending_then_sync_applies_it_once);
    tcase_add_test (tc, ops_refuses_bad_usage_and_bad_data);
    suite_add_tcase (s, tc);
    return rb_test_run (s);
}
