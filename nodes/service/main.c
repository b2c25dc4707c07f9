/*  recobus-service: parses flags and config, then runs a service node
    until SIGINT or SIGTERM.  */
#include <czmq.h>

#include "rb_curve.h"
#include "rb_metrics.h"
#include "rb_programs.h"
#include "rb_service.h"

static const rb_program_t *const s_program = &rb_program_service;

int
main (int argc, char **argv)
{
    rb_cli_t cli;
    int rc = rb_cli_daemon (s_program, argc, argv, &cli);
    if (rc)
        return rc == -1 ? 0 : rc;
    rb_config_t *cfg = cli.config;
    rb_service_opts_t opts;
    rb_service_opts_default (&opts);
    rb_bind_config (cfg, rb_service_binds, &opts);
    const char *policy = rb_config_str (cfg, "policy");
    if (!rb_config_str (cfg, "name") || !policy) {
        rb_cli_error (s_program, "--name and --policy are required");
        rb_config_destroy (&cli.config);
        return EX_USAGE;
    }
    opts.verbose = cli.verbose > 0;
    opts.notify = true; /* systemd's Type=notify (deploy/) */
    char err[600];
    if (rb_metrics_check (opts.metrics, err, sizeof err)) {
        rb_cli_error (s_program, "%s", err);
        rc = EX_CONFIG;
    } else if (rb_curve_startup (
                   opts.curve_cert, opts.broker_cert, true, &opts.broker, 1,
                   rb_config_bool (cfg, "insecure"), err, sizeof err)) {
        rb_cli_error (s_program, "%s", err);
        rc = EX_CONFIG;
    } else
        rb_curve_daemon_threads (opts.curve_cert);
    if (rc) {
        rb_config_destroy (&cli.config);
        return rc;
    }
    zactor_t *svc = zactor_new (rb_service_actor, &opts);
    zstr_send (svc, "ENDPOINT");
    char *endpoint = zstr_recv (svc);
    if (endpoint && *endpoint) {
        printf ("recobus-service: %s (%s) serving terminals on %s\n", opts.name,
                policy, endpoint);
        fflush (stdout);
        rb_cli_wait_signal ();
    } else {
        rb_cli_error (s_program, "cannot bind %s (see the log above)",
                      opts.listen);
        rc = EX_CONFIG;
    }
    zstr_free (&endpoint);
    zactor_destroy (&svc);
    rb_config_destroy (&cli.config);
    return rc;
}
