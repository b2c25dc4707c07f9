/*  e2e: what the seeded end-to-end run (test_e2e.c) shares with its
    terminal load (e2e_load.c) and its checker (e2e_check.c).

    The scenario writes down every order it issued (seq, key, put or
    delete, value) with the time the ops side had it acknowledged, every
    restore and every end of a recovery; the load records every terminal
    answer and every direct DB answer (a probe) with the time its request
    was sent and the time the answer came. The checker then holds each
    answer against those facts. Times are microseconds on the monotonic
    clock (e2e_us), the same in every thread.  */
#ifndef E2E_H
#define E2E_H

#include <czmq.h>
#include <stdbool.h>
#include <stdint.h>

#include "rb_cluster.h"

/*  The key space: a small hot set (orders and GETs collide often), a
    bulk set (loaded in batches: recoveries have work to do) and a few
    keys nobody ever writes.  */
#define E2E_HOT    40
#define E2E_BULK   300
#define E2E_ABSENT 4
#define E2E_KEYS   (E2E_HOT + E2E_BULK + E2E_ABSENT)
#define E2E_VALUE  24 /* bytes of a value, NUL included */

#define E2E_NEVER INT64_MAX /* an order never acknowledged */

/*  Key i's name: h00.., b000.., x0.. */
const char *e2e_key (int i);
int64_t e2e_us (void);

/*  A small deterministic generator (splitmix64). */
typedef struct {
    uint64_t state;
} e2e_rng_t;

uint64_t e2e_rng_next (e2e_rng_t *r);
/*  Uniform in 0..n-1 (n > 0). */
uint32_t e2e_rng_below (e2e_rng_t *r, uint32_t n);

/*  --- what the load saw ------------------------------------------------- */

typedef enum { E2E_LATEST, E2E_STALE, E2E_PROBE } e2e_who_t;

/*  One request and its answer. For terminals status is an RB_ANS_*
    code; for probes 1 for DATA. error is the ERROR status code when an
    ERROR came instead (0 otherwise). done is 0 while unanswered.  */
typedef struct {
    int64_t sent, done;
    uint64_t seq, epoch;
    uint16_t key;
    uint8_t who;
    uint8_t status;
    uint16_t error;
    bool flagged, found, twice;
    char value[E2E_VALUE];
} e2e_rec_t;

typedef struct {
    const char *endpoint[2]; /* latest-only, stale-ok terminal endpoints */
    const char *bus;         /* the broker, for the probes */
    uint64_t seed;
    int max_wait_ms; /* of both services */
} e2e_load_opts_t;

/*  The load actor. Sends GETs to both services (many in flight, from a
    few terminals each) and probes the db service directly, at a steady
    pace, until told "STOP"; then waits for what is still in flight (up
    to max-wait plus a margin) and answers with "pi": its records (the
    caller frees them) and their count.  */
void e2e_load_actor (zsock_t *pipe, void *args);

/*  --- what the scenario did ------------------------------------------- */

typedef struct {
    uint16_t key;
    bool del;
    char value[E2E_VALUE];
    int64_t cmd_start; /* its recobus-ops started */
    int64_t cmd_end;   /* and exited */
    int64_t acked;     /* known applied by the DB from then on, or NEVER */
} e2e_order_t;

typedef struct {
    int64_t start, end; /* recobus-ops restore ran from .. to */
} e2e_span_t;

#define E2E_SPANS 16

typedef struct {
    uint64_t seed;
    int64_t t0;          /* the seed's start, for readable times */
    e2e_order_t *orders; /* by seq - 1 */
    uint64_t n_orders;   /* = the highest seq */
    e2e_span_t restores[E2E_SPANS];
    int n_restores;
    int64_t normal[E2E_SPANS]; /* the DB was seen normal again, after
                                  restores[i] */
    int n_violations;
    uint64_t cap_orders;
} e2e_model_t;

/*  Order seq (the next one: seqs are dense), journaled by a recobus-ops
    that ran from start to end; acked: it exited 0 (value "" for a
    delete).  */
void e2e_model_add (e2e_model_t *m, uint64_t seq, int key, bool del,
                    const char *value, int64_t start, int64_t end, bool acked);
/*  A command (put, delete, load, sync, recover) that ran from start to
    end and exited 0 first re-sent every order still pending when it
    began: those are applied since its end.  */
void e2e_model_settle (e2e_model_t *m, int64_t start, int64_t end);

/*  Records one violation (printed at once, with the seed and the time
    since t0).  */
void e2e_violation (e2e_model_t *m, const char *fmt, ...)
    __attribute__ ((format (printf, 2, 3)));

/*  Holds every record against the rules; returns the number of
    violations found (also added to m->n_violations).  */
int e2e_check_answers (e2e_model_t *m, const e2e_rec_t *recs, size_t n);

/*  The newest order of key, or NULL if it was never written. */
const e2e_order_t *e2e_newest (const e2e_model_t *m, int key, uint64_t *seq);

/*  At the end, the DB normal: every key read straight from the DB (a bus
    node on c's broker), and through each service node, is its newest
    order. Violations are added to m.  */
void e2e_check_final_db (e2e_model_t *m, rb_cluster_t *c);
void e2e_check_final_services (e2e_model_t *m, const char *const endpoints[2],
                               int max_wait_ms);

#endif
