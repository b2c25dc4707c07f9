/*  rb_monitor_out: one tap message as a readable line or a JSON object,
    and the counters as a table or a JSON object (see rb_monitor.h and
    docs/monitor.md).  */
#include "rb_monitor.h"
#include "rb_out.h"

#include <string.h>
#include <time.h>

typedef unsigned long long ull;

/*  --- one line ------------------------------------------------------- */

/*  "HH:MM:SS.mmm", local time. */
static void
s_clock (int64_t t_ms, char *buf, size_t cap)
{
    time_t secs = (time_t) (t_ms / 1000);
    struct tm tm;
    localtime_r (&secs, &tm);
    snprintf (buf, cap, "%02d:%02d:%02d.%03d", tm.tm_hour, tm.tm_min, tm.tm_sec,
              (int) (t_ms % 1000));
}

static void
s_str (FILE *f, const char *name, rb_str_t s)
{
    fprintf (f, " %s=", name);
    rb_out_escaped (f, s.ptr, s.len);
}

/*  A text that may hold anything: quoted and escaped. */
static void
s_text (FILE *f, const char *name, rb_str_t s)
{
    fprintf (f, " %s=\"", name);
    rb_out_escaped (f, s.ptr, s.len);
    fputc ('"', f);
}

static void
s_num (FILE *f, const char *name, uint64_t n)
{
    fprintf (f, " %s=%llu", name, (ull) n);
}

/*  The ACK's counters: the label's own one always, the others if set. */
static void
s_print_ack (FILE *f, const rb_body_t *b, int label)
{
    const struct {
        const char *name;
        uint64_t value;
        bool always;
    } fields[] = {
        {"flagged", b->flagged, label == RB_MON_S4_FLAGGED},
        {"current", b->current, false},
        {"cleared", b->cleared, label == RB_MON_S9_CLEARED},
        {"applied", b->applied, false},
        {"skipped", b->skipped, false},
        {"watermark", b->watermark, false},
    };
    bool any = false;
    for (size_t i = 0; i < sizeof fields / sizeof fields[0]; i++)
        if (fields[i].value || fields[i].always) {
            s_num (f, fields[i].name, fields[i].value);
            any = true;
        }
    if (!any)
        fputs (" (all zero)", f);
}

static void
s_print_value (FILE *f, const rb_body_t *b, const char *absent)
{
    if (b->has_value)
        s_num (f, "len", b->value.len);
    else
        fprintf (f, " %s", absent);
}

static void
s_print_info (FILE *f, const rb_body_t *b)
{
    s_num (f, "items", b->n_items);
    for (uint32_t i = 0; i < b->n_items; i++)
        if (b->items[i].is_text && rb_str_eq (b->items[i].name, "state"))
            s_str (f, "state", b->items[i].text);
}

