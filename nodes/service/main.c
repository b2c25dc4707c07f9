/*  recobus-service: parses flags and config, then runs a service node
    until SIGINT or SIGTERM.  */
#include <czmq.h>

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
    opts.name = rb_config_str (cfg, "name");
    const char *policy = rb_config_str (cfg, "policy");
    if (!opts.name || !policy) {
        rb_cli_error (s_program, "--name and --policy are required");
        rb_config_destroy (&cli.config);
        return EX_USAGE;
    }
    opts.policy = rb_policy_lookup (policy);
    opts.listen = rb_config_str (cfg, "listen");
    opts.broker = rb_config_str (cfg, "broker");
    opts.max_wait_ms = (int) rb_config_int (cfg, "max-wait");
    opts.cache_size = (uint32_t) rb_config_int (cfg, "cache-size");
    opts.cache_ttl_ms = (int) rb_config_int (cfg, "cache-ttl") * 1000;
    opts.poll_min_ms = (int) rb_config_int (cfg, "poll-min");
    opts.poll_max_ms = (int) rb_config_int (cfg, "poll-max");
    opts.db_timeout_ms = (int) rb_config_int (cfg, "db-timeout");
    opts.stats_every_s = (int) rb_config_int (cfg, "stats-every");
    opts.verbose = cli.verbose > 0;
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
