/*  rb_scripts: the Lua scripts that make the DB node's reads and writes
    atomic in Redis. Each runs on one partition N of the dataset
    (rb_parts.h) and touches only its keys, all in one hash slot (the
    tag {N}). The layout is in docs/db.md:

      rb:{N}:meta     hash: the partition's copy of the dataset's state:
                      dataset, epoch, state, list_done, parts, and its
                      own watermark, total, restored_watermark, replid
                      (rb_failover.h); partition 0's also the restore
                      lease (restore_owner/until)
      rb:{N}:r:KEY    hash per record: v (value), s (seq), d ("1": deleted)
      rb:{N}:tombs    set of keys whose record is a tombstone
      rb:{N}:rec      hash, the recovering-key set: KEY -> target seq, for
                      every listed key until an order reaches the target;
                      recovering while the record's seq is below it
      rb:{N}:f:KEY    set of service nodes that fetched KEY (for UPDATE)
      rb:{N}:fa       set of service nodes that asked for an absent key
      rb:{N}:p:KEY    set of service nodes answered "recovering" for KEY
      rb:{N}:polled   set of keys that have a p:KEY set
      rb:{N}:rec:held rec moved aside while a refused recovery-list
                      batch's MULTI/EXEC runs (one Redis: FLAG_OPEN)
      rb:{N}:stable   never exists: declared by every script, so that on
                      a cluster none runs while its slot migrates

    Every script but INIT, RESTORE_*, FOLLOW and STATUS takes as ARGV[1]
    "ID/EPOCH", the dataset the node serves and the highest epoch it has
    seen, checks the partition's meta first (missing: needs_restore;
    another dataset: foreign; an older epoch: lagging) and answers a
    table whose first element is a status word. The KEYS and ARGV of
    each are given with its source in rb_scripts.c; each reply's parser
    declared here is in rb_replies.c.  */
#ifndef RB_SCRIPTS_H
#define RB_SCRIPTS_H

typedef enum {
    RB_SCRIPT_GET,           /* read value, seq, flag, epoch at once */
    RB_SCRIPT_APPLY,         /* apply orders, clear flags, watermark */
    RB_SCRIPT_FLAG,          /* a recovery-list batch (a cluster) */
    RB_SCRIPT_FLAG_OPEN,     /* one Redis: the batch's MULTI/EXEC opens */
    RB_SCRIPT_FLAG_CLOSE,    /* ... and closes */
    RB_SCRIPT_END,           /* RECOVERING -> NORMAL if nothing left */
    RB_SCRIPT_INIT,          /* new dataset on an empty Redis */
    RB_SCRIPT_RESTORE_BEGIN, /* flush, epoch + 1, state restoring */
    RB_SCRIPT_RESTORE_CLEAN, /* after the load: the tombstone set */
    RB_SCRIPT_RESTORE_END,   /* state recovering, counts, watermark */
    RB_SCRIPT_STATUS,        /* state and counts */
    RB_SCRIPT_FAILOVER,      /* a new connection: may Redis be behind? */
    RB_SCRIPT_FOLLOW,        /* a partition left at an older epoch */
    RB_SCRIPT_COUNT
} rb_script_t;

const char *rb_script_source (int script);
const char *rb_script_name (int script);

/*  --- replies ------------------------------------------------------------

    Each script's reply is parsed once, in rb_replies.c, into a named
    struct; nobody else reads a reply's elements. Every parser returns
       0  the script's "ok" reply, every field of out filled;
      -1  the script refused: out->word is the word it answered with (a
          state such as "needs_restore", or "incomplete", "busy" ...);
      -2  no reply, a Redis error reply, or not the shape the script
          returns: out->word is "" and out is all zeros (nothing
          half-read is left behind).
    Strings in out that are pointers borrow from r: they live as long as
    r does. A reply with lists (APPLY, FLAG) is released with its
    _release function, which is NULL-safe and may be called after any
    return.  */

#include <hiredis/hiredis.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define RB_REPLY_WORD 24 /* bytes for a status word, NUL included */

/*  Redis's message if r is an error reply (borrowed), else NULL: what to
    say when a parser answered -2 for it.  */
