/*  test_service: service nodes of both policies against the real broker,
    DB node and redis-server, with real terminals: cache hits and misses,
    UPDATE and RESET, latest-only waiting (answered when the diff lands,
    unavailable at the deadline, never stale), stale-ok answering stale,
    one poll stream for many terminals, a DB that is down.  */
#include <check.h>
#include <czmq.h>

#include "rb_fixture.h"
#include "rb_proc.h"
#include "rb_testing.h"

#define MAX_WAIT 1500

static rb_fixture_t *s_f; /* ops-1 and both service nodes */

static void
s_setup (void)
{
    s_f = rb_fixture_new (&(rb_fixture_opts_t){.max_wait_ms = MAX_WAIT});
}

static void
s_teardown (void)
{
    rb_fixture_destroy (&s_f);
}

/*  A terminal: a DEALER on a service node's endpoint. */
static zsock_t *
s_terminal (const char *endpoint)
{
    zsock_t *t = zsock_new_dealer (endpoint);
    ck_assert_ptr_nonnull (t);
    return t;
}

static void
s_send_get (zsock_t *t, const char *key, uint64_t corr)
{
    rb_header_t h;
    memset (&h, 0, sizeof h);
    h.kind = RB_K_REQUEST;
    h.type = RB_T_GET;
    h.corr = corr;
    rb_body_t b;
    rb_body_init (&b, RB_T_GET);
    b.key = rb_str (key);
    ck_assert_int_eq (rb_msg_send (zsock_resolve (t), &h, &b), 0);
}

typedef struct {
    bool answered;
    int status;
    uint64_t seq;
    char value[128]; /* "-" when none */
    int64_t at;      /* zclock_mono () when it came */
} answer_t;

/*  Waits up to ms for one ANSWER on t. */
static answer_t
s_recv_answer (zsock_t *t, int ms)
{
    answer_t a;
    memset (&a, 0, sizeof a);
    zpoller_t *p = zpoller_new (t, NULL);
    int64_t until = zclock_mono () + ms;
    bool ready = false;
    /* keep the ops node's heartbeats going while we wait */
    while (!ready && zclock_mono () < until) {
        ready = zpoller_wait (p, 5) != NULL;
        rb_bus_poll (s_f->ops.bus, 0);
    }
    if (ready) {
        zmsg_t *msg = zmsg_recv (t);
        rb_header_t h;
        rb_body_t b;
        rb_body_init (&b, RB_T_NONE);
        rb_err_t err;
        ck_assert_int_eq (rb_msg_decode (msg, NULL, &h, &b, &err), 0);
        ck_assert_int_eq (b.type, RB_T_ANSWER);
        a.answered = true;
        a.status = b.answer;
        a.seq = b.seq;
        if (b.has_value)
            snprintf (a.value, sizeof a.value, "%.*s", (int) b.value.len,
                      b.value.ptr);
        else
            strcpy (a.value, "-");
        a.at = zclock_mono ();
        zmsg_destroy (&msg);
        rb_body_release (&b);
    }
    zpoller_destroy (&p);
    return a;
}

static answer_t
s_ask (const char *endpoint, const char *key)
{
    zsock_t *t = s_terminal (endpoint);
    s_send_get (t, key, 1);
    answer_t a = s_recv_answer (t, MAX_WAIT + 2000);
    zsock_destroy (&t);
    ck_assert (a.answered);
    return a;
}

/*  A counter of a service node, read through the broker. */
static uint64_t
s_counter (const char *node, const char *name)
{
    uint64_t value;
    ck_assert_int_eq (rb_status_num (s_f->ops.bus, RB_ADDR_NODE, node, name,
                                     3000, UINT64_MAX, &value),
                      0);
    return value;
}

/*  Backup now, restore it: the cluster is RECOVERING in epoch 2. */
static void
s_disaster (void)
{
    uint64_t records, watermark;
    char *path = rb_tnode_backup (&s_f->ops, &records, &watermark);
    rb_reply_t r;
    ck_assert_int_eq (rb_tnode_restore (&s_f->ops, path, &r), 0);
    rb_reply_done (&r);
    free (path);
}

static void
s_list (const char *key, uint64_t target, bool last)
{
    rb_entry_t e = {rb_str (key), target};
    rb_reply_t r;
    ck_assert_int_eq (rb_tnode_list (&s_f->ops, &e, 1, last, &r), 0);
    rb_reply_done (&r);
}

