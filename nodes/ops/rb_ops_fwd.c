/*  rb_ops_fwd: the writing commands (put, delete, load, sync) when an
    ops node (recobus-ops serve) owns the journal: sent to it as SUBMIT,
    with the same output and exit codes as when the command journals
    the orders itself.

    Each SUBMIT carries a request id (16 random bytes, or --request-id;
    a load's batches get the id plus their index). The node journals an
    id once: a request that was journaled but whose answer was lost is,
    sent again with the same id, answered from the journal and not
    journaled twice. When the node does not answer, the command cannot
    know whether it journaled the orders: it says so, names the id, and
    exits 69; the same command again with --request-id settles it.  */
#include "rb_ops_int.h"
#include "rb_out.h"

#include <sys/random.h>

/*  --- request ids -------------------------------------------------------- */

static void
s_hex (const uint8_t rid[16], char out[RB_OPS_RID_HEX + 1])
{
    for (int i = 0; i < 16; i++)
        snprintf (out + 2 * i, 3, "%02x", rid[i]);
}

int
ops_fwd_rid (ops_t *self, uint32_t request, uint8_t rid[16])
{
    const char *given = self->opts.request_id ? self->opts.request_id : "";
    if (!self->has_rid && *given &&
        ops_unhex (given, strlen (given), self->rid))
        return ops_fail (self, EX_USAGE,
                         "--request-id: 32 hex digits, not '%s'", given);
    if (!self->has_rid && !*given &&
        getrandom (self->rid, sizeof self->rid, 0) != sizeof self->rid)
        return ops_fail (self, EX_OSERR, "no random bytes for a request id");
    self->has_rid = true;
    memcpy (rid, self->rid, 16);
    uint32_t tail = (uint32_t) rid[12] << 24 | (uint32_t) rid[13] << 16 |
                    (uint32_t) rid[14] << 8 | rid[15];
    tail += request;
    for (int i = 0; i < 4; i++)
        rid[12 + i] = (uint8_t) (tail >> (24 - 8 * i));
    return 0;
}

void
ops_fwd_retry_hint (const uint8_t rid[16], char *out, size_t len)
{
    uint8_t base[16];
    memcpy (base, rid, 16);
    char hex[RB_OPS_RID_HEX + 1];
    s_hex (base, hex);
    snprintf (out, len,
              "run the same command again with --request-id %s (what was "
              "journaled is not journaled again)",
              hex);
}

/*  --- one SUBMIT ----------------------------------------------------- */

static const struct {
    const char *name;
    size_t offset;
} s_fields[] = {
#define R(f)                                                                   \
    {                                                                          \
#f, offsetof(ops_reply_t, f)                                           \
    }
    R (seq),     R (count),     R (left),     R (rejected), R (repeat),
    R (pending), R (applied),   R (skipped),  R (cleared),  R (watermark),
    R (resent),  R (first_seq), R (last_seq), R (next_seq),
#undef R
};

static void
s_reply (const rb_body_t *b, ops_reply_t *r)
{
    memset (r, 0, sizeof *r);
    for (uint32_t i = 0; i < b->n_items; i++) {
        const rb_item_t *it = &b->items[i];
        if (it->is_text && rb_str_eq (it->name, "message"))
            snprintf (r->message, sizeof r->message, "%.*s", (int) it->text.len,
                      it->text.ptr);
        for (size_t f = 0;
             !it->is_text && f < sizeof s_fields / sizeof s_fields[0]; f++)
            if (rb_str_eq (it->name, s_fields[f].name))
                *(uint64_t *) (void *) ((char *) r + s_fields[f].offset) =
                    it->num;
    }
}

int
ops_fwd_submit (ops_t *self, const ops_diff_t *d, const uint8_t rid[16],
                ops_reply_t *r, char *why, size_t len)
{
    char hex[RB_OPS_RID_HEX + 1];
    s_hex (rid, hex);
    rb_body_t req, b;
    rb_body_init (&req, RB_T_SUBMIT);
    req.text = rb_str (hex);
    req.orders = d ? d->orders : NULL;
    req.n_orders = d ? d->n : 0;
    zmsg_t *msg;
    int code = ops_call (self, RB_ADDR_NODE, self->owner, &req,
                         (uint32_t) self->opts.timeout_ms, &msg, &b);
    if (code == 0 && b.type != RB_T_INFO)
        code = RB_S_INTERNAL;
    if (code)
        ops_describe (code, &b.text, why, len);
    else
        s_reply (&b, r);
    zmsg_destroy (&msg);
    rb_body_release (&b);
    return code;
}

/*  --- put and delete ---------------------------------------------------- */

/*  The node refused before journaling (its own ERROR): nothing journaled. */
static bool
s_not_journaled (int code)
{
    return code == RB_S_IO || code == RB_S_BAD_REQUEST ||
           code == RB_S_OVERLOADED || code == RB_S_FORBIDDEN ||
           code == RB_S_MALFORMED;
}

