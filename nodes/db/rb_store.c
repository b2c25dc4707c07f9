/*  rb_store: Redis connection with pipelined batches (see rb_store.h). */
#include "rb_store.h"
#include "rb_scripts.h"
#include "rb_sentinel.h"

#include <assert.h>
#include <czmq.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#define RB_BACKOFF_MIN 100
#define RB_BACKOFF_MAX 5000
/*  rb_store_wait: the longest pause between two tries at start-up, and
    how often it says it is still waiting.  */
#define RB_WAIT_PAUSE_MAX 1000
#define RB_WAIT_LOG_MS    5000
/*  With Sentinels: how often a run asks them where the master is, and
    how long each sentinel may take at most.  */
#define RB_FOLLOW_MS   1000
#define RB_SENTINEL_MS 500

struct rb_store {
    char *host;            /* TCP host, or NULL for a unix socket */
    int port;              /* TCP port */
    char *path;            /* unix socket path, or NULL */
    char *user, *password; /* AUTH, may be NULL */
    int timeout_ms;
    redisContext *ctx;             /* NULL while disconnected */
    char sha[RB_SCRIPT_COUNT][41]; /* loaded script digests */
    int64_t next_try;              /* earliest reconnect, zclock_mono () ms */
    int backoff;                   /* ms until the next try after a failure */
    char err[700];                 /* last error */
    uint64_t connects;             /* connections made, in all */
    rb_sentinel_t *sentinel;       /* where the master is, or NULL */
    int64_t next_ask;              /* with sentinel: next look, mono ms */
    char address[300];             /* connected to (or last tried) */
    rb_store_check_fn *check;      /* run on each new connection */
    void *check_arg;
    rb_mhist_t rtt; /* rb_store_run's round trips */
    int bulk;       /* commands appended by rb_store_bulk_add */
    bool checking;  /* the check of a new connection runs */
};

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
    rb_store_t *self = (rb_store_t *) calloc (1, sizeof *self);
    assert (self);
    int timeout = opts->timeout_ms > 0 ? opts->timeout_ms : 2000;
    if (opts->sentinels && *opts->sentinels) {
        self->sentinel = rb_sentinel_new (
            opts->sentinels, opts->master_name,
            timeout < RB_SENTINEL_MS ? timeout : RB_SENTINEL_MS, err, errlen);
        snprintf (self->address, sizeof self->address, "%s (sentinels)",
                  self->sentinel ? rb_sentinel_name (self->sentinel) : "");
    } else if (s_parse_address (self, opts->address, err, errlen) == 0)
        snprintf (self->address, sizeof self->address, "%s", opts->address);
    if (!self->sentinel && !self->host && !self->path) {
        free (self);
        return NULL;
    }
    if (opts->user && *opts->user)
        self->user = strdup (opts->user);
    if (opts->password && *opts->password)
        self->password = strdup (opts->password);
    self->timeout_ms = timeout;
    self->backoff = RB_BACKOFF_MIN;
    snprintf (self->err, sizeof self->err, "not connected yet");
    return self;
}

static void
s_drop (rb_store_t *self, const char *why)
{
    if (why)
        snprintf (self->err, sizeof self->err, "%s", why);
    if (self->ctx) {
        zsys_warning ("store: Redis connection dropped: %s", self->err);
        redisFree (self->ctx);
        self->ctx = NULL;
    }
    self->next_try = zclock_mono () + self->backoff;
    self->backoff =
        self->backoff * 2 > RB_BACKOFF_MAX ? RB_BACKOFF_MAX : self->backoff * 2;
}

void
rb_store_destroy (rb_store_t **self_p)
{
    rb_store_t *self = *self_p;
    if (!self)
        return;
    if (self->ctx)
        redisFree (self->ctx);
    free (self->host);
    free (self->path);
    rb_sentinel_destroy (&self->sentinel);
    free (self->user);
    free (self->password);
    free (self);
    *self_p = NULL;
}

bool
rb_store_connected (rb_store_t *self)
{
    return self->ctx != NULL;
}

const char *
rb_store_errstr (rb_store_t *self)
{
    return self->err;
}

