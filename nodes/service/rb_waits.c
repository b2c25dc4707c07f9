/*  rb_waits: terminals parked on a key, and the key's poll stream.

    One stream per key however many terminals wait on it: one GET to the
    db service at a time; a flagged answer (latest-only) schedules the
    next GET after a jittered, doubling delay (poll-min .. poll-max); a
    RECOVERED push polls at once. Each waiter has its own deadline, after
    which it is answered "unavailable". Waits live in an rb_slots table:
    a late DB answer for a wait that is gone finds nothing.

    Timed re-polls are the fallback for a RECOVERED push that was lost,
    yet with many keys waited on they are most of what the node asks the
    DB (100,000 keys polled every 500 ms: 200,000 GETs a second, which
    starves every other node's GETs). So they are let out at most
    poll_rate a second (a token bucket holding one second's worth); a
    re-poll due past that waits in a FIFO for its turn. First GETs and
    polls a RECOVERED push asks for are not held.

    Polls are not sent one by one: the ones a wake-up starts are queued
    and go out together when it ends (rb_waits__flush), as GETS of up to
    RB_WAITS_BATCH keys, one request and one answer for all of them at
    every hop. A poll alone goes as a plain GET.  */
#include "rb_service_int.h"
#include "rb_timers.h"
#include "rb_slots.h"

#include <assert.h>
#include <string.h>

#define RB_WAITS_MAX (1u << 20)
/*  Keys in one GETS. At the default max-value (64 KiB) its answer stays
    under 4.1 MiB, well below the broker's default max-frame.  */
#define RB_WAITS_BATCH 64

/*  A GETS in flight: the waits its keys are for, in order. */
typedef struct {
    uint32_t n;
    uint64_t wids[RB_WAITS_BATCH];
} rb_batch_t;

/*  A terminal request waiting for an answer. */
typedef struct {
    uint8_t id[RB_SVC__ID_MAX]; /* the terminal's routing id */
    uint8_t id_len;
    uint64_t corr;    /* the terminal's correlation id */
    int64_t deadline; /* zclock_mono () after which: unavailable */
} rb_waiter_t;

/*  One key's poll stream, shared by every terminal waiting on it. */
typedef struct {
    char key[RB_KEY_MAX + 1];
    rb_waiter_t *waiters;
    uint32_t n_waiters, cap_waiters;
    bool in_flight;    /* a GET to "db" is out, or queued to go */
    bool poll_again;   /* RECOVERED came while it was out */
    bool alone;        /* poll it in a GET of its own: a GETS that held it
                          was too large (bad_request) */
    int64_t next_poll; /* when to send the next GET, if not in flight */
    int backoff_ms;    /* delay before the one after */
    uint64_t pushed_seq, pushed_epoch; /* the newest UPDATE for the key */
    uint32_t poll_reg; /* the bus registration the GET went out in */
    int64_t armed;     /* the earliest time it is in the timers for */
    void *held;        /* its place in the FIFO of re-polls held by
                          poll_rate, or NULL */
} rb_wait_t;

struct rb_waits {
    rb_waits_opts_t opts;
    rb_bus_t *bus;               /* borrowed: GETs to "db" */
    rb_cache_t *cache;           /* borrowed: what the GETs read goes in */
    rb_waits__answer_fn *answer; /* to a terminal, with answer_arg */
    void *answer_arg;
    rb_slots_t *waits;   /* rb_wait_t by id */
    zhashx_t *wait_ids;  /* key -> wait id + 1 */
    rb_timers_t *timers; /* (due time, wait id): deadlines, re-polls */
    uint64_t polls;      /* GETs sent */
    uint64_t refused;    /* requests past waits_max or waiters_max */
    double tokens;       /* re-polls that may go now (poll_rate) */
    int64_t refilled;    /* when tokens were last topped up */
    zlistx_t *fifo;      /* id + 1 of each wait whose re-poll is held */
    uint64_t held;       /* re-polls held, in all */
    uint64_t *queued;    /* waits whose poll goes at the next flush */
    uint32_t n_queued;   /* (at most waits_max: one per wait) */
    rb_slots_t *batches; /* rb_batch_t of each GETS in flight */
    rb_mhist_t waited;   /* how long answered waiters waited */
};

