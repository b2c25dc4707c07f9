/*  rb_db_requests: what the DB node does with each request: the table
    of request types (who may send each, and its handler), the handlers,
    and their counters.

    GETs are collected while a burst of messages arrives and go to Redis
    as one pipeline (s_on_idle); everything else runs at once, one script
    call each. Every reply is read by its parser in rb_replies.c, which
    checks its shape first: a reply we do not understand is answered
    ERROR internal, never trusted. BACKUP and RESTORE go to the job
    (rb_db_job.c); what the node knows of the dataset is the view's
    (rb_db_view.c).  */
#include "rb_db_int.h"
#include "rb_encode.h"
#include "rb_parts.h"

#include <assert.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

/*  The handlers' state: what they borrow, what they keep. */
struct rb_db_requests {
    const rb_db_opts_t *opts;        /* the node's (borrowed) */
    rb_bus_t *bus;                   /* requests come, answers go (borrowed) */
    rb_store_t *store;               /* Redis (borrowed) */
    rb_db_view_t *view;              /* dataset, epoch, state (borrowed) */
    rb_db_job_t *job;                /* BACKUP and RESTORE (borrowed) */
    rb_db_reads_t *reads;            /* GET and GETS (owned) */
    uint64_t n_orders, n_refused;    /* counters */
    uint64_t n_pushes;               /* pushes sent */
    uint64_t n_applied, n_skipped;   /* orders applied, skipped (older) */
    uint64_t n_recovered_pushes;     /* of n_pushes, RECOVERED */
    uint64_t n_waits, n_waits_short; /* WAITs for replicas, and those that
                                        ended with fewer than asked */
    rb_db_list_t *list;              /* RECOVERY_LIST and _END (owned) */
    rb_batch_t *batch;               /* the calls of one request */
    uint32_t *part;                  /* per order: its partition */
    int *call_part;                  /* per call: its partition */
    uint32_t *global;                /* per call order: its index */
    uint32_t cap;                    /* entries in the three above */
};

/*  --- script calls ------------------------------------------------------ */

/*  Answers a script call that did not go through (rb_db__refuse), and
    counts it.  */
static void
s_refuse (rb_db_requests_t *self, const rb_header_t *h, const char *what,
          const redisReply *reply, const char *word)
{
    self->n_refused++;
    rb_db__refuse (self->bus, self->store, self->view, self->opts->name, h,
                   what, reply, word);
}

/*  Room for n orders in the per-order arrays. */
static void
s_reserve (rb_db_requests_t *self, uint32_t n)
{
    if (n <= self->cap)
        return;
    self->cap = n;
    self->part = (uint32_t *) realloc (self->part, n * sizeof (uint32_t));
    self->call_part = (int *) realloc (self->call_part, n * sizeof (int));
    self->global = (uint32_t *) realloc (self->global, n * sizeof (uint32_t));
    assert (self->part && self->call_part && self->global);
}

/*  The bus is idle: the reads collected go to Redis. */
static void
s_on_idle (rb_bus_t *bus, void *arg)
{
    rb_db_requests_t *self = (rb_db_requests_t *) arg;
    rb_db__list_read (self->list);
    rb_db__reads_flush (self->reads);
}

/*  --- orders and diffs ---------------------------------------------------- */

/*  Whether every seq (ORDER) or target (RECOVERY_LIST) of the request is
    one the scripts hold exactly, at most RB_SEQ_MAX; else it is answered
    ERROR malformed and nothing is done. An order at 2^53 or above would
    freeze its key: every later order would compare as not newer.  */
static bool
s_seqs_ok (rb_db_requests_t *self, const rb_header_t *h, const rb_body_t *b)
{
    uint64_t worst = h->type == RB_T_ORDER ? b->seq : 0;
    for (uint32_t i = 0; i < b->n_orders; i++)
        worst = b->orders[i].seq > worst ? b->orders[i].seq : worst;
    for (uint32_t i = 0; i < b->n_entries; i++)
        worst = b->entries[i].target > worst ? b->entries[i].target : worst;
    if (worst <= RB_SEQ_MAX)
        return true;
    char text[160];
    snprintf (text, sizeof text,
              "%s: seq %" PRIu64 " is at or above 2^53, past what the DB "
              "holds exactly: refused, nothing changed",
              rb_type_name (h->type), worst);
    self->n_refused++;
    rb_bus_error (self->bus, h, RB_S_MALFORMED, text);
    return false;
}

