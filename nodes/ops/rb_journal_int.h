/*  rb_journal_int: what the journal's files share: the byte layout's
    constants, the object's fields, and the frame checks and record takers
    of the open scan. Calls go one way, down this list:
      rb_journal_repair.c   check and repair (journal check|repair)
      rb_journal_read.c     orders read back: pending, recovery
      rb_journal.c          open, scan, append, acknowledge
      rb_journal_frame.c    framing, checks, ORDER decoding, file calls  */
#ifndef RB_JOURNAL_INT_H
#define RB_JOURNAL_INT_H

#ifndef RB_INSIDE_OPS
#error "rb_journal_int.h is internal to its floor; include its public header"
#endif

#include "rb_crc32c.h"
#include "rb_journal.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>

#define MAGIC       "RBJRNL\x01\n" /* file header: name, version, newline */
#define HEADER_SIZE 8
#define FRAME_SIZE                                                             \
    12                  /* before each payload: u32 length, u32 CRC-32C of     \
                            the length, u32 CRC-32C of the payload */
#define ORDER_FIXED  23 /* type, seq, time, op, key_len, value_len */
#define ACKS_FIXED   13 /* type, watermark, range count */
#define FLOOR_SIZE   9  /* type, the next order's lowest seq */
#define REQUEST_SIZE 29 /* type, request id, first seq, order count */
#define RANGES_MAX   65536
#define RECORD_MAX   (ORDER_FIXED + RB_JOURNAL_KEY_MAX + RB_JOURNAL_VALUE_MAX)
#define INDEX_EVERY  1024 /* orders between two sparse index marks */
#define LOCK_POLL_MS 20
#define REOPEN_MAX   8 /* times a file replaced under a waiter is reopened */

enum { T_ORDER = 1, T_ACK = 2, T_REJECT = 3, T_FLOOR = 4, T_REQUEST = 5 };

/*  What the frame at an offset holds (rb_journal_frame_state_). */
enum {
    F_OK = 0,         /* an intact record */
    F_TORN = 1,       /* a crash mid-write: runs to the end, nothing
                         intact follows */
    F_BAD_HEADER = 2, /* damaged length: where the next record starts
                         is unknown */
    F_BAD_PAYLOAD = 3 /* damaged payload: the next starts after it */
};

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

/*  A request id and the orders it was journaled as. */
typedef struct {
    uint8_t rid[RB_JOURNAL_RID_SIZE];
    uint64_t first; /* seq of its first order */
    uint32_t count; /* its orders: first .. first + count - 1 */
} jreq_t;

struct rb_journal {
    char *path;
    int fd;
    bool readonly;
    bool broken;     /* an fsync or a clean-up failed: no more writes */
    bool salvage;    /* reading past damage (journal check): an ack may
                        name orders lost in it */
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
    jreq_t staged_req; /* the request record staged after them, if any */
    bool has_staged_req;
    jreq_t *reqs; /* the newest RB_JOURNAL_REQUESTS request ids, a ring */
    size_t n_reqs, reqs_at; /* entries used; where the next one goes */
};

struct rb_journal_map {
    const uint8_t *base;
    uint64_t size;
};

/*  Little-endian reads and writes. */
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

static inline void
rb_jput32 (uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (uint8_t) (v >> (8 * i));
}

static inline void
rb_jput64 (uint8_t *p, uint64_t v)
{
    rb_jput32 (p, (uint32_t) v);
    rb_jput32 (p + 4, (uint32_t) (v >> 32));
}

/*  Fills *err: its code, offset and one line of text. */
void rb_journal_err_ (rb_journal_err_t *err, int code, uint64_t offset,
                      const char *fmt, ...)
    __attribute__ ((format (printf, 4, 5)));
/*  Grows *array (of elements of size elem) to hold at least want. */
void rb_journal_grow_ (void **array, size_t *cap, size_t want, size_t elem);
/*  Decodes an ORDER payload of len bytes into *o (pointing into p):
    NULL if it is well formed, else what is wrong.  */
const char *rb_journal_decode_order_ (const uint8_t *p, uint32_t len,
                                      rb_jorder_t *o);
/*  Appends r to a growing array of ranges. */
void rb_journal_range_add_ (jrange_t **array, size_t *n, size_t *cap,
                            jrange_t r);
/*  Checks one intact record's payload (p, len, at offset) and takes it
    into self's bookkeeping: 0, or -1 with err (E_CORRUPT) naming it.  */
int rb_journal_take_ (rb_journal_t *self, const uint8_t *p, uint32_t len,
                      uint64_t offset, rb_journal_err_t *err);
/*  Frames a payload in place: buf holds FRAME_SIZE free bytes, then len
    payload bytes.  */
void rb_journal_frame_ (uint8_t *buf, uint32_t len);

/*  A journal object for path, no file open yet (fd -1, next seq 1). */
rb_journal_t *rb_journal_new_ (const char *path, bool readonly);
/*  Opens path (open flags oflags), waits up to wait_ms for its flock
    lock_op (LOCK_EX, LOCK_SH, or 0 for none), then takes *st: never
    before the lock, another writer may still be appending. A file that
    was replaced while we waited (a repair renames a new one into place)
    is opened again. The descriptor of a regular file, or -1 with err.  */
int rb_journal_open_fd_ (const char *path, int oflags, int lock_op, int wait_ms,
                         struct stat *st, rb_journal_err_t *err);
/*  Writes all of buf at offset; 0 or -1 with errno. */
int rb_journal_pwrite_all_ (int fd, const void *buf, size_t len,
                            uint64_t offset);
/*  fsyncs the directory holding path, so a new name in it is durable. */
int rb_journal_sync_dir_ (const char *path);

/*  The frame at off in base[0..size): F_OK, F_TORN,
    F_BAD_HEADER or F_BAD_PAYLOAD, with *why set unless F_OK.  */
int rb_journal_frame_state_ (const uint8_t *base, uint64_t size, uint64_t off,
                             const char **why);
/*  The offset of the first intact record after off, or size. */
uint64_t rb_journal_next_intact_ (const uint8_t *base, uint64_t size,
                                  uint64_t off);

#endif
