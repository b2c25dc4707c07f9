/*  e2e_world: one seed's cluster and what drives it, shared by the
    scenario (test_e2e.c), its processes and recobus-ops runs
    (e2e_world.c, e2e_ops.c) and its fault episodes (e2e_faults.c).  */
#ifndef E2E_WORLD_H
#define E2E_WORLD_H

#include <czmq.h>
#include <jansson.h>

#include "e2e.h"
#include "rb_cluster.h"
#include "rb_opsrun.h"
#include "rb_proc.h"

#define E2E_MAX_WAIT     800   /* both services' max-wait, ms */
#define E2E_POLL_MAX     200   /* both services' longest re-poll, ms */
#define E2E_REDIS_TMO    500   /* the DB nodes' redis-timeout, ms */
#define E2E_OPS_TIMEOUT  3000  /* recobus-ops --timeout while all is up */
#define E2E_DOWN_TIMEOUT 1000  /* and while a peer is down */
#define E2E_RUN_DEADLINE 30000 /* any recobus-ops run must end within, ms */
#define E2E_STATE_WAIT   15000 /* deadline of waiting for a DB state, ms */

/*  What a seed does, drawn from its seed.  */
typedef struct {
    int n_db;
    uint32_t cache_size;
    int disaster, fault; /* test_e2e.c's D_* and F_* */
    bool fault_in_diffs; /* hit after the list went out, not after the scan */
    bool two_backups, restore_older, restore;
    int batch; /* recover --batch */
    /* the fault episodes (e2e_fault_t), from a generator of their own so
       that the draws above stay what they were before them */
    int episodes[2][4]; /* before the disaster, after the recovery */
    int n_episodes[2];
    int restore_fault;    /* E2E_F_RESTORE_KILL / _TAKEOVER, or -1 */
    bool backup_flow;     /* the DB backs up every second */
    bool race_in_recover; /* orders at once while recover runs */
    int recover_delay_ms; /* the DB stays recovering before recover runs */
    int svc_proc;         /* the service run as a program, or -1 */
    bool pair;            /* a broker pair (docs/ha.md): pair-kill */
} e2e_plan_t;

typedef struct {
    e2e_plan_t plan;
    e2e_rng_t rng;  /* the scenario's draws */
    e2e_rng_t frng; /* the fault episodes' draws */
    e2e_model_t m;
    e2e_stats_t stats;
    rb_cluster_t *c; /* redis-server and the backup dir */
    int port;        /* the broker's */
    rb_proc_t *broker;
    int port2;          /* with plan.pair: the second broker's */
    rb_proc_t *broker2; /* c->bus then names both */
    rb_proc_t *db[2];
    zactor_t *svc[2];       /* in-process service nodes */
    rb_proc_t *svc_proc[2]; /* or the recobus-service program */
    char ep[2][256];        /* their terminal endpoints */
    e2e_load_opts_t load_opts;
    zactor_t *load;
    char *dir; /* journal, config and load files */
    char journal[512];
    char config[512];
    char first_backup[512];
    int values, files;
    pid_t stopped[8]; /* processes under SIGSTOP now */
    int n_stopped;
    char timeline[32768]; /* the steps, printed when a seed fails */
    size_t timeline_len;
} e2e_world_t;

/*  --- e2e_world.c: processes ---------------------------------------------- */

uint32_t e2e_rand (e2e_world_t *w, uint32_t n);
uint32_t e2e_frand (e2e_world_t *w, uint32_t n);
double e2e_ms (const e2e_world_t *w, int64_t us);
/*  Notes a step of the scenario on the seed's timeline. */
void e2e_step (e2e_world_t *w, const char *fmt, ...)
    __attribute__ ((format (printf, 2, 3)));

/*  Redis, broker, DB nodes, services (as w->plan says); stop removes
    all, the load too, resuming what is stopped first.  */
void e2e_world_start (e2e_world_t *w, uint64_t seed);
void e2e_world_stop (e2e_world_t *w);
/*  Fails the seed at once (timeline and daemon logs printed, every
    process stopped).  */
void e2e_world_abort (e2e_world_t *w, const char *fmt, ...)
    __attribute__ ((format (printf, 2, 3), noreturn));

void e2e_broker_start (e2e_world_t *w, bool new_port);
/*  The second broker of a pair (plan.pair), on its port once it has one. */
void e2e_broker2_start (e2e_world_t *w);
void e2e_db_start (e2e_world_t *w, int i, bool init);
/*  SIGKILL of *p_p, reaped.  */
void e2e_kill (e2e_world_t *w, rb_proc_t **p_p, const char *what);
/*  Service i (0 latest-only, 1 stale-ok), in-process or as a program on a
    fixed port when plan.svc_proc == i; restart only for the program.  */
void e2e_service_start (e2e_world_t *w, int i);

/*  SIGSTOP / SIGCONT of a process, remembered so that stop resumes it. */
void e2e_pause (e2e_world_t *w, pid_t pid, const char *what);
void e2e_resume (e2e_world_t *w, pid_t pid, const char *what);
/*  The redis-server holding key (on a Redis Cluster: the master of its
    partition).  */
pid_t e2e_redis_pid (e2e_world_t *w, int key);
/*  Waits until redis-server has unread bytes on a client connection (a
    command sent to it while stopped). Returns 0, or -1 at the deadline. */
int e2e_redis_wait_input (e2e_world_t *w, int key, int timeout_ms);

/*  The load: hold (returns a hot key latest-only answered ok last, or a
    random hot key) and go on.  */
