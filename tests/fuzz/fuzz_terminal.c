/*  fuzz_terminal: a terminal's request as the service node decodes it
    (nodes/service/rb_service.c, s_on_get): a ROUTER message [id][header]
    [body?] through rb_msg_decode with the default limits, then the same
    "REQUEST GET only" check; and rb_get_quick, the service's quick path,
    which must take only what that takes and read it the same. The input
    is cut into frames:

        byte 0     bit 0: a body frame follows the header;
                   bit 1: no id frame (a message of header and body only)
        byte 1     id length
        bytes 2-3  header length, u16 little-endian
        then the id, the header and the rest as the body.  */
#include "rb_msg.h"
#include "fuzz_util.h"

#include <assert.h>

static void
s_add (zmsg_t *msg, const uint8_t *data, size_t len)
{
    zframe_t *f = zframe_new (data, len);
    assert (f);
    zmsg_append (msg, &f);
}

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
    if (size < 4)
        return 0;
    bool has_body = data[0] & 1, has_id = !(data[0] & 2);
    size_t id_len = data[1], head_len = data[2] | (size_t) data[3] << 8;
    data += 4, size -= 4;
    if (id_len > size)
        id_len = size;
    if (head_len > size - id_len)
        head_len = size - id_len;
    zmsg_t *msg = zmsg_new ();
    if (has_id)
        s_add (msg, data, id_len);
    s_add (msg, data + id_len, head_len);
    if (has_body)
        s_add (msg, data + id_len + head_len, size - id_len - head_len);

    rb_body_t body;
    rb_body_init (&body, RB_T_NONE);
    rb_header_t h;
    rb_err_t err = {0};
    zframe_t *id = zmsg_pop (msg);
    /* the quick path (rb_get_quick) takes [header][body] only as the full
       decode reads it */
    zframe_t *hf = zmsg_first (msg), *bf = zmsg_next (msg);
    rb_header_t quick;
    rb_str_t key = {NULL, 0};
    bool took =
        bf && zmsg_size (msg) == 2 &&
        rb_get_quick (zframe_data (hf), zframe_size (hf), zframe_data (bf),
                      zframe_size (bf), &quick, &key) == RB_OK;
    int rc = rb_msg_decode (msg, NULL, &h, &body, &err);
    if (rc == RB_OK && (h.kind != RB_K_REQUEST || h.type != RB_T_GET))
        rc = RB_E_TYPE;
    if (took)
        assert (rc == RB_OK && memcmp (&quick, &h, sizeof h) == 0 &&
                key.ptr == body.key.ptr && key.len == body.key.len);
    if (rc == RB_OK) /* what the service looks up and parks on */
        assert (rb_key_valid (body.key.ptr, body.key.len) && id);
    else
        assert (err.text[0] || rc == RB_E_TYPE);
    zframe_destroy (&id);
    rb_body_release (&body);
    zmsg_destroy (&msg);
    return 0;
}
