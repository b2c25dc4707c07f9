/*  rb_scripts: the Lua scripts that make the DB node's reads and writes
    atomic in Redis. The key layout they share is in docs/db.md:

      rb:meta        hash: dataset, epoch, state, watermark, list_done,
                     total, restored_watermark, restore_owner/until
      rb:r:KEY       hash per record: v (value), s (seq), d ("1": deleted)
      rb:seq         hash KEY -> the record's seq (for FLAG, in bulk)
      rb:tombs       set of keys whose record is a tombstone
      rb:rec         hash, the recovering-key set: KEY -> target seq
      rb:f:KEY       set of service nodes that fetched KEY (for UPDATE)
      rb:p:KEY       set of service nodes answered "recovering" for KEY
      rb:polled      set of keys that have an rb:p:KEY set

    Every script but INIT and RESTORE_* takes as ARGV[1] "ID/EPOCH", the
    dataset the node serves and the highest epoch it has seen, checks
    rb:meta first (missing: needs_restore; another dataset or an older
    epoch: foreign) and answers a table whose first element is a status
    word.  */
#ifndef RB_SCRIPTS_H
#define RB_SCRIPTS_H

typedef enum {
    RB_SCRIPT_GET,           /* read value, seq, flag, epoch at once */
    RB_SCRIPT_APPLY,         /* apply orders, clear flags, watermark */
    RB_SCRIPT_FLAG,          /* store recovery-list targets */
    RB_SCRIPT_END,           /* RECOVERING -> NORMAL if nothing left */
    RB_SCRIPT_INIT,          /* new dataset on an empty Redis */
    RB_SCRIPT_RESTORE_BEGIN, /* flush, epoch + 1, state restoring */
    RB_SCRIPT_RESTORE_END,   /* state recovering, counts, watermark */
    RB_SCRIPT_STATUS,        /* state and counts */
    RB_SCRIPT_COUNT
} rb_script_t;

const char *rb_script_source (int script);
const char *rb_script_name (int script);

/*  --- replies ----------------------------------------------------------- */

#include <hiredis/hiredis.h>
#include <stdint.h>

/*  A script reply's first element, its status word ("ok", or a state or
    refusal word), or NULL if the reply is not a table starting with one.
    Borrowed from r.  */
const char *rb_db_reply_word (const redisReply *r);
/*  Element index of r as an unsigned integer (a Redis integer or a
    decimal string); 0, or -1 if it is absent or not one.  */
int rb_db_reply_u64 (const redisReply *r, size_t index, uint64_t *out);

/*  STATUS's reply, parsed once, here: every field, or why not.  */
typedef struct {
    char word[24];    /* "ok", or the state word it refused with; "" if
                         the reply was not understood */
    char state[16];   /* normal, restoring, recovering */
    char dataset[33]; /* 32 hex digits */
    uint64_t epoch, watermark;
    uint64_t total;      /* record hashes, tombstones included */
    uint64_t tombs;      /* tombstones */
    uint64_t recovering; /* keys flagged now */
    uint64_t list_done;  /* 1 once the recovery list's last batch came */
    uint64_t restored_watermark;
} rb_status_reply_t;

/*  0 if r is STATUS's "ok" reply, with every field of out filled; -1
    otherwise (out->word says the refusal, when there was one).  */
int rb_status_reply_parse (const redisReply *r, rb_status_reply_t *out);

#endif