const char *rb_reply_error (const redisReply *r);

/*  For the parsers of scripts kept in files of their own (rb_failover):
    r's status word into word (0 "ok", -1 another, -2 not a word that
    fits); element index as an unsigned integer; element index, a
    string shorter than len, into out (0, or -1 if it is not).  */
int rb_reply_word (const redisReply *r, char *word);
int rb_reply_u64 (const redisReply *r, size_t index, uint64_t *out);
int rb_reply_text (const redisReply *r, size_t index, char *out, size_t len);

/*  GET: {'ok', epoch, dataset, reads} or {state}; reads holds seq,
    flag, found, value and reg for each key asked, in order. One item per
    key; a refusal or a reply not understood gives every item the same
    word (and nothing else).  */
typedef struct {
    char word[RB_REPLY_WORD];
    uint64_t epoch;    /* the dataset's, as the reply was read */
    uint64_t seq;      /* the record's, 0 if there is none */
    bool recovering;   /* the record may be behind: answer flag true */
    bool found;        /* a record that is not a tombstone */
    const char *value; /* found: the value (borrowed); else NULL */
    size_t value_len;
    bool registered; /* the call registered the asking node in a set that
                        only expires (rb:f:KEY or rb:fa) */
} rb_get_reply_t;

/*  Parses a GET call that asked n keys into out[0 .. n-1].  */
int rb_get_reply_parse (const redisReply *r, size_t n, rb_get_reply_t *out);

/*  The plain read of a key that needs no script (rb_db_reads.c): the
    replies of HMGET rb:meta dataset epoch state (before and after) and
    HMGET rb:r:KEY v s d.  */
#define RB_META_FIELDS   "dataset", "epoch", "state"
#define RB_RECORD_FIELDS "v", "s", "d"

/*  Whether a plain HMGET of RB_META_FIELDS says dataset id at epoch, in
    state normal.  */
bool rb_meta_reply_normal (const redisReply *r, const char *id, uint64_t epoch);
/*  Parses a plain HMGET of RB_RECORD_FIELDS into out, as GET would read
    the key in state normal (flag false, registered false), with epoch.
    0, or -2 if it is not that shape.  */
int rb_record_reply_parse (const redisReply *r, uint64_t epoch,
                           rb_get_reply_t *out);

/*  One push an APPLY asks for, about one of the orders it applied. */
typedef struct {
    char kind;         /* 'u' UPDATE with the order's record, 'c' UPDATE
                          with the key's current record (the order was
                          skipped), 'r' RECOVERED */
    uint32_t order;    /* index into the orders sent, from 0 */
    const char *node;  /* the service node to push to (borrowed) */
    uint64_t seq;      /* kind 'c': the current record's seq */
    bool deleted;      /* kind 'c': it is a tombstone */
    const char *value; /* kind 'c': its value (borrowed), NULL if deleted */
    size_t value_len;
} rb_apply_push_t;

/*  APPLY: {'ok', applied, skipped, cleared, watermark, pushes, current,
    epoch} or {state}; each push refers to an order of the n sent.  */
typedef struct {
    char word[RB_REPLY_WORD];
    uint64_t applied, skipped, cleared; /* orders applied, skipped as not
                                           newer, flags cleared (keys that
                                           were behind their target) */
    uint64_t watermark;                 /* after the orders */
    uint64_t epoch;                     /* the dataset's: pushes carry it */
    rb_apply_push_t *pushes;            /* owned; n_pushes of them */
    size_t n_pushes;
} rb_apply_reply_t;

int rb_apply_reply_parse (const redisReply *r, uint32_t n_orders,
                          rb_apply_reply_t *out);
void rb_apply_reply_release (rb_apply_reply_t *reply);

/*  A RECOVERED push the recovery list's last batch asks for. */
typedef struct {
    const char *key; /* borrowed */
    size_t key_len;
    const char *node; /* the service node to push to (borrowed) */
} rb_flag_recovered_t;

