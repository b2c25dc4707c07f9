/*  rb_opsd: recobus-ops serve, the ops node (see rb_opsd_int.h and
    docs/operations.md "The ops node").

    It takes the journal's lock for its whole life (the single writer),
    names itself in JOURNAL.serve so that the other commands send it
    their orders, registers on the bus as role ops offering service
    "ops", and runs one zloop: the bus (SUBMIT and STATUS requests), a
    timer that watches the DB (rb_opsd_watch.c), and the recovery
    actor's pipe. Only a peer the broker stamped with role ops may send
    it a SUBMIT (the broker's table says so too). SIGINT or SIGTERM ends
    the loop: the recovery is stopped, whoever waits is answered, the
    journal is synced, the side file removed, the lock released.  */
#include "rb_opsd_int.h"

#include <inttypes.h>
#include <unistd.h>

/*  --- requests ---------------------------------------------------------- */

static void
s_status (opsd_t *d, const rb_header_t *h)
{
    opsd_items_t it = {.n = 0};
    opsd_text (&it, "role", "ops-node");
    opsd_text (&it, "journal", d->opts.journal);
    opsd_num (&it, "next_seq", rb_journal_next_seq (d->journal));
    opsd_num (&it, "pending", rb_journal_pending (d->journal, NULL, NULL));
    opsd_num (&it, "submits", d->submits);
    opsd_num (&it, "journaled", d->journaled);
    opsd_num (&it, "repeats", d->repeats);
    opsd_num (&it, "refused", d->refused);
    opsd_num (&it, "overloaded", d->overloaded);
    opsd_num (&it, "resent", d->resent);
    opsd_num (&it, "resend_runs", d->resend_runs);
    opsd_num (&it, "db_failures", d->db_failures);
    opsd_watch_items (d, &it);
    opsd_answer (d, h, &it);
}

/*  Who may ask what of the ops node: {type, roles (bits of rb_role_t)}. */
static const struct {
    int type;
    uint32_t roles;
} s_requests[] = {
    {RB_T_SUBMIT, 1u << RB_ROLE_OPS},
    {RB_T_STATUS, ~0u},
};

static void
s_on_request (rb_bus_t *bus, const rb_header_t *h, const rb_body_t *b,
              zmsg_t **msg_p, void *arg)
{
    opsd_t *d = (opsd_t *) arg;
    size_t i = 0, n = sizeof s_requests / sizeof s_requests[0];
    while (i < n && s_requests[i].type != h->type)
        i++;
    if (i == n) {
        rb_bus_error (bus, h, RB_S_BAD_REQUEST,
                      "the ops node takes SUBMIT and STATUS");
        return;
    }
    if (!(s_requests[i].roles & (1u << h->role))) {
        d->refused++;
        rb_bus_error (bus, h, RB_S_FORBIDDEN,
                      "only role ops may send orders to the ops node");
        return;
    }
    if (h->type == RB_T_SUBMIT)
        opsd_submit (d, h, b);
    else
        s_status (d, h);
}

static int
s_on_tick (zloop_t *loop, int timer_id, void *arg)
{
    opsd_watch_tick ((opsd_t *) arg);
    return 0;
}

/*  systemd: ready once we hold the journal (before the loop) and the
    broker took our HELLO; the recovery's phase and the orders pending.  */
static void
s_notify (rb_notify_t *notify, void *arg)
{
    opsd_t *d = (opsd_t *) arg;
    if (rb_bus_registered (d->bus))
        rb_notify_ready (notify);
    rb_notify_status (notify, "recovery phase %s, %" PRIu64 " pending",
                      d->phase, rb_journal_pending (d->journal, NULL, NULL));
}

/*  --- start and stop ---------------------------------------------------- */

/*  Our name: the one given, else NAME-serve, NAME from our certificate
    (an ops key named NAME may register NAME-SUFFIX), else ops-serve.  */
static void
s_name (opsd_t *d)
{
    zcert_t *cert = d->opts.curve_cert && *d->opts.curve_cert
                        ? zcert_load (d->opts.curve_cert)
                        : NULL;
    const char *base = cert ? zcert_meta (cert, "name") : NULL;
    if (d->opts.name && *d->opts.name)
        snprintf (d->name, sizeof d->name, "%s", d->opts.name);
    else
        snprintf (d->name, sizeof d->name, "%.40s-serve", base ? base : "ops");
    zcert_destroy (&cert);
}

