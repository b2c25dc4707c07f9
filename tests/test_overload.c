/*  test_overload: the floods of issue 14 ("Bounded under load") against
    real daemons (rb_pcluster: the recobus-broker, recobus-db and
    recobus-service programs on a throwaway redis-server), each flood
    from rb_flood on real sockets. Every test runs its flood with small
    configured caps and checks three things: the daemon's memory (its
    peak RSS, or Redis's used_memory, or the files it writes) stays under
    a bound derived from those caps; legitimate traffic is answered during
    and after the flood; nothing aborted (every daemon alive, exit 0 on
    SIGTERM). The bus runs under CurveZMQ as deployed, except for the
    HELLO flood, which needs plain mode (below).

    The last two are the broker's own bounds on one peer: the send
    budget of a node that stops reading, and the hello timeout.  */
#include <check.h>
#include <dirent.h>
#include <signal.h>
#include <string.h>
#include <sys/stat.h>

#include "rb_ovtest.h"
#include "rb_testing.h"

#ifndef RECOBUS_BINARY_DIR
#error "RECOBUS_BINARY_DIR must name the build tree"
#endif

#define MONITOR RECOBUS_BINARY_DIR "/recobus-monitor"

/*  --------------------------------------------------------------------
    HELLOs naming random services */

#define HELLO_SERVICES_MAX 64
#define HELLO_COUNT        60000
#define HELLO_SOCKETS      10
#define HELLO_IN_FLIGHT    1000

/*  Broker peak RSS growth allowed: 64 services (a name, a worker list, an
    empty queue: < 2 kB each) and 10 flooding peers are under 0.2 MB; the
    1000 HELLOs in flight wait in the broker's pipes (< 1 kB each with
    their zmq_msg_t: 1 MB); each connection costs libzmq some 130 kB
    (engine batches, the decoder, pipe chunks; measured: 100 sockets,
    13 MB): 1.3 MB. Without services-max each HELLO adds 8 services, and
    in this tree they linger 200 ms after their node re-registers: the
    table would hold tens of thousands (the old tree, which never freed
    them: 161 MB for 60,000 HELLOs).  */
#define HELLO_RSS_KB (6 * MB)
#ifndef HELLO_CONFIG_MAX /* the cap under test; 100000 takes it away */
#define HELLO_CONFIG_MAX "64"
#endif

