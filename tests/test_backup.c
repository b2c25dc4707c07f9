/*  test_backup: backup files round-trip every field; a flipped byte, a
    truncation, an oversized length or trailing bytes are refused; the
    newest valid backup is found past corrupt ones; the writer leaves
    exactly one file on success and none on abort or a failed write.  */
#define _GNU_SOURCE
#include <check.h>

#include "rb_testing.h"
#include <dirent.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "rb_backup.h"
#include "rb_crc32c.h"

#define MAXV 65536 /* max_value used by the tests */
/*  What the reader takes on trust: max_value only, no backup key. */
#define TRUST(max_value) (&(rb_backup_trust_t){(max_value), NULL})
#define DATASET          "0123456789abcdef0123456789abcdef"

/*  Helpers                                                              */

static char *
s_tmpdir (void)
{
    char *dir = strdup ("/tmp/rb_backup_test_XXXXXX");
    ck_assert_ptr_nonnull (mkdtemp (dir));
    return dir;
}

/*  Removes every file in dir, then dir; frees the name. */
static void
s_rmdir (char *dir)
{
    DIR *d = opendir (dir);
    ck_assert_ptr_nonnull (d);
    struct dirent *e;
    char path[512];
    while ((e = readdir (d)))
        if (strcmp (e->d_name, ".") && strcmp (e->d_name, "..")) {
            snprintf (path, sizeof path, "%s/%s", dir, e->d_name);
            ck_assert_int_eq (unlink (path), 0);
        }
    closedir (d);
    ck_assert_int_eq (rmdir (dir), 0);
    free (dir);
}

/*  Counts the .rbb files and the other entries in dir. */
static void
s_count (const char *dir, int *rbb, int *other)
{
    *rbb = *other = 0;
    DIR *d = opendir (dir);
    ck_assert_ptr_nonnull (d);
    struct dirent *e;
    while ((e = readdir (d))) {
        size_t len = strlen (e->d_name);
        if (!strcmp (e->d_name, ".") || !strcmp (e->d_name, ".."))
            continue;
        if (len > 4 && !strcmp (e->d_name + len - 4, ".rbb"))
            (*rbb)++;
        else
            (*other)++;
    }
    closedir (d);
}

static rb_backup_header_t
s_header (uint64_t created_ms, uint64_t watermark)
{
    rb_backup_header_t h = {DATASET, 3, watermark, created_ms, 0};
    return h;
}

static uint8_t *
s_slurp (const char *path, size_t *len)
{
    FILE *f = fopen (path, "rb");
    ck_assert_ptr_nonnull (f);
    fseek (f, 0, SEEK_END);
    *len = (size_t) ftell (f);
    rewind (f);
    uint8_t *data = malloc (*len + 1);
    ck_assert_uint_eq (fread (data, 1, *len, f), *len);
    fclose (f);
    return data;
}

static void
s_spill (const char *path, const void *data, size_t len)
{
    FILE *f = fopen (path, "wb");
    ck_assert_ptr_nonnull (f);
    ck_assert_uint_eq (fwrite (data, 1, len, f), len);
    fclose (f);
}

/*  Writes a backup of n small records to dir; returns its path. */
static char *
s_small_backup (const char *dir, uint64_t created_ms, uint64_t watermark, int n)
{
    char err[512], key[16], value[32];
    rb_backup_header_t h = s_header (created_ms, watermark);
    rb_backup_writer_t *w =
        rb_backup_writer_new (dir, &h, NULL, err, sizeof err);
    ck_assert_msg (w, "%s", err);
    for (int i = 0; i < n; i++) {
        snprintf (key, sizeof key, "key%d", i);
        snprintf (value, sizeof value, "value-%d", i);
        rb_backup_record_t r = {key,
                                (uint32_t) strlen (key),
                                (const uint8_t *) value,
                                (uint32_t) strlen (value),
                                100 + (uint64_t) i,
                                false};
        if (i == 2)
            r.value_len = 0, r.tombstone = true;
        ck_assert_int_eq (rb_backup_writer_add (w, &r, err, sizeof err), 0);
    }
    char *path;
    ck_assert_int_eq (
        rb_backup_writer_finish (&w, &path, NULL, err, sizeof err), 0);
    return path;
}

