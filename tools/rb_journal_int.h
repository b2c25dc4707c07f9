/*  rb_journal_int: what rb_journal.c and rb_journal_read.c share:
    the byte layout's constants and the object's fields.  */
#ifndef RB_JOURNAL_INT_H
#define RB_JOURNAL_INT_H

#include "rb_journal.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define MAGIC       "RBJRNL\x01\n" /* file header: name, version, newline */
#define HEADER_SIZE 8
#define FRAME_SIZE                                                             \
    12                  /* before each payload: u32 length, u32 CRC-32C of     \
                            the length, u32 CRC-32C of the payload */
#define ORDER_FIXED  23 /* type, seq, time, op, key_len, value_len */
#define ACKS_FIXED   13 /* type, watermark, range count */
#define RANGES_MAX   65536
#define RECORD_MAX   (ORDER_FIXED + RB_JOURNAL_KEY_MAX + RB_JOURNAL_VALUE_MAX)
#define INDEX_EVERY  1024 /* orders between two sparse index marks */
#define LOCK_POLL_MS 20

enum { T_ORDER = 1, T_ACK = 2, T_REJECT = 3 };

typedef struct {
    uint64_t seq;
    uint64_t offset; /* UINT64_MAX once no longer pending */
} jpend_t;

typedef struct {
    uint64_t lo, hi; /* seqs, inclusive */
    uint64_t mark;   /* late: the DB's watermark when it acknowledged */
} jrange_t;

typedef struct {
    uint64_t seq, offset;
} jmark_t;

struct rb_journal {
    char *path;
    int fd;
    bool readonly;
    bool broken;     /* an fsync or a clean-up failed: no more writes */
    uint64_t size;   /* bytes of checked records: where the next goes */
    uint64_t next;   /* the next order's seq */
    uint64_t orders; /* orders in the file */
    char warning[700];
    char errstr[600];
    jpend_t *pend; /* pending orders, seq ascending, with dead entries */
    size_t n_pend, cap_pend, dead;
    uint64_t pending; /* live entries in pend */
    size_t head;      /* pend entries before this one are all dead */
    jrange_t *late;   /* acks that came in behind the DB's watermark */
    size_t n_late, cap_late;
    jrange_t *rejected;
    size_t n_rejected, cap_rejected;
    jmark_t *marks; /* sparse index: every INDEX_EVERY-th order */
    size_t n_marks, cap_marks;
    uint8_t *stage; /* staged order records, not yet written */
    size_t stage_len, stage_cap;
    jpend_t *staged; /* their seqs and offsets within stage */
    size_t n_staged, cap_staged;
};

struct rb_journal_map {
    const uint8_t *base;
    uint64_t size;
};

/*  Little-endian reads. */
static inline uint32_t
rb_jget32 (const uint8_t *p)
{
    return (uint32_t) p[0] | (uint32_t) p[1] << 8 | (uint32_t) p[2] << 16 |
           (uint32_t) p[3] << 24;
}

static inline uint64_t
rb_jget64 (const uint8_t *p)
{
    return (uint64_t) rb_jget32 (p) | (uint64_t) rb_jget32 (p + 4) << 32;
}

/*  Grows *array (of elements of size elem) to hold at least want. */
void rb_journal_grow_ (void **array, size_t *cap, size_t want, size_t elem);
/*  Decodes an ORDER payload of len bytes into *o (pointing into p):
    NULL if it is well formed, else what is wrong.  */
const char *rb_journal_decode_order_ (const uint8_t *p, uint32_t len,
                                      rb_jorder_t *o);
/*  Appends r to a growing array of ranges. */
void rb_journal_range_add_ (jrange_t **array, size_t *n, size_t *cap,
                            jrange_t r);

#endif
