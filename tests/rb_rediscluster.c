/*  rb_rediscluster: a throwaway Redis Cluster for system tests (see
    rb_rediscluster.h).  */
#define _GNU_SOURCE
#include "rb_rediscluster.h"

#include <assert.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SERVER_BIN     "/usr/bin/redis-server"
#define CLI_BIN        "/usr/bin/redis-cli"
#define NODES_MAX      64
#define START_ATTEMPTS 5     /* port pairs tried for a node */
#define READY_MS       5000  /* a node's first PONG */
#define CREATE_MS      30000 /* redis-cli --cluster create, and settling */
#define FAILOVER_MS    15000 /* a kill or a restart, until stable */
#define LOOK_MS        20    /* between two looks at a condition */
#define SLOTS          16384
#define LOG_TAIL       30 /* lines of each node's log shown on failure */

/*  One redis-server of the cluster. */
typedef struct {
    rb_proc_t *proc;  /* running, or NULL while killed */
    char *dir;        /* its temp dir: nodes.conf, its log */
    int port;         /* clients, on 127.0.0.1 */
    int bus_port;     /* the cluster bus */
    char address[32]; /* "127.0.0.1:port" */
    char id[41];      /* its cluster node id */
} rb_rnode_t;

struct rb_rcluster {
    rb_rnode_t nodes[NODES_MAX];
    int count;       /* nodes started */
    int masters;     /* masters at creation */
    char seeds[800]; /* the first masters' addresses */
    int *owner_a;    /* SLOTS ports: scratch for the slot maps */
    int *owner_b;
};

/*  One command to 127.0.0.1:port with a short timeout; the reply (the
    caller frees it) or NULL.  */
static redisReply *
s_vcmd (int port, const char *fmt, va_list args)
{
    struct timeval tv = {0, 500000};
    redisContext *c = redisConnectWithTimeout ("127.0.0.1", port, tv);
    redisReply *r = NULL;
    if (c && !c->err && redisSetTimeout (c, tv) == REDIS_OK)
        r = (redisReply *) redisvCommand (c, fmt, args);
    redisFree (c);
    return r;
}

static redisReply *
s_cmd (int port, const char *fmt, ...)
{
    va_list args;
    va_start (args, fmt);
    redisReply *r = s_vcmd (port, fmt, args);
    va_end (args);
    return r;
}

/*  Whether a string reply of node n contains needle. */
static bool
s_says (const rb_rnode_t *n, const char *cmd, const char *needle)
{
    redisReply *r = n->proc ? s_cmd (n->port, cmd) : NULL;
    bool says = r && r->type == REDIS_REPLY_STRING && strstr (r->str, needle);
    freeReplyObject (r);
    return says;
}

static void
s_print_logs (rb_rcluster_t *self)
{
    for (int i = 0; i < self->count; i++) {
        char *path, line[512], *tail[LOG_TAIL] = {0};
        if (!self->nodes[i].dir ||
            asprintf (&path, "%s/redis.log", self->nodes[i].dir) < 0)
            continue;
        FILE *log = fopen (path, "r");
        int lines = 0;
        while (log && fgets (line, sizeof line, log)) {
            free (tail[lines % LOG_TAIL]);
            tail[lines++ % LOG_TAIL] = strdup (line);
        }
        for (int l = lines > LOG_TAIL ? lines - LOG_TAIL : 0; l < lines; l++)
            fprintf (stderr, "rb_rcluster: node %d | %s", i,
                     tail[l % LOG_TAIL]);
        for (int l = 0; l < LOG_TAIL; l++)
            free (tail[l]);
        if (log)
            fclose (log);
        free (path);
    }
}

/*  Starts node n on its ports; 0 once it answers PING (and INFO says it
    is our process), -1 with nothing running.  */