static void
s_print_body (FILE *f, const rb_mon_msg_t *m)
{
    const rb_body_t *b = m->b;
    switch (b->type) {
        case RB_T_HELLO:
            fprintf (f, " role=%s", rb_role_name (b->role));
            s_str (f, "name", b->name);
            s_num (f, "services", b->n_services);
            break;
        case RB_T_WELCOME:
            s_num (f, "heartbeat", b->heartbeat_ms);
            s_num (f, "liveness", b->liveness);
            break;
        case RB_T_ERROR:
            fprintf (f, " status=%s", rb_code_name (m->h.status));
            s_text (f, "message", b->text);
            break;
        case RB_T_GET:
        case RB_T_RECOVERED: s_str (f, "key", b->key); break;
        case RB_T_GETS:
            s_num (f, "keys", b->n_keys);
            s_str (f, "first", b->keys[0]);
            break;
        case RB_T_RECORDS: {
            uint64_t flagged = 0;
            for (uint32_t i = 0; i < b->n_recs; i++)
                flagged += b->recs[i].recovering;
            s_num (f, "records", b->n_recs);
            s_num (f, "epoch", b->epoch);
            s_num (f, "recovering", flagged);
            break;
        }
        case RB_T_DATA:
        case RB_T_UPDATE:
            s_str (f, "key", b->key);
            s_num (f, "seq", b->seq);
            s_num (f, "epoch", b->epoch);
            s_print_value (f, b,
                           b->type == RB_T_DATA ? "not_found" : "deleted");
            if (b->type == RB_T_DATA && b->recovering)
                fputs (" recovering", f);
            break;
        case RB_T_ORDER:
            s_num (f, "seq", b->seq);
            s_str (f, "key", b->key);
            fprintf (f, " op=%s", rb_op_name (b->op));
            if (b->has_value)
                s_num (f, "len", b->value.len);
            break;
        case RB_T_ACK: s_print_ack (f, b, m->label); break;
        case RB_T_RECOVERY_LIST:
            s_num (f, "entries", b->n_entries);
            fprintf (f, " last=%s", b->last ? "yes" : "no");
            break;
        case RB_T_DIFF:
            s_num (f, "orders", b->n_orders);
            if (b->n_orders)
                fprintf (f, " seq=%llu..%llu", (ull) b->orders[0].seq,
                         (ull) b->orders[b->n_orders - 1].seq);
            break;
        case RB_T_INFO: s_print_info (f, b); break;
        case RB_T_BACKUP_DONE:
        case RB_T_RESTORED:
            s_text (f, "path", b->text);
            s_num (f, "records", b->records);
            s_num (f, "watermark", b->watermark);
            if (b->type == RB_T_RESTORED)
                s_num (f, "epoch", b->epoch);
            else
                s_num (f, "bytes", b->bytes);
            s_num (f, "ms", b->ms);
            break;
        case RB_T_RESTORE: s_text (f, "path", b->text); break;
        case RB_T_RESET: s_num (f, "epoch", b->epoch); break;
        case RB_T_NODES: s_num (f, "nodes", b->n_nodes); break;
        case RB_T_ANSWER:
            s_str (f, "key", b->key);
            fprintf (f, " status=%s", rb_answer_name (b->answer));
            s_num (f, "seq", b->seq);
            break;
        case RB_T_ECHO: s_print_value (f, b, "nil"); break;
        default: break; /* RECOVERY_END, STATUS, BACKUP: no fields */
    }
}

/*  "db-1", "db" (a service), "*service" (every node of a role), "-". */
static void
s_print_dest (FILE *f, const rb_header_t *h)
{
    if (!h->dest[0])
        fputc ('-', f);
    else
        fprintf (f, "%s%s", h->addr == RB_ADDR_ROLE ? "*" : "", h->dest);
}

void
rb_monitor_print (const rb_mon_msg_t *m, FILE *f)
{
    char clock[32];
    s_clock (m->t_ms, clock, sizeof clock);
    if (!m->decoded) {
        fprintf (f, "%s undecodable: ", clock);
        rb_out_escaped (f, m->why, strlen (m->why));
        fprintf (f, " [topic %s]\n", m->topic);
        return;
    }
    const rb_header_t *h = &m->h;
    fprintf (f, "%s %s %s → ", clock, rb_kind_name (h->kind),
             h->sender[0] ? h->sender : "-");
    s_print_dest (f, h);
    fprintf (f, " %s", rb_type_name (h->type));
    if (m->b)
        s_print_body (f, m);
    else if (h->kind == RB_K_ERROR)
        fprintf (f, " status=%s", rb_code_name (h->status));
    if (m->label)
        fprintf (f, " [%s]", rb_mon_label_name (m->label));
    fputc ('\n', f);
}

/*  --- JSON ------------------------------------------------------------ */

static void
s_jnum (json_t *obj, const char *name, uint64_t n)
{
    json_object_set_new (obj, name, json_integer ((json_int_t) n));
}

static void
s_jstr (json_t *obj, const char *name, rb_str_t s)
{
    rb_out_json_bytes (obj, name, s.ptr ? s.ptr : "", s.len);
}