rb_waits_t *
rb_waits__new (const rb_waits_opts_t *opts, rb_bus_t *bus, rb_cache_t *cache,
               rb_waits__answer_fn *answer, void *arg)
{
    rb_waits_t *self = (rb_waits_t *) calloc (1, sizeof *self);
    assert (self);
    self->opts = *opts;
    self->bus = bus;
    self->cache = cache;
    self->answer = answer;
    self->answer_arg = arg;
    assert (opts->waits_max >= 1 && opts->waits_max <= RB_WAITS_MAX);
    self->waits = rb_slots_new (sizeof (rb_wait_t), opts->waits_max);
    self->wait_ids = zhashx_new ();
    self->timers = rb_timers_new ();
    self->fifo = zlistx_new ();
    self->queued = (uint64_t *) calloc (opts->waits_max, sizeof (uint64_t));
    assert (self->queued);
    self->batches = rb_slots_new (sizeof (rb_batch_t), opts->waits_max);
    self->tokens = opts->poll_rate;
    self->refilled = zclock_mono ();
    return self;
}

static rb_wait_t *
s_wait (rb_waits_t *self, uint64_t wid)
{
    return (rb_wait_t *) rb_slots_get (self->waits, wid);
}

static void
s_remove (rb_waits_t *self, uint64_t wid)
{
    rb_wait_t *w = s_wait (self, wid);
    if (w->held)
        zlistx_delete (self->fifo, w->held);
    zhashx_delete (self->wait_ids, w->key);
    free (w->waiters);
    rb_slots_free (self->waits, wid);
}

void
rb_waits__destroy (rb_waits_t **self_p)
{
    rb_waits_t *self = *self_p;
    if (!self)
        return;
    uint32_t cursor = 0;
    uint64_t wid;
    while (rb_slots_next (self->waits, &cursor, &wid))
        s_remove (self, wid);
    rb_slots_destroy (&self->waits);
    zhashx_destroy (&self->wait_ids);
    rb_timers_destroy (&self->timers);
    zlistx_destroy (&self->fifo);
    free (self->queued);
    rb_slots_destroy (&self->batches);
    free (self);
    *self_p = NULL;
}

static void
s_answer (rb_waits_t *self, const rb_wait_t *w, const rb_waiter_t *t,
          int status, const rb_body_t *d)
{
    rb_asker_t to = {t->id, t->id_len, t->corr};
    int64_t waited = zclock_mono () - (t->deadline - self->opts.max_wait_ms);
    rb_mhist_observe (&self->waited, (double) waited / 1000.0);
    self->answer (self->answer_arg, &to, w->key, status, d);
}

/*  Answers every waiter of w alike, then forgets w. */
static void
s_answer_all (rb_waits_t *self, uint64_t wid, int status, const rb_body_t *d)
{
    rb_wait_t *w = s_wait (self, wid);
    for (uint32_t i = 0; i < w->n_waiters; i++)
        s_answer (self, w, &w->waiters[i], status, d);
    s_remove (self, wid);
}

static void s_poll (rb_waits_t *self, uint64_t wid);

/*  w (id wid) has something to do at time: its tick will look then. */
static void
s_arm (rb_waits_t *self, rb_wait_t *w, uint64_t wid, int64_t time)
{
    if (w->armed && w->armed <= time)
        return; /* it will be looked at earlier, and re-armed then */
    rb_timers_add (self->timers, time, wid);
    w->armed = time;
}

/*  The next poll: at once if a RECOVERED push came meanwhile, else after
    the back-off with jitter in [delay/2, delay].  */
static void
s_schedule (rb_waits_t *self, rb_wait_t *w, uint64_t wid)
{
    if (w->poll_again) {
        w->poll_again = false;
        s_poll (self, wid);
        return;
    }
    int delay = w->backoff_ms / 2 + randof (w->backoff_ms / 2 + 1);
    w->next_poll = zclock_mono () + delay;
    s_arm (self, w, wid, w->next_poll);
    w->backoff_ms = w->backoff_ms * 2 > self->opts.poll_max_ms
                        ? self->opts.poll_max_ms
                        : w->backoff_ms * 2;
}

/*  The answer DATA of the current epoch settles the wait; anything else
    (flagged, an older epoch, ERROR, timeout) decides by the policy. The
    cache's epoch is the newest the node has seen.  */
