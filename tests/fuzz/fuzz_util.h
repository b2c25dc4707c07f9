/*  fuzz_util: what the libFuzzer targets share (tests/fuzz/, built with
    -DRECOBUS_FUZZ=ON, docs/fuzzing.md). Readers of files get the input
    through one temp file per process (in /dev/shm where it can), rewritten
    for every input; logs
    go to /dev/null so that libFuzzer's own lines stay readable. Include it
   once, in the target's .c: it defines LLVMFuzzerInitialize.  */
#ifndef FUZZ_UTIL_H
#define FUZZ_UTIL_H

#include <czmq.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char s_fuzz_path[4096];

static inline void
s_fuzz_unlink (void)
{
    if (*s_fuzz_path)
        unlink (s_fuzz_path);
}

/*  libFuzzer calls it once before the first input: logs off.  */
int
LLVMFuzzerInitialize (int *argc, char ***argv)
{
    FILE *null = fopen ("/dev/null", "w");
    if (null)
        zsys_set_logstream (null);
    return 0;
}

/*  Writes the input to this process's temp file (made on first use,
    removed at exit) and returns its path. Aborts if the disk refuses:
    that is the harness failing, not the code under test.  */
static inline const char *
fuzz_file (const uint8_t *data, size_t size)
{
    if (!*s_fuzz_path) {
        /*  TMPDIR if set, else /dev/shm (memory: four times the
            executions per second of a disk-backed /tmp), else /tmp.  */
        const char *tmp = getenv ("TMPDIR");
        if (!tmp || !*tmp)
            tmp = access ("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp";
        snprintf (s_fuzz_path, sizeof s_fuzz_path, "%s/rb-fuzz-XXXXXX", tmp);
        int fd = mkstemp (s_fuzz_path);
        if (fd < 0)
            abort ();
        close (fd);
        atexit (s_fuzz_unlink);
    }
    FILE *f = fopen (s_fuzz_path, "wb");
    if (!f || (size && fwrite (data, 1, size, f) != size) || fclose (f))
        abort ();
    return s_fuzz_path;
}

static inline uint32_t
fuzz_le32 (const uint8_t *p)
{
    return (uint32_t) p[0] | (uint32_t) p[1] << 8 | (uint32_t) p[2] << 16 |
           (uint32_t) p[3] << 24;
}

static inline void
fuzz_put_le32 (uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (uint8_t) (v >> (8 * i));
}

/*  Runs read on a copy of the input that fix has changed (the fixed
    targets: checksums recomputed).  */
static inline void
fuzz_fixed (const uint8_t *data, size_t size, void (*fix) (uint8_t *, size_t),
            void (*read) (const uint8_t *, size_t))
{
    uint8_t *copy = malloc (size ? size : 1);
    if (!copy)
        abort ();
    memcpy (copy, data, size);
    fix (copy, size);
    read (copy, size);
    free (copy);
}

#endif
