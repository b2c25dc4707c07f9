/*  test_budget: what one peer may cost the broker (docs/overload.md):
    the send budget kept by echoed heartbeat marks (rb_budget), a node
    that does not read dropped and its requests answered worker_lost
    while one that reads is never dropped, connections that never say
    HELLO closed, and the table of nodes bounded. Real TCP sockets on
    loopback; every wait is on a condition with a deadline.  */
#include "rb_btest.h"
#include "rb_budget.h"
#include "rb_testing.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#define BIG (64 * 1024) /* bytes of one request's value */

START_TEST (budget_counts_what_was_sent_after_the_last_echoed_mark)
{
    rb_budget_t b;
    rb_budget_init (&b, 1000);
    rb_budget_sent (&b, 100);
    uint64_t m1 = rb_budget_mark (&b);
    rb_budget_sent (&b, 50);
    uint64_t m2 = rb_budget_mark (&b);
    rb_budget_sent (&b, 25);
    ck_assert_uint_eq (rb_budget_queued_bytes (&b), 175);
    ck_assert_uint_eq (rb_budget_queued_msgs (&b), 3);
    rb_budget_echo (&b, m1, 1001); /* the first 100 bytes were read */
    ck_assert_uint_eq (rb_budget_queued_bytes (&b), 75);
    rb_budget_echo (&b, m2, 1002);
    ck_assert_uint_eq (rb_budget_queued_bytes (&b), 25);
    ck_assert_uint_eq (rb_budget_queued_msgs (&b), 1);
    rb_budget_echo (&b, m1, 1003); /* an echo overtaken changes nothing */
    ck_assert_uint_eq (rb_budget_queued_bytes (&b), 25);
    rb_budget_echo (&b, 0, 1003);
    rb_budget_echo (&b, 999, 1003); /* never made */
    ck_assert_uint_eq (rb_budget_queued_bytes (&b), 25);
    /* a mark overwritten by RB_BUDGET_MARKS later ones is forgotten */
    uint64_t old = rb_budget_mark (&b);
    for (int i = 0; i < RB_BUDGET_MARKS; i++)
        rb_budget_mark (&b);
    rb_budget_sent (&b, 10);
    rb_budget_echo (&b, old, 1004);
    ck_assert_uint_eq (rb_budget_queued_bytes (&b), 35);
    /* a mark is due once an eighth of a budget went out since the last */
    ck_assert (!rb_budget_due (&b, 8 * 11, 1000));
    ck_assert (rb_budget_due (&b, 8 * 10, 1000));
    /* within budget: kept however long it is silent; past it: dropped
       once stalled (no progress since 1002) or past twice the budget */
    ck_assert (!rb_budget_drop (&b, 35, 100, 500, 9999));
    ck_assert (!rb_budget_drop (&b, 34, 100, 500, 1501));
    ck_assert (rb_budget_drop (&b, 34, 100, 500, 1502));
    ck_assert (rb_budget_drop (&b, 17, 100, 500, 1003));
    ck_assert (!rb_budget_drop (&b, 1000, 1, 500, 1003)); /* 2 messages */
    ck_assert (rb_budget_drop (&b, 1000, 1, 500, 1502));
    ck_assert (rb_budget_drop (&b, 1000, 0, 500, 1003));
}
END_TEST

/*  A broker whose budget is a few requests of BIG bytes.  */
static void
s_small_budget (int credit)
{
    zactor_destroy (&bt_broker);
    rb_broker_opts_t o = bt_fast ();
    o.max_frame = 1 << 20;
    o.peer_queue_bytes = 2 << 20; /* 32 requests of BIG */
    o.worker_credit = credit;
    bt_start (&o, NULL);
}

/*  Sends n requests of BIG bytes to service, at most window of them
    unanswered at a time (0: all at once), pumping nodes meanwhile;
    returns when all are answered or 20 s pass.  */
