/*  test_db: the DB node against a real redis-server and the real broker:
    every state, the whole S1-S11 sequence, tombstones, idempotence, role
    checks, corrupt backups, FLUSHALL, a SIGKILLed node, two nodes on one
    Redis, pushes, and flag and data read together.  */
#include <check.h>
#include <czmq.h>
#include <sysexits.h>

#include "rb_fixture.h"
#include "rb_proc.h"
#include "rb_testing.h"

static rb_cluster_t *s_c; /* the cluster, alone or the fixture's */
static rb_fixture_t *s_f; /* in its normal state: db-1, ops-1, svc-1 */

static void
s_setup (void)
{
    s_c = rb_fixture_cluster (NULL);
}

static void
s_teardown (void)
{
    rb_cluster_destroy (&s_c);
}

static void
s_setup_normal (void)
{
    s_f = rb_fixture_new (NULL);
    s_c = s_f->c;
}

static void
s_teardown_normal (void)
{
    s_c = NULL;
    rb_fixture_destroy (&s_f);
}

START_TEST (db_init_creates_a_dataset_only_on_an_empty_redis)
{
    rb_db_opts_t o = rb_cluster_db_opts (s_c, "db-1");
    char err[256];
    ck_assert_int_eq (rb_db_init_dataset (&o, err, sizeof err), 0);
    ck_assert_int_eq (rb_db_init_dataset (&o, err, sizeof err), EX_DATAERR);
    ck_assert_ptr_nonnull (strstr (err, "--init needs an empty Redis"));
    redisReply *r = rb_redis_cmd (s_c->redis, "HGET rb:{0}:meta epoch");
    ck_assert_str_eq (r->str, "1");
    freeReplyObject (r);
    /* any foreign key is enough to refuse */
    rb_redis_restart (s_c->redis);
    freeReplyObject (rb_redis_cmd (s_c->redis, "SET somebody else"));
    ck_assert_int_eq (rb_db_init_dataset (&o, err, sizeof err), EX_DATAERR);
    r = rb_redis_cmd (s_c->redis, "EXISTS rb:{0}:meta");
    ck_assert_int_eq (r->integer, 0);
    freeReplyObject (r);
}
END_TEST

START_TEST (db_answers_unavailable_never_not_found_without_a_dataset)
{
    zactor_t *db = rb_cluster_db (s_c, "db-1"); /* Redis is empty: no --init */
    rb_tnode_t svc;
    rb_tnode_start (&svc, s_c, RB_ROLE_SERVICE, "svc-1");
    rb_tnode_wait_db (&svc);
    rb_got_t g = rb_tnode_get (&svc, "+81-1");
    ck_assert_int_eq (g.rc, RB_S_UNAVAILABLE);
    rb_tnode_expect_state (&svc, "needs_restore");
    rb_bus_destroy (&svc.bus);
    zactor_destroy (&db);
}
END_TEST

START_TEST (db_serves_orders_and_gets_in_normal)
{
    rb_tnode_t *ops = &s_f->ops, *svc = &s_f->svc;
    ck_assert_int_eq (rb_tnode_order (ops, 1, "+81-1", "alice"), 0);
    rb_got_t g = rb_tnode_get (svc, "+81-1");
    ck_assert_int_eq (g.rc, 0);
    ck_assert_str_eq (g.value, "alice");
    ck_assert_uint_eq (g.seq, 1);
    ck_assert (!g.recovering);
    ck_assert_uint_eq (g.epoch, 1);
    g = rb_tnode_get (svc, "+81-2");
    ck_assert_int_eq (g.rc, 0);
    ck_assert (!g.found && !g.recovering);
    rb_tnode_expect_state (svc, "normal");
    ck_assert_uint_eq (rb_tnode_status_num (svc, "keys"), 1);
    ck_assert_uint_eq (rb_tnode_status_num (svc, "watermark"), 1);
}
END_TEST