static int
s_launch (rb_rnode_t *n)
{
    char port[16], bus[16], *logfile;
    snprintf (port, sizeof port, "%d", n->port);
    snprintf (bus, sizeof bus, "%d", n->bus_port);
    snprintf (n->address, sizeof n->address, "127.0.0.1:%d", n->port);
    if (asprintf (&logfile, "%s/redis.log", n->dir) < 0)
        assert (!"out of memory");
    char *const argv[] = {SERVER_BIN,   "--port",
                          port,         "--bind",
                          "127.0.0.1",  "--cluster-port",
                          bus,          "--cluster-enabled",
                          "yes",        "--cluster-config-file",
                          "nodes.conf", "--cluster-node-timeout",
                          "1000",       "--cluster-replica-validity-factor",
                          "0",          "--cluster-allow-reads-when-down",
                          "no",         "--cluster-require-full-coverage",
                          "yes",        "--save",
                          "",           "--appendonly",
                          "no",         "--protected-mode",
                          "no",         "--daemonize",
                          "no",         "--dir",
                          n->dir,       "--logfile",
                          logfile,      NULL};
    n->proc = rb_proc_start (argv, NULL);
    free (logfile);
    int64_t deadline = rb_clock_ms () + READY_MS;
    while (n->proc && rb_proc_wait (n->proc, 0) == -1 &&
           rb_clock_ms () < deadline) {
        char pid[32];
        snprintf (pid, sizeof pid, "process_id:%d",
                  (int) rb_proc_pid (n->proc));
        if (s_says (n, "INFO server", pid))
            return 0;
        rb_proc_wait (n->proc, LOOK_MS); /* a pause that ends if it dies */
    }
    rb_proc_destroy (&n->proc);
    return -1;
}

static int
s_start_node (rb_rnode_t *n)
{
    n->dir = rb_temp_dir ("rb_rcluster");
    if (!n->dir)
        return -1;
    for (int attempt = 0; attempt < START_ATTEMPTS; attempt++) {
        n->port = rb_free_port ();
        n->bus_port = rb_free_port ();
        if (n->port > 0 && n->bus_port > 0 && n->port != n->bus_port &&
            s_launch (n) == 0)
            break;
    }
    redisReply *r = n->proc ? s_cmd (n->port, "CLUSTER MYID") : NULL;
    int rc = r && r->type == REDIS_REPLY_STRING && r->len == 40 ? 0 : -1;
    if (rc == 0)
        memcpy (n->id, r->str, 41);
    else
        fprintf (stderr, "rb_rcluster: a node would not start (%s)\n", n->dir);
    freeReplyObject (r);
    return rc;
}

/*  The node listening on port, or -1. */
static int
s_node_at (rb_rcluster_t *self, long port)
{
    for (int i = 0; i < self->count; i++)
        if (self->nodes[i].port == port)
            return i;
    return -1;
}

/*  Fills owner[slot] with the port of the master node n names for each
    slot (CLUSTER SLOTS). 0 if it covers every slot, else -1.  */
static int
s_owners (const rb_rnode_t *n, int *owner)
{
    memset (owner, 0, SLOTS * sizeof *owner);
    redisReply *r = s_cmd (n->port, "CLUSTER SLOTS");
    for (size_t e = 0; r && r->type == REDIS_REPLY_ARRAY && e < r->elements;
         e++) {
        redisReply *range = r->element[e];
        if (range->type != REDIS_REPLY_ARRAY || range->elements < 3 ||
            range->element[2]->type != REDIS_REPLY_ARRAY ||
            range->element[2]->elements < 2)
            continue;
        long long from = range->element[0]->integer;
        long long to = range->element[1]->integer;
        for (long long s = from; s <= to && s >= 0 && s < SLOTS; s++)
            owner[s] = (int) range->element[2]->element[1]->integer;
    }
    freeReplyObject (r);
    for (int s = 0; s < SLOTS; s++)
        if (owner[s] == 0)
            return -1;
    return 0;
}

/*  Whether the live nodes are stable: cluster_state:ok everywhere, no
    slot migrating or importing, the same full map everywhere naming only
    live masters, and every replica's link up. If not, why (for a log). */
static bool
s_stable (rb_rcluster_t *self, char *why, size_t len)
{
    bool first = true;
    for (int i = 0; i < self->count; i++) {
        rb_rnode_t *n = &self->nodes[i];
        if (!n->proc)
            continue;
        if (!s_says (n, "CLUSTER INFO", "cluster_state:ok"))
            return snprintf (why, len, "node %d not ok", i), false;
        redisReply *r = s_cmd (n->port, "CLUSTER NODES");
        bool moving =
            !r || r->type != REDIS_REPLY_STRING || strchr (r->str, '[');
        freeReplyObject (r);
        if (moving)
            return snprintf (why, len, "slots moving at node %d", i), false;
        if (s_owners (n, first ? self->owner_a : self->owner_b))
            return snprintf (why, len, "node %d: slots not covered", i), false;
        if (!first &&
            memcmp (self->owner_a, self->owner_b, SLOTS * sizeof (int)))
            return snprintf (why, len, "node %d: another slot map", i), false;
        if (s_says (n, "INFO replication", "role:slave") &&
            !s_says (n, "INFO replication", "master_link_status:up"))
            return snprintf (why, len, "node %d: no link to master", i), false;
        first = false;
    }
    for (int s = 0; s < SLOTS; s++) {
        int m = s_node_at (self, self->owner_a[s]);
        if (m < 0 || !self->nodes[m].proc)
            return snprintf (why, len, "slot %d on a dead node", s), false;
    }
    return true;
}