static void
s_ask_big (node_t **nodes, int count, const char *service, int n, int window,
           answers_t *a)
{
    static char value[BIG];
    memset (value, 'v', sizeof value);
    rb_body_t b;
    rb_body_init (&b, RB_T_ECHO);
    b.has_value = true;
    b.value = (rb_str_t){value, sizeof value};
    a->expect += n;
    a->done = false;
    int64_t deadline = zclock_mono () + 20000;
    int sent = 0;
    while (!a->done && zclock_mono () < deadline) {
        while (sent < n &&
               (!window || sent - a->replies - a->errors < window)) {
            ck_assert_int_eq (rb_bus_request (nodes[0]->bus, RB_ADDR_SERVICE,
                                              service, &b, 1000, bt_answered, a,
                                              0),
                              0);
            sent++;
        }
        bt_pump (nodes, count, NULL, 5);
    }
}

/*  A worker of service on a raw DEALER that registers and heartbeats
    but never reads what it is sent (small buffers, so that its queue
    stays in the broker).  */
static zsock_t *
s_deaf_worker (const char *service)
{
    zsock_t *raw = zsock_new (ZMQ_DEALER);
    zsock_set_rcvhwm (raw, 1);
    zsock_set_rcvbuf (raw, 4096);
    ck_assert_int_eq (zsock_connect (raw, "%s", bt_bus_ep), 0);
    rb_body_t hello;
    rb_body_init (&hello, RB_T_HELLO);
    hello.role = RB_ROLE_BENCH;
    hello.name = rb_str ("deaf");
    hello.n_services = 1;
    hello.services[0] = rb_str (service);
    rb_header_t h = {.kind = RB_K_HELLO, .type = RB_T_HELLO};
    ck_assert_int_eq (rb_msg_send (zsock_resolve (raw), &h, &hello), 0);
    return raw;
}

START_TEST (broker_drops_a_worker_that_does_not_read)
{
    s_small_budget (1000);
    node_t c;
    bt_node (&c, RB_ROLE_OPS, "client", NULL);
    node_t *all[] = {&c};
    ck_assert (bt_all_ready (all, 1, 3000));
    zsock_t *deaf = s_deaf_worker ("sink");
    int64_t deadline = zclock_mono () + 3000;
    while (bt_counter (&c, "nodes") < 2 && zclock_mono () < deadline)
        bt_pump (all, 1, NULL, 5);
    ck_assert_uint_eq (bt_counter (&c, "nodes"), 2);
    /* 100 requests of 64 KiB, three times its budget, never read; it
       heartbeats meanwhile, so it is not expired */
    answers_t a = {0};
    rb_header_t beat = {.kind = RB_K_HEARTBEAT};
    rb_msg_send (zsock_resolve (deaf), &beat, NULL);
    s_ask_big (all, 1, "sink", 100, 0, &a);
    rb_msg_send (zsock_resolve (deaf), &beat, NULL);
    ck_assert (a.done);
    /* it was dropped before the broker held more than twice its budget
       (64 requests): those sent to it were answered worker_lost, the
       rest waited for a worker of sink until their deadline */
    ck_assert_uint_eq (bt_counter (&c, "over_budget"), 1);
    ck_assert_int_eq (a.replies, 0);
    ck_assert_int_ge (a.count_by_status[RB_S_WORKER_LOST], 1);
    ck_assert_int_le (a.count_by_status[RB_S_WORKER_LOST], 64);
    ck_assert_int_eq (a.count_by_status[RB_S_WORKER_LOST] +
                          a.count_by_status[RB_S_TIMEOUT],
                      100);
    ck_assert_uint_eq (bt_counter (&c, "nodes"), 1);
    /* reading at last, it finds itself told it is unknown now */
    zsock_set_rcvtimeo (deaf, 2000);
    bool told = false;
    zmsg_t *msg;
    while (!told && (msg = zmsg_recv (deaf))) {
        rb_header_t h;
        rb_body_t b;
        rb_err_t err;
        rb_body_init (&b, RB_T_NONE);
        if (rb_msg_decode (msg, NULL, &h, &b, &err) == 0)
            told = h.kind == RB_K_ERROR && h.status == RB_S_UNKNOWN_NODE;
        zmsg_destroy (&msg);
    }
    ck_assert (told);
    zsock_destroy (&deaf);
    rb_bus_destroy (&c.bus);
}
END_TEST

