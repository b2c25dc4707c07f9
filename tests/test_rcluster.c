/*  test_rcluster: the DB node's store on a Redis Cluster. rb_key_slot
    against CLUSTER KEYSLOT; the slot map and redirection parsers
    (rb_rcluster.h) on good and malformed replies; and rb_store on a real
    cluster (rb_rediscluster.h): batches across every master, a script
    call with a key, batches and bulk loads during a reshard (every call
    answered, no write lost), batches across a master's failover, the
    check of each new master connection; and the new calls on one Redis.  */
#include <check.h>
#include <czmq.h>
#include <signal.h>
#include <hiredis/hiredis.h>
#include <string.h>

#include "rb_crc16.h"
#include "rb_rcluster.h"
#include "rb_rediscluster.h"
#include "rb_redis.h"
#include "rb_scripts.h"
#include "rb_store.h"
#include "rb_testing.h"

#define KEYS_MAX 3000

static rb_rcluster_t *s_rc;
static rb_store_t *s_store;
static char s_key[KEYS_MAX][32];
static const char *s_argv[KEYS_MAX][3];
static size_t s_lens[KEYS_MAX][3];
static rb_call_t s_calls[KEYS_MAX];

/*  --- fixtures and helpers ---------------------------------------------- */

static void
s_teardown (void)
{
    rb_store_destroy (&s_store);
    rb_rcluster_stop (&s_rc);
}

static void
s_start (int replicas)
{
    s_rc = rb_rcluster_start (3, replicas);
    ck_assert_ptr_nonnull (s_rc);
    char err[300];
    rb_store_opts_t o = {.cluster = rb_rcluster_seeds (s_rc),
                         .timeout_ms = 3000};
    s_store = rb_store_new (&o, err, sizeof err);
    ck_assert_msg (s_store != NULL, "%s", err);
}

static void
s_setup_masters (void)
{
    s_start (0);
}

static void
s_setup_replicas (void)
{
    s_start (1);
}

/*  Call i: SET key value (value NULL: GET key), routed by key's slot. */
static void
s_call (int i, const char *key, const char *value)
{
    snprintf (s_key[i], sizeof s_key[i], "%s", key);
    s_argv[i][0] = value ? "SET" : "GET", s_lens[i][0] = 3;
    s_argv[i][1] = s_key[i], s_lens[i][1] = strlen (s_key[i]);
    s_argv[i][2] = value, s_lens[i][2] = value ? strlen (value) : 0;
    s_calls[i] = (rb_call_t){.script = -1,
                             .argc = value ? 3 : 2,
                             .argv = s_argv[i],
                             .lens = s_lens[i],
                             .slot = rb_key_slot (key, strlen (key))};
}

/*  SET k:FIRST .. k:FIRST+n-1 to value (one batch): 0 if each got OK,
    -1 if the run failed; an error reply fails the test.  */
static int
s_set_batch (int first, int n, const char *value)
{
    for (int i = 0; i < n; i++) {
        char key[32];
        snprintf (key, sizeof key, "k:%d", first + i);
        s_call (i, key, value);
    }
    if (rb_store_run (s_store, s_calls, n))
        return -1;
    for (int i = 0; i < n; i++)
        ck_assert_msg (s_calls[i].reply->type == REDIS_REPLY_STATUS,
                       "SET %s: %s", s_key[i],
                       s_calls[i].reply->type == REDIS_REPLY_ERROR
                           ? s_calls[i].reply->str
                           : "not a status");
    rb_store_free_replies (s_calls, n);
    return 0;
}

/*  k:i's value, read at the master of its slot with the harness. */
static char *
s_value_at_owner (int i)
{
    char key[32];
    snprintf (key, sizeof key, "k:%d", i);
    int owner = rb_rcluster_slot_owner (s_rc, rb_key_slot (key, strlen (key)));
    ck_assert_int_ge (owner, 0);
    redisReply *r = rb_rcluster_cmd (s_rc, owner, "GET %s", key);
    ck_assert_ptr_nonnull (r);
    ck_assert_msg (r->type == REDIS_REPLY_STRING, "GET %s at node %d: %s", key,
                   owner, r->type == REDIS_REPLY_ERROR ? r->str : "no string");
    char *v = strdup (r->str);
    freeReplyObject (r);
    return v;
}

/*  Hand-made replies, for the parsers.  */
static redisReply *
s_r_int (long long v)
{
    redisReply *r = (redisReply *) calloc (1, sizeof *r);
    r->type = REDIS_REPLY_INTEGER;
    r->integer = v;
    return r;
}

