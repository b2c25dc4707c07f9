/*  rb_ops_journal: recobus-ops journal check and journal repair, the
    operator's side of rb_journal_repair (docs/operations.md, "Damaged
    journal"). Neither needs the bus: both work with the DB down.

    check prints one line per damaged span and per torn last record, then
    a summary; exit 0 when intact (a torn last record too: the next
    command cuts it), 65 on damage. repair sets the damaged part aside,
    names the orders that went with it, and exits 0; when the journal is
    intact it says there is nothing to repair.  */
#include "rb_journal_repair.h"
#include "rb_ops_int.h"
#include "rb_out.h"

#include <errno.h>
#include <unistd.h>

#define VALUE_SHOWN 200 /* value bytes a text line shows */

/*  --- arguments ---------------------------------------------------------- */

/*  "journal check" or "journal repair [--next-seq N]": 0 or EX_USAGE. */
static int
s_args (ops_t *self, int argc, char **argv, bool *repair, uint64_t *next_seq)
{
    *next_seq = 0;
    *repair = argc > 1 && streq (argv[1], "repair");
    if (argc < 2 || (!*repair && !streq (argv[1], "check")) ||
        (!*repair && argc > 2))
        return ops_fail (self, EX_USAGE,
                         "usage: journal check | journal repair "
                         "[--next-seq N]");
    for (int i = 2; i < argc; i++) {
        const char *v = ops_arg (argc, argv, &i, "--next-seq");
        char *end = NULL;
        errno = 0;
        unsigned long long n = v && *v != '-' ? strtoull (v, &end, 10) : 0;
        if (!v || !end || *end || n < 1 || errno)
            return ops_fail (self, EX_USAGE,
                             "usage: journal repair [--next-seq N] (N a seq, "
                             "1 or more), not '%s'",
                             v ? v : argv[i]);
        *next_seq = n;
    }
    return 0;
}

/*  Opens the check, under the shared or the exclusive lock. */
static rb_jcheck_t *
s_open (ops_t *self, bool exclusive, int *rc)
{
    const char *path = self->opts.journal;
    *rc = 0;
    if (access (path, F_OK)) {
        *rc = ops_fail (self, EX_NOINPUT, "journal %s: %s", path,
                        strerror (errno));
        return NULL;
    }
    rb_journal_err_t err;
    rb_jcheck_t *c =
        rb_jcheck_new (path, exclusive, self->opts.timeout_ms, &err);
    if (!c)
        *rc = ops_fail (self,
                        err.code == RB_JOURNAL_E_CORRUPT  ? EX_DATAERR
                        : err.code == RB_JOURNAL_E_LOCKED ? EX_UNAVAILABLE
                                                          : EX_IOERR,
                        "%s", err.text);
    return c;
}

/*  A result object of kind kind. */
static json_t *
s_result (ops_t *self, const char *kind)
{
    json_t *obj = ops_result (self);
    json_object_set_new (obj, "kind", json_string (kind));
    return obj;
}

/*  --- check -------------------------------------------------------------- */

static void
s_damage_lines (ops_t *self, rb_jcheck_t *c)
{
    size_t n;
    const rb_jdamage_t *d = rb_jcheck_damage (c, &n);
    for (size_t i = 0; i < n; i++) {
        if (!self->opts.json) {
            ops_say ("damaged: %s (%" PRIu64 " bytes)", d[i].text, d[i].bytes);
            continue;
        }
        json_t *obj = s_result (self, "damaged");
        rb_out_json_uint (obj, "offset", d[i].offset);
        rb_out_json_uint (obj, "bytes", d[i].bytes);
        rb_out_json_bytes (obj, "error", d[i].text, strlen (d[i].text));
        ops_emit (obj);
    }
}

/*  A torn last record: a line, and a warning on stderr. */
static void
s_torn_line (ops_t *self, const rb_jcheck_info_t *info)
{
    if (!info->torn)
        return;
    uint64_t bytes = info->size - info->torn_offset;
    if (self->opts.json) {
        json_t *obj = s_result (self, "torn");
        rb_out_json_uint (obj, "offset", info->torn_offset);
        rb_out_json_uint (obj, "bytes", bytes);
        json_object_set_new (obj, "error", json_string (info->torn_why));
        ops_emit (obj);
    } else
        ops_say ("torn: %s: offset %" PRIu64 ": %s (%" PRIu64 " bytes)",
                 self->opts.journal, info->torn_offset, info->torn_why, bytes);
    ops_note (self,
              "warning: the last record is torn (a crash mid-write, never "
              "sent): the next command cuts it");
}

