/*  rb_tnode: test nodes on a cluster's bus (see rb_tnode.h). */
#include "rb_tnode.h"

#include <check.h>
#include <stdlib.h>
#include <string.h>

void
rb_tnode_stop (rb_tnode_t *n)
{
    rb_bus_destroy (&n->bus);
}

void
rb_tnode_pump (rb_tnode_t *n, int ms)
{
    int64_t until = zclock_mono () + ms;
    while (zclock_mono () < until)
        rb_bus_poll (n->bus, 5);
}

static void
s_pushed (rb_bus_t *bus, const rb_header_t *h, const rb_body_t *b,
          zmsg_t **msg_p, void *arg)
{
    rb_tnode_t *n = (rb_tnode_t *) arg;
    if (h->type == RB_T_RESET)
        n->resets++, n->last_epoch = b->epoch;
    if (h->type == RB_T_UPDATE) {
        n->updates++, n->last_seq = b->seq;
        n->last_update_epoch = b->epoch;
        n->last_found = b->has_value;
        snprintf (n->last_value, sizeof n->last_value, "%.*s",
                  (int) b->value.len, b->value.ptr ? b->value.ptr : "");
    }
    if (h->type == RB_T_RECOVERED)
        n->recovered++;
    if (b->key.len)
        snprintf (n->last_key, sizeof n->last_key, "%.*s", (int) b->key.len,
                  b->key.ptr);
}

void
rb_tnode_start (rb_tnode_t *n, rb_cluster_t *c, int role, const char *name)
{
    memset (n, 0, sizeof *n);
    rb_bus_opts_t o = {.endpoint = c->bus,
                       .role = role,
                       .name = name,
                       .curve_cert =
                           rb_cluster_key (c, rb_role_name (role), name),
                       .broker_cert = c->broker_cert};
    n->bus = rb_bus_new (&o);
    rb_bus_on_push (n->bus, s_pushed, n);
    ck_assert_int_eq (rb_bus_wait_ready (n->bus, 3000), 0);
}

int
rb_tnode_ask (rb_tnode_t *n, const rb_body_t *req, rb_reply_t *out)
{
    rb_body_init (&out->b, RB_T_NONE);
    return rb_bus_call (n->bus, RB_ADDR_SERVICE, "db", req, 5000, &out->msg,
                        &out->h, &out->b);
}

void
rb_reply_done (rb_reply_t *r)
{
    zmsg_destroy (&r->msg);
    rb_body_release (&r->b);
}

/*  Waits until the DB node's service is up on the broker. */
void
rb_tnode_wait_db (rb_tnode_t *n)
{
    int64_t deadline = zclock_mono () + 5000;
    rb_body_t req;
    rb_body_init (&req, RB_T_STATUS);
    while (zclock_mono () < deadline) {
        rb_reply_t r;
        int rc = rb_tnode_ask (n, &req, &r);
        rb_reply_done (&r);
        if (rc == 0)
            return;
        rb_bus_poll (n->bus, 20); /* bounded: the deadline above */
    }
    ck_abort_msg ("the db service never answered");
}

int
rb_tnode_order (rb_tnode_t *ops, uint64_t seq, const char *key,
                const char *value)
{
    rb_body_t req;
    rb_body_init (&req, RB_T_ORDER);
    req.seq = seq;
    req.key = rb_str (key);
    req.op = value ? RB_OP_PUT : RB_OP_DELETE;
    req.has_value = value != NULL;
    req.value = rb_str (value);
    rb_reply_t r;
    int rc = rb_tnode_ask (ops, &req, &r);
    rb_reply_done (&r);
    return rc;
}

rb_got_t
rb_tnode_get (rb_tnode_t *n, const char *key)
{
    rb_body_t req;
    rb_body_init (&req, RB_T_GET);
    req.key = rb_str (key);
    rb_reply_t r;
    rb_got_t g;
    memset (&g, 0, sizeof g);
    g.rc = rb_tnode_ask (n, &req, &r);
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
    rb_reply_done (&r);
    return g;
}

