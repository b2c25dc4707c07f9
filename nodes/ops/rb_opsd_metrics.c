/*  rb_opsd_metrics: the ops node's Prometheus metrics (rb_metrics.h;
    docs/operations.md, "Metrics"): the orders journaled, acknowledged
    and pending, the SUBMITs, the re-sends, the DB as the node last saw
    it and the recovery's phase and progress, rendered by the node's
    own loop once a second from what its STATUS answers.  */
#include "rb_opsd_int.h"

/*  What the DB may say its state is, and what the node says when the
    DB does not answer.  */
static const char *const s_db_states[] = {"normal", "restoring", "recovering",
                                          "needs_restore", "unreachable"};

/*  The recovery's phases (rb_opsd_watch.c, rb_ops_recover.c). */
static const char *const s_phases[] = {"idle",  "start", "scan", "list",
                                       "diffs", "end",   "done", "failed"};

/*  family{label=...}: 1 for now, 0 for the other values. */
static void
s_enum (rb_mtext_t *t, const char *name, const char *help, const char *label,
        const char *const *values, size_t n, const char *now)
{
    rb_mtext_family (t, name, "gauge", help);
    for (size_t i = 0; i < n; i++)
        rb_mtext_sample (t, name, label, values[i], streq (values[i], now));
}

static void
s_orders (rb_mtext_t *t, opsd_t *d)
{
    rb_mtext_gauge (t, "recobus_ops_orders_pending",
                    "Orders journaled the DB has not acknowledged yet.",
                    (double) rb_journal_pending (d->journal, NULL, NULL));
    rb_mtext_gauge (t, "recobus_ops_journal_next_seq",
                    "The seq the next order gets.",
                    (double) rb_journal_next_seq (d->journal));
    rb_mtext_counter (t, "recobus_ops_orders_journaled_total",
                      "Orders journaled by this node.", d->journaled);
    rb_mtext_counter (t, "recobus_ops_orders_acknowledged_total",
                      "Pending orders the DB acknowledged.", d->acked);
    rb_mtext_counter (t, "recobus_ops_orders_rejected_total",
                      "Pending orders the DB refused for good (malformed).",
                      d->rejected);
    rb_mtext_counter (t, "recobus_ops_orders_resent_total",
                      "Pending orders re-sent and acknowledged.", d->resent);
    rb_mtext_counter (t, "recobus_ops_resend_runs_total",
                      "Re-sends of the pending orders started.",
                      d->resend_runs);
    rb_mtext_counter (t, "recobus_ops_submits_total",
                      "SUBMIT requests taken (orders or a sync).", d->submits);
    rb_mtext_counter (t, "recobus_ops_submit_repeats_total",
                      "SUBMITs under a request id the journal holds: "
                      "answered from it, not journaled again.",
                      d->repeats);
    rb_mtext_counter (t, "recobus_ops_submits_overloaded_total",
                      "SUBMITs answered overloaded: too many waiting.",
                      d->overloaded);
    rb_mtext_counter (t, "recobus_ops_submits_refused_total",
                      "SUBMITs refused: the sender's role is not ops.",
                      d->refused);
}

static void
s_recovery (rb_mtext_t *t, opsd_t *d)
{
    s_enum (t, "recobus_ops_recovery_phase",
            "The recovery's phase (1: current).", "phase", s_phases,
            sizeof s_phases / sizeof s_phases[0], d->phase);
    rb_mtext_gauge (t, "recobus_ops_recovery_keys",
                    "Keys the current or last recovery found in the journal.",
                    (double) d->rec_keys);
    rb_mtext_gauge (t, "recobus_ops_recovery_listed_keys",
                    "Keys it sent in the recovery list so far.",
                    (double) d->rec_listed);
    rb_mtext_gauge (t, "recobus_ops_recovery_diffs", "Diffs it sent so far.",
                    (double) d->rec_diffs);
    rb_mtext_counter (t, "recobus_ops_recovery_runs_total",
                      "Recoveries started.", d->rec_runs);
    rb_mtext_gauge (t, "recobus_ops_recovery_last_exit_code",
                    "The last recovery's exit code (0: it ended well).",
                    d->rec_rc);
    rb_mtext_gauge (t, "recobus_ops_auto_recover",
                    "1 when the node recovers by itself.",
                    d->opts.auto_recover);
}

static void
s_render (rb_mtext_t *t, void *arg)
{
    opsd_t *d = (opsd_t *) arg;
    s_orders (t, d);
    s_enum (t, "recobus_ops_db_state",
            "The DB's state as the node last saw it (1: current).", "state",
            s_db_states, sizeof s_db_states / sizeof s_db_states[0],
            d->db_ok ? d->db_state : "unreachable");
    rb_mtext_counter (t, "recobus_ops_db_failures_total",
                      "Sends to the DB that failed (it was out of reach).",
                      d->db_failures);
    s_recovery (t, d);
}

void
opsd_metrics_start (opsd_t *d)
{
    d->metrics = rb_metrics_start (d->loop, d->opts.metrics, s_render, d,
                                   "recobus-ops: serve");
}

void
opsd_metrics_stop (opsd_t *d)
{
    rb_metrics_destroy (&d->metrics);
}