/*  Sends AUTH when configured; 0 if accepted or not needed. */
static int
s_auth (rb_store_t *self)
{
    if (!self->password)
        return 0;
    redisReply *r =
        self->user
            ? redisCommand (self->ctx, "AUTH %s %s", self->user, self->password)
            : redisCommand (self->ctx, "AUTH %s", self->password);
    int rc = r && r->type != REDIS_REPLY_ERROR ? 0 : -1;
    if (rc)
        snprintf (self->err, sizeof self->err, "AUTH refused: %s",
                  r ? r->str : self->ctx->errstr);
    freeReplyObject (r);
    return rc;
}

/*  Loads every script and keeps its digest. */
static int
s_load_scripts (rb_store_t *self)
{
    for (int i = 0; i < RB_SCRIPT_COUNT; i++) {
        redisReply *r =
            redisCommand (self->ctx, "SCRIPT LOAD %s", rb_script_source (i));
        bool ok = r && r->type == REDIS_REPLY_STRING && r->len == 40;
        if (ok)
            memcpy (self->sha[i], r->str, 41);
        else
            snprintf (self->err, sizeof self->err, "SCRIPT LOAD %s: %s",
                      rb_script_name (i), r ? r->str : self->ctx->errstr);
        freeReplyObject (r);
        if (!ok)
            return -1;
    }
    return 0;
}

/*  With Sentinels: host and port become where they say the master is. */
static int
s_resolve (rb_store_t *self)
{
    if (!self->sentinel)
        return 0;
    char host[256], why[700];
    int port = 0;
    self->next_ask = zclock_mono () + RB_FOLLOW_MS;
    if (rb_sentinel_ask (self->sentinel, host, sizeof host, &port)) {
        snprintf (why, sizeof why, "no sentinel says where master %s is: %s",
                  rb_sentinel_name (self->sentinel),
                  rb_sentinel_errstr (self->sentinel));
        s_drop (self, why);
        return -1;
    }
    free (self->host);
    self->host = strdup (host);
    assert (self->host);
    self->port = port;
    snprintf (self->address, sizeof self->address, "%s:%d", host, port);
    return 0;
}

/*  With Sentinels: the server must say it is a master (ROLE): a sentinel
    may still name one that was just made a replica.  */
static int
s_check_role (rb_store_t *self)
{
    if (!self->sentinel)
        return 0;
    redisReply *r = (redisReply *) redisCommand (self->ctx, "ROLE");
    const char *role = !r                             ? self->ctx->errstr
                       : r->type == REDIS_REPLY_ERROR ? r->str
                       : r->type == REDIS_REPLY_ARRAY && r->elements >= 1 &&
                               r->element[0]->type == REDIS_REPLY_STRING
                           ? r->element[0]->str
                           : "(a reply not understood)";
    int rc = strcmp (role, "master") == 0 ? 0 : -1;
    if (rc)
        snprintf (self->err, sizeof self->err,
                  "%s is not the master of %s (ROLE: %.60s)", self->address,
                  rb_sentinel_name (self->sentinel), role);
    freeReplyObject (r);
    return rc;
}

/*  Opens the connection: the address (asked of the sentinels, if any),
    AUTH, the role, the scripts. 0, or -1 with nothing left open.  */
static int
s_open (rb_store_t *self)
{
    if (s_resolve (self))
        return -1;
    struct timeval tv = {self->timeout_ms / 1000,
                         (self->timeout_ms % 1000) * 1000};
    self->ctx = self->path
                    ? redisConnectUnixWithTimeout (self->path, tv)
                    : redisConnectWithTimeout (self->host, self->port, tv);
    if (!self->ctx || self->ctx->err) {
        char why[sizeof self->err];
        snprintf (why, sizeof why, "cannot connect to Redis at %.300s: %.300s",
                  self->address,
                  self->ctx ? self->ctx->errstr : "out of memory");
        if (self->ctx)
            redisFree (self->ctx), self->ctx = NULL;
        s_drop (self, why);
        return -1;
    }
    redisSetTimeout (self->ctx, tv);
    if (s_auth (self) || s_check_role (self) || s_load_scripts (self)) {
        char why[sizeof self->err];
        snprintf (why, sizeof why, "%s", self->err);
        s_drop (self, why);
        return -1;
    }
    return 0;
}