/*  Verifies data written to path: 0 or -1, with err filled. */
static int
s_verify_bytes (const char *path, const uint8_t *data, size_t len,
                uint32_t max_value, char *err, size_t errlen)
{
    s_spill (path, data, len);
    return rb_backup_verify (path, TRUST (max_value), NULL, NULL, err, errlen);
}

/*  The i-th record of the round trip. key and value are scratch buffers
    of 65 and MAXV bytes.  */
static rb_backup_record_t
s_sample (int i, char *key, uint8_t *value)
{
    rb_backup_record_t r = {key, 0, value, 0, (uint64_t) i * 1000 + 7, false};
    if (i % 13 == 0) {
        for (int j = 0; j < 64; j++)
            key[j] = (char) (0x21 + (i + j) % 94); /* every printable */
        r.key_len = 64;
    } else
        r.key_len = (uint32_t) snprintf (key, 65, "user:%d", i);
    r.value_len = i % 11 == 0 ? MAXV : (uint32_t) (i * 37) % 300;
    if (i % 7 == 0)
        r.value_len = 0;
    if (i % 5 == 0)
        r.value_len = 0, r.tombstone = true;
    for (uint32_t j = 0; j < r.value_len; j++)
        value[j] = (uint8_t) (i * 31 + j);
    if (i == 999)
        r.seq = UINT64_MAX;
    return r;
}

/*  Tests                                                                */

START_TEST (crc32c_matches_the_standard_check_values)
{
    ck_assert_uint_eq (rb_crc32c (0, "123456789", 9), 0xE3069283);
    uint32_t crc = rb_crc32c (0, "1234", 4);
    ck_assert_uint_eq (rb_crc32c (crc, "56789", 5), 0xE3069283);
    ck_assert_uint_eq (rb_crc32c (0, "", 0), 0);
    /* RFC 3720 B.4: 32 zeros, 32 x 0xff, 0..31 */
    uint8_t buf[32];
    memset (buf, 0, sizeof buf);
    ck_assert_uint_eq (rb_crc32c (0, buf, 32), 0x8A9136AA);
    memset (buf, 0xff, sizeof buf);
    ck_assert_uint_eq (rb_crc32c (0, buf, 32), 0x62A8AB43);
    for (int i = 0; i < 32; i++)
        buf[i] = (uint8_t) i;
    ck_assert_uint_eq (rb_crc32c (0, buf, 32), 0x46DD794E);
    /* any split gives the same answer */
    for (size_t cut = 0; cut <= 32; cut++)
        ck_assert_uint_eq (
            rb_crc32c (rb_crc32c (0, buf, cut), buf + cut, 32 - cut),
            0x46DD794E);
}
END_TEST

START_TEST (backup_round_trip_keeps_every_field)
{
    char *dir = s_tmpdir ();
    char key[65], err[512];
    uint8_t *value = malloc (MAXV);
    rb_backup_header_t h = s_header (1700000000123, 4242);
    rb_backup_writer_t *w =
        rb_backup_writer_new (dir, &h, NULL, err, sizeof err);
    ck_assert_msg (w, "%s", err);
    for (int i = 0; i < 1000; i++) {
        rb_backup_record_t r = s_sample (i, key, value);
        ck_assert_int_eq (rb_backup_writer_add (w, &r, err, sizeof err), 0);
    }
    char *path;
    uint64_t bytes;
    ck_assert_int_eq (
        rb_backup_writer_finish (&w, &path, &bytes, err, sizeof err), 0);
    ck_assert_ptr_null (w);
    struct stat st;
    ck_assert_int_eq (stat (path, &st), 0);
    ck_assert_uint_eq (bytes, (uint64_t) st.st_size);
    ck_assert_uint_gt (bytes, 2 * 1048576); /* crosses I/O buffers */

    rb_backup_header_t got;
    uint64_t count;
    ck_assert_msg (rb_backup_verify (path, TRUST (MAXV), &got, &count, err,
                                     sizeof err) == 0,
                   "%s", err);
    ck_assert_uint_eq (count, 1000);
    ck_assert_str_eq (got.dataset, DATASET);
    ck_assert_uint_eq (got.epoch, 3);
    ck_assert_uint_eq (got.watermark, 4242);
    ck_assert_uint_eq (got.created_ms, 1700000000123);

    rb_backup_reader_t *r =
        rb_backup_reader_new (path, TRUST (MAXV), &got, err, sizeof err);
    ck_assert_msg (r, "%s", err);
    ck_assert_uint_eq (got.watermark, 4242);
    rb_backup_record_t rec;
    for (int i = 0; i < 1000; i++) {
        ck_assert_int_eq (rb_backup_reader_next (r, &rec), 1);
        rb_backup_record_t want = s_sample (i, key, value);
        ck_assert_uint_eq (rec.key_len, want.key_len);
        ck_assert_int_eq (memcmp (rec.key, want.key, want.key_len), 0);
        ck_assert_uint_eq (rec.value_len, want.value_len);
        ck_assert_int_eq (memcmp (rec.value, want.value, want.value_len), 0);
        ck_assert_uint_eq (rec.seq, want.seq);
        ck_assert_int_eq (rec.tombstone, want.tombstone);
    }
    ck_assert_int_eq (rb_backup_reader_next (r, &rec), 0);
    ck_assert_int_eq (rb_backup_reader_next (r, &rec), 0);
    rb_backup_reader_destroy (&r);
    ck_assert_ptr_null (r);
    rb_backup_reader_destroy (&r);

    /* the same file with a smaller max_value is refused */
    ck_assert_int_eq (
        rb_backup_verify (path, TRUST (MAXV - 1), NULL, NULL, err, sizeof err),
        -1);
    ck_assert_ptr_nonnull (strstr (err, "value too long"));
    free (path);
    free (value);
    s_rmdir (dir);
}
END_TEST

