/*  test_pair: a broker pair (docs/ha.md). First the bus client alone:
    two real broker actors on loopback TCP with 100 ms heartbeats, nodes
    given both endpoints: they register with both; a request whose broker
    dies with it in flight is sent again through the other and answered
    exactly once; pushes go through both; a node keeps working with one
    broker, and registers again with the other when it comes back. Then
    the whole product: two recobus-broker processes, recobus-db and a
    latest-only and a stale-ok recobus-service, orders and terminal GETs
    flowing while one broker is killed with SIGKILL.  */
#include <check.h>
#include <czmq.h>

#include <signal.h>

#include "rb_broker.h"
#include "rb_btest.h"
#include "rb_bus.h"
#include "rb_msg.h"
#include "rb_pcluster.h"
#include "rb_testing.h"
#include "rb_tnode.h"

#define WAIT_MS 5000

static zactor_t *s_brokers[2];
static char s_eps[2][256];
static char s_pair[520]; /* "EP1,EP2" */

/*  Starts broker i (0 or 1) on bind, or a free loopback port. */
static void
s_start (int i, const char *bind)
{
    static rb_broker_opts_t o[2];
    static char any[2][64];
    snprintf (any[i], sizeof any[i], "tcp://127.0.0.1:%d", rb_free_port ());
    o[i] = bt_fast ();
    o[i].bind = bind ? bind : any[i];
    o[i].tap = "";
    s_brokers[i] = zactor_new (rb_broker_actor, &o[i]);
    zstr_send (s_brokers[i], "ENDPOINTS");
    char *bus, *tap;
    zsock_recv (s_brokers[i], "ss", &bus, &tap);
    ck_assert_msg (*bus, "broker %d did not bind %s", i, o[i].bind);
    snprintf (s_eps[i], sizeof s_eps[i], "%s", bus);
    zstr_free (&bus);
    zstr_free (&tap);
}

static void
s_setup (void)
{
    s_start (0, NULL);
    s_start (1, NULL);
    snprintf (s_pair, sizeof s_pair, "%s,%s", s_eps[0], s_eps[1]);
}

static void
s_teardown (void)
{
    zactor_destroy (&s_brokers[0]);
    zactor_destroy (&s_brokers[1]);
}

/*  A node on both brokers, worker of service if any. */
static void
s_node (node_t *n, int role, const char *name, const char *service)
{
    bt_node_at (n, s_pair, role, name, service);
}

/*  Polls the nodes until each has registered `regs` times. */
static bool
s_registered (node_t **nodes, int count, uint32_t regs)
{
    int64_t deadline = zclock_mono () + WAIT_MS;
    while (zclock_mono () < deadline) {
        int done = 0;
        for (int i = 0; i < count; i++) {
            rb_bus_poll (nodes[i]->bus, 1);
            done += rb_bus_registrations (nodes[i]->bus) >= regs;
        }
        if (done == count)
            return true;
    }
    return false;
}

START_TEST (pair_node_registers_with_both_brokers)
{
    node_t worker, client;
    s_node (&worker, RB_ROLE_DB, "db-1", "echo");
    s_node (&client, RB_ROLE_SERVICE, "svc-1", NULL);
    node_t *all[] = {&worker, &client};
    ck_assert_int_eq (rb_bus_brokers (client.bus), 2);
    /* a WELCOME from each broker */
    ck_assert (s_registered (all, 2, 2));
    /* each broker routes on its own: both know the worker */
    ck_assert_uint_eq (bt_counter (&client, "nodes"), 2);
    answers_t a = {0};
    bt_ask (&client, RB_ADDR_SERVICE, "echo", 20, 2000, &a);
    bt_pump (all, 2, &a.done, WAIT_MS);
    ck_assert_int_eq (a.replies, 20);
    rb_bus_destroy (&worker.bus);
    rb_bus_destroy (&client.bus);
}
END_TEST

