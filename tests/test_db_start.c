/*  test_db_start: recobus-db at start-up waits for its Redis, as a daemon
    started in any order by a service manager must: started before its
    Redis (with --init, or without), it comes up serving once Redis
    answers; with no Redis, or no sentinel naming a master, it gives up
    after connect-timeout with exit 69 and one clear line.  */
#include <check.h>
#include <czmq.h>
#include <sysexits.h>

#include "rb_proc.h"
#include "rb_testing.h"
#include "rb_tnode.h"

#define DB_BIN       RECOBUS_BINARY_DIR "/recobus-db"
#define REDIS_SERVER "/usr/bin/redis-server"

static rb_cluster_t *s_c; /* the broker (its own Redis stays unused) */
static char *s_dir;       /* the late Redis's dir, the DB's log */

static void
s_setup (void)
{
    s_c = rb_cluster_new (NULL);
    ck_assert_ptr_nonnull (s_c);
    s_dir = rb_temp_dir ("rb-db-start");
    ck_assert_ptr_nonnull (s_dir);
}

static void
s_teardown (void)
{
    rb_remove_tree (s_dir);
    zstr_free (&s_dir);
    rb_cluster_destroy (&s_c);
}

/*  recobus-db on the cluster's broker and the Redis at redis, its stdout
    and stderr in s_dir/db.log; init adds --init.  */
static rb_proc_t *
s_db (const char *redis, const char *timeout, bool init)
{
    char log[512];
    snprintf (log, sizeof log, "%s/db.log", s_dir);
    char *argv[] = {DB_BIN,
                    "--broker",
                    s_c->bus,
                    "--redis",
                    (char *) redis,
                    "--backup-dir",
                    s_c->backups,
                    "--connect-timeout",
                    (char *) timeout,
                    init ? "--init" : NULL,
                    NULL};
    rb_proc_t *p = rb_proc_start (argv, log);
    ck_assert_ptr_nonnull (p);
    return p;
}

/*  A redis-server on 127.0.0.1:port, persistence off, in s_dir. */
static rb_proc_t *
s_redis (int port)
{
    char p[16];
    snprintf (p, sizeof p, "%d", port);
    char *argv[] = {REDIS_SERVER, "--port", p,     "--bind",
                    "127.0.0.1",  "--save", "",    "--appendonly",
                    "no",         "--dir",  s_dir, NULL};
    rb_proc_t *r = rb_proc_start (argv, NULL);
    ck_assert_ptr_nonnull (r);
    return r;
}

/*  The DB node, started with no Redis at its address, says it waits;
    the Redis started then; the node serves from it.  */
static void
s_started_before_redis (bool init)
{
    int port = rb_free_port ();
    ck_assert_int_gt (port, 0);
    char redis[32];
    snprintf (redis, sizeof redis, "127.0.0.1:%d", port);
    rb_proc_t *db = s_db (redis, "20000", init);
    ck_assert_int_eq (rb_proc_wait_output (db, "waiting for Redis at", 5000),
                      0);
    rb_proc_t *server = s_redis (port);
    ck_assert_int_eq (rb_proc_wait_output (db, "db-1 serving, state ", 15000),
                      0);
    ck_assert_int_eq (rb_proc_wait (db, 0), -1); /* still running */
    rb_tnode_t svc;
    rb_tnode_start (&svc, s_c, RB_ROLE_SERVICE, "svc-1");
    rb_tnode_wait_db (&svc);
    rb_tnode_expect_state (&svc, init ? "normal" : "needs_restore");
    char *log = rb_proc_stdout (db);
    ck_assert_ptr_nonnull (strstr (log, "answered after"));
    /* one line per reason and a few seconds, not one per try */
    int lines = 0;
    for (const char *at = log; (at = strstr (at, "waiting for Redis")); at++)
        lines++;
    ck_assert_int_le (lines, 5);
    free (log);
    rb_bus_destroy (&svc.bus);
    rb_proc_destroy (&db);
    rb_proc_destroy (&server);
}

START_TEST (db_init_started_before_its_redis_waits_and_serves)
{
    s_started_before_redis (true);
}
END_TEST

START_TEST (db_started_before_its_redis_waits_and_serves)
{
    s_started_before_redis (false);
}
END_TEST

/*  No Redis: exit 69 after connect-timeout (not before, not long after),
    with one line naming the address and the option.  */
static void
s_gives_up (const char *redis, const char *timeout, bool init, int min_ms,
            const char *why)
{
    int64_t start = rb_clock_ms ();
    rb_proc_t *db = s_db (redis, timeout, init);
    ck_assert_int_eq (rb_proc_wait (db, 10000), EX_UNAVAILABLE);
    int64_t took = rb_clock_ms () - start;
    ck_assert_int_ge (took, min_ms);
    ck_assert_int_lt (took, min_ms + 5000);
    char *log = rb_proc_stdout (db);
    ck_assert_msg (strstr (log, why) && strstr (log, "within connect-timeout"),
                   "%s", log);
    ck_assert_ptr_null (strstr (log, "serving"));
    free (log);
    rb_proc_destroy (&db);
}

START_TEST (db_without_redis_gives_up_after_connect_timeout)
{
    char redis[32];
    snprintf (redis, sizeof redis, "127.0.0.1:%d", rb_free_port ());
    s_gives_up (redis, "1500", true, 1500,
                "--init: no answer from Redis at 127.0.0.1:");
    s_gives_up (redis, "1500", false, 1500, "no answer from Redis at ");
    s_gives_up (redis, "0", true, 0, "Connection refused");
}
END_TEST

START_TEST (db_with_no_sentinel_answering_gives_up_after_connect_timeout)
{
    char log[512], sentinels[64];
    snprintf (log, sizeof log, "%s/db.log", s_dir);
    snprintf (sentinels, sizeof sentinels, "127.0.0.1:%d", rb_free_port ());
    char *argv[] = {
        DB_BIN,       "--broker",          s_c->bus,  "--backup-dir",
        s_c->backups, "--redis-sentinels", sentinels, "--redis-master-name",
        "recobus",    "--connect-timeout", "1000",    NULL};
    rb_proc_t *db = rb_proc_start (argv, log);
    ck_assert_int_eq (rb_proc_wait (db, 10000), EX_UNAVAILABLE);
    char *out = rb_proc_stdout (db);
    ck_assert_msg (strstr (out, "waiting for Redis at recobus (sentinels)") &&
                       strstr (out, "no sentinel says where master recobus") &&
                       strstr (out, "within connect-timeout 1000 ms"),
                   "%s", out);
    free (out);
    rb_proc_destroy (&db);
}
END_TEST

int
main (void)
{
    Suite *s = suite_create ("db_start");
    TCase *tc = tcase_create ("db_start");
    tcase_set_timeout (tc, 60);
    tcase_add_checked_fixture (tc, s_setup, s_teardown);
    tcase_add_test (tc, db_init_started_before_its_redis_waits_and_serves);
    tcase_add_test (tc, db_started_before_its_redis_waits_and_serves);
    tcase_add_test (tc, db_without_redis_gives_up_after_connect_timeout);
    tcase_add_test (
        tc, db_with_no_sentinel_answering_gives_up_after_connect_timeout);
    suite_add_tcase (s, tc);
    return rb_test_run (s);
}
