/*  rb_mtest: what the monitor suites (test_monitor, test_monitor_program)
    share: tap messages built the way the broker publishes them.  */
#ifndef RB_MTEST_H
#define RB_MTEST_H

#include <czmq.h>
#include <string.h>

#include "rb_msg.h"

/*  A message as the broker publishes it on its tap: [topic][header]
    [body?]; b may be NULL. Its correlation id is 42.  */
static inline zmsg_t *
rb_mt_tap (int kind, const char *sender, int role, int addr, const char *dest,
           const rb_body_t *b, uint16_t status)
{
    rb_header_t h;
    memset (&h, 0, sizeof h);
    h.kind = (uint8_t) kind;
    h.type = b ? b->type : RB_T_NONE;
    h.role = (uint8_t) role;
    h.addr = (uint8_t) addr;
    h.status = status;
    h.corr = 42;
    snprintf (h.sender, sizeof h.sender, "%s", sender);
    snprintf (h.dest, sizeof h.dest, "%s", dest);
    zmsg_t *msg = rb_msg_new (&h, b);
    zmsg_pushstr (msg, b ? rb_type_name (b->type) : rb_kind_name (kind));
    return msg;
}

#endif
