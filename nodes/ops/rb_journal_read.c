/*  rb_journal_read: reading orders back from a mapping of the journal: the
   pending ones, and those a recovery re-sends (rb_journal_recovery: one pass
   over the tail of the journal from the first order a backup may lack, keeping
   the newest order of every key met in an open-addressing table).  */
#include "rb_journal_int.h"

#include <assert.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

/*  --- maps and pending orders ---------------------------------------- */

rb_journal_map_t *
rb_journal_map_new (rb_journal_t *self)
{
    rb_journal_map_t *map = (rb_journal_map_t *) calloc (1, sizeof *map);
    assert (map);
    map->size = self->size;
    if (map->size == 0)
        return map;
    void *p = mmap (NULL, map->size, PROT_READ, MAP_PRIVATE, self->fd, 0);
    if (p == MAP_FAILED) {
        snprintf (self->errstr, sizeof self->errstr, "journal %s: mmap: %s",
                  self->path, strerror (errno));
        free (map);
        return NULL;
    }
    map->base = (const uint8_t *) p;
    return map;
}

void
rb_journal_map_destroy (rb_journal_map_t **self_p)
{
    rb_journal_map_t *self = *self_p;
    if (!self)
        return;
    if (self->base)
        munmap ((void *) self->base, self->size);
    free (self);
    *self_p = NULL;
}

int
rb_journal_map_order (const rb_journal_map_t *map, uint64_t offset,
                      rb_jorder_t *order)
{
    if (offset < HEADER_SIZE || offset + FRAME_SIZE > map->size)
        return -1;
    uint32_t len = rb_jget32 (map->base + offset);
    if (len > map->size - offset - FRAME_SIZE)
        return -1;
    const uint8_t *p = map->base + offset + FRAME_SIZE;
    return rb_journal_decode_order_ (p, len, order) ? -1 : 0;
}

size_t
rb_journal_pending_list (rb_journal_t *self, uint64_t **offsets)
{
    *offsets = NULL;
    if (self->pending == 0)
        return 0;
    *offsets = (uint64_t *) malloc (self->pending * sizeof (uint64_t));
    assert (*offsets);
    size_t n = 0;
    for (size_t i = self->head; i < self->n_pend; i++)
        if (self->pend[i].offset != UINT64_MAX)
            (*offsets)[n++] = self->pend[i].offset;
    assert (n == self->pending);
    return n;
}

/*  --- recovery ------------------------------------------------------- */

static int
s_range_cmp (const void *a, const void *b)
{
    const jrange_t *x = (const jrange_t *) a, *y = (const jrange_t *) b;
    return x->lo < y->lo ? -1 : x->lo > y->lo;
}

/*  Sorts ranges by lo and merges overlapping or adjacent ones. */
static size_t
s_merge (jrange_t *r, size_t n)
{
    if (n == 0)
        return 0;
    qsort (r, n, sizeof *r, s_range_cmp);
    size_t out = 0;
    for (size_t i = 1; i < n; i++) {
        if (r[i].lo <= r[out].hi + 1) {
            if (r[i].hi > r[out].hi)
                r[out].hi = r[i].hi;
        } else
            r[++out] = r[i];
    }
    return out + 1;
}

/*  Seqs at or below the watermark whose orders a backup taken at that
    watermark may lack: acknowledged behind a DB watermark at or above
    it, or still pending. Sorted and merged; *out is the caller's.  */
static size_t
s_lacking (rb_journal_t *self, uint64_t w, jrange_t **out)
{
    size_t n = 0, cap = 0;
    *out = NULL;
    for (size_t i = 0; i < self->n_late; i++) {
        jrange_t l = self->late[i];
        if (l.mark >= w && l.lo <= w)
            rb_journal_range_add_ (out, &n, &cap,
                                   (jrange_t){l.lo, l.hi < w ? l.hi : w, 0});
    }
    for (size_t i = self->head; i < self->n_pend && self->pend[i].seq <= w; i++)
        if (self->pend[i].offset != UINT64_MAX)
            rb_journal_range_add_ (
                out, &n, &cap,
                (jrange_t){self->pend[i].seq, self->pend[i].seq, 0});
    return s_merge (*out, n);
}

/*  Whether seq lies in the sorted ranges r; seqs must come ascending. */
static bool
s_in (const jrange_t *r, size_t n, size_t *cursor, uint64_t seq)
{
    while (*cursor < n && r[*cursor].hi < seq)
        (*cursor)++;
    return *cursor < n && r[*cursor].lo <= seq;
}

/*  Where to start reading for orders from seq on: the last index mark
    at or below it inside the map.  */
static uint64_t
s_start (rb_journal_t *self, const rb_journal_map_t *map, uint64_t seq)
{
    uint64_t off = HEADER_SIZE;
    for (size_t i = 0; i < self->n_marks && self->marks[i].seq <= seq; i++)
        if (self->marks[i].offset < map->size)
            off = self->marks[i].offset;
    return off;
}

/*  Keys met so far: open addressing; a slot holds the key's hash (high
    32 bits) and 1 + its index in the output (low 32), 0 when empty.  */
typedef struct {
    uint64_t *slots;
    size_t cap, used;
} keyset_t;

static uint32_t
s_hash (const uint8_t *key, uint32_t len)
{
    uint32_t h = 2166136261u; /* FNV-1a */
    for (uint32_t i = 0; i < len; i++)
        h = (h ^ key[i]) * 16777619u;
    return h;
}

static void
s_keyset_grow (keyset_t *set)
{
    size_t cap = set->cap * 2;
    uint64_t *slots = (uint64_t *) calloc (cap, sizeof (uint64_t));
    assert (slots);
    for (size_t i = 0; i < set->cap; i++) {
        uint64_t v = set->slots[i];
        if (!v)
            continue;
        size_t at = (v >> 32) & (cap - 1);
        while (slots[at])
            at = (at + 1) & (cap - 1);
        slots[at] = v;
    }
    free (set->slots);
    set->slots = slots;
    set->cap = cap;
}

