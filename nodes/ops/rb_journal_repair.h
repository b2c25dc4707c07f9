/*  rb_journal_repair: checking a journal record by record, and repairing
    a damaged one (recobus-ops journal check / journal repair; the rules
    are in docs/journal.md).

    A check maps the file under a flock (shared for a check: writers
    finish first, so no record is being written while it reads) and
    reads every record, going on past damage: each damaged span is kept
    with its offset and size, a torn last record (a crash mid-write) as
    such. It writes nothing.

    A repair is a check under the exclusive lock that found damage. It
    keeps the longest valid prefix (every byte before the first damaged
    record: what an open accepts) and saves every byte from there to the
    end in a new file next to the journal,
    JOURNAL.damaged-YYYYMMDDTHHMMSS-OFFSET (UTC), fsynced. The repaired
    journal (the prefix, then a seq floor record when seqs above the kept
    ones may have been handed out) is written beside the old one, fsynced
    and renamed over it: a crash leaves either file whole, and whoever
    still maps the old one goes on reading it. No byte is deleted: the
    prefix is in the journal, the rest in the set-aside file.

        rb_journal_err_t err;
        rb_jcheck_t *c = rb_jcheck_new ("ops.journal", true, 5000, &err);
        rb_jrepair_t done;
        if (c && rb_jcheck_info (c)->damaged)
            rb_jcheck_repair (c, 0, &done, &err);
        rb_jcheck_destroy (&c);                                           */
#ifndef RB_JOURNAL_REPAIR_H
#define RB_JOURNAL_REPAIR_H

#include "rb_journal.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/*  One damaged span. */
typedef struct {
    uint64_t offset; /* where it starts */
    uint64_t bytes;  /* up to the next intact record, or the end */
    char text[600];  /* "ops.journal: offset 45: checksum mismatch" */
} rb_jdamage_t;

/*  Seqs that unreadable bytes of the set-aside part may have held. */
typedef struct {
    uint64_t lo, hi; /* inclusive; hi 0: no readable order after them */
    uint64_t offset; /* the first unreadable byte */
} rb_jgap_t;

typedef struct {
    uint64_t size;     /* bytes in the file */
    uint64_t records;  /* intact records (orders, acknowledgements, ...) */
    uint64_t orders;   /* intact orders */
    uint64_t last_seq; /* the highest seq of those, 0 if none */
    uint64_t next_seq; /* above every seq the file shows used */
    size_t damaged;    /* damaged spans */
    bool torn;         /* the file ends in a torn record */
    uint64_t torn_offset;
    const char *torn_why; /* static text */
    uint64_t keep;        /* damaged: bytes before the first damage */
    uint64_t kept_next;   /* damaged: the next seq of those bytes */
    bool next_known;      /* false: unreadable bytes after the last
                             readable order may hold seqs above next_seq */
} rb_jcheck_info_t;

typedef struct rb_jcheck rb_jcheck_t;

/*  Reads the journal at path under a shared flock (exclusive: for a
    repair, held until destroy), waiting up to lock_wait_ms for writers.
    NULL with *err: E_IO (missing, unreadable), E_LOCKED, or E_CORRUPT
    for a file that is not a journal (offset 0).  */
rb_jcheck_t *rb_jcheck_new (const char *path, bool exclusive, int lock_wait_ms,
                            rb_journal_err_t *err);
/*  NULL-safe; releases the lock; sets *self_p to NULL. */
void rb_jcheck_destroy (rb_jcheck_t **self_p);

const rb_jcheck_info_t *rb_jcheck_info (rb_jcheck_t *self);
/*  The damaged spans in file order; *n gets the count. Borrowed.  */
const rb_jdamage_t *rb_jcheck_damage (rb_jcheck_t *self, size_t *n);
/*  The readable orders at or after the first damage (a repair sets them
    aside: lost), in file order: how many, and the i-th decoded into *o
    (key and value point into the check's map); returns its offset.  */
size_t rb_jcheck_lost (rb_jcheck_t *self);
uint64_t rb_jcheck_lost_order (rb_jcheck_t *self, size_t i, rb_jorder_t *o);
/*  The seq ranges unreadable set-aside bytes may have held. Borrowed. */
const rb_jgap_t *rb_jcheck_gaps (rb_jcheck_t *self, size_t *n);

/*  What a repair did. */
typedef struct {
    char aside[4200];  /* the file the set-aside bytes went to */
    uint64_t next_seq; /* the repaired journal's next seq */
    bool floor;        /* a seq floor record says so */
} rb_jrepair_t;

/*  Repairs the journal of an exclusive check that found damage. The next
    seq is next_seq, or with 0 the info's next_seq, which must then be
    known. Returns 0 with *out filled, or -1 with *err: E_ARG when the
    next seq is unknown or next_seq is below a seq already used or above
    RB_JOURNAL_SEQ_MAX (nothing changed), E_IO.  */
int rb_jcheck_repair (rb_jcheck_t *self, uint64_t next_seq, rb_jrepair_t *out,
                      rb_journal_err_t *err);

#endif
