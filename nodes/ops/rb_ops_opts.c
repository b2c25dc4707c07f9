/*  rb_ops_opts: the ops node's options: defaults from its option table
    (config/rb_programs.c), and which field each key fills.  */
#include "rb_ops.h"
#include "rb_programs.h"

#include <string.h>

#define F(field) offsetof (rb_ops_opts_t, field)

const rb_bind_t rb_ops_binds[] = {
    {"broker", RB_FIELD_STR, F (broker), 0},
    {"journal", RB_FIELD_STR, F (journal), 0},
    {"name", RB_FIELD_STR, F (name), 0},
    {"json", RB_FIELD_BOOL, F (json), 0},
    {"batch", RB_FIELD_INT, F (batch), 0},
    {"timeout", RB_FIELD_INT, F (timeout_ms), 0},
    {"job-timeout", RB_FIELD_INT, F (job_timeout_ms), 0},
    {"auto-recover", RB_FIELD_BOOL, F (auto_recover), 0},
    {"watch-interval", RB_FIELD_INT, F (watch_ms), 0},
    {"metrics", RB_FIELD_STR, F (metrics), 0},
    {"request-id", RB_FIELD_STR, F (request_id), 0},
    {"curve-cert", RB_FIELD_STR, F (curve_cert), 0},
    {"broker-cert", RB_FIELD_STR, F (broker_cert), 0},
    {NULL, 0, 0, 0},
};

void
rb_ops_opts_default (rb_ops_opts_t *o)
{
    memset (o, 0, sizeof *o);
    rb_bind_defaults (rb_program_ops.opts, rb_ops_binds, o);
}
