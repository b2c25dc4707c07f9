/*  recobus-monitor: subscribes to the broker's tap and shows the traffic,
    live: one line (or JSON object) per message, labelled with its patent
    step, or a table of counters refreshed every second.

        recobus-monitor [--tap EP] [--json] [--type TYPE] [--stats]

    Only a subscriber: the broker drops what a slow monitor cannot take
    (counted as tap_drops) rather than wait. Runs until SIGINT or SIGTERM
    (exit 0).  */
#include <czmq.h>
#include <unistd.h>

#include "rb_curve.h"
#include "rb_monitor.h"
#include "rb_out.h"
#include "rb_programs.h"

static const rb_program_t *const s_program = &rb_program_monitor;

#define RCVHWM    100000    /* messages queued here before the broker drops */
#define MAX_FRAME (1 << 30) /* the largest frame a broker may route */
#define BURST     1000      /* messages handled between flushes */

typedef struct {
    rb_monitor_t *mon;
    bool json, stats, tty;
} monitor_t;

/*  CurveZMQ with our certificate, or plain to a host-local tap only. */
static int
s_secure (rb_config_t *cfg, zsock_t *sub)
{
    const char *tap = rb_config_str (cfg, "tap");
    const char *cert = rb_config_str (cfg, "curve-cert");
    char err[600], key[41];
    zcert_t *mine = NULL;
    int rc =
        cert && *cert
            ? rb_curve_client_load (cert, rb_config_str (cfg, "broker-cert"),
                                    &mine, key, err, sizeof err)
            : rb_curve_startup (NULL, NULL, true, &tap, 1,
                                rb_config_bool (cfg, "insecure"), err,
                                sizeof err);
    if (rc) {
        rb_cli_error (s_program, "%s", err);
        return -1;
    }
    if (mine)
        rb_curve_client (zsock_resolve (sub), mine, key);
    zcert_destroy (&mine);
    return 0;
}

/*  The SUB on the tap, or NULL with *rc the exit code (78 for a key or
    a plain endpoint refused, 64 for a bad endpoint).  */
static zsock_t *
s_subscribe (rb_config_t *cfg, rb_monitor_t *mon, int *rc)
{
    const char *tap = rb_config_str (cfg, "tap");
    zsock_t *sub = zsock_new (ZMQ_SUB);
    assert (sub);
    *rc = EX_CONFIG;
    if (s_secure (cfg, sub)) {
        zsock_destroy (&sub);
        return NULL;
    }
    *rc = EX_USAGE;
    zsock_set_rcvhwm (sub, RCVHWM);
    zsock_set_maxmsgsize (sub, MAX_FRAME);
    zsock_set_linger (sub, 0);
    for (const char *const *t = rb_monitor_topics (mon); *t; t++)
        zsock_set_subscribe (sub, *t);
    /* a broker pair's two taps: "EP1,EP2" (each routes its own share) */
    if (*tap == '@' || *tap == '>' || zsock_attach (sub, tap, false)) {
        rb_cli_error (s_program, "bad tap endpoint '%s'", tap);
        zsock_destroy (&sub);
    }
    return sub;
}

static void
s_show (monitor_t *self, const rb_mon_msg_t *m)
{
    if (!m->shown || self->stats)
        return;
    if (self->json)
        rb_out_json_line (stdout, rb_monitor_json (m));
    else
        rb_monitor_print (m, stdout);
}

/*  Handles what is queued, up to BURST messages, then flushes. */
static void
s_drain (monitor_t *self, zsock_t *sub)
{
    for (int n = 0; n < BURST && (zsock_events (sub) & ZMQ_POLLIN); n++) {
        zmsg_t *msg = zmsg_recv (sub);
        if (!msg)
            break;
        s_show (self, rb_monitor_take (self->mon, msg, zclock_time ()));
        zmsg_destroy (&msg);
    }
    fflush (stdout);
}

static void
s_print_stats (monitor_t *self)
{
    if (self->json)
        rb_out_json_line (stdout,
                          rb_monitor_stats_json (self->mon, zclock_time ()));
    else
        rb_monitor_stats_print (self->mon, stdout, zclock_time (), self->tty);
    fflush (stdout);
}

static int
s_run (monitor_t *self, zsock_t *sub)
{
    zpoller_t *poller = zpoller_new (sub, NULL);
    int64_t next_stats = zclock_mono () + 1000;
    while (!zsys_interrupted) {
        int64_t wait = self->stats ? next_stats - zclock_mono () : 1000;
        void *which = zpoller_wait (poller, (int) MAX (wait, 0));
        if (zpoller_terminated (poller))
            break;
        if (which)
            s_drain (self, sub);
        if (self->stats && zclock_mono () >= next_stats) {
            s_print_stats (self);
            next_stats += 1000;
            if (next_stats < zclock_mono ()) /* fell behind: skip, no burst */
                next_stats = zclock_mono () + 1000;
        }
    }
    zpoller_destroy (&poller);
    return 0;
}

static void
s_bad_type (const char *type)
{
    char names[512] = "";
    size_t used = 0;
    for (int t = 1; t < RB_T_COUNT_ && used < sizeof names; t++)
        used += (size_t) snprintf (names + used, sizeof names - used, "%s%s",
                                   t > 1 ? ", " : "", rb_type_name (t));
    rb_cli_error (s_program, "--type '%s': not a message type (one of %s)",
                  type, names);
}

int
main (int argc, char **argv)
{
    rb_cli_t cli;
    int rc = rb_cli_daemon (s_program, argc, argv, &cli);
    if (rc)
        return rc == -1 ? 0 : rc;
    rb_config_t *cfg = cli.config;
    monitor_t self = {rb_monitor_new (), rb_config_bool (cfg, "json"),
                      rb_config_bool (cfg, "stats"), isatty (STDOUT_FILENO)};
    const char *type = rb_config_str (cfg, "type");
    zsock_t *sub = NULL;
    if (type && *type && rb_monitor_filter (self.mon, type)) {
        s_bad_type (type);
        rc = EX_USAGE;
    } else if (!(sub = s_subscribe (cfg, self.mon, &rc)))
        ;
    else {
        if (cli.verbose)
            zsys_info ("listening on %s", rb_config_str (cfg, "tap"));
        rc = s_run (&self, sub);
    }
    zsock_destroy (&sub);
    rb_monitor_destroy (&self.mon);
    rb_config_destroy (&cli.config);
    return rc;
}
