/*  rb_msg: the recobus wire protocol (docs/protocol.md), encode and decode.

    Every bus message is [header][body?]: a small header frame the broker
    reads to route, then at most one body frame the broker moves without
    decoding. Both are msgpack. The pure core works on byte buffers; the
    zmsg helpers at the end wrap it for sockets.

    Decoding is strict and bounded: wrong signature or version, unknown
    kind or body type, missing, extra or wrong-typed fields, over-long or
    non-printable keys, over-long values, over-large batches and trailing
    bytes each give their own code (rb_code_t) and a one-line message.
    Decoded strings point into the decoded buffer (no copy): keep the frame
    alive while the body is used.  */
#ifndef RB_MSG_H
#define RB_MSG_H

#include <czmq.h>
#include <stdbool.h>
#include <stdint.h>

#define RB_SIGNATURE     "RB"
#define RB_VERSION       2
#define RB_KEY_MAX       64   /* bytes in a record key */
#define RB_NAME_MAX      64   /* bytes in a node or service name */
#define RB_TEXT_MAX      1024 /* bytes in paths, messages, info texts */
#define RB_SERVICES_MAX  8    /* services one node may offer */
#define RB_ITEMS_MAX     256  /* entries in an INFO map */
#define RB_VALUE_DEFAULT (64 * 1024)
#define RB_BATCH_DEFAULT 10000
#define RB_GETS_MAX      256 /* keys in one GETS, records in one RECORDS */
/*  The highest order seq: the DB's scripts compare seqs as doubles,
    exact below 2^53.  */
#define RB_SEQ_MAX ((1ull << 53) - 1)

/*  Envelope kinds: what the message is to the broker. */
typedef enum {
    RB_K_HELLO = 1,     /* node → broker: register */
    RB_K_WELCOME = 2,   /* broker → node: registered */
    RB_K_HEARTBEAT = 3, /* both ways: still alive */
    RB_K_BYE = 4,       /* node → broker: leaving */
    RB_K_ERROR = 5,     /* answer that failed; status says why */
    RB_K_REQUEST = 6,   /* to a service (one worker) or a node */
    RB_K_REPLY = 7,     /* back to the requester, by correlation id */
    RB_K_PUSH = 8,      /* one-way, to a node or every node of a role */
    RB_K_MAX_ = 8
} rb_kind_t;

/*  How a header's dest is read. */
typedef enum {
    RB_ADDR_NONE = 0,    /* no destination (HELLO, HEARTBEAT, ...) */
    RB_ADDR_SERVICE = 1, /* a service name: one of its workers */
    RB_ADDR_NODE = 2,    /* a node name */
    RB_ADDR_ROLE = 3,    /* every node of a role (pushes only) */
    RB_ADDR_MAX_ = 3
} rb_addr_t;

/*  Node roles; the broker stamps the sender's on what it forwards. */
typedef enum {
    RB_ROLE_NONE = 0,
    RB_ROLE_DB = 1,
    RB_ROLE_SERVICE = 2,
    RB_ROLE_OPS = 3,
    RB_ROLE_MONITOR = 4,
    RB_ROLE_BENCH = 5,
    RB_ROLE_MAX_ = 5
} rb_role_t;

/*  Body types. */
typedef enum {
    RB_T_NONE = 0,
    RB_T_HELLO,
    RB_T_WELCOME,
    RB_T_ERROR,
    RB_T_GET,
    RB_T_DATA,
    RB_T_ORDER,
    RB_T_ACK,
    RB_T_RECOVERY_LIST,
    RB_T_DIFF,
    RB_T_RECOVERY_END,
    RB_T_STATUS,
    RB_T_INFO,
    RB_T_BACKUP,
    RB_T_BACKUP_DONE,
    RB_T_RESTORE,
    RB_T_RESTORED,
    RB_T_RESET,
    RB_T_UPDATE,
    RB_T_RECOVERED,
    RB_T_NODES,
    RB_T_ANSWER,
    RB_T_ECHO,
    RB_T_GETS,
    RB_T_RECORDS,
    RB_T_SUBMIT, /* orders for the ops node to journal and send */
    RB_T_COUNT_
} rb_type_t;

