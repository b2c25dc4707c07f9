/*  test_broker: the broker actor and the bus client over real TCP
    sockets on loopback: routing, load sharing, liveness, queue bounds,
    hostile frames, restart, tap, identity stamping and introspection.
    Every wait is on a condition with a deadline.  */
#include <check.h>

#include "rb_btest.h"
#include "rb_testing.h"
#include <czmq.h>

#include "rb_broker.h"
#include "rb_bus.h"
#include "rb_msg.h"

START_TEST (broker_routes_to_a_service_and_to_a_node)
{
    node_t w, c;
    bt_node (&w, RB_ROLE_DB, "w1", "echo");
    bt_node (&c, RB_ROLE_OPS, "client", NULL);
    node_t *all[] = {&w, &c};
    ck_assert (bt_all_ready (all, 2, 3000));
    answers_t a = {0};
    bt_ask (&c, RB_ADDR_SERVICE, "echo", 5, 2000, &a);
    bt_ask (&c, RB_ADDR_NODE, "w1", 5, 2000, &a);
    bt_pump (all, 2, &a.done, 3000);
    ck_assert_int_eq (a.replies, 10);
    ck_assert_int_eq (w.served, 10);
    ck_assert_str_eq (a.last_sender, "w1");
    /* nobody offers "nope"; no node is called "ghost" */
    answers_t e = {0};
    bt_ask (&c, RB_ADDR_SERVICE, "nope", 1, 2000, &e);
    bt_ask (&c, RB_ADDR_NODE, "ghost", 1, 2000, &e);
    bt_pump (all, 2, &e.done, 3000);
    ck_assert_int_eq (e.count_by_status[RB_S_UNKNOWN_SERVICE], 2);
    rb_bus_destroy (&w.bus);
    rb_bus_destroy (&c.bus);
}
END_TEST

START_TEST (broker_stamps_the_registered_identity)
{
    node_t w, c;
    bt_node (&w, RB_ROLE_DB, "w1", "echo");
    bt_node (&c, RB_ROLE_SERVICE, "svc-a", NULL);
    node_t *all[] = {&w, &c};
    ck_assert (bt_all_ready (all, 2, 3000));
    /* a raw request that claims to come from "ops-1" with role ops */
    rb_header_t h = {.kind = RB_K_REQUEST,
                     .type = RB_T_ECHO,
                     .addr = RB_ADDR_SERVICE,
                     .role = RB_ROLE_OPS};
    strcpy (h.dest, "echo");
    strcpy (h.sender, "ops-1");
    zsock_t *raw = zsock_new_dealer (bt_bus_ep);
    rb_body_t hello;
    rb_body_init (&hello, RB_T_HELLO);
    hello.role = RB_ROLE_SERVICE;
    hello.name = rb_str ("liar");
    rb_header_t hh = {.kind = RB_K_HELLO, .type = RB_T_HELLO};
    rb_msg_send (zsock_resolve (raw), &hh, &hello);
    rb_body_t b;
    rb_body_init (&b, RB_T_ECHO);
    rb_msg_send (zsock_resolve (raw), &h, &b);
    int64_t deadline = zclock_mono () + 3000;
    while (w.served == 0 && zclock_mono () < deadline)
        rb_bus_poll (w.bus, 5);
    ck_assert_int_eq (w.served, 1);
    ck_assert_str_eq (w.last_req.sender, "liar");
    ck_assert_int_eq (w.last_req.role, RB_ROLE_SERVICE);
    zsock_destroy (&raw);
    rb_bus_destroy (&w.bus);
    rb_bus_destroy (&c.bus);
}
END_TEST

START_TEST (broker_shares_work_between_two_workers)
{
    node_t w1, w2, c;
    bt_node (&w1, RB_ROLE_DB, "w1", "echo");
    bt_node (&w2, RB_ROLE_DB, "w2", "echo");
    bt_node (&c, RB_ROLE_OPS, "client", NULL);
    node_t *all[] = {&w1, &w2, &c};
    ck_assert (bt_all_ready (all, 3, 3000));
    w1.hold = true; /* w1 keeps what it gets: least-outstanding sends on */
    answers_t a = {0};
    bt_ask (&c, RB_ADDR_SERVICE, "echo", 20, 2000, &a);
    int64_t deadline = zclock_mono () + 3000;
    while (w2.served + w1.served < 20 && zclock_mono () < deadline)
        bt_pump (all, 3, NULL, 5);
    ck_assert_int_ge (w1.served, 1);
    ck_assert_int_ge (w2.served, 10);
    ck_assert_int_eq (w1.served + w2.served, 20);
    rb_bus_destroy (&w1.bus);
    rb_bus_destroy (&w2.bus);
    rb_bus_destroy (&c.bus);
}
END_TEST

