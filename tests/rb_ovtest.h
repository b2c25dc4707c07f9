/*  rb_ovtest: the overload suite's helpers (test_overload): real daemons
    (rb_pcluster) with a config, a legitimate terminal asking one GET at
    a time, the daemons' STATUS counters, orders in bulk, floods, and
    peak RSS against a bound. They fail the running Check test when a
    step fails; every wait is on a condition with a deadline.  */
#ifndef RB_OVTEST_H
#define RB_OVTEST_H

#include <check.h>
#include <czmq.h>
#include <stdbool.h>
#include <stdint.h>

#include "rb_flood.h"
#include "rb_pcluster.h"
#include "rb_tnode.h"

#define WAIT_MS 5000 /* the longest wait for anything legitimate */
#define MB      1024 /* kB */

/*  A legitimate terminal: one DEALER, one GET at a time. */
typedef struct {
    zsock_t *sock;
    uint64_t corr;
    int64_t worst_ms; /* its slowest answer so far */
} legit_t;

typedef struct {
    bool answered;
    int status; /* rb_answer_t */
    char value[64];
} answer_t;

/*  Real daemons with config (ZPL; NULL: none), one service node svc-1
    with policy (NULL: none), CurveZMQ or plain, the broker's tap or
    not, and the test's ops node ops on their bus, the DB answering.  */
rb_pcluster_t *ov_cluster (bool curve, bool tap, const char *config,
                           const char *policy, rb_tnode_t *ops);
/*  Every daemon alive, then each exits 0 on SIGTERM.  */
void ov_stop (rb_pcluster_t **pc, rb_tnode_t *ops);

/*  A legitimate terminal on a service node's endpoint.  */
void ov_legit (legit_t *t, const char *endpoint);
/*  One GET, its answer within timeout_ms (answered false if none).  */
answer_t ov_ask (legit_t *t, const char *key, int timeout_ms);
/*  The GET answered ok with value within timeout_ms, or the test fails. */
void ov_expect_ok (legit_t *t, const char *key, const char *value,
                   int timeout_ms);

/*  A numeric item of the STATUS of dest (a service or node; 0 if left
    out), of the broker, of svc-1.  */
uint64_t ov_status (rb_tnode_t *ops, int addr, const char *dest,
                    const char *name);
uint64_t ov_broker_num (rb_tnode_t *ops, const char *name);
uint64_t ov_svc_num (rb_tnode_t *ops, const char *name);

/*  Puts n records PREFIX<i> = value, seqs from seq on, 32 in flight;
    every one acknowledged.  */
void ov_orders (rb_tnode_t *ops, const char *prefix, int n, const char *value,
                uint64_t seq);
/*  A flood, started or the test fails.  */
rb_flood_t *ov_flood (const rb_flood_opts_t *o);
/*  A daemon's peak RSS, kB.  */
long ov_peak_kb (rb_proc_t *p);
/*  Its growth under bound (both kB), except under AddressSanitizer.  */
void ov_rss_within (const char *who, long grew_kb, long bound_kb);

#endif
