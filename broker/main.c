/*  recobus-broker: parses flags and config, then runs the broker actor
    until SIGINT or SIGTERM.  */
#include <czmq.h>

#include "rb_broker.h"
#include "rb_programs.h"

static const rb_program_t *const s_program = &rb_program_broker;

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
    zactor_t *broker = zactor_new (rb_broker_actor, &opts);
    zstr_send (broker, "ENDPOINTS");
    char *bus = NULL, *tap = NULL;
    zsock_recv (broker, "ss", &bus, &tap);
    rc = 0;
    if (!bus || !*bus) {
        rb_cli_error (s_program, "cannot bind %s or %s (see the log above)",
                      opts.bind, opts.tap);
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