static redisReply *
s_r_str (const char *s)
{
    redisReply *r = (redisReply *) calloc (1, sizeof *r);
    r->type = REDIS_REPLY_STRING;
    r->str = strdup (s);
    r->len = strlen (s);
    return r;
}

static redisReply *
s_r_arr (int n, ...)
{
    redisReply *r = (redisReply *) calloc (1, sizeof *r);
    r->type = REDIS_REPLY_ARRAY;
    r->elements = (size_t) n;
    r->element = (redisReply **) calloc ((size_t) n + 1, sizeof (redisReply *));
    va_list args;
    va_start (args, n);
    for (int i = 0; i < n; i++)
        r->element[i] = va_arg (args, redisReply *);
    va_end (args);
    return r;
}

/*  A CLUSTER SLOTS range: [from, to, [host, port, id]].  */
static redisReply *
s_r_range (long long from, long long to, const char *host, long long port)
{
    return s_r_arr (
        3, s_r_int (from), s_r_int (to),
        s_r_arr (3, s_r_str (host), s_r_int (port),
                 s_r_str ("0123456789012345678901234567890123456789")));
}

/*  --- parsers ------------------------------------------------------------ */

START_TEST (rcluster_redirections_parse_and_malformed_ones_do_not)
{
    rb_redirect_t to;
    const char *moved = "MOVED 3999 127.0.0.1:6381";
    ck_assert_int_eq (rb_rcluster_redirect (moved, strlen (moved), &to), 0);
    ck_assert (!to.ask);
    ck_assert_int_eq (to.slot, 3999);
    ck_assert_str_eq (to.host, "127.0.0.1");
    ck_assert_int_eq (to.port, 6381);
    const char *ask = "ASK 16383 redis-2.example:7000";
    ck_assert_int_eq (rb_rcluster_redirect (ask, strlen (ask), &to), 0);
    ck_assert (to.ask);
    ck_assert_int_eq (to.slot, 16383);
    ck_assert_str_eq (to.host, "redis-2.example");
    ck_assert_int_eq (to.port, 7000);
    const char *v6 = "MOVED 0 ::1:6379", *same = "ASK 7 :6380";
    ck_assert_int_eq (rb_rcluster_redirect (v6, strlen (v6), &to), 0);
    ck_assert_str_eq (to.host, "::1");
    ck_assert_int_eq (rb_rcluster_redirect (same, strlen (same), &to), 0);
    ck_assert_str_eq (to.host, "");
    ck_assert_int_eq (to.port, 6380);

    const char *bad[] = {"MOVED",
                         "MOVED ",
                         "MOVED 3999",
                         "MOVED 3999 ",
                         "MOVED 3999 127.0.0.1",
                         "MOVED 3999 127.0.0.1:",
                         "MOVED 3999 127.0.0.1:0",
                         "MOVED 3999 127.0.0.1:65536",
                         "MOVED 3999 127.0.0.1:6381x",
                         "MOVED 3999 127.0.0.1:6381 ",
                         "MOVED 16384 127.0.0.1:6381",
                         "MOVED 99999999999999999999 127.0.0.1:6381",
                         "MOVED -1 127.0.0.1:6381",
                         "MOVED x 127.0.0.1:6381",
                         "MOVED  3999 127.0.0.1:6381",
                         "MOVED 3999 a b:6381",
                         "moved 3999 127.0.0.1:6381",
                         "ASKING",
                         "ASK 1 h:99999999999",
                         "TRYAGAIN Multiple keys request during rehashing",
                         "ERR unknown command",
                         ""};
    for (size_t b = 0; b < sizeof bad / sizeof bad[0]; b++) {
        memset (&to, 0x5a, sizeof to);
        ck_assert_msg (rb_rcluster_redirect (bad[b], strlen (bad[b]), &to) ==
                           -1,
                       "'%s' parsed", bad[b]);
        ck_assert_int_eq (to.port, 0x5a5a5a5a); /* unchanged */
    }
    /* the length counts, not a NUL */
    ck_assert_int_eq (rb_rcluster_redirect (moved, 20, &to), -1);
    char host[400];
    memset (host, 'h', sizeof host);
    snprintf (host + 300, 100, ":6379");
    char long_one[500];
    snprintf (long_one, sizeof long_one, "MOVED 1 %s", host);
    ck_assert_int_eq (rb_rcluster_redirect (long_one, strlen (long_one), &to),
                      -1);
}
END_TEST

