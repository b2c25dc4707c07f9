/*  test_db_load: how a restore loads Redis and how the recovery list is
    written, against a real redis-server: records restored with RESTORE
    as Redis serializes them (every size of value, tombstones), HSET when
    Redis refuses RESTORE, no index beside the records; the list's targets
    written as they come and compared when read, a refused batch that
    changes nothing, and END dropping the listed keys already current.  */
#include <check.h>
#include <czmq.h>

#include "rb_encode.h"
#include "rb_fixture.h"
#include "rb_testing.h"

static rb_fixture_t *s_f;
static rb_cluster_t *s_c;

static void
s_setup (void)
{
    s_f = rb_fixture_new (NULL);
    s_c = s_f->c;
}

static void
s_teardown (void)
{
    s_c = NULL;
    rb_fixture_destroy (&s_f);
}

/*  The reply to a Redis command: an integer, or a string's text.  */
static long long
s_int (const char *fmt, const char *arg)
{
    redisReply *r = rb_redis_cmd (s_c->redis, fmt, arg);
    ck_assert_ptr_nonnull (r);
    ck_assert_int_eq (r->type, REDIS_REPLY_INTEGER);
    long long n = r->integer;
    freeReplyObject (r);
    return n;
}

static void
s_expect_str (const char *want, const char *fmt, const char *arg)
{
    redisReply *r = rb_redis_cmd (s_c->redis, fmt, arg);
    ck_assert_ptr_nonnull (r);
    ck_assert_msg (r->type == REDIS_REPLY_STRING ||
                       r->type == REDIS_REPLY_STATUS,
                   "%s: reply type %d", fmt, r->type);
    ck_assert_str_eq (r->str, want);
    freeReplyObject (r);
}

/*  rb:{0}:r:KEY holds exactly v VALUE (len bytes), s SEQ, d DELETED.  */
static void
s_expect_record (const char *key, const char *value, size_t len,
                 const char *seq, const char *deleted)
{
    redisReply *r = rb_redis_cmd (s_c->redis, "HGETALL rb:{0}:r:%s", key);
    ck_assert_ptr_nonnull (r);
    ck_assert_int_eq (r->type, REDIS_REPLY_ARRAY);
    ck_assert_uint_eq (r->elements, 6);
    int seen = 0;
    for (size_t i = 0; i < 6; i += 2) {
        const redisReply *f = r->element[i], *v = r->element[i + 1];
        if (streq (f->str, "v")) {
            ck_assert_uint_eq (v->len, len);
            ck_assert (memcmp (v->str, value, len) == 0);
        } else if (streq (f->str, "s"))
            ck_assert_str_eq (v->str, seq);
        else {
            ck_assert_str_eq (f->str, "d");
            ck_assert_str_eq (v->str, deleted);
        }
        seen++;
    }
    ck_assert_int_eq (seen, 3);
    freeReplyObject (r);
}

/*  A value of n bytes of c (caller frees).  */
static char *
s_value (size_t n, char c)
{
    char *v = (char *) malloc (n + 1);
    memset (v, c, n);
    v[n] = '\0';
    return v;
}

/*  Orders for every shape of record the load writes, a backup, the
    disaster, the restore. Returns the 64 KiB value (caller frees).  */
static char *
s_backup_and_restore (void)
{
    rb_tnode_t *ops = &s_f->ops;
    char *big = s_value (65536, 'b'), *mid = s_value (5000, 'm');
    char *hundred = s_value (100, 'h');
    ck_assert_int_eq (rb_tnode_order (ops, 1, "small", "x"), 0);
    ck_assert_int_eq (rb_tnode_order (ops, 2, "hundred", hundred), 0);
    ck_assert_int_eq (rb_tnode_order (ops, 3, "mid", mid), 0);
    ck_assert_int_eq (rb_tnode_order (ops, 4, "big", big), 0);
    ck_assert_int_eq (rb_tnode_order (ops, 5, "empty", ""), 0);
    ck_assert_int_eq (rb_tnode_order (ops, 6, "number", "12345"), 0);
    ck_assert_int_eq (rb_tnode_order (ops, 7, "gone", "soon"), 0);
    ck_assert_int_eq (rb_tnode_order (ops, 123456789, "gone", NULL), 0);
    uint64_t records, watermark;
    char *path = rb_tnode_backup (ops, &records, &watermark);
    ck_assert_uint_eq (records, 7);
    /* the disaster: Redis lost, the restore starts from nothing */
    freeReplyObject (rb_redis_cmd (s_c->redis, "FLUSHALL"));
    rb_reply_t r;
    ck_assert_int_eq (rb_tnode_restore (ops, path, &r), 0);
    ck_assert_uint_eq (r.b.records, 7);
    rb_reply_done (&r);
    free (path);
    free (mid);
    free (hundred);
    return big;
}

/*  Every record as it was, and nothing but the records, rb:{0}:meta and
    rb:{0}:tombs.  */
