/*  rb_redis: a throwaway redis-server for system tests (see rb_redis.h). */
#define _GNU_SOURCE
#include "rb_redis.h"

#include <assert.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "rb_proc.h"

#define REDIS_SERVER   "/usr/bin/redis-server"
#define START_ATTEMPTS 5    /* ports tried before giving up */
#define READY_MS       5000 /* deadline for the first PONG */
#define STOP_MS        2000 /* SIGTERM grace before SIGKILL */
#define RETRY_MS       20   /* pause before relaunching on the same port */

struct rb_redis {
    rb_proc_t *proc;  /* the running redis-server, or NULL */
    char *dir;        /* its temp working dir, removed at stop */
    int port;         /* where it listens on 127.0.0.1 */
    char address[32]; /* "127.0.0.1:port" */
};

/*  Starts redis-server on self->port; its stdout goes next to its log. */
static int
s_launch (rb_redis_t *self)
{
    char port[16];
    snprintf (port, sizeof port, "%d", self->port);
    snprintf (self->address, sizeof self->address, "127.0.0.1:%d", self->port);
    char *logfile, *outfile;
    if (asprintf (&logfile, "%s/redis.log", self->dir) < 0 ||
        asprintf (&outfile, "%s/stdout.log", self->dir) < 0)
        assert (!"out of memory");
    char *const argv[] = {REDIS_SERVER, "--port",
                          port,         "--bind",
                          "127.0.0.1",  "--save",
                          "",           "--appendonly",
                          "no",         "--dir",
                          self->dir,    "--daemonize",
                          "no",         "--protected-mode",
                          "no",         "--logfile",
                          logfile,      NULL};
    self->proc = rb_proc_start (argv, outfile);
    free (logfile);
    free (outfile);
    return self->proc ? 0 : -1;
}

/*  The process_id field of an INFO reply, or -1.  */
static long
s_info_pid (const char *info)
{
    const char *field = strstr (info, "process_id:");
    return field ? strtol (field + strlen ("process_id:"), NULL, 10) : -1;
}

/*  0 if the server on our port answers PING and is the one we started,
    not another that took the port after ours failed to bind it.  */
static int
s_ping (rb_redis_t *self)
{
    struct timeval tv = {0, 250000};
    redisContext *c = redisConnectWithTimeout ("127.0.0.1", self->port, tv);
    int rc = -1;
    if (c && !c->err && redisSetTimeout (c, tv) == REDIS_OK) {
        redisReply *pong = (redisReply *) redisCommand (c, "PING");
        redisReply *info =
            pong ? (redisReply *) redisCommand (c, "INFO server") : NULL;
        if (pong && pong->type == REDIS_REPLY_STATUS &&
            strcmp (pong->str, "PONG") == 0 && info &&
            info->type == REDIS_REPLY_STRING &&
            s_info_pid (info->str) == (long) rb_proc_pid (self->proc))
            rc = 0;
        if (pong)
            freeReplyObject (pong);
        if (info)
            freeReplyObject (info);
    }
    if (c)
        redisFree (c);
    return rc;
}

/*  Waits for our server to answer. 0 when it does, -1 if it exited (the
    port was likely taken), -2 if it still runs but stays silent.  */
static int
s_wait_ready (rb_redis_t *self, int timeout_ms)
{
    int64_t deadline = rb_clock_ms () + timeout_ms;
    while (true) {
        if (rb_proc_wait (self->proc, 0) != -1)
            return -1;
        if (s_ping (self) == 0)
            return 0;
        if (rb_clock_ms () >= deadline)
            return -2;
        rb_proc_wait (self->proc, 10); /* a pause that ends if it dies */
    }
}

/*  Launches on self->port and waits for it; on failure nothing runs.
    Returns as s_wait_ready, or -2 if it could not even be started.  */
static int
s_launch_and_wait (rb_redis_t *self, int timeout_ms)
{
    if (s_launch (self))
        return -2;
    int rc = s_wait_ready (self, timeout_ms);
    if (rc)
        rb_proc_destroy (&self->proc);
    return rc;
}

/*  Copies the server's log to stderr, to explain a failure.  */
static void
s_print_log (rb_redis_t *self)
{
    char *path;
    if (asprintf (&path, "%s/redis.log", self->dir) < 0)
        return;
    FILE *log = fopen (path, "r");
    char line[512];
    while (log && fgets (line, sizeof line, log))
        fprintf (stderr, "rb_redis: | %s", line);
    if (log)
        fclose (log);
    free (path);
}

rb_redis_t *
rb_redis_start (void)
{
    rb_redis_t *self = (rb_redis_t *) calloc (1, sizeof *self);
    assert (self);
    self->dir = rb_temp_dir ("rb_redis");
    if (!self->dir) {
        free (self);
        return NULL;
    }
    int rc = -1;
    for (int attempt = 0; attempt < START_ATTEMPTS && rc == -1; attempt++) {
        self->port = rb_free_port ();
        if (self->port > 0)
            rc = s_launch_and_wait (self, READY_MS);
    }
    if (rc == 0)
        return self;
    fprintf (stderr, "rb_redis: redis-server did not answer on %s\n",
             self->address);
    s_print_log (self);
    rb_redis_stop (&self);
    return NULL;
}