START_TEST (backup_values_larger_than_the_io_buffer_round_trip)
{
    char *dir = s_tmpdir ();
    char err[512];
    uint32_t big = 3 * 1048576 + 5;
    uint8_t *value = malloc (big);
    for (uint32_t j = 0; j < big; j++)
        value[j] = (uint8_t) (j * 13);
    rb_backup_header_t h = s_header (5, 6);
    rb_backup_writer_t *w =
        rb_backup_writer_new (dir, &h, NULL, err, sizeof err);
    rb_backup_record_t r = {"a", 1, value, big, 1, false};
    ck_assert_int_eq (rb_backup_writer_add (w, &r, err, sizeof err), 0);
    r.key = "b";
    r.value_len = 10;
    ck_assert_int_eq (rb_backup_writer_add (w, &r, err, sizeof err), 0);
    char *path;
    ck_assert_int_eq (
        rb_backup_writer_finish (&w, &path, NULL, err, sizeof err), 0);
    rb_backup_reader_t *rd =
        rb_backup_reader_new (path, TRUST (big), NULL, err, sizeof err);
    ck_assert_ptr_nonnull (rd);
    rb_backup_record_t rec;
    ck_assert_int_eq (rb_backup_reader_next (rd, &rec), 1);
    ck_assert_uint_eq (rec.value_len, big);
    ck_assert_int_eq (memcmp (rec.value, value, big), 0);
    ck_assert_int_eq (rb_backup_reader_next (rd, &rec), 1);
    ck_assert_int_eq (memcmp (rec.key, "b", 1), 0);
    ck_assert_int_eq (rb_backup_reader_next (rd, &rec), 0);
    rb_backup_reader_destroy (&rd);
    ck_assert_int_eq (
        rb_backup_verify (path, TRUST (big - 1), NULL, NULL, err, sizeof err),
        -1);
    ck_assert_ptr_nonnull (strstr (err, "value too long"));
    free (path);
    free (value);
    s_rmdir (dir);
}
END_TEST