/*  Status codes: decode errors (1..) and bus/application errors (100..).
    Names are the snake_case words used in docs and logs.  */
typedef enum {
    RB_OK = 0,
    /* decoding */
    RB_E_TRUNCATED = 1,  /* bytes end inside an item */
    RB_E_SIGNATURE = 2,  /* header does not start with "RB" */
    RB_E_VERSION = 3,    /* protocol version we do not speak */
    RB_E_KIND = 4,       /* unknown envelope kind or address */
    RB_E_TYPE = 5,       /* unknown body type, or not allowed here */
    RB_E_SHAPE = 6,      /* wrong container or element count */
    RB_E_WRONG_TYPE = 7, /* a field of the wrong msgpack type */
    RB_E_MISSING = 8,    /* a required field is absent */
    RB_E_EXTRA = 9,      /* an unknown or repeated field */
    RB_E_KEY = 10,       /* key empty, over 64 bytes, or not printable */
    RB_E_VALUE = 11,     /* value over the configured maximum */
    RB_E_BATCH = 12,     /* more elements than the maximum */
    RB_E_TEXT = 13,      /* name or text too long or badly formed */
    RB_E_ENUM = 14,      /* a word outside its set (op, role, status) */
    RB_E_TRAILING = 15,  /* bytes left after the message */
    RB_E_FRAMES = 16,    /* wrong number of frames */
    /* bus and application */
    RB_S_MALFORMED = 100,
    RB_S_UNKNOWN_NODE = 101,
    RB_S_UNKNOWN_SERVICE = 102,
    RB_S_NAME_TAKEN = 103,
    RB_S_BAD_ROLE = 104,
    RB_S_WORKER_LOST = 105,
    RB_S_TIMEOUT = 106,
    RB_S_OVERLOADED = 107,
    RB_S_UNAVAILABLE = 108,
    RB_S_FORBIDDEN = 109,
    RB_S_BAD_REQUEST = 110,
    RB_S_WRONG_STATE = 111,
    RB_S_INCOMPLETE = 112,
    RB_S_CORRUPT = 113,
    RB_S_IO = 114,
    RB_S_INTERNAL = 115,
} rb_code_t;

typedef enum { RB_OP_PUT = 1, RB_OP_DELETE = 2 } rb_op_t;

typedef enum {
    RB_ANS_OK = 1,
    RB_ANS_NOT_FOUND = 2,
    RB_ANS_STALE = 3,
    RB_ANS_UNAVAILABLE = 4
} rb_answer_t;

/*  Limits the decoder enforces beyond the fixed ones above. */
typedef struct {
    uint32_t max_value; /* bytes in a value (default 64 KiB) */
    uint32_t max_batch; /* entries in a list, orders in a diff (10,000) */
} rb_limits_t;

extern const rb_limits_t rb_limits_default;

/*  Borrowed bytes (not NUL-terminated). */
typedef struct {
    const char *ptr;
    uint32_t len;
} rb_str_t;

/*  The header frame. Names are copied in: a header owns no memory.  */
typedef struct {
    uint8_t kind;        /* rb_kind_t */
    uint8_t type;        /* rb_type_t of the body frame, NONE if none */
    uint8_t addr;        /* rb_addr_t: how dest is read */
    uint8_t role;        /* sender's rb_role_t, stamped by the broker */
    uint8_t via;         /* which broker of a pair it came through: set by the
                            receiving rb_bus, not on the wire (0 if one broker) */
    uint16_t status;     /* rb_code_t of an ERROR, else 0 */
    uint32_t timeout_ms; /* REQUEST: how long the requester waits; 0 =
                            the broker's default */
    uint64_t corr;       /* correlation id chosen by the requester */
    char dest[RB_NAME_MAX + 1];   /* service, node or role name */
    char sender[RB_NAME_MAX + 1]; /* stamped by the broker */
} rb_header_t;