/*  STATUS: the numeric item called name. */
uint64_t
rb_tnode_status_num (rb_tnode_t *n, const char *name)
{
    rb_body_t req;
    rb_body_init (&req, RB_T_STATUS);
    rb_reply_t r;
    ck_assert_int_eq (rb_tnode_ask (n, &req, &r), 0);
    uint64_t v = UINT64_MAX;
    for (uint32_t i = 0; i < r.b.n_items; i++)
        if (rb_str_eq (r.b.items[i].name, name))
            v = r.b.items[i].num;
    rb_reply_done (&r);
    return v;
}

char *
rb_tnode_status_text (rb_tnode_t *n, const char *name)
{
    rb_body_t req;
    rb_body_init (&req, RB_T_STATUS);
    rb_reply_t r;
    ck_assert_int_eq (rb_tnode_ask (n, &req, &r), 0);
    char *v = NULL;
    for (uint32_t i = 0; i < r.b.n_items; i++)
        if (rb_str_eq (r.b.items[i].name, name))
            v = rb_str_dup (r.b.items[i].text);
    rb_reply_done (&r);
    ck_assert_ptr_nonnull (v);
    return v;
}

void
rb_tnode_expect_state (rb_tnode_t *n, const char *state)
{
    char *s = rb_tnode_status_text (n, "state");
    ck_assert_str_eq (s, state);
    free (s);
}

uint64_t
rb_info_num (const rb_body_t *b, const char *name)
{
    for (uint32_t i = 0; i < b->n_items; i++)
        if (!b->items[i].is_text && rb_str_eq (b->items[i].name, name))
            return b->items[i].num;
    return 0;
}

bool
rb_tnode_db_normal (rb_tnode_t *n, uint64_t *epoch)
{
    rb_body_t req;
    rb_body_init (&req, RB_T_STATUS);
    rb_reply_t r;
    if (rb_tnode_ask (n, &req, &r) != 0 || r.b.type != RB_T_INFO) {
        rb_reply_done (&r);
        return false;
    }
    bool normal = false;
    for (uint32_t i = 0; i < r.b.n_items; i++)
        if (r.b.items[i].is_text && rb_str_eq (r.b.items[i].name, "state"))
            normal = rb_str_eq (r.b.items[i].text, "normal");
    *epoch = rb_info_num (&r.b, "epoch");
    rb_reply_done (&r);
    return normal;
}

/*  Sends a BACKUP and returns the file's path (caller frees). */
char *
rb_tnode_backup (rb_tnode_t *ops, uint64_t *records, uint64_t *watermark)
{
    rb_body_t req;
    rb_body_init (&req, RB_T_BACKUP);
    rb_reply_t r;
    ck_assert_int_eq (rb_tnode_ask (ops, &req, &r), 0);
    ck_assert_int_eq (r.b.type, RB_T_BACKUP_DONE);
    char *path = rb_str_dup (r.b.text);
    *records = r.b.records;
    *watermark = r.b.watermark;
    ck_assert_uint_gt (r.b.bytes, 0);
    rb_reply_done (&r);
    return path;
}

int
rb_tnode_restore (rb_tnode_t *ops, const char *path, rb_reply_t *r)
{
    rb_body_t req;
    rb_body_init (&req, RB_T_RESTORE);
    const char *name = strrchr (path, '/'); /* the DB takes a bare name */
    req.text = rb_str (name ? name + 1 : path);
    req.journal_seq = UINT64_MAX; /* a test node keeps no journal */
    return rb_tnode_ask (ops, &req, r);
}

uint64_t
rb_tnode_backup_restore (rb_tnode_t *ops)
{
    uint64_t records, watermark;
    char *path = rb_tnode_backup (ops, &records, &watermark);
    rb_reply_t r;
    ck_assert_int_eq (rb_tnode_restore (ops, path, &r), 0);
    ck_assert_uint_eq (r.b.records, records);
    rb_reply_done (&r);
    free (path);
    return records;
}

