/*  rb_monitor: decoding, labelling and counting tap messages (see
    rb_monitor.h). The formatting is in rb_monitor_out.c.  */
#include "rb_monitor.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#define FLAGGED_MAX      65536 /* (node, key) pairs remembered for S7 */
#define PENDING_MAX      256   /* requests remembered per requester */
#define REQUESTERS_MAX   1024  /* requesters remembered */
#define PENDING_GRACE_MS 10000 /* kept past the request's own deadline */
#define QUEUE_TIMEOUT_MS 2000  /* the broker's default request deadline */

/*  The requests of one requester whose ACK is still to come, oldest
    first: ORDER, RECOVERY_LIST, DIFF and RECOVERY_END.  */
typedef struct {
    uint8_t type[PENDING_MAX];  /* rb_type_t of each request */
    int64_t until[PENDING_MAX]; /* forgotten after this, ms */
    uint32_t count;             /* entries used */
} pending_t;

struct rb_monitor {
    rb_body_t body;        /* decode buffer, its arrays reused */
    rb_mon_msg_t msg;      /* the message last taken */
    rb_limits_t limits;    /* the largest any node may be set to accept */
    int filter;            /* rb_type_t shown; RB_T_NONE: every type */
    const char *topics[8]; /* what to subscribe to, NULL-ended */
    zhashx_t *flagged;     /* "node key" → generation, for S7 and S11 */
    char **ring;           /* flagged pairs in insertion order */
    uint64_t *ring_gen;    /* the generation each was inserted with */
    uint32_t ring_next;    /* the ring slot to use next */
    uint64_t gen;          /* the last generation handed out */
    zhashx_t *pending;     /* requester name → pending_t */
    rb_mon_stats_t stats;  /* counters */
    rb_mon_stats_t last;   /* counters at the last stats call */
    int64_t last_t;        /* when that was (or the first message), ms */
};

/*  --- labels ----------------------------------------------------------- */

static const char *const s_label_names[RB_MON_LABELS_] = {
    "",           "S1 restore",        "S2 recovering", "S3 list",
    "S4 flagged", "S5 flagged answer", "S7 re-poll",    "S8 diff",
    "S9 cleared", "S10 end",           "S10 normal",    "S11 fresh",
    "RESET",      "UPDATE push",       "RECOVERED push"};

static const char *const s_label_steps[RB_MON_LABELS_] = {
    "",   "S1",  "S2",  "S3",  "S4",    "S5",     "S7",       "S8",
    "S9", "S10", "S10", "S11", "RESET", "UPDATE", "RECOVERED"};

const char *
rb_mon_label_name (int label)
{
    return label > 0 && label < RB_MON_LABELS_ ? s_label_names[label] : "";
}

const char *
rb_mon_label_step (int label)
{
    return label > 0 && label < RB_MON_LABELS_ ? s_label_steps[label] : "";
}

/*  --- life cycle -------------------------------------------------------- */

static void
s_free_item (void **item)
{
    free (*item);
    *item = NULL;
}

rb_monitor_t *
rb_monitor_new (void)
{
    rb_monitor_t *self = (rb_monitor_t *) calloc (1, sizeof *self);
    assert (self);
    rb_body_init (&self->body, RB_T_NONE);
    /* what recobus-db's max-value and max-batch may be raised to */
    self->limits.max_value = 16 * 1024 * 1024;
    self->limits.max_batch = 1000000;
    self->topics[0] = "";
    self->flagged = zhashx_new ();
    self->pending = zhashx_new ();
    zhashx_set_destructor (self->pending, s_free_item);
    self->ring = (char **) calloc (FLAGGED_MAX, sizeof (char *));
    self->ring_gen = (uint64_t *) calloc (FLAGGED_MAX, sizeof (uint64_t));
    assert (self->flagged && self->pending && self->ring && self->ring_gen);
    return self;
}

void
rb_monitor_destroy (rb_monitor_t **self_p)
{
    rb_monitor_t *self = *self_p;
    if (!self)
        return;
    rb_body_release (&self->body);
    zhashx_destroy (&self->flagged);
    zhashx_destroy (&self->pending);
    for (uint32_t i = 0; i < FLAGGED_MAX; i++)
        free (self->ring[i]);
    free (self->ring);
    free (self->ring_gen);
    free (self);
    *self_p = NULL;
}

/*  --- the type filter ---------------------------------------------------- */

/*  Types a filter also subscribes to, to label the filtered type. */
static const struct {
    int type;            /* the filter */
    const char *also[6]; /* its context topics, NULL-ended */
} s_context[] = {
    {RB_T_ACK, {"ORDER", "RECOVERY_LIST", "DIFF", "RECOVERY_END", "ERROR"}},
    {RB_T_GET, {"DATA", "RESET", "GETS", "RECORDS"}},
    {RB_T_DATA, {"RESET", "RECORDS"}},
    {RB_T_GETS, {"RECORDS", "RESET"}},
    {RB_T_RECORDS, {"RESET"}},
};

