/*  rb_quick: the terminals' hot path through a service node (see
    rb_msg.h): a GET decoded and an ANSWER encoded without the costs the
    general codec pays for every message, field names kept for error
    lines (a snprintf a field) and msgpack-c's packer (a callback an
    item, and a counting pass). They read and write the very bytes the
    general codec does: test_codec_quick holds them to it, byte for byte
    and field for field.  */
#include "rb_msg.h"
#include "rb_mp.h"

#include <assert.h>
#include <string.h>

#define RB_HEADER_FIELDS 11 /* as rb_msg.c writes and reads them */

/*  --- a terminal's GET -------------------------------------------------- */

/*  A uint no larger than max. */
static bool
s_uint_in (rb_mp_reader_t *r, uint64_t max, uint64_t *out)
{
    return rb_mp_read_uint (r, out) == RB_MP_OK && *out <= max;
}

/*  A str equal to want (an empty name, the signature, a field name). */
static bool
s_str_is (rb_mp_reader_t *r, const char *want, size_t want_len)
{
    const char *s;
    uint32_t len;
    return rb_mp_read_str (r, &s, &len) == RB_MP_OK && len == want_len &&
           memcmp (s, want, len) == 0;
}

/*  The header of a terminal's GET: what rb_header_decode accepts, with
    kind REQUEST, type GET and dest and sender empty.  */
static bool
s_get_header (const void *buf, size_t len, rb_header_t *h)
{
    rb_mp_reader_t r;
    rb_mp_reader_init (&r, buf, len);
    uint32_t count;
    uint64_t version, kind, type, corr, addr, role, status, timeout;
    if (rb_mp_read_array (&r, &count) != RB_MP_OK ||
        count != RB_HEADER_FIELDS ||
        !s_str_is (&r, RB_SIGNATURE, sizeof RB_SIGNATURE - 1) ||
        !s_uint_in (&r, RB_VERSION, &version) || version != RB_VERSION ||
        !s_uint_in (&r, RB_K_REQUEST, &kind) || kind != RB_K_REQUEST ||
        !s_uint_in (&r, RB_T_GET, &type) || type != RB_T_GET ||
        !s_uint_in (&r, UINT64_MAX, &corr) ||
        !s_uint_in (&r, RB_ADDR_MAX_, &addr) || !s_str_is (&r, "", 0) ||
        !s_str_is (&r, "", 0) || !s_uint_in (&r, RB_ROLE_MAX_, &role) ||
        !s_uint_in (&r, UINT16_MAX, &status) ||
        !s_uint_in (&r, UINT32_MAX, &timeout) || rb_mp_remaining (&r))
        return false;
    memset (h, 0, sizeof *h);
    h->kind = RB_K_REQUEST, h->type = RB_T_GET, h->corr = corr;
    h->addr = (uint8_t) addr, h->role = (uint8_t) role;
    h->status = (uint16_t) status, h->timeout_ms = (uint32_t) timeout;
    return true;
}

int
rb_get_quick (const void *head, size_t head_len, const void *body,
              size_t body_len, rb_header_t *h, rb_str_t *key)
{
    if (!s_get_header (head, head_len, h))
        return -1;
    rb_mp_reader_t r;
    rb_mp_reader_init (&r, body, body_len);
    uint32_t pairs;
    rb_str_t k;
    if (rb_mp_read_map (&r, &pairs) != RB_MP_OK || pairs != 1 ||
        !s_str_is (&r, "key", 3) ||
        rb_mp_read_str (&r, &k.ptr, &k.len) != RB_MP_OK ||
        !rb_key_valid (k.ptr, k.len) || rb_mp_remaining (&r))
        return -1;
    *key = k;
    return RB_OK;
}

/*  --- its ANSWER ------------------------------------------------------- */

/*  v big-endian in n bytes after the marker m. */
static uint8_t *
s_be (uint8_t *p, uint8_t m, uint64_t v, int n)
{
    *p++ = m;
    for (int i = n - 1; i >= 0; i--)
        *p++ = (uint8_t) (v >> (8 * i));
    return p;
}

/*  A uint in its shortest form, as msgpack-c packs every width. */
static uint8_t *
s_uint (uint8_t *p, uint64_t v)
{
    if (v < 0x80) {
        *p++ = (uint8_t) v;
        return p;
    }
    return v <= UINT8_MAX    ? s_be (p, 0xcc, v, 1)
           : v <= UINT16_MAX ? s_be (p, 0xcd, v, 2)
           : v <= UINT32_MAX ? s_be (p, 0xce, v, 4)
                             : s_be (p, 0xcf, v, 8);
}

/*  A str (a fixstr up to 31 bytes) or, with bin, a bin. */
static uint8_t *
s_bytes (uint8_t *p, const void *s, uint32_t len, bool bin)
{
    if (!bin && len < 32)
        *p++ = (uint8_t) (0xa0 | len);
    else if (len <= UINT8_MAX)
        p = s_be (p, bin ? 0xc4 : 0xd9, len, 1);
    else if (len <= UINT16_MAX)
        p = s_be (p, bin ? 0xc5 : 0xda, len, 2);
    else
        p = s_be (p, bin ? 0xc6 : 0xdb, len, 4);
    if (len)
        memcpy (p, s, len);
    return p + len;
}

static uint8_t *
s_cstr (uint8_t *p, const char *s)
{
    return s_bytes (p, s, (uint32_t) strlen (s), false);
}

size_t
rb_answer_quick (uint8_t *head, size_t *head_len, uint8_t *body, uint64_t corr,
                 rb_str_t key, int status, uint64_t seq, bool has_value,
                 rb_str_t value)
{
    /* [signature, version, kind, type, corr, addr, dest, sender, role,
       status, timeout] */
    uint8_t *p = head;
    *p++ = 0x90 | RB_HEADER_FIELDS;
    p = s_cstr (p, RB_SIGNATURE);
    p = s_uint (p, RB_VERSION);
    p = s_uint (p, RB_K_REPLY);
    p = s_uint (p, RB_T_ANSWER);
    p = s_uint (p, corr);
    p = s_uint (p, 0);
    p = s_cstr (p, "");
    p = s_cstr (p, "");
    for (int i = 0; i < 3; i++)
        p = s_uint (p, 0);
    *head_len = (size_t) (p - head);
    assert (*head_len <= RB_QUICK_HEAD_MAX);
    /* {key, status, seq, value}, ANSWER's schema in rb_body.c */
    p = body;
    *p++ = 0x80 | 4;
    p = s_cstr (p, "key");
    p = s_bytes (p, key.ptr, key.len, false);
    p = s_cstr (p, "status");
    p = s_cstr (p, rb_answer_name (status));
    p = s_cstr (p, "seq");
    p = s_uint (p, seq);
    p = s_cstr (p, "value");
    if (has_value)
        p = s_bytes (p, value.ptr, value.len, true);
    else
        *p++ = 0xc0;
    size_t len = (size_t) (p - body);
    assert (len <= (size_t) key.len + value.len + RB_QUICK_BODY_MAX);
    return len;
}