static void
s_diff_put (uint64_t seq, const char *key, const char *value)
{
    rb_order_t o = {seq, rb_str (key), RB_OP_PUT, true, rb_str (value)};
    rb_reply_t r;
    ck_assert_int_eq (rb_tnode_diff (&s_f->ops, &o, 1, &r), 0);
    rb_reply_done (&r);
}

START_TEST (service_answers_a_miss_from_the_db_then_hits_its_cache)
{
    ck_assert_int_eq (rb_tnode_order (&s_f->ops, 1, "+81-1", "alice"), 0);
    answer_t a = s_ask (s_f->latest_ep, "+81-1");
    ck_assert_int_eq (a.status, RB_ANS_OK);
    ck_assert_str_eq (a.value, "alice");
    ck_assert_uint_eq (a.seq, 1);
    ck_assert_uint_eq (s_counter ("svc-latest", "cache.misses"), 1);
    ck_assert_uint_eq (s_counter ("svc-latest", "cache.hits"), 0);
    a = s_ask (s_f->latest_ep, "+81-1");
    ck_assert_str_eq (a.value, "alice");
    ck_assert_uint_eq (s_counter ("svc-latest", "cache.hits"), 1);
    a = s_ask (s_f->latest_ep, "+81-404");
    ck_assert_int_eq (a.status, RB_ANS_NOT_FOUND);
    ck_assert_str_eq (a.value, "-");
    ck_assert_uint_eq (s_counter ("svc-latest", "answers.ok"), 2);
    ck_assert_uint_eq (s_counter ("svc-latest", "answers.not_found"), 1);
}
END_TEST

START_TEST (service_cache_follows_update_pushes)
{
    ck_assert_int_eq (rb_tnode_order (&s_f->ops, 1, "k", "v1"), 0);
    ck_assert_str_eq (s_ask (s_f->latest_ep, "k").value, "v1"); /* cached */
    ck_assert_int_eq (rb_tnode_order (&s_f->ops, 2, "k", "v2"), 0);
    int64_t until = zclock_mono () + 3000;
    while (s_counter ("svc-latest", "updates") < 1 && zclock_mono () < until)
        rb_tnode_pump (&s_f->ops, 10);
    answer_t a = s_ask (s_f->latest_ep, "k");
    ck_assert_str_eq (a.value, "v2");
    ck_assert_uint_eq (a.seq, 2);
    ck_assert_uint_eq (s_counter ("svc-latest", "cache.hits"), 1);
    ck_assert_uint_eq (s_counter ("svc-latest", "cache.misses"), 1);
}
END_TEST

/*  Keys of the DB's Redis matching pattern. */
static size_t
s_redis_keys (const char *pattern)
{
    redisReply *r = rb_redis_cmd (s_f->c->redis, "KEYS %s", pattern);
    size_t n = r && r->type == REDIS_REPLY_ARRAY ? r->elements : 0;
    freeReplyObject (r);
    return n;
}

START_TEST (
    absent_keys_cost_redis_nothing_and_their_creation_and_changes_are_pushed)
{
    char key[32];
    for (int i = 0; i < 200; i++) { /* a flood of absent keys */
        snprintf (key, sizeof key, "nobody-%d", i);
        ck_assert_int_eq (s_ask (s_f->latest_ep, key).status, RB_ANS_NOT_FOUND);
    }
    ck_assert_uint_eq (s_redis_keys ("rb:{0}:f:*"), 0); /* no set per key */
    ck_assert_uint_eq (s_redis_keys ("rb:{0}:fa"), 1);
    /* nobody-7 is cached as absent; its creation reaches the cache */
    ck_assert_int_eq (rb_tnode_order (&s_f->ops, 1, "nobody-7", "new"), 0);
    int64_t until = zclock_mono () + 3000;
    while (s_counter ("svc-latest", "updates") < 1 && zclock_mono () < until)
        rb_tnode_pump (&s_f->ops, 10);
    uint64_t hits = s_counter ("svc-latest", "cache.hits");
    answer_t a = s_ask (s_f->latest_ep, "nobody-7");
    ck_assert_int_eq (a.status, RB_ANS_OK);
    ck_assert_str_eq (a.value, "new");
    ck_assert_uint_eq (s_counter ("svc-latest", "cache.hits"), hits + 1);
    /* the node that got the creation gets every later change too: it
       caches the record, so it will not ask again (and so never be
       remembered as the key's fetcher by a GET) */
    ck_assert_int_eq (rb_tnode_order (&s_f->ops, 2, "nobody-7", "newer"), 0);
    until = zclock_mono () + 3000;
    while (s_counter ("svc-latest", "updates") < 2 && zclock_mono () < until)
        rb_tnode_pump (&s_f->ops, 10);
    ck_assert_str_eq (s_ask (s_f->latest_ep, "nobody-7").value, "newer");
}
END_TEST

