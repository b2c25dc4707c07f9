/*  rb_budget: what the broker has sent one peer and what the peer has
    shown it read, so that no peer can hold more than twice its budget in
    the broker's memory (docs/overload.md, "A node that does not read").

    libzmq queues what a peer has not read yet, and tells nobody how
    much. So every HEARTBEAT the broker sends carries a mark (a number,
    in its corr), and a node echoes each mark at once with a HEARTBEAT of
    its own. Messages to one peer arrive in order: once the echo of a
    mark is back, everything sent before the mark was read. What was sent
    after the last echoed mark is an upper bound of what waits in the
    peer's queue. A mark goes out with every periodic heartbeat and
    whenever an eighth of either budget was sent since the last one.

    An echo travels behind whatever the peer itself sent before it, so a
    peer that sends much while it reads much looks further behind than
    it is. Hence two limits: a peer past its budget is dropped once no
    echo has come for stall_ms (it has stopped reading), and one past
    twice its budget at once.

        rb_budget_init (&b, now);
        rb_budget_sent (&b, bytes);               // after each send
        if (rb_budget_due (&b, max_bytes, max_msgs))
            send HEARTBEAT with corr = rb_budget_mark (&b);
        rb_budget_echo (&b, corr, now);           // a HEARTBEAT from it
        if (rb_budget_drop (&b, max_bytes, max_msgs, stall_ms, now))
            drop the peer                                               */
#ifndef RB_BUDGET_H
#define RB_BUDGET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define RB_BUDGET_MARKS 16 /* marks not yet echoed that are remembered */

typedef struct {
    uint64_t sent_bytes, sent_msgs; /* sent in all */
    uint64_t read_bytes, read_msgs; /* sent before the last echoed mark */
    uint64_t last_bytes, last_msgs; /* sent before the last mark made */
    uint64_t next_id;               /* the next mark's number (from 1) */
    int64_t progress_at;            /* when an echo last told of progress */
    struct {
        uint64_t id, bytes, msgs;
    } marks[RB_BUDGET_MARKS]; /* the last marks made, by id modulo */
} rb_budget_t;

/*  Starts counting at time now (ms).  */
void rb_budget_init (rb_budget_t *self, int64_t now);
/*  One message of bytes sent (queued by libzmq).  */
void rb_budget_sent (rb_budget_t *self, size_t bytes);
/*  A new mark after everything sent so far; its id (never 0) goes in
    the HEARTBEAT's corr, and that HEARTBEAT counts as sent after it.  */
uint64_t rb_budget_mark (rb_budget_t *self);
/*  The peer echoed mark id at now: what was sent before it was read.
    An id never made, forgotten, or older than one echoed already
    changes nothing.  */
void rb_budget_echo (rb_budget_t *self, uint64_t id, int64_t now);
/*  Bytes and messages sent after the last echoed mark.  */
uint64_t rb_budget_queued_bytes (const rb_budget_t *self);
uint64_t rb_budget_queued_msgs (const rb_budget_t *self);
/*  Whether an eighth of either budget went out since the last mark.  */
bool rb_budget_due (const rb_budget_t *self, uint64_t max_bytes,
                    uint64_t max_msgs);
/*  Whether the peer must be dropped at now: what it may hold queued is
    past twice either budget, or past one of them with no echo of
    progress for stall_ms.  */
bool rb_budget_drop (const rb_budget_t *self, uint64_t max_bytes,
                     uint64_t max_msgs, int64_t stall_ms, int64_t now);

#endif
