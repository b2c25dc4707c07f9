/*  rb_cache: bounded LRU record cache (see rb_cache.h).

    An open-addressing table (linear probing, at most half full) finds a
    key's entry; the entries form a doubly linked list, most recent
    first, so a hit and an eviction are O(1). A slot keeps the key's hash,
    so a probe reads another entry only when the hashes agree, and the key
    lives in its entry: a hit reads the slot, the entry and the value,
    with no copy of the key to make and no string to measure.  */
#include "rb_cache.h"

#include <assert.h>
#include <czmq.h>
#include <string.h>

#define RB_CACHE_KEY_MAX 64 /* bytes in a key, as the protocol has them */

typedef struct entry {
    struct entry *prev, *next; /* LRU list, head = most recent */
    uint8_t *value;            /* owned, NULL when not found */
    uint32_t value_len;
    uint32_t hash;
    bool found;
    uint8_t key_len;
    uint64_t seq, epoch;
    int64_t stored; /* zclock_mono () when last written */
    char key[RB_CACHE_KEY_MAX];
} entry_t;

typedef struct {
    entry_t *e; /* NULL: free */
    uint32_t hash;
} slot_t;

struct rb_cache {
    slot_t *slots; /* 2^n of them, NULL until the first put */
    uint32_t mask; /* slots - 1 */
    uint64_t seed; /* of the hash, random per cache */
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
    self->max = max;
    self->seed = (uint64_t) zclock_usecs () ^ (uint64_t) (uintptr_t) self;
    return self;
}

/*  FNV-1a from a per-cache seed, folded to 32 bits. */
static uint32_t
s_hash (const rb_cache_t *self, const char *key, size_t len)
{
    uint64_t h = 14695981039346656037ull ^ self->seed;
    for (size_t i = 0; i < len; i++)
        h = (h ^ (uint8_t) key[i]) * 1099511628211ull;
    return (uint32_t) (h ^ (h >> 32));
}

/*  The slot holding key's entry, or the free slot where it would go. */
static slot_t *
s_slot (rb_cache_t *self, const char *key, size_t len, uint32_t hash)
{
    for (uint32_t i = hash & self->mask;; i = (i + 1) & self->mask) {
        slot_t *s = &self->slots[i];
        if (!s->e || (s->hash == hash && s->e->key_len == len &&
                      memcmp (s->e->key, key, len) == 0))
            return s;
    }
}

static entry_t *
s_find (rb_cache_t *self, const char *key, size_t len)
{
    if (!self->slots || len > RB_CACHE_KEY_MAX)
        return NULL;
    return s_slot (self, key, len, s_hash (self, key, len))->e;
}

/*  Doubles the table (or makes the first) and re-inserts every entry. */
static void
s_grow (rb_cache_t *self)
{
    uint32_t slots = self->slots ? 2 * (self->mask + 1) : 64;
    free (self->slots);
    self->slots = (slot_t *) calloc (slots, sizeof *self->slots);
    assert (self->slots);
    self->mask = slots - 1;
    for (entry_t *e = self->head; e; e = e->next)
        *s_slot (self, e->key, e->key_len, e->hash) = (slot_t){e, e->hash};
}

/*  Takes e out of the table, shifting back the entries after it that
    would no longer be found past the freed slot (no tombstones).  */
static void
s_unindex (rb_cache_t *self, entry_t *e)
{
    uint32_t i = e->hash & self->mask;
    while (self->slots[i].e != e)
        i = (i + 1) & self->mask;
    for (uint32_t j = (i + 1) & self->mask; self->slots[j].e;
         j = (j + 1) & self->mask) {
        uint32_t home = self->slots[j].hash & self->mask;
        /* j's entry stays when its home lies in (i, j], cyclically */
        bool stays = i < j ? (i < home && home <= j) : (i < home || home <= j);
        if (!stays) {
            self->slots[i] = self->slots[j];
            i = j;
        }
    }
    self->slots[i].e = NULL;
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
    s_unindex (self, e);
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
    rb_cache_clear (self);
    free (self->slots);
    free (self);
    *self_p = NULL;
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
    if (e != self->head) {
        s_unlink (self, e);
        s_push_front (self, e);
    }
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
    if (self->max == 0 || epoch < self->epoch || key_len > RB_CACHE_KEY_MAX)
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
    if (!self->slots || 2 * (self->size + 1) > self->mask + 1)
        s_grow (self);
    e = (entry_t *) calloc (1, sizeof *e);
    assert (e);
    memcpy (e->key, key, key_len);
    e->key_len = (uint8_t) key_len;
    e->hash = s_hash (self, key, key_len);
    s_set (e, found, value, value_len, seq, epoch);
    *s_slot (self, key, key_len, e->hash) = (slot_t){e, e->hash};
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
    while (self->head) {
        entry_t *e = self->head;
        self->head = e->next;
        free (e->value);
        free (e);
    }
    self->tail = NULL;
    self->size = 0;
    if (self->slots)
        memset (self->slots, 0, (self->mask + 1) * sizeof *self->slots);
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
