/*  rb_body: body frames (see rb_msg.h), encode and decode.

    Bodies are msgpack maps with short string keys. The schema is the
    table s_schema below: for each body type, the fields it carries. The
    encoder and the decoder both walk that table, so they cannot drift
    apart, and docs/protocol.md mirrors it field for field. The decoder
    reads single fields with the primitive readers of rb_dec.h.  */
#include "rb_msg.h"
#include "rb_mp.h"
#include "rb_dec.h"

#include <assert.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define RB_NODES_MAX 1024 /* entries in a NODES list */

/*  --- schema ---------------------------------------------------------- */

typedef enum {
    F_KEY,      /* str: a record key */
    F_VALUE,    /* bin or nil: a record value */
    F_UINT,     /* uint64 */
    F_BOOL,     /* bool */
    F_NAME,     /* str: a node name */
    F_TEXT,     /* str: up to RB_TEXT_MAX bytes, may be empty */
    F_ROLE,     /* str: a role word */
    F_OP,       /* str: put | delete */
    F_ANSWER,   /* str: ok | not_found | stale | unavailable */
    F_SERVICES, /* array of names */
    F_ENTRIES,  /* array of [key, target] */
    F_ORDERS,   /* array of [seq, key, op, value|nil] */
    F_ITEMS,    /* map of name -> uint | str */
    F_NODES,    /* array of [name, role, services, idle_ms, inflight] */
    F_KEYS,     /* array of keys, 1..RB_GETS_MAX */
    F_RECORDS   /* array of [key, value|nil, seq, recovering] */
} rb_fkind_t;

typedef struct {
    const char *name; /* the map key on the wire */
    rb_fkind_t kind;  /* how it is read and written */
    size_t offset;    /* where it lives in rb_body_t */
} rb_field_t;

#define FIELD(n, k, member)                                                    \
    {                                                                          \
        n, k, offsetof (rb_body_t, member)                                     \
    }

enum {
    FLD_KEY,
    FLD_VALUE,
    FLD_SEQ,
    FLD_EPOCH,
    FLD_RECOVERING,
    FLD_LAST,
    FLD_OP,
    FLD_STATUS,
    FLD_ROLE,
    FLD_NAME,
    FLD_MESSAGE,
    FLD_PATH,
    FLD_SERVICES,
    FLD_HEARTBEAT,
    FLD_LIVENESS,
    FLD_APPLIED,
    FLD_SKIPPED,
    FLD_CLEARED,
    FLD_FLAGGED,
    FLD_CURRENT,
    FLD_WATERMARK,
    FLD_RECORDS,
    FLD_BYTES,
    FLD_MS,
    FLD_ENTRIES,
    FLD_ORDERS,
    FLD_ITEMS,
    FLD_NODES,
    FLD_JOURNAL_SEQ,
    FLD_FORCE,
    FLD_KEYS,
    FLD_RECS,
    FLD_REQUEST,
    FLD_END = -1
};

