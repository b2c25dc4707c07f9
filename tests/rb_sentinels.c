/*  rb_sentinels: a Redis Sentinel set-up for system tests (see
    rb_sentinels.h).  */
#define _GNU_SOURCE
#include "rb_sentinels.h"

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

#define SENTINEL_BIN   "/usr/bin/redis-sentinel"
#define SERVER_BIN     "/usr/bin/redis-server"
#define START_ATTEMPTS 5     /* ports tried for a sentinel */
#define READY_MS       5000  /* a sentinel's first PONG */
#define MEET_MS        15000 /* the sentinels know each other and replicas */
#define LOOK_MS        20    /* between two looks at a condition */
#define REPLICAS_MAX   2

/*  One sentinel: its process, port and dir. */
typedef struct {
    rb_proc_t *proc;
    int port;
    char *dir;
} rb_one_sentinel_t;

struct rb_sentinels {
    char *name;                         /* the master name */
    rb_redis_t *master;                 /* the first master */
    rb_redis_t *replicas[REPLICAS_MAX]; /* its replicas */
    int n_replicas;
    rb_one_sentinel_t sentinels[RB_SENTINELS_N]; /* watching them */
    char list[128];                              /* "127.0.0.1:P,..." */
};

/*  One command to 127.0.0.1:port with a short timeout; the reply (the
    caller frees it) or NULL.  */
static redisReply *
s_cmd (int port, const char *fmt, ...)
{
    struct timeval tv = {0, 500000};
    redisContext *c = redisConnectWithTimeout ("127.0.0.1", port, tv);
    redisReply *r = NULL;
    if (c && !c->err && redisSetTimeout (c, tv) == REDIS_OK) {
        va_list args;
        va_start (args, fmt);
        r = (redisReply *) redisvCommand (c, fmt, args);
        va_end (args);
    }
    redisFree (c);
    return r;
}

/*  Whether the replica at port has its link to the master up. */
static bool
s_link_up (int port)
{
    redisReply *r = s_cmd (port, "INFO replication");
    bool up = r && r->type == REDIS_REPLY_STRING &&
              strstr (r->str, "master_link_status:up");
    freeReplyObject (r);
    return up;
}

/*  The numeric field of a SENTINEL master reply (pairs), or -1. */
static long
s_master_field (const redisReply *r, const char *field)
{
    if (!r || r->type != REDIS_REPLY_ARRAY)
        return -1;
    for (size_t i = 0; i + 1 < r->elements; i += 2)
        if (r->element[i]->type == REDIS_REPLY_STRING &&
            strcmp (r->element[i]->str, field) == 0 &&
            r->element[i + 1]->type == REDIS_REPLY_STRING)
            return strtol (r->element[i + 1]->str, NULL, 10);
    return -1;
}

/*  Whether sentinel s knows every replica and the other sentinels. */
static bool
s_met (rb_sentinels_t *self, const rb_one_sentinel_t *s)
{
    redisReply *r = s_cmd (s->port, "SENTINEL master %s", self->name);
    bool met = s_master_field (r, "num-slaves") == self->n_replicas &&
               s_master_field (r, "num-other-sentinels") == RB_SENTINELS_N - 1;
    freeReplyObject (r);
    return met;
}

/*  Writes the sentinel's config file; its path (caller frees) or NULL. */
static char *
s_write_conf (rb_sentinels_t *self, const rb_one_sentinel_t *s)
{
    char *path;
    if (asprintf (&path, "%s/sentinel.conf", s->dir) < 0)
        return NULL;
    FILE *f = fopen (path, "w");
    if (!f) {
        free (path);
        return NULL;
    }
    fprintf (f,
             "port %d\nbind 127.0.0.1\nprotected-mode no\ndaemonize no\n"
             "dir %s\nlogfile %s/sentinel.log\n"
             "sentinel monitor %s 127.0.0.1 %d 2\n"
             "sentinel down-after-milliseconds %s 500\n"
             "sentinel failover-timeout %s 5000\n"
             "sentinel parallel-syncs %s 1\n",
             s->port, s->dir, s->dir, self->name, rb_redis_port (self->master),
             self->name, self->name, self->name);
    fclose (f);
    return path;
}

/*  Starts sentinel s on s->port and waits for its PONG. 0, or -1 (the
    port may have been taken: nothing runs then).  */
static int
s_launch_sentinel (rb_sentinels_t *self, rb_one_sentinel_t *s)
{
    char *conf = s_write_conf (self, s);
    if (!conf)
        return -1;
    bool own = access (SENTINEL_BIN, X_OK) == 0;
    char *const with_own[] = {SENTINEL_BIN, conf, NULL};
    char *const with_server[] = {SERVER_BIN, conf, "--sentinel", NULL};
    s->proc = rb_proc_start (own ? with_own : with_server, NULL);
    free (conf);
    int64_t deadline = rb_clock_ms () + READY_MS;
    while (s->proc && rb_clock_ms () < deadline &&
           rb_proc_wait (s->proc, 0) == -1) {
        redisReply *r = s_cmd (s->port, "PING");
        bool pong = r && r->type == REDIS_REPLY_STATUS;
        freeReplyObject (r);
        if (pong)
            return 0;
        rb_proc_wait (s->proc, LOOK_MS);
    }
    rb_proc_destroy (&s->proc);
    return -1;
}

