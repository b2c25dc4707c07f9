/*  rb_ops_recover: backup, restore (S1-S2) and recovery (S3, S8, S10).

    recover asks the DB for the watermark of the backup it restored, takes
    from the journal every key with an order the backup may lack,
    compacted to the key's newest order (deletes included), and sends:
      1. the recovery list: every batch but the last, pipelined; once all
         are acknowledged, the last batch, marked last (S3);
      2. the diffs: the newest order of every listed key, pipelined (S8);
      3. RECOVERY_END once every diff is acknowledged (S10).
    Every step is idempotent, so after a crash (of ops or of a DB node)
    the same command finishes the job. The journal is released once its
    tail is scanned: new orders may be issued while the batches go out
    (each key's seq keeps the result right).  */
#include "rb_ops_int.h"
#include "rb_out.h"

/*  What recover needs from the DB's STATUS. */
typedef struct {
    char state[32];
    uint64_t restored_watermark;
} db_state_t;

static int
s_db_state (ops_t *self, db_state_t *st, char *why, size_t len)
{
    rb_body_t req, b;
    rb_body_init (&req, RB_T_STATUS);
    zmsg_t *msg;
    memset (st, 0, sizeof *st);
    int code = ops_call (self, RB_ADDR_SERVICE, RB_OPS_DB, &req,
                         (uint32_t) self->opts.timeout_ms, &msg, &b);
    if (code == 0 && b.type != RB_T_INFO)
        code = RB_S_INTERNAL;
    for (uint32_t i = 0; code == 0 && i < b.n_items; i++) {
        const rb_item_t *it = &b.items[i];
        if (rb_str_eq (it->name, "state") && it->is_text)
            snprintf (st->state, sizeof st->state, "%.*s", (int) it->text.len,
                      it->text.ptr);
        if (rb_str_eq (it->name, "restored_watermark") && !it->is_text)
            st->restored_watermark = it->num;
    }
    if (code)
        ops_describe (code, &b.text, why, len);
    zmsg_destroy (&msg);
    rb_body_release (&b);
    return code;
}

/*  The hint after "the DB is STATE, not recovering". */
static const char *
s_hint (const char *state)
{
    if (streq (state, "normal"))
        return "nothing to recover (recovery runs after a restore)";
    if (streq (state, "needs_restore"))
        return "run 'recobus-ops restore' first";
    if (streq (state, "restoring"))
        return "a restore is running: wait for it, then recover";
    return "unexpected state";
}

/*  --- phases ---------------------------------------------------------------
 */

typedef struct {
    ops_t *ops;
    const rb_journal_map_t *map;
    const uint64_t *offsets; /* newest order of each key */
    size_t n;
    int batch;
    uint64_t watermark;
} recovery_t;

static void
s_order_at (recovery_t *r, size_t i, rb_jorder_t *o)
{
    int rc = rb_journal_map_order (r->map, r->offsets[i], o);
    assert (rc == 0); /* offsets came from the scan of this map */
}

/*  Sends entries [from, to) as one RECOVERY_LIST batch. */
static int
s_list_batch (recovery_t *r, ops_sender_t *s, size_t from, size_t to, bool last,
              rb_entry_t *entries)
{
    for (size_t i = from; i < to; i++) {
        rb_jorder_t o;
        s_order_at (r, i, &o);
        entries[i - from] = (rb_entry_t){rb_strn (o.key, o.key_len), o.seq};
    }
    rb_body_t body;
    rb_body_init (&body, RB_T_RECOVERY_LIST);
    body.entries = entries;
    body.n_entries = (uint32_t) (to - from);
    body.last = last;
    return ops_sender_send (s, &body, NULL, 0, (uint32_t) (to - from));
}

/*  S3: every batch but the last, then (all acknowledged) the last. */
static int
s_list (recovery_t *r, ops_sender_t *s)
{
    rb_entry_t *entries =
        (rb_entry_t *) calloc ((size_t) r->batch, sizeof (rb_entry_t));
    assert (entries);
    size_t last = r->n > 0 ? ((r->n - 1) / (size_t) r->batch) * r->batch : 0;
    for (size_t i = 0; i < last && !r->ops->stalled; i += (size_t) r->batch)
        s_list_batch (r, s, i, i + (size_t) r->batch, false, entries);
    if (ops_sender_drain (s) == 0)
        s_list_batch (r, s, last, r->n, true, entries);
    int code = ops_sender_drain (s);
    free (entries);
    return code;
}

/*  S8: the newest order of every listed key. */
static int
s_diffs (recovery_t *r, ops_sender_t *s)
{
    ops_diff_t d;
    memset (&d, 0, sizeof d);
    for (size_t i = 0; i < r->n && !r->ops->stalled; i++) {
        rb_jorder_t o;
        s_order_at (r, i, &o);
        ops_diff_add (&d, &o);
        if (ops_diff_full (&d, r->batch) || i + 1 == r->n)
            ops_diff_send (&d, s);
    }
    int code = ops_sender_drain (s);
    ops_diff_free (&d);
    return code;
}

