/*  rb_timers: see rb_timers.h.  */
#include "rb_timers.h"

#include <assert.h>
#include <stdlib.h>

typedef struct {
    int64_t time;
    uint64_t id;
} entry_t;

struct rb_timers {
    entry_t *heap; /* heap[0] is the earliest */
    uint32_t size, cap;
};

rb_timers_t *
rb_timers_new (void)
{
    rb_timers_t *self = (rb_timers_t *) calloc (1, sizeof *self);
    assert (self);
    return self;
}

void
rb_timers_destroy (rb_timers_t **self_p)
{
    if (!*self_p)
        return;
    free ((*self_p)->heap);
    free (*self_p);
    *self_p = NULL;
}

static void
s_swap (entry_t *a, entry_t *b)
{
    entry_t t = *a;
    *a = *b;
    *b = t;
}

void
rb_timers_add (rb_timers_t *self, int64_t time, uint64_t id)
{
    if (self->size == self->cap) {
        self->cap = self->cap ? self->cap * 2 : 64;
        self->heap =
            (entry_t *) realloc (self->heap, self->cap * sizeof (entry_t));
        assert (self->heap);
    }
    uint32_t i = self->size++;
    self->heap[i] = (entry_t){time, id};
    while (i > 0 && self->heap[(i - 1) / 2].time > self->heap[i].time) {
        s_swap (&self->heap[(i - 1) / 2], &self->heap[i]);
        i = (i - 1) / 2;
    }
}

bool
rb_timers_pop (rb_timers_t *self, int64_t now, int64_t *time, uint64_t *id)
{
    if (self->size == 0 || self->heap[0].time > now)
        return false;
    *time = self->heap[0].time;
    *id = self->heap[0].id;
    self->heap[0] = self->heap[--self->size];
    for (uint32_t i = 0;;) {
        uint32_t l = 2 * i + 1, r = l + 1, least = i;
        if (l < self->size && self->heap[l].time < self->heap[least].time)
            least = l;
        if (r < self->size && self->heap[r].time < self->heap[least].time)
            least = r;
        if (least == i)
            break;
        s_swap (&self->heap[i], &self->heap[least]);
        i = least;
    }
    return true;
}

uint32_t
rb_timers_size (rb_timers_t *self)
{
    return self->size;
}
