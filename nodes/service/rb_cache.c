/*  rb_cache: bounded LRU record cache (see rb_cache.h).

    A czmq zhashx maps keys to entries; the entries form a doubly linked
    list, most recent first, so a hit and an eviction are O(1).  */
#include "rb_cache.h"

#include <assert.h>
#include <czmq.h>
#include <string.h>

typedef struct entry {
    struct entry *prev, *next; /* LRU list, head = most recent */
    char *key;                 /* NUL-terminated copy, the hash key */
    uint8_t *value;            /* owned, NULL when not found */
    uint32_t value_len;
    bool found;
    uint64_t seq, epoch;
    int64_t stored; /* zclock_mono () when last written */
} entry_t;

struct rb_cache {
    zhashx_t *map; /* key -> entry_t */
    entry_t *head, *tail;
    uint32_t size, max;
    uint64_t epoch; /* entries below it are gone */
    int64_t ttl_ms; /* entries older are misses; 0 = no limit */
};

rb_cache_t *
rb_cache_new (uint32_t max)
{
    rb_cache_t *self = (rb_cache_t *) calloc (1, sizeof *self);
    assert (self);
    self->map = zhashx_new ();
    self->max = max;
    return self;
}

static void
s_unlink (rb_cache_t *self, entry_t *e)
{
    if (e->prev)
        e->prev->next = e->next;
    else
        self->head = e->next;
    if (e->next)
        e->next->prev = e->prev;
    else
        self->tail = e->prev;
    e->prev = e->next = NULL;
}

static void
s_push_front (rb_cache_t *self, entry_t *e)
{
    e->prev = NULL;
    e->next = self->head;
    if (self->head)
        self->head->prev = e;
    self->head = e;
    if (!self->tail)
        self->tail = e;
}

static void
s_remove (rb_cache_t *self, entry_t *e)
{
    s_unlink (self, e);
    zhashx_delete (self->map, e->key);
    free (e->key);
    free (e->value);
    free (e);
    self->size--;
}

void
rb_cache_destroy (rb_cache_t **self_p)
{
    rb_cache_t *self = *self_p;
    if (!self)
        return;
    while (self->head)
        s_remove (self, self->head);
    zhashx_destroy (&self->map);
    free (self);
    *self_p = NULL;
}

/*  zhashx wants NUL-terminated keys; ours are at most 64 bytes. */
static entry_t *
s_find (rb_cache_t *self, const char *key, size_t key_len)
{
    char k[80];
    if (key_len >= sizeof k)
        return NULL;
    memcpy (k, key, key_len);
    k[key_len] = '\0';
    return (entry_t *) zhashx_lookup (self->map, k);
}

void
rb_cache_set_ttl (rb_cache_t *self, int64_t ttl_ms)
{
    self->ttl_ms = ttl_ms;
}

bool
rb_cache_get (rb_cache_t *self, const char *key, size_t key_len,
              rb_cached_t *out)
{
    entry_t *e = s_find (self, key, key_len);
    if (e && self->ttl_ms > 0 && zclock_mono () - e->stored > self->ttl_ms) {
        s_remove (self, e); /* too old to be sure pushes still reach us */
        e = NULL;
    }
    if (!e)
        return false;
    s_unlink (self, e);
    s_push_front (self, e);
    out->found = e->found;
    out->value = e->value;
    out->value_len = e->value_len;
    out->seq = e->seq;
    out->epoch = e->epoch;
    return true;
}

/*  Overwrites an entry's record. */
static void
s_set (entry_t *e, bool found, const void *value, uint32_t value_len,
       uint64_t seq, uint64_t epoch)
{
    free (e->value);
    e->value = NULL;
    e->value_len = found ? value_len : 0;
    if (found && value_len) {
        e->value = (uint8_t *) malloc (value_len);
        assert (e->value);
        memcpy (e->value, value, value_len);
    }
    e->found = found;
    e->seq = seq;
    e->epoch = epoch;
    e->stored = zclock_mono ();
}

/*  True if (seq, epoch) must not replace what e holds. */
static bool
s_older (const entry_t *e, uint64_t seq, uint64_t epoch)
{
    return epoch < e->epoch || (epoch == e->epoch && seq < e->seq);
}

bool
rb_cache_refresh (rb_cache_t *self, const char *key, size_t key_len, bool found,
                  const void *value, uint32_t value_len, uint64_t seq,
                  uint64_t epoch)
{
    entry_t *e = s_find (self, key, key_len);
    if (!e || epoch < self->epoch || s_older (e, seq, epoch))
        return false;
    s_set (e, found, value, value_len, seq, epoch);
    return true;
}

bool
rb_cache_put (rb_cache_t *self, const char *key, size_t key_len, bool found,
              const void *value, uint32_t value_len, uint64_t seq,
              uint64_t epoch)
{
    if (self->max == 0 || epoch < self->epoch || key_len > 64)
        return false;
    entry_t *e = s_find (self, key, key_len);
    if (e) {
        if (s_older (e, seq, epoch))
            return false;
        s_set (e, found, value, value_len, seq, epoch);
        s_unlink (self, e);
        s_push_front (self, e);
        return true;
    }
    if (self->size >= self->max)
        s_remove (self, self->tail);
    e = (entry_t *) calloc (1, sizeof *e);
    assert (e);
    e->key = strndup (key, key_len);
    s_set (e, found, value, value_len, seq, epoch);
    zhashx_insert (self->map, e->key, e);
    s_push_front (self, e);
    self->size++;
    return true;
}

uint32_t
rb_cache_reset (rb_cache_t *self, uint64_t epoch)
{
    if (epoch > self->epoch)
        self->epoch = epoch;
    uint32_t dropped = 0;
    entry_t *e = self->head;
    while (e) {
        entry_t *next = e->next;
        if (e->epoch < self->epoch) {
            s_remove (self, e);
            dropped++;
        }
        e = next;
    }
    return dropped;
}

uint32_t
rb_cache_clear (rb_cache_t *self)
{
    uint32_t dropped = self->size;
    while (self->head)
        s_remove (self, self->head);
    return dropped;
}

uint32_t
rb_cache_size (rb_cache_t *self)
{
    return self->size;
}

uint64_t
rb_cache_epoch (rb_cache_t *self)
{
    return self->epoch;
}
