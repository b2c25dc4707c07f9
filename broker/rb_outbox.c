/*  rb_outbox: what the broker sends (see rb_broker_int.h): messages on
    the ROUTER to a routing id, copies on the XPUB tap, ERRORs of its own,
    and the counts of what could not go.

    Never blocks: a gone or full peer makes a send fail at once (the
    ROUTER is mandatory), counted as a send failure and told to the
    caller, who drops a full peer (rb_broker.c); a full tap
    subscriber likewise, counted as a tap drop.

    A routed message's header is encoded once: the frame goes to its
    destination and, shared by reference count like the body, to the
    tap. Tap copies are held and published in batches, in order: at each
    tick of the broker (rb_outbox__flush, every 10 ms), or before one
    more copy is held once RB_TAP_HELD copies (fewer with a small
    tap-hwm: a batch is at most a quarter of a subscriber's queue, which
    must keep room for what it has not read yet) or RB_TAP_HELD_BYTES
    bytes are. A batch holds only copies of messages sent already, so a
    routed message never waits behind the tap; and the tap's subscribers
    and libzmq's I/O thread (which every socket shares) wake once per
    batch rather than once per message: at one request in flight the tap
    was on the request's own path at each hop.  */
#include "rb_broker_int.h"

#include <assert.h>
#include <errno.h>
#include <string.h>

#define RB_TAP_HELD       256       /* tap copies held, at most */
#define RB_TAP_HELD_BYTES (1 << 20) /* and bytes of their frames */

/*  A tap copy waiting for its batch: [topic][header][body?]. */
typedef struct {
    const char *topic; /* a static name */
    zmq_msg_t header, body;
    bool has_body;
} rb_held_t;

struct rb_outbox {
    void *router;            /* libzmq handle of the ROUTER, borrowed */
    void *tap;               /* of the XPUB tap, borrowed; NULL if none */
    rb_outbox_stats_t stats; /* subscribers, failures, ERRORs sent */
    rb_held_t held[RB_TAP_HELD];
    uint32_t n_held;
    uint32_t hold; /* copies held at most (1..RB_TAP_HELD) */
    size_t held_bytes;
};

rb_outbox_t *
rb_outbox__new (void *router, void *tap, int tap_hwm)
{
    rb_outbox_t *self = (rb_outbox_t *) calloc (1, sizeof *self);
    assert (self);
    self->router = router;
    self->tap = tap;
    self->hold = RB_TAP_HELD;
    if (tap_hwm > 0 && tap_hwm / 4 < RB_TAP_HELD) /* 0: no high-water mark */
        self->hold = tap_hwm < 4 ? 1 : (uint32_t) tap_hwm / 4;
    return self;
}

void
rb_outbox__destroy (rb_outbox_t **self_p)
{
    rb_outbox_t *self = *self_p;
    if (!self)
        return;
    for (uint32_t i = 0; i < self->n_held; i++) {
        zmq_msg_close (&self->held[i].header);
        zmq_msg_close (&self->held[i].body);
    }
    free (self);
    *self_p = NULL;
}

/*  A subscription (1 + topic) or its end (0 + topic) from the tap. With
    monitors_only (CurveZMQ) the tap is XPUB_MANUAL: a subscription takes
    effect only when its sender's key has role monitor.  */
bool
rb_outbox__on_tap (rb_outbox_t *self, bool monitors_only)
{
    zmq_msg_t m;
    zmq_msg_init (&m);
    if (!self->tap || zmq_msg_recv (&m, self->tap, ZMQ_DONTWAIT) == -1) {
        zmq_msg_close (&m);
        return false;
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
    return true;
}

const rb_outbox_stats_t *
rb_outbox__stats (rb_outbox_t *self)
{
    return &self->stats;
}

/*  --- frames -------------------------------------------------------------- */

void
rb_outbox__encode (zmq_msg_t *m, const rb_header_t *h)
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
rb_outbox__tap (rb_outbox_t *self, const rb_header_t *h, zmq_msg_t *header,
                zmq_msg_t *body)
{
    if (self->stats.tap_subs <= 0)
        return;
    if (self->n_held == self->hold || self->held_bytes >= RB_TAP_HELD_BYTES)
        rb_outbox__flush (self);
    rb_held_t *t = &self->held[self->n_held++];
    t->topic = h->type ? rb_type_name (h->type) : rb_kind_name (h->kind);
    zmq_msg_init (&t->header);
    zmq_msg_copy (&t->header, header); /* shares the data, no copy */
    zmq_msg_init (&t->body);
    t->has_body = body != NULL;
    if (body)
        zmq_msg_copy (&t->body, body);
    self->held_bytes += zmq_msg_size (header) + zmq_msg_size (&t->body);
}

/*  Publishes one held copy; closes its frames either way.  */
static void
s_publish (rb_outbox_t *self, rb_held_t *t)
{
    size_t len = strlen (t->topic);
    zmq_msg_t m;
    zmq_msg_init_size (&m, len);
    memcpy (zmq_msg_data (&m), t->topic, len);
    if (zmq_msg_send (&m, self->tap, ZMQ_SNDMORE | ZMQ_DONTWAIT) == -1) {
        zmq_msg_close (&m);
        self->stats.tap_drops++;
    } else if (zmq_msg_send (&t->header, self->tap,
                             (t->has_body ? ZMQ_SNDMORE : 0) | ZMQ_DONTWAIT) !=
                   -1 &&
               t->has_body)
        zmq_msg_send (&t->body, self->tap, ZMQ_DONTWAIT);
    zmq_msg_close (&t->header);
    zmq_msg_close (&t->body);
}

void
rb_outbox__flush (rb_outbox_t *self)
{
    for (uint32_t i = 0; i < self->n_held; i++)
        s_publish (self, &self->held[i]);
    self->n_held = 0;
    self->held_bytes = 0;
}

long
rb_outbox__send (rb_outbox_t *self, const uint8_t *id, size_t id_len,
                 zmq_msg_t *header, zmq_msg_t *body)
{
    zmq_msg_t m;
    zmq_msg_init_size (&m, id_len);
    memcpy (zmq_msg_data (&m), id, id_len);
    if (zmq_msg_send (&m, self->router, ZMQ_SNDMORE | ZMQ_DONTWAIT) == -1) {
        bool full = zmq_errno () == EAGAIN;
        zmq_msg_close (&m);
        zmq_msg_close (header);
        if (body)
            zmq_msg_close (body);
        self->stats.send_fails++;
        return full ? RB_OUT_FULL : RB_OUT_GONE;
    }
    long bytes = (long) zmq_msg_size (header);
    zmq_msg_send (header, self->router,
                  (body ? ZMQ_SNDMORE : 0) | ZMQ_DONTWAIT);
    zmq_msg_close (header); /* empty once sent */
    if (body) {
        bytes += (long) zmq_msg_size (body);
        zmq_msg_send (body, self->router, ZMQ_DONTWAIT);
        zmq_msg_close (body);
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
    zmq_msg_t header;
    rb_outbox__encode (&header, &h);
    rb_outbox__tap (self, &h, &header, &body);
    return rb_outbox__send (self, id, id_len, &header, &body);
}