START_TEST (rcluster_map_parses_cluster_slots_and_keeps_it_on_bad_ones)
{
    rb_rcluster_map_t *map = rb_rcluster_map_new ();
    ck_assert_int_eq (rb_rcluster_map_masters (map), 0);
    ck_assert_int_eq (rb_rcluster_map_owner (map, 0), -1);
    /* ranges out of order; masters numbered by their lowest slot */
    redisReply *r = s_r_arr (4, s_r_range (10000, 16383, "10.0.0.3", 7002),
                             s_r_range (0, 4999, "10.0.0.1", 7000),
                             s_r_range (5000, 9998, "10.0.0.2", 7001),
                             s_r_range (9999, 9999, "10.0.0.1", 7000));
    ck_assert_int_eq (rb_rcluster_map_parse (map, r), 0);
    freeReplyObject (r);
    ck_assert_int_eq (rb_rcluster_map_masters (map), 3);
    ck_assert_int_eq (rb_rcluster_map_owner (map, 0), 0);
    ck_assert_int_eq (rb_rcluster_map_owner (map, 4999), 0);
    ck_assert_int_eq (rb_rcluster_map_owner (map, 5000), 1);
    ck_assert_int_eq (rb_rcluster_map_owner (map, 9999), 0);
    ck_assert_int_eq (rb_rcluster_map_owner (map, 16383), 2);
    ck_assert_int_eq (rb_rcluster_map_owner (map, 16384), -1);
    ck_assert_int_eq (rb_rcluster_map_owner (map, -1), -1);
    ck_assert_str_eq (rb_rcluster_map_host (map, 2), "10.0.0.3");
    ck_assert_int_eq (rb_rcluster_map_port (map, 1), 7001);
    ck_assert_int_eq (rb_rcluster_map_find (map, "10.0.0.2", 7001), 1);
    ck_assert_int_eq (rb_rcluster_map_find (map, "10.0.0.2", 7000), -1);
    ck_assert_int_eq (rb_rcluster_map_set (map, 1, 2), 0);
    ck_assert_int_eq (rb_rcluster_map_owner (map, 1), 2);
    ck_assert_int_eq (rb_rcluster_map_set (map, 1, 3), -1);
    ck_assert_int_eq (rb_rcluster_map_set (map, 16384, 0), -1);
    rb_rcluster_map_set (map, 1, 0);

    /* each malformed reply: -1 and the map as it was */
    redisReply *bad[] = {
        NULL,
        s_r_int (3),
        s_r_str ("ERR This instance has cluster support disabled"),
        s_r_arr (1, s_r_int (0)),
        s_r_arr (1, s_r_arr (2, s_r_int (0), s_r_int (5))),
        s_r_arr (1, s_r_range (5, 4, "h", 1)),
        s_r_arr (1, s_r_range (0, 16384, "h", 1)),
        s_r_arr (1, s_r_range (-1, 5, "h", 1)),
        s_r_arr (1, s_r_range (0, 5, "", 1)),
        s_r_arr (1, s_r_range (0, 5, "h", 0)),
        s_r_arr (1, s_r_range (0, 5, "h", 65536)),
        s_r_arr (2, s_r_range (0, 5, "h", 1), s_r_range (5, 9, "g", 2)),
        s_r_arr (1, s_r_arr (3, s_r_int (0), s_r_int (5), s_r_str ("h:1"))),
        s_r_arr (1, s_r_arr (3, s_r_str ("0"), s_r_int (5),
                             s_r_arr (2, s_r_str ("h"), s_r_int (1)))),
        s_r_arr (1, s_r_arr (3, s_r_int (0), s_r_int (5),
                             s_r_arr (2, s_r_int (1), s_r_int (1)))),
        s_r_arr (1, s_r_arr (3, s_r_int (0), s_r_int (5),
                             s_r_arr (1, s_r_str ("h")))),
    };
    for (size_t b = 0; b < sizeof bad / sizeof bad[0]; b++) {
        ck_assert_msg (rb_rcluster_map_parse (map, bad[b]) == -1,
                       "bad reply %d parsed", (int) b);
        ck_assert_int_eq (rb_rcluster_map_masters (map), 3);
        ck_assert_int_eq (rb_rcluster_map_owner (map, 5000), 1);
        ck_assert_int_eq (rb_rcluster_map_owner (map, 16383), 2);
        ck_assert_str_eq (rb_rcluster_map_host (map, 0), "10.0.0.1");
        freeReplyObject (bad[b]);
    }
    /* a map with holes: slots in no range are unknown */
    r = s_r_arr (1, s_r_range (100, 200, "10.0.0.9", 7009));
    ck_assert_int_eq (rb_rcluster_map_parse (map, r), 0);
    freeReplyObject (r);
    ck_assert_int_eq (rb_rcluster_map_masters (map), 1);
    ck_assert_int_eq (rb_rcluster_map_owner (map, 99), -1);
    ck_assert_int_eq (rb_rcluster_map_owner (map, 150), 0);
    rb_rcluster_map_destroy (&map);
    ck_assert_ptr_null (map);
    rb_rcluster_map_destroy (&map);
}
END_TEST

