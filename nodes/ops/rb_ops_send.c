/*  rb_ops_send: batches to the DB, several in flight at once (see
    rb_ops_int.h). Each batch's answer arrives through the bus client's
    callback; an ACK acknowledges its orders in the journal, a failure
    stalls the command (it sends nothing more) and leaves them pending,
    or, for a request the DB could not decode, rejects them for good.  */
#include "rb_ops_int.h"

/*  One batch in flight: what its answer settles. */
typedef struct {
    ops_sender_t *sender;
    uint32_t items;
    uint32_t n_seqs;
    uint64_t seqs[]; /* its journaled orders, ascending */
} batch_t;

void
ops_sender_init (ops_sender_t *s, ops_t *ops, bool ack_journal)
{
    memset (s, 0, sizeof *s);
    s->ops = ops;
    s->ack_journal = ack_journal;
    s->timeout_ms = (uint32_t) ops->opts.timeout_ms;
}

static void
s_took (ops_sender_t *s, batch_t *bt, const rb_body_t *ack)
{
    s->acked++;
    s->applied += ack->applied;
    s->skipped += ack->skipped;
    s->cleared += ack->cleared;
    s->flagged += ack->flagged;
    s->current += ack->current;
    if (ack->watermark > s->watermark)
        s->watermark = ack->watermark;
    if (s->ack_journal && bt->n_seqs &&
        rb_journal_ack (s->ops->journal, bt->seqs, bt->n_seqs, ack->watermark))
        ops_note (s->ops, "%s (the orders will be re-sent: harmless)",
                  rb_journal_errstr (s->ops->journal));
}

/*  A request the DB could not decode will never be taken. */
static bool
s_for_good (int code)
{
    return code == RB_S_MALFORMED || code == RB_S_BAD_REQUEST;
}

static void
s_failed (ops_sender_t *s, batch_t *bt, const rb_header_t *h,
          const rb_body_t *b)
{
    int code = h->kind == RB_K_ERROR ? h->status : RB_S_INTERNAL;
    rb_str_t text = b && b->type == RB_T_ERROR
                        ? b->text
                        : rb_str ("unexpected answer from the DB");
    if (s->ack_journal && bt->n_seqs && s_for_good (code)) {
        rb_journal_reject (s->ops->journal, bt->seqs, bt->n_seqs);
        s->rejected += bt->n_seqs;
    } else
        s->failed_items += bt->items;
    if (!s->code) {
        s->code = code;
        ops_describe (code, &text, s->why, sizeof s->why);
    }
    ops_stall (s->ops, code, s->why);
}

static void
s_on_answer (rb_bus_t *bus, const rb_header_t *h, const rb_body_t *b,
             zmsg_t **msg_p, void *arg, uint64_t cookie)
{
    batch_t *bt = (batch_t *) arg;
    ops_sender_t *s = bt->sender;
    s->inflight--;
    if (h->kind == RB_K_REPLY && b && b->type == RB_T_ACK)
        s_took (s, bt, b);
    else
        s_failed (s, bt, h, b);
    if (s->progress)
        ops_progress_add (s->progress, bt->items);
    free (bt);
}

/*  Serves the bus until fewer than limit batches are in flight. */
static int
s_wait_below (ops_sender_t *s, int limit)
{
    while (s->inflight >= limit)
        if (rb_bus_poll (s->ops->bus, 100) == -1) {
            ops_stall (s->ops, RB_S_TIMEOUT, "interrupted");
            return -1;
        }
    return 0;
}

int
ops_sender_send (ops_sender_t *s, const rb_body_t *body, const uint64_t *seqs,
                 uint32_t n_seqs, uint32_t items)
{
    if (s->ops->stop && __atomic_load_n (s->ops->stop, __ATOMIC_RELAXED))
        ops_stall (s->ops, RB_S_TIMEOUT, "stopped: the ops node is stopping");
    if (s->ops->stalled || s_wait_below (s, RB_OPS_WINDOW) || s->ops->stalled)
        return -1;
    batch_t *bt = (batch_t *) malloc (sizeof *bt + n_seqs * sizeof (uint64_t));
    assert (bt);
    bt->sender = s;
    bt->items = items;
    bt->n_seqs = n_seqs;
    if (n_seqs)
        memcpy (bt->seqs, seqs, n_seqs * sizeof (uint64_t));
    if (rb_bus_request (s->ops->bus, RB_ADDR_SERVICE, RB_OPS_DB, body,
                        s->timeout_ms, s_on_answer, bt, 0)) {
        free (bt);
        ops_stall (s->ops, RB_S_OVERLOADED, "too many requests pending");
        return -1;
    }
    s->inflight++;
    s->batches++;
    s->items += items;
    return 0;
}

int
ops_sender_drain (ops_sender_t *s)
{
    while (s->inflight > 0)
        if (rb_bus_poll (s->ops->bus, 100) == -1) {
            /* interrupted: what is in flight stays pending */
            if (!s->code) {
                s->code = RB_S_TIMEOUT;
                snprintf (s->why, sizeof s->why, "interrupted");
            }
            break;
        }
    return s->code;
}

/*  --- DIFF batches ----------------------------------------------------- */

void
ops_diff_add (ops_diff_t *d, const rb_jorder_t *o)
{
    if (d->n == d->cap) {
        d->cap = d->cap ? d->cap * 2 : 256;
        d->orders =
            (rb_order_t *) realloc (d->orders, d->cap * sizeof (rb_order_t));
        d->seqs = (uint64_t *) realloc (d->seqs, d->cap * sizeof (uint64_t));
        assert (d->orders && d->seqs);
    }
    bool put = o->op == RB_OP_PUT;
    d->orders[d->n] =
        (rb_order_t){o->seq, rb_strn (o->key, o->key_len), o->op, put,
                     rb_strn (put ? o->value : NULL, put ? o->value_len : 0)};
    d->seqs[d->n++] = o->seq;
    d->bytes += o->key_len + o->value_len;
}

bool
ops_diff_full (const ops_diff_t *d, int batch)
{
    return d->n >= (uint32_t) batch || d->bytes >= RB_OPS_BATCH_BYTES;
}

int
ops_diff_send (ops_diff_t *d, ops_sender_t *s)
{
    if (d->n == 0)
        return 0;
    rb_body_t body;
    rb_body_init (&body, RB_T_DIFF);
    body.orders = d->orders;
    body.n_orders = d->n;
    int rc = ops_sender_send (s, &body, d->seqs, d->n, d->n);
    d->n = 0;
    d->bytes = 0;
    return rc;
}

void
ops_diff_free (ops_diff_t *d)
{
    free (d->orders);
    free (d->seqs);
    memset (d, 0, sizeof *d);
}