static const rb_field_t s_fields[] = {
    [FLD_KEY] = FIELD ("key", F_KEY, key),
    [FLD_VALUE] = FIELD ("value", F_VALUE, value),
    [FLD_SEQ] = FIELD ("seq", F_UINT, seq),
    [FLD_EPOCH] = FIELD ("epoch", F_UINT, epoch),
    [FLD_RECOVERING] = FIELD ("recovering", F_BOOL, recovering),
    [FLD_LAST] = FIELD ("last", F_BOOL, last),
    [FLD_OP] = FIELD ("op", F_OP, op),
    [FLD_STATUS] = FIELD ("status", F_ANSWER, answer),
    [FLD_ROLE] = FIELD ("role", F_ROLE, role),
    [FLD_NAME] = FIELD ("name", F_NAME, name),
    [FLD_MESSAGE] = FIELD ("message", F_TEXT, text),
    [FLD_PATH] = FIELD ("path", F_TEXT, text),
    [FLD_SERVICES] = FIELD ("services", F_SERVICES, services),
    [FLD_HEARTBEAT] = FIELD ("heartbeat", F_UINT, heartbeat_ms),
    [FLD_LIVENESS] = FIELD ("liveness", F_UINT, liveness),
    [FLD_APPLIED] = FIELD ("applied", F_UINT, applied),
    [FLD_SKIPPED] = FIELD ("skipped", F_UINT, skipped),
    [FLD_CLEARED] = FIELD ("cleared", F_UINT, cleared),
    [FLD_FLAGGED] = FIELD ("flagged", F_UINT, flagged),
    [FLD_CURRENT] = FIELD ("current", F_UINT, current),
    [FLD_WATERMARK] = FIELD ("watermark", F_UINT, watermark),
    [FLD_RECORDS] = FIELD ("records", F_UINT, records),
    [FLD_BYTES] = FIELD ("bytes", F_UINT, bytes),
    [FLD_MS] = FIELD ("ms", F_UINT, ms),
    [FLD_ENTRIES] = FIELD ("entries", F_ENTRIES, entries),
    [FLD_ORDERS] = FIELD ("orders", F_ORDERS, orders),
    [FLD_ITEMS] = FIELD ("items", F_ITEMS, items),
    [FLD_NODES] = FIELD ("nodes", F_NODES, nodes),
    [FLD_JOURNAL_SEQ] = FIELD ("journal_seq", F_UINT, journal_seq),
    [FLD_FORCE] = FIELD ("force", F_BOOL, force),
    [FLD_KEYS] = FIELD ("keys", F_KEYS, keys),
    [FLD_RECS] = FIELD ("records", F_RECORDS, recs),
    [FLD_REQUEST] = FIELD ("request", F_TEXT, text),
};

#define SCHEMA_MAX 8

/*  Every body type and its fields, in wire order. */
static const int s_schema[RB_T_COUNT_][SCHEMA_MAX] = {
    [RB_T_NONE] = {FLD_END},
    [RB_T_HELLO] = {FLD_ROLE, FLD_NAME, FLD_SERVICES, FLD_END},
    [RB_T_WELCOME] = {FLD_HEARTBEAT, FLD_LIVENESS, FLD_END},
    [RB_T_ERROR] = {FLD_MESSAGE, FLD_END},
    [RB_T_GET] = {FLD_KEY, FLD_END},
    [RB_T_DATA] = {FLD_KEY, FLD_VALUE, FLD_SEQ, FLD_RECOVERING, FLD_EPOCH,
                   FLD_END},
    [RB_T_ORDER] = {FLD_SEQ, FLD_KEY, FLD_OP, FLD_VALUE, FLD_END},
    [RB_T_ACK] = {FLD_APPLIED, FLD_SKIPPED, FLD_CLEARED, FLD_FLAGGED,
                  FLD_CURRENT, FLD_WATERMARK, FLD_END},
    [RB_T_RECOVERY_LIST] = {FLD_ENTRIES, FLD_LAST, FLD_END},
    [RB_T_DIFF] = {FLD_ORDERS, FLD_END},
    [RB_T_RECOVERY_END] = {FLD_END},
    [RB_T_STATUS] = {FLD_END},
    [RB_T_INFO] = {FLD_ITEMS, FLD_END},
    [RB_T_BACKUP] = {FLD_END},
    [RB_T_BACKUP_DONE] = {FLD_PATH, FLD_RECORDS, FLD_WATERMARK, FLD_BYTES,
                          FLD_MS, FLD_END},
    [RB_T_RESTORE] = {FLD_PATH, FLD_JOURNAL_SEQ, FLD_FORCE, FLD_END},
    [RB_T_RESTORED] = {FLD_PATH, FLD_RECORDS, FLD_WATERMARK, FLD_EPOCH, FLD_MS,
                       FLD_END},
    [RB_T_RESET] = {FLD_EPOCH, FLD_END},
    [RB_T_UPDATE] = {FLD_KEY, FLD_VALUE, FLD_SEQ, FLD_EPOCH, FLD_END},
    [RB_T_RECOVERED] = {FLD_KEY, FLD_END},
    [RB_T_NODES] = {FLD_NODES, FLD_END},
    [RB_T_ANSWER] = {FLD_KEY, FLD_STATUS, FLD_SEQ, FLD_VALUE, FLD_END},
    [RB_T_ECHO] = {FLD_VALUE, FLD_END},
    [RB_T_GETS] = {FLD_KEYS, FLD_END},
    [RB_T_RECORDS] = {FLD_EPOCH, FLD_RECS, FLD_END},
    [RB_T_SUBMIT] = {FLD_REQUEST, FLD_ORDERS, FLD_END},
};

