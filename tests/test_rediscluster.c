/*  test_rediscluster: the Redis Cluster test harness (rb_rediscluster)
    itself: three masters with a replica each come up stable, a key is
    served by the master of its slot and redirected by the others, and
    killing that master lets its replica take its slots over, with the
    key; the killed node comes back as a replica. Real redis-server and
    redis-cli processes.  */
#include <check.h>
#include <signal.h>
#include <string.h>

#include "rb_rediscluster.h"
#include "rb_testing.h"

static rb_rcluster_t *s_rc;

static void
s_setup (void)
{
    s_rc = rb_rcluster_start (3, 1);
    ck_assert_ptr_nonnull (s_rc);
}

static void
s_teardown (void)
{
    rb_rcluster_stop (&s_rc);
}

/*  The slot of key, as node 0 computes it. */
static int
s_keyslot (const char *key)
{
    redisReply *r = rb_rcluster_cmd (s_rc, 0, "CLUSTER KEYSLOT %s", key);
    ck_assert_ptr_nonnull (r);
    ck_assert_int_eq (r->type, REDIS_REPLY_INTEGER);
    int slot = (int) r->integer;
    freeReplyObject (r);
    return slot;
}

/*  The type of node i's reply to cmd (and its error text into err). */
static int
s_reply_type (int i, const char *cmd, const char *key, const char *value,
              char *err, size_t len)
{
    redisReply *r = value
                        ? rb_rcluster_cmd (s_rc, i, "%s %s %s", cmd, key, value)
                        : rb_rcluster_cmd (s_rc, i, "%s %s", cmd, key);
    ck_assert_ptr_nonnull (r);
    int type = r->type;
    snprintf (err, len, "%s", type == REDIS_REPLY_ERROR ? r->str : "");
    freeReplyObject (r);
    return type;
}

START_TEST (rediscluster_starts_stable_with_one_master_per_group)
{
    ck_assert_int_eq (rb_rcluster_count (s_rc), 6);
    int masters = 0;
    for (int i = 0; i < 6; i++) {
        ck_assert_int_gt (rb_rcluster_pid (s_rc, i), 0);
        ck_assert_int_eq (strlen (rb_rcluster_id (s_rc, i)), 40);
        masters += rb_rcluster_is_master (s_rc, i);
    }
    ck_assert_int_eq (masters, 3);
    for (int i = 0; i < 3; i++) {
        ck_assert (rb_rcluster_is_master (s_rc, i));
        ck_assert_ptr_nonnull (
            strstr (rb_rcluster_seeds (s_rc), rb_rcluster_address (s_rc, i)));
    }
    ck_assert_int_eq (rb_rcluster_wait_stable (s_rc, 1000), 0);
}
END_TEST

START_TEST (rediscluster_key_served_by_its_master_redirected_elsewhere)
{
    const char *keys[] = {"foo", "bar", "{user1}.name", "zzz"};
    for (int k = 0; k < 4; k++) {
        int owner = rb_rcluster_slot_owner (s_rc, s_keyslot (keys[k]));
        ck_assert_int_ge (owner, 0);
        ck_assert (rb_rcluster_is_master (s_rc, owner));
        char err[200];
        ck_assert_int_eq (s_reply_type (owner, "SET", keys[k], "v", err, 200),
                          REDIS_REPLY_STATUS);
        ck_assert_int_eq (s_reply_type (owner, "GET", keys[k], NULL, err, 200),
                          REDIS_REPLY_STRING);
        int other = (owner + 1) % 3;
        ck_assert_int_eq (s_reply_type (other, "GET", keys[k], NULL, err, 200),
                          REDIS_REPLY_ERROR);
        ck_assert_msg (strncmp (err, "MOVED ", 6) == 0, "%s", err);
        ck_assert_ptr_nonnull (strstr (err, rb_rcluster_address (s_rc, owner)));
    }
}
END_TEST

START_TEST (rediscluster_replica_takes_over_a_killed_master)
{
    int slot = s_keyslot ("foo");
    int owner = rb_rcluster_slot_owner (s_rc, slot);
    ck_assert_int_ge (owner, 0);
    char err[200];
    ck_assert_int_eq (s_reply_type (owner, "SET", "foo", "kept", err, 200),
                      REDIS_REPLY_STATUS);
    redisReply *w = rb_rcluster_cmd (s_rc, owner, "WAIT 1 2000");
    ck_assert (w && w->type == REDIS_REPLY_INTEGER && w->integer == 1);
    freeReplyObject (w);

    ck_assert_int_eq (rb_rcluster_kill_master (s_rc, owner), 0);
    ck_assert_int_eq (rb_rcluster_pid (s_rc, owner), 0);
    ck_assert (!rb_rcluster_is_master (s_rc, owner));
    int now = rb_rcluster_slot_owner (s_rc, slot);
    ck_assert_int_ge (now, 3); /* one of the replicas */
    ck_assert (rb_rcluster_is_master (s_rc, now));
    redisReply *r = rb_rcluster_cmd (s_rc, now, "GET foo");
    ck_assert (r && r->type == REDIS_REPLY_STRING);
    ck_assert_str_eq (r->str, "kept");
    freeReplyObject (r);

    ck_assert_int_eq (rb_rcluster_restart (s_rc, owner), 0);
    ck_assert_int_gt (rb_rcluster_pid (s_rc, owner), 0);
    ck_assert (!rb_rcluster_is_master (s_rc, owner));
    ck_assert_int_eq (rb_rcluster_slot_owner (s_rc, slot), now);
}
END_TEST

int
main (void)
{
    Suite *s = suite_create ("rediscluster");
    TCase *tc = tcase_create ("harness");
    tcase_add_checked_fixture (tc, s_setup, s_teardown);
    tcase_set_timeout (tc, 60);
    tcase_add_test (tc, rediscluster_starts_stable_with_one_master_per_group);
    tcase_add_test (tc,
                    rediscluster_key_served_by_its_master_redirected_elsewhere);
    tcase_add_test (tc, rediscluster_replica_takes_over_a_killed_master);
    suite_add_tcase (s, tc);
    return rb_test_run (s);
}
