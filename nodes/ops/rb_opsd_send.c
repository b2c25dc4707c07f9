/*  rb_opsd_send: the ops node's orders (see rb_opsd_int.h).

    A SUBMIT carries a request id and orders without seqs. A request id
    the journal already holds is answered from it and never journaled
    again; a new one is journaled with its orders in one commit (one
    fsync), then the orders go to the DB as one DIFF, and the answer
    (ACK, a refusal for good, or pending) goes back to the sender. With
    the DB out of reach the orders stay pending and the sender is told
    so at once. Pending orders are re-sent by runs of DIFF batches,
    several in flight, started by the watch (each tick the DB answers)
    and by sync; a run skips the orders of SUBMITs still out.  */
#include "rb_opsd_int.h"

#include <inttypes.h>

struct opsd_sub {
    opsd_t *d;
    rb_header_t req; /* the sender's request, to answer */
    char request[RB_OPS_RID_HEX + 1];
    uint64_t first, count; /* its orders' seqs */
    int slot;              /* in d->subs */
};

/*  One DIFF batch of a re-send in flight. */
typedef struct {
    opsd_t *d;
    int slot; /* in the run's batches */
    uint32_t n;
    uint64_t seqs[];
} batch_t;

struct opsd_resend {
    rb_journal_map_t *map;
    uint64_t *offsets; /* pending orders, seq ascending */
    size_t n, next;    /* how many; the next to send */
    int inflight;
    batch_t *batches[RB_OPS_WINDOW]; /* in flight */
    bool failed;                     /* a batch failed: send no more */
    uint64_t sent, applied, skipped, rejected, first, last;
    char why[400];
};

/*  --- INFO answers ------------------------------------------------------- */

void
opsd_num (opsd_items_t *it, const char *name, uint64_t v)
{
    assert (it->n < OPSD_ITEMS_MAX);
    it->items[it->n++] = (rb_item_t){rb_str (name), false, {NULL, 0}, v};
}

void
opsd_text (opsd_items_t *it, const char *name, const char *text)
{
    assert (it->n < OPSD_ITEMS_MAX);
    it->items[it->n++] = (rb_item_t){rb_str (name), true, rb_str (text), 0};
}

void
opsd_answer (opsd_t *d, const rb_header_t *req, opsd_items_t *it)
{
    rb_body_t b;
    rb_body_init (&b, RB_T_INFO);
    b.items = it->items;
    b.n_items = it->n;
    rb_bus_reply (d->bus, req, &b);
}

/*  The answer about the orders first .. first + count - 1. */
static void
s_answer_orders (opsd_t *d, const rb_header_t *req, const char *request,
                 uint64_t first, uint64_t count, opsd_items_t *it)
{
    opsd_text (it, "request", request);
    opsd_num (it, "seq", first);
    opsd_num (it, "count", count);
    opsd_num (it, "left",
              rb_journal_pending_in (d->journal, first, first + count - 1));
    opsd_num (it, "pending", rb_journal_pending (d->journal, NULL, NULL));
    opsd_answer (d, req, it);
}

/*  --- one SUBMIT ------------------------------------------------------- */

static void
s_sub_free (opsd_sub_t *sub)
{
    sub->d->subs[sub->slot] = NULL;
    free (sub);
}

/*  The seqs first .. first + n - 1, for the journal's ack or reject. */
static uint64_t *
s_seqs (uint64_t first, uint64_t n)
{
    uint64_t *seqs = (uint64_t *) malloc (n * sizeof (uint64_t));
    assert (seqs);
    for (uint64_t i = 0; i < n; i++)
        seqs[i] = first + i;
    return seqs;
}

/*  Settles seqs in the journal: acknowledged (ack) or refused for good,
    counting the ones that were still pending.  */
static void
s_settle (opsd_t *d, const uint64_t *seqs, size_t n, bool ack,
          uint64_t watermark)
{
    uint64_t before = rb_journal_pending (d->journal, NULL, NULL);
    if (ack)
        rb_journal_ack (d->journal, seqs, n, watermark);
    else
        rb_journal_reject (d->journal, seqs, n);
    uint64_t settled = before - rb_journal_pending (d->journal, NULL, NULL);
    if (ack)
        d->acked += settled;
    else
        d->rejected += settled;
}

/*  The DB's answer to a SUBMIT's DIFF: settled in the journal, told to
    the sender.  */
