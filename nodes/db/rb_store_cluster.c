/*  rb_store_cluster: a store on a Redis Cluster (rb_store.h, whose
    header comment tells how it works; rb_store_int.h). The parent store
    holds the slot map and one store of one Redis per master
    (self->nodes, in map order), made by s_node_new; a node store has no
    check and no map of its own: its parent checks it.  */
#include "rb_store_int.h"

#include <assert.h>
#include <czmq.h>
#include <stdlib.h>
#include <string.h>

/*  The rounds of one rb_store_run at most, the pause after TRYAGAIN or
    CLUSTERDOWN (doubling), the seeds at most.  */
#define RB_ROUNDS_MAX 64
#define RB_PAUSE_MIN  10
#define RB_PAUSE_MAX  100
#define RB_SEEDS_MAX  64

/*  Flags of a call in a cluster run.  */
#define S_FINAL 0 /* has its final reply */
#define S_SEND  1 /* to be sent (reply NULL) */
#define S_RETRY 2 /* its (error) reply redirects it: to be sent again */
#define S_ASK   4 /* with S_RETRY: to its ASK node, after ASKING */

int
rb_store__cluster_seeds (rb_store_t *self, const char *list, char *err,
                         size_t errlen)
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

void
rb_store__cluster_destroy (rb_store_t *self)
{
    for (int m = 0; m < self->nnodes; m++)
        rb_store__free (&self->nodes[m]);
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
    node->backoff = RB_STORE__BACKOFF_MIN;
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
            rb_store__free (&self->nodes[o]);
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
             rb_store__auth_on (self, ctx) == 0)
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
            rb_store__drop (node, self->err);
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
        rb_store__drop (self, why);
        return -1;
    }
    s_rebuild (self);
    self->stale = false;
    self->backoff = RB_STORE__BACKOFF_MIN;
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
        if (zclock_mono () < node->next_try || rb_store__open (node)) {
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
        rb_store__drop (node, "the check of a new Redis connection failed");
    if (!node->ctx) {
        s_node_failed (self, node);
        return -1;
    }
    node->checked = true;
    node->backoff = RB_STORE__BACKOFF_MIN;
    node->err[0] = '\0';
    return 0;
}

int
rb_store__cluster_connect (rb_store_t *self)
{
    if ((self->stale || !self->nnodes) && s_refresh (self))
        return -1;
    for (int m = 0; m < self->nnodes; m++)
        if (s_node_ready (self, m, true))
            return -1;
    self->err[0] = '\0';
    return 0;
}

bool
rb_store__cluster_connected (rb_store_t *self)
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
    if (!node->ctx || rb_store__run_one (node, calls, n))
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
    } else if (rb_store__is_noscript (r)) {
        self->state[i] = S_RETRY;
        node->noscript = true;
    } else if (rb_store__demoted (r)) {
        self->state[i] = S_RETRY;
        node->demoted = true;
    }
    /* sent again: it will run after the calls answered now */
    c->resent |= self->state[i] == S_RETRY;
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
        rb_store__append (node, c);
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
            rb_store__drop (node, why);
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
            rb_store__drop (self->nodes[m], "Redis I/O: cannot write");
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
            if (rb_store__load_scripts (node)) {
                char why[sizeof node->err];
                snprintf (why, sizeof why, "%s", node->err);
                rb_store__drop (node, why);
                s_node_failed (self, node);
                return -1;
            }
        }
        if (node->demoted && node->ctx) {
            rb_store__drop (node, "no master now (READONLY or MASTERDOWN)");
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

int
rb_store__cluster_run (rb_store_t *self, rb_call_t *calls, int n, bool resp)
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

redisReply *
rb_store__cluster_command (rb_store_t *self, int m, const char *fmt,
                           va_list args)
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
        rb_store__drop (node, why);
        s_node_failed (self, node);
    } else if (rb_store__demoted (r)) {
        rb_store__drop (node, r->str);
        s_node_failed (self, node);
    }
    return r;
}

void
rb_store__cluster_add (rb_store_t *self, int slot, const char *cmd, size_t len)
{
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
}

/*  Bulk flush on a cluster: the commands as calls of one run.  */
int
rb_store__cluster_flush (rb_store_t *self)
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
    int rc = rb_store__cluster_run (self, calls, n, true);
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
