/*  rb_info: the broker's STATUS answer, an INFO body of named counters
    (see rb_broker_int.h). The actor says which; this file owns the
    items' storage and the names of the per-type and per-code ones.  */
#include "rb_broker_int.h"

#include <assert.h>
#include <string.h>

void
rb_info__begin (rb_body_t *b)
{
    rb_body_init (b, RB_T_INFO);
    b->cap_items = RB_ITEMS_MAX;
    b->items = (rb_item_t *) calloc (RB_ITEMS_MAX, sizeof (rb_item_t));
    assert (b->items);
}

void
rb_info__item (rb_body_t *b, const char *name, uint64_t num)
{
    if (b->n_items >= b->cap_items || (num == 0 && strchr (name, '.')))
        return;
    b->items[b->n_items++] = (rb_item_t){rb_str (name), false, {NULL, 0}, num};
}

void
rb_info__counts (rb_body_t *b, const uint64_t *routed,
                 const rb_outbox_stats_t *out)
{
    /* the items point at these names: static, held by this table */
    static char names[RB_T_COUNT_ + RB_CODES][48];
    for (int t = 1; t < RB_T_COUNT_; t++) {
        snprintf (names[t], sizeof names[t], "routed.%s", rb_type_name (t));
        rb_info__item (b, names[t], routed[t]);
    }
    for (int c = 0; c < RB_CODES; c++) {
        char *n = names[RB_T_COUNT_ + c];
        snprintf (n, sizeof names[0], "errors.%s",
                  rb_code_name (RB_S_MALFORMED + c));
        rb_info__item (b, n, out->errors[c]);
    }
}
