/*  rb_encode: RESP commands and DUMP payloads (see rb_encode.h).  */
#include "rb_encode.h"

#include <assert.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#define RB_RDB_TYPE_HASH_LISTPACK 16
#define RB_RDB_VERSION            10 /* Redis 7.0's; later ones take it */

/*  --- RESP ---------------------------------------------------------------- */

void
rb_resp_free (rb_resp_t *self)
{
    free (self->data);
    memset (self, 0, sizeof *self);
}

char *
rb_resp_room (rb_resp_t *self, size_t n)
{
    if (self->len + n > self->cap) {
        size_t cap = self->cap ? self->cap : 4096;
        while (cap < self->len + n)
            cap *= 2;
        char *grown = (char *) realloc (self->data, cap);
        assert (grown);
        self->data = grown;
        self->cap = cap;
    }
    return self->data + self->len;
}

void
rb_resp_raw (rb_resp_t *self, const void *data, size_t len)
{
    memcpy (rb_resp_room (self, len), data, len);
    self->len += len;
}

size_t
rb_encode_digits (char *out, uint64_t v)
{
    char tmp[20];
    size_t n = 0;
    do {
        tmp[n++] = (char) ('0' + v % 10);
        v /= 10;
    } while (v);
    for (size_t i = 0; i < n; i++)
        out[i] = tmp[n - 1 - i];
    return n;
}

/*  c, then n in decimal, then "\r\n".  */
static void
s_line (rb_resp_t *self, char c, uint64_t n)
{
    char *p = rb_resp_room (self, 24);
    p[0] = c;
    size_t len = 1 + rb_encode_digits (p + 1, n);
    p[len] = '\r';
    p[len + 1] = '\n';
    self->len += len + 2;
}

void
rb_resp_array (rb_resp_t *self, size_t n)
{
    s_line (self, '*', n);
}

void
rb_resp_bulk2 (rb_resp_t *self, const char *prefix, size_t plen,
               const void *data, size_t len)
{
    s_line (self, '$', plen + len);
    char *p = rb_resp_room (self, plen + len + 2);
    if (plen)
        memcpy (p, prefix, plen);
    if (len)
        memcpy (p + plen, data, len);
    p[plen + len] = '\r';
    p[plen + len + 1] = '\n';
    self->len += plen + len + 2;
}

void
rb_resp_bulk (rb_resp_t *self, const void *data, size_t len)
{
    rb_resp_bulk2 (self, NULL, 0, data, len);
}

void
rb_resp_uint (rb_resp_t *self, uint64_t v)
{
    char digits[20];
    rb_resp_bulk (self, digits, rb_encode_digits (digits, v));
}

/*  --- CRC-64, slicing by 8 over tables built once ------------------------ */

static uint64_t s_crc[8][256];
static pthread_once_t s_crc_once = PTHREAD_ONCE_INIT;

static void
s_crc_init (void)
{
    for (uint64_t i = 0; i < 256; i++) {
        uint64_t c = i;
        for (int k = 0; k < 8; k++)
            c = (c >> 1) ^ (0x95ac9329ac4bc9b5ULL & (0 - (c & 1)));
        s_crc[0][i] = c;
    }
    for (int t = 1; t < 8; t++)
        for (int i = 0; i < 256; i++)
            s_crc[t][i] =
                (s_crc[t - 1][i] >> 8) ^ s_crc[0][s_crc[t - 1][i] & 0xff];
}

uint64_t
rb_dump_crc64 (uint64_t crc, const void *buf, size_t len)
{
    pthread_once (&s_crc_once, s_crc_init);
    const uint8_t *p = (const uint8_t *) buf;
    for (; len >= 8; p += 8, len -= 8) {
        uint64_t w;
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
        memcpy (&w, p, 8);
#else
        w = 0;
        for (int i = 7; i >= 0; i--)
            w = w << 8 | p[i];
#endif
        crc ^= w;
        crc = s_crc[7][crc & 0xff] ^ s_crc[6][(crc >> 8) & 0xff] ^
              s_crc[5][(crc >> 16) & 0xff] ^ s_crc[4][(crc >> 24) & 0xff] ^
              s_crc[3][(crc >> 32) & 0xff] ^ s_crc[2][(crc >> 40) & 0xff] ^
              s_crc[1][(crc >> 48) & 0xff] ^ s_crc[0][crc >> 56];
    }
    while (len--)
        crc = s_crc[0][(crc ^ *p++) & 0xff] ^ (crc >> 8);
    return crc;
}

/*  --- the DUMP payload of a record hash ---------------------------------- */

