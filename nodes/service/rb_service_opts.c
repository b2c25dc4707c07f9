/*  rb_service_opts: the service node's options: defaults from its option
    table (config/rb_programs.c), and which field each key fills.  */
#include "rb_programs.h"
#include "rb_service.h"

#include <string.h>

#define F(field) offsetof (rb_service_opts_t, field)

const rb_bind_t rb_service_binds[] = {
    {"name", RB_FIELD_STR, F (name), 0},
    {"policy", RB_FIELD_ENUM, F (policy), 0},
    {"listen", RB_FIELD_STR, F (listen), 0},
    {"broker", RB_FIELD_STR, F (broker), 0},
    {"max-wait", RB_FIELD_INT, F (max_wait_ms), 0},
    {"cache-size", RB_FIELD_U32, F (cache_size), 0},
    {"cache-ttl", RB_FIELD_INT, F (cache_ttl_ms), 1000},
    {"poll-min", RB_FIELD_INT, F (poll_min_ms), 0},
    {"poll-max", RB_FIELD_INT, F (poll_max_ms), 0},
    {"poll-rate", RB_FIELD_INT, F (poll_rate), 0},
    {"db-timeout", RB_FIELD_INT, F (db_timeout_ms), 0},
    {"stats-every", RB_FIELD_INT, F (stats_every_s), 0},
    {"waits-max", RB_FIELD_U32, F (waits_max), 0},
    {"waiters-max", RB_FIELD_U32, F (waiters_max), 0},
    {"curve-cert", RB_FIELD_STR, F (curve_cert), 0},
    {"broker-cert", RB_FIELD_STR, F (broker_cert), 0},
    {"metrics", RB_FIELD_STR, F (metrics), 0},
    {NULL, 0, 0, 0},
};

void
rb_service_opts_default (rb_service_opts_t *o)
{
    memset (o, 0, sizeof *o);
    /* name and policy have no default on the command line (both are
       required there); an embedding caller gets these */
    o->name = "svc";
    o->policy = RB_POLICY_LATEST_ONLY;
    rb_bind_defaults (rb_program_service.opts, rb_service_binds, o);
}