int
rb_monitor_filter (rb_monitor_t *self, const char *type_name)
{
    char upper[32];
    size_t len = strlen (type_name);
    if (len == 0 || len >= sizeof upper)
        return -1;
    for (size_t i = 0; i <= len; i++)
        upper[i] = (char) toupper ((unsigned char) type_name[i]);
    int type = rb_type_lookup (upper);
    if (type <= 0)
        return -1;
    self->filter = type;
    memset (self->topics, 0, sizeof self->topics);
    self->topics[0] = rb_type_name (type);
    for (size_t c = 0; c < sizeof s_context / sizeof s_context[0]; c++)
        for (int i = 0; s_context[c].type == type && s_context[c].also[i]; i++)
            self->topics[1 + i] = s_context[c].also[i];
    return 0;
}

const char *const *
rb_monitor_topics (rb_monitor_t *self)
{
    return self->topics;
}

/*  --- (node, key) pairs answered with the flag --------------------------- */

static void
s_pair (char *buf, size_t cap, const char *node, rb_str_t key)
{
    /* neither a name nor a key holds a space */
    snprintf (buf, cap, "%s %.*s", node, (int) key.len, key.ptr);
}

static void
s_flagged_add (rb_monitor_t *self, const char *node, rb_str_t key)
{
    char pair[RB_NAME_MAX + RB_KEY_MAX + 2];
    s_pair (pair, sizeof pair, node, key);
    if (zhashx_lookup (self->flagged, pair))
        return;
    uint32_t slot = self->ring_next;
    self->ring_next = (slot + 1) % FLAGGED_MAX;
    if (self->ring[slot]) { /* the oldest pair makes room */
        void *gen = zhashx_lookup (self->flagged, self->ring[slot]);
        if (gen && (uintptr_t) gen == self->ring_gen[slot])
            zhashx_delete (self->flagged, self->ring[slot]);
        free (self->ring[slot]);
    }
    self->gen++;
    self->ring[slot] = strdup (pair);
    self->ring_gen[slot] = self->gen;
    assert (self->ring[slot]);
    zhashx_insert (self->flagged, pair, (void *) (uintptr_t) self->gen);
}

static bool
s_flagged_has (rb_monitor_t *self, const char *node, rb_str_t key)
{
    char pair[RB_NAME_MAX + RB_KEY_MAX + 2];
    s_pair (pair, sizeof pair, node, key);
    return zhashx_lookup (self->flagged, pair) != NULL;
}

/*  Forgets the pair; true if it was there. */
static bool
s_flagged_drop (rb_monitor_t *self, const char *node, rb_str_t key)
{
    char pair[RB_NAME_MAX + RB_KEY_MAX + 2];
    s_pair (pair, sizeof pair, node, key);
    if (!zhashx_lookup (self->flagged, pair))
        return false;
    zhashx_delete (self->flagged, pair);
    return true;
}

/*  --- requests waiting for their ACK ----------------------------------- */

static void
s_pending_push (rb_monitor_t *self, const rb_header_t *h, int64_t t_ms)
{
    pending_t *p = (pending_t *) zhashx_lookup (self->pending, h->sender);
    if (!p) {
        if (zhashx_size (self->pending) >= REQUESTERS_MAX)
            zhashx_purge (self->pending); /* e.g. many one-shot ops-PID */
        p = (pending_t *) calloc (1, sizeof *p);
        assert (p);
        zhashx_insert (self->pending, h->sender, p);
    }
    if (p->count == PENDING_MAX) { /* forget the oldest */
        memmove (p->type, p->type + 1, PENDING_MAX - 1);
        memmove (p->until, p->until + 1,
                 (PENDING_MAX - 1) * sizeof p->until[0]);
        p->count--;
    }
    uint32_t wait = h->timeout_ms ? h->timeout_ms : QUEUE_TIMEOUT_MS;
    p->type[p->count] = h->type;
    p->until[p->count] = t_ms + wait + PENDING_GRACE_MS;
    p->count++;
}

/*  The type of the oldest live request of requester, taken off its list;
    RB_T_NONE if there is none.  */
static int
s_pending_pop (rb_monitor_t *self, const char *requester, int64_t t_ms)
{
    pending_t *p = (pending_t *) zhashx_lookup (self->pending, requester);
    uint32_t first = 0;
    while (p && first < p->count && p->until[first] < t_ms)
        first++; /* expired: answered by the broker, or never */
    int type = p && first < p->count ? p->type[first] : RB_T_NONE;
    uint32_t drop = type ? first + 1 : first;
    if (p && drop) {
        memmove (p->type, p->type + drop, p->count - drop);
        memmove (p->until, p->until + drop,
                 (p->count - drop) * sizeof p->until[0]);
        p->count -= drop;
    }
    if (p && p->count == 0)
        zhashx_delete (self->pending, requester);
    return type;
}

