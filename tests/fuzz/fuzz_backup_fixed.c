/*  fuzz_backup_fixed: the backup reader (fuzz_backup.h) over inputs
    whose trailer CRC-32C is recomputed first, so that a mutated record
    reaches the record parser and the checks after it instead of ending
    at "checksum mismatch". The records are walked as the reader walks
    them (docs/backup-format.md): from offset 68, flags, key_len,
    value_len, seq, key, value, until a byte that is not a record's
    flags; a whole trailer there gets the CRC of every byte before its
    CRC field. Inputs the walk cannot follow are read as they are.  */
#include "fuzz_backup.h"
#include "rb_crc32c.h"

#define HEADER_SIZE  68
#define RECORD_SIZE  14
#define TRAILER_SIZE 20

/*  Offset of the trailer, or 0 if the records cannot be walked to one. */
static size_t
s_trailer (const uint8_t *p, size_t size)
{
    size_t at = HEADER_SIZE;
    while (at < size && p[at] <= 1) {
        if (size - at < RECORD_SIZE)
            return 0;
        size_t rec = RECORD_SIZE + (size_t) p[at + 1] + fuzz_le32 (p + at + 2);
        if (rec > size - at)
            return 0;
        at += rec;
    }
    return at + TRAILER_SIZE <= size ? at : 0;
}

/*  The trailer's CRC, when the records lead to a whole trailer. */
static void
s_fix (uint8_t *p, size_t size)
{
    size_t at = size > HEADER_SIZE ? s_trailer (p, size) : 0;
    if (at)
        fuzz_put_le32 (p + at + 16, rb_crc32c (0, p, at + 16));
}

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
    fuzz_fixed (data, size, s_fix, fuzz_backup_read);
    return 0;
}