START_TEST (verify_refuses_every_flipped_byte)
{
    char *dir = s_tmpdir ();
    char *path = s_small_backup (dir, 1000, 10, 5);
    char copy[512], err[1024];
    snprintf (copy, sizeof copy, "%s/copy.rbb", dir);
    size_t len;
    uint8_t *data = s_slurp (path, &len);
    ck_assert_int_eq (s_verify_bytes (copy, data, len, MAXV, err, sizeof err),
                      0);
    /* named places, the bits flipped, and what the flip is reported as */
    struct {
        size_t at;
        uint8_t mask;
        const char *says;
    } spots[] = {
        {0, 0x01, "bad magic"},
        {8, 0x01, "unsupported version"},
        {12, 0x01, "checksum mismatch"}, /* dataset '0' -> '1': still hex */
        {13, 0x80, "bad dataset id"},    /* dataset '1' -> 0xb1 */
        {44, 0x01, "checksum mismatch"}, /* epoch */
        {60, 0x01, "checksum mismatch"}, /* created_ms */
        {68, 0x02, "bad record flags"},
        {69, 0x40, "bad key length"},
        {70, 0x01, "bad record flags"}, /* value_len 7 -> 6: lands on '0' */
        {82, 0x80, "bad key byte"},
        {85, 0x01, "checksum mismatch"}, /* key "key0", last byte */
        {86, 0x01, "checksum mismatch"}, /* value "value-0" */
        {len - 19, 0x01, "bad trailer magic"},
        {len - 12, 0x01, "count mismatch"},
        {len - 4, 0x01, "checksum mismatch"},
    };
    for (size_t i = 0; i < sizeof spots / sizeof spots[0]; i++) {
        data[spots[i].at] ^= spots[i].mask;
        ck_assert_int_eq (
            s_verify_bytes (copy, data, len, MAXV, err, sizeof err), -1);
        ck_assert_msg (strstr (err, spots[i].says), "at %zu: %s", spots[i].at,
                       err);
        ck_assert_msg (strncmp (err, copy, strlen (copy)) == 0 &&
                           strstr (err, ": offset "),
                       "%s", err);
        data[spots[i].at] ^= spots[i].mask;
    }
    /* and every byte of the file, flipped three ways */
    uint8_t flips[] = {0x01, 0x80, 0xff};
    for (size_t at = 0; at < len; at++)
        for (size_t f = 0; f < sizeof flips; f++) {
            data[at] ^= flips[f];
            ck_assert_msg (
                s_verify_bytes (copy, data, len, MAXV, err, sizeof err) == -1,
                "flip 0x%02x at %zu accepted", flips[f], at);
            data[at] ^= flips[f];
        }
    free (data);
    free (path);
    s_rmdir (dir);
}
END_TEST

START_TEST (verify_refuses_a_file_truncated_at_every_offset)
{
    char *dir = s_tmpdir ();
    char *path = s_small_backup (dir, 1000, 10, 5);
    char copy[512], err[1024];
    snprintf (copy, sizeof copy, "%s/copy.rbb", dir);
    size_t len;
    uint8_t *data = s_slurp (path, &len);
    for (size_t cut = 0; cut < len; cut++) {
        ck_assert_int_eq (
            s_verify_bytes (copy, data, cut, MAXV, err, sizeof err), -1);
        ck_assert_msg (strstr (err, "truncated"), "cut %zu: %s", cut, err);
    }
    /* the streaming reader says the same, and keeps saying it */
    s_spill (copy, data, len - 1);
    rb_backup_reader_t *r =
        rb_backup_reader_new (copy, TRUST (MAXV), NULL, err, sizeof err);
    ck_assert_ptr_nonnull (r);
    rb_backup_record_t rec;
    int rc, records = 0;
    while ((rc = rb_backup_reader_next (r, &rec)) == 1)
        records++;
    ck_assert_int_eq (rc, -1);
    ck_assert_int_eq (records, 5);
    ck_assert_ptr_nonnull (strstr (rb_backup_reader_error (r), "truncated"));
    ck_assert_int_eq (rb_backup_reader_next (r, &rec), -1);
    rb_backup_reader_destroy (&r);
    free (data);
    free (path);
    s_rmdir (dir);
}
END_TEST

/*  AddressSanitizer cannot run under a data limit. */
#if defined(__SANITIZE_ADDRESS__)
#define RB_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define RB_ASAN 1
#endif
#endif

/*  In a child limited to 512 MiB of data: a 4 GiB allocation would fail
    and abort it. Valgrind ignores the limit and ASan cannot take it; there
    the test only checks the answer.  */
static void
s_verify_in_small_memory (const char *path, uint32_t max_value,
                          const char *says)
{
    pid_t pid = fork ();
    ck_assert_int_ge (pid, 0);
    if (pid == 0) {
#ifndef RB_ASAN
        struct rlimit lim = {512u << 20, 512u << 20};
        setrlimit (RLIMIT_DATA, &lim);
#endif
        char err[1024];
        int rc = rb_backup_verify (path, TRUST (max_value), NULL, NULL, err,
                                   sizeof err);
        _exit (rc == -1 && strstr (err, says) ? 0 : 1);
    }
    int status;
    ck_assert_int_eq (waitpid (pid, &status, 0), pid);
    ck_assert (WIFEXITED (status) && WEXITSTATUS (status) == 0);
}

