/*  test_ops: recobus-ops end to end, run as a program against the real
    broker (in-process actor), the recobus-db program and a throwaway
    redis-server: the whole disaster story S1-S11 by the tool's own
    commands, recover killed (or its DB node killed) mid-diffs and run
    again, orders during RECOVERING, a bad line in a load, orders while
    the DB is down and sync, journal-before-send, usage and journal
    errors.  */
#include <check.h>
#include <czmq.h>
#include <jansson.h>
#include <signal.h>
#include <sysexits.h>

#include "rb_fixture.h"
#include "rb_journal.h"
#include "rb_opsrun.h"
#include "rb_proc.h"
#include "rb_testing.h"

#define OPS_BIN RECOBUS_BINARY_DIR "/recobus-ops"
#define DB_BIN  RECOBUS_BINARY_DIR "/recobus-db"

static rb_cluster_t *s_c;
static rb_tnode_t s_probe; /* asks the DB; pumped while ops runs */
static char *s_dir;        /* journal and input files */
static char s_journal[512];
static rb_proc_t *s_db; /* the recobus-db program */

static void
s_setup (void)
{
    s_c = rb_fixture_cluster (NULL);
    rb_tnode_start (&s_probe, s_c, RB_ROLE_OPS, "probe");
    s_dir = rb_temp_dir ("rb-ops-test");
    ck_assert_ptr_nonnull (s_dir);
    snprintf (s_journal, sizeof s_journal, "%s/ops.journal", s_dir);
}

static void
s_teardown (void)
{
    rb_proc_destroy (&s_db);
    rb_tnode_stop (&s_probe);
    rb_cluster_destroy (&s_c);
    rb_remove_tree (s_dir);
    free (s_dir);
}

/*  Starts recobus-db (creating the dataset with init) and waits until
    service db answers.  */
static void
s_db_start (bool init)
{
    char *argv[] = {DB_BIN,
                    "--broker",
                    s_c->bus,
                    "--redis",
                    (char *) rb_redis_address (s_c->redis),
                    "--backup-dir",
                    s_c->backups,
                    "--name",
                    "db-1",
                    init ? "--init" : NULL,
                    NULL};
    s_db = rb_proc_start (argv, NULL);
    ck_assert_ptr_nonnull (s_db);
    ck_assert_int_eq (rb_proc_wait_output (s_db, "serving", 10000), 0);
    rb_tnode_wait_db (&s_probe);
}

static void
s_db_kill (void)
{
    rb_proc_kill (s_db, SIGKILL);
    ck_assert_int_eq (rb_proc_wait (s_db, 5000), 128 + SIGKILL);
    rb_proc_destroy (&s_db);
}

/*  --- running recobus-ops ------------------------------------------------ */

/*  Keeps the probe alive on the bus while recobus-ops runs. */
static void
s_pump (void *probe)
{
    rb_tnode_pump ((rb_tnode_t *) probe, 10);
}

/*  recobus-ops --broker BUS --journal J --timeout 5000 ARGS... */
static rb_proc_t *
s_ops_start (const char *const *args)
{
    rb_opsrun_opts_t o = {OPS_BIN, s_c->bus, s_journal, 5000, false};
    rb_proc_t *p = rb_opsrun_start (&o, args);
    ck_assert_ptr_nonnull (p);
    return p;
}

/*  Waits for it to exit (2 minutes at most), keeping the probe alive. */
static rb_opsrun_t
s_ops_wait (rb_proc_t **p_p)
{
    rb_opsrun_t r = rb_opsrun_wait (p_p, 120000, s_pump, &s_probe);
    ck_assert_msg (r.rc != -1, "recobus-ops still running: %s", r.err);
    return r;
}

static rb_opsrun_t
s_ops (const char *const *args)
{
    rb_proc_t *p = s_ops_start (args);
    return s_ops_wait (&p);
}

#define OPS(...) s_ops ((const char *[]){__VA_ARGS__, NULL})

/*  Runs and expects exit code rc; returns stdout (caller frees). */
static char *
s_expect (int rc, const char *const *args)
{
    rb_opsrun_t r = s_ops (args);
    ck_assert_msg (r.rc == rc, "%s %s: exit %d, want %d; stdout: %s stderr: %s",
                   args[0], args[1] ? args[1] : "", r.rc, rc, r.out, r.err);
    free (r.err);
    return r.out;
}

#define EXPECT(rc, ...) s_expect (rc, (const char *[]){__VA_ARGS__, NULL})
#define OK(...)         free (EXPECT (0, __VA_ARGS__))

