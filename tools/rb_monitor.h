/*  rb_monitor: what recobus-monitor makes of the broker's tap, without
    sockets so that tests can feed it encoded messages.

    The tap (docs/protocol.md, "The tap") publishes every routed message as
    [topic][header][body?]. rb_monitor_take decodes one such message with
    the codec, labels it with its patent step where one applies, and
    counts it; rb_monitor_print / rb_monitor_json format it as one line;
    rb_monitor_stats_print / rb_monitor_stats_json show the counters.
    Anything that does not decode is reported, never asserted on.

    Labels need a little memory of the traffic (docs/monitor.md):
      - the ACK that answers a RECOVERY_LIST (S4) or a DIFF (S9) is known
        by the requests each requester has outstanding: the tap shows a
        request with the broker's flight id and its reply with the
        requester's own correlation id, so requests and replies are paired
        per requester, oldest first;
      - a GET from a service node for a key that node was answered with
        the recovering flag (S7 re-poll) is known from a bounded map of
        (node, key) pairs, dropped at the first answer without the flag
        (labelled S11 fresh) or at a RESET.

        rb_monitor_t *mon = rb_monitor_new ();
        const rb_mon_msg_t *m = rb_monitor_take (mon, msg, zclock_time ());
        if (m->shown)
            rb_monitor_print (m, stdout);
        rb_monitor_destroy (&mon);                                        */
#ifndef RB_MONITOR_H
#define RB_MONITOR_H

#include <czmq.h>
#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "rb_msg.h"

/*  What a message is in the patent's story (design.md §1), if anything. */
typedef enum {
    RB_MON_NONE = 0,
    RB_MON_S1_RESTORE,    /* RESTORE request: restore from a backup */
    RB_MON_S2_RECOVERING, /* RESTORED reply: the DB is now RECOVERING */
    RB_MON_S3_LIST,       /* RECOVERY_LIST request */
    RB_MON_S4_FLAGGED,    /* the ACK of a RECOVERY_LIST */
    RB_MON_S5_FLAGGED,    /* DATA with the recovering flag */
    RB_MON_S7_REPOLL,     /* GET by a service node for a key it got flagged */
    RB_MON_S8_DIFF,       /* DIFF request */
    RB_MON_S9_CLEARED,    /* the ACK of a DIFF (or of an ORDER that cleared) */
    RB_MON_S10_END,       /* RECOVERY_END request */
    RB_MON_S10_NORMAL,    /* the ACK of a RECOVERY_END: the DB is NORMAL */
    RB_MON_S11_FRESH,     /* DATA without the flag for a key flagged before */
    RB_MON_RESET,         /* RESET push */
    RB_MON_UPDATE,        /* UPDATE push */
    RB_MON_RECOVERED,     /* RECOVERED push */
    RB_MON_LABELS_
} rb_mon_label_t;

/*  "S3 list", "RESET", ...; "" for RB_MON_NONE or an unknown value. */
const char *rb_mon_label_name (int label);
/*  The step alone: "S3", "RESET", "UPDATE"; "" for none.  */
const char *rb_mon_label_step (int label);

/*  ERROR statuses counted one by one; any other lands in errors[0].  */
#define RB_MON_STATUS_MAX 128

/*  Counters of the messages shown (those passing the type filter). */
typedef struct {
    uint64_t total;                     /* messages */
    uint64_t undecodable;               /* of which undecodable */
    uint64_t types[RB_T_COUNT_];        /* by body type (NONE: no body) */
    uint64_t data_flagged;              /* DATA with recovering = true */
    uint64_t data_current;              /* DATA without the flag */
    uint64_t data_not_found;            /* of those, no record */
    uint64_t errors[RB_MON_STATUS_MAX]; /* ERROR by header status */
    uint64_t labels[RB_MON_LABELS_];    /* by label */
} rb_mon_stats_t;

/*  One message taken from the tap. Borrowed from the monitor, valid until
    the next rb_monitor_take; b points into the frames of the message
    given there, so keep that message alive while using it.  */
typedef struct {
    int64_t t_ms;       /* wall-clock ms when it arrived */
    char topic[33];     /* the tap's topic, non-printables as '?' */
    bool decoded;       /* false: why says what was wrong */
    char why[240];      /* "DATA.seq: expected uint, got str (wrong_type)" */
    rb_header_t h;      /* valid when decoded */
    const rb_body_t *b; /* the body, or NULL when the type has none */
    int label;          /* rb_mon_label_t */
    bool shown;         /* passes the type filter */
} rb_mon_msg_t;

typedef struct rb_monitor rb_monitor_t;

rb_monitor_t *rb_monitor_new (void);
void rb_monitor_destroy (rb_monitor_t **self_p);

/*  Shows only messages of one body type (a name of rb_type_name, any
    case). Returns 0, or -1 if no body type has that name.  */
int rb_monitor_filter (rb_monitor_t *self, const char *type_name);

/*  The topics to subscribe to: "" (everything) without a filter, else the
    filter's type and the few types its labels depend on (ACK: the
    requests it answers; GET: DATA and RESET). NULL-ended, borrowed.  */
const char *const *rb_monitor_topics (rb_monitor_t *self);

/*  Decodes, labels and counts one tap message (borrowed, unchanged):
    [topic][header] or [topic][header][body]. Never fails: what does not
    decode comes back with decoded = false.  */
const rb_mon_msg_t *rb_monitor_take (rb_monitor_t *self, zmsg_t *msg,
                                     int64_t t_ms);

/*  The counters so far (borrowed). */
const rb_mon_stats_t *rb_monitor_stats (rb_monitor_t *self);

/*  For the stats views: the counters at the previous call and when it
    was (or the first message), then makes t_ms the previous call.  */
void rb_monitor_window (rb_monitor_t *self, int64_t t_ms, rb_mon_stats_t *last,
                        int64_t *last_t);

/*  One readable line for m, newline included:
      12:04:05.123 REPLY db-1 → ops-1 ACK flagged=12 current=3 [S4 flagged]
      12:04:05.130 undecodable: DATA.seq: expected uint, got str ... */
void rb_monitor_print (const rb_mon_msg_t *m, FILE *f);

/*  The same as a JSON object (the caller's; see docs/monitor.md).  */
json_t *rb_monitor_json (const rb_mon_msg_t *m);

/*  The counters as a table, with rates per second since the previous
    call. tty: clear the screen first (a terminal); else a header line
    marks each table.  */
void rb_monitor_stats_print (rb_monitor_t *self, FILE *f, int64_t t_ms,
                             bool tty);

/*  The counters as one JSON object (the caller's), zero counts left out.
    Also advances the rate window, like rb_monitor_stats_print.  */
json_t *rb_monitor_stats_json (rb_monitor_t *self, int64_t t_ms);

#endif
