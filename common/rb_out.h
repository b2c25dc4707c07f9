/*  rb_out: how the command-line tools print record values: as text with
    non-printable bytes escaped (never raw), or into JSON (jansson), as a
    string when the bytes are valid UTF-8, else base64 with a marker
    field "<name>_encoding": "base64".  */
#ifndef RB_OUT_H
#define RB_OUT_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

/*  Writes bytes to f: printable ASCII as is; backslash, tab, newline and
    carriage return as \\ \t \n \r; any other byte as \xNN.  */
void rb_out_escaped (FILE *f, const void *bytes, size_t len);

/*  Sets obj[name] to the bytes (see above); NULL bytes set JSON null. */
void rb_out_json_bytes (json_t *obj, const char *name, const void *bytes,
                        size_t len);

/*  Sets obj[name] to an unsigned number. */
void rb_out_json_uint (json_t *obj, const char *name, uint64_t value);

/*  Prints obj as one compact line on f and frees it. */
void rb_out_json_line (FILE *f, json_t *obj);

#endif
