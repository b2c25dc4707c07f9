/*  rb_db_reads: the DB node's read path, GET and GETS.

    Reads are collected while a burst of messages arrives and go to Redis
    when the bus is idle (rb_db__reads_flush): one pipeline of GET script
    calls, each reading the keys of whole requests, up to
    RB_GETS_PER_CALL keys (a GETS of more keys has a call of its own).
    Lua's cost is per call, not per key, so a burst pays it once per
    call; and a GETS is answered from one call, so all its records come
    from one atomic read at one epoch. A GET is answered DATA, a GETS
    RECORDS, in the order of its keys.

    Registering the asking service node (SADD and EXPIRE of the key's
    fetcher set) made every read a write. The node now remembers, for a
    while, the (service node, key) pairs a call of its own registered in
    a set that only expires (the memo), and tells the script to skip
    them; the script still registers if the epoch moved meanwhile. The
    memo holds a pair for a tenth of fetch-ttl from before the call that
    registered it, so the registration outlives any read it lets skip by
    nine tenths of fetch-ttl (a service's cache-ttl must stay below that).
    It is emptied when the epoch changes, when the Redis connection is
    made again (a restarted Redis may have lost the sets), when a read is
    refused (FLUSHALL, a restore) and when it is full.  */
#include "rb_db_int.h"

#include <assert.h>
#include <stdlib.h>
#include <string.h>

/*  Keys one GET script call reads at most (but a GETS is never split):
    Redis is held for well under a millisecond.  */
#define RB_GETS_PER_CALL 128
/*  Value bytes in one RECORDS answer at most (max-value may be up to
    16 MiB): a GETS past it is answered bad_request, and its asker asks
    the keys one by one.  */
#define RB_RECORDS_BYTES (8u << 20)
/*  Pairs the memo holds at most (about 100 bytes each).  */
#define RB_MEMO_MAX 65536

/*  A GET or GETS waiting for the next pipeline; its keys are
    keys[first .. first + n - 1].  */
typedef struct {
    zmsg_t *msg;        /* owns the bytes its keys point into */
    rb_header_t header; /* to answer */
    bool multi;         /* GETS: answer RECORDS, else DATA */
    uint32_t first, n;
} rb_read_t;

struct rb_db_reads {
    const rb_db_opts_t *opts; /* the node's (borrowed) */
    rb_bus_t *bus;            /* answers go out (borrowed) */
    rb_store_t *store;        /* Redis (borrowed) */
    rb_db_view_t *view;       /* dataset, epoch (borrowed) */
    rb_read_t *reads;         /* collected since the last flush */
    uint32_t n_reads, cap_reads;
    rb_str_t *keys; /* every key of reads, in order */
    uint32_t n_keys, cap_keys;
    rb_db_read_counts_t counts;
    zhashx_t *memo;         /* "node key" -> when it ends (zclock_mono ms) */
    uint64_t memo_epoch;    /* the epoch its pairs were registered in */
    uint64_t memo_connects; /* and the store's connection */
    bool *known;            /* per key of the flush: in the memo */
    uint32_t cap_known;
};

/*  The code and text to answer when a script refused with word:
    unavailable for needs_restore / foreign / restoring, wrong_state
    otherwise.  */
static int
s_refusal (const char *word, const char **text)
{
    if (streq (word, "needs_restore")) {
        *text = "no dataset in Redis: needs restore";
        return RB_S_UNAVAILABLE;
    }
    if (streq (word, "foreign")) {
        *text = "Redis holds another dataset: needs restore";
        return RB_S_UNAVAILABLE;
    }
    if (streq (word, "restoring")) {
        *text = "restoring";
        return RB_S_UNAVAILABLE;
    }
    *text = word;
    return RB_S_WRONG_STATE;
}