START_TEST (db_orders_are_idempotent_and_tombstones_stop_old_puts)
{
    rb_tnode_t *ops = &s_f->ops;
    rb_body_t req;
    rb_body_init (&req, RB_T_ORDER);
    req.seq = 5, req.key = rb_str ("k"), req.op = RB_OP_PUT;
    req.has_value = true, req.value = rb_str ("v5");
    rb_reply_t r;
    ck_assert_int_eq (rb_tnode_ask (ops, &req, &r), 0);
    ck_assert_uint_eq (r.b.applied, 1);
    rb_reply_done (&r);
    ck_assert_int_eq (rb_tnode_ask (ops, &req, &r), 0); /* the same again */
    ck_assert_uint_eq (r.b.applied, 0);
    ck_assert_uint_eq (r.b.skipped, 1);
    rb_reply_done (&r);
    ck_assert_int_eq (rb_tnode_order (ops, 4, "k", "older"), 0);
    ck_assert_str_eq (rb_tnode_get (ops, "k").value, "v5");
    ck_assert_int_eq (rb_tnode_order (ops, 7, "k", NULL), 0); /* delete */
    ck_assert_int_eq (rb_tnode_order (ops, 6, "k", "replayed"), 0);
    rb_got_t g = rb_tnode_get (ops, "k");
    ck_assert (!g.found);
    ck_assert_uint_eq (g.seq, 7);
    ck_assert_uint_eq (rb_tnode_status_num (ops, "keys"), 0);
    ck_assert_uint_eq (rb_tnode_status_num (ops, "tombstones"), 1);
    ck_assert_int_eq (rb_tnode_order (ops, 8, "k", "back"), 0); /* newer: ok */
    ck_assert_str_eq (rb_tnode_get (ops, "k").value, "back");
    ck_assert_uint_eq (rb_tnode_status_num (ops, "tombstones"), 0);
}
END_TEST

START_TEST (db_refuses_ops_requests_from_other_roles)
{
    /* a service node (the broker refuses it first), and a bench node,
       which the broker lets through for the benchmarks: the DB's own
       request table refuses both */
    rb_tnode_t bench;
    rb_tnode_start (&bench, s_c, RB_ROLE_BENCH, "bench-1");
    rb_tnode_t *senders[] = {&s_f->svc, &bench};
    for (int n = 0; n < 2; n++) {
        rb_tnode_t *from = senders[n];
        ck_assert_int_eq (rb_tnode_order (from, 1, "k", "v"), RB_S_FORBIDDEN);
        int types[] = {RB_T_DIFF, RB_T_RECOVERY_LIST, RB_T_RECOVERY_END,
                       RB_T_BACKUP, RB_T_RESTORE};
        for (int i = 0; i < 5; i++) {
            rb_body_t req;
            rb_body_init (&req, types[i]);
            rb_reply_t r;
            ck_assert_int_eq (rb_tnode_ask (from, &req, &r), RB_S_FORBIDDEN);
            rb_reply_done (&r);
        }
    }
    rb_tnode_stop (&bench);
    ck_assert (!rb_tnode_get (&s_f->svc, "k").found);
    ck_assert_uint_eq (rb_tnode_status_num (&s_f->svc, "watermark"), 0);
}
END_TEST

START_TEST (db_flushall_while_running_means_needs_restore)
{
    rb_tnode_t *ops = &s_f->ops;
    ck_assert_int_eq (rb_tnode_order (ops, 1, "k", "v"), 0);
    freeReplyObject (rb_redis_cmd (s_c->redis, "FLUSHALL"));
    ck_assert_int_eq (rb_tnode_get (ops, "k").rc, RB_S_UNAVAILABLE);
    ck_assert_int_eq (rb_tnode_order (ops, 2, "k", "v2"), RB_S_UNAVAILABLE);
    rb_tnode_expect_state (ops, "needs_restore");
    /* a Redis restarted empty is the same disaster */
    rb_redis_restart (s_c->redis);
    ck_assert_int_eq (rb_tnode_get (ops, "k").rc, RB_S_UNAVAILABLE);
}
END_TEST