static void
s_sub_answered (rb_bus_t *bus, const rb_header_t *h, const rb_body_t *b,
                zmsg_t **msg_p, void *arg, uint64_t cookie)
{
    opsd_sub_t *sub = (opsd_sub_t *) arg;
    opsd_t *d = sub->d;
    opsd_items_t it = {.n = 0};
    uint64_t *seqs = s_seqs (sub->first, sub->count);
    char why[600] = "";
    bool ack = h->kind == RB_K_REPLY && b->type == RB_T_ACK;
    if (ack) {
        s_settle (d, seqs, sub->count, true, b->watermark);
        opsd_num (&it, "applied", b->applied);
        opsd_num (&it, "skipped", b->skipped);
        opsd_num (&it, "cleared", b->cleared);
        opsd_num (&it, "watermark", b->watermark);
        d->db_ok = true;
    } else {
        int code = h->kind == RB_K_ERROR ? h->status : RB_S_INTERNAL;
        ops_describe (code, b->type == RB_T_ERROR ? &b->text : NULL, why,
                      sizeof why);
        if (code == RB_S_MALFORMED || code == RB_S_BAD_REQUEST) {
            s_settle (d, seqs, sub->count, false, 0);
            opsd_num (&it, "rejected", sub->count);
        } else {
            d->db_ok = false; /* the next STATUS answered says it is back */
            d->db_failures++;
            snprintf (d->db_why, sizeof d->db_why, "%s", why);
        }
        opsd_text (&it, "message", why);
    }
    s_answer_orders (d, &sub->req, sub->request, sub->first, sub->count, &it);
    free (seqs);
    s_sub_free (sub);
}

/*  Sends the SUBMIT's orders, journaled as first.., as one DIFF. */
static void
s_sub_send (opsd_t *d, opsd_sub_t *sub, const rb_body_t *b)
{
    rb_order_t *orders =
        (rb_order_t *) malloc (b->n_orders * sizeof (rb_order_t));
    assert (orders);
    for (uint32_t i = 0; i < b->n_orders; i++) {
        orders[i] = b->orders[i];
        orders[i].seq = sub->first + i;
    }
    rb_body_t diff;
    rb_body_init (&diff, RB_T_DIFF);
    diff.orders = orders;
    diff.n_orders = b->n_orders;
    /* half the sender's wait: it hears "pending" rather than nothing */
    uint32_t leg = sub->req.timeout_ms ? sub->req.timeout_ms / 2
                                       : (uint32_t) d->opts.timeout_ms / 2;
    if (leg > (uint32_t) d->opts.timeout_ms)
        leg = (uint32_t) d->opts.timeout_ms;
    if (rb_bus_request (d->bus, RB_ADDR_SERVICE, RB_OPS_DB, &diff,
                        leg < 100 ? 100 : leg, s_sub_answered, sub, 0)) {
        opsd_items_t it = {.n = 0};
        opsd_text (&it, "message", "too many requests pending on the bus");
        s_answer_orders (d, &sub->req, sub->request, sub->first, sub->count,
                         &it);
        s_sub_free (sub);
    }
    free (orders);
}

/*  Journals the orders and their request id in one commit. 0, or -1
    (answered).  */
static int
s_journal (opsd_t *d, const rb_header_t *h, const rb_body_t *b,
           const uint8_t rid[16], uint64_t *first)
{
    uint64_t seq = 0;
    int rc = 0;
    for (uint32_t i = 0; rc == 0 && i < b->n_orders; i++) {
        const rb_order_t *o = &b->orders[i];
        rc = rb_journal_add (d->journal, o->op, o->key.ptr, o->key.len,
                             o->value.ptr, o->has_value ? o->value.len : 0,
                             i ? &seq : first);
    }
    if (rc == 0)
        rc = rb_journal_add_request (d->journal, rid, *first, b->n_orders);
    if (rc == 0)
        rc = rb_journal_commit (d->journal);
    if (rc == 0)
        return 0;
    rb_journal_drop_staged (d->journal);
    char why[700];
    snprintf (why, sizeof why, "not journaled: %s",
              rb_journal_errstr (d->journal));
    zsys_error ("recobus-ops: serve: %s", why);
    rb_bus_error (d->bus, h, RB_S_IO, why);
    return -1;
}

static int
s_free_slot (opsd_t *d)
{
    for (int i = 0; i < OPSD_SUBS_MAX; i++)
        if (!d->subs[i])
            return i;
    return -1;
}

static void s_sync (opsd_t *d, const rb_header_t *h);