START_TEST (broker_answers_worker_lost_when_a_worker_dies_mid_request)
{
    node_t c;
    bt_node (&c, RB_ROLE_OPS, "client", NULL);
    node_t *all[] = {&c};
    ck_assert (bt_all_ready (all, 1, 3000));
    /* a raw worker that registers, takes the request, and goes silent */
    zsock_t *raw = zsock_new_dealer (bt_bus_ep);
    rb_body_t hello;
    rb_body_init (&hello, RB_T_HELLO);
    hello.role = RB_ROLE_DB;
    hello.name = rb_str ("doomed");
    hello.services[0] = rb_str ("echo");
    hello.n_services = 1;
    rb_header_t hh = {.kind = RB_K_HELLO, .type = RB_T_HELLO};
    rb_msg_send (zsock_resolve (raw), &hh, &hello);
    zsock_set_rcvtimeo (raw, 3000);
    zmsg_t *msg = zmsg_recv (raw); /* WELCOME */
    ck_assert_ptr_nonnull (msg);
    zmsg_destroy (&msg);
    answers_t a = {0};
    bt_ask (&c, RB_ADDR_SERVICE, "echo", 1, 10000, &a);
    rb_header_t h;
    do { /* wait for the request itself, skipping heartbeats */
        rb_bus_poll (c.bus, 1);
        msg = zmsg_recv (raw);
        ck_assert_ptr_nonnull (msg);
        rb_body_t b;
        rb_body_init (&b, RB_T_NONE);
        rb_err_t err;
        ck_assert_int_eq (rb_msg_decode (msg, NULL, &h, &b, &err), 0);
        zmsg_destroy (&msg);
    } while (h.kind != RB_K_REQUEST);
    int64_t died = zclock_mono ();
    zsock_destroy (&raw);
    bt_pump (all, 1, &a.done, 3000);
    ck_assert_int_eq (a.count_by_status[RB_S_WORKER_LOST], 1);
    /* interval 100 ms x liveness 3, plus a margin for the 10 ms tick */
    ck_assert_int_le (a.at - died, 300 + 250);
    rb_bus_destroy (&c.bus);
}
END_TEST

/*  Sends HELLO from a raw worker of service called name.  */
static void
s_raw_hello (zsock_t *raw, const char *name, const char *service)
{
    rb_body_t hello;
    rb_body_init (&hello, RB_T_HELLO);
    hello.role = RB_ROLE_DB;
    hello.name = rb_str (name);
    hello.services[0] = rb_str (service);
    hello.n_services = 1;
    rb_header_t hh = {.kind = RB_K_HELLO, .type = RB_T_HELLO};
    ck_assert_int_eq (rb_msg_send (zsock_resolve (raw), &hh, &hello), 0);
}

/*  A worker on a raw DEALER, registered for service (its WELCOME read). */
static zsock_t *
s_raw_worker (const char *name, const char *service)
{
    zsock_t *raw = zsock_new_dealer (bt_bus_ep);
    zsock_set_rcvtimeo (raw, 3000);
    s_raw_hello (raw, name, service);
    zmsg_t *msg = zmsg_recv (raw); /* WELCOME */
    ck_assert_ptr_nonnull (msg);
    zmsg_destroy (&msg);
    return raw;
}

/*  Reads n requests from a raw worker into got (heartbeats skipped),
    keeping the requester's bus polled.  */
static void
s_take (zsock_t *raw, node_t *requester, int n, rb_header_t *got)
{
    for (int i = 0; i < n;) {
        rb_bus_poll (requester->bus, 1);
        zmsg_t *msg = zmsg_recv (raw);
        ck_assert_ptr_nonnull (msg);
        rb_body_t b;
        rb_body_init (&b, RB_T_NONE);
        rb_err_t err;
        ck_assert_int_eq (rb_msg_decode (msg, NULL, &got[i], &b, &err), 0);
        zmsg_destroy (&msg);
        i += got[i].kind == RB_K_REQUEST;
    }
}

/*  A broker whose silent nodes expire only after 5 s: what the tests
    below see within 2 s is not expiry.  */