/*  --- against a real cluster --------------------------------------------- */

START_TEST (rcluster_key_slot_matches_cluster_keyslot)
{
    const char *fixed[] = {
        "a{b}c", "{}x", "{x}}", "{{x}}",        "x{",     "}{x}",      "{",
        "}",     "{}",  "foo",  "{user1}.name", "a{}{b}", "123456789", ""};
    int n = (int) (sizeof fixed / sizeof fixed[0]);
    char keys[400][24];
    for (int i = 0; i < 400; i++) {
        if (i < n) {
            snprintf (keys[i], sizeof keys[i], "%s", fixed[i]);
            continue;
        }
        int len = 1 + rand () % 20;
        for (int c = 0; c < len; c++) {
            const char pick[] = "ab{}xyz019:/-{}";
            keys[i][c] = rand () % 3 ? pick[rand () % (sizeof pick - 1)]
                                     : (char) (33 + rand () % 90);
        }
        keys[i][len] = '\0';
    }
    redisContext *c = rb_redis_connect_at (rb_rcluster_address (s_rc, 0));
    ck_assert_ptr_nonnull (c);
    for (int i = 0; i < 400; i++)
        redisAppendCommand (c, "CLUSTER KEYSLOT %b", keys[i], strlen (keys[i]));
    for (int i = 0; i < 400; i++) {
        redisReply *r = NULL;
        ck_assert_int_eq (redisGetReply (c, (void **) &r), REDIS_OK);
        ck_assert_int_eq (r->type, REDIS_REPLY_INTEGER);
        ck_assert_msg (rb_key_slot (keys[i], strlen (keys[i])) == r->integer,
                       "'%s': %d, Redis says %lld", keys[i],
                       rb_key_slot (keys[i], strlen (keys[i])), r->integer);
        freeReplyObject (r);
    }
    redisFree (c);
}
END_TEST

START_TEST (rcluster_map_of_a_real_cluster_names_each_slot_master)
{
    redisReply *r = rb_rcluster_cmd (s_rc, 1, "CLUSTER SLOTS");
    rb_rcluster_map_t *map = rb_rcluster_map_new ();
    ck_assert_int_eq (rb_rcluster_map_parse (map, r), 0);
    freeReplyObject (r);
    ck_assert_int_eq (rb_rcluster_map_masters (map), 3);
    for (int slot = 0; slot < RB_SLOTS; slot += 97) {
        int m = rb_rcluster_map_owner (map, slot);
        ck_assert_int_ge (m, 0);
        char at[300];
        snprintf (at, sizeof at, "%s:%d", rb_rcluster_map_host (map, m),
                  rb_rcluster_map_port (map, m));
        ck_assert_str_eq (at, rb_rcluster_address (
                                  s_rc, rb_rcluster_slot_owner (s_rc, slot)));
    }
    rb_rcluster_map_destroy (&map);
}
END_TEST

