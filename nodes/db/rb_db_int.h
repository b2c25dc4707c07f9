/*  rb_db_int: the DB node's modules and how they call each other
    (internal to the floor). Calls go down this list, never up:

      rb_db.c           the actor: start-up, the loop, the timer, --init
      rb_db_requests.c  the request table, a handler per request type
      rb_db_list.c      the recovery list and its end (FLAG, END)
      rb_db_reads.c     GET and GETS, batched into few script calls
      rb_db_job.c       backup and restore, in a thread of their own
      rb_db_backup.c    a backup's walk of every master into a file
      rb_db_load.c      a restore's load of the records into Redis
      rb_db_view.c      what the node knows of the dataset in Redis (id,
                        epoch, state); the RESET push; BACKUP_DIR/.dataset;
                        the check of every new Redis connection
      rb_db_opts.c      the options' fields; the store's from the node's

    and below them all rb_scripts (the Lua and their replies), rb_store
    (Redis) and rb_backup (the file). Each module owns its struct, in its
    own .c; the modules above hold a pointer to it (borrowed: rb_db.c
    makes and destroys them all) and call its functions. Names that cross
    files carry the rb_db__ marker.  */
#ifndef RB_DB_INT_H
#define RB_DB_INT_H

#ifndef RB_INSIDE_DB
#error "rb_db_int.h is internal to its floor; include its public header"
#endif

#include "rb_backup.h"
#include "rb_bus.h"
#include "rb_db.h"
#include "rb_msg.h"
#include "rb_scripts.h"
#include "rb_store.h"

/*  --- rb_db_opts.c ------------------------------------------------------- */

/*  The store's options from the node's (strings borrowed from o).  */
void rb_db__store_opts (const rb_db_opts_t *o, rb_store_opts_t *so);

/*  --- rb_db_view.c ------------------------------------------------------- */

typedef struct rb_db_view rb_db_view_t;

/*  Starts from BACKUP_DIR/.dataset (the dataset and epoch last served),
    in state NEEDS_RESTORE until Redis is read. opts, bus and store are
    borrowed: RESETs go out on bus, STATUS is read from store.  */
rb_db_view_t *rb_db__view_new (const rb_db_opts_t *opts, rb_bus_t *bus,
                               rb_store_t *store);
void rb_db__view_destroy (rb_db_view_t **self_p);

/*  The dataset id this node serves ("" if none yet; borrowed), the
    highest epoch seen, the state as last seen (rb_db_state_t), and the
    RESETs sent so far.  */
const char *rb_db__view_dataset (rb_db_view_t *self);
uint64_t rb_db__view_epoch (rb_db_view_t *self);
int rb_db__view_state (rb_db_view_t *self);
uint64_t rb_db__view_resets (rb_db_view_t *self);
/*  Keys still recovering, as the last STATUS read from Redis said.  */
uint64_t rb_db__view_recovering (rb_db_view_t *self);
/*  Transitions to RECOVERING this node made on finding its Redis may be
    behind (rb_failover.h), for STATUS.  */
uint64_t rb_db__view_failovers (rb_db_view_t *self);
/*  An ACK of ours told ops that orders up to watermark are applied to
    partition part, in epoch: a Redis (re)connected later that holds
    less there at that epoch lost them (rb_failover.h).  */
void rb_db__view_saw_acked (rb_db_view_t *self, int part, uint64_t epoch,
                            uint64_t watermark);
/*  "ID/EPOCH" into buf: what every script checks Redis against.  */
void rb_db__view_arg (rb_db_view_t *self, char *buf, size_t len);

/*  Notes the state a script answered: "ok" keeps it, anything else is a
    state word ("needs_restore", "foreign", "restoring" ...); "lagging"
    (a partition at an older epoch) changes no state, but the next
    refresh looks at every partition and brings those behind forward.  */
void rb_db__view_saw_state (rb_db_view_t *self, const char *word);
/*  Redis holds epoch: if it is newer than the node knew (a restore this
    node did not see through, e.g. its RESET was lost with a crash), it
    is kept, saved and sent to every service node as a RESET.  */
void rb_db__view_saw_epoch (rb_db_view_t *self, uint64_t epoch);
/*  A restore began here: Redis now holds an empty dataset at a new
    epoch. Saved, and every service node must drop what it cached
    (RESET).  */
void rb_db__view_restoring (rb_db_view_t *self, const char *dataset,
                            uint64_t epoch);
/*  Every partition was seen normal at epoch (a STATUS of them all, an
    END every one acknowledged, the check of one Redis): remembered when
    it is the epoch the node knows. A partition normal at an epoch stays
    normal until its epoch moves (docs/db.md, "The read path"), so a
    plain read whose single meta read after the records says normal at
    that epoch was normal throughout.  */