START_TEST (hello_flood_fills_services_max_and_no_more)
{
    /* plain: under CurveZMQ no role that may join the bus offers a
       service of its own choosing, so random services never reach the
       table (docs/security.md); bench nodes may, in plain mode */
    rb_tnode_t ops;
    rb_pcluster_t *pc = ov_cluster (false, false,
                                    "broker\n"
                                    "    services-max = " HELLO_CONFIG_MAX "\n"
                                    "    service-linger = 200\n"
                                    "service\n"
                                    "    svc-1\n"
                                    "        cache-size = 0\n",
                                    "latest-only", &ops);
    ov_orders (&ops, "lg-", 50, "v", 1);
    legit_t t;
    ov_legit (&t, pc->svc_ep[0]);
    ov_expect_ok (&t, "lg-0", "v", WAIT_MS);
    long before = ov_peak_kb (pc->broker);

    rb_flood_opts_t o = rb_flood_defaults (RB_FLOOD_HELLO, pc->c->bus);
    o.count = HELLO_COUNT;
    o.sockets = HELLO_SOCKETS;
    o.in_flight = HELLO_IN_FLIGHT;
    o.prefix = "hf";
    o.deadline_ms = 30000;
    rb_flood_t *f = ov_flood (&o);
    /* uncached GETs through the broker all along (svc-1 caches nothing) */
    int asked = 0;
    uint64_t services = 0;
    while (!rb_flood_stats (f).done && !rb_flood_stats (f).timed_out) {
        char key[16];
        snprintf (key, sizeof key, "lg-%d", asked++ % 50);
        ov_expect_ok (&t, key, "v", 2000);
        rb_bus_poll (ops.bus, 0);
        if (asked % 10 == 0) {
            uint64_t now = ov_broker_num (&ops, "services");
            services = now > services ? now : services;
        }
    }
    rb_flood_stats_t s;
    rb_flood_stop (&f, &s);
    long grew = ov_peak_kb (pc->broker) - before;
    ov_rss_within ("broker", grew, HELLO_RSS_KB);
    ck_assert (s.done);
    ck_assert_uint_eq (s.answered, HELLO_COUNT);
    ck_assert_uint_gt (s.errors[RB_S_OVERLOADED - RB_S_MALFORMED], 0);
    ck_assert_uint_gt (s.welcomed, 0); /* the linger frees room, in turns */
    ck_assert_uint_le (services, HELLO_SERVICES_MAX);
    ck_assert_uint_le (ov_broker_num (&ops, "services"), HELLO_SERVICES_MAX);

    /* the flood's nodes expire (heartbeat 500 ms x 3), their services go
       after the linger; then the broker idles (the old tree: 100% CPU) */
    int64_t until = zclock_mono () + WAIT_MS;
    while ((ov_broker_num (&ops, "nodes") > 3 ||
            ov_broker_num (&ops, "services") > 1) &&
           zclock_mono () < until)
        rb_tnode_pump (&ops, 20);
    ck_assert_uint_eq (ov_broker_num (&ops, "nodes"), 3); /* db, svc, ops */
    long cpu = rb_proc_cpu_ms (rb_proc_pid (pc->broker));
    rb_tnode_pump (&ops, 1000);
    cpu = rb_proc_cpu_ms (rb_proc_pid (pc->broker)) - cpu;
    ck_assert_msg (cpu < 200, "the idle broker used %ld ms of CPU in 1 s", cpu);
    ov_expect_ok (&t, "lg-1", "v", 2000);
    zsock_destroy (&t.sock);
    ov_stop (&pc, &ops);
}
END_TEST

/*  --------------------------------------------------------------------
    A tap subscriber that stops reading */

#define TAP_ORDERS 4000
#define TAP_VALUE  4096

/*  Broker peak RSS growth allowed: tap-hwm (100) messages for each of the
    two subscribers, an ORDER with its 4 kB value the largest: < 1 MB;
    32 orders in flight: 0.2 MB. The flood pushes 16 MB through the tap,
    which the broker would hold for the stalled subscriber were its
    queue not bounded.  */
#define TAP_RSS_KB (8 * MB)

/*  Lines holding " ORDER " in what p wrote so far. */
static int
s_order_lines (rb_proc_t *p)
{
    char *out = rb_proc_stdout (p);
    int n = 0;
    for (const char *at = out; (at = strstr (at, " ORDER ")); at++)
        n++;
    free (out);
    return n;
}