typedef struct {
    rb_str_t key;
    uint64_t target; /* seq of the journal's newest order for key */
} rb_entry_t;

typedef struct {
    uint64_t seq;
    rb_str_t key;
    uint8_t op;     /* rb_op_t */
    bool has_value; /* false for deletes */
    rb_str_t value;
} rb_order_t;

/*  One record of a RECORDS answer: what a DATA says of one key. */
typedef struct {
    rb_str_t key;
    bool has_value; /* false: not found (no record, or deleted) */
    rb_str_t value;
    uint64_t seq;
    bool recovering;
} rb_record_t;

typedef struct {
    rb_str_t name;
    bool is_text; /* text, else num */
    rb_str_t text;
    uint64_t num;
} rb_item_t;

typedef struct {
    rb_str_t name;
    uint8_t role;      /* rb_role_t */
    rb_str_t services; /* comma-separated */
    uint64_t idle_ms;  /* since last heard */
    uint64_t inflight; /* requests outstanding */
} rb_node_t;

/*  A decoded (or to-be-encoded) body: the union of every type's fields.
    Which fields a type has is the schema table in rb_body.c, mirrored by
    docs/protocol.md. Arrays are owned and reused across decodes; call
    rb_body_release when done.  */
typedef struct {
    uint8_t type;    /* rb_type_t */
    rb_str_t key;    /* record key */
    bool has_value;  /* value present (false = nil) */
    rb_str_t value;  /* record value (bin) */
    uint64_t seq;    /* order seq / record seq */
    uint64_t epoch;  /* dataset epoch */
    bool recovering; /* DATA: the recovering flag */
    bool last;       /* RECOVERY_LIST: final batch */
    uint8_t op;      /* ORDER: rb_op_t */
    uint8_t answer;  /* ANSWER: rb_answer_t */
    uint8_t role;    /* HELLO: rb_role_t */
    rb_str_t name;   /* HELLO: node name */
    rb_str_t text;   /* ERROR message, RESTORE/ BACKUP path */
    rb_str_t services[RB_SERVICES_MAX]; /* HELLO: services offered */
    uint32_t n_services;
    uint64_t heartbeat_ms, liveness;             /* WELCOME */
    uint64_t applied, skipped, cleared, flagged; /* ACK counts */
    uint64_t current, watermark;                 /* ACK, BACKUP_DONE ... */
    uint64_t records, bytes, ms;                 /* BACKUP_DONE, RESTORED */
    uint64_t journal_seq; /* RESTORE: the ops journal's last seq */
    bool force;           /* RESTORE: take another dataset's backup, or one
                             past journal_seq */
    rb_entry_t *entries;  /* RECOVERY_LIST */
    uint32_t n_entries, cap_entries;
    rb_order_t *orders; /* DIFF */
    uint32_t n_orders, cap_orders;
    rb_item_t *items; /* INFO */
    uint32_t n_items, cap_items;
    rb_node_t *nodes; /* NODES */
    uint32_t n_nodes, cap_nodes;
    rb_str_t *keys; /* GETS */
    uint32_t n_keys, cap_keys;
    rb_record_t *recs; /* RECORDS */
    uint32_t n_recs, cap_recs;
} rb_body_t;

/*  Decode error detail: a code and one line naming the field. */
typedef struct {
    int code;       /* rb_code_t */
    char text[160]; /* "DATA.seq: expected uint, got str" */
} rb_err_t;

/*  Names. Unknown values give "?"; lookups return 0 / -1 when unknown. */
const char *rb_kind_name (int kind);
const char *rb_type_name (int type);
const char *rb_role_name (int role);
const char *rb_code_name (int code);
const char *rb_answer_name (int answer);
const char *rb_op_name (int op);
int rb_role_lookup (const char *name);
int rb_type_lookup (const char *name);
int rb_answer_lookup (const char *name);

