/*  test_queue: the per-service request queue keeps order, holds at most
    its bound, expires by deadline in order, and frees bodies it holds.  */
#include <check.h>

#include "rb_testing.h"
#include <string.h>

#include "rb_queue.h"

static void
s_push (rb_queue_t *q, uint64_t corr, int64_t deadline)
{
    rb_queued_t *e = rb_queue_push (q);
    ck_assert_ptr_nonnull (e);
    e->header.corr = corr;
    e->deadline = deadline;
    e->has_body = true;
    zmq_msg_init_size (&e->body, 100); /* ASan/valgrind see a lost one */
    memset (zmq_msg_data (&e->body), (int) corr, 100);
}

typedef struct {
    uint64_t corrs[64];
    int n;
} expired_t;

static void
s_expired (rb_queued_t *e, void *arg)
{
    expired_t *x = (expired_t *) arg;
    x->corrs[x->n++] = e->header.corr;
    zmq_msg_close (&e->body);
}

START_TEST (queue_is_bounded_and_keeps_order)
{
    rb_queue_t *q = rb_queue_new (40);
    for (uint64_t i = 0; i < 40; i++)
        s_push (q, i, 1000);
    ck_assert_ptr_null (rb_queue_push (q));
    ck_assert_uint_eq (rb_queue_size (q), 40);
    for (uint64_t i = 0; i < 10; i++) {
        rb_queued_t *e = rb_queue_head (q);
        ck_assert_uint_eq (e->header.corr, i);
        ck_assert_uint_eq (((uint8_t *) zmq_msg_data (&e->body))[99], i);
        zmq_msg_close (&e->body);
        rb_queue_pop (q);
    }
    s_push (q, 100, 1000); /* wraps around the ring */
    ck_assert_uint_eq (rb_queue_head (q)->header.corr, 10);
    rb_queue_destroy (&q); /* closes the 31 bodies left */
    ck_assert_ptr_null (q);
}
END_TEST

START_TEST (queue_expires_by_deadline_keeping_the_rest_in_order)
{
    rb_queue_t *q = rb_queue_new (100);
    for (uint64_t i = 0; i < 20; i++)
        s_push (q, i, i % 3 == 0 ? 50 : 500);
    ck_assert_int_eq (rb_queue_min_deadline (q), 50);
    expired_t x = {{0}, 0};
    rb_queue_expire (q, 100, s_expired, &x);
    ck_assert_int_eq (x.n, 7); /* 0, 3, ..., 18 */
    for (int i = 0; i < x.n; i++)
        ck_assert_uint_eq (x.corrs[i], (uint64_t) i * 3);
    ck_assert_uint_eq (rb_queue_size (q), 13);
    ck_assert_int_eq (rb_queue_min_deadline (q), 500);
    uint64_t expect[] = {1, 2, 4, 5, 7};
    for (int i = 0; i < 5; i++) {
        rb_queued_t *e = rb_queue_head (q);
        ck_assert_uint_eq (e->header.corr, expect[i]);
        ck_assert_uint_eq (((uint8_t *) zmq_msg_data (&e->body))[0], expect[i]);
        zmq_msg_close (&e->body);
        rb_queue_pop (q);
    }
    rb_queue_destroy (&q);
}
END_TEST

int
main (void)
{
    Suite *s = suite_create ("queue");
    TCase *tc = tcase_create ("queue");
    tcase_add_test (tc, queue_is_bounded_and_keeps_order);
    tcase_add_test (tc, queue_expires_by_deadline_keeping_the_rest_in_order);
    suite_add_tcase (s, tc);
    return rb_test_run (s);
}
