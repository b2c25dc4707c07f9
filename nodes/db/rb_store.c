/*  rb_store: Redis connection with pipelined batches (see rb_store.h). */
#include "rb_store.h"
#include "rb_crc16.h"
#include "rb_rcluster.h"
#include "rb_scripts.h"
#include "rb_sentinel.h"

#include <assert.h>
#include <signal.h>
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
/*  On a cluster: the rounds of one rb_store_run at most, the pause after
    TRYAGAIN or CLUSTERDOWN (doubling), the seeds at most.  */
#define RB_ROUNDS_MAX 64
#define RB_PAUSE_MIN  10
#define RB_PAUSE_MAX  100
#define RB_SEEDS_MAX  64

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
    int checking;   /* the master being checked, or -1 */
    int bulk_n;     /* bulk_add's commands not flushed yet */
    bool bulk_err;  /* a bulk_add failed since the last flush */
    /* On a Redis Cluster (all NULL or 0 on one Redis): */
    rb_rcluster_map_t *map; /* the slot map */
    char **seed_host;       /* the seeds given */
    int *seed_port;
    int nseeds;
    rb_store_t **nodes; /* master m of the map: a store of one Redis */
    int nnodes;
    bool stale;           /* the map must be asked again before use */
    int *target;          /* rb_store_run: the master of each call */
    unsigned char *state; /* rb_store_run: S_* flags of each call */
    int cap;              /* calls target and state have room for */
    char *bulk;           /* bulk_add's commands, one after another */
    size_t bulk_len, bulk_size;
    size_t *bulk_at; /* where each starts in bulk, and its slot */
    int *bulk_slot;
    int bulk_max;
    /* On the store of a cluster's master, for its parent: */
    bool checked;  /* the check passed on this connection */
    int expect;    /* replies owed in this round */
    bool used;     /* calls go to it in this round */
    bool failed;   /* its connection failed in this round */
    bool noscript; /* answered NOSCRIPT in this round */
    bool demoted;  /* answered READONLY or MASTERDOWN in this round */
};

static int s_parse_seeds (rb_store_t *self, const char *list, char *err,
                          size_t errlen);
static void s_cluster_destroy (rb_store_t *self);
static int s_cluster_connect (rb_store_t *self);
static bool s_cluster_connected (rb_store_t *self);
static int s_cluster_run (rb_store_t *self, rb_call_t *calls, int n, bool resp);
static redisReply *s_command_at (rb_store_t *self, int m, const char *fmt,
                                 va_list args);

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
        if (s_parse_seeds (self, opts->cluster, err, errlen)) {
            s_cluster_destroy (self);
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
    s_cluster_destroy (self);
    free (self);
    *self_p = NULL;
}

bool
rb_store_connected (rb_store_t *self)
{
    if (self->map)
        return s_cluster_connected (self);
    return self->ctx != NULL;
}

const char *
rb_store_errstr (rb_store_t *self)
{
    return self->err;
}

/*  Sends AUTH on ctx when configured; 0 if accepted or not needed. */
static int
s_auth_on (rb_store_t *self, redisContext *ctx)
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
    return s_auth_on (self, self->ctx);
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
    if (self->map)
        return s_cluster_connect (self);
    if (self->ctx)
        return 0;
    if (zclock_mono () < self->next_try || s_open (self))
        return -1;
    self->connects++;
    /* nothing of the caller's goes out before the check has passed */
    self->checking = 0;
    int failed = self->check ? self->check (self, self->check_arg) : 0;
    self->checking = -1;
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
    if (self->map)
        return s_cluster_run (self, calls, n, false);
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
    if (self->map) {
        va_list args;
        va_start (args, fmt);
        redisReply *r = s_command_at (self, 0, fmt, args);
        va_end (args);
        return r;
    }
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

/*  --- Redis Cluster ------------------------------------------------------
    The parent store holds the slot map and one store of one Redis per
    master (self->nodes, in map order), made by s_node_new; a node store
    has no check and no map of its own: its parent checks it.  */

/*  Flags of a call in a cluster run.  */
#define S_FINAL 0 /* has its final reply */
#define S_SEND  1 /* to be sent (reply NULL) */
#define S_RETRY 2 /* its (error) reply redirects it: to be sent again */
#define S_ASK   4 /* with S_RETRY: to its ASK node, after ASKING */