START_TEST (a_stalled_tap_subscriber_costs_a_monitor_nothing)
{
    rb_tnode_t ops;
    rb_pcluster_t *pc =
        ov_cluster (true, true, "broker\n    tap-hwm = 100\n", NULL, &ops);
    char *mon_argv[] = {MONITOR,
                        "--tap",
                        pc->c->tap,
                        "--type",
                        "ORDER",
                        "--curve-cert",
                        (char *) rb_cluster_key (pc->c, "monitor", "mon-1"),
                        "--broker-cert",
                        pc->c->broker_cert,
                        NULL};
    rb_proc_t *mon = rb_proc_start (mon_argv, NULL);
    ck_assert_ptr_nonnull (mon);
    RB_PUMP_UNTIL (&ops, ov_broker_num (&ops, "tap_subscribers") == 1, WAIT_MS);
    ck_assert_uint_eq (ov_broker_num (&ops, "tap_subscribers"), 1);

    rb_flood_opts_t o = rb_flood_defaults (RB_FLOOD_TAP, pc->c->tap);
    o.curve_cert = rb_cluster_key (pc->c, "monitor", "stalled");
    o.broker_cert = pc->c->broker_cert;
    o.rcvbuf = 4096;
    o.deadline_ms = 60000;
    rb_flood_t *f = ov_flood (&o);
    RB_PUMP_UNTIL (&ops, ov_broker_num (&ops, "tap_subscribers") == 2, WAIT_MS);
    ck_assert_uint_eq (ov_broker_num (&ops, "tap_subscribers"), 2);
    long before = ov_peak_kb (pc->broker);

    char *value = (char *) malloc (TAP_VALUE + 1);
    memset (value, 'v', TAP_VALUE);
    value[TAP_VALUE] = '\0';
    ov_orders (&ops, "tk-", TAP_ORDERS, value, 1);
    free (value);
    /* the healthy monitor shows every ORDER */
    int64_t until = zclock_mono () + 20000;
    while (s_order_lines (mon) < TAP_ORDERS && zclock_mono () < until)
        rb_tnode_pump (&ops, 20);
    ck_assert_int_eq (s_order_lines (mon), TAP_ORDERS);
    long grew = ov_peak_kb (pc->broker) - before;
    ov_rss_within ("broker", grew, TAP_RSS_KB);
    /* the stalled one lost what its own queue could not hold: fewer than
       the ORDERs alone (each also has its ACK on the tap) */
    rb_flood_stats_t s;
    rb_flood_stop (&f, &s);
    ck_assert_uint_lt (s.received, TAP_ORDERS);
    /* its leaving is seen (under CurveZMQ the unsubscription libzmq makes
       for a leaving subscriber comes without its key's metadata) */
    RB_PUMP_UNTIL (&ops, ov_broker_num (&ops, "tap_subscribers") == 1, WAIT_MS);
    ck_assert_uint_eq (ov_broker_num (&ops, "tap_subscribers"), 1);
    ck_assert_uint_eq (ov_broker_num (&ops, "tap_refused"), 0);
    ck_assert_int_eq (rb_proc_kill (mon, SIGINT), 0);
    ck_assert_int_eq (rb_proc_wait (mon, WAIT_MS), 0);
    rb_proc_destroy (&mon);
    ov_stop (&pc, &ops);
}
END_TEST

/*  --------------------------------------------------------------------
    GETs of flagged keys at a latest-only service, past waits-max */

#define WAITS_MAX     200
#define WAITS_KEYS    20000
#define WAITS_WAIT_MS 2000
#ifndef WAITS_CONFIG_MAX /* the cap under test; 1048576 takes it away */
#define WAITS_CONFIG_MAX "200"
#endif

/*  Service node peak RSS growth allowed: 200 waits (the key, the stream
    state, a waiters array of 4 x 272 B, its hash entry, its timer, the
    GET out to the DB: < 2 kB each) are 0.4 MB; the terminal ROUTER
    queues at most 1000 requests in and 1000 answers out (< 0.2 MB).
    Without the cap all 20,000 GETs wait (some 40 MB: each ~2 kB).  */
#define WAITS_RSS_KB (8 * MB)

/*  Restore a backup holding legit, then list keys fk-0 .. fk-(n-1) as
    behind seq 5: they stay flagged (no diff ever comes), legit not.  */
static void
s_flag_keys (rb_tnode_t *ops, int n)
{
    rb_tnode_backup_restore (ops);
    rb_reply_t r;
    rb_entry_t *e = (rb_entry_t *) calloc (10000, sizeof (rb_entry_t));
    char (*keys)[16] = calloc (10000, 16);
    for (int first = 0; first < n; first += 10000) {
        int batch = n - first < 10000 ? n - first : 10000;
        for (int i = 0; i < batch; i++) {
            snprintf (keys[i], 16, "fk-%d", first + i);
            e[i] = (rb_entry_t){rb_str (keys[i]), 5};
        }
        ck_assert_int_eq (
            rb_tnode_list (ops, e, (uint32_t) batch, first + batch >= n, &r),
            0);
        ck_assert_uint_eq (r.b.flagged, batch);
        rb_reply_done (&r);
    }
    free (e);
    free (keys);
}

