/*  rb_nodelog: the broker's lines about nodes (see rb_broker_int.h),
    at most RB_NODE_LOGS a second, so that a flood of HELLOs cannot
    flood the log (nor cost the broker a write per HELLO).  */
#include "rb_broker_int.h"

#include <stdarg.h>

void
rb_nodelog__line (rb_nodelog_t *self, bool warning, const char *fmt, ...)
{
    int64_t now = zclock_mono ();
    if (now - self->at >= 1000) {
        if (self->held)
            zsys_warning ("broker: %" PRIu64 " more node events not logged "
                          "(at most %d a second)",
                          self->held, RB_NODE_LOGS);
        self->at = now;
        self->sent = 0;
        self->held = 0;
    }
    if (self->sent >= RB_NODE_LOGS) {
        self->held++;
        return;
    }
    self->sent++;
    char line[512];
    va_list args;
    va_start (args, fmt);
    vsnprintf (line, sizeof line, fmt, args);
    va_end (args);
    if (warning)
        zsys_warning ("broker: %s", line);
    else
        zsys_info ("broker: %s", line);
}