static void
s_jvalue (json_t *obj, const rb_body_t *b)
{
    json_object_set_new (obj, "found", json_boolean (b->has_value));
    s_jnum (obj, "value_len", b->has_value ? b->value.len : 0);
}

static void
s_json_records (json_t *obj, const rb_body_t *b)
{
    switch (b->type) {
        case RB_T_GET:
        case RB_T_RECOVERED: s_jstr (obj, "key", b->key); break;
        case RB_T_GETS: {
            json_t *keys = json_array ();
            for (uint32_t i = 0; i < b->n_keys; i++)
                json_array_append_new (
                    keys, json_stringn (b->keys[i].ptr, b->keys[i].len));
            json_object_set_new (obj, "keys", keys);
            break;
        }
        case RB_T_RECORDS: {
            json_t *recs = json_array ();
            for (uint32_t i = 0; i < b->n_recs; i++) {
                const rb_record_t *r = &b->recs[i];
                json_t *one = json_object ();
                s_jstr (one, "key", r->key);
                s_jnum (one, "seq", r->seq);
                s_jnum (one, "value_len", r->has_value ? r->value.len : 0);
                json_object_set_new (one, "found", json_boolean (r->has_value));
                json_object_set_new (one, "recovering",
                                     json_boolean (r->recovering));
                json_array_append_new (recs, one);
            }
            s_jnum (obj, "epoch", b->epoch);
            json_object_set_new (obj, "records", recs);
            break;
        }
        case RB_T_DATA:
        case RB_T_UPDATE:
            s_jstr (obj, "key", b->key);
            s_jnum (obj, "seq", b->seq);
            s_jnum (obj, "epoch", b->epoch);
            s_jvalue (obj, b);
            if (b->type == RB_T_DATA)
                json_object_set_new (obj, "recovering",
                                     json_boolean (b->recovering));
            break;
        case RB_T_ORDER:
            s_jnum (obj, "seq", b->seq);
            s_jstr (obj, "key", b->key);
            json_object_set_new (obj, "op", json_string (rb_op_name (b->op)));
            s_jnum (obj, "value_len", b->has_value ? b->value.len : 0);
            break;
        case RB_T_ANSWER:
            s_jstr (obj, "key", b->key);
            json_object_set_new (obj, "answer",
                                 json_string (rb_answer_name (b->answer)));
            s_jnum (obj, "seq", b->seq);
            s_jvalue (obj, b);
            break;
        case RB_T_ECHO: s_jvalue (obj, b); break;
        default: break;
    }
}

static void
s_json_ops (json_t *obj, const rb_body_t *b)
{
    switch (b->type) {
        case RB_T_ACK:
            s_jnum (obj, "applied", b->applied);
            s_jnum (obj, "skipped", b->skipped);
            s_jnum (obj, "cleared", b->cleared);
            s_jnum (obj, "flagged", b->flagged);
            s_jnum (obj, "current", b->current);
            s_jnum (obj, "watermark", b->watermark);
            break;
        case RB_T_RECOVERY_LIST:
            s_jnum (obj, "entries", b->n_entries);
            json_object_set_new (obj, "last", json_boolean (b->last));
            break;
        case RB_T_DIFF:
            s_jnum (obj, "orders", b->n_orders);
            s_jnum (obj, "first_seq", b->n_orders ? b->orders[0].seq : 0);
            s_jnum (obj, "last_seq",
                    b->n_orders ? b->orders[b->n_orders - 1].seq : 0);
            break;
        case RB_T_RESTORE: s_jstr (obj, "path", b->text); break;
        case RB_T_BACKUP_DONE:
        case RB_T_RESTORED:
            s_jstr (obj, "path", b->text);
            s_jnum (obj, "records", b->records);
            s_jnum (obj, "watermark", b->watermark);
            s_jnum (obj, b->type == RB_T_RESTORED ? "epoch" : "bytes",
                    b->type == RB_T_RESTORED ? b->epoch : b->bytes);
            s_jnum (obj, "ms", b->ms);
            break;
        case RB_T_RESET: s_jnum (obj, "epoch", b->epoch); break;
        default: break;
    }
}