START_TEST (db_runs_the_whole_recovery_s1_to_s11)
{
    rb_tnode_t *ops = &s_f->ops, *svc = &s_f->svc;
    for (int i = 1; i <= 5; i++) {
        char key[16], value[16];
        snprintf (key, sizeof key, "k%d", i);
        snprintf (value, sizeof value, "v%d", i);
        ck_assert_int_eq (rb_tnode_order (ops, (uint64_t) i, key, value), 0);
    }
    uint64_t records, watermark;
    char *path = rb_tnode_backup (ops, &records, &watermark);
    ck_assert_uint_eq (records, 5);
    ck_assert_uint_eq (watermark, 5);
    /* after the backup: k1 updated, k6 created, k2 deleted */
    ck_assert_int_eq (rb_tnode_order (ops, 6, "k1", "v1-new"), 0);
    ck_assert_int_eq (rb_tnode_order (ops, 7, "k6", "v6"), 0);
    ck_assert_int_eq (rb_tnode_order (ops, 8, "k2", NULL), 0);
    /* disaster */
    freeReplyObject (rb_redis_cmd (s_c->redis, "FLUSHALL"));
    ck_assert_int_eq (rb_tnode_get (svc, "k3").rc, RB_S_UNAVAILABLE);
    /* S1, S2: restore, then recovering by itself; services get RESET */
    rb_reply_t r;
    ck_assert_int_eq (rb_tnode_restore (ops, "", &r), 0);
    ck_assert_int_eq (r.b.type, RB_T_RESTORED);
    ck_assert_uint_eq (r.b.records, 5);
    ck_assert_uint_eq (r.b.watermark, 5);
    ck_assert_uint_eq (r.b.epoch, 2);
    rb_reply_done (&r);
    RB_PUMP_UNTIL (svc, svc->resets == 1, 2000);
    ck_assert_int_eq (svc->resets, 1);
    ck_assert_uint_eq (svc->last_epoch, 2);
    rb_tnode_expect_state (ops, "recovering");
    ck_assert_uint_eq (rb_tnode_status_num (ops, "restored_watermark"), 5);
    /* before the list's last batch every key is flagged, even absent ones */
    rb_got_t g = rb_tnode_get (svc, "k3");
    ck_assert (g.recovering);
    ck_assert_str_eq (g.value, "v3");
    g = rb_tnode_get (svc, "k6");
    ck_assert (g.recovering && !g.found);
    /* an absent key asked then leaves nothing per key in Redis (a flood
       of random keys during a recovery costs Redis nothing) */
    redisReply *rr = rb_redis_cmd (s_c->redis, "EXISTS rb:{0}:p:k6");
    ck_assert_int_eq (rr->integer, 0);
    freeReplyObject (rr);
    rr = rb_redis_cmd (s_c->redis, "SISMEMBER rb:{0}:polled k6");
    ck_assert_int_eq (rr->integer, 0);
    freeReplyObject (rr);
    g = rb_tnode_get (svc,
                      "k1"); /* svc saw k1 flagged: a RECOVERED push is due */
    ck_assert (g.recovering);
    ck_assert_str_eq (g.value, "v1");
    /* S3, S4: the recovery list, in two batches; k3 is already current:
       its target is stored all the same (no read of the records), and
       GET compares it with the record (S5) */
    rb_entry_t first[] = {{rb_str ("k1"), 6}, {rb_str ("k6"), 7}};
    rb_entry_t second[] = {{rb_str ("k2"), 8}, {rb_str ("k3"), 3}};
    ck_assert_int_eq (rb_tnode_list (ops, first, 2, false, &r), 0);
    ck_assert_uint_eq (r.b.flagged, 2);
    rb_reply_done (&r);
    ck_assert (rb_tnode_get (svc, "k3").recovering); /* list not complete yet */
    ck_assert_int_eq (rb_tnode_list (ops, second, 2, true, &r), 0);
    ck_assert_uint_eq (r.b.flagged, 2);
    ck_assert_uint_eq (r.b.current, 0);
    rb_reply_done (&r);
    /* k3 was answered flagged and is current now: RECOVERED for it */
    RB_PUMP_UNTIL (svc, svc->recovered >= 1, 2000);
    ck_assert_int_eq (svc->recovered, 1);
    ck_assert_str_eq (svc->last_key, "k3");
    /* S5: only the keys behind their targets are flagged now */
    g = rb_tnode_get (svc, "k3");
    ck_assert (!g.recovering);
    ck_assert_str_eq (g.value, "v3");
    ck_assert (rb_tnode_get (svc, "k1").recovering);
    ck_assert (rb_tnode_get (svc, "k2").recovering);
    g = rb_tnode_get (svc, "k6");
    ck_assert (g.recovering && !g.found); /* "not found, recovering" */
    /* the listed keys no order has reached yet, k3 among them */
    ck_assert_uint_eq (rb_tnode_status_num (ops, "recovering"), 4);
    ck_assert_int_eq (rb_tnode_end (ops), RB_S_INCOMPLETE); /* S10 too early */
    /* S8, S9: the diffs; each clears its flag */
    rb_order_t diffs[] = {
        {6, rb_str ("k1"), RB_OP_PUT, true, rb_str ("v1-new")},
        {7, rb_str ("k6"), RB_OP_PUT, true, rb_str ("v6")},
        {8, rb_str ("k2"), RB_OP_DELETE, false, {NULL, 0}},
    };
    ck_assert_int_eq (rb_tnode_diff (ops, diffs, 1, &r), 0);
    ck_assert_uint_eq (r.b.applied, 1);
    ck_assert_uint_eq (r.b.cleared, 1);
    rb_reply_done (&r);
    g = rb_tnode_get (svc, "k1");
    ck_assert (!g.recovering);
    ck_assert_str_eq (g.value, "v1-new");
    RB_PUMP_UNTIL (svc, svc->recovered >= 2, 2000);
    ck_assert_int_eq (svc->recovered, 2);
    ck_assert_str_eq (svc->last_key, "k1");
    ck_assert_int_eq (rb_tnode_diff (ops, diffs + 1, 2, &r), 0);
    ck_assert_uint_eq (r.b.cleared, 2);
    rb_reply_done (&r);
    RB_PUMP_UNTIL (svc, svc->recovered >= 4, 2000);
    ck_assert_int_eq (svc->recovered, 4);
    /* S10, S11: no diff came for k3, which was current: END drops it */
    ck_assert_uint_eq (rb_tnode_status_num (ops, "recovering"), 1);
    ck_assert_int_eq (rb_tnode_end (ops), 0);
    rb_tnode_expect_state (ops, "normal");
    ck_assert_uint_eq (rb_tnode_status_num (ops, "recovering"), 0);
    g = rb_tnode_get (svc, "k2");
    ck_assert (!g.found && !g.recovering);
    g = rb_tnode_get (svc, "k6");
    ck_assert_str_eq (g.value, "v6");
    ck_assert (!g.recovering);
    ck_assert_uint_eq (g.epoch, 2);
    ck_assert_uint_eq (rb_tnode_status_num (ops, "keys"), 5);
    ck_assert_uint_eq (rb_tnode_status_num (ops, "tombstones"), 1);
    ck_assert_int_eq (rb_tnode_end (ops), 0); /* again: still fine */
    /* normal again: an order pushes UPDATE to the node that fetched */
    int before = svc->updates;
    ck_assert_int_eq (rb_tnode_order (ops, 9, "k6", "v6b"), 0);
    RB_PUMP_UNTIL (svc, svc->updates > before, 2000);
    ck_assert_int_eq (svc->updates, before + 1);
    ck_assert_uint_eq (svc->last_seq, 9);
    free (path);
}
END_TEST

