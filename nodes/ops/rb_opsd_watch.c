/*  rb_opsd_watch: the ops node watches the DB (see rb_opsd_int.h).

    Every watch-interval it asks the DB's STATUS (one at a time, with a
    deadline). An answer means the DB is back: pending orders are
    re-sent. A DB in state recovering, with auto-recover on, gets the
    recovery (S3 list, S8 diffs, S10 end: ops_cmd_recover, the same code
    as `recobus-ops recover`), run by an actor with its own bus
    connection and a read-only handle on the journal, so the node goes
    on taking orders meanwhile. It reports its phase and counts up the
    actor's pipe. A run that fails is tried again after a back-off (1 s,
    doubling to 30 s); a node restarted mid-recovery simply finds the DB
    recovering again and starts over, which is safe: every step is
    idempotent.  */
#include "rb_opsd_int.h"

#include <inttypes.h>

#define PROGRESS_MS 100 /* the actor reports progress this often, most */

/*  --- the recovery actor ------------------------------------------------ */

typedef struct {
    rb_ops_opts_t opts;
    char name[RB_NAME_MAX + 1];
    const int *stop;
    zsock_t *pipe;
    int64_t told; /* when progress was last sent up */
} rec_args_t;

/*  The recovery's progress hook: up the pipe, at most every 100 ms but
    always at a phase's start and end.  */
static void
s_progress (void *arg, const char *phase, uint64_t done, uint64_t total)
{
    rec_args_t *a = (rec_args_t *) arg;
    int64_t now = zclock_mono ();
    if (done != 0 && done < total && now - a->told < PROGRESS_MS)
        return;
    a->told = now;
    zstr_sendf (a->pipe, "PROGRESS %s %" PRIu64 " %" PRIu64, phase, done,
                total);
}

static int
s_recover (rec_args_t *a)
{
    ops_t ops;
    memset (&ops, 0, sizeof ops);
    ops.opts = a->opts;
    ops.opts.json = false;
    ops.opts.progress = false;
    ops.command = "auto-recover";
    snprintf (ops.name, sizeof ops.name, "%s", a->name);
    ops.stop = a->stop;
    ops.watch = s_progress;
    ops.watch_arg = a;
    ops.shared = true; /* the node writes the journal, we only read it */
    rb_journal_err_t err;
    ops.journal =
        rb_journal_open (a->opts.journal, RB_JOURNAL_READONLY, 0, &err);
    int rc = ops.journal ? ops_cmd_recover (&ops, a->opts.batch)
                         : ops_fail (&ops, EX_IOERR, "%s", err.text);
    rb_bus_destroy (&ops.bus);
    rb_journal_destroy (&ops.journal);
    return rc;
}

static void
s_actor (zsock_t *pipe, void *args)
{
    rec_args_t *a = (rec_args_t *) args;
    a->pipe = pipe;
    zsock_signal (pipe, 0);
    int rc = s_recover (a);
    zstr_sendf (pipe, "DONE %d", rc);
    char *cmd;
    while ((cmd = zstr_recv (pipe)) != NULL) { /* until $TERM */
        bool term = streq (cmd, "$TERM");
        zstr_free (&cmd);
        if (term)
            break;
    }
    free (a);
}

/*  --- its side in the node ---------------------------------------------- */

static void s_rec_end (opsd_t *d, int rc);

static void
s_rec_progress (opsd_t *d, const char *line)
{
    char phase[16];
    uint64_t done, total;
    if (sscanf (line, "PROGRESS %15s %" SCNu64 " %" SCNu64, phase, &done,
                &total) != 3)
        return;
    snprintf (d->phase, sizeof d->phase, "%s", phase);
    if (streq (phase, "scan"))
        d->rec_keys = total;
    else if (streq (phase, "list"))
        d->rec_listed = done;
    else if (streq (phase, "diffs"))
        d->rec_diffs = done;
}

static int
s_on_actor (zloop_t *loop, zsock_t *sock, void *arg)
{
    opsd_t *d = (opsd_t *) arg;
    char *line = zstr_recv (sock);
    int rc;
    if (line && strncmp (line, "PROGRESS ", 9) == 0)
        s_rec_progress (d, line);
    else if (line && sscanf (line, "DONE %d", &rc) == 1)
        s_rec_end (d, rc);
    zstr_free (&line);
    return 0;
}

static void
s_rec_start (opsd_t *d)
{
    rec_args_t *a = (rec_args_t *) calloc (1, sizeof *a);
    assert (a);
    a->opts = d->opts;
    snprintf (a->name, sizeof a->name, "%.55s-recover", d->name);
    a->stop = &d->stop;
    __atomic_store_n (&d->stop, 0, __ATOMIC_RELAXED);
    d->rec_keys = d->rec_listed = d->rec_diffs = 0;
    snprintf (d->phase, sizeof d->phase, "start");
    d->rec_runs++;
    zsys_info ("recobus-ops: serve: the DB is recovering: starting the "
               "recovery (run %" PRIu64 ")",
               d->rec_runs);
    d->recovery = zactor_new (s_actor, a);
    zloop_reader (d->loop, zactor_sock (d->recovery), s_on_actor, d);
}