/*  Line index (0-based) of text as JSON; the caller decrefs. */
static json_t *
s_json_line (const char *text, int index)
{
    for (int i = 0; i < index && text; i++) {
        text = strchr (text, '\n');
        text = text ? text + 1 : NULL;
    }
    ck_assert_ptr_nonnull (text);
    json_error_t err;
    json_t *obj = json_loadb (text, strcspn (text, "\n"), 0, &err);
    ck_assert_msg (obj != NULL, "not JSON: %s (%s)", text, err.text);
    return obj;
}

static json_int_t
s_int (json_t *obj, const char *name)
{
    json_t *v = json_object_get (obj, name);
    ck_assert_msg (json_is_integer (v), "no integer %s", name);
    return json_integer_value (v);
}

static const char *
s_str (json_t *obj, const char *name)
{
    const char *v = json_string_value (json_object_get (obj, name));
    ck_assert_msg (v != NULL, "no string %s", name);
    return v;
}

/*  status --json, parsed (one line). */
static json_t *
s_status (int rc)
{
    char *out = EXPECT (rc, "--json", "status");
    ck_assert_msg (strchr (out, '\n') == out + strlen (out) - 1,
                   "not one line: %s", out);
    json_t *st = s_json_line (out, 0);
    free (out);
    return st;
}

/*  --- the data in Redis ------------------------------------------------ */

/*  A file of lines "PREFIX<n>\tVALUE<n>" for n in from..to-1. */
static char *
s_load_file (const char *name, const char *key, const char *value, int from,
             int to)
{
    char *path = zsys_sprintf ("%s/%s", s_dir, name);
    FILE *f = fopen (path, "w");
    ck_assert_ptr_nonnull (f);
    for (int i = from; i < to; i++)
        fprintf (f, "%s%d\t%s%d\n", key, i, value, i);
    fclose (f);
    return path;
}

/*  The record of key in Redis: "-" absent, "(del)" tombstone, else the
    value; *seq its seq. Caller frees.  */
static char *
s_record (const char *key, uint64_t *seq)
{
    redisReply *r = rb_redis_cmd (s_c->redis, "HMGET rb:r:%s v s d", key);
    ck_assert_int_eq (r->type, REDIS_REPLY_ARRAY);
    char *v;
    if (r->element[1]->type != REDIS_REPLY_STRING)
        v = strdup ("-");
    else if (r->element[2]->type == REDIS_REPLY_STRING &&
             streq (r->element[2]->str, "1"))
        v = strdup ("(del)");
    else
        v = strdup (r->element[0]->str);
    *seq = r->element[1]->type == REDIS_REPLY_STRING
               ? strtoull (r->element[1]->str, NULL, 10)
               : 0;
    freeReplyObject (r);
    return v;
}

static void
s_expect_record (const char *key, const char *value, uint64_t seq)
{
    uint64_t got_seq;
    char *got = s_record (key, &got_seq);
    ck_assert_msg (streq (got, value) && got_seq == seq,
                   "%s: %s at seq %d, want %s at seq %d", key, got,
                   (int) got_seq, value, (int) seq);
    free (got);
}

static long long
s_redis_int (const char *fmt, const char *arg)
{
    redisReply *r = rb_redis_cmd (s_c->redis, fmt, arg);
    long long v = r->type == REDIS_REPLY_INTEGER ? r->integer : -1;
    freeReplyObject (r);
    return v;
}

/*  --- the whole story ------------------------------------------------------
 */