/*  Copies a file, flipping the byte at offset (or cutting it there). */
static char *
s_damaged_copy (const char *path, long offset, bool truncate)
{
    char *copy = zsys_sprintf ("%s/damaged-%ld%s.rbb", s_c->backups, offset,
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
    rb_tnode_t *ops = &s_f->ops;
    for (int i = 1; i <= 20; i++) {
        char key[16];
        snprintf (key, sizeof key, "k%d", i);
        ck_assert_int_eq (rb_tnode_order (ops, (uint64_t) i, key, "some value"),
                          0);
    }
    uint64_t records, watermark;
    char *path = rb_tnode_backup (ops, &records, &watermark);
    ck_assert_int_eq (rb_tnode_order (ops, 21, "k1", "after"), 0);
    zfile_t *f = zfile_new (NULL, path);
    long size = (long) zfile_cursize (f);
    zfile_destroy (&f);
    long offsets[] = {0, 9, 20, 60, size / 2, size - 13, size - 5, size - 1};
    for (size_t i = 0; i < sizeof offsets / sizeof offsets[0]; i++) {
        for (int cut = 0; cut < 2; cut++) {
            char *bad = s_damaged_copy (path, offsets[i], cut);
            rb_reply_t r;
            int rc = rb_tnode_restore (ops, bad, &r);
            ck_assert_msg (rc == RB_S_CORRUPT, "offset %ld cut %d: %s",
                           offsets[i], cut, rb_code_name (rc));
            rb_reply_done (&r);
            unlink (bad);
            zstr_free (&bad);
        }
    }
    /* untouched: still normal, still the newest data, same epoch */
    rb_tnode_expect_state (ops, "normal");
    rb_got_t g = rb_tnode_get (ops, "k1");
    ck_assert_str_eq (g.value, "after");
    ck_assert_uint_eq (g.epoch, 1);
    ck_assert_uint_eq (rb_tnode_status_num (ops, "keys"), 20);
    free (path);
}
END_TEST

START_TEST (db_two_nodes_on_one_redis_give_the_same_answers)
{
    rb_tnode_t *ops = &s_f->ops;
    zactor_t *db2 = rb_cluster_db (s_c, "db-2"); /* beside the fixture's */
    ck_assert_int_eq (rb_tnode_wait_listed (ops, "db-2", true, 5000), 0);
    for (int i = 1; i <= 40; i++) {
        char key[16], value[16];
        snprintf (key, sizeof key, "k%d", i);
        snprintf (value, sizeof value, "v%d", i);
        ck_assert_int_eq (rb_tnode_order (ops, (uint64_t) i, key, value), 0);
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
            rb_reply_t r;
            rb_body_init (&r.b, RB_T_NONE);
            ck_assert_int_eq (rb_bus_call (ops->bus, RB_ADDR_NODE, node, &req,
                                           3000, &r.msg, &r.h, &r.b),
                              0);
            ck_assert (rb_str_eq (r.b.value, value));
            ck_assert_str_eq (r.h.sender, node);
            rb_reply_done (&r);
        }
    }
    /* a restore through either is seen by both */
    uint64_t records, watermark;
    char *path = rb_tnode_backup (ops, &records, &watermark);
    rb_reply_t r;
    ck_assert_int_eq (rb_tnode_restore (ops, path, &r), 0);
    rb_reply_done (&r);
    for (int n = 1; n <= 2; n++) {
        rb_body_t req;
        rb_body_init (&req, RB_T_GET);
        req.key = rb_str ("k7");
        rb_body_init (&r.b, RB_T_NONE);
        ck_assert_int_eq (rb_bus_call (ops->bus, RB_ADDR_NODE,
                                       n == 1 ? "db-1" : "db-2", &req, 3000,
                                       &r.msg, &r.h, &r.b),
                          0);
        ck_assert (r.b.recovering);
        ck_assert_uint_eq (r.b.epoch, 2);
        rb_reply_done (&r);
    }
    free (path);
    zactor_destroy (&db2);
}
END_TEST

