/*  rb_msg: the recobus wire protocol (see rb_msg.h, docs/protocol.md):
    the header frame's encode and decode, and the zmsg helpers that wrap
    header and body (rb_body.c) for sockets. Names and string helpers are
    in rb_names.c, the decode context, its default limits and the
    primitive readers in rb_dec.c.  */
#include "rb_msg.h"
#include "rb_mp.h"
#include "rb_dec.h"

#include <assert.h>
#include <stdio.h>
#include <string.h>

#define RB_HEADER_FIELDS 11

/*  --- header ---------------------------------------------------------- */

/*  The header's msgpack is written by hand: the bytes msgpack-c's packer
    writes (each uint in its smallest form, a str of 32..255 bytes as
    str8), at a fraction of its cost; every routed message pays it.  */
#define RB_HEADER_MAX 160 /* 11 fields, two names of at most 65 bytes */

static uint8_t *
s_put_uint (uint8_t *p, uint64_t v)
{
    if (v < 128) {
        *p++ = (uint8_t) v;
        return p;
    }
    int n = v <= UINT8_MAX ? 1 : v <= UINT16_MAX ? 2 : v <= UINT32_MAX ? 4 : 8;
    *p++ = n == 1 ? 0xcc : n == 2 ? 0xcd : n == 4 ? 0xce : 0xcf;
    for (int i = n - 1; i >= 0; i--)
        *p++ = (uint8_t) (v >> (8 * i));
    return p;
}

static uint8_t *
s_put_str (uint8_t *p, const char *s)
{
    size_t len = strnlen (s, RB_NAME_MAX + 1);
    if (len < 32)
        *p++ = (uint8_t) (0xa0 | len);
    else {
        *p++ = 0xd9;
        *p++ = (uint8_t) len;
    }
    memcpy (p, s, len);
    return p + len;
}

size_t
rb_header_encode (const rb_header_t *h, uint8_t *buf, size_t cap)
{
    uint8_t tmp[RB_HEADER_MAX];
    uint8_t *p = tmp;
    *p++ = 0x90 | RB_HEADER_FIELDS; /* fixarray */
    p = s_put_str (p, RB_SIGNATURE);
    p = s_put_uint (p, RB_VERSION);
    p = s_put_uint (p, h->kind);
    p = s_put_uint (p, h->type);
    p = s_put_uint (p, h->corr);
    p = s_put_uint (p, h->addr);
    p = s_put_str (p, h->dest);
    p = s_put_str (p, h->sender);
    p = s_put_uint (p, h->role);
    p = s_put_uint (p, h->status);
    p = s_put_uint (p, h->timeout_ms);
    size_t len = (size_t) (p - tmp);
    if (buf) {
        assert (len <= cap);
        memcpy (buf, tmp, len);
    }
    return len;
}

/*  Names the header field being read in d->where: only on a failure,
    so that a header that decodes costs no formatting.  */
static const char *
s_where (rb_dec_t *d, const char *name)
{
    snprintf (d->where, sizeof d->where, "header.%s", name);
    return d->where;
}

/*  Reads a uint field of the header no larger than max. */
static int
s_dec_small (rb_dec_t *d, const char *name, uint64_t max, int code,
             uint64_t *out)
{
    int rc = rb_mp_read_uint (&d->r, out);
    if (rc)
        return rb_dec_read_fail (d->err, rc, &d->r, s_where (d, name), "uint");
    if (*out > max)
        return rb_dec_fail (d->err, code, "%s: %llu out of range 0..%llu",
                            s_where (d, name), (unsigned long long) *out,
                            (unsigned long long) max);
    return 0;
}

/*  Reads a name field of the header into dst: empty, or a valid name. */
static int
s_dec_hname (rb_dec_t *d, const char *name, char *dst)
{
    rb_str_t s;
    int rc = rb_mp_read_str (&d->r, &s.ptr, &s.len);
    if (rc)
        return rb_dec_read_fail (d->err, rc, &d->r, s_where (d, name), "str");
    if (s.len > 0 && !rb_name_valid (s.ptr, s.len))
        return rb_dec_fail (d->err, RB_E_TEXT, "%s: not a valid name",
                            s_where (d, name));
    memcpy (dst, s.ptr, s.len);
    dst[s.len] = '\0';
    return 0;
}

/*  Signature and version first, so a foreign frame is named as such. */
static int
s_dec_preamble (rb_dec_t *d, uint32_t *count)
{
    int rc = rb_mp_read_array (&d->r, count);
    if (rc == RB_MP_WRONG_TYPE)
        return rb_dec_fail (d->err, RB_E_SIGNATURE, "header: not an RB header");
    if (rc)
        return rb_dec_fail (d->err, RB_E_TRUNCATED, "header: truncated");
    rb_str_t sig;
    if (*count < 2)
        return rb_dec_fail (d->err, RB_E_SIGNATURE, "header: not an RB header");
    rc = rb_mp_read_str (&d->r, &sig.ptr, &sig.len);
    if (rc == RB_MP_TRUNCATED)
        return rb_dec_fail (d->err, RB_E_TRUNCATED, "header: truncated");
    if (rc || !rb_str_eq (sig, RB_SIGNATURE))
        return rb_dec_fail (d->err, RB_E_SIGNATURE, "header: bad signature");
    uint64_t version;
    rc = rb_mp_read_uint (&d->r, &version);
    if (rc == RB_MP_TRUNCATED)
        return rb_dec_fail (d->err, RB_E_TRUNCATED, "header: truncated");
    if (rc || version != RB_VERSION)
        return rb_dec_fail (d->err, RB_E_VERSION,
                            "header: protocol version is "
                            "not %d",
                            RB_VERSION);
    if (*count != RB_HEADER_FIELDS)
        return rb_dec_fail (d->err, RB_E_SHAPE,
                            "header: %u fields, expected %d", *count,
                            RB_HEADER_FIELDS);
    return 0;
}

