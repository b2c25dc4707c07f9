/*  rb_backup_reader: reads a backup file record by record, checking
    every byte as it goes (see rb_backup.h): the CRC-32C and, with a key,
    the signature are computed over the bytes as they are consumed and
    checked at the end; a whole file is verified by one such pass.  */
#include "rb_backup_int.h"
#include "rb_crc32c.h"

#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

struct rb_backup_reader {
    char *path;                   /* the file, for messages */
    int fd;                       /* the open file */
    rb_backup_trust_t trust;      /* max_value, the key (borrowed) */
    uint32_t version;             /* the file's format version */
    rb_sign_t *sign;              /* the signature so far, with a key */
    uint64_t size;                /* file size when opened */
    uint8_t *buf;                 /* read buffer */
    size_t cap;                   /* bytes allocated in buf */
    size_t pos;                   /* next unread byte in buf */
    size_t end;                   /* bytes of the file held in buf */
    uint64_t base;                /* file offset of buf[0] */
    uint32_t crc;                 /* CRC-32C of the bytes consumed */
    uint64_t count;               /* records returned */
    int state;                    /* 1 reading, 0 done, -1 failed */
    char err[RB_BACKUP__ERR_MAX]; /* why it failed */
};

static uint64_t
s_offset (rb_backup_reader_t *r)
{
    return r->base + r->pos;
}

static int __attribute__ ((format (printf, 3, 4)))
s_fail (rb_backup_reader_t *r, uint64_t offset, const char *fmt, ...)
{
    char what[256];
    va_list args;
    va_start (args, fmt);
    vsnprintf (what, sizeof what, fmt, args);
    va_end (args);
    rb_backup__bad (r->err, sizeof r->err, r->path, offset, "%s", what);
    r->state = -1;
    return -1;
}

static void
s_grow (rb_backup_reader_t *r, size_t cap)
{
    uint8_t *grown = (uint8_t *) realloc (r->buf, cap);
    assert (grown);
    r->buf = grown;
    r->cap = cap;
}

/*  Makes n bytes available at buf + pos. n must already be checked
    against max_value and the bytes left. Returns 0, 1 if the file ends
    first, -1 on a read error.  */
static int
s_fill (rb_backup_reader_t *r, size_t n)
{
    if (r->end - r->pos >= n)
        return 0;
    memmove (r->buf, r->buf + r->pos, r->end - r->pos);
    r->base += r->pos;
    r->end -= r->pos;
    r->pos = 0;
    if (r->cap < n)
        s_grow (r, n);
    while (r->end < n) {
        ssize_t got = read (r->fd, r->buf + r->end, r->cap - r->end);
        if (got < 0 && errno == EINTR)
            continue;
        if (got < 0)
            return s_fail (r, r->base + r->end, "read: %s", strerror (errno));
        if (got == 0)
            return 1;
        r->end += (size_t) got;
    }
    return 0;
}

/*  As s_fill, but the end of the file is an error: "truncated".  */
static int
s_need (rb_backup_reader_t *r, size_t n, const char *what)
{
    int rc = s_fill (r, n);
    if (rc == 1)
        return s_fail (r, r->base + r->end,
                       "truncated in %s (%zu of %zu bytes)", what,
                       r->end - r->pos, n);
    return rc;
}

/*  Counts n consumed bytes in the CRC (crc) and the signature. */
static void
s_consume (rb_backup_reader_t *r, const uint8_t *p, size_t n, bool crc)
{
    if (crc)
        r->crc = rb_crc32c (r->crc, p, n);
    if (r->sign)
        rb_sign_update (r->sign, p, n);
}

/*  Opens path for reading if it is a regular file; a link is not
    followed. O_NONBLOCK only keeps a FIFO from blocking the open; it does
    nothing to a regular file.  */
static int
s_open_file (const char *path, char *err, size_t errlen)
{
    int fd = open (path, O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOFOLLOW);
    if (fd < 0)
        return rb_backup__err (err, errlen, "%s: cannot open: %s", path,
                               errno == ELOOP ? "it is a symbolic link"
                                              : strerror (errno));
    struct stat st;
    if (fstat (fd, &st) || !S_ISREG (st.st_mode)) {
        close (fd);
        return rb_backup__err (err, errlen, "%s: not a regular file", path);
    }
    return fd;
}

/*  Reads and checks the header from the start of the file; a fresh CRC
    and signature begin with it. 0, or -1 with r->err.  */
static int
s_start (rb_backup_reader_t *r, rb_backup_header_t *h)
{
    struct stat st;
    if (fstat (r->fd, &st) || lseek (r->fd, 0, SEEK_SET) != 0)
        return s_fail (r, 0, "cannot read: %s", strerror (errno));
    r->size = (uint64_t) st.st_size;
    r->pos = r->end = 0;
    r->base = r->count = 0;
    r->crc = 0;
    r->state = 1;
    rb_sign_destroy (&r->sign);
    if (s_need (r, RB_BACKUP__HEADER_SIZE, "the header") ||
        rb_backup__header_decode (r->path, r->buf, h, r->err, sizeof r->err))
        return r->state = -1;
    r->version = h->version;
    if (r->trust.key && r->version < 2)
        return s_fail (r, 8,
                       "version %u is never signed, and backup-key is set: "
                       "only backups signed by it are restored",
                       (unsigned) r->version);
    if (r->trust.key)
        r->sign = rb_sign_new ();
    s_consume (r, r->buf, RB_BACKUP__HEADER_SIZE, true);
    r->pos = RB_BACKUP__HEADER_SIZE;
    return 0;
}

