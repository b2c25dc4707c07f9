/*  rb_crc32c: see rb_crc32c.h.  */
#include "rb_crc32c.h"

#include <pthread.h>
#include <string.h>
#if defined(__x86_64__)
#include <nmmintrin.h>
#endif

/*  Slicing by 8 over tables built once                                  */

static uint32_t s_table[8][256];
static pthread_once_t s_table_once = PTHREAD_ONCE_INIT;

static void
s_table_init (void)
{
    for (uint32_t i = 0; i < 256; i++) {
        uint32_t c = i;
        for (int k = 0; k < 8; k++)
            c = (c >> 1) ^ (0x82F63B78u & (0u - (c & 1)));
        s_table[0][i] = c;
    }
    for (int t = 1; t < 8; t++)
        for (int i = 0; i < 256; i++) {
            uint32_t c = s_table[t - 1][i];
            s_table[t][i] = (c >> 8) ^ s_table[0][c & 0xff];
        }
}

static uint32_t
s_le32 (const uint8_t *p)
{
    return (uint32_t) p[0] | (uint32_t) p[1] << 8 | (uint32_t) p[2] << 16 |
           (uint32_t) p[3] << 24;
}

uint32_t
rb_crc32c_sw (uint32_t crc, const void *buf, size_t len)
{
    pthread_once (&s_table_once, s_table_init);
    uint32_t (*t)[256] = s_table;
    const uint8_t *p = (const uint8_t *) buf;
    crc = ~crc;
    for (; len >= 8; p += 8, len -= 8) {
        uint32_t lo = crc ^ s_le32 (p);
        uint32_t hi = s_le32 (p + 4);
        crc = t[7][lo & 0xff] ^ t[6][(lo >> 8) & 0xff] ^
              t[5][(lo >> 16) & 0xff] ^ t[4][lo >> 24] ^ t[3][hi & 0xff] ^
              t[2][(hi >> 8) & 0xff] ^ t[1][(hi >> 16) & 0xff] ^ t[0][hi >> 24];
    }
    while (len--)
        crc = (crc >> 8) ^ t[0][(crc ^ *p++) & 0xff];
    return ~crc;
}

/*  The SSE4.2 instruction: 8 bytes a step                               */

#if defined(__x86_64__)
__attribute__ ((target ("sse4.2"))) static uint32_t
s_crc_sse42 (uint32_t crc, const uint8_t *p, size_t len)
{
    uint64_t c = (uint32_t) ~crc;
    for (; len >= 8; p += 8, len -= 8) {
        uint64_t word;
        memcpy (&word, p, 8);
        c = _mm_crc32_u64 (c, word);
    }
    uint32_t c32 = (uint32_t) c;
    for (; len; p++, len--)
        c32 = _mm_crc32_u8 (c32, *p);
    return ~c32;
}
#endif

uint32_t
rb_crc32c (uint32_t crc, const void *buf, size_t len)
{
#if defined(__x86_64__)
    static int hw = -1;
    if (hw < 0)
        hw = __builtin_cpu_supports ("sse4.2") ? 1 : 0;
    if (hw)
        return s_crc_sse42 (crc, (const uint8_t *) buf, len);
#endif
    return rb_crc32c_sw (crc, buf, len);
}