void
opsd_submit (opsd_t *d, const rb_header_t *h, const rb_body_t *b)
{
    d->submits++;
    uint8_t rid[16];
    char request[RB_OPS_RID_HEX + 1];
    if (ops_unhex (b->text.ptr, b->text.len, rid)) {
        rb_bus_error (d->bus, h, RB_S_BAD_REQUEST,
                      "request: 32 hex digits expected");
        return;
    }
    snprintf (request, sizeof request, "%.*s", (int) b->text.len, b->text.ptr);
    if (b->n_orders == 0) {
        s_sync (d, h);
        return;
    }
    uint64_t first;
    uint32_t count;
    opsd_items_t it = {.n = 0};
    if (rb_journal_request (d->journal, rid, &first, &count)) {
        d->repeats++;
        opsd_num (&it, "repeat", 1);
        s_answer_orders (d, h, request, first, count, &it);
        return;
    }
    int slot = s_free_slot (d);
    if (slot < 0) {
        d->overloaded++;
        rb_bus_error (d->bus, h, RB_S_OVERLOADED,
                      "too many orders waiting for the DB: try again");
        return;
    }
    if (s_journal (d, h, b, rid, &first))
        return;
    d->journaled += b->n_orders;
    if (!d->db_ok) { /* pending at once: the watch re-sends them */
        opsd_text (&it, "message", d->db_why);
        s_answer_orders (d, h, request, first, b->n_orders, &it);
        return;
    }
    opsd_sub_t *sub = (opsd_sub_t *) calloc (1, sizeof *sub);
    assert (sub);
    *sub = (opsd_sub_t){d, *h, "", first, b->n_orders, slot};
    snprintf (sub->request, sizeof sub->request, "%s", request);
    d->subs[slot] = sub;
    s_sub_send (d, sub, b);
}

/*  --- re-sending pending orders ------------------------------------------ */

/*  Whether seq belongs to a SUBMIT whose DIFF is still out. */
static bool
s_in_flight (opsd_t *d, uint64_t seq)
{
    for (int i = 0; i < OPSD_SUBS_MAX; i++)
        if (d->subs[i] && seq >= d->subs[i]->first &&
            seq < d->subs[i]->first + d->subs[i]->count)
            return true;
    return false;
}

static void s_resend_pump (opsd_t *d);

static void
s_batch_answered (rb_bus_t *bus, const rb_header_t *h, const rb_body_t *b,
                  zmsg_t **msg_p, void *arg, uint64_t cookie)
{
    batch_t *bt = (batch_t *) arg;
    opsd_t *d = bt->d;
    opsd_resend_t *r = d->resend;
    r->inflight--;
    r->batches[bt->slot] = NULL;
    int code = h->kind == RB_K_ERROR ? h->status : RB_S_INTERNAL;
    if (h->kind == RB_K_REPLY && b->type == RB_T_ACK) {
        s_settle (d, bt->seqs, bt->n, true, b->watermark);
        r->applied += b->applied;
        r->skipped += b->skipped;
        d->resent += bt->n;
    } else if (code == RB_S_MALFORMED || code == RB_S_BAD_REQUEST) {
        s_settle (d, bt->seqs, bt->n, false, 0);
        r->rejected += bt->n;
    } else {
        if (!r->failed)
            ops_describe (code, b->type == RB_T_ERROR ? &b->text : NULL, r->why,
                          sizeof r->why);
        r->failed = true;
        d->db_ok = false;
        d->db_failures++;
        snprintf (d->db_why, sizeof d->db_why, "%s", r->why);
    }
    free (bt);
    s_resend_pump (d);
}

/*  Sends the next batch of the run; false when there is none. */
static bool
s_resend_batch (opsd_t *d, opsd_resend_t *r)
{
    ops_diff_t diff;
    memset (&diff, 0, sizeof diff);
    while (r->next < r->n && !ops_diff_full (&diff, d->opts.batch)) {
        rb_jorder_t o;
        if (rb_journal_map_order (r->map, r->offsets[r->next++], &o) == 0 &&
            !s_in_flight (d, o.seq))
            ops_diff_add (&diff, &o);
    }
    bool sent = diff.n > 0;
    if (sent) {
        batch_t *bt =
            (batch_t *) malloc (sizeof *bt + diff.n * sizeof (uint64_t));
        assert (bt);
        bt->d = d;
        bt->n = diff.n;
        bt->slot = 0;
        while (r->batches[bt->slot])
            bt->slot++; /* a free one: fewer than the window are out */
        memcpy (bt->seqs, diff.seqs, diff.n * sizeof (uint64_t));
        rb_body_t body;
        rb_body_init (&body, RB_T_DIFF);
        body.orders = diff.orders;
        body.n_orders = diff.n;
        if (rb_bus_request (d->bus, RB_ADDR_SERVICE, RB_OPS_DB, &body,
                            (uint32_t) d->opts.timeout_ms, s_batch_answered, bt,
                            0) == 0) {
            r->batches[bt->slot] = bt;
            r->inflight++;
            r->sent += diff.n;
        } else {
            free (bt);
            r->failed = true;
            snprintf (r->why, sizeof r->why, "too many requests pending");
        }
    }
    ops_diff_free (&diff);
    return sent;
}