int
rb_store_connect (rb_store_t *self)
{
    if (self->ctx)
        return 0;
    if (zclock_mono () < self->next_try || s_open (self))
        return -1;
    self->connects++;
    /* nothing of the caller's goes out before the check has passed */
    self->checking = true;
    int failed = self->check ? self->check (self, self->check_arg) : 0;
    self->checking = false;
    if (failed && self->ctx)
        s_drop (self, "the check of a new Redis connection failed");
    if (!self->ctx)
        return -1;
    self->backoff = RB_BACKOFF_MIN;
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
    int pause = RB_BACKOFF_MIN;
    char said[sizeof self->err] = "";
    while (true) {
        self->next_try = 0; /* this loop paces the tries itself */
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

/*  With Sentinels, once a second: if they say the master moved (a
    failover), the connection goes and the next one is made at once.  */
static void
s_follow (rb_store_t *self)
{
    if (!self->sentinel || !self->ctx || zclock_mono () < self->next_ask)
        return;
    self->next_ask = zclock_mono () + RB_FOLLOW_MS;
    char host[256], why[sizeof self->err];
    int port = 0;
    if (rb_sentinel_ask (self->sentinel, host, sizeof host, &port))
        return; /* none answers now: the master we have is the best guess */
    if (port == self->port && strcmp (host, self->host) == 0)
        return;
    snprintf (why, sizeof why,
              "the master of %.100s moved from %.300s to %.200s:%d",
              rb_sentinel_name (self->sentinel), self->address, host, port);
    s_drop (self, why);
    self->next_try = 0;
    self->backoff = RB_BACKOFF_MIN;
}

/*  An error reply saying this Redis takes no writes now: a master made a
    replica (READONLY), or a replica that lost its master (MASTERDOWN).  */
static bool
s_demoted (const redisReply *r)
{
    return r && r->type == REDIS_REPLY_ERROR &&
           (strncmp (r->str, "READONLY", 8) == 0 ||
            strncmp (r->str, "MASTERDOWN", 10) == 0);
}

bool
rb_store_is_cluster (rb_store_t *self)
{
    (void) self;
    return false;
}

uint64_t
rb_store_connects (rb_store_t *self)
{
    return self->connects;
}

/*  Appends one call to the output buffer (no I/O yet). */
static void
s_append (rb_store_t *self, rb_call_t *c)
{
    if (c->script < 0) {
        redisAppendCommandArgv (self->ctx, c->argc, c->argv, c->lens);
        return;
    }
    int argc = c->argc + 3;
    const char *argv_small[64];
    size_t lens_small[64];
    const char **argv =
        argc <= 64 ? argv_small
                   : (const char **) malloc ((size_t) argc * sizeof (char *));
    size_t *lens = argc <= 64
                       ? lens_small
                       : (size_t *) malloc ((size_t) argc * sizeof (size_t));
    assert (argv && lens);
    argv[0] = "EVALSHA", lens[0] = 7;
    argv[1] = self->sha[c->script], lens[1] = 40;
    char nkeys[16];
    int nlen = snprintf (nkeys, sizeof nkeys, "%d", c->nkeys);
    argv[2] = nkeys, lens[2] = (size_t) nlen;
    memcpy (argv + 3, c->argv, (size_t) c->argc * sizeof (char *));
    memcpy (lens + 3, c->lens, (size_t) c->argc * sizeof (size_t));
    redisAppendCommandArgv (self->ctx, argc, argv, lens);
    if (argv != argv_small) {
        free (argv);
        free (lens);
    }
}

static bool
s_is_noscript (const redisReply *r)
{
    return r && r->type == REDIS_REPLY_ERROR &&
           strncmp (r->str, "NOSCRIPT", 8) == 0;
}

/*  Sends the calls not yet answered and reads their replies. Returns the
    number answered NOSCRIPT (reset to unanswered), or -1 on failure.  */
static int
s_round (rb_store_t *self, rb_call_t *calls, int n)
{
    for (int i = 0; i < n; i++)
        if (!calls[i].reply)
            s_append (self, &calls[i]);
    int noscript = 0;
    for (int i = 0; i < n; i++) {
        if (calls[i].reply)
            continue;
        void *reply = NULL;
        if (redisGetReply (self->ctx, &reply) != REDIS_OK) {
            char why[200];
            snprintf (why, sizeof why, "Redis I/O: %s", self->ctx->errstr);
            s_drop (self, why);
            return -1;
        }
        calls[i].reply = (redisReply *) reply;
        if (s_is_noscript (calls[i].reply)) {
            freeReplyObject (calls[i].reply);
            calls[i].reply = NULL;
            noscript++;
        }
    }
    return noscript;
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
        calls[i].reply = NULL;
    s_follow (self);
    if (rb_store_connect (self))
        return -1;
    int64_t sent = zclock_usecs ();
    int rc = s_round (self, calls, n);
    rb_mhist_observe (&self->rtt, (double) (zclock_usecs () - sent) / 1e6);
    if (rc > 0) { /* scripts were flushed: load them again, once */
        zsys_info ("store: scripts missing in Redis, loading them again");
        if (s_load_scripts (self) == 0)
            rc = s_round (self, calls, n);
        else {
            char why[sizeof self->err];
            snprintf (why, sizeof why, "%s", self->err);
            s_drop (self, why);
            rc = -1;
        }
    }
    for (int i = 0; rc == 0 && i < n; i++)
        if (s_demoted (calls[i].reply)) {
            char why[sizeof self->err];
            snprintf (why, sizeof why,
                      "Redis at %.300s is no master now: %.200s", self->address,
                      calls[i].reply->str);
            s_drop (self, why);
            rc = -1;
        }
    if (rc != 0) {
        rb_store_free_replies (calls, n);
        return -1;
    }
    return 0;
}

void
rb_store_free_replies (rb_call_t *calls, int n)
{
    for (int i = 0; i < n; i++) {
        freeReplyObject (calls[i].reply);
        calls[i].reply = NULL;
    }
}

redisReply *
rb_store_command (rb_store_t *self, const char *fmt, ...)
{
    s_follow (self);
    if (rb_store_connect (self))
        return NULL;
    va_list args;
    va_start (args, fmt);
    redisReply *r = (redisReply *) redisvCommand (self->ctx, fmt, args);
    va_end (args);
    if (!r) {
        char why[200];
        snprintf (why, sizeof why, "Redis I/O: %s", self->ctx->errstr);
        s_drop (self, why);
    } else if (s_demoted (r))
        s_drop (self, r->str);
    return r;
}

int
rb_store_append (rb_store_t *self, int argc, const char **argv,
                 const size_t *lens)
{
    if (rb_store_connect (self))
        return -1;
    return redisAppendCommandArgv (self->ctx, argc, argv, lens) == REDIS_OK
               ? 0
               : -1;
}

int
rb_store_append_resp (rb_store_t *self, const char *cmd, size_t len)
{
    if (rb_store_connect (self))
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
        s_drop (self, why);
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

int
rb_store_masters (rb_store_t *self)
{
    (void) self;
    return 1;
}

int
rb_store_slot_master (rb_store_t *self, int slot)
{
    (void) self;
    (void) slot;
    return 0;
}

int
rb_store_checking (rb_store_t *self)
{
    return self->checking ? 0 : -1;
}

redisReply *
rb_store_command_at (rb_store_t *self, int m, const char *fmt, ...)
{
    (void) m;
    s_follow (self);
    if (rb_store_connect (self))
        return NULL;
    va_list args;
    va_start (args, fmt);
    redisReply *r = (redisReply *) redisvCommand (self->ctx, fmt, args);
    va_end (args);
    if (!r) {
        char why[200];
        snprintf (why, sizeof why, "Redis I/O: %s", self->ctx->errstr);
        s_drop (self, why);
    }
    return r;
}

int
rb_store_bulk_add (rb_store_t *self, int slot, const char *cmd, size_t len)
{
    (void) slot;
    if (rb_store_append_resp (self, cmd, len))
        return -1;
    self->bulk++;
    return 0;
}

int
rb_store_bulk_flush (rb_store_t *self)
{
    int n = self->bulk;
    self->bulk = 0;
    return n ? rb_store_drain (self, n) : 0;
}
