/*  rb_crc16: CRC-16/XMODEM and the Redis Cluster key slot (see
    rb_crc16.h). A 256-entry table built once, on first use.  */
#include "rb_crc16.h"

#include <pthread.h>
#include <string.h>

static uint16_t s_table[256];
static pthread_once_t s_once = PTHREAD_ONCE_INIT;

static void
s_build (void)
{
    for (unsigned i = 0; i < 256; i++) {
        uint16_t c = (uint16_t) (i << 8);
        for (int b = 0; b < 8; b++)
            c = (uint16_t) (c & 0x8000 ? (c << 1) ^ 0x1021 : c << 1);
        s_table[i] = c;
    }
}

uint16_t
rb_crc16 (const void *buf, size_t len)
{
    pthread_once (&s_once, s_build);
    const uint8_t *p = (const uint8_t *) buf;
    uint16_t crc = 0;
    for (size_t i = 0; i < len; i++)
        crc = (uint16_t) ((crc << 8) ^ s_table[((crc >> 8) ^ p[i]) & 0xff]);
    return crc;
}

int
rb_key_slot (const char *key, size_t len)
{
    const char *open = (const char *) memchr (key, '{', len);
    if (open) {
        size_t rest = len - (size_t) (open - key) - 1;
        const char *close = (const char *) memchr (open + 1, '}', rest);
        if (close && close > open + 1) {
            key = open + 1;
            len = (size_t) (close - open - 1);
        }
    }
    return rb_crc16 (key, len) & (RB_SLOTS - 1);
}
