/*  rb_slots: a table of fixed-size records addressed by 64-bit ids that
    carry a generation, so a stale or forged id finds nothing. Used for
    requests in flight (broker) and awaiting replies (bus client): no
    allocation per request once the table has grown to its working size,
    O(1) lookup, and ids that can go on the wire as correlation ids.  */
#ifndef RB_SLOTS_H
#define RB_SLOTS_H

#include <stddef.h>
#include <stdint.h>

typedef struct rb_slots rb_slots_t;

/*  Records of record_size bytes; the table grows up to max records. */
rb_slots_t *rb_slots_new (size_t record_size, uint32_t max);
void rb_slots_destroy (rb_slots_t **self_p);

/*  Takes a free record (zeroed); *id gets its id. NULL when full. */
void *rb_slots_alloc (rb_slots_t *self, uint64_t *id);
/*  The record of a live id, or NULL. */
void *rb_slots_get (rb_slots_t *self, uint64_t id);
/*  Frees the record of a live id; returns 0, or -1 if not live.  */
int rb_slots_free (rb_slots_t *self, uint64_t id);
uint32_t rb_slots_used (rb_slots_t *self);

/*  Iterates live records: start with *cursor = 0; returns NULL at the
    end. Freeing the current record while iterating is allowed.  */
void *rb_slots_next (rb_slots_t *self, uint32_t *cursor, uint64_t *id);

#endif