int
rb_redis_restart (rb_redis_t *self)
{
    assert (self);
    rb_proc_destroy (&self->proc); /* SIGKILL, reaped */
    int64_t deadline = rb_clock_ms () + READY_MS;
    int rc = -1;
    while (rc == -1 && rb_clock_ms () < deadline) {
        rc = s_launch_and_wait (self, (int) (deadline - rb_clock_ms ()));
        if (rc == -1)
            poll (NULL, 0, RETRY_MS); /* the port may be held a moment */
    }
    if (rc == 0)
        return 0;
    fprintf (stderr, "rb_redis: redis-server did not come back on %s\n",
             self->address);
    s_print_log (self);
    return -1;
}

int
rb_redis_save (rb_redis_t *self)
{
    assert (self);
    redisReply *r = rb_redis_cmd (self, "SAVE");
    int rc = r->type == REDIS_REPLY_STATUS ? 0 : -1;
    if (rc)
        fprintf (stderr, "rb_redis: %s: SAVE: %s\n", self->address,
                 r->type == REDIS_REPLY_ERROR ? r->str : "unexpected reply");
    freeReplyObject (r);
    return rc;
}

int
rb_redis_rewind (rb_redis_t *self)
{
    assert (self);
    char *path;
    if (asprintf (&path, "%s/dump.rdb", self->dir) < 0)
        assert (!"out of memory");
    int rc = -1;
    if (access (path, R_OK) != 0)
        fprintf (stderr, "rb_redis: %s: no snapshot to come back from\n",
                 self->address);
    else if ((rc = rb_redis_restart (self)) == 0 && unlink (path) != 0) {
        fprintf (stderr, "rb_redis: %s: cannot remove its snapshot\n",
                 self->address);
        rc = -1; /* a later restart would come back from it too */
    }
    free (path);
    return rc;
}

void
rb_redis_stop (rb_redis_t **self_p)
{
    assert (self_p);
    rb_redis_t *self = *self_p;
    if (!self)
        return;
    if (self->proc && rb_proc_kill (self->proc, SIGTERM) == 0 &&
        rb_proc_wait (self->proc, STOP_MS) == -1)
        fprintf (stderr, "rb_redis: %s ignored SIGTERM, killing it\n",
                 self->address);
    rb_proc_destroy (&self->proc); /* SIGKILL if still there, reaped */
    rb_remove_tree (self->dir);
    free (self->dir);
    free (self);
    *self_p = NULL;
}

int
rb_redis_port (rb_redis_t *self)
{
    assert (self);
    return self->port;
}

const char *
rb_redis_address (rb_redis_t *self)
{
    assert (self);
    return self->address;
}

const char *
rb_redis_dir (rb_redis_t *self)
{
    assert (self);
    return self->dir;
}

pid_t
rb_redis_pid (rb_redis_t *self)
{
    assert (self);
    return self->proc ? rb_proc_pid (self->proc) : 0;
}

redisContext *
rb_redis_connect (rb_redis_t *self)
{
    assert (self);
    struct timeval tv = {2, 0};
    redisContext *c = redisConnectWithTimeout ("127.0.0.1", self->port, tv);
    if (!c || c->err)
        rb_harness_fail (__FILE__, __LINE__,
                         "rb_redis: cannot connect to %s: %s", self->address,
                         c ? c->errstr : "out of memory");
    return c;
}

redisContext *
rb_redis_connect_at (const char *address)
{
    char host[64];
    snprintf (host, sizeof host, "%s", address);
    char *colon = strrchr (host, ':');
    if (!colon) {
        fprintf (stderr, "rb_redis: '%s' is not HOST:PORT\n", address);
        return NULL;
    }
    *colon = '\0';
    struct timeval tv = {2, 0};
    redisContext *c = redisConnectWithTimeout (host, atoi (colon + 1), tv);
    if (!c || c->err) {
        fprintf (stderr, "rb_redis: cannot connect to %s: %s\n", address,
                 c ? c->errstr : "out of memory");
        redisFree (c);
        return NULL;
    }
    return c;
}

redisReply *
rb_redis_cmd (rb_redis_t *self, const char *fmt, ...)
{
    redisContext *c = rb_redis_connect (self);
    va_list args;
    va_start (args, fmt);
    redisReply *reply = (redisReply *) redisvCommand (c, fmt, args);
    va_end (args);
    if (!reply)
        rb_harness_fail (__FILE__, __LINE__, "rb_redis: %s: %s", self->address,
                         c->errstr);
    redisFree (c);
    return reply;
}

long long
rb_redis_used_memory (const char *address)
{
    redisContext *c = rb_redis_connect_at (address); /* says why if not */
    redisReply *r = c ? (redisReply *) redisCommand (c, "INFO memory") : NULL;
    long long bytes = -1;
    const char *field = r && r->type == REDIS_REPLY_STRING
                            ? strstr (r->str, "used_memory:")
                            : NULL;
    if (field)
        bytes = strtoll (field + strlen ("used_memory:"), NULL, 10);
    else if (c)
        fprintf (stderr, "rb_redis: %s: no used_memory in INFO memory\n",
                 address);
    if (r)
        freeReplyObject (r);
    redisFree (c);
    return bytes;
}