START_TEST (pair_request_in_flight_when_its_broker_dies_is_answered_once)
{
    node_t worker, client;
    s_node (&worker, RB_ROLE_DB, "db-1", "echo");
    s_node (&client, RB_ROLE_SERVICE, "svc-1", NULL);
    node_t *all[] = {&worker, &client};
    ck_assert (s_registered (all, 2, 2));
    /* the worker holds what it gets: 10 requests in flight, through the
       client's first broker */
    worker.hold = true;
    answers_t a = {0};
    bt_ask (&client, RB_ADDR_SERVICE, "echo", 10, 4000, &a);
    int64_t deadline = zclock_mono () + WAIT_MS;
    while (worker.served < 10 && zclock_mono () < deadline)
        bt_pump (all, 2, NULL, 5);
    ck_assert_int_eq (worker.served, 10);
    ck_assert_int_eq (worker.last_req.via, 0);
    /* that broker dies with them: the client hears it is silent
       (heartbeat x liveness, 300 ms) and sends them again through the
       other, where the worker now answers */
    zactor_destroy (&s_brokers[0]);
    worker.hold = false;
    bt_pump (all, 2, &a.done, WAIT_MS);
    ck_assert_int_eq (a.replies, 10);
    ck_assert_int_eq (a.errors, 0);
    ck_assert_uint_eq (rb_bus_resent (client.bus), 10);
    ck_assert_int_eq (worker.last_req.via, 1);
    /* and no answer twice: nothing more comes */
    bt_pump (all, 2, NULL, 300);
    ck_assert_int_eq (a.replies, 10);
    rb_bus_destroy (&worker.bus);
    rb_bus_destroy (&client.bus);
}
END_TEST

START_TEST (pair_request_a_broker_cannot_route_goes_through_the_other)
{
    /* the worker is registered with the second broker only (it has not
       come back to the first yet, say): the client's request goes to
       the first, which knows no worker, so it goes through the second */
    node_t worker, client;
    bt_node_at (&worker, s_eps[1], RB_ROLE_DB, "db-1", "echo");
    s_node (&client, RB_ROLE_SERVICE, "svc-1", NULL);
    node_t *all[] = {&worker, &client};
    ck_assert (s_registered (all, 2, 1));
    ck_assert (s_registered (&all[1], 1, 2));
    answers_t a = {0};
    bt_ask (&client, RB_ADDR_SERVICE, "echo", 5, 2000, &a);
    bt_pump (all, 2, &a.done, WAIT_MS);
    ck_assert_int_eq (a.replies, 5);
    ck_assert_int_eq (a.errors, 0);
    ck_assert_uint_eq (rb_bus_resent (client.bus), 5);
    /* a service neither broker has: the error, once both said so */
    answers_t none = {0};
    bt_ask (&client, RB_ADDR_SERVICE, "nobody", 1, 2000, &none);
    bt_pump (all, 2, &none.done, WAIT_MS);
    ck_assert_int_eq (none.errors, 1);
    ck_assert_int_eq (none.last_status, RB_S_UNKNOWN_SERVICE);
    rb_bus_destroy (&worker.bus);
    rb_bus_destroy (&client.bus);
}
END_TEST

START_TEST (pair_push_goes_through_both_and_survives_one_broker)
{
    node_t db, svc;
    s_node (&db, RB_ROLE_DB, "db-1", "db");
    s_node (&svc, RB_ROLE_SERVICE, "svc-1", NULL);
    node_t *all[] = {&db, &svc};
    ck_assert (s_registered (all, 2, 2));
    rb_body_t reset;
    rb_body_init (&reset, RB_T_RESET);
    reset.epoch = 7;
    ck_assert_int_eq (rb_bus_push (db.bus, RB_ADDR_ROLE, "service", &reset), 0);
    int64_t deadline = zclock_mono () + WAIT_MS;
    while (svc.pushes < 2 && zclock_mono () < deadline)
        bt_pump (all, 2, NULL, 5);
    ck_assert_int_eq (svc.pushes, 2); /* one copy through each broker */
    /* broker 1 dies; once both nodes heard it, a push still arrives */
    zactor_destroy (&s_brokers[1]);
    bt_pump (all, 2, NULL, 500); /* > heartbeat x liveness (300 ms) */
    ck_assert (rb_bus_registered (db.bus) && rb_bus_registered (svc.bus));
    svc.pushes = 0;
    ck_assert_int_eq (rb_bus_push (db.bus, RB_ADDR_ROLE, "service", &reset), 0);
    deadline = zclock_mono () + WAIT_MS;
    while (svc.pushes < 1 && zclock_mono () < deadline)
        bt_pump (all, 2, NULL, 5);
    ck_assert_int_ge (svc.pushes, 1); /* 2 if another test's broker took
                                          the dead one's port meanwhile */
    /* it comes back on the same port: both register with it again */
    uint32_t regs = rb_bus_registrations (svc.bus);
    s_start (1, s_eps[1]);
    ck_assert (s_registered (all, 2, regs + 1));
    ck_assert_uint_eq (bt_counter (&svc, "nodes"), 2);
    rb_bus_destroy (&db.bus);
    rb_bus_destroy (&svc.bus);
}
END_TEST

