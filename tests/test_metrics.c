/*  test_metrics: the Prometheus endpoints of issue 18 (common/rb_metrics,
    docs/operations.md "Metrics"): the broker, a DB node and a service
    node with --metrics on free loopback ports, scraped over HTTP during a
    real recovery (restore, recovery list, diffs, end): the recovering
    count rises and falls, counters move with traffic, and promtool
    accepts every scrape. Also: only GET /metrics is served, and a bad
    --metrics stops a daemon with a clear line.  */
#include <arpa/inet.h>
#include <check.h>
#include <czmq.h>
#include <math.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sysexits.h>

#include "rb_broker.h"
#include "rb_fixture.h"
#include "rb_metrics.h"
#include "rb_proc.h"
#include "rb_scrape.h"
#include "rb_testing.h"

static rb_tnode_t *s_pumped; /* the test's ops node, kept alive */

static double
s_wait_value (int port, const char *series, double want, bool at_least)
{
    return rb_scrape_wait (port, series, want, at_least, s_pumped);
}

/*  --- the cluster --------------------------------------------------------- */

typedef struct {
    rb_cluster_t *c;
    zactor_t *broker, *db, *svc;
    rb_tnode_t ops;
    char svc_ep[256];
    int broker_port, db_port, svc_port;
} world_t;

static void
s_endpoint (char *buf, size_t size, int *port)
{
    *port = rb_free_port ();
    snprintf (buf, size, "127.0.0.1:%d", *port);
}

static void
s_broker (world_t *w)
{
    char ep[64];
    s_endpoint (ep, sizeof ep, &w->broker_port);
    rb_broker_opts_t o;
    rb_broker_opts_default (&o);
    o.bind = "tcp://127.0.0.1:*";
    o.tap = "";
    o.heartbeat_ms = 200;
    o.metrics = ep;
    w->broker = zactor_new (rb_broker_actor, &o);
    zstr_send (w->broker, "ENDPOINTS");
    char *bus = NULL, *tap = NULL;
    zsock_recv (w->broker, "ss", &bus, &tap);
    ck_assert (bus && *bus);
    snprintf (w->c->bus, sizeof w->c->bus, "%s", bus);
    zstr_free (&bus);
    zstr_free (&tap);
}

static world_t *
s_world_new (void)
{
    world_t *w = (world_t *) calloc (1, sizeof *w);
    rb_cluster_opts_t co = {.no_broker = true};
    w->c = rb_fixture_cluster (&co);
    s_broker (w);
    ck_assert_int_eq (rb_cluster_init (w->c), 0);
    char ep[64];
    s_endpoint (ep, sizeof ep, &w->db_port);
    rb_db_opts_t dbo = rb_cluster_db_opts (w->c, "db-1");
    dbo.metrics = ep;
    w->db = zactor_new (rb_db_actor, &dbo);
    rb_tnode_start (&w->ops, w->c, RB_ROLE_OPS, "ops-1");
    rb_tnode_wait_db (&w->ops);
    s_pumped = &w->ops;
    char sep[64];
    s_endpoint (sep, sizeof sep, &w->svc_port);
    rb_service_opts_t so =
        rb_cluster_service_opts (w->c, "svc-stale", RB_POLICY_STALE_OK);
    so.metrics = sep;
    w->svc = rb_cluster_service (w->c, &so, w->svc_ep, sizeof w->svc_ep);
    ck_assert_ptr_nonnull (w->svc);
    return w;
}

static void
s_world_destroy (world_t **w_p)
{
    world_t *w = *w_p;
    zactor_destroy (&w->svc);
    s_pumped = NULL;
    rb_tnode_stop (&w->ops);
    zactor_destroy (&w->db);
    zactor_destroy (&w->broker);
    rb_cluster_destroy (&w->c);
    free (w);
    *w_p = NULL;
}

/*  --- tests --------------------------------------------------------------- */

#define KEYS 4

static rb_order_t
s_order (uint64_t seq, const char *key, const char *value)
{
    return (rb_order_t){seq, rb_str (key), RB_OP_PUT, true, rb_str (value)};
}

/*  Orders seq 1..KEYS before the backup, KEYS+1..2*KEYS after it; a
    restore of the backup leaves every key behind by one order.  */
