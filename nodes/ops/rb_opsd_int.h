/*  rb_opsd_int: what the ops node's files share (recobus-ops serve,
    docs/operations.md "The ops node"). Calls go one way, down:
      rb_opsd.c         start, the loop, STATUS, signals, stop
      rb_opsd_watch.c   the DB's state every watch-interval; the
                        recovery, run by an actor of its own
      rb_opsd_send.c    SUBMITs: journaled once per request id, sent to
                        the DB, answered; pending orders re-sent
      rb_opsd_metrics.c --metrics: the numbers below for Prometheus
    The node is the journal's single writer: only its loop's thread
    touches the journal (the recovery actor reads its own read-only
    handle).  */
#ifndef RB_OPSD_INT_H
#define RB_OPSD_INT_H

#include "rb_metrics.h"
#include "rb_notify.h"
#include "rb_ops_int.h"

#define OPSD_SUBS_MAX    64    /* SUBMITs waiting for the DB at once */
#define OPSD_SYNCS_MAX   16    /* syncs waiting for a re-send at once */
#define OPSD_ITEMS_MAX   32    /* items in one INFO answer */
#define OPSD_BACKOFF_MAX 30000 /* ms between two failed recoveries, most */

typedef struct opsd_sub opsd_sub_t;
typedef struct opsd_resend opsd_resend_t;

typedef struct {
    rb_ops_opts_t opts;
    char name[RB_NAME_MAX + 1]; /* ours on the bus */
    char sidecar[4200];         /* JOURNAL.serve: names us */
    rb_journal_t *journal;      /* held, exclusively, for our life */
    rb_bus_t *bus;
    zloop_t *loop;
    rb_notify_t *notify;   /* systemd's READY, STATUS, WATCHDOG */
    rb_metrics_t *metrics; /* --metrics, or NULL */
    /* the DB, as its last STATUS said */
    bool status_out;   /* a STATUS is in flight */
    bool db_ok;        /* the last STATUS (or send) was answered */
    char db_state[32]; /* normal, recovering, ... or "" */
    uint64_t db_list_complete;
    char db_why[600]; /* why it is not ok */
    /* SUBMITs whose DIFF is out to the DB */
    opsd_sub_t *subs[OPSD_SUBS_MAX];
    /* the re-send of pending orders under way, or NULL */
    opsd_resend_t *resend;
    rb_header_t syncs[OPSD_SYNCS_MAX]; /* syncs waiting for it */
    int n_syncs;
    /* the recovery */
    zactor_t *recovery; /* running, or NULL */
    int stop;           /* set (atomically) to make it stop */
    char phase[16];     /* idle, scan, list, diffs, done, failed */
    uint64_t rec_keys, rec_listed, rec_diffs, rec_runs;
    int rec_rc;          /* the last run's exit code */
    int64_t rec_next;    /* not before this (zclock_mono ms) */
    int rec_backoff;     /* ms after the next failure */
    char rec_error[200]; /* the last failure, or "" */
    /* counters since start */
    uint64_t submits, journaled, repeats, refused, overloaded, resent,
        resend_runs, db_failures;
    uint64_t acked, rejected; /* orders the DB settled, for good */
} opsd_t;

/*  --- rb_opsd_send.c ------------------------------------------------- */

/*  An INFO answer being put together. */
typedef struct {
    rb_item_t items[OPSD_ITEMS_MAX];
    uint32_t n;
} opsd_items_t;

void opsd_num (opsd_items_t *it, const char *name, uint64_t v);
/*  text is borrowed until the answer is sent. */
void opsd_text (opsd_items_t *it, const char *name, const char *text);
void opsd_answer (opsd_t *d, const rb_header_t *req, opsd_items_t *it);

/*  A SUBMIT (role checked by the caller's table). */
void opsd_submit (opsd_t *d, const rb_header_t *h, const rb_body_t *b);
/*  Starts re-sending the pending orders unless it runs already, the DB
    is out of reach or nothing is pending.  */
void opsd_resend_start (opsd_t *d);
/*  Answers every SUBMIT and sync in flight with ERROR unavailable
    (stopping), and forgets them.  */
void opsd_send_stop (opsd_t *d);

/*  --- rb_opsd_watch.c ------------------------------------------------ */

/*  Asks the DB's STATUS unless one is out; its answer may start a
    re-send or the recovery.  */
void opsd_watch_tick (opsd_t *d);
/*  Stops the recovery actor, if any (waits for its batches in flight). */
void opsd_watch_stop (opsd_t *d);
/*  The recovery's part of our STATUS. */
void opsd_watch_items (opsd_t *d, opsd_items_t *it);

/*  --- rb_opsd_metrics.c ---------------------------------------------- */

/*  Serves GET /metrics on opts.metrics, unless it is empty; a failed
    bind is logged and the node goes on without.  */
void opsd_metrics_start (opsd_t *d);
/*  Stops the server (the loop has stopped). */
void opsd_metrics_stop (opsd_t *d);

#endif
