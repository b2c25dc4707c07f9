/*  rb_proc: real child programs for system tests (see rb_proc.h). */
#define _GNU_SOURCE
#include "rb_proc.h"

#include <arpa/inet.h>
#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define POLL_OUTPUT_MS 5 /* how often wait_output rereads the capture */
#define POLL_EXIT_MS   2 /* how often wait looks for the exit */
#define CHUNK          4096

struct rb_proc {
    pid_t pid;      /* the child, also its process group id */
    bool exited;    /* its exit was seen (it stays a zombie until destroy) */
    int status;     /* exit status, or 128 + signal, once exited */
    char *dir;      /* our temp dir holding the captures, or NULL */
    char *out_path; /* the file its stdout goes to */
    char *err_path; /* the file its stderr goes to (out_path with a log) */
    off_t start;    /* size of the capture files when it started */
};

static rb_fail_fn *s_on_fail; /* NULL: print and abort */

void
rb_harness_on_fail (rb_fail_fn *fn)
{
    s_on_fail = fn;
}

void
rb_harness_fail (const char *file, int line, const char *fmt, ...)
{
    char msg[1024];
    va_list args;
    va_start (args, fmt);
    vsnprintf (msg, sizeof msg, fmt, args);
    va_end (args);
    if (s_on_fail)
        s_on_fail (file, line, msg);
    fprintf (stderr, "%s:%d: %s\n", file, line, msg);
    abort ();
}

