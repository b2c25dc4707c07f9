/*  rb_waits: terminals parked on a key, and the key's poll stream.

    One stream per key however many terminals wait on it: one GET to the
    db service at a time; a flagged answer (latest-only) schedules the
    next GET after a jittered, doubling delay (poll-min .. poll-max); a
    RECOVERED push polls at once. Each waiter has its own deadline, after
    which it is answered "unavailable". Waits live in an rb_slots table:
    a late DB answer for a wait that is gone finds nothing.  */
#include "rb_service_int.h"

#include <assert.h>
#include <string.h>

static rb_wait_t *
s_wait (svc_t *self, uint64_t wid)
{
    return (rb_wait_t *) rb_slots_get (self->waits, wid);
}

static void
s_remove (svc_t *self, uint64_t wid)
{
    rb_wait_t *w = s_wait (self, wid);
    zhashx_delete (self->wait_ids, w->key);
    free (w->waiters);
    rb_slots_free (self->waits, wid);
}

/*  Answers every waiter of w alike, then forgets w. */
static void
s_answer_all (svc_t *self, uint64_t wid, int status, const rb_body_t *d)
{
    rb_wait_t *w = s_wait (self, wid);
    for (uint32_t i = 0; i < w->n_waiters; i++) {
        rb_waiter_t *t = &w->waiters[i];
        rb_svc_answer (self, t->id, t->id_len, t->corr, w->key, status,
                       d ? d->seq : 0, d && d->has_value,
                       d ? d->value.ptr : NULL, d ? d->value.len : 0);
    }
    s_remove (self, wid);
}

static void s_poll (svc_t *self, uint64_t wid);

/*  The next poll: at once if a RECOVERED push came meanwhile, else after
    the back-off with jitter in [delay/2, delay].  */
static void
s_schedule (svc_t *self, rb_wait_t *w, uint64_t wid)
{
    if (w->poll_again) {
        w->poll_again = false;
        s_poll (self, wid);
        return;
    }
    int delay = w->backoff_ms / 2 + randof (w->backoff_ms / 2 + 1);
    w->next_poll = zclock_mono () + delay;
    w->backoff_ms = w->backoff_ms * 2 > self->opts.poll_max_ms
                        ? self->opts.poll_max_ms
                        : w->backoff_ms * 2;
}

/*  The answer DATA of the current epoch settles the wait; anything else
    (flagged, an older epoch, ERROR, timeout) decides by the policy.  */