/*  Sends the UPDATE and RECOVERED pushes an APPLY reply lists (its
    orders are orders[global[first + i]]). A skipped order ('c') pushes
    the key's current record, the others the order's.  */
static void
s_push_changes (rb_db_requests_t *self, const rb_apply_reply_t *rep,
                const rb_order_t *orders, const uint32_t *global)
{
    for (size_t i = 0; i < rep->n_pushes; i++) {
        const rb_apply_push_t *x = &rep->pushes[i];
        const rb_order_t *o = &orders[global[x->order]];
        rb_body_t p;
        rb_body_init (&p, x->kind == 'r' ? RB_T_RECOVERED : RB_T_UPDATE);
        p.key = o->key;
        p.has_value = o->has_value;
        p.value = o->value;
        p.seq = o->seq;
        p.epoch = rep->epoch;
        if (x->kind == 'c') {
            p.has_value = !x->deleted;
            p.value = rb_strn (x->value, x->value_len);
            p.seq = x->seq;
        }
        rb_bus_push (self->bus, RB_ADDR_NODE, x->node, &p);
        self->n_pushes++;
        self->n_recovered_pushes += x->kind == 'r';
    }
}

/*  With redis-wait-replicas: waits until that many replicas have what
    was written (Redis's WAIT, on each master an APPLY of the request
    went to), at most redis-wait-timeout. An order acknowledged before
    its replicas have it is not lost by a failover (the ops journal has
    it, and the DB recovers the window), so this only shrinks what a
    failover makes recovering; short is counted, and the ACK goes
    anyway.  */
static void
s_wait_replicas (rb_db_requests_t *self, int calls)
{
    int want = self->opts->redis_wait_replicas;
    if (want <= 0)
        return;
    char n[16], ms[16];
    snprintf (n, sizeof n, "%d", want);
    snprintf (ms, sizeof ms, "%d", self->opts->redis_wait_timeout_ms);
    /* one WAIT per master written to: the slots of the calls made */
    int masters = rb_store_masters (self->store);
    bool *asked = (bool *) calloc ((size_t) (masters > 0 ? masters : 1), 1);
    int slots[64], n_slots = 0;
    assert (asked);
    for (int i = 0; i < calls && n_slots < 64; i++) {
        int slot = rb_part_slot (self->call_part[i]);
        int m = rb_store_slot_master (self->store, slot);
        if (m >= 0 && m < masters && asked[m])
            continue;
        if (m >= 0 && m < masters)
            asked[m] = true;
        slots[n_slots++] = slot;
    }
    free (asked);
    rb_call_t call[64];
    const char *argv[] = {"WAIT", n, ms};
    size_t lens[] = {4, strlen (n), strlen (ms)};
    for (int i = 0; i < n_slots; i++)
        call[i] = (rb_call_t){.script = -1,
                              .argc = 3,
                              .argv = argv,
                              .lens = lens,
                              .slot = slots[i]};
    self->n_waits++;
    bool short_ = rb_store_run (self->store, call, n_slots) != 0;
    for (int i = 0; !short_ && i < n_slots; i++)
        short_ = !call[i].reply || call[i].reply->type != REDIS_REPLY_INTEGER ||
                 call[i].reply->integer < want;
    self->n_waits_short += short_;
    rb_store_free_replies (call, n_slots);
}

/*  Builds one APPLY call per partition the orders touch (their orders in
    the order given), noting in global[] each call's orders: call c's are
    global[first[c] ..]. Returns the number of calls.  */
