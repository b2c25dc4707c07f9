/*  rb_rediscluster: a throwaway Redis Cluster for system tests, of real
    redis-server processes on 127.0.0.1: masters, each with its replicas,
    every node on two free ports (clients, and the cluster bus given with
    --cluster-port, so neither is port + 10000) in a temp dir of its own,
    with persistence off and short timings (node timeout 1 s, any replica
    may fail over whatever its data's age), so a failover takes a few
    seconds. The cluster is made by `redis-cli --cluster create`; every
    wait is on a condition (CLUSTER INFO, CLUSTER SLOTS, CLUSTER NODES,
    ROLE) with a deadline. The processes are started with rb_proc, so
    they die with the test.

    Nodes are numbered 0 .. count-1 in start order; the first `masters`
    are made the masters, and keep their numbers when roles change.  */
#ifndef RB_REDISCLUSTER_H
#define RB_REDISCLUSTER_H

#include <hiredis/hiredis.h>
#include <stdbool.h>
#include <sys/types.h>

#include "rb_proc.h"

typedef struct rb_rcluster rb_rcluster_t;

/*  Starts masters * (1 + replicas_per_master) nodes (masters 1..16,
    replicas 0..4), creates the cluster and waits (up to 30 s) until every
    node says cluster_state:ok, every node's CLUSTER SLOTS covers the
    16384 slots with the same masters, and every replica's link to its
    master is up. NULL, with what went wrong (and the node logs) on
    stderr, if it cannot.  */
rb_rcluster_t *rb_rcluster_start (int masters, int replicas_per_master);

/*  "127.0.0.1:P1,127.0.0.1:P2,..." of the first masters (borrowed).  */
const char *rb_rcluster_seeds (rb_rcluster_t *self);
/*  Nodes started (masters and replicas).  */
int rb_rcluster_count (rb_rcluster_t *self);
/*  "127.0.0.1:PORT" of node i (borrowed), its port, its cluster node id
    (borrowed, 40 hex digits), and its pid (0 while it is killed).  */
const char *rb_rcluster_address (rb_rcluster_t *self, int i);
int rb_rcluster_port (rb_rcluster_t *self, int i);
const char *rb_rcluster_id (rb_rcluster_t *self, int i);
pid_t rb_rcluster_pid (rb_rcluster_t *self, int i);
/*  Whether node i says it is a master now (ROLE); false if it is down. */
bool rb_rcluster_is_master (rb_rcluster_t *self, int i);
/*  The node that is master of slot now (asked of the live nodes), or
    -1 if none answers.  */
int rb_rcluster_slot_owner (rb_rcluster_t *self, int slot);

/*  One command (format as redisCommand) to node i on a fresh connection;
    the reply (the caller frees it), or NULL if node i does not answer.  */
redisReply *rb_rcluster_cmd (rb_rcluster_t *self, int i, const char *fmt, ...);

/*  Kills node i (SIGKILL) and reaps it, without waiting for anything
    else: the cluster notices in its own time.  */
void rb_rcluster_kill (rb_rcluster_t *self, int i);
/*  Kills master i (SIGKILL) and waits (up to 15 s) until a replica of it
    is master of its slots and every live node says cluster_state:ok and
    agrees on the slot map. 0, or -1 with one line on stderr.  */
int rb_rcluster_kill_master (rb_rcluster_t *self, int i);
/*  Starts killed node i again, on its port and dir (it keeps its node id
    and comes back empty), and waits (up to 15 s) until it is a replica
    with its link up and the cluster is stable. 0, or -1 as above.  */
int rb_rcluster_restart (rb_rcluster_t *self, int i);

/*  Starts `redis-cli --cluster reshard` moving `slots` slots from master
    `from` to master `to` (node numbers), a few keys a MIGRATE, in the
    background; the caller waits for it (rb_proc_wait: exit 0 when done)
    and destroys it. NULL if it cannot start.  */
rb_proc_t *rb_rcluster_reshard_start (rb_rcluster_t *self, int from, int to,
                                      int slots);
/*  Waits up to timeout_ms until the live nodes are stable: no slot
    migrating or importing (no '[' in CLUSTER NODES), cluster_state:ok,
    the same full slot map everywhere. 0, or -1 with one line on stderr. */
int rb_rcluster_wait_stable (rb_rcluster_t *self, int timeout_ms);

/*  Stops every node (SIGKILL: there is nothing to save) and removes their
    temp dirs. NULL-safe; sets *self_p to NULL.  */
void rb_rcluster_stop (rb_rcluster_t **self_p);

#endif
