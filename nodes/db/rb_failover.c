/*  rb_failover: FAILOVER's reply (the script is in rb_failover.h). */
#include "rb_failover.h"

#include <string.h>

int
rb_failover_reply_parse (const redisReply *r, rb_failover_reply_t *out)
{
    memset (out, 0, sizeof *out);
    int rc = rb_reply_word (r, out->word);
    char what[16] = "";
    if (rc == 0 && (rb_reply_u64 (r, 1, &out->epoch) ||
                    rb_reply_text (r, 2, out->state, sizeof out->state) ||
                    rb_reply_text (r, 3, what, sizeof what) || out->epoch == 0))
        rc = -2;
    if (rc == 0) {
        out->moved = strcmp (what, "moved") == 0;
        out->recorded = strcmp (what, "recorded") == 0;
        if (!out->moved && !out->recorded && strcmp (what, "same") != 0)
            rc = -2;
    }
    if (rc == -2)
        memset (out, 0, sizeof *out);
    return rc;
}