/*  --- labelling ------------------------------------------------------ */

static int
s_on_ops_request (rb_monitor_t *self, const rb_header_t *h, int64_t t_ms)
{
    s_pending_push (self, h, t_ms);
    switch (h->type) {
        case RB_T_RECOVERY_LIST: return RB_MON_S3_LIST;
        case RB_T_DIFF: return RB_MON_S8_DIFF;
        case RB_T_RECOVERY_END: return RB_MON_S10_END;
        default: return RB_MON_NONE;
    }
}

static int
s_on_ack (rb_monitor_t *self, const rb_header_t *h, const rb_body_t *b,
          int64_t t_ms)
{
    switch (s_pending_pop (self, h->dest, t_ms)) {
        case RB_T_RECOVERY_LIST: return RB_MON_S4_FLAGGED;
        case RB_T_DIFF: return RB_MON_S9_CLEARED;
        case RB_T_ORDER: return b->cleared ? RB_MON_S9_CLEARED : RB_MON_NONE;
        case RB_T_RECOVERY_END: return RB_MON_S10_NORMAL;
    }
    /* its request went by before we listened: only a list flags keys */
    if (b->flagged || b->current)
        return RB_MON_S4_FLAGGED;
    return b->cleared ? RB_MON_S9_CLEARED : RB_MON_NONE;
}

static int
s_on_data (rb_monitor_t *self, const rb_header_t *h, const rb_body_t *b)
{
    if (b->recovering) {
        s_flagged_add (self, h->dest, b->key);
        return RB_MON_S5_FLAGGED;
    }
    return s_flagged_drop (self, h->dest, b->key) ? RB_MON_S11_FRESH
                                                  : RB_MON_NONE;
}

/*  A RECORDS answer: each record as the DATA it stands for; labelled
    flagged if one is, else fresh if one is.  */
static int
s_on_records (rb_monitor_t *self, const rb_header_t *h, const rb_body_t *b)
{
    int label = RB_MON_NONE;
    for (uint32_t i = 0; i < b->n_recs; i++) {
        const rb_record_t *r = &b->recs[i];
        if (r->recovering) {
            s_flagged_add (self, h->dest, r->key);
            label = RB_MON_S5_FLAGGED;
        } else if (s_flagged_drop (self, h->dest, r->key) &&
                   label == RB_MON_NONE)
            label = RB_MON_S11_FRESH;
    }
    return label;
}

/*  A GETS from a service node that asks again a key it was answered
    flagged for: a re-poll.  */
static int
s_on_gets (rb_monitor_t *self, const rb_header_t *h, const rb_body_t *b)
{
    for (uint32_t i = 0; h->role == RB_ROLE_SERVICE && i < b->n_keys; i++)
        if (s_flagged_has (self, h->sender, b->keys[i]))
            return RB_MON_S7_REPOLL;
    return RB_MON_NONE;
}

static int
s_label (rb_monitor_t *self, const rb_header_t *h, const rb_body_t *b,
         int64_t t_ms)
{
    bool request = h->kind == RB_K_REQUEST, reply = h->kind == RB_K_REPLY;
    bool push = h->kind == RB_K_PUSH;
    switch (h->type) {
        case RB_T_RESTORE: return request ? RB_MON_S1_RESTORE : RB_MON_NONE;
        case RB_T_RESTORED: return reply ? RB_MON_S2_RECOVERING : RB_MON_NONE;
        case RB_T_ORDER:
        case RB_T_RECOVERY_LIST:
        case RB_T_DIFF:
        case RB_T_RECOVERY_END:
            return request ? s_on_ops_request (self, h, t_ms) : RB_MON_NONE;
        case RB_T_ACK: return reply ? s_on_ack (self, h, b, t_ms) : RB_MON_NONE;
        case RB_T_ERROR:
            if (h->kind == RB_K_ERROR && h->dest[0])
                s_pending_pop (self, h->dest, t_ms);
            return RB_MON_NONE;
        case RB_T_DATA: return reply ? s_on_data (self, h, b) : RB_MON_NONE;
        case RB_T_GET:
            return request && h->role == RB_ROLE_SERVICE &&
                           s_flagged_has (self, h->sender, b->key)
                       ? RB_MON_S7_REPOLL
                       : RB_MON_NONE;
        case RB_T_RECORDS:
            return reply ? s_on_records (self, h, b) : RB_MON_NONE;
        case RB_T_GETS: return request ? s_on_gets (self, h, b) : RB_MON_NONE;
        case RB_T_RESET:
            if (!push)
                return RB_MON_NONE;
            zhashx_purge (self->flagged); /* a new epoch: start afresh */
            return RB_MON_RESET;
        case RB_T_UPDATE: return push ? RB_MON_UPDATE : RB_MON_NONE;
        case RB_T_RECOVERED: return push ? RB_MON_RECOVERED : RB_MON_NONE;
        default: return RB_MON_NONE;
    }
}

