/*  rb_out: escaped text and JSON output of values (see rb_out.h). */
#include "rb_out.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

void
rb_out_escaped (FILE *f, const void *bytes, size_t len)
{
    const uint8_t *p = (const uint8_t *) bytes;
    for (size_t i = 0; i < len; i++) {
        uint8_t c = p[i];
        if (c == '\\')
            fputs ("\\\\", f);
        else if (c == '\t')
            fputs ("\\t", f);
        else if (c == '\n')
            fputs ("\\n", f);
        else if (c == '\r')
            fputs ("\\r", f);
        else if (c >= 0x20 && c < 0x7f)
            fputc (c, f);
        else
            fprintf (f, "\\x%02x", c);
    }
}

static char *
s_base64 (const uint8_t *in, size_t len)
{
    static const char alphabet[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    char *out = (char *) malloc (4 * ((len + 2) / 3) + 1);
    if (!out)
        return NULL;
    size_t o = 0;
    for (size_t i = 0; i < len; i += 3) {
        uint32_t n = (uint32_t) in[i] << 16;
        if (i + 1 < len)
            n |= (uint32_t) in[i + 1] << 8;
        if (i + 2 < len)
            n |= in[i + 2];
        out[o++] = alphabet[(n >> 18) & 63];
        out[o++] = alphabet[(n >> 12) & 63];
        out[o++] = i + 1 < len ? alphabet[(n >> 6) & 63] : '=';
        out[o++] = i + 2 < len ? alphabet[n & 63] : '=';
    }
    out[o] = '\0';
    return out;
}

void
rb_out_json_bytes (json_t *obj, const char *name, const void *bytes, size_t len)
{
    if (!bytes) {
        json_object_set_new (obj, name, json_null ());
        return;
    }
    json_t *text = json_stringn ((const char *) bytes, len);
    if (text) { /* valid UTF-8 */
        json_object_set_new (obj, name, text);
        return;
    }
    char *b64 = s_base64 ((const uint8_t *) bytes, len);
    json_object_set_new (obj, name, json_string (b64 ? b64 : ""));
    free (b64);
    char marker[96];
    snprintf (marker, sizeof marker, "%s_encoding", name);
    json_object_set_new (obj, marker, json_string ("base64"));
}

void
rb_out_json_line (FILE *f, json_t *obj)
{
    char *line = json_dumps (obj, JSON_COMPACT | JSON_PRESERVE_ORDER);
    if (line) {
        fputs (line, f);
        fputc ('\n', f);
        free (line);
    }
    json_decref (obj);
}

void
rb_out_json_uint (json_t *obj, const char *name, uint64_t value)
{
    json_object_set_new (obj, name, json_integer ((json_int_t) value));
}
