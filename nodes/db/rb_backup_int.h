/*  rb_backup_int: what the backup file's source files share (internal):
    the byte layout (docs/backup-format.md has it in full) and the helpers
    that read and write it. rb_backup.c holds them; rb_backup_writer.c
    writes a file, rb_backup_reader.c reads and verifies one, each calling
    rb_backup.c only; rb_backup_dir.c lists the dir, picks the newest and
    keeps N, calling the reader.  */
#ifndef RB_BACKUP_INT_H
#define RB_BACKUP_INT_H

#ifndef RB_INSIDE_DB
#error "rb_backup_int.h is internal to its floor; include its public header"
#endif

#include "rb_backup.h"

#include <limits.h>

/*  Sizes in bytes: the header (magic 8, version 4, dataset 32, epoch,
    watermark, created_ms 8 each), a record's fixed head (flags 1, key_len
    1, value_len 4, seq 8), the trailer (magic 8, count 8, CRC 4), the
    signature block (magic 8, public key 32, signature 64).  */
#define RB_BACKUP__HEADER_SIZE  68
#define RB_BACKUP__RECORD_HEAD  14
#define RB_BACKUP__TRAILER_SIZE 20
#define RB_BACKUP__SIG_SIZE     (8 + RB_SIGN_PUBLIC_SIZE + RB_SIGN_SIZE)
#define RB_BACKUP__END_MAGIC    "RBEND\0\0\0" /* the trailer's first 8 */
#define RB_BACKUP__SIG_MAGIC    "RBSIG\0\0\0" /* the signature block's */
#define RB_BACKUP__FLAG_TOMB    0x01          /* record flags: tombstone */
#define RB_BACKUP__BUF_SIZE     1048576       /* I/O buffer */
#define RB_BACKUP__ERR_MAX      (2 * PATH_MAX + 256) /* an error text */

/*  Formats into err (NULL-safe); returns -1 for the caller to pass on. */
int rb_backup__err (char *err, size_t errlen, const char *fmt, ...)
    __attribute__ ((format (printf, 3, 4)));
/*  Formats "PATH: offset N: what" into err; returns -1. */
int rb_backup__bad (char *err, size_t errlen, const char *path, uint64_t offset,
                    const char *fmt, ...)
    __attribute__ ((format (printf, 5, 6)));

/*  n bytes, little-endian. */
void rb_backup__put_le (uint8_t *p, uint64_t v, int n);
uint64_t rb_backup__get_le (const uint8_t *p, int n);
/*  A byte a key may hold: printable, no space (0x21..0x7e). */
bool rb_backup__key_byte (uint8_t c);
/*  "dir/name", freshly allocated (caller frees). */
char *rb_backup__join (const char *dir, const char *name);

/*  Why h cannot be written, or NULL. */
const char *rb_backup__header_problem (const rb_backup_header_t *h);
/*  h into the RB_BACKUP__HEADER_SIZE bytes at p. */
void rb_backup__header_encode (const rb_backup_header_t *h, uint8_t *p);
/*  Decodes and checks the RB_BACKUP__HEADER_SIZE bytes at p, read from
    path (version 1 or 2): 0, or -1 with err "PATH: offset N: what is
    wrong".  */
int rb_backup__header_decode (const char *path, const uint8_t *p,
                              rb_backup_header_t *h, char *err, size_t errlen);

#endif
