/*  rb_ops: the ops tool's commands, their shared context, and the orders
    themselves: put, delete, sync and the re-send of pending orders every
    command starts with (see rb_ops.h).  */
#include "rb_ops_int.h"
#include "rb_out.h"

#include <stdarg.h>
#include <unistd.h>

/*  --- the bus --------------------------------------------------------- */

int
ops_connect (ops_t *self)
{
    if (self->bus || self->bus_code)
        return self->bus_code;
    rb_bus_opts_t o = {
        .endpoint = self->opts.broker, .role = RB_ROLE_OPS, .name = self->name};
    self->bus = rb_bus_new (&o);
    if (rb_bus_wait_ready (self->bus, self->opts.timeout_ms) == 0)
        return 0;
    const char *problem = rb_bus_problem (self->bus);
    if (problem)
        snprintf (self->bus_why, sizeof self->bus_why,
                  "broker %s: cannot register as %s: %s", self->opts.broker,
                  self->name, problem);
    else
        snprintf (self->bus_why, sizeof self->bus_why,
                  "broker %s: no answer within %d ms", self->opts.broker,
                  self->opts.timeout_ms);
    rb_bus_destroy (&self->bus);
    self->bus_code = problem ? RB_S_NAME_TAKEN : RB_S_TIMEOUT;
    return self->bus_code;
}

void
ops_stall (ops_t *self, int code, const char *why)
{
    if (self->stalled)
        return;
    self->stalled = true;
    self->stall_code = code;
    snprintf (self->stall_why, sizeof self->stall_why, "%s", why);
}

int
ops_call (ops_t *self, int addr, const char *dest, const rb_body_t *req,
          uint32_t timeout_ms, zmsg_t **msg, rb_body_t *b)
{
    rb_body_init (b, RB_T_NONE);
    *msg = NULL;
    int code = ops_connect (self);
    if (code) {
        b->type = RB_T_ERROR;
        b->text = rb_str (self->bus_why);
        return code;
    }
    rb_header_t h;
    code = rb_bus_call (self->bus, addr, dest, req, timeout_ms, msg, &h, b);
    if (!*msg && b->type != RB_T_ERROR) { /* a local timeout: no body */
        b->type = RB_T_ERROR;
        b->text = rb_str ("");
    }
    return code;
}

/*  "seq 7" or "seqs 7..12". */
static void
s_seqs (char *out, size_t len, uint64_t first, uint64_t last)
{
    if (first == last)
        snprintf (out, len, "seq %" PRIu64, first);
    else
        snprintf (out, len, "seqs %" PRIu64 "..%" PRIu64, first, last);
}

/*  --- re-sending pending orders ----------------------------------------- */

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

/*  --- put and delete ------------------------------------------------------ */

static void
s_order_result (ops_t *self, const char *key, uint64_t seq, const char *status,
                const rb_body_t *ack)
{
    if (!self->opts.json) {
        if (streq (status, "applied"))
            ops_say ("seq %" PRIu64, seq);
        return;
    }
    json_t *obj = ops_result (self);
    json_object_set_new (obj, "key", json_string (key));
    rb_out_json_uint (obj, "seq", seq);
    json_object_set_new (obj, "status", json_string (status));
    if (ack) {
        rb_out_json_uint (obj, "applied", ack->applied);
        rb_out_json_uint (obj, "skipped", ack->skipped);
        rb_out_json_uint (obj, "cleared", ack->cleared);
        rb_out_json_uint (obj, "watermark", ack->watermark);
    }
    ops_emit (obj);
}

/*  The order is journaled but the DB did not take it. */
static int
s_pending (ops_t *self, const char *key, uint64_t seq, const char *why)
{
    uint64_t n = rb_journal_pending (self->journal, NULL, NULL);
    char others[64] = "";
    if (n > 1)
        snprintf (others, sizeof others, " (with %" PRIu64 " earlier)", n - 1);
    s_order_result (self, key, seq, "pending", NULL);
    ops_note (self, "%s: journaled as seq %" PRIu64 ", pending%s: %s", key, seq,
              others, why);
    return EX_UNAVAILABLE;
}

