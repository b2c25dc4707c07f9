/*  rb_ops_load: bulk orders from a file of "KEY<TAB>VALUE" lines (the
    value is every byte after the first TAB up to the newline). Lines go
    to the journal in batches: one fsync per batch, before the batch is
    sent as a DIFF, several batches in flight. A bad line stops the load:
    the orders before it are journaled and sent, nothing after it is.
    When the DB stops taking batches, the rest of the file is still
    journaled, as pending orders for the next command (or sync).  */
#include "rb_ops_int.h"
#include "rb_out.h"

#include <sys/stat.h>

typedef struct {
    ops_t *ops;
    const char *file; /* as given; "-" is stdin */
    FILE *in;
    uint64_t line;   /* number of the line being read */
    char *arena;     /* this batch's keys and values */
    size_t used;     /* bytes of arena used */
    ops_diff_t diff; /* this batch */
    ops_sender_t sender;
    ops_progress_t progress;
    uint64_t orders;   /* journaled by this load */
    uint64_t first;    /* their first seq */
    uint64_t unsent;   /* journaled after the DB stopped taking them */
    uint32_t requests; /* batches sent to the ops node */
    int64_t start;
} load_t;

/*  The arena always has room for one more line once a batch is full. */
#define ARENA_SIZE (RB_OPS_BATCH_BYTES + RB_KEY_MAX + RB_OPS_VALUE_MAX)

/*  Lines in a regular file, for the progress bar's total; 0 if unknown. */
static uint64_t
s_count_lines (const char *path)
{
    struct stat st;
    FILE *f = streq (path, "-") ? NULL : fopen (path, "rb");
    if (!f)
        return 0;
    uint64_t lines = 0;
    char buf[1 << 16];
    size_t n;
    int last = '\n';
    if (fstat (fileno (f), &st) == 0 && S_ISREG (st.st_mode))
        while ((n = fread (buf, 1, sizeof buf, f)) > 0) {
            for (char *p = buf;
                 (p = (char *) memchr (p, '\n', (size_t) (buf + n - p))); p++)
                lines++;
            last = (unsigned char) buf[n - 1];
        }
    fclose (f);
    return lines + (last != '\n');
}

/*  Splits one line (without its newline); NULL or what is wrong. */
static const char *
s_parse (char *line, size_t len, size_t *key_len, char **value,
         size_t *value_len)
{
    if (len == 0)
        return "empty line";
    char *tab = (char *) memchr (line, '\t', len);
    if (!tab)
        return "no TAB between key and value";
    *key_len = (size_t) (tab - line);
    *value = tab + 1;
    *value_len = len - *key_len - 1;
    if (!rb_key_valid (line, *key_len))
        return "bad key (1-64 printable ASCII bytes, no spaces)";
    if (*value_len > RB_OPS_VALUE_MAX)
        return "value longer than 65536 bytes";
    return NULL;
}

/*  Sends the batch to the ops node that owns the journal: it journals
    it (once per request id) and sends it on.  */
static int
s_forward (load_t *l)
{
    ops_t *ops = l->ops;
    uint8_t rid[16];
    ops_reply_t r;
    char why[600], hint[200];
    int rc = ops_fwd_rid (ops, l->requests++, rid);
    int code =
        rc ? 0 : ops_fwd_submit (ops, &l->diff, rid, &r, why, sizeof why);
    if (rc || code) {
        ops_progress_end (&l->progress);
        ops_fwd_retry_hint (ops->rid, hint, sizeof hint);
        return rc ? rc
                  : ops_fail (ops, ops_exit_for (code),
                              "%s:%" PRIu64 ": the ops node %s did not answer "
                              "for the last %u line(s): %s; they may or may "
                              "not be journaled: %s",
                              l->file, l->line, ops->owner, l->diff.n, why,
                              hint);
    }
    if (l->first == 0)
        l->first = r.seq;
    ops_sender_t *s = &l->sender;
    s->batches++;
    s->applied += r.applied;
    s->skipped += r.skipped;
    s->rejected += r.rejected;
    l->unsent += r.left;
    if (r.rejected && !s->why[0])
        snprintf (s->why, sizeof s->why, "%.300s", r.message);
    if (r.left)
        ops_stall (ops, RB_S_UNAVAILABLE, r.message);
    ops_progress_add (&l->progress, l->diff.n);
    l->diff.n = 0;
    l->diff.bytes = 0;
    l->used = 0;
    return 0;
}

/*  Journals the batch (one fsync), then sends it unless stalled. */
static int
s_flush (load_t *l)
{
    uint32_t n = l->diff.n;
    if (n == 0)
        return 0;
    if (l->ops->owner[0])
        return s_forward (l);
    if (rb_journal_commit (l->ops->journal))
        return ops_fail (l->ops, EX_IOERR,
                         "%s:%" PRIu64 ": the last %u line(s) were not "
                         "journaled nor sent: %s",
                         l->file, l->line, n,
                         rb_journal_errstr (l->ops->journal));
    if (ops_diff_send (&l->diff, &l->sender)) {
        l->unsent += n;
        ops_progress_add (&l->progress, n);
    }
    l->diff.n = 0;
    l->diff.bytes = 0;
    l->used = 0;
    return 0;
}

