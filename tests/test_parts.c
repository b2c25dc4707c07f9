/*  test_parts: the partitions of a dataset (rb_parts.h) without Redis:
    where a key lives, the names of its keys, a record key read back from
    its hash's name (bad names give nothing), and how the STATUS of every
    partition merges into the dataset's (rb_status_merge): half-made
    transitions, a partition missing or foreign, the counts.  */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "rb_crc16.h"
#include "rb_parts.h"
#include "rb_testing.h"

START_TEST (parts_a_key_has_one_partition_spread_over_the_slots)
{
    /* one Redis: everything in partition 0 */
    ck_assert_int_eq (rb_part_of (1, "+81-1", 5), 0);
    /* a cluster: stable, in range, and every partition used */
    int *seen = (int *) calloc (RB_PARTS_CLUSTER, sizeof (int));
    ck_assert_ptr_nonnull (seen);
    char key[32];
    for (int i = 0; i < 100000; i++) {
        int len = snprintf (key, sizeof key, "k%d", i);
        int p = rb_part_of (RB_PARTS_CLUSTER, key, (size_t) len);
        ck_assert (p >= 0 && p < RB_PARTS_CLUSTER);
        ck_assert_int_eq (p, rb_part_of (RB_PARTS_CLUSTER, key, (size_t) len));
        seen[p]++;
    }
    for (int p = 0; p < RB_PARTS_CLUSTER; p++)
        ck_assert_msg (seen[p] > 40 && seen[p] < 160, "partition %d has %d", p,
                       seen[p]);
    free (seen);
    /* every key of a partition is in its slot, whatever the key holds */
    char name[128];
    size_t n = rb_part_key (name, sizeof name, 517, "r:", "a{b}c", 5);
    ck_assert_str_eq (name, "rb:{517}:r:a{b}c");
    ck_assert_uint_eq (n, strlen (name));
    ck_assert_int_eq (rb_key_slot (name, n), rb_part_slot (517));
    n = rb_part_key (name, sizeof name, 517, "meta", NULL, 0);
    ck_assert_int_eq (rb_key_slot (name, n), rb_part_slot (517));
}
END_TEST

