/*  test_curve: the bus and the tap under CurveZMQ (issue 13). A real
    broker actor with a certificate and a directory of authorized keys,
    real bus clients on tcp loopback: a key the broker does not know gets
    no handshake; a HELLO must say the role and the name its key carries;
    a role offers only the services the table allows and sends only what
    the table allows (refusals answered forbidden and counted, nothing
    routed); a service node drops pushes not from a DB node; the tap feeds
    monitor keys only; the programs refuse plain mode beyond the host.  */
#include <check.h>

#include "rb_testing.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rb_broker.h"
#include "rb_bus.h"
#include "rb_cluster.h"
#include "rb_curve.h"
#include "rb_proc.h"

#define WAIT_MS 3000

static char *s_dir;
static char s_keys[600], s_allowed[600];
static zactor_t *s_broker;
static char s_bus[256], s_tap[256];

/*  Writes a key pair NAME.cert(_secret) with role and name into keys/,
    and its public half into allowed/ when the broker is to know it.  */
static void
s_key (const char *role, const char *name, bool allowed)
{
    zcert_t *cert = zcert_new ();
    zcert_set_meta (cert, "role", "%s", role);
    zcert_set_meta (cert, "name", "%s", name);
    char path[700];
    snprintf (path, sizeof path, "%s/%s.cert", s_keys, name);
    ck_assert_int_eq (zcert_save (cert, path), 0);
    snprintf (path, sizeof path, "%s/%s.cert", s_allowed, name);
    if (allowed)
        ck_assert_int_eq (zcert_save_public (cert, path), 0);
    zcert_destroy (&cert);
}

static const char *
s_secret (const char *name)
{
    static char path[4][700];
    static int next;
    char *p = path[next++ % 4];
    snprintf (p, 700, "%s/%s.cert_secret", s_keys, name);
    return p;
}

static void
s_setup (void)
{
    s_dir = rb_temp_dir ("rb-curve");
    ck_assert_ptr_nonnull (s_dir);
    snprintf (s_keys, sizeof s_keys, "%s/keys", s_dir);
    snprintf (s_allowed, sizeof s_allowed, "%s/allowed", s_dir);
    ck_assert_int_eq (zsys_dir_create ("%s", s_keys), 0);
    ck_assert_int_eq (zsys_dir_create ("%s", s_allowed), 0);
    s_key ("broker", "broker", false);
    s_key ("db", "db-1", true);
    s_key ("service", "svc-1", true);
    s_key ("service", "svc-2", true);
    s_key ("ops", "ops", true);
    s_key ("monitor", "mon", true);
    s_key ("db", "stranger", false); /* a key nobody put in allowed/ */
    static rb_broker_opts_t o;
    rb_broker_opts_default (&o);
    o.bind = "tcp://127.0.0.1:*";
    o.tap = "tcp://127.0.0.1:*";
    o.heartbeat_ms = 200;
    o.curve_cert = s_secret ("broker");
    o.authorized_keys = s_allowed;
    s_broker = zactor_new (rb_broker_actor, &o);
    zstr_send (s_broker, "ENDPOINTS");
    char *bus, *tap;
    zsock_recv (s_broker, "ss", &bus, &tap);
    snprintf (s_bus, sizeof s_bus, "%s", bus);
    snprintf (s_tap, sizeof s_tap, "%s", tap);
    zstr_free (&bus);
    zstr_free (&tap);
    ck_assert_msg (*s_bus, "the broker did not start under CURVE");
}

static void
s_teardown (void)
{
    zactor_destroy (&s_broker);
    rb_remove_tree (s_dir);
    free (s_dir);
}