static int
s_parse_seeds (rb_store_t *self, const char *list, char *err, size_t errlen)
{
    self->map = rb_rcluster_map_new ();
    self->seed_host = (char **) calloc (RB_SEEDS_MAX, sizeof (char *));
    self->seed_port = (int *) calloc (RB_SEEDS_MAX, sizeof (int));
    assert (self->seed_host && self->seed_port);
    const char *p = list;
    while (true) {
        const char *end = strchr (p, ',');
        size_t len = end ? (size_t) (end - p) : strlen (p);
        char one[300];
        const char *colon = NULL;
        if (len < sizeof one) {
            memcpy (one, p, len);
            one[len] = '\0';
            colon = strrchr (one, ':');
        }
        char *stop = NULL;
        long port = colon ? strtol (colon + 1, &stop, 10) : 0;
        if (!colon || colon == one || !stop || *stop || stop == colon + 1 ||
            port < 1 || port > 65535 || self->nseeds == RB_SEEDS_MAX) {
            snprintf (err, errlen,
                      "bad Redis cluster seeds '%.200s': expected "
                      "HOST:PORT,... (at most %d)",
                      list, RB_SEEDS_MAX);
            return -1;
        }
        self->seed_host[self->nseeds] = strndup (one, (size_t) (colon - one));
        self->seed_port[self->nseeds++] = (int) port;
        if (!end)
            return 0;
        p = end + 1;
    }
}

static void
s_cluster_destroy (rb_store_t *self)
{
    for (int m = 0; m < self->nnodes; m++)
        rb_store_destroy (&self->nodes[m]);
    free (self->nodes);
    for (int i = 0; i < self->nseeds; i++)
        free (self->seed_host[i]);
    free (self->seed_host);
    free (self->seed_port);
    rb_rcluster_map_destroy (&self->map);
    free (self->target);
    free (self->state);
    free (self->bulk);
    free (self->bulk_at);
    free (self->bulk_slot);
}

/*  The store of one master, not connected yet.  */
static rb_store_t *
s_node_new (rb_store_t *self, const char *host, int port)
{
    rb_store_t *node = (rb_store_t *) calloc (1, sizeof *node);
    assert (node);
    node->host = strdup (host);
    node->port = port;
    node->user = self->user ? strdup (self->user) : NULL;
    node->password = self->password ? strdup (self->password) : NULL;
    node->timeout_ms = self->timeout_ms;
    node->backoff = RB_BACKOFF_MIN;
    node->checking = -1;
    snprintf (node->address, sizeof node->address, "%s:%d", host, port);
    snprintf (node->err, sizeof node->err, "not connected yet");
    return node;
}

/*  The nodes after a new map: the stores of masters that stay are kept
    (connection and all), the others closed.  */
static void
s_rebuild (rb_store_t *self)
{
    int n = rb_rcluster_map_masters (self->map);
    rb_store_t **nodes = (rb_store_t **) calloc ((size_t) n, sizeof *nodes);
    assert (nodes);
    for (int m = 0; m < n; m++) {
        const char *host = rb_rcluster_map_host (self->map, m);
        int port = rb_rcluster_map_port (self->map, m);
        for (int o = 0; o < self->nnodes && !nodes[m]; o++)
            if (self->nodes[o] && self->nodes[o]->port == port &&
                strcmp (self->nodes[o]->host, host) == 0) {
                nodes[m] = self->nodes[o];
                self->nodes[o] = NULL;
            }
        if (!nodes[m])
            nodes[m] = s_node_new (self, host, port);
    }
    for (int o = 0; o < self->nnodes; o++)
        if (self->nodes[o]) {
            zsys_info ("store: %s is no master of the cluster now",
                       self->nodes[o]->address);
            rb_store_destroy (&self->nodes[o]);
        }
    free (self->nodes);
    self->nodes = nodes;
    self->nnodes = n;
}

/*  Asks ctx for CLUSTER SLOTS into the map: 0; -1 if it gave none (why
    in self->err); -2 if ctx failed.  */
static int
s_ask_slots (rb_store_t *self, redisContext *ctx, const char *address)
{
    redisReply *r = (redisReply *) redisCommand (ctx, "CLUSTER SLOTS");
    int rc = r && r->type == REDIS_REPLY_ARRAY && r->elements > 0 &&
                     rb_rcluster_map_parse (self->map, r) == 0
                 ? 0
             : r ? -1
                 : -2;
    if (rc)
        snprintf (self->err, sizeof self->err,
                  "CLUSTER SLOTS at %.300s: %.300s", address,
                  !r                             ? ctx->errstr
                  : r->type == REDIS_REPLY_ERROR ? r->str
                                                 : "no slot map in the reply");
    freeReplyObject (r);
    return rc;
}