START_TEST (parts_record_key_from_its_name)
{
    size_t klen = 0;
    const char *k = rb_part_record_key ("rb:{12}:r:a{b}", 14, &klen);
    ck_assert_ptr_nonnull (k);
    ck_assert_uint_eq (klen, 4);
    ck_assert (memcmp (k, "a{b}", 4) == 0);
    /* not a record hash's name: nothing */
    const char *bad[] = {"rb:r:k",       "rb:{}:r:k", "rb:{1x}:r:k",
                         "rb:{1}:f:k",   "rb:{1}:r:", "xb:{1}:r:k",
                         "rb:{1}:meta0", "rb:{1"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        ck_assert_msg (!rb_part_record_key (bad[i], strlen (bad[i]), &klen),
                       "%s read as a record", bad[i]);
}
END_TEST

/*  --- STATUS replies, made by hand ----------------------------------------- */

static redisReply *
s_str (const char *s)
{
    redisReply *r = (redisReply *) calloc (1, sizeof *r);
    r->type = REDIS_REPLY_STRING;
    r->str = strdup (s);
    r->len = strlen (s);
    return r;
}

/*  {'ok', state, epoch, wm, total, tombs, recovering, list_done,
    restored_wm, dataset, parts}  */
static redisReply *
s_status (const char *state, int epoch, int wm, int total, int recovering,
          int list_done, int restored, const char *dataset, int parts)
{
    redisReply *r = (redisReply *) calloc (1, sizeof *r);
    r->type = REDIS_REPLY_ARRAY;
    r->elements = 11;
    r->element = (redisReply **) calloc (11, sizeof (redisReply *));
    char num[8][24];
    int nums[] = {epoch, wm, total, 1, recovering, list_done, restored, parts};
    for (int i = 0; i < 8; i++)
        snprintf (num[i], sizeof num[i], "%d", nums[i]);
    r->element[0] = s_str ("ok");
    r->element[1] = s_str (state);
    for (int i = 0; i < 7; i++)
        r->element[2 + i] = s_str (num[i]);
    r->element[9] = s_str (dataset);
    r->element[10] = s_str (num[7]);
    return r;
}

static redisReply *
s_word (const char *word)
{
    redisReply *r = (redisReply *) calloc (1, sizeof *r);
    r->type = REDIS_REPLY_ARRAY;
    r->elements = 1;
    r->element = (redisReply **) calloc (1, sizeof (redisReply *));
    r->element[0] = s_str (word);
    return r;
}

#define DS "0123456789abcdef0123456789abcdef"
#define DX "ffffffffffffffffffffffffffffffff"

static int
s_merge (redisReply **r, int n, rb_status_reply_t *out)
{
    int rc = rb_status_merge (r, n, out);
    for (int i = 0; i < n; i++)
        freeReplyObject (r[i]);
    return rc;
}

START_TEST (parts_status_merges_partitions)
{
    rb_status_reply_t st;
    /* all alike: sums and highest */
    redisReply *a[] = {s_status ("normal", 3, 10, 5, 0, 1, 2, DS, 3),
                       s_status ("normal", 3, 12, 7, 0, 1, 2, DS, 3),
                       s_status ("normal", 3, 4, 1, 0, 1, 2, DS, 3)};
    ck_assert_int_eq (s_merge (a, 3, &st), 0);
    ck_assert_str_eq (st.state, "normal");
    ck_assert_uint_eq (st.epoch, 3);
    ck_assert_uint_eq (st.watermark, 12);
    ck_assert_uint_eq (st.total, 13);
    ck_assert_uint_eq (st.tombs, 3);
    ck_assert_uint_eq (st.lagging, 0);
    ck_assert_uint_eq (st.list_done, 1);
    /* a failover seen on one partition: the others lag; recovering, the
       list incomplete, recovery from the lowest recovering watermark */
    redisReply *b[] = {s_status ("normal", 3, 10, 5, 0, 1, 2, DS, 3),
                       s_status ("recovering", 4, 8, 7, 0, 0, 8, DS, 3),
                       s_status ("recovering", 4, 9, 1, 2, 1, 6, DS, 3)};
    ck_assert_int_eq (s_merge (b, 3, &st), 0);
    ck_assert_str_eq (st.state, "recovering");
    ck_assert_uint_eq (st.epoch, 4);
    ck_assert_uint_eq (st.lagging, 1);
    ck_assert_uint_eq (st.list_done, 0);
    ck_assert_uint_eq (st.restored_watermark, 6);
    ck_assert_uint_eq (st.recovering, 2);
    /* lagging alone makes it recovering; restoring anywhere wins */
    redisReply *c[] = {s_status ("normal", 3, 1, 1, 0, 1, 0, DS, 2),
                       s_status ("normal", 2, 1, 1, 0, 1, 0, DS, 2)};
    ck_assert_int_eq (s_merge (c, 2, &st), 0);
    ck_assert_str_eq (st.state, "recovering");
    redisReply *d[] = {s_status ("recovering", 5, 0, 0, 0, 0, 0, DS, 2),
                       s_status ("restoring", 5, 0, 0, 0, 0, 0, DS, 2)};
    ck_assert_int_eq (s_merge (d, 2, &st), 0);
    ck_assert_str_eq (st.state, "restoring");
    /* a partition missing, or of another dataset, or made with other
       partitions: the dataset is not served */
    redisReply *e[] = {s_status ("normal", 3, 1, 1, 0, 1, 0, DS, 2),
                       s_word ("needs_restore")};
    ck_assert_int_eq (s_merge (e, 2, &st), -1);
    ck_assert_str_eq (st.word, "needs_restore");
    redisReply *f[] = {s_status ("normal", 3, 1, 1, 0, 1, 0, DS, 2),
                       s_status ("normal", 3, 1, 1, 0, 1, 0, DX, 2)};
    ck_assert_int_eq (s_merge (f, 2, &st), -1);
    ck_assert_str_eq (st.word, "foreign");
    redisReply *g[] = {s_status ("normal", 3, 1, 1, 0, 1, 0, DS, 2),
                       s_status ("normal", 3, 1, 1, 0, 1, 0, DS, 1024)};
    ck_assert_int_eq (s_merge (g, 2, &st), -1);
    ck_assert_str_eq (st.word, "parts");
    ck_assert_uint_eq (st.epoch, 0); /* nothing half-read left */
    /* not understood (an integer where a table was due): -2, all zeros */
    redisReply *bad = (redisReply *) calloc (1, sizeof *bad);
    bad->type = REDIS_REPLY_INTEGER;
    redisReply *h[] = {s_status ("normal", 3, 1, 1, 0, 1, 0, DS, 2), bad};
    ck_assert_int_eq (s_merge (h, 2, &st), -2);
    ck_assert_str_eq (st.word, "");
}
END_TEST

int
main (void)
{
    Suite *s = suite_create ("parts");
    TCase *tc = tcase_create ("parts");
    tcase_add_test (tc, parts_a_key_has_one_partition_spread_over_the_slots);
    tcase_add_test (tc, parts_record_key_from_its_name);
    tcase_add_test (tc, parts_status_merges_partitions);
    suite_add_tcase (s, tc);
    return rb_test_run (s);
}
