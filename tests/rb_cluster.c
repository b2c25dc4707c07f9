/*  rb_cluster: a small cluster in one process (see rb_cluster.h). */
#include "rb_cluster.h"
#include "rb_broker.h"
#include "rb_proc.h"

#include <assert.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#define TEST_HEARTBEAT_MS 200 /* the tests' broker: expiries come quickly */

/*  FLUSHALL on the Redis at address. 0, or -1 with a line on stderr. */
static int
s_flush (const char *address)
{
    redisContext *c = rb_redis_connect_at (address);
    redisReply *r = c ? (redisReply *) redisCommand (c, "FLUSHALL") : NULL;
    int rc = r && r->type == REDIS_REPLY_STATUS ? 0 : -1;
    if (c && rc)
        fprintf (stderr, "rb_cluster: FLUSHALL on %s failed\n", address);
    if (r)
        freeReplyObject (r);
    redisFree (c);
    return rc;
}

int
rb_cluster_env_masters (void)
{
    const char *env = getenv ("RECOBUS_REDIS_CLUSTER");
    int n = env ? atoi (env) : 0;
    return n > 0 && n <= 16 ? n : 0;
}

/*  The Redis opts names (flushed), or a throwaway one of our own, or a
    throwaway Redis Cluster.  */
static int
s_redis (rb_cluster_t *self, const rb_cluster_opts_t *opts)
{
    int masters = opts->redis_masters;
    if (!masters && !opts->redis)
        masters = rb_cluster_env_masters ();
    if (masters > 0) {
        self->rcluster = rb_rcluster_start (masters, opts->no_replicas ? 0 : 1);
        return self->rcluster ? 0 : -1;
    }
    if (opts->redis) {
        snprintf (self->redis_address, sizeof self->redis_address, "%s",
                  opts->redis);
        return s_flush (opts->redis);
    }
    self->redis = rb_redis_start (); /* says why when it cannot */
    if (!self->redis)
        return -1;
    snprintf (self->redis_address, sizeof self->redis_address, "%s",
              rb_redis_address (self->redis));
    return 0;
}

/*  With curve: the key dirs and the broker's own pair. */
static int
s_keys (rb_cluster_t *self)
{
    self->curve = true;
    self->paths = zlist_new ();
    zlist_autofree (self->paths);
    snprintf (self->authorized, sizeof self->authorized, "%s/keys/authorized",
              self->backups);
    if (zsys_dir_create ("%s", self->authorized)) {
        fprintf (stderr, "rb_cluster: cannot create %s\n", self->authorized);
        return -1;
    }
    const char *secret = rb_cluster_key (self, "broker", "broker");
    snprintf (self->broker_secret, sizeof self->broker_secret, "%s", secret);
    snprintf (self->broker_cert, sizeof self->broker_cert,
              "%s/keys/broker.cert", self->backups);
    return 0;
}

const char *
rb_cluster_key (rb_cluster_t *self, const char *role, const char *name)
{
    if (!self->curve)
        return NULL;
    char *secret = zsys_sprintf ("%s/keys/%s.cert_secret", self->backups, name);
    if (!zsys_file_exists (secret)) {
        zcert_t *cert = zcert_new ();
        zcert_set_meta (cert, "role", "%s", role);
        zcert_set_meta (cert, "name", "%s", name);
        char *path = zsys_sprintf ("%s/keys/%s.cert", self->backups, name);
        char *pub = zsys_sprintf ("%s/%s.cert", self->authorized, name);
        int rc = zcert_save (cert, path);
        if (rc == 0 && !streq (role, "broker"))
            rc = zcert_save_public (cert, pub);
        assert (rc == 0); /* a temp dir of our own */
        zstr_free (&path);
        zstr_free (&pub);
        zcert_destroy (&cert);
    }
    zlist_append (self->paths, secret);
    const char *kept = (const char *) zlist_last (self->paths);
    zstr_free (&secret);
    return kept;
}

