/*  rb_ops_int: what the ops tool's files share: the command context,
    output helpers, progress bars and the pipelined batch sender.  */
#ifndef RB_OPS_INT_H
#define RB_OPS_INT_H

#ifndef RB_INSIDE_OPS
#error "rb_ops_int.h is internal to its floor; include its public header"
#endif

#include <czmq.h>
#include <jansson.h>
#include <stdint.h>
#include <sysexits.h>

#include "rb_bus.h"
#include "rb_journal.h"
#include "rb_msg.h"
#include "rb_ops.h"

#define RB_OPS_DB          "db"       /* the DB's service name */
#define RB_OPS_SERVICE     "ops"      /* the ops node's service name */
#define RB_OPS_RID_HEX     32         /* hex digits of a request id */
#define RB_OPS_BROKER      "broker"   /* the broker's own service */
#define RB_OPS_WINDOW      4          /* batches in flight at once */
#define RB_OPS_BATCH_BYTES (4u << 20) /* key and value bytes in a batch */
#define RB_OPS_VALUE_MAX   RB_VALUE_DEFAULT

/*  One command's context. */
typedef struct {
    rb_ops_opts_t opts;
    const char *command;        /* "put", "load", ... */
    char name[RB_NAME_MAX + 1]; /* our node name on the bus */
    rb_journal_t *journal;      /* NULL only for status without a file */
    bool shared;                /* journal opened read-only: in use */
    char damaged[600];          /* status: why the journal was refused */
    rb_bus_t *bus;              /* once connected */
    int bus_code;               /* why connecting failed (rb_code_t), or 0 */
    char bus_why[300];
    bool stalled;   /* a send failed: journal, but send nothing more */
    int stall_code; /* its rb_code_t */
    char stall_why[400];
    char owner[RB_NAME_MAX + 1]; /* the ops node that owns the journal
                                    (the writing commands go to it), or "" */
    uint8_t rid[16];             /* request id base, once made */
    bool has_rid;
    const int *stop; /* serve's recovery: set when it must stop, or NULL */
    /* serve's recovery: told of each phase's start and progress */
    void (*watch) (void *arg, const char *phase, uint64_t done, uint64_t total);
    void *watch_arg;
} ops_t;

/*  What an ops node answered to a SUBMIT (INFO items by name). */
typedef struct {
    uint64_t seq, count; /* the request's orders: seq .. seq + count - 1 */
    uint64_t left;       /* of them, still pending */
    uint64_t rejected;   /* of them, refused by the DB for good */
    uint64_t repeat;     /* 1: a request id journaled before */
    uint64_t pending;    /* pending orders in the whole journal */
    uint64_t applied, skipped, cleared, watermark; /* the DB's ACK */
    uint64_t resent, first_seq, last_seq;          /* sync */
    uint64_t next_seq;                             /* sync: nothing pending */
    char message[600];                             /* why pending, or "" */
} ops_reply_t;

/*  --- rb_ops_ctx.c: the bus and the stall ------------------------------ */

/*  Connects and registers (once); 0 or an rb_code_t with bus_why set. */
int ops_connect (ops_t *self);
/*  A request id from RB_OPS_RID_HEX hex digits (hex, len bytes): 0, or
    -1 when it is not that.  */
int ops_unhex (const char *hex, size_t len, uint8_t rid[16]);
/*  The file beside the journal where the ops node names itself
    (JOURNAL.serve); its path into out.  */
void ops_sidecar_path (const char *journal, char *out, size_t len);
/*  The ops node named in it, if its process is alive: 0 and name set,
    else -1.  */
int ops_sidecar_read (const char *journal, char *name, size_t len);
/*  Marks the command as stalled by a failed send (the first one wins). */
void ops_stall (ops_t *self, int code, const char *why);
/*  If argv[*i] is the option name, as "NAME VALUE" (then *i steps past
    the value) or "NAME=VALUE": its value; else NULL.  */
const char *ops_arg (int argc, char **argv, int *i, const char *name);
/*  Sends one request and waits: 0 or the ERROR status; the reply is
    decoded into *b (release with rb_body_release) from *msg (destroy).  */
int ops_call (ops_t *self, int addr, const char *dest, const rb_body_t *req,
              uint32_t timeout_ms, zmsg_t **msg, rb_body_t *b);

/*  --- rb_ops_out.c: output ------------------------------------------ */

/*  The exit code for an rb_code_t. */
int ops_exit_for (int code);
/*  "what went wrong" for an ERROR status and its message. */
void ops_describe (int code, const rb_str_t *text, char *out, size_t len);
/*  Prints "recobus-ops: COMMAND: message" on stderr and, with json, an
    error object on stdout. Returns exit_code.  */
int ops_fail (ops_t *self, int exit_code, const char *fmt, ...)
    __attribute__ ((format (printf, 3, 4)));
/*  A note on stderr (not an error): "recobus-ops: COMMAND: message". */
void ops_note (ops_t *self, const char *fmt, ...)
    __attribute__ ((format (printf, 2, 3)));