START_TEST (ops_runs_the_disaster_story_s1_to_s11)
{
    s_db_start (true);
    char *out = EXPECT (0, "put", "a", "a1");
    ck_assert_str_eq (out, "seq 1\n");
    free (out);
    OK ("put", "b", "b1");
    OK ("put", "c", "c1");
    OK ("delete", "c");
    char *f1 = s_load_file ("one.txt", "k", "v", 0, 200); /* seqs 5..204 */
    OK ("--batch", "30", "load", f1);
    out = EXPECT (0, "--json", "backup");
    json_t *j = s_json_line (out, 0);
    ck_assert_int_eq (s_int (j, "watermark"), 204);
    ck_assert_int_eq (s_int (j, "records"), 203); /* a, b, c (del), k* */
    json_decref (j);
    free (out);
    OK ("put", "a", "a2"); /* 205 */
    OK ("put", "d", "d1"); /* 206: not in the backup */
    OK ("delete", "b");    /* 207 */
    char *f2 = s_load_file ("two.txt", "k", "w", 100, 300); /* 208..407 */
    OK ("load", f2);
    json_t *st = s_status (0);
    ck_assert_str_eq (s_str (st, "state"), "normal");
    ck_assert_int_eq (s_int (st, "watermark"), 407);
    json_decref (st);

    /* the disaster: Redis loses everything */
    freeReplyObject (rb_redis_cmd (s_c->redis, "FLUSHALL"));
    st = s_status (0);
    ck_assert_str_eq (s_str (st, "state"), "needs_restore");
    json_decref (st);
    ck_assert_int_eq (rb_tnode_get (&s_probe, "a").rc, RB_S_UNAVAILABLE);

    /* S1, S2 */
    out = EXPECT (0, "restore");
    ck_assert_ptr_nonnull (strstr (out, "watermark 204"));
    free (out);
    st = s_status (0);
    ck_assert_str_eq (s_str (st, "state"), "recovering");
    ck_assert_int_eq (s_int (st, "restored_watermark"), 204);
    json_decref (st);
    /* S5 before the list: every key flagged, even one the backup lacks */
    rb_got_t g = rb_tnode_get (&s_probe, "a");
    ck_assert (g.rc == 0 && g.recovering && streq (g.value, "a1"));
    g = rb_tnode_get (&s_probe, "d");
    ck_assert (g.rc == 0 && g.recovering && !g.found);

    /* S3, S4, S8, S9, S10 */
    out = EXPECT (0, "--batch", "50", "recover");
    ck_assert_msg (strstr (out, "list: 203 keys, 5 batches"), "%s", out);
    ck_assert_ptr_nonnull (strstr (out, "diffs: 203 keys"));
    ck_assert_ptr_nonnull (strstr (out, "end: the DB is normal"));
    free (out);

    /* S11: data only, no flag; the exact final state */
    g = rb_tnode_get (&s_probe, "a");
    ck_assert (g.rc == 0 && !g.recovering && streq (g.value, "a2"));
    g = rb_tnode_get (&s_probe, "b");
    ck_assert (g.rc == 0 && !g.recovering && !g.found);
    g = rb_tnode_get (&s_probe, "d");
    ck_assert (g.rc == 0 && !g.recovering && streq (g.value, "d1"));
    s_expect_record ("a", "a2", 205);
    s_expect_record ("b", "(del)", 207);
    s_expect_record ("c", "(del)", 4);
    s_expect_record ("d", "d1", 206);
    for (int i = 0; i < 300; i++) {
        char key[16], value[16];
        snprintf (key, sizeof key, "k%d", i);
        snprintf (value, sizeof value, "%s%d", i < 100 ? "v" : "w", i);
        s_expect_record (key, value, (uint64_t) (i < 100 ? 5 + i : 108 + i));
    }
    st = s_status (0);
    ck_assert_str_eq (s_str (st, "state"), "normal");
    ck_assert_int_eq (s_int (st, "recovering"), 0);
    ck_assert_int_eq (s_int (st, "watermark"), 407);
    ck_assert_int_eq (s_int (st, "keys"), 302);     /* a, d, k0..k299 */
    ck_assert_int_eq (s_int (st, "tombstones"), 2); /* b, c */
    ck_assert_int_eq (s_int (st, "pending"), 0);
    ck_assert_ptr_nonnull (
        json_object_get (json_object_get (st, "nodes"), "db-1"));
    ck_assert_int_ge (s_int (json_object_get (st, "broker"), "nodes"), 2);
    json_decref (st);
    free (f1);
    free (f2);
}
END_TEST

START_TEST (ops_json_output_is_one_object_a_line)
{
    s_db_start (true);
    char *out = EXPECT (0, "--json", "put", "k", "caf\xc3\xa9");
    json_t *j = s_json_line (out, 0);
    ck_assert_str_eq (s_str (j, "command"), "put");
    ck_assert_str_eq (s_str (j, "status"), "applied");
    ck_assert_int_eq (s_int (j, "seq"), 1);
    json_decref (j);
    free (out);
    OK ("backup");
    freeReplyObject (rb_redis_cmd (s_c->redis, "FLUSHALL"));
    OK ("restore");
    out = EXPECT (0, "--json", "recover");
    const char *phases[] = {"scan", "list", "diffs", "end"};
    for (int i = 0; i < 4; i++) {
        j = s_json_line (out, i);
        ck_assert_str_eq (s_str (j, "phase"), phases[i]);
        if (i == 1 || i == 2) {
            s_int (j, "keys");
            s_int (j, "batches");
            ck_assert (json_is_real (json_object_get (j, "seconds")));
        }
        json_decref (j);
    }
    free (out);
    /* an error is a line on stderr, and an object on stdout */
    rb_opsrun_t r = OPS ("--json", "recover");
    ck_assert_int_eq (r.rc, EX_DATAERR);
    j = s_json_line (r.out, 0);
    ck_assert_int_eq (s_int (j, "exit"), EX_DATAERR);
    ck_assert_ptr_nonnull (strstr (s_str (j, "error"), "not recovering"));
    json_decref (j);
    ck_assert_ptr_nonnull (strstr (r.err, "the DB is normal, not recovering"));
    rb_opsrun_done (&r);
    /* bytes that are not UTF-8 go out as base64, marked */
    char *path = s_load_file ("caf\xe9.txt", "u", "v", 0, 3);
    out = EXPECT (0, "--json", "load", path);
    j = s_json_line (out, 0);
    ck_assert_str_eq (s_str (j, "file_encoding"), "base64");
    ck_assert_int_eq (s_int (j, "orders"), 3);
    ck_assert_int_eq (s_int (j, "applied"), 3);
    json_decref (j);
    free (out);
    zstr_free (&path);
}
END_TEST