START_TEST (verify_refuses_a_huge_value_length_without_allocating)
{
    char *dir = s_tmpdir ();
    char *path = s_small_backup (dir, 1000, 10, 0);
    char copy[512], err[1024];
    snprintf (copy, sizeof copy, "%s/copy.rbb", dir);
    size_t len;
    uint8_t *data = s_slurp (path, &len);
    /* header, then a record claiming 0xFFFFFFF0 value bytes */
    uint8_t evil[68 + 14 + 3 + 16];
    memcpy (evil, data, 68);
    uint8_t rec[14] = {0, 3, 0xf0, 0xff, 0xff, 0xff, 1};
    memcpy (evil + 68, rec, 14);
    memcpy (evil + 82, "abc", 3);
    memset (evil + 85, 'x', 16);
    ck_assert_int_eq (
        s_verify_bytes (copy, evil, sizeof evil, MAXV, err, sizeof err), -1);
    ck_assert_msg (strstr (err, "offset 70: value too long"), "%s", err);
    s_verify_in_small_memory (copy, MAXV, "value too long");
    /* a max_value that allows it: the bytes left still refuse it */
    ck_assert_int_eq (
        s_verify_bytes (copy, evil, sizeof evil, UINT32_MAX, err, sizeof err),
        -1);
    ck_assert_msg (strstr (err, "truncated"), "%s", err);
    s_verify_in_small_memory (copy, UINT32_MAX, "truncated");
    free (data);
    free (path);
    s_rmdir (dir);
}
END_TEST

START_TEST (verify_refuses_trailing_bytes)
{
    char *dir = s_tmpdir ();
    char *path = s_small_backup (dir, 1000, 10, 5);
    char copy[512], err[1024];
    snprintf (copy, sizeof copy, "%s/copy.rbb", dir);
    size_t len;
    uint8_t *data = s_slurp (path, &len);
    data = realloc (data, len + 20);
    memcpy (data + len, data + len - 20, 20); /* a second trailer */
    for (size_t extra = 1; extra <= 20; extra++) {
        ck_assert_int_eq (
            s_verify_bytes (copy, data, len + extra, MAXV, err, sizeof err),
            -1);
        ck_assert_msg (strstr (err, "trailing bytes"), "%s", err);
    }
    free (data);
    free (path);
    s_rmdir (dir);
}
END_TEST

START_TEST (newest_picks_the_newest_valid_and_skips_corrupt_ones)
{
    char *dir = s_tmpdir ();
    char err[1024], path[512];
    ck_assert_ptr_null (
        rb_backup_newest (dir, TRUST (MAXV), NULL, NULL, err, sizeof err));
    ck_assert_ptr_nonnull (strstr (err, "no backup"));

    char *old = s_small_backup (dir, 1000, 10, 3);
    /* same time: the higher watermark wins ("w10" sorts before "w9") */
    char *mid = s_small_backup (dir, 2000, 9, 3);
    char *best = s_small_backup (dir, 2000, 10, 3);
    char *bad = s_small_backup (dir, 3000, 1, 3); /* flipped below */
    size_t len;
    uint8_t *data = s_slurp (bad, &len);
    data[len - 30] ^= 0x01;
    s_spill (bad, data, len);
    free (data);
    /* a bad header, a name that lies, and files that are not backups */
    char *bad_magic = s_small_backup (dir, 4000, 1, 3);
    data = s_slurp (bad_magic, &len);
    data[7] = 'X';
    s_spill (bad_magic, data, len);
    free (data);
    snprintf (path, sizeof path, "%s/backup-4000000000000-w1.rbb", dir);
    s_spill (path, "RBBACKUP", 8);
    snprintf (path, sizeof path, "%s/backup-9999999999999-w0.rbb", dir);
    ck_assert_int_eq (rename (old, path), 0);
    snprintf (path, sizeof path, "%s/.backup-abcdef.tmp", dir);
    s_spill (path, "junk", 4);
    snprintf (path, sizeof path, "%s/notes.txt", dir);
    s_spill (path, "junk", 4);

    char *found =
        rb_backup_newest (dir, TRUST (MAXV), NULL, NULL, err, sizeof err);
    ck_assert_msg (found, "%s", err);
    ck_assert_str_eq (found, best);
    free (found);
    ck_assert_int_eq (unlink (best), 0);
    found = rb_backup_newest (dir, TRUST (MAXV), NULL, NULL, err, sizeof err);
    ck_assert_str_eq (found, mid);
    free (found);
    ck_assert_int_eq (unlink (mid), 0);
    found = rb_backup_newest (dir, TRUST (MAXV), NULL, NULL, err, sizeof err);
    ck_assert_msg (found && strstr (found, "/backup-9999999999999-w0.rbb"),
                   "%s", found ? found : err); /* the renamed old one */
    free (found);

    ck_assert_ptr_null (rb_backup_newest ("/nonexistent/rb", TRUST (MAXV), NULL,
                                          NULL, err, sizeof err));
    free (old);
    free (mid);
    free (best);
    free (bad);
    free (bad_magic);
    s_rmdir (dir);
}
END_TEST