START_TEST (rcluster_store_runs_a_batch_across_every_master)
{
    ck_assert (rb_store_is_cluster (s_store));
    ck_assert_int_eq (rb_store_masters (s_store), 0);
    ck_assert_int_eq (rb_store_connect (s_store), 0);
    ck_assert (rb_store_connected (s_store));
    ck_assert_int_eq (rb_store_masters (s_store), 3);
    ck_assert_uint_eq (rb_store_connects (s_store), 3);
    ck_assert_ptr_nonnull (strstr (rb_store_address (s_store), "cluster"));
    ck_assert_int_eq (s_set_batch (0, 600, "v"), 0);
    for (int i = 0; i < 600; i++) {
        char key[32];
        snprintf (key, sizeof key, "k:%d", i);
        s_call (i, key, NULL);
    }
    ck_assert_int_eq (rb_store_run (s_store, s_calls, 600), 0);
    for (int i = 0; i < 600; i++) {
        ck_assert_int_eq (s_calls[i].reply->type, REDIS_REPLY_STRING);
        ck_assert_str_eq (s_calls[i].reply->str, "v");
    }
    rb_store_free_replies (s_calls, 600);
    /* each key at its master; per-master calls count them */
    long long total = 0;
    for (int m = 0; m < 3; m++) {
        const char *argv[] = {"DBSIZE"};
        size_t lens[] = {6};
        rb_call_t c = {.script = -1,
                       .argc = 1,
                       .argv = argv,
                       .lens = lens,
                       .slot = -1 - m};
        ck_assert_int_eq (rb_store_run (s_store, &c, 1), 0);
        ck_assert_int_eq (c.reply->type, REDIS_REPLY_INTEGER);
        ck_assert_int_gt (c.reply->integer, 100);
        total += c.reply->integer;
        rb_store_free_replies (&c, 1);
        redisReply *r = rb_store_command_at (s_store, m, "DBSIZE");
        ck_assert (r && r->type == REDIS_REPLY_INTEGER);
        freeReplyObject (r);
        ck_assert_int_ge (rb_store_slot_master (s_store, 0), 0);
    }
    ck_assert_int_eq (total, 600);
    for (int i = 0; i < 600; i += 37) {
        char *v = s_value_at_owner (i);
        ck_assert_str_eq (v, "v");
        free (v);
    }
    /* a master number not in the map: the run fails, nothing hangs */
    const char *argv[] = {"PING"};
    size_t lens[] = {4};
    rb_call_t c = {
        .script = -1, .argc = 1, .argv = argv, .lens = lens, .slot = -1 - 7};
    ck_assert_int_eq (rb_store_run (s_store, &c, 1), -1);
    ck_assert_ptr_null (c.reply);
    ck_assert_ptr_null (rb_store_command_at (s_store, 7, "PING"));
    ck_assert_int_eq (rb_store_run (s_store, s_calls, 0), 0);
}
END_TEST

START_TEST (rcluster_store_sends_a_script_its_keys)
{
    /* STATUS with rb:meta as KEYS[1] and "/0" as ARGV[1]: routed to the
       master of rb:meta's slot, it reads rb:meta (absent) and answers
       needs_restore; with 0 keys ARGV[1] would be "rb:meta" */
    const char *argv[] = {"rb:meta", "/0"};
    size_t lens[] = {7, 2};
    rb_call_t c = {.script = RB_SCRIPT_STATUS,
                   .argc = 2,
                   .argv = argv,
                   .lens = lens,
                   .nkeys = 1,
                   .slot = rb_key_slot ("rb:meta", 7)};
    ck_assert_int_eq (rb_store_run (s_store, &c, 1), 0);
    ck_assert_msg (c.reply->type == REDIS_REPLY_ARRAY, "%s",
                   c.reply->type == REDIS_REPLY_ERROR ? c.reply->str : "?");
    ck_assert_int_ge (c.reply->elements, 1);
    ck_assert_str_eq (c.reply->element[0]->str, "needs_restore");
    rb_store_free_replies (&c, 1);
    /* to another master, the same call is redirected and still served */
    int m = rb_store_slot_master (s_store, c.slot);
    while (rb_store_slot_master (s_store, c.slot) == m)
        c.slot = (c.slot + 1000) % RB_SLOTS;
    ck_assert_int_eq (rb_store_run (s_store, &c, 1), 0);
    ck_assert_int_eq (c.reply->type, REDIS_REPLY_ARRAY);
    ck_assert_str_eq (c.reply->element[0]->str, "needs_restore");
    rb_store_free_replies (&c, 1);
}
END_TEST

/*  Whether a slot is migrating or importing somewhere now. */
static bool
s_moving (void)
{
    for (int i = 0; i < 3; i++) {
        redisReply *r = rb_rcluster_cmd (s_rc, i, "CLUSTER NODES");
        bool moving =
            r && r->type == REDIS_REPLY_STRING && strchr (r->str, '[');
        freeReplyObject (r);
        if (moving)
            return true;
    }
    return false;
}