/*  S10. */
static int
s_end (recovery_t *r, char *why, size_t len)
{
    rb_body_t req, b;
    rb_body_init (&req, RB_T_RECOVERY_END);
    zmsg_t *msg;
    int code = ops_call (r->ops, RB_ADDR_SERVICE, RB_OPS_DB, &req,
                         (uint32_t) r->ops->opts.timeout_ms, &msg, &b);
    if (code)
        ops_describe (code, &b.text, why, len);
    zmsg_destroy (&msg);
    rb_body_release (&b);
    return code;
}

/*  One line (or object) per phase: keys, batches, seconds. */
static void
s_phase_report (recovery_t *r, const char *phase, const ops_sender_t *s,
                double secs)
{
    ops_t *ops = r->ops;
    if (ops->opts.json) {
        json_t *obj = ops_result (ops);
        json_object_set_new (obj, "phase", json_string (phase));
        rb_out_json_uint (obj, "keys", r->n);
        rb_out_json_uint (obj, "batches", s->batches);
        json_object_set_new (obj, "seconds", json_real (secs));
        json_object_set_new (
            obj, streq (phase, "list") ? "flagged" : "applied",
            json_integer ((json_int_t) (streq (phase, "list") ? s->flagged
                                                              : s->applied)));
        json_object_set_new (
            obj, streq (phase, "list") ? "current" : "skipped",
            json_integer ((json_int_t) (streq (phase, "list") ? s->current
                                                              : s->skipped)));
        if (!streq (phase, "list"))
            rb_out_json_uint (obj, "cleared", s->cleared);
        ops_emit (obj);
    } else if (streq (phase, "list"))
        ops_say ("list: %zu keys, %" PRIu64
                 " batches, %.2f s: targets stored %" PRIu64,
                 r->n, s->batches, secs, s->flagged);
    else
        ops_say ("diffs: %zu keys, %" PRIu64
                 " batches, %.2f s: applied %" PRIu64 ", skipped %" PRIu64
                 ", cleared %" PRIu64,
                 r->n, s->batches, secs, s->applied, s->skipped, s->cleared);
}

/*  Runs one pipelined phase with its progress bar and report. */
static int
s_phase (recovery_t *r, const char *phase,
         int (*run) (recovery_t *, ops_sender_t *))
{
    ops_sender_t s;
    ops_sender_init (&s, r->ops, false);
    ops_progress_t bar;
    ops_progress_start (&bar, r->ops, phase, r->n);
    s.progress = &bar;
    int64_t start = zclock_mono ();
    int code = run (r, &s);
    ops_progress_end (&bar);
    if (code)
        return ops_fail (r->ops, ops_exit_for (code),
                         "%s stopped, %" PRIu64 " of %" PRIu64
                         " batches taken: %s; run 'recobus-ops recover' "
                         "again to finish (it is safe)",
                         phase, s.acked, s.batches, s.why);
    s_phase_report (r, phase, &s, ops_seconds (start));
    return 0;
}

/*  The scan of the journal: the keys above the restored watermark. */
static int
s_scan (recovery_t *r, rb_journal_map_t **map, uint64_t **offsets)
{
    int64_t start = zclock_mono ();
    *map = rb_journal_map_new (r->ops->journal);
    int64_t n = *map ? rb_journal_recovery (r->ops->journal, *map, r->watermark,
                                            offsets)
                     : -1;
    if (n < 0)
        return ops_fail (r->ops, EX_IOERR, "%s",
                         rb_journal_errstr (r->ops->journal));
    r->map = *map;
    r->offsets = *offsets;
    r->n = (size_t) n;
    if (r->ops->watch)
        r->ops->watch (r->ops->watch_arg, "scan", r->n, r->n);
    double secs = ops_seconds (start);
    if (r->ops->opts.json) {
        json_t *obj = ops_result (r->ops);
        json_object_set_new (obj, "phase", json_string ("scan"));
        rb_out_json_uint (obj, "watermark", r->watermark);
        rb_out_json_uint (obj, "keys", r->n);
        json_object_set_new (obj, "seconds", json_real (secs));
        ops_emit (obj);
    } else
        ops_say ("scan: %zu keys with orders the backup (watermark %" PRIu64
                 ") may lack, %.2f s",
                 r->n, r->watermark, secs);
    return 0;
}

static int
s_finish (recovery_t *r)
{
    int64_t start = zclock_mono ();
    char why[600];
    int code = s_end (r, why, sizeof why);
    if (code)
        return ops_fail (r->ops, ops_exit_for (code),
                         "end refused: %s; run 'recobus-ops recover' again",
                         why);
    if (r->ops->opts.json) {
        json_t *obj = ops_result (r->ops);
        json_object_set_new (obj, "phase", json_string ("end"));
        json_object_set_new (obj, "state", json_string ("normal"));
        json_object_set_new (obj, "seconds", json_real (ops_seconds (start)));
        ops_emit (obj);
    } else
        ops_say ("end: the DB is normal, %.2f s", ops_seconds (start));
    return 0;
}

