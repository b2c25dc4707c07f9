/*  rb_store: the DB node's connection to Redis (hiredis).

    One synchronous hiredis context, used with pipelining: a batch of calls
    goes out in one write and their replies are read back in order, so
    many waiting requests cost one round trip. Our Lua scripts are loaded
    at connect and called by EVALSHA; a NOSCRIPT reply (Redis restarted or
    SCRIPT FLUSH) reloads them and re-sends the calls it refused.

    A context that reported an error is dropped, never reused: the next
    call reconnects, at most once per back-off period (100 ms doubling to
    5 s), so a Redis that is down costs nothing per request. So is one
    that answers READONLY or MASTERDOWN: it is no longer the master.

    With Sentinels (rb_sentinel.h) instead of one address, each connect
    asks them where the master is and checks with ROLE that it is one;
    once a second a run asks them again, and drops the connection if the
    master moved (a failover), so the next call connects to the new one.

    A check given with rb_store_on_connect runs on every new connection
    before any call of the caller's goes out on it: nothing is read from
    a Redis that was just (re)connected until the check has passed.

    On a Redis Cluster (opts->cluster: seed nodes), the store asks a seed
    for CLUSTER SLOTS (rb_rcluster.h: the slot map) and keeps one
    connection per master, each made on demand as on one Redis (AUTH, the
    scripts loaded, its own back-off) and checked on its own before its
    first call. A batch goes out per master (each call routed by its
    slot), every master's pipeline written before any reply is read; then
    replies that redirect are sent again: MOVED refreshes the map, ASK
    goes to the importing node after ASKING, TRYAGAIN and CLUSTERDOWN wait
    a little (10 ms doubling to 100 ms), NOSCRIPT reloads the scripts on
    that node, READONLY and MASTERDOWN drop that node and refresh the map.
    Rounds go on until every call has its final reply or timeout_ms has
    passed (a call still redirected then gets its last error reply). A
    connection that fails is dropped and the map refreshed before the
    next use (a failover moved its slots to a replica).  */
#ifndef RB_STORE_H
#define RB_STORE_H

#include "rb_metrics.h"
#include <hiredis/hiredis.h>
#include <stdbool.h>
#include <stddef.h>

typedef struct {
    const char *address;     /* "HOST:PORT" or "unix:PATH" */
    const char *sentinels;   /* "HOST:PORT,..." or NULL/"": use address */
    const char *master_name; /* with sentinels: the master they watch */
    const char *user;        /* ACL user, or NULL/"" */
    const char *password;    /* AUTH password, or NULL/"" */
    int timeout_ms;          /* connect and command timeout; on a cluster
                                also the longest rb_store_run */
    const char *cluster;     /* "HOST:PORT,..." seed nodes of a Redis
                                Cluster, or NULL/"": address (or sentinels)
                                is used */
} rb_store_opts_t;

/*  One command of a batch. script >= 0 names one of rb_scripts (argv are
    its KEYS then its ARGV); script < 0 sends argv as a plain command.
    reply is filled by rb_store_run (NULL if the connection failed).
    Positional initializers that leave nkeys and slot 0 stay valid on one
    Redis.  */
typedef struct {
    int script;
    int argc;
    const char **argv;
    const size_t *lens;
    redisReply *reply;
    int nkeys; /* script calls: argv[0 .. nkeys-1] are the script's KEYS,
                  the rest its ARGV (EVALSHA sha nkeys argv...) */
    int slot;  /* >= 0: the hash slot of the call's keys, which routes it
                  on a cluster (ignored on one Redis); < 0: sent to the
                  master number -1 - slot of the current map (so -1 is
                  the first master; on one Redis, the Redis) */
    bool resent; /* set by rb_store_run: the reply came after the call was
                    sent again (a redirection, TRYAGAIN, a new map): it
                    ran later than the calls answered the first time */
} rb_call_t;

typedef struct rb_store rb_store_t;

/*  Parses the address (or the sentinels, or the cluster seeds) and
    returns a store (not yet connected), or NULL with *err set ("bad
    Redis address ...") if it is invalid.  */
rb_store_t *rb_store_new (const rb_store_opts_t *opts, char *err,
                          size_t errlen);
void rb_store_destroy (rb_store_t **self_p);

/*  What runs on each new connection before anything else: 0 to use
    it, -1 to drop it (the check sets no error of its own on the store:
    say why in the log). It may call rb_store_run on self. On a cluster
    it runs once per new master connection, before the first call routed
    to that master; its rb_store_run calls must all go to that master
    (rb_store_checking): calls routed elsewhere get a NULL reply and the
    run returns -1.  */
typedef int (rb_store_check_fn) (rb_store_t *self, void *arg);
void rb_store_on_connect (rb_store_t *self, rb_store_check_fn *check,
                          void *arg);

