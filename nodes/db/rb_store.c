/*  rb_store: Redis connection with pipelined batches (see rb_store.h):
    the public API. Each call goes to one Redis (rb_store_conn.c) or to
    the cluster (rb_store_cluster.c); rb_store_int.h says what the three
    files share.  */
#include "rb_store_int.h"

#include <assert.h>
#include <signal.h>
#include <czmq.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

/*  rb_store_wait: the longest pause between two tries at start-up, and
    how often it says it is still waiting.  */
#define RB_WAIT_PAUSE_MAX 1000
#define RB_WAIT_LOG_MS    5000
/*  With Sentinels: how long each sentinel may take at most.  */
#define RB_SENTINEL_MS 500

static int
s_parse_address (rb_store_t *self, const char *address, char *err,
                 size_t errlen)
{
    if (strncmp (address, "unix:", 5) == 0 && address[5]) {
        self->path = strdup (address + 5);
        return 0;
    }
    const char *colon = strrchr (address, ':');
    char *end = NULL;
    long port = colon ? strtol (colon + 1, &end, 10) : 0;
    if (!colon || colon == address || !end || *end || port < 1 ||
        port > 65535) {
        snprintf (err, errlen,
                  "bad Redis address '%s': expected HOST:PORT or unix:PATH",
                  address);
        return -1;
    }
    self->host = strndup (address, (size_t) (colon - address));
    self->port = (int) port;
    return 0;
}

rb_store_t *
rb_store_new (const rb_store_opts_t *opts, char *err, size_t errlen)
{
    /* a write to a Redis that died (hiredis uses write(2)) must be an
       error on that connection, not SIGPIPE killing the process */
    signal (SIGPIPE, SIG_IGN);
    rb_store_t *self = (rb_store_t *) calloc (1, sizeof *self);
    assert (self);
    int timeout = opts->timeout_ms > 0 ? opts->timeout_ms : 2000;
    self->checking = -1;
    if (opts->cluster && *opts->cluster) {
        if (rb_store__cluster_seeds (self, opts->cluster, err, errlen)) {
            rb_store__cluster_destroy (self);
            free (self);
            return NULL;
        }
        snprintf (self->address, sizeof self->address, "cluster %s",
                  opts->cluster);
    } else if (opts->sentinels && *opts->sentinels) {
        self->sentinel = rb_sentinel_new (
            opts->sentinels, opts->master_name,
            timeout < RB_SENTINEL_MS ? timeout : RB_SENTINEL_MS, err, errlen);
        snprintf (self->address, sizeof self->address, "%s (sentinels)",
                  self->sentinel ? rb_sentinel_name (self->sentinel) : "");
    } else if (s_parse_address (self, opts->address, err, errlen) == 0)
        snprintf (self->address, sizeof self->address, "%s", opts->address);
    if (!self->map && !self->sentinel && !self->host && !self->path) {
        free (self);
        return NULL;
    }
    if (opts->user && *opts->user)
        self->user = strdup (opts->user);
    if (opts->password && *opts->password)
        self->password = strdup (opts->password);
    self->timeout_ms = timeout;
    self->backoff = RB_STORE__BACKOFF_MIN;
    snprintf (self->err, sizeof self->err, "not connected yet");
    return self;
}

void
rb_store_destroy (rb_store_t **self_p)
{
    rb_store_t *self = *self_p;
    if (!self)
        return;
    rb_store__cluster_destroy (self);
    rb_store__free (self_p);
}

bool
rb_store_connected (rb_store_t *self)
{
    if (self->map)
        return rb_store__cluster_connected (self);
    return self->ctx != NULL;
}

const char *
rb_store_errstr (rb_store_t *self)
{
    return self->err;
}

int
rb_store_connect (rb_store_t *self)
{
    if (self->map)
        return rb_store__cluster_connect (self);
    if (self->ctx)
        return 0;
    if (zclock_mono () < self->next_try || rb_store__open (self))
        return -1;
    self->connects++;
    /* nothing of the caller's goes out before the check has passed */
    self->checking = 0;
    int failed = self->check ? self->check (self, self->check_arg) : 0;
    self->checking = -1;
    if (failed && self->ctx)
        rb_store__drop (self, "the check of a new Redis connection failed");
    if (!self->ctx)
        return -1;
    self->backoff = RB_STORE__BACKOFF_MIN;
    self->err[0] = '\0';
    return 0;
}

/*  One line when the reason to wait is new, else one every few seconds. */
static void
s_wait_log (rb_store_t *self, char *said, size_t saidlen, int64_t *next_log,
            int64_t deadline)
{
    int64_t now = zclock_mono ();
    if (strcmp (said, self->err) == 0 && now < *next_log)
        return;
    zsys_warning ("store: waiting for Redis at %s, %.1f s left: %s",
                  self->address, (deadline - now) / 1000.0, self->err);
    snprintf (said, saidlen, "%s", self->err);
    *next_log = now + RB_WAIT_LOG_MS;
}

int
rb_store_wait (rb_store_t *self, int timeout_ms)
{
    int64_t start = zclock_mono (), deadline = start + timeout_ms;
    int64_t next_log = 0;
    int pause = RB_STORE__BACKOFF_MIN;
    char said[sizeof self->err] = "";
    while (true) {
        self->next_try = 0; /* this loop paces the tries itself */
        for (int m = 0; m < self->nnodes; m++)
            self->nodes[m]->next_try = 0;
        if (rb_store_connect (self) == 0) {
            if (said[0])
                zsys_info ("store: Redis at %s answered after %.1f s",
                           self->address, (zclock_mono () - start) / 1000.0);
            return 0;
        }
        int64_t left = deadline - zclock_mono ();
        if (left <= 0 || zsys_interrupted)
            return -1;
        s_wait_log (self, said, sizeof said, &next_log, deadline);
        zclock_sleep ((int) (left < pause ? left : pause));
        pause = pause * 2 > RB_WAIT_PAUSE_MAX ? RB_WAIT_PAUSE_MAX : pause * 2;
    }
}

