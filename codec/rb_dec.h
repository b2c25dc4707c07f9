/*  rb_dec: the decode context and the primitive field readers that the
    header and body decoders (rb_msg.c, rb_body.c) are built from.

    Internal to the codec: not part of the library's API, and not for users
    of recobus, who include rb_msg.h only.

    Each reader takes one msgpack item from d->r and checks it against the
    protocol's limits. On failure it fills d->err with a code (rb_code_t)
    and one line naming the field from d->where ("DIFF.orders[3].key: ..."),
    and returns that code; on success it returns 0. Strings point into the
    decoded buffer.  */
#ifndef RB_DEC_H
#define RB_DEC_H

#include "rb_msg.h"
#include "rb_mp.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define RB_DEC_DEPTH 4 /* array indices a place can hold */

/*  Decoding context: the reader, the limits and where we are, for
    messages like "DIFF.orders[3].key: ...". The place is kept as its
    parts (names are static strings) and written out only when a message
    needs it (rb_dec_where): a body that decodes costs no formatting.  */
typedef struct {
    rb_mp_reader_t r;             /* the bytes being decoded */
    const rb_limits_t *limits;    /* value and batch maxima */
    rb_err_t *err;                /* where failures are written; may be NULL */
    const char *type;             /* the body type's name, or NULL */
    const char *field;            /* the field's name, or NULL */
    uint32_t index[RB_DEC_DEPTH]; /* the array elements, outermost first */
    int depth;                    /* how many of index are in use */
    char where[64];               /* rb_dec_where's text */
} rb_dec_t;

/*  The word sets of body fields (rb_names.c holds the words). */
typedef enum {
    RB_WORD_ROLE,  /* rb_role_t: db, service, ops, ... */
    RB_WORD_OP,    /* rb_op_t: put, delete */
    RB_WORD_ANSWER /* rb_answer_t: ok, not_found, stale, unavailable */
} rb_word_set_t;

/*  The value of word s in set (an rb_word_set_t), or -1 if s is not one of
    its words. The placeholder at value 0 ("none", "?") never matches.  */
int rb_word_lookup (rb_str_t s, int set);

/*  Starts decoding len bytes at buf against limits (rb_limits_default if
    NULL); failures go to err (may be NULL).  */
void rb_dec_init (rb_dec_t *d, const void *buf, size_t len,
                  const rb_limits_t *limits, rb_err_t *err);

/*  Sets err (if not NULL) to code and a printf-formatted line; returns
    code.  */
int rb_dec_fail (rb_err_t *err, int code, const char *fmt, ...);
/*  Maps a reader failure rc (RB_MP_*) to a decode error naming where it
    happened and what was expected; returns the rb_code_t.  */
int rb_dec_read_fail (rb_err_t *err, int rc, const rb_mp_reader_t *r,
                      const char *where, const char *expected);

/*  Primitive readers. */
int rb_dec_str (rb_dec_t *d, rb_str_t *out);
int rb_dec_uint (rb_dec_t *d, uint64_t *out);
/*  A record key (rb_key_valid). */
int rb_dec_key (rb_dec_t *d, rb_str_t *out);
/*  A node or service name (rb_name_valid). */
int rb_dec_name (rb_dec_t *d, rb_str_t *out);
/*  A string of at most max bytes and no NUL. */
int rb_dec_text (rb_dec_t *d, rb_str_t *out, uint32_t max);
/*  A bin of at most limits->max_value bytes, or nil (has_value false). */
int rb_dec_value (rb_dec_t *d, bool *has_value, rb_str_t *out);
/*  A word of set (an rb_word_set_t), stored as its value. */
int rb_dec_word (rb_dec_t *d, int set, uint8_t *out);
int rb_dec_bool (rb_dec_t *d, bool *out);
/*  An array header of at most max elements. */
int rb_dec_array (rb_dec_t *d, uint32_t max, uint32_t *n);
/*  The header of a fixed-size tuple, [a, b, ...], of size elements. */
int rb_dec_tuple (rb_dec_t *d, uint32_t size);

/*  The place being read: "TYPE", "TYPE.field", "TYPE.field[3]" ...  */
void rb_dec_at (rb_dec_t *d, const char *type, const char *field);
/*  Enters element i of the array being read; returns the depth to give
    rb_dec_leave after it.  */
int rb_dec_enter (rb_dec_t *d, uint32_t i);
void rb_dec_leave (rb_dec_t *d, int mark);
/*  The place as text, for a message (written into d->where).  */
const char *rb_dec_where (rb_dec_t *d);

#endif