int
rb_tnode_list (rb_tnode_t *ops, const rb_entry_t *entries, uint32_t n,
               bool last, rb_reply_t *r)
{
    rb_body_t req;
    rb_body_init (&req, RB_T_RECOVERY_LIST);
    req.entries = (rb_entry_t *) entries;
    req.n_entries = n;
    req.last = last;
    return rb_tnode_ask (ops, &req, r);
}

int
rb_tnode_diff (rb_tnode_t *ops, const rb_order_t *orders, uint32_t n,
               rb_reply_t *r)
{
    rb_body_t req;
    rb_body_init (&req, RB_T_DIFF);
    req.orders = (rb_order_t *) orders;
    req.n_orders = n;
    return rb_tnode_ask (ops, &req, r);
}

int
rb_tnode_end (rb_tnode_t *ops)
{
    rb_body_t req;
    rb_body_init (&req, RB_T_RECOVERY_END);
    rb_reply_t r;
    int rc = rb_tnode_ask (ops, &req, &r);
    rb_reply_done (&r);
    return rc;
}

int
rb_tnode_broker_lists (rb_tnode_t *n, const char *name)
{
    rb_body_t req, b;
    rb_body_init (&req, RB_T_NODES);
    rb_body_init (&b, RB_T_NONE);
    zmsg_t *reply = NULL;
    rb_header_t h;
    int listed = -1;
    if (rb_bus_call (n->bus, RB_ADDR_SERVICE, "broker", &req, 1000, &reply, &h,
                     &b) == 0) {
        listed = 0;
        for (uint32_t i = 0; i < b.n_nodes; i++)
            listed |= rb_str_eq (b.nodes[i].name, name);
    }
    zmsg_destroy (&reply);
    rb_body_release (&b);
    return listed;
}

int
rb_tnode_wait_listed (rb_tnode_t *n, const char *name, bool listed, int ms)
{
    int64_t deadline = zclock_mono () + ms;
    while (rb_tnode_broker_lists (n, name) != (listed ? 1 : 0)) {
        if (zclock_mono () >= deadline)
            return -1;
        rb_bus_poll (n->bus, 2);
    }
    return 0;
}

void
rb_term_open (rb_term_t *t, const char *endpoint)
{
    memset (t, 0, sizeof *t);
    t->sock = zsock_new_dealer (endpoint);
    ck_assert_ptr_nonnull (t->sock);
    zsock_set_linger (t->sock, 0);
}

void
rb_term_close (rb_term_t *t)
{
    zsock_destroy (&t->sock);
}

/*  The status of msg if it answers GET corr (-1 for an ERROR), else 0. */
static int
s_term_answer (zmsg_t *msg, uint64_t corr, uint64_t *seq)
{
    rb_header_t h;
    rb_body_t b;
    rb_body_init (&b, RB_T_NONE);
    int status = 0;
    if (rb_msg_decode (msg, NULL, &h, &b, NULL) == 0 && h.corr == corr) {
        status = h.kind == RB_K_REPLY && b.type == RB_T_ANSWER ? b.answer : -1;
        *seq = b.seq;
    }
    rb_body_release (&b);
    return status;
}

int
rb_term_get (rb_term_t *t, const char *key, int timeout_ms, uint64_t *seq)
{
    rb_header_t h = {.kind = RB_K_REQUEST, .type = RB_T_GET, .corr = ++t->corr};
    rb_body_t b;
    rb_body_init (&b, RB_T_GET);
    b.key = rb_str (key);
    ck_assert_int_eq (rb_msg_send (zsock_resolve (t->sock), &h, &b), 0);
    int status = 0;
    int64_t deadline = zclock_mono () + timeout_ms;
    while (!status && zclock_mono () < deadline) {
        zsock_set_rcvtimeo (t->sock, (int) (deadline - zclock_mono ()));
        zmsg_t *msg = zmsg_recv (t->sock);
        if (!msg)
            break;
        status = s_term_answer (msg, t->corr, seq);
        zmsg_destroy (&msg);
    }
    return status > 0 ? status : 0;
}