/*  A bus client with the key NAME (or none: key NULL). */
static rb_bus_t *
s_node (int role, const char *name, const char *key, const char *service)
{
    char broker[700];
    snprintf (broker, sizeof broker, "%s/broker.cert", s_keys);
    rb_bus_opts_t o = {.endpoint = s_bus,
                       .role = role,
                       .name = name,
                       .curve_cert = key ? s_secret (key) : NULL,
                       .broker_cert = key ? broker : NULL};
    if (service) {
        o.services[0] = service;
        o.n_services = 1;
    }
    return rb_bus_new (&o);
}

/*  Waits until bus is registered or has a problem; true if registered. */
static bool
s_ready (rb_bus_t *bus, int ms)
{
    int64_t until = zclock_mono () + ms;
    while (zclock_mono () < until && !rb_bus_registered (bus) &&
           !rb_bus_problem (bus))
        rb_bus_poll (bus, 10);
    return rb_bus_registered (bus);
}

/*  The broker's STATUS item name, via bus. */
static uint64_t
s_broker_item (rb_bus_t *bus, const char *name)
{
    uint64_t value;
    ck_assert_int_eq (rb_status_num (bus, RB_ADDR_SERVICE, "broker", name,
                                     WAIT_MS, UINT64_MAX, &value),
                      0);
    return value;
}

START_TEST (authorized_keys_register_with_the_role_and_name_they_carry)
{
    rb_bus_t *db = s_node (RB_ROLE_DB, "db-1", "db-1", "db");
    rb_bus_t *ops = s_node (RB_ROLE_OPS, "ops-4242", "ops", NULL);
    ck_assert (s_ready (db, WAIT_MS));
    ck_assert (s_ready (ops, WAIT_MS)); /* an ops key: NAME-SUFFIX too */
    rb_bus_destroy (&ops);
    rb_bus_destroy (&db);
}
END_TEST

START_TEST (a_key_the_broker_does_not_know_gets_no_handshake)
{
    rb_bus_t *stranger = s_node (RB_ROLE_DB, "stranger", "stranger", "db");
    rb_bus_t *plain = s_node (RB_ROLE_DB, "db-1", NULL, "db");
    ck_assert (!s_ready (stranger, 1000));
    ck_assert (!s_ready (plain, 200));
    ck_assert_ptr_null (rb_bus_problem (stranger)); /* never heard back */
    rb_bus_destroy (&plain);
    rb_bus_destroy (&stranger);
    /* and the name stayed free for its key */
    rb_bus_t *db = s_node (RB_ROLE_DB, "db-1", "db-1", "db");
    ck_assert (s_ready (db, WAIT_MS));
    rb_bus_destroy (&db);
}
END_TEST

START_TEST (a_hello_must_say_what_its_key_says)
{
    /* a service key claiming role db, and offering db */
    rb_bus_t *liar = s_node (RB_ROLE_DB, "svc-1", "svc-1", "db");
    ck_assert (!s_ready (liar, WAIT_MS));
    ck_assert_ptr_nonnull (rb_bus_problem (liar));
    ck_assert_ptr_nonnull (strstr (rb_bus_problem (liar), "forbidden"));
    ck_assert_ptr_nonnull (strstr (rb_bus_problem (liar), "the key says"));
    rb_bus_destroy (&liar);
    /* a service key, honest about its role, offering db */
    rb_bus_t *offer = s_node (RB_ROLE_SERVICE, "svc-1", "svc-1", "db");
    ck_assert (!s_ready (offer, WAIT_MS));
    ck_assert_ptr_nonnull (strstr (rb_bus_problem (offer), "may not offer"));
    rb_bus_destroy (&offer);
    /* a name bound to another key: svc-2's key registering as db-1 */
    rb_bus_t *squat = s_node (RB_ROLE_SERVICE, "db-1", "svc-2", NULL);
    ck_assert (!s_ready (squat, WAIT_MS));
    ck_assert_ptr_nonnull (strstr (rb_bus_problem (squat), "name db-1"));
    rb_bus_destroy (&squat);
    /* a monitor key may read the tap, not join the bus */
    rb_bus_t *mon = s_node (RB_ROLE_MONITOR, "mon", "mon", NULL);
    ck_assert (!s_ready (mon, WAIT_MS));
    rb_bus_destroy (&mon);
    /* db-1's own key still gets its name */
    rb_bus_t *db = s_node (RB_ROLE_DB, "db-1", "db-1", "db");
    ck_assert (s_ready (db, WAIT_MS));
    rb_bus_destroy (&db);
}
END_TEST

