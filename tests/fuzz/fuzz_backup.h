/*  fuzz_backup: the backup reader (nodes/db/rb_backup.h) over one input
    written to a temp file: the whole-file check (rb_backup_verify), then
    the streaming reader as a restore uses it: one pass, a rewind and a
    second pass, which must agree with the first. No backup key: signed
    and unsigned files are read alike, so the fuzzer reaches the records.
    fuzz_backup.c feeds it the bytes as they come, fuzz_backup_fixed.c
    with the trailer's CRC-32C recomputed first.  */
#ifndef FUZZ_BACKUP_H
#define FUZZ_BACKUP_H

#include "rb_backup.h"
#include "fuzz_util.h"

#include <assert.h>

/*  Reads every record; returns the reader's last answer (0 or -1). */
static int
s_pass (rb_backup_reader_t *r, uint64_t *records)
{
    rb_backup_record_t rec;
    int rc;
    *records = 0;
    while ((rc = rb_backup_reader_next (r, &rec)) == 1) {
        assert (rec.key_len >= 1 && rec.key_len <= RB_BACKUP_KEY_MAX);
        assert (!rec.tombstone || rec.value_len == 0);
        (*records)++;
    }
    return rc;
}

static void
fuzz_backup_read (const uint8_t *data, size_t size)
{
    const char *path = fuzz_file (data, size);
    rb_backup_trust_t trust = {64 * 1024, NULL};
    rb_backup_header_t h;
    uint64_t count = 0;
    char err[512];
    int verified = rb_backup_verify (path, &trust, &h, &count, err, sizeof err);

    rb_backup_reader_t *r =
        rb_backup_reader_new (path, &trust, &h, err, sizeof err);
    if (!r) {
        assert (verified == -1);
        return;
    }
    uint64_t first, second;
    int rc = s_pass (r, &first);
    assert (rc == verified);
    assert (rc == -1 || first == count);
    if (rc == 0) {
        assert (rb_backup_reader_rewind (r) == 0);
        assert (s_pass (r, &second) == 0 && second == first);
    } else
        assert (*rb_backup_reader_error (r));
    rb_backup_reader_destroy (&r);
}

#endif