static int
s_apply_calls (rb_db_requests_t *self, const rb_order_t *orders, uint32_t n,
               const char *ds, uint32_t *first)
{
    static const char *const sets[] = {"rec", "polled", "fa", "tombs", NULL};
    int parts = rb_parts_count (self->store);
    for (uint32_t i = 0; i < n; i++)
        self->part[i] =
            (uint32_t) rb_part_of (parts, orders[i].key.ptr, orders[i].key.len);
    /* calls in the order of each partition's first order */
    int calls = 0;
    uint32_t at = 0;
    rb_batch_reset (self->batch);
    for (uint32_t i = 0; i < n; i++) {
        bool seen = false;
        for (uint32_t j = 0; j < i && !seen; j++)
            seen = self->part[j] == self->part[i];
        if (seen)
            continue;
        int p = (int) self->part[i];
        self->call_part[calls] = p;
        first[calls++] = at;
        rb_batch_part_call (self->batch, RB_SCRIPT_APPLY, p, sets);
        uint32_t from = at;
        for (uint32_t j = i; j < n; j++) {
            if (self->part[j] != self->part[i])
                continue;
            const rb_order_t *o = &orders[j];
            rb_batch_key (self->batch, p, "r:", o->key.ptr, o->key.len);
            rb_batch_key (self->batch, p, "f:", o->key.ptr, o->key.len);
            rb_batch_key (self->batch, p, "p:", o->key.ptr, o->key.len);
            self->global[at++] = j;
        }
        rb_batch_str (self->batch, ds);
        for (uint32_t k = from; k < at; k++) {
            const rb_order_t *o = &orders[self->global[k]];
            rb_batch_u64 (self->batch, o->seq);
            rb_batch_arg (self->batch, o->key.ptr, o->key.len);
            rb_batch_str (self->batch, rb_op_name (o->op));
            rb_batch_arg (self->batch, o->has_value ? o->value.ptr : "",
                          o->has_value ? o->value.len : 0);
        }
    }
    first[calls] = at;
    return calls;
}

/*  Applies orders atomically in Redis (one APPLY per partition they
    touch, one pipeline) and answers ACK. A partition that refused, or a
    Redis that failed, gets the whole request refused: the orders some
    partitions applied are applied (ops sends them again, and the DB
    skips them as not newer, pushing the current records again).  */
static void
s_apply (rb_db_requests_t *self, const rb_header_t *h, const rb_order_t *orders,
         uint32_t n)
{
    char ds[64];
    rb_db__list_read (
        self->list); /* the connection must have nothing in flight */
    rb_db__view_arg (self->view, ds, sizeof ds);
    s_reserve (self, n ? n : 1);
    uint32_t *first = (uint32_t *) calloc (n + 2, sizeof (uint32_t));
    rb_apply_reply_t *reps =
        (rb_apply_reply_t *) calloc (n + 1, sizeof (rb_apply_reply_t));
    assert (first && reps);
    int calls = s_apply_calls (self, orders, n, ds, first);
    int rc = rb_batch_run (self->batch, self->store);
    int bad = -1;
    for (int c = 0; c < calls; c++) {
        uint32_t in_call = first[c + 1] - first[c];
        if (rb_apply_reply_parse (rb_batch_reply (self->batch, c), in_call,
                                  &reps[c]) != 0 &&
            bad < 0)
            bad = c;
    }
    if (rc == 0 && bad < 0) {
        rb_body_t ack;
        rb_body_init (&ack, RB_T_ACK);
        uint64_t epoch = 0;
        for (int c = 0; c < calls; c++) {
            ack.applied += reps[c].applied;
            ack.skipped += reps[c].skipped;
            ack.cleared += reps[c].cleared;
            if (reps[c].watermark > ack.watermark)
                ack.watermark = reps[c].watermark;
            if (reps[c].epoch > epoch)
                epoch = reps[c].epoch;
        }
        self->n_orders += n;
        self->n_applied += ack.applied;
        self->n_skipped += ack.skipped;
        s_wait_replicas (self, calls);
        rb_db__view_saw_epoch (self->view, epoch);
        /* pushes first: by the time ops hears the order is applied, every
           service node caching the key has been sent the new record */
        for (int c = 0; c < calls; c++) {
            s_push_changes (self, &reps[c], orders, self->global + first[c]);
            rb_db__view_saw_acked (self->view, self->call_part[c],
                                   reps[c].epoch, reps[c].watermark);
        }
        rb_bus_reply (self->bus, h, &ack);
    } else {
        int c = bad < 0 ? 0 : bad;
        s_refuse (self, h, "APPLY", rc ? NULL : rb_batch_reply (self->batch, c),
                  rc ? "" : reps[c].word);
    }
    for (int c = 0; c < calls; c++)
        rb_apply_reply_release (&reps[c]);
    rb_batch_reset (self->batch);
    free (first);
    free (reps);
}