/*  The broker actor on a free port, its endpoints in bus and tap. */
static int
s_broker (rb_cluster_t *self, const rb_cluster_opts_t *opts)
{
    rb_broker_opts_t o;
    rb_broker_opts_default (&o);
    o.bind = "tcp://127.0.0.1:!";
    o.tap = opts->tap ? "tcp://127.0.0.1:!" : "";
    o.heartbeat_ms =
        opts->heartbeat_ms ? opts->heartbeat_ms : TEST_HEARTBEAT_MS;
    if (opts->liveness)
        o.liveness = opts->liveness;
    if (self->curve) {
        o.curve_cert = self->broker_secret;
        o.authorized_keys = self->authorized;
    }
    self->broker = zactor_new (rb_broker_actor, &o);
    if (!self->broker)
        return -1;
    zstr_send (self->broker, "ENDPOINTS");
    char *bus = NULL, *tap = NULL;
    zsock_recv (self->broker, "ss", &bus, &tap);
    snprintf (self->bus, sizeof self->bus, "%s", bus ? bus : "");
    snprintf (self->tap, sizeof self->tap, "%s", tap ? tap : "");
    zstr_free (&bus);
    zstr_free (&tap);
    if (*self->bus && (!opts->tap || *self->tap))
        return 0;
    fprintf (stderr, "rb_cluster: the broker did not bind\n");
    return -1;
}

/*  A fresh backup dir each time: a DB node remembers its dataset there,
    and would rightly refuse a new one as foreign.  */
static int
s_backups (rb_cluster_t *self)
{
    char *dir = rb_temp_dir ("rb-cluster"); /* says why when it cannot */
    if (!dir)
        return -1;
    int rc = strlen (dir) < sizeof self->backups ? 0 : -1;
    if (rc == 0)
        snprintf (self->backups, sizeof self->backups, "%s", dir);
    else
        fprintf (stderr, "rb_cluster: %s: too long a path\n", dir);
    free (dir);
    return rc;
}

rb_cluster_t *
rb_cluster_new (const rb_cluster_opts_t *opts)
{
    rb_cluster_opts_t none;
    memset (&none, 0, sizeof none);
    if (!opts)
        opts = &none;
    rb_cluster_t *self = (rb_cluster_t *) calloc (1, sizeof *self);
    assert (self);
    if (s_redis (self, opts) || s_backups (self) ||
        (opts->curve && s_keys (self)) ||
        (!opts->no_broker && s_broker (self, opts)))
        rb_cluster_destroy (&self);
    return self;
}

void
rb_cluster_destroy (rb_cluster_t **self_p)
{
    rb_cluster_t *self = *self_p;
    if (!self)
        return;
    zactor_destroy (&self->broker);
    zlist_destroy (&self->paths);
    rb_redis_stop (&self->redis);
    rb_rcluster_stop (&self->rcluster);
    if (*self->backups && rb_remove_tree (self->backups))
        fprintf (stderr, "rb_cluster: could not remove %s\n", self->backups);
    free (self);
    *self_p = NULL;
}

int
rb_cluster_flushall (rb_cluster_t *self)
{
    if (!self->rcluster)
        return s_flush (self->redis_address);
    int rc = 0;
    for (int i = 0; i < rb_rcluster_count (self->rcluster); i++) {
        if (!rb_rcluster_is_master (self->rcluster, i))
            continue;
        redisReply *r = rb_rcluster_cmd (self->rcluster, i, "FLUSHALL");
        if (!r || r->type != REDIS_REPLY_STATUS) {
            fprintf (stderr, "rb_cluster: FLUSHALL on %s failed\n",
                     rb_rcluster_address (self->rcluster, i));
            rc = -1;
        }
        if (r)
            freeReplyObject (r);
    }
    return rc;
}