/*  Asks the node at host:port for the map on a connection of its own. */
static int
s_ask_slots_at (rb_store_t *self, const char *host, int port)
{
    struct timeval tv = {self->timeout_ms / 1000,
                         (self->timeout_ms % 1000) * 1000};
    redisContext *ctx = redisConnectWithTimeout (host, port, tv);
    char address[300];
    snprintf (address, sizeof address, "%s:%d", host, port);
    int rc = -1;
    if (!ctx || ctx->err)
        snprintf (self->err, sizeof self->err, "cannot connect to %.300s: %s",
                  address, ctx ? ctx->errstr : "out of memory");
    else if (redisSetTimeout (ctx, tv) == REDIS_OK &&
             s_auth_on (self, ctx) == 0)
        rc = s_ask_slots (self, ctx, address);
    redisFree (ctx);
    return rc;
}

/*  A new slot map, asked of the masters connected, then of the others
    of the map, then of the seeds. 0, or -1 with self->err set (and the
    back-off: the next try waits).  */
static int
s_refresh (rb_store_t *self)
{
    if (zclock_mono () < self->next_try)
        return -1;
    int rc = -1;
    for (int m = 0; rc && m < self->nnodes; m++) {
        rb_store_t *node = self->nodes[m];
        if (node->ctx &&
            (rc = s_ask_slots (self, node->ctx, node->address)) == -2)
            s_drop (node, self->err);
    }
    for (int m = 0; rc && m < self->nnodes; m++)
        if (!self->nodes[m]->ctx)
            rc = s_ask_slots_at (self, self->nodes[m]->host,
                                 self->nodes[m]->port);
    for (int i = 0; rc && i < self->nseeds; i++)
        rc = s_ask_slots_at (self, self->seed_host[i], self->seed_port[i]);
    if (rc) {
        char why[sizeof self->err];
        snprintf (why, sizeof why, "no cluster node gave its slot map: %.600s",
                  self->err);
        s_drop (self, why);
        return -1;
    }
    s_rebuild (self);
    self->stale = false;
    self->backoff = RB_BACKOFF_MIN;
    return 0;
}

/*  The master a call goes to in the current map, or -1.  */
static int
s_route (rb_store_t *self, const rb_call_t *c)
{
    if (c->slot >= 0)
        return rb_rcluster_map_owner (self->map, c->slot);
    int m = -1 - c->slot;
    return m < self->nnodes ? m : -1;
}

/*  Node m's error as the parent's, and the map to be asked again.  */
static void
s_node_failed (rb_store_t *self, rb_store_t *node)
{
    snprintf (self->err, sizeof self->err, "%s", node->err);
    self->stale = true;
}

/*  Connects master m if it is not (respecting its back-off) and, with
    check, runs the check on a new connection first. 0 if ready.  */
static int
s_node_ready (rb_store_t *self, int m, bool check)
{
    rb_store_t *node = self->nodes[m];
    if (!node->ctx) {
        if (zclock_mono () < node->next_try || s_open (node)) {
            s_node_failed (self, node);
            return -1;
        }
        node->connects++;
        self->connects++;
        node->checked = false;
    }
    if (!check || node->checked)
        return 0;
    self->checking = m;
    int failed = self->check ? self->check (self, self->check_arg) : 0;
    self->checking = -1;
    if (failed && node->ctx)
        s_drop (node, "the check of a new Redis connection failed");
    if (!node->ctx) {
        s_node_failed (self, node);
        return -1;
    }
    node->checked = true;
    node->backoff = RB_BACKOFF_MIN;
    node->err[0] = '\0';
    return 0;
}

static int
s_cluster_connect (rb_store_t *self)
{
    if ((self->stale || !self->nnodes) && s_refresh (self))
        return -1;
    for (int m = 0; m < self->nnodes; m++)
        if (s_node_ready (self, m, true))
            return -1;
    self->err[0] = '\0';
    return 0;
}

static bool
s_cluster_connected (rb_store_t *self)
{
    for (int m = 0; m < self->nnodes; m++)
        if (!self->nodes[m]->ctx || !self->nodes[m]->checked)
            return false;
    return self->nnodes > 0;
}