static int
s_start_sentinel (rb_sentinels_t *self, rb_one_sentinel_t *s)
{
    s->dir = rb_temp_dir ("rb_sentinel");
    if (!s->dir)
        return -1;
    for (int attempt = 0; attempt < START_ATTEMPTS; attempt++) {
        s->port = rb_free_port ();
        if (s->port > 0 && s_launch_sentinel (self, s) == 0)
            return 0;
    }
    fprintf (stderr, "rb_sentinels: a sentinel would not start (%s)\n", s->dir);
    return -1;
}

/*  The replicas, each following the master, their links up. */
static int
s_start_replicas (rb_sentinels_t *self, int n)
{
    for (int i = 0; i < n; i++) {
        rb_redis_t *r = rb_redis_start ();
        if (!r)
            return -1;
        self->replicas[self->n_replicas++] = r;
        freeReplyObject (s_cmd (rb_redis_port (r), "REPLICAOF 127.0.0.1 %d",
                                rb_redis_port (self->master)));
    }
    int64_t deadline = rb_clock_ms () + MEET_MS;
    for (int i = 0; i < n; i++)
        while (!s_link_up (rb_redis_port (self->replicas[i]))) {
            if (rb_clock_ms () >= deadline) {
                fprintf (stderr, "rb_sentinels: replica %d never synced\n", i);
                return -1;
            }
            poll (NULL, 0, LOOK_MS);
        }
    return 0;
}

/*  Waits until every sentinel knows the replicas and the others. */
static int
s_wait_met (rb_sentinels_t *self)
{
    int64_t deadline = rb_clock_ms () + MEET_MS;
    for (int i = 0; i < RB_SENTINELS_N; i++)
        while (!s_met (self, &self->sentinels[i])) {
            if (rb_clock_ms () >= deadline) {
                fprintf (stderr, "rb_sentinels: the sentinels never met\n");
                return -1;
            }
            poll (NULL, 0, LOOK_MS);
        }
    return 0;
}

rb_sentinels_t *
rb_sentinels_start (const char *name, int n_replicas)
{
    assert (n_replicas >= 1 && n_replicas <= REPLICAS_MAX);
    rb_sentinels_t *self = (rb_sentinels_t *) calloc (1, sizeof *self);
    assert (self);
    self->name = strdup (name);
    self->master = rb_redis_start ();
    int rc = self->master ? s_start_replicas (self, n_replicas) : -1;
    size_t used = 0;
    for (int i = 0; rc == 0 && i < RB_SENTINELS_N; i++) {
        rc = s_start_sentinel (self, &self->sentinels[i]);
        used += (size_t) snprintf (self->list + used, sizeof self->list - used,
                                   "%s127.0.0.1:%d", i ? "," : "",
                                   self->sentinels[i].port);
    }
    if (rc == 0)
        rc = s_wait_met (self);
    if (rc)
        rb_sentinels_stop (&self);
    return self;
}

const char *
rb_sentinels_list (rb_sentinels_t *self)
{
    return self->list;
}

rb_redis_t *
rb_sentinels_master (rb_sentinels_t *self)
{
    return self->master;
}

rb_redis_t *
rb_sentinels_replica (rb_sentinels_t *self, int i)
{
    assert (i >= 0 && i < self->n_replicas);
    return self->replicas[i];
}

/*  Where sentinel s says the master is, into buf; 0 or -1. */
static int
s_ask (rb_sentinels_t *self, const rb_one_sentinel_t *s, char *buf, size_t len)
{
    redisReply *r =
        s_cmd (s->port, "SENTINEL get-master-addr-by-name %s", self->name);
    int rc = -1;
    if (r && r->type == REDIS_REPLY_ARRAY && r->elements == 2 &&
        r->element[0]->type == REDIS_REPLY_STRING &&
        r->element[1]->type == REDIS_REPLY_STRING) {
        snprintf (buf, len, "%s:%s", r->element[0]->str, r->element[1]->str);
        rc = 0;
    }
    freeReplyObject (r);
    return rc;
}

int
rb_sentinels_master_addr (rb_sentinels_t *self, char *buf, size_t len)
{
    for (int i = 0; i < RB_SENTINELS_N; i++)
        if (s_ask (self, &self->sentinels[i], buf, len) == 0)
            return 0;
    return -1;
}

int
rb_sentinels_wait_master (rb_sentinels_t *self, const char *address,
                          int timeout_ms)
{
    int64_t deadline = rb_clock_ms () + timeout_ms;
    for (int i = 0; i < RB_SENTINELS_N; i++) {
        char at[64] = "";
        while (s_ask (self, &self->sentinels[i], at, sizeof at) ||
               strcmp (at, address) != 0) {
            if (rb_clock_ms () >= deadline)
                return -1;
            poll (NULL, 0, LOOK_MS);
        }
    }
    return 0;
}

void
rb_sentinels_stop (rb_sentinels_t **self_p)
{
    rb_sentinels_t *self = *self_p;
    if (!self)
        return;
    for (int i = 0; i < RB_SENTINELS_N; i++) {
        rb_proc_destroy (&self->sentinels[i].proc);
        if (self->sentinels[i].dir)
            rb_remove_tree (self->sentinels[i].dir);
        free (self->sentinels[i].dir);
    }
    for (int i = 0; i < self->n_replicas; i++)
        rb_redis_stop (&self->replicas[i]);
    rb_redis_stop (&self->master);
    free (self->name);
    free (self);
    *self_p = NULL;
}
