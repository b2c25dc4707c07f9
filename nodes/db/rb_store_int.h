/*  rb_store_int: what the store's source files share (internal to the
    floor). Calls go down this list, never up:

      rb_store.c          the public API (rb_store.h): a store made from
                          its options, each call sent to one Redis or to
                          the cluster; waiting at start-up; bulk mode
      rb_store_cluster.c  a Redis Cluster: the slot map, a store of one
                          Redis per master, routing, the rounds of
                          MOVED / ASK / TRYAGAIN, bulk mode on a cluster,
                          the check of each master's new connection
      rb_store_conn.c     one Redis connection: opened (the sentinels
                          asked, AUTH, ROLE, the scripts loaded), dropped
                          with a back-off, a pipeline of calls on it

    The struct is one for both kinds of store: the fields of one Redis
    (rb_store_conn.c, rb_store.c), then those a cluster's parent store
    uses (rb_store_cluster.c only), then those of a master's store its
    parent sets (rb_store_cluster.c only). Names that cross files carry
    the rb_store__ marker.  */
#ifndef RB_STORE_INT_H
#define RB_STORE_INT_H

#ifndef RB_INSIDE_DB
#error "rb_store_int.h is internal to its floor; include its public header"
#endif

#include "rb_rcluster.h"
#include "rb_scripts.h"
#include "rb_sentinel.h"
#include "rb_store.h"

#include <stdarg.h>

/*  The first pause after a failure before the next try, in ms (it
    doubles from there up to a few seconds).  */
#define RB_STORE__BACKOFF_MIN 100

struct rb_store {
    char *host;            /* TCP host, or NULL for a unix socket */
    int port;              /* TCP port */
    char *path;            /* unix socket path, or NULL */
    char *user, *password; /* AUTH, may be NULL */
    int timeout_ms;
    redisContext *ctx;             /* NULL while disconnected */
    char sha[RB_SCRIPT_COUNT][41]; /* loaded script digests */
    int64_t next_try;              /* earliest reconnect, zclock_mono () ms */
    int backoff;                   /* ms until the next try after a failure */
    char err[700];                 /* last error */
    uint64_t connects;             /* connections made, in all */
    rb_sentinel_t *sentinel;       /* where the master is, or NULL */
    int64_t next_ask;              /* with sentinel: next look, mono ms */
    char address[300];             /* connected to (or last tried) */
    rb_store_check_fn *check;      /* run on each new connection */
    void *check_arg;
    rb_mhist_t rtt; /* rb_store_run's round trips */
    int checking;   /* the master being checked, or -1 */
    int bulk_n;     /* bulk_add's commands not flushed yet */
    bool bulk_err;  /* a bulk_add failed since the last flush */
    /* On a Redis Cluster (all NULL or 0 on one Redis): */
    rb_rcluster_map_t *map; /* the slot map */
    char **seed_host;       /* the seeds given */
    int *seed_port;
    int nseeds;
    rb_store_t **nodes; /* master m of the map: a store of one Redis */
    int nnodes;
    bool stale;           /* the map must be asked again before use */
    int *target;          /* rb_store_run: the master of each call */
    unsigned char *state; /* rb_store_run: S_* flags of each call */
    int cap;              /* calls target and state have room for */
    char *bulk;           /* bulk_add's commands, one after another */
    size_t bulk_len, bulk_size;
    size_t *bulk_at; /* where each starts in bulk, and its slot */
    int *bulk_slot;
    int bulk_max;
    /* On the store of a cluster's master, for its parent: */
    bool checked;  /* the check passed on this connection */
    int expect;    /* replies owed in this round */
    bool used;     /* calls go to it in this round */
    bool failed;   /* its connection failed in this round */
    bool noscript; /* answered NOSCRIPT in this round */
    bool demoted;  /* answered READONLY or MASTERDOWN in this round */
};
/*  --- rb_store_conn.c ---------------------------------------------------- */

/*  Opens self's connection: the address (asked of the sentinels, if
    any), AUTH, the role, the scripts. 0, or -1 with nothing left open
    (self->err says why; the back-off runs).  */
int rb_store__open (rb_store_t *self);
/*  Closes the connection (if open) with why as the error (NULL: the
    error set already), and makes the next try wait the back-off.  */
void rb_store__drop (rb_store_t *self, const char *why);
/*  Sends AUTH on ctx when configured; 0 if accepted or not needed (else
    self->err says why).  */
int rb_store__auth_on (rb_store_t *self, redisContext *ctx);
/*  Loads every script on the connection and keeps its digest: 0, or -1
    with self->err set.  */
int rb_store__load_scripts (rb_store_t *self);
/*  With Sentinels, once a second: drops the connection if they say the
    master moved (a failover), so the next one is made at once.  */
void rb_store__follow (rb_store_t *self);
/*  Appends one call to the connection's output buffer (no I/O yet). */
void rb_store__append (rb_store_t *self, rb_call_t *c);
/*  An error reply saying this Redis takes no writes now (READONLY,
    MASTERDOWN), or that our scripts are missing (NOSCRIPT).  */
bool rb_store__demoted (const redisReply *r);
bool rb_store__is_noscript (const redisReply *r);
/*  rb_store_run on a connection open: one pipeline, NOSCRIPT answered
    by loading the scripts and sending again once, a demoted Redis
    dropped. 0, or -1 (every reply NULL).  */
int rb_store__run_one (rb_store_t *self, rb_call_t *calls, int n);
/*  Frees a store of one Redis (its connection, address, sentinels and
    credentials); NULL-safe, sets *self_p to NULL.  */
void rb_store__free (rb_store_t **self_p);

/*  --- rb_store_cluster.c ------------------------------------------------- */

/*  Makes self a cluster's store: its slot map (empty) and the seeds of
    list ("HOST:PORT,..."). 0, or -1 with err set.  */
int rb_store__cluster_seeds (rb_store_t *self, const char *list, char *err,
                             size_t errlen);
/*  Frees what a cluster's store holds (the masters' stores among it),
    not self itself; nothing on one Redis.  */
void rb_store__cluster_destroy (rb_store_t *self);
/*  rb_store_connect, rb_store_connected, rb_store_run (resp: each call
    is one command already in RESP, argv[0]), rb_store_command_at on a
    cluster.  */
int rb_store__cluster_connect (rb_store_t *self);
bool rb_store__cluster_connected (rb_store_t *self);
int rb_store__cluster_run (rb_store_t *self, rb_call_t *calls, int n,
                           bool resp);
redisReply *rb_store__cluster_command (rb_store_t *self, int m, const char *fmt,
                                       va_list args);
/*  rb_store_bulk_add and the sending of rb_store_bulk_flush on a
    cluster.  */
void rb_store__cluster_add (rb_store_t *self, int slot, const char *cmd,
                            size_t len);
int rb_store__cluster_flush (rb_store_t *self);

#endif