/*  Answers collected from many GETs in flight at once. */
typedef struct {
    int answered, old_flagged, new_clear, violations;
} race_t;

static void
s_race_answer (rb_bus_t *bus, const rb_header_t *h, const rb_body_t *b,
               zmsg_t **msg_p, void *arg, uint64_t cookie)
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
              zmsg_t **msg_p, void *arg, uint64_t cookie)
{
    race_t *race = (race_t *) arg;
    race->answered++;
    ck_assert_int_eq (h->kind, RB_K_REPLY);
    ck_assert_uint_eq (b->cleared, 1);
}

START_TEST (db_reads_flag_and_data_together_while_a_diff_lands)
{
    rb_tnode_t *ops = &s_f->ops, *svc = &s_f->svc;
    ck_assert_int_eq (rb_tnode_order (ops, 1, "hot", "old"), 0);
    uint64_t records, watermark;
    char *path = rb_tnode_backup (ops, &records, &watermark);
    rb_reply_t r;
    ck_assert_int_eq (rb_tnode_restore (ops, path, &r), 0);
    rb_reply_done (&r);
    rb_entry_t entry = {rb_str ("hot"), 2};
    ck_assert_int_eq (rb_tnode_list (ops, &entry, 1, true, &r), 0);
    rb_reply_done (&r);
    /* 600 GETs in flight from one node while the diff goes in from
       another: every answer must pair its value with the right flag */
    race_t race = {0};
    rb_body_t get;
    rb_body_init (&get, RB_T_GET);
    get.key = rb_str ("hot");
    for (int i = 0; i < 300; i++)
        rb_bus_request (svc->bus, RB_ADDR_SERVICE, "db", &get, 5000,
                        s_race_answer, &race, 0);
    /* the diff goes once some answers are back and the rest in flight */
    int64_t until = zclock_mono () + 5000;
    while (race.answered < 50 && zclock_mono () < until)
        rb_bus_poll (svc->bus, 1);
    rb_order_t diff = {2, rb_str ("hot"), RB_OP_PUT, true, rb_str ("new")};
    rb_body_t req;
    rb_body_init (&req, RB_T_DIFF);
    req.orders = &diff;
    req.n_orders = 1;
    rb_bus_request (ops->bus, RB_ADDR_SERVICE, "db", &req, 5000, s_race_acked,
                    &race, 0);
    for (int i = 0; i < 300; i++)
        rb_bus_request (svc->bus, RB_ADDR_SERVICE, "db", &get, 5000,
                        s_race_answer, &race, 0);
    int64_t deadline = zclock_mono () + 10000;
    while (race.answered < 601 && zclock_mono () < deadline) {
        rb_bus_poll (svc->bus, 2);
        rb_bus_poll (ops->bus, 0);
    }
    ck_assert_int_eq (race.answered, 601);
    ck_assert_int_eq (race.violations, 0);
    ck_assert_int_gt (race.old_flagged, 0);
    ck_assert_int_gt (race.new_clear, 0);
    free (path);
}
END_TEST