/*  FLAG: {'ok', flagged, current, recovered} or {word, ...}. */
typedef struct {
    char word[RB_REPLY_WORD];
    uint64_t flagged;               /* keys whose target was stored */
    uint64_t current;               /* 0: no record is read (GET compares) */
    rb_flag_recovered_t *recovered; /* owned; n_recovered of them */
    size_t n_recovered;
} rb_flag_reply_t;

int rb_flag_reply_parse (const redisReply *r, rb_flag_reply_t *out);
void rb_flag_reply_release (rb_flag_reply_t *reply);

/*  END: {'ok'}, {'list_incomplete'}, {'incomplete', n} or {state}. */
typedef struct {
    char word[RB_REPLY_WORD];
    uint64_t left; /* word "incomplete": keys still recovering */
} rb_end_reply_t;

int rb_end_reply_parse (const redisReply *r, rb_end_reply_t *out);

/*  INIT: {'ok'} or {'not_empty', dbsize}. */
typedef struct {
    char word[RB_REPLY_WORD];
    uint64_t keys; /* word "not_empty": keys Redis holds */
} rb_init_reply_t;

int rb_init_reply_parse (const redisReply *r, rb_init_reply_t *out);

/*  RESTORE_BEGIN: {'ok', epoch}, {'busy', who} or {'lost', epoch}. */
typedef struct {
    char word[RB_REPLY_WORD];
    uint64_t epoch; /* ok: the new epoch; lost: the partition's */
    char who[64];   /* busy: the node holding the restore lease */
} rb_restore_begin_reply_t;

int rb_restore_begin_reply_parse (const redisReply *r,
                                  rb_restore_begin_reply_t *out);

/*  RESTORE_CLEAN: {'ok', tombs, sets} or {'lost', epoch}. */
typedef struct {
    char word[RB_REPLY_WORD];
    uint64_t tombs; /* tombstones in the partition */
    uint64_t sets;  /* 1 if its tombstone set exists (a key of its own) */
} rb_restore_clean_reply_t;

int rb_restore_clean_reply_parse (const redisReply *r,
                                  rb_restore_clean_reply_t *out);

/*  RESTORE_END: {'ok'} or {'lost', owner}. */
typedef struct {
    char word[RB_REPLY_WORD];
} rb_restore_end_reply_t;

int rb_restore_end_reply_parse (const redisReply *r,
                                rb_restore_end_reply_t *out);

/*  FOLLOW: {'ok', moved}, {'restoring'} or a refusal. */
typedef struct {
    char word[RB_REPLY_WORD];
    bool moved; /* this call moved the partition to the epoch */
} rb_follow_reply_t;

int rb_follow_reply_parse (const redisReply *r, rb_follow_reply_t *out);

/*  STATUS: {'ok', state, epoch, watermark, total, tombs, recovering,
    list_done, restored_watermark, dataset, parts} of one partition, or
    {state}.  */
typedef struct {
    char word[RB_REPLY_WORD];
    char state[16];   /* normal, restoring, recovering */
    char dataset[33]; /* 32 hex digits */
    uint64_t epoch, watermark;
    uint64_t total;      /* record hashes, tombstones included */
    uint64_t tombs;      /* tombstones */
    uint64_t recovering; /* listed keys no order has reached yet */
    uint64_t list_done;  /* 1 once the recovery list's last batch came */
    uint64_t restored_watermark;
    uint64_t parts;   /* partitions the dataset was made with */
    uint64_t lagging; /* merged: partitions below the highest epoch */
} rb_status_reply_t;

int rb_status_reply_parse (const redisReply *r, rb_status_reply_t *out);

/*  The dataset's status from its n partitions' STATUS replies (r[p] is
    partition p's), into out, as rb_status_reply_parse answers:
      - a reply not understood: -2; a partition missing or holding
        another dataset: -1 with its word (needs_restore, foreign);
      - else 0 and: epoch and watermark the highest, lagging the
        partitions below that epoch; state restoring if any partition
        is, else recovering if any is (or lags), else normal; total,
        tombs and recovering summed; list_done 1 only if every
        recovering partition has it; restored_watermark the lowest of
        the recovering partitions'; parts the partitions' own word (a
        partition that disagrees: -1, word "parts").  */
int rb_status_merge (redisReply *const *r, int n, rb_status_reply_t *out);

#endif
