/*  rb_ops_status: the DB's state and counts, the broker's counters and
    live nodes, each DB and service node's own counters (asked by name;
    a node that does not answer quickly is left out), and the journal.
    The requests go out together and are awaited together.  */
#include "rb_ops_int.h"
#include "rb_out.h"

#define NODE_TIMEOUT_MS 1000 /* at most, for one node's STATUS */

typedef struct {
    ops_t *ops;
    int waiting;      /* answers outstanding */
    json_t *db;       /* the DB's INFO items, or NULL */
    char db_why[600]; /* why there are none */
    int db_code;
    json_t *broker; /* the broker's INFO counters, or NULL */
    json_t *nodes;  /* name -> {role, services, idle_ms, inflight, ...} */
    char broker_why[600];
} status_t;

/*  One request's context. */
typedef struct {
    status_t *st;
    int what; /* RB_T_STATUS to db, broker; RB_T_NODES; or node status */
    char node[RB_NAME_MAX + 1];
} ask_t;

enum { ASK_DB, ASK_BROKER, ASK_NODES, ASK_NODE };

/*  INFO items as a JSON object. */
static json_t *
s_items (const rb_body_t *b)
{
    json_t *obj = json_object ();
    for (uint32_t i = 0; i < b->n_items; i++) {
        const rb_item_t *it = &b->items[i];
        char name[RB_NAME_MAX + 1];
        snprintf (name, sizeof name, "%.*s", (int) it->name.len, it->name.ptr);
        if (it->is_text)
            rb_out_json_bytes (obj, name, it->text.ptr, it->text.len);
        else
            json_object_set_new (obj, name,
                                 json_integer ((json_int_t) it->num));
    }
    return obj;
}

static json_t *
s_nodes (const rb_body_t *b)
{
    json_t *obj = json_object ();
    for (uint32_t i = 0; i < b->n_nodes; i++) {
        const rb_node_t *n = &b->nodes[i];
        json_t *node = json_object ();
        json_object_set_new (node, "role",
                             json_string (rb_role_name (n->role)));
        rb_out_json_bytes (node, "services", n->services.ptr, n->services.len);
        rb_out_json_uint (node, "idle_ms", n->idle_ms);
        rb_out_json_uint (node, "inflight", n->inflight);
        char name[RB_NAME_MAX + 1];
        snprintf (name, sizeof name, "%.*s", (int) n->name.len, n->name.ptr);
        json_object_set_new (obj, name, node);
    }
    return obj;
}

static void
s_answered (rb_bus_t *bus, const rb_header_t *h, const rb_body_t *b,
            zmsg_t **msg_p, void *arg, uint64_t cookie)
{
    ask_t *ask = (ask_t *) arg;
    status_t *st = ask->st;
    st->waiting--;
    bool ok = h->kind == RB_K_REPLY;
    if (ask->what == ASK_DB && ok && b->type == RB_T_INFO)
        st->db = s_items (b);
    else if (ask->what == ASK_DB) {
        st->db_code = ok ? RB_S_INTERNAL : h->status;
        ops_describe (st->db_code, ok ? NULL : &b->text, st->db_why,
                      sizeof st->db_why);
    } else if (ask->what == ASK_BROKER && ok && b->type == RB_T_INFO)
        st->broker = s_items (b);
    else if (ask->what == ASK_NODES && ok && b->type == RB_T_NODES)
        st->nodes = s_nodes (b);
    else if (ask->what == ASK_NODE && ok && b->type == RB_T_INFO && st->nodes) {
        json_t *node = json_object_get (st->nodes, ask->node);
        if (node)
            json_object_set_new (node, "status", s_items (b));
    } else if (!ok && ask->what != ASK_NODE)
        ops_describe (h->status, &b->text, st->broker_why,
                      sizeof st->broker_why);
    free (ask);
}

static void
s_ask (status_t *st, int what, int addr, const char *dest, int type,
       uint32_t timeout_ms)
{
    ask_t *ask = (ask_t *) calloc (1, sizeof *ask);
    assert (ask);
    ask->st = st;
    ask->what = what;
    snprintf (ask->node, sizeof ask->node, "%s", dest);
    rb_body_t req;
    rb_body_init (&req, (rb_type_t) type);
    if (rb_bus_request (st->ops->bus, addr, dest, &req, timeout_ms, s_answered,
                        ask, 0) == 0)
        st->waiting++;
    else
        free (ask);
}

static void
s_wait (status_t *st)
{
    while (st->waiting > 0)
        if (rb_bus_poll (st->ops->bus, 100) == -1)
            break;
}