/*  Sends the journaled order seq and settles it from the answer. */
static int
s_send_order (ops_t *self, int op, const char *key, const char *value,
              uint64_t seq)
{
    rb_body_t req, ack;
    rb_body_init (&req, RB_T_ORDER);
    req.seq = seq;
    req.key = rb_str (key);
    req.op = (uint8_t) op;
    req.has_value = op == RB_OP_PUT;
    req.value = rb_str (value);
    zmsg_t *msg;
    int code = ops_call (self, RB_ADDR_SERVICE, RB_OPS_DB, &req,
                         (uint32_t) self->opts.timeout_ms, &msg, &ack);
    char why[600];
    ops_describe (code, &ack.text, why, sizeof why);
    int rc = 0;
    if (code == 0 && ack.type == RB_T_ACK) {
        rb_journal_ack (self->journal, &seq, 1, ack.watermark);
        s_order_result (self, key, seq, ack.applied ? "applied" : "skipped",
                        &ack);
        if (!ack.applied)
            rc = ops_fail (self, EX_DATAERR,
                           "%s: seq %" PRIu64 " skipped: the DB holds a newer "
                           "record (watermark %" PRIu64
                           "): is this the right journal?",
                           key, seq, ack.watermark);
    } else if (code == RB_S_MALFORMED || code == RB_S_BAD_REQUEST) {
        rb_journal_reject (self->journal, &seq, 1);
        rc = ops_fail (self, EX_DATAERR,
                       "%s: seq %" PRIu64 " refused by the DB for good: %s",
                       key, seq, why);
    } else
        rc = s_pending (self, key, seq,
                        code ? why : "unexpected answer from the DB");
    zmsg_destroy (&msg);
    rb_body_release (&ack);
    return rc;
}

/*  Checks an order's key and value; 0 or EX_DATAERR (reported). */
static int
s_check_order (ops_t *self, const char *key, const char *value)
{
    if (!rb_key_valid (key, strlen (key)))
        return ops_fail (self, EX_DATAERR,
                         "bad key '%s': 1-64 printable ASCII bytes, no spaces",
                         key);
    if (value && strlen (value) > RB_OPS_VALUE_MAX)
        return ops_fail (self, EX_DATAERR,
                         "%s: value of %zu bytes, more than %d", key,
                         strlen (value), RB_OPS_VALUE_MAX);
    return 0;
}

int
ops_cmd_order (ops_t *self, int op, const char *key, const char *value)
{
    int rc = s_check_order (self, key, value);
    if (rc)
        return rc;
    ops_resend (self);
    uint64_t seq;
    if (rb_journal_add (self->journal, op, key, strlen (key), value,
                        value ? strlen (value) : 0, &seq) ||
        rb_journal_commit (self->journal))
        return ops_fail (self, EX_IOERR, "%s: not journaled, not sent: %s", key,
                         rb_journal_errstr (self->journal));
    if (self->stalled) /* the DB did not take the earlier ones either */
        return s_pending (self, key, seq, self->stall_why);
    return s_send_order (self, op, key, value, seq);
}

/*  --- command line and dispatch ----------------------------------------- */

const char *
ops_arg (int argc, char **argv, int *i, const char *name)
{
    size_t len = strlen (name);
    if (streq (argv[*i], name) && *i + 1 < argc)
        return argv[++*i];
    if (strncmp (argv[*i], name, len) == 0 && argv[*i][len] == '=')
        return argv[*i] + len + 1;
    return NULL;
}

/*  Parses "--batch N" / "--batch=N" after recover; 0 or EX_USAGE. */
static int
s_recover_args (ops_t *self, int argc, char **argv, int *batch)
{
    *batch = self->opts.batch;
    for (int i = 1; i < argc; i++) {
        const char *v = ops_arg (argc, argv, &i, "--batch");
        char *end = NULL;
        long n = v ? strtol (v, &end, 10) : 0;
        if (!v || *end || n < 1 || n > RB_BATCH_DEFAULT)
            return ops_fail (self, EX_USAGE,
                             "usage: recover [--batch N] (N in 1..%d), not "
                             "'%s'",
                             RB_BATCH_DEFAULT, v ? v : argv[i]);
        *batch = (int) n;
    }
    return 0;
}

typedef struct {
    const char *name;
    int min_args, max_args; /* operands after the command's name */
    const char *usage;
} command_t;