static void
s_slow_expiry (void)
{
    zactor_destroy (&bt_broker);
    rb_broker_opts_t o = bt_fast ();
    o.heartbeat_ms = 1000;
    o.liveness = 5;
    bt_start (&o, NULL);
}

/*  A broker with slow expiry; c a client that sent three ECHO requests,
    in flight at the raw worker wa (returned, got their headers), and wb
    a second worker of echo that registered after they were sent.  */
static zsock_t *
s_three_in_flight (node_t *c, node_t *wb, answers_t *a, rb_header_t got[3])
{
    s_slow_expiry ();
    bt_node (c, RB_ROLE_OPS, "client", NULL);
    node_t *all[] = {c, wb};
    ck_assert (bt_all_ready (all, 1, 3000));
    zsock_t *wa = s_raw_worker ("wa", "echo");
    bt_ask (c, RB_ADDR_SERVICE, "echo", 3, 4000, a);
    s_take (wa, c, 3, got); /* all three in flight at wa */
    bt_node (wb, RB_ROLE_DB, "wb", "echo");
    ck_assert (bt_all_ready (all, 2, 3000));
    return wa;
}

/*  Issue 16 item 5: a worker whose socket closes with requests in
    flight is removed at once, and those requests are answered, once
    each, by the other worker of the service.  */
START_TEST (broker_reroutes_a_closed_workers_requests_to_another_worker)
{
    node_t c, wb;
    node_t *all[] = {&c, &wb};
    answers_t a = {0};
    rb_header_t got[3];
    zsock_t *wa = s_three_in_flight (&c, &wb, &a, got);
    int64_t closed = zclock_mono ();
    zsock_destroy (&wa);
    bt_pump (all, 2, &a.done, 2000);
    ck_assert_int_eq (a.replies, 3);
    ck_assert_int_eq (a.errors, 0);
    ck_assert_int_eq (wb.served, 3);
    ck_assert_str_eq (a.last_sender, "wb");
    ck_assert_int_lt (a.at - closed, 1000); /* not its 5 s expiry */
    ck_assert_uint_eq (bt_counter (&c, "rerouted"), 3);
    ck_assert_uint_eq (bt_counter (&c, "nodes_lost"), 1);
    ck_assert_uint_eq (bt_counter (&c, "expired"), 0);
    ck_assert_int_eq (a.replies + a.errors, 3); /* nothing came twice */
    rb_bus_destroy (&wb.bus);
    rb_bus_destroy (&c.bus);
}
END_TEST

/*  A worker that registers again drops its registration with its
    requests in flight: they go to the other worker, and the replies
    the first sends afterwards for them are strays, never passed on.  */
START_TEST (broker_drops_a_lost_workers_late_replies_as_strays)
{
    node_t c, wb;
    node_t *all[] = {&c, &wb};
    answers_t a = {0};
    rb_header_t got[3];
    zsock_t *wa = s_three_in_flight (&c, &wb, &a, got);
    /* wa says HELLO again on the same socket: a new registration */
    s_raw_hello (wa, "wa", "echo");
    bt_pump (all, 2, &a.done, 2000);
    ck_assert_int_eq (a.replies, 3);
    ck_assert_int_eq (wb.served, 3);
    /* and now answers what it was sent before: too late */
    for (int i = 0; i < 3; i++) {
        rb_header_t r = {.kind = RB_K_REPLY, .type = RB_T_ECHO};
        r.corr = got[i].corr;
        rb_body_t echo;
        rb_body_init (&echo, RB_T_ECHO);
        ck_assert_int_eq (rb_msg_send (zsock_resolve (wa), &r, &echo), 0);
    }
    int64_t deadline = zclock_mono () + 2000;
    uint64_t strays = 0;
    while ((strays = bt_counter (&c, "strays")) < 3 &&
           zclock_mono () < deadline)
        bt_pump (all, 2, NULL, 5);
    ck_assert_uint_eq (strays, 3);
    /* what the broker sent c before that STATUS answer has arrived */
    ck_assert_int_eq (a.replies, 3);
    ck_assert_int_eq (a.errors, 0);
    ck_assert_str_eq (a.last_sender, "wb");
    ck_assert_uint_eq (bt_counter (&c, "rerouted"), 3);
    zsock_destroy (&wa);
    rb_bus_destroy (&wb.bus);
    rb_bus_destroy (&c.bus);
}
END_TEST

