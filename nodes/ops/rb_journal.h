/*  rb_journal: the ops tool's append-only order journal, the source of
    truth for order numbers (docs/journal.md has the byte layout).

    Every record is framed by its length and a CRC-32C. Orders {seq, time,
    key, op, value} are written and fsynced before they are sent (load:
    one fsync per batch); acknowledgement records say which orders the DB
    took (and at which DB watermark), reject records which it refused for
    good. Neither of those is fsynced: a lost acknowledgement only causes
    an idempotent re-send.

    Opening reads the file once, sequentially (mmap, no per-record
    syscalls), checking every record: a torn last record (a crash
    mid-write) is cut off with a warning, a damaged record anywhere else
    refuses the journal with its byte offset. The scan leaves in memory
    the next seq, the pending orders (journaled, neither acknowledged nor
    rejected), a sparse seq→offset index and the acknowledgements that
    came in behind the DB's watermark, so rb_journal_recovery reads only
    the tail of the file it needs.

    A writer holds an exclusive flock on the file for its lifetime and
    reads the file (its size, its tail, the next seq) only once it holds
    it, so two ops processes never hand out the same seq. A reader
    (READONLY) takes no lock, writes nothing and leaves a torn tail alone:
    a record a writer is still appending is such a tail, never damage.
    A seq floor record (written by a repair, rb_journal_repair.h) raises
    the next seq above every seq the set-aside part may have used.

        rb_journal_err_t err;
        rb_journal_t *j = rb_journal_open ("ops.journal", 0, 5000, &err);
        uint64_t seq;
        rb_journal_add (j, RB_OP_PUT, "k", 1, "v", 1, &seq);
        rb_journal_commit (j);          // on disk: now it may be sent
        rb_journal_ack (j, &seq, 1, watermark_from_the_ack);
        rb_journal_destroy (&j);                                          */
#ifndef RB_JOURNAL_H
#define RB_JOURNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define RB_JOURNAL_VALUE_MAX (16u << 20) /* bytes in a journaled value */
#define RB_JOURNAL_KEY_MAX   64          /* bytes in a key */
/*  The highest seq the journal hands out (and the highest next seq a
    repair takes): the DB's scripts hold seqs as doubles, exact below 2^53,
    and the DB refuses an order at 2^53 or above (RB_SEQ_MAX).  */
#define RB_JOURNAL_SEQ_MAX ((1ull << 53) - 1)

/*  Request ids (recobus-ops serve): 16 bytes each; the journal
    remembers the newest RB_JOURNAL_REQUESTS of them (the window in which
    a repeated request is recognised).  */
#define RB_JOURNAL_RID_SIZE 16
#define RB_JOURNAL_REQUESTS 16384

/*  Open flags. */
enum {
    RB_JOURNAL_READONLY = 1, /* no lock, no writes, torn tail ignored */
};

/*  Why an open or a write failed. */
typedef enum {
    RB_JOURNAL_OK = 0,
    RB_JOURNAL_E_IO = 1,      /* open, read, write, fsync, lock failed */
    RB_JOURNAL_E_CORRUPT = 2, /* a damaged record before the last one */
    RB_JOURNAL_E_LOCKED = 3,  /* another writer held the lock too long */
    RB_JOURNAL_E_ARG = 4      /* a bad key, op or value, a repair refused
                                 (nothing written) */
} rb_journal_code_t;

typedef struct {
    int code;        /* rb_journal_code_t */
    uint64_t offset; /* E_CORRUPT: byte offset of the bad record */
    char text[600];  /* one line: "ops.journal: offset 96: checksum ..." */
} rb_journal_err_t;

/*  One order, as journaled. key and value are borrowed (from the caller,
    or from a map).  */
typedef struct {
    uint64_t seq;
    uint64_t time_ms; /* wall clock when journaled, ms since the epoch */
    uint8_t op;       /* RB_OP_PUT (1) or RB_OP_DELETE (2) */
    const char *key;
    uint32_t key_len;
    const void *value; /* empty for a delete */
    uint32_t value_len;
} rb_jorder_t;

typedef struct rb_journal rb_journal_t;

/*  Opens (a writer creates it if missing) and scans path. A writer waits
    up to lock_wait_ms for another writer's lock. NULL with *err filled on
    failure. A torn tail that was cut is reported by rb_journal_warning.  */
rb_journal_t *rb_journal_open (const char *path, int flags, int lock_wait_ms,
                               rb_journal_err_t *err);

/*  Releases the lock and closes the file; staged orders are dropped.
    Maps made from it stay readable. NULL-safe; sets *self_p to NULL.  */
void rb_journal_destroy (rb_journal_t **self_p);

const char *rb_journal_path (rb_journal_t *self);
/*  "cut a torn record ..." when open cut (or, read-only, ignored) one;
    else NULL. Borrowed.  */
