/*  rb_tnode: test nodes on a cluster's bus (any role), counting the
    pushes they receive, with one-call helpers for every request the DB
    answers. They fail the running Check test when an answer is not what
    every caller needs (the suites' side of rb_cluster). Every wait is on
    a condition with a deadline.  */
#ifndef RB_TNODE_H
#define RB_TNODE_H

#include <czmq.h>
#include <stdbool.h>

#include "rb_bus.h"
#include "rb_cluster.h"
#include "rb_msg.h"

/*  A test node on the bus, counting the pushes it receives. */
typedef struct {
    rb_bus_t *bus;
    int resets, updates, recovered;
    uint64_t last_epoch, last_seq; /* of the last RESET, UPDATE */
    uint64_t last_update_epoch;    /* of the last UPDATE */
    bool last_found;               /* the last UPDATE had a value */
    char last_key[80];
    char last_value[128]; /* of the last UPDATE */
} rb_tnode_t;

void rb_tnode_start (rb_tnode_t *n, rb_cluster_t *c, int role,
                     const char *name);
void rb_tnode_stop (rb_tnode_t *n);
/*  Polls the node's bus for up to ms. */
void rb_tnode_pump (rb_tnode_t *n, int ms);

/*  A request to service db and its answer. */
typedef struct {
    zmsg_t *msg;
    rb_header_t h;
    rb_body_t b;
} rb_reply_t;

int rb_tnode_ask (rb_tnode_t *n, const rb_body_t *req, rb_reply_t *out);
void rb_reply_done (rb_reply_t *r);
/*  Waits until service db answers STATUS. */
void rb_tnode_wait_db (rb_tnode_t *n);

/*  One order (value NULL: delete); 0 or the ERROR status. */
int rb_tnode_order (rb_tnode_t *n, uint64_t seq, const char *key,
                    const char *value);

typedef struct {
    int rc;
    char value[128]; /* "-" when not found */
    uint64_t seq, epoch;
    bool recovering, found;
} rb_got_t;

rb_got_t rb_tnode_get (rb_tnode_t *n, const char *key);
uint64_t rb_tnode_status_num (rb_tnode_t *n, const char *name);
/*  Whether the broker lists a node named name: 1 yes, 0 no, -1 no answer
    (asked from node n, NODES to the broker's own service).  */
int rb_tnode_broker_lists (rb_tnode_t *n, const char *name);
/*  Waits up to ms until the broker lists node name (listed) or no longer
    does (!listed), asking it from node n every 2 ms. 0, or -1 at the
    deadline.  */
int rb_tnode_wait_listed (rb_tnode_t *n, const char *name, bool listed, int ms);
/*  The status text item name (caller frees). */
char *rb_tnode_status_text (rb_tnode_t *n, const char *name);
void rb_tnode_expect_state (rb_tnode_t *n, const char *state);
/*  A numeric item of an INFO body, or 0 when it has none of that name. */
uint64_t rb_info_num (const rb_body_t *b, const char *name);
/*  Asks the DB for STATUS (no Check assertion: the DB may be down):
    whether it says state normal; its epoch into *epoch (untouched when
    there is no answer).  */
bool rb_tnode_db_normal (rb_tnode_t *n, uint64_t *epoch);

/*  BACKUP: the file's path (caller frees). */
char *rb_tnode_backup (rb_tnode_t *n, uint64_t *records, uint64_t *watermark);
/*  RESTORE of path's file name (the DB looks it up in its backup dir),
    with no journal to bound the backup's watermark.  */
int rb_tnode_restore (rb_tnode_t *n, const char *path, rb_reply_t *r);
/*  A BACKUP, then a RESTORE of it, which must take every record; the
    records.  */
uint64_t rb_tnode_backup_restore (rb_tnode_t *n);
int rb_tnode_list (rb_tnode_t *n, const rb_entry_t *entries, uint32_t count,
                   bool last, rb_reply_t *r);
int rb_tnode_diff (rb_tnode_t *n, const rb_order_t *orders, uint32_t count,
                   rb_reply_t *r);
int rb_tnode_end (rb_tnode_t *n);

/*  A terminal: a DEALER on a service node's endpoint, one GET at a time
    (docs/protocol.md "Terminals and service nodes").  */
typedef struct {
    zsock_t *sock;
    uint64_t corr; /* of the last GET sent */
} rb_term_t;

void rb_term_open (rb_term_t *t, const char *endpoint);
void rb_term_close (rb_term_t *t);
/*  One GET of key: the answer's status (an RB_ANS_*), or 0 when none
    came within timeout_ms (or an ERROR did); the answer's seq goes into
    *seq. An answer to an earlier GET is dropped.  */
int rb_term_get (rb_term_t *t, const char *key, int timeout_ms, uint64_t *seq);

/*  Pumps node's bus until cond holds or ms pass. */
#define RB_PUMP_UNTIL(node, cond, ms)                                          \
    do {                                                                       \
        int64_t until_ = zclock_mono () + (ms);                                \
        while (!(cond) && zclock_mono () < until_)                             \
            rb_bus_poll ((node)->bus, 5);                                      \
    } while (0)

#endif