START_TEST (broker_expires_queued_requests_and_bounds_the_queue)
{
    zactor_destroy (&bt_broker);
    rb_broker_opts_t o = bt_fast ();
    o.worker_credit = 1;
    o.queue_max = 5;
    bt_start (&o, NULL);
    node_t w, c;
    bt_node (&w, RB_ROLE_DB, "w1", "echo");
    bt_node (&c, RB_ROLE_OPS, "client", NULL);
    node_t *all[] = {&w, &c};
    ck_assert (bt_all_ready (all, 2, 3000));
    w.hold = true;
    answers_t busy = {0}, queued = {0}, over = {0};
    bt_ask (&c, RB_ADDR_SERVICE, "echo", 1, 5000, &busy);
    bt_pump (all, 2, NULL, 50);
    int64_t sent = zclock_mono ();
    bt_ask (&c, RB_ADDR_SERVICE, "echo", 5, 200, &queued);
    bt_ask (&c, RB_ADDR_SERVICE, "echo", 1, 5000, &over);
    bt_pump (all, 2, &over.done, 1000);
    ck_assert_int_eq (over.count_by_status[RB_S_OVERLOADED], 1);
    ck_assert_int_lt (over.at - sent, 150); /* at once, not at a deadline */
    bt_pump (all, 2, &queued.done, 2000);
    ck_assert_int_eq (queued.count_by_status[RB_S_TIMEOUT], 5);
    ck_assert_int_ge (queued.at - sent, 190);
    ck_assert_str_eq (queued.last_sender, "broker");
    ck_assert_int_eq (w.served, 1); /* the expired ones never reached it */
    rb_bus_destroy (&w.bus);
    rb_bus_destroy (&c.bus);
}
END_TEST

START_TEST (broker_survives_a_storm_of_random_frames)
{
    node_t w, c;
    bt_node (&w, RB_ROLE_DB, "w1", "echo");
    bt_node (&c, RB_ROLE_OPS, "client", NULL);
    node_t *all[] = {&w, &c};
    ck_assert (bt_all_ready (all, 2, 3000));
    zsock_t *raw = zsock_new_dealer (bt_bus_ep);
    srand (4242);
    uint8_t buf[64];
    for (int i = 0; i < 10000; i++) {
        zmsg_t *msg = zmsg_new ();
        int frames = 1 + rand () % 4;
        for (int f = 0; f < frames; f++) {
            size_t len = (size_t) (rand () % (int) sizeof buf);
            for (size_t j = 0; j < len; j++)
                buf[j] = (uint8_t) rand ();
            if (f == 0 && i % 3 == 0 && len > 4) /* a valid-looking start */
                memcpy (buf, "\x9b\xa2RB\x02", 5);
            zmsg_addmem (msg, buf, len);
        }
        zmsg_send (&msg, raw);
        if (i % 500 == 0) /* keep the nodes alive while it rages */
            bt_pump (all, 2, NULL, 1);
    }
    answers_t a = {0};
    bt_ask (&c, RB_ADDR_SERVICE, "echo", 3, 3000, &a);
    bt_pump (all, 2, &a.done, 5000);
    ck_assert_int_eq (a.replies, 3);
    ck_assert_uint_ge (bt_counter (&c, "malformed"), 5000);
    zsock_destroy (&raw);
    rb_bus_destroy (&w.bus);
    rb_bus_destroy (&c.bus);
}
END_TEST

START_TEST (broker_restart_on_the_same_endpoint_is_survived)
{
    char endpoint[256];
    snprintf (endpoint, sizeof endpoint, "%s", bt_bus_ep);
    node_t w, c;
    bt_node (&w, RB_ROLE_DB, "w1", "echo");
    bt_node (&c, RB_ROLE_OPS, "client", NULL);
    node_t *all[] = {&w, &c};
    ck_assert (bt_all_ready (all, 2, 3000));
    zactor_destroy (&bt_broker);
    rb_broker_opts_t o = bt_fast ();
    o.liveness = 10; /* a busy machine must not expire nodes here */
    /* libzmq closes the old listener in the background: retry a while */
    int64_t until = zclock_mono () + 5000;
    bool bound = false;
    while (!(bound = bt_try_start (&o, endpoint)) && zclock_mono () < until)
        bt_pump (all, 2, NULL, 20);
    ck_assert (bound);
    /* both notice the silence (or an unknown_node) and register again */
    int64_t deadline = zclock_mono () + 8000;
    while (zclock_mono () < deadline &&
           (rb_bus_registrations (w.bus) < 2 ||
            rb_bus_registrations (c.bus) < 2 || !rb_bus_registered (w.bus) ||
            !rb_bus_registered (c.bus)))
        bt_pump (all, 2, NULL, 5);
    ck_assert_int_ge (rb_bus_registrations (w.bus), 2);
    ck_assert_int_ge (rb_bus_registrations (c.bus), 2);
    /* traffic resumes: a request is answered before the deadline */
    answers_t a = {0};
    deadline = zclock_mono () + 8000;
    while (a.replies == 0 && zclock_mono () < deadline) {
        bt_ask (&c, RB_ADDR_SERVICE, "echo", 1, 1000, &a);
        bt_pump (all, 2, &a.done, 1500);
    }
    ck_assert_int_ge (a.replies, 1);
    rb_bus_destroy (&w.bus);
    rb_bus_destroy (&c.bus);
}
END_TEST

