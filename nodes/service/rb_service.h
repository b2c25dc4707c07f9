/*  rb_service: a service node, a czmq actor (patent steps S6-S7).

    Serves terminals on its own ROUTER: GET {key} -> ANSWER {key, status,
    seq, value}. A cache hit answers at once; a miss asks service "db".
    When the DB answers with the recovering flag, the policy decides:
    stale-ok answers "stale" with the restored data; latest-only parks the
    terminal and re-polls with jittered exponential back-off (or at once on
    a RECOVERED push) until the flag clears or max-wait passes, then
    answers "unavailable" - never stale data. Terminals waiting on one key
    share one poll stream.

        zactor_t *svc = zactor_new (rb_service_actor, &opts);
        zstr_send (svc, "ENDPOINT");   // -> the terminal endpoint
        zactor_destroy (&svc);                                            */
#ifndef RB_SERVICE_H
#define RB_SERVICE_H

#include <czmq.h>
#include <stdbool.h>
#include <stdint.h>

#include "rb_bind.h"

typedef enum { RB_POLICY_LATEST_ONLY, RB_POLICY_STALE_OK } rb_policy_t;

typedef struct {
    const char *name;   /* node name on the bus */
    int policy;         /* rb_policy_t */
    const char *listen; /* terminal endpoint */
    const char *broker; /* broker endpoint */
    int max_wait_ms;    /* longest a terminal waits */
    uint32_t cache_size;
    int cache_ttl_ms;        /* cached records are trusted this long */
    int poll_min_ms;         /* back-off of re-polls: first delay */
    int poll_max_ms;         /* and the longest */
    int db_timeout_ms;       /* deadline of one request to "db" */
    int stats_every_s;       /* counter line in the log; 0 = never */
    bool verbose;            /* log the counter lines */
    uint32_t waits_max;      /* keys waited on at once, at most */
    uint32_t waiters_max;    /* terminals waiting on one key, at most */
    int poll_rate;           /* timed re-polls a second, at most (0: any) */
    const char *curve_cert;  /* CurveZMQ: ours (secret file), or "" */
    const char *broker_cert; /* and the broker's public certificate */
    bool notify; /* tell systemd (rb_notify.h): set by recobus-service */
    const char *metrics; /* Prometheus endpoint HOST:PORT, or NULL/"":
                            none (rb_metrics.h) */
} rb_service_opts_t;

/*  Built-in defaults, from the option table. */
void rb_service_opts_default (rb_service_opts_t *opts);
/*  Which field each option fills (rb_bind_config fills from a config). */
extern const rb_bind_t rb_service_binds[];
int rb_policy_lookup (const char *name);
const char *rb_policy_name (int policy);

/*  The actor. Commands: "$TERM"; "ENDPOINT" -> the terminal endpoint as
    bound ("" if the bind failed).  */
void rb_service_actor (zsock_t *pipe, void *args);

#endif