START_TEST (pair_endpoints_badly_given_are_refused)
{
    const char *bad[] = {"tcp://127.0.0.1:1,", ",tcp://127.0.0.1:1",
                         "tcp://127.0.0.1:1,,tcp://127.0.0.1:2",
                         "tcp://127.0.0.1:1,tcp://127.0.0.1:2,tcp://"
                         "127.0.0.1:3"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        rb_bus_opts_t o = {
            .endpoint = bad[i], .role = RB_ROLE_OPS, .name = "x"};
        rb_bus_t *bus = rb_bus_new (&o);
        ck_assert_msg (rb_bus_problem (bus), "accepted \"%s\"", bad[i]);
        ck_assert_ptr_nonnull (strstr (rb_bus_problem (bus), "two"));
        ck_assert (!rb_bus_registered (bus));
        rb_bus_destroy (&bus);
    }
}
END_TEST

/*  --- the product with a broker pair ------------------------------------ */

#define HB_MS  200 /* the brokers' --heartbeat (liveness 3) */
#define KEYS   16
#define GET_MS 4000
#define RUN_MS 2500 /* orders and GETs after the kill, at least */

typedef struct {
    rb_pcluster_t *pc;
    rb_tnode_t ops;
    rb_term_t latest, stale;
    uint64_t seq;         /* the last order's */
    uint64_t acked[KEYS]; /* each key's last acknowledged seq */
    uint64_t prev[KEYS];  /* and the one before it */
    /* latest-only answers older than prev: a record the cache kept past
       an UPDATE it should have had for a whole round of KEYS orders */
    int stale_answers;
    /* answers at prev, the order acknowledged just before the GET not
       yet in: its UPDATE and the ACK leave the DB node in order but on
       two connections, so the GET can overtake the UPDATE (the window
       docs/faults.md leaves open, with one broker as with two) */
    int late_answers;
    int not_ok;      /* answers other than ok, after the kill */
    int64_t killed;  /* when */
    int64_t back[2]; /* each service's first ok after it, or 0 */
} world_t;

/*  One order, then a GET of its key from each service. */
static void
s_step (world_t *w)
{
    int k = (int) (w->seq % KEYS);
    char key[16], value[32];
    snprintf (key, sizeof key, "k%d", k);
    snprintf (value, sizeof value, "v%" PRIu64, w->seq + 1);
    if (rb_tnode_order (&w->ops, w->seq + 1, key, value) == 0) {
        w->prev[k] = w->acked[k];
        w->acked[k] = w->seq + 1;
    }
    w->seq++;
    rb_term_t *terms[] = {&w->latest, &w->stale};
    for (int i = 0; i < 2; i++) {
        int64_t asked = zclock_mono ();
        uint64_t seq = 0;
        int status = rb_term_get (terms[i], key, GET_MS, &seq);
        if (i == 0 && status == RB_ANS_OK && seq < w->prev[k])
            w->stale_answers++;
        else if (i == 0 && status == RB_ANS_OK && seq < w->acked[k])
            w->late_answers++;
        if (w->killed && status != RB_ANS_OK)
            w->not_ok++;
        if (w->killed && status == RB_ANS_OK && !w->back[i] &&
            asked >= w->killed)
            w->back[i] = zclock_mono ();
    }
}

