/*  rb_backup: backup file writer, verifier and reader (see rb_backup.h;
    the byte layout is in docs/backup-format.md).  */
#define _GNU_SOURCE /* mkostemps, renameat2 */
#include "rb_backup.h"
#include "rb_crc32c.h"

#include <assert.h>
#include <czmq.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define MAGIC        "RBBACKUP"
#define END_MAGIC    "RBEND\0\0\0"
#define HEADER_SIZE  68      /* magic 8, version 4, dataset 32, 3 x u64 */
#define RECORD_HEAD  14      /* flags 1, key_len 1, value_len 4, seq 8 */
#define TRAILER_SIZE 20      /* magic 8, count 8, crc 4 */
#define FLAG_TOMB    0x01    /* record flags bit 0: tombstone */
#define BUF_SIZE     1048576 /* I/O buffer, bytes */
#define CREATED_MAX  9999999999999ULL /* 13 digits, for the file name */
#define ERR_MAX      (2 * PATH_MAX + 256)

/*  Helpers                                                              */

/*  Formats into err (NULL-safe); returns -1 for the caller to pass on. */
static int __attribute__ ((format (printf, 3, 4)))
s_err (char *err, size_t errlen, const char *fmt, ...)
{
    if (err && errlen) {
        va_list args;
        va_start (args, fmt);
        vsnprintf (err, errlen, fmt, args);
        va_end (args);
    }
    return -1;
}

/*  Formats "PATH: offset N: what" into err; returns -1. */
static int __attribute__ ((format (printf, 5, 6)))
s_bad (char *err, size_t errlen, const char *path, uint64_t offset,
       const char *fmt, ...)
{
    if (!err || !errlen)
        return -1;
    int n = snprintf (err, errlen, "%s: offset %" PRIu64 ": ", path, offset);
    if (n >= 0 && (size_t) n < errlen) {
        va_list args;
        va_start (args, fmt);
        vsnprintf (err + n, errlen - (size_t) n, fmt, args);
        va_end (args);
    }
    return -1;
}

static void
s_put_le (uint8_t *p, uint64_t v, int n)
{
    for (int i = 0; i < n; i++)
        p[i] = (uint8_t) (v >> (8 * i));
}

static uint64_t
s_get_le (const uint8_t *p, int n)
{
    uint64_t v = 0;
    for (int i = n - 1; i >= 0; i--)
        v = (v << 8) | p[i];
    return v;
}

static bool
s_hex_byte (uint8_t c)
{
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
}

static bool
s_key_byte (uint8_t c)
{
    return c >= 0x21 && c <= 0x7e;
}

/*  "dir/name", freshly allocated. */
static char *
s_join (const char *dir, const char *name)
{
    size_t len = strlen (dir) + 1 + strlen (name) + 1;
    char *path = (char *) malloc (len);
    assert (path);
    snprintf (path, len, "%s/%s", dir, name);
    return path;
}

/*  Header                                                               */

/*  Why a header cannot be written, or NULL. */
static const char *
s_header_problem (const rb_backup_header_t *h)
{
    for (int i = 0; i < 32; i++)
        if (!s_hex_byte ((uint8_t) h->dataset[i]))
            return "dataset id is not 32 lowercase hex chars";
    if (h->dataset[32] != '\0')
        return "dataset id is not 32 lowercase hex chars";
    if (h->epoch == 0)
        return "epoch is 0";
    if (h->created_ms > CREATED_MAX)
        return "created_ms has over 13 digits";
    return NULL;
}

static void
s_header_encode (const rb_backup_header_t *h, uint8_t *p)
{
    memcpy (p, MAGIC, 8);
    s_put_le (p + 8, RB_BACKUP_VERSION, 4);
    memcpy (p + 12, h->dataset, 32);
    s_put_le (p + 44, h->epoch, 8);
    s_put_le (p + 52, h->watermark, 8);
    s_put_le (p + 60, h->created_ms, 8);
}

