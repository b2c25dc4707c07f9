/*  rb_ovtest: what the overload suite shares (rb_ovtest.h).  */
#include "rb_ovtest.h"
#include "rb_testing.h"

#include <string.h>

#ifndef RECOBUS_BINARY_DIR
#error "RECOBUS_BINARY_DIR must name the build tree"
#endif

/*  Real daemons with config (ZPL), one service node svc-1 with policy
    (NULL: none), and the test's ops node ops-1 on their bus.  */
rb_pcluster_t *
ov_cluster (bool curve, bool tap, const char *config, const char *policy,
            rb_tnode_t *ops)
{
    rb_pcluster_opts_t o = {.bin_dir = RECOBUS_BINARY_DIR,
                            .curve = curve,
                            .tap = tap,
                            .config = config,
                            .services = {{policy ? "svc-1" : NULL, policy}}};
    rb_pcluster_t *pc = rb_pcluster_new (&o);
    ck_assert_msg (pc != NULL, "the cluster did not start (stderr says why)");
    rb_tnode_start (ops, pc->c, RB_ROLE_OPS, "ops-1");
    rb_tnode_wait_db (ops);
    return pc;
}

/*  Every daemon alive, then each exits 0 on SIGTERM. */
void
ov_stop (rb_pcluster_t **pc, rb_tnode_t *ops)
{
    ck_assert_msg (rb_pcluster_alive (*pc), "a daemon died under the flood");
    rb_tnode_stop (ops);
    ck_assert_int_eq (rb_pcluster_stop (pc), 0);
}

void
ov_legit (legit_t *t, const char *endpoint)
{
    memset (t, 0, sizeof *t);
    t->sock = zsock_new_dealer (endpoint);
    ck_assert_ptr_nonnull (t->sock);
    zsock_set_linger (t->sock, 0);
}

answer_t
ov_ask (legit_t *t, const char *key, int timeout_ms)
{
    rb_header_t h = {.kind = RB_K_REQUEST, .type = RB_T_GET, .corr = ++t->corr};
    rb_body_t b;
    rb_body_init (&b, RB_T_GET);
    b.key = rb_str (key);
    int64_t sent = zclock_mono (), until = sent + timeout_ms;
    ck_assert_int_eq (rb_msg_send (zsock_resolve (t->sock), &h, &b), 0);
    answer_t a = {0};
    zpoller_t *poller = zpoller_new (t->sock, NULL);
    while (!a.answered && zclock_mono () < until &&
           zpoller_wait (poller, (int) (until - zclock_mono ()))) {
        zmsg_t *msg = zmsg_recv (t->sock);
        if (msg && rb_msg_decode (msg, NULL, &h, &b, NULL) == RB_OK &&
            h.corr == t->corr && b.type == RB_T_ANSWER) {
            a.answered = true;
            a.status = b.answer;
            snprintf (a.value, sizeof a.value, "%.*s", (int) b.value.len,
                      b.has_value ? b.value.ptr : "");
        }
        zmsg_destroy (&msg);
    }
    zpoller_destroy (&poller);
    rb_body_release (&b);
    int64_t took = zclock_mono () - sent;
    t->worst_ms = took > t->worst_ms ? took : t->worst_ms;
    return a;
}

/*  The GET answered ok with value, within timeout_ms. */
void
ov_expect_ok (legit_t *t, const char *key, const char *value, int timeout_ms)
{
    answer_t a = ov_ask (t, key, timeout_ms);
    ck_assert_msg (a.answered, "no answer for %s within %d ms", key,
                   timeout_ms);
    ck_assert_msg (a.status == RB_ANS_OK, "%s answered %s", key,
                   rb_answer_name (a.status));
    ck_assert_str_eq (a.value, value);
}

/*  A numeric item of the STATUS answer of dest (a service or node). */
uint64_t
ov_status (rb_tnode_t *ops, int addr, const char *dest, const char *name)
{
    uint64_t value;
    ck_assert_int_eq (
        rb_status_num (ops->bus, addr, dest, name, WAIT_MS, 0, &value), 0);
    return value;
}

uint64_t
ov_broker_num (rb_tnode_t *ops, const char *name)
{
    return ov_status (ops, RB_ADDR_SERVICE, "broker", name);
}

uint64_t
ov_svc_num (rb_tnode_t *ops, const char *name)
{
    return ov_status (ops, RB_ADDR_NODE, "svc-1", name);
}

/*  Puts n records PREFIX<i> = value, seqs from seq on, 32 in flight. */
typedef struct {
    int acked, failed;
} acks_t;

static void
s_on_ack (rb_bus_t *bus, const rb_header_t *h, const rb_body_t *b,
          zmsg_t **msg_p, void *arg, uint64_t cookie)
{
    acks_t *a = (acks_t *) arg;
    if (h->kind == RB_K_REPLY)
        a->acked++;
    else
        a->failed++;
}

void
ov_orders (rb_tnode_t *ops, const char *prefix, int n, const char *value,
           uint64_t seq)
{
    acks_t a = {0};
    int sent = 0;
    int64_t until = zclock_mono () + 30000;
    while (a.acked + a.failed < n && zclock_mono () < until) {
        while (sent < n && sent - (a.acked + a.failed) < 32) {
            char key[32];
            snprintf (key, sizeof key, "%s%d", prefix, sent);
            rb_body_t b;
            rb_body_init (&b, RB_T_ORDER);
            b.seq = seq + (uint64_t) sent;
            b.key = rb_str (key);
            b.op = RB_OP_PUT;
            b.has_value = true;
            b.value = rb_str (value);
            if (rb_bus_request (ops->bus, RB_ADDR_SERVICE, "db", &b, WAIT_MS,
                                s_on_ack, &a, 0))
                break; /* too many pending: after a poll */
            sent++;
        }
        rb_bus_poll (ops->bus, 5);
    }
    ck_assert_int_eq (a.acked, n);
}

/*  A flood, started or the test fails. */
rb_flood_t *
ov_flood (const rb_flood_opts_t *o)
{
    rb_flood_t *f = rb_flood_start (o);
    ck_assert_msg (f != NULL, "the %s flood did not start",
                   rb_flood_name (o->kind));
    return f;
}

/*  A daemon's peak RSS growth within its bound. Not under AddressSanitizer
    (cmake -DRECOBUS_SANITIZE=ON): its quarantine keeps freed memory and
    its shadow memory grows with what is touched, by design, so RSS says
    nothing about the caps there; every other check still runs.  */
#if defined(__SANITIZE_ADDRESS__)
#define RSS_CHECKED 0
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define RSS_CHECKED 0
#endif
#endif
#ifndef RSS_CHECKED
#define RSS_CHECKED 1
#endif

void
ov_rss_within (const char *who, long grew_kb, long bound_kb)
{
    if (RSS_CHECKED)
        ck_assert_msg (grew_kb < bound_kb, "%s peak RSS grew %ld kB", who,
                       grew_kb);
}

long
ov_peak_kb (rb_proc_t *p)
{
    long kb = rb_proc_peak_kb (rb_proc_pid (p));
    ck_assert_int_gt (kb, 0);
    return kb;
}
