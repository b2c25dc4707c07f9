/*  test_db: the DB node against a real redis-server and the real broker:
    every state, the whole S1-S11 sequence, tombstones, idempotence, role
    checks, corrupt backups, FLUSHALL, a SIGKILLed node, two nodes on one
    Redis, pushes, and flag and data read together.  */
#include <check.h>
#include <czmq.h>
#include <sysexits.h>

#include "rb_broker.h"
#include "rb_bus.h"
#include "rb_db.h"
#include "rb_msg.h"
#include "rb_proc.h"
#include "rb_redis.h"
#include "rb_testing.h"

static rb_redis_t *s_redis;
static zactor_t *s_broker;
static char s_bus[256];
static char s_backups[256];

static void
s_setup (void)
{
    s_redis = rb_redis_start ();
    ck_assert_ptr_nonnull (s_redis);
    static rb_broker_opts_t o;
    rb_broker_opts_default (&o);
    o.bind = "tcp://127.0.0.1:*";
    o.tap = "";
    o.heartbeat_ms = 200;
    s_broker = zactor_new (rb_broker_actor, &o);
    zstr_send (s_broker, "ENDPOINTS");
    char *bus, *tap;
    zsock_recv (s_broker, "ss", &bus, &tap);
    snprintf (s_bus, sizeof s_bus, "%s", bus);
    zstr_free (&bus);
    zstr_free (&tap);
    snprintf (s_backups, sizeof s_backups, "/tmp/rb-db-test-XXXXXX");
    ck_assert_ptr_nonnull (mkdtemp (s_backups));
}

static void
s_teardown (void)
{
    zactor_destroy (&s_broker);
    rb_redis_stop (&s_redis);
    zsys_dir_delete ("%s", s_backups); /* fails if not empty: fine */
    char *cmd = zsys_sprintf ("rm -rf '%s'", s_backups);
    ck_assert_int_eq (system (cmd), 0);
    zstr_free (&cmd);
}

static rb_db_opts_t
s_db_opts (const char *name)
{
    rb_db_opts_t o;
    rb_db_opts_default (&o);
    o.name = name;
    o.broker = s_bus;
    o.redis = rb_redis_address (s_redis);
    o.backup_dir = s_backups;
    return o;
}

static zactor_t *
s_db_start (const char *name)
{
    static rb_db_opts_t o[4];
    static int next;
    rb_db_opts_t *opts = &o[next++ % 4];
    *opts = s_db_opts (name);
    return zactor_new (rb_db_actor, opts);
}

static void
s_init (void)
{
    rb_db_opts_t o = s_db_opts ("db-init");
    char err[256];
    ck_assert_int_eq (rb_db_init_dataset (&o, err, sizeof err), 0);
}

/*  A test node on the bus, recording pushes it receives. */
typedef struct {
    rb_bus_t *bus;
    int resets, updates, recovered;
    uint64_t last_epoch, last_seq;
    char last_key[80];
} node_t;

static void
s_pushed (rb_bus_t *bus, const rb_header_t *h, const rb_body_t *b,
          zmsg_t **msg_p, void *arg)
{
    node_t *n = (node_t *) arg;
    if (h->type == RB_T_RESET)
        n->resets++, n->last_epoch = b->epoch;
    if (h->type == RB_T_UPDATE)
        n->updates++, n->last_seq = b->seq;
    if (h->type == RB_T_RECOVERED)
        n->recovered++;
    if (b->key.len)
        snprintf (n->last_key, sizeof n->last_key, "%.*s", (int) b->key.len,
                  b->key.ptr);
}

static void
s_node (node_t *n, int role, const char *name)
{
    memset (n, 0, sizeof *n);
    rb_bus_opts_t o = {.endpoint = s_bus, .role = role, .name = name};
    n->bus = rb_bus_new (&o);
    rb_bus_on_push (n->bus, s_pushed, n);
    ck_assert_int_eq (rb_bus_wait_ready (n->bus, 3000), 0);
}

/*  One request to service db: returns 0 or the ERROR status; *out holds
    the reply body (release with s_done).  */
typedef struct {
    zmsg_t *msg;
    rb_header_t h;
    rb_body_t b;
} reply_t;

static int
s_ask (node_t *n, const rb_body_t *req, reply_t *out)
{
    rb_body_init (&out->b, RB_T_NONE);
    return rb_bus_call (n->bus, RB_ADDR_SERVICE, "db", req, 5000, &out->msg,
                        &out->h, &out->b);
}

