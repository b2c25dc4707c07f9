/*  rb_jtest: what the journal suites (test_journal, test_journal_repair)
    share: one-line orders and acknowledgements, whole-file reads and
    writes, and a second writer in a child process that waits for the
    first one's lock.  */
#ifndef RB_JTEST_H
#define RB_JTEST_H

#include <check.h>
#include <dirent.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "rb_journal.h"
#include "rb_msg.h"
#include "rb_proc.h"

/*  A fresh temp dir (*dir, the caller's: rb_jt_remove_dir) named after
    prefix, and path the journal's path in it.  */
static inline void
rb_jt_make_dir (char **dir, char *path, size_t size, const char *prefix)
{
    *dir = rb_temp_dir (prefix);
    ck_assert_ptr_nonnull (*dir);
    snprintf (path, size, "%s/ops.journal", *dir);
}

static inline void
rb_jt_remove_dir (char **dir)
{
    rb_remove_tree (*dir);
    free (*dir);
    *dir = NULL;
}

/*  Opens path as a writer that does not wait for the lock. */
static inline rb_journal_t *
rb_jt_open (const char *path)
{
    rb_journal_err_t err;
    rb_journal_t *j = rb_journal_open (path, 0, 0, &err);
    ck_assert_msg (j != NULL, "open: %s", err.text);
    return j;
}

/*  One committed order (value NULL: delete); returns its seq. */
static inline uint64_t
rb_jt_put (rb_journal_t *j, const char *key, const char *value)
{
    uint64_t seq = 0;
    int op = value ? RB_OP_PUT : RB_OP_DELETE;
    ck_assert_int_eq (rb_journal_add (j, op, key, strlen (key), value,
                                      value ? strlen (value) : 0, &seq),
                      0);
    ck_assert_int_eq (rb_journal_commit (j), 0);
    return seq;
}

/*  Acknowledges the orders lo..hi at DB watermark watermark. */
static inline void
rb_jt_ack (rb_journal_t *j, uint64_t lo, uint64_t hi, uint64_t watermark)
{
    uint64_t seqs[64];
    size_t n = 0;
    for (uint64_t s = lo; s <= hi; s++)
        seqs[n++] = s;
    ck_assert_int_eq (rb_journal_ack (j, seqs, n, watermark), 0);
}

static inline long
rb_jt_size (const char *path)
{
    struct stat st;
    ck_assert_int_eq (stat (path, &st), 0);
    return (long) st.st_size;
}

/*  The whole file (*len bytes); caller frees. */
static inline char *
rb_jt_slurp (const char *path, long *len)
{
    *len = rb_jt_size (path);
    char *buf = malloc ((size_t) *len + 1);
    FILE *f = fopen (path, "rb");
    ck_assert_ptr_nonnull (f);
    ck_assert_int_eq (fread (buf, 1, (size_t) *len, f), (size_t) *len);
    fclose (f);
    return buf;
}

static inline void
rb_jt_spew (const char *path, const char *buf, long len)
{
    FILE *f = fopen (path, "wb");
    ck_assert_ptr_nonnull (f);
    ck_assert_int_eq (fwrite (buf, 1, (size_t) len, f), (size_t) len);
    fclose (f);
}

/*  Whether process pid has the file at path open and sleeps in a timed
    wait: the journal's lock poll, past the open.  */
static inline bool
rb_jt_waits_for_lock (pid_t pid, const char *path)
{
    struct stat want, st;
    ck_assert_int_eq (stat (path, &want), 0);
    char dir[64], wchan[64] = "";
    snprintf (dir, sizeof dir, "/proc/%d/fd", (int) pid);
    DIR *d = opendir (dir);
    bool open = false;
    for (struct dirent *e = d ? readdir (d) : NULL; e && !open;
         e = readdir (d)) {
        char fd[320];
        snprintf (fd, sizeof fd, "%s/%s", dir, e->d_name);
        open = stat (fd, &st) == 0 && st.st_ino == want.st_ino &&
               st.st_dev == want.st_dev;
    }
    if (d)
        closedir (d);
    snprintf (dir, sizeof dir, "/proc/%d/wchan", (int) pid);
    FILE *f = fopen (dir, "r");
    if (f && !fgets (wchan, sizeof wchan, f))
        wchan[0] = '\0';
    if (f)
        fclose (f);
    return open && strstr (wchan, "nanosleep");
}

/*  Forks a second writer of path: it waits up to 20 s for the lock,
    journals "put bob v1" and exits with the seq it got (100 and up on
    failure). It first closes what fork gave it, as a program of its own
    would hold nothing of ours. Returns once the child is waiting for the
    lock.  */
static inline pid_t
rb_jt_second_writer (const char *path)
{
    pid_t pid = fork ();
    ck_assert_int_ge (pid, 0);
    if (pid == 0) {
        for (int fd = 3; fd < 1024; fd++)
            close (fd);
        rb_journal_err_t err;
        rb_journal_t *j = rb_journal_open (path, 0, 20000, &err);
        uint64_t seq = 0;
        if (!j || rb_journal_add (j, RB_OP_PUT, "bob", 3, "v1", 2, &seq) ||
            rb_journal_commit (j))
            _exit (100 + (j != NULL));
        _exit (seq < 100 ? (int) seq : 102);
    }
    int64_t deadline = rb_clock_ms () + 10000;
    while (!rb_jt_waits_for_lock (pid, path) && rb_clock_ms () < deadline)
        usleep (2000);
    ck_assert_msg (rb_jt_waits_for_lock (pid, path), "no writer waiting");
    return pid;
}

/*  The seq the second writer got, once it has ended (-1 if it was still
    running after 20 s: then it is killed).  */
static inline int
rb_jt_second_writer_seq (pid_t pid)
{
    int status = -1;
    int64_t deadline = rb_clock_ms () + 20000;
    while (waitpid (pid, &status, WNOHANG) == 0 && rb_clock_ms () < deadline)
        usleep (2000);
    if (!WIFEXITED (status) && kill (pid, SIGKILL) == 0)
        waitpid (pid, NULL, 0);
    return WIFEXITED (status) ? WEXITSTATUS (status) : -1;
}

#endif
