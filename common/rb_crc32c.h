/*  rb_crc32c: CRC-32C (Castagnoli), the checksum of backup files and of
    journal records. One implementation for the whole tree: the SSE4.2
    crc32 instruction where the CPU has it, else a slicing-by-8 table.  */
#ifndef RB_CRC32C_H
#define RB_CRC32C_H

#include <stddef.h>
#include <stdint.h>

/*  Start with crc = 0 and feed the result back to continue a running
    checksum over several buffers.  */
uint32_t rb_crc32c (uint32_t crc, const void *buf, size_t len);

/*  The table-driven path alone (tests compare the two paths).  */
uint32_t rb_crc32c_sw (uint32_t crc, const void *buf, size_t len);

#endif