/*  Checks a key: 1..64 bytes, printable ASCII (0x21..0x7e).  */
bool rb_key_valid (const char *key, size_t len);
/*  Checks a node/service name: 1..64 bytes of [A-Za-z0-9._-].  */
bool rb_name_valid (const char *name, size_t len);

/*  Header encode: returns the size written (or needed when buf is NULL). */
size_t rb_header_encode (const rb_header_t *h, uint8_t *buf, size_t cap);
int rb_header_decode (const void *buf, size_t len, rb_header_t *h,
                      rb_err_t *err);

void rb_body_init (rb_body_t *b, rb_type_t type);
/*  Frees the arrays and zeroes the body. */
void rb_body_release (rb_body_t *b);
size_t rb_body_encode (const rb_body_t *b, uint8_t *buf, size_t cap);
/*  Decodes a body of the given type (from the header). Reuses b's arrays;
    b's fields point into buf.  */
int rb_body_decode (const void *buf, size_t len, rb_type_t type,
                    const rb_limits_t *limits, rb_body_t *b, rb_err_t *err);

/*  Borrowed-string helpers. */
rb_str_t rb_str (const char *cstr);
rb_str_t rb_strn (const void *ptr, size_t len);
bool rb_str_eq (rb_str_t s, const char *cstr);
/*  A NUL-terminated copy; caller frees.  */
char *rb_str_dup (rb_str_t s);
/*  Copies s into dst as a C string, cut to cap - 1 bytes (cap >= 1), up
    to a NUL in s: snprintf (dst, cap, "%.*s", ...) without its cost,
    which the broker paid nine times per HELLO.  */
void rb_str_to (char *dst, size_t cap, rb_str_t s);

/*  --- the terminals' hot path (rb_quick.c) ---------------------------- */

/*  A terminal's GET as a service node reads it by the thousand: decodes
    [header][body] as rb_header_decode and rb_body_decode do, without the
    field names they keep for their error lines. Returns RB_OK, *h as
    rb_header_decode fills it and *key pointing into body, only for kind
    REQUEST, type GET, dest and sender empty and a body of the key alone;
    else -1 (*h may be written): the full decoders say what it is.  */
int rb_get_quick (const void *head, size_t head_len, const void *body,
                  size_t body_len, rb_header_t *h, rb_str_t *key);

#define RB_QUICK_HEAD_MAX 32 /* bytes of an ANSWER's header, at most */
#define RB_QUICK_BODY_MAX 64 /* bytes of its body besides key and value */

/*  The frames of the ANSWER a service node sends a terminal, written byte
    for byte as rb_header_encode and rb_body_encode write them from the
    same fields, without msgpack-c's packer: header kind REPLY, type
    ANSWER, corr (the rest empty or 0) into head (RB_QUICK_HEAD_MAX
    bytes), its size into *head_len; body {key, status (an
    rb_answer_t), seq, value (nil unless has_value)} into body (key.len +
    value.len + RB_QUICK_BODY_MAX bytes). Returns the body's size.  */
size_t rb_answer_quick (uint8_t *head, size_t *head_len, uint8_t *body,
                        uint64_t corr, rb_str_t key, int status, uint64_t seq,
                        bool has_value, rb_str_t value);

/*  --- zmsg helpers --------------------------------------------------- */

/*  Builds [header][body] (body may be NULL). Each is encoded straight
    into its frame: one copy of every value.  */
zmsg_t *rb_msg_new (const rb_header_t *h, const rb_body_t *b);
zframe_t *rb_header_frame (const rb_header_t *h);
zframe_t *rb_body_frame (const rb_body_t *b);

/*  Decodes a message whose first frame is the header and whose second,
    if any, is the body (of the header's type); the message keeps owning
    the bytes the body points into. Returns 0 or an rb_code_t.  */
int rb_msg_decode (zmsg_t *msg, const rb_limits_t *limits, rb_header_t *h,
                   rb_body_t *b, rb_err_t *err);

/*  Sends [header][body]; destroys nothing of the caller's.  */
int rb_msg_send (void *sock, const rb_header_t *h, const rb_body_t *b);

#endif
