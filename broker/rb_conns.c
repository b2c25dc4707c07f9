/*  rb_conns: the broker's TCP connections, watched so that one that
    never registers is closed (see rb_broker_int.h, docs/overload.md).

    libzmq accepts connections by itself and keeps them as long as the
    peer does: a client that connects and never says HELLO costs a file
    descriptor and a pipe for ever, and libzmq has no call to close one
    peer of a ROUTER. The socket monitor tells us each accepted
    connection's descriptor; each message carries the descriptor it came
    in on (ZMQ_SRCFD), so a HELLO marks its connection registered. One
    that is not registered hello_ms after it was accepted, or after its
    node was removed, is shut down (shutdown(2), never close(2): the
    descriptor stays libzmq's, which then sees the end and cleans up).

    A descriptor is reused once libzmq closes it. Events arrive in
    order, and libzmq emits a connection's ACCEPTED before any of its
    messages can reach the ROUTER (and DISCONNECTED before its number
    is free), so the broker reads every waiting event before it handles
    a HELLO (rb_conns__drain), and the rest at its tick: a HELLO always
    finds its own connection. Other messages do not look at
    connections, and a removal's re-arm (rb_conns__left) that an unread
    DISCONNECTED makes stale is undone by the generation that event
    bumps. Before shutting one down we also check that it is still the
    connection we saw accepted (same peer address).

    A registered connection that closes (its node killed, its socket
    closed) is told to the broker (rb_conns__closed) with the key the
    broker gave at its HELLO, so that the node is removed at once rather
    than after heartbeat x liveness of silence. At most one such entry
    waits per descriptor: the broker takes them right after each drain,
    and a descriptor registers again only after a drain.  */
#include "rb_broker_int.h"
#include "rb_timers.h"

#include <assert.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

typedef struct {
    uint32_t gen;    /* bumped at each accept and each re-arm */
    bool open;       /* accepted, not disconnected */
    bool registered; /* a HELLO came in on it, its node not removed */
    struct sockaddr_storage peer; /* the address it was accepted from */
    socklen_t peer_len;
    uint64_t owner; /* the broker's key for its node, while registered */
} rb_conn_t;

struct rb_conns {
    void *router;     /* the ROUTER watched (libzmq handle, borrowed) */
    zsock_t *monitor; /* PAIR receiving the ROUTER's monitor events */
    int64_t hello_ms; /* unregistered this long: closed (0: never) */
    rb_conn_t *conns; /* indexed by descriptor */
    int cap;          /* entries in conns, and room in closed */
    uint64_t *closed; /* owners of registered connections that closed */
    int n_closed;
    rb_timers_t *due; /* (when idle too long, gen << 32 | fd) */
    rb_conns_stats_t stats;
    int64_t last_log; /* when a closing was last logged */
};

rb_conns_t *
rb_conns__new (void *router, int64_t hello_ms)
{
    rb_conns_t *self = (rb_conns_t *) calloc (1, sizeof *self);
    assert (self);
    self->router = router;
    self->hello_ms = hello_ms;
    self->due = rb_timers_new ();
    /* a name of its own: a monitor endpoint may outlive its socket */
    static int s_count = 0;
    char ep[64];
    snprintf (ep, sizeof ep, "inproc://rb-conns-%d-%d", getpid (),
              __atomic_add_fetch (&s_count, 1, __ATOMIC_RELAXED));
    int rc = zmq_socket_monitor (router, ep,
                                 ZMQ_EVENT_ACCEPTED | ZMQ_EVENT_DISCONNECTED);
    assert (rc == 0);
    self->monitor = zsock_new (ZMQ_PAIR);
    assert (self->monitor);
    /* every event must arrive: one lost would leave a connection open
       for ever or a number taken for the wrong connection; there are
       at most as many pending as descriptors  */
    zsock_set_rcvhwm (self->monitor, 0);
    rc = zsock_connect (self->monitor, "%s", ep);
    assert (rc == 0);
    return self;
}

void
rb_conns__destroy (rb_conns_t **self_p)
{
    rb_conns_t *self = *self_p;
    if (!self)
        return;
    zmq_socket_monitor (self->router, NULL, 0);
    zsock_destroy (&self->monitor);
    rb_timers_destroy (&self->due);
    free (self->conns);
    free (self->closed);
    free (self);
    *self_p = NULL;
}

const rb_conns_stats_t *
rb_conns__stats (rb_conns_t *self)
{
    return &self->stats;
}