static void
s_json_bus (json_t *obj, const rb_body_t *b)
{
    switch (b->type) {
        case RB_T_HELLO: {
            json_object_set_new (obj, "hello_role",
                                 json_string (rb_role_name (b->role)));
            s_jstr (obj, "name", b->name);
            json_t *services = json_array ();
            for (uint32_t i = 0; i < b->n_services; i++)
                json_array_append_new (
                    services,
                    json_stringn (b->services[i].ptr, b->services[i].len));
            json_object_set_new (obj, "services", services);
            break;
        }
        case RB_T_WELCOME:
            s_jnum (obj, "heartbeat", b->heartbeat_ms);
            s_jnum (obj, "liveness", b->liveness);
            break;
        case RB_T_ERROR: s_jstr (obj, "message", b->text); break;
        case RB_T_INFO: s_jnum (obj, "items", b->n_items); break;
        case RB_T_NODES: s_jnum (obj, "nodes", b->n_nodes); break;
        default: break;
    }
}

static const char *const s_addr_names[] = {"none", "service", "node", "role"};

json_t *
rb_monitor_json (const rb_mon_msg_t *m)
{
    json_t *obj = json_object ();
    s_jnum (obj, "t_ms", (uint64_t) m->t_ms);
    if (!m->decoded) {
        json_object_set_new (obj, "topic", json_string (m->topic));
        rb_out_json_bytes (obj, "undecodable", m->why, strlen (m->why));
        return obj;
    }
    const rb_header_t *h = &m->h;
    json_object_set_new (obj, "kind", json_string (rb_kind_name (h->kind)));
    json_object_set_new (obj, "type", json_string (rb_type_name (h->type)));
    json_object_set_new (obj, "sender", json_string (h->sender));
    json_object_set_new (obj, "role", json_string (rb_role_name (h->role)));
    json_object_set_new (obj, "dest", json_string (h->dest));
    json_object_set_new (
        obj, "addr",
        json_string (h->addr <= RB_ADDR_MAX_ ? s_addr_names[h->addr] : "?"));
    s_jnum (obj, "corr", h->corr);
    if (h->kind == RB_K_ERROR)
        json_object_set_new (obj, "status",
                             json_string (rb_code_name (h->status)));
    if (m->b) {
        s_json_records (obj, m->b);
        s_json_ops (obj, m->b);
        s_json_bus (obj, m->b);
    }
    if (m->label) {
        json_object_set_new (obj, "step",
                             json_string (rb_mon_label_step (m->label)));
        json_object_set_new (obj, "label",
                             json_string (rb_mon_label_name (m->label)));
    }
    return obj;
}

/*  --- the counters ------------------------------------------------------ */

static uint64_t
s_rate (uint64_t now, uint64_t before, int64_t ms)
{
    return ms > 0 && now > before ? (now - before) * 1000 / (uint64_t) ms : 0;
}

static void
s_stats_types (FILE *f, const rb_mon_stats_t *s, const rb_mon_stats_t *last,
               int64_t ms)
{
    fprintf (f, "  %-16s %12s %9s\n", "type", "count", "/s");
    for (int t = 0; t < RB_T_COUNT_; t++)
        if (s->types[t])
            fprintf (f, "  %-16s %12llu %9llu\n", rb_type_name (t),
                     (ull) s->types[t],
                     (ull) s_rate (s->types[t], last->types[t], ms));
}