START_TEST (flagged_key_gets_past_waits_max_are_answered_at_once)
{
    rb_tnode_t ops;
    rb_pcluster_t *pc = ov_cluster (true, false,
                                    "service\n"
                                    "    svc-1\n"
                                    "        waits-max = " WAITS_CONFIG_MAX "\n"
                                    "        waiters-max = 10\n"
                                    "        max-wait = 2000\n",
                                    "latest-only", &ops);
    ck_assert_int_eq (rb_tnode_order (&ops, 1, "legit", "v1"), 0);
    s_flag_keys (&ops, WAITS_KEYS);
    legit_t t;
    ov_legit (&t, pc->svc_ep[0]);
    ov_expect_ok (&t, "legit", "v1", WAIT_MS); /* current: cached now */
    long before = ov_peak_kb (pc->svc[0]);

    rb_flood_opts_t o = rb_flood_defaults (RB_FLOOD_GETS, pc->svc_ep[0]);
    o.count = WAITS_KEYS;
    o.prefix = "fk-";
    o.in_flight = 0; /* all at once */
    o.deadline_ms = 30000;
    rb_flood_t *f = ov_flood (&o);
    uint64_t waits = 0;
    while (!rb_flood_stats (f).done && !rb_flood_stats (f).timed_out) {
        ov_expect_ok (&t, "legit", "v1", 1000); /* from the cache */
        uint64_t now = ov_svc_num (&ops, "waits");
        waits = now > waits ? now : waits;
    }
    rb_flood_stats_t s;
    rb_flood_stop (&f, &s);
    long grew = ov_peak_kb (pc->svc[0]) - before;
    ov_rss_within ("service", grew, WAITS_RSS_KB);
    ck_assert (s.done);
    ck_assert_uint_eq (s.answers[RB_ANS_UNAVAILABLE], WAITS_KEYS);
    ck_assert_uint_le (waits, WAITS_MAX);
    /* every GET but those that found room waited; room frees as waits
       end, at most waits-max every max-wait */
    uint64_t room = WAITS_MAX * (1 + (uint64_t) s.ms / WAITS_WAIT_MS);
    ck_assert_uint_ge (ov_svc_num (&ops, "waits_refused"), WAITS_KEYS - room);
    ov_expect_ok (&t, "legit", "v1", 1000);
    zsock_destroy (&t.sock);
    ov_stop (&pc, &ops);
}
END_TEST

/*  --------------------------------------------------------------------
    GETs of absent keys */

#define ABSENT_KEYS 20000

/*  Redis used_memory growth allowed: one set rb:{0}:fa holding the service
    node, and rb:{0}:f:KEY sets for the 20 existing keys the legitimate
    client reads (a few hundred bytes each); 256 kB leaves room for
    Redis's own buffers. A set per absent key (the old tree) would add
    some 270 B a key: 5.4 MB.  */
#define ABSENT_REDIS_BYTES (256 * 1024)

static long long
s_redis_keys (rb_pcluster_t *pc, const char *pattern)
{
    redisReply *r = rb_redis_cmd (pc->c->redis, "KEYS %s", pattern);
    ck_assert_int_eq (r->type, REDIS_REPLY_ARRAY);
    long long n = (long long) r->elements;
    freeReplyObject (r);
    return n;
}

