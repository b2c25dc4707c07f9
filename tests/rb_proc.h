/*  rb_proc: real child programs for system tests. A child runs in its own
    process group with stdin from /dev/null and its stdout and stderr
    captured to files, so a test can wait for a line, read what it wrote,
    signal it and collect its exit status, all with deadlines.

    Children never outlive the test: each gets PR_SET_PDEATHSIG (SIGKILL),
    which fires when the thread that started it ends, so start children
    from the test's own thread. rb_proc_destroy kills the whole process
    group and reaps the child and, since starting a child makes the test
    process a child subreaper (PR_SET_CHILD_SUBREAPER), whatever the child
    left in its group. The child stays a zombie until destroy, so its pid
    (and group id) cannot be reused while the object lives.  */
#ifndef RB_PROC_H
#define RB_PROC_H

#include <stdint.h>
#include <sys/types.h>

typedef struct rb_proc rb_proc_t;

/*  Starts argv[0] (a path, no PATH search) with argv. stdout and stderr
    go to two files in a temp dir, or both are appended to log_path when
    it is not NULL (the file is the caller's and stays). Returns NULL, with
    one line on stderr, if the program cannot be started.  */
rb_proc_t *rb_proc_start (char *const argv[], const char *log_path);

/*  Waits until the child's stdout (since its start) contains needle (one
    line of text, no newline), or timeout_ms passes, or the child exits.
    Returns 0 if found, -1 if not. Polls the capture file every 5 ms.  */
int rb_proc_wait_output (rb_proc_t *self, const char *needle, int timeout_ms);

/*  What the child wrote to stdout / stderr so far, NUL-terminated; the
    caller frees it. With a log_path both return the log since start.  */
char *rb_proc_stdout (rb_proc_t *self);
char *rb_proc_stderr (rb_proc_t *self);

/*  Sends sig to the child's process group (the child and whatever it
    started). Returns 0, or -1 with errno.  */
int rb_proc_kill (rb_proc_t *self, int sig);

/*  Waits up to timeout_ms for the child to exit. Returns its exit status
    (0..255), 128 + the signal if a signal ended it, or -1 if it is still
    running at the deadline. May be called again once it has exited.  */
int rb_proc_wait (rb_proc_t *self, int timeout_ms);

pid_t rb_proc_pid (rb_proc_t *self);

/*  Kills (SIGKILL) the child's group, reaps the child and removes the
    temp capture files. NULL-safe; sets *self_p to NULL.  */
void rb_proc_destroy (rb_proc_t **self_p);

/*  Runs a program to completion. Returns its status as rb_proc_wait does:
    -1 if it could not start or was still running after timeout_ms (it is
    then killed). If out / err are not NULL they get what it wrote to
    stdout / stderr (the caller frees; NULL if it could not start).  */
int rb_proc_run (char *const argv[], int timeout_ms, char **out, char **err);

/*  A TCP port on 127.0.0.1 that was free a moment ago (bound to port 0,
    read back, closed), or -1; below 49152 when it can be, out of czmq's
    way (it binds "*" walking up from 49152). Another process may take
    it meanwhile, so a caller that binds it retries with a new one.  */
int rb_free_port (void);

/*  What a process costs, read from /proc: its resident set (VmRSS) and
    the peak of it since it started (VmHWM), in kB; the CPU time it has
    used (user + system), in ms. Each is -1 when the process is gone or
    /proc cannot be read.  */
long rb_proc_rss_kb (pid_t pid);
long rb_proc_peak_kb (pid_t pid);
long rb_proc_cpu_ms (pid_t pid);

/*  Small helpers the harness shares with tests.  */

/*  Milliseconds on the monotonic clock, for deadlines.  */
int64_t rb_clock_ms (void);
/*  Makes a fresh dir $TMPDIR/prefix.XXXXXX (or under /tmp); returns its
    path, which the caller frees, or NULL with one line on stderr.  */
char *rb_temp_dir (const char *prefix);
/*  Removes path and everything under it. Returns 0 if it is gone.  */
int rb_remove_tree (const char *path);

/*  Where a harness call that cannot go on ends (rb_redis_cmd without a
    connection): by default "file:line: msg" on stderr, then abort. A
    Check suite points it at the running test (rb_testing.h), which then
    fails with that line. The function must not return.  */
typedef void (rb_fail_fn) (const char *file, int line, const char *msg);
void rb_harness_on_fail (rb_fail_fn *fn);
void rb_harness_fail (const char *file, int line, const char *fmt, ...)
    __attribute__ ((format (printf, 3, 4), noreturn));

#endif