int
rb_rcluster_wait_stable (rb_rcluster_t *self, int timeout_ms)
{
    int64_t deadline = rb_clock_ms () + timeout_ms;
    char why[120] = "";
    while (!s_stable (self, why, sizeof why)) {
        if (rb_clock_ms () >= deadline) {
            fprintf (stderr, "rb_rcluster: not stable after %d ms: %s\n",
                     timeout_ms, why);
            return -1;
        }
        poll (NULL, 0, LOOK_MS);
    }
    return 0;
}

/*  redis-cli --cluster create with every node, the first masters. */
static int
s_create (rb_rcluster_t *self, int replicas)
{
    char *argv[NODES_MAX + 8], reps[16];
    int a = 0;
    argv[a++] = CLI_BIN, argv[a++] = "--cluster", argv[a++] = "create";
    for (int i = 0; i < self->count; i++)
        argv[a++] = self->nodes[i].address;
    snprintf (reps, sizeof reps, "%d", replicas);
    argv[a++] = "--cluster-replicas", argv[a++] = reps;
    argv[a++] = "--cluster-yes", argv[a] = NULL;
    char *out = NULL, *err = NULL;
    int rc = rb_proc_run (argv, CREATE_MS, &out, &err);
    if (rc != 0)
        fprintf (stderr, "rb_rcluster: redis-cli --cluster create: %d\n%s%s\n",
                 rc, out ? out : "", err ? err : "");
    free (out);
    free (err);
    return rc ? -1 : 0;
}

rb_rcluster_t *
rb_rcluster_start (int masters, int replicas_per_master)
{
    assert (masters >= 1 && masters <= 16);
    assert (replicas_per_master >= 0 && replicas_per_master <= 4);
    rb_rcluster_t *self = (rb_rcluster_t *) calloc (1, sizeof *self);
    assert (self);
    self->owner_a = (int *) calloc (SLOTS, sizeof (int));
    self->owner_b = (int *) calloc (SLOTS, sizeof (int));
    assert (self->owner_a && self->owner_b);
    self->masters = masters;
    int total = masters * (1 + replicas_per_master), rc = 0;
    for (int i = 0; rc == 0 && i < total; i++, self->count++)
        rc = s_start_node (&self->nodes[i]);
    size_t used = 0;
    for (int i = 0; rc == 0 && i < masters; i++)
        used +=
            (size_t) snprintf (self->seeds + used, sizeof self->seeds - used,
                               "%s%s", i ? "," : "", self->nodes[i].address);
    if (rc == 0)
        rc = s_create (self, replicas_per_master);
    if (rc == 0)
        rc = rb_rcluster_wait_stable (self, CREATE_MS);
    for (int i = 0; rc == 0 && i < masters; i++)
        if (!rb_rcluster_is_master (self, i)) {
            fprintf (stderr, "rb_rcluster: node %d was not made a master\n", i);
            rc = -1;
        }
    if (rc) {
        s_print_logs (self);
        rb_rcluster_stop (&self);
    }
    return self;
}

const char *
rb_rcluster_seeds (rb_rcluster_t *self)
{
    return self->seeds;
}

int
rb_rcluster_count (rb_rcluster_t *self)
{
    return self->count;
}

const char *
rb_rcluster_address (rb_rcluster_t *self, int i)
{
    assert (i >= 0 && i < self->count);
    return self->nodes[i].address;
}

int
rb_rcluster_port (rb_rcluster_t *self, int i)
{
    assert (i >= 0 && i < self->count);
    return self->nodes[i].port;
}

const char *
rb_rcluster_id (rb_rcluster_t *self, int i)
{
    assert (i >= 0 && i < self->count);
    return self->nodes[i].id;
}

pid_t
rb_rcluster_pid (rb_rcluster_t *self, int i)
{
    assert (i >= 0 && i < self->count);
    return self->nodes[i].proc ? rb_proc_pid (self->nodes[i].proc) : 0;
}

