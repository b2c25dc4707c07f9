/*  test_timers: the heap of due times gives back every entry once, in
    time order, only when due, with adds between pops.  */
#include <check.h>

#include "rb_testing.h"
#include <stdlib.h>

#include "rb_timers.h"

START_TEST (timers_come_back_in_time_order_only_when_due)
{
    rb_timers_t *t = rb_timers_new ();
    srand (7);
    enum { N = 10000 };
    static int64_t seen[N];
    for (uint64_t i = 0; i < N; i++)
        rb_timers_add (t, 1 + rand () % 1000, i);
    ck_assert_uint_eq (rb_timers_size (t), N);
    int64_t at, last = 0;
    uint64_t id;
    ck_assert (!rb_timers_pop (t, 0, &at, &id)); /* nothing due yet */
    int popped = 0;
    for (int64_t now = 0; now <= 1400; now += 10) {
        if (now == 500) /* more, some due at once, some later */
            for (uint64_t i = 0; i < 100; i++)
                rb_timers_add (t, 400 + (int64_t) i * 10, N + i);
        while (rb_timers_pop (t, now, &at, &id)) {
            ck_assert_int_le (at, now);
            ck_assert_int_ge (at, last);
            last = at;
            if (id < N)
                seen[id]++;
            popped++;
        }
        last = 0; /* the late adds may be earlier than what came before */
    }
    ck_assert_int_eq (popped, N + 100);
    for (int i = 0; i < N; i++)
        ck_assert_int_eq (seen[i], 1);
    ck_assert_uint_eq (rb_timers_size (t), 0);
    rb_timers_destroy (&t);
    ck_assert_ptr_null (t);
}
END_TEST

int
main (void)
{
    Suite *s = suite_create ("timers");
    TCase *tc = tcase_create ("timers");
    tcase_add_test (tc, timers_come_back_in_time_order_only_when_due);
    suite_add_tcase (s, tc);
    return rb_test_run (s);
}