START_TEST (db_killed_while_recovering_comes_back_recovering)
{
    ck_assert_int_eq (rb_cluster_init (s_c), 0);
    char *argv[] = {RECOBUS_BINARY_DIR "/recobus-db",
                    "--broker",
                    s_c->bus,
                    "--redis",
                    (char *) rb_redis_address (s_c->redis),
                    "--backup-dir",
                    s_c->backups,
                    "--name",
                    "db-9",
                    NULL};
    rb_proc_t *p = rb_proc_start (argv, NULL);
    ck_assert_ptr_nonnull (p);
    ck_assert_int_eq (rb_proc_wait_output (p, "serving", 5000), 0);
    rb_tnode_t ops;
    rb_tnode_start (&ops, s_c, RB_ROLE_OPS, "ops-1");
    rb_tnode_wait_db (&ops);
    ck_assert_int_eq (rb_tnode_order (&ops, 1, "a", "a1"), 0);
    ck_assert_int_eq (rb_tnode_order (&ops, 2, "b", "b1"), 0);
    uint64_t records, watermark;
    char *path = rb_tnode_backup (&ops, &records, &watermark);
    rb_reply_t r;
    ck_assert_int_eq (rb_tnode_restore (&ops, path, &r), 0);
    rb_reply_done (&r);
    rb_entry_t entries[] = {{rb_str ("a"), 5}, {rb_str ("b"), 2}};
    ck_assert_int_eq (rb_tnode_list (&ops, entries, 2, true, &r), 0);
    rb_reply_done (&r);
    rb_proc_kill (p, SIGKILL);
    ck_assert_int_eq (rb_proc_wait (p, 5000), 128 + SIGKILL);
    rb_proc_destroy (&p);
    p = rb_proc_start (argv, NULL);
    ck_assert_int_eq (rb_proc_wait_output (p, "serving", 5000), 0);
    /* its name frees when the old one expires: wait for the new one */
    rb_tnode_wait_db (&ops);
    rb_tnode_expect_state (&ops, "recovering");
    ck_assert (rb_tnode_get (&ops, "a").recovering);
    ck_assert (!rb_tnode_get (&ops, "b").recovering);
    /* both listed; b, already current, goes when an order or END sees it */
    ck_assert_uint_eq (rb_tnode_status_num (&ops, "recovering"), 2);
    free (path);
    rb_bus_destroy (&ops.bus);
    rb_proc_destroy (&p);
}
END_TEST