void
rb_db__refuse (rb_bus_t *bus, rb_store_t *store, rb_db_view_t *view,
               const char *name, const rb_header_t *h, const char *what,
               const redisReply *reply, const char *word)
{
    const char *error = rb_reply_error (reply);
    char unexpected[64];
    const char *text = unexpected;
    int code = RB_S_INTERNAL;
    if (!reply) {
        code = RB_S_UNAVAILABLE;
        text = rb_store_errstr (store);
    } else if (error) {
        text = error;
        zsys_error ("db %s: Redis error: %s", name, error);
    } else if (!word[0]) {
        snprintf (unexpected, sizeof unexpected,
                  "unexpected %s reply from Redis", what);
        zsys_error ("db %s: %s", name, unexpected);
    } else {
        code = s_refusal (word, &text);
        rb_db__view_saw_state (view, word);
    }
    rb_bus_error (bus, h, code, text);
}

rb_db_reads_t *
rb_db__reads_new (const rb_db_opts_t *opts, rb_bus_t *bus, rb_store_t *store,
                  rb_db_view_t *view)
{
    rb_db_reads_t *self = (rb_db_reads_t *) calloc (1, sizeof *self);
    assert (self);
    self->opts = opts;
    self->bus = bus;
    self->store = store;
    self->view = view;
    self->memo = zhashx_new ();
    return self;
}

void
rb_db__reads_destroy (rb_db_reads_t **self_p)
{
    rb_db_reads_t *self = *self_p;
    if (!self)
        return;
    for (uint32_t i = 0; i < self->n_reads; i++)
        zmsg_destroy (&self->reads[i].msg);
    free (self->reads);
    free (self->keys);
    free (self->known);
    zhashx_destroy (&self->memo);
    free (self);
    *self_p = NULL;
}

const rb_db_read_counts_t *
rb_db__reads_counts (rb_db_reads_t *self)
{
    return &self->counts;
}

/*  Grows an array of *cap elements of size bytes to hold n. */
static void *
s_grow (void *array, uint32_t *cap, uint32_t n, size_t size)
{
    if (n <= *cap)
        return array;
    uint32_t grown = *cap ? *cap : 64;
    while (grown < n)
        grown *= 2;
    array = realloc (array, grown * size);
    assert (array);
    *cap = grown;
    return array;
}

void
rb_db__reads_add (rb_db_reads_t *self, const rb_header_t *h, const rb_body_t *b,
                  zmsg_t **msg_p)
{
    bool multi = b->type == RB_T_GETS;
    uint32_t n = multi ? b->n_keys : 1;
    assert (n >= 1 && n <= RB_GETS_MAX); /* the decoder's bounds */
    self->reads = (rb_read_t *) s_grow (self->reads, &self->cap_reads,
                                        self->n_reads + 1, sizeof (rb_read_t));
    self->keys = (rb_str_t *) s_grow (self->keys, &self->cap_keys,
                                      self->n_keys + n, sizeof (rb_str_t));
    rb_read_t *r = &self->reads[self->n_reads++];
    r->msg = *msg_p; /* keep the frame the keys point into */
    *msg_p = NULL;
    r->header = *h;
    r->multi = multi;
    r->first = self->n_keys;
    r->n = n;
    if (multi)
        memcpy (&self->keys[self->n_keys], b->keys, n * sizeof (rb_str_t));
    else
        self->keys[self->n_keys] = b->key;
    self->n_keys += n;
}

/*  "node key" into buf (a space is in neither).  */
static void
s_pair (char *buf, size_t cap, const char *node, rb_str_t key)
{
    size_t n = strlen (node);
    assert (n + 1 + key.len < cap);
    memcpy (buf, node, n);
    buf[n] = ' ';
    memcpy (buf + n + 1, key.ptr, key.len);
    buf[n + 1 + key.len] = '\0';
}

/*  Empties the memo if what it knew may be gone; marks in known[] each
    key whose pair it holds (and is not past its end).  */
