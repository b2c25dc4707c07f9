/*  rb_bench_cluster: the in-process cluster the bench scenarios drive:
    the broker, DB node and service node actors on one Redis, plus a
    terminal-side client that keeps N GETs in flight.  */
#ifndef RB_BENCH_CLUSTER_H
#define RB_BENCH_CLUSTER_H

#include <czmq.h>
#include <hiredis/hiredis.h>

#include "rb_bench.h"
#include "rb_bus.h"

typedef struct {
    zactor_t *broker, *db, *service;
    char bus[256], terminals[256];
    char backups[512];
    rb_bus_t *ops; /* role ops, synchronous */
} rb_bcluster_t;

/*  Flushes Redis, creates a dataset, starts the actors. cache_size and
    policy go to the service node.  */
int rb_bcluster_start (rb_bcluster_t *c, const rb_bench_opts_t *o,
                       uint32_t cache_size, int policy);
void rb_bcluster_stop (rb_bcluster_t *c);

/*  Writes n records "k<i>" of value_len bytes straight into Redis in
    the DB node's layout (seq 1), so a scenario starts with data.  */
int rb_bcluster_fill (const rb_bench_opts_t *o, int n, int value_len);

redisContext *rb_bench_redis (const rb_bench_opts_t *o);

/*  Keeps depth GETs for keys "k<i % nkeys>" in flight on a terminal
    endpoint for seconds; returns answers per second (0 on failure).
    Each answer's round trip goes into lat when given.  */
double rb_bench_terminal (const char *endpoint, int depth, int nkeys,
                          double seconds, rb_samples_t *lat);

#endif