static void
s_history (world_t *w, const char *keys[KEYS])
{
    for (int i = 0; i < KEYS; i++)
        ck_assert_int_eq (rb_tnode_order (&w->ops, 1 + i, keys[i], "old"), 0);
    uint64_t records, watermark;
    char *path = rb_tnode_backup (&w->ops, &records, &watermark);
    ck_assert_uint_eq (watermark, KEYS);
    for (int i = 0; i < KEYS; i++)
        ck_assert_int_eq (
            rb_tnode_order (&w->ops, 1 + KEYS + i, keys[i], "new"), 0);
    rb_reply_t r;
    ck_assert_int_eq (rb_tnode_restore (&w->ops, path, &r), 0);
    rb_reply_done (&r);
    free (path);
    /* the restore's progress: every record of the file loaded */
    ck_assert_double_eq (s_wait_value (w->db_port,
                                       "recobus_db_restore_file_records",
                                       (double) records, false),
                         (double) records);
    ck_assert_double_eq (s_wait_value (w->db_port,
                                       "recobus_db_restore_loaded_records",
                                       (double) records, false),
                         (double) records);
}

/*  The list, a stale answer, then the diffs one by one: the recovering
    count rises to KEYS and falls to 0 in the DB's scrapes.  */
static void
s_recover (world_t *w, const char *keys[KEYS])
{
    rb_entry_t entries[KEYS];
    for (int i = 0; i < KEYS; i++)
        entries[i] = (rb_entry_t){rb_str (keys[i]), 1 + KEYS + i};
    rb_reply_t r;
    ck_assert_int_eq (rb_tnode_list (&w->ops, entries, KEYS, true, &r), 0);
    rb_reply_done (&r);
    ck_assert_double_eq (
        s_wait_value (w->db_port, "recobus_db_recovering_keys", KEYS, false),
        KEYS);
    ck_assert_double_eq (s_wait_value (w->db_port,
                                       "recobus_db_state{state=\"recovering\"}",
                                       1, false),
                         1);
    ck_assert_int_eq (rb_scrape_promtool (w->db_port), 0);
    rb_term_t t;
    rb_term_open (&t, w->svc_ep);
    uint64_t seq;
    ck_assert_int_eq (rb_term_get (&t, keys[0], 5000, &seq), RB_ANS_STALE);
    rb_term_close (&t);
    for (int i = 0; i < KEYS; i++) {
        rb_order_t o = s_order (1 + KEYS + i, keys[i], "new");
        ck_assert_int_eq (rb_tnode_diff (&w->ops, &o, 1, &r), 0);
        rb_reply_done (&r);
        ck_assert_double_eq (s_wait_value (w->db_port,
                                           "recobus_db_recovering_keys",
                                           KEYS - 1 - i, false),
                             KEYS - 1 - i);
    }
    ck_assert_int_eq (rb_tnode_end (&w->ops), 0);
}

START_TEST (metrics_show_a_recovery_rise_and_fall_on_every_daemon)
{
    world_t *w = s_world_new ();
    const char *keys[KEYS] = {"k1", "k2", "k3", "k4"};
    ck_assert_double_eq (s_wait_value (w->db_port,
                                       "recobus_db_state{state=\"normal\"}", 1,
                                       false),
                         1);
    s_history (w, keys);
    s_recover (w, keys);
    ck_assert_double_eq (s_wait_value (w->db_port,
                                       "recobus_db_state{state=\"normal\"}", 1,
                                       false),
                         1);
    ck_assert_double_eq (
        s_wait_value (w->db_port, "recobus_db_watermark", 2 * KEYS, false),
        2 * KEYS);
    ck_assert_double_ge (
        s_wait_value (w->db_port,
                      "recobus_db_get_answers_total{flag=\"flagged\"}", 1,
                      true),
        1);
    ck_assert_double_eq (
        s_wait_value (w->db_port,
                      "recobus_db_orders_total{outcome=\"applied\"}", 3 * KEYS,
                      false),
        3 * KEYS);
    ck_assert_double_ge (
        s_wait_value (w->db_port, "recobus_db_redis_roundtrip_seconds_count", 1,
                      true),
        1);
    ck_assert_double_ge (
        s_wait_value (w->svc_port,
                      "recobus_service_answers_total{status=\"stale\"}", 1,
                      true),
        1);
    ck_assert_double_ge (
        s_wait_value (w->broker_port,
                      "recobus_broker_routed_messages_total{type=\"DIFF\"}",
                      KEYS, true),
        KEYS);
    ck_assert_double_eq (s_wait_value (w->broker_port,
                                       "recobus_broker_peers{role=\"db\"}", 1,
                                       false),
                         1);
    ck_assert_int_eq (rb_scrape_promtool (w->broker_port), 0);
    ck_assert_int_eq (rb_scrape_promtool (w->db_port), 0);
    ck_assert_int_eq (rb_scrape_promtool (w->svc_port), 0);
    s_world_destroy (&w);
}
END_TEST

