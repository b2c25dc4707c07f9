/*  rb_broker_opts: the broker's options: defaults from its option table
    (config/rb_programs.c), and which field each key fills.  */
#include "rb_broker.h"
#include "rb_programs.h"

#include <string.h>

#define F(field) offsetof (rb_broker_opts_t, field)

const rb_bind_t rb_broker_binds[] = {
    {"bind", RB_FIELD_STR, F (bind), 0},
    {"tap", RB_FIELD_STR, F (tap), 0},
    {"heartbeat", RB_FIELD_INT, F (heartbeat_ms), 0},
    {"liveness", RB_FIELD_INT, F (liveness), 0},
    {"queue-max", RB_FIELD_INT, F (queue_max), 0},
    {"queue-bytes", RB_FIELD_I64, F (queue_bytes), 0},
    {"queue-timeout", RB_FIELD_INT, F (queue_timeout_ms), 0},
    {"worker-credit", RB_FIELD_INT, F (worker_credit), 0},
    {"tap-hwm", RB_FIELD_INT, F (tap_hwm), 0},
    {"max-frame", RB_FIELD_I64, F (max_frame), 0},
    {"services-max", RB_FIELD_U32, F (services_max), 0},
    {"service-linger", RB_FIELD_INT, F (service_linger_ms), 0},
    {"nodes-max", RB_FIELD_U32, F (nodes_max), 0},
    {"peer-queue-max", RB_FIELD_U32, F (peer_queue_max), 0},
    {"peer-queue-bytes", RB_FIELD_I64, F (peer_queue_bytes), 0},
    {"hello-timeout", RB_FIELD_INT, F (hello_timeout_ms), 0},
    {"curve-cert", RB_FIELD_STR, F (curve_cert), 0},
    {"authorized-keys", RB_FIELD_STR, F (authorized_keys), 0},
    {"metrics", RB_FIELD_STR, F (metrics), 0},
    {NULL, 0, 0, 0},
};

void
rb_broker_opts_default (rb_broker_opts_t *o)
{
    memset (o, 0, sizeof *o);
    o->max_inflight = 1 << 20; /* not an option (yet) */
    rb_bind_defaults (rb_program_broker.opts, rb_broker_binds, o);
}