START_TEST (service_drops_its_cache_on_reset_and_waits_before_the_list)
{
    ck_assert_int_eq (rb_tnode_order (&s_f->ops, 1, "k", "v1"), 0);
    ck_assert_str_eq (s_ask (s_f->latest_ep, "k").value, "v1");
    s_disaster ();
    int64_t until = zclock_mono () + 3000;
    while (s_counter ("svc-latest", "resets") < 1 && zclock_mono () < until)
        rb_tnode_pump (&s_f->ops, 10);
    ck_assert_uint_eq (s_counter ("svc-latest", "cached"), 0);
    ck_assert_uint_eq (s_counter ("svc-latest", "epoch"), 2);
    /* before the list's last batch every key is flagged: latest-only
       waits, and answers unavailable at its deadline, never stale */
    int64_t asked = zclock_mono ();
    answer_t a = s_ask (s_f->latest_ep, "k");
    ck_assert_int_eq (a.status, RB_ANS_UNAVAILABLE);
    ck_assert_str_eq (a.value, "-");
    ck_assert_int_ge (a.at - asked, MAX_WAIT - 50);
    ck_assert_int_le (a.at - asked, MAX_WAIT + 500);
    /* the GET after RESET was a miss, not an old cached answer */
    ck_assert_uint_eq (s_counter ("svc-latest", "cache.hits"), 0);
    ck_assert_uint_eq (s_counter ("svc-latest", "cache.misses"), 2);
}
END_TEST

START_TEST (stale_ok_answers_stale_with_the_restored_value)
{
    ck_assert_int_eq (rb_tnode_order (&s_f->ops, 1, "k", "v1"), 0);
    s_disaster ();
    s_list ("k", 2, false);
    s_list ("new", 3, true);
    answer_t a = s_ask (s_f->stale_ep, "k");
    ck_assert_int_eq (a.status, RB_ANS_STALE);
    ck_assert_str_eq (a.value, "v1");
    ck_assert_uint_eq (a.seq, 1);
    a = s_ask (s_f->stale_ep, "new"); /* created after the backup */
    ck_assert_int_eq (a.status, RB_ANS_STALE);
    ck_assert_str_eq (a.value, "-");
    /* and never caches it: after the diff it answers the fresh value */
    s_diff_put (2, "k", "v2");
    a = s_ask (s_f->stale_ep, "k");
    ck_assert_int_eq (a.status, RB_ANS_OK);
    ck_assert_str_eq (a.value, "v2");
}
END_TEST

START_TEST (latest_only_answers_the_new_value_once_the_diff_lands)
{
    ck_assert_int_eq (rb_tnode_order (&s_f->ops, 1, "k", "v1"), 0);
    ck_assert_int_eq (rb_tnode_order (&s_f->ops, 2, "j", "j1"), 0);
    s_disaster ();
    s_list ("k", 3, true);
    /* j is not behind its target: answered at once while k recovers */
    int64_t asked = zclock_mono ();
    answer_t a = s_ask (s_f->latest_ep, "j");
    ck_assert_int_eq (a.status, RB_ANS_OK);
    ck_assert_str_eq (a.value, "j1");
    ck_assert_int_lt (a.at - asked, 500);
    zsock_t *t = s_terminal (s_f->latest_ep);
    s_send_get (t, "k", 7);
    /* it waits: nothing comes while the flag stands */
    answer_t early = s_recv_answer (t, 300);
    ck_assert (!early.answered);
    int64_t sent = zclock_mono ();
    s_diff_put (3, "k", "v3");
    a = s_recv_answer (t, MAX_WAIT);
    ck_assert (a.answered);
    ck_assert_int_eq (a.status, RB_ANS_OK);
    ck_assert_str_eq (a.value, "v3");
    ck_assert_uint_eq (a.seq, 3);
    /* the RECOVERED push re-polls at once: not at the next back-off */
    ck_assert_int_lt (a.at - sent, 250);
    ck_assert_uint_ge (s_counter ("svc-latest", "recovered"), 1);
    zsock_destroy (&t);
}
END_TEST

