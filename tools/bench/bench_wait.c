/*  bench wait: what redis-wait-replicas 1 costs (docs/ha.md). Orders
    applied by a DB node that WAITs for one replica before each ACK,
    against the same DB node without the wait, alternating, on the
    bench's Redis given one replica (a throwaway redis-server of our own,
    REPLICAOF the bench's). Two figures: one order at a time, its round
    trip from the bus (what `recobus-ops put` waits for), and DIFF batches
    of 1000 orders, four in flight (a load, a recovery's diffs).  */
#include "rb_bench_cluster.h"
#include "rb_db.h"
#include "rb_msg.h"
#include "rb_redis.h"
#include "rb_service.h"

#include <string.h>

#define BATCH   1000
#define WINDOW  4
#define LINK_MS 10000 /* for the replica's link to come up */

/*  A replica of the bench's Redis, its link up; NULL if it cannot be. */
static rb_redis_t *
s_replica (const rb_bench_opts_t *o)
{
    rb_redis_t *r = rb_redis_start ();
    const char *colon = r ? strrchr (o->redis, ':') : NULL;
    if (!colon) {
        rb_redis_stop (&r);
        return NULL;
    }
    char host[64];
    snprintf (host, sizeof host, "%.*s", (int) (colon - o->redis), o->redis);
    freeReplyObject (rb_redis_cmd (r, "REPLICAOF %s %s", host, colon + 1));
    int64_t deadline = zclock_mono () + LINK_MS;
    while (zclock_mono () < deadline) {
        redisReply *info = rb_redis_cmd (r, "INFO replication");
        bool up = info && info->type == REDIS_REPLY_STRING &&
                  strstr (info->str, "master_link_status:up");
        freeReplyObject (info);
        if (up)
            return r;
        zclock_sleep (10); /* polling a condition, with a deadline */
    }
    fprintf (stderr, "bench wait: the replica's link never came up\n");
    rb_redis_stop (&r);
    return NULL;
}

/*  The DB node db-1 again, waiting for `replicas`; 0 once it answers. */
static int
s_db_swap (rb_bcluster_t *c, int replicas)
{
    zactor_destroy (&c->db);
    rb_db_opts_t opts = rb_cluster_db_opts (c->cluster, "db-1");
    opts.redis_wait_replicas = replicas;
    c->db = zactor_new (rb_db_actor, &opts); /* it copies its options */
    rb_body_t req;
    rb_body_init (&req, RB_T_STATUS);
    int64_t deadline = zclock_mono () + LINK_MS;
    while (zclock_mono () < deadline) {
        zmsg_t *reply = NULL;
        rb_header_t h;
        rb_body_t b;
        rb_body_init (&b, RB_T_NONE);
        int rc = rb_bus_call (c->ops, RB_ADDR_SERVICE, "db", &req, 1000, &reply,
                              &h, &b);
        rb_body_release (&b);
        zmsg_destroy (&reply);
        if (rc == 0)
            return 0;
    }
    return -1;
}

/*  One run of one side: the p50 of single orders' round trips (µs) into
 *p50, DIFF throughput (orders/s) returned; 0 on a failure.  */
static double
s_side (rb_bcluster_t *c, const rb_bench_opts_t *o, int run, int replicas,
        uint64_t *seq, double *p50)
{
    int singles = o->smoke ? 50 : 2000, bulk = o->smoke ? 5000 : 200000;
    if (s_db_swap (c, replicas))
        return 0;
    char tag[32];
    snprintf (tag, sizeof tag, "w%d-%d-s", run, replicas);
    rb_samples_t lat = {0};
    double a = rb_bench_diffs (c, tag, singles, 1, 1, seq, &lat);
    *p50 = a > 0 ? rb_samples_pct (&lat, 50) : 0;
    rb_samples_free (&lat);
    snprintf (tag, sizeof tag, "w%d-%d-b", run, replicas);
    double secs = rb_bench_diffs (c, tag, bulk, BATCH, WINDOW, seq, NULL);
    return a > 0 && secs > 0 ? bulk / secs : 0;
}

int
rb_bench_wait (const rb_bench_opts_t *o)
{
    rb_redis_t *replica = s_replica (o);
    rb_bcluster_t c;
    if (!replica || rb_bcluster_start (&c, o, 0, RB_POLICY_LATEST_ONLY)) {
        rb_redis_stop (&replica);
        return -1;
    }
    rb_figure_t one = {.name = "order round trip, WAIT for 1 replica",
                       .unit = "us",
                       .note = "the same DB node without redis-wait-replicas"};
    rb_figure_t bulk = {.name = "DIFF orders/s, WAIT for 1 replica",
                        .unit = "ord/s",
                        .higher_better = true,
                        .note = "batches of 1000, 4 in flight, no WAIT"};
    uint64_t seq = 0;
    int rc = 0;
    for (int run = 0; run < o->runs && rc == 0; run++) {
        double p50_wait, p50_plain;
        double b_wait = s_side (&c, o, run, 1, &seq, &p50_wait);
        double b_plain = s_side (&c, o, run, 0, &seq, &p50_plain);
        if (b_wait <= 0 || b_plain <= 0)
            rc = -1;
        rb_figure_add (&one, p50_wait, p50_plain);
        rb_figure_add (&bulk, b_wait, b_plain);
        fprintf (stderr,
                 "wait: run %d: order %.0f vs %.0f us, diffs %.0f vs %.0f "
                 "ord/s\n",
                 run + 1, p50_wait, p50_plain, b_wait, b_plain);
    }
    rb_report_add (&one);
    rb_report_add (&bulk);
    rb_bcluster_stop (&c);
    rb_redis_stop (&replica);
    return rc;
}