static void
s_on_data (rb_bus_t *bus, const rb_header_t *h, const rb_body_t *b,
           zmsg_t **msg_p, void *arg, uint64_t wid)
{
    svc_t *self = (svc_t *) arg;
    rb_wait_t *w = s_wait (self, wid);
    if (!w)
        return; /* every waiter gave up meanwhile */
    w->in_flight = false;
    bool data = h->kind == RB_K_REPLY && b->type == RB_T_DATA &&
                rb_str_eq (b->key, w->key);
    if (data && b->epoch == w->pushed_epoch && b->seq < w->pushed_seq) {
        /* an UPDATE overtook this answer (another DB node read the key
           before the order was applied): it is older, ask again */
        data = false;
        w->poll_again = true;
    }
    if (data && b->epoch > self->epoch) {
        self->epoch = b->epoch;
        rb_cache_reset (self->cache, b->epoch);
    }
    if (data && !b->recovering && b->epoch >= self->epoch) {
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
    if (data && b->epoch < self->epoch)
        w->poll_again = true;
    s_schedule (self, w, wid);
}

static void
s_poll (svc_t *self, uint64_t wid)
{
    rb_wait_t *w = s_wait (self, wid);
    rb_body_t get;
    rb_body_init (&get, RB_T_GET);
    get.key = rb_str (w->key);
    if (rb_bus_request (self->bus, RB_ADDR_SERVICE, "db", &get,
                        (uint32_t) self->opts.db_timeout_ms, s_on_data, self,
                        wid)) {
        s_schedule (self, w, wid); /* too many pending: later */
        return;
    }
    w->in_flight = true;
    w->poll_reg = rb_bus_registrations (self->bus);
    self->counters[RB_CNT_POLLS]++;
}

void
rb_waits_add (svc_t *self, const rb_str_t key, const uint8_t *id, size_t id_len,
              uint64_t corr)
{
    char k[RB_KEY_MAX + 1];
    snprintf (k, sizeof k, "%.*s", (int) key.len, key.ptr);
    uintptr_t v = (uintptr_t) zhashx_lookup (self->wait_ids, k);
    uint64_t wid = v ? (uint64_t) v - 1 : 0;
    rb_wait_t *w = v ? s_wait (self, wid) : NULL;
    bool fresh = !w;
    if (fresh) {
        w = (rb_wait_t *) rb_slots_alloc (self->waits, &wid);
        assert (w); /* bounded by the slot table's max */
        memcpy (w->key, k, sizeof w->key);
        w->backoff_ms = self->opts.poll_min_ms;
        zhashx_insert (self->wait_ids, k, (void *) (uintptr_t) (wid + 1));
    }
    if (w->n_waiters == w->cap_waiters) {
        w->cap_waiters = w->cap_waiters ? w->cap_waiters * 2 : 4;
        w->waiters = (rb_waiter_t *) realloc (
            w->waiters, w->cap_waiters * sizeof (rb_waiter_t));
        assert (w->waiters);
    }
    rb_waiter_t *t = &w->waiters[w->n_waiters++];
    memcpy (t->id, id, id_len);
    t->id_len = (uint8_t) id_len;
    t->corr = corr;
    t->deadline = zclock_mono () + self->opts.max_wait_ms;
    if (fresh)
        s_poll (self, wid);
}

/*  The wait on key, or NULL; *wid its id.  */
static rb_wait_t *
s_find (svc_t *self, const rb_str_t key, uint64_t *wid)
{
    char k[RB_KEY_MAX + 1];
    snprintf (k, sizeof k, "%.*s", (int) key.len, key.ptr);
    uintptr_t v = (uintptr_t) zhashx_lookup (self->wait_ids, k);
    *wid = v ? (uint64_t) v - 1 : 0;
    return v ? s_wait (self, *wid) : NULL;
}

void
rb_waits_updated (svc_t *self, const rb_str_t key, uint64_t seq, uint64_t epoch)
{
    uint64_t wid;
    rb_wait_t *w = s_find (self, key, &wid);
    if (w && (epoch > w->pushed_epoch ||
              (epoch == w->pushed_epoch && seq > w->pushed_seq))) {
        w->pushed_epoch = epoch;
        w->pushed_seq = seq;
    }
}

void
rb_waits_recovered (svc_t *self, const rb_str_t key)
{
    uint64_t wid;
    rb_wait_t *w = s_find (self, key, &wid);
    if (!w)
        return;
    if (w->in_flight)
        w->poll_again = true;
    else
        s_poll (self, wid);
}

/*  Answers "unavailable" to the waiters of w past their deadline. */
static void
s_expire (svc_t *self, rb_wait_t *w, int64_t now)
{
    uint32_t kept = 0;
    for (uint32_t i = 0; i < w->n_waiters; i++) {
        rb_waiter_t *t = &w->waiters[i];
        if (t->deadline <= now)
            rb_svc_answer (self, t->id, t->id_len, t->corr, w->key,
                           RB_ANS_UNAVAILABLE, 0, false, NULL, 0);
        else
            w->waiters[kept++] = *t;
    }
    w->n_waiters = kept;
}

void
rb_waits_tick (svc_t *self)
{
    int64_t now = zclock_mono ();
    uint32_t cursor = 0;
    uint64_t wid;
    rb_wait_t *w;
    while ((w = (rb_wait_t *) rb_slots_next (self->waits, &cursor, &wid))) {
        s_expire (self, w, now);
        if (w->n_waiters == 0)
            s_remove (self, wid);
        else if (!w->in_flight && now >= w->next_poll)
            s_poll (self, wid);
    }
}

void
rb_waits_destroy_all (svc_t *self)
{
    uint32_t cursor = 0;
    uint64_t wid;
    while (rb_slots_next (self->waits, &cursor, &wid))
        s_remove (self, wid);
}

uint32_t
rb_waits_count (svc_t *self)
{
    return rb_slots_used (self->waits);
}