/*  Asks every live DB and service node for its own counters. */
static void
s_ask_nodes (status_t *st)
{
    uint32_t timeout = (uint32_t) st->ops->opts.timeout_ms;
    if (timeout > NODE_TIMEOUT_MS)
        timeout = NODE_TIMEOUT_MS;
    const char *name;
    json_t *node;
    json_object_foreach (st->nodes, name, node)
    {
        const char *role = json_string_value (json_object_get (node, "role"));
        const char *svc =
            json_string_value (json_object_get (node, "services"));
        bool ops_node =
            role && streq (role, "ops") && svc && streq (svc, RB_OPS_SERVICE);
        if (role && (streq (role, "db") || streq (role, "service") || ops_node))
            s_ask (st, ASK_NODE, RB_ADDR_NODE, name, RB_T_STATUS, timeout);
    }
    s_wait (st);
}

/*  --- output -----------------------------------------------------------------
 */

static uint64_t
s_num (json_t *obj, const char *name)
{
    return (uint64_t) json_integer_value (json_object_get (obj, name));
}

static const char *
s_text (json_t *obj, const char *name)
{
    const char *t = json_string_value (json_object_get (obj, name));
    return t && *t ? t : "-";
}

static json_t *
s_journal_json (ops_t *ops)
{
    json_t *obj = json_object ();
    rb_journal_t *j = ops->journal;
    rb_out_json_bytes (obj, "path", ops->opts.journal,
                       strlen (ops->opts.journal));
    json_object_set_new (obj, "exists",
                         json_boolean (j != NULL || ops->damaged[0]));
    json_object_set_new (obj, "in_use", json_boolean (ops->shared));
    if (ops->damaged[0])
        rb_out_json_bytes (obj, "damaged", ops->damaged, strlen (ops->damaged));
    json_object_set_new (
        obj, "next_seq",
        json_integer (j ? (json_int_t) rb_journal_next_seq (j) : 1));
    json_object_set_new (
        obj, "orders",
        json_integer (j ? (json_int_t) rb_journal_orders (j) : 0));
    json_object_set_new (
        obj, "pending",
        json_integer (j ? (json_int_t) rb_journal_pending (j, NULL, NULL) : 0));
    return obj;
}

/*  The ops node's STATUS (the node of role ops offering service ops
    that answered), or NULL; *name its name.  */
static json_t *
s_ops_node (status_t *st, const char **name)
{
    json_t *n;
    json_object_foreach (st->nodes, *name, n)
    {
        json_t *status = json_object_get (n, "status");
        if (streq (s_text (n, "role"), "ops") && status)
            return status;
    }
    return NULL;
}

/*  "ops node  NAME: auto-recover on, recovery diffs (run 1: ...)" */
static void
s_print_ops_node (status_t *st)
{
    const char *name = NULL;
    json_t *o = st->nodes ? s_ops_node (st, &name) : NULL;
    if (!o) {
        ops_say ("%-14s none (the commands journal the orders themselves)",
                 "ops node");
        return;
    }
    ops_say ("%-14s %s: auto-recover %s, recovery %s (run %" PRIu64 ": %" PRIu64
             " keys, %" PRIu64 " listed, %" PRIu64 " diffs sent)%s%s, %" PRIu64
             " pending",
             "ops node", name, s_num (o, "auto_recover") ? "on" : "off",
             s_text (o, "recovery"), s_num (o, "recovery.runs"),
             s_num (o, "recovery.keys"), s_num (o, "recovery.listed"),
             s_num (o, "recovery.diffs"),
             *s_text (o, "recovery.error") != '-' ? ": " : "",
             *s_text (o, "recovery.error") != '-' ? s_text (o, "recovery.error")
                                                  : "",
             s_num (o, "pending"));
}

static void
s_print_json (status_t *st)
{
    json_t *out = json_object ();
    if (st->db)
        json_object_update (out, st->db);
    else {
        json_object_set_new (out, "state", json_string ("unreachable"));
        rb_out_json_bytes (out, "error", st->db_why, strlen (st->db_why));
    }
    json_t *journal = s_journal_json (st->ops);
    json_object_set (out, "pending", json_object_get (journal, "pending"));
    json_object_set_new (out, "journal", journal);
    json_object_set_new (
        out, "broker", st->broker ? json_incref (st->broker) : json_object ());
    json_object_set_new (out, "nodes",
                         st->nodes ? json_incref (st->nodes) : json_object ());
    const char *name = NULL;
    json_t *o = st->nodes ? s_ops_node (st, &name) : NULL;
    if (o) {
        json_t *node = json_deep_copy (o);
        json_object_set_new (node, "name", json_string (name));
        json_object_set_new (out, "ops_node", node);
    }
    ops_emit (out);
}