/*  --- taking a message ------------------------------------------------- */

static void
s_topic (char *out, size_t cap, zframe_t *frame)
{
    size_t len = frame ? zframe_size (frame) : 0;
    if (len >= cap)
        len = cap - 1;
    const byte *data = frame ? zframe_data (frame) : NULL;
    for (size_t i = 0; i < len; i++)
        out[i] = data[i] >= 0x20 && data[i] < 0x7f ? (char) data[i] : '?';
    out[len] = '\0';
}

/*  Decodes [header][body?] into m. */
static void
s_decode (rb_monitor_t *self, rb_mon_msg_t *m, zframe_t *hf, zframe_t *bf)
{
    rb_err_t err = {0, ""};
    int rc = rb_header_decode (zframe_data (hf), zframe_size (hf), &m->h, &err);
    if (rc == RB_OK && (bf != NULL) != (m->h.type != RB_T_NONE)) {
        snprintf (m->why, sizeof m->why, "%s: body frame %s (%s)",
                  rb_type_name (m->h.type), bf ? "not expected" : "missing",
                  rb_code_name (RB_E_FRAMES));
        return;
    }
    if (rc == RB_OK && bf)
        rc = rb_body_decode (zframe_data (bf), zframe_size (bf), m->h.type,
                             &self->limits, &self->body, &err);
    if (rc != RB_OK) {
        snprintf (m->why, sizeof m->why, "%s (%s)", err.text,
                  rb_code_name (err.code));
        return;
    }
    m->decoded = true;
    m->b = bf ? &self->body : NULL;
}

static bool
s_shown (const rb_monitor_t *self, const rb_mon_msg_t *m)
{
    if (self->filter == RB_T_NONE)
        return true;
    if (m->decoded)
        return m->h.type == self->filter;
    return strcmp (m->topic, rb_type_name (self->filter)) == 0;
}

static void
s_count (rb_monitor_t *self, const rb_mon_msg_t *m)
{
    rb_mon_stats_t *s = &self->stats;
    s->total++;
    if (!m->decoded) {
        s->undecodable++;
        return;
    }
    s->types[m->h.type]++;
    s->labels[m->label]++;
    if (m->h.kind == RB_K_ERROR)
        s->errors[m->h.status < RB_MON_STATUS_MAX ? m->h.status : 0]++;
    if (m->h.type == RB_T_DATA && m->b->recovering)
        s->data_flagged++;
    else if (m->h.type == RB_T_DATA) {
        s->data_current++;
        s->data_not_found += !m->b->has_value;
    }
    for (uint32_t i = 0; m->h.type == RB_T_RECORDS && i < m->b->n_recs; i++) {
        const rb_record_t *r = &m->b->recs[i];
        s->data_flagged += r->recovering;
        s->data_current += !r->recovering;
        s->data_not_found += !r->recovering && !r->has_value;
    }
}

const rb_mon_msg_t *
rb_monitor_take (rb_monitor_t *self, zmsg_t *msg, int64_t t_ms)
{
    rb_mon_msg_t *m = &self->msg;
    memset (m, 0, sizeof *m);
    m->t_ms = t_ms;
    if (!self->last_t)
        self->last_t = t_ms;
    size_t frames = msg ? zmsg_size (msg) : 0;
    zframe_t *topic = frames ? zmsg_first (msg) : NULL;
    s_topic (m->topic, sizeof m->topic, topic);
    if (frames == 2 || frames == 3) {
        zframe_t *header = zmsg_next (msg);
        zframe_t *body = frames == 3 ? zmsg_next (msg) : NULL;
        s_decode (self, m, header, body);
    } else
        snprintf (m->why, sizeof m->why,
                  "%zu frames, expected topic, header and body (%s)", frames,
                  rb_code_name (RB_E_FRAMES));
    if (m->decoded)
        m->label = s_label (self, &m->h, m->b ? m->b : &self->body, t_ms);
    m->shown = s_shown (self, m);
    if (m->shown)
        s_count (self, m);
    return m;
}

const rb_mon_stats_t *
rb_monitor_stats (rb_monitor_t *self)
{
    return &self->stats;
}

void
rb_monitor_window (rb_monitor_t *self, int64_t t_ms, rb_mon_stats_t *last,
                   int64_t *last_t)
{
    *last = self->last;
    *last_t = self->last_t ? self->last_t : t_ms;
    self->last = self->stats;
    self->last_t = t_ms;
}
