/*  rb_db: the DB node, a czmq actor and a worker of service "db".

    Redis holds everything (rb_scripts.h has the key layout); the node
    holds only what it is processing, so several DB nodes may serve one
    Redis. It answers GET with the data and the recovering flag read in one
    atomic script, applies orders and diffs (clearing flags in the same
    step), stores recovery-list targets, ends recovery, and runs backups
    and restores in a job thread so it keeps serving meanwhile.

        zactor_t *db = zactor_new (rb_db_actor, &opts);
        zstr_send (db, "STATE");     // -> "normal", "recovering", ...
        zactor_destroy (&db);                                              */
#ifndef RB_DB_H
#define RB_DB_H

#include <czmq.h>
#include <stdbool.h>
#include <stdint.h>

#include "rb_bind.h"

typedef struct {
    const char *name;              /* node name on the bus */
    const char *broker;            /* broker endpoint */
    const char *redis;             /* HOST:PORT or unix:PATH */
    const char *redis_sentinels;   /* "HOST:PORT,...", or "": use redis */
    const char *redis_master_name; /* with redis_sentinels */
    const char *redis_cluster;     /* "HOST:PORT,..." seeds of a Redis
                                      Cluster, or "": use redis */
    const char *redis_user;        /* ACL user or "" */
    const char *redis_password;    /* or "" */
    int redis_timeout_ms;          /* connect/command timeout */
    int connect_timeout_ms;        /* start-up: wait this long for Redis */
    int redis_wait_replicas;       /* WAIT for them before an ACK; 0: none */
    int redis_wait_timeout_ms;     /* and for at most this long */
    const char *backup_dir;        /* where backups are written and found */
    const char *backup_key;        /* signing key file (rb_sign.h), or "" */
    int backup_keep;               /* backups kept after a backup; 0 = all */
    uint32_t max_value;            /* bytes in a value */
    uint32_t max_batch;            /* entries in a list / orders in a diff */
    int fetch_ttl_s;               /* how long "who fetched KEY" is kept */
    int fetch_cap;                 /* nodes remembered per key */
    int backup_every_s;            /* scheduled backups; 0 = none */
    const char *curve_cert;        /* CurveZMQ: ours (secret file), or "" */
    const char *broker_cert;       /* and the broker's public certificate */
    bool notify;         /* tell systemd (rb_notify.h): set by recobus-db */
    const char *metrics; /* Prometheus endpoint HOST:PORT, or NULL/"": none
                            (rb_metrics.h) */
} rb_db_opts_t;

/*  Built-in defaults, from the option table. */
void rb_db_opts_default (rb_db_opts_t *opts);
/*  Which field each option fills (rb_bind_config fills from a config). */
extern const rb_bind_t rb_db_binds[];

/*  States, as stored in Redis (rb:meta state) or derived. */
typedef enum {
    RB_DB_NORMAL,
    RB_DB_RESTORING,
    RB_DB_RECOVERING,
    RB_DB_NEEDS_RESTORE,
    RB_DB_STATE_COUNT
} rb_db_state_t;

const char *rb_db_state_name (int state);

/*  Start-up: waits up to connect_timeout_ms for Redis to answer (the
    sentinels to name a master that says it is one), logging while it
    waits. Returns 0; or 69 (EX_UNAVAILABLE) if it never did, 78
    (EX_CONFIG) for an address that does not parse; *err says why.  */
int rb_db_wait_redis (const rb_db_opts_t *opts, char *err, size_t errlen);

/*  Creates a new dataset (random id, epoch 1, watermark 0) on an empty
    Redis, waiting for it as rb_db_wait_redis does. Returns 0; or 65
    (EX_DATAERR) if Redis holds any key, 69 (EX_UNAVAILABLE) if it cannot
    be reached; *err says why.  */
int rb_db_init_dataset (const rb_db_opts_t *opts, char *err, size_t errlen);

/*  The actor. Commands: "$TERM"; "STATE" -> the state name as the node
    last saw it.  */
void rb_db_actor (zsock_t *pipe, void *args);

#endif
