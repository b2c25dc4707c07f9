/*  e2e: what the seeded end-to-end run (test_e2e.c) shares with its
    terminal load (e2e_load.c), its model of what was done (e2e_model.c),
    its checker (e2e_check.c), its journal reader (e2e_journal.c) and its
    figures (e2e_stats.c).

    The scenario writes down every order it issued (seq, key, put or
    delete, value) with the time the ops side had it acknowledged, every
    restore and every end of a recovery, and every fault it injected as a
    window from its start to its heal; the load records every terminal
    answer and every direct DB answer (a probe) with the time its request
    was sent and the time the answer came. The checker then holds each
    answer against those facts. Times are microseconds on the monotonic
    clock (e2e_us), the same in every thread.  */
#ifndef E2E_H
#define E2E_H

#include <czmq.h>
#include <stdbool.h>
#include <stdint.h>

#include "rb_tnode.h"

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
/*  The index of a key's name, or -1 if it is not one of ours. */
int e2e_key_index (const char *name, size_t len);
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
    int max_wait_ms;         /* of both services */
    const char *curve_cert;  /* the probes' key (an ops key), or NULL */
    const char *broker_cert; /* the broker's public certificate */
} e2e_load_opts_t;

/*  The load actor. Sends GETs to both services (many in flight, from a
    few terminals each) and probes the db service directly, at a steady
    pace. Commands on its pipe:
    - "HOLD": sends nothing new and, once nothing is in flight (or after
      max-wait plus a margin), answers picture "i": the hot key whose
      latest-only `ok` answer came last (-1 if none), one the service
      has cached unless its cache is tiny;
    - "GO": sends again;
    - "ASK" SVC KEY (decimal strings): one more GET of key KEY to service
      SVC (0 latest-only, 1 stale-ok), whatever is in flight;
    - "STOP": waits for what is still in flight (up to max-wait plus a
      margin) and answers "pi": its records (the caller frees them) and
      their count.  */
void e2e_load_actor (zsock_t *pipe, void *args);

/*  --- faults -------------------------------------------------------------- */

/*  Every kind of fault a seed may inject, for the windows and figures. */
typedef enum {
    E2E_F_FLUSHALL,         /* disaster: FLUSHALL */
    E2E_F_REDIS_RESTART,    /* disaster: redis-server killed, back empty */
    E2E_F_DB_FLUSH,         /* disaster: every DB node killed, FLUSHALL */
    E2E_F_DB_KILL,          /* disaster: SIGKILL of db-1, restarted */
    E2E_F_BROKER_KILL,      /* disaster: SIGKILL of the broker, restarted */
    E2E_F_REC_KILL_OPS,     /* mid-recover: SIGKILL of recobus-ops */
    E2E_F_REC_KILL_DB,      /* mid-recover: SIGKILL of db-1 */
    E2E_F_REC_KILL_BROKER,  /* mid-recover: SIGKILL of the broker */
    E2E_F_REC_FLUSH,        /* mid-recover: FLUSHALL */
    E2E_F_OPS_RACE,         /* several recobus-ops at once, one journal */
    E2E_F_REDIS_STALL,      /* SIGSTOP redis-server while an order goes */
    E2E_F_DB_PAUSE,         /* SIGSTOP of the DB nodes */
    E2E_F_BROKER_PAUSE,     /* SIGSTOP of the broker */
    E2E_F_DB_KILL_APPLY,    /* SIGKILL of the DB nodes, APPLY in Redis */
    E2E_F_OPS_KILL,         /* SIGKILL of recobus-ops after its fsync */
    E2E_F_SVC_KILL,         /* SIGKILL of a service node, restarted */
    E2E_F_SVC_PAUSE,        /* SIGSTOP of a service node */
    E2E_F_RESTORE_KILL,     /* SIGKILL of the restoring DB node */
    E2E_F_RESTORE_TAKEOVER, /* the same, the lease taken over by db-2 */
    E2E_F_BACKUP_FLOW,      /* restore from a backup taken mid-orders */
    E2E_F_PAIR_KILL,        /* SIGKILL of one broker of a pair, restarted */
    E2E_F_REDIS_REWIND,     /* redis-server back from an older snapshot */
    E2E_F_COUNT
} e2e_fault_t;

