/*  rb_outbox: what the broker sends (see rb_broker_int.h): messages on
    the ROUTER to a routing id, copies on the XPUB tap, ERRORs of its own,
    and the counts of what could not go.

    Never blocks: a gone or full peer makes a send fail at once (the
    ROUTER is mandatory), counted as a send failure and told to the
    caller, who drops a full peer (rb_broker.c); a full tap
    subscriber likewise, counted as a tap drop.  */
#include "rb_broker_int.h"

#include <assert.h>
#include <errno.h>
#include <string.h>

struct rb_outbox {
    void *router;            /* libzmq handle of the ROUTER, borrowed */
    void *tap;               /* of the XPUB tap, borrowed; NULL if none */
    rb_outbox_stats_t stats; /* subscribers, failures, ERRORs sent */
};

rb_outbox_t *
rb_outbox__new (void *router, void *tap)
{
    rb_outbox_t *self = (rb_outbox_t *) calloc (1, sizeof *self);
    assert (self);
    self->router = router;
    self->tap = tap;
    return self;
}

void
rb_outbox__destroy (rb_outbox_t **self_p)
{
    free (*self_p);
    *self_p = NULL;
}

/*  A subscription (1 + topic) or its end (0 + topic) from the tap. With
    monitors_only (CurveZMQ) the tap is XPUB_MANUAL: a subscription takes
    effect only when its sender's key has role monitor.  */
void
rb_outbox__on_tap (rb_outbox_t *self, bool monitors_only)
{
    zmq_msg_t m;
    zmq_msg_init (&m);
    if (!self->tap || zmq_msg_recv (&m, self->tap, ZMQ_DONTWAIT) == -1) {
        zmq_msg_close (&m);
        return;
    }
    const uint8_t *data = (const uint8_t *) zmq_msg_data (&m);
    size_t size = zmq_msg_size (&m);
    bool subscribe = size > 0 && data[0] == 1;
    const char *role = monitors_only ? zmq_msg_gets (&m, "role") : "monitor";
    /* the unsubscription libzmq makes when a subscriber leaves carries no
       metadata; it comes only for topics we applied: a monitor's */
    if (!subscribe && !role)
        role = "monitor";
    if (size > 0 && (!role || !streq (role, "monitor")))
        self->stats.tap_refused++;
    else if (size > 0) {
        if (monitors_only)
            zmq_setsockopt (self->tap,
                            subscribe ? ZMQ_SUBSCRIBE : ZMQ_UNSUBSCRIBE,
                            data + 1, size - 1);
        self->stats.tap_subs += subscribe ? 1 : -1;
    }
    zmq_msg_close (&m);
}

const rb_outbox_stats_t *
rb_outbox__stats (rb_outbox_t *self)
{
    return &self->stats;
}

/*  --- frames -------------------------------------------------------------- */

static void
s_header_msg (zmq_msg_t *m, const rb_header_t *h)
{
    uint8_t buf[RB_HDR_BUF];
    size_t len = rb_header_encode (h, buf, sizeof buf);
    zmq_msg_init_size (m, len);
    memcpy (zmq_msg_data (m), buf, len);
}

void
rb_outbox__body (zmq_msg_t *m, const rb_body_t *b)
{
    size_t len = rb_body_encode (b, NULL, 0);
    zmq_msg_init_size (m, len);
    rb_body_encode (b, (uint8_t *) zmq_msg_data (m), len);
}

rb_header_t
rb_outbox__header (int kind, int type, uint64_t corr)
{
    rb_header_t h;
    memset (&h, 0, sizeof h);
    h.kind = (uint8_t) kind;
    h.type = (uint8_t) type;
    h.corr = corr;
    strcpy (h.sender, "broker");
    return h;
}

/*  --- sending ------------------------------------------------------------- */

void
rb_outbox__tap (rb_outbox_t *self, const rb_header_t *h, zmq_msg_t *body)
{
    if (self->stats.tap_subs <= 0)
        return;
    const char *topic =
        h->type ? rb_type_name (h->type) : rb_kind_name (h->kind);
    zmq_msg_t m;
    zmq_msg_init_size (&m, strlen (topic));
    memcpy (zmq_msg_data (&m), topic, strlen (topic));
    if (zmq_msg_send (&m, self->tap, ZMQ_SNDMORE | ZMQ_DONTWAIT) == -1) {
        zmq_msg_close (&m);
        self->stats.tap_drops++;
        return;
    }
    s_header_msg (&m, h);
    zmq_msg_send (&m, self->tap, (body ? ZMQ_SNDMORE : 0) | ZMQ_DONTWAIT);
    if (body) {
        zmq_msg_init (&m);
        zmq_msg_copy (&m, body); /* shares the data, no copy */
        zmq_msg_send (&m, self->tap, ZMQ_DONTWAIT);
    }
}

long
rb_outbox__send (rb_outbox_t *self, const uint8_t *id, size_t id_len,
                 const rb_header_t *h, zmq_msg_t *body)
{
    zmq_msg_t m;
    zmq_msg_init_size (&m, id_len);
    memcpy (zmq_msg_data (&m), id, id_len);
    if (zmq_msg_send (&m, self->router, ZMQ_SNDMORE | ZMQ_DONTWAIT) == -1) {
        bool full = zmq_errno () == EAGAIN;
        zmq_msg_close (&m);
        if (body)
            zmq_msg_close (body);
        self->stats.send_fails++;
        return full ? RB_OUT_FULL : RB_OUT_GONE;
    }
    s_header_msg (&m, h);
    long bytes = (long) zmq_msg_size (&m);
    zmq_msg_send (&m, self->router, (body ? ZMQ_SNDMORE : 0) | ZMQ_DONTWAIT);
    if (body) {
        bytes += (long) zmq_msg_size (body);
        zmq_msg_send (body, self->router, ZMQ_DONTWAIT);
    }
    return bytes;
}

long
rb_outbox__error (rb_outbox_t *self, const uint8_t *id, size_t id_len,
                  uint64_t corr, int code, const char *text)
{
    rb_header_t h = rb_outbox__header (RB_K_ERROR, RB_T_ERROR, corr);
    h.status = (uint16_t) code;
    rb_body_t b;
    rb_body_init (&b, RB_T_ERROR);
    b.text = rb_str (text);
    zmq_msg_t body;
    rb_outbox__body (&body, &b);
    if (code >= RB_S_MALFORMED && code <= RB_S_INTERNAL)
        self->stats.errors[code - RB_S_MALFORMED]++;
    rb_outbox__tap (self, &h, &body);
    return rb_outbox__send (self, id, id_len, &h, &body);
}