/*  JOURNAL.serve: our name and pid, written whole (a temp file renamed). */
static int
s_sidecar_write (opsd_t *d)
{
    ops_sidecar_path (d->opts.journal, d->sidecar, sizeof d->sidecar);
    char tmp[4300];
    snprintf (tmp, sizeof tmp, "%s.tmp", d->sidecar);
    FILE *f = fopen (tmp, "w");
    if (!f)
        return -1;
    fprintf (f, "name=%s\npid=%d\n", d->name, (int) getpid ());
    if (fclose (f) || rename (tmp, d->sidecar)) {
        unlink (tmp);
        return -1;
    }
    return 0;
}

static int
s_open (opsd_t *d)
{
    rb_journal_err_t err;
    d->journal = rb_journal_open (d->opts.journal, 0, d->opts.timeout_ms, &err);
    if (!d->journal) {
        fprintf (stderr, "recobus-ops: serve: %s\n", err.text);
        return err.code == RB_JOURNAL_E_CORRUPT  ? EX_DATAERR
               : err.code == RB_JOURNAL_E_LOCKED ? EX_UNAVAILABLE
                                                 : EX_IOERR;
    }
    if (rb_journal_warning (d->journal))
        fprintf (stderr, "recobus-ops: serve: %s\n",
                 rb_journal_warning (d->journal));
    if (s_sidecar_write (d)) {
        fprintf (stderr, "recobus-ops: serve: %s: %s\n", d->sidecar,
                 strerror (errno));
        return EX_IOERR;
    }
    return 0;
}

static void
s_connect (opsd_t *d)
{
    rb_bus_opts_t o = {.endpoint = d->opts.broker,
                       .role = RB_ROLE_OPS,
                       .name = d->name,
                       .services = {RB_OPS_SERVICE},
                       .n_services = 1,
                       .curve_cert = d->opts.curve_cert,
                       .broker_cert = d->opts.broker_cert};
    d->bus = rb_bus_new (&o);
    rb_bus_on_request (d->bus, s_on_request, d);
    d->loop = zloop_new ();
    rb_bus_attach (d->bus, d->loop);
    zloop_timer (d->loop, (size_t) d->opts.watch_ms, 0, s_on_tick, d);
    d->notify = rb_notify_new ();
    rb_notify_attach (d->notify, d->loop, s_notify, d);
    opsd_metrics_start (d);
}

static int
s_close (opsd_t *d)
{
    opsd_watch_stop (d);
    opsd_send_stop (d);
    opsd_metrics_stop (d);
    rb_bus_destroy (&d->bus);
    zloop_destroy (&d->loop);
    rb_notify_destroy (&d->notify);
    int rc = 0;
    if (d->journal && rb_journal_sync (d->journal)) {
        fprintf (stderr, "recobus-ops: serve: %s\n",
                 rb_journal_errstr (d->journal));
        rc = EX_IOERR;
    }
    if (d->sidecar[0])
        unlink (d->sidecar);
    rb_journal_destroy (&d->journal);
    return rc;
}

int
rb_ops_serve (const rb_ops_opts_t *opts)
{
    opsd_t *d = (opsd_t *) calloc (1, sizeof *d);
    assert (d);
    d->opts = *opts;
    d->db_ok = true; /* until a send or a STATUS says otherwise */
    d->rec_backoff = 1000;
    snprintf (d->phase, sizeof d->phase, "idle");
    s_name (d);
    int rc = s_open (d);
    if (rc == 0) {
        s_connect (d);
        printf ("recobus-ops: serving as %s: journal %s, next seq %" PRIu64
                ", %" PRIu64 " pending, auto-recover %s\n",
                d->name, d->opts.journal, rb_journal_next_seq (d->journal),
                rb_journal_pending (d->journal, NULL, NULL),
                d->opts.auto_recover ? "on" : "off");
        fflush (stdout);
        opsd_watch_tick (d);
        zloop_start (d->loop); /* until SIGINT or SIGTERM */
        rb_notify_stopping (d->notify);
        zsys_info ("recobus-ops: serve: stopping");
    }
    int closed = s_close (d);
    free (d);
    return rc ? rc : closed;
}
