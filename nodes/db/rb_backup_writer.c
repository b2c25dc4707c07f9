/*  rb_backup_writer: writes a backup file (see rb_backup.h): a temp file
    in the backup dir, buffered writes with the CRC-32C (and, with a key,
    the signature) kept as they go, then the trailer and the signature
    block, fsync, a rename that never replaces a file, and an fsync of the
    dir.  */
#define _GNU_SOURCE /* mkostemps */
#include "rb_backup_int.h"
#include "rb_crc32c.h"
#include "rb_file.h"

#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

struct rb_backup_writer {
    char *dir;                 /* the backup directory */
    char *tmp_path;            /* DIR/.backup-XXXXXX.tmp, NULL once renamed */
    int fd;                    /* the temp file, -1 once closed */
    rb_backup_header_t header; /* as written */
    uint8_t *buf;              /* write buffer of RB_BACKUP__BUF_SIZE bytes */
    size_t len;                /* bytes waiting in buf */
    uint64_t bytes;            /* file size so far, counting buf */
    uint64_t count;            /* records added */
    uint32_t crc;              /* CRC-32C of every byte put so far */
    const rb_sign_key_t *key;  /* signs the file (borrowed), or NULL */
    rb_sign_t *sign;           /* the signature so far, with a key */
    bool failed;               /* an I/O call failed: the file is lost */
    char err[RB_BACKUP__ERR_MAX]; /* why it failed */
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
    rb_sign_destroy (&w->sign);
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

static int
s_writer_flush (rb_backup_writer_t *w)
{
    if (w->failed)
        return -1;
    if (w->len && rb_file_write_all (w->fd, w->buf, w->len))
        return s_writer_fail (w, "write");
    w->len = 0;
    return 0;
}

/*  What bytes count in: the CRC covers everything before its own field,
    the signature everything before its own.  */
enum { SUM_CRC = 1, SUM_SIGN = 2, SUM_ALL = 3 };

/*  Appends n bytes through the buffer, counting them in the sums given.  */
static int
s_writer_put (rb_backup_writer_t *w, const void *data, size_t n, int sums)
{
    if (sums & SUM_CRC)
        w->crc = rb_crc32c (w->crc, data, n);
    if ((sums & SUM_SIGN) && w->sign)
        rb_sign_update (w->sign, data, n);
    const uint8_t *p = (const uint8_t *) data;
    while (n > 0) {
        if (w->len == RB_BACKUP__BUF_SIZE && s_writer_flush (w))
            return -1;
        size_t take =
            RB_BACKUP__BUF_SIZE - w->len < n ? RB_BACKUP__BUF_SIZE - w->len : n;
        memcpy (w->buf + w->len, p, take);
        w->len += take;
        w->bytes += take;
        p += take;
        n -= take;
    }
    return 0;
}

rb_backup_writer_t *
rb_backup_writer_new (const char *dir, const rb_backup_header_t *h,
                      const rb_sign_key_t *key, char *err, size_t errlen)
{
    const char *why = rb_backup__header_problem (h);
    if (why) {
        rb_backup__err (err, errlen, "backup: %s", why);
        return NULL;
    }
    rb_backup_writer_t *self = (rb_backup_writer_t *) calloc (1, sizeof *self);
    assert (self);
    self->dir = strdup (dir);
    assert (self->dir);
    self->tmp_path = rb_backup__join (dir, ".backup-XXXXXX.tmp");
    self->fd = mkostemps (self->tmp_path, 4, O_CLOEXEC | O_NOFOLLOW);
    if (self->fd < 0) {
        rb_backup__err (err, errlen, "%s: cannot create a backup file: %s", dir,
                        strerror (errno));
        s_writer_free (&self, false); /* nothing of ours to remove */
        return NULL;
    }
    self->header = *h;
    self->buf = (uint8_t *) malloc (RB_BACKUP__BUF_SIZE);
    assert (self->buf);
    self->key = key;
    self->sign = key ? rb_sign_new () : NULL;
    uint8_t head[RB_BACKUP__HEADER_SIZE];
    rb_backup__header_encode (h, head);
    s_writer_put (self, head, sizeof head, SUM_ALL); /* fits the buffer */
    return self;
}

/*  Why a record cannot be written, or NULL. */
static const char *
s_record_problem (const rb_backup_record_t *r)
{
    if (!r->key || r->key_len < 1 || r->key_len > RB_BACKUP_KEY_MAX)
        return "key length not in 1..64";
    for (uint32_t i = 0; i < r->key_len; i++)
        if (!rb_backup__key_byte ((uint8_t) r->key[i]))
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
        return rb_backup__err (err, errlen, "%s", w->err);
    const char *why = s_record_problem (r);
    if (why)
        return rb_backup__err (err, errlen, "backup: record %" PRIu64 ": %s",
                               w->count, why);
    uint8_t head[RB_BACKUP__RECORD_HEAD];
    head[0] = r->tombstone ? RB_BACKUP__FLAG_TOMB : 0;
    head[1] = (uint8_t) r->key_len;
    rb_backup__put_le (head + 2, r->value_len, 4);
    rb_backup__put_le (head + 6, r->seq, 8);
    if (s_writer_put (w, head, sizeof head, SUM_ALL) ||
        s_writer_put (w, r->key, r->key_len, SUM_ALL) ||
        (r->value_len && s_writer_put (w, r->value, r->value_len, SUM_ALL)))
        return rb_backup__err (err, errlen, "%s", w->err);
    w->count++;
    return 0;
}

/*  With a key: the signature block, magic and public key signed too. */
static int
s_writer_sign (rb_backup_writer_t *w)
{
    if (!w->key)
        return 0;
    uint8_t sig[RB_SIGN_SIZE];
    if (s_writer_put (w, RB_BACKUP__SIG_MAGIC, 8, SUM_SIGN) ||
        s_writer_put (w, rb_sign_key_public (w->key), RB_SIGN_PUBLIC_SIZE,
                      SUM_SIGN))
        return -1;
    rb_sign_final (w->sign, w->key, sig);
    return s_writer_put (w, sig, sizeof sig, 0);
}

/*  Writes the trailer and the signature, flushes, fsyncs and closes the
    temp file.  */
static int
s_writer_seal (rb_backup_writer_t *w)
{
    if (w->failed)
        return -1;
    uint8_t tail[RB_BACKUP__TRAILER_SIZE];
    memcpy (tail, RB_BACKUP__END_MAGIC, 8);
    rb_backup__put_le (tail + 8, w->count, 8);
    if (s_writer_put (w, tail, 16, SUM_ALL))
        return -1;
    rb_backup__put_le (tail + 16, w->crc, 4);
    if (s_writer_put (w, tail + 16, 4, SUM_SIGN) || s_writer_sign (w) ||
        s_writer_flush (w))
        return -1;
    if (fsync (w->fd))
        return s_writer_fail (w, "fsync");
    int rc = close (w->fd);
    w->fd = -1;
    return rc ? s_writer_fail (w, "close") : 0;
}

/*  Moves the sealed temp file to its final name and fsyncs the directory;
    returns the final path, or NULL with w->err (the file removed).  */
static char *
s_writer_publish (rb_backup_writer_t *w)
{
    char name[64];
    snprintf (name, sizeof name, "backup-%013" PRIu64 "-w%" PRIu64 ".rbb",
              w->header.created_ms, w->header.watermark);
    char *path = rb_backup__join (w->dir, name);
    if (rb_file_rename_new (w->tmp_path, path)) {
        snprintf (w->err, sizeof w->err, "%s: cannot rename to %s: %s",
                  w->tmp_path, path, strerror (errno));
        free (path);
        return NULL;
    }
    free (w->tmp_path);
    w->tmp_path = NULL;
    if (rb_file_sync_dir (w->dir)) {
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
        return rb_backup__err (err, errlen, "backup: no writer");
    char *path = s_writer_seal (w) == 0 ? s_writer_publish (w) : NULL;
    if (!path) {
        rb_backup__err (err, errlen, "%s", w->err);
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