/*  Connects if not connected (respecting the back-off). 0 if connected.
    On a cluster: gets the slot map if needed, and connects (and checks)
    every master of it.  */
int rb_store_connect (rb_store_t *self);
/*  Start-up: connects, trying again (100 ms doubling to 1 s between
    tries) until timeout_ms has passed, so a daemon started before its
    Redis (or before its sentinels name a master) waits for it; 0 means
    one try. Logs a line when the wait starts and whenever its reason
    changes, and one every 5 s meanwhile. Returns 0 once connected; -1 at
    the deadline, or at once on SIGINT/SIGTERM (zsys_interrupted), with
    rb_store_errstr saying why.  */
int rb_store_wait (rb_store_t *self, int timeout_ms);
/*  On a cluster: the map is known and every master of it is connected
    and has passed the check.  */
bool rb_store_connected (rb_store_t *self);
/*  Connections made so far (on a cluster: to any master): a change means
    the Redis may be another (a restart, a failover), and what it held
    may be gone.  */
uint64_t rb_store_connects (rb_store_t *self);
/*  The Redis connected to (or last tried): "HOST:PORT", "unix:PATH",
    or with Sentinels "NAME (sentinels)" until one answered, or "cluster
    SEED,..." on a cluster; borrowed.  */
const char *rb_store_address (rb_store_t *self);
/*  Why the store is not connected, or the last error; borrowed.  */
const char *rb_store_errstr (rb_store_t *self);

/*  Runs n calls as one pipeline (on a cluster: one per master, and the
    rounds of redirections). Returns 0 when every call has a reply (which
    may be an error reply: check reply->type), -1 if a connection failed
    (every reply NULL, the context dropped: whether a call was applied is
    unknown).  */
int rb_store_run (rb_store_t *self, rb_call_t *calls, int n);
/*  Round trips of rb_store_run (pipelines of scripts and reads), each
    from send to last reply, for the metrics (borrowed).  */
const rb_mhist_t *rb_store_rtt (rb_store_t *self);
/*  Frees the replies of a batch. */
void rb_store_free_replies (rb_call_t *calls, int n);

/*  Bulk mode, for loading many records: append plain commands (only
    buffered), then send them all and read their n replies. Returns 0,
    or -1 with rb_store_errstr set (an error reply, or the connection
    failed and was dropped). One Redis only (-1 on a cluster: use
    rb_store_bulk_add).  */
int rb_store_append (rb_store_t *self, int argc, const char **argv,
                     const size_t *lens);
int rb_store_drain (rb_store_t *self, int n);
/*  Bulk mode: appends a command already in the Redis protocol (RESP). */
int rb_store_append_resp (rb_store_t *self, const char *cmd, size_t len);
/*  Bulk mode: sends what was appended and reads the next reply (caller
    frees), or NULL if the connection failed.  */
redisReply *rb_store_next_reply (rb_store_t *self);

/*  One plain command, printf-style as redisCommand; NULL on failure. On
    a cluster it goes to master 0 (see rb_store_command_at).  */
redisReply *rb_store_command (rb_store_t *self, const char *fmt, ...);

/*  Masters in the current slot map (1 on one Redis; 0 before the first
    connect on a cluster).  */
int rb_store_masters (rb_store_t *self);
bool rb_store_is_cluster (rb_store_t *self);
/*  The master number (0 .. masters-1) that owns slot in the current map,
    or -1 if unknown (on one Redis: 0).  */
int rb_store_slot_master (rb_store_t *self, int slot);
/*  While a check (rb_store_on_connect) runs: the number of the master
    whose new connection is being checked (0 on one Redis); -1 outside a
    check.  */
int rb_store_checking (rb_store_t *self);
/*  A plain command (printf-style, as rb_store_command) to master number
    m of the current map (m ignored on one Redis). Runs even on a
    connection that has not passed its check yet (for INFO, DBSIZE,
    FLUSHDB, SCAN, CLUSTER ...): the caller reads no record with it. NULL
    on failure (or m not in the map).  */
redisReply *rb_store_command_at (rb_store_t *self, int m, const char *fmt, ...);
/*  Bulk mode on a cluster or one Redis: appends a command already in
    RESP for the node owning slot (buffered, nothing sent), and then
    sends everything appended to every node and reads all the replies,
    re-sending those redirected (MOVED, ASK, TRYAGAIN). 0, or -1 with
    rb_store_errstr set (the first error reply, or a connection lost).
    Either way the buffer is empty after a flush.  */
int rb_store_bulk_add (rb_store_t *self, int slot, const char *cmd, size_t len);
int rb_store_bulk_flush (rb_store_t *self);

#endif