static void
s_expect_restored (const char *big)
{
    char *mid = s_value (5000, 'm'), *hundred = s_value (100, 'h');
    s_expect_record ("small", "x", 1, "1", "0");
    s_expect_record ("hundred", hundred, 100, "2", "0");
    s_expect_record ("mid", mid, 5000, "3", "0");
    s_expect_record ("big", big, 65536, "4", "0");
    s_expect_record ("empty", "", 0, "5", "0");
    s_expect_record ("number", "12345", 5, "6", "0");
    s_expect_record ("gone", "", 0, "123456789", "1");
    ck_assert_int_eq (s_int ("SISMEMBER rb:{0}:tombs %s", "gone"), 1);
    ck_assert_int_eq (s_int ("SCARD %s", "rb:{0}:tombs"), 1);
    ck_assert_int_eq (s_int ("EXISTS %s", "rb:{0}:seq"), 0);
    ck_assert_int_eq (s_int ("DBSIZE", NULL), 7 + 2);
    rb_tnode_t *ops = &s_f->ops;
    ck_assert_uint_eq (rb_tnode_status_num (ops, "keys"), 6);
    ck_assert_uint_eq (rb_tnode_status_num (ops, "tombstones"), 1);
    rb_got_t g = rb_tnode_get (&s_f->svc, "number");
    ck_assert_str_eq (g.value, "12345");
    ck_assert_uint_eq (g.seq, 6);
    free (mid);
    free (hundred);
}

START_TEST (load_restores_records_whole_as_redis_serializes_them)
{
    /* Redis checks every entry of what it is given, not just the frame */
    freeReplyObject (
        rb_redis_cmd (s_c->redis, "CONFIG SET sanitize-dump-payload yes"));
    char *big = s_backup_and_restore ();
    s_expect_restored (big);
    /* taken whole: a 100-byte value stays in the compact encoding, where
       HSET would have built a hash table (hash-max-listpack-value 64) */
    s_expect_str ("listpack", "OBJECT ENCODING rb:{0}:r:%s", "hundred");
    /* and APPLY writes over such a record as over any other */
    rb_order_t put = {8, rb_str ("hundred"), RB_OP_PUT, true, rb_str ("new")};
    rb_reply_t r;
    ck_assert_int_eq (rb_tnode_diff (&s_f->ops, &put, 1, &r), 0);
    rb_reply_done (&r);
    s_expect_record ("hundred", "new", 3, "8", "0");
    free (big);
}
END_TEST

START_TEST (load_falls_back_to_hset_when_redis_refuses_restore)
{
    freeReplyObject (rb_redis_cmd (s_c->redis, "ACL SETUSER default -restore"));
    char *big = s_backup_and_restore ();
    s_expect_restored (big);
    s_expect_str ("hashtable", "OBJECT ENCODING rb:{0}:r:%s", "hundred");
    freeReplyObject (rb_redis_cmd (s_c->redis, "ACL SETUSER default +restore"));
    free (big);
}
END_TEST

START_TEST (load_payload_crc_is_redis_crc64)
{
    ck_assert_uint_eq (rb_dump_crc64 (0, "123456789", 9),
                       0xe9c6d914c4b8d9caULL);
    /* split anywhere, the same */
    uint64_t crc = rb_dump_crc64 (0, "1234", 4);
    ck_assert_uint_eq (rb_dump_crc64 (crc, "56789", 5), 0xe9c6d914c4b8d9caULL);
    char digits[20];
    ck_assert_uint_eq (rb_encode_digits (digits, 0), 1);
    ck_assert_uint_eq (rb_encode_digits (digits, UINT64_MAX), 20);
    ck_assert (memcmp (digits, "18446744073709551615", 20) == 0);
}
END_TEST

/*  Restores a backup of records a (seq 1) and b (seq 2); recovering.  */
static void
s_recovering (void)
{
    rb_tnode_t *ops = &s_f->ops;
    ck_assert_int_eq (rb_tnode_order (ops, 1, "a", "a1"), 0);
    ck_assert_int_eq (rb_tnode_order (ops, 2, "b", "b2"), 0);
    ck_assert_uint_eq (rb_tnode_backup_restore (ops), 2);
}

START_TEST (list_refused_leaves_the_recovering_set_as_it_was)
{
    rb_tnode_t *ops = &s_f->ops;
    s_recovering ();
    rb_entry_t first[] = {{rb_str ("a"), 5}};
    rb_reply_t r;
    ck_assert_int_eq (rb_tnode_list (ops, first, 1, false, &r), 0);
    rb_reply_done (&r);
    /* a restore takes Redis over meanwhile: the batch is refused whole */
    freeReplyObject (rb_redis_cmd (s_c->redis, "HSET rb:{0}:meta state restoring"));
    rb_entry_t second[] = {{rb_str ("a"), 7}, {rb_str ("c"), 9}};
    ck_assert_int_eq (rb_tnode_list (ops, second, 2, true, &r),
                      RB_S_WRONG_STATE);
    rb_reply_done (&r);
    s_expect_str ("5", "HGET rb:{0}:rec %s", "a");
    ck_assert_int_eq (s_int ("HLEN %s", "rb:{0}:rec"), 1);
    ck_assert_int_eq (s_int ("EXISTS %s", "rb:{0}:rec:held"), 0);
    s_expect_str ("0", "HGET rb:{0}:meta %s", "list_done");
    /* and on an empty Redis it leaves nothing behind either */
    freeReplyObject (rb_redis_cmd (s_c->redis, "FLUSHALL"));
    ck_assert_int_eq (rb_tnode_list (ops, second, 2, true, &r),
                      RB_S_UNAVAILABLE);
    rb_reply_done (&r);
    ck_assert_int_eq (s_int ("DBSIZE", NULL), 0);
}
END_TEST