/*  Journals (staged) and batches one order. */
static int
s_add (load_t *l, const char *key, size_t key_len, const char *value,
       size_t value_len)
{
    uint64_t seq = 0; /* the ops node, if it owns the journal, numbers it */
    if (!l->ops->owner[0] && rb_journal_add (l->ops->journal, RB_OP_PUT, key,
                                             key_len, value, value_len, &seq))
        return ops_fail (l->ops, EX_SOFTWARE, "%s:%" PRIu64 ": %s", l->file,
                         l->line, rb_journal_errstr (l->ops->journal));
    if (l->orders++ == 0)
        l->first = seq;
    char *k = l->arena + l->used;
    memcpy (k, key, key_len);
    memcpy (k + key_len, value, value_len);
    l->used += key_len + value_len;
    rb_jorder_t o = {seq,
                     0,
                     RB_OP_PUT,
                     k,
                     (uint32_t) key_len,
                     k + key_len,
                     (uint32_t) value_len};
    ops_diff_add (&l->diff, &o);
    return ops_diff_full (&l->diff, l->ops->opts.batch) ? s_flush (l) : 0;
}

/*  A bad line: what came before goes out, nothing after it. */
static int
s_bad_line (load_t *l, const char *why)
{
    int rc = s_flush (l);
    ops_sender_drain (&l->sender);
    ops_progress_end (&l->progress);
    if (rc)
        return rc;
    char before[200] = "nothing was journaled";
    if (l->orders)
        snprintf (before, sizeof before,
                  "the %" PRIu64 " order(s) before it were journaled as seqs "
                  "%" PRIu64 "..%" PRIu64 "%s",
                  l->orders, l->first, l->first + l->orders - 1,
                  l->ops->stalled ? " (pending)" : " and sent");
    return ops_fail (l->ops, EX_DATAERR,
                     "%s:%" PRIu64 ": %s; %s, nothing after it", l->file,
                     l->line, why, before);
}

static int
s_read (load_t *l)
{
    char *line = NULL;
    size_t cap = 0;
    ssize_t len;
    int rc = 0;
    while (rc == 0 && !zsys_interrupted &&
           (len = getline (&line, &cap, l->in)) >= 0) {
        l->line++;
        if (len > 0 && line[len - 1] == '\n')
            line[--len] = '\0';
        size_t key_len, value_len;
        char *value;
        const char *why =
            s_parse (line, (size_t) len, &key_len, &value, &value_len);
        rc = why ? s_bad_line (l, why)
                 : s_add (l, line, key_len, value, value_len);
    }
    free (line);
    if (rc == 0 && zsys_interrupted)
        ops_stall (l->ops, RB_S_TIMEOUT,
                   "interrupted: the rest of the file "
                   "was not read");
    if (rc == 0 && ferror (l->in))
        rc = ops_fail (l->ops, EX_IOERR, "%s: read error after line %" PRIu64,
                       l->file, l->line);
    return rc;
}

static int
s_report (load_t *l)
{
    ops_sender_t *s = &l->sender;
    uint64_t pending = s->failed_items + l->unsent;
    double secs = ops_seconds (l->start);
    double rate = secs > 0 ? (double) l->orders / secs : 0;
    uint64_t last = l->orders ? l->first + l->orders - 1 : 0;
    if (l->ops->opts.json) {
        json_t *obj = ops_result (l->ops);
        rb_out_json_bytes (obj, "file", l->file, strlen (l->file));
        rb_out_json_uint (obj, "orders", l->orders);
        rb_out_json_uint (obj, "first_seq", l->first);
        rb_out_json_uint (obj, "last_seq", last);
        rb_out_json_uint (obj, "batches", s->batches);
        rb_out_json_uint (obj, "applied", s->applied);
        rb_out_json_uint (obj, "skipped", s->skipped);
        rb_out_json_uint (obj, "rejected", s->rejected);
        rb_out_json_uint (obj, "pending", pending);
        json_object_set_new (obj, "seconds", json_real (secs));
        json_object_set_new (obj, "rate", json_real (rate));
        ops_emit (obj);
    } else if (l->orders == 0)
        ops_say ("load %s: no orders", l->file);
    else
        ops_say ("load %s: %" PRIu64 " orders journaled (seqs %" PRIu64
                 "..%" PRIu64 "), %" PRIu64 " batches: applied %" PRIu64
                 ", skipped %" PRIu64 ", %.2f s, %.0f orders/s",
                 l->file, l->orders, l->first, last, s->batches, s->applied,
                 s->skipped, secs, rate);
    if (s->rejected)
        return ops_fail (l->ops, EX_DATAERR,
                         "%" PRIu64 " order(s) refused by the DB for good: %s",
                         s->rejected, s->why);
    if (pending)
        return ops_fail (l->ops, EX_UNAVAILABLE,
                         "%" PRIu64 " order(s) journaled, pending: %s", pending,
                         l->ops->stall_why);
    return 0;
}

int
ops_cmd_load (ops_t *self, const char *file)
{
    load_t l;
    memset (&l, 0, sizeof l);
    l.ops = self;
    l.file = file;
    l.in = streq (file, "-") ? stdin : fopen (file, "rb");
    if (!l.in)
        return ops_fail (self, EX_NOINPUT, "cannot read %s: %s", file,
                         strerror (errno));
    if (!self->owner[0])
        ops_resend (self);
    if (!self->stalled && ops_connect (self))
        ops_stall (self, self->bus_code, self->bus_why);
    l.arena = (char *) malloc (ARENA_SIZE);
    assert (l.arena);
    l.start = zclock_mono ();
    ops_sender_init (&l.sender, self, true);
    ops_progress_start (&l.progress, self, "load",
                        self->opts.progress ? s_count_lines (file) : 0);
    l.sender.progress = &l.progress;
    int rc = s_read (&l);
    if (rc == 0)
        rc = s_flush (&l);
    ops_sender_drain (&l.sender);
    ops_progress_end (&l.progress);
    if (rc == 0)
        rc = s_report (&l);
    if (l.in != stdin)
        fclose (l.in);
    free (l.arena);
    ops_diff_free (&l.diff);
    return rc;
}