/*  Bulk mode: SET k:0 .. k:n-1 to value; 0 or -1.  */
static int
s_bulk (int n, const char *value)
{
    for (int i = 0; i < n; i++) {
        char key[32], *cmd;
        snprintf (key, sizeof key, "k:%d", i);
        int len = redisFormatCommand (&cmd, "SET %s %s", key, value);
        ck_assert_int_gt (len, 0);
        ck_assert_int_eq (rb_store_bulk_add (s_store,
                                             rb_key_slot (key, strlen (key)),
                                             cmd, (size_t) len),
                          0);
        redisFreeCommand (cmd);
    }
    return rb_store_bulk_flush (s_store);
}

START_TEST (rcluster_store_loses_no_call_during_a_reshard)
{
    ck_assert_int_eq (s_bulk (KEYS_MAX, "start"), 0);
    rb_proc_t *reshard = rb_rcluster_reshard_start (s_rc, 0, 1, 4000);
    ck_assert_ptr_nonnull (reshard);
    int rounds = 0, while_moving = 0;
    char value[32] = "start";
    while (rb_proc_wait (reshard, 0) == -1) {
        ck_assert_int_lt (rounds, 2000);
        bool moving = s_moving ();
        snprintf (value, sizeof value, "round-%d", rounds);
        int64_t t0 = zclock_mono ();
        if (rounds % 2)
            ck_assert_msg (s_bulk (KEYS_MAX, value) == 0, "bulk: %s",
                           rb_store_errstr (s_store));
        else
            ck_assert_msg (s_set_batch (0, KEYS_MAX, value) == 0, "run: %s",
                           rb_store_errstr (s_store));
        ck_assert_int_lt (zclock_mono () - t0, 3500);
        while_moving += moving && s_moving ();
        rounds++;
    }
    ck_assert_int_eq (rb_proc_wait (reshard, 0), 0);
    rb_proc_destroy (&reshard);
    ck_assert_msg (while_moving >= 2, "only %d batches while slots moved (%d)",
                   while_moving, rounds);
    ck_assert_int_eq (rb_rcluster_wait_stable (s_rc, 10000), 0);
    for (int i = 0; i < KEYS_MAX; i++) {
        char *v = s_value_at_owner (i);
        ck_assert_msg (strcmp (v, value) == 0, "k:%d is %s, not %s", i, v,
                       value);
        free (v);
    }
    /* and reads through the store after it */
    for (int i = 0; i < KEYS_MAX; i++) {
        char key[32];
        snprintf (key, sizeof key, "k:%d", i);
        s_call (i, key, NULL);
    }
    ck_assert_int_eq (rb_store_run (s_store, s_calls, KEYS_MAX), 0);
    for (int i = 0; i < KEYS_MAX; i++)
        ck_assert_str_eq (s_calls[i].reply->str, value);
    rb_store_free_replies (s_calls, KEYS_MAX);
}
END_TEST

START_TEST (rcluster_store_bulk_flush_reports_the_first_error)
{
    ck_assert_int_eq (s_bulk (500, "b"), 0);
    ck_assert_int_eq (rb_store_bulk_flush (s_store), 0); /* empty */
    char *cmd;
    int len = redisFormatCommand (&cmd, "LPUSH k:3 x");
    ck_assert_int_eq (
        rb_store_bulk_add (s_store, rb_key_slot ("k:3", 3), cmd, (size_t) len),
        0);
    redisFreeCommand (cmd);
    ck_assert_int_eq (rb_store_bulk_flush (s_store), -1);
    ck_assert_ptr_nonnull (strstr (rb_store_errstr (s_store), "WRONGTYPE"));
    ck_assert_int_eq (rb_store_bulk_flush (s_store), 0);
    /* one Redis's bulk mode is refused on a cluster */
    ck_assert_int_eq (
        rb_store_append_resp (s_store, "*1\r\n$4\r\nPING\r\n", 14), -1);
}
END_TEST

