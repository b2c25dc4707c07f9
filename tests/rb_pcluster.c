/*  rb_pcluster: a cluster of real processes (see rb_pcluster.h). */
#include "rb_pcluster.h"

#include <assert.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define START_MS 10000 /* a daemon says it serves within this */
#define STOP_MS  5000  /* and exits this long after SIGTERM */
#define ARGS_MAX 24

/*  A daemon's command line, built a word at a time. */
typedef struct {
    char *argv[ARGS_MAX + 1];
    int n;
} args_t;

static void
s_arg (args_t *a, const char *word)
{
    if (a->n < ARGS_MAX)
        a->argv[a->n++] = (char *) word;
    a->argv[a->n] = NULL;
}

/*  The flags every daemon shares: -c, and its keys under CurveZMQ. */
static void
s_common (rb_pcluster_t *self, args_t *a, const char *role, const char *name)
{
    if (self->config[0]) {
        s_arg (a, "-c");
        s_arg (a, self->config);
    }
    if (!self->c->curve)
        return;
    s_arg (a, "--curve-cert");
    s_arg (a, rb_cluster_key (self->c, role, name));
    if (strcmp (role, "broker") == 0) {
        s_arg (a, "--authorized-keys");
        s_arg (a, self->c->authorized);
    } else {
        s_arg (a, "--broker-cert");
        s_arg (a, self->c->broker_cert);
    }
}

/*  Starts a daemon with its log in the temp dir and waits for ready in
    it; the line holding ready is copied to line when given. NULL, with
    its log on stderr, if it did not say it.  */
static rb_proc_t *
s_daemon (rb_pcluster_t *self, args_t *a, const char *name, const char *ready,
          char *line, size_t size)
{
    char *log = zsys_sprintf ("%s/%s.log", self->dir, name);
    rb_proc_t *p = rb_proc_start (a->argv, log);
    zstr_free (&log);
    if (p && rb_proc_wait_output (p, ready, START_MS) == 0) {
        char *out = rb_proc_stdout (p);
        const char *at = strstr (out, ready);
        if (line && at)
            snprintf (line, size, "%.*s", (int) strcspn (at, "\n"), at);
        free (out);
        return p;
    }
    char *out = p ? rb_proc_stdout (p) : NULL;
    fprintf (stderr, "rb_pcluster: %s did not start:\n%s\n", name,
             out ? out : "(could not run it)");
    free (out);
    rb_proc_destroy (&p);
    return NULL;
}

/*  Starts broker i (0, or 1 of a pair) into *p; its endpoints in
    self->bus_ep[i] and (the first one's tap) self->c->tap.  */
static int
s_broker (rb_pcluster_t *self, const rb_pcluster_opts_t *opts, int i,
          rb_proc_t **p)
{
    char *bin = zsys_sprintf ("%s/recobus-broker", opts->bin_dir);
    char beat[16];
    snprintf (beat, sizeof beat, "%d",
              opts->heartbeat_ms > 0 ? opts->heartbeat_ms : 500);
    args_t a = {{bin}, 1};
    s_arg (&a, "--bind");
    s_arg (&a, "tcp://127.0.0.1:!");
    s_arg (&a, "--tap");
    s_arg (&a, opts->tap ? "tcp://127.0.0.1:!" : "");
    s_arg (&a, "--heartbeat");
    s_arg (&a, beat);
    s_common (self, &a, "broker", i ? "broker-2" : "broker");
    char line[600] = "", bus[128] = "", tap[256] = "";
    *p = s_daemon (self, &a, i ? "broker-2" : "broker", "recobus-broker: bus ",
                   line, sizeof line);
    zstr_free (&bin);
    if (!*p ||
        sscanf (line, "recobus-broker: bus %127s tap %255s", bus, tap) != 2)
        return -1;
    snprintf (self->bus_ep[i], sizeof self->bus_ep[i], "%s", bus);
    if (i == 0)
        snprintf (self->c->tap, sizeof self->c->tap, "%s",
                  strcmp (tap, "-") ? tap : "");
    return 0;
}

