/*  test_faults: one fault at a time, each a case of "a state change
    happened but the reply (or the push) that should tell everybody was
    lost" (docs/faults.md): a Redis stall that outlives the DB node's
    Redis timeout, an order re-sent after it was applied, a restore whose
    RESET never went out, two DB nodes that disagree about the epoch, and
    a service node paused longer than the broker waits for it. Real
    redis-server, broker, DB nodes and recobus-service / recobus-terminal
    processes.  */
#include <check.h>
#include <czmq.h>
#include <signal.h>

#include "rb_fixture.h"
#include "rb_proc.h"
#include "rb_testing.h"

#define SERVICE_BIN  RECOBUS_BINARY_DIR "/recobus-service"
#define TERMINAL_BIN RECOBUS_BINARY_DIR "/recobus-terminal"

static rb_fixture_t *s_f;

/*  db-1's Redis timeout: its default (2 s), or short enough for a stall
    to outlive it.  */
static void
s_setup (void)
{
    s_f = rb_fixture_new (NULL);
}

static void
s_setup_stall (void)
{
    s_f = rb_fixture_new (&(rb_fixture_opts_t){.redis_timeout_ms = 300});
}

static void
s_teardown (void)
{
    rb_fixture_destroy (&s_f);
}

/*  An ORDER put, its ACK decoded into *ack (applied, skipped). */
static int
s_put (rb_tnode_t *ops, uint64_t seq, const char *key, const char *value,
       rb_body_t *ack)
{
    rb_body_t req;
    rb_body_init (&req, RB_T_ORDER);
    req.seq = seq, req.key = rb_str (key), req.op = RB_OP_PUT;
    req.has_value = value != NULL;
    req.value = rb_str (value ? value : "");
    req.op = value ? RB_OP_PUT : RB_OP_DELETE;
    rb_reply_t r;
    int rc = rb_tnode_ask (ops, &req, &r);
    if (rc == 0 && ack)
        *ack = r.b;
    rb_reply_done (&r);
    return rc;
}

/*  The seq Redis holds for key (0: none). */
static uint64_t
s_redis_seq (const char *key)
{
    redisReply *r = rb_redis_cmd (s_f->c->redis, "HGET rb:{0}:r:%s s", key);
    uint64_t seq =
        r && r->type == REDIS_REPLY_STRING ? strtoull (r->str, NULL, 10) : 0;
    freeReplyObject (r);
    return seq;
}

/*  A re-sent order that the DB finds applied (skipped) still pushes the
    key's current record to the nodes that fetched it: the first
    application's pushes may have been lost with its reply.  */
START_TEST (db_pushes_the_current_record_when_an_order_is_skipped)
{
    rb_tnode_t *ops = &s_f->ops, *svc = &s_f->svc;
    rb_body_t ack;
    ck_assert_int_eq (s_put (ops, 5, "k", "v5", &ack), 0);
    ck_assert_str_eq (rb_tnode_get (svc, "k").value, "v5"); /* a fetcher */
    /* the same order again: skipped, and pushed all the same */
    ck_assert_int_eq (s_put (ops, 5, "k", "v5", &ack), 0);
    ck_assert_uint_eq (ack.skipped, 1);
    RB_PUMP_UNTIL (svc, svc->updates >= 1, 3000);
    ck_assert_int_eq (svc->updates, 1);
    ck_assert_uint_eq (svc->last_seq, 5);
    /* an older order: the push carries the record Redis holds, not it */
    ck_assert_int_eq (s_put (ops, 3, "k", "old", &ack), 0);
    ck_assert_uint_eq (ack.skipped, 1);
    RB_PUMP_UNTIL (svc, svc->updates >= 2, 3000);
    ck_assert_uint_eq (svc->last_seq, 5);
    ck_assert_str_eq (svc->last_value, "v5");
    /* a delete, then an older put re-sent: the tombstone is pushed */
    ck_assert_int_eq (s_put (ops, 7, "k", NULL, &ack), 0);
    RB_PUMP_UNTIL (svc, svc->updates >= 3, 3000);
    ck_assert_int_eq (s_put (ops, 6, "k", "v6", &ack), 0);
    RB_PUMP_UNTIL (svc, svc->updates >= 4, 3000);
    ck_assert_uint_eq (svc->last_seq, 7);
    ck_assert (!svc->last_found);
}
END_TEST

/*  Bug 2 of issue 11: Redis stalls longer than the DB node's timeout
    while an order is in flight. Redis applies it when it resumes, but
    the DB node never saw the reply and pushed nothing; the order is
    re-sent (as recobus-ops does with a pending order), found applied,
    and must reach the cache that holds the old record.  */