START_TEST (pair_broker_killed_under_load_loses_nothing)
{
    rb_pcluster_opts_t o = {
        .bin_dir = RECOBUS_BINARY_DIR,
        .pair = true,
        .heartbeat_ms = HB_MS,
        .services = {{"svc-latest", "latest-only"}, {"svc-stale", "stale-ok"}}};
    world_t w;
    memset (&w, 0, sizeof w);
    w.pc = rb_pcluster_new (&o);
    ck_assert_ptr_nonnull (w.pc);
    rb_tnode_start (&w.ops, w.pc->c, RB_ROLE_OPS, "ops-1");
    rb_tnode_wait_db (&w.ops);
    rb_term_open (&w.latest, w.pc->svc_ep[0]);
    rb_term_open (&w.stale, w.pc->svc_ep[1]);
    for (int i = 0; i < 4 * KEYS; i++)
        s_step (&w);
    ck_assert_int_eq (w.stale_answers, 0);
    /* the first broker (which carries every request) dies */
    ck_assert_int_eq (rb_proc_kill (w.pc->broker, SIGKILL), 0);
    ck_assert_int_ne (rb_proc_wait (w.pc->broker, 2000), -1);
    rb_proc_destroy (&w.pc->broker);
    w.killed = zclock_mono ();
    while (zclock_mono () - w.killed < RUN_MS ||
           (!(w.back[0] && w.back[1]) && zclock_mono () - w.killed < 10000))
        s_step (&w);
    /* every order acknowledged is there: a latest-only GET of each key
       reads its last acknowledged seq (or a later one), at once or once
       the last UPDATE is in (the window above) */
    int lost = 0;
    for (int k = 0; k < KEYS; k++) {
        char key[16];
        snprintf (key, sizeof key, "k%d", k);
        uint64_t seq = 0;
        int64_t deadline = zclock_mono () + 2000;
        while ((rb_term_get (&w.latest, key, GET_MS, &seq) != RB_ANS_OK ||
                seq < w.acked[k]) &&
               zclock_mono () < deadline)
            zclock_sleep (5); /* a poll with a deadline */
        lost += seq < w.acked[k];
    }
    int64_t limit = 3 * HB_MS + 1000; /* heartbeat x liveness + 1 s */
    fprintf (stderr,
             "pair: %" PRIu64 " orders; after the kill: latest-only ok again "
             "in %d ms, stale-ok in %d ms (limit %d), %d answers not ok, "
             "%d stale, %d late (the ACK/UPDATE window), %d lost\n",
             w.seq, (int) (w.back[0] - w.killed), (int) (w.back[1] - w.killed),
             (int) limit, w.not_ok, w.stale_answers, w.late_answers, lost);
    ck_assert_int_eq (lost, 0);
    ck_assert_int_eq (w.stale_answers, 0);
    ck_assert (w.back[0] && w.back[0] - w.killed <= limit);
    ck_assert (w.back[1] && w.back[1] - w.killed <= limit);
    rb_term_close (&w.latest);
    rb_term_close (&w.stale);
    rb_tnode_stop (&w.ops);
    ck_assert_int_eq (rb_pcluster_stop (&w.pc), 0);
}
END_TEST

int
main (void)
{
    Suite *s = suite_create ("pair");
    TCase *tc = tcase_create ("pair");
    tcase_set_timeout (tc, 60);
    tcase_add_checked_fixture (tc, s_setup, s_teardown);
    tcase_add_test (tc, pair_node_registers_with_both_brokers);
    tcase_add_test (
        tc, pair_request_in_flight_when_its_broker_dies_is_answered_once);
    tcase_add_test (tc,
                    pair_request_a_broker_cannot_route_goes_through_the_other);
    tcase_add_test (tc, pair_push_goes_through_both_and_survives_one_broker);
    tcase_add_test (tc, pair_endpoints_badly_given_are_refused);
    suite_add_tcase (s, tc);
    TCase *product = tcase_create ("product");
    tcase_set_timeout (product, 90);
    tcase_add_test (product, pair_broker_killed_under_load_loses_nothing);
    suite_add_tcase (s, product);
    return rb_test_run (s);
}