START_TEST (absent_key_gets_add_nothing_per_key_to_redis)
{
    rb_tnode_t ops;
    rb_pcluster_t *pc = ov_cluster (true, false, NULL, "latest-only", &ops);
    ov_orders (&ops, "lg-", 20, "v", 1);
    legit_t t;
    ov_legit (&t, pc->svc_ep[0]);
    long long before = rb_redis_used_memory (pc->c->redis_address);
    ck_assert_int_gt (before, 0);

    rb_flood_opts_t o = rb_flood_defaults (RB_FLOOD_GETS, pc->svc_ep[0]);
    o.count = ABSENT_KEYS;
    o.prefix = "ab-";
    o.in_flight = 256;
    o.deadline_ms = 30000;
    rb_flood_t *f = ov_flood (&o);
    int asked = 0;
    while (!rb_flood_stats (f).done && !rb_flood_stats (f).timed_out) {
        char key[16];
        snprintf (key, sizeof key, "lg-%d", asked++ % 20);
        ov_expect_ok (&t, key, "v", 2000);
        rb_bus_poll (ops.bus, 0);
    }
    rb_flood_stats_t s;
    rb_flood_stop (&f, &s);
    ck_assert (s.done);
    ck_assert_uint_eq (s.answers[RB_ANS_NOT_FOUND], ABSENT_KEYS);
    long long grew = rb_redis_used_memory (pc->c->redis_address) - before;
    ck_assert_msg (grew < ABSENT_REDIS_BYTES, "Redis grew %lld bytes", grew);
    ck_assert_int_eq (s_redis_keys (pc, "rb:{0}:f:ab-*"), 0);
    ck_assert_int_eq (s_redis_keys (pc, "rb:{0}:fa"), 1);

    /* the last absent key is created: svc-1, which cached its absence,
       is told (rb:{0}:fa) and answers the new value from its cache. The GET
       waits for the UPDATE: asked at once, after a flood it overtook the
       push in some runs (the ACK and the push take two connections) */
    char last[16];
    snprintf (last, sizeof last, "ab-%d", ABSENT_KEYS - 1);
    uint64_t updates = ov_svc_num (&ops, "updates");
    ck_assert_int_eq (rb_tnode_order (&ops, 100, last, "born"), 0);
    RB_PUMP_UNTIL (&ops, ov_svc_num (&ops, "updates") > updates, WAIT_MS);
    ck_assert_uint_eq (ov_svc_num (&ops, "updates"), updates + 1);
    uint64_t hits = ov_svc_num (&ops, "cache.hits");
    ov_expect_ok (&t, last, "born", 2000);
    ck_assert_uint_eq (ov_svc_num (&ops, "cache.hits"), hits + 1);
    zsock_destroy (&t.sock);
    ov_stop (&pc, &ops);
}
END_TEST

/*  --------------------------------------------------------------------
    BACKUP in a loop */

#define BACKUP_KEEP  3
#define BACKUP_LOOPS 12

/*  Backup files in dir, and their bytes.  */
static int
s_backups (const char *dir, long long *bytes)
{
    DIR *d = opendir (dir);
    ck_assert_ptr_nonnull (d);
    int n = 0;
    *bytes = 0;
    struct dirent *e;
    while ((e = readdir (d))) {
        char path[1024];
        struct stat st;
        snprintf (path, sizeof path, "%s/%s", dir, e->d_name);
        if (e->d_name[0] == '.' || lstat (path, &st) || !S_ISREG (st.st_mode))
            continue; /* ., .., .dataset, the keys dir */
        n++;
        *bytes += st.st_size;
    }
    closedir (d);
    return n;
}

START_TEST (backups_in_a_loop_keep_backup_keep_files)
{
    rb_tnode_t ops;
    rb_pcluster_t *pc = ov_cluster (true, false, "db\n    backup-keep = 3\n",
                                    "latest-only", &ops);
    ov_orders (&ops, "bk-", 200, "some value", 1);
    legit_t t;
    ov_legit (&t, pc->svc_ep[0]);
    long before = ov_peak_kb (pc->db);
    long long one = 0, bytes = 0;
    for (int i = 0; i < BACKUP_LOOPS; i++) {
        uint64_t records, watermark;
        char *path = rb_tnode_backup (&ops, &records, &watermark);
        free (path);
        ck_assert_uint_eq (records, 200);
        int files = s_backups (pc->c->backups, &bytes);
        ck_assert_int_le (files, BACKUP_KEEP);
        if (i == 0)
            one = bytes;
        /* each file the same records: the dir never holds more than
           backup-keep of them */
        ck_assert_int_le (bytes, BACKUP_KEEP * (one + 1024));
        ov_expect_ok (&t, "bk-7", "some value", 2000);
    }
    ck_assert_int_eq (s_backups (pc->c->backups, &bytes), BACKUP_KEEP);
    /* a backup's buffers are freed when it ends: 12 cost what one does */
    long grew = ov_peak_kb (pc->db) - before;
    ov_rss_within ("DB node", grew, 8 * MB);
    zsock_destroy (&t.sock);
    ov_stop (&pc, &ops);
}
END_TEST