static void
s_summary (ops_t *self, rb_jcheck_t *c, const rb_jcheck_info_t *info)
{
    if (self->opts.json) {
        json_t *obj = s_result (self, "summary");
        rb_out_json_bytes (obj, "path", self->opts.journal,
                           strlen (self->opts.journal));
        rb_out_json_uint (obj, "bytes", info->size);
        rb_out_json_uint (obj, "records", info->records);
        rb_out_json_uint (obj, "orders", info->orders);
        rb_out_json_uint (obj, "last_seq", info->last_seq);
        rb_out_json_uint (obj, "next_seq", info->next_seq);
        json_object_set_new (obj, "next_seq_known",
                             json_boolean (info->next_known));
        rb_out_json_uint (obj, "damaged", info->damaged);
        json_object_set_new (obj, "torn", json_boolean (info->torn));
        if (info->damaged) {
            rb_out_json_uint (obj, "keep_bytes", info->keep);
            rb_out_json_uint (obj, "lost_orders", rb_jcheck_lost (c));
        }
        ops_emit (obj);
        return;
    }
    ops_say ("%s: %" PRIu64 " bytes, %" PRIu64 " records, %" PRIu64
             " orders, last seq %" PRIu64 ", next seq %" PRIu64 "%s, %zu "
             "damaged",
             self->opts.journal, info->size, info->records, info->orders,
             info->last_seq, info->next_seq, info->next_known ? "" : " or more",
             info->damaged);
}

static int
s_check (ops_t *self, rb_jcheck_t *c)
{
    const rb_jcheck_info_t *info = rb_jcheck_info (c);
    s_damage_lines (self, c);
    s_torn_line (self, info);
    s_summary (self, c, info);
    if (info->damaged == 0)
        return 0;
    ops_note (self,
              "the journal is damaged: 'recobus-ops journal repair' keeps "
              "its first %" PRIu64 " bytes and sets the rest aside, with "
              "%zu readable order(s)",
              info->keep, rb_jcheck_lost (c));
    return EX_DATAERR;
}

/*  --- repair ------------------------------------------------------------- */

static void
s_aside_line (ops_t *self, const rb_jcheck_info_t *info,
              const rb_jrepair_t *done)
{
    uint64_t bytes = info->size - info->keep;
    if (!self->opts.json) {
        ops_say ("set aside: %s (%" PRIu64 " bytes from offset %" PRIu64 ")",
                 done->aside, bytes, info->keep);
        return;
    }
    json_t *obj = s_result (self, "aside");
    rb_out_json_bytes (obj, "path", done->aside, strlen (done->aside));
    rb_out_json_uint (obj, "offset", info->keep);
    rb_out_json_uint (obj, "bytes", bytes);
    ops_emit (obj);
}

/*  "lost seq 7: put KEY VALUE": the value escaped, or its size. */
static void
s_lost_line (ops_t *self, const rb_jorder_t *o)
{
    const char *op = o->op == RB_OP_PUT ? "put" : "delete";
    if (self->opts.json) {
        json_t *obj = s_result (self, "lost");
        rb_out_json_uint (obj, "seq", o->seq);
        json_object_set_new (obj, "op", json_string (op));
        rb_out_json_bytes (obj, "key", o->key, o->key_len);
        if (o->op == RB_OP_PUT)
            rb_out_json_bytes (obj, "value", o->value, o->value_len);
        ops_emit (obj);
        return;
    }
    printf ("lost seq %" PRIu64 ": %s %.*s", o->seq, op, (int) o->key_len,
            o->key);
    if (o->op == RB_OP_PUT && o->value_len <= VALUE_SHOWN) {
        putchar (' ');
        rb_out_escaped (stdout, o->value, o->value_len);
    } else if (o->op == RB_OP_PUT)
        printf (" (a %" PRIu32 "-byte value: see --json)", o->value_len);
    ops_say ("%s", "");
}

/*  Seqs whose orders were in unreadable bytes: their keys are unknown. */
static void
s_gap_line (ops_t *self, const rb_jgap_t *g)
{
    if (self->opts.json) {
        json_t *obj = s_result (self, "lost_range");
        rb_out_json_uint (obj, "first_seq", g->lo);
        if (g->hi)
            rb_out_json_uint (obj, "last_seq", g->hi);
        rb_out_json_uint (obj, "offset", g->offset);
        ops_emit (obj);
    } else if (g->hi == g->lo)
        ops_say ("lost seq %" PRIu64 ": in unreadable bytes at offset %" PRIu64
                 ", key unknown",
                 g->lo, g->offset);
    else if (g->hi)
        ops_say ("lost seqs %" PRIu64 "..%" PRIu64
                 ": in unreadable bytes at offset %" PRIu64 ", keys unknown",
                 g->lo, g->hi, g->offset);
    else
        ops_say ("lost seqs from %" PRIu64
                 " on: in unreadable bytes at offset %" PRIu64 ", keys unknown",
                 g->lo, g->offset);
}

