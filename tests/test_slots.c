/*  test_slots: generation-tagged ids: stale and forged ids find nothing,
    the table grows to its bound and no further, iteration may free.  */
#include <check.h>

#include "rb_testing.h"
#include <stdint.h>

#include "rb_slots.h"

typedef struct {
    uint64_t payload;
} rec_t;

START_TEST (slots_stale_and_forged_ids_find_nothing)
{
    rb_slots_t *slots = rb_slots_new (sizeof (rec_t), 100);
    uint64_t id;
    rec_t *r = rb_slots_alloc (slots, &id);
    ck_assert_ptr_nonnull (r);
    r->payload = 42;
    ck_assert_ptr_eq (rb_slots_get (slots, id), r);
    ck_assert_int_eq (rb_slots_free (slots, id), 0);
    ck_assert_ptr_null (rb_slots_get (slots, id));
    ck_assert_int_eq (rb_slots_free (slots, id), -1);
    /* the slot is reused with a new generation: the old id stays dead */
    uint64_t again;
    rec_t *r2 = rb_slots_alloc (slots, &again);
    ck_assert_ptr_eq (r2, r);
    ck_assert_uint_ne (again, id);
    ck_assert_uint_eq (r2->payload, 0); /* zeroed */
    ck_assert_ptr_null (rb_slots_get (slots, id));
    ck_assert_ptr_null (rb_slots_get (slots, again + (1ull << 32)));
    ck_assert_ptr_null (rb_slots_get (slots, 99999));
    ck_assert_ptr_null (rb_slots_get (slots, UINT64_MAX));
    rb_slots_destroy (&slots);
    ck_assert_ptr_null (slots);
    rb_slots_destroy (&slots); /* NULL-safe */
}
END_TEST

START_TEST (slots_grow_to_their_bound_and_no_further)
{
    rb_slots_t *slots = rb_slots_new (sizeof (rec_t), 1000);
    uint64_t ids[1000], id;
    for (int i = 0; i < 1000; i++) {
        rec_t *r = rb_slots_alloc (slots, &ids[i]);
        ck_assert_ptr_nonnull (r);
        r->payload = (uint64_t) i;
    }
    ck_assert_ptr_null (rb_slots_alloc (slots, &id));
    ck_assert_uint_eq (rb_slots_used (slots), 1000);
    for (int i = 0; i < 1000; i++)
        ck_assert_uint_eq (((rec_t *) rb_slots_get (slots, ids[i]))->payload,
                           (uint64_t) i);
    rb_slots_destroy (&slots);
}
END_TEST

START_TEST (slots_iteration_visits_each_live_record_and_may_free)
{
    rb_slots_t *slots = rb_slots_new (sizeof (rec_t), 1000);
    uint64_t id;
    for (int i = 0; i < 300; i++)
        ((rec_t *) rb_slots_alloc (slots, &id))->payload = (uint64_t) i;
    uint32_t cursor = 0;
    rec_t *r;
    uint64_t sum = 0;
    int seen = 0;
    while ((r = rb_slots_next (slots, &cursor, &id))) {
        sum += r->payload;
        seen++;
        if (r->payload % 2)
            rb_slots_free (slots, id);
    }
    ck_assert_int_eq (seen, 300);
    ck_assert_uint_eq (sum, 299 * 300 / 2);
    ck_assert_uint_eq (rb_slots_used (slots), 150);
    rb_slots_destroy (&slots);
}
END_TEST

int
main (void)
{
    Suite *s = suite_create ("slots");
    TCase *tc = tcase_create ("slots");
    tcase_add_test (tc, slots_stale_and_forged_ids_find_nothing);
    tcase_add_test (tc, slots_grow_to_their_bound_and_no_further);
    tcase_add_test (tc, slots_iteration_visits_each_live_record_and_may_free);
    suite_add_tcase (s, tc);
    return rb_test_run (s);
}
