/*  rb_db_int: what the DB node's source files share (internal).
    rb_db.c: actor, start-up, state; rb_db_requests.c: request handlers;
    rb_db_job.c: backup and restore in a thread of their own.  */
#ifndef RB_DB_INT_H
#define RB_DB_INT_H

#ifndef RB_INSIDE_DB
#error "rb_db_int.h is internal to its floor; include its public header"
#endif

#include "rb_bus.h"
#include "rb_db.h"
#include "rb_msg.h"
#include "rb_store.h"

/*  A GET waiting for the next Redis pipeline. */
typedef struct {
    zmsg_t *msg;        /* owns the bytes key points into */
    rb_header_t header; /* to answer */
    rb_str_t key;
} rb_get_t;

/*  The node. One per actor; every field is touched by its thread only. */
typedef struct {
    rb_db_opts_t opts; /* strings owned (copied at start) */
    zsock_t *pipe;     /* to the actor's owner */
    zloop_t *loop;
    rb_bus_t *bus;     /* worker of service "db" */
    rb_store_t *store; /* Redis */
    char dataset[33];  /* the dataset id this node serves, "" if none */
    uint64_t epoch;    /* highest epoch seen */
    int state;         /* rb_db_state_t as last seen in Redis */
    rb_get_t *gets;    /* GETs collected since the last pipeline */
    uint32_t n_gets, cap_gets;
    zactor_t *job;       /* backup or restore running, or NULL */
    rb_header_t job_req; /* the request the job answers */
    int job_kind;        /* RB_T_BACKUP or RB_T_RESTORE */
    int64_t next_backup; /* scheduled backups: when, zclock_mono () */
    uint64_t n_get, n_flagged, n_orders, n_refused; /* counters */
    uint64_t n_pushes, n_resets;                    /* pushes sent */
    uint32_t reset_regs; /* the bus registration a RESET was sent in */
} db_t;

/*  rb_db.c */
/*  Notes the state a script answered: "ok" keeps it, anything else is a
    state word ("needs_restore", "foreign", "restoring" ...).  */
void rb_db_saw_state (db_t *self, const char *word);
/*  The code and text to answer when a script refused: unavailable for
    needs_restore / foreign / restoring, wrong_state otherwise.  */
int rb_db_refusal (const char *word, const char **text);
int rb_db_dataset_save (db_t *self);
/*  Tells every service node the epoch (RESET): what they cached from an
    older one is dropped; a node at this epoch already loses nothing.  */
void rb_db_send_reset (db_t *self);
/*  Redis holds epoch: if it is newer than the node knew (a restore this
    node did not see through, e.g. its RESET was lost with a crash), it
    is kept, saved and sent as a RESET.  */
void rb_db_saw_epoch (db_t *self, uint64_t epoch);

/*  rb_db_requests.c */
void rb_db_on_request (rb_bus_t *bus, const rb_header_t *h, const rb_body_t *b,
                       zmsg_t **msg_p, void *arg);
void rb_db_on_idle (rb_bus_t *bus, void *arg);
/*  Refreshes the cached state from Redis (STATUS script). */
void rb_db_refresh (db_t *self);

/*  rb_db_job.c */
/*  Starts a backup or restore for the request h (body b); answers the
    request itself when the job ends (rb_db_job_done).  */
void rb_db_job_start (db_t *self, const rb_header_t *h, const rb_body_t *b);
/*  The job pipe is readable: a progress event or the end.  */
int rb_db_job_event (zloop_t *loop, zsock_t *pipe, void *arg);

/*  Each script's reply parser is in rb_scripts.h, next to the scripts. */
#include "rb_scripts.h"

#endif
