/*  rb_bench_cluster: an in-process cluster for the bench (see header). */
#include "rb_bench_cluster.h"
#include "rb_broker.h"
#include "rb_db.h"
#include "rb_msg.h"
#include "rb_service.h"

#include <string.h>

redisContext *
rb_bench_redis (const rb_bench_opts_t *o)
{
    char host[64];
    snprintf (host, sizeof host, "%s", o->redis);
    char *colon = strrchr (host, ':');
    if (!colon)
        return NULL;
    *colon = '\0';
    redisContext *r = redisConnect (host, atoi (colon + 1));
    if (!r || r->err) {
        fprintf (stderr, "bench: cannot reach Redis at %s\n", o->redis);
        redisFree (r);
        return NULL;
    }
    return r;
}

int
rb_bcluster_fill (const rb_bench_opts_t *o, int n, int value_len)
{
    redisContext *r = rb_bench_redis (o);
    if (!r)
        return -1;
    char *value = (char *) malloc ((size_t) value_len);
    memset (value, 'v', (size_t) value_len);
    int pending = 0, rc = 0;
    for (int i = 0; i < n && rc == 0; i++) {
        char key[32];
        snprintf (key, sizeof key, "rb:r:k%d", i);
        redisAppendCommand (r, "HSET %s v %b s 1 d 0", key, value,
                            (size_t) value_len);
        if (++pending == 1000 || i == n - 1) {
            for (; pending > 0; pending--) {
                void *reply;
                if (redisGetReply (r, &reply) != REDIS_OK)
                    rc = -1;
                freeReplyObject (reply);
            }
        }
    }
    freeReplyObject (redisCommand (r, "HSET rb:meta total %d", n));
    free (value);
    redisFree (r);
    return rc;
}

int
rb_bcluster_start (rb_bcluster_t *c, const rb_bench_opts_t *o,
                   uint32_t cache_size, int policy)
{
    memset (c, 0, sizeof *c);
    redisContext *r = rb_bench_redis (o);
    if (!r)
        return -1;
    freeReplyObject (redisCommand (r, "FLUSHALL"));
    redisFree (r);
    static rb_broker_opts_t bo;
    rb_broker_opts_default (&bo);
    bo.bind = "tcp://127.0.0.1:*";
    bo.tap = "";
    bo.liveness = 1000;
    c->broker = zactor_new (rb_broker_actor, &bo);
    zstr_send (c->broker, "ENDPOINTS");
    char *bus, *tap;
    zsock_recv (c->broker, "ss", &bus, &tap);
    snprintf (c->bus, sizeof c->bus, "%s", bus);
    zstr_free (&bus);
    zstr_free (&tap);
    /* a fresh dir each time: a DB node remembers its dataset there, and
       would rightly refuse the new one as foreign */
    static int n;
    snprintf (c->backups, sizeof c->backups, "%s/backups-%d", o->tmp, ++n);
    static rb_db_opts_t dopts;
    rb_db_opts_default (&dopts);
    dopts.broker = c->bus;
    dopts.redis = o->redis;
    dopts.backup_dir = c->backups;
    zsys_dir_create ("%s", c->backups);
    char err[256];
    if (rb_db_init_dataset (&dopts, err, sizeof err)) {
        fprintf (stderr, "bench: %s\n", err);
        return -1;
    }
    c->db = zactor_new (rb_db_actor, &dopts);
    static rb_service_opts_t so;
    rb_service_opts_default (&so);
    so.name = "bench-svc";
    so.policy = policy;
    so.listen = "tcp://127.0.0.1:*";
    so.broker = c->bus;
    so.cache_size = cache_size;
    so.max_wait_ms = 30000;
    c->service = zactor_new (rb_service_actor, &so);
    zstr_send (c->service, "ENDPOINT");
    char *ep = zstr_recv (c->service);
    snprintf (c->terminals, sizeof c->terminals, "%s", ep);
    zstr_free (&ep);
    rb_bus_opts_t ops = {
        .endpoint = c->bus, .role = RB_ROLE_OPS, .name = "bench-ops"};
    c->ops = rb_bus_new (&ops);
    return rb_bus_wait_ready (c->ops, 5000);
}

void
rb_bcluster_stop (rb_bcluster_t *c)
{
    rb_bus_destroy (&c->ops);
    zactor_destroy (&c->service);
    zactor_destroy (&c->db);
    zactor_destroy (&c->broker);
}

static void
s_send_get (zsock_t *sock, uint64_t corr, int key)
{
    char k[32];
    snprintf (k, sizeof k, "k%d", key);
    rb_header_t h = {.kind = RB_K_REQUEST, .type = RB_T_GET, .corr = corr};
    rb_body_t b;
    rb_body_init (&b, RB_T_GET);
    b.key = rb_str (k);
    rb_msg_send (zsock_resolve (sock), &h, &b);
}

double
rb_bench_terminal (const char *endpoint, int depth, int nkeys, double seconds,
                   rb_samples_t *lat)
{
    zsock_t *sock = zsock_new_dealer (endpoint);
    zsock_set_rcvtimeo (sock, 5000);
    double *sent = (double *) calloc ((size_t) depth, sizeof (double));
    int next_key = 0;
    for (int i = 0; i < depth; i++) {
        sent[i] = rb_now_us ();
        s_send_get (sock, (uint64_t) i, next_key++ % nkeys);
    }
    long done = 0;
    double start = rb_now_us (), end = start + seconds * 1e6, now = start;
    while (now < end) {
        zmsg_t *msg = zmsg_recv (sock);
        if (!msg) {
            done = 0; /* 5 s without an answer: broken, not slow */
            break;
        }
        zframe_t *hf = zmsg_first (msg);
        rb_header_t h;
        now = rb_now_us ();
        if (rb_header_decode (zframe_data (hf), zframe_size (hf), &h, NULL) ==
                0 &&
            h.corr < (uint64_t) depth) {
            if (lat)
                rb_samples_add (lat, now - sent[h.corr]);
            done++;
            sent[h.corr] = now;
            s_send_get (sock, h.corr, next_key++ % nkeys);
        }
        zmsg_destroy (&msg);
    }
    free (sent);
    zsock_destroy (&sock);
    return done / ((now - start) / 1e6);
}