/*  The broker, or both of a pair; c->bus is what the daemons are given. */
static int
s_brokers (rb_pcluster_t *self, const rb_pcluster_opts_t *opts)
{
    int rc = s_broker (self, opts, 0, &self->broker);
    if (rc == 0 && opts->pair)
        rc = s_broker (self, opts, 1, &self->broker2);
    if (rc == 0)
        snprintf (self->c->bus, sizeof self->c->bus, "%s%s%s", self->bus_ep[0],
                  opts->pair ? "," : "", opts->pair ? self->bus_ep[1] : "");
    return rc;
}

/*  Where DB node a finds Redis: the sentinels, or the one address. */
static void
s_redis_flags (rb_pcluster_t *self, const rb_pcluster_opts_t *opts, args_t *a)
{
    if (opts->sentinels && opts->master_name) {
        s_arg (a, "--redis-sentinels");
        s_arg (a, opts->sentinels);
        s_arg (a, "--redis-master-name");
        s_arg (a, opts->master_name);
    } else if (self->c->rcluster) {
        s_arg (a, "--redis-cluster");
        s_arg (a, rb_rcluster_seeds (self->c->rcluster));
    } else {
        s_arg (a, "--redis");
        s_arg (a, self->c->redis_address);
    }
}

/*  DB node db-1 (which creates the dataset) or db-2, into *p. */
static int
s_db (rb_pcluster_t *self, const rb_pcluster_opts_t *opts, int i, bool init,
      rb_proc_t **p)
{
    char *bin = zsys_sprintf ("%s/recobus-db", opts->bin_dir);
    const char *name = i ? "db-2" : "db-1";
    args_t a = {{bin}, 1};
    const char *words[] = {"--name",     name,           "--broker",
                           self->c->bus, "--backup-dir", self->c->backups};
    for (size_t w = 0; w < sizeof words / sizeof words[0]; w++)
        s_arg (&a, words[w]);
    s_redis_flags (self, opts, &a);
    if (init)
        s_arg (&a, "--init");
    s_common (self, &a, "db", name);
    char *ready = zsys_sprintf ("%s serving", name);
    *p = s_daemon (self, &a, name, ready, NULL, 0);
    zstr_free (&ready);
    zstr_free (&bin);
    return *p ? 0 : -1;
}

/*  The ops node (named ops-serve: no --name, no certificate's name
    under plain TCP), its journal in the temp dir.  */
static int
s_ops (rb_pcluster_t *self, const rb_pcluster_opts_t *opts)
{
    char *bin = zsys_sprintf ("%s/recobus-ops", opts->bin_dir);
    snprintf (self->journal, sizeof self->journal, "%s/ops.journal", self->dir);
    args_t a = {{bin}, 1};
    s_common (self, &a, "ops", "ops-serve");
    const char *words[] = {"--broker",    self->c->bus,       "--journal",
                           self->journal, "--watch-interval", "200",
                           "serve"};
    for (size_t w = 0; w < sizeof words / sizeof words[0]; w++)
        s_arg (&a, words[w]);
    self->ops = s_daemon (self, &a, "ops-serve", "serving as ", NULL, 0);
    zstr_free (&bin);
    return self->ops ? 0 : -1;
}

static int
s_service (rb_pcluster_t *self, const rb_pcluster_opts_t *opts, int i)
{
    const rb_pcluster_service_t *s = &opts->services[i];
    char *bin = zsys_sprintf ("%s/recobus-service", opts->bin_dir);
    args_t a = {{bin}, 1};
    const char *words[] = {"--name",   s->name,     "--policy",
                           s->policy,  "--listen",  "tcp://127.0.0.1:*",
                           "--broker", self->c->bus};
    for (size_t w = 0; w < sizeof words / sizeof words[0]; w++)
        s_arg (&a, words[w]);
    s_common (self, &a, "service", s->name);
    char line[600] = "";
    self->svc[i] = s_daemon (self, &a, s->name, "serving terminals on ", line,
                             sizeof line);
    zstr_free (&bin);
    const char *ep = strstr (line, " on ");
    if (!self->svc[i] || !ep)
        return -1;
    snprintf (self->svc_ep[i], sizeof self->svc_ep[i], "%s", ep + 4);
    self->svc_name[i] = s->name;
    self->n_svc = i + 1;
    return 0;
}

