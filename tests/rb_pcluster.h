/*  rb_pcluster: a recobus cluster of real processes, for tests and the
    bench that measure one daemon at a time (its RSS, its CPU, its exit
    status): a throwaway redis-server, then the recobus-broker, recobus-db
    (--init) and recobus-service programs, each on tcp://127.0.0.1:* with
    its output in a log of its own. The Redis, the backup dir and, under
    CurveZMQ, the keys come from an rb_cluster without a broker actor
    (rb_cluster_key works as for the in-process cluster). Optionally the
    DB nodes follow Redis Sentinels, a second DB node and the ops node
    (recobus-ops serve) run too (test_ha), or Redis is a throwaway
    Redis Cluster (test_dbcluster). No Check here:
    a part that will not start returns NULL with one line on stderr.

        rb_pcluster_opts_t o = {.bin_dir = BIN, .curve = true,
                                .config = "service\\n    svc-1\\n"
                                          "        waits-max = 200\\n",
                                .services = {{"svc-1", "latest-only"}}};
        rb_pcluster_t *pc = rb_pcluster_new (&o);
        ... pc->c->bus, pc->svc_ep[0], rb_proc_pid (pc->broker) ...
        ck_assert_int_eq (rb_pcluster_stop (&pc), 0);                    */
#ifndef RB_PCLUSTER_H
#define RB_PCLUSTER_H

#include <stdbool.h>

#include "rb_cluster.h"
#include "rb_proc.h"

#define RB_PCLUSTER_SERVICES 4

typedef struct {
    const char *name;   /* its --name (the config section service/NAME) */
    const char *policy; /* latest-only or stale-ok */
} rb_pcluster_service_t;

typedef struct {
    const char *bin_dir;     /* where the recobus-* programs are */
    const char *redis;       /* HOST:PORT of a Redis to use, flushed first;
                                NULL: a throwaway redis-server of its own */
    bool curve;              /* CurveZMQ on bus and tap */
    bool tap;                /* the broker's tap */
    int heartbeat_ms;        /* the broker's --heartbeat; 0: 500 */
    bool pair;               /* two brokers; every daemon is given both, and
                                c->bus says "EP1,EP2" (docs/ha.md) */
    const char *config;      /* ZPL text of the config file every daemon reads
                                (-c): the options that have no flag; NULL:
                                none */
    const char *sentinels;   /* with master_name: the DB nodes follow the
                                master these Redis Sentinels name
                                (redis is then that master, to flush) */
    const char *master_name; /* --redis-master-name */
    bool db2;                /* a second DB node, db-2 (without --init) */
    bool ops_node;           /* recobus-ops serve (name ops-serve,
                                --watch-interval 200), its journal in
                                the temp dir */
    int redis_masters;       /* > 0: a throwaway Redis Cluster of that
                                many masters, a replica each (c->rcluster);
                                the DB nodes get --redis-cluster */
    rb_pcluster_service_t services[RB_PCLUSTER_SERVICES]; /* NULL names end */
} rb_pcluster_opts_t;

typedef struct {
    rb_cluster_t *c; /* Redis, backup dir, keys; c->bus and c->tap are the
                        broker program's endpoints */
    char *dir;       /* temp dir: the config file and the logs */
    char config[512];
    rb_proc_t *broker, *db; /* the daemons */
    rb_proc_t *broker2;     /* with pair: the second broker */
    rb_proc_t *db2;         /* with db2: db-2 */
    rb_proc_t *ops;         /* with ops_node: the ops node */
    char journal[600];      /* with ops_node: its journal */
    char bus_ep[2][128];    /* each broker's bus endpoint */
    rb_proc_t *svc[RB_PCLUSTER_SERVICES];
    char svc_ep[RB_PCLUSTER_SERVICES][64]; /* their terminal endpoints */
    const char *svc_name[RB_PCLUSTER_SERVICES];
    int n_svc;
    rb_pcluster_opts_t opts; /* as started (its strings the caller's) */
} rb_pcluster_t;

/*  Starts everything opts says and waits until each daemon says it
    serves. NULL, with one line on stderr and nothing left running, if a
    part does not start.  */
rb_pcluster_t *rb_pcluster_new (const rb_pcluster_opts_t *opts);

/*  Kills DB node i (0: db-1, 1: db-2) with SIGKILL and starts it again
    (without --init), waiting until it says it serves: a DB node that
    remembers nothing of what it acknowledged. 0, or -1 with one line on
    stderr.  */
int rb_pcluster_db_restart (rb_pcluster_t *self, int i);

/*  Whether every daemon is still running.  */
bool rb_pcluster_alive (rb_pcluster_t *self);

/*  Stops the daemons with SIGTERM (services, ops node, DBs, brokers),
    waits up to 5 s for each and destroys the cluster. Returns how many
    did not exit 0 (each named on stderr with its status and its log's
    tail). NULL-safe; sets *self_p to NULL.  */
int rb_pcluster_stop (rb_pcluster_t **self_p);

#endif