/*  --------------------------------------------------------------------
    A node that heartbeats but never reads, while requests go to it */

#define DEAF_REQUESTS 20000
#define DEAF_VALUE    4096
#ifndef DEAF_CONFIG_BYTES /* the budget under test; 1073741824 takes it away   \
                             (peer-queue-max 10,000 is left as the bound) */
#define DEAF_CONFIG_BYTES "2097152"
#endif

/*  Broker peak RSS growth allowed: at most twice peer-queue-bytes (2 MiB)
    for the deaf node before it is dropped (worker-credit does not stop
    it first: 100,000), queue-bytes (4 MiB) of requests waiting for a
    worker of its service once it is gone, and 1000 messages (the
    ROUTER's rcvhwm, 4 kB each) from the asker not read yet: 12 MB. On
    top, the allocator: libzmq allocates each message in its I/O thread
    and the broker frees it in its own, and glibc's per-thread arenas
    keep some of what was freed (measured: 16-21 MB in all). Without the
    budget the deaf node holds peer-queue-max requests (10,000: 41 MB);
    the old tree held all 20,000 it was sent (+94 MB).  */
#define DEAF_RSS_KB (28 * MB)

START_TEST (a_node_that_does_not_read_is_dropped_within_its_budget)
{
    rb_tnode_t ops;
    rb_pcluster_t *pc =
        ov_cluster (true, false,
                    "broker\n"
                    "    max-frame = 1048576\n"
                    "    peer-queue-bytes = " DEAF_CONFIG_BYTES "\n"
                    "    queue-bytes = 4194304\n"
                    "    worker-credit = 100000\n",
                    "latest-only", &ops);
    ov_orders (&ops, "lg-", 50, "v", 1);
    legit_t t;
    ov_legit (&t, pc->svc_ep[0]);
    ov_expect_ok (&t, "lg-0", "v", WAIT_MS);

    rb_flood_opts_t d = rb_flood_defaults (RB_FLOOD_DEAF_NODE, pc->c->bus);
    d.curve_cert = rb_cluster_key (pc->c, "service", "deaf");
    d.role = RB_ROLE_SERVICE; /* any role may offer echo */
    d.broker_cert = pc->c->broker_cert;
    d.prefix = "deaf";
    d.rcvbuf = 4096;
    d.deadline_ms = 60000;
    rb_flood_t *deaf = ov_flood (&d);
    ck_assert_int_eq (rb_flood_wait (deaf, WAIT_MS), 0);
    long before = ov_peak_kb (pc->broker);

    rb_flood_opts_t o = rb_flood_defaults (RB_FLOOD_REQUESTS, pc->c->bus);
    o.curve_cert = rb_cluster_key (pc->c, "ops", "asker");
    o.role = RB_ROLE_OPS;
    o.broker_cert = pc->c->broker_cert;
    o.prefix = "asker";
    o.count = DEAF_REQUESTS;
    o.value_len = DEAF_VALUE;
    o.timeout_ms = 1000;
    o.deadline_ms = 30000;
    rb_flood_t *f = ov_flood (&o);
    int asked = 0;
    while (!rb_flood_stats (f).done && !rb_flood_stats (f).timed_out) {
        char key[16];
        snprintf (key, sizeof key, "lg-%d", asked++ % 50);
        ov_expect_ok (&t, key, "v", 2000); /* uncached: through the broker */
        rb_bus_poll (ops.bus, 0);
    }
    rb_flood_stats_t s;
    rb_flood_stop (&f, &s);
    long grew = ov_peak_kb (pc->broker) - before;
    ov_rss_within ("broker", grew, DEAF_RSS_KB);
    ck_assert (s.done);
    ck_assert_uint_ge (s.answered, DEAF_REQUESTS); /* and its WELCOME */
    ck_assert_uint_gt (s.errors[RB_S_WORKER_LOST - RB_S_MALFORMED], 0);
    ck_assert_uint_eq (ov_broker_num (&ops, "over_budget"), 1);
    rb_flood_stop (&deaf, NULL);
    ov_expect_ok (&t, "lg-1", "v", 2000);
    zsock_destroy (&t.sock);
    ov_stop (&pc, &ops);
}
END_TEST

