/*  rb_broker: the recobus broker, a czmq actor.

    One ROUTER for every node, one XPUB tap. Registers nodes (HELLO →
    WELCOME), stamps each forwarded message with its sender's registered
    name and role, routes REQUESTs to a service (least outstanding first,
    bounded queue with deadlines) or a node, REPLYs back by correlation id,
    PUSHes to a node or a role; expires silent nodes and answers their
    requests in flight with ERROR worker_lost. Body frames are moved,
    never decoded or copied. See docs/protocol.md.

        zactor_t *broker = zactor_new (rb_broker_actor, &opts);
        zstr_send (broker, "ENDPOINTS");   // → bus endpoint, tap endpoint
        zactor_destroy (&broker);                                         */
#ifndef RB_BROKER_H
#define RB_BROKER_H

#include <czmq.h>
#include <stdbool.h>
#include <stdint.h>

#include "rb_bind.h"

typedef struct {
    const char *bind;         /* ROUTER endpoint */
    const char *tap;          /* XPUB endpoint, or NULL/"" for none */
    int heartbeat_ms;         /* heartbeat interval both ways */
    int liveness;             /* intervals of silence before expiry */
    int queue_max;            /* requests queued per service */
    int64_t queue_bytes;      /* bytes of requests queued in all services */
    int queue_timeout_ms;     /* default request deadline */
    int worker_credit;        /* requests in flight per worker */
    int tap_hwm;              /* messages buffered per tap subscriber */
    int64_t max_frame;        /* ZMQ_MAXMSGSIZE on the ROUTER */
    uint32_t max_inflight;    /* requests in flight in all */
    uint32_t services_max;    /* services in the table, at most */
    int service_linger_ms;    /* a service without workers is kept this long */
    uint32_t nodes_max;       /* registered nodes at once, at most */
    uint32_t peer_queue_max;  /* messages sent to one node and not yet read */
    int64_t peer_queue_bytes; /* bytes likewise; past either it is dropped */
    int hello_timeout_ms;     /* a connection without a registered node is
                                 closed after this long (0: never) */
    const char *curve_cert;   /* the broker's certificate (secret file):
                                 CurveZMQ on bus and tap; NULL/"": plain */
    const char *authorized_keys; /* directory of the public certificates
                                    of every node allowed in */
    bool notify;         /* tell systemd (rb_notify.h): set by recobus-broker */
    const char *metrics; /* Prometheus endpoint HOST:PORT, or
                            NULL/"": none (rb_metrics.h) */
} rb_broker_opts_t;

/*  Built-in defaults, from the option table (docs/operations.md lists
    them). */
void rb_broker_opts_default (rb_broker_opts_t *opts);
/*  Which field each option fills (rb_bind_config fills from a config). */
extern const rb_bind_t rb_broker_binds[];

/*  The actor. args is an rb_broker_opts_t *, copied at start. It signals
    0 on the pipe once bound, or -1 if a bind failed (the reason logged).
    Commands: "$TERM"; "ENDPOINTS" → two strings, the resolved bus and tap
    endpoints (wildcard ports filled in).  */
void rb_broker_actor (zsock_t *pipe, void *args);

#endif