START_TEST (broker_keeps_a_worker_that_reads_however_much_it_is_sent)
{
    s_small_budget (16); /* at most 1 MiB in flight to the worker */
    node_t c, w;
    bt_node (&c, RB_ROLE_OPS, "client", NULL);
    bt_node (&w, RB_ROLE_BENCH, "reader", "echo");
    node_t *all[] = {&c, &w};
    ck_assert (bt_all_ready (all, 2, 3000));
    /* 12.5 MiB each way, six times the budget, read as it comes */
    answers_t a = {0};
    s_ask_big (all, 2, "echo", 200, 16, &a);
    ck_assert_int_eq (a.replies, 200);
    ck_assert_uint_eq (bt_counter (&c, "over_budget"), 0);
    ck_assert_uint_eq (rb_bus_registrations (w.bus), 1);
    rb_bus_destroy (&w.bus);
    rb_bus_destroy (&c.bus);
}
END_TEST

START_TEST (broker_bounds_the_bytes_its_queues_hold)
{
    zactor_destroy (&bt_broker);
    rb_broker_opts_t o = bt_fast ();
    o.queue_bytes = 1 << 20; /* 16 requests of BIG */
    o.worker_credit = 1;
    bt_start (&o, NULL);
    node_t c, w;
    bt_node (&c, RB_ROLE_OPS, "client", NULL);
    bt_node (&w, RB_ROLE_BENCH, "slow", "slow");
    w.hold = true; /* takes one request, never answers */
    node_t *all[] = {&c, &w};
    ck_assert (bt_all_ready (all, 2, 3000));
    /* one request goes to the worker, 15 wait (each body a little over
       BIG), the other 24 are refused at once */
    answers_t a = {0};
    s_ask_big (all, 2, "slow", 40, 0, &a);
    ck_assert (a.done);
    ck_assert_int_eq (a.count_by_status[RB_S_OVERLOADED], 24);
    ck_assert_int_eq (a.count_by_status[RB_S_TIMEOUT], 16);
    /* what timed out was given back: the queues take requests again */
    ck_assert_uint_eq (bt_counter (&c, "queued_bytes"), 0);
    answers_t more = {0};
    s_ask_big (all, 2, "slow", 10, 0, &more);
    ck_assert_int_eq (more.count_by_status[RB_S_OVERLOADED], 0);
    rb_bus_destroy (&w.bus);
    rb_bus_destroy (&c.bus);
}
END_TEST

/*  A plain TCP connection to the broker's bus port that sends nothing. */
static int
s_connect_silent (void)
{
    const char *port = strrchr (bt_bus_ep, ':');
    ck_assert_ptr_nonnull (port);
    struct sockaddr_in sa = {.sin_family = AF_INET,
                             .sin_port = htons ((uint16_t) atoi (port + 1))};
    inet_pton (AF_INET, "127.0.0.1", &sa.sin_addr);
    int fd = socket (AF_INET, SOCK_STREAM, 0);
    ck_assert_int_ge (fd, 0);
    ck_assert_int_eq (connect (fd, (struct sockaddr *) &sa, sizeof sa), 0);
    return fd;
}

/*  Whether the broker closed fd within ms (libzmq's greeting is read
    and thrown away meanwhile); node is kept alive meanwhile.  */
static bool
s_closed_within (int fd, node_t *node, int ms)
{
    int64_t deadline = zclock_mono () + ms;
    char buf[256];
    while (zclock_mono () < deadline) {
        rb_bus_poll (node->bus, 0);
        struct pollfd p = {.fd = fd, .events = POLLIN};
        if (poll (&p, 1, 10) == 1) {
            ssize_t n = read (fd, buf, sizeof buf);
            if (n == 0 || (n < 0 && errno == ECONNRESET))
                return true;
        }
    }
    return false;
}