/*  Whether node is in the set key in Redis. */
static bool
s_member (const char *key, const char *node)
{
    redisReply *r = rb_redis_cmd (s_c->redis, "SISMEMBER %s %s", key, node);
    bool yes = r && r->type == REDIS_REPLY_INTEGER && r->integer == 1;
    freeReplyObject (r);
    return yes;
}

START_TEST (db_registers_a_fetcher_once_and_again_on_a_new_connection)
{
    rb_tnode_t *ops = &s_f->ops, *svc = &s_f->svc;
    ck_assert_int_eq (rb_tnode_order (ops, 1, "+81-1", "alice"), 0);
    ck_assert_int_eq (rb_tnode_get (svc, "+81-1").rc, 0);
    ck_assert (s_member ("rb:{0}:f:+81-1", "svc-1"));
    /* registered lately: reading it again writes nothing (the set is
       taken away here to see that) */
    freeReplyObject (rb_redis_cmd (s_c->redis, "DEL rb:{0}:f:+81-1"));
    rb_got_t g = rb_tnode_get (svc, "+81-1");
    ck_assert_int_eq (g.rc, 0);
    ck_assert_str_eq (g.value, "alice");
    ck_assert (!s_member ("rb:{0}:f:+81-1", "svc-1"));
    /* a Redis that dropped the node's connection may have restarted and
       lost the set. Something other than a read finds out first (STATUS
       here, as the node's own once-a-second STATUS may): on the new
       connection the next read registers again */
    freeReplyObject (
        rb_redis_cmd (s_c->redis, "CLIENT KILL TYPE normal SKIPME yes"));
    bool ok = false;
    int64_t deadline = zclock_mono () + 10000; /* past the reconnect back-off */
    while (!ok && zclock_mono () < deadline) {
        rb_body_t req;
        rb_body_init (&req, RB_T_STATUS);
        rb_reply_t r; /* unavailable until the node has Redis again */
        ok = rb_tnode_ask (svc, &req, &r) == 0 && r.b.type == RB_T_INFO;
        rb_reply_done (&r);
        if (!ok)
            zclock_sleep (20);
    }
    ck_assert (ok);
    g = rb_tnode_get (svc, "+81-1");
    ck_assert_int_eq (g.rc, 0);
    ck_assert_str_eq (g.value, "alice");
    ck_assert (s_member ("rb:{0}:f:+81-1", "svc-1"));
    /* and an order reaches it again */
    ck_assert_int_eq (rb_tnode_order (ops, 2, "+81-1", "bob"), 0);
}
END_TEST

START_TEST (db_reads_a_known_key_without_a_script_and_sees_the_state_move)
{
    rb_tnode_t *ops = &s_f->ops, *svc = &s_f->svc;
    ck_assert_int_eq (rb_tnode_order (ops, 1, "+81-1", "alice"), 0);
    ck_assert_int_eq (rb_tnode_get (svc, "+81-1").rc, 0); /* registers */
    uint64_t plain = rb_tnode_status_num (svc, "gets_plain");
    rb_got_t g = rb_tnode_get (svc, "+81-1");
    ck_assert_int_eq (g.rc, 0);
    ck_assert_str_eq (g.value, "alice");
    ck_assert (!g.recovering);
    ck_assert_uint_eq (rb_tnode_status_num (svc, "gets_plain"), plain + 1);
    /* the dataset leaves normal behind the node's back (in its epoch, as
       no real transition does): a plain read sees it in its brackets and
       the key is read by the script, flagged */
    freeReplyObject (rb_redis_cmd (s_c->redis, "HSET rb:{0}:meta state "
                                               "recovering list_done 0"));
    g = rb_tnode_get (svc, "+81-1");
    ck_assert_int_eq (g.rc, 0);
    ck_assert (g.recovering);
}
END_TEST