/*  A cluster after a disaster: a backup at watermark 100 (keys r0..r99),
    then keys k0..k(n-1) written twice (the second value wins), Redis
    flushed and the backup restored. Returns the seq of k0's last order.  */
static uint64_t
s_disaster (int n)
{
    s_db_start (true);
    char *f = s_load_file ("base.txt", "r", "base", 0, 100);
    OK ("load", f);
    free (f);
    OK ("backup");
    f = s_load_file ("first.txt", "k", "first", 0, n);
    OK ("load", f);
    free (f);
    f = s_load_file ("second.txt", "k", "second", 0, n);
    OK ("load", f);
    free (f);
    freeReplyObject (rb_redis_cmd (s_c->redis, "FLUSHALL"));
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
        s_expect_record (key, value, first_seq + (uint64_t) i);
    }
    ck_assert_int_eq (s_redis_int ("HLEN %s", "rb:rec"), 0);
    json_t *st = s_status (0);
    ck_assert_str_eq (s_str (st, "state"), "normal");
    ck_assert_int_eq (s_int (st, "keys"), 100 + n);
    ck_assert_int_eq (s_int (st, "watermark"), 100 + 2 * n);
    json_decref (st);
}

START_TEST (ops_recover_killed_mid_diffs_then_run_again_finishes_exactly)
{
    int n = 15000;
    uint64_t first = s_disaster (n);
    rb_proc_t *p =
        s_ops_start ((const char *[]){"--batch", "20", "recover", NULL});
    ck_assert_int_eq (rb_proc_wait_output (p, "list: ", 60000), 0);
    rb_proc_kill (p, SIGKILL);
    rb_opsrun_t r = s_ops_wait (&p);
    ck_assert_int_eq (r.rc, 128 + SIGKILL);
    ck_assert_ptr_null (strstr (r.out, "diffs:"));
    rb_opsrun_done (&r);
    /* mid-diffs: still recovering, keys still flagged */
    rb_tnode_expect_state (&s_probe, "recovering");
    ck_assert_uint_gt (rb_tnode_status_num (&s_probe, "recovering"), 0);
    char *out = EXPECT (0, "recover");
    ck_assert_ptr_nonnull (strstr (out, "end: the DB is normal"));
    free (out);
    s_expect_recovered (n, first);
}
END_TEST

START_TEST (ops_recover_after_the_db_node_died_mid_diffs_finishes_exactly)
{
    int n = 15000;
    uint64_t first = s_disaster (n);
    rb_proc_t *p =
        s_ops_start ((const char *[]){"--batch", "20", "recover", NULL});
    ck_assert_int_eq (rb_proc_wait_output (p, "list: ", 60000), 0);
    s_db_kill ();
    rb_opsrun_t r = s_ops_wait (&p);
    ck_assert_int_eq (r.rc, EX_UNAVAILABLE);
    ck_assert_ptr_nonnull (strstr (r.err, "run 'recobus-ops recover' again"));
    rb_opsrun_done (&r);
    s_db_start (false);
    rb_tnode_expect_state (&s_probe, "recovering");
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
        s_ops_start ((const char *[]){"--batch", "5", "recover", NULL});
    ck_assert_int_eq (rb_proc_wait_output (p, "scan: ", 60000), 0);
    OK ("put", "k1", "during");
    rb_opsrun_t r = s_ops_wait (&p);
    ck_assert_msg (r.rc == 0, "recover: %s", r.err);
    rb_opsrun_done (&r);
    s_expect_record ("k0", "newest", next);
    s_expect_record ("r5", "(del)", next + 1);
    s_expect_record ("x", "x1", next + 2);
    s_expect_record ("k1", "during", next + 3);
    s_expect_record ("k2", "second2", first + 2);
    s_expect_record ("r6", "base6", 7);
    json_t *st = s_status (0);
    ck_assert_str_eq (s_str (st, "state"), "normal");
    ck_assert_int_eq (s_int (st, "recovering"), 0);
    json_decref (st);
}
END_TEST