/*  The ACK counts a put or delete reports. */
typedef struct {
    uint64_t applied, skipped, cleared, watermark;
} ops_ack_t;
/*  An order's result: "seq N" when applied (text), or its JSON object
    (ack may be NULL).  */
void ops_order_result (ops_t *self, const char *key, uint64_t seq,
                       const char *status, const ops_ack_t *ack);
/*  A new result object {"command": ...}. */
json_t *ops_result (ops_t *self);
/*  Prints obj as one line on stdout, flushes, frees it. */
void ops_emit (json_t *obj);
/*  Prints one human line on stdout and flushes. */
void ops_say (const char *fmt, ...) __attribute__ ((format (printf, 1, 2)));
/*  Seconds since start_ms (zclock_mono). */
double ops_seconds (int64_t start_ms);

/*  A progress bar on stderr: done/total, rate, ETA; total 0: unknown. */
typedef struct {
    bool on;
    char what[32];
    uint64_t total, done;
    int64_t start, drawn;
    ops_t *ops; /* whose watch hook hears of it */
} ops_progress_t;

void ops_progress_start (ops_progress_t *p, ops_t *ops, const char *what,
                         uint64_t total);
void ops_progress_add (ops_progress_t *p, uint64_t n);
/*  Clears the bar's line. */
void ops_progress_end (ops_progress_t *p);

/*  --- rb_ops_send.c: pipelined batches ------------------------------ */

typedef struct {
    ops_t *ops;
    bool ack_journal;         /* acknowledge the seqs in the journal */
    uint32_t timeout_ms;      /* per batch */
    ops_progress_t *progress; /* or NULL */
    int inflight;
    uint64_t batches, acked, items, failed_items, rejected;
    uint64_t applied, skipped, cleared, flagged, current, watermark;
    int code;      /* the first failure's rb_code_t, or 0 */
    char why[400]; /* and what it was */
} ops_sender_t;

void ops_sender_init (ops_sender_t *s, ops_t *ops, bool ack_journal);
/*  Sends body (items entries; seqs, copied, are its journaled orders if
    any) once fewer than RB_OPS_WINDOW batches are in flight. Returns 0,
    or -1 when the command is stalled (nothing sent).  */
int ops_sender_send (ops_sender_t *s, const rb_body_t *body,
                     const uint64_t *seqs, uint32_t n_seqs, uint32_t items);
/*  Waits for every batch in flight. Returns 0 if all were taken, else
    the first failure's rb_code_t.  */
int ops_sender_drain (ops_sender_t *s);

/*  A batch of orders being put together for a DIFF. */
typedef struct {
    rb_order_t *orders;
    uint64_t *seqs;
    uint32_t n, cap;
    size_t bytes;
} ops_diff_t;

void ops_diff_add (ops_diff_t *d, const rb_jorder_t *o);
/*  Whether the batch is full for batch orders at most. */
bool ops_diff_full (const ops_diff_t *d, int batch);
/*  Sends it (as DIFF) through s and empties it. */
int ops_diff_send (ops_diff_t *d, ops_sender_t *s);
void ops_diff_free (ops_diff_t *d);

/*  --- rb_ops_resend.c: pending orders --------------------------------- */

/*  Re-sends every pending order in DIFF batches. 0 when none is left
    pending, else the rb_code_t that stopped it (stall set).  */
int ops_resend (ops_t *self);

/*  --- rb_ops_fwd.c: the writing commands sent to the ops node ------- */

/*  The request id of the request-th request of this command (16 bytes):
    --request-id or a random base, plus request. 0, or EX_USAGE.  */
int ops_fwd_rid (ops_t *self, uint32_t request, uint8_t rid[16]);
/*  Sends a SUBMIT of the orders in d (their seqs ignored) under rid to
    the owner and waits: 0 with *r filled, else an rb_code_t (reported
    by the caller: the orders may or may not be journaled).  */
int ops_fwd_submit (ops_t *self, const ops_diff_t *d, const uint8_t rid[16],
                    ops_reply_t *r, char *why, size_t len);
/*  "... run again with --request-id HEX" for an unanswered request. */
void ops_fwd_retry_hint (const uint8_t rid[16], char *out, size_t len);
int ops_fwd_order (ops_t *self, int op, const char *key, const char *value);
int ops_fwd_sync (ops_t *self);

/*  --- the commands -------------------------------------------------- */

int ops_cmd_order (ops_t *self, int op, const char *key, const char *value);
int ops_cmd_sync (ops_t *self);
int ops_cmd_load (ops_t *self, const char *file);
int ops_cmd_backup (ops_t *self);
/*  file: "" (the newest the DB takes), a name in the DB's backup dir, or
    a path, of which only the name is sent (with a note). force: take a
    backup of another dataset, or one past the journal's last seq.  */
int ops_cmd_restore (ops_t *self, const char *file, bool force);
int ops_cmd_recover (ops_t *self, int batch);
int ops_cmd_status (ops_t *self);
/*  journal check | journal repair [--next-seq N]: argv[0] is "journal". */
int ops_cmd_journal (ops_t *self, int argc, char **argv);

#endif
