/*  rb_mp: a bounded msgpack reader and a counting/writing packer.

    The reader walks a buffer in place and never allocates: every declared
    length is checked against the bytes that remain before it is believed,
    so a 5-byte frame cannot make anyone reserve gigabytes (msgpack-c's own
    unpacker trusts declared sizes). Strings and bins come back as borrowed
    pointers into the buffer.

    The writer wraps msgpack-c's packer with a sink that either counts bytes
    or writes into a buffer sized by a first counting pass, so encoding
    copies each value exactly once.  */
#ifndef RB_MP_H
#define RB_MP_H

#include <msgpack.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/*  Reader results. */
enum {
    RB_MP_OK = 0,
    RB_MP_TRUNCATED = -1,  /* the buffer ends inside the item */
    RB_MP_WRONG_TYPE = -2, /* the next item is not of the asked type */
};

typedef struct {
    const uint8_t *p;   /* next byte to read */
    const uint8_t *end; /* one past the last byte */
} rb_mp_reader_t;

void rb_mp_reader_init (rb_mp_reader_t *r, const void *buf, size_t len);
size_t rb_mp_remaining (const rb_mp_reader_t *r);

/*  Each returns RB_MP_OK, RB_MP_TRUNCATED or RB_MP_WRONG_TYPE and only
    advances on success. Counts of arrays and maps are checked against the
    remaining bytes (every element takes at least one byte).  */
int rb_mp_read_array (rb_mp_reader_t *r, uint32_t *count);
int rb_mp_read_map (rb_mp_reader_t *r, uint32_t *count);
int rb_mp_read_uint (rb_mp_reader_t *r, uint64_t *value);
int rb_mp_read_bool (rb_mp_reader_t *r, bool *value);
int rb_mp_read_str (rb_mp_reader_t *r, const char **str, uint32_t *len);
int rb_mp_read_bin (rb_mp_reader_t *r, const uint8_t **bin, uint32_t *len);
int rb_mp_read_nil (rb_mp_reader_t *r);
bool rb_mp_peek_nil (const rb_mp_reader_t *r);

/*  Skips one item of any type, containers included, at most max_depth
    levels deep (deeper is RB_MP_WRONG_TYPE).  */
int rb_mp_skip (rb_mp_reader_t *r, int max_depth);

/*  A short name of the type of the next item ("str", "uint", ...), for
    error messages; "end" when the buffer is exhausted.  */
const char *rb_mp_peek_name (const rb_mp_reader_t *r);

/*  The writer: counts when buf is NULL, else writes (cap is asserted:
    a size mismatch between the passes is our bug).  */
typedef struct {
    msgpack_packer pk; /* msgpack-c's packer, writing through sink */
    uint8_t *buf;      /* destination, or NULL to count only */
    size_t len;        /* bytes produced so far */
    size_t cap;        /* size of buf */
} rb_mp_writer_t;

void rb_mp_writer_init (rb_mp_writer_t *w, uint8_t *buf, size_t cap);

#endif
