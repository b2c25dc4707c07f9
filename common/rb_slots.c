/*  rb_slots: generation-tagged record table (see rb_slots.h). */
#include "rb_slots.h"

#include <assert.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

struct rb_slots {
    size_t record_size; /* bytes per user record */
    size_t stride;      /* bytes per slot: header + record */
    uint32_t max;       /* most records the table may hold */
    uint32_t cap;       /* slots allocated */
    uint32_t used;      /* live records */
    uint32_t free_head; /* first free slot index + 1, 0 if none */
    uint8_t *slots;     /* cap slots of stride bytes */
};

/*  Every slot starts with this header. */
typedef struct {
    uint32_t gen;       /* bumped at each free */
    uint32_t next_free; /* next free slot index + 1 */
    bool live;
} rb_slot_hdr_t;

#define HDR_SIZE ((sizeof (rb_slot_hdr_t) + 15) & ~(size_t) 15)

rb_slots_t *
rb_slots_new (size_t record_size, uint32_t max)
{
    rb_slots_t *self = (rb_slots_t *) calloc (1, sizeof *self);
    assert (self);
    self->record_size = record_size;
    self->stride = HDR_SIZE + ((record_size + 15) & ~(size_t) 15);
    self->max = max;
    return self;
}

void
rb_slots_destroy (rb_slots_t **self_p)
{
    if (*self_p) {
        free ((*self_p)->slots);
        free (*self_p);
        *self_p = NULL;
    }
}

static rb_slot_hdr_t *
s_hdr (rb_slots_t *self, uint32_t index)
{
    return (rb_slot_hdr_t *) (self->slots + (size_t) index * self->stride);
}

/*  Doubles the table (up to max), chaining the new slots as free. */
static int
s_grow (rb_slots_t *self)
{
    if (self->cap >= self->max)
        return -1;
    uint32_t cap = self->cap ? self->cap * 2 : 64;
    if (cap > self->max)
        cap = self->max;
    uint8_t *grown = (uint8_t *) realloc (self->slots, cap * self->stride);
    assert (grown);
    self->slots = grown;
    memset (grown + (size_t) self->cap * self->stride, 0,
            (size_t) (cap - self->cap) * self->stride);
    for (uint32_t i = cap; i > self->cap; i--) {
        s_hdr (self, i - 1)->next_free = self->free_head;
        self->free_head = i;
    }
    self->cap = cap;
    return 0;
}

void *
rb_slots_alloc (rb_slots_t *self, uint64_t *id)
{
    if (!self->free_head && s_grow (self))
        return NULL;
    uint32_t index = self->free_head - 1;
    rb_slot_hdr_t *hdr = s_hdr (self, index);
    self->free_head = hdr->next_free;
    hdr->live = true;
    self->used++;
    *id = ((uint64_t) hdr->gen << 32) | index;
    void *record = (uint8_t *) hdr + HDR_SIZE;
    memset (record, 0, self->record_size);
    return record;
}

void *
rb_slots_get (rb_slots_t *self, uint64_t id)
{
    uint32_t index = (uint32_t) id;
    if (index >= self->cap)
        return NULL;
    rb_slot_hdr_t *hdr = s_hdr (self, index);
    if (!hdr->live || hdr->gen != (uint32_t) (id >> 32))
        return NULL;
    return (uint8_t *) hdr + HDR_SIZE;
}

int
rb_slots_free (rb_slots_t *self, uint64_t id)
{
    if (!rb_slots_get (self, id))
        return -1;
    uint32_t index = (uint32_t) id;
    rb_slot_hdr_t *hdr = s_hdr (self, index);
    hdr->live = false;
    hdr->gen++;
    hdr->next_free = self->free_head;
    self->free_head = index + 1;
    self->used--;
    return 0;
}

uint32_t
rb_slots_used (rb_slots_t *self)
{
    return self->used;
}

void *
rb_slots_next (rb_slots_t *self, uint32_t *cursor, uint64_t *id)
{
    while (*cursor < self->cap) {
        uint32_t index = (*cursor)++;
        rb_slot_hdr_t *hdr = s_hdr (self, index);
        if (hdr->live) {
            *id = ((uint64_t) hdr->gen << 32) | index;
            return (uint8_t *) hdr + HDR_SIZE;
        }
    }
    return NULL;
}