static void
s_done (reply_t *r)
{
    zmsg_destroy (&r->msg);
    rb_body_release (&r->b);
}

/*  Waits until the DB node's service is up on the broker. */
static void
s_wait_db (node_t *n)
{
    int64_t deadline = zclock_mono () + 5000;
    rb_body_t req;
    rb_body_init (&req, RB_T_STATUS);
    while (zclock_mono () < deadline) {
        reply_t r;
        int rc = s_ask (n, &req, &r);
        s_done (&r);
        if (rc == 0)
            return;
        rb_bus_poll (n->bus, 20); /* bounded: the deadline above */
    }
    ck_abort_msg ("the db service never answered");
}

static int
s_order (node_t *ops, uint64_t seq, const char *key, const char *value)
{
    rb_body_t req;
    rb_body_init (&req, RB_T_ORDER);
    req.seq = seq;
    req.key = rb_str (key);
    req.op = value ? RB_OP_PUT : RB_OP_DELETE;
    req.has_value = value != NULL;
    req.value = rb_str (value);
    reply_t r;
    int rc = s_ask (ops, &req, &r);
    s_done (&r);
    return rc;
}

/*  A GET: *value gets the value ("" for none, "-" when not found). */
typedef struct {
    int rc;
    char value[128];
    uint64_t seq, epoch;
    bool recovering, found;
} got_t;

static got_t
s_get (node_t *n, const char *key)
{
    rb_body_t req;
    rb_body_init (&req, RB_T_GET);
    req.key = rb_str (key);
    reply_t r;
    got_t g;
    memset (&g, 0, sizeof g);
    g.rc = s_ask (n, &req, &r);
    if (g.rc == 0) {
        ck_assert_int_eq (r.b.type, RB_T_DATA);
        g.found = r.b.has_value;
        snprintf (g.value, sizeof g.value, "%.*s", (int) r.b.value.len,
                  g.found ? r.b.value.ptr : "");
        if (!g.found)
            strcpy (g.value, "-");
        g.seq = r.b.seq;
        g.epoch = r.b.epoch;
        g.recovering = r.b.recovering;
    }
    s_done (&r);
    return g;
}

/*  STATUS: the numeric item called name. */
static uint64_t
s_status_num (node_t *n, const char *name)
{
    rb_body_t req;
    rb_body_init (&req, RB_T_STATUS);
    reply_t r;
    ck_assert_int_eq (s_ask (n, &req, &r), 0);
    uint64_t v = UINT64_MAX;
    for (uint32_t i = 0; i < r.b.n_items; i++)
        if (rb_str_eq (r.b.items[i].name, name))
            v = r.b.items[i].num;
    s_done (&r);
    return v;
}

static char *
s_status_text (node_t *n, const char *name)
{
    rb_body_t req;
    rb_body_init (&req, RB_T_STATUS);
    reply_t r;
    ck_assert_int_eq (s_ask (n, &req, &r), 0);
    char *v = NULL;
    for (uint32_t i = 0; i < r.b.n_items; i++)
        if (rb_str_eq (r.b.items[i].name, name))
            v = rb_str_dup (r.b.items[i].text);
    s_done (&r);
    ck_assert_ptr_nonnull (v);
    return v;
}

static void
s_expect_state (node_t *n, const char *state)
{
    char *s = s_status_text (n, "state");
    ck_assert_str_eq (s, state);
    free (s);
}

START_TEST (db_init_creates_a_dataset_only_on_an_empty_redis)
{
    rb_db_opts_t o = s_db_opts ("db-1");
    char err[256];
    ck_assert_int_eq (rb_db_init_dataset (&o, err, sizeof err), 0);
    ck_assert_int_eq (rb_db_init_dataset (&o, err, sizeof err), EX_DATAERR);
    ck_assert_ptr_nonnull (strstr (err, "--init needs an empty Redis"));
    redisReply *r = rb_redis_cmd (s_redis, "HGET rb:meta epoch");
    ck_assert_str_eq (r->str, "1");
    freeReplyObject (r);
    /* any foreign key is enough to refuse */
    rb_redis_restart (s_redis);
    freeReplyObject (rb_redis_cmd (s_redis, "SET somebody else"));
    ck_assert_int_eq (rb_db_init_dataset (&o, err, sizeof err), EX_DATAERR);
    r = rb_redis_cmd (s_redis, "EXISTS rb:meta");
    ck_assert_int_eq (r->integer, 0);
    freeReplyObject (r);
}
END_TEST