/*  An actor with metrics on port; its port in *port (destroy it). */
static zactor_t *
s_lone_broker (int *port)
{
    static char ep[64];
    s_endpoint (ep, sizeof ep, port);
    rb_broker_opts_t o;
    rb_broker_opts_default (&o);
    o.bind = "tcp://127.0.0.1:*";
    o.tap = "";
    o.metrics = ep;
    return zactor_new (rb_broker_actor, &o);
}

START_TEST (metrics_endpoint_serves_get_metrics_only)
{
    int port;
    zactor_t *broker = s_lone_broker (&port);
    char *text = rb_scrape (port);
    ck_assert_ptr_nonnull (text);
    ck_assert_ptr_nonnull (strstr (text,
                                   "# TYPE recobus_broker_tap_drops_total "
                                   "counter\n"));
    free (text);
    char *r = rb_scrape_http (port, "POST /metrics HTTP/1.0\r\n\r\n");
    ck_assert_ptr_nonnull (r);
    ck_assert_msg (strncmp (r + 8, " 405 ", 5) == 0, "POST: %.40s", r);
    free (r);
    r = rb_scrape_http (port, "GET /secrets HTTP/1.0\r\n\r\n");
    ck_assert_msg (r && strncmp (r + 8, " 404 ", 5) == 0, "other path");
    free (r);
    zactor_destroy (&broker);
}
END_TEST

START_TEST (metrics_endpoints_parse_or_are_refused)
{
    struct sockaddr_storage a;
    char err[200];
    ck_assert_int_eq (rb_metrics_parse ("9101", &a, err, sizeof err), 0);
    ck_assert_int_eq (a.ss_family, AF_INET);
    ck_assert_int_eq (((struct sockaddr_in *) &a)->sin_addr.s_addr,
                      htonl (INADDR_LOOPBACK));
    ck_assert_int_eq (rb_metrics_parse ("[::1]:9101", &a, err, sizeof err), 0);
    ck_assert_int_eq (a.ss_family, AF_INET6);
    ck_assert_int_eq (rb_metrics_parse ("host:1", &a, err, sizeof err), -1);
    ck_assert_int_eq (rb_metrics_parse ("1.2.3.4:x", &a, err, sizeof err), -1);
    ck_assert_int_eq (rb_metrics_parse ("65536", &a, err, sizeof err), -1);
    ck_assert_int_eq (rb_metrics_check ("", err, sizeof err), 0);
    /* a daemon refuses a bad value before it starts anything */
    char *argv[] = {RECOBUS_BINARY_DIR "/recobus-broker", "--metrics",
                    "localhost:x", NULL};
    char *out = NULL, *errs = NULL;
    ck_assert_int_eq (rb_proc_run (argv, 10000, &out, &errs), EX_CONFIG);
    ck_assert_ptr_nonnull (strstr (errs, "metrics: 'x' is not a port"));
    free (out);
    free (errs);
}
END_TEST

int
main (void)
{
    if (system ("promtool --version > /dev/null 2>&1") != 0) {
        fprintf (stderr, "test_metrics: promtool is missing (make deps "
                         "installs the Debian package prometheus)\n");
        return 1;
    }
    Suite *s = suite_create ("metrics");
    TCase *tc = tcase_create ("metrics");
    tcase_set_timeout (tc, 120);
    tcase_add_test (tc, metrics_show_a_recovery_rise_and_fall_on_every_daemon);
    tcase_add_test (tc, metrics_endpoint_serves_get_metrics_only);
    tcase_add_test (tc, metrics_endpoints_parse_or_are_refused);
    suite_add_tcase (s, tc);
    return rb_test_run (s);
}