/*  A run inside a check: only to the master being checked.  */
static int
s_checking_run (rb_store_t *self, rb_call_t *calls, int n)
{
    rb_store_t *node = self->nodes[self->checking];
    for (int i = 0; i < n; i++)
        if (s_route (self, &calls[i]) != self->checking) {
            snprintf (self->err, sizeof self->err,
                      "a check of master %d sent a call to another",
                      self->checking);
            return -1;
        }
    if (!node->ctx || rb_store_run (node, calls, n))
        return s_node_failed (self, node), -1;
    return 0;
}

/*  Where each call not final goes this round: the node its redirection
    names (a MOVED also sets the map), else the master of its slot (-1
    if none: the map is asked again). Returns the calls not final.  */
static int
s_targets (rb_store_t *self, rb_call_t *calls, int n)
{
    int todo = 0;
    for (int i = 0; i < n; i++) {
        if (self->state[i] == S_FINAL)
            continue;
        todo++;
        rb_redirect_t to;
        int m = -1;
        self->state[i] &= (unsigned char) ~S_ASK;
        if (self->state[i] & S_RETRY &&
            rb_rcluster_redirect (calls[i].reply->str, calls[i].reply->len,
                                  &to) == 0 &&
            (m = rb_rcluster_map_find (self->map, to.host, to.port)) >= 0) {
            if (to.ask)
                self->state[i] |= S_ASK;
            else
                rb_rcluster_map_set (self->map, to.slot, m);
        }
        if (m < 0)
            m = s_route (self, &calls[i]);
        if (m < 0)
            self->stale = true;
        self->target[i] = m;
    }
    return todo;
}

/*  What a reply says of call i's fate; a redirection keeps it for the
    next round (and may ask for a pause, a reload, a new map).  */
static void
s_classify (rb_store_t *self, rb_call_t *c, int i, rb_store_t *node,
            bool *pause)
{
    const redisReply *r = c->reply;
    rb_redirect_t to;
    self->state[i] = S_FINAL;
    if (r->type != REDIS_REPLY_ERROR)
        return;
    if (rb_rcluster_redirect (r->str, r->len, &to) == 0) {
        self->state[i] = S_RETRY;
        if (!to.ask)
            self->stale = true;
    } else if (strncmp (r->str, "TRYAGAIN", 8) == 0 ||
               strncmp (r->str, "CLUSTERDOWN", 11) == 0) {
        self->state[i] = S_RETRY;
        *pause = true;
    } else if (s_is_noscript (r)) {
        self->state[i] = S_RETRY;
        node->noscript = true;
    } else if (s_demoted (r)) {
        self->state[i] = S_RETRY;
        node->demoted = true;
    }
}

/*  Appends call i to its node (after ASKING if it is asked there).  */
static void
s_append_to (rb_store_t *self, rb_call_t *c, int i, bool resp)
{
    rb_store_t *node = self->nodes[self->target[i]];
    freeReplyObject (c->reply);
    c->reply = NULL;
    if (self->state[i] & S_ASK) {
        redisAppendCommand (node->ctx, "ASKING");
        node->expect++;
    }
    if (resp)
        redisAppendFormattedCommand (node->ctx, c->argv[0], c->lens[0]);
    else
        s_append (node, c);
    node->expect++;
}

/*  Writes all a node has appended (before any reply is read).  */
static int
s_flush (rb_store_t *node)
{
    int done = 0;
    while (!done)
        if (redisBufferWrite (node->ctx, &done) != REDIS_OK)
            return -1;
    return 0;
}

/*  Reads node's next reply; NULL (the node failed) on an I/O error.  */
static redisReply *
s_read (rb_store_t *node)
{
    void *reply = NULL;
    if (node->failed || redisGetReply (node->ctx, &reply) != REDIS_OK) {
        if (!node->failed) {
            char why[200];
            snprintf (why, sizeof why, "Redis I/O: %s", node->ctx->errstr);
            s_drop (node, why);
        }
        node->failed = true;
        return NULL;
    }
    node->expect--;
    return (redisReply *) reply;
}

/*  One round: the nodes with calls connected and checked, every call
    not final appended to its node, every node written, then the
    replies read. 0, or -1 if a node could not be used or failed.  */