/*  Counts requests a fake DB worker was handed. */
static void
s_count (rb_bus_t *bus, const rb_header_t *h, const rb_body_t *b,
         zmsg_t **msg_p, void *arg)
{
    (*(int *) arg)++;
}

START_TEST (each_role_sends_only_what_the_table_allows)
{
    rb_bus_t *db = s_node (RB_ROLE_DB, "db-1", "db-1", "db");
    int handed = 0;
    rb_bus_on_request (db, s_count, &handed);
    rb_bus_t *svc = s_node (RB_ROLE_SERVICE, "svc-1", "svc-1", NULL);
    rb_bus_t *other = s_node (RB_ROLE_SERVICE, "svc-2", "svc-2", NULL);
    int pushed = 0;
    rb_bus_on_push (other, s_count, &pushed);
    ck_assert (s_ready (db, WAIT_MS) && s_ready (svc, WAIT_MS) &&
               s_ready (other, WAIT_MS));
    /* a service node sends an order: refused by the broker */
    rb_body_t order, b;
    rb_body_init (&order, RB_T_ORDER);
    rb_body_init (&b, RB_T_NONE);
    order.seq = 1;
    order.key = rb_str ("k");
    order.op = RB_OP_PUT;
    order.has_value = true;
    order.value = rb_str ("forged");
    zmsg_t *reply = NULL;
    rb_header_t h;
    int64_t until = zclock_mono () + WAIT_MS;
    int code = rb_bus_call (svc, RB_ADDR_SERVICE, "db", &order, WAIT_MS, &reply,
                            &h, &b);
    ck_assert_int_eq (code, RB_S_FORBIDDEN);
    rb_body_release (&b);
    zmsg_destroy (&reply);
    /* and a forged UPDATE push to every service node: dropped */
    rb_body_t update;
    rb_body_init (&update, RB_T_UPDATE);
    update.key = rb_str ("k");
    update.has_value = true;
    update.value = rb_str ("forged");
    update.seq = 99;
    ck_assert_int_eq (rb_bus_push (svc, RB_ADDR_ROLE, "service", &update), 0);
    /* the broker counted both; nothing reached db-1 or svc-2 */
    while (zclock_mono () < until && s_broker_item (other, "refused") < 2) {
        rb_bus_poll (db, 5);
        rb_bus_poll (other, 5);
    }
    ck_assert_uint_eq (s_broker_item (other, "refused"), 2);
    for (int i = 0; i < 20; i++) { /* anything in flight would be here */
        rb_bus_poll (db, 5);
        rb_bus_poll (other, 5);
    }
    ck_assert_int_eq (handed, 0);
    ck_assert_int_eq (pushed, 0);
    /* what a DB node may send, it sends: its RESET reaches svc-2 */
    rb_body_t reset;
    rb_body_init (&reset, RB_T_RESET);
    reset.epoch = 1;
    ck_assert_int_eq (rb_bus_push (db, RB_ADDR_ROLE, "service", &reset), 0);
    until = zclock_mono () + WAIT_MS;
    while (zclock_mono () < until && pushed == 0)
        rb_bus_poll (other, 10);
    ck_assert_int_eq (pushed, 1);
    rb_bus_destroy (&other);
    rb_bus_destroy (&svc);
    rb_bus_destroy (&db);
}
END_TEST

/*  The fake DB worker of the matrix: counts what reaches it and answers
    bad_request, so an allowed request comes back with that code and a
    refused one with the broker's forbidden.  */