/*  The slot of key: its index found, or an empty slot to fill. */
static uint64_t *
s_keyset_find (keyset_t *set, const rb_journal_map_t *map,
               const uint64_t *offsets, const uint8_t *key, uint32_t len,
               uint32_t hash)
{
    size_t at = hash & (set->cap - 1);
    for (;; at = (at + 1) & (set->cap - 1)) {
        uint64_t v = set->slots[at];
        if (!v)
            return &set->slots[at];
        if ((uint32_t) (v >> 32) != hash)
            continue;
        const uint8_t *p = map->base + offsets[(uint32_t) v - 1] + FRAME_SIZE;
        if (p[18] == len && memcmp (p + ORDER_FIXED, key, len) == 0)
            return &set->slots[at];
    }
}

/*  The scan state of one recovery. */
typedef struct {
    jrange_t *lacking, *rejected;
    size_t n_lacking, n_rejected, c_lacking, c_rejected;
    keyset_t keys;
    uint64_t *out;
    size_t n_out, cap_out;
} recovery_t;

/*  Takes one order of the tail: a key newly wanted, or a newer order of
    a key already wanted.  */
static void
s_recovery_take (recovery_t *r, const rb_journal_map_t *map, uint64_t w,
                 uint64_t off, uint32_t hash)
{
    const uint8_t *p = map->base + off + FRAME_SIZE;
    uint64_t seq = rb_jget64 (p + 1);
    if (s_in (r->rejected, r->n_rejected, &r->c_rejected, seq))
        return; /* never applied: not part of any state */
    bool wanted =
        seq > w || s_in (r->lacking, r->n_lacking, &r->c_lacking, seq);
    if (2 * (r->keys.used + 1) > r->keys.cap)
        s_keyset_grow (&r->keys);
    const uint8_t *key = p + ORDER_FIXED;
    uint64_t *slot = s_keyset_find (&r->keys, map, r->out, key, p[18], hash);
    if (*slot)
        r->out[(uint32_t) *slot - 1] = off;
    else if (wanted) {
        rb_journal_grow_ ((void **) &r->out, &r->cap_out, r->n_out + 1,
                          sizeof (uint64_t));
        r->out[r->n_out++] = off;
        *slot = (uint64_t) hash << 32 | (uint64_t) r->n_out;
        r->keys.used++;
    }
}

#define GROUP 16 /* orders hashed and prefetched before they are taken */

/*  Reads the tail from the first order with seq >= from. The table is
    far bigger than the caches: each group's slots are prefetched while
    the group is hashed, so their misses overlap.  */
static int
s_scan_tail (rb_journal_t *self, const rb_journal_map_t *map, recovery_t *r,
             uint64_t w, uint64_t from)
{
    uint64_t group[GROUP];
    uint32_t hashes[GROUP];
    int n = 0;
    uint64_t off = s_start (self, map, from);
    while (off < map->size || n > 0) {
        if (off < map->size) {
            uint64_t left = map->size - off;
            uint32_t len = left >= FRAME_SIZE ? rb_jget32 (map->base + off) : 0;
            if (len == 0 || len > left - FRAME_SIZE) {
                snprintf (self->errstr, sizeof self->errstr,
                          "journal %s: offset %" PRIu64 ": record cut short",
                          self->path, off);
                return -1;
            }
            const uint8_t *p = map->base + off + FRAME_SIZE;
            if (p[0] == T_ORDER && rb_jget64 (p + 1) >= from) {
                hashes[n] = s_hash (p + ORDER_FIXED, p[18]);
                __builtin_prefetch (
                    &r->keys.slots[hashes[n] & (r->keys.cap - 1)]);
                group[n++] = off;
            }
            off += FRAME_SIZE + len;
            if (n < GROUP && off < map->size)
                continue;
        }
        for (int i = 0; i < n; i++)
            s_recovery_take (r, map, w, group[i], hashes[i]);
        n = 0;
    }
    return 0;
}

int64_t
rb_journal_recovery (rb_journal_t *self, const rb_journal_map_t *map,
                     uint64_t watermark, uint64_t **offsets)
{
    recovery_t r;
    memset (&r, 0, sizeof r);
    r.n_lacking = s_lacking (self, watermark, &r.lacking);
    size_t cap = 0;
    for (size_t i = 0; i < self->n_rejected; i++)
        rb_journal_range_add_ (&r.rejected, &r.n_rejected, &cap,
                               self->rejected[i]);
    r.n_rejected = s_merge (r.rejected, r.n_rejected);
    uint64_t from = watermark + 1;
    if (r.n_lacking && r.lacking[0].lo < from)
        from = r.lacking[0].lo;
    /* room for every order of the tail at half load: no rehashing */
    uint64_t tail = self->next > from ? self->next - from : 1;
    if (tail > self->orders) /* seqs jump at a seq floor record */
        tail = self->orders ? self->orders : 1;
    r.keys.cap = 1024;
    while (r.keys.cap < 2 * tail && r.keys.cap < (1u << 31))
        r.keys.cap *= 2;
    r.keys.slots = (uint64_t *) calloc (r.keys.cap, sizeof (uint64_t));
    assert (r.keys.slots);
    int64_t rc = s_scan_tail (self, map, &r, watermark, from);
    free (r.lacking);
    free (r.rejected);
    free (r.keys.slots);
    if (rc) {
        free (r.out);
        r.out = NULL;
    }
    *offsets = r.out;
    return rc ? rc : (int64_t) r.n_out;
}
