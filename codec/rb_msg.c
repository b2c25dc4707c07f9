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

static void
s_pack_cstr (msgpack_packer *pk, const char *s)
{
    rb_str_t str = rb_str (s);
    msgpack_pack_str (pk, str.len);
    msgpack_pack_str_body (pk, str.ptr, str.len);
}

size_t
rb_header_encode (const rb_header_t *h, uint8_t *buf, size_t cap)
{
    rb_mp_writer_t w;
    rb_mp_writer_init (&w, buf, cap);
    msgpack_packer *pk = &w.pk;
    msgpack_pack_array (pk, RB_HEADER_FIELDS);
    s_pack_cstr (pk, RB_SIGNATURE);
    msgpack_pack_uint8 (pk, RB_VERSION);
    msgpack_pack_uint8 (pk, h->kind);
    msgpack_pack_uint8 (pk, h->type);
    msgpack_pack_uint64 (pk, h->corr);
    msgpack_pack_uint8 (pk, h->addr);
    s_pack_cstr (pk, h->dest);
    s_pack_cstr (pk, h->sender);
    msgpack_pack_uint8 (pk, h->role);
    msgpack_pack_uint16 (pk, h->status);
    msgpack_pack_uint32 (pk, h->timeout_ms);
    return w.len;
}

/*  Reads a uint field of the header no larger than max. */
static int
s_dec_small (rb_dec_t *d, const char *name, uint64_t max, int code,
             uint64_t *out)
{
    snprintf (d->where, sizeof d->where, "header.%s", name);
    int rc = rb_dec_uint (d, out);
    if (rc == 0 && *out > max)
        return rb_dec_fail (d->err, code, "%s: %llu out of range 0..%llu",
                            d->where, (unsigned long long) *out,
                            (unsigned long long) max);
    return rc;
}

/*  Reads a name field of the header into dst: empty, or a valid name. */
static int
s_dec_hname (rb_dec_t *d, const char *name, char *dst)
{
    snprintf (d->where, sizeof d->where, "header.%s", name);
    rb_str_t s;
    int rc = rb_dec_str (d, &s);
    if (rc == 0 && s.len > 0 && !rb_name_valid (s.ptr, s.len))
        return rb_dec_fail (d->err, RB_E_TEXT, "%s: not a valid name",
                            d->where);
    if (rc == 0) {
        memcpy (dst, s.ptr, s.len);
        dst[s.len] = '\0';
    }
    return rc;
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