static int
s_unanswered (ops_t *self, const char *what, int code, const char *why,
              const uint8_t rid[16])
{
    if (s_not_journaled (code))
        return ops_fail (self, code == RB_S_IO ? EX_IOERR : ops_exit_for (code),
                         "%s: not journaled: the ops node %s: %s", what,
                         self->owner, why);
    char hint[200];
    ops_fwd_retry_hint (rid, hint, sizeof hint);
    return ops_fail (self, EX_UNAVAILABLE,
                     "%s: the ops node %s did not answer: %s; the order may "
                     "or may not be journaled: %s",
                     what, self->owner, why, hint);
}

/*  The node's answer, told as the command tells its own result. */
static int
s_settle (ops_t *self, const char *key, const ops_reply_t *r)
{
    ops_ack_t ack = {r->applied, r->skipped, r->cleared, r->watermark};
    if (r->rejected)
        return ops_fail (self, EX_DATAERR,
                         "%s: seq %" PRIu64 " refused by the DB for good: %s",
                         key, r->seq, r->message);
    if (r->left) {
        char others[64] = "";
        if (r->pending > 1)
            snprintf (others, sizeof others, " (with %" PRIu64 " earlier)",
                      r->pending - 1);
        ops_order_result (self, key, r->seq, "pending", NULL);
        ops_note (self, "%s: journaled as seq %" PRIu64 ", pending%s: %s", key,
                  r->seq, others, r->message[0] ? r->message : "not sent yet");
        return EX_UNAVAILABLE;
    }
    if (r->repeat) {
        ops_order_result (self, key, r->seq, "applied", NULL);
        ops_note (self,
                  "%s: this request was journaled before, as seq %" PRIu64
                  ": not journaled again",
                  key, r->seq);
        return 0;
    }
    ops_order_result (self, key, r->seq, r->applied ? "applied" : "skipped",
                      &ack);
    if (!r->applied)
        return ops_fail (self, EX_DATAERR,
                         "%s: seq %" PRIu64 " skipped: the DB holds a newer "
                         "record (watermark %" PRIu64
                         "): is this the right journal?",
                         key, r->seq, r->watermark);
    return 0;
}

int
ops_fwd_order (ops_t *self, int op, const char *key, const char *value)
{
    uint8_t rid[16];
    int rc = ops_fwd_rid (self, 0, rid);
    if (rc)
        return rc;
    ops_diff_t d;
    memset (&d, 0, sizeof d);
    rb_jorder_t o = {0,
                     0,
                     (uint8_t) op,
                     key,
                     (uint32_t) strlen (key),
                     value,
                     value ? (uint32_t) strlen (value) : 0};
    ops_diff_add (&d, &o);
    ops_reply_t r;
    char why[600];
    int code = ops_fwd_submit (self, &d, rid, &r, why, sizeof why);
    ops_diff_free (&d);
    return code ? s_unanswered (self, key, code, why, rid)
                : s_settle (self, key, &r);
}

/*  --- sync -------------------------------------------------------------- */

static void
s_sync_json (ops_t *self, const ops_reply_t *r)
{
    json_t *obj = ops_result (self);
    rb_out_json_uint (obj, "resent", r->resent);
    if (r->resent || r->pending) {
        rb_out_json_uint (obj, "first_seq", r->first_seq);
        rb_out_json_uint (obj, "last_seq", r->last_seq);
        rb_out_json_uint (obj, "applied", r->applied);
        rb_out_json_uint (obj, "skipped", r->skipped);
        rb_out_json_uint (obj, "rejected", r->rejected);
    }
    rb_out_json_uint (obj, "pending", r->pending);
    if (r->pending)
        rb_out_json_bytes (obj, "error", r->message, strlen (r->message));
    ops_emit (obj);
}

int
ops_fwd_sync (ops_t *self)
{
    uint8_t rid[16];
    ops_reply_t r;
    char why[600];
    int code = ops_fwd_rid (self, 0, rid);
    if (code)
        return code;
    code = ops_fwd_submit (self, NULL, rid, &r, why, sizeof why);
    if (code)
        return ops_fail (self, ops_exit_for (code),
                         "the ops node %s did not answer: %s", self->owner,
                         why);
    if (self->opts.json)
        s_sync_json (self, &r);
    if (r.pending) {
        ops_note (self,
                  "%" PRIu64 " order(s) still pending (seqs %" PRIu64
                  "..%" PRIu64 "): %s",
                  r.pending, r.first_seq, r.last_seq, r.message);
        return EX_UNAVAILABLE;
    }
    if (!self->opts.json && r.resent == 0)
        ops_say ("nothing pending (next seq %" PRIu64 ")", r.next_seq);
    else if (!self->opts.json)
        ops_say ("re-sent %" PRIu64 " pending order(s) (seqs %" PRIu64
                 "..%" PRIu64 "): applied %" PRIu64 ", %" PRIu64
                 " found applied already",
                 r.resent - r.rejected, r.first_seq, r.last_seq, r.applied,
                 r.skipped);
    return r.rejected ? EX_DATAERR : 0;
}