static void
s_on_read (rb_waits_t *self, rb_bus_t *bus, const rb_header_t *h,
           const rb_body_t *b, uint64_t wid)
{
    rb_wait_t *w = s_wait (self, wid);
    if (!w)
        return; /* every waiter gave up meanwhile */
    w->in_flight = false;
    bool data = h->kind == RB_K_REPLY && b->type == RB_T_DATA &&
                h->role == RB_ROLE_DB && rb_str_eq (b->key, w->key);
    if (data && b->epoch == w->pushed_epoch && b->seq < w->pushed_seq) {
        /* an UPDATE overtook this answer (another DB node read the key
           before the order was applied): it is older, ask again */
        data = false;
        w->poll_again = true;
    }
    if (data && b->epoch > rb_cache_epoch (self->cache))
        rb_cache_reset (self->cache, b->epoch);
    if (data && !b->recovering && b->epoch >= rb_cache_epoch (self->cache)) {
        /* cached only if no push for the key can have been lost since the
           DB read it: the node stayed registered all along */
        if (rb_bus_registered (bus) &&
            rb_bus_registrations (bus) == w->poll_reg)
            rb_cache_put (self->cache, w->key, strlen (w->key), b->has_value,
                          b->value.ptr, b->value.len, b->seq, b->epoch);
        s_answer_all (self, wid, b->has_value ? RB_ANS_OK : RB_ANS_NOT_FOUND,
                      b);
        return;
    }
    /* a RECOVERED push that overtook a flagged answer: the flag is gone */
    if (data && b->recovering && self->opts.policy == RB_POLICY_STALE_OK &&
        !w->poll_again) {
        s_answer_all (self, wid, RB_ANS_STALE, b);
        return;
    }
    /* flagged (latest-only), an answer from before a restore, or no
       answer: try again, within every waiter's deadline */
    if (data && b->epoch < rb_cache_epoch (self->cache))
        w->poll_again = true;
    s_schedule (self, w, wid);
}

/*  The answer to a GET. */
static void
s_on_data (rb_bus_t *bus, const rb_header_t *h, const rb_body_t *b,
           zmsg_t **msg_p, void *arg, uint64_t wid)
{
    s_on_read ((rb_waits_t *) arg, bus, h, b, wid);
}

/*  The answer to a GETS (id bid): each record goes to its wait as the
    DATA a GET would have had. Anything else (an ERROR, a timeout, records
    that are not the keys asked) is each wait's failed poll.  */
static void
s_on_records (rb_bus_t *bus, const rb_header_t *h, const rb_body_t *b,
              zmsg_t **msg_p, void *arg, uint64_t bid)
{
    rb_waits_t *self = (rb_waits_t *) arg;
    rb_batch_t *found = (rb_batch_t *) rb_slots_get (self->batches, bid);
    if (!found)
        return;
    rb_batch_t batch = *found;
    rb_slots_free (self->batches, bid);
    bool ok = h->kind == RB_K_REPLY && b->type == RB_T_RECORDS &&
              b->n_recs == batch.n;
    bool too_large = h->kind == RB_K_ERROR && h->status == RB_S_BAD_REQUEST;
    for (uint32_t i = 0; i < batch.n; i++) {
        rb_wait_t *w = s_wait (self, batch.wids[i]);
        if (w && too_large)
            w->alone = true;
        if (!ok) {
            s_on_read (self, bus, h, b, batch.wids[i]);
            continue;
        }
        const rb_record_t *r = &b->recs[i];
        rb_header_t dh = *h;
        dh.type = RB_T_DATA;
        rb_body_t d;
        rb_body_init (&d, RB_T_DATA);
        d.key = r->key;
        d.has_value = r->has_value;
        d.value = r->value;
        d.seq = r->seq;
        d.recovering = r->recovering;
        d.epoch = b->epoch;
        s_on_read (self, bus, &dh, &d, batch.wids[i]);
    }
}

/*  Queues a poll of wid for the next flush. */
static void
s_poll (rb_waits_t *self, uint64_t wid)
{
    rb_wait_t *w = s_wait (self, wid);
    assert (!w->in_flight && self->n_queued < self->opts.waits_max);
    w->in_flight = true;
    self->queued[self->n_queued++] = wid;
}

/*  Sends the polls queued[first .. first + n - 1] as one GET or GETS;
    if the bus refuses (too many pending), each is scheduled again.  */