rb_backup_reader_t *
rb_backup_reader_new (const char *path, const rb_backup_trust_t *t,
                      rb_backup_header_t *h, char *err, size_t errlen)
{
    int fd = s_open_file (path, err, errlen);
    if (fd < 0)
        return NULL;
    rb_backup_reader_t *self = (rb_backup_reader_t *) calloc (1, sizeof *self);
    assert (self);
    self->path = strdup (path);
    assert (self->path);
    self->fd = fd;
    self->trust = *t;
    self->cap = RB_BACKUP__HEADER_SIZE; /* read just the header until next () */
    self->buf = (uint8_t *) malloc (self->cap);
    assert (self->buf);
    rb_backup_header_t header;
    if (s_start (self, &header) == 0) {
        if (h)
            *h = header;
        return self;
    }
    rb_backup__err (err, errlen, "%s", self->err);
    rb_backup_reader_destroy (&self);
    return NULL;
}

int
rb_backup_reader_rewind (rb_backup_reader_t *r)
{
    assert (r->state == 0);
    rb_backup_header_t h;
    return s_start (r, &h);
}

/*  Reads one record whose flags byte (0 or 1) is at buf + pos. */
static int
s_read_record (rb_backup_reader_t *r, rb_backup_record_t *rec)
{
    uint64_t at = s_offset (r);
    if (s_need (r, RB_BACKUP__RECORD_HEAD, "a record header"))
        return -1;
    const uint8_t *p = r->buf + r->pos;
    uint32_t key_len = p[1];
    uint32_t value_len = (uint32_t) rb_backup__get_le (p + 2, 4);
    if (key_len < 1 || key_len > RB_BACKUP_KEY_MAX)
        return s_fail (r, at + 1, "bad key length %" PRIu32, key_len);
    if (value_len > r->trust.max_value)
        return s_fail (r, at + 2,
                       "value too long (%" PRIu32 " bytes, max %" PRIu32 ")",
                       value_len, r->trust.max_value);
    if ((p[0] & RB_BACKUP__FLAG_TOMB) && value_len)
        return s_fail (r, at + 2, "tombstone with a value");
    uint64_t need = RB_BACKUP__RECORD_HEAD + key_len + (uint64_t) value_len;
    uint64_t left = r->size > at ? r->size - at : 0;
    if (need > left)
        return s_fail (r, r->size,
                       "truncated in a record (%" PRIu64 " of %" PRIu64
                       " bytes)",
                       left, need);
    if (s_need (r, (size_t) need, "a record"))
        return -1;
    p = r->buf + r->pos; /* the buffer may have moved */
    for (uint32_t i = 0; i < key_len; i++)
        if (!rb_backup__key_byte (p[RB_BACKUP__RECORD_HEAD + i]))
            return s_fail (r, at + RB_BACKUP__RECORD_HEAD + i,
                           "bad key byte 0x%02x",
                           p[RB_BACKUP__RECORD_HEAD + i]);
    rec->tombstone = (p[0] & RB_BACKUP__FLAG_TOMB) != 0;
    rec->seq = rb_backup__get_le (p + 6, 8);
    rec->key = (const char *) p + RB_BACKUP__RECORD_HEAD;
    rec->key_len = key_len;
    rec->value = p + RB_BACKUP__RECORD_HEAD + key_len;
    rec->value_len = value_len;
    s_consume (r, p, (size_t) need, true);
    r->pos += (size_t) need;
    r->count++;
    return 1;
}

/*  Checks that the file ends at buf + pos; what follows is "what". */
static int
s_read_eof (rb_backup_reader_t *r, const char *what)
{
    uint64_t at = s_offset (r);
    int rc = s_fill (r, 1);
    if (rc == 0)
        return s_fail (r, at, "trailing bytes after %s", what);
    if (rc < 0)
        return -1;
    r->state = 0;
    return 0;
}

/*  Checks the signature block at buf + pos against the key, then that
    nothing follows it.  */