/*  Decodes and checks the HEADER_SIZE bytes at p, read from path. */
static int
s_header_decode (const char *path, const uint8_t *p, rb_backup_header_t *h,
                 char *err, size_t errlen)
{
    if (memcmp (p, MAGIC, 8))
        return s_bad (err, errlen, path, 0, "bad magic (not a backup file)");
    uint32_t version = (uint32_t) s_get_le (p + 8, 4);
    if (version != RB_BACKUP_VERSION)
        return s_bad (err, errlen, path, 8, "unsupported version %" PRIu32,
                      version);
    for (int i = 0; i < 32; i++)
        if (!s_hex_byte (p[12 + i]))
            return s_bad (err, errlen, path, 12 + (uint64_t) i,
                          "bad dataset id byte 0x%02x", p[12 + i]);
    memcpy (h->dataset, p + 12, 32);
    h->dataset[32] = '\0';
    h->epoch = s_get_le (p + 44, 8);
    h->watermark = s_get_le (p + 52, 8);
    h->created_ms = s_get_le (p + 60, 8);
    if (h->epoch == 0)
        return s_bad (err, errlen, path, 44, "epoch 0");
    if (h->created_ms > CREATED_MAX)
        return s_bad (err, errlen, path, 60,
                      "created_ms %" PRIu64 " out of range", h->created_ms);
    return 0;
}

/*  Writer                                                               */

struct rb_backup_writer {
    char *dir;                 /* the backup directory */
    char *tmp_path;            /* DIR/.backup-XXXXXX.tmp, NULL once renamed */
    int fd;                    /* the temp file, -1 once closed */
    rb_backup_header_t header; /* as written */
    uint8_t *buf;              /* write buffer of BUF_SIZE bytes */
    size_t len;                /* bytes waiting in buf */
    uint64_t bytes;            /* file size so far, counting buf */
    uint64_t count;            /* records added */
    uint32_t crc;              /* CRC-32C of every byte put so far */
    bool failed;               /* an I/O call failed: the file is lost */
    char err[ERR_MAX];         /* why it failed */
};

static void
s_writer_free (rb_backup_writer_t **w_p, bool remove_tmp)
{
    rb_backup_writer_t *w = *w_p;
    if (!w)
        return;
    if (w->fd >= 0)
        close (w->fd);
    if (remove_tmp && w->tmp_path)
        unlink (w->tmp_path);
    free (w->tmp_path);
    free (w->dir);
    free (w->buf);
    free (w);
    *w_p = NULL;
}

/*  Records a failed I/O call on the temp file (from errno); returns -1. */
static int
s_writer_fail (rb_backup_writer_t *w, const char *what)
{
    int saved = errno;
    w->failed = true;
    snprintf (w->err, sizeof w->err, "%s: %s: %s", w->tmp_path, what,
              strerror (saved));
    return -1;
}

/*  Writes all n bytes, retrying short writes until write() says why it
    stopped (ENOSPC, EFBIG, EIO...). Returns 0, or -1 with errno.  */
static int
s_write_all (int fd, const uint8_t *p, size_t n)
{
    while (n > 0) {
        ssize_t done = write (fd, p, n);
        if (done < 0 && errno == EINTR)
            continue;
        if (done < 0)
            return -1;
        if (done == 0) {
            errno = ENOSPC;
            return -1;
        }
        p += done;
        n -= (size_t) done;
    }
    return 0;
}

static int
s_writer_flush (rb_backup_writer_t *w)
{
    if (w->failed)
        return -1;
    if (w->len && s_write_all (w->fd, w->buf, w->len))
        return s_writer_fail (w, "write");
    w->len = 0;
    return 0;
}

/*  Appends n bytes through the buffer; sum says whether they count in the
    CRC (all but the CRC field itself).  */
static int
s_writer_put (rb_backup_writer_t *w, const void *data, size_t n, bool sum)
{
    if (sum)
        w->crc = rb_crc32c (w->crc, data, n);
    const uint8_t *p = (const uint8_t *) data;
    while (n > 0) {
        if (w->len == BUF_SIZE && s_writer_flush (w))
            return -1;
        size_t take = BUF_SIZE - w->len < n ? BUF_SIZE - w->len : n;
        memcpy (w->buf + w->len, p, take);
        w->len += take;
        w->bytes += take;
        p += take;
        n -= take;
    }
    return 0;
}