static void
s_send (rb_waits_t *self, uint32_t first, uint32_t n)
{
    uint64_t *wids = &self->queued[first];
    rb_body_t get;
    rb_str_t keys[RB_WAITS_BATCH];
    int rc;
    if (n == 1) {
        rb_body_init (&get, RB_T_GET);
        get.key = rb_str (s_wait (self, wids[0])->key);
        rc = rb_bus_request (self->bus, RB_ADDR_SERVICE, "db", &get,
                             (uint32_t) self->opts.db_timeout_ms, s_on_data,
                             self, wids[0]);
    } else {
        uint64_t bid;
        rb_batch_t *batch = (rb_batch_t *) rb_slots_alloc (self->batches, &bid);
        assert (batch); /* a batch per wait at most */
        rb_body_init (&get, RB_T_GETS);
        for (uint32_t i = 0; i < n; i++) {
            keys[i] = rb_str (s_wait (self, wids[i])->key);
            batch->wids[i] = wids[i];
        }
        batch->n = n;
        get.keys = keys;
        get.n_keys = n;
        rc = rb_bus_request (self->bus, RB_ADDR_SERVICE, "db", &get,
                             (uint32_t) self->opts.db_timeout_ms, s_on_records,
                             self, bid);
        if (rc)
            rb_slots_free (self->batches, bid);
    }
    for (uint32_t i = 0; i < n; i++) {
        rb_wait_t *w = s_wait (self, wids[i]);
        if (rc) {
            w->in_flight = false;
            w->poll_again = false; /* a timed poll, not one queued now */
            s_schedule (self, w, wids[i]); /* too many pending: later */
        } else {
            w->poll_reg = rb_bus_registrations (self->bus);
            self->polls++;
        }
    }
}

void
rb_waits__flush (rb_waits_t *self)
{
    /* a wait gone since its poll was queued is dropped; s_send may
       schedule a poll again, never queue one */
    uint32_t n = 0;
    for (uint32_t i = 0; i < self->n_queued; i++)
        if (s_wait (self, self->queued[i]))
            self->queued[n++] = self->queued[i];
    self->n_queued = n;
    /* the ones asked alone first, one GET each */
    uint32_t together = 0;
    for (uint32_t i = 0; i < n; i++) {
        uint64_t wid = self->queued[i];
        if (s_wait (self, wid)->alone) {
            self->queued[i] = self->queued[together];
            self->queued[together++] = wid;
        }
    }
    for (uint32_t i = 0; i < together; i++)
        s_send (self, i, 1);
    for (uint32_t first = together; first < n; first += RB_WAITS_BATCH)
        s_send (self, first,
                n - first < RB_WAITS_BATCH ? n - first : RB_WAITS_BATCH);
    assert (self->n_queued == n);
    self->n_queued = 0;
}

/*  The wait on key, or NULL; *wid its id.  */
static rb_wait_t *
s_find (rb_waits_t *self, const char *key, uint64_t *wid)
{
    uintptr_t v = (uintptr_t) zhashx_lookup (self->wait_ids, key);
    *wid = v ? (uint64_t) v - 1 : 0;
    return v ? s_wait (self, *wid) : NULL;
}

/*  A new wait on key, its stream not started yet. */
static rb_wait_t *
s_start (rb_waits_t *self, const char *key, uint64_t *wid)
{
    rb_wait_t *w = (rb_wait_t *) rb_slots_alloc (self->waits, wid);
    assert (w); /* rb_waits__add checked waits_max, the table's max */
    memcpy (w->key, key, sizeof w->key);
    w->backoff_ms = self->opts.poll_min_ms;
    zhashx_insert (self->wait_ids, key, (void *) (uintptr_t) (*wid + 1));
    return w;
}

int
rb_waits__add (rb_waits_t *self, rb_str_t key, const rb_asker_t *from)
{
    assert (from->id_len <= RB_SVC__ID_MAX);
    char k[RB_KEY_MAX + 1];
    snprintf (k, sizeof k, "%.*s", (int) key.len, key.ptr);
    uint64_t wid;
    rb_wait_t *w = s_find (self, k, &wid);
    bool fresh = !w;
    if ((fresh && rb_slots_used (self->waits) >= self->opts.waits_max) ||
        (!fresh && w->n_waiters >= self->opts.waiters_max)) {
        self->refused++;
        return -1;
    }
    if (fresh)
        w = s_start (self, k, &wid);
    if (w->n_waiters == w->cap_waiters) {
        w->cap_waiters = w->cap_waiters ? w->cap_waiters * 2 : 4;
        w->waiters = (rb_waiter_t *) realloc (
            w->waiters, w->cap_waiters * sizeof (rb_waiter_t));
        assert (w->waiters);
    }
    rb_waiter_t *t = &w->waiters[w->n_waiters++];
    memcpy (t->id, from->id, from->id_len);
    t->id_len = (uint8_t) from->id_len;
    t->corr = from->corr;
    t->deadline = zclock_mono () + self->opts.max_wait_ms;
    if (fresh) {
        s_arm (self, w, wid, t->deadline);
        s_poll (self, wid);
    }
    return 0;
}