START_TEST (db_answers_unavailable_never_not_found_without_a_dataset)
{
    zactor_t *db = s_db_start ("db-1"); /* Redis is empty: no --init */
    node_t svc;
    s_node (&svc, RB_ROLE_SERVICE, "svc-1");
    s_wait_db (&svc);
    got_t g = s_get (&svc, "+81-1");
    ck_assert_int_eq (g.rc, RB_S_UNAVAILABLE);
    s_expect_state (&svc, "needs_restore");
    rb_bus_destroy (&svc.bus);
    zactor_destroy (&db);
}
END_TEST

START_TEST (db_serves_orders_and_gets_in_normal)
{
    s_init ();
    zactor_t *db = s_db_start ("db-1");
    node_t ops, svc;
    s_node (&ops, RB_ROLE_OPS, "ops-1");
    s_node (&svc, RB_ROLE_SERVICE, "svc-1");
    s_wait_db (&ops);
    ck_assert_int_eq (s_order (&ops, 1, "+81-1", "alice"), 0);
    got_t g = s_get (&svc, "+81-1");
    ck_assert_int_eq (g.rc, 0);
    ck_assert_str_eq (g.value, "alice");
    ck_assert_uint_eq (g.seq, 1);
    ck_assert (!g.recovering);
    ck_assert_uint_eq (g.epoch, 1);
    g = s_get (&svc, "+81-2");
    ck_assert_int_eq (g.rc, 0);
    ck_assert (!g.found && !g.recovering);
    s_expect_state (&svc, "normal");
    ck_assert_uint_eq (s_status_num (&svc, "keys"), 1);
    ck_assert_uint_eq (s_status_num (&svc, "watermark"), 1);
    rb_bus_destroy (&ops.bus);
    rb_bus_destroy (&svc.bus);
    zactor_destroy (&db);
}
END_TEST

START_TEST (db_orders_are_idempotent_and_tombstones_stop_old_puts)
{
    s_init ();
    zactor_t *db = s_db_start ("db-1");
    node_t ops;
    s_node (&ops, RB_ROLE_OPS, "ops-1");
    s_wait_db (&ops);
    rb_body_t req;
    rb_body_init (&req, RB_T_ORDER);
    req.seq = 5, req.key = rb_str ("k"), req.op = RB_OP_PUT;
    req.has_value = true, req.value = rb_str ("v5");
    reply_t r;
    ck_assert_int_eq (s_ask (&ops, &req, &r), 0);
    ck_assert_uint_eq (r.b.applied, 1);
    s_done (&r);
    ck_assert_int_eq (s_ask (&ops, &req, &r), 0); /* the same again */
    ck_assert_uint_eq (r.b.applied, 0);
    ck_assert_uint_eq (r.b.skipped, 1);
    s_done (&r);
    ck_assert_int_eq (s_order (&ops, 4, "k", "older"), 0);
    ck_assert_str_eq (s_get (&ops, "k").value, "v5");
    ck_assert_int_eq (s_order (&ops, 7, "k", NULL), 0); /* delete */
    ck_assert_int_eq (s_order (&ops, 6, "k", "replayed"), 0);
    got_t g = s_get (&ops, "k");
    ck_assert (!g.found);
    ck_assert_uint_eq (g.seq, 7);
    ck_assert_uint_eq (s_status_num (&ops, "keys"), 0);
    ck_assert_uint_eq (s_status_num (&ops, "tombstones"), 1);
    ck_assert_int_eq (s_order (&ops, 8, "k", "back"), 0); /* newer: ok */
    ck_assert_str_eq (s_get (&ops, "k").value, "back");
    ck_assert_uint_eq (s_status_num (&ops, "tombstones"), 0);
    rb_bus_destroy (&ops.bus);
    zactor_destroy (&db);
}
END_TEST

START_TEST (db_refuses_ops_requests_from_other_roles)
{
    s_init ();
    zactor_t *db = s_db_start ("db-1");
    node_t svc;
    s_node (&svc, RB_ROLE_SERVICE, "svc-1");
    s_wait_db (&svc);
    ck_assert_int_eq (s_order (&svc, 1, "k", "v"), RB_S_FORBIDDEN);
    int types[] = {RB_T_DIFF, RB_T_RECOVERY_LIST, RB_T_RECOVERY_END,
                   RB_T_BACKUP, RB_T_RESTORE};
    for (int i = 0; i < 5; i++) {
        rb_body_t req;
        rb_body_init (&req, types[i]);
        reply_t r;
        ck_assert_int_eq (s_ask (&svc, &req, &r), RB_S_FORBIDDEN);
        s_done (&r);
    }
    ck_assert (!s_get (&svc, "k").found);
    ck_assert_uint_eq (s_status_num (&svc, "watermark"), 0);
    rb_bus_destroy (&svc.bus);
    zactor_destroy (&db);
}
END_TEST