static void
s_on_order (rb_db_requests_t *self, const rb_header_t *h, const rb_body_t *b)
{
    rb_order_t o = {b->seq, b->key, b->op, b->has_value, b->value};
    s_apply (self, h, &o, 1);
}

/*  --- STATUS ----------------------------------------------------------------
 */

/*  The newest backup file's name (not verified: that is RESTORE's job). */
static char *
s_newest_backup_name (rb_db_requests_t *self)
{
    zdir_t *dir = zdir_new (self->opts->backup_dir, "-");
    char *newest = NULL;
    zfile_t **files = dir ? zdir_flatten (dir) : NULL;
    for (int i = 0; files && files[i]; i++) {
        const char *name = zfile_filename (files[i], self->opts->backup_dir);
        if (name[0] == '/')
            name++;
        size_t len = strlen (name);
        bool is_backup = strncmp (name, "backup-", 7) == 0 && len > 4 &&
                         streq (name + len - 4, ".rbb");
        if (is_backup && (!newest || strcmp (name, newest) > 0)) {
            free (newest);
            newest = strdup (name);
        }
    }
    zdir_flatten_free (&files);
    zdir_destroy (&dir);
    return newest;
}

typedef struct {
    rb_body_t body;
    char texts[4][128]; /* values of text items */
    int n_texts;
} rb_info_t;

static void
s_num (rb_info_t *info, const char *name, uint64_t num)
{
    rb_body_t *b = &info->body;
    b->items[b->n_items++] = (rb_item_t){rb_str (name), false, {NULL, 0}, num};
}

static void
s_text (rb_info_t *info, const char *name, const char *text)
{
    char *copy = info->texts[info->n_texts++];
    snprintf (copy, sizeof info->texts[0], "%s", text ? text : "");
    rb_body_t *b = &info->body;
    b->items[b->n_items++] = (rb_item_t){rb_str (name), true, rb_str (copy), 0};
}

static void
s_on_status (rb_db_requests_t *self, const rb_header_t *h)
{
    char ds[64];
    rb_db__list_read (self->list);
    rb_db__view_arg (self->view, ds, sizeof ds);
    rb_status_reply_t st;
    const char *error = NULL;
    int rc = rb_parts_status (self->batch, self->store, ds, &st, &error);
    if (rc == -3 || error) {
        /* Redis could not be read: the state and counts this node last
           saw may be long gone, so none are given */
        s_refuse (self, h, "STATUS",
                  rc == -3 ? NULL : rb_batch_reply (self->batch, 0), "");
        rb_batch_reset (self->batch);
        return;
    }
    rb_info_t info;
    memset (&info, 0, sizeof info);
    rb_item_t items[28];
    rb_body_init (&info.body, RB_T_INFO);
    info.body.items = items;
    bool ok = rc == 0;
    if (ok) {
        rb_db__view_saw_state (self->view, st.state);
        if (streq (st.state, "normal"))
            rb_db__view_saw_normal (self->view, st.epoch);
    } else if (rc == -1)
        rb_db__view_saw_state (self->view, st.word);
    char *newest = s_newest_backup_name (self);
    s_text (&info, "state", rb_db_state_name (rb_db__view_state (self->view)));
    s_text (&info, "node", self->opts->name);
    s_text (&info, "dataset", rb_db__view_dataset (self->view));
    s_text (&info, "newest_backup", newest);
    s_num (&info, "epoch", ok ? st.epoch : rb_db__view_epoch (self->view));
    s_num (&info, "watermark", st.watermark);
    s_num (&info, "keys", st.total >= st.tombs ? st.total - st.tombs : 0);
    s_num (&info, "tombstones", st.tombs);
    s_num (&info, "recovering", st.recovering);
    s_num (&info, "list_complete", st.list_done);
    s_num (&info, "restored_watermark", st.restored_watermark);
    s_num (&info, "redis_connected", rb_store_connected (self->store));
    s_num (&info, "job_running", rb_db__job_running (self->job));
    const rb_db_read_counts_t *reads = rb_db__reads_counts (self->reads);
    s_num (&info, "gets", reads->gets);
    s_num (&info, "flagged_answers", reads->flagged);
    s_num (&info, "gets_plain", reads->plain);
    s_num (&info, "orders", self->n_orders);
    s_num (&info, "replica_waits", self->n_waits);
    s_num (&info, "replica_waits_short", self->n_waits_short);
    s_num (&info, "refused",
           self->n_refused + reads->refused + rb_db__list_refused (self->list));
    s_num (&info, "pushes", self->n_pushes);
    s_num (&info, "resets", rb_db__view_resets (self->view));
    s_num (&info, "redis_connects", rb_store_connects (self->store));
    s_num (&info, "failovers", rb_db__view_failovers (self->view));
    rb_bus_reply (self->bus, h, &info.body);
    free (newest);
    rb_batch_reset (self->batch);
}