int
ops_cmd_recover (ops_t *self, int batch)
{
    int code = ops_resend (self);
    if (code)
        return ops_fail (self, ops_exit_for (code),
                         "pending orders could not be delivered, recovery "
                         "not started: %s",
                         self->stall_why);
    db_state_t st;
    char why[600];
    code = s_db_state (self, &st, why, sizeof why);
    if (code)
        return ops_fail (self, ops_exit_for (code), "DB status: %s", why);
    if (!streq (st.state, "recovering"))
        return ops_fail (self, EX_DATAERR, "the DB is %s, not recovering: %s",
                         st.state, s_hint (st.state));
    recovery_t r = {self, NULL, NULL, 0, batch, st.restored_watermark};
    rb_journal_map_t *map = NULL;
    uint64_t *offsets = NULL;
    int rc = s_scan (&r, &map, &offsets);
    /* the map is all the rest needs: let orders be issued meanwhile */
    rb_journal_destroy (&self->journal);
    if (rc == 0)
        rc = s_phase (&r, "list", s_list);
    if (rc == 0)
        rc = s_phase (&r, "diffs", s_diffs);
    if (rc == 0)
        rc = s_finish (&r);
    free (offsets);
    rb_journal_map_destroy (&map);
    return rc;
}

/*  --- backup and restore ---------------------------------------------------
 */

/*  A backup or restore: the DB works for up to job-timeout. */
static int
s_job (ops_t *self, rb_body_t *req, int want, zmsg_t **msg, rb_body_t *b)
{
    ops_resend (self);
    int code = ops_call (self, RB_ADDR_SERVICE, RB_OPS_DB, req,
                         (uint32_t) self->opts.job_timeout_ms, msg, b);
    if (code == 0 && b->type != want)
        code = RB_S_INTERNAL;
    if (code) {
        char why[600];
        ops_describe (code, &b->text, why, sizeof why);
        return ops_fail (self, ops_exit_for (code), "%s", why);
    }
    return 0;
}

int
ops_cmd_backup (ops_t *self)
{
    rb_body_t req, b;
    rb_body_init (&req, RB_T_BACKUP);
    zmsg_t *msg;
    int rc = s_job (self, &req, RB_T_BACKUP_DONE, &msg, &b);
    if (rc == 0 && self->opts.json) {
        json_t *obj = ops_result (self);
        rb_out_json_bytes (obj, "path", b.text.ptr, b.text.len);
        rb_out_json_uint (obj, "records", b.records);
        rb_out_json_uint (obj, "watermark", b.watermark);
        rb_out_json_uint (obj, "bytes", b.bytes);
        rb_out_json_uint (obj, "ms", b.ms);
        ops_emit (obj);
    } else if (rc == 0)
        ops_say ("backup %.*s: %" PRIu64 " records, watermark %" PRIu64
                 ", %" PRIu64 " bytes, %" PRIu64 " ms",
                 (int) b.text.len, b.text.ptr, b.records, b.watermark, b.bytes,
                 b.ms);
    zmsg_destroy (&msg);
    rb_body_release (&b);
    return rc;
}

/*  The name the DB is asked for: file's last part. The DB restores only
    from its own backup dir, so a path says no more than its name.  */
static const char *
s_restore_name (ops_t *self, const char *file)
{
    const char *slash = strrchr (file, '/');
    if (!slash)
        return file;
    if (!slash[1]) {
        ops_fail (self, EX_USAGE,
                  "%s names a directory: restore takes the name of a "
                  "backup in the DB's backup dir",
                  file);
        return NULL;
    }
    ops_note (self,
              "%s: the DB restores only from its own backup dir: asking it "
              "for %s there",
              file, slash + 1);
    return slash + 1;
}

int
ops_cmd_restore (ops_t *self, const char *file, bool force)
{
    const char *name = s_restore_name (self, file);
    if (!name)
        return EX_USAGE;
    rb_body_t req, b;
    rb_body_init (&req, RB_T_RESTORE);
    req.text = rb_str (name);
    /* the journal's last seq: a backup past it is refused unless forced */
    req.journal_seq = rb_journal_next_seq (self->journal) - 1;
    req.force = force;
    zmsg_t *msg;
    int rc = s_job (self, &req, RB_T_RESTORED, &msg, &b);
    if (rc == 0 && self->opts.json) {
        json_t *obj = ops_result (self);
        rb_out_json_bytes (obj, "path", b.text.ptr, b.text.len);
        rb_out_json_uint (obj, "records", b.records);
        rb_out_json_uint (obj, "watermark", b.watermark);
        rb_out_json_uint (obj, "epoch", b.epoch);
        rb_out_json_uint (obj, "ms", b.ms);
        json_object_set_new (obj, "state", json_string ("recovering"));
        ops_emit (obj);
    } else if (rc == 0)
        ops_say ("restored %.*s: %" PRIu64 " records, watermark %" PRIu64
                 ", epoch %" PRIu64 ", %" PRIu64
                 " ms; the DB is recovering: run 'recobus-ops recover'",
                 (int) b.text.len, b.text.ptr, b.records, b.watermark, b.epoch,
                 b.ms);
    zmsg_destroy (&msg);
    rb_body_release (&b);
    return rc;
}
