/*  rb_ops_resend: the re-send of pending orders every command starts
    with, and the sync command that does only that: the journal's pending
    orders, in DIFF batches through the sender, acknowledged in the
    journal as the DB takes them.  */
#include "rb_ops_int.h"
#include "rb_out.h"

#include <inttypes.h>
#include <stdlib.h>

/*  "seq 7" or "seqs 7..12". */
static void
s_seqs (char *out, size_t len, uint64_t first, uint64_t last)
{
    if (first == last)
        snprintf (out, len, "seq %" PRIu64, first);
    else
        snprintf (out, len, "seqs %" PRIu64 "..%" PRIu64, first, last);
}

/*  sync's result (stdout); before another command, a note (stderr). */
static void
s_resent_report (ops_t *self, ops_sender_t *s, uint64_t n, uint64_t first,
                 uint64_t last, bool quiet)
{
    uint64_t left = rb_journal_pending (self->journal, NULL, NULL);
    if (self->opts.json && !quiet) {
        json_t *obj = ops_result (self);
        rb_out_json_uint (obj, "resent", n);
        rb_out_json_uint (obj, "first_seq", first);
        rb_out_json_uint (obj, "last_seq", last);
        rb_out_json_uint (obj, "applied", s->applied);
        rb_out_json_uint (obj, "skipped", s->skipped);
        rb_out_json_uint (obj, "rejected", s->rejected);
        rb_out_json_uint (obj, "pending", left);
        if (left)
            rb_out_json_bytes (obj, "error", self->stall_why,
                               strlen (self->stall_why));
        ops_emit (obj);
    }
    char seqs[64];
    s_seqs (seqs, sizeof seqs, first, last);
    if (left)
        ops_note (self, "%" PRIu64 " order(s) still pending (%s): %s", left,
                  seqs, self->stall_why);
    if (left || (self->opts.json && !quiet))
        return;
    char line[600];
    snprintf (line, sizeof line,
              "re-sent %" PRIu64 " pending order(s) (%s): applied %" PRIu64
              ", %" PRIu64 " found applied already%s%s",
              n - s->rejected, seqs, s->applied, s->skipped,
              s->rejected ? "; the DB refused some for good: " : "",
              s->rejected ? s->why : "");
    if (quiet)
        ops_note (self, "%s", line);
    else
        ops_say ("%s", line);
}

/*  Sends the pending orders at offsets in DIFF batches. */
static void
s_resend_batches (ops_t *self, ops_sender_t *s, const uint64_t *offsets,
                  size_t n)
{
    rb_journal_map_t *map = rb_journal_map_new (self->journal);
    if (!map) {
        ops_stall (self, RB_S_IO, rb_journal_errstr (self->journal));
        return;
    }
    ops_diff_t d;
    memset (&d, 0, sizeof d);
    for (size_t i = 0; i < n && !self->stalled; i++) {
        rb_jorder_t o;
        int rc = rb_journal_map_order (map, offsets[i], &o);
        assert (rc == 0); /* the open scan checked it */
        ops_diff_add (&d, &o);
        if (ops_diff_full (&d, self->opts.batch) || i + 1 == n)
            ops_diff_send (&d, s);
    }
    ops_sender_drain (s);
    ops_diff_free (&d);
    rb_journal_map_destroy (&map);
}

/*  Returns 0 when nothing is left pending, else the rb_code_t that
    stopped it; *rejected (if not NULL) counts orders refused for good.  */
static int
s_resend (ops_t *self, bool quiet, uint64_t *rejected)
{
    uint64_t first, last;
    uint64_t n = rb_journal_pending (self->journal, &first, &last);
    if (n == 0 || self->shared)
        return 0;
    int code = ops_connect (self);
    if (code) {
        ops_stall (self, code, self->bus_why);
        ops_sender_t none;
        ops_sender_init (&none, self, true);
        s_resent_report (self, &none, n, first, last, quiet);
        return code;
    }
    ops_sender_t s;
    ops_sender_init (&s, self, true);
    uint64_t *offsets;
    size_t count = rb_journal_pending_list (self->journal, &offsets);
    s_resend_batches (self, &s, offsets, count);
    free (offsets);
    s_resent_report (self, &s, n, first, last, quiet);
    if (rejected)
        *rejected = s.rejected;
    return rb_journal_pending (self->journal, NULL, NULL) ? self->stall_code
                                                          : 0;
}

int
ops_resend (ops_t *self)
{
    return s_resend (self, true, NULL);
}

int
ops_cmd_sync (ops_t *self)
{
    if (rb_journal_pending (self->journal, NULL, NULL) == 0) {
        if (self->opts.json) {
            json_t *obj = ops_result (self);
            json_object_set_new (obj, "resent", json_integer (0));
            json_object_set_new (obj, "pending", json_integer (0));
            ops_emit (obj);
        } else
            ops_say ("nothing pending (next seq %" PRIu64 ")",
                     rb_journal_next_seq (self->journal));
        return 0;
    }
    uint64_t rejected = 0;
    int code = s_resend (self, false, &rejected);
    return code ? ops_exit_for (code) : rejected ? EX_DATAERR : 0;
}
