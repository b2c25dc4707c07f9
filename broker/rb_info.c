/*  rb_info: the broker's STATUS answer, an INFO body of named counters
    (see rb_broker_int.h): read from the broker and its tables; this
    file owns the items' storage and the names of the per-type and
    per-code ones.  */
#include "rb_broker_int.h"

#include <assert.h>
#include <string.h>

static void
s_begin (rb_body_t *b)
{
    rb_body_init (b, RB_T_INFO);
    b->cap_items = RB_ITEMS_MAX;
    b->items = (rb_item_t *) calloc (RB_ITEMS_MAX, sizeof (rb_item_t));
    assert (b->items);
}

static void
s_item (rb_body_t *b, const char *name, uint64_t num)
{
    if (b->n_items >= b->cap_items || (num == 0 && strchr (name, '.')))
        return;
    b->items[b->n_items++] = (rb_item_t){rb_str (name), false, {NULL, 0}, num};
}

static void
s_counts (rb_body_t *b, const uint64_t *routed, const rb_outbox_stats_t *out)
{
    /* the items point at these names: static, held by this table */
    static char names[RB_T_COUNT_ + RB_CODES][48];
    for (int t = 1; t < RB_T_COUNT_; t++) {
        snprintf (names[t], sizeof names[t], "routed.%s", rb_type_name (t));
        s_item (b, names[t], routed[t]);
    }
    for (int c = 0; c < RB_CODES; c++) {
        char *n = names[RB_T_COUNT_ + c];
        snprintf (n, sizeof names[0], "errors.%s",
                  rb_code_name (RB_S_MALFORMED + c));
        s_item (b, n, out->errors[c]);
    }
}

void
rb_info__broker (broker_t *self, rb_body_t *b)
{
    s_begin (b);
    const rb_outbox_stats_t *out = rb_outbox__stats (self->out);
    s_item (b, "nodes", rb_peers__live (self->peers));
    s_item (b, "inflight", rb_slots_used (self->flights));
    s_item (b, "queued", rb_services__queued (self->services));
    s_item (b, "queued_bytes", self->queued_bytes);
    s_item (b, "services", rb_services__count (self->services));
    s_item (b, "expired", self->expired);
    s_item (b, "nodes_lost", self->nodes_lost);
    s_item (b, "rerouted", self->rerouted);
    s_item (b, "kept_bytes", self->kept.bytes);
    s_item (b, "malformed", self->malformed);
    s_item (b, "strays", self->strays);
    s_item (b, "send_fails", out->send_fails);
    s_item (b, "tap_subscribers", (uint64_t) out->tap_subs);
    s_item (b, "tap_drops", out->tap_drops);
    s_item (b, "refused", self->refused);
    s_item (b, "tap_refused", out->tap_refused);
    s_item (b, "over_budget", self->over_budget);
    s_item (b, "nodes_refused", self->nodes_refused);
    s_item (b, "connections", rb_conns__stats (self->conns)->accepted);
    s_item (b, "idle_closed", rb_conns__stats (self->conns)->idle_closed);
    s_counts (b, self->routed, out);
}
