/*  rb_db_list: the recovery list and its end, RECOVERY_LIST and
    RECOVERY_END (docs/db.md, "Scripts": FLAG, END).

    On one Redis a batch is one MULTI/EXEC (FLAG_OPEN, a plain HSET of
    the targets, FLAG_CLOSE) appended to the connection, and read back
    once the next batch has gone out, so Redis works on one while the
    next is decoded and written; rb_db__list_read reads a batch still in
    flight, and the node calls it before anything else uses Redis. On a
    cluster a batch is one FLAG call per partition it lists keys of (the
    last batch: every partition), one pipeline, answered at once. END
    runs on every partition.  */
#include "rb_db_int.h"
#include "rb_encode.h"
#include "rb_parts.h"

#include <assert.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

struct rb_db_list {
    const rb_db_opts_t *opts; /* the node's (borrowed) */
    rb_bus_t *bus;            /* answers and RECOVERED pushes (borrowed) */
    rb_store_t *store;        /* Redis (borrowed) */
    rb_db_view_t *view;       /* dataset, epoch, state (borrowed) */
    rb_batch_t *batch;        /* a cluster batch's calls, END's */
    rb_resp_t list_cmd;       /* one Redis: a batch's MULTI/EXEC */
    struct {
        bool waiting;  /* a batch is in Redis, its replies unread */
        rb_header_t h; /* the request it answers */
        uint32_t n;    /* keys it listed */
    } list;
    uint32_t *part; /* per entry of a batch: its partition */
    uint32_t cap;   /* entries part holds */
    uint64_t n_refused;
};

/*  Answers a script call that did not go through (rb_db__refuse), and
    counts it.  */
static void
s_refuse (rb_db_list_t *self, const rb_header_t *h, const char *what,
          const redisReply *reply, const char *word)
{
    self->n_refused++;
    rb_db__refuse (self->bus, self->store, self->view, self->opts->name, h,
                   what, reply, word);
}

/*  Room for n entries in part. */
static void
s_reserve (rb_db_list_t *self, uint32_t n)
{
    if (n <= self->cap)
        return;
    self->cap = n;
    self->part = (uint32_t *) realloc (self->part, n * sizeof (uint32_t));
    assert (self->part);
}

/*  Answers a recovery-list batch from its calls' FLAG replies (reps,
    calls of them; rc the run's): the ACK and the RECOVERED pushes they
    list, or the refusal.  */
static void
s_list_answer (rb_db_list_t *self, const rb_header_t *h, rb_flag_reply_t *reps,
               int calls, int bad, int rc, const redisReply *bad_reply)
{
    if (rc == 0 && bad < 0) {
        rb_body_t ack;
        rb_body_init (&ack, RB_T_ACK);
        for (int c = 0; c < calls; c++) {
            ack.flagged += reps[c].flagged;
            ack.current += reps[c].current;
        }
        rb_bus_reply (self->bus, h, &ack);
        for (int c = 0; c < calls; c++)
            for (size_t i = 0; i < reps[c].n_recovered; i++) {
                const rb_flag_recovered_t *x = &reps[c].recovered[i];
                rb_body_t push;
                rb_body_init (&push, RB_T_RECOVERED);
                push.key = rb_strn (x->key, x->key_len);
                rb_bus_push (self->bus, RB_ADDR_NODE, x->node, &push);
            }
    } else
        s_refuse (self, h, "FLAG", rc ? NULL : bad_reply,
                  rc ? "" : reps[bad < 0 ? 0 : bad].word);
}

/*  One Redis: appends a recovery-list batch as one MULTI/EXEC:
    FLAG_OPEN, HSET rb:{0}:rec KEY TARGET ... (when the batch lists
    keys), FLAG_CLOSE (rb_scripts.c: plain writes, no Lua between the
    targets and Redis; a refused batch changes nothing). The scripts go
    as EVAL: inside MULTI a missing script (EVALSHA's NOSCRIPT) would
    leave the HSET unguarded. 0, or -1 when Redis cannot be reached.  */
