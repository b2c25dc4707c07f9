/*  rb_mp: bounded msgpack reader and counting writer (see rb_mp.h). */
#include "rb_mp.h"

#include <assert.h>
#include <string.h>

void
rb_mp_reader_init (rb_mp_reader_t *r, const void *buf, size_t len)
{
    r->p = (const uint8_t *) buf;
    r->end = r->p + len;
}

size_t
rb_mp_remaining (const rb_mp_reader_t *r)
{
    return (size_t) (r->end - r->p);
}

/*  Big-endian read of n bytes (1, 2, 4 or 8) at p. */
static uint64_t
s_be (const uint8_t *p, int n)
{
    uint64_t v = 0;
    for (int i = 0; i < n; i++)
        v = (v << 8) | p[i];
    return v;
}

/*  Reads a length-prefixed header: fix (mask/prefix), or one of three
    marker bytes followed by a 1, 2 or 4 byte length. Returns the number of
    header bytes, 0 if the type does not match, -1 if truncated.  */
static int
s_read_len (const rb_mp_reader_t *r, uint8_t fix_mask, uint8_t fix_tag,
            uint8_t fix_bits, const uint8_t markers[3], uint32_t *len)
{
    size_t avail = rb_mp_remaining (r);
    if (avail < 1)
        return -1;
    uint8_t b = r->p[0];
    if (fix_mask && (b & fix_mask) == fix_tag) {
        *len = b & fix_bits;
        return 1;
    }
    static const int widths[3] = {1, 2, 4};
    for (int i = 0; i < 3; i++) {
        if (markers[i] && b == markers[i]) {
            if (avail < (size_t) (1 + widths[i]))
                return -1;
            *len = (uint32_t) s_be (r->p + 1, widths[i]);
            return 1 + widths[i];
        }
    }
    return 0;
}

/*  Common tail of the container reads: the count must fit the bytes
    left, at least min_bytes per element.  */
static int
s_container (rb_mp_reader_t *r, int hdr, uint32_t n, size_t min_bytes,
             uint32_t *count)
{
    if (hdr < 0)
        return RB_MP_TRUNCATED;
    if (hdr == 0)
        return RB_MP_WRONG_TYPE;
    if ((uint64_t) n * min_bytes > rb_mp_remaining (r) - (size_t) hdr)
        return RB_MP_TRUNCATED;
    r->p += hdr;
    *count = n;
    return RB_MP_OK;
}

int
rb_mp_read_array (rb_mp_reader_t *r, uint32_t *count)
{
    static const uint8_t m[3] = {0, 0xdc, 0xdd};
    uint32_t n = 0;
    int hdr = s_read_len (r, 0xf0, 0x90, 0x0f, m, &n);
    return s_container (r, hdr, n, 1, count);
}

int
rb_mp_read_map (rb_mp_reader_t *r, uint32_t *count)
{
    static const uint8_t m[3] = {0, 0xde, 0xdf};
    uint32_t n = 0;
    int hdr = s_read_len (r, 0xf0, 0x80, 0x0f, m, &n);
    return s_container (r, hdr, n, 2, count);
}

/*  Strings and bins: the payload must fit in what remains. */
static int
s_bytes (rb_mp_reader_t *r, int hdr, uint32_t n, const uint8_t **out,
         uint32_t *len)
{
    if (hdr < 0)
        return RB_MP_TRUNCATED;
    if (hdr == 0)
        return RB_MP_WRONG_TYPE;
    if ((size_t) n > rb_mp_remaining (r) - (size_t) hdr)
        return RB_MP_TRUNCATED;
    *out = r->p + hdr;
    *len = n;
    r->p += (size_t) hdr + n;
    return RB_MP_OK;
}

int
rb_mp_read_str (rb_mp_reader_t *r, const char **str, uint32_t *len)
{
    static const uint8_t m[3] = {0xd9, 0xda, 0xdb};
    uint32_t n = 0;
    int hdr = s_read_len (r, 0xe0, 0xa0, 0x1f, m, &n);
    return s_bytes (r, hdr, n, (const uint8_t **) str, len);
}

int
rb_mp_read_bin (rb_mp_reader_t *r, const uint8_t **bin, uint32_t *len)
{
    static const uint8_t m[3] = {0xc4, 0xc5, 0xc6};
    uint32_t n = 0;
    int hdr = s_read_len (r, 0, 0, 0, m, &n);
    return s_bytes (r, hdr, n, bin, len);
}

int
rb_mp_read_uint (rb_mp_reader_t *r, uint64_t *value)
{
    size_t avail = rb_mp_remaining (r);
    if (avail < 1)
        return RB_MP_TRUNCATED;
    uint8_t b = r->p[0];
    if (b <= 0x7f) {
        *value = b;
        r->p++;
        return RB_MP_OK;
    }
    /* 0xcc..0xcf: uint 8/16/32/64; 0xd0..0xd3: int 8/16/32/64 */
    if (b < 0xcc || b > 0xd3)
        return RB_MP_WRONG_TYPE;
    int width = 1 << ((b - 0xcc) & 3);
    if (avail < (size_t) (1 + width))
        return RB_MP_TRUNCATED;
    uint64_t v = s_be (r->p + 1, width);
    if (b >= 0xd0 && (r->p[1] & 0x80))
        return RB_MP_WRONG_TYPE; /* a negative signed integer */
    *value = v;
    r->p += 1 + width;
    return RB_MP_OK;
}