START_TEST (fifty_terminals_on_one_key_share_one_poll_stream)
{
    ck_assert_int_eq (rb_tnode_order (&s_f->ops, 1, "hot", "v1"), 0);
    s_disaster ();
    s_list ("hot", 2, true);
    zsock_t *t[50];
    for (int i = 0; i < 50; i++) {
        t[i] = s_terminal (s_f->latest_ep);
        s_send_get (t[i], "hot", (uint64_t) i + 1);
    }
    /* let them all wait a while: the polls follow one back-off */
    int64_t until = zclock_mono () + 3000;
    while (s_counter ("svc-latest", "cache.misses") < 50 &&
           zclock_mono () < until)
        rb_tnode_pump (&s_f->ops, 10);
    uint64_t polls_before = s_counter ("svc-latest", "polls");
    rb_tnode_pump (&s_f->ops, 700);
    uint64_t polls = s_counter ("svc-latest", "polls") - polls_before;
    ck_assert_uint_le (polls, 8); /* one stream: 20, 40, 80 ... ms */
    ck_assert_uint_eq (s_counter ("svc-latest", "waits"), 1);
    s_diff_put (2, "hot", "v2");
    for (int i = 0; i < 50; i++) {
        answer_t a = s_recv_answer (t[i], MAX_WAIT);
        ck_assert (a.answered);
        ck_assert_int_eq (a.status, RB_ANS_OK);
        ck_assert_str_eq (a.value, "v2");
        zsock_destroy (&t[i]);
    }
}
END_TEST

START_TEST (service_answers_unavailable_within_max_wait_when_the_db_is_down)
{
    zactor_destroy (&s_f->db);
    int64_t asked = zclock_mono ();
    answer_t a = s_ask (s_f->latest_ep, "k");
    ck_assert_int_eq (a.status, RB_ANS_UNAVAILABLE);
    ck_assert_int_le (a.at - asked, MAX_WAIT + 500);
    a = s_ask (s_f->stale_ep, "k"); /* stale-ok has nothing else to give */
    ck_assert_int_eq (a.status, RB_ANS_UNAVAILABLE);
}
END_TEST

START_TEST (service_caps_its_waits_and_answers_the_rest_at_once)
{
    rb_service_opts_t o =
        rb_cluster_service_opts (s_f->c, "svc-capped", RB_POLICY_LATEST_ONLY);
    o.max_wait_ms = 3000;
    o.waits_max = 5;   /* keys */
    o.waiters_max = 3; /* terminals on one key */
    char ep[256];
    zactor_t *capped = rb_cluster_service (s_f->c, &o, ep, sizeof ep);
    ck_assert_ptr_nonnull (capped);
    ck_assert_int_eq (
        rb_tnode_wait_listed (&s_f->ops, "svc-capped", true, 3000), 0);
    s_disaster ();
    char keys[10][8];
    for (int i = 0; i < 10; i++) {
        snprintf (keys[i], sizeof keys[i], "w%d", i);
        s_list (keys[i], 5, false); /* flagged: latest-only must wait */
    }
    zsock_t *t = s_terminal (ep);
    int64_t sent = zclock_mono ();
    for (int i = 0; i < 10; i++) /* 5 waits, 5 past waits-max */
        s_send_get (t, keys[i], (uint64_t) i + 1);
    for (int i = 0; i < 5; i++) /* w0: 1 waiter, 2 more, 3 past it */
        s_send_get (t, "w0", 100 + (uint64_t) i);
    /* the 8 refused are answered unavailable at once, the 7 others wait */
    int at_once = 0;
    for (;;) {
        answer_t a = s_recv_answer (t, 1000);
        if (!a.answered)
            break;
        ck_assert_int_eq (a.status, RB_ANS_UNAVAILABLE);
        ck_assert_int_lt (a.at - sent, 1000);
        at_once++;
    }
    ck_assert_int_eq (at_once, 8);
    ck_assert_uint_eq (s_counter ("svc-capped", "waits_refused"), 8);
    ck_assert_uint_eq (s_counter ("svc-capped", "waits"), 5);
    zsock_destroy (&t);
    zactor_destroy (&capped);
}
END_TEST