const char *e2e_fault_name (int fault);
/*  Whether the fault makes services unable to answer currently: only
    then may they answer `unavailable` before max-wait.  */
bool e2e_fault_is_outage (int fault);

/*  A fault from its start to its heal (the faulty part running again)
    and on to when the cluster was seen whole again (the DB answering,
    every node registered with the broker).  */
typedef struct {
    uint8_t fault; /* e2e_fault_t */
    int8_t svc;    /* -1: it hits every service; else only that one */
    int64_t start; /* when it began */
    int64_t heal;  /* E2E_NEVER while it lasts */
    int64_t whole; /* E2E_NEVER until seen */
} e2e_window_t;

#define E2E_WINDOWS 32

/*  ms the final check keeps asking a key the DB answers unavailable (a DB
    node reconnects to Redis on its 1-s refresh) */
#define E2E_FINAL_WAIT 5000

/*  Past the end of a window (whole, else heal), how long an answer may
    still be `unavailable` at once (docs/faults-testing.md). After a
    process fault: a service's GET sent to a DB node that died before the
    broker expired it is lost, and answered at db-timeout (1000 ms).
    After a fault healed by a restore (the data lost), and a restore
    itself: another DB node learns the new state on its next one-second
    refresh.  */
#define E2E_GRACE_US         1000000
#define E2E_RESTORE_GRACE_US 1500000
int64_t e2e_fault_grace_us (int fault);

/*  --- what the scenario did ------------------------------------------- */

typedef struct {
    bool known; /* a command reported this seq (or it was adopted) */
    uint16_t key;
    bool del;
    char value[E2E_VALUE];
    int64_t cmd_start; /* its recobus-ops started */
    int64_t cmd_end;   /* and exited */
    int64_t acked;     /* known applied by the DB from then on, or NEVER */
    char by[16];       /* the command that reported it */
} e2e_order_t;

typedef struct {
    int64_t start, end; /* recobus-ops restore ran from .. to */
} e2e_span_t;

#define E2E_SPANS 16

typedef struct {
    uint64_t seed;
    int64_t t0;          /* the seed's start, for readable times */
    int max_wait_ms;     /* of both services */
    int poll_max_ms;     /* of both services: longest re-poll back-off */
    e2e_order_t *orders; /* by seq - 1 */
    uint64_t n_orders;   /* = the highest seq known */
    uint64_t cap_orders;
    e2e_span_t restores[E2E_SPANS];
    int n_restores;
    int64_t normal[E2E_SPANS]; /* the DB was seen normal again, after
                                  restores[i] */
    e2e_window_t windows[E2E_WINDOWS];
    int n_windows;
    int n_violations;
} e2e_model_t;

/*  Order seq, journaled by a recobus-ops `by` that ran from start to end;
    acked: it exited 0 (value "" for a delete). Seqs may come in any
    order; a seq reported twice is a violation (the first one stays).  */
void e2e_model_add (e2e_model_t *m, uint64_t seq, int key, bool del,
                    const char *value, int64_t start, int64_t end, bool acked,
                    const char *by);
/*  A command (put, delete, load, sync, recover) that ran from start to
    end and exited 0 first re-sent every order still pending when it
    took the journal: those are applied since its end.  */
void e2e_model_settle (e2e_model_t *m, int64_t start, int64_t end);
/*  The data changed under the services from start (a restore began,
    Redis came back older than what was acknowledged) and the DB was
    recovering (or restoring) by end: a span like a restore's, its
    recovery not yet seen complete.  */
void e2e_model_span (e2e_model_t *m, int64_t start, int64_t end);
/*  The DB was seen normal at when: the recovery after the last span
    ended then (if no earlier sighting said so).  */
void e2e_model_recovered (e2e_model_t *m, int64_t when);
/*  Order seq, or NULL if no command reported it. */
const e2e_order_t *e2e_model_order (const e2e_model_t *m, uint64_t seq);
void e2e_model_free (e2e_model_t *m);