int64_t
rb_clock_ms (void)
{
    struct timespec ts;
    clock_gettime (CLOCK_MONOTONIC, &ts);
    return (int64_t) ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

char *
rb_temp_dir (const char *prefix)
{
    const char *tmp = getenv ("TMPDIR");
    char *path;
    if (asprintf (&path, "%s/%s.XXXXXX", tmp && *tmp ? tmp : "/tmp", prefix) <
        0)
        return NULL;
    if (!mkdtemp (path)) {
        fprintf (stderr, "rb_proc: mkdtemp %s: %s\n", path, strerror (errno));
        free (path);
        return NULL;
    }
    return path;
}

static int
s_remove_entry (const char *path, const struct stat *st, int flag,
                struct FTW *ftw)
{
    remove (path);
    return 0; /* keep going: the final check tells if all went */
}

int
rb_remove_tree (const char *path)
{
    struct stat st;
    nftw (path, s_remove_entry, 16, FTW_DEPTH | FTW_PHYS);
    return lstat (path, &st) == -1 && errno == ENOENT ? 0 : -1;
}

static char *
s_join (const char *dir, const char *name)
{
    char *path;
    int rc = asprintf (&path, "%s/%s", dir, name);
    assert (rc > 0);
    return path;
}

static void
s_free_files (rb_proc_t *self)
{
    if (self->dir)
        rb_remove_tree (self->dir);
    free (self->dir);
    free (self->out_path);
    free (self->err_path);
    free (self);
}

/*  A new object naming where the child's output will go.  */
static rb_proc_t *
s_proc_new (const char *log_path)
{
    rb_proc_t *self = (rb_proc_t *) calloc (1, sizeof *self);
    assert (self);
    if (log_path) {
        self->out_path = strdup (log_path);
        self->err_path = strdup (log_path);
    } else {
        self->dir = rb_temp_dir ("rb_proc");
        if (!self->dir) {
            free (self);
            return NULL;
        }
        self->out_path = s_join (self->dir, "stdout");
        self->err_path = s_join (self->dir, "stderr");
    }
    assert (self->out_path && self->err_path);
    return self;
}

/*  Closes every descriptor from 3 up except keep.  */
static void
s_close_others (int keep)
{
    if (keep > 3)
        close_range (3, (unsigned) keep - 1, 0);
    if (close_range ((unsigned) keep + 1, ~0U, 0) == -1)
        for (int fd = keep + 1; fd < 4096; fd++)
            close (fd);
}

/*  In the child after fork: only async-signal-safe calls until exec. On
    failure writes errno to report and exits 127.  */
static void
s_child (char *const argv[], const int fds[3], int report, pid_t parent)
{
    struct sigaction dfl;
    memset (&dfl, 0, sizeof dfl);
    dfl.sa_handler = SIG_DFL;
    for (int sig = 1; sig < NSIG; sig++)
        sigaction (sig, &dfl, NULL); /* fails harmlessly for some */
    sigset_t none;
    sigemptyset (&none);
    sigprocmask (SIG_SETMASK, &none, NULL);
    setpgid (0, 0);
    if (prctl (PR_SET_PDEATHSIG, SIGKILL) == 0 && getppid () == parent &&
        dup2 (fds[0], 0) == 0 && dup2 (fds[1], 1) == 1 &&
        dup2 (fds[2], 2) == 2) {
        s_close_others (report);
        execv (argv[0], argv);
    }
    int err = errno ? errno : ECHILD;
    ssize_t rc = write (report, &err, sizeof err);
    (void) rc;
    _exit (127);
}

/*  Forks and execs with the given stdin, stdout, stderr. Returns 0, or
    an errno if the exec failed (the child is then reaped).  */
static int
s_spawn (rb_proc_t *self, char *const argv[], const int fds[3])
{
    int report[2];
    if (pipe2 (report, O_CLOEXEC) == -1)
        return errno;
    pid_t parent = getpid ();
    self->pid = fork ();
    if (self->pid == 0)
        s_child (argv, fds, report[1], parent);
    int err = self->pid == -1 ? errno : 0;
    close (report[1]);
    if (self->pid > 0) {
        ssize_t n;
        while ((n = read (report[0], &err, sizeof err)) == -1 && errno == EINTR)
            ;
        if (n != (ssize_t) sizeof err)
            err = 0; /* closed by a successful exec */
        else
            while (waitpid (self->pid, NULL, 0) == -1 && errno == EINTR)
                ;
    }
    close (report[0]);
    return err;
}

rb_proc_t *
rb_proc_start (char *const argv[], const char *log_path)
{
    assert (argv && argv[0]);
    rb_proc_t *self = s_proc_new (log_path);
    if (!self)
        return NULL;
    int flags = O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC;
    int fds[3];
    fds[0] = open ("/dev/null", O_RDONLY | O_CLOEXEC);
    fds[1] = open (self->out_path, flags, 0644);
    fds[2] = log_path ? dup (fds[1]) : open (self->err_path, flags, 0644);
    struct stat st;
    int err = fds[0] == -1 || fds[1] == -1 || fds[2] == -1 ? errno : 0;
    if (!err && fstat (fds[1], &st) == 0)
        self->start = st.st_size;
    /* what a child leaves running is reparented to us, not to init, so
       destroy can reap it (init may not, in a container) */
    prctl (PR_SET_CHILD_SUBREAPER, 1);
    if (!err)
        err = s_spawn (self, argv, fds);
    for (int i = 0; i < 3; i++)
        if (fds[i] != -1)
            close (fds[i]);
    if (err) {
        fprintf (stderr, "rb_proc: cannot run %s: %s\n", argv[0],
                 strerror (err));
        s_free_files (self);
        return NULL;
    }
    return self;
}

/*  Notes the exit if it happened, without reaping. True once exited.  */
static bool
s_poll_exit (rb_proc_t *self)
{
    if (self->exited)
        return true;
    siginfo_t info;
    memset (&info, 0, sizeof info);
    int rc =
        waitid (P_PID, (id_t) self->pid, &info, WEXITED | WNOHANG | WNOWAIT);
    if (rc == -1 && errno == ECHILD) {
        self->exited = true; /* reaped behind our back: status unknown */
        self->status = -1;
    } else if (rc == 0 && info.si_pid == self->pid) {
        self->exited = true;
        self->status =
            info.si_code == CLD_EXITED ? info.si_status : 128 + info.si_status;
    }
    return self->exited;
}

int
rb_proc_wait (rb_proc_t *self, int timeout_ms)
{
    assert (self);
    int64_t deadline = rb_clock_ms () + timeout_ms;
    while (!s_poll_exit (self)) {
        if (rb_clock_ms () >= deadline)
            return -1;
        poll (NULL, 0, POLL_EXIT_MS);
    }
    return self->status;
}

/*  Reads fd from *pos to its end, looking for needle across reads: buf
    holds *kept bytes carried over from the last read.  */
static bool
s_scan (int fd, off_t *pos, char *buf, size_t *kept, const char *needle)
{
    size_t len = strlen (needle);
    ssize_t n;
    while ((n = pread (fd, buf + *kept, CHUNK, *pos)) > 0) {
        *pos += n;
        size_t have = *kept + (size_t) n;
        if (memmem (buf, have, needle, len))
            return true;
        *kept = have < len ? have : len - 1;
        memmove (buf, buf + have - *kept, *kept);
    }
    return false;
}

int
rb_proc_wait_output (rb_proc_t *self, const char *needle, int timeout_ms)
{
    assert (self && needle);
    int fd = open (self->out_path, O_RDONLY | O_CLOEXEC);
    if (fd == -1)
        return -1;
    char *buf = (char *) malloc (strlen (needle) + CHUNK);
    assert (buf);
    size_t kept = 0;
    off_t pos = self->start;
    int64_t deadline = rb_clock_ms () + timeout_ms;
    int rc = -1;
    while (true) {
        /* look at the exit first, so what it wrote before is read */
        bool exited = s_poll_exit (self);
        if (s_scan (fd, &pos, buf, &kept, needle)) {
            rc = 0;
            break;
        }
        if (exited || rb_clock_ms () >= deadline)
            break;
        poll (NULL, 0, POLL_OUTPUT_MS);
    }
    free (buf);
    close (fd);
    return rc;
}

/*  The file from offset start to its end, NUL-terminated ("" if none). */
static char *
s_slurp (const char *path, off_t start)
{
    size_t size = 0, cap = CHUNK;
    char *text = (char *) malloc (cap + 1);
    assert (text);
    int fd = open (path, O_RDONLY | O_CLOEXEC);
    ssize_t n = 0;
    while (fd != -1 && (n = pread (fd, text + size, cap - size, start)) > 0) {
        size += (size_t) n;
        start += n;
        if (size == cap) {
            cap *= 2;
            text = (char *) realloc (text, cap + 1);
            assert (text);
        }
    }
    if (fd != -1)
        close (fd);
    text[size] = '\0';
    return text;
}

char *
rb_proc_stdout (rb_proc_t *self)
{
    assert (self);
    return s_slurp (self->out_path, self->start);
}

char *
rb_proc_stderr (rb_proc_t *self)
{
    assert (self);
    return s_slurp (self->err_path, self->start);
}

int
rb_proc_kill (rb_proc_t *self, int sig)
{
    assert (self);
    /* the unreaped child keeps its group id ours; if it left the group,
       signal it alone */
    if (kill (-self->pid, sig) == 0)
        return 0;
    return kill (self->pid, sig);
}

pid_t
rb_proc_pid (rb_proc_t *self)
{
    assert (self);
    return self->pid;
}

/*  Reaps the child pid, or with -pgid each of our children in that group,
    waiting for them to exit.  */
static void
s_reap (pid_t pid)
{
    while (waitpid (pid, NULL, 0) != -1 || errno == EINTR)
        ;
}

void
rb_proc_destroy (rb_proc_t **self_p)
{
    assert (self_p);
    rb_proc_t *self = *self_p;
    if (!self)
        return;
    rb_proc_kill (self, SIGKILL); /* also whatever it left running */
    s_reap (self->pid);
    s_reap (-self->pid); /* what it left, ours as their subreaper */
    s_free_files (self);
    *self_p = NULL;
}

int
rb_proc_run (char *const argv[], int timeout_ms, char **out, char **err)
{
    if (out)
        *out = NULL;
    if (err)
        *err = NULL;
    rb_proc_t *self = rb_proc_start (argv, NULL);
    if (!self)
        return -1;
    int status = rb_proc_wait (self, timeout_ms);
    if (status == -1)
        fprintf (stderr, "rb_proc: %s still running after %d ms, killed\n",
                 argv[0], timeout_ms);
    rb_proc_kill (self, SIGKILL);
    if (out)
        *out = rb_proc_stdout (self);
    if (err)
        *err = rb_proc_stderr (self);
    rb_proc_destroy (&self);
    return status;
}

static int s_any_port (void);

int
rb_free_port (void)
{
    /* below 49152 when it can: czmq binds "tcp://...:*" by walking up
       from 49152, so a port freed there (a daemon killed, to be started
       again on its port) is soon taken by another suite's broker */
    int port = -1;
    for (int tries = 0; tries < 64; tries++)
        if ((port = s_any_port ()) > 0 && port < 49152)
            break;
    return port;
}

/*  A port the kernel gives a socket bound to 127.0.0.1:0, or -1. */
static int
s_any_port (void)
{
    int fd = socket (AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd == -1)
        return -1;
    struct sockaddr_in addr;
    memset (&addr, 0, sizeof addr);
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl (INADDR_LOOPBACK);
    socklen_t alen = sizeof addr;
    int port = -1;
    if (bind (fd, (struct sockaddr *) &addr, sizeof addr) == 0 &&
        getsockname (fd, (struct sockaddr *) &addr, &alen) == 0)
        port = ntohs (addr.sin_port);
    close (fd);
    return port;
}

/*  The number after field (e.g. "VmRSS:") in /proc/PID/status, or -1. */
static long
s_status_kb (pid_t pid, const char *field)
{
    char path[64], line[256];
    snprintf (path, sizeof path, "/proc/%d/status", (int) pid);
    FILE *f = fopen (path, "r");
    if (!f)
        return -1;
    long kb = -1;
    size_t len = strlen (field);
    while (kb == -1 && fgets (line, sizeof line, f))
        if (strncmp (line, field, len) == 0)
            kb = strtol (line + len, NULL, 10);
    fclose (f);
    return kb;
}

long
rb_proc_rss_kb (pid_t pid)
{
    return s_status_kb (pid, "VmRSS:");
}

long
rb_proc_peak_kb (pid_t pid)
{
    return s_status_kb (pid, "VmHWM:");
}

long
rb_proc_cpu_ms (pid_t pid)
{
    char path[64], buf[1024];
    snprintf (path, sizeof path, "/proc/%d/stat", (int) pid);
    int fd = open (path, O_RDONLY | O_CLOEXEC);
    if (fd == -1)
        return -1;
    ssize_t n = read (fd, buf, sizeof buf - 1);
    close (fd);
    buf[n > 0 ? n : 0] = '\0';
    /* fields after the command, which may hold spaces: from the last ')'
       on, utime and stime are the 12th and 13th */
    char *p = strrchr (buf, ')');
    unsigned long utime, stime;
    if (!p || sscanf (p + 2,
                      "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u "
                      "%lu %lu",
                      &utime, &stime) != 2)
        return -1;
    long hz = sysconf (_SC_CLK_TCK);
    return (long) ((utime + stime) * 1000 /
                   (unsigned long) (hz > 0 ? hz : 100));
}
