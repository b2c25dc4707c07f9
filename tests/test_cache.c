/*  test_cache: the service node's LRU cache: hits, the bound, eviction
    order, entries that only move forward, RESET by epoch.  */
#include <check.h>
#include <czmq.h>
#include <stdio.h>
#include <string.h>

#include "rb_cache.h"
#include "rb_msg.h"
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

/*  The model the cache must agree with: a list of records with the
    time each was last used, walked in full at every step.  */
#define MODEL_MAX  100 /* records the model holds, at most */
#define MODEL_KEYS 300

typedef struct {
    char key[RB_KEY_MAX + 1];
    bool found;
    char value[16];
    uint64_t seq, epoch, used;
} model_rec_t;

typedef struct {
    model_rec_t recs[MODEL_MAX];
    int n, max;
    uint64_t epoch, clock;
} model_t;

static model_rec_t *
s_model_find (model_t *m, const char *key)
{
    for (int i = 0; i < m->n; i++)
        if (streq (m->recs[i].key, key))
            return &m->recs[i];
    return NULL;
}

static bool
s_model_older (const model_rec_t *r, uint64_t seq, uint64_t epoch)
{
    return epoch < r->epoch || (epoch == r->epoch && seq < r->seq);
}

static void
s_model_set (model_rec_t *r, const char *value, uint64_t seq, uint64_t epoch)
{
    r->found = value != NULL;
    snprintf (r->value, sizeof r->value, "%s", value ? value : "");
    r->seq = seq;
    r->epoch = epoch;
}

static bool
s_model_put (model_t *m, const char *key, const char *value, uint64_t seq,
             uint64_t epoch, bool refresh)
{
    model_rec_t *r = s_model_find (m, key);
    if (epoch < m->epoch || (r && s_model_older (r, seq, epoch)) ||
        (!r && refresh))
        return false;
    if (!r) {
        if (m->n == m->max) { /* evict the least recently used */
            int lru = 0;
            for (int i = 1; i < m->n; i++)
                if (m->recs[i].used < m->recs[lru].used)
                    lru = i;
            m->recs[lru] = m->recs[--m->n];
        }
        r = &m->recs[m->n++];
        snprintf (r->key, sizeof r->key, "%s", key);
    }
    s_model_set (r, value, seq, epoch);
    if (!refresh)
        r->used = ++m->clock;
    return true;
}

/*  Small (its table never grows: probes wrap round its end often) and
    large (grown twice).  */
START_TEST (cache_agrees_with_a_model_through_churn)
{
    int sizes[] = {24, MODEL_MAX};
    rb_cache_t *c = rb_cache_new ((uint32_t) sizes[_i]);
    model_t m = {.n = 0, .max = sizes[_i]};
    srand (4711);
    char buf[64];
    for (int step = 0; step < 200000; step++) {
        /* keys of every length up to the protocol's 64 */
        char key[RB_KEY_MAX + 1];
        int k = rand () % MODEL_KEYS;
        int len = snprintf (key, sizeof key, "%d:", k);
        memset (key + len, 'x', (size_t) (k % (RB_KEY_MAX - 4)));
        key[len + k % (RB_KEY_MAX - 4)] = '\0';
        uint64_t seq = (uint64_t) (rand () % 8);
        uint64_t epoch = m.epoch + (uint64_t) (rand () % 3 == 0);
        char value[16];
        snprintf (value, sizeof value, "v%d", step);
        const char *v = rand () % 4 ? value : NULL;
        int op = rand () % 100;
        if (op < 45) { /* a lookup */
            model_rec_t *r = s_model_find (&m, key);
            const char *got = s_value (c, key, buf);
            ck_assert_int_eq (got != NULL, r != NULL);
            if (r) {
                ck_assert_str_eq (got, r->found ? r->value : "-");
                r->used = ++m.clock;
            }
        } else if (op < 80)
            ck_assert_int_eq (s_put (c, key, v, seq, epoch),
                              s_model_put (&m, key, v, seq, epoch, false));
        else if (op < 98)
            ck_assert_int_eq (
                rb_cache_refresh (c, key, strlen (key), v != NULL, v,
                                  v ? (uint32_t) strlen (v) : 0, seq, epoch),
                s_model_put (&m, key, v, seq, epoch, true));
        else if (op < 99) { /* a RESET drops the older epochs */
            m.epoch++;
            int dropped = 0;
            for (int i = 0; i < m.n;)
                if (m.recs[i].epoch < m.epoch) {
                    m.recs[i] = m.recs[--m.n];
                    dropped++;
                } else
                    i++;
            ck_assert_uint_eq (rb_cache_reset (c, m.epoch), dropped);
        } else { /* a new registration drops all */
            ck_assert_uint_eq (rb_cache_clear (c), m.n);
            m.n = 0;
        }
        ck_assert_uint_eq (rb_cache_size (c), m.n);
    }
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
    tcase_add_loop_test (tc, cache_agrees_with_a_model_through_churn, 0, 2);
    tcase_add_test (tc, cache_entries_past_their_ttl_are_misses);
    suite_add_tcase (s, tc);
    return rb_test_run (s);
}
