/*  rb_db_reads: the DB node's read path, GET and GETS.

    Reads are collected while a burst of messages arrives and go to Redis
    when the bus is idle (rb_db__reads_flush): one pipeline of GET script
    calls, each reading the keys of whole requests, up to
    RB_GETS_PER_CALL keys (a GETS of more keys has a call of its own).
    Lua's cost is per call, not per key, so a burst pays it once per
    call; and a GETS is answered from one call, so all its records come
    from one atomic read at one epoch. A GET is answered DATA, a GETS
    RECORDS, in the order of its keys. Every call reads one partition
    (rb_parts.h): on one Redis there is one, and nothing above changes;
    on a Redis Cluster the keys of a round are grouped by partition, a
    call per partition (up to RB_GETS_PER_CALL keys), and a GETS whose
    keys span partitions is read by one call in each, atomic per
    partition, and answered only if every one read it at the same
    epoch.

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
#include "rb_parts.h"

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
    unavailable for needs_restore / foreign / restoring / lagging /
    parts, wrong_state otherwise.  */
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
    if (streq (word, "lagging")) {
        *text = "a partition of the dataset is behind its newest epoch (a "
                "transition half made): ask again";
        return RB_S_UNAVAILABLE;
    }
    if (streq (word, "parts")) {
        *text = "the dataset in Redis has another number of partitions: "
                "needs restore";
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
    script does is needed: every partition was seen normal at the epoch
    the node knows (rb_db__view_normal_proven: no flag to read) and no
    registration is due (every key's pair is in the memo, or the asker is
    not a service node).  */
static bool
s_plain_ok (rb_db_reads_t *self, const rb_read_t *r)
{
    if (!rb_db__view_normal_proven (self->view) ||
        !rb_db__view_dataset (self->view)[0])
        return false;
    for (uint32_t k = r->first; k < r->first + r->n; k++)
        if (r->header.role == RB_ROLE_SERVICE && !self->known[k])
            return false;
    return true;
}

/*  What each read collected is at in a flush. */
enum { RB_READ_LUA, RB_READ_PLAIN, RB_READ_DONE };

/*  One key of a read, in a round: reads[read]'s key keys[key], of
    partition part. A round's units are grouped by partition (stably: in
    the order of the reads), and cut into chunks.  */
typedef struct {
    uint32_t read, key;
    uint32_t part;
} rb_unit_t;

/*  One round trip's worth of work, on one partition: a script call, or a
    plain read of some keys followed by a read of the partition's meta. Its keys are units[first .. end - 1]; its calls
    calls[first_call ..].  */
typedef struct {
    bool plain;
    int part;
    uint32_t first, end;
    uint32_t n_keys;
    uint32_t first_call, n_calls;
} rb_chunk_t;

/*  A key name: "rb:{N}:" suffix KEY.  */
typedef char rb_name_t[32 + RB_KEY_MAX];

/*  The buffers of one round. */
typedef struct {
    rb_unit_t *units; /* the round's keys, by partition */
    uint32_t n_units;
    rb_chunk_t *chunks;
    uint32_t n_chunks;
    rb_call_t *calls;
    uint32_t n_calls;
    const char **argv;
    size_t *lens;
    rb_name_t *names; /* the calls' key names */
    uint32_t n_names;
} rb_round_t;

static int
s_unit_cmp (const void *a, const void *b)
{
    const rb_unit_t *x = (const rb_unit_t *) a, *y = (const rb_unit_t *) b;
    if (x->part != y->part)
        return x->part < y->part ? -1 : 1;
    return x->key < y->key ? -1 : x->key > y->key; /* keys in read order */
}

/*  Cuts the keys of the reads whose state is want (plain or not) into
    chunks of one partition each, at most RB_GETS_PER_CALL keys, the keys
    of a read in one partition never split (on one Redis: a read is never
    split).  */
static void
s_chunk (rb_db_reads_t *self, rb_round_t *rd, const uint8_t *state,
         uint8_t want, int parts)
{
    uint32_t from = rd->n_units;
    for (uint32_t i = 0; i < self->n_reads; i++) {
        if (state[i] != want)
            continue;
        rb_read_t *r = &self->reads[i];
        for (uint32_t k = r->first; k < r->first + r->n; k++)
            rd->units[rd->n_units++] = (rb_unit_t){
                i, k,
                (uint32_t) rb_part_of (parts, self->keys[k].ptr,
                                       self->keys[k].len)};
    }
    if (parts > 1)
        qsort (rd->units + from, rd->n_units - from, sizeof (rb_unit_t),
               s_unit_cmp);
    rb_chunk_t *c = NULL;
    for (uint32_t u = from; u < rd->n_units;) {
        /* the segment: this read's keys in this partition */
        uint32_t end = u + 1;
        while (end < rd->n_units && rd->units[end].read == rd->units[u].read &&
               rd->units[end].part == rd->units[u].part)
            end++;
        if (!c || c->part != (int) rd->units[u].part ||
            c->n_keys + (end - u) > RB_GETS_PER_CALL) {
            c = &rd->chunks[rd->n_chunks++];
            *c = (rb_chunk_t){want == RB_READ_PLAIN, (int) rd->units[u].part,
                              u, u, 0, 0, 0};
        }
        c->end = end;
        c->n_keys += end - u;
        u = end;
    }
}

/*  Answers a GET (DATA) or a GETS (RECORDS) from reps, its keys' reads;
    replies are their calls' replies, for what to say if one refused. On
    a cluster the keys of a GETS may have been read by several calls (one
    per partition): they must all say one epoch. true if every key was
    read ok at one epoch (registrations made: the memo may note them).  */
static bool
s_answer (rb_db_reads_t *self, rb_read_t *r, const rb_get_reply_t *reps,
          const redisReply *const *replies)
{
    for (uint32_t i = 0; i < r->n; i++) {
        if (strcmp (reps[i].word, "ok") == 0)
            continue;
        zhashx_purge (self->memo); /* FLUSHALL, a restore ...: start over */
        self->counts.refused++;
        rb_db__refuse (self->bus, self->store, self->view, self->opts->name,
                       &r->header, r->multi ? "GETS" : "GET", replies[i],
                       reps[i].word);
        return false;
    }
    for (uint32_t i = 1; i < r->n; i++)
        if (reps[i].epoch != reps[0].epoch) {
            self->counts.refused++;
            rb_bus_error (self->bus, &r->header, RB_S_UNAVAILABLE,
                          "the dataset's epoch moved during the read: ask "
                          "again");
            return false;
        }
    size_t bytes = 0;
    for (uint32_t i = 0; i < r->n; i++)
        bytes += reps[i].value_len;
    if (r->multi && bytes > RB_RECORDS_BYTES) {
        self->counts.refused++;
        rb_bus_error (self->bus, &r->header, RB_S_BAD_REQUEST,
                      "GETS answer over 8 MiB: ask fewer keys");
        return true; /* read (and registered) all the same */
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
    return true;
}

/*  A key name of partition p into the round's names; returns it. */
static const char *
s_name (rb_round_t *rd, int p, const char *suffix, rb_str_t key, size_t *len)
{
    char *n = rd->names[rd->n_names++];
    *len = rb_part_key (n, sizeof (rb_name_t), p, suffix, key.ptr, key.len);
    return n;
}

/*  Appends an argument to the call being built. */
#define ARG(s, n) (*a++ = (s), *l++ = (n))

/*  Fills rd's calls for its chunks: a script call per script chunk (its
    KEYS, then ds, ttl and cap: they must outlive the run, and the node,
    key, known of each key), and for a plain chunk the meta read, an
    HMGET per key, then the meta read.  */
static void
s_build (rb_db_reads_t *self, rb_round_t *rd, const char *ds, const char *ttl,
         const char *cap)
{
    static const char *const sets[] = {"meta", "stable", "rec", "polled",
                                       "fa"};
    static const char *const per_key[] = {"r:", "f:", "p:"};
    const char **a = rd->argv;
    size_t *l = rd->lens;
    rb_str_t none = {NULL, 0};
    for (uint32_t c = 0; c < rd->n_chunks; c++) {
        rb_chunk_t *ch = &rd->chunks[c];
        int p = ch->part, slot = rb_part_slot (p);
        ch->first_call = rd->n_calls;
        size_t mlen;
        const char *meta = s_name (rd, p, "meta", none, &mlen);
        if (ch->plain) {
            for (uint32_t u = ch->first; u < ch->end; u++) {
                size_t len;
                const char *n =
                    s_name (rd, p, "r:", self->keys[rd->units[u].key], &len);
                rd->calls[rd->n_calls++] =
                    (rb_call_t){.script = -1, .argc = 5, .argv = a,
                                .lens = l, .slot = slot};
                ARG ("HMGET", 5), ARG (n, len), ARG ("v", 1), ARG ("s", 1);
                ARG ("d", 1);
            }
            rd->calls[rd->n_calls++] = (rb_call_t){
                .script = -1, .argc = 5, .argv = a, .lens = l, .slot = slot};
            ARG ("HMGET", 5), ARG (meta, mlen), ARG ("dataset", 7);
            ARG ("epoch", 5), ARG ("state", 5);
        } else {
            int nkeys = 5 + 3 * (int) ch->n_keys;
            rd->calls[rd->n_calls++] = (rb_call_t){
                .script = RB_SCRIPT_GET, .argc = nkeys + 3 + 3 * (int) ch->n_keys,
                .argv = a, .lens = l, .nkeys = nkeys, .slot = slot};
            ARG (meta, mlen);
            for (int i = 1; i < 5; i++) {
                size_t len;
                const char *n = s_name (rd, p, sets[i], none, &len);
                ARG (n, len);
            }
            for (uint32_t u = ch->first; u < ch->end; u++)
                for (int i = 0; i < 3; i++) {
                    size_t len;
                    const char *n = s_name (rd, p, per_key[i],
                                            self->keys[rd->units[u].key], &len);
                    ARG (n, len);
                }
            ARG (ds, strlen (ds)), ARG (ttl, strlen (ttl));
            ARG (cap, strlen (cap));
            for (uint32_t u = ch->first; u < ch->end; u++) {
                rb_read_t *r = &self->reads[rd->units[u].read];
                rb_str_t key = self->keys[rd->units[u].key];
                /* only service nodes get UPDATE and RECOVERED pushes */
                const char *node =
                    r->header.role == RB_ROLE_SERVICE ? r->header.sender : "";
                ARG (node, strlen (node));
                ARG (key.ptr, key.len);
                ARG (self->known[rd->units[u].key] ? "1" : "0", 1);
            }
        }
        ch->n_calls = rd->n_calls - ch->first_call;
    }
}

/*  Reads of a chunk from its replies into reps (indexed by key, as
    self->keys), and into replies each key's call reply. A plain chunk
    whose brackets do not both say the dataset and epoch in state normal
    read nothing usable: false, and its reads go by script in the next
    round. rc: the run's.  */
static bool
s_parse (rb_db_reads_t *self, const rb_round_t *rd, const rb_chunk_t *ch,
         int rc, rb_get_reply_t *reps, const redisReply **replies,
         rb_get_reply_t *tmp)
{
    rb_call_t *calls = &rd->calls[ch->first_call];
    for (uint32_t u = ch->first; u < ch->end; u++) {
        uint32_t k = rd->units[u].key;
        memset (&reps[k], 0, sizeof reps[k]);
        replies[k] = rc ? NULL : calls[0].reply;
    }
    if (rc)
        return true; /* no reply: every read refused (unavailable) */
    if (!ch->plain) {
        rb_get_reply_parse (calls[0].reply, ch->n_keys, tmp);
        for (uint32_t u = ch->first; u < ch->end; u++)
            reps[rd->units[u].key] = tmp[u - ch->first];
        return true;
    }
    const char *id = rb_db__view_dataset (self->view);
    uint64_t epoch = self->memo_epoch;
    /* every partition was seen normal at this epoch before the records
       were read (s_plain_ok), and the partition is normal at it after:
       normal all along (a partition leaves normal only to a newer epoch),
       so no key read between was flagged */
    if (!rb_meta_reply_normal (calls[ch->n_calls - 1].reply, id, epoch))
        return false;
    /* on a cluster, a record read sent again (ASK during a migration, a
       new map) ran after the meta read that should follow it: nothing is
       proven of it  */
    for (uint32_t c = 0; c < ch->n_calls; c++)
        if (calls[c].resent)
            return false;
    for (uint32_t u = ch->first; u < ch->end; u++) {
        uint32_t k = rd->units[u].key;
        rb_record_reply_parse (calls[u - ch->first].reply, epoch, &reps[k]);
        replies[k] = calls[u - ch->first].reply;
    }
    return true;
}

/*  One round trip: every read in state RB_READ_LUA or RB_READ_PLAIN.
    Each is answered (RB_READ_DONE), but for plain reads that found the
    state moved in a partition: those are left RB_READ_LUA for the next
    round.  */
static void
s_round (rb_db_reads_t *self, uint8_t *state, int64_t start)
{
    int parts = rb_parts_count (self->store);
    rb_round_t rd = {0};
    rd.units = (rb_unit_t *) calloc (self->n_keys + 1, sizeof (rb_unit_t));
    rd.chunks = (rb_chunk_t *) calloc (self->n_keys + 1, sizeof (rb_chunk_t));
    assert (rd.units && rd.chunks);
    s_chunk (self, &rd, state, RB_READ_PLAIN, parts);
    s_chunk (self, &rd, state, RB_READ_LUA, parts);
    size_t calls = 0, args = 0, names = 0;
    for (uint32_t c = 0; c < rd.n_chunks; c++) {
        rb_chunk_t *ch = &rd.chunks[c];
        calls += ch->plain ? ch->n_keys + 1 : 1;
        args += ch->plain ? 5 * (size_t) ch->n_keys + 5
                          : 8 + 6 * (size_t) ch->n_keys;
        names += ch->plain ? 1 + ch->n_keys : 5 + 3 * (size_t) ch->n_keys;
    }
    rd.calls = (rb_call_t *) calloc (calls + 1, sizeof (rb_call_t));
    rd.argv = (const char **) calloc (args + 1, sizeof (char *));
    rd.lens = (size_t *) calloc (args + 1, sizeof (size_t));
    rd.names = (rb_name_t *) calloc (names + 1, sizeof (rb_name_t));
    rb_get_reply_t *reps =
        (rb_get_reply_t *) calloc (self->n_keys + 1, sizeof (rb_get_reply_t));
    rb_get_reply_t *tmp =
        (rb_get_reply_t *) calloc (RB_GETS_PER_CALL + RB_GETS_MAX,
                                   sizeof (rb_get_reply_t));
    const redisReply **replies =
        (const redisReply **) calloc (self->n_keys + 1, sizeof (void *));
    bool *retry = (bool *) calloc (self->n_reads + 1, sizeof (bool));
    assert (rd.calls && rd.argv && rd.lens && rd.names && reps && tmp &&
            replies && retry);
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
        if (!s_parse (self, &rd, ch, rc, reps, replies, tmp))
            for (uint32_t u = ch->first; u < ch->end; u++)
                retry[rd.units[u].read] = true;
    }
    for (uint32_t i = 0; i < self->n_reads; i++) {
        rb_read_t *r = &self->reads[i];
        if (state[i] == RB_READ_DONE)
            continue;
        if (retry[i]) {
            state[i] = RB_READ_LUA;
            continue;
        }
        bool plain = state[i] == RB_READ_PLAIN;
        bool ok = s_answer (self, r, &reps[r->first], &replies[r->first]);
        if (rc == 0 && plain)
            self->counts.plain += r->n;
        if (ok && !plain)
            s_memo_add (self, r, &reps[r->first], start);
        state[i] = RB_READ_DONE;
        zmsg_destroy (&r->msg);
    }
    rb_store_free_replies (rd.calls, (int) rd.n_calls);
    free (rd.units);
    free (rd.chunks);
    free (rd.calls);
    free (rd.argv);
    free (rd.lens);
    free (rd.names);
    free (reps);
    free (tmp);
    free (replies);
    free (retry);
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