START_TEST (ops_recover_needs_a_recovering_db)
{
    rb_opsrun_t r = OPS ("recover");
    ck_assert_int_eq (r.rc, EX_UNAVAILABLE); /* no DB node at all */
    ck_assert_ptr_nonnull (strstr (r.err, "unknown_service"));
    rb_opsrun_done (&r);
    s_db_start (true);
    r = OPS ("recover");
    ck_assert_int_eq (r.rc, EX_DATAERR);
    ck_assert_ptr_nonnull (strstr (r.err, "normal, not recovering"));
    rb_opsrun_done (&r);
    freeReplyObject (rb_redis_cmd (s_c->redis, "FLUSHALL"));
    r = OPS ("recover");
    ck_assert_int_eq (r.rc, EX_DATAERR);
    ck_assert_ptr_nonnull (strstr (r.err, "restore' first"));
    rb_opsrun_done (&r);
}
END_TEST

/*  --- load ---------------------------------------------------------------- */

START_TEST (ops_load_stops_at_a_bad_line_and_sends_nothing_after_it)
{
    s_db_start (true);
    char *path = zsys_sprintf ("%s/bad.txt", s_dir);
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
    s_expect_record ("k499", "v499", 499);
    for (int line = 500; line <= 1000; line++) {
        char key[16];
        snprintf (key, sizeof key, "k%d", line);
        s_expect_record (key, "-", 0);
    }
    json_t *st = s_status (0);
    ck_assert_int_eq (s_int (st, "keys"), 499);
    ck_assert_int_eq (s_int (st, "watermark"), 499);
    ck_assert_int_eq (s_int (json_object_get (st, "journal"), "next_seq"), 500);
    ck_assert_int_eq (s_int (st, "pending"), 0);
    json_decref (st);
    zstr_free (&where);
    zstr_free (&path);
}
END_TEST

START_TEST (ops_load_reads_stdin_and_reports_bad_keys_and_missing_files)
{
    s_db_start (true);
    char *path = s_load_file ("in.txt", "s", "x", 0, 10);
    char *cmd = zsys_sprintf ("%s --broker %s --journal %s load - < %s",
                              OPS_BIN, s_c->bus, s_journal, path);
    char *argv[] = {"/bin/sh", "-c", cmd, NULL};
    char *out = NULL, *err = NULL;
    ck_assert_int_eq (rb_proc_run (argv, 60000, &out, &err), 0);
    ck_assert_ptr_nonnull (strstr (out, "load -: 10 orders"));
    free (out);
    free (err);
    s_expect_record ("s9", "x9", 10);
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
    s_expect_record ("good", "one", 11);
    zstr_free (&cmd);
    zstr_free (&path);
}
END_TEST

/*  --- nothing accepted is lost -------------------------------------------- */

START_TEST (ops_put_with_the_db_down_is_pending_then_sync_applies_it_once)
{
    ck_assert_int_eq (rb_cluster_init (s_c),
                      0); /* a dataset, but no DB node yet */
    rb_opsrun_t r = OPS ("put", "k", "v1");
    ck_assert_int_eq (r.rc, EX_UNAVAILABLE);
    ck_assert_msg (strstr (r.err, "journaled as seq 1, pending"), "%s", r.err);
    rb_opsrun_done (&r);
    r = OPS ("delete", "gone");
    ck_assert_int_eq (r.rc, EX_UNAVAILABLE);
    ck_assert_ptr_nonnull (strstr (r.err, "journaled as seq 2, pending"));
    rb_opsrun_done (&r);
    json_t *st = s_status (EX_UNAVAILABLE);
    ck_assert_str_eq (s_str (st, "state"), "unreachable");
    ck_assert_int_eq (s_int (st, "pending"), 2);
    json_decref (st);
    s_db_start (false);
    char *out = EXPECT (0, "--json", "sync");
    json_t *j = s_json_line (out, 0);
    ck_assert_int_eq (s_int (j, "resent"), 2);
    ck_assert_int_eq (s_int (j, "applied"), 2);
    ck_assert_int_eq (s_int (j, "skipped"), 0);
    ck_assert_int_eq (s_int (j, "pending"), 0);
    json_decref (j);
    free (out);
    s_expect_record ("k", "v1", 1);
    s_expect_record ("gone", "(del)", 2);
    out = EXPECT (0, "sync");
    ck_assert_ptr_nonnull (strstr (out, "nothing pending"));
    free (out);
    /* a DB node that dies: the order waits for the next command */
    s_db_kill ();
    r = OPS ("put", "k", "v2");
    ck_assert_int_eq (r.rc, EX_UNAVAILABLE);
    ck_assert_ptr_nonnull (strstr (r.err, "journaled as seq 3, pending"));
    rb_opsrun_done (&r);
    s_db_start (false);
    out = EXPECT (0, "put", "other", "o");
    ck_assert_str_eq (out, "seq 4\n");
    free (out);
    s_expect_record ("k", "v2", 3);
    st = s_status (0);
    ck_assert_int_eq (s_int (st, "watermark"), 4);
    ck_assert_int_eq (s_int (st, "pending"), 0);
    json_decref (st);
}
END_TEST