static int
s_field_count (int type)
{
    int n = 0;
    while (n < SCHEMA_MAX && s_schema[type][n] != FLD_END)
        n++;
    return n;
}

#define AT(b, f, T)   ((T *) ((char *) (b) + s_fields[f].offset))
#define AT_C(b, f, T) ((const T *) ((const char *) (b) + s_fields[f].offset))

/*  --- encoding -------------------------------------------------------- */

static void
s_pack_str (msgpack_packer *pk, rb_str_t s)
{
    msgpack_pack_str (pk, s.len);
    msgpack_pack_str_body (pk, s.ptr, s.len);
}

static void
s_pack_cstr (msgpack_packer *pk, const char *s)
{
    s_pack_str (pk, rb_str (s));
}

static void
s_pack_value (msgpack_packer *pk, bool has_value, rb_str_t value)
{
    if (!has_value) {
        msgpack_pack_nil (pk);
        return;
    }
    msgpack_pack_bin (pk, value.len);
    msgpack_pack_bin_body (pk, value.ptr, value.len);
}

static void
s_pack_entries (msgpack_packer *pk, const rb_body_t *b)
{
    msgpack_pack_array (pk, b->n_entries);
    for (uint32_t i = 0; i < b->n_entries; i++) {
        msgpack_pack_array (pk, 2);
        s_pack_str (pk, b->entries[i].key);
        msgpack_pack_uint64 (pk, b->entries[i].target);
    }
}

static void
s_pack_orders (msgpack_packer *pk, const rb_body_t *b)
{
    msgpack_pack_array (pk, b->n_orders);
    for (uint32_t i = 0; i < b->n_orders; i++) {
        const rb_order_t *o = &b->orders[i];
        msgpack_pack_array (pk, 4);
        msgpack_pack_uint64 (pk, o->seq);
        s_pack_str (pk, o->key);
        s_pack_cstr (pk, rb_op_name (o->op));
        s_pack_value (pk, o->has_value, o->value);
    }
}

static void
s_pack_items (msgpack_packer *pk, const rb_body_t *b)
{
    msgpack_pack_map (pk, b->n_items);
    for (uint32_t i = 0; i < b->n_items; i++) {
        s_pack_str (pk, b->items[i].name);
        if (b->items[i].is_text)
            s_pack_str (pk, b->items[i].text);
        else
            msgpack_pack_uint64 (pk, b->items[i].num);
    }
}

static void
s_pack_nodes (msgpack_packer *pk, const rb_body_t *b)
{
    msgpack_pack_array (pk, b->n_nodes);
    for (uint32_t i = 0; i < b->n_nodes; i++) {
        const rb_node_t *n = &b->nodes[i];
        msgpack_pack_array (pk, 5);
        s_pack_str (pk, n->name);
        s_pack_cstr (pk, rb_role_name (n->role));
        s_pack_str (pk, n->services);
        msgpack_pack_uint64 (pk, n->idle_ms);
        msgpack_pack_uint64 (pk, n->inflight);
    }
}

static void
s_pack_keys (msgpack_packer *pk, const rb_body_t *b)
{
    msgpack_pack_array (pk, b->n_keys);
    for (uint32_t i = 0; i < b->n_keys; i++)
        s_pack_str (pk, b->keys[i]);
}