/*  --- metrics ------------------------------------------------------------- */

int
rb_db__requests_counts (rb_db_requests_t *self, rb_db_counts_t *c,
                        rb_status_reply_t *st)
{
    const rb_db_read_counts_t *reads = rb_db__reads_counts (self->reads);
    *c = (rb_db_counts_t){reads->gets,
                          reads->flagged,
                          reads->plain,
                          self->n_orders,
                          self->n_applied,
                          self->n_skipped,
                          self->n_refused + reads->refused +
                              rb_db__list_refused (self->list),
                          self->n_pushes - self->n_recovered_pushes,
                          self->n_recovered_pushes,
                          self->n_waits,
                          self->n_waits_short};
    char ds[64];
    rb_db__list_read (self->list);
    rb_db__view_arg (self->view, ds, sizeof ds);
    int rc = rb_parts_status (self->batch, self->store, ds, st, NULL);
    rb_batch_reset (self->batch);
    return rc == 0 ? 0 : -1;
}

/*  --- dispatch ------------------------------------------------------------ */

typedef void (handler_fn) (rb_db_requests_t *self, const rb_header_t *h,
                           const rb_body_t *b, zmsg_t **msg_p);

#define ROLE(r)  (1u << (r))
#define ANY_ROLE 0xffffffffu

/*  One request type the db service answers: who may send it, and what
    does it. Adding a request type is one row; authorization reads the
    same row.  */
typedef struct {
    int type;
    uint32_t roles; /* ROLE () bits of the senders allowed */
    handler_fn *fn;
} request_t;

static void
s_get_fn (rb_db_requests_t *self, const rb_header_t *h, const rb_body_t *b,
          zmsg_t **m)
{
    rb_db__reads_add (self->reads, h, b, m);
}

static void
s_order_fn (rb_db_requests_t *self, const rb_header_t *h, const rb_body_t *b,
            zmsg_t **m)
{
    if (s_seqs_ok (self, h, b))
        s_on_order (self, h, b);
}

static void
s_diff_fn (rb_db_requests_t *self, const rb_header_t *h, const rb_body_t *b,
           zmsg_t **m)
{
    if (s_seqs_ok (self, h, b))
        s_apply (self, h, b->orders, b->n_orders);
}

static void
s_list_fn (rb_db_requests_t *self, const rb_header_t *h, const rb_body_t *b,
           zmsg_t **m)
{
    if (s_seqs_ok (self, h, b))
        rb_db__list_batch (self->list, h, b);
}

static void
s_end_fn (rb_db_requests_t *self, const rb_header_t *h, const rb_body_t *b,
          zmsg_t **m)
{
    rb_db__list_end (self->list, h);
}

static void
s_status_fn (rb_db_requests_t *self, const rb_header_t *h, const rb_body_t *b,
             zmsg_t **m)
{
    s_on_status (self, h);
}

static void
s_job_fn (rb_db_requests_t *self, const rb_header_t *h, const rb_body_t *b,
          zmsg_t **m)
{
    rb_db__job_start (self->job, h, b);
}