START_TEST (rcluster_store_follows_a_failover)
{
    ck_assert_int_eq (s_set_batch (0, 300, "before"), 0);
    uint64_t connects = rb_store_connects (s_store);
    int victim = rb_rcluster_slot_owner (s_rc, 0);
    redisReply *w = rb_rcluster_cmd (s_rc, victim, "WAIT 1 2000");
    freeReplyObject (w);
    rb_rcluster_kill (s_rc, victim);
    /* during the failover: each run fails or answers, within its time */
    int failed = 0, tries = 0;
    int64_t deadline = zclock_mono () + 20000;
    while (true) {
        ck_assert_int_lt (zclock_mono (), deadline);
        int64_t t0 = zclock_mono ();
        for (int i = 0; i < 300; i++) {
            char key[32];
            snprintf (key, sizeof key, "k:%d", i);
            s_call (i, key, "after");
        }
        int rc = rb_store_run (s_store, s_calls, 300);
        ck_assert_int_lt (zclock_mono () - t0, 4000);
        tries++;
        bool all_ok = rc == 0;
        for (int i = 0; rc == 0 && i < 300; i++)
            all_ok &= s_calls[i].reply->type == REDIS_REPLY_STATUS;
        if (rc == 0)
            rb_store_free_replies (s_calls, 300);
        else
            for (int i = 0; i < 300; i++)
                ck_assert_ptr_null (s_calls[i].reply);
        if (all_ok)
            break;
        failed++;
        zclock_sleep (50);
    }
    ck_assert_int_ge (failed, 1);
    ck_assert_uint_gt (rb_store_connects (s_store), connects);
    ck_assert_int_eq (rb_rcluster_wait_stable (s_rc, 10000), 0);
    int now = rb_rcluster_slot_owner (s_rc, 0);
    ck_assert_int_ne (now, victim);
    for (int i = 0; i < 300; i += 7) {
        char *v = s_value_at_owner (i);
        ck_assert_str_eq (v, "after");
        free (v);
    }
}
END_TEST

/*  The check: counts its runs per master, and tries every route.  */
static int s_checks[8];
static int s_check_fails = -1; /* this master's check fails */

static int
s_check (rb_store_t *store, void *arg)
{
    (void) arg;
    int m = rb_store_checking (store);
    ck_assert_int_ge (m, 0);
    s_checks[m]++;
    const char *argv[] = {"PING"};
    size_t lens[] = {4};
    rb_call_t c = {
        .script = -1, .argc = 1, .argv = argv, .lens = lens, .slot = -1 - m};
    ck_assert_int_eq (rb_store_run (store, &c, 1), 0);
    ck_assert_str_eq (c.reply->str, "PONG");
    rb_store_free_replies (&c, 1);
    c.slot = -1 - (m + 1) % rb_store_masters (store);
    ck_assert_int_eq (rb_store_run (store, &c, 1), -1);
    ck_assert_ptr_null (c.reply);
    redisReply *r =
        rb_store_command_at (store, (m + 1) % rb_store_masters (store), "PING");
    ck_assert (r && r->type == REDIS_REPLY_STATUS);
    freeReplyObject (r);
    return m == s_check_fails ? -1 : 0;
}

/*  The server closes the store's connection to master m; a command
    notices, and the back-off is waited out.  */
static void
s_lose_connection (int m)
{
    freeReplyObject (
        rb_store_command_at (s_store, m, "CLIENT KILL TYPE normal SKIPME no"));
    ck_assert_ptr_null (rb_store_command_at (s_store, m, "PING"));
    zclock_sleep (150); /* the first back-off: 100 ms */
}

START_TEST (rcluster_store_checks_each_new_master_connection_there)
{
    rb_store_on_connect (s_store, s_check, NULL);
    ck_assert_int_eq (rb_store_checking (s_store), -1);
    ck_assert_int_eq (s_set_batch (0, 300, "c"), 0);
    ck_assert_int_eq (rb_store_checking (s_store), -1);
    for (int m = 0; m < 3; m++)
        ck_assert_int_eq (s_checks[m], 1);
    ck_assert_int_eq (s_set_batch (0, 300, "c"), 0);
    ck_assert_int_eq (s_checks[0] + s_checks[1] + s_checks[2], 3);
    ck_assert_uint_eq (rb_store_connects (s_store), 3);

    /* master 1's connection lost (seen by a command first, so no batch
       is half sent): the next run reconnects and checks master 1 alone */
    s_lose_connection (1);
    ck_assert_int_eq (s_set_batch (0, 300, "c"), 0);
    ck_assert_int_eq (s_checks[1], 2);
    ck_assert_int_eq (s_checks[0] + s_checks[2], 2);
    ck_assert_uint_eq (rb_store_connects (s_store), 4);

    /* a failing check: nothing of the run goes out, to any master */
    s_check_fails = 2;
    s_lose_connection (2);
    ck_assert_int_eq (s_set_batch (0, 300, "x"), -1);
    ck_assert_int_eq (s_checks[2], 2);
    ck_assert (!rb_store_connected (s_store));
    for (int i = 0; i < 300; i++) {
        char *v = s_value_at_owner (i);
        ck_assert_str_eq (v, "c");
        free (v);
    }
}
END_TEST