static void
s_memo_check (rb_db_reads_t *self, int64_t now)
{
    uint64_t epoch = rb_db__view_epoch (self->view);
    uint64_t connects = rb_store_connects (self->store);
    if (epoch != self->memo_epoch || connects != self->memo_connects ||
        zhashx_size (self->memo) >= RB_MEMO_MAX) {
        zhashx_purge (self->memo);
        self->memo_epoch = epoch;
        self->memo_connects = connects;
    }
    self->known = (bool *) s_grow (self->known, &self->cap_known, self->n_keys,
                                   sizeof (bool));
    char pair[2 * RB_NAME_MAX + 2];
    for (uint32_t i = 0; i < self->n_reads; i++) {
        rb_read_t *r = &self->reads[i];
        for (uint32_t k = r->first; k < r->first + r->n; k++) {
            self->known[k] = false;
            if (r->header.role != RB_ROLE_SERVICE)
                continue;
            s_pair (pair, sizeof pair, r->header.sender, self->keys[k]);
            int64_t end = (int64_t) (intptr_t) zhashx_lookup (self->memo, pair);
            self->known[k] = end > now;
        }
    }
}

/*  After a call read on the connection the memo is for: remembers the
    pairs it registered, until start (before the call) + a tenth of
    fetch-ttl.  */
static void
s_memo_add (rb_db_reads_t *self, const rb_read_t *r, const rb_get_reply_t *reps,
            int64_t start)
{
    if (r->header.role != RB_ROLE_SERVICE ||
        rb_store_connects (self->store) != self->memo_connects ||
        reps[0].epoch != self->memo_epoch)
        return;
    int64_t end = start + (int64_t) self->opts->fetch_ttl_s * 100;
    char pair[2 * RB_NAME_MAX + 2];
    for (uint32_t i = 0; i < r->n; i++) {
        if (!reps[i].registered)
            continue;
        s_pair (pair, sizeof pair, r->header.sender, self->keys[r->first + i]);
        zhashx_update (self->memo, pair, (void *) (intptr_t) end);
    }
}

/*  One script call: reads [first_read, end_read) and their keys. */
typedef struct {
    uint32_t first_read, end_read;
    uint32_t first_key, n_keys;
} rb_chunk_t;

/*  Cuts the reads into calls of at most RB_GETS_PER_CALL keys, a read
    never split; returns how many (chunks holds n_reads at most).  */
static uint32_t
s_chunk (rb_db_reads_t *self, rb_chunk_t *chunks)
{
    uint32_t n = 0;
    for (uint32_t i = 0; i < self->n_reads; i++) {
        rb_read_t *r = &self->reads[i];
        rb_chunk_t *c = n ? &chunks[n - 1] : NULL;
        if (!c || c->n_keys + r->n > RB_GETS_PER_CALL) {
            c = &chunks[n++];
            *c = (rb_chunk_t){i, i, r->first, 0};
        }
        c->end_read = i + 1;
        c->n_keys += r->n;
    }
    return n;
}

/*  Answers a GET (DATA) or a GETS (RECORDS) from reps, its keys' reads;
    reply is the script's, for what to say if it refused.  */
static void
s_answer (rb_db_reads_t *self, rb_read_t *r, const rb_get_reply_t *reps,
          const redisReply *reply)
{
    if (strcmp (reps[0].word, "ok") != 0) {
        zhashx_purge (self->memo); /* FLUSHALL, a restore ...: start over */
        self->counts.refused++;
        rb_db__refuse (self->bus, self->store, self->view, self->opts->name,
                       &r->header, r->multi ? "GETS" : "GET", reply,
                       reps[0].word);
        return;
    }
    size_t bytes = 0;
    for (uint32_t i = 0; i < r->n; i++)
        bytes += reps[i].value_len;
    if (r->multi && bytes > RB_RECORDS_BYTES) {
        self->counts.refused++;
        rb_bus_error (self->bus, &r->header, RB_S_BAD_REQUEST,
                      "GETS answer over 8 MiB: ask fewer keys");
        return;
    }
    rb_body_t d;
    rb_record_t records[RB_GETS_MAX];
    rb_body_init (&d, r->multi ? RB_T_RECORDS : RB_T_DATA);
    for (uint32_t i = 0; i < r->n; i++) {
        const rb_get_reply_t *rep = &reps[i];
        records[i] = (rb_record_t){self->keys[r->first + i], rep->found,
                                   rb_strn (rep->value, rep->value_len),
                                   rep->seq, rep->recovering};
        self->counts.flagged += rep->recovering;
    }
    self->counts.gets += r->n;
    d.epoch = reps[0].epoch;
    rb_db__view_saw_epoch (self->view, d.epoch);
    if (r->multi) {
        d.recs = records;
        d.n_recs = r->n;
    } else {
        d.key = records[0].key;
        d.has_value = records[0].has_value;
        d.value = records[0].value;
        d.seq = records[0].seq;
        d.recovering = records[0].recovering;
    }
    rb_bus_reply (self->bus, &r->header, &d);
}

