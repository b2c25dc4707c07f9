/*  fuzz_body: the body decoder (rb_body_decode) for every body type; the
    first input byte picks the type (modulo the number of types, so 0
    and the out-of-range ones are tried too), the rest is the frame.  */
#include "rb_msg.h"

#include <assert.h>
#include <stdint.h>
#include <stdlib.h>

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    rb_type_t type = (rb_type_t) (data[0] % (RB_T_COUNT_ + 1));
    /* a small batch limit reaches the limit checks with small inputs */
    const rb_limits_t small = {1024, 8};
    const rb_limits_t *limits = data[0] & 0x80 ? &small : NULL;
    rb_body_t b;
    rb_body_init (&b, RB_T_NONE);
    rb_err_t err;
    int rc = rb_body_decode (data + 1, size - 1, type, limits, &b, &err);
    if (rc == RB_OK) {
        /* what decodes must encode again and decode alike */
        size_t len = rb_body_encode (&b, NULL, 0);
        uint8_t *buf = malloc (len ? len : 1);
        assert (buf);
        assert (rb_body_encode (&b, buf, len) == len);
        rb_body_t again;
        rb_body_init (&again, RB_T_NONE);
        assert (rb_body_decode (buf, len, type, limits, &again, &err) == RB_OK);
        assert (again.type == b.type && again.n_orders == b.n_orders &&
                again.n_entries == b.n_entries);
        rb_body_release (&again);
        free (buf);
    }
    rb_body_release (&b);
    return 0;
}