START_TEST (db_flushall_while_running_means_needs_restore)
{
    s_init ();
    zactor_t *db = s_db_start ("db-1");
    node_t ops;
    s_node (&ops, RB_ROLE_OPS, "ops-1");
    s_wait_db (&ops);
    ck_assert_int_eq (s_order (&ops, 1, "k", "v"), 0);
    freeReplyObject (rb_redis_cmd (s_redis, "FLUSHALL"));
    ck_assert_int_eq (s_get (&ops, "k").rc, RB_S_UNAVAILABLE);
    ck_assert_int_eq (s_order (&ops, 2, "k", "v2"), RB_S_UNAVAILABLE);
    s_expect_state (&ops, "needs_restore");
    /* a Redis restarted empty is the same disaster */
    rb_redis_restart (s_redis);
    ck_assert_int_eq (s_get (&ops, "k").rc, RB_S_UNAVAILABLE);
    rb_bus_destroy (&ops.bus);
    zactor_destroy (&db);
}
END_TEST

/*  Sends a BACKUP and returns the file's path (caller frees). */
static char *
s_backup (node_t *ops, uint64_t *records, uint64_t *watermark)
{
    rb_body_t req;
    rb_body_init (&req, RB_T_BACKUP);
    reply_t r;
    ck_assert_int_eq (s_ask (ops, &req, &r), 0);
    ck_assert_int_eq (r.b.type, RB_T_BACKUP_DONE);
    char *path = rb_str_dup (r.b.text);
    *records = r.b.records;
    *watermark = r.b.watermark;
    ck_assert_uint_gt (r.b.bytes, 0);
    s_done (&r);
    return path;
}

static int
s_restore (node_t *ops, const char *path, reply_t *r)
{
    rb_body_t req;
    rb_body_init (&req, RB_T_RESTORE);
    req.text = rb_str (path);
    return s_ask (ops, &req, r);
}

static int
s_list (node_t *ops, const rb_entry_t *entries, uint32_t n, bool last,
        reply_t *r)
{
    rb_body_t req;
    rb_body_init (&req, RB_T_RECOVERY_LIST);
    req.entries = (rb_entry_t *) entries;
    req.n_entries = n;
    req.last = last;
    return s_ask (ops, &req, r);
}

static int
s_diff (node_t *ops, const rb_order_t *orders, uint32_t n, reply_t *r)
{
    rb_body_t req;
    rb_body_init (&req, RB_T_DIFF);
    req.orders = (rb_order_t *) orders;
    req.n_orders = n;
    return s_ask (ops, &req, r);
}

static int
s_end (node_t *ops)
{
    rb_body_t req;
    rb_body_init (&req, RB_T_RECOVERY_END);
    reply_t r;
    int rc = s_ask (ops, &req, &r);
    s_done (&r);
    return rc;
}

/*  Pumps a node's bus until cond holds or ms pass. */
#define PUMP_UNTIL(node, cond, ms)                                             \
    do {                                                                       \
        int64_t until_ = zclock_mono () + (ms);                                \
        while (!(cond) && zclock_mono () < until_)                             \
            rb_bus_poll ((node)->bus, 5);                                      \
    } while (0)

