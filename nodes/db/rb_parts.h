/*  rb_parts: the partitions of a dataset in Redis (docs/db.md, "Redis
    key layout").

    Every key of a dataset lives in one partition, and every key of
    partition N is named rb:{N}:..., so on a Redis Cluster the whole
    partition is in one hash slot (the tag {N}) and a script can touch
    any of its keys in one atomic step. A record KEY is in partition
    crc16(KEY) mod P. Each partition holds its own copy of the dataset's
    global state (rb:{N}:meta: dataset, epoch, state, list_done, ...),
    which GET reads atomically with the record.

    P is 1 on one Redis (the layout is the same: rb:{0}:...) and
    RB_PARTS_CLUSTER on a Redis Cluster; a dataset keeps the P it was
    made with (meta field parts), and moves between the two only by a
    backup and a restore.

    A batch (rb_batch_t) builds many script or plain calls, one per
    partition or per key group, owning their argument strings, and runs
    them as one pipeline: it is how the DB node fans a step out to every
    partition, and how it sends the calls of one request that touches
    several.  */
#ifndef RB_PARTS_H
#define RB_PARTS_H

#include "rb_store.h"

#include <stddef.h>
#include <stdint.h>

/*  Partitions of a dataset on a Redis Cluster: fine enough that a
    resharding moves a small part of the data at a time, few enough that
    a step fanned out to all of them costs a few milliseconds.  */
#define RB_PARTS_CLUSTER 1024

/*  The longest suffix a key name takes after "rb:{N}:" ("rec:held"). */
#define RB_PART_PREFIX_MAX 16

/*  Partitions of a dataset in store: 1 on one Redis, RB_PARTS_CLUSTER on
    a cluster.  */
int rb_parts_count (rb_store_t *store);
/*  The partition of record key (len bytes) among parts.  */
int rb_part_of (int parts, const char *key, size_t len);
/*  The hash slot of partition p (its tag {p}).  */
int rb_part_slot (int p);
/*  "rb:{p}:" + suffix + key (key may be NULL) into buf, NUL-terminated;
    returns its length. buf must hold RB_PART_PREFIX_MAX + 8 + klen.  */
size_t rb_part_key (char *buf, size_t size, int p, const char *suffix,
                    const char *key, size_t klen);

/*  --- a batch of calls ---------------------------------------------------- */

typedef struct rb_batch rb_batch_t;

rb_batch_t *rb_batch_new (void);
void rb_batch_destroy (rb_batch_t **self_p);
/*  Frees the replies and forgets the calls (keeps the memory).  */
void rb_batch_reset (rb_batch_t *self);

/*  Starts a call: script (< 0: a plain command whose args follow) at
    slot (rb_call_t.slot). Returns its index.  */
int rb_batch_call (rb_batch_t *self, int script, int slot);
/*  A KEYS entry of the current call, "rb:{p}:" suffix key (key may be
    NULL): every key must come before the first arg.  */
void rb_batch_key (rb_batch_t *self, int p, const char *suffix, const char *key,
                   size_t klen);
/*  An argument of the current call (copied).  */
void rb_batch_arg (rb_batch_t *self, const char *arg, size_t len);
void rb_batch_str (rb_batch_t *self, const char *arg);
void rb_batch_u64 (rb_batch_t *self, uint64_t n);

/*  Runs every call as one pipeline (rb_store_run); 0, or -1 if the
    store failed (every reply NULL).  */
int rb_batch_run (rb_batch_t *self, rb_store_t *store);
int rb_batch_size (rb_batch_t *self);
/*  Call i's reply after a run (borrowed; NULL if none).  */
redisReply *rb_batch_reply (rb_batch_t *self, int i);

/*  Starts a script call on partition p with its common KEYS: meta,
    stable, then "rb:{p}:" + each of sets (NULL-terminated, may be NULL);
    the caller adds any further keys, then the args.  */
void rb_batch_part_call (rb_batch_t *self, int script, int p,
                         const char *const *sets);

/*  A script on every one of parts partitions, with KEYS "rb:{p}:" +
    each of suffixes (n_suffixes of them) and the same args (argc of
    them), run as one pipeline: self is reset first, and call p is
    partition p's.  */
int rb_batch_all (rb_batch_t *self, rb_store_t *store, int parts, int script,
                  const char *const *suffixes, int n_suffixes, int argc,
                  const char *const *argv);

/*  --- the dataset's status ------------------------------------------------ */

#include "rb_scripts.h"

/*  STATUS on every partition (ARGV ds, "ID/EPOCH"), merged as
    rb_status_merge says: 0, -1 (out->word: needs_restore, foreign,
    parts), -2 (a reply not understood, or a Redis error: *error, if not
    NULL, gets its text, borrowed until b is reset), or -3 when Redis
    could not be reached.  */
int rb_parts_status (rb_batch_t *b, rb_store_t *store, const char *ds,
                     rb_status_reply_t *out, const char **error);

/*  The record key in a record hash's name "rb:{N}:r:KEY" (len bytes):
    a pointer into name and *klen, or NULL if name is not one.  */
const char *rb_part_record_key (const char *name, size_t len, size_t *klen);

#endif