void
rb_store_on_connect (rb_store_t *self, rb_store_check_fn *check, void *arg)
{
    self->check = check;
    self->check_arg = arg;
}

const char *
rb_store_address (rb_store_t *self)
{
    return self->address;
}

uint64_t
rb_store_connects (rb_store_t *self)
{
    return self->connects;
}

const rb_mhist_t *
rb_store_rtt (rb_store_t *self)
{
    return &self->rtt;
}

int
rb_store_run (rb_store_t *self, rb_call_t *calls, int n)
{
    for (int i = 0; i < n; i++)
        calls[i].reply = NULL, calls[i].resent = false;
    if (self->map)
        return rb_store__cluster_run (self, calls, n, false);
    rb_store__follow (self);
    if (rb_store_connect (self))
        return -1;
    return rb_store__run_one (self, calls, n);
}

redisReply *
rb_store_command (rb_store_t *self, const char *fmt, ...)
{
    if (self->map) {
        va_list args;
        va_start (args, fmt);
        redisReply *r = rb_store__cluster_command (self, 0, fmt, args);
        va_end (args);
        return r;
    }
    rb_store__follow (self);
    if (rb_store_connect (self))
        return NULL;
    va_list args;
    va_start (args, fmt);
    redisReply *r = (redisReply *) redisvCommand (self->ctx, fmt, args);
    va_end (args);
    if (!r) {
        char why[200];
        snprintf (why, sizeof why, "Redis I/O: %s", self->ctx->errstr);
        rb_store__drop (self, why);
    } else if (rb_store__demoted (r))
        rb_store__drop (self, r->str);
    return r;
}

/*  Bulk mode of one Redis on a cluster: -1, saying why.  */
static bool
s_not_cluster (rb_store_t *self)
{
    if (self->map)
        snprintf (self->err, sizeof self->err,
                  "bulk mode of one Redis used on a cluster");
    return self->map != NULL;
}

int
rb_store_append (rb_store_t *self, int argc, const char **argv,
                 const size_t *lens)
{
    if (s_not_cluster (self) || rb_store_connect (self))
        return -1;
    return redisAppendCommandArgv (self->ctx, argc, argv, lens) == REDIS_OK
               ? 0
               : -1;
}

int
rb_store_append_resp (rb_store_t *self, const char *cmd, size_t len)
{
    if (s_not_cluster (self) || rb_store_connect (self))
        return -1;
    return redisAppendFormattedCommand (self->ctx, cmd, len) == REDIS_OK ? 0
                                                                         : -1;
}

redisReply *
rb_store_next_reply (rb_store_t *self)
{
    if (!self->ctx)
        return NULL;
    void *reply = NULL;
    if (redisGetReply (self->ctx, &reply) != REDIS_OK) {
        char why[200];
        snprintf (why, sizeof why, "Redis I/O: %s", self->ctx->errstr);
        rb_store__drop (self, why);
        return NULL;
    }
    return (redisReply *) reply;
}

int
rb_store_drain (rb_store_t *self, int n)
{
    int rc = 0;
    for (int i = 0; i < n; i++) {
        redisReply *r = rb_store_next_reply (self);
        if (!r)
            return -1;
        if (r->type == REDIS_REPLY_ERROR && rc == 0) {
            snprintf (self->err, sizeof self->err, "Redis: %s", r->str);
            rc = -1;
        }
        freeReplyObject (r);
    }
    return rc;
}

redisReply *
rb_store_command_at (rb_store_t *self, int m, const char *fmt, ...)
{
    va_list args;
    va_start (args, fmt);
    redisReply *r = NULL;
    if (self->map)
        r = rb_store__cluster_command (self, m, fmt, args);
    else {
        rb_store__follow (self);
        if (rb_store_connect (self) == 0) {
            r = (redisReply *) redisvCommand (self->ctx, fmt, args);
            if (!r) {
                char why[200];
                snprintf (why, sizeof why, "Redis I/O: %s", self->ctx->errstr);
                rb_store__drop (self, why);
            } else if (rb_store__demoted (r))
                rb_store__drop (self, r->str);
        }
    }
    va_end (args);
    return r;
}

int
rb_store_masters (rb_store_t *self)
{
    return self->map ? self->nnodes : 1;
}

bool
rb_store_is_cluster (rb_store_t *self)
{
    return self->map != NULL;
}

int
rb_store_slot_master (rb_store_t *self, int slot)
{
    return self->map ? rb_rcluster_map_owner (self->map, slot) : 0;
}

int
rb_store_checking (rb_store_t *self)
{
    return self->checking;
}

int
rb_store_bulk_add (rb_store_t *self, int slot, const char *cmd, size_t len)
{
    if (!self->map) {
        if (rb_store_append_resp (self, cmd, len) == 0)
            return self->bulk_n++, 0;
        self->bulk_err = true;
        return -1;
    }
    rb_store__cluster_add (self, slot, cmd, len);
    return 0;
}

int
rb_store_bulk_flush (rb_store_t *self)
{
    int n = self->bulk_n, rc;
    bool failed = self->bulk_err;
    if (!self->map)
        rc = rb_store_drain (self, n);
    else
        rc = n ? rb_store__cluster_flush (self) : 0;
    self->bulk_n = 0;
    self->bulk_len = 0;
    self->bulk_err = false;
    if (failed && rc == 0) {
        snprintf (self->err, sizeof self->err,
                  "a command of the bulk could not be appended");
        rc = -1;
    }
    return rc;
}
