/*  rb_flights: what a request in flight keeps so that the broker can
    send it to another worker when its own is lost (see rb_broker_int.h,
    docs/faults.md "A worker dies with requests in flight").

    A flight keeps the header frame it forwarded (its corr is the
    flight's id, its sender the requester) and the body, as shared
    copies: zmq_msg_copy counts a reference to the bytes libzmq is
    sending, it copies none. The bytes kept by all flights together are
    bounded (rb_kept_t, the broker's queue-bytes); past the bound a
    flight keeps nothing and is answered worker_lost, as before.  */
#include "rb_broker_int.h"

#include <assert.h>
#include <string.h>

/*  The body types a lost worker's request may be sent again for: each
    is safe to run twice (docs/faults.md). BACKUP and RESTORE are not
    here: a restore flushes Redis and moves the epoch, a backup writes a
    file; a second run of either is another run, not a repeat.  */
static const bool s_reroutable[RB_T_COUNT_] = {
    [RB_T_GET] = true,           /* a read */
    [RB_T_GETS] = true,          /* reads */
    [RB_T_ORDER] = true,         /* applied once: by seq */
    [RB_T_DIFF] = true,          /* orders, each by seq */
    [RB_T_RECOVERY_LIST] = true, /* FLAG writes the same targets again */
    [RB_T_RECOVERY_END] = true,  /* ok when already normal */
    [RB_T_STATUS] = true,        /* a read */
    [RB_T_ECHO] = true,          /* no state */
};

bool
rb_flights__reroutable (int type)
{
    return type > RB_T_NONE && type < RB_T_COUNT_ && s_reroutable[type];
}

void
rb_flights__keep (rb_flight_t *f, int type, zmq_msg_t *header, zmq_msg_t *body,
                  rb_kept_t *kept)
{
    size_t size = zmq_msg_size (header) + (body ? zmq_msg_size (body) : 0);
    f->kept = rb_flights__reroutable (type) && kept->bytes + size <= kept->max;
    if (!f->kept)
        return;
    zmq_msg_init (&f->header);
    zmq_msg_copy (&f->header, header);
    zmq_msg_init (&f->body);
    if (body)
        zmq_msg_copy (&f->body, body);
    kept->bytes += size;
}

void
rb_flights__release (rb_flight_t *f, rb_kept_t *kept)
{
    if (!f->kept)
        return;
    size_t size = zmq_msg_size (&f->header) + zmq_msg_size (&f->body);
    assert (kept->bytes >= size);
    kept->bytes -= size;
    zmq_msg_close (&f->header);
    zmq_msg_close (&f->body);
    f->kept = false;
}

int
rb_flights__take (rb_flight_t *f, rb_header_t *h, zmq_msg_t *body,
                  rb_kept_t *kept)
{
    zmq_msg_init (body);
    if (!f->kept)
        return -1;
    rb_err_t err;
    int rc = rb_header_decode (zmq_msg_data (&f->header),
                               zmq_msg_size (&f->header), h, &err);
    if (rc == 0) {
        h->corr = f->corr;
        kept->bytes -= zmq_msg_size (&f->body);
        zmq_msg_move (body, &f->body); /* f->body is empty now */
    }
    rb_flights__release (f, kept);
    return rc == 0 ? 0 : -1;
}
