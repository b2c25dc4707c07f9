/*  fuzz_journal: the journal's readers over raw bytes (fuzz_journal.h). */
#include "fuzz_journal.h"

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
    fuzz_journal_read (data, size);
    return 0;
}