void rb_db__view_saw_normal (rb_db_view_t *self, uint64_t epoch);
/*  Whether the node knows, as above, that every partition was normal at
    the epoch it knows now (and the state it last saw is normal).  */
bool rb_db__view_normal_proven (rb_db_view_t *self);

/*  Reads the dataset, epoch and state from Redis (STATUS of every
    partition, merged); partitions left at an older epoch by a
    transition made on another (a failover seen on one master) follow
    it (FOLLOW): the dataset is then recovering at the newest epoch.  */
void rb_db__view_refresh (rb_db_view_t *self);
/*  Once a second: refresh, and a RESET again once per registration
    with the broker.  */
void rb_db__view_tick (rb_db_view_t *self);

/*  --- rb_db_job.c -------------------------------------------------------- */

typedef struct rb_db_job rb_db_job_t;

/*  The node's side of its backups and restores; opts, loop (the job's
    pipe is read in it), bus (the answer goes out on it) and view are
    borrowed.  */
rb_db_job_t *rb_db__job_new (const rb_db_opts_t *opts, zloop_t *loop,
                             rb_bus_t *bus, rb_db_view_t *view);
/*  Stops a job that runs, and waits for it.  */
void rb_db__job_destroy (rb_db_job_t **self_p);
bool rb_db__job_running (rb_db_job_t *self);
/*  The running or last restore: records loaded so far, and in its file
    (both 0 before the first restore).  */
void rb_db__job_progress (rb_db_job_t *self, uint64_t *loaded, uint64_t *total);
/*  Starts a backup or restore for the request h (body b), or answers
    wrong_state if one runs. The job answers h itself when it ends; a
    header with corr 0 and kind 0 (a scheduled backup) gets no answer.  */
void rb_db__job_start (rb_db_job_t *self, const rb_header_t *h,
                       const rb_body_t *b);

/*  --- rb_db_backup.c ----------------------------------------------------- */

typedef struct {
    const rb_db_opts_t *opts; /* backup_dir, backup_keep, name */
    const char *dataset;      /* the node's view when the job started */
    uint64_t epoch;
    rb_sign_key_t *key;             /* signs the file, or NULL */
    const rb_backup_trust_t *trust; /* what retention's reads must hold */
    bool (*stopping) (void *arg);   /* after each SCAN step: give up? */
    void *arg;
} rb_db_backup_opts_t;

typedef struct {
    char *path;         /* the file written (caller frees; NULL if none) */
    uint64_t records;   /* records in it */
    uint64_t watermark; /* its header's */
    uint64_t bytes;     /* its size */
} rb_db_backup_done_t;

/*  Writes a backup of every record in Redis (store: every master, at
    one slot map) into opts->backup_dir, then prunes it to backup-keep.
    The dataset must be in state normal at both ends, at the same epoch.
    0 with *done filled, or an RB_S_ code with err: RB_S_UNAVAILABLE
    (no dataset, Redis unreachable), RB_S_WRONG_STATE (not normal, a
    restore or a resharding meanwhile), RB_S_IO, RB_S_INTERNAL
    (stopping).  */
int rb_db__backup (rb_store_t *store, const rb_db_backup_opts_t *opts,
                   rb_db_backup_done_t *done, char *err, size_t errlen);

/*  --- rb_db_load.c ------------------------------------------------------- */

typedef struct {
    const char *name; /* the node's, for the log */
    /* each round: the restore lease's new end (ms since the epoch), and
       whether to give up */
    uint64_t (*lease_until) (void *arg);
    bool (*stopping) (void *arg);
    void *arg;
    /* after each round: the records loaded so far (NULL: not told) */
    void (*progress) (void *arg, uint64_t loaded);
} rb_db_load_opts_t;

/*  Loads every record reader has left into Redis (store), which
    RESTORE_BEGIN emptied, renewing the restore's lease each round.
    *records gets the records loaded. 0, or an RB_S_ code with err:
    RB_S_IO (Redis), RB_S_CORRUPT (the file, checked again as it is
    read), RB_S_INTERNAL (stopping).  */
int rb_db__load (rb_store_t *store, rb_backup_reader_t *reader,
                 const rb_db_load_opts_t *opts, uint64_t *records, char *err,
                 size_t errlen);

/*  --- rb_db_reads.c ------------------------------------------------------ */

/*  Answers a script call that did not go through: Redis unreachable (no
    reply), a Redis error (logged as node name's), a reply not understood
    (word ""), or the script's refusal (word: needs_restore, foreign, lagging,
    parts and restoring answer unavailable, any other word wrong_state). what
   names the request.  */