static void
s_refuse_all (rb_bus_t *bus, const rb_header_t *h, const rb_body_t *b,
              zmsg_t **msg_p, void *arg)
{
    (*(int *) arg)++;
    rb_bus_error (bus, h, RB_S_BAD_REQUEST, "the matrix's worker");
}

typedef struct {
    int code;
    bool done;
} answer_t;

static void
s_answered (rb_bus_t *bus, const rb_header_t *h, const rb_body_t *b,
            zmsg_t **msg_p, void *arg, uint64_t cookie)
{
    answer_t *a = (answer_t *) arg;
    a->code = h->kind == RB_K_ERROR ? h->status : 0;
    a->done = true;
}

/*  A minimal well-formed body of type t. */
static void
s_minimal (rb_body_t *b, int t, rb_order_t *order, rb_entry_t *entry)
{
    rb_body_init (b, (rb_type_t) t);
    b->key = rb_str ("k");
    b->text = rb_str ("backup-x.rbb");
    *order = (rb_order_t){1, rb_str ("k"), RB_OP_PUT, true, rb_str ("v")};
    *entry = (rb_entry_t){rb_str ("k"), 1};
    b->orders = order, b->n_orders = 1;
    b->entries = entry, b->n_entries = 1;
    b->seq = 1, b->op = RB_OP_PUT, b->has_value = true;
    b->value = rb_str ("v");
}

START_TEST (every_request_and_push_type_from_every_role)
{
    rb_bus_t *db = s_node (RB_ROLE_DB, "db-1", "db-1", "db");
    int handed = 0, pushed = 0;
    rb_bus_on_request (db, s_refuse_all, &handed);
    rb_bus_t *senders[3] = {db,
                            s_node (RB_ROLE_SERVICE, "svc-1", "svc-1", NULL),
                            s_node (RB_ROLE_OPS, "ops-1", "ops", NULL)};
    const char *who[3] = {"db", "service", "ops"};
    rb_bus_t *receiver = s_node (RB_ROLE_SERVICE, "svc-2", "svc-2", NULL);
    rb_bus_on_push (receiver, s_count, &pushed);
    for (int i = 0; i < 3; i++)
        ck_assert (s_ready (senders[i], WAIT_MS));
    ck_assert (s_ready (receiver, WAIT_MS));
    /* requests to service db: which may pass (docs/security.md) */
    const struct {
        int type;
        const char *allowed; /* roles, " "-separated */
    } requests[] = {
        {RB_T_GET, " service ops "},  {RB_T_ORDER, " ops "},
        {RB_T_DIFF, " ops "},         {RB_T_RECOVERY_LIST, " ops "},
        {RB_T_RECOVERY_END, " ops "}, {RB_T_BACKUP, " ops "},
        {RB_T_RESTORE, " ops "},      {RB_T_STATUS, " db service ops "},
    };
    for (size_t r = 0; r < sizeof requests / sizeof requests[0]; r++)
        for (int i = 0; i < 3; i++) {
            char role[16];
            snprintf (role, sizeof role, " %s ", who[i]);
            bool allowed = strstr (requests[r].allowed, role) != NULL;
            rb_body_t b;
            rb_order_t order;
            rb_entry_t entry;
            s_minimal (&b, requests[r].type, &order, &entry);
            answer_t a = {0, false};
            int before = handed;
            ck_assert_int_eq (rb_bus_request (senders[i], RB_ADDR_SERVICE, "db",
                                              &b, WAIT_MS, s_answered, &a, 0),
                              0);
            int64_t until = zclock_mono () + WAIT_MS + 500;
            while (!a.done && zclock_mono () < until) {
                rb_bus_poll (senders[i], 2);
                if (senders[i] != db)
                    rb_bus_poll (db, 0);
            }
            ck_assert_msg (a.done, "%s from %s: no answer",
                           rb_type_name (requests[r].type), who[i]);
            ck_assert_msg (
                a.code == (allowed ? RB_S_BAD_REQUEST : RB_S_FORBIDDEN),
                "%s from %s: answered %s", rb_type_name (requests[r].type),
                who[i], rb_code_name (a.code));
            ck_assert_int_eq (handed - before, allowed ? 1 : 0);
        }
    /* pushes to every service node: only a DB node's arrive */
    const int pushes[] = {RB_T_RESET, RB_T_UPDATE, RB_T_RECOVERED};
    for (int p = 0; p < 3; p++)
        for (int i = 0; i < 3; i++) {
            rb_body_t b;
            rb_order_t order;
            rb_entry_t entry;
            s_minimal (&b, pushes[p], &order, &entry);
            int before = pushed;
            ck_assert_int_eq (
                rb_bus_push (senders[i], RB_ADDR_ROLE, "service", &b), 0);
            /* a STATUS round trip from the same sender: the push, sent
               before it on the same connection, was handled by then */
            answer_t a = {0, false};
            rb_body_t status;
            rb_body_init (&status, RB_T_STATUS);
            rb_bus_request (senders[i], RB_ADDR_SERVICE, "broker", &status,
                            WAIT_MS, s_answered, &a, 0);
            int64_t until = zclock_mono () + WAIT_MS;
            while (!a.done && zclock_mono () < until)
                rb_bus_poll (senders[i], 2);
            until = zclock_mono () + (i == 0 ? WAIT_MS : 50);
            while (pushed == before && zclock_mono () < until)
                rb_bus_poll (receiver, 5);
            ck_assert_msg (pushed - before == (i == 0 ? 1 : 0),
                           "%s pushed by %s: %d arrived",
                           rb_type_name (pushes[p]), who[i], pushed - before);
        }
    rb_bus_destroy (&receiver);
    rb_bus_destroy (&senders[2]);
    rb_bus_destroy (&senders[1]);
    rb_bus_destroy (&db);
}
END_TEST