int
rb_header_decode (const void *buf, size_t len, rb_header_t *h, rb_err_t *err)
{
    rb_dec_t d;
    rb_dec_init (&d, buf, len, NULL, err);
    memset (h, 0, sizeof *h);
    uint32_t count;
    uint64_t kind, type, addr, role, status, timeout;
    int rc = s_dec_preamble (&d, &count);
    if (rc == 0)
        rc = s_dec_small (&d, "kind", RB_K_MAX_, RB_E_KIND, &kind);
    if (rc == 0 && kind == 0)
        rc = rb_dec_fail (err, RB_E_KIND, "header.kind: 0 is not a kind");
    if (rc == 0)
        rc = s_dec_small (&d, "type", RB_T_COUNT_ - 1, RB_E_TYPE, &type);
    if (rc == 0)
        rc = s_dec_small (&d, "corr", UINT64_MAX, RB_E_KIND, &h->corr);
    if (rc == 0)
        rc = s_dec_small (&d, "addr", RB_ADDR_MAX_, RB_E_KIND, &addr);
    if (rc == 0)
        rc = s_dec_hname (&d, "dest", h->dest);
    if (rc == 0)
        rc = s_dec_hname (&d, "sender", h->sender);
    if (rc == 0)
        rc = s_dec_small (&d, "role", RB_ROLE_MAX_, RB_E_ENUM, &role);
    if (rc == 0)
        rc = s_dec_small (&d, "status", UINT16_MAX, RB_E_ENUM, &status);
    if (rc == 0)
        rc = s_dec_small (&d, "timeout", UINT32_MAX, RB_E_ENUM, &timeout);
    if (rc == 0 && rb_mp_remaining (&d.r))
        rc = rb_dec_fail (err, RB_E_TRAILING, "header: %zu trailing bytes",
                          rb_mp_remaining (&d.r));
    if (rc)
        return rc;
    h->kind = (uint8_t) kind, h->type = (uint8_t) type;
    h->addr = (uint8_t) addr, h->role = (uint8_t) role;
    h->status = (uint16_t) status, h->timeout_ms = (uint32_t) timeout;
    return RB_OK;
}

/*  --- zmsg helpers ------------------------------------------------------ */

zframe_t *
rb_header_frame (const rb_header_t *h)
{
    size_t size = rb_header_encode (h, NULL, 0);
    zframe_t *frame = zframe_new (NULL, size);
    assert (frame);
    size_t written = rb_header_encode (h, zframe_data (frame), size);
    assert (written == size);
    return frame;
}

zframe_t *
rb_body_frame (const rb_body_t *b)
{
    size_t size = rb_body_encode (b, NULL, 0);
    zframe_t *frame = zframe_new (NULL, size);
    assert (frame);
    size_t written = rb_body_encode (b, zframe_data (frame), size);
    assert (written == size);
    return frame;
}

zmsg_t *
rb_msg_new (const rb_header_t *h, const rb_body_t *b)
{
    zmsg_t *msg = zmsg_new ();
    zframe_t *frame = rb_header_frame (h);
    zmsg_append (msg, &frame);
    if (b) {
        frame = rb_body_frame (b);
        zmsg_append (msg, &frame);
    }
    return msg;
}

int
rb_msg_decode (zmsg_t *msg, const rb_limits_t *limits, rb_header_t *h,
               rb_body_t *b, rb_err_t *err)
{
    size_t frames = zmsg_size (msg);
    if (frames < 1 || frames > 2)
        return rb_dec_fail (err, RB_E_FRAMES, "%zu frames, expected 1 or 2",
                            frames);
    zframe_t *hf = zmsg_first (msg);
    int rc = rb_header_decode (zframe_data (hf), zframe_size (hf), h, err);
    if (rc)
        return rc;
    zframe_t *bf = zmsg_next (msg);
    if ((bf != NULL) != (h->type != RB_T_NONE))
        return rb_dec_fail (err, RB_E_FRAMES, "%s: body frame %s",
                            rb_type_name (h->type),
                            bf ? "not expected" : "missing");
    if (!bf)
        return RB_OK;
    return rb_body_decode (zframe_data (bf), zframe_size (bf), h->type, limits,
                           b, err);
}

int
rb_msg_send (void *sock, const rb_header_t *h, const rb_body_t *b)
{
    zmsg_t *msg = rb_msg_new (h, b);
    return zmsg_send (&msg, sock);
}
