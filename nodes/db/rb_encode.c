/*  rb_encode: RESP commands (see rb_encode.h).  */
#include "rb_encode.h"

#include <assert.h>
#include <stdlib.h>
#include <string.h>

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