static void
s_print_db (status_t *st)
{
    json_t *db = st->db;
    if (!db) {
        ops_say ("%-14s unreachable: %s", "DB", st->db_why);
        return;
    }
    ops_say ("%-14s %s, epoch %" PRIu64 ", dataset %s (answered by %s)", "DB",
             s_text (db, "state"), s_num (db, "epoch"), s_text (db, "dataset"),
             s_text (db, "node"));
    ops_say ("%-14s %" PRIu64 " (restored at %" PRIu64 ")", "watermark",
             s_num (db, "watermark"), s_num (db, "restored_watermark"));
    ops_say ("%-14s %" PRIu64 " live, %" PRIu64 " tombstones", "records",
             s_num (db, "keys"), s_num (db, "tombstones"));
    ops_say ("%-14s %" PRIu64 " keys%s", "recovering", s_num (db, "recovering"),
             streq (s_text (db, "state"), "recovering") &&
                     !s_num (db, "list_complete")
                 ? " (list incomplete: every key flagged)"
                 : "");
    ops_say ("%-14s %s", "newest backup", s_text (db, "newest_backup"));
}

/*  "name=value ..." of a node's numeric counters. */
static void
s_counters (json_t *status, char *out, size_t len)
{
    const char *name;
    json_t *v;
    size_t used = 0;
    out[0] = '\0';
    json_object_foreach (status, name, v)
    {
        if (json_is_integer (v) && used < len)
            used += (size_t) snprintf (out + used, len - used, "%s%s=%" PRIu64,
                                       used ? " " : "", name,
                                       (uint64_t) json_integer_value (v));
    }
}

static void
s_print_human (status_t *st)
{
    s_print_db (st);
    ops_t *ops = st->ops;
    rb_journal_t *j = ops->journal;
    if (ops->damaged[0])
        ops_say ("%-14s damaged: %s", "journal", ops->damaged);
    else
        ops_say ("%-14s %s: next seq %" PRIu64 ", %" PRIu64 " pending%s",
                 "journal", ops->opts.journal, j ? rb_journal_next_seq (j) : 1,
                 j ? rb_journal_pending (j, NULL, NULL) : 0,
                 !j            ? " (no file yet)"
                 : ops->shared ? " (in use by another ops)"
                               : "");
    s_print_ops_node (st);
    json_t *b = st->broker;
    if (b)
        ops_say ("%-14s %" PRIu64 " nodes, %" PRIu64 " in flight, %" PRIu64
                 " queued, %" PRIu64 " expired, %" PRIu64 " malformed",
                 "broker", s_num (b, "nodes"), s_num (b, "inflight"),
                 s_num (b, "queued"), s_num (b, "expired"),
                 s_num (b, "malformed"));
    else
        ops_say ("%-14s no answer: %s", "broker", st->broker_why);
    if (!st->nodes)
        return;
    ops_say ("%-14s %-8s %-12s %8s %9s  %s", "NODE", "ROLE", "SERVICES",
             "IDLE ms", "INFLIGHT", "COUNTERS");
    const char *name;
    json_t *n;
    json_object_foreach (st->nodes, name, n)
    {
        char counters[1024];
        s_counters (json_object_get (n, "status"), counters, sizeof counters);
        ops_say ("%-14s %-8s %-12s %8" PRIu64 " %9" PRIu64 "  %s", name,
                 s_text (n, "role"), s_text (n, "services"),
                 s_num (n, "idle_ms"), s_num (n, "inflight"), counters);
    }
}

/*  Asks the DB, the broker, then every node; what does not answer is
    left out (the DB's absence is the exit code).  */
static void
s_gather (status_t *st)
{
    ops_t *self = st->ops;
    int code = ops_connect (self);
    if (code) {
        st->db_code = code;
        snprintf (st->db_why, sizeof st->db_why, "%s", self->bus_why);
        snprintf (st->broker_why, sizeof st->broker_why, "%s", self->bus_why);
        return;
    }
    uint32_t timeout = (uint32_t) self->opts.timeout_ms;
    s_ask (st, ASK_DB, RB_ADDR_SERVICE, RB_OPS_DB, RB_T_STATUS, timeout);
    s_ask (st, ASK_BROKER, RB_ADDR_SERVICE, RB_OPS_BROKER, RB_T_STATUS,
           timeout);
    s_ask (st, ASK_NODES, RB_ADDR_SERVICE, RB_OPS_BROKER, RB_T_NODES, timeout);
    s_wait (st);
    if (st->nodes)
        s_ask_nodes (st);
}

int
ops_cmd_status (ops_t *self)
{
    if (self->journal)
        ops_resend (self);
    status_t st;
    memset (&st, 0, sizeof st);
    st.ops = self;
    s_gather (&st);
    if (self->opts.json)
        s_print_json (&st);
    else
        s_print_human (&st);
    json_decref (st.db);
    json_decref (st.broker);
    json_decref (st.nodes);
    if (self->damaged[0]) { /* json: the one line is above */
        ops_note (self, "%s: see 'recobus-ops journal check'", self->damaged);
        return EX_DATAERR;
    }
    if (st.db)
        return 0;
    ops_note (self, "DB: %s", st.db_why); /* json: the one line is above */
    return ops_exit_for (st.db_code);
}
