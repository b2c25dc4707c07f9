/*  rb_cluster: a small recobus cluster in one process, for system tests
    and the bench: a Redis (a throwaway redis-server of its own, or one
    given), the broker actor, a fresh backup dir, and DB node and service
    node actors on them. No Check here: a call that fails returns NULL or
    non-zero with one line on stderr (rb_tnode.h and rb_fixture.h are the
    suites' side).  */
#ifndef RB_CLUSTER_H
#define RB_CLUSTER_H

#include <czmq.h>
#include <stdbool.h>

#include "rb_bus.h"
#include "rb_db.h"
#include "rb_redis.h"
#include "rb_rediscluster.h"
#include "rb_service.h"

/*  What a cluster is made of. All zeros: the tests' cluster.  */
typedef struct {
    const char *redis; /* HOST:PORT of a Redis to use, flushed first (never
                          one holding data you need); NULL: a throwaway
                          redis-server of its own */
    bool no_broker;    /* no broker actor: bus stays "" until the caller,
                          which runs a broker of its own, fills it in */
    bool tap;          /* the broker's tap (XPUB) on a free port */
    int heartbeat_ms;  /* the broker's; 0: 200 ms */
    int liveness;      /* the broker's; 0: its default */
    bool curve;        /* CurveZMQ on bus and tap: a key pair per node,
                          made on first use (rb_cluster_key) */
    int redis_masters; /* > 0: a throwaway Redis Cluster of that many
                          masters, a replica each, instead of one Redis
                          (also with RECOBUS_REDIS_CLUSTER=N in the
                          environment, when redis is NULL) */
    bool no_replicas;  /* with redis_masters: masters alone (the bench
                          measures throughput, not failover) */
} rb_cluster_opts_t;

typedef struct {
    rb_redis_t *redis;       /* the throwaway redis-server, or NULL */
    char redis_address[64];  /* HOST:PORT of the Redis in use ("" with a
                                Redis Cluster) */
    rb_rcluster_t *rcluster; /* the throwaway Redis Cluster, or NULL */
    zactor_t *broker;        /* NULL with no_broker */
    char bus[256];           /* the broker's endpoint */
    char tap[256];           /* the broker's tap endpoint, "" when none */
    char backups[256];       /* temp backup dir, removed at destroy */
    bool curve;              /* keys in backups/keys, authorized in
                                backups/keys/authorized */
    char broker_cert[300];   /* the broker's public certificate ("" plain) */
    char broker_secret[300]; /* and its secret one */
    char authorized[300];    /* the authorized-keys directory */
    zlist_t *paths;          /* key paths handed out, freed at destroy */
} rb_cluster_t;

/*  Starts what opts says (NULL: all zeros). Returns NULL, with one line
    on stderr, if a part would not start.  */
rb_cluster_t *rb_cluster_new (const rb_cluster_opts_t *opts);
/*  Stops everything it started and removes the backup dir. NULL-safe;
    sets *self_p to NULL.  */
void rb_cluster_destroy (rb_cluster_t **self_p);

/*  With curve: the secret certificate of node name with role (made and
    authorized at the broker on first use; borrowed, valid as long as the
    cluster). NULL without curve.  */
const char *rb_cluster_key (rb_cluster_t *self, const char *role,
                            const char *name);

/*  Masters of the Redis Cluster in RECOBUS_REDIS_CLUSTER (0: one Redis). */
int rb_cluster_env_masters (void);
/*  FLUSHALL on the Redis, or on every master of the Redis Cluster. 0, or
    -1 with a line on stderr.  */
int rb_cluster_flushall (rb_cluster_t *self);
/*  One command (format as redisCommand) on the Redis, or on the master
    of the Redis Cluster that owns slot (rb_key_slot of a key; ignored on
    one Redis): the reply (the caller frees it), or NULL.  */
redisReply *rb_cluster_redis_cmd (rb_cluster_t *self, int slot, const char *fmt,
                                  ...);

/*  rb_db_init_dataset on the cluster's Redis. Returns 0, or its exit code
    with the reason on stderr.  */
int rb_cluster_init (rb_cluster_t *self);
/*  A DB node's options on this cluster (name, broker, Redis, backups). */
rb_db_opts_t rb_cluster_db_opts (rb_cluster_t *self, const char *name);
/*  A DB node actor named name (the caller destroys it).  */
zactor_t *rb_cluster_db (rb_cluster_t *self, const char *name);

/*  A service node's options on this cluster: name, policy, the broker,
    terminals on tcp://127.0.0.1:* (the rest: rb_service_opts_default). */
rb_service_opts_t rb_cluster_service_opts (rb_cluster_t *self, const char *name,
                                           int policy);
/*  A service node actor (the caller destroys it); its terminal endpoint
    goes into endpoint. NULL, with a line on stderr, if it could not bind. */
zactor_t *rb_cluster_service (rb_cluster_t *self, const rb_service_opts_t *opts,
                              char *endpoint, size_t size);

/*  Asks dest (addr RB_ADDR_SERVICE or RB_ADDR_NODE) for STATUS over bus,
    waiting up to timeout_ms, and reads its numeric item name into *value,
    or missing when the answer leaves it out (zero counters are). 0, or
    the call's error code (RB_S_MALFORMED for an answer that is not INFO),
    *value then untouched.  */
int rb_status_num (rb_bus_t *bus, int addr, const char *dest, const char *name,
                   int timeout_ms, uint64_t missing, uint64_t *value);

#endif
