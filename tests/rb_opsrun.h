/*  rb_opsrun: one run of the recobus-ops program, for system tests and
    the bench: its command line from the settings every run shares and
    the command's own words, then its exit status and what it wrote,
    within a deadline (rb_proc underneath: it never outlives the caller).

        rb_opsrun_opts_t o = {bin, bus, journal, 5000, false};
        rb_proc_t *p = rb_opsrun_start (&o, (const char *[]){"sync", NULL});
        rb_opsrun_t r = rb_opsrun_wait (&p, 60000, NULL, NULL);
        ... r.rc, r.out, r.err ...
        rb_opsrun_done (&r);                                              */
#ifndef RB_OPSRUN_H
#define RB_OPSRUN_H

#include <stdbool.h>
#include <stdint.h>

#include "rb_proc.h"

typedef struct {
    const char *bin;     /* the recobus-ops program */
    const char *broker;  /* --broker */
    const char *journal; /* --journal */
    int timeout_ms;      /* --timeout; 0: not given (its default) */
    bool json;           /* --json */
    const char *curve_cert;  /* --curve-cert, or NULL */
    const char *broker_cert; /* --broker-cert, with curve_cert */
} rb_opsrun_opts_t;

/*  A finished run. */
typedef struct {
    int rc;            /* exit status, 128 + a signal, or -1: still running
                          at the deadline (then killed) */
    int64_t exited_us; /* when its exit was seen (or the deadline passed):
                          microseconds on CLOCK_MONOTONIC, before its
                          output was read */
    char *out;         /* what it wrote to stdout */
    char *err;         /* and to stderr */
} rb_opsrun_t;

/*  Starts BIN --broker B --journal J [--timeout T] [--json] ARGS...
    (args NULL-ended). NULL, with one line on stderr, if it cannot.  */
rb_proc_t *rb_opsrun_start (const rb_opsrun_opts_t *opts,
                            const char *const *args);
/*  Waits up to deadline_ms for it to exit, calling pump (arg) between
    looks when pump is not NULL (a test's bus nodes keep their
    heartbeats), then reads what it wrote and destroys it (*p_p NULL).  */
rb_opsrun_t rb_opsrun_wait (rb_proc_t **p_p, int deadline_ms,
                            void (*pump) (void *arg), void *arg);
/*  rb_opsrun_start, then rb_opsrun_wait with no pump. rc -1 also when
    it could not start.  */
rb_opsrun_t rb_opsrun (const rb_opsrun_opts_t *opts, const char *const *args,
                       int deadline_ms);
/*  Frees what r holds.  */
void rb_opsrun_done (rb_opsrun_t *r);

#endif