START_TEST (list_targets_are_compared_when_read_and_dropped_when_reached)
{
    rb_tnode_t *ops = &s_f->ops, *svc = &s_f->svc;
    s_recovering ();
    /* a is behind (1 < 5), b already current (2 >= 2), c has no record */
    rb_entry_t list[] = {
        {rb_str ("a"), 5}, {rb_str ("b"), 2}, {rb_str ("c"), 3}};
    rb_reply_t r;
    ck_assert_int_eq (rb_tnode_list (ops, list, 3, true, &r), 0);
    ck_assert_uint_eq (r.b.flagged, 3); /* every target stored */
    rb_reply_done (&r);
    ck_assert (rb_tnode_get (svc, "a").recovering);
    ck_assert (!rb_tnode_get (svc, "b").recovering);
    ck_assert (rb_tnode_get (svc, "c").recovering);
    ck_assert_uint_eq (rb_tnode_status_num (ops, "recovering"), 3);
    /* b's diff is skipped as not newer: its entry goes, nothing cleared */
    rb_order_t b2 = {2, rb_str ("b"), RB_OP_PUT, true, rb_str ("b2")};
    ck_assert_int_eq (rb_tnode_diff (ops, &b2, 1, &r), 0);
    ck_assert_uint_eq (r.b.skipped, 1);
    ck_assert_uint_eq (r.b.cleared, 0);
    rb_reply_done (&r);
    ck_assert_uint_eq (rb_tnode_status_num (ops, "recovering"), 2);
    /* a reaches its target: cleared */
    rb_order_t a5 = {5, rb_str ("a"), RB_OP_PUT, true, rb_str ("a5")};
    ck_assert_int_eq (rb_tnode_diff (ops, &a5, 1, &r), 0);
    ck_assert_uint_eq (r.b.cleared, 1);
    rb_reply_done (&r);
    ck_assert (!rb_tnode_get (svc, "a").recovering);
    ck_assert_int_eq (rb_tnode_end (ops), RB_S_INCOMPLETE); /* c is behind */
    rb_order_t c3 = {3, rb_str ("c"), RB_OP_PUT, true, rb_str ("c3")};
    ck_assert_int_eq (rb_tnode_diff (ops, &c3, 1, &r), 0);
    rb_reply_done (&r);
    ck_assert_int_eq (rb_tnode_end (ops), 0);
    rb_tnode_expect_state (ops, "normal");
}
END_TEST

START_TEST (end_drops_every_listed_key_already_current)
{
    rb_tnode_t *ops = &s_f->ops;
    /* more keys than one step of END's look at the set */
    enum { N = 2500 };
    static rb_order_t orders[N];
    static rb_entry_t entries[N];
    static char keys[N][16];
    for (int i = 0; i < N; i++) {
        snprintf (keys[i], sizeof keys[i], "k%d", i);
        orders[i] = (rb_order_t){(uint64_t) i + 1, rb_str (keys[i]), RB_OP_PUT,
                                 true, rb_str ("v")};
        entries[i] = (rb_entry_t){rb_str (keys[i]), (uint64_t) i + 1};
    }
    rb_reply_t r;
    ck_assert_int_eq (rb_tnode_diff (ops, orders, N, &r), 0);
    rb_reply_done (&r);
    ck_assert_uint_eq (rb_tnode_backup_restore (ops), N);
    ck_assert_int_eq (rb_tnode_list (ops, entries, N, true, &r), 0);
    rb_reply_done (&r);
    ck_assert_uint_eq (rb_tnode_status_num (ops, "recovering"), N);
    ck_assert_int_eq (rb_tnode_end (ops), 0);
    rb_tnode_expect_state (ops, "normal");
    ck_assert_uint_eq (rb_tnode_status_num (ops, "recovering"), 0);
}
END_TEST

int
main (void)
{
    Suite *s = suite_create ("db_load");
    TCase *tc = tcase_create ("load");
    tcase_set_timeout (tc, 60);
    tcase_add_checked_fixture (tc, s_setup, s_teardown);
    tcase_add_test (tc, load_restores_records_whole_as_redis_serializes_them);
    tcase_add_test (tc, load_falls_back_to_hset_when_redis_refuses_restore);
    tcase_add_test (tc, load_payload_crc_is_redis_crc64);
    tcase_add_test (tc, list_refused_leaves_the_recovering_set_as_it_was);
    tcase_add_test (
        tc, list_targets_are_compared_when_read_and_dropped_when_reached);
    tcase_add_test (tc, end_drops_every_listed_key_already_current);
    suite_add_tcase (s, tc);
    return rb_test_run (s);
}