START_TEST (db_runs_the_whole_recovery_s1_to_s11)
{
    s_init ();
    zactor_t *db = s_db_start ("db-1");
    node_t ops, svc;
    s_node (&ops, RB_ROLE_OPS, "ops-1");
    s_node (&svc, RB_ROLE_SERVICE, "svc-1");
    s_wait_db (&ops);
    for (int i = 1; i <= 5; i++) {
        char key[16], value[16];
        snprintf (key, sizeof key, "k%d", i);
        snprintf (value, sizeof value, "v%d", i);
        ck_assert_int_eq (s_order (&ops, (uint64_t) i, key, value), 0);
    }
    uint64_t records, watermark;
    char *path = s_backup (&ops, &records, &watermark);
    ck_assert_uint_eq (records, 5);
    ck_assert_uint_eq (watermark, 5);
    /* after the backup: k1 updated, k6 created, k2 deleted */
    ck_assert_int_eq (s_order (&ops, 6, "k1", "v1-new"), 0);
    ck_assert_int_eq (s_order (&ops, 7, "k6", "v6"), 0);
    ck_assert_int_eq (s_order (&ops, 8, "k2", NULL), 0);
    /* disaster */
    freeReplyObject (rb_redis_cmd (s_redis, "FLUSHALL"));
    ck_assert_int_eq (s_get (&svc, "k3").rc, RB_S_UNAVAILABLE);
    /* S1, S2: restore, then recovering by itself; services get RESET */
    reply_t r;
    ck_assert_int_eq (s_restore (&ops, "", &r), 0);
    ck_assert_int_eq (r.b.type, RB_T_RESTORED);
    ck_assert_uint_eq (r.b.records, 5);
    ck_assert_uint_eq (r.b.watermark, 5);
    ck_assert_uint_eq (r.b.epoch, 2);
    s_done (&r);
    PUMP_UNTIL (&svc, svc.resets == 1, 2000);
    ck_assert_int_eq (svc.resets, 1);
    ck_assert_uint_eq (svc.last_epoch, 2);
    s_expect_state (&ops, "recovering");
    ck_assert_uint_eq (s_status_num (&ops, "restored_watermark"), 5);
    /* before the list's last batch every key is flagged, even absent ones */
    got_t g = s_get (&svc, "k3");
    ck_assert (g.recovering);
    ck_assert_str_eq (g.value, "v3");
    g = s_get (&svc, "k6");
    ck_assert (g.recovering && !g.found);
    g = s_get (&svc, "k1"); /* svc saw k1 flagged: a RECOVERED push is due */
    ck_assert (g.recovering);
    ck_assert_str_eq (g.value, "v1");
    /* S3, S4: the recovery list, in two batches; k3 is already current */
    rb_entry_t first[] = {{rb_str ("k1"), 6}, {rb_str ("k6"), 7}};
    rb_entry_t second[] = {{rb_str ("k2"), 8}, {rb_str ("k3"), 3}};
    ck_assert_int_eq (s_list (&ops, first, 2, false, &r), 0);
    ck_assert_uint_eq (r.b.flagged, 2);
    s_done (&r);
    ck_assert (s_get (&svc, "k3").recovering); /* list not complete yet */
    ck_assert_int_eq (s_list (&ops, second, 2, true, &r), 0);
    ck_assert_uint_eq (r.b.flagged, 1);
    ck_assert_uint_eq (r.b.current, 1);
    s_done (&r);
    /* k3 was answered flagged and is current now: RECOVERED for it */
    PUMP_UNTIL (&svc, svc.recovered >= 1, 2000);
    ck_assert_int_eq (svc.recovered, 1);
    ck_assert_str_eq (svc.last_key, "k3");
    /* S5: only the keys behind their targets are flagged now */
    g = s_get (&svc, "k3");
    ck_assert (!g.recovering);
    ck_assert_str_eq (g.value, "v3");
    ck_assert (s_get (&svc, "k1").recovering);
    ck_assert (s_get (&svc, "k2").recovering);
    g = s_get (&svc, "k6");
    ck_assert (g.recovering && !g.found); /* "not found, recovering" */
    ck_assert_uint_eq (s_status_num (&ops, "recovering"), 3);
    ck_assert_int_eq (s_end (&ops), RB_S_INCOMPLETE); /* S10 too early */
    /* S8, S9: the diffs; each clears its flag */
    rb_order_t diffs[] = {
        {6, rb_str ("k1"), RB_OP_PUT, true, rb_str ("v1-new")},
        {7, rb_str ("k6"), RB_OP_PUT, true, rb_str ("v6")},
        {8, rb_str ("k2"), RB_OP_DELETE, false, {NULL, 0}},
    };
    ck_assert_int_eq (s_diff (&ops, diffs, 1, &r), 0);
    ck_assert_uint_eq (r.b.applied, 1);
    ck_assert_uint_eq (r.b.cleared, 1);
    s_done (&r);
    g = s_get (&svc, "k1");
    ck_assert (!g.recovering);
    ck_assert_str_eq (g.value, "v1-new");
    PUMP_UNTIL (&svc, svc.recovered >= 2, 2000);
    ck_assert_int_eq (svc.recovered, 2);
    ck_assert_str_eq (svc.last_key, "k1");
    ck_assert_int_eq (s_diff (&ops, diffs + 1, 2, &r), 0);
    ck_assert_uint_eq (r.b.cleared, 2);
    s_done (&r);
    PUMP_UNTIL (&svc, svc.recovered >= 4, 2000);
    ck_assert_int_eq (svc.recovered, 4);
    /* S10, S11 */
    ck_assert_int_eq (s_end (&ops), 0);
    s_expect_state (&ops, "normal");
    g = s_get (&svc, "k2");
    ck_assert (!g.found && !g.recovering);
    g = s_get (&svc, "k6");
    ck_assert_str_eq (g.value, "v6");
    ck_assert (!g.recovering);
    ck_assert_uint_eq (g.epoch, 2);
    ck_assert_uint_eq (s_status_num (&ops, "keys"), 5);
    ck_assert_uint_eq (s_status_num (&ops, "tombstones"), 1);
    ck_assert_int_eq (s_end (&ops), 0); /* again: still fine */
    /* normal again: an order pushes UPDATE to the node that fetched */
    int before = svc.updates;
    ck_assert_int_eq (s_order (&ops, 9, "k6", "v6b"), 0);
    PUMP_UNTIL (&svc, svc.updates > before, 2000);
    ck_assert_int_eq (svc.updates, before + 1);
    ck_assert_uint_eq (svc.last_seq, 9);
    free (path);
    rb_bus_destroy (&ops.bus);
    rb_bus_destroy (&svc.bus);
    zactor_destroy (&db);
}
END_TEST