static rb_conn_t *
s_conn (rb_conns_t *self, int fd)
{
    if (fd < 0)
        return NULL;
    if (fd >= self->cap) {
        int cap = self->cap ? self->cap : 64;
        while (cap <= fd)
            cap *= 2;
        self->conns =
            (rb_conn_t *) realloc (self->conns, cap * sizeof (rb_conn_t));
        assert (self->conns);
        memset (self->conns + self->cap, 0,
                (cap - self->cap) * sizeof (rb_conn_t));
        self->closed =
            (uint64_t *) realloc (self->closed, cap * sizeof (uint64_t));
        assert (self->closed);
        self->cap = cap;
    }
    return &self->conns[fd];
}

/*  Starts c's wait for a HELLO, from now.  */
static void
s_arm (rb_conns_t *self, rb_conn_t *c, int fd)
{
    c->gen++;
    c->registered = false;
    if (self->hello_ms > 0)
        rb_timers_add (self->due, zclock_mono () + self->hello_ms,
                       (uint64_t) c->gen << 32 | (uint32_t) fd);
}

/*  Reads one event; false if none was waiting.  */
static bool
s_event (rb_conns_t *self)
{
    zmq_msg_t frames[2];
    zmq_msg_init (&frames[0]);
    zmq_msg_init (&frames[1]);
    void *sock = zsock_resolve (self->monitor);
    if (zmq_msg_recv (&frames[0], sock, ZMQ_DONTWAIT) == -1) {
        zmq_msg_close (&frames[0]);
        zmq_msg_close (&frames[1]);
        return false;
    }
    if (zmq_msg_more (&frames[0]))
        zmq_msg_recv (&frames[1], sock, 0); /* the endpoint: not needed */
    if (zmq_msg_size (&frames[0]) == 6) {
        const uint8_t *d = (const uint8_t *) zmq_msg_data (&frames[0]);
        uint16_t event;
        uint32_t value;
        memcpy (&event, d, 2);
        memcpy (&value, d + 2, 4);
        rb_conn_t *c = s_conn (self, (int) value);
        if (c && event == ZMQ_EVENT_ACCEPTED) {
            c->open = true;
            c->peer_len = sizeof c->peer;
            if (getpeername ((int) value, (struct sockaddr *) &c->peer,
                             &c->peer_len))
                c->peer_len = 0; /* gone already: never shut down */
            self->stats.accepted++;
            s_arm (self, c, (int) value);
        } else if (c && event == ZMQ_EVENT_DISCONNECTED) {
            if (c->open && c->registered && self->n_closed < self->cap)
                self->closed[self->n_closed++] = c->owner;
            c->open = false;
            c->registered = false;
            c->gen++;
        }
    }
    zmq_msg_close (&frames[0]);
    zmq_msg_close (&frames[1]);
    return true;
}

void
rb_conns__drain (rb_conns_t *self)
{
    while (s_event (self))
        ;
}

void
rb_conns__hello (rb_conns_t *self, int fd, uint64_t owner)
{
    if (fd >= 0 && fd < self->cap && self->conns[fd].open) {
        self->conns[fd].registered = true;
        self->conns[fd].owner = owner;
    }
}

bool
rb_conns__closed (rb_conns_t *self, uint64_t *owner)
{
    if (self->n_closed == 0)
        return false;
    *owner = self->closed[--self->n_closed];
    return true;
}

void
rb_conns__left (rb_conns_t *self, int fd)
{
    if (fd >= 0 && fd < self->cap && self->conns[fd].open)
        s_arm (self, &self->conns[fd], fd);
}

/*  Whether fd is still the connection accepted from c->peer.  */
static bool
s_same (const rb_conn_t *c, int fd)
{
    struct sockaddr_storage now;
    socklen_t len = sizeof now;
    return c->peer_len &&
           getpeername (fd, (struct sockaddr *) &now, &len) == 0 &&
           len == c->peer_len && memcmp (&now, &c->peer, len) == 0;
}

void
rb_conns__expire (rb_conns_t *self, int64_t now)
{
    int64_t at;
    uint64_t key;
    while (rb_timers_pop (self->due, now, &at, &key)) {
        int fd = (int) (uint32_t) key;
        rb_conn_t *c = &self->conns[fd];
        if (c->gen != (uint32_t) (key >> 32) || !c->open || c->registered)
            continue; /* closed, registered, or re-armed since */
        if (!s_same (c, fd))
            continue;
        shutdown (fd, SHUT_RDWR);
        c->open = false;
        self->stats.idle_closed++;
        if (now - self->last_log >= 1000) { /* a line a second at most */
            zsys_info ("broker: closed a connection that sent no HELLO in "
                       "%d ms (%" PRIu64 " so far)",
                       (int) self->hello_ms, self->stats.idle_closed);
            self->last_log = now;
        }
    }
}
