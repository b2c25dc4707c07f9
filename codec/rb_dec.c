/*  rb_dec: the decode context (with the default limits), its error
    helpers and primitive field readers (see rb_dec.h). Internal to the
    codec.  */
#include "rb_dec.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

const rb_limits_t rb_limits_default = {RB_VALUE_DEFAULT, RB_BATCH_DEFAULT};

void
rb_dec_init (rb_dec_t *d, const void *buf, size_t len,
             const rb_limits_t *limits, rb_err_t *err)
{
    memset (d, 0, sizeof *d);
    rb_mp_reader_init (&d->r, buf, len);
    d->limits = limits ? limits : &rb_limits_default;
    d->err = err;
}

/*  --- errors --------------------------------------------------------- */

int
rb_dec_fail (rb_err_t *err, int code, const char *fmt, ...)
{
    if (err) {
        err->code = code;
        va_list args;
        va_start (args, fmt);
        vsnprintf (err->text, sizeof err->text, fmt, args);
        va_end (args);
    }
    return code;
}

int
rb_dec_read_fail (rb_err_t *err, int rc, const rb_mp_reader_t *r,
                  const char *where, const char *expected)
{
    if (rc == RB_MP_TRUNCATED)
        return rb_dec_fail (err, RB_E_TRUNCATED, "%s: truncated", where);
    return rb_dec_fail (err, RB_E_WRONG_TYPE, "%s: expected %s, got %s", where,
                        expected, rb_mp_peek_name (r));
}

/*  --- readers -------------------------------------------------------- */

int
rb_dec_str (rb_dec_t *d, rb_str_t *out)
{
    int rc = rb_mp_read_str (&d->r, &out->ptr, &out->len);
    return rc ? rb_dec_read_fail (d->err, rc, &d->r, rb_dec_where (d), "str")
              : 0;
}

int
rb_dec_uint (rb_dec_t *d, uint64_t *out)
{
    int rc = rb_mp_read_uint (&d->r, out);
    return rc ? rb_dec_read_fail (d->err, rc, &d->r, rb_dec_where (d), "uint")
              : 0;
}

int
rb_dec_key (rb_dec_t *d, rb_str_t *out)
{
    int rc = rb_dec_str (d, out);
    if (rc == 0 && !rb_key_valid (out->ptr, out->len))
        return rb_dec_fail (d->err, RB_E_KEY,
                            "%s: key must be 1..%d printable bytes (got %u)",
                            rb_dec_where (d), RB_KEY_MAX, out->len);
    return rc;
}

int
rb_dec_name (rb_dec_t *d, rb_str_t *out)
{
    int rc = rb_dec_str (d, out);
    if (rc == 0 && !rb_name_valid (out->ptr, out->len))
        return rb_dec_fail (d->err, RB_E_TEXT,
                            "%s: name must be 1..%d of [A-Za-z0-9._-]",
                            rb_dec_where (d), RB_NAME_MAX);
    return rc;
}

int
rb_dec_text (rb_dec_t *d, rb_str_t *out, uint32_t max)
{
    int rc = rb_dec_str (d, out);
    if (rc == 0 && (out->len > max || memchr (out->ptr, 0, out->len)))
        return rb_dec_fail (d->err, RB_E_TEXT,
                            "%s: text must be at most %u bytes, no NUL",
                            rb_dec_where (d), max);
    return rc;
}

int
rb_dec_value (rb_dec_t *d, bool *has_value, rb_str_t *out)
{
    if (rb_mp_peek_nil (&d->r)) {
        *has_value = false;
        *out = rb_strn (NULL, 0);
        return rb_mp_read_nil (&d->r);
    }
    const uint8_t *bin;
    uint32_t len;
    int rc = rb_mp_read_bin (&d->r, &bin, &len);
    if (rc)
        return rb_dec_read_fail (d->err, rc, &d->r, rb_dec_where (d),
                                 "bin or nil");
    if (len > d->limits->max_value)
        return rb_dec_fail (d->err, RB_E_VALUE, "%s: %u bytes over the %u max",
                            rb_dec_where (d), len, d->limits->max_value);
    *has_value = true;
    *out = rb_strn (bin, len);
    return 0;
}

int
rb_dec_word (rb_dec_t *d, int set, uint8_t *out)
{
    rb_str_t s;
    int rc = rb_dec_str (d, &s);
    if (rc)
        return rc;
    int v = rb_word_lookup (s, set);
    if (v < 0)
        return rb_dec_fail (d->err, RB_E_ENUM, "%s: unknown word",
                            rb_dec_where (d));
    *out = (uint8_t) v;
    return 0;
}

int
rb_dec_bool (rb_dec_t *d, bool *out)
{
    int rc = rb_mp_read_bool (&d->r, out);
    return rc ? rb_dec_read_fail (d->err, rc, &d->r, rb_dec_where (d), "bool")
              : 0;
}

int
rb_dec_array (rb_dec_t *d, uint32_t max, uint32_t *n)
{
    int rc = rb_mp_read_array (&d->r, n);
    if (rc)
        return rb_dec_read_fail (d->err, rc, &d->r, rb_dec_where (d), "array");
    if (*n > max)
        return rb_dec_fail (d->err, RB_E_BATCH,
                            "%s: %u elements over the %u max", rb_dec_where (d),
                            *n, max);
    return 0;
}

int
rb_dec_tuple (rb_dec_t *d, uint32_t size)
{
    uint32_t n;
    int rc = rb_mp_read_array (&d->r, &n);
    if (rc)
        return rb_dec_read_fail (d->err, rc, &d->r, rb_dec_where (d), "array");
    if (n != size)
        return rb_dec_fail (d->err, RB_E_SHAPE, "%s: %u elements, expected %u",
                            rb_dec_where (d), n, size);
    return 0;
}

void
rb_dec_at (rb_dec_t *d, const char *type, const char *field)
{
    d->type = type;
    d->field = field;
    d->depth = 0;
}

int
rb_dec_enter (rb_dec_t *d, uint32_t i)
{
    int mark = d->depth;
    if (d->depth < RB_DEC_DEPTH)
        d->index[d->depth] = i;
    d->depth++;
    return mark;
}

void
rb_dec_leave (rb_dec_t *d, int mark)
{
    d->depth = mark;
}

const char *
rb_dec_where (rb_dec_t *d)
{
    int n = snprintf (d->where, sizeof d->where, "%s%s%s",
                      d->type ? d->type : "body", d->field ? "." : "",
                      d->field ? d->field : "");
    for (int k = 0; k < d->depth && k < RB_DEC_DEPTH && n > 0 &&
                    (size_t) n < sizeof d->where;
         k++)
        n += snprintf (d->where + n, sizeof d->where - (size_t) n, "[%u]",
                       d->index[k]);
    return d->where;
}