/*  Copies a file, flipping the byte at offset (or cutting it there). */
static char *
s_damaged_copy (const char *path, long offset, bool truncate)
{
    char *copy = zsys_sprintf ("%s/damaged-%ld%s.rbb", s_backups, offset,
                               truncate ? "t" : "f");
    FILE *in = fopen (path, "rb");
    FILE *out = fopen (copy, "wb");
    ck_assert (in && out);
    int c;
    long at = 0;
    while ((c = fgetc (in)) != EOF) {
        if (at == offset && truncate)
            break;
        fputc (at == offset ? c ^ 0x01 : c, out);
        at++;
    }
    fclose (in);
    fclose (out);
    return copy;
}

START_TEST (db_refuses_a_damaged_backup_and_leaves_redis_as_it_was)
{
    s_init ();
    zactor_t *db = s_db_start ("db-1");
    node_t ops;
    s_node (&ops, RB_ROLE_OPS, "ops-1");
    s_wait_db (&ops);
    for (int i = 1; i <= 20; i++) {
        char key[16];
        snprintf (key, sizeof key, "k%d", i);
        ck_assert_int_eq (s_order (&ops, (uint64_t) i, key, "some value"), 0);
    }
    uint64_t records, watermark;
    char *path = s_backup (&ops, &records, &watermark);
    ck_assert_int_eq (s_order (&ops, 21, "k1", "after"), 0);
    zfile_t *f = zfile_new (NULL, path);
    long size = (long) zfile_cursize (f);
    zfile_destroy (&f);
    long offsets[] = {0, 9, 20, 60, size / 2, size - 13, size - 5, size - 1};
    for (size_t i = 0; i < sizeof offsets / sizeof offsets[0]; i++) {
        for (int cut = 0; cut < 2; cut++) {
            char *bad = s_damaged_copy (path, offsets[i], cut);
            reply_t r;
            int rc = s_restore (&ops, bad, &r);
            ck_assert_msg (rc == RB_S_CORRUPT, "offset %ld cut %d: %s",
                           offsets[i], cut, rb_code_name (rc));
            s_done (&r);
            unlink (bad);
            zstr_free (&bad);
        }
    }
    /* untouched: still normal, still the newest data, same epoch */
    s_expect_state (&ops, "normal");
    got_t g = s_get (&ops, "k1");
    ck_assert_str_eq (g.value, "after");
    ck_assert_uint_eq (g.epoch, 1);
    ck_assert_uint_eq (s_status_num (&ops, "keys"), 20);
    free (path);
    rb_bus_destroy (&ops.bus);
    zactor_destroy (&db);
}
END_TEST