static void
s_stats_answers (FILE *f, const rb_mon_stats_t *s)
{
    fprintf (f, "  answers from the db (a terminal's answer is not on the "
                "bus)\n");
    fprintf (f, "  %-22s %12llu   %s\n", "DATA flagged (S5)",
             (ull) s->data_flagged, "stale-ok: 'stale', latest-only: re-polls");
    fprintf (f, "  %-22s %12llu\n", "DATA current", (ull) s->data_current);
    fprintf (f, "  %-22s %12llu\n", "  of which not found",
             (ull) s->data_not_found);
    fprintf (f, "  %-22s %12llu   %s\n", "ERROR unavailable",
             (ull) s->errors[RB_S_UNAVAILABLE],
             "services retry it until max-wait");
    for (int c = 0; c < RB_MON_STATUS_MAX; c++)
        if (s->errors[c] && c != RB_S_UNAVAILABLE) {
            char name[64];
            snprintf (name, sizeof name, "ERROR %s",
                      c ? rb_code_name (c) : "other");
            fprintf (f, "  %-22s %12llu\n", name, (ull) s->errors[c]);
        }
}

static void
s_stats_labels (FILE *f, const rb_mon_stats_t *s)
{
    bool any = false;
    for (int l = 1; l < RB_MON_LABELS_; l++)
        if (s->labels[l]) {
            fprintf (f, "%s%s %llu",
                     any ? ", " : "  steps: ", rb_mon_label_name (l),
                     (ull) s->labels[l]);
            any = true;
        }
    fputs (any ? "\n" : "  steps: none yet\n", f);
}

void
rb_monitor_stats_print (rb_monitor_t *self, FILE *f, int64_t t_ms, bool tty)
{
    rb_mon_stats_t last;
    int64_t last_t;
    rb_monitor_window (self, t_ms, &last, &last_t);
    const rb_mon_stats_t *s = rb_monitor_stats (self);
    char clock[32];
    s_clock (t_ms, clock, sizeof clock);
    if (tty)
        fputs ("\033[H\033[2J", f); /* home, clear screen */
    fprintf (f, "-- recobus-monitor stats %s --\n", clock);
    fprintf (f, "  messages %llu (%llu/s), undecodable %llu\n", (ull) s->total,
             (ull) s_rate (s->total, last.total, t_ms - last_t),
             (ull) s->undecodable);
    s_stats_types (f, s, &last, t_ms - last_t);
    s_stats_answers (f, s);
    s_stats_labels (f, s);
}

static json_t *
s_jcounts (const uint64_t *counts, int n, const char *(*name) (int), int from)
{
    json_t *obj = json_object ();
    for (int i = from; i < n; i++)
        if (counts[i])
            s_jnum (obj, name (i), counts[i]);
    return obj;
}

static const char *
s_error_name (int code)
{
    return code ? rb_code_name (code) : "other";
}

json_t *
rb_monitor_stats_json (rb_monitor_t *self, int64_t t_ms)
{
    rb_mon_stats_t last;
    int64_t last_t;
    rb_monitor_window (self, t_ms, &last, &last_t);
    const rb_mon_stats_t *s = rb_monitor_stats (self);
    json_t *obj = json_object ();
    s_jnum (obj, "t_ms", (uint64_t) t_ms);
    s_jnum (obj, "total", s->total);
    s_jnum (obj, "rate", s_rate (s->total, last.total, t_ms - last_t));
    s_jnum (obj, "undecodable", s->undecodable);
    json_object_set_new (obj, "types",
                         s_jcounts (s->types, RB_T_COUNT_, rb_type_name, 0));
    json_t *data = json_object ();
    s_jnum (data, "flagged", s->data_flagged);
    s_jnum (data, "current", s->data_current);
    s_jnum (data, "not_found", s->data_not_found);
    json_object_set_new (obj, "data", data);
    json_object_set_new (
        obj, "errors",
        s_jcounts (s->errors, RB_MON_STATUS_MAX, s_error_name, 0));
    json_object_set_new (
        obj, "labels",
        s_jcounts (s->labels, RB_MON_LABELS_, rb_mon_label_name, 1));
    return obj;
}
