/*  fuzz_journal_fixed: the journal's readers (fuzz_journal.h) over
    inputs whose frames carry good CRCs, so that a mutated payload
    reaches the record decoders instead of ending at "checksum mismatch".
    Frames are walked as docs/journal.md lays them out: after the 8-byte
    file header, [len u32][CRC-32C of len][CRC-32C of payload][payload];
    every whole frame gets both CRCs recomputed, a frame cut short only
    its length's (a torn tail stays torn).  */
#include "fuzz_journal.h"
#include "rb_crc32c.h"

#define FILE_HEADER 8
#define FRAME_SIZE  12

static void
s_fix (uint8_t *p, size_t size)
{
    size_t at = FILE_HEADER;
    while (size > at && size - at >= FRAME_SIZE) {
        fuzz_put_le32 (p + at + 4, rb_crc32c (0, p + at, 4));
        size_t len = fuzz_le32 (p + at);
        if (len > size - at - FRAME_SIZE)
            return;
        fuzz_put_le32 (p + at + 8, rb_crc32c (0, p + at + FRAME_SIZE, len));
        at += FRAME_SIZE + len;
    }
}

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
    fuzz_fixed (data, size, s_fix, fuzz_journal_read);
    return 0;
}
