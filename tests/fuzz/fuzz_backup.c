/*  fuzz_backup: the backup reader over raw bytes (fuzz_backup.h).  */
#include "fuzz_backup.h"

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
    fuzz_backup_read (data, size);
    return 0;
}
