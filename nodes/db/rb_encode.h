/*  rb_encode: what the DB node writes to Redis in bulk, in Redis's own
    formats, built straight into a buffer (no printf, one copy of each
    value):

    - commands in the Redis protocol (RESP), for rb_store_append_resp:
      the restore's load and the recovery list's writes;
    - a record hash as a DUMP payload, for RESTORE: the hash {v, s, d}
      serialized as Redis serializes a small hash (a listpack), so Redis
      takes it as it is instead of building the hash field by field.

    The payload is RDB type 16 (hash as listpack), RDB version 10 (Redis
    7.0), and the CRC-64 Redis checks. The listpack's entries are all
    strings: v VALUE s SEQ d 0|1, the fields in the order APPLY writes
    them. Redis 7.0 and later take it; an older Redis refuses it ("DUMP
    payload version or checksum are wrong"), and the load falls back to
    HSET (rb_db_load.c).  */
#ifndef RB_ENCODE_H
#define RB_ENCODE_H

#include <stdbool.h>
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

/*  Bytes the payload of a record with a value of value_len bytes takes
    at most.  */
size_t rb_dump_size (size_t value_len);
/*  Writes the DUMP payload of the record hash {v: value, s: seq, d: "1"
    if tombstone else "0"} into out (rb_dump_size (value_len) bytes);
    returns its length.  */
size_t rb_dump_record (uint8_t *out, const uint8_t *value, size_t value_len,
                       uint64_t seq, bool tombstone);

/*  The CRC-64 of Redis's DUMP payloads (Jones, reflected, no final
    xor): crc of len more bytes after crc (start from 0).  */
uint64_t rb_dump_crc64 (uint64_t crc, const void *buf, size_t len);

#endif
