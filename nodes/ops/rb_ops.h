/*  rb_ops: the operations system as a command-line node (recobus-ops).

    Every order gets its seq from the journal (rb_journal) and is on disk
    before it is sent to the DB; the journal also remembers which orders
    the DB acknowledged, and every command first re-sends the ones it did
    not. The commands (design.md §6, docs/operations.md):

      put KEY VALUE, delete KEY   one order
      load FILE|-                 bulk orders, pipelined DIFF batches
      backup, restore [FILE]      the DB's backup and restore (S1-S2)
      recover [--batch N]         recovery list, diffs, end (S3, S8, S10)
      status                      DB, broker, nodes, journal
      sync                        only the re-send of pending orders
      journal check|repair        damaged records; keep the valid prefix
                                  and set the rest aside (no bus)

    Results go to stdout (one JSON object a line with json), errors as one
    line to stderr, progress bars to stderr when it is a terminal. The
    return value is the exit code (sysexits.h).  */
#ifndef RB_OPS_H
#define RB_OPS_H

#include <stdbool.h>

#include "rb_bind.h"

typedef struct {
    const char *broker;      /* the broker's bus endpoint */
    const char *journal;     /* the journal file */
    const char *name;        /* node name on the bus; "" or NULL: ops-PID */
    bool json;               /* one JSON object per line on stdout */
    int batch;               /* orders or keys per batch */
    int timeout_ms;          /* deadline of one request (and of connecting) */
    int job_timeout_ms;      /* deadline of a backup or restore */
    bool progress;           /* draw progress bars on stderr */
    bool auto_recover;       /* serve: recover when the DB is recovering */
    int watch_ms;            /* serve: how often it asks the DB's state */
    const char *metrics;     /* serve: Prometheus [HOST:]PORT, or "": off */
    const char *request_id;  /* 32 hex digits, or "": a random one */
    const char *curve_cert;  /* CurveZMQ: ours (secret file), or "" */
    const char *broker_cert; /* and the broker's public certificate */
} rb_ops_opts_t;

/*  Built-in defaults, from the option table. */
void rb_ops_opts_default (rb_ops_opts_t *opts);
/*  Which field each option fills (rb_bind_config fills from a config). */
extern const rb_bind_t rb_ops_binds[];

/*  Runs one command: argv[0] is its name, the rest its arguments.
    Returns the exit code: 0, 64 usage, 65 bad data or wrong state, 66 an
    input file missing, 69 unreachable / timed out / left pending, 70 our
    bug, 74 journal I/O error.  */
int rb_ops_run (const rb_ops_opts_t *opts, int argc, char **argv);

/*  recobus-ops serve: the ops node (rb_opsd.c, docs/operations.md "The
    ops node"). Runs until SIGINT or SIGTERM; returns the exit code: 0
    after a clean stop, 69 when the journal is held by another
    recobus-ops, 65 a damaged journal, 74 journal I/O.  */
int rb_ops_serve (const rb_ops_opts_t *opts);

#endif
