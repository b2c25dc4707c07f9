/*  rb_budget: per-peer send accounting by echoed marks (rb_budget.h). */
#include "rb_budget.h"

#include <string.h>

void
rb_budget_init (rb_budget_t *self, int64_t now)
{
    memset (self, 0, sizeof *self);
    self->next_id = 1;
    self->progress_at = now;
}

void
rb_budget_sent (rb_budget_t *self, size_t bytes)
{
    self->sent_bytes += bytes;
    self->sent_msgs++;
}

uint64_t
rb_budget_mark (rb_budget_t *self)
{
    uint64_t id = self->next_id++;
    self->last_bytes = self->sent_bytes;
    self->last_msgs = self->sent_msgs;
    self->marks[id % RB_BUDGET_MARKS].id = id;
    self->marks[id % RB_BUDGET_MARKS].bytes = self->sent_bytes;
    self->marks[id % RB_BUDGET_MARKS].msgs = self->sent_msgs;
    return id;
}

void
rb_budget_echo (rb_budget_t *self, uint64_t id, int64_t now)
{
    if (id == 0 || self->marks[id % RB_BUDGET_MARKS].id != id)
        return; /* never made, or overwritten by a later mark */
    uint64_t bytes = self->marks[id % RB_BUDGET_MARKS].bytes;
    uint64_t msgs = self->marks[id % RB_BUDGET_MARKS].msgs;
    if (msgs <= self->read_msgs)
        return; /* an echo overtaken by a later one */
    self->read_bytes = bytes;
    self->read_msgs = msgs;
    self->progress_at = now;
}

uint64_t
rb_budget_queued_bytes (const rb_budget_t *self)
{
    return self->sent_bytes - self->read_bytes;
}

uint64_t
rb_budget_queued_msgs (const rb_budget_t *self)
{
    return self->sent_msgs - self->read_msgs;
}

bool
rb_budget_due (const rb_budget_t *self, uint64_t max_bytes, uint64_t max_msgs)
{
    return self->sent_bytes - self->last_bytes >= max_bytes / 8 ||
           self->sent_msgs - self->last_msgs >= max_msgs / 8;
}

bool
rb_budget_drop (const rb_budget_t *self, uint64_t max_bytes, uint64_t max_msgs,
                int64_t stall_ms, int64_t now)
{
    uint64_t bytes = rb_budget_queued_bytes (self);
    uint64_t msgs = rb_budget_queued_msgs (self);
    if (bytes > 2 * max_bytes || msgs > 2 * max_msgs)
        return true;
    return (bytes > max_bytes || msgs > max_msgs) &&
           now - self->progress_at >= stall_ms;
}
