/*  rb_rcluster: what the DB node's store (rb_store) knows of a Redis
    Cluster, and the replies that change it. No I/O here: the store asks
    a node for CLUSTER SLOTS and hands the reply to rb_rcluster_map_parse,
    and hands each error reply to rb_rcluster_redirect.

    The slot map says, for each of the 16384 hash slots (rb_crc16.h),
    which master serves it. Masters are numbered 0 .. masters-1 in the
    order of the lowest slot each serves, so every node's CLUSTER SLOTS
    gives the same numbers for the same map (master 0 serves slot 0 when
    it is covered); the numbers hold until the next parse.

    A redirection is an error reply "MOVED <slot> <host>:<port>" (the
    slot is served by that master now: the map is old) or "ASK <slot>
    <host>:<port>" (the slot is moving: ask that node once, after ASKING,
    and keep the map). Redis 7 may give an empty host ("MOVED 1 :6380"),
    meaning the host of the node that answered; it is returned empty.

    Replies from the network are checked, never asserted: a malformed one
    gives -1 and changes nothing.  */
#ifndef RB_RCLUSTER_H
#define RB_RCLUSTER_H

#include <hiredis/hiredis.h>
#include <stdbool.h>
#include <stddef.h>

#define RB_RCLUSTER_MASTERS_MAX 1024 /* masters a map may name */
#define RB_RCLUSTER_HOST_MAX    256  /* bytes of a host, with its NUL */

typedef struct rb_rcluster_map rb_rcluster_map_t;

/*  An empty map: no master, every slot unknown.  */
rb_rcluster_map_t *rb_rcluster_map_new (void);
void rb_rcluster_map_destroy (rb_rcluster_map_t **self_p);

/*  Replaces the map with the one in a CLUSTER SLOTS reply: an array of
    [start, end, [host, port, ...], replicas...]. 0, or -1 if the reply
    is malformed (not that shape, a slot out of range or in two ranges,
    a bad host or port, too many masters), leaving the map as it was.
    Slots in no range stay unknown.  */
int rb_rcluster_map_parse (rb_rcluster_map_t *self, const redisReply *r);

int rb_rcluster_map_masters (rb_rcluster_map_t *self);
/*  The master number serving slot, or -1 (unknown, or slot out of
    range).  */
int rb_rcluster_map_owner (rb_rcluster_map_t *self, int slot);
/*  Master m's host (borrowed) and port; m must be < masters.  */
const char *rb_rcluster_map_host (rb_rcluster_map_t *self, int m);
int rb_rcluster_map_port (rb_rcluster_map_t *self, int m);
/*  The number of the master at host:port, or -1.  */
int rb_rcluster_map_find (rb_rcluster_map_t *self, const char *host, int port);
/*  Slot is served by master m from now on (a MOVED naming a master of
    the map). 0, or -1 if slot or m is out of range.  */
int rb_rcluster_map_set (rb_rcluster_map_t *self, int slot, int m);

/*  A redirection reply, parsed.  */
typedef struct {
    bool ask;                        /* ASK, else MOVED */
    int slot;                        /* 0 .. 16383 */
    char host[RB_RCLUSTER_HOST_MAX]; /* may be "" (the same host) */
    int port;                        /* 1 .. 65535 */
} rb_redirect_t;

/*  Parses the text of an error reply (len bytes, not NUL-terminated
    necessarily) as MOVED or ASK. 0, or -1 (another error, or a malformed
    redirection) with *out unchanged.  */
int rb_rcluster_redirect (const char *str, size_t len, rb_redirect_t *out);

#endif