/*  --------------------------------------------------------------------
    Connections that never say HELLO */

#define IDLE_CONNECTIONS 1000

/*  Open descriptors of process pid.  */
static int
s_fds (pid_t pid)
{
    char path[64];
    snprintf (path, sizeof path, "/proc/%d/fd", (int) pid);
    DIR *d = opendir (path);
    ck_assert_ptr_nonnull (d);
    int n = 0;
    while (readdir (d))
        n++;
    closedir (d);
    return n - 2; /* . and .. */
}

START_TEST (connections_that_never_say_hello_are_closed)
{
    rb_tnode_t ops;
    rb_pcluster_t *pc = ov_cluster (
        true, false, "broker\n    hello-timeout = 500\n", "latest-only", &ops);
    ov_orders (&ops, "lg-", 20, "v", 1);
    legit_t t;
    ov_legit (&t, pc->svc_ep[0]);
    ov_expect_ok (&t, "lg-0", "v", WAIT_MS);
    pid_t broker = rb_proc_pid (pc->broker);
    int fds = s_fds (broker);

    rb_flood_opts_t o = rb_flood_defaults (RB_FLOOD_IDLE, pc->c->bus);
    o.count = IDLE_CONNECTIONS;
    o.deadline_ms = 30000;
    rb_flood_t *f = ov_flood (&o);
    ck_assert_int_eq (rb_flood_wait (f, WAIT_MS), 0);
    ck_assert_uint_eq (rb_flood_stats (f).sent, IDLE_CONNECTIONS);
    /* every one closed by the broker within hello-timeout and a tick,
       while the nodes it knows (idle too, between heartbeats) are not */
    int asked = 0;
    int64_t until = zclock_mono () + WAIT_MS;
    while (rb_flood_stats (f).closed < IDLE_CONNECTIONS &&
           zclock_mono () < until) {
        char key[16];
        snprintf (key, sizeof key, "lg-%d", asked++ % 20);
        ov_expect_ok (&t, key, "v", 2000);
        rb_tnode_pump (&ops, 10);
    }
    rb_flood_stats_t s;
    rb_flood_stop (&f, &s);
    ck_assert_uint_eq (s.closed, IDLE_CONNECTIONS);
    ck_assert_uint_ge (ov_broker_num (&ops, "idle_closed"), IDLE_CONNECTIONS);
    ck_assert_uint_eq (ov_broker_num (&ops, "nodes"), 3); /* db, svc, ops */
    ck_assert_uint_eq (ov_broker_num (&ops, "expired"), 0);
    /* and their descriptors are given back */
    RB_PUMP_UNTIL (&ops, s_fds (broker) <= fds + 8, WAIT_MS);
    ck_assert_int_le (s_fds (broker), fds + 8);
    ov_expect_ok (&t, "lg-1", "v", 2000);
    zsock_destroy (&t.sock);
    ov_stop (&pc, &ops);
}
END_TEST

/*  --------------------------------------------------------------------
    Runner */

int
main (void)
{
    Suite *suite = suite_create ("overload");
    TCase *floods = tcase_create ("floods");
    tcase_set_timeout (floods, 60);
    tcase_add_test (floods, hello_flood_fills_services_max_and_no_more);
    tcase_add_test (floods, a_stalled_tap_subscriber_costs_a_monitor_nothing);
    tcase_add_test (floods,
                    flagged_key_gets_past_waits_max_are_answered_at_once);
    tcase_add_test (floods, absent_key_gets_add_nothing_per_key_to_redis);
    tcase_add_test (floods, backups_in_a_loop_keep_backup_keep_files);
    tcase_add_test (floods,
                    a_node_that_does_not_read_is_dropped_within_its_budget);
    tcase_add_test (floods, connections_that_never_say_hello_are_closed);
    suite_add_tcase (suite, floods);
    return rb_test_run (suite);
}