START_TEST (broker_closes_connections_that_never_say_hello)
{
    zactor_destroy (&bt_broker);
    rb_broker_opts_t o = bt_fast ();
    o.hello_timeout_ms = 300;
    bt_start (&o, NULL);
    node_t c;
    bt_node (&c, RB_ROLE_OPS, "client", NULL);
    node_t *all[] = {&c};
    ck_assert (bt_all_ready (all, 1, 3000));
    int64_t start = zclock_mono ();
    int fd = s_connect_silent ();
    zsock_t *mute = zsock_new (ZMQ_DEALER); /* ZMTP, but no HELLO */
    ck_assert_int_eq (zsock_connect (mute, "%s", bt_bus_ep), 0);
    ck_assert (s_closed_within (fd, &c, 3000));
    ck_assert_int_ge (zclock_mono () - start, 250);
    close (fd);
    int64_t deadline = zclock_mono () + 3000;
    while (bt_counter (&c, "idle_closed") < 2 && zclock_mono () < deadline)
        bt_pump (all, 1, NULL, 20);
    ck_assert_uint_ge (bt_counter (&c, "idle_closed"), 2);
    /* the registered node, idle as well, was never closed */
    bt_pump (all, 1, NULL, 400);
    ck_assert (rb_bus_registered (c.bus));
    ck_assert_uint_eq (rb_bus_registrations (c.bus), 1);
    zsock_destroy (&mute);
    rb_bus_destroy (&c.bus);
}
END_TEST

START_TEST (broker_refuses_a_hello_past_nodes_max)
{
    zactor_destroy (&bt_broker);
    rb_broker_opts_t o = bt_fast ();
    o.nodes_max = 2;
    bt_start (&o, NULL);
    node_t c, w1, w2;
    bt_node (&c, RB_ROLE_OPS, "client", NULL);
    bt_node (&w1, RB_ROLE_BENCH, "w1", NULL);
    node_t *two[] = {&c, &w1};
    ck_assert (bt_all_ready (two, 2, 3000));
    bt_node (&w2, RB_ROLE_BENCH, "w2", NULL);
    node_t *all[] = {&c, &w1, &w2};
    int64_t deadline = zclock_mono () + 3000;
    /* the broker counts the refusal before w2 has read its answer */
    while ((bt_counter (&c, "nodes_refused") < 1 || !rb_bus_problem (w2.bus)) &&
           zclock_mono () < deadline)
        bt_pump (all, 3, NULL, 20);
    ck_assert_uint_ge (bt_counter (&c, "nodes_refused"), 1);
    ck_assert (!rb_bus_registered (w2.bus));
    ck_assert_ptr_nonnull (rb_bus_problem (w2.bus));
    ck_assert_ptr_nonnull (strstr (rb_bus_problem (w2.bus), "full"));
    ck_assert_uint_eq (bt_counter (&c, "nodes"), 2);
    /* a place freed is taken on its next try */
    rb_bus_destroy (&w1.bus);
    node_t *left[] = {&c, &w2};
    ck_assert (bt_all_ready (left, 2, 5000));
    rb_bus_destroy (&w2.bus);
    rb_bus_destroy (&c.bus);
}
END_TEST

int
main (void)
{
    Suite *s = suite_create ("budget");
    TCase *tc = tcase_create ("budget");
    tcase_set_timeout (tc, 60);
    tcase_add_checked_fixture (tc, bt_setup, bt_teardown);
    tcase_add_test (tc, budget_counts_what_was_sent_after_the_last_echoed_mark);
    tcase_add_test (tc, broker_drops_a_worker_that_does_not_read);
    tcase_add_test (tc,
                    broker_keeps_a_worker_that_reads_however_much_it_is_sent);
    tcase_add_test (tc, broker_bounds_the_bytes_its_queues_hold);
    tcase_add_test (tc, broker_closes_connections_that_never_say_hello);
    tcase_add_test (tc, broker_refuses_a_hello_past_nodes_max);
    suite_add_tcase (s, tc);
    return rb_test_run (s);
}