/*  --- the new calls on one Redis ----------------------------------------- */

START_TEST (rcluster_new_calls_on_one_redis)
{
    rb_redis_t *redis = rb_redis_start ();
    ck_assert_ptr_nonnull (redis);
    char err[300];
    rb_store_opts_t o = {.address = rb_redis_address (redis)};
    rb_store_t *store = rb_store_new (&o, err, sizeof err);
    ck_assert_ptr_nonnull (store);
    ck_assert (!rb_store_is_cluster (store));
    ck_assert_int_eq (rb_store_masters (store), 1);
    ck_assert_int_eq (rb_store_slot_master (store, 1234), 0);
    ck_assert_int_eq (rb_store_checking (store), -1);
    char *cmd;
    int len = redisFormatCommand (&cmd, "SET %s %s", "a", "1");
    ck_assert_int_eq (rb_store_bulk_add (store, 0, cmd, (size_t) len), 0);
    ck_assert_int_eq (rb_store_bulk_add (store, 5, cmd, (size_t) len), 0);
    redisFreeCommand (cmd);
    ck_assert_int_eq (rb_store_bulk_flush (store), 0);
    redisReply *r = rb_store_command_at (store, 3, "GET a");
    ck_assert (r && r->type == REDIS_REPLY_STRING);
    ck_assert_str_eq (r->str, "1");
    freeReplyObject (r);
    const char *argv[] = {"rb:meta", "/0"};
    size_t lens[] = {7, 2};
    rb_call_t c = {.script = RB_SCRIPT_STATUS,
                   .argc = 2,
                   .argv = argv,
                   .lens = lens,
                   .nkeys = 1,
                   .slot = 77};
    ck_assert_int_eq (rb_store_run (store, &c, 1), 0);
    ck_assert_int_eq (c.reply->type, REDIS_REPLY_ARRAY);
    ck_assert_str_eq (c.reply->element[0]->str, "needs_restore");
    rb_store_free_replies (&c, 1);
    rb_store_destroy (&store);

    /* bad seed lists are refused at once */
    const char *bad[] = {"127.0.0.1", "127.0.0.1:0", "a:1,",    ",a:1",
                         "a:1,b",     ":6379",       "a:65536", "a:1x"};
    for (size_t b = 0; b < sizeof bad / sizeof bad[0]; b++) {
        rb_store_opts_t ob = {.cluster = bad[b]};
        err[0] = '\0';
        ck_assert_msg (rb_store_new (&ob, err, sizeof err) == NULL, "%s",
                       bad[b]);
        ck_assert_ptr_nonnull (strstr (err, "bad Redis cluster seeds"));
    }
    rb_redis_stop (&redis);
}
END_TEST

int
main (void)
{
    srand (16384);
    signal (SIGPIPE, SIG_IGN); /* a write to a killed node: an error */
    Suite *s = suite_create ("rcluster");
    TCase *units = tcase_create ("parsers");
    tcase_add_test (units,
                    rcluster_redirections_parse_and_malformed_ones_do_not);
    tcase_add_test (units,
                    rcluster_map_parses_cluster_slots_and_keeps_it_on_bad_ones);
    tcase_add_test (units, rcluster_new_calls_on_one_redis);
    suite_add_tcase (s, units);

    TCase *masters = tcase_create ("masters");
    tcase_add_checked_fixture (masters, s_setup_masters, s_teardown);
    tcase_set_timeout (masters, 90);
    tcase_add_test (masters, rcluster_key_slot_matches_cluster_keyslot);
    tcase_add_test (masters,
                    rcluster_map_of_a_real_cluster_names_each_slot_master);
    tcase_add_test (masters, rcluster_store_runs_a_batch_across_every_master);
    tcase_add_test (masters, rcluster_store_sends_a_script_its_keys);
    tcase_add_test (masters, rcluster_store_bulk_flush_reports_the_first_error);
    tcase_add_test (masters,
                    rcluster_store_checks_each_new_master_connection_there);
    tcase_add_test (masters, rcluster_store_loses_no_call_during_a_reshard);
    suite_add_tcase (s, masters);

    TCase *replicas = tcase_create ("replicas");
    tcase_add_checked_fixture (replicas, s_setup_replicas, s_teardown);
    tcase_set_timeout (replicas, 90);
    tcase_add_test (replicas, rcluster_store_follows_a_failover);
    suite_add_tcase (s, replicas);
    return rb_test_run (s);
}
