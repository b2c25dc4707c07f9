/*  recobus-broker: parses flags and config, then runs the broker actor
    until SIGINT or SIGTERM.  */
#include <czmq.h>

#include "rb_broker.h"
#include "rb_curve.h"
#include "rb_metrics.h"
#include "rb_programs.h"

static const rb_program_t *const s_program = &rb_program_broker;

/*  CurveZMQ, or plain on host-local endpoints only (docs/security.md). */
static int
s_security (rb_config_t *cfg, const rb_broker_opts_t *o)
{
    const char *eps[] = {o->bind, o->tap};
    char err[600];
    if (rb_metrics_check (o->metrics, err, sizeof err)) {
        rb_cli_error (s_program, "%s", err);
        return EX_CONFIG;
    }
    if (rb_curve_startup (o->curve_cert, NULL, false, eps, 2,
                          rb_config_bool (cfg, "insecure"), err, sizeof err)) {
        rb_cli_error (s_program, "%s", err);
        return EX_CONFIG;
    }
    if (o->curve_cert && *o->curve_cert &&
        (!o->authorized_keys || !zsys_file_exists (o->authorized_keys))) {
        rb_cli_error (s_program, "curve-cert needs authorized-keys: a "
                                 "directory of the nodes' public certificates");
        return EX_CONFIG;
    }
    if (o->peer_queue_bytes < 2 * o->max_frame) {
        rb_cli_error (s_program,
                      "peer-queue-bytes (%" PRId64 ") must be at least twice "
                      "max-frame (%" PRId64 "): one frame would drop a node",
                      o->peer_queue_bytes, o->max_frame);
        return EX_CONFIG;
    }
    rb_curve_daemon_threads (o->curve_cert);
    return 0;
}

int
main (int argc, char **argv)
{
    rb_cli_t cli;
    int rc = rb_cli_daemon (s_program, argc, argv, &cli);
    if (rc)
        return rc == -1 ? 0 : rc;
    rb_config_t *cfg = cli.config;
    rb_broker_opts_t opts;
    rb_broker_opts_default (&opts);
    rb_bind_config (cfg, rb_broker_binds, &opts);
    opts.notify = true; /* systemd's Type=notify (deploy/) */
    rc = s_security (cfg, &opts);
    if (rc) {
        rb_config_destroy (&cli.config);
        return rc;
    }
    zactor_t *broker = zactor_new (rb_broker_actor, &opts);
    zstr_send (broker, "ENDPOINTS");
    char *bus = NULL, *tap = NULL;
    zsock_recv (broker, "ss", &bus, &tap);
    rc = 0;
    if (!bus || !*bus) {
        rb_cli_error (s_program,
                      "cannot bind the bus %s, the tap %s or the metrics "
                      "endpoint %s (see the log above)",
                      opts.bind, *opts.tap ? opts.tap : "(none)",
                      opts.metrics && *opts.metrics ? opts.metrics : "(none)");
        rc = EX_CONFIG;
    } else {
        printf ("recobus-broker: bus %s tap %s\n", bus, *tap ? tap : "-");
        fflush (stdout);
        rb_cli_wait_signal ();
    }
    zstr_free (&bus);
    zstr_free (&tap);
    zactor_destroy (&broker);
    rb_config_destroy (&cli.config);
    return rc;
}