/*  A SUB on the tap with the key NAME, subscribed to everything. */
static zsock_t *
s_tap_sub (const char *name)
{
    zsock_t *sub = zsock_new (ZMQ_SUB);
    char broker[700], key[41], err[300];
    snprintf (broker, sizeof broker, "%s/broker.cert", s_keys);
    zcert_t *cert = NULL;
    ck_assert_int_eq (rb_curve_client_load (s_secret (name), broker, &cert, key,
                                            err, sizeof err),
                      0);
    rb_curve_client (zsock_resolve (sub), cert, key);
    zcert_destroy (&cert);
    zsock_set_subscribe (sub, "");
    ck_assert_int_eq (zsock_connect (sub, "%s", s_tap), 0);
    zsock_set_rcvtimeo (sub, 0);
    return sub;
}

START_TEST (the_tap_feeds_monitor_keys_only)
{
    zsock_t *mon = s_tap_sub ("mon");
    zsock_t *nosy = s_tap_sub ("svc-2"); /* an authorized key, not monitor */
    rb_bus_t *ops = s_node (RB_ROLE_OPS, "ops-1", "ops", NULL);
    ck_assert (s_ready (ops, WAIT_MS));
    /* traffic until the monitor sees some (its subscription takes a
       moment to reach the broker) */
    int64_t until = zclock_mono () + WAIT_MS;
    zmsg_t *seen = NULL;
    while (!seen && zclock_mono () < until) {
        s_broker_item (ops, "refused");
        seen = zmsg_recv (mon);
    }
    ck_assert_msg (seen != NULL, "the monitor key saw no traffic");
    zmsg_destroy (&seen);
    for (int i = 0; i < 5; i++)
        s_broker_item (ops, "refused");
    zmsg_t *leak = zmsg_recv (nosy);
    ck_assert_msg (leak == NULL, "a service key read the tap");
    ck_assert_uint_ge (s_broker_item (ops, "tap_refused"), 1);
    rb_bus_destroy (&ops);
    zsock_destroy (&nosy);
    zsock_destroy (&mon);
}
END_TEST