START_TEST (db_two_nodes_on_one_redis_give_the_same_answers)
{
    s_init ();
    zactor_t *db1 = s_db_start ("db-1");
    zactor_t *db2 = s_db_start ("db-2");
    node_t ops;
    s_node (&ops, RB_ROLE_OPS, "ops-1");
    s_wait_db (&ops);
    for (int i = 1; i <= 40; i++) {
        char key[16], value[16];
        snprintf (key, sizeof key, "k%d", i);
        snprintf (value, sizeof value, "v%d", i);
        ck_assert_int_eq (s_order (&ops, (uint64_t) i, key, value), 0);
    }
    /* the same answers whichever node serves, read node by node */
    for (int n = 1; n <= 2; n++) {
        char node[8];
        snprintf (node, sizeof node, "db-%d", n);
        for (int i = 1; i <= 40; i++) {
            char key[16], value[16];
            snprintf (key, sizeof key, "k%d", i);
            snprintf (value, sizeof value, "v%d", i);
            rb_body_t req;
            rb_body_init (&req, RB_T_GET);
            req.key = rb_str (key);
            reply_t r;
            rb_body_init (&r.b, RB_T_NONE);
            ck_assert_int_eq (rb_bus_call (ops.bus, RB_ADDR_NODE, node, &req,
                                           3000, &r.msg, &r.h, &r.b),
                              0);
            ck_assert (rb_str_eq (r.b.value, value));
            ck_assert_str_eq (r.h.sender, node);
            s_done (&r);
        }
    }
    /* a restore through either is seen by both */
    uint64_t records, watermark;
    char *path = s_backup (&ops, &records, &watermark);
    reply_t r;
    ck_assert_int_eq (s_restore (&ops, path, &r), 0);
    s_done (&r);
    for (int n = 1; n <= 2; n++) {
        rb_body_t req;
        rb_body_init (&req, RB_T_GET);
        req.key = rb_str ("k7");
        rb_body_init (&r.b, RB_T_NONE);
        ck_assert_int_eq (rb_bus_call (ops.bus, RB_ADDR_NODE,
                                       n == 1 ? "db-1" : "db-2", &req, 3000,
                                       &r.msg, &r.h, &r.b),
                          0);
        ck_assert (r.b.recovering);
        ck_assert_uint_eq (r.b.epoch, 2);
        s_done (&r);
    }
    free (path);
    rb_bus_destroy (&ops.bus);
    zactor_destroy (&db1);
    zactor_destroy (&db2);
}
END_TEST

/*  Answers collected from many GETs in flight at once. */
typedef struct {
    int answered, old_flagged, new_clear, violations;
} race_t;

static void
s_race_answer (rb_bus_t *bus, const rb_header_t *h, const rb_body_t *b,
               zmsg_t **msg_p, void *arg)
{
    race_t *race = (race_t *) arg;
    race->answered++;
    if (h->kind != RB_K_REPLY)
        return;
    bool fresh = rb_str_eq (b->value, "new");
    if (fresh && !b->recovering)
        race->new_clear++;
    else if (!fresh && b->recovering)
        race->old_flagged++;
    else
        race->violations++; /* a fresh value flagged, or an old one not */
}

static void
s_race_acked (rb_bus_t *bus, const rb_header_t *h, const rb_body_t *b,
              zmsg_t **msg_p, void *arg)
{
    race_t *race = (race_t *) arg;
    race->answered++;
    ck_assert_int_eq (h->kind, RB_K_REPLY);
    ck_assert_uint_eq (b->cleared, 1);
}

START_TEST (db_reads_flag_and_data_together_while_a_diff_lands)
{
    s_init ();
    zactor_t *db = s_db_start ("db-1");
    node_t ops, svc;
    s_node (&ops, RB_ROLE_OPS, "ops-1");
    s_node (&svc, RB_ROLE_SERVICE, "svc-1");
    s_wait_db (&ops);
    ck_assert_int_eq (s_order (&ops, 1, "hot", "old"), 0);
    uint64_t records, watermark;
    char *path = s_backup (&ops, &records, &watermark);
    reply_t r;
    ck_assert_int_eq (s_restore (&ops, path, &r), 0);
    s_done (&r);
    rb_entry_t entry = {rb_str ("hot"), 2};
    ck_assert_int_eq (s_list (&ops, &entry, 1, true, &r), 0);
    s_done (&r);
    /* 600 GETs in flight from one node while the diff goes in from
       another: every answer must pair its value with the right flag */
    race_t race = {0};
    rb_body_t get;
    rb_body_init (&get, RB_T_GET);
    get.key = rb_str ("hot");
    for (int i = 0; i < 300; i++)
        rb_bus_request (svc.bus, RB_ADDR_SERVICE, "db", &get, 5000,
                        s_race_answer, &race);
    /* the diff goes once some answers are back and the rest in flight */
    int64_t until = zclock_mono () + 5000;
    while (race.answered < 50 && zclock_mono () < until)
        rb_bus_poll (svc.bus, 1);
    rb_order_t diff = {2, rb_str ("hot"), RB_OP_PUT, true, rb_str ("new")};
    rb_body_t req;
    rb_body_init (&req, RB_T_DIFF);
    req.orders = &diff;
    req.n_orders = 1;
    rb_bus_request (ops.bus, RB_ADDR_SERVICE, "db", &req, 5000, s_race_acked,
                    &race);
    for (int i = 0; i < 300; i++)
        rb_bus_request (svc.bus, RB_ADDR_SERVICE, "db", &get, 5000,
                        s_race_answer, &race);
    int64_t deadline = zclock_mono () + 10000;
    while (race.answered < 601 && zclock_mono () < deadline) {
        rb_bus_poll (svc.bus, 2);
        rb_bus_poll (ops.bus, 0);
    }
    ck_assert_int_eq (race.answered, 601);
    ck_assert_int_eq (race.violations, 0);
    ck_assert_int_gt (race.old_flagged, 0);
    ck_assert_int_gt (race.new_clear, 0);
    free (path);
    rb_bus_destroy (&ops.bus);
    rb_bus_destroy (&svc.bus);
    zactor_destroy (&db);
}
END_TEST