static void
s_pack_records (msgpack_packer *pk, const rb_body_t *b)
{
    msgpack_pack_array (pk, b->n_recs);
    for (uint32_t i = 0; i < b->n_recs; i++) {
        const rb_record_t *r = &b->recs[i];
        msgpack_pack_array (pk, 4);
        s_pack_str (pk, r->key);
        s_pack_value (pk, r->has_value, r->value);
        msgpack_pack_uint64 (pk, r->seq);
        if (r->recovering)
            msgpack_pack_true (pk);
        else
            msgpack_pack_false (pk);
    }
}

static void
s_pack_field (msgpack_packer *pk, const rb_body_t *b, int f)
{
    s_pack_cstr (pk, s_fields[f].name);
    switch (s_fields[f].kind) {
        case F_KEY:
        case F_NAME:
        case F_TEXT: s_pack_str (pk, *AT_C (b, f, rb_str_t)); break;
        case F_VALUE: s_pack_value (pk, b->has_value, b->value); break;
        case F_UINT: msgpack_pack_uint64 (pk, *AT_C (b, f, uint64_t)); break;
        case F_BOOL:
            if (*AT_C (b, f, bool))
                msgpack_pack_true (pk);
            else
                msgpack_pack_false (pk);
            break;
        case F_ROLE: s_pack_cstr (pk, rb_role_name (b->role)); break;
        case F_OP: s_pack_cstr (pk, rb_op_name (b->op)); break;
        case F_ANSWER: s_pack_cstr (pk, rb_answer_name (b->answer)); break;
        case F_SERVICES:
            msgpack_pack_array (pk, b->n_services);
            for (uint32_t i = 0; i < b->n_services; i++)
                s_pack_str (pk, b->services[i]);
            break;
        case F_ENTRIES: s_pack_entries (pk, b); break;
        case F_ORDERS: s_pack_orders (pk, b); break;
        case F_ITEMS: s_pack_items (pk, b); break;
        case F_NODES: s_pack_nodes (pk, b); break;
        case F_KEYS: s_pack_keys (pk, b); break;
        case F_RECORDS: s_pack_records (pk, b); break;
    }
}

size_t
rb_body_encode (const rb_body_t *b, uint8_t *buf, size_t cap)
{
    assert (b->type > RB_T_NONE && b->type < RB_T_COUNT_);
    rb_mp_writer_t w;
    rb_mp_writer_init (&w, buf, cap);
    int n = s_field_count (b->type);
    msgpack_pack_map (&w.pk, (size_t) n);
    for (int i = 0; i < n; i++)
        s_pack_field (&w.pk, b, s_schema[b->type][i]);
    return w.len;
}

/*  --- decoding -------------------------------------------------------- */

/*  Grows an owned array to hold n elements (n is already bounded). */
static void
s_reserve (void **array, uint32_t *cap, uint32_t n, size_t size)
{
    if (n <= *cap)
        return;
    void *grown = realloc (*array, (size_t) n * size);
    assert (grown);
    *array = grown;
    *cap = n;
}

static int
s_dec_entries (rb_dec_t *d, rb_body_t *b)
{
    uint32_t n;
    int rc = rb_dec_array (d, d->limits->max_batch, &n);
    if (rc)
        return rc;
    s_reserve ((void **) &b->entries, &b->cap_entries, n, sizeof (rb_entry_t));
    for (uint32_t i = 0; i < n && rc == 0; i++) {
        int mark = rb_dec_enter (d, i);
        rb_entry_t *e = &b->entries[i];
        rc = rb_dec_tuple (d, 2);
        if (rc == 0)
            rc = rb_dec_key (d, &e->key);
        if (rc == 0)
            rc = rb_dec_uint (d, &e->target);
        rb_dec_leave (d, mark);
        b->n_entries = i + 1;
    }
    return rc;
}

