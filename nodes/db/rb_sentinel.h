/*  rb_sentinel: where the Redis master is, asked of Redis Sentinels.

    hiredis 0.14 knows nothing of Sentinel, so this asks the sentinels in
    turn SENTINEL get-master-addr-by-name NAME, each with a bounded
    timeout (a sentinel that is down or silent costs at most that), and
    takes the first answer that is a HOST and a PORT. rb_store uses it to
    connect, and again once a second to notice a failover (the master
    moved: the store drops its connection and connects to the new one).

        rb_sentinel_t *s = rb_sentinel_new ("10.0.0.1:26379,10.0.0.2:26379",
                                            "recobus", 500, err, sizeof err);
        char host[256]; int port;
        if (rb_sentinel_ask (s, host, sizeof host, &port) == 0) ...       */
#ifndef RB_SENTINEL_H
#define RB_SENTINEL_H

#include <stddef.h>

#define RB_SENTINELS_MAX 16 /* sentinels in a list, at most */

typedef struct rb_sentinel rb_sentinel_t;

/*  Parses list, "HOST:PORT,HOST:PORT,..." (1 to RB_SENTINELS_MAX), for
    master name (1 to 255 bytes, no space). Each sentinel gets timeout_ms
    to connect and to answer. NULL, with *err set, if list or name is
    not that.  */
rb_sentinel_t *rb_sentinel_new (const char *list, const char *name,
                                int timeout_ms, char *err, size_t errlen);
void rb_sentinel_destroy (rb_sentinel_t **self_p);

/*  Asks the sentinels in turn, the one that answered last first, where
    the master is: its host into host (at most len bytes) and its port.
    0; or -1 when none answered with an address, with rb_sentinel_errstr
    naming each sentinel's failure.  */
int rb_sentinel_ask (rb_sentinel_t *self, char *host, size_t len, int *port);

/*  The master name asked for (borrowed).  */
const char *rb_sentinel_name (rb_sentinel_t *self);
/*  Why the last ask failed (borrowed).  */
const char *rb_sentinel_errstr (rb_sentinel_t *self);

#endif