static const request_t s_requests[] = {
    {RB_T_GET, ANY_ROLE, s_get_fn},
    {RB_T_GETS, ANY_ROLE, s_get_fn},
    {RB_T_ORDER, ROLE (RB_ROLE_OPS), s_order_fn},
    {RB_T_DIFF, ROLE (RB_ROLE_OPS), s_diff_fn},
    {RB_T_RECOVERY_LIST, ROLE (RB_ROLE_OPS), s_list_fn},
    {RB_T_RECOVERY_END, ROLE (RB_ROLE_OPS), s_end_fn},
    {RB_T_STATUS, ANY_ROLE, s_status_fn},
    {RB_T_BACKUP, ROLE (RB_ROLE_OPS), s_job_fn},
    {RB_T_RESTORE, ROLE (RB_ROLE_OPS), s_job_fn},
};
#define REQUESTS (sizeof s_requests / sizeof s_requests[0])

static const request_t *
s_request (int type)
{
    for (size_t i = 0; i < REQUESTS; i++)
        if (s_requests[i].type == type)
            return &s_requests[i];
    return NULL;
}

/*  "X is for the ops role, not service" (the allowed roles by name). */
static void
s_forbidden (rb_bus_t *bus, const rb_header_t *h, uint32_t roles)
{
    char allowed[64] = "";
    size_t used = 0;
    for (int r = 1; r <= RB_ROLE_MAX_ && used < sizeof allowed; r++)
        if (roles & ROLE (r))
            used +=
                (size_t) snprintf (allowed + used, sizeof allowed - used,
                                   "%s%s", used ? "/" : "", rb_role_name (r));
    char text[128];
    snprintf (text, sizeof text, "%s is for the %s role, not %s",
              rb_type_name (h->type), allowed, rb_role_name (h->role));
    rb_bus_error (bus, h, RB_S_FORBIDDEN, text);
}

/*  "the db service answers GET, ORDER, ..." from the table. */
static void
s_unknown (rb_bus_t *bus, const rb_header_t *h)
{
    char text[256] = "the db service answers";
    size_t used = strlen (text);
    for (size_t i = 0; i < REQUESTS && used < sizeof text; i++)
        used +=
            (size_t) snprintf (text + used, sizeof text - used, "%s %s",
                               i ? "," : "", rb_type_name (s_requests[i].type));
    rb_bus_error (bus, h, RB_S_BAD_REQUEST, text);
}

/*  A request came in on the bus: its row in the table says who may send
    it and what does it.  */
static void
s_on_request (rb_bus_t *bus, const rb_header_t *h, const rb_body_t *b,
              zmsg_t **msg_p, void *arg)
{
    rb_db_requests_t *self = (rb_db_requests_t *) arg;
    const request_t *r = s_request (h->type);
    if (!r)
        s_unknown (bus, h);
    else if (h->role > RB_ROLE_MAX_ || !(r->roles & ROLE (h->role)))
        s_forbidden (bus, h, r->roles);
    else
        r->fn (self, h, b, msg_p);
}

/*  --- the requests' owner ------------------------------------------------- */

rb_db_requests_t *
rb_db__requests_new (const rb_db_opts_t *opts, rb_bus_t *bus, rb_store_t *store,
                     rb_db_view_t *view, rb_db_job_t *job)
{
    rb_db_requests_t *self = (rb_db_requests_t *) calloc (1, sizeof *self);
    assert (self);
    self->opts = opts;
    self->bus = bus;
    self->store = store;
    self->view = view;
    self->job = job;
    self->batch = rb_batch_new ();
    self->list = rb_db__list_new (opts, bus, store, view);
    rb_bus_on_request (bus, s_on_request, self);
    self->reads = rb_db__reads_new (opts, bus, store, view);
    rb_bus_on_idle (bus, s_on_idle, self);
    return self;
}

void
rb_db__requests_destroy (rb_db_requests_t **self_p)
{
    rb_db_requests_t *self = *self_p;
    if (!self)
        return;
    rb_db__reads_destroy (&self->reads);
    rb_batch_destroy (&self->batch);
    rb_db__list_destroy (&self->list);
    free (self->part);
    free (self->call_part);
    free (self->global);
    free (self);
    *self_p = NULL;
}
