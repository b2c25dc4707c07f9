/*  rb_backup: the DB node's backup file: a header (dataset, epoch,
    watermark, time), the records, a trailer with the record count and a
    CRC-32C over the whole file, and, when the node has a backup key, an
    Ed25519 signature over every byte before it (rb_sign.h). Written to a
    temp file and renamed into place, so a backup file either verifies in
    full or is refused. The byte layout is in docs/backup-format.md.  */
#ifndef RB_BACKUP_H
#define RB_BACKUP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "rb_sign.h"

#define RB_BACKUP_VERSION 2  /* written; version 1 (unsigned) is still read */
#define RB_BACKUP_KEY_MAX 64 /* longest key, bytes */

typedef struct {
    char dataset[33];    /* dataset id: 32 lowercase hex chars + NUL */
    uint64_t epoch;      /* epoch of the data when the backup started */
    uint64_t watermark;  /* highest order seq applied when it started */
    uint64_t created_ms; /* unix time in ms */
    uint32_t version;    /* as read (1 or 2); the writer writes 2 */
} rb_backup_header_t;

/*  What a reader takes on trust beyond the format. With a key, a file
    must carry a good signature by it (an unsigned one, or one signed by
    another key, is refused); without one, signatures are not checked
    and signed and unsigned files are read alike.  */
typedef struct {
    uint32_t max_value;       /* longest value accepted, bytes */
    const rb_sign_key_t *key; /* the backup key (borrowed), or NULL */
} rb_backup_trust_t;

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

/*  Creates DIR/.backup-XXXXXX.tmp (mkstemp: O_EXCL, mode 0600) and writes
    the header. The header must hold a 32-char lowercase hex dataset id, an
    epoch >= 1 and a created_ms of at most 13 digits. With a key (borrowed:
    it must outlive the writer) the file is signed; NULL writes it
    unsigned. NULL + err on failure.  */
rb_backup_writer_t *rb_backup_writer_new (const char *dir,
                                          const rb_backup_header_t *h,
                                          const rb_sign_key_t *key, char *err,
                                          size_t errlen);

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
    the trailer magic, record count and CRC-32C, and the signature as t
    says. 0 with *h and *count filled (either may be NULL), or -1 with err
    "PATH: offset N: what is wrong". Never allocates by a length read from
    the file before checking it against max_value and the bytes left.  */
int rb_backup_verify (const char *path, const rb_backup_trust_t *t,
                      rb_backup_header_t *h, uint64_t *count, char *err,
                      size_t errlen);

typedef struct rb_backup_reader rb_backup_reader_t;

/*  Opens path (a regular file: a link is not followed) and checks its
    header into *h (may be NULL). t is copied. NULL + err on failure.  */
rb_backup_reader_t *rb_backup_reader_new (const char *path,
                                          const rb_backup_trust_t *t,
                                          rb_backup_header_t *h, char *err,
                                          size_t errlen);

/*  1: *rec filled (its pointers are valid until the next call); 0: end
    reached and the trailer (count and CRC) and the signature checked out;
    -1: error, see rb_backup_reader_error. Records are only trusted once 0
    is returned. After 0 or -1, further calls return the same.  */
int rb_backup_reader_next (rb_backup_reader_t *r, rb_backup_record_t *rec);

/*  After a whole pass that ended in 0: back to the first record of the
    same open file, every check to be made again. 0, or -1 (error set).  */
int rb_backup_reader_rewind (rb_backup_reader_t *r);

/*  Why the reader failed, "PATH: offset N: what is wrong"; borrowed.  */
const char *rb_backup_reader_error (rb_backup_reader_t *r);

/*  Closes the file; NULL-safe.  */
void rb_backup_reader_destroy (rb_backup_reader_t **r_p);

/*  The backup dir                                                       */

/*  Whether name is a backup file's name: backup-*.rbb.  */
bool rb_backup_name (const char *name);

/*  Whether the caller would take a backup with header h; if not, why
    (one line, into why).  */
typedef bool (rb_backup_accept_fn) (const rb_backup_header_t *h, void *arg,
                                    char *why, size_t len);

/*  The newest backup-*.rbb in dir (by the header's created_ms, then
    watermark) that accept takes (NULL: any) and that verifies in full;
    each file skipped is logged with zsys_warning. Caller frees; NULL +
    err (naming the first refusal) if none.  */
char *rb_backup_newest (const char *dir, const rb_backup_trust_t *t,
                        rb_backup_accept_fn *accept, void *arg, char *err,
                        size_t errlen);

/*  Retention: of the backups in dir of dataset that verify in full, keeps
    the keep newest and deletes the others; never deletes keep_path (the
    backup just written), a file of another dataset, one that does not
    verify, or one whose name is not a backup's. Each deletion is logged.
    Returns the number deleted, or -1 + err if dir cannot be read.  */
int rb_backup_prune (const char *dir, const rb_backup_trust_t *t,
                     const char *dataset, int keep, const char *keep_path,
                     char *err, size_t errlen);

#endif