int
rb_mp_read_bool (rb_mp_reader_t *r, bool *value)
{
    if (rb_mp_remaining (r) < 1)
        return RB_MP_TRUNCATED;
    if (r->p[0] != 0xc2 && r->p[0] != 0xc3)
        return RB_MP_WRONG_TYPE;
    *value = r->p[0] == 0xc3;
    r->p++;
    return RB_MP_OK;
}

int
rb_mp_read_nil (rb_mp_reader_t *r)
{
    if (rb_mp_remaining (r) < 1)
        return RB_MP_TRUNCATED;
    if (r->p[0] != 0xc0)
        return RB_MP_WRONG_TYPE;
    r->p++;
    return RB_MP_OK;
}

bool
rb_mp_peek_nil (const rb_mp_reader_t *r)
{
    return rb_mp_remaining (r) > 0 && r->p[0] == 0xc0;
}

const char *
rb_mp_peek_name (const rb_mp_reader_t *r)
{
    if (rb_mp_remaining (r) < 1)
        return "end";
    uint8_t b = r->p[0];
    if (b <= 0x7f || (b >= 0xcc && b <= 0xcf))
        return "uint";
    if (b >= 0xe0 || (b >= 0xd0 && b <= 0xd3))
        return "int";
    if ((b & 0xf0) == 0x80 || b == 0xde || b == 0xdf)
        return "map";
    if ((b & 0xf0) == 0x90 || b == 0xdc || b == 0xdd)
        return "array";
    if ((b & 0xe0) == 0xa0 || (b >= 0xd9 && b <= 0xdb))
        return "str";
    if (b >= 0xc4 && b <= 0xc6)
        return "bin";
    if (b == 0xc0)
        return "nil";
    if (b == 0xc2 || b == 0xc3)
        return "bool";
    if (b == 0xca || b == 0xcb)
        return "float";
    return "ext";
}

/*  msgpack-c sink: count, or copy into the sized buffer. */
static int
s_sink (void *data, const char *buf, size_t len)
{
    rb_mp_writer_t *w = (rb_mp_writer_t *) data;
    if (w->buf && len) { /* an empty str may come with a NULL pointer */
        assert (w->len + len <= w->cap);
        memcpy (w->buf + w->len, buf, len);
    }
    w->len += len;
    return 0;
}

void
rb_mp_writer_init (rb_mp_writer_t *w, uint8_t *buf, size_t cap)
{
    w->buf = buf;
    w->cap = cap;
    w->len = 0;
    msgpack_packer_init (&w->pk, w, s_sink);
}

/*  Fixed widths of scalar markers 0xc0..0xdf; -1 for containers and
    variable-length items, handled apart.  */
static int
s_scalar_width (uint8_t b)
{
    switch (b) {
        case 0xc0:
        case 0xc2:
        case 0xc3: return 0;
        case 0xcc:
        case 0xd0: return 1;
        case 0xcd:
        case 0xd1: return 2;
        case 0xca:
        case 0xce:
        case 0xd2: return 4;
        case 0xcb:
        case 0xcf:
        case 0xd3: return 8;
        case 0xd4: return 2; /* fixext 1: type + 1 */
        case 0xd5: return 3;
        case 0xd6: return 5;
        case 0xd7: return 9;
        case 0xd8: return 17;
        default: return -1;
    }
}

int
rb_mp_skip (rb_mp_reader_t *r, int max_depth)
{
    if (rb_mp_remaining (r) < 1)
        return RB_MP_TRUNCATED;
    uint8_t b = r->p[0];
    if (b <= 0x7f || b >= 0xe0) { /* fixints */
        r->p++;
        return RB_MP_OK;
    }
    int width = s_scalar_width (b);
    if (width >= 0) {
        if (rb_mp_remaining (r) < (size_t) (1 + width))
            return RB_MP_TRUNCATED;
        r->p += 1 + width;
        return RB_MP_OK;
    }
    const uint8_t *bytes;
    uint32_t n;
    if (rb_mp_read_str (r, (const char **) &bytes, &n) == RB_MP_OK ||
        rb_mp_read_bin (r, &bytes, &n) == RB_MP_OK)
        return RB_MP_OK;
    bool is_map = rb_mp_read_map (r, &n) == RB_MP_OK;
    if (!is_map && rb_mp_read_array (r, &n) != RB_MP_OK) {
        /* truncated container/string, or ext with a length */
        return (b >= 0xc7 && b <= 0xc9) ? RB_MP_WRONG_TYPE : RB_MP_TRUNCATED;
    }
    if (max_depth <= 0)
        return RB_MP_WRONG_TYPE;
    uint64_t items = is_map ? 2 * (uint64_t) n : n;
    for (uint64_t i = 0; i < items; i++) {
        int rc = rb_mp_skip (r, max_depth - 1);
        if (rc != RB_MP_OK)
            return rc;
    }
    return RB_MP_OK;
}