static void
s_le (uint8_t *p, uint64_t v, int bytes)
{
    for (int i = 0; i < bytes; i++)
        p[i] = (uint8_t) (v >> (8 * i));
}

/*  A listpack entry's back length: the entry's size (header and data),
    written so that it reads from its last byte backwards, 7 bits a byte.
    Returns the bytes written.  */
static size_t
s_backlen (uint8_t *p, size_t n)
{
    if (n <= 127) {
        p[0] = (uint8_t) n;
        return 1;
    }
    if (n < 16383) {
        p[0] = (uint8_t) (n >> 7);
        p[1] = (uint8_t) ((n & 127) | 128);
        return 2;
    }
    if (n < 2097151) {
        p[0] = (uint8_t) (n >> 14);
        p[1] = (uint8_t) (((n >> 7) & 127) | 128);
        p[2] = (uint8_t) ((n & 127) | 128);
        return 3;
    }
    p[0] = (uint8_t) (n >> 21);
    p[1] = (uint8_t) (((n >> 14) & 127) | 128);
    p[2] = (uint8_t) (((n >> 7) & 127) | 128);
    p[3] = (uint8_t) ((n & 127) | 128);
    return 4; /* up to 2^28 bytes: far above any value we hold */
}

/*  A listpack string entry's header: 6-, 12- or 32-bit length.  */
static size_t
s_entry_head (uint8_t *p, size_t len)
{
    if (len <= 63) {
        p[0] = (uint8_t) (0x80 | len);
        return 1;
    }
    if (len <= 4095) {
        p[0] = (uint8_t) (0xE0 | (len >> 8));
        p[1] = (uint8_t) (len & 0xff);
        return 2;
    }
    p[0] = 0xF0;
    s_le (p + 1, len, 4);
    return 5;
}

/*  One listpack string entry: header, the bytes, the back length.
    Returns the bytes written; p NULL only counts them.  */
static size_t
s_entry (uint8_t *p, const void *data, size_t len)
{
    uint8_t scratch[8];
    size_t head = s_entry_head (p ? p : scratch, len);
    if (!p)
        return head + len + s_backlen (scratch, head + len);
    if (len)
        memcpy (p + head, data, len);
    return head + len + s_backlen (p + head + len, head + len);
}

/*  An RDB length: 6 bits, 14 bits, or 32 bits big-endian.  */
static size_t
s_rdb_len (uint8_t *p, size_t n)
{
    if (n < 64) {
        p[0] = (uint8_t) n;
        return 1;
    }
    if (n < 16384) {
        p[0] = (uint8_t) (0x40 | (n >> 8));
        p[1] = (uint8_t) (n & 0xff);
        return 2;
    }
    p[0] = 0x80;
    for (int i = 0; i < 4; i++)
        p[1 + i] = (uint8_t) (n >> (24 - 8 * i));
    return 5;
}

size_t
rb_dump_size (size_t value_len)
{
    /* value entry 5 + 4 around it; seq entry 22; v, s, d, 0|1 entries 12;
       listpack header and end 7; type 1, length 5, version 2, CRC 8 */
    return value_len + 9 + 22 + 12 + 7 + 16;
}

size_t
rb_dump_record (uint8_t *out, const uint8_t *value, size_t value_len,
                uint64_t seq, bool tombstone)
{
    char digits[20];
    size_t dlen = rb_encode_digits (digits, seq);
    /* v VALUE s SEQ d 0|1: four one-byte strings take 3 bytes each */
    size_t lp_len = 6 + 12 + s_entry (NULL, NULL, value_len) +
                    s_entry (NULL, NULL, dlen) + 1;
    out[0] = RB_RDB_TYPE_HASH_LISTPACK;
    size_t len = 1 + s_rdb_len (out + 1, lp_len);
    uint8_t *lp = out + len;
    s_le (lp, lp_len, 4);
    s_le (lp + 4, 6, 2);
    size_t n = 6;
    n += s_entry (lp + n, "v", 1);
    n += s_entry (lp + n, value, value_len);
    n += s_entry (lp + n, "s", 1);
    n += s_entry (lp + n, digits, dlen);
    n += s_entry (lp + n, "d", 1);
    n += s_entry (lp + n, tombstone ? "1" : "0", 1);
    lp[n++] = 0xFF;
    assert (n == lp_len);
    len += n;
    s_le (out + len, RB_RDB_VERSION, 2);
    len += 2;
    s_le (out + len, rb_dump_crc64 (0, out, len), 8);
    return len + 8;
}