void
rb_db__reads_flush (rb_db_reads_t *self)
{
    if (self->n_reads == 0)
        return;
    char ds[64], ttl[16], cap[16];
    rb_db__view_arg (self->view, ds, sizeof ds);
    snprintf (ttl, sizeof ttl, "%d", self->opts->fetch_ttl_s);
    snprintf (cap, sizeof cap, "%d", self->opts->fetch_cap);
    int64_t start = zclock_mono ();
    rb_store_connect (self->store); /* so the memo knows which connection */
    s_memo_check (self, start);
    rb_chunk_t *chunks =
        (rb_chunk_t *) calloc (self->n_reads, sizeof (rb_chunk_t));
    uint32_t n_calls = s_chunk (self, chunks);
    size_t n_args = 3 * (size_t) n_calls + 3 * (size_t) self->n_keys;
    rb_call_t *calls = (rb_call_t *) calloc (n_calls, sizeof (rb_call_t));
    const char **argv = (const char **) calloc (n_args, sizeof (char *));
    size_t *lens = (size_t *) calloc (n_args, sizeof (size_t));
    rb_get_reply_t *reps =
        (rb_get_reply_t *) calloc (self->n_keys, sizeof (rb_get_reply_t));
    assert (chunks && calls && argv && lens && reps);
    const char **a = argv;
    size_t *l = lens;
    for (uint32_t c = 0; c < n_calls; c++) {
        calls[c] = (rb_call_t){RB_SCRIPT_GET, 3 + 3 * (int) chunks[c].n_keys, a,
                               l, NULL};
        a[0] = ds, l[0] = strlen (ds);
        a[1] = ttl, l[1] = strlen (ttl);
        a[2] = cap, l[2] = strlen (cap);
        a += 3, l += 3;
        for (uint32_t i = chunks[c].first_read; i < chunks[c].end_read; i++) {
            rb_read_t *r = &self->reads[i];
            /* only service nodes get UPDATE and RECOVERED pushes */
            const char *node =
                r->header.role == RB_ROLE_SERVICE ? r->header.sender : "";
            for (uint32_t k = r->first; k < r->first + r->n; k++) {
                a[0] = node, l[0] = strlen (node);
                a[1] = self->keys[k].ptr, l[1] = self->keys[k].len;
                a[2] = self->known[k] ? "1" : "0", l[2] = 1;
                a += 3, l += 3;
            }
        }
    }
    int rc = rb_store_run (self->store, calls, (int) n_calls);
    for (uint32_t c = 0; c < n_calls; c++) {
        /* no reply at all (rc): every item's word is "", which answers
           unavailable with the store's error */
        if (rc == 0)
            rb_get_reply_parse (calls[c].reply, chunks[c].n_keys,
                                &reps[chunks[c].first_key]);
        for (uint32_t i = chunks[c].first_read; i < chunks[c].end_read; i++) {
            rb_read_t *r = &self->reads[i];
            s_answer (self, r, &reps[r->first], calls[c].reply);
            if (rc == 0 && strcmp (reps[r->first].word, "ok") == 0)
                s_memo_add (self, r, &reps[r->first], start);
            zmsg_destroy (&r->msg);
        }
    }
    rb_store_free_replies (calls, (int) n_calls);
    self->n_reads = 0;
    self->n_keys = 0;
    free (chunks);
    free (calls);
    free (argv);
    free (lens);
    free (reps);
}
