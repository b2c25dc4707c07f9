/*  rb_store_conn: one Redis connection of a store (rb_store_int.h):
    opened with the sentinels asked where the master is, AUTH, ROLE and
    the scripts loaded; dropped, never reused, after an error, with a
    back-off before the next try; a pipeline of calls run on it.  */
#include "rb_store_int.h"

#include <assert.h>
#include <czmq.h>
#include <stdlib.h>
#include <string.h>

#define RB_BACKOFF_MAX 5000
/*  With Sentinels: how often a run asks them where the master is.  */
#define RB_FOLLOW_MS 1000

void
rb_store__drop (rb_store_t *self, const char *why)
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

/*  Sends AUTH on ctx when configured; 0 if accepted or not needed. */
int
rb_store__auth_on (rb_store_t *self, redisContext *ctx)
{
    if (!self->password)
        return 0;
    redisReply *r = self->user ? redisCommand (ctx, "AUTH %s %s", self->user,
                                               self->password)
                               : redisCommand (ctx, "AUTH %s", self->password);
    int rc = r && r->type != REDIS_REPLY_ERROR ? 0 : -1;
    if (rc)
        snprintf (self->err, sizeof self->err, "AUTH refused: %s",
                  r ? r->str : ctx->errstr);
    freeReplyObject (r);
    return rc;
}

static int
s_auth (rb_store_t *self)
{
    return rb_store__auth_on (self, self->ctx);
}

/*  Loads every script and keeps its digest. */
int
rb_store__load_scripts (rb_store_t *self)
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
        rb_store__drop (self, why);
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
int
rb_store__open (rb_store_t *self)
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
        rb_store__drop (self, why);
        return -1;
    }
    redisSetTimeout (self->ctx, tv);
    if (s_auth (self) || s_check_role (self) || rb_store__load_scripts (self)) {
        char why[sizeof self->err];
        snprintf (why, sizeof why, "%s", self->err);
        rb_store__drop (self, why);
        return -1;
    }
    return 0;
}

/*  With Sentinels, once a second: if they say the master moved (a
    failover), the connection goes and the next one is made at once.  */
void
rb_store__follow (rb_store_t *self)
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
    rb_store__drop (self, why);
    self->next_try = 0;
    self->backoff = RB_STORE__BACKOFF_MIN;
}

/*  An error reply saying this Redis takes no writes now: a master made a
    replica (READONLY), or a replica that lost its master (MASTERDOWN).  */
bool
rb_store__demoted (const redisReply *r)
{
    return r && r->type == REDIS_REPLY_ERROR &&
           (strncmp (r->str, "READONLY", 8) == 0 ||
            strncmp (r->str, "MASTERDOWN", 10) == 0);
}

/*  Appends one call to the output buffer (no I/O yet). */
void
rb_store__append (rb_store_t *self, rb_call_t *c)
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
    char nkeys[16];
    argv[0] = "EVALSHA", lens[0] = 7;
    argv[1] = self->sha[c->script], lens[1] = 40;
    argv[2] = nkeys;
    lens[2] = (size_t) snprintf (nkeys, sizeof nkeys, "%d", c->nkeys);
    memcpy (argv + 3, c->argv, (size_t) c->argc * sizeof (char *));
    memcpy (lens + 3, c->lens, (size_t) c->argc * sizeof (size_t));
    redisAppendCommandArgv (self->ctx, argc, argv, lens);
    if (argv != argv_small) {
        free (argv);
        free (lens);
    }
}

bool
rb_store__is_noscript (const redisReply *r)
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
            rb_store__append (self, &calls[i]);
    int noscript = 0;
    for (int i = 0; i < n; i++) {
        if (calls[i].reply)
            continue;
        void *reply = NULL;
        if (redisGetReply (self->ctx, &reply) != REDIS_OK) {
            char why[200];
            snprintf (why, sizeof why, "Redis I/O: %s", self->ctx->errstr);
            rb_store__drop (self, why);
            return -1;
        }
        calls[i].reply = (redisReply *) reply;
        if (rb_store__is_noscript (calls[i].reply)) {
            freeReplyObject (calls[i].reply);
            calls[i].reply = NULL;
            noscript++;
        }
    }
    return noscript;
}

void
rb_store_free_replies (rb_call_t *calls, int n)
{
    for (int i = 0; i < n; i++) {
        freeReplyObject (calls[i].reply);
        calls[i].reply = NULL;
    }
}
int
rb_store__run_one (rb_store_t *self, rb_call_t *calls, int n)
{
    for (int i = 0; i < n; i++)
        calls[i].reply = NULL;
    int64_t sent = zclock_usecs ();
    int rc = s_round (self, calls, n);
    rb_mhist_observe (&self->rtt, (double) (zclock_usecs () - sent) / 1e6);
    if (rc > 0) { /* scripts were flushed: load them again, once */
        zsys_info ("store: scripts missing in Redis, loading them again");
        if (rb_store__load_scripts (self) == 0)
            rc = s_round (self, calls, n);
        else {
            char why[sizeof self->err];
            snprintf (why, sizeof why, "%s", self->err);
            rb_store__drop (self, why);
            rc = -1;
        }
    }
    for (int i = 0; rc == 0 && i < n; i++)
        if (rb_store__demoted (calls[i].reply)) {
            char why[sizeof self->err];
            snprintf (why, sizeof why,
                      "Redis at %.300s is no master now: %.200s", self->address,
                      calls[i].reply->str);
            rb_store__drop (self, why);
            rc = -1;
        }
    if (rc != 0) {
        rb_store_free_replies (calls, n);
        return -1;
    }
    return 0;
}

void
rb_store__free (rb_store_t **self_p)
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
