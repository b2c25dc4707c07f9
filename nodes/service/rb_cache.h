/*  rb_cache: the service node's record cache: a bounded LRU map from key
    to {value or none, seq, epoch}. Entries only move forward: a write
    with a lower seq than the entry of the same epoch, or an older epoch,
    is ignored (a push may overtake the reply of a read that started
    before it). A RESET drops every entry of an older epoch. Memory is
    bounded by the entry count (values are at most the codec's limit).  */
#ifndef RB_CACHE_H
#define RB_CACHE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct rb_cache rb_cache_t;

typedef struct {
    bool found;           /* false: "not found" is what is cached */
    const uint8_t *value; /* borrowed from the cache until its next change */
    uint32_t value_len;
    uint64_t seq;
    uint64_t epoch;
} rb_cached_t;

/*  A cache of at most max entries; 0 caches nothing. */
rb_cache_t *rb_cache_new (uint32_t max);

/*  Entries older than ttl_ms (since stored or refreshed) are misses and
    dropped; 0 = no limit. Keep it below the DB's fetch-ttl, so no entry
    outlives the node's registration for UPDATE pushes.  */
void rb_cache_set_ttl (rb_cache_t *self, int64_t ttl_ms);
void rb_cache_destroy (rb_cache_t **self_p);

/*  Looks key up; on a hit fills *out and makes it most recent. */
bool rb_cache_get (rb_cache_t *self, const char *key, size_t key_len,
                   rb_cached_t *out);

/*  Stores a record unless the entry holds a newer one (same epoch, higher
    seq; or a newer epoch) or epoch is below the cache's epoch. Returns
    true if stored. Evicts the least recently used entry when full.  */
bool rb_cache_put (rb_cache_t *self, const char *key, size_t key_len,
                   bool found, const void *value, uint32_t value_len,
                   uint64_t seq, uint64_t epoch);

/*  Like put, but only refreshes an entry that exists (UPDATE pushes). */
bool rb_cache_refresh (rb_cache_t *self, const char *key, size_t key_len,
                       bool found, const void *value, uint32_t value_len,
                       uint64_t seq, uint64_t epoch);

/*  Raises the cache's epoch and drops every entry older than it.
    Returns the number dropped.  */
uint32_t rb_cache_reset (rb_cache_t *self, uint64_t epoch);

/*  Drops every entry, whatever its epoch (the epoch stays). Returns the
    number dropped.  */
uint32_t rb_cache_clear (rb_cache_t *self);

uint32_t rb_cache_size (rb_cache_t *self);
uint64_t rb_cache_epoch (rb_cache_t *self);

#endif