/*  The lost orders and the lost seq ranges, in file order. */
static void
s_lost_lines (ops_t *self, rb_jcheck_t *c)
{
    size_t n, lost = rb_jcheck_lost (c), i = 0, k = 0;
    const rb_jgap_t *g = rb_jcheck_gaps (c, &n);
    while (i < lost || k < n) {
        rb_jorder_t o;
        uint64_t at = i < lost ? rb_jcheck_lost_order (c, i, &o) : UINT64_MAX;
        if (k < n && g[k].offset < at)
            s_gap_line (self, &g[k++]);
        else {
            s_lost_line (self, &o);
            i++;
        }
    }
    if (lost || n)
        ops_note (self, "the lost orders above are no longer journaled: check "
                        "each against the DB and re-enter it (put / delete; it "
                        "gets a new seq)");
}

/*  The repaired journal, opened afresh: the last line. */
static int
s_repaired_line (ops_t *self, rb_jcheck_t *c, const rb_jrepair_t *done)
{
    size_t gaps;
    rb_jcheck_gaps (c, &gaps);
    rb_journal_err_t err;
    rb_journal_t *j =
        rb_journal_open (self->opts.journal, RB_JOURNAL_READONLY, 0, &err);
    if (!j)
        return ops_fail (self, EX_SOFTWARE, "the repaired journal: %s",
                         err.text);
    uint64_t pending = rb_journal_pending (j, NULL, NULL);
    if (self->opts.json) {
        json_t *obj = s_result (self, "summary");
        json_object_set_new (obj, "repaired", json_true ());
        rb_out_json_uint (obj, "orders", rb_journal_orders (j));
        rb_out_json_uint (obj, "next_seq", done->next_seq);
        json_object_set_new (obj, "seq_floor", json_boolean (done->floor));
        rb_out_json_uint (obj, "pending", pending);
        rb_out_json_uint (obj, "lost_orders", rb_jcheck_lost (c));
        rb_out_json_uint (obj, "lost_ranges", gaps);
        ops_emit (obj);
    } else
        ops_say ("repaired %s: %" PRIu64 " order(s) kept, next seq %" PRIu64
                 "%s, %" PRIu64 " pending%s",
                 self->opts.journal, rb_journal_orders (j), done->next_seq,
                 done->floor ? " (past every seq the damaged part may have "
                               "used)"
                             : "",
                 pending, pending ? " (the next command re-sends them)" : "");
    rb_journal_destroy (&j);
    return 0;
}

static int
s_repair (ops_t *self, rb_jcheck_t *c, uint64_t next_seq)
{
    const rb_jcheck_info_t *info = rb_jcheck_info (c);
    if (info->damaged == 0) {
        s_torn_line (self, info);
        if (self->opts.json) {
            json_t *obj = s_result (self, "summary");
            json_object_set_new (obj, "repaired", json_false ());
            rb_out_json_uint (obj, "records", info->records);
            rb_out_json_uint (obj, "last_seq", info->last_seq);
            rb_out_json_uint (obj, "next_seq", info->next_seq);
            ops_emit (obj);
        } else
            ops_say ("nothing to repair: %s is intact (%" PRIu64
                     " records, last seq %" PRIu64 ")",
                     self->opts.journal, info->records, info->last_seq);
        return 0;
    }
    rb_jrepair_t done;
    rb_journal_err_t err;
    if (rb_jcheck_repair (c, next_seq, &done, &err))
        return ops_fail (self,
                         err.code == RB_JOURNAL_E_ARG ? EX_DATAERR : EX_IOERR,
                         "%s", err.text);
    s_aside_line (self, info, &done);
    s_lost_lines (self, c);
    return s_repaired_line (self, c, &done);
}

int
ops_cmd_journal (ops_t *self, int argc, char **argv)
{
    bool repair;
    uint64_t next_seq;
    int rc = s_args (self, argc, argv, &repair, &next_seq);
    if (rc)
        return rc;
    self->command = repair ? "journal repair" : "journal check";
    rb_jcheck_t *c = s_open (self, repair, &rc);
    if (c)
        rc = repair ? s_repair (self, c, next_seq) : s_check (self, c);
    rb_jcheck_destroy (&c);
    return rc;
}
