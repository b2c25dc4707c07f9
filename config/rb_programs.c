/*  rb_programs: option tables (see rb_programs.h). Each table is the
    program's contract: flag, config key, type, default, bounds, help.  */
#include "rb_programs.h"

#include <stddef.h>

#define END                                                                    \
    {                                                                          \
        NULL, NULL, 0, 0, NULL, 0, 0, NULL, NULL, NULL                         \
    }

static const rb_opt_t s_broker[] = {
    {"bind", "bind", 0, RB_OPT_STR, "tcp://127.0.0.1:5555", 1, 255, NULL, "EP",
     "endpoint every node connects to"},
    {"tap", "tap", 0, RB_OPT_STR, "tcp://127.0.0.1:5556", 0, 255, NULL, "EP",
     "endpoint of the traffic tap (empty: none)"},
    {"heartbeat", "heartbeat", 0, RB_OPT_INT, "1000", 10, 60000, NULL, "MS",
     "heartbeat interval, both ways"},
    {"liveness", "liveness", 0, RB_OPT_INT, "3", 1, 100, NULL, "N",
     "missed heartbeats before a node is expired"},
    {"queue-max", "queue-max", 0, RB_OPT_INT, "10000", 1, 1000000, NULL, "N",
     "requests queued per service, at most"},
    {"queue-timeout", "queue-timeout", 0, RB_OPT_INT, "2000", 1, 3600000, NULL,
     "MS", "deadline of a request that names none"},
    {"worker-credit", "worker-credit", 0, RB_OPT_INT, "1000", 1, 1000000, NULL,
     "N", "requests in flight per worker before queueing"},
    {"tap-hwm", "tap-hwm", 0, RB_OPT_INT, "10000", 1, 10000000, NULL, "N",
     "tap messages buffered per subscriber before dropping"},
    {"max-frame", "max-frame", 0, RB_OPT_INT, "16777216", 1024, 1073741824,
     NULL, "BYTES", "largest frame accepted from a node"},
    END,
};

const rb_program_t rb_program_broker = {
    "recobus-broker",
    "[options]",
    "Routes requests, replies and pushes between recobus nodes over one "
    "ZeroMQ ROUTER socket, and publishes a copy of the traffic on a tap.",
    NULL,
    "broker",
    s_broker,
};
