/*  test_cache: the service node's LRU cache: hits, the bound, eviction
    order, entries that only move forward, RESET by epoch.  */
#include <check.h>
#include <czmq.h>
#include <stdio.h>
#include <string.h>

#include "rb_cache.h"
#include "rb_testing.h"

static bool
s_put (rb_cache_t *c, const char *key, const char *value, uint64_t seq,
       uint64_t epoch)
{
    return rb_cache_put (c, key, strlen (key), value != NULL, value,
                         value ? (uint32_t) strlen (value) : 0, seq, epoch);
}

static const char *
s_value (rb_cache_t *c, const char *key, char *buf)
{
    rb_cached_t got;
    if (!rb_cache_get (c, key, strlen (key), &got))
        return NULL;
    if (!got.found)
        return "-";
    memcpy (buf, got.value, got.value_len);
    buf[got.value_len] = '\0';
    return buf;
}

START_TEST (cache_hits_what_was_put_and_caches_not_found)
{
    rb_cache_t *c = rb_cache_new (10);
    char buf[64];
    ck_assert_ptr_null (s_value (c, "k", buf));
    ck_assert (s_put (c, "k", "v", 1, 1));
    ck_assert_str_eq (s_value (c, "k", buf), "v");
    ck_assert (s_put (c, "gone", NULL, 4, 1));
    ck_assert_str_eq (s_value (c, "gone", buf), "-");
    rb_cache_destroy (&c);
    ck_assert_ptr_null (c);
}
END_TEST

START_TEST (cache_never_moves_an_entry_backwards)
{
    rb_cache_t *c = rb_cache_new (10);
    char buf[64];
    ck_assert (s_put (c, "k", "v5", 5, 2));
    ck_assert (!s_put (c, "k", "v3", 3, 2));     /* older seq */
    ck_assert (!s_put (c, "k", "v9-old", 9, 1)); /* older epoch */
    ck_assert_str_eq (s_value (c, "k", buf), "v5");
    ck_assert (rb_cache_refresh (c, "k", 1, true, "v6", 2, 6, 2));
    ck_assert (!rb_cache_refresh (c, "k", 1, true, "v4", 2, 4, 2));
    ck_assert_str_eq (s_value (c, "k", buf), "v6");
    /* refresh never creates */
    ck_assert (!rb_cache_refresh (c, "new", 3, true, "x", 1, 1, 2));
    ck_assert_ptr_null (s_value (c, "new", buf));
    rb_cache_destroy (&c);
}
END_TEST

START_TEST (cache_holds_at_most_its_size_and_evicts_the_least_recent)
{
    rb_cache_t *c = rb_cache_new (100);
    char key[16], buf[64];
    for (int i = 0; i < 100; i++) {
        snprintf (key, sizeof key, "k%d", i);
        s_put (c, key, "v", 1, 1);
    }
    ck_assert_ptr_nonnull (s_value (c, "k0", buf)); /* k0 is recent now */
    for (int i = 100; i < 150; i++) {
        snprintf (key, sizeof key, "k%d", i);
        s_put (c, key, "v", 1, 1);
        ck_assert_uint_le (rb_cache_size (c), 100);
    }
    ck_assert_uint_eq (rb_cache_size (c), 100);
    ck_assert_ptr_nonnull (s_value (c, "k0", buf));
    ck_assert_ptr_null (s_value (c, "k1", buf)); /* evicted first */
    ck_assert_ptr_nonnull (s_value (c, "k149", buf));
    rb_cache_destroy (&c);
    c = rb_cache_new (0); /* no cache at all */
    ck_assert (!s_put (c, "k", "v", 1, 1));
    ck_assert_uint_eq (rb_cache_size (c), 0);
    rb_cache_destroy (&c);
}
END_TEST

START_TEST (cache_reset_drops_older_epochs_and_refuses_them_after)
{
    rb_cache_t *c = rb_cache_new (10);
    char buf[64];
    s_put (c, "a", "a1", 1, 1);
    s_put (c, "b", "b2", 1, 2);
    ck_assert_uint_eq (rb_cache_reset (c, 2), 1);
    ck_assert_ptr_null (s_value (c, "a", buf));
    ck_assert_str_eq (s_value (c, "b", buf), "b2");
    ck_assert (!s_put (c, "a", "a-late", 7, 1)); /* a reply from before */
    ck_assert_uint_eq (rb_cache_epoch (c), 2);
    rb_cache_destroy (&c);
}
END_TEST

START_TEST (cache_entries_past_their_ttl_are_misses)
{
    rb_cache_t *c = rb_cache_new (10);
    rb_cache_set_ttl (c, 30);
    char buf[64];
    s_put (c, "k", "v", 1, 1);
    ck_assert_str_eq (s_value (c, "k", buf), "v");
    int64_t until = zclock_mono () + 2000; /* bounded wait on the clock */
    while (zclock_mono () - until < 0 && s_value (c, "k", buf))
        zclock_sleep (5);
    ck_assert_ptr_null (s_value (c, "k", buf));
    ck_assert_uint_eq (rb_cache_size (c), 0);
    rb_cache_destroy (&c);
}
END_TEST

int
main (void)
{
    Suite *s = suite_create ("cache");
    TCase *tc = tcase_create ("cache");
    tcase_add_test (tc, cache_hits_what_was_put_and_caches_not_found);
    tcase_add_test (tc, cache_never_moves_an_entry_backwards);
    tcase_add_test (tc,
                    cache_holds_at_most_its_size_and_evicts_the_least_recent);
    tcase_add_test (tc, cache_reset_drops_older_epochs_and_refuses_them_after);
    tcase_add_test (tc, cache_entries_past_their_ttl_are_misses);
    suite_add_tcase (s, tc);
    return rb_test_run (s);
}
