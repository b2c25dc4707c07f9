/*  rb_bench_cluster: the cluster the bench scenarios drive, made with the
    test harness (rb_cluster.h): the broker, a DB node and a service node
    actor on the bench's Redis, and an ops node on the bus; the records a
    scenario starts with; a terminal-side client that keeps N GETs in
    flight.  */
#ifndef RB_BENCH_CLUSTER_H
#define RB_BENCH_CLUSTER_H

#include <czmq.h>
#include <hiredis/hiredis.h>
#include <sys/types.h>

#include "rb_bench.h"
#include "rb_bus.h"
#include "rb_cluster.h"

typedef struct {
    rb_cluster_t *cluster; /* the bench's Redis, the broker, a backup dir */
    zactor_t *db, *service;
    char terminals[256]; /* the service node's terminal endpoint */
    rb_bus_t *ops;       /* role ops, synchronous */
} rb_bcluster_t;

/*  Flushes Redis, creates a dataset, starts the actors. cache_size and
    policy go to the service node. On failure, nothing is left running. */
int rb_bcluster_start (rb_bcluster_t *c, const rb_bench_opts_t *o,
                       uint32_t cache_size, int policy);
/*  The same, under CurveZMQ when curve is set (keys from the harness). */
int rb_bcluster_start_with (rb_bcluster_t *c, const rb_bench_opts_t *o,
                            uint32_t cache_size, int policy, bool curve);
/*  The same on a throwaway Redis Cluster of redis_masters masters and no
    replicas (the bench measures throughput) instead of the bench's Redis,
    when redis_masters > 0; c->cluster->rcluster is that cluster.  */
int rb_bcluster_start_on (rb_bcluster_t *c, const rb_bench_opts_t *o,
                          uint32_t cache_size, int policy, bool curve,
                          int redis_masters);
void rb_bcluster_stop (rb_bcluster_t *c);

/*  Writes n records "k<i>" of value_len bytes straight into Redis in
    the DB node's layout (seq 1), so a scenario starts with data.  */
int rb_bcluster_fill (const rb_bench_opts_t *o, int n, int value_len);

/*  The value every answer must carry: len bytes at ptr; ptr NULL: the
    answer must be the GET itself, echoed (a baseline that echoes), and
    it is decoded and checked as fully as an ANSWER.  */
typedef struct {
    const char *ptr;
    size_t len;
} rb_expect_t;
/*  What rb_bcluster_fill loads: len bytes of 'v' (len at most 65536). */
rb_expect_t rb_bcluster_filled (int len);

/*  Keeps depth GETs for keys "k<i % nkeys>" in flight on a terminal
    endpoint for seconds; returns correct answers per second (0 on
    failure): ANSWER ok with the expected value. Other answers are
    counted in *wrong (when given), not in the rate. Each counted
    answer's round trip goes into lat when given.  */
double rb_bench_terminal (const char *endpoint, int depth, int nkeys,
                          rb_expect_t expect, double seconds, rb_samples_t *lat,
                          long *wrong);
/*  The same, with the number of correct answers in *answered (when
    given): what a cost per answer divides by.  */
double rb_bench_terminal_n (const char *endpoint, int depth, int nkeys,
                            rb_expect_t expect, double seconds,
                            rb_samples_t *lat, long *wrong, long *answered);

#define RB_BENCH_VALUE_LEN 100 /* bytes of each order's value */

/*  n PUT orders of fresh keys "<tag>k<i>" (seqs from *seq + 1 on), sent
    to service db as DIFFs of per orders, window of them in flight;
    returns the seconds it took, 0 if one was not acknowledged. With lat,
    each DIFF's round trip goes into it (give window 1).  */
double rb_bench_diffs (rb_bcluster_t *c, const char *tag, int n, int per,
                       int window, uint64_t *seq, rb_samples_t *lat);

/*  A terminal's GET of "k<key>" with corr, sent on sock (a zsock_t or a
    bare libzmq socket).  */
void rb_bench_send_get (void *sock, uint64_t corr, int key);
/*  Whether msg, [header][body] as a terminal reads it, answers a GET ok
    with the expected value.  */
bool rb_bench_correct (zmsg_t *msg, rb_expect_t expect);

/*  The bare skeleton of the GET miss path: the processes and hops of the
    product with none of its logic. A terminal connects to a ROUTER/DEALER
    zmq_proxy (where the service node would be), which connects to a
    second one (the broker), to which a worker (the DB node) connects; it
    reads up to 512 requests per wake-up, pipelines one plain GET of
    "b<key>" per request to Redis (one round trip for the burst) and
    answers each as a service node answers a terminal. Each of the three
    is a forked child with a libzmq context of its own, on 127.0.0.1
    ephemeral ports.  */
typedef struct {
    pid_t pids[3];       /* the proxies and the worker; 0: not running */
    char terminals[256]; /* the first proxy's frontend */
} rb_skeleton_t;

/*  Starts the skeleton on the bench's Redis. On failure nothing is left
    running.  */
int rb_skeleton_start (rb_skeleton_t *s, const rb_bench_opts_t *o);
/*  Stops (SIGTERM, then SIGKILL past a deadline) and reaps the children. */
void rb_skeleton_stop (rb_skeleton_t *s);

#endif