/*  A put carries a value, a delete none. */
static int
s_check_op (rb_dec_t *d, uint8_t op, bool has_value)
{
    if (op == RB_OP_PUT && !has_value)
        return rb_dec_fail (d->err, RB_E_WRONG_TYPE,
                            "%s: a put needs a bin value", rb_dec_where (d));
    if (op == RB_OP_DELETE && has_value)
        return rb_dec_fail (d->err, RB_E_WRONG_TYPE, "%s: a delete takes nil",
                            rb_dec_where (d));
    return 0;
}

static int
s_dec_order (rb_dec_t *d, rb_order_t *o)
{
    int rc = rb_dec_tuple (d, 4);
    if (rc == 0)
        rc = rb_dec_uint (d, &o->seq);
    if (rc == 0)
        rc = rb_dec_key (d, &o->key);
    if (rc == 0)
        rc = rb_dec_word (d, RB_WORD_OP, &o->op);
    if (rc == 0)
        rc = rb_dec_value (d, &o->has_value, &o->value);
    if (rc == 0)
        rc = s_check_op (d, o->op, o->has_value);
    return rc;
}

static int
s_dec_orders (rb_dec_t *d, rb_body_t *b)
{
    uint32_t n;
    int rc = rb_dec_array (d, d->limits->max_batch, &n);
    if (rc)
        return rc;
    s_reserve ((void **) &b->orders, &b->cap_orders, n, sizeof (rb_order_t));
    for (uint32_t i = 0; i < n && rc == 0; i++) {
        int mark = rb_dec_enter (d, i);
        rc = s_dec_order (d, &b->orders[i]);
        rb_dec_leave (d, mark);
        b->n_orders = i + 1;
    }
    return rc;
}

static int
s_dec_items (rb_dec_t *d, rb_body_t *b)
{
    uint32_t n;
    int rc = rb_mp_read_map (&d->r, &n);
    if (rc)
        return rb_dec_read_fail (d->err, rc, &d->r, rb_dec_where (d), "map");
    if (n > RB_ITEMS_MAX)
        return rb_dec_fail (d->err, RB_E_BATCH, "%s: %u items over the %d max",
                            rb_dec_where (d), n, RB_ITEMS_MAX);
    s_reserve ((void **) &b->items, &b->cap_items, n, sizeof (rb_item_t));
    for (uint32_t i = 0; i < n && rc == 0; i++) {
        rb_item_t *it = &b->items[i];
        memset (it, 0, sizeof *it);
        int mark = rb_dec_enter (d, i);
        rc = rb_dec_text (d, &it->name, RB_NAME_MAX);
        if (rc == 0) {
            it->is_text = strcmp (rb_mp_peek_name (&d->r), "str") == 0;
            rc = it->is_text ? rb_dec_text (d, &it->text, RB_TEXT_MAX)
                             : rb_dec_uint (d, &it->num);
        }
        rb_dec_leave (d, mark);
        b->n_items = i + 1;
    }
    return rc;
}

static int
s_dec_node (rb_dec_t *d, rb_node_t *n)
{
    int rc = rb_dec_tuple (d, 5);
    if (rc == 0)
        rc = rb_dec_name (d, &n->name);
    if (rc == 0)
        rc = rb_dec_word (d, RB_WORD_ROLE, &n->role);
    if (rc == 0)
        rc = rb_dec_text (d, &n->services, RB_TEXT_MAX);
    if (rc == 0)
        rc = rb_dec_uint (d, &n->idle_ms);
    if (rc == 0)
        rc = rb_dec_uint (d, &n->inflight);
    return rc;
}

static int
s_dec_nodes (rb_dec_t *d, rb_body_t *b)
{
    uint32_t n;
    int rc = rb_dec_array (d, RB_NODES_MAX, &n);
    if (rc)
        return rc;
    s_reserve ((void **) &b->nodes, &b->cap_nodes, n, sizeof (rb_node_t));
    for (uint32_t i = 0; i < n && rc == 0; i++) {
        int mark = rb_dec_enter (d, i);
        rc = s_dec_node (d, &b->nodes[i]);
        rb_dec_leave (d, mark);
        b->n_nodes = i + 1;
    }
    return rc;
}

