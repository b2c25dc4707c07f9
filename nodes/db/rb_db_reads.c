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

/*  A read is done by a plain HMGET per key, no script, when nothing the
    script does is needed: the dataset was normal when last seen (no
    flag to read) and no registration is due (every key's pair is in the
    memo, or the asker is not a service node).  */
static bool
s_plain_ok (rb_db_reads_t *self, const rb_read_t *r)
{
    if (rb_db__view_state (self->view) != RB_DB_NORMAL ||
        !rb_db__view_dataset (self->view)[0])
        return false;
    for (uint32_t k = r->first; k < r->first + r->n; k++)
        if (r->header.role == RB_ROLE_SERVICE && !self->known[k])
            return false;
    return true;
}

/*  One round trip's worth of work: a script call, or a plain read of
    some keys bracketed by two reads of the dataset's state. Its reads
    are order[first .. end - 1] (indices into reads); its calls
    calls[first_call ..].  */
typedef struct {
    bool plain;
    uint32_t first, end;
    uint32_t n_keys;
    uint32_t first_call, n_calls;
} rb_chunk_t;

/*  The buffers of one round. */
typedef struct {
    uint32_t *order; /* read indices, the chunks' reads in turn */
    rb_chunk_t *chunks;
    uint32_t n_chunks;
    rb_call_t *calls;
    uint32_t n_calls;
    const char **argv;
    size_t *lens;
    char (*names)[6 + RB_KEY_MAX]; /* "rb:r:KEY" per key of plain reads */
} rb_round_t;

/*  Cuts the reads whose state is want (plain or not) into chunks of at
    most RB_GETS_PER_CALL keys, a read never split.  */
static void
s_chunk (rb_db_reads_t *self, rb_round_t *rd, const uint8_t *state,
         uint8_t want, uint32_t *n_order)
{
    rb_chunk_t *c = NULL;
    for (uint32_t i = 0; i < self->n_reads; i++) {
        if (state[i] != want)
            continue;
        rb_read_t *r = &self->reads[i];
        if (!c || c->n_keys + r->n > RB_GETS_PER_CALL) {
            c = &rd->chunks[rd->n_chunks++];
            *c = (rb_chunk_t){want == 1, *n_order, *n_order, 0, 0, 0};
        }
        rd->order[(*n_order)++] = i;
        c->end = *n_order;
        c->n_keys += r->n;
    }
}

/*  Answers a GET (DATA) or a GETS (RECORDS) from reps, its keys' reads;
    reply is the script's, for what to say if it refused.  */