static int
s_read_signature (rb_backup_reader_t *r)
{
    uint64_t at = s_offset (r);
    if (s_need (r, RB_BACKUP__SIG_SIZE, "the signature"))
        return -1;
    const uint8_t *p = r->buf + r->pos;
    const uint8_t *pk = p + 8, *sig = pk + RB_SIGN_PUBLIC_SIZE;
    if (r->sign) {
        const uint8_t *ours = rb_sign_key_public (r->trust.key);
        char id[RB_SIGN_ID_SIZE], our_id[RB_SIGN_ID_SIZE];
        rb_sign_id (pk, id);
        rb_sign_id (ours, our_id);
        if (memcmp (pk, ours, RB_SIGN_PUBLIC_SIZE))
            return s_fail (r, at + 8,
                           "signed by another key (%s), not by backup-key "
                           "(%s)",
                           id, our_id);
        rb_sign_update (r->sign, p, 8 + RB_SIGN_PUBLIC_SIZE);
        if (!rb_sign_check (r->sign, pk, sig))
            return s_fail (r, at + 8 + RB_SIGN_PUBLIC_SIZE,
                           "bad signature: the file is not what key %s "
                           "signed",
                           id);
    }
    r->pos += RB_BACKUP__SIG_SIZE;
    return s_read_eof (r, "the signature");
}

/*  After the trailer: the end, or (version 2) a signature block. An
    unsigned file is refused when there is a key.  */
static int
s_read_end (rb_backup_reader_t *r)
{
    uint64_t at = s_offset (r);
    int rc = s_fill (r, 8);
    if (rc < 0)
        return -1;
    if (rc == 0 && r->version >= 2 &&
        memcmp (r->buf + r->pos, RB_BACKUP__SIG_MAGIC, 8) == 0)
        return s_read_signature (r);
    if (r->end > r->pos)
        return s_fail (r, at, "trailing bytes after the end");
    if (r->sign)
        return s_fail (r, at,
                       "not signed, and backup-key is set: only backups "
                       "signed by it are restored");
    r->state = 0;
    return 0;
}

/*  Checks the trailer at buf + pos, then what follows it. */
static int
s_read_trailer (rb_backup_reader_t *r)
{
    uint64_t at = s_offset (r);
    if (s_need (r, RB_BACKUP__TRAILER_SIZE, "the trailer"))
        return -1;
    const uint8_t *p = r->buf + r->pos;
    if (memcmp (p, RB_BACKUP__END_MAGIC, 8))
        return s_fail (r, at, "bad trailer magic");
    uint64_t count = rb_backup__get_le (p + 8, 8);
    if (count != r->count)
        return s_fail (r, at + 8,
                       "count mismatch (trailer %" PRIu64 ", records %" PRIu64
                       ")",
                       count, r->count);
    s_consume (r, p, 16, true);
    uint32_t stored = (uint32_t) rb_backup__get_le (p + 16, 4);
    if (r->crc != stored)
        return s_fail (r, at + 16,
                       "checksum mismatch (stored 0x%08" PRIx32
                       ", computed 0x%08" PRIx32 ")",
                       stored, r->crc);
    s_consume (r, p + 16, 4, false);
    r->pos += RB_BACKUP__TRAILER_SIZE;
    return s_read_end (r);
}

int
rb_backup_reader_next (rb_backup_reader_t *r, rb_backup_record_t *rec)
{
    assert (r && rec);
    if (r->state != 1)
        return r->state;
    /*  Past the header: read in big chunks, but no bigger than the file
        (a small backup needs no 1 MiB buffer).  */
    size_t want =
        r->size < RB_BACKUP__BUF_SIZE ? (size_t) r->size : RB_BACKUP__BUF_SIZE;
    if (r->cap < want)
        s_grow (r, want);
    uint64_t at = s_offset (r);
    int rc = s_fill (r, 1);
    if (rc == 1)
        return s_fail (r, at, "truncated after record %" PRIu64 " (no trailer)",
                       r->count);
    if (rc < 0)
        return -1;
    uint8_t flags = r->buf[r->pos];
    if (flags == (uint8_t) RB_BACKUP__END_MAGIC[0])
        return s_read_trailer (r);
    if (flags & ~RB_BACKUP__FLAG_TOMB)
        return s_fail (r, at, "bad record flags 0x%02x", flags);
    return s_read_record (r, rec);
}

const char *
rb_backup_reader_error (rb_backup_reader_t *r)
{
    return r->err;
}

void
rb_backup_reader_destroy (rb_backup_reader_t **r_p)
{
    rb_backup_reader_t *r = *r_p;
    if (!r)
        return;
    close (r->fd);
    free (r->path);
    free (r->buf);
    rb_sign_destroy (&r->sign);
    free (r);
    *r_p = NULL;
}

int
rb_backup_verify (const char *path, const rb_backup_trust_t *t,
                  rb_backup_header_t *h, uint64_t *count, char *err,
                  size_t errlen)
{
    rb_backup_header_t header;
    rb_backup_reader_t *r =
        rb_backup_reader_new (path, t, &header, err, errlen);
    if (!r)
        return -1;
    rb_backup_record_t rec;
    int rc;
    while ((rc = rb_backup_reader_next (r, &rec)) == 1)
        ;
    if (rc == 0) {
        if (h)
            *h = header;
        if (count)
            *count = r->count;
    } else
        rb_backup__err (err, errlen, "%s", r->err);
    rb_backup_reader_destroy (&r);
    return rc == 0 ? 0 : -1;
}