rb_backup_writer_t *
rb_backup_writer_new (const char *dir, const rb_backup_header_t *h, char *err,
                      size_t errlen)
{
    const char *why = s_header_problem (h);
    if (why) {
        s_err (err, errlen, "backup: %s", why);
        return NULL;
    }
    rb_backup_writer_t *self = (rb_backup_writer_t *) calloc (1, sizeof *self);
    assert (self);
    self->dir = strdup (dir);
    assert (self->dir);
    self->tmp_path = s_join (dir, ".backup-XXXXXX.tmp");
    self->fd = mkostemps (self->tmp_path, 4, O_CLOEXEC);
    if (self->fd < 0) {
        s_err (err, errlen, "%s: cannot create a backup file: %s", dir,
               strerror (errno));
        s_writer_free (&self, false); /* nothing of ours to remove */
        return NULL;
    }
    self->header = *h;
    self->buf = (uint8_t *) malloc (BUF_SIZE);
    assert (self->buf);
    uint8_t head[HEADER_SIZE];
    s_header_encode (h, head);
    s_writer_put (self, head, sizeof head, true); /* fits the empty buffer */
    return self;
}

/*  Why a record cannot be written, or NULL. */
static const char *
s_record_problem (const rb_backup_record_t *r)
{
    if (!r->key || r->key_len < 1 || r->key_len > RB_BACKUP_KEY_MAX)
        return "key length not in 1..64";
    for (uint32_t i = 0; i < r->key_len; i++)
        if (!s_key_byte ((uint8_t) r->key[i]))
            return "key byte not in 0x21..0x7e";
    if (r->value_len && !r->value)
        return "no value";
    if (r->tombstone && r->value_len)
        return "tombstone with a value";
    return NULL;
}

int
rb_backup_writer_add (rb_backup_writer_t *w, const rb_backup_record_t *r,
                      char *err, size_t errlen)
{
    assert (w && r);
    if (w->failed)
        return s_err (err, errlen, "%s", w->err);
    const char *why = s_record_problem (r);
    if (why)
        return s_err (err, errlen, "backup: record %" PRIu64 ": %s", w->count,
                      why);
    uint8_t head[RECORD_HEAD];
    head[0] = r->tombstone ? FLAG_TOMB : 0;
    head[1] = (uint8_t) r->key_len;
    s_put_le (head + 2, r->value_len, 4);
    s_put_le (head + 6, r->seq, 8);
    if (s_writer_put (w, head, sizeof head, true) ||
        s_writer_put (w, r->key, r->key_len, true) ||
        (r->value_len && s_writer_put (w, r->value, r->value_len, true)))
        return s_err (err, errlen, "%s", w->err);
    w->count++;
    return 0;
}

/*  Writes the trailer, flushes, fsyncs and closes the temp file. */
static int
s_writer_seal (rb_backup_writer_t *w)
{
    if (w->failed)
        return -1;
    uint8_t tail[TRAILER_SIZE];
    memcpy (tail, END_MAGIC, 8);
    s_put_le (tail + 8, w->count, 8);
    if (s_writer_put (w, tail, 16, true))
        return -1;
    s_put_le (tail + 16, w->crc, 4);
    if (s_writer_put (w, tail + 16, 4, false) || s_writer_flush (w))
        return -1;
    if (fsync (w->fd))
        return s_writer_fail (w, "fsync");
    int rc = close (w->fd);
    w->fd = -1;
    return rc ? s_writer_fail (w, "close") : 0;
}

/*  Renames without replacing an existing file; where the file system
    cannot promise that, checks first (a narrow race, but never silent).  */
static int
s_rename_noreplace (const char *from, const char *to)
{
    if (renameat2 (AT_FDCWD, from, AT_FDCWD, to, RENAME_NOREPLACE) == 0)
        return 0;
    if (errno != EINVAL && errno != ENOSYS)
        return -1;
    struct stat st;
    if (lstat (to, &st) == 0) {
        errno = EEXIST;
        return -1;
    }
    return rename (from, to);
}