redisReply *
rb_cluster_redis_cmd (rb_cluster_t *self, int slot, const char *fmt, ...)
{
    va_list args;
    va_start (args, fmt);
    char *cmd = NULL;
    int len = redisvFormatCommand (&cmd, fmt, args);
    va_end (args);
    if (len < 0)
        return NULL;
    const char *address = self->redis_address;
    if (self->rcluster) {
        int owner = rb_rcluster_slot_owner (self->rcluster, slot);
        address = owner >= 0 ? rb_rcluster_address (self->rcluster, owner) : "";
    }
    redisContext *c = *address ? rb_redis_connect_at (address) : NULL;
    redisReply *r = NULL;
    if (c && redisAppendFormattedCommand (c, cmd, (size_t) len) == REDIS_OK) {
        void *reply = NULL;
        if (redisGetReply (c, &reply) == REDIS_OK)
            r = (redisReply *) reply;
    }
    redisFree (c);
    redisFreeCommand (cmd);
    return r;
}

int
rb_cluster_init (rb_cluster_t *self)
{
    rb_db_opts_t o = rb_cluster_db_opts (self, "db-init");
    char err[256];
    int rc = rb_db_init_dataset (&o, err, sizeof err);
    if (rc)
        fprintf (stderr, "rb_cluster: init: %s\n", err);
    return rc;
}

rb_db_opts_t
rb_cluster_db_opts (rb_cluster_t *self, const char *name)
{
    rb_db_opts_t o;
    rb_db_opts_default (&o);
    o.name = name;
    o.broker = self->bus;
    o.redis = self->redis_address;
    if (self->rcluster)
        o.redis_cluster = rb_rcluster_seeds (self->rcluster);
    o.backup_dir = self->backups;
    if (self->curve) {
        o.curve_cert = rb_cluster_key (self, "db", name);
        o.broker_cert = self->broker_cert;
    }
    return o;
}

zactor_t *
rb_cluster_db (rb_cluster_t *self, const char *name)
{
    rb_db_opts_t o = rb_cluster_db_opts (self, name);
    return zactor_new (rb_db_actor, &o); /* it copies its options */
}

rb_service_opts_t
rb_cluster_service_opts (rb_cluster_t *self, const char *name, int policy)
{
    rb_service_opts_t o;
    rb_service_opts_default (&o);
    o.name = name;
    o.policy = policy;
    o.listen = "tcp://127.0.0.1:*";
    o.broker = self->bus;
    if (self->curve) {
        o.curve_cert = rb_cluster_key (self, "service", name);
        o.broker_cert = self->broker_cert;
    }
    return o;
}

zactor_t *
rb_cluster_service (rb_cluster_t *self, const rb_service_opts_t *opts,
                    char *endpoint, size_t size)
{
    zactor_t *svc = zactor_new (rb_service_actor, (void *) opts);
    if (!svc)
        return NULL;
    zstr_send (svc, "ENDPOINT");
    char *ep = zstr_recv (svc);
    snprintf (endpoint, size, "%s", ep ? ep : "");
    zstr_free (&ep);
    if (*endpoint)
        return svc;
    fprintf (stderr, "rb_cluster: service %s could not bind %s\n", opts->name,
             opts->listen);
    zactor_destroy (&svc);
    return NULL;
}

int
rb_status_num (rb_bus_t *bus, int addr, const char *dest, const char *name,
               int timeout_ms, uint64_t missing, uint64_t *value)
{
    rb_body_t req, b;
    rb_body_init (&req, RB_T_STATUS);
    rb_body_init (&b, RB_T_NONE);
    zmsg_t *reply = NULL;
    rb_header_t h;
    int rc = rb_bus_call (bus, addr, dest, &req, (uint32_t) timeout_ms, &reply,
                          &h, &b);
    if (rc == 0 && b.type != RB_T_INFO)
        rc = RB_S_MALFORMED;
    if (rc == 0) {
        *value = missing;
        for (uint32_t i = 0; i < b.n_items; i++)
            if (rb_str_eq (b.items[i].name, name))
                *value = b.items[i].num;
    }
    rb_body_release (&b);
    zmsg_destroy (&reply);
    return rc;
}