/*  A fault begins now (returns its window) / heals now / was seen whole
    now. svc: -1 every service, else the only one it hits.  */
int e2e_fault_begin (e2e_model_t *m, int fault, int svc);
void e2e_fault_heal (e2e_model_t *m, int window);
void e2e_fault_whole (e2e_model_t *m, int window);
/*  Heals every open window of these faults (a mask of 1 << fault), and
    sees them whole: a restore just ended.  */
void e2e_fault_heal_all (e2e_model_t *m, uint32_t faults);

/*  Records one violation (printed at once, with the seed and the time
    since t0).  */
void e2e_violation (e2e_model_t *m, const char *fmt, ...)
    __attribute__ ((format (printf, 2, 3)));

/*  The newest order of key, or NULL if it was never written. */
const e2e_order_t *e2e_newest (const e2e_model_t *m, int key, uint64_t *seq);

/*  --- figures ------------------------------------------------------------ */

#define E2E_HEALS 64

typedef struct {
    uint64_t answers[3][5]; /* who x RB_ANS_* (probes: 0 error, 1 clear,
                               2 flagged); column 0 also errors */
    uint64_t faults[E2E_F_COUNT];
    uint64_t unavailable[E2E_F_COUNT + 1]; /* by the fault it fell in;
                                              last: in none */
    uint64_t lost;             /* requests lost with a killed service node */
    double heal_ms[E2E_HEALS]; /* first `ok` after each heal */
    int n_heals;
    double heal_max[E2E_F_COUNT]; /* the longest of those, per fault */
    int violations;
    double secs;
} e2e_stats_t;

/*  Prints one seed's figures (label "RECOBUS_SEED=N") or a run's. */
void e2e_stats_print (const e2e_stats_t *s, const char *label);
/*  Appends a seed's figures to path as one line (for the run's totals:
    every seed runs in a forked child).  */
void e2e_stats_append (const char *path, uint64_t seed, const e2e_stats_t *s);
/*  Reads every line of path and prints the run's totals. */
void e2e_stats_report (const char *path);

/*  --- the checks --------------------------------------------------------- */

/*  Holds every record against the rules (e2e_check.c has them); fills
    stats' answer, unavailable and heal figures; returns the number of
    violations found (also added to m->n_violations).  */
int e2e_check_answers (e2e_model_t *m, const e2e_rec_t *recs, size_t n,
                       e2e_stats_t *stats);

/*  At the end, the DB normal: every key read straight from the DB (a bus
    node on c's broker), and through each service node, is its newest
    order. Violations are added to m.  */
void e2e_check_final_db (e2e_model_t *m, rb_cluster_t *c);
void e2e_check_final_services (e2e_model_t *m, const char *const endpoints[2],
                               int max_wait_ms);

/*  --- the journal, read on its own ------------------------------------ */

/*  One order as the journal file holds it. */
typedef struct {
    uint64_t seq;
    int key; /* e2e_key_index, -1 if not ours */
    bool del;
    char value[E2E_VALUE];
} e2e_jorder_t;

typedef struct {
    e2e_jorder_t *orders; /* in file order */
    size_t n;
    char error[256]; /* "" when every record's checksums held */
} e2e_journal_t;

/*  Reads path with its own parser (docs/journal.md), checking every
    record's two CRC-32C, its layout and that seqs strictly increase.
    Returns 0, or -1 if the file cannot be read.  */
int e2e_journal_read (const char *path, e2e_journal_t *j);
void e2e_journal_free (e2e_journal_t *j);
/*  Adds to m every journaled order no command reported (its recobus-ops
    was killed), as acknowledged at end if acked: a sync that ran from
    start to end re-sent it. Returns how many.  */
int e2e_journal_adopt (e2e_model_t *m, const e2e_journal_t *j, int64_t start,
                       int64_t end, bool acked);
/*  The journal against the model: checksums hold, every reported order
    is journaled as reported, every journaled order was reported.  */
void e2e_journal_check (e2e_model_t *m, const e2e_journal_t *j);

#endif