/*  Reads tap messages until one with topic arrives; returns how many. */
static int
s_tap_read (zsock_t *sub, const char *topic, int ms)
{
    int seen = 0;
    int64_t deadline = zclock_mono () + ms;
    while (zclock_mono () < deadline) {
        if (!(zsock_events (sub) & ZMQ_POLLIN)) {
            zclock_sleep (1); /* polling a socket, bounded by deadline */
            continue;
        }
        zmsg_t *msg = zmsg_recv (sub);
        char *t = zmsg_popstr (msg);
        ck_assert_int_ge (zmsg_size (msg), 1); /* header [+ body] */
        seen++;
        bool hit = t && streq (t, topic);
        zstr_free (&t);
        zmsg_destroy (&msg);
        if (hit)
            return seen;
    }
    return -seen;
}

START_TEST (broker_tap_sees_traffic_and_a_stalled_subscriber_costs_nothing)
{
    zactor_destroy (&bt_broker);
    rb_broker_opts_t o = bt_fast ();
    o.tap_hwm = 100;
    bt_start (&o, NULL);
    node_t w, c;
    bt_node (&w, RB_ROLE_DB, "w1", "echo");
    bt_node (&c, RB_ROLE_OPS, "client", NULL);
    node_t *all[] = {&w, &c};
    ck_assert (bt_all_ready (all, 2, 3000));
    zsock_t *sub = zsock_new_sub (bt_tap_ep, "");
    zsock_t *stalled = zsock_new (ZMQ_SUB);
    zsock_set_rcvhwm (stalled, 1);
    zsock_set_subscribe (stalled, "");
    zsock_connect (stalled, "%s", bt_tap_ep);
    /* wait until the broker counts both subscriptions */
    int64_t deadline = zclock_mono () + 3000;
    while (bt_counter (&c, "tap_subscribers") < 2 && zclock_mono () < deadline)
        bt_pump (all, 2, NULL, 5);
    ck_assert_uint_eq (bt_counter (&c, "tap_subscribers"), 2);
    answers_t a = {0};
    bt_ask (&c, RB_ADDR_SERVICE, "echo", 1, 2000, &a);
    bt_pump (all, 2, &a.done, 3000);
    ck_assert_int_gt (s_tap_read (sub, "ECHO", 3000), 0);
    /* 20,000 requests of 8 KB while one subscriber never reads: every
       one is answered; the tap drops instead of waiting */
    static char big[8192];
    bt_payload = rb_strn (big, sizeof big);
    answers_t many = {0};
    for (int round = 0; round < 20; round++) {
        bt_ask (&c, RB_ADDR_SERVICE, "echo", 1000, 10000, &many);
        bt_pump (all, 2, &many.done, 10000);
    }
    ck_assert_int_eq (many.replies, 20000);
    bt_payload = rb_str ("ping");
    zsock_destroy (&sub);
    zsock_destroy (&stalled);
    rb_bus_destroy (&w.bus);
    rb_bus_destroy (&c.bus);
}
END_TEST

/*  A tap subscriber in a thread of its own, reading ECHO messages as fast
    as they come: "COUNT" answers how many it has read.  */
static void
s_tap_counter (zsock_t *pipe, void *args)
{
    zsock_t *sub = zsock_new (ZMQ_SUB);
    zsock_set_rcvhwm (sub, 200000);
    zsock_set_subscribe (sub, "ECHO");
    zsock_connect (sub, "%s", (const char *) args);
    zsock_signal (pipe, 0);
    int count = 0;
    zpoller_t *poller = zpoller_new (pipe, sub, NULL);
    void *which;
    while ((which = zpoller_wait (poller, -1)) != NULL) {
        if (which == sub) {
            zmsg_t *msg = zmsg_recv (sub);
            zmsg_destroy (&msg);
            count++;
            continue;
        }
        char *cmd = zstr_recv (pipe);
        bool stop = !cmd || streq (cmd, "$TERM");
        if (cmd && streq (cmd, "COUNT"))
            zsock_send (pipe, "i", count);
        zstr_free (&cmd);
        if (stop)
            break;
    }
    zpoller_destroy (&poller);
    zsock_destroy (&sub);
}