static int
s_round_cluster (rb_store_t *self, rb_call_t *calls, int n, bool resp,
                 bool *pause)
{
    for (int m = 0; m < self->nnodes; m++) {
        rb_store_t *node = self->nodes[m];
        node->used = node->failed = node->noscript = node->demoted = false;
        node->expect = 0;
    }
    for (int i = 0; i < n; i++)
        if (self->state[i] != S_FINAL && self->target[i] >= 0)
            self->nodes[self->target[i]]->used = true;
    for (int m = 0; m < self->nnodes; m++)
        if (self->nodes[m]->used && s_node_ready (self, m, true))
            return -1;
    for (int i = 0; i < n; i++)
        if (self->state[i] != S_FINAL && self->target[i] >= 0)
            s_append_to (self, &calls[i], i, resp);
    for (int m = 0; m < self->nnodes; m++)
        if (self->nodes[m]->used && s_flush (self->nodes[m])) {
            s_drop (self->nodes[m], "Redis I/O: cannot write");
            self->nodes[m]->failed = true;
        }
    int rc = 0;
    for (int i = 0; i < n; i++) {
        if (self->state[i] == S_FINAL || self->target[i] < 0)
            continue;
        rb_store_t *node = self->nodes[self->target[i]];
        if (self->state[i] & S_ASK)
            freeReplyObject (s_read (node)); /* ASKING's OK */
        if ((calls[i].reply = s_read (node)))
            s_classify (self, &calls[i], i, node, pause);
        else {
            s_node_failed (self, node);
            rc = -1;
        }
    }
    return rc;
}

/*  After a round: scripts loaded again where missing, demoted nodes
    dropped (their calls are sent again after a new map).  */
static int
s_after_round (rb_store_t *self)
{
    for (int m = 0; m < self->nnodes; m++) {
        rb_store_t *node = self->nodes[m];
        if (node->noscript && node->ctx) {
            zsys_info ("store: scripts missing in %s, loading them again",
                       node->address);
            if (s_load_scripts (node)) {
                char why[sizeof node->err];
                snprintf (why, sizeof why, "%s", node->err);
                s_drop (node, why);
                s_node_failed (self, node);
                return -1;
            }
        }
        if (node->demoted && node->ctx) {
            s_drop (node, "no master now (READONLY or MASTERDOWN)");
            self->stale = true;
        }
    }
    return 0;
}

/*  Grows the per-call scratch to n calls.  */
static void
s_scratch (rb_store_t *self, int n)
{
    if (n <= self->cap)
        return;
    self->cap = n;
    self->target = (int *) realloc (self->target, (size_t) n * sizeof (int));
    self->state = (unsigned char *) realloc (self->state, (size_t) n);
    assert (self->target && self->state);
}

/*  Rounds until every call has its final reply, or the deadline.  */
static int
s_rounds (rb_store_t *self, rb_call_t *calls, int n, bool resp)
{
    int64_t deadline = zclock_mono () + self->timeout_ms;
    int pause = RB_PAUSE_MIN;
    for (int round = 0; round < RB_ROUNDS_MAX; round++) {
        if ((self->stale || !self->nnodes) && s_refresh (self))
            return -1;
        if (s_targets (self, calls, n) == 0)
            return 0;
        bool wait = false;
        if (s_round_cluster (self, calls, n, resp, &wait) ||
            s_after_round (self))
            return -1;
        int64_t left = deadline - zclock_mono ();
        if (left <= 0)
            break;
        if (wait) {
            zclock_sleep ((int) (left < pause ? left : pause));
            pause = pause * 2 > RB_PAUSE_MAX ? RB_PAUSE_MAX : pause * 2;
        }
    }
    /* at the deadline: a call redirected keeps its last error reply */
    for (int i = 0; i < n; i++)
        if (!calls[i].reply) {
            snprintf (self->err, sizeof self->err,
                      "no master of the cluster took a call in %d ms",
                      self->timeout_ms);
            return -1;
        }
    return 0;
}

static int
s_cluster_run (rb_store_t *self, rb_call_t *calls, int n, bool resp)
{
    if (self->checking >= 0)
        return s_checking_run (self, calls, n);
    int64_t sent = zclock_usecs ();
    s_scratch (self, n);
    memset (self->state, S_SEND, (size_t) n);
    int rc = s_rounds (self, calls, n, resp);
    rb_mhist_observe (&self->rtt, (double) (zclock_usecs () - sent) / 1e6);
    if (rc)
        rb_store_free_replies (calls, n);
    return rc;
}