const char *rb_journal_warning (rb_journal_t *self);
/*  The last write error, one line. Borrowed.  */
const char *rb_journal_errstr (rb_journal_t *self);

/*  The seq the next order gets (1 in a new journal). */
uint64_t rb_journal_next_seq (rb_journal_t *self);
/*  Orders journaled in all (committed). */
uint64_t rb_journal_orders (rb_journal_t *self);
/*  Pending orders: journaled, neither acknowledged nor rejected. first
    and last (may be NULL) get the lowest and highest pending seq.  */
uint64_t rb_journal_pending (rb_journal_t *self, uint64_t *first,
                             uint64_t *last);

/*  Stages one order (in memory) and gives it the next seq. A delete has
    no value. Returns 0, or -1 (E_ARG: bad key, op or value, or no seq
    left below 2^53; nothing staged) with errstr set.  */
int rb_journal_add (rb_journal_t *self, int op, const char *key, size_t key_len,
                    const void *value, size_t value_len, uint64_t *seq);
/*  How many orders are staged. */
size_t rb_journal_staged (rb_journal_t *self);
/*  Writes every staged order and fsyncs: once this returns 0 they are
    durable and pending. On failure (-1, errstr set) nothing of them
    stays in the file and their seqs are handed out again.  */
int rb_journal_commit (rb_journal_t *self);

/*  Stages a request record: the request id rid was journaled as the
    orders first .. first + count - 1, which must be the ones staged
    (one request per commit). Written by the same commit as its orders,
    so both are durable or neither is. 0, or -1 (E_ARG) with errstr.  */
int rb_journal_add_request (rb_journal_t *self,
                            const uint8_t rid[RB_JOURNAL_RID_SIZE],
                            uint64_t first, uint32_t count);
/*  Drops whatever is staged (orders and request), writing nothing;
    their seqs are handed out again.  */
void rb_journal_drop_staged (rb_journal_t *self);
/*  Whether rid is among the newest RB_JOURNAL_REQUESTS request ids
    journaled; if so *first and *count get its orders.  */
bool rb_journal_request (rb_journal_t *self,
                         const uint8_t rid[RB_JOURNAL_RID_SIZE],
                         uint64_t *first, uint32_t *count);
/*  How many of the orders lo .. hi are pending. */
uint64_t rb_journal_pending_in (rb_journal_t *self, uint64_t lo, uint64_t hi);
/*  fsyncs the file (acknowledgements are written without): 0 or -1. */
int rb_journal_sync (rb_journal_t *self);

/*  The DB acknowledged these orders (seqs ascending); watermark is the
    DB's watermark from the ACK. Forgets them as pending and appends an
    acknowledgement record, without fsync. Seqs not pending are ignored.
    Returns 0, or -1 if the record could not be written (the orders are
    forgotten as pending all the same).  */
int rb_journal_ack (rb_journal_t *self, const uint64_t *seqs, size_t n,
                    uint64_t watermark);
/*  The DB refused these orders for good (a malformed request): as ack,
    but they are also left out of every recovery.  */
int rb_journal_reject (rb_journal_t *self, const uint64_t *seqs, size_t n);

/*  --- reading orders back ---------------------------------------------- */

/*  A read-only mapping of the journal as it is now: the orders that
    rb_journal_pending_list and rb_journal_recovery point at.  */
typedef struct rb_journal_map rb_journal_map_t;

/*  NULL with errstr set if the file cannot be mapped. */
rb_journal_map_t *rb_journal_map_new (rb_journal_t *self);
void rb_journal_map_destroy (rb_journal_map_t **self_p);
/*  Decodes the order at offset (from the lists below); its key and value
    point into the map. Returns 0, or -1 if offset holds no order.  */
int rb_journal_map_order (const rb_journal_map_t *map, uint64_t offset,
                          rb_jorder_t *order);

/*  Offsets of the pending orders, seq ascending (*offsets is the
    caller's to free; NULL when there are none). Returns the count.  */
size_t rb_journal_pending_list (rb_journal_t *self, uint64_t **offsets);

/*  For recovery after a restore from a backup taken at watermark: the
    offset of the newest order of every key that has an order the backup
    may lack: one above the watermark, or one the DB acknowledged while its
    watermark already stood at or above the backup's (it may have been
    applied after the backup began). Deletes included, rejected orders
    left out; pending orders count as lacking. One pass over the tail of
    the map from the first such order. *offsets (the caller's to free) is
    in the order keys were first met; returns the count, or -1 with
    errstr set if a record in the tail cannot be read.  */
int64_t rb_journal_recovery (rb_journal_t *self, const rb_journal_map_t *map,
                             uint64_t watermark, uint64_t **offsets);

#endif