static void s_resend_end (opsd_t *d);

static void
s_resend_pump (opsd_t *d)
{
    opsd_resend_t *r = d->resend;
    while (!r->failed && r->inflight < RB_OPS_WINDOW && r->next < r->n)
        if (!s_resend_batch (d, r))
            break;
    if (r->inflight == 0 && (r->failed || r->next >= r->n))
        s_resend_end (d);
}

void
opsd_resend_start (opsd_t *d)
{
    uint64_t first, last;
    if (d->resend || !d->db_ok ||
        rb_journal_pending (d->journal, &first, &last) == 0)
        return;
    opsd_resend_t *r = (opsd_resend_t *) calloc (1, sizeof *r);
    assert (r);
    r->map = rb_journal_map_new (d->journal);
    if (!r->map) {
        zsys_error ("recobus-ops: serve: %s", rb_journal_errstr (d->journal));
        free (r);
        return;
    }
    r->n = rb_journal_pending_list (d->journal, &r->offsets);
    r->first = first;
    r->last = last;
    d->resend = r;
    d->resend_runs++;
    zsys_info ("recobus-ops: serve: re-sending %zu pending order(s), seqs "
               "%" PRIu64 "..%" PRIu64,
               r->n, first, last);
    s_resend_pump (d);
}

/*  --- sync ------------------------------------------------------------ */

/*  What a sync is told: the run that ended, or why none ran. */
static void
s_sync_answer (opsd_t *d, const rb_header_t *h, const opsd_resend_t *r)
{
    opsd_items_t it = {.n = 0};
    uint64_t first, last;
    uint64_t left = rb_journal_pending (d->journal, &first, &last);
    opsd_num (&it, "resent", r ? r->sent : 0);
    opsd_num (&it, "first_seq", r ? r->first : first);
    opsd_num (&it, "last_seq", r ? r->last : last);
    opsd_num (&it, "applied", r ? r->applied : 0);
    opsd_num (&it, "skipped", r ? r->skipped : 0);
    opsd_num (&it, "rejected", r ? r->rejected : 0);
    opsd_num (&it, "pending", left);
    opsd_num (&it, "next_seq", rb_journal_next_seq (d->journal));
    if (left)
        opsd_text (&it, "message", r && r->why[0] ? r->why : d->db_why);
    opsd_answer (d, h, &it);
}

static void
s_sync (opsd_t *d, const rb_header_t *h)
{
    opsd_resend_start (d);
    if (!d->resend) { /* nothing pending, or the DB out of reach */
        s_sync_answer (d, h, NULL);
        return;
    }
    if (d->n_syncs == OPSD_SYNCS_MAX) {
        d->overloaded++;
        rb_bus_error (d->bus, h, RB_S_OVERLOADED, "too many syncs waiting");
        return;
    }
    d->syncs[d->n_syncs++] = *h;
}

static void
s_resend_free (opsd_t *d)
{
    opsd_resend_t *r = d->resend;
    for (int i = 0; i < RB_OPS_WINDOW; i++)
        free (r->batches[i]);
    rb_journal_map_destroy (&r->map);
    free (r->offsets);
    free (r);
    d->resend = NULL;
}

static void
s_resend_end (opsd_t *d)
{
    opsd_resend_t *r = d->resend;
    for (int i = 0; i < d->n_syncs; i++)
        s_sync_answer (d, &d->syncs[i], r);
    d->n_syncs = 0;
    if (r->failed)
        zsys_warning ("recobus-ops: serve: re-send stopped: %s", r->why);
    s_resend_free (d);
}

void
opsd_send_stop (opsd_t *d)
{
    for (int i = 0; i < OPSD_SUBS_MAX; i++)
        if (d->subs[i]) {
            rb_bus_error (d->bus, &d->subs[i]->req, RB_S_UNAVAILABLE,
                          "the ops node is stopping: the orders are "
                          "journaled, pending");
            s_sub_free (d->subs[i]);
        }
    for (int i = 0; i < d->n_syncs; i++)
        rb_bus_error (d->bus, &d->syncs[i], RB_S_UNAVAILABLE,
                      "the ops node is stopping");
    d->n_syncs = 0;
    if (d->resend) /* its batches' answers will never come now */
        s_resend_free (d);
}