/*  A DB that checks each order is in the journal when it arrives, then
    refuses it.  */
typedef struct {
    const char *bus, *journal;
    int seen, found;
} fake_t;

static bool
s_journaled (const char *path, uint64_t seq)
{
    rb_journal_err_t err;
    rb_journal_t *j = rb_journal_open (path, RB_JOURNAL_READONLY, 0, &err);
    if (!j)
        return false;
    uint64_t *offsets;
    size_t n = rb_journal_pending_list (j, &offsets);
    rb_journal_map_t *map = rb_journal_map_new (j);
    bool found = false;
    for (size_t i = 0; i < n && !found; i++) {
        rb_jorder_t o;
        found = rb_journal_map_order (map, offsets[i], &o) == 0 && o.seq == seq;
    }
    rb_journal_map_destroy (&map);
    free (offsets);
    rb_journal_destroy (&j);
    return found;
}

static void
s_fake_request (rb_bus_t *bus, const rb_header_t *h, const rb_body_t *b,
                zmsg_t **msg_p, void *arg)
{
    fake_t *f = (fake_t *) arg;
    if (h->type == RB_T_ORDER) {
        f->seen++;
        f->found += s_journaled (f->journal, b->seq);
    }
    for (uint32_t i = 0; h->type == RB_T_DIFF && i < b->n_orders; i++) {
        f->seen++;
        f->found += s_journaled (f->journal, b->orders[i].seq);
    }
    rb_bus_error (bus, h, RB_S_UNAVAILABLE, "refused by the test");
}

static void
s_fake_db (zsock_t *pipe, void *args)
{
    fake_t *f = (fake_t *) args;
    rb_bus_opts_t o = {.endpoint = f->bus,
                       .role = RB_ROLE_DB,
                       .name = "fake-db",
                       .services = {"db"},
                       .n_services = 1};
    rb_bus_t *bus = rb_bus_new (&o);
    rb_bus_on_request (bus, s_fake_request, f);
    rb_bus_wait_ready (bus, 5000);
    zsock_signal (pipe, 0);
    bool running = true;
    while (running) {
        if (zsock_events (pipe) & ZMQ_POLLIN) {
            char *cmd = zstr_recv (pipe);
            running = cmd && !streq (cmd, "$TERM");
            if (cmd && streq (cmd, "COUNTS"))
                zsock_send (pipe, "ii", f->seen, f->found);
            zstr_free (&cmd);
        }
        rb_bus_poll (bus, 10);
    }
    rb_bus_destroy (&bus);
}

