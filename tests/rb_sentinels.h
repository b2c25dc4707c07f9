/*  rb_sentinels: a Redis Sentinel set-up for system tests, on 127.0.0.1
    and free ports: a master and its replicas (throwaway redis-servers,
    rb_redis.h) and three sentinels watching them, with a quorum of two
    and short timings (down after 500 ms), so a failover takes seconds.
    The sentinels run as redis-sentinel if installed, else as
    redis-server --sentinel (the same program), each in a temp dir of its
    own; all are started with rb_proc, so they die with the test.  */
#ifndef RB_SENTINELS_H
#define RB_SENTINELS_H

#include "rb_redis.h"

#define RB_SENTINELS_N 3 /* sentinels started */

typedef struct rb_sentinels rb_sentinels_t;

/*  Starts a master and n_replicas replicas (1 or 2) of it, waits until
    each replica's link is up, then the sentinels watching master name,
    and waits until each sentinel knows every replica and the other
    sentinels (a few seconds: they meet through the master). NULL, with
    one line on stderr, if a part does not start in time.  */
rb_sentinels_t *rb_sentinels_start (const char *name, int n_replicas);

/*  "127.0.0.1:P1,127.0.0.1:P2,127.0.0.1:P3" (borrowed).  */
const char *rb_sentinels_list (rb_sentinels_t *self);
/*  The first master, and replica i (borrowed; the objects stay the
    same across a failover, only their roles change).  */
rb_redis_t *rb_sentinels_master (rb_sentinels_t *self);
rb_redis_t *rb_sentinels_replica (rb_sentinels_t *self, int i);

/*  Asks the sentinels where the master is now: "127.0.0.1:PORT" into
    buf. 0, or -1 if no sentinel answers with an address.  */
int rb_sentinels_master_addr (rb_sentinels_t *self, char *buf, size_t len);

/*  Waits up to timeout_ms until every sentinel names the Redis at
    address as the master. 0, or -1 at the deadline.  */
int rb_sentinels_wait_master (rb_sentinels_t *self, const char *address,
                              int timeout_ms);

/*  Stops the sentinels, then the Redis servers, and removes their temp
    dirs. NULL-safe; sets *self_p to NULL.  */
void rb_sentinels_stop (rb_sentinels_t **self_p);

#endif