static void
s_rec_end (opsd_t *d, int rc)
{
    zloop_reader_end (d->loop, zactor_sock (d->recovery));
    zactor_destroy (&d->recovery);
    d->rec_rc = rc;
    snprintf (d->phase, sizeof d->phase, "%s", rc ? "failed" : "done");
    if (rc == 0) {
        d->rec_backoff = 1000;
        d->rec_error[0] = '\0';
        zsys_info ("recobus-ops: serve: recovery done: the DB is normal");
        return;
    }
    snprintf (d->rec_error, sizeof d->rec_error,
              "exit %d (the ops node's log has the line)", rc);
    d->rec_next = zclock_mono () + d->rec_backoff;
    zsys_warning ("recobus-ops: serve: recovery stopped (exit %d): trying "
                  "again in %d ms if the DB is still recovering",
                  rc, d->rec_backoff);
    d->rec_backoff = d->rec_backoff * 2 > OPSD_BACKOFF_MAX ? OPSD_BACKOFF_MAX
                                                           : d->rec_backoff * 2;
}

void
opsd_watch_stop (opsd_t *d)
{
    if (!d->recovery)
        return;
    __atomic_store_n (&d->stop, 1, __ATOMIC_RELAXED);
    zloop_reader_end (d->loop, zactor_sock (d->recovery));
    zactor_destroy (&d->recovery);
}

void
opsd_watch_items (opsd_t *d, opsd_items_t *it)
{
    opsd_num (it, "auto_recover", d->opts.auto_recover);
    opsd_text (it, "db_state", d->db_ok ? d->db_state : "unreachable");
    opsd_text (it, "recovery", d->phase);
    opsd_num (it, "recovery.running", d->recovery != NULL);
    opsd_num (it, "recovery.keys", d->rec_keys);
    opsd_num (it, "recovery.listed", d->rec_listed);
    opsd_num (it, "recovery.diffs", d->rec_diffs);
    opsd_num (it, "recovery.runs", d->rec_runs);
    opsd_text (it, "recovery.error", d->rec_error);
}

/*  --- the DB's STATUS ---------------------------------------------------- */

static void
s_db_state (opsd_t *d, const rb_body_t *b)
{
    d->db_state[0] = '\0';
    d->db_list_complete = 0;
    for (uint32_t i = 0; i < b->n_items; i++) {
        const rb_item_t *it = &b->items[i];
        if (rb_str_eq (it->name, "state") && it->is_text)
            snprintf (d->db_state, sizeof d->db_state, "%.*s",
                      (int) it->text.len, it->text.ptr);
        else if (rb_str_eq (it->name, "list_complete") && !it->is_text)
            d->db_list_complete = it->num;
    }
}

static void
s_status_answered (rb_bus_t *bus, const rb_header_t *h, const rb_body_t *b,
                   zmsg_t **msg_p, void *arg, uint64_t cookie)
{
    opsd_t *d = (opsd_t *) arg;
    d->status_out = false;
    if (h->kind != RB_K_REPLY || b->type != RB_T_INFO) {
        if (d->db_ok)
            zsys_warning ("recobus-ops: serve: the DB does not answer");
        d->db_ok = false;
        ops_describe (h->kind == RB_K_ERROR ? h->status : RB_S_INTERNAL,
                      b->type == RB_T_ERROR ? &b->text : NULL, d->db_why,
                      sizeof d->db_why);
        return;
    }
    if (!d->db_ok)
        zsys_info ("recobus-ops: serve: the DB answers");
    d->db_ok = true;
    s_db_state (d, b);
    bool recovering = streq (d->db_state, "recovering");
    if (recovering || streq (d->db_state, "normal"))
        opsd_resend_start (d);
    if (recovering && d->opts.auto_recover && !d->recovery &&
        zclock_mono () >= d->rec_next)
        s_rec_start (d);
}

void
opsd_watch_tick (opsd_t *d)
{
    if (d->status_out)
        return;
    rb_body_t req;
    rb_body_init (&req, RB_T_STATUS);
    uint32_t timeout = (uint32_t) d->opts.timeout_ms;
    if (timeout > 5000)
        timeout = 5000;
    if (rb_bus_request (d->bus, RB_ADDR_SERVICE, RB_OPS_DB, &req, timeout,
                        s_status_answered, d, 0) == 0)
        d->status_out = true;
}