void rb_db__refuse (rb_bus_t *bus, rb_store_t *store, rb_db_view_t *view,
                    const char *name, const rb_header_t *h, const char *what,
                    const redisReply *reply, const char *word);

typedef struct rb_db_reads rb_db_reads_t;

typedef struct {
    uint64_t gets;    /* keys answered */
    uint64_t flagged; /* of them, with the recovering flag */
    uint64_t refused; /* GET and GETS requests refused */
    uint64_t plain;   /* keys answered by plain reads, no script */
} rb_db_read_counts_t;

/*  Everything passed is borrowed.  */
rb_db_reads_t *rb_db__reads_new (const rb_db_opts_t *opts, rb_bus_t *bus,
                                 rb_store_t *store, rb_db_view_t *view);
/*  Frees the reads still collected, answering nobody.  */
void rb_db__reads_destroy (rb_db_reads_t **self_p);
/*  Collects a GET or GETS (header h, body b); takes *msg_p, which holds
    the bytes its keys point into.  */
void rb_db__reads_add (rb_db_reads_t *self, const rb_header_t *h,
                       const rb_body_t *b, zmsg_t **msg_p);
/*  Reads every key collected from Redis and answers each request. */
void rb_db__reads_flush (rb_db_reads_t *self);
const rb_db_read_counts_t *rb_db__reads_counts (rb_db_reads_t *self);

/*  --- rb_db_list.c ------------------------------------------------------- */

typedef struct rb_db_list rb_db_list_t;

/*  The recovery list and its end; everything passed is borrowed.  */
rb_db_list_t *rb_db__list_new (const rb_db_opts_t *opts, rb_bus_t *bus,
                               rb_store_t *store, rb_db_view_t *view);
/*  Frees it (a batch still in flight is not read: its connection goes
    with the node).  */
void rb_db__list_destroy (rb_db_list_t **self_p);
/*  RECOVERY_LIST h with body b: its targets stored, then ACK (flagged)
    and the RECOVERED pushes, or the refusal. On one Redis the answer may
    wait in Redis until rb_db__list_read.  */
void rb_db__list_batch (rb_db_list_t *self, const rb_header_t *h,
                        const rb_body_t *b);
/*  One Redis: reads and answers the batch still in Redis, if any; to be
    called before anything else uses the connection.  */
void rb_db__list_read (rb_db_list_t *self);
/*  RECOVERY_END h: END on every partition; ACK when all are normal.  */
void rb_db__list_end (rb_db_list_t *self, const rb_header_t *h);
/*  Requests refused so far.  */
uint64_t rb_db__list_refused (rb_db_list_t *self);

/*  --- rb_db_requests.c --------------------------------------------------- */

typedef struct rb_db_requests rb_db_requests_t;

/*  Answers the requests of service "db" that come in on bus from now on
    (it sets the bus's request and idle handlers). Everything passed is
    borrowed.  */
rb_db_requests_t *rb_db__requests_new (const rb_db_opts_t *opts, rb_bus_t *bus,
                                       rb_store_t *store, rb_db_view_t *view,
                                       rb_db_job_t *job);
void rb_db__requests_destroy (rb_db_requests_t **self_p);

/*  The request counters (for the metrics). */
typedef struct {
    uint64_t gets, flagged, plain; /* keys answered; flagged; by plain reads */
    uint64_t orders, applied, skipped; /* orders and diffs taken; of them
                                          applied, skipped (not newer) */
    uint64_t refused;                  /* requests refused */
    uint64_t updates, recovered;       /* pushes sent, by kind */
    uint64_t waits, waits_short;       /* WAITs for replicas; ended short */
} rb_db_counts_t;

/*  Fills c, and st from the STATUS script (Redis's state, counts and
    watermark): 0, or -1 when Redis could not be read (st then
    unset).  */
int rb_db__requests_counts (rb_db_requests_t *self, rb_db_counts_t *c,
                            rb_status_reply_t *st);

/*  --- rb_db_metrics.c ------------------------------------------------------
 */

typedef struct rb_db_metrics rb_db_metrics_t;

/*  Serves the DB node's metrics on endpoint (none when NULL or ""),
    rendered by a timer on loop from the parts (borrowed; they outlive
    it). NULL when none, or logged when it could not listen.  */
rb_db_metrics_t *rb_db__metrics_new (const char *endpoint, zloop_t *loop,
                                     const char *name, rb_store_t *store,
                                     rb_db_view_t *view, rb_db_job_t *job,
                                     rb_db_requests_t *requests);
void rb_db__metrics_destroy (rb_db_metrics_t **self_p);

#endif