static redisReply *
s_command_at (rb_store_t *self, int m, const char *fmt, va_list args)
{
    /* no new map inside a check: the node checked must stay */
    if (self->checking < 0 && (self->stale || !self->nnodes) &&
        s_refresh (self))
        return NULL;
    if (m < 0 || m >= self->nnodes) {
        snprintf (self->err, sizeof self->err,
                  "no master %d in the cluster's map (%d masters)", m,
                  self->nnodes);
        return NULL;
    }
    rb_store_t *node = self->nodes[m];
    if (s_node_ready (self, m, false))
        return NULL;
    redisReply *r = (redisReply *) redisvCommand (node->ctx, fmt, args);
    if (!r) {
        char why[200];
        snprintf (why, sizeof why, "Redis I/O: %s", node->ctx->errstr);
        s_drop (node, why);
        s_node_failed (self, node);
    } else if (s_demoted (r)) {
        s_drop (node, r->str);
        s_node_failed (self, node);
    }
    return r;
}

redisReply *
rb_store_command_at (rb_store_t *self, int m, const char *fmt, ...)
{
    va_list args;
    va_start (args, fmt);
    redisReply *r = NULL;
    if (self->map)
        r = s_command_at (self, m, fmt, args);
    else {
        s_follow (self);
        if (rb_store_connect (self) == 0) {
            r = (redisReply *) redisvCommand (self->ctx, fmt, args);
            if (!r) {
                char why[200];
                snprintf (why, sizeof why, "Redis I/O: %s", self->ctx->errstr);
                s_drop (self, why);
            } else if (s_demoted (r))
                s_drop (self, r->str);
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
    if (self->bulk_n == self->bulk_max) {
        self->bulk_max = self->bulk_max ? self->bulk_max * 2 : 256;
        self->bulk_at = (size_t *) realloc (
            self->bulk_at, (size_t) self->bulk_max * sizeof (size_t));
        self->bulk_slot = (int *) realloc (
            self->bulk_slot, (size_t) self->bulk_max * sizeof (int));
        assert (self->bulk_at && self->bulk_slot);
    }
    if (self->bulk_len + len > self->bulk_size) {
        while (self->bulk_len + len > self->bulk_size)
            self->bulk_size = self->bulk_size ? self->bulk_size * 2 : 65536;
        self->bulk = (char *) realloc (self->bulk, self->bulk_size);
        assert (self->bulk);
    }
    memcpy (self->bulk + self->bulk_len, cmd, len);
    self->bulk_at[self->bulk_n] = self->bulk_len;
    self->bulk_slot[self->bulk_n++] = slot;
    self->bulk_len += len;
    return 0;
}

/*  Bulk flush on a cluster: the commands as calls of one run.  */
static int
s_cluster_flush (rb_store_t *self)
{
    int n = self->bulk_n;
    rb_call_t *calls = (rb_call_t *) calloc ((size_t) n + 1, sizeof *calls);
    const char **at = (const char **) calloc ((size_t) n + 1, sizeof *at);
    size_t *lens = (size_t *) calloc ((size_t) n + 1, sizeof *lens);
    assert (calls && at && lens);
    for (int i = 0; i < n; i++) {
        size_t end = i + 1 < n ? self->bulk_at[i + 1] : self->bulk_len;
        at[i] = self->bulk + self->bulk_at[i];
        lens[i] = end - self->bulk_at[i];
        calls[i] = (rb_call_t){.script = -1,
                               .argc = 1,
                               .argv = &at[i],
                               .lens = &lens[i],
                               .slot = self->bulk_slot[i]};
    }
    int rc = s_cluster_run (self, calls, n, true);
    for (int i = 0; rc == 0 && i < n; i++)
        if (calls[i].reply->type == REDIS_REPLY_ERROR) {
            snprintf (self->err, sizeof self->err, "Redis: %s",
                      calls[i].reply->str);
            rc = -1;
        }
    rb_store_free_replies (calls, n);
    free (calls);
    free (at);
    free (lens);
    return rc;
}

int
rb_store_bulk_flush (rb_store_t *self)
{
    int n = self->bulk_n, rc;
    bool failed = self->bulk_err;
    if (!self->map)
        rc = rb_store_drain (self, n);
    else
        rc = n ? s_cluster_flush (self) : 0;
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