static int
s_dec_services (rb_dec_t *d, rb_body_t *b)
{
    uint32_t n;
    int rc = rb_dec_array (d, RB_SERVICES_MAX, &n);
    for (uint32_t i = 0; i < n && rc == 0; i++) {
        int mark = rb_dec_enter (d, i);
        rc = rb_dec_name (d, &b->services[i]);
        rb_dec_leave (d, mark);
        b->n_services = i + 1;
    }
    return rc;
}

/*  A GETS asks at least one key, at most RB_GETS_MAX. */
static int
s_dec_keys (rb_dec_t *d, rb_body_t *b)
{
    uint32_t n;
    int rc = rb_dec_array (d, RB_GETS_MAX, &n);
    if (rc == 0 && n == 0)
        return rb_dec_fail (d->err, RB_E_SHAPE, "%s: no keys",
                            rb_dec_where (d));
    if (rc)
        return rc;
    s_reserve ((void **) &b->keys, &b->cap_keys, n, sizeof (rb_str_t));
    for (uint32_t i = 0; i < n && rc == 0; i++) {
        int mark = rb_dec_enter (d, i);
        rc = rb_dec_key (d, &b->keys[i]);
        rb_dec_leave (d, mark);
        b->n_keys = i + 1;
    }
    return rc;
}

static int
s_dec_record (rb_dec_t *d, rb_record_t *r)
{
    int rc = rb_dec_tuple (d, 4);
    if (rc == 0)
        rc = rb_dec_key (d, &r->key);
    if (rc == 0)
        rc = rb_dec_value (d, &r->has_value, &r->value);
    if (rc == 0)
        rc = rb_dec_uint (d, &r->seq);
    if (rc == 0)
        rc = rb_dec_bool (d, &r->recovering);
    return rc;
}

static int
s_dec_records (rb_dec_t *d, rb_body_t *b)
{
    uint32_t n;
    int rc = rb_dec_array (d, RB_GETS_MAX, &n);
    if (rc)
        return rc;
    s_reserve ((void **) &b->recs, &b->cap_recs, n, sizeof (rb_record_t));
    for (uint32_t i = 0; i < n && rc == 0; i++) {
        int mark = rb_dec_enter (d, i);
        rc = s_dec_record (d, &b->recs[i]);
        rb_dec_leave (d, mark);
        b->n_recs = i + 1;
    }
    return rc;
}

static int
s_dec_field (rb_dec_t *d, rb_body_t *b, int f)
{
    switch (s_fields[f].kind) {
        case F_KEY: return rb_dec_key (d, AT (b, f, rb_str_t));
        case F_VALUE: return rb_dec_value (d, &b->has_value, &b->value);
        case F_UINT: return rb_dec_uint (d, AT (b, f, uint64_t));
        case F_BOOL: return rb_dec_bool (d, AT (b, f, bool));
        case F_NAME: return rb_dec_name (d, AT (b, f, rb_str_t));
        case F_TEXT: return rb_dec_text (d, AT (b, f, rb_str_t), RB_TEXT_MAX);
        case F_ROLE: return rb_dec_word (d, RB_WORD_ROLE, &b->role);
        case F_OP: return rb_dec_word (d, RB_WORD_OP, &b->op);
        case F_ANSWER: return rb_dec_word (d, RB_WORD_ANSWER, &b->answer);
        case F_SERVICES: return s_dec_services (d, b);
        case F_ENTRIES: return s_dec_entries (d, b);
        case F_ORDERS: return s_dec_orders (d, b);
        case F_ITEMS: return s_dec_items (d, b);
        case F_NODES: return s_dec_nodes (d, b);
        case F_KEYS: return s_dec_keys (d, b);
        case F_RECORDS: return s_dec_records (d, b);
    }
    return rb_dec_fail (d->err, RB_E_TYPE, "%s: no such field kind",
                        rb_dec_where (d));
}

