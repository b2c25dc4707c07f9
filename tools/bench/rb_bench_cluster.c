/*  rb_bench_cluster: the bench's cluster, on the harness (see header). */
#include "rb_bench_cluster.h"
#include "rb_broker.h"
#include "rb_msg.h"

#include <string.h>

int
rb_bcluster_fill (const rb_bench_opts_t *o, int n, int value_len)
{
    redisContext *r = rb_redis_connect_at (o->redis);
    if (!r)
        return -1;
    char *value = (char *) malloc ((size_t) value_len);
    memset (value, 'v', (size_t) value_len);
    int pending = 0, rc = 0;
    for (int i = 0; i < n && rc == 0; i++) {
        char key[32];
        snprintf (key, sizeof key, "rb:{0}:r:k%d", i);
        redisAppendCommand (r, "HSET %s v %b s 1 d 0", key, value,
                            (size_t) value_len);
        if (++pending == 1000 || i == n - 1) {
            for (; pending > 0; pending--) {
                void *reply;
                if (redisGetReply (r, &reply) != REDIS_OK)
                    rc = -1;
                freeReplyObject (reply);
            }
        }
    }
    freeReplyObject (redisCommand (r, "HSET rb:{0}:meta total %d", n));
    free (value);
    redisFree (r);
    return rc;
}

void
rb_bcluster_stop (rb_bcluster_t *c)
{
    rb_bus_destroy (&c->ops);
    zactor_destroy (&c->service);
    zactor_destroy (&c->db);
    rb_cluster_destroy (&c->cluster);
}

int
rb_bcluster_start (rb_bcluster_t *c, const rb_bench_opts_t *o,
                   uint32_t cache_size, int policy)
{
    return rb_bcluster_start_with (c, o, cache_size, policy, false);
}

int
rb_bcluster_start_with (rb_bcluster_t *c, const rb_bench_opts_t *o,
                        uint32_t cache_size, int policy, bool curve)
{
    return rb_bcluster_start_on (c, o, cache_size, policy, curve, 0);
}

int
rb_bcluster_start_on (rb_bcluster_t *c, const rb_bench_opts_t *o,
                      uint32_t cache_size, int policy, bool curve,
                      int redis_masters)
{
    memset (c, 0, sizeof *c);
    rb_broker_opts_t broker;
    rb_broker_opts_default (&broker);
    /* the broker's own heartbeat; a node kept busy never expires */
    rb_cluster_opts_t co = {.redis = redis_masters > 0 ? NULL : o->redis,
                            .heartbeat_ms = broker.heartbeat_ms,
                            .liveness = 1000,
                            .curve = curve,
                            .redis_masters = redis_masters,
                            .no_replicas = true};
    c->cluster = rb_cluster_new (&co);
    if (!c->cluster || rb_cluster_init (c->cluster)) {
        rb_bcluster_stop (c);
        return -1;
    }
    c->db = rb_cluster_db (c->cluster, "db-1");
    rb_service_opts_t so =
        rb_cluster_service_opts (c->cluster, "bench-svc", policy);
    so.cache_size = cache_size;
    so.max_wait_ms = 30000;
    c->service =
        rb_cluster_service (c->cluster, &so, c->terminals, sizeof c->terminals);
    rb_bus_opts_t ops = {.endpoint = c->cluster->bus,
                         .role = RB_ROLE_OPS,
                         .name = "bench-ops",
                         .curve_cert =
                             rb_cluster_key (c->cluster, "ops", "bench-ops"),
                         .broker_cert = c->cluster->broker_cert};
    c->ops = rb_bus_new (&ops);
    if (c->service && rb_bus_wait_ready (c->ops, 5000) == 0)
        return 0;
    rb_bcluster_stop (c);
    return -1;
}

void
rb_bench_send_get (void *sock, uint64_t corr, int key)
{
    char k[32];
    snprintf (k, sizeof k, "k%d", key);
    rb_header_t h = {.kind = RB_K_REQUEST, .type = RB_T_GET, .corr = corr};
    rb_body_t b;
    rb_body_init (&b, RB_T_GET);
    b.key = rb_str (k);
    rb_msg_send (sock, &h, &b);
}

rb_expect_t
rb_bcluster_filled (int len)
{
    static char v[65536];
    if (!v[0])
        memset (v, 'v', sizeof v);
    return (rb_expect_t){v, len < 0 ? 0 : len > 65536 ? 65536 : (size_t) len};
}