START_TEST (ops_journals_every_order_before_sending_it)
{
    static fake_t fake;
    fake = (fake_t){s_c->bus, s_journal, 0, 0};
    zactor_t *db = zactor_new (s_fake_db, &fake);
    rb_opsrun_t r = OPS ("put", "k", "v");
    ck_assert_int_eq (r.rc, EX_UNAVAILABLE);
    ck_assert_ptr_nonnull (strstr (r.err, "journaled as seq 1, pending"));
    ck_assert_ptr_nonnull (strstr (r.err, "refused by the test"));
    rb_opsrun_done (&r);
    /* the load's first batch is refused: the rest is journaled only */
    snprintf (s_journal, sizeof s_journal, "%s/second.journal", s_dir);
    char *path = s_load_file ("in.txt", "l", "v", 0, 35);
    r = OPS ("--batch", "10", "load", path);
    ck_assert_int_eq (r.rc, EX_UNAVAILABLE);
    ck_assert_ptr_nonnull (strstr (r.err, "35 order(s) journaled, pending"));
    rb_opsrun_done (&r);
    int seen, found;
    zstr_send (db, "COUNTS");
    zsock_recv (db, "ii", &seen, &found);
    ck_assert_int_ge (seen, 11); /* the put, one batch (maybe more) */
    ck_assert_int_eq (found, seen);
    rb_journal_err_t err;
    rb_journal_t *j = rb_journal_open (s_journal, 0, 0, &err);
    ck_assert_uint_eq (rb_journal_pending (j, NULL, NULL), 35);
    rb_journal_destroy (&j);
    snprintf (s_journal, sizeof s_journal, "%s/ops.journal", s_dir);
    j = rb_journal_open (s_journal, 0, 0, &err);
    ck_assert_uint_eq (rb_journal_pending (j, NULL, NULL), 1);
    rb_journal_destroy (&j);
    zactor_destroy (&db);
    zstr_free (&path);
}
END_TEST

/*  --- usage and journal errors ----------------------------------------- */

START_TEST (ops_refuses_bad_usage_and_bad_data)
{
    char *argv[] = {OPS_BIN, NULL};
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
    char *help[] = {OPS_BIN, "--help", NULL};
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
        r = s_ops (bad[i]);
        ck_assert_msg (r.rc == EX_USAGE, "%s %s: %d", bad[i][0],
                       bad[i][1] ? bad[i][1] : "", r.rc);
        rb_opsrun_done (&r);
    }
}
END_TEST

/*  Flips the lowest bit of the journal's byte at offset. */
static void
s_flip (long offset)
{
    FILE *f = fopen (s_journal, "r+b");
    ck_assert_ptr_nonnull (f);
    fseek (f, offset, SEEK_SET);
    int c = fgetc (f);
    fseek (f, -1, SEEK_CUR);
    fputc (c ^ 1, f);
    fclose (f);
}

START_TEST (ops_stops_at_a_damaged_or_unusable_journal)
{
    s_db_start (true);
    OK ("put", "a", "1");
    OK ("put", "b", "2");
    OK ("put", "c", "3");
    s_flip (8 + 12 + 25 + 12 + 3); /* in the second record */
    rb_opsrun_t r = OPS ("put", "d", "4");
    ck_assert_int_eq (r.rc, EX_DATAERR);
    ck_assert_msg (strstr (r.err, "offset 45"), "%s", r.err);
    rb_opsrun_done (&r);
    snprintf (s_journal, sizeof s_journal, "%s/no/such/dir/j", s_dir);
    r = OPS ("put", "d", "4");
    ck_assert_int_eq (r.rc, EX_IOERR);
    ck_assert_ptr_nonnull (strstr (r.err, "No such file"));
    rb_opsrun_done (&r);
    /* another writer holds it: orders wait, status reads it anyway */
    snprintf (s_journal, sizeof s_journal, "%s/held.journal", s_dir);
    rb_journal_err_t err;
    rb_journal_t *j = rb_journal_open (s_journal, 0, 0, &err);
    r = OPS ("--timeout", "200", "put", "d", "4");
    ck_assert_int_eq (r.rc, EX_UNAVAILABLE);
    ck_assert_ptr_nonnull (strstr (r.err, "in use"));
    rb_opsrun_done (&r);
    json_t *st = s_status (0);
    ck_assert (json_is_true (
        json_object_get (json_object_get (st, "journal"), "in_use")));
    json_decref (st);
    rb_journal_destroy (&j);
}
END_TEST

/*  The whole file at path (*len bytes); the caller frees. */
static char *
s_file (const char *path, size_t *len)
{
    char *text = NULL;
    FILE *f = fopen (path, "rb");
    ck_assert_ptr_nonnull (f);
    ck_assert_int_eq (fseek (f, 0, SEEK_END), 0);
    *len = (size_t) ftell (f);
    rewind (f);
    text = malloc (*len + 1);
    ck_assert_uint_eq (fread (text, 1, *len, f), *len);
    fclose (f);
    return text;
}

/*  Records of "put K V" (K, V one byte): an order of 37 bytes, then its
    acknowledgement of 41. b's order starts at 8 + 78 = 86.  */
#define B_ORDER 86