START_TEST (db_killed_while_recovering_comes_back_recovering)
{
    s_init ();
    char *argv[] = {RECOBUS_BINARY_DIR "/recobus-db",
                    "--broker",
                    s_bus,
                    "--redis",
                    (char *) rb_redis_address (s_redis),
                    "--backup-dir",
                    s_backups,
                    "--name",
                    "db-9",
                    NULL};
    rb_proc_t *p = rb_proc_start (argv, NULL);
    ck_assert_ptr_nonnull (p);
    ck_assert_int_eq (rb_proc_wait_output (p, "serving", 5000), 0);
    node_t ops;
    s_node (&ops, RB_ROLE_OPS, "ops-1");
    s_wait_db (&ops);
    ck_assert_int_eq (s_order (&ops, 1, "a", "a1"), 0);
    ck_assert_int_eq (s_order (&ops, 2, "b", "b1"), 0);
    uint64_t records, watermark;
    char *path = s_backup (&ops, &records, &watermark);
    reply_t r;
    ck_assert_int_eq (s_restore (&ops, path, &r), 0);
    s_done (&r);
    rb_entry_t entries[] = {{rb_str ("a"), 5}, {rb_str ("b"), 2}};
    ck_assert_int_eq (s_list (&ops, entries, 2, true, &r), 0);
    s_done (&r);
    rb_proc_kill (p, SIGKILL);
    ck_assert_int_eq (rb_proc_wait (p, 5000), 128 + SIGKILL);
    rb_proc_destroy (&p);
    p = rb_proc_start (argv, NULL);
    ck_assert_int_eq (rb_proc_wait_output (p, "serving", 5000), 0);
    /* its name frees when the old one expires: wait for the new one */
    s_wait_db (&ops);
    s_expect_state (&ops, "recovering");
    ck_assert (s_get (&ops, "a").recovering);
    ck_assert (!s_get (&ops, "b").recovering);
    ck_assert_uint_eq (s_status_num (&ops, "recovering"), 1);
    free (path);
    rb_bus_destroy (&ops.bus);
    rb_proc_destroy (&p);
}
END_TEST

int
main (void)
{
    Suite *s = suite_create ("db");
    TCase *tc = tcase_create ("db");
    tcase_set_timeout (tc, 60);
    tcase_add_checked_fixture (tc, s_setup, s_teardown);
    tcase_add_test (tc, db_init_creates_a_dataset_only_on_an_empty_redis);
    tcase_add_test (tc,
                    db_answers_unavailable_never_not_found_without_a_dataset);
    tcase_add_test (tc, db_serves_orders_and_gets_in_normal);
    tcase_add_test (tc, db_orders_are_idempotent_and_tombstones_stop_old_puts);
    tcase_add_test (tc, db_refuses_ops_requests_from_other_roles);
    tcase_add_test (tc, db_flushall_while_running_means_needs_restore);
    tcase_add_test (tc, db_runs_the_whole_recovery_s1_to_s11);
    tcase_add_test (tc, db_refuses_a_damaged_backup_and_leaves_redis_as_it_was);
    tcase_add_test (tc, db_two_nodes_on_one_redis_give_the_same_answers);
    tcase_add_test (tc, db_reads_flag_and_data_together_while_a_diff_lands);
    tcase_add_test (tc, db_killed_while_recovering_comes_back_recovering);
    suite_add_tcase (s, tc);
    return rb_test_run (s);
}