static const command_t s_commands[] = {{"put", 2, 2, "put KEY VALUE"},
                                       {"delete", 1, 1, "delete KEY"},
                                       {"load", 1, 1, "load FILE|-"},
                                       {"backup", 0, 0, "backup"},
                                       {"restore", 0, 1, "restore [FILE]"},
                                       {"recover", 0, 2, "recover [--batch N]"},
                                       {"status", 0, 0, "status"},
                                       {"sync", 0, 0, "sync"},
                                       {"journal", 1, 3,
                                        "journal check | journal repair "
                                        "[--next-seq N]"},
                                       {NULL, 0, 0, NULL}};

static int
s_dispatch (ops_t *self, int argc, char **argv)
{
    const char *cmd = argv[0];
    if (streq (cmd, "put"))
        return ops_cmd_order (self, RB_OP_PUT, argv[1], argv[2]);
    if (streq (cmd, "delete"))
        return ops_cmd_order (self, RB_OP_DELETE, argv[1], NULL);
    if (streq (cmd, "load"))
        return ops_cmd_load (self, argv[1]);
    if (streq (cmd, "backup"))
        return ops_cmd_backup (self);
    if (streq (cmd, "restore"))
        return ops_cmd_restore (self, argc > 1 ? argv[1] : "");
    if (streq (cmd, "status"))
        return ops_cmd_status (self);
    if (streq (cmd, "sync"))
        return ops_cmd_sync (self);
    if (streq (cmd, "journal"))
        return ops_cmd_journal (self, argc, argv);
    int batch, rc = s_recover_args (self, argc, argv, &batch);
    return rc ? rc : ops_cmd_recover (self, batch);
}

/*  Opens the journal: read-only for status when another ops holds it
    (or when it does not exist yet); status goes on without a damaged
    one (the DB's watermark helps a repair).  */
static int
s_open_journal (ops_t *self)
{
    rb_journal_err_t err;
    bool status = streq (self->command, "status");
    if (status && access (self->opts.journal, F_OK) != 0)
        return 0;
    self->journal = rb_journal_open (self->opts.journal, 0,
                                     status ? 0 : self->opts.timeout_ms, &err);
    if (!self->journal && status && err.code == RB_JOURNAL_E_LOCKED) {
        self->shared = true;
        self->journal =
            rb_journal_open (self->opts.journal, RB_JOURNAL_READONLY, 0, &err);
    }
    if (!self->journal && status && err.code == RB_JOURNAL_E_CORRUPT) {
        snprintf (self->damaged, sizeof self->damaged, "%s", err.text);
        return 0;
    }
    if (!self->journal)
        return ops_fail (self,
                         err.code == RB_JOURNAL_E_CORRUPT  ? EX_DATAERR
                         : err.code == RB_JOURNAL_E_LOCKED ? EX_UNAVAILABLE
                                                           : EX_IOERR,
                         "%s", err.text);
    if (rb_journal_warning (self->journal))
        ops_note (self, "%s", rb_journal_warning (self->journal));
    return 0;
}

int
rb_ops_run (const rb_ops_opts_t *opts, int argc, char **argv)
{
    ops_t self;
    memset (&self, 0, sizeof self);
    self.opts = *opts;
    self.command = argc > 0 ? argv[0] : "";
    const command_t *c = s_commands;
    while (c->name && argc > 0 && !streq (c->name, argv[0]))
        c++;
    if (argc == 0 || !c->name)
        return ops_fail (&self, EX_USAGE,
                         argc ? "unknown command (try --help)"
                              : "a COMMAND is needed (try --help)");
    if (argc - 1 < c->min_args || argc - 1 > c->max_args)
        return ops_fail (&self, EX_USAGE, "usage: recobus-ops [options] %s",
                         c->usage);
    if (opts->name && *opts->name)
        snprintf (self.name, sizeof self.name, "%s", opts->name);
    else
        snprintf (self.name, sizeof self.name, "ops-%d", (int) getpid ());
    /* journal check and repair open the file their own way */
    int rc = streq (c->name, "journal") ? 0 : s_open_journal (&self);
    if (rc == 0)
        rc = s_dispatch (&self, argc, argv);
    rb_bus_destroy (&self.bus);
    rb_journal_destroy (&self.journal);
    return rc;
}