START_TEST (db_order_lost_in_a_redis_stall_reaches_the_cache_on_resend)
{
    rb_tnode_t *ops = &s_f->ops, *svc = &s_f->svc;
    ck_assert_int_eq (s_put (ops, 1, "alice", "v1", NULL), 0);
    ck_assert_str_eq (rb_tnode_get (svc, "alice").value, "v1");
    ck_assert_int_eq (kill (rb_redis_pid (s_f->c->redis), SIGSTOP), 0);
    int rc = s_put (ops, 2, "alice", "v2", NULL);
    ck_assert_int_ne (rc, 0); /* the DB could not confirm it */
    ck_assert_int_eq (kill (rb_redis_pid (s_f->c->redis), SIGCONT), 0);
    int64_t deadline = zclock_mono () + 5000;
    while (s_redis_seq ("alice") != 2 && zclock_mono () < deadline)
        zclock_sleep (10);
    ck_assert_uint_eq (s_redis_seq ("alice"), 2); /* applied all the same */
    ck_assert_int_eq (svc->updates, 0);           /* and nobody was told */
    /* the re-send: skipped, and pushed */
    deadline = zclock_mono () + 5000;
    rb_body_t ack;
    while ((rc = s_put (ops, 2, "alice", "v2", &ack)) != 0 &&
           zclock_mono () < deadline)
        rb_tnode_pump (svc, 100); /* the node reconnects to Redis */
    ck_assert_int_eq (rc, 0);
    ck_assert_uint_eq (ack.skipped, 1);
    RB_PUMP_UNTIL (svc, svc->updates >= 1, 3000);
    ck_assert_uint_eq (svc->last_seq, 2);
    ck_assert_str_eq (svc->last_value, "v2");
}
END_TEST

/*  A DB node that cannot read Redis (stalled past its timeout, then its
    reconnect back-off) says so to STATUS, rather than the state and
    counts it saw last: an operator (or a script) must not take "normal,
    0 keys" for the truth.  */
START_TEST (db_status_says_unavailable_while_redis_cannot_be_read)
{
    ck_assert_int_eq (s_put (&s_f->ops, 1, "k", "v1", NULL), 0);
    ck_assert_uint_eq (rb_tnode_status_num (&s_f->ops, "keys"), 1);
    ck_assert_int_eq (kill (rb_redis_pid (s_f->c->redis), SIGSTOP), 0);
    rb_body_t req;
    rb_body_init (&req, RB_T_STATUS);
    rb_reply_t r;
    int rc = rb_tnode_ask (&s_f->ops, &req, &r);
    rb_reply_done (&r);
    ck_assert_int_eq (kill (rb_redis_pid (s_f->c->redis), SIGCONT), 0);
    ck_assert_int_eq (rc, RB_S_UNAVAILABLE);
}
END_TEST

/*  A restore bumps the epoch in Redis, then the node pushes RESET; a
    node killed between the two (simulated: the epoch bumped behind every
    node's back) must not leave services on the old epoch. Every node
    that finds a newer epoch sends the RESET, and an order's pushes carry
    the epoch Redis holds, not the one the node knew.  */
START_TEST (db_finding_a_newer_epoch_sends_reset_and_pushes_carry_it)
{
    rb_tnode_t *ops = &s_f->ops, *svc = &s_f->svc;
    ck_assert_int_eq (s_put (ops, 1, "k", "v1", NULL), 0);
    ck_assert_uint_eq (rb_tnode_get (svc, "k").epoch, 1);
    /* the RESET a DB node sends once registered: at epoch 1 (the ops
       node is kept alive meanwhile: it too must heartbeat) */
    for (int64_t until = zclock_mono () + 3000;
         svc->resets < 1 && zclock_mono () < until;)
        rb_bus_poll (svc->bus, 5), rb_bus_poll (ops->bus, 0);
    ck_assert_uint_eq (svc->last_epoch, 1);
    freeReplyObject (rb_redis_cmd (s_f->c->redis, "HINCRBY rb:{0}:meta epoch 1"));
    ck_assert_int_eq (s_put (ops, 2, "k", "v2", NULL), 0);
    RB_PUMP_UNTIL (svc, svc->updates >= 1, 3000);
    ck_assert_uint_eq (svc->last_seq, 2);
    ck_assert_uint_eq (svc->last_update_epoch, 2);
    RB_PUMP_UNTIL (svc, svc->last_epoch == 2, 3000);
    ck_assert_uint_eq (svc->last_epoch, 2); /* a RESET to epoch 2 came */
}
END_TEST

/*  --- a paused service node --------------------------------------------- */

/*  recobus-terminal get key at ep: "status seq value" (caller frees). */
static char *
s_terminal_get (const char *ep, const char *key)
{
    char *argv[] = {TERMINAL_BIN, "--service", (char *) ep,  "--timeout",
                    "3000",       "get",       (char *) key, NULL};
    char *out = NULL;
    int rc = rb_proc_run (argv, 10000, &out, NULL);
    ck_assert_int_eq (rc, 0);
    return out;
}

