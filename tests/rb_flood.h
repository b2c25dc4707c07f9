/*  rb_flood: the floods of issue 14 ("Bounded under load"), each bounded
    by a count and a deadline, on real ZeroMQ sockets (and CurveZMQ where
    the caller gives a key), for the overload suite and recobus-bench.

    A flood runs in a thread of its own (a czmq actor) until it has done
    its count, its deadline passes or it is stopped; meanwhile the caller
    runs legitimate traffic and reads the flood's counters. No Check here:
    a flood that cannot start returns NULL with one line on stderr.

        rb_flood_opts_t o = rb_flood_defaults (RB_FLOOD_GETS, terminals);
        o.count = 20000;
        o.prefix = "fk-";
        rb_flood_t *f = rb_flood_start (&o);
        ... legitimate GETs, RSS, counters ...
        rb_flood_wait (f, 10000);          0 once done
        rb_flood_stats_t s = rb_flood_stats (f);
        rb_flood_stop (&f);

    The floods (what each does with the options; `count` is always the
    bound and `deadline_ms` ends it whatever is left):

    RB_FLOOD_HELLO      endpoint: the bus. `count` HELLOs, round-robin over
                        `sockets` DEALERs; socket i says name PREFIX-i
                        (again and again: each HELLO replaces the last),
                        role `role`, and 8 new random services each time,
                        at most `in_flight` unanswered (0: no limit).
                        Answers are read: WELCOME or ERROR (overloaded past
                        services-max). Under CurveZMQ only names and
                        services the key allows get in (an ops key:
                        PREFIX = the key's name); random services are
                        then refused forbidden. Done when every HELLO is
                        answered.
    RB_FLOOD_DEAF_NODE  endpoint: the bus. One DEALER registers as a worker
                        of `service` (name PREFIX, role `role`), reads its
                        WELCOME, then only sends HEARTBEATs at the
                        broker's interval and never reads again (its
                        queue: `rcvhwm` messages, `rcvbuf` bytes of kernel
                        buffer). Done once welcomed; holds until stopped.
    RB_FLOOD_REQUESTS   endpoint: the bus. Registers (name PREFIX, role
                        `role`) and sends `count` REQUEST ECHOs of
                        `value_len` bytes to `service` with `timeout_ms`,
                        at most `in_flight` unanswered (0: no limit),
                        reading the answers. With a DEAF_NODE offering
                        the service, the broker must hold or drop what
                        the deaf node does not read. Done when all are
                        sent and answered.
    RB_FLOOD_TAP        endpoint: the tap. `count` SUBs subscribe to
                        everything and never read (queue `rcvhwm`, kernel
                        buffer `rcvbuf`). Done once connected; at stop
                        each is drained (libzmq 4.3.4 asserts closing a
                        full SUB) and what they held is `received`.
    RB_FLOOD_GETS       endpoint: a service node's terminals (plain). One
                        DEALER sends `count` GETs of keys PREFIX<n>, n from
                        `first` on (modulo `keys` when not 0: n = first +
                        i % keys), at most `in_flight` unanswered (0: all
                        at once), and counts the ANSWERs by status. Done
                        when every GET is answered.
    RB_FLOOD_IDLE       endpoint: any tcp://IPV4:PORT. `count` plain TCP
                        connections that never send a byte (what they
                        receive is read and counted); `closed` counts
                        those the other side closed. Done once all are
                        open (or no more could be); holds until stopped.  */
#ifndef RB_FLOOD_H
#define RB_FLOOD_H

#include <stdbool.h>
#include <stdint.h>

typedef enum {
    RB_FLOOD_HELLO = 1,
    RB_FLOOD_DEAF_NODE,
    RB_FLOOD_REQUESTS,
    RB_FLOOD_TAP,
    RB_FLOOD_GETS,
    RB_FLOOD_IDLE,
    RB_FLOOD_KINDS_
} rb_flood_kind_t;

typedef struct {
    int kind;                /* rb_flood_kind_t */
    const char *endpoint;    /* what it floods (see above) */
    const char *curve_cert;  /* bus and tap: the flood's secret certificate
                                (NAME.cert_secret), or NULL: plain */
    const char *broker_cert; /* with curve_cert: the broker's public one */
    int count;               /* HELLOs, requests, GETs, subscribers,
                                connections */
    int deadline_ms;         /* it ends by then, whatever is left */
    int sockets;             /* HELLO: DEALERs the HELLOs go round */
    int in_flight;           /* HELLO, REQUESTS, GETS: unanswered at most
                                (0: no limit) */
    const char *prefix;      /* HELLO, DEAF_NODE, REQUESTS: node name;
                                GETS: key prefix */
    uint64_t first;          /* GETS: the first key's number */
    uint64_t keys;           /* GETS: distinct keys (0: count) */
    const char *service;     /* DEAF_NODE: offered; REQUESTS: asked */
    int role;                /* HELLO, DEAF_NODE, REQUESTS: rb_role_t */
    uint32_t value_len;      /* REQUESTS: bytes of each ECHO value */
    uint32_t timeout_ms;     /* REQUESTS: each request's deadline */
    int rcvhwm;              /* DEAF_NODE, TAP: messages queued, at most */
    int rcvbuf;              /* DEAF_NODE, TAP: SO_RCVBUF (0: the OS's) */
    uint32_t seed;           /* HELLO: the random service names */
} rb_flood_opts_t;

typedef struct {
    uint64_t sent;       /* HELLOs, requests, GETs, heartbeats; IDLE:
                            connections opened; TAP: subscribers */
    uint64_t answered;   /* answers read (WELCOME, REPLY, ANSWER, ERROR) */
    uint64_t welcomed;   /* WELCOMEs */
    uint64_t answers[5]; /* GETS: ANSWERs by rb_answer_t (1..4) */
    uint64_t errors[16]; /* ERRORs by status, [status - RB_S_MALFORMED] */
    uint64_t received;   /* TAP: messages drained at stop; IDLE: bytes */
    uint64_t closed;     /* IDLE: connections the other side closed */
    bool done;           /* its count is done (see above) */
    bool timed_out;      /* the deadline came first */
    int64_t ms;          /* from start to done, or to now */
} rb_flood_stats_t;

typedef struct rb_flood rb_flood_t;

/*  The options of a flood of kind at endpoint, with defaults for the
    rest: count 1000 (TAP, DEAF_NODE: 1), deadline 10 s, 1 socket, no
    in-flight limit, prefix "flood", service "echo", role bench, 1 KiB
    values, timeout 2000 ms, rcvhwm 1, seed 1.  */
rb_flood_opts_t rb_flood_defaults (int kind, const char *endpoint);

/*  Starts the flood opts says (its strings are copied). NULL, with one
    line on stderr, if its sockets cannot be made or its key loaded.  */
rb_flood_t *rb_flood_start (const rb_flood_opts_t *opts);

/*  Waits up to timeout_ms until the flood is done (or its deadline
    passed). 0 if done, -1 if not.  */
int rb_flood_wait (rb_flood_t *self, int timeout_ms);

/*  Its counters now (a TAP flood's received only after stop).  */
rb_flood_stats_t rb_flood_stats (rb_flood_t *self);

/*  Stops it, closes its sockets, and leaves its last counters in *stats
    when stats is not NULL. NULL-safe; sets *self_p to NULL.  */
void rb_flood_stop (rb_flood_t **self_p, rb_flood_stats_t *stats);

/*  "hello", "deaf_node", ... ("?" for an unknown kind).  */
const char *rb_flood_name (int kind);

#endif