static int
s_tap_count (zactor_t *counter)
{
    zstr_send (counter, "COUNT");
    int count = -1;
    zsock_recv (counter, "i", &count);
    return count;
}

START_TEST (broker_tap_stalled_subscriber_costs_a_healthy_one_nothing)
{
    zactor_destroy (&bt_broker);
    rb_broker_opts_t o = bt_fast ();
    o.tap_hwm = 10000; /* the default */
    bt_start (&o, NULL);
    node_t w, c;
    bt_node (&w, RB_ROLE_DB, "w1", "echo");
    bt_node (&c, RB_ROLE_OPS, "client", NULL);
    node_t *all[] = {&w, &c};
    ck_assert (bt_all_ready (all, 2, 3000));
    zsock_t *stalled = zsock_new (ZMQ_SUB); /* never reads */
    zsock_set_rcvhwm (stalled, 1);
    zsock_set_subscribe (stalled, "");
    zsock_connect (stalled, "%s", bt_tap_ep);
    zactor_t *healthy = zactor_new (s_tap_counter, bt_tap_ep);
    int64_t deadline = zclock_mono () + 3000;
    while (bt_counter (&c, "tap_subscribers") < 2 && zclock_mono () < deadline)
        bt_pump (all, 2, NULL, 5);
    ck_assert_uint_eq (bt_counter (&c, "tap_subscribers"), 2);
    /* 100,000 round trips: 200,000 ECHO messages on the tap, far past
       what the stalled subscriber's path holds (tap-hwm in the broker,
       then the kernel's socket buffers: some 30,000 of these) */
    answers_t many = {0};
    for (int round = 0; round < 100; round++) {
        bt_ask (&c, RB_ADDR_SERVICE, "echo", 1000, 10000, &many);
        bt_pump (all, 2, &many.done, 10000);
    }
    ck_assert_int_eq (many.replies, 100000);
    /* the healthy monitor gets every one of them */
    deadline = zclock_mono () + 10000;
    while (s_tap_count (healthy) < 200000 && zclock_mono () < deadline)
        ; /* its thread reads on; each look is a round trip to it */
    ck_assert_int_eq (s_tap_count (healthy), 200000);
    zactor_destroy (&healthy);
    /* emptied first: libzmq 4.3.4 asserts closing a SUB full mid-message
       (session_base.cpp:260, libzmq issue 3442) */
    zsock_set_rcvtimeo (stalled, 200);
    zmsg_t *left;
    while ((left = zmsg_recv (stalled)) != NULL)
        zmsg_destroy (&left);
    zsock_destroy (&stalled);
    rb_bus_destroy (&w.bus);
    rb_bus_destroy (&c.bus);
}
END_TEST

START_TEST (broker_bounds_its_services_and_frees_those_left_without_workers)
{
    zactor_destroy (&bt_broker);
    rb_broker_opts_t o = bt_fast ();
    o.services_max = 10;
    o.service_linger_ms = 100;
    bt_start (&o, NULL);
    /* a client, then eleven bench nodes, a new service each */
    node_t c, w[11];
    node_t *all[12] = {&c};
    bt_node (&c, RB_ROLE_OPS, "client", NULL);
    char names[11][16], services[11][16];
    for (int i = 0; i < 11; i++) {
        snprintf (names[i], sizeof names[i], "w%d", i);
        snprintf (services[i], sizeof services[i], "s%d", i);
        bt_node (&w[i], RB_ROLE_BENCH, names[i], services[i]);
        all[i + 1] = &w[i];
    }
    /* the first ten to register fill the table; the last is refused */
    int64_t deadline = zclock_mono () + 3000;
    int ready = 0;
    while (ready < 11 && zclock_mono () < deadline) {
        bt_pump (all, 12, NULL, 5);
        ready = 0;
        for (int i = 0; i < 12; i++)
            ready += rb_bus_registered (all[i]->bus);
    }
    ck_assert_int_eq (ready, 11);
    bt_pump (all, 12, NULL, 500); /* its HELLOs keep being refused */
    int refused = -1;
    for (int i = 0; i < 11; i++)
        if (!rb_bus_registered (w[i].bus))
            refused = i;
    ck_assert_int_ge (refused, 0);
    ck_assert_uint_eq (bt_counter (&c, "services"), 10);
    ck_assert_uint_eq (bt_counter (&c, "nodes"), 11);
    /* the ten leave: their services go once the linger is over, and the
       refused one gets in on one of its next tries (it may as soon as
       the first is freed): in the end only its service is left */
    for (int i = 0; i < 11; i++)
        if (i != refused)
            rb_bus_destroy (&w[i].bus);
    node_t *left[] = {&c, &w[refused]};
    ck_assert (bt_all_ready (left, 2, 8000));
    deadline = zclock_mono () + 3000;
    while (bt_counter (&c, "services") > 1 && zclock_mono () < deadline)
        bt_pump (left, 2, NULL, 10);
    ck_assert_uint_eq (bt_counter (&c, "services"), 1);
    rb_bus_destroy (&w[refused].bus);
    rb_bus_destroy (&c.bus);
}
END_TEST