bool
rb_rcluster_is_master (rb_rcluster_t *self, int i)
{
    assert (i >= 0 && i < self->count);
    rb_rnode_t *n = &self->nodes[i];
    redisReply *r = n->proc ? s_cmd (n->port, "ROLE") : NULL;
    bool master = r && r->type == REDIS_REPLY_ARRAY && r->elements >= 1 &&
                  r->element[0]->type == REDIS_REPLY_STRING &&
                  strcmp (r->element[0]->str, "master") == 0;
    freeReplyObject (r);
    return master;
}

int
rb_rcluster_slot_owner (rb_rcluster_t *self, int slot)
{
    assert (slot >= 0 && slot < SLOTS);
    for (int i = 0; i < self->count; i++)
        if (self->nodes[i].proc) {
            s_owners (&self->nodes[i], self->owner_a);
            if (self->owner_a[slot])
                return s_node_at (self, self->owner_a[slot]);
        }
    return -1;
}

redisReply *
rb_rcluster_cmd (rb_rcluster_t *self, int i, const char *fmt, ...)
{
    assert (i >= 0 && i < self->count);
    if (!self->nodes[i].proc)
        return NULL;
    va_list args;
    va_start (args, fmt);
    redisReply *r = s_vcmd (self->nodes[i].port, fmt, args);
    va_end (args);
    return r;
}

void
rb_rcluster_kill (rb_rcluster_t *self, int i)
{
    assert (i >= 0 && i < self->count);
    rb_proc_destroy (&self->nodes[i].proc); /* SIGKILL, reaped */
}

int
rb_rcluster_kill_master (rb_rcluster_t *self, int i)
{
    assert (i >= 0 && i < self->count);
    if (!rb_rcluster_is_master (self, i)) {
        fprintf (stderr, "rb_rcluster: node %d is no master\n", i);
        return -1;
    }
    rb_proc_destroy (&self->nodes[i].proc); /* SIGKILL, reaped */
    /* stable means no slot on a dead node: a replica took them over */
    return rb_rcluster_wait_stable (self, FAILOVER_MS);
}

int
rb_rcluster_restart (rb_rcluster_t *self, int i)
{
    assert (i >= 0 && i < self->count);
    rb_rnode_t *n = &self->nodes[i];
    assert (!n->proc);
    int64_t deadline = rb_clock_ms () + READY_MS;
    while (s_launch (n) && rb_clock_ms () < deadline)
        poll (NULL, 0, LOOK_MS); /* the port may be held a moment */
    if (!n->proc) {
        fprintf (stderr, "rb_rcluster: node %d did not come back\n", i);
        s_print_logs (self);
        return -1;
    }
    deadline = rb_clock_ms () + FAILOVER_MS;
    while (!s_says (n, "INFO replication", "role:slave"))
        if (rb_clock_ms () >= deadline) {
            fprintf (stderr,
                     "rb_rcluster: node %d did not rejoin as a "
                     "replica\n",
                     i);
            return -1;
        } else
            poll (NULL, 0, LOOK_MS);
    return rb_rcluster_wait_stable (self, FAILOVER_MS);
}

rb_proc_t *
rb_rcluster_reshard_start (rb_rcluster_t *self, int from, int to, int slots)
{
    assert (from >= 0 && from < self->count && to >= 0 && to < self->count);
    char n[16];
    snprintf (n, sizeof n, "%d", slots);
    char *const argv[] = {CLI_BIN,
                          "--cluster",
                          "reshard",
                          self->nodes[from].address,
                          "--cluster-from",
                          self->nodes[from].id,
                          "--cluster-to",
                          self->nodes[to].id,
                          "--cluster-slots",
                          n,
                          "--cluster-yes",
                          "--cluster-pipeline",
                          "5",
                          NULL};
    return rb_proc_start (argv, NULL);
}

void
rb_rcluster_stop (rb_rcluster_t **self_p)
{
    rb_rcluster_t *self = *self_p;
    if (!self)
        return;
    for (int i = 0; i < self->count; i++) {
        rb_proc_destroy (&self->nodes[i].proc);
        if (self->nodes[i].dir)
            rb_remove_tree (self->nodes[i].dir);
        free (self->nodes[i].dir);
    }
    free (self->owner_a);
    free (self->owner_b);
    free (self);
    *self_p = NULL;
}