uint64_t
rb_waits__refused (rb_waits_t *self)
{
    return self->refused;
}

/*  The wait on key as received, or NULL.  */
static rb_wait_t *
s_find_str (rb_waits_t *self, rb_str_t key, uint64_t *wid)
{
    char k[RB_KEY_MAX + 1];
    snprintf (k, sizeof k, "%.*s", (int) key.len, key.ptr);
    return s_find (self, k, wid);
}

void
rb_waits__updated (rb_waits_t *self, rb_str_t key, uint64_t seq, uint64_t epoch)
{
    uint64_t wid;
    rb_wait_t *w = s_find_str (self, key, &wid);
    if (w && (epoch > w->pushed_epoch ||
              (epoch == w->pushed_epoch && seq > w->pushed_seq))) {
        w->pushed_epoch = epoch;
        w->pushed_seq = seq;
    }
}

void
rb_waits__recovered (rb_waits_t *self, rb_str_t key)
{
    uint64_t wid;
    rb_wait_t *w = s_find_str (self, key, &wid);
    if (!w)
        return;
    if (w->in_flight)
        w->poll_again = true;
    else
        s_poll (self, wid);
}

/*  Answers "unavailable" to the waiters of w past their deadline. */
static void
s_expire (rb_waits_t *self, rb_wait_t *w, int64_t now)
{
    uint32_t kept = 0;
    for (uint32_t i = 0; i < w->n_waiters; i++) {
        rb_waiter_t *t = &w->waiters[i];
        if (t->deadline <= now)
            s_answer (self, w, t, RB_ANS_UNAVAILABLE, NULL);
        else
            w->waiters[kept++] = *t;
    }
    w->n_waiters = kept;
}

/*  Tops the bucket up to one second's worth of re-polls.  */
static void
s_refill (rb_waits_t *self, int64_t now)
{
    double rate = self->opts.poll_rate;
    self->tokens += (double) (now - self->refilled) * rate / 1000.0;
    if (self->tokens > rate)
        self->tokens = rate;
    self->refilled = now;
}

/*  A timed re-poll of wid: now if poll_rate allows, else after the ones
    held before it.  */
static void
s_repoll (rb_waits_t *self, rb_wait_t *w, uint64_t wid)
{
    if (self->opts.poll_rate <= 0 || self->tokens >= 1) {
        self->tokens -= self->opts.poll_rate > 0;
        s_poll (self, wid);
    } else if (!w->held) {
        w->held = zlistx_add_end (self->fifo, (void *) (uintptr_t) (wid + 1));
        self->held++;
    }
}

/*  Lets out the held re-polls the bucket allows now.  */
static void
s_release (rb_waits_t *self)
{
    while (zlistx_size (self->fifo) && self->tokens >= 1) {
        uint64_t wid = (uint64_t) (uintptr_t) zlistx_first (self->fifo) - 1;
        zlistx_delete (self->fifo, zlistx_cursor (self->fifo));
        rb_wait_t *w = s_wait (self, wid);
        w->held = NULL;      /* a wait leaves the FIFO when it goes */
        if (!w->in_flight) { /* else a RECOVERED push polled it */
            self->tokens -= 1;
            s_poll (self, wid);
        }
    }
}

void
rb_waits__tick (rb_waits_t *self)
{
    int64_t now = zclock_mono (), at;
    uint64_t wid;
    s_refill (self, now);
    s_release (self);
    while (rb_timers_pop (self->timers, now, &at, &wid)) {
        rb_wait_t *w = s_wait (self, wid);
        if (!w || at != w->armed)
            continue; /* gone, or armed again for another time */
        w->armed = 0;
        s_expire (self, w, now);
        if (w->n_waiters == 0) {
            s_remove (self, wid);
            continue;
        }
        if (!w->in_flight && !w->held && now >= w->next_poll)
            s_repoll (self, w, wid);
        w = s_wait (self, wid); /* still there: a poll answers later */
        if (w && !w->in_flight && !w->held && w->next_poll > now)
            s_arm (self, w, wid, w->next_poll);
        if (w)
            s_arm (self, w, wid, w->waiters[0].deadline);
    }
}

uint32_t
rb_waits__count (rb_waits_t *self)
{
    return rb_slots_used (self->waits);
}

uint64_t
rb_waits__held (rb_waits_t *self)
{
    return self->held;
}

uint64_t
rb_waits__polls (rb_waits_t *self)
{
    return self->polls;
}

const rb_mhist_t *
rb_waits__wait_time (rb_waits_t *self)
{
    return &self->waited;
}