static int
s_fsync_dir (const char *dir)
{
    int fd = open (dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    int rc = fsync (fd);
    int saved = errno;
    close (fd);
    errno = saved;
    return rc;
}

/*  Moves the sealed temp file to its final name and fsyncs the directory;
    returns the final path, or NULL with w->err (the file removed).  */
static char *
s_writer_publish (rb_backup_writer_t *w)
{
    char name[64];
    snprintf (name, sizeof name, "backup-%013" PRIu64 "-w%" PRIu64 ".rbb",
              w->header.created_ms, w->header.watermark);
    char *path = s_join (w->dir, name);
    if (s_rename_noreplace (w->tmp_path, path)) {
        snprintf (w->err, sizeof w->err, "%s: cannot rename to %s: %s",
                  w->tmp_path, path, strerror (errno));
        free (path);
        return NULL;
    }
    free (w->tmp_path);
    w->tmp_path = NULL;
    if (s_fsync_dir (w->dir)) {
        snprintf (w->err, sizeof w->err, "%s: fsync: %s", w->dir,
                  strerror (errno));
        unlink (path);
        free (path);
        return NULL;
    }
    return path;
}

int
rb_backup_writer_finish (rb_backup_writer_t **w_p, char **path_p,
                         uint64_t *bytes, char *err, size_t errlen)
{
    assert (w_p);
    rb_backup_writer_t *w = *w_p;
    if (!w)
        return s_err (err, errlen, "backup: no writer");
    char *path = s_writer_seal (w) == 0 ? s_writer_publish (w) : NULL;
    if (!path) {
        s_err (err, errlen, "%s", w->err);
        s_writer_free (w_p, true);
        return -1;
    }
    if (bytes)
        *bytes = w->bytes;
    if (path_p)
        *path_p = path;
    else
        free (path);
    s_writer_free (w_p, false);
    return 0;
}

void
rb_backup_writer_abort (rb_backup_writer_t **w_p)
{
    if (w_p)
        s_writer_free (w_p, true);
}

/*  Reader                                                               */

struct rb_backup_reader {
    char *path;         /* the file, for messages */
    int fd;             /* the open file */
    uint32_t max_value; /* longest value accepted */
    uint64_t size;      /* file size when opened */
    uint8_t *buf;       /* read buffer */
    size_t cap;         /* bytes allocated in buf */
    size_t pos;         /* next unread byte in buf */
    size_t end;         /* bytes of the file held in buf */
    uint64_t base;      /* file offset of buf[0] */
    uint32_t crc;       /* CRC-32C of the bytes consumed */
    uint64_t count;     /* records returned */
    int state;          /* 1 reading, 0 done, -1 failed */
    char err[ERR_MAX];  /* why it failed */
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
    s_bad (r->err, sizeof r->err, r->path, offset, "%s", what);
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

/*  Opens path for reading if it is a regular file. O_NONBLOCK only keeps
    a FIFO from blocking the open; it does nothing to a regular file.  */
static int
s_open_file (const char *path, uint64_t *size, char *err, size_t errlen)
{
    int fd = open (path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
    if (fd < 0)
        return s_err (err, errlen, "%s: cannot open: %s", path,
                      strerror (errno));
    struct stat st;
    if (fstat (fd, &st) || !S_ISREG (st.st_mode)) {
        close (fd);
        return s_err (err, errlen, "%s: not a regular file", path);
    }
    *size = (uint64_t) st.st_size;
    return fd;
}

rb_backup_reader_t *
rb_backup_reader_new (const char *path, uint32_t max_value,
                      rb_backup_header_t *h, char *err, size_t errlen)
{
    uint64_t size = 0;
    int fd = s_open_file (path, &size, err, errlen);
    if (fd < 0)
        return NULL;
    rb_backup_reader_t *self = (rb_backup_reader_t *) calloc (1, sizeof *self);
    assert (self);
    self->path = strdup (path);
    assert (self->path);
    self->fd = fd;
    self->max_value = max_value;
    self->size = size;
    self->cap = HEADER_SIZE; /* read just the header until next () */
    self->buf = (uint8_t *) malloc (self->cap);
    assert (self->buf);
    self->state = 1;
    rb_backup_header_t header;
    if (s_need (self, HEADER_SIZE, "the header") == 0 &&
        s_header_decode (path, self->buf, &header, self->err,
                         sizeof self->err) == 0) {
        self->crc = rb_crc32c (0, self->buf, HEADER_SIZE);
        self->pos = HEADER_SIZE;
        if (h)
            *h = header;
        return self;
    }
    s_err (err, errlen, "%s", self->err);
    rb_backup_reader_destroy (&self);
    return NULL;
}

/*  Reads one record whose flags byte (0 or 1) is at buf + pos. */
static int
s_read_record (rb_backup_reader_t *r, rb_backup_record_t *rec)
{
    uint64_t at = s_offset (r);
    if (s_need (r, RECORD_HEAD, "a record header"))
        return -1;
    const uint8_t *p = r->buf + r->pos;
    uint32_t key_len = p[1];
    uint32_t value_len = (uint32_t) s_get_le (p + 2, 4);
    if (key_len < 1 || key_len > RB_BACKUP_KEY_MAX)
        return s_fail (r, at + 1, "bad key length %" PRIu32, key_len);
    if (value_len > r->max_value)
        return s_fail (r, at + 2,
                       "value too long (%" PRIu32 " bytes, max %" PRIu32 ")",
                       value_len, r->max_value);
    if ((p[0] & FLAG_TOMB) && value_len)
        return s_fail (r, at + 2, "tombstone with a value");
    uint64_t need = RECORD_HEAD + key_len + (uint64_t) value_len;
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
        if (!s_key_byte (p[RECORD_HEAD + i]))
            return s_fail (r, at + RECORD_HEAD + i, "bad key byte 0x%02x",
                           p[RECORD_HEAD + i]);
    rec->tombstone = (p[0] & FLAG_TOMB) != 0;
    rec->seq = s_get_le (p + 6, 8);
    rec->key = (const char *) p + RECORD_HEAD;
    rec->key_len = key_len;
    rec->value = p + RECORD_HEAD + key_len;
    rec->value_len = value_len;
    r->crc = rb_crc32c (r->crc, p, (size_t) need);
    r->pos += (size_t) need;
    r->count++;
    return 1;
}

/*  Checks the trailer at buf + pos, then that nothing follows it. */
static int
s_read_trailer (rb_backup_reader_t *r)
{
    uint64_t at = s_offset (r);
    if (s_need (r, TRAILER_SIZE, "the trailer"))
        return -1;
    const uint8_t *p = r->buf + r->pos;
    if (memcmp (p, END_MAGIC, 8))
        return s_fail (r, at, "bad trailer magic");
    uint64_t count = s_get_le (p + 8, 8);
    if (count != r->count)
        return s_fail (r, at + 8,
                       "count mismatch (trailer %" PRIu64 ", records %" PRIu64
                       ")",
                       count, r->count);
    uint32_t crc = rb_crc32c (r->crc, p, 16);
    uint32_t stored = (uint32_t) s_get_le (p + 16, 4);
    if (crc != stored)
        return s_fail (r, at + 16,
                       "checksum mismatch (stored 0x%08" PRIx32
                       ", computed 0x%08" PRIx32 ")",
                       stored, crc);
    r->pos += TRAILER_SIZE;
    int rc = s_fill (r, 1);
    if (rc == 0)
        return s_fail (r, at + TRAILER_SIZE, "trailing bytes after the end");
    if (rc < 0)
        return -1;
    r->state = 0;
    return 0;
}

int
rb_backup_reader_next (rb_backup_reader_t *r, rb_backup_record_t *rec)
{
    assert (r && rec);
    if (r->state != 1)
        return r->state;
    if (r->cap < BUF_SIZE)
        s_grow (r, BUF_SIZE); /* past the header: read in big chunks */
    uint64_t at = s_offset (r);
    int rc = s_fill (r, 1);
    if (rc == 1)
        return s_fail (r, at, "truncated after record %" PRIu64 " (no trailer)",
                       r->count);
    if (rc < 0)
        return -1;
    uint8_t flags = r->buf[r->pos];
    if (flags == (uint8_t) END_MAGIC[0])
        return s_read_trailer (r);
    if (flags & ~FLAG_TOMB)
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
    free (r);
    *r_p = NULL;
}

int
rb_backup_verify (const char *path, uint32_t max_value, rb_backup_header_t *h,
                  uint64_t *count, char *err, size_t errlen)
{
    rb_backup_header_t header;
    rb_backup_reader_t *r =
        rb_backup_reader_new (path, max_value, &header, err, errlen);
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
        s_err (err, errlen, "%s", r->err);
    rb_backup_reader_destroy (&r);
    return rc == 0 ? 0 : -1;
}

/*  Finding the newest backup                                            */

typedef struct {
    char *path;           /* DIR/backup-...rbb */
    rb_backup_header_t h; /* its header, as read */
} candidate_t;

static bool
s_backup_name (const char *name)
{
    size_t len = strlen (name);
    return len > 11 && strncmp (name, "backup-", 7) == 0 &&
           strcmp (name + len - 4, ".rbb") == 0;
}

/*  Newest first: created_ms, then watermark, then name. */
static int
s_newer_first (const void *a, const void *b)
{
    const candidate_t *x = (const candidate_t *) a;
    const candidate_t *y = (const candidate_t *) b;
    if (x->h.created_ms != y->h.created_ms)
        return x->h.created_ms > y->h.created_ms ? -1 : 1;
    if (x->h.watermark != y->h.watermark)
        return x->h.watermark > y->h.watermark ? -1 : 1;
    return -strcmp (x->path, y->path);
}

/*  Lists dir's backup files whose header checks out (reading only the
    header); the others are logged and counted in *skipped.  */
static int
s_list_backups (const char *dir, uint32_t max_value, candidate_t **list_p,
                size_t *n_p, size_t *skipped, char *err, size_t errlen)
{
    DIR *d = opendir (dir);
    if (!d)
        return s_err (err, errlen, "%s: cannot open: %s", dir,
                      strerror (errno));
    candidate_t *list = NULL;
    size_t n = 0, cap = 0;
    struct dirent *e;
    while ((e = readdir (d))) {
        if (!s_backup_name (e->d_name))
            continue;
        char *path = s_join (dir, e->d_name);
        char why[ERR_MAX];
        rb_backup_header_t h;
        rb_backup_reader_t *r =
            rb_backup_reader_new (path, max_value, &h, why, sizeof why);
        if (!r) {
            zsys_warning ("backup: skipping %s", why);
            (*skipped)++;
            free (path);
            continue;
        }
        rb_backup_reader_destroy (&r);
        if (n == cap) {
            cap = cap ? cap * 2 : 16;
            list = (candidate_t *) realloc (list, cap * sizeof *list);
            assert (list);
        }
        list[n++] = (candidate_t){path, h};
    }
    closedir (d);
    *list_p = list;
    *n_p = n;
    return 0;
}

char *
rb_backup_newest (const char *dir, uint32_t max_value, char *err, size_t errlen)
{
    candidate_t *list = NULL;
    size_t n = 0, skipped = 0;
    if (s_list_backups (dir, max_value, &list, &n, &skipped, err, errlen))
        return NULL;
    if (n > 1)
        qsort (list, n, sizeof *list, s_newer_first);
    char *found = NULL;
    for (size_t i = 0; i < n; i++) {
        char why[ERR_MAX];
        if (!found) {
            if (rb_backup_verify (list[i].path, max_value, NULL, NULL, why,
                                  sizeof why) == 0) {
                found = list[i].path;
                list[i].path = NULL;
            } else {
                zsys_warning ("backup: skipping %s", why);
                skipped++;
            }
        }
        free (list[i].path);
    }
    free (list);
    if (!found)
        s_err (err, errlen, "%s: no backup that verifies (%zu corrupt)", dir,
               skipped);
    return found;
}
