/*  rb_ops: the top of the ops node: opening the journal, the dispatch of
    a command to its file, and the orders themselves (put, delete). Calls
    go one way, down:
      rb_ops.c                     dispatch, put and delete
      rb_ops_{load,recover,status,journal}.c   the other commands
      rb_ops_resend.c              pending orders re-sent; sync
      rb_ops_send.c                pipelined DIFF batches
      rb_ops_ctx.c                 the bus: connect, call, stall
      rb_ops_out.c                 output and progress bars
    and every one of them over the journal (rb_journal*.c).  */
#include "rb_ops_int.h"
#include "rb_out.h"

#include <stdarg.h>
#include <unistd.h>

/*  --- put and delete ------------------------------------------------------ */

/*  The order is journaled but the DB did not take it. */
static int
s_pending (ops_t *self, const char *key, uint64_t seq, const char *why)
{
    uint64_t n = rb_journal_pending (self->journal, NULL, NULL);
    char others[64] = "";
    if (n > 1)
        snprintf (others, sizeof others, " (with %" PRIu64 " earlier)", n - 1);
    ops_order_result (self, key, seq, "pending", NULL);
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
        ops_ack_t counts = {ack.applied, ack.skipped, ack.cleared,
                            ack.watermark};
        ops_order_result (self, key, seq, ack.applied ? "applied" : "skipped",
                          &counts);
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

/*  Parses "restore [--force] [FILE]"; 0 or EX_USAGE. */
static int
s_restore_args (ops_t *self, int argc, char **argv, bool *force,
                const char **file)
{
    *force = false;
    *file = "";
    for (int i = 1; i < argc; i++) {
        if (streq (argv[i], "--force") && !*force)
            *force = true;
        else if (!**file && argv[i][0] && argv[i][0] != '-')
            *file = argv[i];
        else
            return ops_fail (self, EX_USAGE,
                             "usage: restore [--force] [FILE], not '%s'",
                             argv[i]);
    }
    return 0;
}

typedef struct {
    const char *name;
    int min_args, max_args; /* operands after the command's name */
    const char *usage;
} command_t;

static const command_t s_commands[] = {
    {"put", 2, 2, "put KEY VALUE"},
    {"delete", 1, 1, "delete KEY"},
    {"load", 1, 1, "load FILE|-"},
    {"backup", 0, 0, "backup"},
    {"restore", 0, 2, "restore [--force] [FILE]"},
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
    bool fwd = self->owner[0] != '\0'; /* an ops node owns the journal */
    if (streq (cmd, "put"))
        return fwd ? ops_fwd_order (self, RB_OP_PUT, argv[1], argv[2])
                   : ops_cmd_order (self, RB_OP_PUT, argv[1], argv[2]);
    if (streq (cmd, "delete"))
        return fwd ? ops_fwd_order (self, RB_OP_DELETE, argv[1], NULL)
                   : ops_cmd_order (self, RB_OP_DELETE, argv[1], NULL);
    if (streq (cmd, "load"))
        return ops_cmd_load (self, argv[1]);
    if (streq (cmd, "backup"))
        return ops_cmd_backup (self);
    if (streq (cmd, "restore")) {
        bool force;
        const char *file;
        int rc = s_restore_args (self, argc, argv, &force, &file);
        return rc ? rc : ops_cmd_restore (self, file, force);
    }
    if (streq (cmd, "status"))
        return ops_cmd_status (self);
    if (streq (cmd, "sync"))
        return fwd ? ops_fwd_sync (self) : ops_cmd_sync (self);
    if (streq (cmd, "journal"))
        return ops_cmd_journal (self, argc, argv);
    int batch, rc = s_recover_args (self, argc, argv, &batch);
    return rc ? rc : ops_cmd_recover (self, batch);
}

/*  The writing commands: sent to the ops node when one owns the
    journal; the others read it read-only then.  */
static bool
s_writing (const char *command)
{
    return streq (command, "put") || streq (command, "delete") ||
           streq (command, "load") || streq (command, "sync");
}

/*  An ops node holds the journal's lock and names itself beside it:
    the writing commands go to it, the others read the file read-only.  */
static int
s_owned (ops_t *self, rb_journal_err_t *err)
{
    if (s_writing (self->command))
        return 0;
    self->shared = true;
    self->journal =
        rb_journal_open (self->opts.journal, RB_JOURNAL_READONLY, 0, err);
    return self->journal ? 0 : -1;
}

/*  Opens the journal: first without waiting for its lock, to learn
    whether an ops node holds it (then s_owned); else as a writer,
    waiting up to timeout for another recobus-ops; read-only for status
    when another holds it (or when it does not exist yet); status goes
    on without a damaged one (the DB's watermark helps a repair).  */
static int
s_open_journal (ops_t *self)
{
    rb_journal_err_t err;
    bool status = streq (self->command, "status");
    if (status && access (self->opts.journal, F_OK) != 0)
        return 0;
    self->journal = rb_journal_open (self->opts.journal, 0, 0, &err);
    if (!self->journal && err.code == RB_JOURNAL_E_LOCKED &&
        ops_sidecar_read (self->opts.journal, self->owner,
                          sizeof self->owner) == 0 &&
        s_owned (self, &err) == 0)
        return 0;
    self->owner[0] = '\0';
    if (!self->journal && err.code == RB_JOURNAL_E_LOCKED && !status)
        self->journal = rb_journal_open (self->opts.journal, 0,
                                         self->opts.timeout_ms, &err);
    if (self->journal) { /* we hold the lock: no ops node runs on it */
        char sidecar[4200];
        ops_sidecar_path (self->opts.journal, sidecar, sizeof sidecar);
        unlink (sidecar);
    }
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

/*  Our name on the bus: the one given, else NAME-PID where NAME is the
    one our certificate carries (the broker accepts that for an ops key),
    else ops-PID.  */
static void
s_default_name (ops_t *self, const rb_ops_opts_t *opts)
{
    zcert_t *cert = opts->curve_cert && *opts->curve_cert
                        ? zcert_load (opts->curve_cert)
                        : NULL;
    const char *base = cert ? zcert_meta (cert, "name") : NULL;
    if (opts->name && *opts->name)
        snprintf (self->name, sizeof self->name, "%s", opts->name);
    else
        snprintf (self->name, sizeof self->name, "%.50s-%d",
                  base ? base : "ops", (int) getpid ());
    zcert_destroy (&cert);
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
    s_default_name (&self, opts);
    /* journal check and repair open the file their own way */
    int rc = streq (c->name, "journal") ? 0 : s_open_journal (&self);
    if (rc == 0)
        rc = s_dispatch (&self, argc, argv);
    rb_bus_destroy (&self.bus);
    rb_journal_destroy (&self.journal);
    return rc;
}