START_TEST (broker_pushes_to_a_node_and_to_every_node_of_a_role)
{
    node_t db, s1, s2, ops;
    bt_node (&db, RB_ROLE_DB, "db-1", "db");
    bt_node (&s1, RB_ROLE_SERVICE, "svc-1", NULL);
    bt_node (&s2, RB_ROLE_SERVICE, "svc-2", NULL);
    bt_node (&ops, RB_ROLE_OPS, "ops-1", NULL);
    node_t *all[] = {&db, &s1, &s2, &ops};
    ck_assert (bt_all_ready (all, 4, 3000));
    rb_body_t reset;
    rb_body_init (&reset, RB_T_RESET);
    reset.epoch = 2;
    rb_bus_push (db.bus, RB_ADDR_ROLE, "service", &reset);
    rb_body_t rec;
    rb_body_init (&rec, RB_T_RECOVERED);
    rec.key = rb_str ("k1");
    rb_bus_push (db.bus, RB_ADDR_NODE, "svc-2", &rec);
    int64_t deadline = zclock_mono () + 3000;
    while ((s1.pushes < 1 || s2.pushes < 2) && zclock_mono () < deadline)
        bt_pump (all, 4, NULL, 5);
    ck_assert_int_eq (s1.pushes, 1);
    ck_assert_int_eq (s1.last_push_type, RB_T_RESET);
    ck_assert_int_eq (s2.pushes, 2);
    ck_assert_int_eq (s2.last_push_type, RB_T_RECOVERED);
    ck_assert_int_eq (ops.pushes, 0);
    ck_assert_int_eq (db.pushes, 0);
    for (int i = 0; i < 4; i++)
        rb_bus_destroy (&all[i]->bus);
}
END_TEST

START_TEST (broker_refuses_a_taken_name_and_an_unknown_role)
{
    node_t a, b;
    bt_node (&a, RB_ROLE_DB, "same", NULL);
    node_t *first[] = {&a};
    ck_assert (bt_all_ready (first, 1, 3000));
    bt_node (&b, RB_ROLE_DB, "same", NULL);
    node_t *both[] = {&a, &b};
    int64_t deadline = zclock_mono () + 3000;
    while (!rb_bus_problem (b.bus) && zclock_mono () < deadline)
        bt_pump (both, 2, NULL, 5);
    ck_assert_ptr_nonnull (rb_bus_problem (b.bus));
    ck_assert_int_eq (strncmp (rb_bus_problem (b.bus), "name_taken", 10), 0);
    ck_assert (!rb_bus_registered (b.bus));
    /* once the holder leaves, the name is free: b's retry succeeds */
    rb_bus_destroy (&a.bus);
    node_t *only_b[] = {&b};
    ck_assert (bt_all_ready (only_b, 1, 8000));
    rb_bus_destroy (&b.bus);
    /* a HELLO with a role outside the set */
    zsock_t *raw = zsock_new_dealer (bt_bus_ep);
    zsock_set_rcvtimeo (raw, 3000);
    const char body[] = "\x83\xa4role\xa6wizard\xa4name\xa1x\xa8services\x90";
    rb_header_t hh = {.kind = RB_K_HELLO, .type = RB_T_HELLO};
    zmsg_t *msg = zmsg_new ();
    zframe_t *hf = rb_header_frame (&hh);
    zmsg_append (msg, &hf);
    zmsg_addmem (msg, body, sizeof body - 1);
    zmsg_send (&msg, raw);
    msg = zmsg_recv (raw);
    ck_assert_ptr_nonnull (msg);
    rb_header_t h;
    rb_body_t eb;
    rb_body_init (&eb, RB_T_NONE);
    rb_err_t err;
    ck_assert_int_eq (rb_msg_decode (msg, NULL, &h, &eb, &err), 0);
    ck_assert_int_eq (h.kind, RB_K_ERROR);
    ck_assert_int_eq (h.status, RB_S_BAD_ROLE);
    zmsg_destroy (&msg);
    zsock_destroy (&raw);
}
END_TEST