START_TEST (aborted_writer_leaves_no_file)
{
    char *dir = s_tmpdir ();
    char err[512];
    int rbb, other;
    rb_backup_header_t h = s_header (1234, 77);
    rb_backup_writer_t *w =
        rb_backup_writer_new (dir, &h, NULL, err, sizeof err);
    rb_backup_record_t r = {"k", 1, (const uint8_t *) "v", 1, 1, false};
    ck_assert_int_eq (rb_backup_writer_add (w, &r, err, sizeof err), 0);
    s_count (dir, &rbb, &other);
    ck_assert_int_eq (rbb + other, 1); /* the temp file */
    rb_backup_writer_abort (&w);
    ck_assert_ptr_null (w);
    rb_backup_writer_abort (&w);
    s_count (dir, &rbb, &other);
    ck_assert_int_eq (rbb + other, 0);
    s_rmdir (dir);
}
END_TEST

START_TEST (finish_leaves_exactly_one_backup_and_no_temp_file)
{
    char *dir = s_tmpdir ();
    char err[512], want[512];
    int rbb, other;
    char *path = s_small_backup (dir, 1234, 77, 5);
    snprintf (want, sizeof want, "%s/backup-0000000001234-w77.rbb", dir);
    ck_assert_str_eq (path, want);
    s_count (dir, &rbb, &other);
    ck_assert_int_eq (rbb, 1);
    ck_assert_int_eq (other, 0);
    /* the same name again is refused; the first file stays as it was */
    rb_backup_header_t h = s_header (1234, 77);
    rb_backup_writer_t *w =
        rb_backup_writer_new (dir, &h, NULL, err, sizeof err);
    char *again = NULL;
    ck_assert_int_eq (
        rb_backup_writer_finish (&w, &again, NULL, err, sizeof err), -1);
    ck_assert_ptr_null (w);
    ck_assert_ptr_null (again);
    ck_assert_msg (strstr (err, "exists"), "%s", err);
    s_count (dir, &rbb, &other);
    ck_assert_int_eq (rbb, 1);
    ck_assert_int_eq (other, 0);
    uint64_t count;
    ck_assert_int_eq (
        rb_backup_verify (path, TRUST (MAXV), NULL, &count, err, sizeof err),
        0);
    ck_assert_uint_eq (count, 5);
    free (path);
    s_rmdir (dir);
}
END_TEST