/*  Reads one "name: value" pair of the body map into b. */
static int
s_dec_pair (rb_dec_t *d, rb_body_t *b, uint32_t *seen)
{
    const char *tname = rb_type_name (b->type);
    rb_dec_at (d, tname, NULL);
    rb_str_t name;
    int rc = rb_dec_str (d, &name);
    if (rc)
        return rc;
    int n = s_field_count (b->type);
    int j = 0;
    while (j < n && !rb_str_eq (name, s_fields[s_schema[b->type][j]].name))
        j++;
    if (j == n)
        return rb_dec_fail (d->err, RB_E_EXTRA, "%s: unknown field '%.*s'",
                            tname, (int) (name.len > 24 ? 24 : name.len),
                            name.ptr);
    int f = s_schema[b->type][j];
    rb_dec_at (d, tname, s_fields[f].name);
    if (*seen & (1u << j))
        return rb_dec_fail (d->err, RB_E_EXTRA, "%s: repeated",
                            rb_dec_where (d));
    *seen |= 1u << j;
    return s_dec_field (d, b, f);
}

/*  Zeroes b's scalar fields, keeping its arrays for reuse. */
static void
s_body_clear (rb_body_t *b, int type)
{
    rb_body_t keep = *b;
    memset (b, 0, sizeof *b);
    b->type = (uint8_t) type;
    b->entries = keep.entries, b->cap_entries = keep.cap_entries;
    b->orders = keep.orders, b->cap_orders = keep.cap_orders;
    b->items = keep.items, b->cap_items = keep.cap_items;
    b->nodes = keep.nodes, b->cap_nodes = keep.cap_nodes;
    b->keys = keep.keys, b->cap_keys = keep.cap_keys;
    b->recs = keep.recs, b->cap_recs = keep.cap_recs;
}

int
rb_body_decode (const void *buf, size_t len, rb_type_t type,
                const rb_limits_t *limits, rb_body_t *b, rb_err_t *err)
{
    if (type <= RB_T_NONE || type >= RB_T_COUNT_)
        return rb_dec_fail (err, RB_E_TYPE, "unknown body type %d", (int) type);
    s_body_clear (b, type);
    rb_dec_t d;
    rb_dec_init (&d, buf, len, limits, err);
    rb_dec_at (&d, rb_type_name (type), NULL);
    uint32_t pairs, seen = 0;
    int rc = rb_mp_read_map (&d.r, &pairs);
    if (rc)
        return rb_dec_read_fail (err, rc, &d.r, rb_dec_where (&d), "map");
    for (uint32_t i = 0; i < pairs && rc == 0; i++)
        rc = s_dec_pair (&d, b, &seen);
    if (rc)
        return rc;
    int n = s_field_count (type);
    for (int j = 0; j < n; j++)
        if (!(seen & (1u << j)))
            return rb_dec_fail (err, RB_E_MISSING, "%s.%s: missing",
                                rb_type_name (type),
                                s_fields[s_schema[type][j]].name);
    if (type == RB_T_ORDER && (rc = s_check_op (&d, b->op, b->has_value)) != 0)
        return rc;
    if (rb_mp_remaining (&d.r))
        return rb_dec_fail (err, RB_E_TRAILING, "%s: %zu trailing bytes",
                            rb_type_name (type), rb_mp_remaining (&d.r));
    return RB_OK;
}

void
rb_body_init (rb_body_t *b, rb_type_t type)
{
    memset (b, 0, sizeof *b);
    b->type = (uint8_t) type;
}

void
rb_body_release (rb_body_t *b)
{
    free (b->entries);
    free (b->orders);
    free (b->items);
    free (b->nodes);
    free (b->keys);
    free (b->recs);
    memset (b, 0, sizeof *b);
}
