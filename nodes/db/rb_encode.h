/*  rb_encode: what the DB node writes to Redis in bulk, in Redis's own
    formats, built straight into a buffer (no printf, one copy of each
    value): commands in the Redis protocol (RESP), for
    rb_store_append_resp (the recovery list's writes).  */
#ifndef RB_ENCODE_H
#define RB_ENCODE_H

#include <stddef.h>
#include <stdint.h>

/*  A growing buffer of bytes. Zero-initialised is empty.  */
typedef struct {
    char *data;
    size_t len, cap;
} rb_resp_t;

void rb_resp_free (rb_resp_t *self);
/*  Makes room for n more bytes; returns where they go (data + len).  */
char *rb_resp_room (rb_resp_t *self, size_t n);
/*  Bytes as they are (protocol text made beforehand).  */
void rb_resp_raw (rb_resp_t *self, const void *data, size_t len);
/*  "*N\r\n": a command of n arguments follows.  */
void rb_resp_array (rb_resp_t *self, size_t n);
/*  One argument: "$LEN\r\n" prefix then data "\r\n" (prefix may be
    NULL when plen is 0): the two are one argument.  */
void rb_resp_bulk2 (rb_resp_t *self, const char *prefix, size_t plen,
                    const void *data, size_t len);
void rb_resp_bulk (rb_resp_t *self, const void *data, size_t len);
/*  One argument: v in decimal.  */
void rb_resp_uint (rb_resp_t *self, uint64_t v);

/*  v in decimal into out (at least 20 bytes), no NUL; its length.  */
size_t rb_encode_digits (char *out, uint64_t v);

#endif
