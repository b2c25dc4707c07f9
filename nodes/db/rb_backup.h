/*  rb_backup: the DB node's backup file: a header (dataset, epoch,
    watermark, time), the records, and a trailer with the record count and
    a CRC-32C over the whole file. Written to a temp file and renamed into
    place, so a backup file either verifies in full or is refused. The byte
    layout is in docs/backup-format.md.  */
#ifndef RB_BACKUP_H
#define RB_BACKUP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define RB_BACKUP_VERSION 1
#define RB_BACKUP_KEY_MAX 64 /* longest key, bytes */

typedef struct {
    char dataset[33];    /* dataset id: 32 lowercase hex chars + NUL */
    uint64_t epoch;      /* epoch of the data when the backup started */
    uint64_t watermark;  /* highest order seq applied when it started */
    uint64_t created_ms; /* unix time in ms */
} rb_backup_header_t;

typedef struct {
    const char *key;      /* 1..64 printable bytes 0x21..0x7e */
    uint32_t key_len;     /* bytes in key */
    const uint8_t *value; /* 0..max_value bytes; empty for a tombstone */
    uint32_t value_len;   /* bytes in value */
    uint64_t seq;         /* seq of the order that last wrote the record */
    bool tombstone;       /* a delete: reads as not found */
} rb_backup_record_t;

/*  Writing a backup                                                     */

typedef struct rb_backup_writer rb_backup_writer_t;

/*  Creates DIR/.backup-XXXXXX.tmp (mkstemp) and writes the header. The
    header must hold a 32-char lowercase hex dataset id, an epoch >= 1 and
    a created_ms of at most 13 digits. NULL + err on failure.  */
rb_backup_writer_t *rb_backup_writer_new (const char *dir,
                                          const rb_backup_header_t *h,
                                          char *err, size_t errlen);

/*  Appends one record (buffered). Returns 0, or -1 + err. A bad record
    (key length or bytes, a tombstone with a value) is refused and the
    writer stays usable; after a failed write every call fails.  */
int rb_backup_writer_add (rb_backup_writer_t *w, const rb_backup_record_t *r,
                          char *err, size_t errlen);

/*  Writes the trailer, fsyncs the file, renames it to
    DIR/backup-<created_ms 13 digits>-w<watermark>.rbb (never over an
    existing file), fsyncs DIR. *path_p gets the final path (caller frees),
    *bytes the file size; either may be NULL. On any failure removes the
    temp file, returns -1 + err. Always destroys *w_p.  */
int rb_backup_writer_finish (rb_backup_writer_t **w_p, char **path_p,
                             uint64_t *bytes, char *err, size_t errlen);

/*  Removes the temp file and destroys *w_p; NULL-safe.  */
void rb_backup_writer_abort (rb_backup_writer_t **w_p);

/*  Checking and reading a backup                                        */

/*  Reads the whole file and checks everything: magic, version, header
    fields, every record's lengths and key bytes and value <= max_value,
    the trailer magic, record count and CRC-32C. 0 with *h and *count
    filled (either may be NULL), or -1 with err "PATH: offset N: what is
    wrong". Never allocates by a length read from the file before checking
    it against max_value and the bytes left.  */
int rb_backup_verify (const char *path, uint32_t max_value,
                      rb_backup_header_t *h, uint64_t *count, char *err,
                      size_t errlen);

typedef struct rb_backup_reader rb_backup_reader_t;

/*  Opens path and checks its header into *h (may be NULL). NULL + err on
    failure.  */
rb_backup_reader_t *rb_backup_reader_new (const char *path, uint32_t max_value,
                                          rb_backup_header_t *h, char *err,
                                          size_t errlen);

/*  1: *rec filled (its pointers are valid until the next call); 0: end
    reached and the trailer checked out (count and CRC); -1: error, see
    rb_backup_reader_error. Records are only trusted once 0 is returned.
    After 0 or -1, further calls return the same.  */
int rb_backup_reader_next (rb_backup_reader_t *r, rb_backup_record_t *rec);

/*  Why the reader failed, "PATH: offset N: what is wrong"; borrowed.  */
const char *rb_backup_reader_error (rb_backup_reader_t *r);

/*  Closes the file; NULL-safe.  */
void rb_backup_reader_destroy (rb_backup_reader_t **r_p);

/*  The newest backup-*.rbb in dir that verifies (by the header's
    created_ms, then watermark), skipping corrupt ones (each logged with
    zsys_warning). Caller frees; NULL + err if none.  */
char *rb_backup_newest (const char *dir, uint32_t max_value, char *err,
                        size_t errlen);

#endif
