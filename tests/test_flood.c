/*  test_flood: the harness's flood generators (rb_flood) do what they say,
    against bare sockets and an in-process broker actor: idle connections
    stay open and see the other side close; GETs go to distinct keys with
    their answers counted by status; HELLOs are answered and counted by
    status; a deaf node registers, keeps itself alive by heartbeats while
    requests pile up for it; tap subscribers hold what they did not read.
    What the daemons do under the floods is test_overload's.  */
#include <check.h>

#include "rb_testing.h"
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "rb_broker.h"
#include "rb_bus.h"
#include "rb_cluster.h"
#include "rb_flood.h"
#include "rb_msg.h"

#define WAIT_MS 5000

/*  Waits until cond holds or ms pass, looking every 2 ms. */
#define WAIT_UNTIL(cond, ms)                                                   \
    do {                                                                       \
        int64_t until_ = zclock_mono () + (ms);                                \
        while (!(cond) && zclock_mono () < until_)                             \
            zclock_sleep (2);                                                  \
    } while (0)

START_TEST (idle_connections_stay_open_and_see_the_other_side_close)
{
    int lfd = socket (AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in addr = {.sin_family = AF_INET,
                               .sin_addr.s_addr = htonl (INADDR_LOOPBACK)};
    socklen_t len = sizeof addr;
    ck_assert_int_eq (bind (lfd, (struct sockaddr *) &addr, sizeof addr), 0);
    ck_assert_int_eq (listen (lfd, 64), 0);
    ck_assert_int_eq (getsockname (lfd, (struct sockaddr *) &addr, &len), 0);
    char ep[64];
    snprintf (ep, sizeof ep, "tcp://127.0.0.1:%d", ntohs (addr.sin_port));
    rb_flood_opts_t o = rb_flood_defaults (RB_FLOOD_IDLE, ep);
    o.count = 20;
    rb_flood_t *f = rb_flood_start (&o);
    ck_assert_ptr_nonnull (f);
    ck_assert_int_eq (rb_flood_wait (f, WAIT_MS), 0);
    ck_assert_uint_eq (rb_flood_stats (f).sent, 20);
    int fds[20];
    for (int i = 0; i < 20; i++) {
        struct pollfd p = {lfd, POLLIN, 0};
        ck_assert_int_eq (poll (&p, 1, WAIT_MS), 1);
        fds[i] = accept (lfd, NULL, NULL);
        ck_assert_int_ge (fds[i], 0);
    }
    /* nothing comes from them; a greeting to one is read, 5 are closed */
    ck_assert_int_eq (write (fds[0], "abc", 3), 3);
    for (int i = 15; i < 20; i++)
        close (fds[i]);
    WAIT_UNTIL (rb_flood_stats (f).closed == 5 &&
                    rb_flood_stats (f).received == 3,
                WAIT_MS);
    ck_assert_uint_eq (rb_flood_stats (f).closed, 5);
    ck_assert_uint_eq (rb_flood_stats (f).received, 3);
    char byte;
    ck_assert_int_eq (recv (fds[1], &byte, 1, MSG_DONTWAIT), -1);
    rb_flood_stats_t s;
    rb_flood_stop (&f, &s);
    ck_assert_ptr_null (f);
    ck_assert (!s.timed_out);
    for (int i = 0; i < 15; i++) /* the flood's ends closed: EOF */
        ck_assert_int_eq (recv (fds[i], &byte, 1, 0), 0);
    for (int i = 0; i < 15; i++)
        close (fds[i]);
    close (lfd);
    /* not tcp://IPV4:PORT: refused at start */
    o.endpoint = "ipc:///tmp/nowhere";
    ck_assert_ptr_null (rb_flood_start (&o));
}
END_TEST

START_TEST (gets_ask_distinct_keys_and_count_answers_by_status)
{
    zsock_t *service = zsock_new (ZMQ_ROUTER);
    int port = zsock_bind (service, "tcp://127.0.0.1:*");
    ck_assert_int_gt (port, 0);
    char ep[64];
    snprintf (ep, sizeof ep, "tcp://127.0.0.1:%d", port);
    rb_flood_opts_t o = rb_flood_defaults (RB_FLOOD_GETS, ep);
    o.count = 1000;
    o.prefix = "g-";
    o.first = 5000;
    o.in_flight = 64;
    rb_flood_t *f = rb_flood_start (&o);
    ck_assert_ptr_nonnull (f);
    /* the service: even keys ok, odd ones unavailable */
    zhashx_t *seen = zhashx_new ();
    rb_body_t b;
    rb_body_init (&b, RB_T_NONE);
    zsock_set_rcvtimeo (service, WAIT_MS);
    for (int i = 0; i < 1000; i++) {
        zmsg_t *msg = zmsg_recv (service);
        ck_assert_ptr_nonnull (msg);
        zframe_t *id = zmsg_pop (msg);
        rb_header_t h;
        ck_assert_int_eq (rb_msg_decode (msg, NULL, &h, &b, NULL), RB_OK);
        char key[RB_KEY_MAX + 1];
        snprintf (key, sizeof key, "%.*s", (int) b.key.len, b.key.ptr);
        ck_assert_int_eq (zhashx_insert (seen, key, (void *) 1), 0);
        int n = atoi (key + 2);
        ck_assert (strncmp (key, "g-", 2) == 0 && n >= 5000 && n < 6000);
        rb_body_t a;
        rb_body_init (&a, RB_T_ANSWER);
        a.key = rb_str (key);
        a.answer = n % 2 ? RB_ANS_UNAVAILABLE : RB_ANS_OK;
        rb_header_t r = {
            .kind = RB_K_REPLY, .type = RB_T_ANSWER, .corr = h.corr};
        zframe_send (&id, service, ZFRAME_MORE);
        rb_msg_send (zsock_resolve (service), &r, &a);
        zmsg_destroy (&msg);
    }
    ck_assert_int_eq (rb_flood_wait (f, WAIT_MS), 0);
    rb_flood_stats_t s;
    rb_flood_stop (&f, &s);
    ck_assert_uint_eq (s.sent, 1000);
    ck_assert_uint_eq (s.answered, 1000);
    ck_assert_uint_eq (s.answers[RB_ANS_OK], 500);
    ck_assert_uint_eq (s.answers[RB_ANS_UNAVAILABLE], 500);
    ck_assert_uint_eq (zhashx_size (seen), 1000);
    rb_body_release (&b);
    zhashx_destroy (&seen);
    zsock_destroy (&service);
}
END_TEST

/*  --------------------------------------------------------------------
    On an in-process broker */

static zactor_t *s_broker;
static char s_bus[256], s_tap[256];

static void
s_broker_start (void)
{
    static rb_broker_opts_t o;
    rb_broker_opts_default (&o);
    o.bind = "tcp://127.0.0.1:*";
    o.tap = "tcp://127.0.0.1:*";
    o.heartbeat_ms = 100;
    o.services_max = 16;
    o.service_linger_ms = 100;
    s_broker = zactor_new (rb_broker_actor, &o);
    zstr_send (s_broker, "ENDPOINTS");
    char *bus = NULL, *tap = NULL;
    zsock_recv (s_broker, "ss", &bus, &tap);
    snprintf (s_bus, sizeof s_bus, "%s", bus ? bus : "");
    snprintf (s_tap, sizeof s_tap, "%s", tap ? tap : "");
    zstr_free (&bus);
    zstr_free (&tap);
    ck_assert_msg (*s_bus && *s_tap, "the broker did not bind");
}

static void
s_broker_stop (void)
{
    zactor_destroy (&s_broker);
}

/*  A numeric STATUS item of the broker, asked by bus. */
static uint64_t
s_broker_num (rb_bus_t *bus, const char *name)
{
    uint64_t value;
    ck_assert_int_eq (rb_status_num (bus, RB_ADDR_SERVICE, "broker", name,
                                     WAIT_MS, 0, &value),
                      0);
    return value;
}

static rb_bus_t *
s_client (void)
{
    rb_bus_opts_t o = {.endpoint = s_bus, .role = RB_ROLE_OPS, .name = "c"};
    rb_bus_t *bus = rb_bus_new (&o);
    ck_assert_int_eq (rb_bus_wait_ready (bus, WAIT_MS), 0);
    return bus;
}

START_TEST (hellos_are_answered_and_counted_by_status)
{
    rb_flood_opts_t o = rb_flood_defaults (RB_FLOOD_HELLO, s_bus);
    o.count = 300;
    o.sockets = 4;
    o.in_flight = 50;
    rb_flood_t *f = rb_flood_start (&o);
    ck_assert_ptr_nonnull (f);
    ck_assert_int_eq (rb_flood_wait (f, WAIT_MS), 0);
    rb_flood_stats_t s;
    rb_flood_stop (&f, &s);
    ck_assert_uint_eq (s.sent, 300);
    ck_assert_uint_eq (s.answered, 300);
    /* 16 services hold two nodes' 8; the rest are refused */
    ck_assert_uint_ge (s.welcomed, 2);
    ck_assert_uint_eq (s.welcomed + s.errors[RB_S_OVERLOADED - RB_S_MALFORMED],
                       300);
    rb_bus_t *c = s_client ();
    ck_assert_uint_le (s_broker_num (c, "services"), 16);
    rb_bus_destroy (&c);
}
END_TEST

START_TEST (a_deaf_node_stays_registered_while_requests_pile_up_for_it)
{
    rb_flood_opts_t d = rb_flood_defaults (RB_FLOOD_DEAF_NODE, s_bus);
    d.prefix = "deaf";
    d.rcvbuf = 4096;
    rb_flood_t *deaf = rb_flood_start (&d);
    ck_assert_ptr_nonnull (deaf);
    ck_assert_int_eq (rb_flood_wait (deaf, WAIT_MS), 0);
    ck_assert_uint_eq (rb_flood_stats (deaf).welcomed, 1);
    rb_flood_opts_t r = rb_flood_defaults (RB_FLOOD_REQUESTS, s_bus);
    r.prefix = "asker";
    r.count = 2000;
    r.value_len = 4096;
    r.timeout_ms = 60000;
    rb_flood_t *asker = rb_flood_start (&r);
    ck_assert_ptr_nonnull (asker);
    WAIT_UNTIL (rb_flood_stats (asker).sent == 2000, WAIT_MS);
    ck_assert_uint_eq (rb_flood_stats (asker).sent, 2000);
    rb_bus_t *c = s_client ();
    /* ten heartbeat intervals later it is still registered: it beats */
    int64_t until = zclock_mono () + 1000;
    while (zclock_mono () < until)
        rb_bus_poll (c, 10);
    ck_assert_uint_ge (rb_flood_stats (deaf).sent, 5);
    ck_assert_uint_eq (s_broker_num (c, "nodes"), 3); /* deaf, asker, c */
    ck_assert_uint_eq (s_broker_num (c, "expired"), 0);
    ck_assert_uint_gt (
        s_broker_num (c, "inflight") + s_broker_num (c, "queued"), 0);
    ck_assert_uint_eq (rb_flood_stats (asker).answered, 1); /* WELCOME */
    rb_bus_destroy (&c);
    rb_flood_stop (&asker, NULL);
    rb_flood_stop (&deaf, NULL);
}
END_TEST

START_TEST (tap_subscribers_hold_what_they_did_not_read)
{
    rb_bus_t *c = s_client ();
    rb_flood_opts_t o = rb_flood_defaults (RB_FLOOD_TAP, s_tap);
    o.count = 2;
    rb_flood_t *f = rb_flood_start (&o);
    ck_assert_ptr_nonnull (f);
    ck_assert_int_eq (rb_flood_wait (f, WAIT_MS), 0);
    int64_t until = zclock_mono () + WAIT_MS;
    while (s_broker_num (c, "tap_subscribers") < 2 && zclock_mono () < until)
        rb_bus_poll (c, 5);
    for (int i = 0; i < 50; i++) /* the broker taps its answer */
        s_broker_num (c, "nodes");
    rb_flood_stats_t s;
    rb_flood_stop (&f, &s);
    ck_assert_uint_eq (s.sent, 2);
    /* 50 small messages fit in each one's kernel buffers: both held
       them all, and gave them up when drained at the stop */
    ck_assert_uint_ge (s.received, 100);
    rb_bus_destroy (&c);
}
END_TEST

int
main (void)
{
    Suite *suite = suite_create ("flood");
    TCase *bare = tcase_create ("bare");
    tcase_set_timeout (bare, 30);
    tcase_add_test (bare,
                    idle_connections_stay_open_and_see_the_other_side_close);
    tcase_add_test (bare, gets_ask_distinct_keys_and_count_answers_by_status);
    suite_add_tcase (suite, bare);
    TCase *broker = tcase_create ("broker");
    tcase_set_timeout (broker, 30);
    tcase_add_checked_fixture (broker, s_broker_start, s_broker_stop);
    tcase_add_test (broker, hellos_are_answered_and_counted_by_status);
    tcase_add_test (broker,
                    a_deaf_node_stays_registered_while_requests_pile_up_for_it);
    tcase_add_test (broker, tap_subscribers_hold_what_they_did_not_read);
    suite_add_tcase (suite, broker);
    return rb_test_run (suite);
}
