/*  rb_redis: a throwaway redis-server for system tests: on 127.0.0.1 on
    a free port, in a fresh temp dir, with persistence off, so a restart
    loses every key. Started with rb_proc, so it dies with the test.  */
#ifndef RB_REDIS_H
#define RB_REDIS_H

#include <hiredis/hiredis.h>
#include <sys/types.h>

typedef struct rb_redis rb_redis_t;

/*  Starts /usr/bin/redis-server with --port P --bind 127.0.0.1 --save ""
    --appendonly no --dir TMP --daemonize no --protected-mode no
    --logfile TMP/redis.log, trying another port if that one is taken (up
    to 5 times), and waits up to 5 s for it to answer PING. Returns NULL,
    with its log on stderr, if it cannot.  */
rb_redis_t *rb_redis_start (void);

int rb_redis_port (rb_redis_t *self);
/*  "127.0.0.1:PORT" (borrowed).  */
const char *rb_redis_address (rb_redis_t *self);
/*  Its temp working dir (borrowed), removed by rb_redis_stop.  */
const char *rb_redis_dir (rb_redis_t *self);
/*  The redis-server's pid, or 0 if it is not running (a failed restart). */
pid_t rb_redis_pid (rb_redis_t *self);

/*  A new blocking connection to it; the caller frees it with redisFree.
    If it cannot connect, rb_harness_fail (in a suite: the current Check
    test fails).  */
redisContext *rb_redis_connect (rb_redis_t *self);

/*  A new blocking connection to the Redis at "HOST:PORT" (ours or any
    other); the caller frees it with redisFree. NULL, with one line on
    stderr, if it cannot connect.  */
redisContext *rb_redis_connect_at (const char *address);

/*  Runs one command (format as redisCommand) on a fresh connection and
    returns the reply, which the caller frees with freeReplyObject. A
    connection error goes to rb_harness_fail (in a suite: the current
    Check test fails); an error reply from Redis is returned as such.  */
redisReply *rb_redis_cmd (rb_redis_t *self, const char *fmt, ...);

/*  used_memory from INFO memory of the Redis at "HOST:PORT" (ours or
    any other), in bytes; -1, with one line on stderr, if it cannot be
    read.  */
long long rb_redis_used_memory (const char *address);

/*  Kills it (SIGKILL) and starts it again on the same port and dir, with
    no data (unless a SAVE left dump.rdb in its dir: it loads that, with
    a replication id of its own); waits for PING as start does. Returns 0, or -1
   with its log on stderr (it is then not running).  */
int rb_redis_restart (rb_redis_t *self);

/*  SAVE: a snapshot of the dataset now, in dump.rdb in its dir (which
    rb_redis_restart then loads). Returns 0, or -1 with one line on
    stderr.  */
int rb_redis_save (rb_redis_t *self);

/*  Kills it (SIGKILL) and starts it again from the snapshot the last
    rb_redis_save wrote: an older dataset than the one it held, with a
    replication id of its own. Then removes dump.rdb, so that a later
    rb_redis_restart comes back empty. Returns 0, or -1 (no snapshot, or
    as rb_redis_restart).  */
int rb_redis_rewind (rb_redis_t *self);

/*  Stops it (SIGTERM, then SIGKILL after 2 s), reaps it and removes its
    temp dir. NULL-safe; sets *self_p to NULL.  */
void rb_redis_stop (rb_redis_t **self_p);

#endif