static int
s_list_send (rb_db_list_t *self, const rb_body_t *b)
{
    char ds[64];
    rb_db__view_arg (self->view, ds, sizeof ds);
    const char *open = rb_script_source (RB_SCRIPT_FLAG_OPEN);
    const char *close = rb_script_source (RB_SCRIPT_FLAG_CLOSE);
    uint32_t n = b->n_entries;
    rb_resp_t *q = &self->list_cmd;
    q->len = 0;
    rb_resp_array (q, 1);
    rb_resp_bulk (q, "MULTI", 5);
    rb_resp_array (q, 8);
    rb_resp_bulk (q, "EVAL", 4);
    rb_resp_bulk (q, open, strlen (open));
    rb_resp_bulk (q, "4", 1);
    rb_resp_bulk (q, "rb:{0}:meta", 11);
    rb_resp_bulk (q, "rb:{0}:stable", 13);
    rb_resp_bulk (q, "rb:{0}:rec", 10);
    rb_resp_bulk (q, "rb:{0}:rec:held", 15);
    rb_resp_bulk (q, ds, strlen (ds));
    if (n) {
        rb_resp_array (q, 2 + 2 * (size_t) n);
        rb_resp_bulk (q, "HSET", 4);
        rb_resp_bulk (q, "rb:{0}:rec", 10);
        for (uint32_t i = 0; i < n; i++) {
            rb_resp_bulk (q, b->entries[i].key.ptr, b->entries[i].key.len);
            rb_resp_uint (q, b->entries[i].target);
        }
    }
    rb_resp_array (q, 11);
    rb_resp_bulk (q, "EVAL", 4);
    rb_resp_bulk (q, close, strlen (close));
    rb_resp_bulk (q, "5", 1);
    rb_resp_bulk (q, "rb:{0}:meta", 11);
    rb_resp_bulk (q, "rb:{0}:stable", 13);
    rb_resp_bulk (q, "rb:{0}:rec", 10);
    rb_resp_bulk (q, "rb:{0}:polled", 13);
    rb_resp_bulk (q, "rb:{0}:rec:held", 15);
    rb_resp_bulk (q, ds, strlen (ds));
    rb_resp_bulk (q, b->last ? "1" : "0", 1);
    rb_resp_uint (q, n);
    rb_resp_array (q, 1);
    rb_resp_bulk (q, "EXEC", 4);
    return rb_store_append_resp (self->store, q->data, q->len);
}

/*  One Redis: answers the batch of h from EXEC's reply (NULL: no reply).
    EXEC's replies are FLAG_OPEN's, HSET's (when keys were listed),
    FLAG_CLOSE's; anything else (EXECABORT ...) goes to the parser as it
    is.  */
static void
s_list_exec_answer (rb_db_list_t *self, const rb_header_t *h, uint32_t n,
                    const redisReply *exec)
{
    const redisReply *r = exec;
    if (exec && exec->type == REDIS_REPLY_ARRAY &&
        exec->elements == (n ? 3u : 2u))
        r = exec->element[exec->elements - 1];
    rb_flag_reply_t rep;
    int bad = rb_flag_reply_parse (r, &rep) ? 0 : -1;
    s_list_answer (self, h, &rep, 1, bad, exec ? 0 : -1, r);
    rb_flag_reply_release (&rep);
}

/*  One Redis: reads the replies of the batch in flight, if any, and
    answers it.  */
void
rb_db__list_read (rb_db_list_t *self)
{
    if (!self->list.waiting)
        return;
    self->list.waiting = false;
    int replies = self->list.n ? 5 : 4; /* +OK, a +QUEUED each, EXEC's */
    redisReply *r = NULL;
    for (int i = 0; i < replies; i++) {
        freeReplyObject (r);
        if (!(r = rb_store_next_reply (self->store)))
            break;
    }
    s_list_exec_answer (self, &self->list.h, self->list.n, r);
    freeReplyObject (r);
}

/*  One Redis: a batch goes out, and the one before it (if any) is read:
    Redis works on each while the next is decoded and written. The last
    one is read when the bus is idle, or before anything else uses
    Redis.  */
static void
s_on_list_pipelined (rb_db_list_t *self, const rb_header_t *h,
                     const rb_body_t *b)
{
    bool sent = s_list_send (self, b) == 0;
    rb_db__list_read (self);
    if (sent && rb_store_connected (self->store)) {
        self->list.waiting = true;
        self->list.h = *h;
        self->list.n = b->n_entries;
    } else /* not sent, or gone with the connection the one before broke */
        s_list_exec_answer (self, h, b->n_entries, NULL);
}

/*  A recovery-list batch on a cluster: one FLAG call per partition it
    lists keys of (the last batch: every partition, which marks the list
    complete everywhere), one pipeline; then the ACK and the RECOVERED
    pushes the calls list, or the refusal (a partition that refused
    wrote nothing; targets the others wrote are written again by the
    batch's re-send). On one Redis, the MULTI/EXEC above.  */