START_TEST (service_holds_timed_re_polls_to_poll_rate)
{
    rb_service_opts_t o =
        rb_cluster_service_opts (s_f->c, "svc-rated", RB_POLICY_LATEST_ONLY);
    o.max_wait_ms = 5000;
    o.poll_min_ms = o.poll_max_ms = 10; /* 100 keys: 10,000 polls a second */
    o.poll_rate = 20;
    char ep[256];
    zactor_t *rated = rb_cluster_service (s_f->c, &o, ep, sizeof ep);
    ck_assert_ptr_nonnull (rated);
    ck_assert_int_eq (rb_tnode_wait_listed (&s_f->ops, "svc-rated", true, 3000),
                      0);
    s_disaster ();
    rb_entry_t e[100];
    char keys[100][8];
    for (int i = 0; i < 100; i++) {
        snprintf (keys[i], sizeof keys[i], "r%d", i);
        e[i] = (rb_entry_t){rb_str (keys[i]), 5}; /* flagged for good */
    }
    rb_reply_t r;
    ck_assert_int_eq (rb_tnode_list (&s_f->ops, e, 100, true, &r), 0);
    rb_reply_done (&r);
    zsock_t *t = s_terminal (ep);
    for (int i = 0; i < 100; i++)
        s_send_get (t, keys[i], (uint64_t) i + 1);
    int64_t until = zclock_mono () + 3000;
    while (s_counter ("svc-rated", "cache.misses") < 100 &&
           zclock_mono () < until)
        rb_tnode_pump (&s_f->ops, 10);
    /* the first GETs went at once; a second later at most a second's
       worth of re-polls and the bucket's own second have gone */
    uint64_t polls = s_counter ("svc-rated", "polls");
    int64_t from = zclock_mono ();
    rb_tnode_pump (&s_f->ops, 1000);
    uint64_t allowed = 20 * (uint64_t) (zclock_mono () - from) / 1000 + 20 + 5;
    ck_assert_uint_le (s_counter ("svc-rated", "polls") - polls, allowed);
    ck_assert_uint_gt (s_counter ("svc-rated", "polls_held"), 0);
    /* a RECOVERED push is not held: r7's diff answers its terminal now */
    int64_t diffed = zclock_mono ();
    s_diff_put (5, "r7", "v5");
    answer_t a = s_recv_answer (t, 2000);
    ck_assert (a.answered);
    ck_assert_int_eq (a.status, RB_ANS_OK);
    ck_assert_int_lt (a.at - diffed, 1000);
    zsock_destroy (&t);
    zactor_destroy (&rated);
}
END_TEST

START_TEST (service_refuses_malformed_terminal_requests)
{
    zsock_t *t = s_terminal (s_f->latest_ep);
    zstr_send (t, "garbage");
    zmsg_t *msg = NULL;
    zpoller_t *p = zpoller_new (t, NULL);
    ck_assert_ptr_nonnull (zpoller_wait (p, 3000));
    msg = zmsg_recv (t);
    rb_header_t h;
    rb_body_t b;
    rb_body_init (&b, RB_T_NONE);
    rb_err_t err;
    ck_assert_int_eq (rb_msg_decode (msg, NULL, &h, &b, &err), 0);
    ck_assert_int_eq (h.kind, RB_K_ERROR);
    ck_assert_int_eq (h.status, RB_S_MALFORMED);
    zmsg_destroy (&msg);
    /* four frames: refused before any header is read, so no corr */
    zstr_sendx (t, "a", "b", "c", "d", NULL);
    ck_assert_ptr_nonnull (zpoller_wait (p, 3000));
    msg = zmsg_recv (t);
    rb_body_release (&b);
    rb_body_init (&b, RB_T_NONE);
    ck_assert_int_eq (rb_msg_decode (msg, NULL, &h, &b, &err), 0);
    ck_assert_int_eq (h.status, RB_S_MALFORMED);
    ck_assert_uint_eq (h.corr, 0);
    zmsg_destroy (&msg);
    zpoller_destroy (&p);
    /* and still serves */
    ck_assert_int_eq (rb_tnode_order (&s_f->ops, 1, "k", "v"), 0);
    zsock_destroy (&t);
    ck_assert_str_eq (s_ask (s_f->latest_ep, "k").value, "v");
    rb_body_release (&b);
}
END_TEST

