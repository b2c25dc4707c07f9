/*  fuzz_header: the header frame decoder (rb_header_decode), the first
    thing the broker and every node decode from the bus.  */
#include "rb_msg.h"

#include <assert.h>
#include <stdint.h>

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
    rb_header_t h;
    rb_err_t err;
    if (rb_header_decode (data, size, &h, &err) != RB_OK)
        return 0;
    /* what decodes must encode again, and decode to the same header */
    uint8_t buf[512];
    size_t len = rb_header_encode (&h, buf, sizeof buf);
    assert (len > 0 && len <= sizeof buf);
    rb_header_t again;
    assert (rb_header_decode (buf, len, &again, &err) == RB_OK);
    assert (again.kind == h.kind && again.type == h.type &&
            again.corr == h.corr && !strcmp (again.dest, h.dest));
    return 0;
}