START_TEST (broker_lists_its_nodes)
{
    node_t w, c;
    bt_node (&w, RB_ROLE_DB, "db-1", "db");
    bt_node (&c, RB_ROLE_OPS, "ops-1", NULL);
    node_t *all[] = {&w, &c};
    ck_assert (bt_all_ready (all, 2, 3000));
    rb_body_t req, b;
    rb_body_init (&req, RB_T_NODES);
    rb_body_init (&b, RB_T_NONE);
    zmsg_t *reply;
    rb_header_t h;
    int rc = rb_bus_call (c.bus, RB_ADDR_SERVICE, "broker", &req, 2000, &reply,
                          &h, &b);
    ck_assert_int_eq (rc, 0);
    ck_assert_uint_eq (b.n_nodes, 2);
    bool saw_db = false;
    for (uint32_t i = 0; i < b.n_nodes; i++)
        if (rb_str_eq (b.nodes[i].name, "db-1")) {
            saw_db = true;
            ck_assert_int_eq (b.nodes[i].role, RB_ROLE_DB);
            ck_assert (rb_str_eq (b.nodes[i].services, "db"));
        }
    ck_assert (saw_db);
    zmsg_destroy (&reply);
    rb_body_release (&b);
    /* an unregistered sender is told so, and may then register */
    zsock_t *raw = zsock_new_dealer (bt_bus_ep);
    zsock_set_rcvtimeo (raw, 3000);
    rb_header_t beat = {.kind = RB_K_HEARTBEAT};
    rb_msg_send (zsock_resolve (raw), &beat, NULL);
    zmsg_t *msg = zmsg_recv (raw);
    ck_assert_ptr_nonnull (msg);
    rb_err_t err;
    rb_body_init (&b, RB_T_NONE);
    ck_assert_int_eq (rb_msg_decode (msg, NULL, &h, &b, &err), 0);
    ck_assert_int_eq (h.status, RB_S_UNKNOWN_NODE);
    zmsg_destroy (&msg);
    zsock_destroy (&raw);
    rb_bus_destroy (&w.bus);
    rb_bus_destroy (&c.bus);
}
END_TEST

int
main (void)
{
    Suite *s = suite_create ("broker");
    TCase *tc = tcase_create ("broker");
    tcase_set_timeout (tc, 60);
    tcase_add_checked_fixture (tc, bt_setup, bt_teardown);
    tcase_add_test (tc, broker_routes_to_a_service_and_to_a_node);
    tcase_add_test (tc, broker_stamps_the_registered_identity);
    tcase_add_test (tc, broker_shares_work_between_two_workers);
    tcase_add_test (tc,
                    broker_answers_worker_lost_when_a_worker_dies_mid_request);
    tcase_add_test (
        tc, broker_reroutes_a_closed_workers_requests_to_another_worker);
    tcase_add_test (tc, broker_drops_a_lost_workers_late_replies_as_strays);
    tcase_add_test (tc, broker_expires_queued_requests_and_bounds_the_queue);
    tcase_add_test (tc, broker_survives_a_storm_of_random_frames);
    tcase_add_test (tc, broker_restart_on_the_same_endpoint_is_survived);
    tcase_add_test (
        tc, broker_tap_sees_traffic_and_a_stalled_subscriber_costs_nothing);
    tcase_add_test (tc,
                    broker_tap_stalled_subscriber_costs_a_healthy_one_nothing);
    tcase_add_test (
        tc, broker_bounds_its_services_and_frees_those_left_without_workers);
    tcase_add_test (tc, broker_pushes_to_a_node_and_to_every_node_of_a_role);
    tcase_add_test (tc, broker_refuses_a_taken_name_and_an_unknown_role);
    tcase_add_test (tc, broker_lists_its_nodes);
    suite_add_tcase (s, tc);
    return rb_test_run (s);
}