/*  Sends the i-th request of a burst: a GET of key (every tenth with
    dest set, which terminals need not send but may), or a REPLY, or a
    GET without its body frame.  */
static void
s_send_odd (zsock_t *t, int i, const char *key)
{
    rb_header_t h = {.kind = RB_K_REQUEST, .type = RB_T_GET, .corr = i};
    rb_body_t b;
    rb_body_init (&b, RB_T_GET);
    b.key = rb_str (key);
    if (i % 10 == 3)
        snprintf (h.dest, sizeof h.dest, "db");
    if (i % 10 == 5)
        h.kind = RB_K_REPLY;
    zmsg_t *msg = rb_msg_new (&h, i % 10 == 7 ? NULL : &b);
    ck_assert_int_eq (zmsg_send (&msg, t), 0);
}

/*  Reads n replies on t: *kinds[corr] gets each one's kind, and values
    (when given) the value of each ANSWER.  */
static void
s_recv_burst (zsock_t *t, int n, uint8_t *kinds, char (*values)[8])
{
    zpoller_t *p = zpoller_new (t, NULL);
    int64_t until = zclock_mono () + 10000;
    for (int got = 0; got < n && zclock_mono () < until;) {
        rb_bus_poll (s_f->ops.bus, 0);
        if (!zpoller_wait (p, 5))
            continue;
        zmsg_t *msg = zmsg_recv (t);
        rb_header_t h;
        rb_body_t b;
        rb_body_init (&b, RB_T_NONE);
        ck_assert_int_eq (rb_msg_decode (msg, NULL, &h, &b, NULL), 0);
        ck_assert_uint_lt (h.corr, (uint64_t) n);
        ck_assert_int_eq (kinds[h.corr], 0); /* one reply a request */
        kinds[h.corr] = h.kind;
        if (values && h.kind == RB_K_REPLY)
            snprintf (values[h.corr], sizeof values[0], "%.*s",
                      (int) b.value.len, b.value.ptr);
        rb_body_release (&b);
        zmsg_destroy (&msg);
        got++;
    }
    zpoller_destroy (&p);
}

START_TEST (service_serves_bursts_of_hits_and_odd_requests)
{
    ck_assert_int_eq (rb_tnode_order (&s_f->ops, 1, "k", "v1"), 0);
    ck_assert_str_eq (s_ask (s_f->latest_ep, "k").value, "v1"); /* cached */
    uint64_t malformed = s_counter ("svc-latest", "malformed");
    /* 300 at once: hits, and the requests the quick decode leaves to the
       full one, each answered as before, whatever its place in a chunk */
    enum { N = 300 };
    zsock_t *t = s_terminal (s_f->latest_ep);
    for (int i = 0; i < N; i++)
        s_send_odd (t, i, "k");
    uint8_t kinds[N] = {0};
    char values[N][8] = {{0}};
    s_recv_burst (t, N, kinds, values);
    for (int i = 0; i < N; i++) {
        bool odd = i % 10 == 5 || i % 10 == 7;
        ck_assert_int_eq (kinds[i], odd ? RB_K_ERROR : RB_K_REPLY);
        if (!odd)
            ck_assert_str_eq (values[i], "v1");
    }
    ck_assert_uint_eq (s_counter ("svc-latest", "malformed"),
                       malformed + N / 5);
    /* a burst right after an order's ACK: none answered the old value */
    uint64_t misses = s_counter ("svc-latest", "cache.misses");
    ck_assert_int_eq (rb_tnode_order (&s_f->ops, 2, "k", "v2"), 0);
    for (int i = 0; i < N; i++)
        s_send_get (t, "k", (uint64_t) i);
    memset (kinds, 0, sizeof kinds);
    s_recv_burst (t, N, kinds, values);
    for (int i = 0; i < N; i++) {
        ck_assert_int_eq (kinds[i], RB_K_REPLY);
        ck_assert_str_eq (values[i], "v2");
    }
    ck_assert_uint_eq (s_counter ("svc-latest", "cache.misses"), misses);
    zsock_destroy (&t);
}
END_TEST

/*  Runs recobus-terminal with args; returns its exit status, output in
 *out (caller frees), while the ops node keeps heartbeating.  */
