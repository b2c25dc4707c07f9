/*  recobus-ops: the operations system as a command-line node. Parses the
    flags and the config (rb_program_ops), then runs one command
    (rb_ops.h). Results on stdout, errors as one line on stderr, logs
    only with -v.  */
#include <czmq.h>
#include <unistd.h>

#include "rb_cli.h"
#include "rb_curve.h"
#include "rb_metrics.h"
#include "rb_ops.h"
#include "rb_programs.h"

int
main (int argc, char **argv)
{
    rb_cli_t cli;
    int rc = rb_cli_parse (&rb_program_ops, argc, argv, &cli);
    if (rc)
        return rc == -1 ? 0 : rc;
    zsys_set_logstream (cli.verbose ? stderr : NULL);
    zsys_set_logident ("recobus-ops");
    rb_config_t *cfg = cli.config;
    rb_ops_opts_t opts;
    rb_ops_opts_default (&opts);
    rb_bind_config (cfg, rb_ops_binds, &opts);
    opts.progress = isatty (STDERR_FILENO) != 0;
    char err[600];
    if (rb_metrics_check (opts.metrics, err, sizeof err)) {
        rb_cli_error (&rb_program_ops, "%s", err);
        rc = EX_CONFIG;
    } else if (rb_curve_startup (
                   opts.curve_cert, opts.broker_cert, true, &opts.broker, 1,
                   rb_config_bool (cfg, "insecure"), err, sizeof err)) {
        rb_cli_error (&rb_program_ops, "%s", err);
        rc = EX_CONFIG;
    } else if (cli.argi >= argc) {
        rb_cli_error (&rb_program_ops, "a COMMAND is needed");
        fprintf (stderr, "Try 'recobus-ops --help'.\n");
        rc = EX_USAGE;
    } else if (streq (argv[cli.argi], "serve") && cli.argi + 1 < argc) {
        rb_cli_error (&rb_program_ops, "serve takes no operands (try --help)");
        rc = EX_USAGE;
    } else if (streq (argv[cli.argi], "serve")) {
        zsys_set_logstream (stderr); /* a daemon: its events on stderr */
        zsys_catch_interrupts ();    /* SIGINT/SIGTERM: a clean stop */
        rc = rb_ops_serve (&opts);
    } else
        rc = rb_ops_run (&opts, argc - cli.argi, argv + cli.argi);
    rb_config_destroy (&cli.config);
    return rc;
}
