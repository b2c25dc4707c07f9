/*  rb_backup_reader: reads a backup file record by record, checking
    every byte as it goes (see rb_backup.h), verifies a whole file, and
    finds the newest one that verifies.  */
#include "rb_backup_int.h"
#include "rb_crc32c.h"

#include <assert.h>
#include <czmq.h>
#include <dirent.h>
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
    uint32_t max_value;           /* longest value accepted */
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

/*  Opens path for reading if it is a regular file. O_NONBLOCK only keeps
    a FIFO from blocking the open; it does nothing to a regular file.  */
static int
s_open_file (const char *path, uint64_t *size, char *err, size_t errlen)
{
    int fd = open (path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
    if (fd < 0)
        return rb_backup__err (err, errlen, "%s: cannot open: %s", path,
                               strerror (errno));
    struct stat st;
    if (fstat (fd, &st) || !S_ISREG (st.st_mode)) {
        close (fd);
        return rb_backup__err (err, errlen, "%s: not a regular file", path);
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
    self->cap = RB_BACKUP__HEADER_SIZE; /* read just the header until next () */
    self->buf = (uint8_t *) malloc (self->cap);
    assert (self->buf);
    self->state = 1;
    rb_backup_header_t header;
    if (s_need (self, RB_BACKUP__HEADER_SIZE, "the header") == 0 &&
        rb_backup__header_decode (path, self->buf, &header, self->err,
                                  sizeof self->err) == 0) {
        self->crc = rb_crc32c (0, self->buf, RB_BACKUP__HEADER_SIZE);
        self->pos = RB_BACKUP__HEADER_SIZE;
        if (h)
            *h = header;
        return self;
    }
    rb_backup__err (err, errlen, "%s", self->err);
    rb_backup_reader_destroy (&self);
    return NULL;
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
    if (value_len > r->max_value)
        return s_fail (r, at + 2,
                       "value too long (%" PRIu32 " bytes, max %" PRIu32 ")",
                       value_len, r->max_value);
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
    uint32_t crc = rb_crc32c (r->crc, p, 16);
    uint32_t stored = (uint32_t) rb_backup__get_le (p + 16, 4);
    if (crc != stored)
        return s_fail (r, at + 16,
                       "checksum mismatch (stored 0x%08" PRIx32
                       ", computed 0x%08" PRIx32 ")",
                       stored, crc);
    r->pos += RB_BACKUP__TRAILER_SIZE;
    int rc = s_fill (r, 1);
    if (rc == 0)
        return s_fail (r, at + RB_BACKUP__TRAILER_SIZE,
                       "trailing bytes after the end");
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
    if (r->cap < RB_BACKUP__BUF_SIZE)
        s_grow (r,
                RB_BACKUP__BUF_SIZE); /* past the header: read in big chunks */
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
        rb_backup__err (err, errlen, "%s", r->err);
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
        return rb_backup__err (err, errlen, "%s: cannot open: %s", dir,
                               strerror (errno));
    candidate_t *list = NULL;
    size_t n = 0, cap = 0;
    struct dirent *e;
    while ((e = readdir (d))) {
        if (!s_backup_name (e->d_name))
            continue;
        char *path = rb_backup__join (dir, e->d_name);
        char why[RB_BACKUP__ERR_MAX];
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
        char why[RB_BACKUP__ERR_MAX];
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
        rb_backup__err (err, errlen,
                        "%s: no backup that verifies (%zu corrupt)", dir,
                        skipped);
    return found;
}