static int
s_terminal_run (char **argv, char **out)
{
    rb_proc_t *p = rb_proc_start (argv, NULL);
    ck_assert_ptr_nonnull (p);
    int rc = -1;
    int64_t until = zclock_mono () + 10000;
    while (rc == -1 && zclock_mono () < until) {
        rc = rb_proc_wait (p, 20);
        rb_bus_poll (s_f->ops.bus, 0);
    }
    *out = rb_proc_stdout (p);
    rb_proc_destroy (&p);
    return rc;
}

START_TEST (terminal_prints_one_line_per_key_and_escapes_bytes)
{
    ck_assert_int_eq (rb_tnode_order (&s_f->ops, 1, "+81-1",
                                      "al\x01"
                                      "ce\tx"),
                      0);
    char *argv[] = {RECOBUS_BINARY_DIR "/recobus-terminal",
                    "--service",
                    s_f->latest_ep,
                    "get",
                    "+81-1",
                    "+81-2",
                    NULL};
    char *out;
    ck_assert_int_eq (s_terminal_run (argv, &out), 0);
    ck_assert_str_eq (out, "+81-1\tok\t1\tal\\x01ce\\tx\n"
                           "+81-2\tnot_found\t0\t\n");
    free (out);
    /* JSON: valid UTF-8 as a string, anything else base64 and marked */
    ck_assert_int_eq (rb_tnode_order (&s_f->ops, 2, "bin", "\xff\xfe"), 0);
    char *jargv[] = {RECOBUS_BINARY_DIR "/recobus-terminal",
                     "--json",
                     "--service",
                     s_f->latest_ep,
                     "get",
                     "+81-2",
                     "bin",
                     NULL};
    ck_assert_int_eq (s_terminal_run (jargv, &out), 0);
    ck_assert_str_eq (out,
                      "{\"key\":\"+81-2\",\"status\":\"not_found\",\"seq\":0,"
                      "\"value\":null}\n"
                      "{\"key\":\"bin\",\"status\":\"ok\",\"seq\":2,"
                      "\"value\":\"//4=\",\"value_encoding\":\"base64\"}\n");
    free (out);
}
END_TEST

START_TEST (terminal_exits_69_when_the_service_does_not_answer)
{
    char endpoint[64];
    snprintf (endpoint, sizeof endpoint, "tcp://127.0.0.1:%d", rb_free_port ());
    char *argv[] = {RECOBUS_BINARY_DIR "/recobus-terminal",
                    "--service",
                    endpoint,
                    "--timeout",
                    "300",
                    "get",
                    "k",
                    NULL};
    char *out;
    ck_assert_int_eq (s_terminal_run (argv, &out), 69);
    ck_assert_str_eq (out, "");
    free (out);
    char *bad[] = {RECOBUS_BINARY_DIR "/recobus-terminal", "get", "a b", NULL};
    ck_assert_int_eq (s_terminal_run (bad, &out),
                      65); /* EX_DATAERR, as in recobus-ops */
    free (out);
}
END_TEST

int
main (void)
{
    Suite *s = suite_create ("service");
    TCase *tc = tcase_create ("service");
    tcase_set_timeout (tc, 60);
    tcase_add_checked_fixture (tc, s_setup, s_teardown);
    tcase_add_test (tc, service_answers_a_miss_from_the_db_then_hits_its_cache);
    tcase_add_test (tc, service_cache_follows_update_pushes);
    tcase_add_test (
        tc,
        absent_keys_cost_redis_nothing_and_their_creation_and_changes_are_pushed);
    tcase_add_test (tc,
                    service_drops_its_cache_on_reset_and_waits_before_the_list);
    tcase_add_test (tc, stale_ok_answers_stale_with_the_restored_value);
    tcase_add_test (tc, latest_only_answers_the_new_value_once_the_diff_lands);
    tcase_add_test (tc, fifty_terminals_on_one_key_share_one_poll_stream);
    tcase_add_test (
        tc, service_answers_unavailable_within_max_wait_when_the_db_is_down);
    tcase_add_test (tc, service_caps_its_waits_and_answers_the_rest_at_once);
    tcase_add_test (tc, service_holds_timed_re_polls_to_poll_rate);
    tcase_add_test (tc, service_refuses_malformed_terminal_requests);
    tcase_add_test (tc, service_serves_bursts_of_hits_and_odd_requests);
    tcase_add_test (tc, terminal_prints_one_line_per_key_and_escapes_bytes);
    tcase_add_test (tc, terminal_exits_69_when_the_service_does_not_answer);
    suite_add_tcase (s, tc);
    return rb_test_run (s);
}