static void
s_answer (rb_db_reads_t *self, rb_read_t *r, const rb_get_reply_t *reps,
          const redisReply *reply)
{
    for (uint32_t i = 0; i < r->n; i++) {
        if (strcmp (reps[i].word, "ok") == 0)
            continue;
        zhashx_purge (self->memo); /* FLUSHALL, a restore ...: start over */
        self->counts.refused++;
        rb_db__refuse (self->bus, self->store, self->view, self->opts->name,
                       &r->header, r->multi ? "GETS" : "GET", reply,
                       reps[i].word);
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

/*  What each read collected is at in a flush. */
enum { RB_READ_LUA, RB_READ_PLAIN, RB_READ_DONE };

/*  "HMGET rb:meta dataset epoch state": the plain reads' brackets. */
static const char *s_meta_argv[] = {"HMGET", "rb:meta", RB_META_FIELDS};
static const size_t s_meta_lens[] = {5, 7, 7, 5, 5};

/*  Fills rd's calls for its chunks: a script call per script chunk (its
    first arguments ds, ttl and cap: they must outlive the run), and for
    a plain chunk the meta read, an HMGET per key, the meta read.  */
static void
s_build (rb_db_reads_t *self, rb_round_t *rd, const char *ds, const char *ttl,
         const char *cap)
{
    const char **a = rd->argv;
    size_t *l = rd->lens;
    uint32_t name = 0;
    for (uint32_t c = 0; c < rd->n_chunks; c++) {
        rb_chunk_t *ch = &rd->chunks[c];
        ch->first_call = rd->n_calls;
        if (ch->plain)
            rd->calls[rd->n_calls++] =
                (rb_call_t){-1, 5, s_meta_argv, s_meta_lens, NULL, 0, 0};
        else {
            rd->calls[rd->n_calls++] = (rb_call_t){
                RB_SCRIPT_GET, 3 + 3 * (int) ch->n_keys, a, l, NULL, 0, 0};
            a[0] = ds, l[0] = strlen (ds);
            a[1] = ttl, l[1] = strlen (ttl);
            a[2] = cap, l[2] = strlen (cap);
            a += 3, l += 3;
        }
        for (uint32_t o = ch->first; o < ch->end; o++) {
            rb_read_t *r = &self->reads[rd->order[o]];
            /* only service nodes get UPDATE and RECOVERED pushes */
            const char *node =
                r->header.role == RB_ROLE_SERVICE ? r->header.sender : "";
            for (uint32_t k = r->first; k < r->first + r->n; k++) {
                rb_str_t key = self->keys[k];
                if (!ch->plain) {
                    a[0] = node, l[0] = strlen (node);
                    a[1] = key.ptr, l[1] = key.len;
                    a[2] = self->known[k] ? "1" : "0", l[2] = 1;
                    a += 3, l += 3;
                    continue;
                }
                char *n = rd->names[name++];
                memcpy (n, "rb:r:", 5);
                memcpy (n + 5, key.ptr, key.len);
                rd->calls[rd->n_calls++] = (rb_call_t){-1, 5, a, l, NULL, 0, 0};
                a[0] = "HMGET", l[0] = 5;
                a[1] = n, l[1] = 5 + key.len;
                a[2] = "v", a[3] = "s", a[4] = "d";
                l[2] = l[3] = l[4] = 1;
                a += 5, l += 5;
            }
        }
        if (ch->plain)
            rd->calls[rd->n_calls++] =
                (rb_call_t){-1, 5, s_meta_argv, s_meta_lens, NULL, 0, 0};
        ch->n_calls = rd->n_calls - ch->first_call;
    }
}

/*  Reads of a chunk from its replies into reps (the chunk's keys in
    order). A plain chunk whose brackets do not both say the dataset and
    epoch in state normal read nothing usable: false, and its reads go
    by script in the next round. rc: the run's.  */
static bool
s_parse (rb_db_reads_t *self, const rb_round_t *rd, const rb_chunk_t *ch,
         int rc, rb_get_reply_t *reps)
{
    memset (reps, 0, ch->n_keys * sizeof *reps);
    if (rc)
        return true; /* no reply: every read refused (unavailable) */
    rb_call_t *calls = &rd->calls[ch->first_call];
    if (!ch->plain) {
        rb_get_reply_parse (calls[0].reply, ch->n_keys, reps);
        return true;
    }
    const char *id = rb_db__view_dataset (self->view);
    uint64_t epoch = self->memo_epoch;
    /* the state was normal at both ends and the epoch the same: normal
       all along (only a restore leaves normal, and it moves the epoch),
       so no key read between them was flagged */
    if (!rb_meta_reply_normal (calls[0].reply, id, epoch) ||
        !rb_meta_reply_normal (calls[ch->n_calls - 1].reply, id, epoch))
        return false;
    for (uint32_t k = 0; k < ch->n_keys; k++)
        rb_record_reply_parse (calls[1 + k].reply, epoch, &reps[k]);
    return true;
}

/*  One round trip: every read in state RB_READ_LUA or RB_READ_PLAIN.
    Each is answered (RB_READ_DONE), but for plain reads that found the
    state moved: those are left RB_READ_LUA for the next round.  */
static void
s_round (rb_db_reads_t *self, uint8_t *state, int64_t start)
{
    uint32_t n = self->n_reads, n_order = 0;
    rb_round_t rd = {0};
    rd.order = (uint32_t *) calloc (n, sizeof (uint32_t));
    rd.chunks = (rb_chunk_t *) calloc (2 * n, sizeof (rb_chunk_t));
    s_chunk (self, &rd, state, RB_READ_PLAIN, &n_order);
    s_chunk (self, &rd, state, RB_READ_LUA, &n_order);
    size_t calls = 0, args = 0, names = 0;
    for (uint32_t c = 0; c < rd.n_chunks; c++) {
        rb_chunk_t *ch = &rd.chunks[c];
        calls += ch->plain ? ch->n_keys + 2 : 1;
        args +=
            ch->plain ? 5 * (size_t) ch->n_keys : 3 + 3 * (size_t) ch->n_keys;
        names += ch->plain ? ch->n_keys : 0;
    }
    rd.calls = (rb_call_t *) calloc (calls, sizeof (rb_call_t));
    rd.argv = (const char **) calloc (args + 1, sizeof (char *));
    rd.lens = (size_t *) calloc (args + 1, sizeof (size_t));
    rd.names = calloc (names + 1, sizeof *rd.names);
    rb_get_reply_t *reps =
        (rb_get_reply_t *) calloc (RB_GETS_MAX, sizeof (rb_get_reply_t));
    assert (rd.order && rd.chunks && rd.calls && rd.argv && rd.lens &&
            rd.names && reps);
    /* the script calls' arguments point into these until the run is read */
    char ds[64], ttl[16], cap[16];
    rb_db__view_arg (self->view, ds, sizeof ds);
    snprintf (ttl, sizeof ttl, "%d", self->opts->fetch_ttl_s);
    snprintf (cap, sizeof cap, "%d", self->opts->fetch_cap);
    s_build (self, &rd, ds, ttl, cap);
    assert (rd.n_calls == calls);
    int rc = rb_store_run (self->store, rd.calls, (int) rd.n_calls);
    for (uint32_t c = 0; c < rd.n_chunks; c++) {
        rb_chunk_t *ch = &rd.chunks[c];
        bool usable = s_parse (self, &rd, ch, rc, reps);
        /* what a refusal names: the script's reply, or for plain reads
           one that is there (a record not understood: internal) */
        const redisReply *reply = rd.calls[ch->first_call].reply;
        uint32_t at = 0;
        for (uint32_t o = ch->first; o < ch->end; o++) {
            uint32_t i = rd.order[o];
            rb_read_t *r = &self->reads[i];
            if (!usable) {
                state[i] = RB_READ_LUA;
                continue;
            }
            s_answer (self, r, &reps[at], rc ? NULL : reply);
            if (rc == 0 && ch->plain)
                self->counts.plain += r->n;
            if (rc == 0 && !ch->plain && strcmp (reps[at].word, "ok") == 0)
                s_memo_add (self, r, &reps[at], start);
            at += r->n;
            state[i] = RB_READ_DONE;
            zmsg_destroy (&r->msg);
        }
    }
    rb_store_free_replies (rd.calls, (int) rd.n_calls);
    free (rd.order);
    free (rd.chunks);
    free (rd.calls);
    free (rd.argv);
    free (rd.lens);
    free (rd.names);
    free (reps);
}

void
rb_db__reads_flush (rb_db_reads_t *self)
{
    if (self->n_reads == 0)
        return;
    int64_t start = zclock_mono ();
    rb_store_connect (self->store); /* so the memo knows which connection */
    s_memo_check (self, start);
    uint8_t *state = (uint8_t *) calloc (self->n_reads, 1);
    assert (state);
    bool plain = false;
    for (uint32_t i = 0; i < self->n_reads; i++) {
        state[i] =
            s_plain_ok (self, &self->reads[i]) ? RB_READ_PLAIN : RB_READ_LUA;
        plain |= state[i] == RB_READ_PLAIN;
    }
    s_round (self, state, start);
    /* plain reads that found the state moved go by script now */
    bool again = false;
    for (uint32_t i = 0; plain && i < self->n_reads; i++)
        again |= state[i] != RB_READ_DONE;
    if (again)
        s_round (self, state, start);
    for (uint32_t i = 0; i < self->n_reads; i++)
        assert (state[i] == RB_READ_DONE);
    free (state);
    self->n_reads = 0;
    self->n_keys = 0;
}