int e2e_load_hold (e2e_world_t *w);
void e2e_load_go (e2e_world_t *w);
/*  One more GET of key to service svc from the load (recorded, checked). */
void e2e_load_ask (e2e_world_t *w, int svc, int key);

/*  --- e2e_ops.c: recobus-ops ---------------------------------------------- */

typedef struct {
    int rc;
    int64_t start, end;
    char *out, *err;
    json_t *json; /* the first line of out, if it is an object */
} e2e_run_t;

rb_proc_t *e2e_ops_start (e2e_world_t *w, int timeout_ms,
                          const char *const *args);
/*  Waits for it (E2E_RUN_DEADLINE), reads its output, destroys it. A
    damaged journal (exit 65 naming the journal) is a violation and
    aborts the seed.  */
e2e_run_t e2e_ops_wait (e2e_world_t *w, rb_proc_t **p_p, int64_t start);
e2e_run_t e2e_ops (e2e_world_t *w, int timeout_ms, const char *const *args);
#define E2E_OPS(w, timeout, ...)                                               \
    e2e_ops (w, timeout, (const char *[]){__VA_ARGS__, NULL})
void e2e_run_done (e2e_run_t *r);
uint64_t e2e_run_num (const e2e_run_t *r, const char *name);
const char *e2e_run_text (const e2e_run_t *r, const char *name);
/*  Aborts the seed unless r exited rc. */
void e2e_expect (e2e_world_t *w, const e2e_run_t *r, int rc, const char *what);

/*  An order under way: a recobus-ops put / delete started. */
typedef struct {
    int key;
    bool del;
    char value[E2E_VALUE];
    int64_t start;
    rb_proc_t *proc;
} e2e_pending_order_t;

/*  A key for an order: mostly hot, some bulk. */
int e2e_order_key (e2e_rng_t *rng);
/*  Starts a put or delete of key (-1: a random one).  */
void e2e_order_start (e2e_world_t *w, e2e_pending_order_t *o, int key, bool del,
                      int timeout_ms);
/*  Waits for it and records what it reported. Returns its exit code.  */
int e2e_order_finish (e2e_world_t *w, e2e_pending_order_t *o);
/*  n random orders, one after the other. down: a peer may be down
    (short timeout; pending is fine).  */
void e2e_orders (e2e_world_t *w, int n, bool down);

/*  A load under way: keys[0..n-1], one order each.  */
typedef struct {
    int keys[E2E_BULK + E2E_HOT];
    int n, first_value;
    char path[600];
    int64_t start;
    rb_proc_t *proc;
} e2e_pending_load_t;

void e2e_load_start (e2e_world_t *w, e2e_pending_load_t *l, const int *keys,
                     int n, int batch, int timeout_ms);
/*  Waits for it and records its orders; must: it has to succeed.  */
int e2e_load_finish (e2e_world_t *w, e2e_pending_load_t *l, bool must);
void e2e_bulk_load (e2e_world_t *w, int n);

/*  recobus-ops sync until it is not 69 (deadline E2E_STATE_WAIT); then
    the orders it re-sent are acknowledged; orders journaled by a killed
    recobus-ops are adopted from the journal. Returns its exit code;
    *resent (if not NULL) gets how many orders it re-sent.  */
int e2e_sync (e2e_world_t *w, uint64_t *resent);
/*  recobus-ops backup (path, if not NULL, gets its file).  */
void e2e_backup (e2e_world_t *w, char *path, size_t len);
/*  recobus-ops restore (NULL: the newest backup), recorded as a span
    (also when it fails: it may have begun), retried while a backup job
    holds the DB node. Returns its exit code.  */
int e2e_restore (e2e_world_t *w, const char *path);
/*  Waits (E2E_STATE_WAIT) until the broker no longer lists node name
    (it expired the node). 0, or -1 at the deadline.  */
int e2e_wait_expired (e2e_world_t *w, const char *name);
/*  Heals window now, then waits (E2E_STATE_WAIT) until the cluster is
    whole again: the DB answers and the broker lists every DB node and
    both services; then marks it so. Not whole in time is a violation. */
void e2e_heal (e2e_world_t *w, int window);
/*  The DB's state as recobus-ops status sees it (caller frees). */
char *e2e_state (e2e_world_t *w);
/*  recobus-ops status, again until a DB node that reads Redis answers
    (E2E_STATE_WAIT).  */
e2e_run_t e2e_status (e2e_world_t *w);
/*  Waits until the DB answers (not unreachable, not restoring). */
char *e2e_wait_reachable (e2e_world_t *w);
/*  The journal's size in bytes now (0 if it is missing).  */
long e2e_journal_size (e2e_world_t *w);

/*  --- e2e_faults.c: the fault episodes ----------------------------------- */

/*  Draws the episodes of the plan (w->frng).  */
void e2e_faults_plan (e2e_world_t *w);
/*  Runs episode `fault` (an e2e_fault_t of the episode kinds).  */
void e2e_fault_run (e2e_world_t *w, int fault);
/*  Runs the plan's episodes of phase 0 (before the disaster) or 1
    (after the recovery).  */
void e2e_faults_phase (e2e_world_t *w, int phase);
/*  Orders issued at once, several recobus-ops side by side (some of them
    while another command holds the journal).  */
void e2e_orders_at_once (e2e_world_t *w, int n, int timeout_ms);
/*  The restore with the plan's restore fault (or none). Returns the exit
    code of the restore that counted.  */
int e2e_restore_faulty (e2e_world_t *w, const char *path);

#endif