bool
rb_bench_correct (zmsg_t *msg, rb_expect_t expect)
{
    rb_header_t h;
    rb_body_t b;
    rb_body_init (&b, RB_T_NONE);
    bool decoded = rb_msg_decode (msg, NULL, &h, &b, NULL) == RB_OK;
    /* an echo baseline's answer is the GET sent: decoded and checked as
       fully as an ANSWER is, so both sides cost the client the same */
    bool ok = expect.ptr
                  ? decoded && b.type == RB_T_ANSWER && b.answer == RB_ANS_OK &&
                        b.has_value && b.value.len == expect.len &&
                        memcmp (b.value.ptr, expect.ptr, expect.len) == 0
                  : decoded && b.type == RB_T_GET;
    rb_body_release (&b);
    return ok;
}

double
rb_bench_terminal (const char *endpoint, int depth, int nkeys,
                   rb_expect_t expect, double seconds, rb_samples_t *lat,
                   long *wrong)
{
    return rb_bench_terminal_n (endpoint, depth, nkeys, expect, seconds, lat,
                                wrong, NULL);
}

double
rb_bench_terminal_n (const char *endpoint, int depth, int nkeys,
                     rb_expect_t expect, double seconds, rb_samples_t *lat,
                     long *wrong, long *answered)
{
    zsock_t *sock = zsock_new_dealer (endpoint);
    zsock_set_rcvtimeo (sock, 5000);
    double *sent = (double *) calloc ((size_t) depth, sizeof (double));
    int next_key = 0;
    for (int i = 0; i < depth; i++) {
        sent[i] = rb_now_us ();
        rb_bench_send_get (sock, (uint64_t) i, next_key++ % nkeys);
    }
    long done = 0;
    double start = rb_now_us (), end = start + seconds * 1e6, now = start;
    while (now < end) {
        zmsg_t *msg = zmsg_recv (sock);
        if (!msg) {
            done = 0; /* 5 s without an answer: broken, not slow */
            break;
        }
        zframe_t *hf = zmsg_first (msg);
        rb_header_t h;
        now = rb_now_us ();
        if (rb_header_decode (zframe_data (hf), zframe_size (hf), &h, NULL) ==
                0 &&
            h.corr < (uint64_t) depth) {
            if (!rb_bench_correct (msg, expect)) {
                if (wrong)
                    (*wrong)++;
            } else {
                if (lat)
                    rb_samples_add (lat, now - sent[h.corr]);
                done++;
            }
            sent[h.corr] = now;
            rb_bench_send_get (sock, h.corr, next_key++ % nkeys);
        }
        zmsg_destroy (&msg);
    }
    free (sent);
    zsock_destroy (&sock);
    if (answered)
        *answered = done;
    return done / ((now - start) / 1e6);
}

/*  --- orders ------------------------------------------------------------- */

typedef struct {
    int pending, failed;
} flow_t;

static void
s_acked (rb_bus_t *bus, const rb_header_t *h, const rb_body_t *b,
         zmsg_t **msg_p, void *arg, uint64_t cookie)
{
    flow_t *flow = (flow_t *) arg;
    flow->pending--;
    flow->failed += h->kind != RB_K_REPLY;
}

double
rb_bench_diffs (rb_bcluster_t *c, const char *tag, int n, int per, int window,
                uint64_t *seq, rb_samples_t *lat)
{
    rb_order_t *orders = (rb_order_t *) calloc ((size_t) per, sizeof *orders);
    char (*keys)[32] = calloc ((size_t) per, 32);
    static char value[RB_BENCH_VALUE_LEN];
    memset (value, 'v', sizeof value);
    flow_t flow = {0, 0};
    double start = rb_now_us ();
    for (int at = 0; at < n; at += per) {
        int count = n - at < per ? n - at : per;
        for (int i = 0; i < count; i++) {
            snprintf (keys[i], 32, "%sk%d", tag, at + i);
            orders[i] = (rb_order_t){++*seq, rb_str (keys[i]), RB_OP_PUT, true,
                                     rb_strn (value, RB_BENCH_VALUE_LEN)};
        }
        rb_body_t req;
        rb_body_init (&req, RB_T_DIFF);
        req.orders = orders;
        req.n_orders = (uint32_t) count;
        while (flow.pending >= window)
            rb_bus_poll (c->ops, 1);
        double sent = rb_now_us ();
        flow.pending++;
        rb_bus_request (c->ops, RB_ADDR_SERVICE, "db", &req, 60000, s_acked,
                        &flow, 0);
        while (lat && flow.pending > 0)
            rb_bus_poll (c->ops, 1);
        if (lat)
            rb_samples_add (lat, rb_now_us () - sent);
    }
    while (flow.pending > 0)
        rb_bus_poll (c->ops, 1);
    double secs = (rb_now_us () - start) / 1e6;
    free (orders);
    free (keys);
    return flow.failed ? 0 : secs;
}