#define BIG_KEYS  130 /* of 65,000 bytes each: over a RECORDS' 8 MiB */
#define BIG_BYTES 65000

START_TEST (db_answers_gets_in_key_order_and_refuses_one_too_large)
{
    rb_tnode_t *ops = &s_f->ops, *svc = &s_f->svc;
    char *big = malloc (BIG_BYTES + 1);
    memset (big, 'x', BIG_BYTES);
    big[BIG_BYTES] = '\0';
    char names[BIG_KEYS][16];
    rb_str_t keys[BIG_KEYS];
    for (int i = 0; i < BIG_KEYS; i++) {
        snprintf (names[i], sizeof names[i], "big-%d", i);
        keys[i] = rb_str (names[i]);
        ck_assert_int_eq (rb_tnode_order (ops, (uint64_t) i + 1, names[i], big),
                          0);
    }
    /* RECORDS in the order asked, an absent key among them */
    rb_str_t few[] = {keys[2], rb_str ("nobody"), keys[0]};
    rb_body_t req;
    rb_body_init (&req, RB_T_GETS);
    req.keys = few;
    req.n_keys = 3;
    rb_reply_t r;
    ck_assert_int_eq (rb_tnode_ask (svc, &req, &r), 0);
    ck_assert_int_eq (r.b.type, RB_T_RECORDS);
    ck_assert_uint_eq (r.b.n_recs, 3);
    ck_assert (rb_str_eq (r.b.recs[0].key, "big-2"));
    ck_assert_uint_eq (r.b.recs[0].seq, 3);
    ck_assert_uint_eq (r.b.recs[0].value.len, BIG_BYTES);
    ck_assert (rb_str_eq (r.b.recs[1].key, "nobody") && !r.b.recs[1].has_value);
    ck_assert (rb_str_eq (r.b.recs[2].key, "big-0"));
    ck_assert_uint_eq (r.b.recs[2].seq, 1);
    ck_assert (!r.b.recs[0].recovering && !r.b.recs[2].recovering);
    rb_reply_done (&r);
    /* every key at once: 8.5 MB of values, refused with a clear error;
       each key is still answered on its own */
    req.keys = keys;
    req.n_keys = BIG_KEYS;
    ck_assert_int_eq (rb_tnode_ask (svc, &req, &r), RB_S_BAD_REQUEST);
    rb_reply_done (&r);
    rb_got_t g = rb_tnode_get (svc, "big-129");
    ck_assert_int_eq (g.rc, 0);
    ck_assert_uint_eq (g.seq, BIG_KEYS);
    free (big);
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
    tcase_add_test (tc, db_killed_while_recovering_comes_back_recovering);
    suite_add_tcase (s, tc);
    tc = tcase_create ("normal");
    tcase_set_timeout (tc, 60);
    tcase_add_checked_fixture (tc, s_setup_normal, s_teardown_normal);
    tcase_add_test (tc, db_serves_orders_and_gets_in_normal);
    tcase_add_test (tc, db_orders_are_idempotent_and_tombstones_stop_old_puts);
    tcase_add_test (tc, db_refuses_ops_requests_from_other_roles);
    tcase_add_test (tc, db_flushall_while_running_means_needs_restore);
    tcase_add_test (tc, db_runs_the_whole_recovery_s1_to_s11);
    tcase_add_test (tc, db_refuses_a_damaged_backup_and_leaves_redis_as_it_was);
    tcase_add_test (tc, db_two_nodes_on_one_redis_give_the_same_answers);
    tcase_add_test (tc, db_reads_flag_and_data_together_while_a_diff_lands);
    tcase_add_test (tc,
                    db_registers_a_fetcher_once_and_again_on_a_new_connection);
    tcase_add_test (
        tc, db_reads_a_known_key_without_a_script_and_sees_the_state_move);
    tcase_add_test (tc, db_answers_gets_in_key_order_and_refuses_one_too_large);
    suite_add_tcase (s, tc);
    return rb_test_run (s);
}
