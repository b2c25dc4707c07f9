/*  rb_timers: due times of many objects, in a binary min-heap, so a
    periodic tick costs O(log n) per timer that is due instead of a walk
    over every object. Entries are (time, id) pairs; the owner re-arms an
    object when its next due time changes and ignores entries it finds
    stale (an object gone, or armed again for another time): nothing is
    ever removed from the middle.  */
#ifndef RB_TIMERS_H
#define RB_TIMERS_H

#include <stdbool.h>
#include <stdint.h>

typedef struct rb_timers rb_timers_t;

rb_timers_t *rb_timers_new (void);
void rb_timers_destroy (rb_timers_t **self_p);

/*  Adds an entry: id is due at time.  */
void rb_timers_add (rb_timers_t *self, int64_t time, uint64_t id);
/*  Takes the earliest entry due at or before now: true with *time and
 *id set, or false when none is due.  */
bool rb_timers_pop (rb_timers_t *self, int64_t now, int64_t *time,
                    uint64_t *id);
/*  Entries held (stale ones included).  */
uint32_t rb_timers_size (rb_timers_t *self);

#endif
