/*  rb_opsrun: one run of recobus-ops (see rb_opsrun.h). */
#include "rb_opsrun.h"

#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#define MAX_ARGS 64 /* of a command line, NULL included */

rb_proc_t *
rb_opsrun_start (const rb_opsrun_opts_t *opts, const char *const *args)
{
    char timeout[16];
    snprintf (timeout, sizeof timeout, "%d", opts->timeout_ms);
    const char *argv[MAX_ARGS];
    int n = 0;
    argv[n++] = opts->bin;
    argv[n++] = "--broker";
    argv[n++] = opts->broker;
    argv[n++] = "--journal";
    argv[n++] = opts->journal;
    if (opts->timeout_ms) {
        argv[n++] = "--timeout";
        argv[n++] = timeout;
    }
    if (opts->json)
        argv[n++] = "--json";
    if (opts->curve_cert) {
        argv[n++] = "--curve-cert";
        argv[n++] = opts->curve_cert;
        argv[n++] = "--broker-cert";
        argv[n++] = opts->broker_cert;
    }
    for (int i = 0; args[i] && n < MAX_ARGS - 1; i++)
        argv[n++] = args[i];
    argv[n] = NULL;
    return rb_proc_start ((char *const *) argv, NULL);
}

static int64_t
s_now_us (void)
{
    struct timespec ts;
    clock_gettime (CLOCK_MONOTONIC, &ts);
    return (int64_t) ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

rb_opsrun_t
rb_opsrun_wait (rb_proc_t **p_p, int deadline_ms, void (*pump) (void *arg),
                void *arg)
{
    rb_opsrun_t r = {-1, 0, NULL, NULL};
    int64_t deadline = rb_clock_ms () + deadline_ms;
    if (!pump)
        r.rc = rb_proc_wait (*p_p, deadline_ms);
    else
        while ((r.rc = rb_proc_wait (*p_p, 0)) == -1 &&
               rb_clock_ms () < deadline)
            pump (arg);
    r.exited_us = s_now_us ();
    r.out = rb_proc_stdout (*p_p);
    r.err = rb_proc_stderr (*p_p);
    rb_proc_destroy (p_p); /* killed first if it still runs */
    return r;
}

rb_opsrun_t
rb_opsrun (const rb_opsrun_opts_t *opts, const char *const *args,
           int deadline_ms)
{
    rb_proc_t *p = rb_opsrun_start (opts, args);
    if (p)
        return rb_opsrun_wait (&p, deadline_ms, NULL, NULL);
    rb_opsrun_t r = {-1, 0, NULL, NULL};
    return r;
}

void
rb_opsrun_done (rb_opsrun_t *r)
{
    free (r->out);
    free (r->err);
    r->out = r->err = NULL;
}
