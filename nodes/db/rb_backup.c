/*  rb_backup: the backup file's format, what its writer and its reader
    share (rb_backup_int.h): the header, bytes in little-endian order,
    which bytes a key may hold, error texts. The byte layout is in
    docs/backup-format.md; writing is in rb_backup_writer.c, reading,
    verifying and finding the newest in rb_backup_reader.c.  */
#include "rb_backup_int.h"

#include <assert.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAGIC       "RBBACKUP"
#define CREATED_MAX 9999999999999ULL /* 13 digits, for the file name */

/*  Formats into err (NULL-safe); returns -1 for the caller to pass on. */
int
rb_backup__err (char *err, size_t errlen, const char *fmt, ...)
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
int
rb_backup__bad (char *err, size_t errlen, const char *path, uint64_t offset,
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

void
rb_backup__put_le (uint8_t *p, uint64_t v, int n)
{
    for (int i = 0; i < n; i++)
        p[i] = (uint8_t) (v >> (8 * i));
}

uint64_t
rb_backup__get_le (const uint8_t *p, int n)
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

bool
rb_backup__key_byte (uint8_t c)
{
    return c >= 0x21 && c <= 0x7e;
}

/*  "dir/name", freshly allocated. */
char *
rb_backup__join (const char *dir, const char *name)
{
    size_t len = strlen (dir) + 1 + strlen (name) + 1;
    char *path = (char *) malloc (len);
    assert (path);
    snprintf (path, len, "%s/%s", dir, name);
    return path;
}

/*  Header                                                               */

/*  Why a header cannot be written, or NULL. */
const char *
rb_backup__header_problem (const rb_backup_header_t *h)
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

void
rb_backup__header_encode (const rb_backup_header_t *h, uint8_t *p)
{
    memcpy (p, MAGIC, 8);
    rb_backup__put_le (p + 8, RB_BACKUP_VERSION, 4);
    memcpy (p + 12, h->dataset, 32);
    rb_backup__put_le (p + 44, h->epoch, 8);
    rb_backup__put_le (p + 52, h->watermark, 8);
    rb_backup__put_le (p + 60, h->created_ms, 8);
}

/*  Decodes and checks the RB_BACKUP__HEADER_SIZE bytes at p, read from path. */
int
rb_backup__header_decode (const char *path, const uint8_t *p,
                          rb_backup_header_t *h, char *err, size_t errlen)
{
    if (memcmp (p, MAGIC, 8))
        return rb_backup__bad (err, errlen, path, 0,
                               "bad magic (not a backup file)");
    uint32_t version = (uint32_t) rb_backup__get_le (p + 8, 4);
    if (version != 1 && version != RB_BACKUP_VERSION)
        return rb_backup__bad (err, errlen, path, 8,
                               "unsupported version %" PRIu32, version);
    for (int i = 0; i < 32; i++)
        if (!s_hex_byte (p[12 + i]))
            return rb_backup__bad (err, errlen, path, 12 + (uint64_t) i,
                                   "bad dataset id byte 0x%02x", p[12 + i]);
    memcpy (h->dataset, p + 12, 32);
    h->dataset[32] = '\0';
    h->epoch = rb_backup__get_le (p + 44, 8);
    h->watermark = rb_backup__get_le (p + 52, 8);
    h->created_ms = rb_backup__get_le (p + 60, 8);
    h->version = version;
    if (h->epoch == 0)
        return rb_backup__bad (err, errlen, path, 44, "epoch 0");
    if (h->created_ms > CREATED_MAX)
        return rb_backup__bad (err, errlen, path, 60,
                               "created_ms %" PRIu64 " out of range",
                               h->created_ms);
    return 0;
}