void
rb_db__list_batch (rb_db_list_t *self, const rb_header_t *h, const rb_body_t *b)
{
    if (rb_parts_count (self->store) == 1) {
        s_on_list_pipelined (self, h, b);
        return;
    }
    static const char *const sets[] = {"rec", "polled", NULL};
    char ds[64];
    rb_db__view_arg (self->view, ds, sizeof ds);
    int parts = rb_parts_count (self->store);
    uint32_t n = b->n_entries;
    s_reserve (self, n ? n : 1);
    for (uint32_t i = 0; i < n; i++)
        self->part[i] = (uint32_t) rb_part_of (parts, b->entries[i].key.ptr,
                                               b->entries[i].key.len);
    rb_batch_reset (self->batch);
    for (int p = 0; p < parts; p++) {
        bool any = b->last;
        for (uint32_t i = 0; i < n && !any; i++)
            any = self->part[i] == (uint32_t) p;
        if (!any)
            continue;
        rb_batch_part_call (self->batch, RB_SCRIPT_FLAG, p, sets);
        rb_batch_str (self->batch, ds);
        rb_batch_str (self->batch, b->last ? "1" : "0");
        for (uint32_t i = 0; i < n; i++) {
            if (self->part[i] != (uint32_t) p)
                continue;
            rb_batch_arg (self->batch, b->entries[i].key.ptr,
                          b->entries[i].key.len);
            rb_batch_u64 (self->batch, b->entries[i].target);
        }
    }
    int calls = rb_batch_size (self->batch);
    int rc = rb_batch_run (self->batch, self->store);
    rb_flag_reply_t *reps =
        (rb_flag_reply_t *) calloc ((size_t) calls + 1, sizeof *reps);
    assert (reps);
    int bad = -1;
    for (int c = 0; c < calls; c++)
        if (rb_flag_reply_parse (rb_batch_reply (self->batch, c), &reps[c]) &&
            bad < 0)
            bad = c;
    s_list_answer (self, h, reps, calls, bad, rc,
                   rc ? NULL : rb_batch_reply (self->batch, bad < 0 ? 0 : bad));
    for (int c = 0; c < calls; c++)
        rb_flag_reply_release (&reps[c]);
    free (reps);
    rb_batch_reset (self->batch);
}

/*  RECOVERY_END: END on every partition; the dataset is normal when
    every partition is.  */
void
rb_db__list_end (rb_db_list_t *self, const rb_header_t *h)
{
    static const char *const keys[] = {"meta", "stable", "rec", "polled"};
    char ds[64];
    rb_db__list_read (self);
    rb_db__view_arg (self->view, ds, sizeof ds);
    const char *argv[] = {ds};
    int parts = rb_parts_count (self->store);
    int rc = rb_batch_all (self->batch, self->store, parts, RB_SCRIPT_END, keys,
                           4, 1, argv);
    uint64_t left = 0;
    int bad = -1;
    bool list_incomplete = false;
    rb_end_reply_t rep, first_bad = {0};
    for (int p = 0; rc == 0 && p < parts; p++) {
        int prc = rb_end_reply_parse (rb_batch_reply (self->batch, p), &rep);
        if (prc == -1 && streq (rep.word, "incomplete"))
            left += rep.left;
        else if (prc == -1 && streq (rep.word, "list_incomplete"))
            list_incomplete = true;
        else if (prc != 0 && bad < 0) {
            bad = p;
            first_bad = rep;
        }
    }
    if (rc || bad >= 0)
        s_refuse (self, h, "END", rc ? NULL : rb_batch_reply (self->batch, bad),
                  rc ? "" : first_bad.word);
    else if (list_incomplete)
        rb_bus_error (self->bus, h, RB_S_INCOMPLETE,
                      "the recovery list's last batch has not arrived");
    else if (left) {
        char text[96];
        snprintf (text, sizeof text, "%" PRIu64 " key(s) still recovering",
                  left);
        rb_bus_error (self->bus, h, RB_S_INCOMPLETE, text);
    } else {
        rb_body_t ack;
        rb_body_init (&ack, RB_T_ACK);
        rb_db__view_saw_state (self->view, "normal");
        /* END ok on every partition: each normal at an epoch at least
           the node's (the prologue), those at its epoch normal */
        rb_db__view_saw_normal (self->view, rb_db__view_epoch (self->view));
        rb_bus_reply (self->bus, h, &ack);
    }
    rb_batch_reset (self->batch);
}

rb_db_list_t *
rb_db__list_new (const rb_db_opts_t *opts, rb_bus_t *bus, rb_store_t *store,
                 rb_db_view_t *view)
{
    rb_db_list_t *self = (rb_db_list_t *) calloc (1, sizeof *self);
    assert (self);
    self->opts = opts;
    self->bus = bus;
    self->store = store;
    self->view = view;
    self->batch = rb_batch_new ();
    return self;
}

void
rb_db__list_destroy (rb_db_list_t **self_p)
{
    rb_db_list_t *self = *self_p;
    if (!self)
        return;
    rb_batch_destroy (&self->batch);
    rb_resp_free (&self->list_cmd);
    free (self->part);
    free (self);
    *self_p = NULL;
}

uint64_t
rb_db__list_refused (rb_db_list_t *self)
{
    return self->n_refused;
}