START_TEST (ops_journal_check_and_repair_bring_a_damaged_journal_back)
{
    s_db_start (true);
    OK ("put", "a", "1");
    OK ("put", "b", "2");
    OK ("put", "c", "3");
    OK ("put", "d", "4");
    s_flip (B_ORDER + 30); /* b's value */
    rb_opsrun_t r = OPS ("journal", "check");
    ck_assert_int_eq (r.rc, EX_DATAERR);
    char *want = zsys_sprintf (
        "damaged: %s: offset 86: checksum mismatch (37 bytes)\n%s: 320 "
        "bytes, 7 records, 3 orders, last seq 4, next seq 5, 1 damaged\n",
        s_journal, s_journal);
    ck_assert_str_eq (r.out, want);
    zstr_free (&want);
    ck_assert_ptr_nonnull (
        strstr (r.err, "journal repair' keeps its first 86"));
    rb_opsrun_done (&r);
    char *out = EXPECT (EX_DATAERR, "--json", "journal", "check");
    json_t *j = s_json_line (out, 0);
    ck_assert_str_eq (s_str (j, "kind"), "damaged");
    ck_assert_int_eq (s_int (j, "offset"), B_ORDER);
    json_decref (j);
    j = s_json_line (out, 1);
    ck_assert_int_eq (s_int (j, "keep_bytes"), B_ORDER);
    ck_assert_int_eq (s_int (j, "lost_orders"), 2);
    json_decref (j);
    free (out);
    /* orders stop; status still shows the DB's watermark */
    free (EXPECT (EX_DATAERR, "put", "e", "5"));
    json_t *st = s_status (EX_DATAERR);
    ck_assert_int_eq (s_int (st, "watermark"), 4);
    ck_assert_ptr_nonnull (
        strstr (s_str (json_object_get (st, "journal"), "damaged"), "86"));
    json_decref (st);
    size_t len, n;
    char *damaged = s_file (s_journal, &len);
    out = EXPECT (0, "journal", "repair");
    char aside[600];
    ck_assert_int_eq (
        sscanf (out, "set aside: %599s (234 bytes from offset 86)", aside), 1);
    ck_assert_ptr_nonnull (strstr (out, "\nlost seq 2: in unreadable bytes at "
                                        "offset 86, key unknown\n"
                                        "lost seq 3: put c 3\n"
                                        "lost seq 4: put d 4\n"
                                        "repaired "));
    ck_assert_ptr_nonnull (strstr (out, "1 order(s) kept, next seq 5"));
    free (out);
    char *set = s_file (aside, &n); /* every byte from b's order on */
    ck_assert_uint_eq (n, len - B_ORDER);
    ck_assert_int_eq (memcmp (set, damaged + B_ORDER, n), 0);
    free (set);
    free (damaged);
    OK ("journal", "check");
    out = EXPECT (0, "journal", "repair");
    ck_assert_ptr_nonnull (strstr (out, "nothing to repair"));
    free (out);
    /* re-entered, c gets a seq above the 3 the DB holds for it: taken */
    out = EXPECT (0, "put", "c", "3 again");
    ck_assert_str_eq (out, "seq 5\n");
    free (out);
    s_expect_record ("c", "3 again", 5);
    OK ("put", "b", "2");
    s_expect_record ("b", "2", 6);
}
END_TEST

int
main (void)
{
    Suite *s = suite_create ("ops");
    TCase *tc = tcase_create ("ops");
    tcase_set_timeout (tc, 150);
    tcase_add_checked_fixture (tc, s_setup, s_teardown);
    tcase_add_test (tc, ops_runs_the_disaster_story_s1_to_s11);
    tcase_add_test (tc, ops_json_output_is_one_object_a_line);
    tcase_add_test (
        tc, ops_recover_killed_mid_diffs_then_run_again_finishes_exactly);
    tcase_add_test (
        tc, ops_recover_after_the_db_node_died_mid_diffs_finishes_exactly);
    tcase_add_test (tc, ops_orders_issued_while_recovering_survive);
    tcase_add_test (tc, ops_recover_needs_a_recovering_db);
    tcase_add_test (tc,
                    ops_load_stops_at_a_bad_line_and_sends_nothing_after_it);
    tcase_add_test (
        tc, ops_load_reads_stdin_and_reports_bad_keys_and_missing_files);
    tcase_add_test (
        tc, ops_put_with_the_db_down_is_pending_then_sync_applies_it_once);
    tcase_add_test (tc, ops_journals_every_order_before_sending_it);
    tcase_add_test (tc, ops_refuses_bad_usage_and_bad_data);
    tcase_add_test (tc, ops_stops_at_a_damaged_or_unusable_journal);
    tcase_add_test (tc,
                    ops_journal_check_and_repair_bring_a_damaged_journal_back);
    suite_add_tcase (s, tc);
    return rb_test_run (s);
}