static int
s_config (rb_pcluster_t *self, const char *text)
{
    if (!text)
        return 0;
    snprintf (self->config, sizeof self->config, "%s/recobus.cfg", self->dir);
    FILE *f = fopen (self->config, "w");
    int rc = f && fputs (text, f) >= 0 ? 0 : -1;
    if (f && fclose (f))
        rc = -1;
    if (rc)
        fprintf (stderr, "rb_pcluster: cannot write %s\n", self->config);
    return rc;
}

rb_pcluster_t *
rb_pcluster_new (const rb_pcluster_opts_t *opts)
{
    rb_pcluster_t *self = (rb_pcluster_t *) calloc (1, sizeof *self);
    assert (self && opts && opts->bin_dir);
    self->opts = *opts;
    rb_cluster_opts_t co = {.redis = opts->redis,
                            .no_broker = true,
                            .curve = opts->curve,
                            .redis_masters = opts->redis_masters};
    self->c = rb_cluster_new (&co); /* says why when it cannot */
    self->dir = rb_temp_dir ("rb-pcluster");
    int rc = self->c && self->dir ? 0 : -1;
    if (rc == 0)
        rc = s_config (self, opts->config);
    if (rc == 0)
        rc = s_brokers (self, opts);
    if (rc == 0)
        rc = s_db (self, opts, 0, true, &self->db);
    if (rc == 0 && opts->db2)
        rc = s_db (self, opts, 1, false, &self->db2);
    if (rc == 0 && opts->ops_node)
        rc = s_ops (self, opts);
    for (int i = 0;
         rc == 0 && i < RB_PCLUSTER_SERVICES && opts->services[i].name; i++)
        rc = s_service (self, opts, i);
    if (rc)
        rb_pcluster_stop (&self);
    return self;
}

int
rb_pcluster_db_restart (rb_pcluster_t *self, int i)
{
    rb_proc_t **p = i ? &self->db2 : &self->db;
    if (*p) {
        rb_proc_kill (*p, SIGKILL);
        rb_proc_wait (*p, 5000);
        rb_proc_destroy (p);
    }
    return s_db (self, &self->opts, i, false, p);
}

bool
rb_pcluster_alive (rb_pcluster_t *self)
{
    bool alive = rb_proc_wait (self->broker, 0) == -1 &&
                 (!self->broker2 || rb_proc_wait (self->broker2, 0) == -1) &&
                 rb_proc_wait (self->db, 0) == -1 &&
                 (!self->db2 || rb_proc_wait (self->db2, 0) == -1) &&
                 (!self->ops || rb_proc_wait (self->ops, 0) == -1);
    for (int i = 0; i < self->n_svc; i++)
        alive = alive && rb_proc_wait (self->svc[i], 0) == -1;
    return alive;
}

/*  SIGTERM, then its exit status; 0 if it exited 0 (or never ran).  */
static int
s_stop (rb_proc_t **p, const char *name)
{
    if (!*p)
        return 0;
    rb_proc_kill (*p, SIGTERM);
    int status = rb_proc_wait (*p, STOP_MS);
    if (status != 0) {
        char *log = rb_proc_stderr (*p);
        size_t len = strlen (log);
        fprintf (stderr,
                 "rb_pcluster: %s: exit %d after SIGTERM (-1: still "
                 "running); its log ends:\n%s\n",
                 name, status, log + (len > 2000 ? len - 2000 : 0));
        free (log);
    }
    rb_proc_destroy (p);
    return status != 0;
}

int
rb_pcluster_stop (rb_pcluster_t **self_p)
{
    rb_pcluster_t *self = *self_p;
    if (!self)
        return 0;
    int bad = 0;
    for (int i = RB_PCLUSTER_SERVICES - 1; i >= 0; i--)
        bad += s_stop (&self->svc[i], self->svc_name[i] ? self->svc_name[i]
                                                        : "a service node");
    bad += s_stop (&self->ops, "the ops node");
    bad += s_stop (&self->db2, "db-2");
    bad += s_stop (&self->db, "db-1");
    bad += s_stop (&self->broker, "the broker");
    bad += s_stop (&self->broker2, "the second broker");
    rb_cluster_destroy (&self->c);
    if (self->dir)
        rb_remove_tree (self->dir);
    free (self->dir);
    free (self);
    *self_p = NULL;
    return bad;
}
