/*  rb_service_int: what the service node's files share (internal).

    rb_service.c is the actor: terminals, the cache path, pushes,
    counters. It creates rb_waits.c's table of terminals parked on keys
    and calls it; the waits answer terminals only through the function
    the actor gave them, so calls go one way: rb_service -> rb_waits ->
    rb_cache (and the bus).  */
#ifndef RB_SERVICE_INT_H
#define RB_SERVICE_INT_H

#ifndef RB_INSIDE_SERVICE
#error "rb_service_int.h is internal to its floor; include its public header"
#endif

#include "rb_metrics.h"
#include "rb_bus.h"
#include "rb_cache.h"
#include "rb_msg.h"
#include "rb_service.h"

#define RB_SVC__ID_MAX 255 /* bytes in a terminal's routing id */

/*  Who asked: a terminal's routing id (borrowed) and its correlation id.
    The answer goes there.  */
typedef struct {
    const uint8_t *id;
    size_t id_len;
    uint64_t corr;
} rb_asker_t;

/*  --- rb_waits.c: terminals waiting on keys, and each key's poll stream */

typedef struct rb_waits rb_waits_t;

typedef struct {
    int policy;           /* rb_policy_t: what a flagged answer becomes */
    int max_wait_ms;      /* longest a terminal waits */
    int poll_min_ms;      /* back-off of re-polls: first delay */
    int poll_max_ms;      /* and the longest */
    int db_timeout_ms;    /* deadline of one GET to "db" */
    uint32_t waits_max;   /* keys waited on at once, at most */
    uint32_t waiters_max; /* terminals waiting on one key, at most */
    int poll_rate;        /* timed re-polls a second, at most (0: any) */
} rb_waits_opts_t;

/*  Answers one terminal: status is an rb_answer_t; d the DB's DATA whose
    seq and value go with it, or NULL for none.  */
typedef void (rb_waits__answer_fn) (void *arg, const rb_asker_t *to,
                                    const char *key, int status,
                                    const rb_body_t *d);

/*  A waits table that polls "db" through bus and keeps cache (whose
    epoch is the newest the node has seen) current with what it reads;
    both are borrowed and must outlive it. Every answer goes through
    answer (with arg).  */
rb_waits_t *rb_waits__new (const rb_waits_opts_t *opts, rb_bus_t *bus,
                           rb_cache_t *cache, rb_waits__answer_fn *answer,
                           void *arg);
/*  Frees every wait, answering nobody (at shutdown).  */
void rb_waits__destroy (rb_waits_t **self_p);

/*  Parks a terminal request on key (a cache miss); starts or joins the
    key's poll stream. from->id_len is at most RB_SVC__ID_MAX; the id is
    copied. Returns 0, or -1 when waits_max keys are waited on already or
    key has waiters_max waiters: nothing is parked (the caller answers
    unavailable at once), and the refusal is counted.  */
int rb_waits__add (rb_waits_t *self, rb_str_t key, const rb_asker_t *from);
/*  Requests refused by the caps of rb_waits__add.  */
uint64_t rb_waits__refused (rb_waits_t *self);
/*  Re-polls that had to wait for poll_rate.  */
uint64_t rb_waits__held (rb_waits_t *self);
/*  An UPDATE push for key: an answer older than it, read by another DB
    node before the order, is not used.  */
void rb_waits__updated (rb_waits_t *self, rb_str_t key, uint64_t seq,
                        uint64_t epoch);
/*  A RECOVERED push for key: poll it now.  */
void rb_waits__recovered (rb_waits_t *self, rb_str_t key);
/*  Sends the polls queued since the last flush (as few GETS as it
    can); call it when a wake-up's work is done.  */
void rb_waits__flush (rb_waits_t *self);
/*  Deadlines and due re-polls; called every few ms.  */
void rb_waits__tick (rb_waits_t *self);

/*  Keys waited on now.  */
uint32_t rb_waits__count (rb_waits_t *self);
/*  GETs sent to "db" so far.  */
uint64_t rb_waits__polls (rb_waits_t *self);
/*  How long each parked terminal waited for its answer (borrowed). */
const rb_mhist_t *rb_waits__wait_time (rb_waits_t *self);

/*  --- rb_service_metrics.c: the Prometheus metrics ------------------------ */

/*  What the service node counts, as its metrics show it. */
typedef struct {
    uint64_t answers[4]; /* by status: ok, not_found, stale, unavailable */
    uint64_t hits, misses, polls, resets, updates, recovered, refused;
    uint32_t waits, cached, cache_max; /* now */
    const rb_mhist_t *wait_time;       /* borrowed */
} rb_svc__counts_t;

typedef void (rb_svc__counts_fn) (void *arg, rb_svc__counts_t *c);
typedef struct rb_svc_metrics rb_svc_metrics_t;

/*  Serves the node's metrics on endpoint (none when NULL or ""): a timer
    on loop renders what counts (with arg) fills. NULL when none, or
    logged when it could not listen.  */
rb_svc_metrics_t *rb_svc__metrics_new (const char *endpoint, zloop_t *loop,
                                       const char *name,
                                       rb_svc__counts_fn *counts, void *arg);
void rb_svc__metrics_destroy (rb_svc_metrics_t **self_p);

#endif