/*  A latest-only service node stopped (SIGSTOP) until the broker expires
    it: the UPDATE of an order acknowledged meanwhile is dropped at the
    broker. Resumed, the node must not answer the old record from its
    cache. It notices the broker's silence only if it had not read a
    heartbeat for heartbeat x liveness, which the broker's own clock may
    pass first: resumed right after its expiry, the node may still think
    itself registered. Its own loop stood still too long, though, so it
    registers again and drops what pushes kept current. Several rounds:
    which clock runs out first varies.  */
START_TEST (service_paused_past_its_expiry_never_answers_its_old_cache)
{
    rb_tnode_t *ops = &s_f->ops;
    ck_assert_int_eq (s_put (ops, 1, "alice", "v1", NULL), 0);
    char ep[64];
    snprintf (ep, sizeof ep, "tcp://127.0.0.1:%d", rb_free_port ());
    char *argv[] = {SERVICE_BIN,   "--name",   "svc-p", "--policy",
                    "latest-only", "--listen", ep,      "--broker",
                    s_f->c->bus,   NULL};
    rb_proc_t *svc = rb_proc_start (argv, NULL);
    ck_assert_ptr_nonnull (svc);
    for (uint64_t seq = 2; seq < 10; seq++) {
        rb_tnode_wait_listed (ops, "svc-p", true, 5000);
        char *out = s_terminal_get (ep, "alice"); /* now cached */
        ck_assert_ptr_nonnull (strstr (out, "ok"));
        free (out);
        ck_assert_int_eq (rb_proc_kill (svc, SIGSTOP), 0);
        ck_assert_int_eq (rb_tnode_wait_listed (ops, "svc-p", false, 5000),
                          0); /* expired */
        char value[16];
        snprintf (value, sizeof value, "v%d", (int) seq);
        ck_assert_int_eq (s_put (ops, seq, "alice", value, NULL), 0);
        ck_assert_int_eq (rb_proc_kill (svc, SIGCONT), 0);
        out = s_terminal_get (ep, "alice");
        ck_assert_msg (strstr (out, value), "round %d, after the pause: %s",
                       (int) seq - 1, out);
        free (out);
    }
    rb_proc_destroy (&svc);
}
END_TEST

/*  The mechanism behind the test above, without its race: a node whose
    loop stood still for longer than heartbeat x (liveness - 1) -- the
    broker may have expired it -- registers again before it handles
    anything that came meanwhile; one that kept running does not.  */
START_TEST (bus_registers_again_after_its_loop_stood_still)
{
    rb_bus_opts_t o = {.endpoint = s_f->c->bus,
                       .role = RB_ROLE_SERVICE,
                       .name = "svc-s",
                       .rehello_after_stall = true};
    rb_bus_t *bus = rb_bus_new (&o);
    ck_assert_int_eq (rb_bus_wait_ready (bus, 3000), 0);
    ck_assert_uint_eq (rb_bus_registrations (bus), 1);
    /* running: heartbeat 200 ms, liveness 3 -> 400 ms of standing still */
    for (int64_t until = zclock_mono () + 1000; zclock_mono () < until;)
        rb_bus_poll (bus, 10);
    ck_assert (rb_bus_registered (bus));
    ck_assert_uint_eq (rb_bus_registrations (bus), 1);
    zclock_sleep (450); /* the fault: the node's own loop stands still */
    rb_bus_poll (bus, 0);
    ck_assert (!rb_bus_registered (bus));
    ck_assert_int_eq (rb_bus_wait_ready (bus, 3000), 0);
    ck_assert_uint_eq (rb_bus_registrations (bus), 2);
    rb_bus_destroy (&bus);
}
END_TEST

int
main (void)
{
    Suite *s = suite_create ("faults");
    TCase *tc = tcase_create ("faults");
    tcase_set_timeout (tc, 60);
    tcase_add_checked_fixture (tc, s_setup, s_teardown);
    tcase_add_test (tc, db_pushes_the_current_record_when_an_order_is_skipped);
    tcase_add_test (tc,
                    db_finding_a_newer_epoch_sends_reset_and_pushes_carry_it);
    tcase_add_test (tc,
                    service_paused_past_its_expiry_never_answers_its_old_cache);
    tcase_add_test (tc, bus_registers_again_after_its_loop_stood_still);
    suite_add_tcase (s, tc);
    tc = tcase_create ("stall");
    tcase_set_timeout (tc, 60);
    tcase_add_checked_fixture (tc, s_setup_stall, s_teardown);
    tcase_add_test (tc,
                    db_order_lost_in_a_redis_stall_reaches_the_cache_on_resend);
    tcase_add_test (tc, db_status_says_unavailable_while_redis_cannot_be_read);
    suite_add_tcase (s, tc);
    return rb_test_run (s);
}