/*  Runs a program to its end: its exit code, its stderr in *err. */
static int
s_run (char *const argv[], char **err)
{
    char *out = NULL;
    int rc = rb_proc_run (argv, 10000, &out, err);
    free (out);
    return rc;
}

START_TEST (programs_refuse_plain_traffic_beyond_the_host)
{
    char port[16];
    snprintf (port, sizeof port, "%d", rb_free_port ());
    char bind[64];
    snprintf (bind, sizeof bind, "tcp://0.0.0.0:%s", port);
    char *broker[] = {RECOBUS_BINARY_DIR "/recobus-broker",
                      "--bind",
                      bind,
                      "--tap",
                      "",
                      NULL};
    char *err = NULL;
    ck_assert_int_eq (s_run (broker, &err), 78);
    ck_assert_ptr_nonnull (strstr (err, "is not a loopback"));
    free (err);
    char *ops[] = {RECOBUS_BINARY_DIR "/recobus-ops",
                   "--broker",
                   "tcp://10.1.2.3:5555",
                   "--journal",
                   "/nonexistent/j",
                   "status",
                   NULL};
    ck_assert_int_eq (s_run (ops, &err), 78);
    ck_assert_ptr_nonnull (strstr (err, "--insecure"));
    free (err);
    char *service[] = {RECOBUS_BINARY_DIR "/recobus-service",
                       "--name",
                       "s",
                       "--policy",
                       "stale-ok",
                       "--broker",
                       "tcp://10.1.2.3:5555",
                       NULL};
    ck_assert_int_eq (s_run (service, &err), 78);
    free (err);
    char *monitor[] = {RECOBUS_BINARY_DIR "/recobus-monitor", "--tap",
                       "tcp://10.1.2.3:5556", NULL};
    ck_assert_int_eq (s_run (monitor, &err), 78);
    ck_assert_ptr_nonnull (strstr (err, "is not a loopback"));
    free (err);
    /* a certificate without the broker's: refused before starting */
    char *half[] = {RECOBUS_BINARY_DIR "/recobus-db",
                    "--curve-cert",
                    (char *) s_secret ("db-1"),
                    "--backup-dir",
                    s_dir,
                    NULL};
    ck_assert_int_eq (s_run (half, &err), 78);
    ck_assert_ptr_nonnull (strstr (err, "broker-cert"));
    free (err);
    /* --insecure lets the broker start, with its warning */
    char *insecure[] = {RECOBUS_BINARY_DIR "/recobus-broker",
                        "--insecure",
                        "--bind",
                        bind,
                        "--tap",
                        "",
                        NULL};
    rb_proc_t *p = rb_proc_start (insecure, NULL);
    ck_assert_int_eq (rb_proc_wait_output (p, "recobus-broker: bus", 5000), 0);
    char *log = rb_proc_stderr (p);
    ck_assert_ptr_nonnull (strstr (log, "INSECURE"));
    free (log);
    rb_proc_destroy (&p);
}
END_TEST

int
main (void)
{
    Suite *s = suite_create ("curve");
    TCase *tc = tcase_create ("curve");
    tcase_set_timeout (tc, 60);
    tcase_add_checked_fixture (tc, s_setup, s_teardown);
    tcase_add_test (tc,
                    authorized_keys_register_with_the_role_and_name_they_carry);
    tcase_add_test (tc, a_key_the_broker_does_not_know_gets_no_handshake);
    tcase_add_test (tc, a_hello_must_say_what_its_key_says);
    tcase_add_test (tc, each_role_sends_only_what_the_table_allows);
    tcase_add_test (tc, every_request_and_push_type_from_every_role);
    tcase_add_test (tc, the_tap_feeds_monitor_keys_only);
    tcase_add_test (tc, programs_refuse_plain_traffic_beyond_the_host);
    suite_add_tcase (s, tc);
    return rb_test_run (s);
}
