/*  rb_fixture: a cluster in its normal state, the prologue most system
    tests share: the tests' cluster (rb_cluster.h) with a dataset, the DB
    node db-1, a test node of role ops (ops-1) and one of role service
    (svc-1), and the DB answering; with max_wait_ms, both service nodes
    too (svc-latest, latest-only; svc-stale, stale-ok). It fails the
    running Check test when a part does not start.  */
#ifndef RB_FIXTURE_H
#define RB_FIXTURE_H

#include <czmq.h>
#include <stdbool.h>

#include "rb_cluster.h"
#include "rb_tnode.h"

typedef struct {
    bool tap;             /* the broker's tap on, see rb_fixture.c */
    int redis_timeout_ms; /* db-1's Redis timeout; 0: its default */
    int max_wait_ms;      /* > 0: both service nodes, with this max-wait */
} rb_fixture_opts_t;

typedef struct {
    rb_cluster_t *c;
    zactor_t *db;             /* db-1 */
    rb_tnode_t ops;           /* ops-1 */
    rb_tnode_t svc;           /* svc-1 */
    zactor_t *latest, *stale; /* svc-latest, svc-stale, or NULL */
    char latest_ep[256];      /* their terminal endpoints */
    char stale_ep[256];
} rb_fixture_t;

/*  Starts it all (opts NULL: all zeros) and waits until the DB answers. */
rb_fixture_t *rb_fixture_new (const rb_fixture_opts_t *opts);
/*  Stops every part still running (a test may have stopped one: NULL)
    and the cluster. NULL-safe; sets *self_p to NULL.  */
void rb_fixture_destroy (rb_fixture_t **self_p);

/*  The tests' cluster (opts as rb_cluster_new), failing the running test
    if it does not start.  */
rb_cluster_t *rb_fixture_cluster (const rb_cluster_opts_t *opts);

#endif
