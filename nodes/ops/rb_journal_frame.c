/*  rb_journal_frame: the lowest floor of the journal, used by its writer,
    its readers and its repair alike: how a record is framed and checked
    (length, two CRC-32C), how an ORDER payload decodes, growing arrays,
    errors, and the two file calls that must not be half done (a whole
    pwrite, an fsync of the directory).  */
#define _GNU_SOURCE
#include "rb_journal_int.h"
#include "rb_msg.h" /* rb_key_valid, RB_OP_* */

#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/*  --- small helpers ------------------------------------------------------ */

void
rb_journal_grow_ (void **array, size_t *cap, size_t want, size_t elem)
{
    if (want <= *cap)
        return;
    size_t cap2 = *cap ? *cap : 64;
    while (cap2 < want)
        cap2 *= 2;
    *array = realloc (*array, cap2 * elem);
    assert (*array);
    *cap = cap2;
}

void
rb_journal_err_ (rb_journal_err_t *err, int code, uint64_t offset,
                 const char *fmt, ...)
{
    va_list args;
    va_start (args, fmt);
    err->code = code;
    err->offset = offset;
    vsnprintf (err->text, sizeof err->text, fmt, args);
    va_end (args);
}

int
rb_journal_pwrite_all_ (int fd, const void *buf, size_t len, uint64_t offset)
{
    const uint8_t *p = (const uint8_t *) buf;
    while (len > 0) {
        ssize_t n = pwrite (fd, p, len, (off_t) offset);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            if (n == 0)
                errno = EIO;
            return -1;
        }
        p += n, len -= (size_t) n, offset += (uint64_t) n;
    }
    return 0;
}

int
rb_journal_sync_dir_ (const char *path)
{
    char *copy = strdup (path);
    assert (copy);
    int fd = open (dirname (copy), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    free (copy);
    if (fd < 0)
        return -1;
    int rc = fsync (fd);
    close (fd);
    return rc;
}

void
rb_journal_range_add_ (jrange_t **array, size_t *n, size_t *cap, jrange_t r)
{
    rb_journal_grow_ ((void **) array, cap, *n + 1, sizeof (jrange_t));
    (*array)[(*n)++] = r;
}

/*  --- records ------------------------------------------------------------ */

void
rb_journal_frame_ (uint8_t *buf, uint32_t len)
{
    rb_jput32 (buf, len);
    rb_jput32 (buf + 4, rb_crc32c (0, buf, 4));
    rb_jput32 (buf + 8, rb_crc32c (0, buf + FRAME_SIZE, len));
}

const char *
rb_journal_decode_order_ (const uint8_t *p, uint32_t len, rb_jorder_t *o)
{
    if (len < ORDER_FIXED || p[0] != T_ORDER)
        return "not an order record";
    o->seq = rb_jget64 (p + 1);
    o->time_ms = rb_jget64 (p + 9);
    o->op = p[17];
    o->key_len = p[18];
    o->value_len = rb_jget32 (p + 19);
    o->key = (const char *) p + ORDER_FIXED;
    o->value = p + ORDER_FIXED + o->key_len;
    if ((uint64_t) ORDER_FIXED + o->key_len + o->value_len != len)
        return "order lengths do not add up";
    if (o->op != RB_OP_PUT && o->op != RB_OP_DELETE)
        return "unknown op";
    if (o->op == RB_OP_DELETE && o->value_len)
        return "a delete with a value";
    if (!rb_key_valid (o->key, o->key_len))
        return "bad key";
    return NULL;
}

/*  Whether a whole, intact record starts at off. */
static bool
s_intact_at (const uint8_t *base, uint64_t size, uint64_t off)
{
    uint64_t left = size - off;
    if (left < FRAME_SIZE)
        return false;
    uint32_t len = rb_jget32 (base + off);
    return rb_crc32c (0, base + off, 4) == rb_jget32 (base + off + 4) &&
           len > 0 && len <= RECORD_MAX && len <= left - FRAME_SIZE &&
           rb_crc32c (0, base + off + FRAME_SIZE, len) ==
               rb_jget32 (base + off + 8);
}

uint64_t
rb_journal_next_intact_ (const uint8_t *base, uint64_t size, uint64_t off)
{
    for (uint64_t at = off + 1; at + FRAME_SIZE <= size; at++)
        if (s_intact_at (base, size, at))
            return at;
    return size;
}

int
rb_journal_frame_state_ (const uint8_t *base, uint64_t size, uint64_t off,
                         const char **why)
{
    uint64_t left = size - off;
    if (left < FRAME_SIZE) {
        *why = "a record header cut short";
        return F_TORN;
    }
    uint32_t len = rb_jget32 (base + off);
    if (rb_crc32c (0, base + off, 4) != rb_jget32 (base + off + 4) ||
        len == 0 || len > RECORD_MAX) {
        *why = "bad record length";
        /* damage only if an intact record follows: else a crash */
        return rb_journal_next_intact_ (base, size, off) < size ? F_BAD_HEADER
                                                                : F_TORN;
    }
    if (len > left - FRAME_SIZE) {
        *why = "a record cut short";
        return F_TORN;
    }
    uint32_t crc = rb_crc32c (0, base + off + FRAME_SIZE, len);
    if (crc != rb_jget32 (base + off + 8)) {
        *why = "checksum mismatch";
        return off + FRAME_SIZE + len == size ? F_TORN : F_BAD_PAYLOAD;
    }
    return F_OK;
}