START_TEST (writer_refuses_bad_headers_and_records)
{
    char *dir = s_tmpdir ();
    char err[512];
    rb_backup_header_t h = s_header (1, 1);
    h.dataset[3] = 'A';
    ck_assert_ptr_null (rb_backup_writer_new (dir, &h, NULL, err, sizeof err));
    h = s_header (1, 1);
    h.dataset[31] = '\0';
    ck_assert_ptr_null (rb_backup_writer_new (dir, &h, NULL, err, sizeof err));
    h = s_header (1, 1);
    h.epoch = 0;
    ck_assert_ptr_null (rb_backup_writer_new (dir, &h, NULL, err, sizeof err));
    h = s_header (10000000000000ull, 1);
    ck_assert_ptr_null (rb_backup_writer_new (dir, &h, NULL, err, sizeof err));
    h = s_header (1, 1);
    ck_assert_ptr_null (
        rb_backup_writer_new ("/nonexistent/rb", &h, NULL, err, sizeof err));
    ck_assert_ptr_nonnull (strstr (err, "/nonexistent/rb"));

    rb_backup_writer_t *w =
        rb_backup_writer_new (dir, &h, NULL, err, sizeof err);
    char key65[66];
    memset (key65, 'k', 65);
    rb_backup_record_t bad[] = {
        {"", 0, NULL, 0, 1, false},
        {key65, 65, NULL, 0, 1, false},
        {"a b", 3, NULL, 0, 1, false},
        {"a\x7f", 2, NULL, 0, 1, false},
        {"a", 1, NULL, 3, 1, false},
        {NULL, 1, NULL, 0, 1, false},
        {"a", 1, (const uint8_t *) "v", 1, 1, true},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        ck_assert_int_eq (rb_backup_writer_add (w, &bad[i], err, sizeof err),
                          -1);
    rb_backup_record_t good = {key65, 64, NULL, 0, 1, true};
    ck_assert_int_eq (rb_backup_writer_add (w, &good, err, sizeof err), 0);
    char *path;
    ck_assert_int_eq (
        rb_backup_writer_finish (&w, &path, NULL, err, sizeof err), 0);
    uint64_t count;
    ck_assert_int_eq (
        rb_backup_verify (path, TRUST (MAXV), NULL, &count, err, sizeof err),
        0);
    ck_assert_uint_eq (count, 1);
    free (path);
    s_rmdir (dir);
}
END_TEST

START_TEST (writer_reports_a_failed_write_and_leaves_no_file)
{
    char *dir = s_tmpdir ();
    char err[512];
    int rbb, other;
    /* a 256 KiB file size limit stands in for a full disk */
    struct rlimit saved, lim;
    ck_assert_int_eq (getrlimit (RLIMIT_FSIZE, &saved), 0);
    lim = saved;
    lim.rlim_cur = 256 * 1024;
    void (*old) (int) = signal (SIGXFSZ, SIG_IGN);
    ck_assert_int_eq (setrlimit (RLIMIT_FSIZE, &lim), 0);

    rb_backup_header_t h = s_header (1, 1);
    rb_backup_writer_t *w =
        rb_backup_writer_new (dir, &h, NULL, err, sizeof err);
    static uint8_t value[4096];
    rb_backup_record_t r = {"k", 1, value, sizeof value, 1, false};
    int failed = 0;
    for (int i = 0; i < 1000; i++)
        if (rb_backup_writer_add (w, &r, err, sizeof err))
            failed++;
    char *path = NULL;
    int rc = rb_backup_writer_finish (&w, &path, NULL, err, sizeof err);

    ck_assert_int_eq (setrlimit (RLIMIT_FSIZE, &saved), 0);
    signal (SIGXFSZ, old);
    ck_assert_int_gt (failed, 0);
    ck_assert_int_eq (rc, -1);
    ck_assert_ptr_null (path);
    ck_assert_msg (strstr (err, "write: File too large"), "%s", err);
    s_count (dir, &rbb, &other);
    ck_assert_int_eq (rbb + other, 0);
    s_rmdir (dir);
}
END_TEST

int
main (void)
{
    Suite *s = suite_create ("backup");
    TCase *tc = tcase_create ("backup");
    tcase_set_timeout (tc, 60);
    tcase_add_test (tc, crc32c_matches_the_standard_check_values);
    tcase_add_test (tc, backup_round_trip_keeps_every_field);
    tcase_add_test (tc, backup_values_larger_than_the_io_buffer_round_trip);
    tcase_add_test (tc, verify_refuses_every_flipped_byte);
    tcase_add_test (tc, verify_refuses_a_file_truncated_at_every_offset);
    tcase_add_test (tc, verify_refuses_a_huge_value_length_without_allocating);
    tcase_add_test (tc, verify_refuses_trailing_bytes);
    tcase_add_test (tc, newest_picks_the_newest_valid_and_skips_corrupt_ones);
    tcase_add_test (tc, aborted_writer_leaves_no_file);
    tcase_add_test (tc, finish_leaves_exactly_one_backup_and_no_temp_file);
    tcase_add_test (tc, writer_refuses_bad_headers_and_records);
    tcase_add_test (tc, writer_reports_a_failed_write_and_leaves_no_file);
    suite_add_tcase (s, tc);
    return rb_test_run (s);
}
