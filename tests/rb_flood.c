/*  rb_flood: bounded floods on real sockets (see rb_flood.h).

    Each flood is an actor whose thread makes its sockets, signals the
    caller, and runs its loop: sends never block (DONTWAIT; a full pipe
    waits for POLLOUT), the command pipe is watched all along, and the
    counters are published under a lock after every round of the loop.  */
#include "rb_flood.h"
#include "rb_curve.h"
#include "rb_msg.h"

#include <arpa/inet.h>
#include <assert.h>
#include <czmq.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <pthread.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define ROUND_MS     50   /* longest wait of one round of a loop */
#define DRAIN_MS     2000 /* a TAP flood's drain at stop, at most */
#define DRAIN_IDLE   100  /* ... ending after this long without a message */
#define HELLO_N_SVCS 8    /* random services in each HELLO */
#define MAX_SOCKETS  4096 /* HELLO sockets, TAP subscribers */

/*  What the caller and the flood's thread share. */
typedef struct {
    rb_flood_opts_t o; /* its strings point into the copies below */
    char *endpoint, *curve_cert, *broker_cert, *prefix, *service;
    pthread_mutex_t lock;   /* guards stats and err */
    rb_flood_stats_t stats; /* as last published */
    char err[300];          /* why it did not start, "" if it did */
    int64_t started;        /* zclock_mono () at start */
    int64_t deadline;       /* started + deadline_ms */
    zcert_t *cert;          /* loaded from curve_cert, or NULL */
    char broker_key[41];    /* the broker's public key (Z85) */
    bool term;              /* $TERM came on the pipe */
} flood_t;

struct rb_flood {
    zactor_t *actor;
    flood_t *f;
};

static const char *const s_names[RB_FLOOD_KINDS_] = {
    "?", "hello", "deaf_node", "requests", "tap", "gets", "idle"};

const char *
rb_flood_name (int kind)
{
    return kind > 0 && kind < RB_FLOOD_KINDS_ ? s_names[kind] : "?";
}

rb_flood_opts_t
rb_flood_defaults (int kind, const char *endpoint)
{
    bool one = kind == RB_FLOOD_TAP || kind == RB_FLOOD_DEAF_NODE;
    rb_flood_opts_t o = {.kind = kind,
                         .endpoint = endpoint,
                         .count = one ? 1 : 1000,
                         .deadline_ms = 10000,
                         .sockets = 1,
                         .prefix = "flood",
                         .service = "echo",
                         .role = RB_ROLE_BENCH,
                         .value_len = 1024,
                         .timeout_ms = 2000,
                         .rcvhwm = 1,
                         .seed = 1};
    return o;
}

/*  --- what every flood uses --------------------------------------------- */

static void
s_publish (flood_t *f, rb_flood_stats_t *s)
{
    if (!s->done)
        s->ms = zclock_mono () - f->started;
    pthread_mutex_lock (&f->lock);
    f->stats = *s;
    pthread_mutex_unlock (&f->lock);
}

static void
s_fail (flood_t *f, const char *fmt, const char *what)
{
    pthread_mutex_lock (&f->lock);
    snprintf (f->err, sizeof f->err, fmt, what);
    pthread_mutex_unlock (&f->lock);
}

static bool
s_expired (flood_t *f)
{
    return zclock_mono () >= f->deadline;
}

/*  The wait of one round: ROUND_MS, or less before the deadline. */
static long
s_round (flood_t *f)
{
    int64_t left = f->deadline - zclock_mono ();
    return left < 0 ? 0 : left < ROUND_MS ? (long) left : ROUND_MS;
}

/*  Reads the pipe; true once $TERM came.  */
static bool
s_on_pipe (flood_t *f, zsock_t *pipe)
{
    char *cmd = zstr_recv (pipe);
    f->term = !cmd || streq (cmd, "$TERM");
    zstr_free (&cmd);
    return f->term;
}

/*  A socket of type connected to the endpoint, with the flood's key
    when it has one; rcvhwm / rcvbuf when asked (before connecting).  */
static zsock_t *
s_socket (flood_t *f, int type, bool small_rcv)
{
    zsock_t *sock = zsock_new (type);
    if (!sock) {
        s_fail (f, "rb_flood: cannot make a socket (%s)", zmq_strerror (errno));
        return NULL;
    }
    zsock_set_linger (sock, 0);
    if (small_rcv) {
        zsock_set_rcvhwm (sock, f->o.rcvhwm);
        if (f->o.rcvbuf > 0)
            zsock_set_rcvbuf (sock, f->o.rcvbuf);
    }
    if (f->cert)
        rb_curve_client (zsock_resolve (sock), f->cert, f->broker_key);
    if (zsock_connect (sock, "%s", f->endpoint)) {
        s_fail (f, "rb_flood: cannot connect to '%s'", f->endpoint);
        zsock_destroy (&sock);
    }
    return sock;
}

/*  Sends [header][body?] without blocking: 0, or -1 if the socket's
    pipe is full (nothing sent).  */
static int
s_send (void *sock, const rb_header_t *h, const rb_body_t *b)
{
    zframe_t *hf = rb_header_frame (h);
    int rc = zmq_send (sock, zframe_data (hf), zframe_size (hf),
                       (b ? ZMQ_SNDMORE : 0) | ZMQ_DONTWAIT);
    zframe_destroy (&hf);
    if (rc == -1 || !b)
        return rc == -1 ? -1 : 0;
    zframe_t *bf = rb_body_frame (b);
    zmq_send (sock, zframe_data (bf), zframe_size (bf), 0); /* atomic now */
    zframe_destroy (&bf);
    return 0;
}

/*  Counts one message from the bus or a service node. Returns its kind
    (0 if it does not decode); answered is counted for WELCOME, REPLY
    and ERROR.  */
static int
s_count (zsock_t *sock, rb_flood_stats_t *s)
{
    zmsg_t *msg = zmsg_recv_nowait (sock);
    if (!msg)
        return -1;
    rb_header_t h;
    rb_body_t b;
    rb_body_init (&b, RB_T_NONE);
    int kind = rb_msg_decode (msg, NULL, &h, &b, NULL) == RB_OK ? h.kind : 0;
    if (kind == RB_K_HEARTBEAT && h.corr) {
        /* a mark of the broker's send budget: echoed, as every node does
           (docs/protocol.md), so a flood that reads is not dropped */
        rb_header_t echo = {.kind = RB_K_HEARTBEAT, .corr = h.corr};
        rb_msg_send (zsock_resolve (sock), &echo, NULL);
    }
    if (kind == RB_K_WELCOME)
        s->welcomed++;
    if (kind == RB_K_REPLY && b.type == RB_T_ANSWER && b.answer >= 1 &&
        b.answer <= 4)
        s->answers[b.answer]++;
    if (kind == RB_K_ERROR && h.status >= RB_S_MALFORMED &&
        h.status <= RB_S_INTERNAL)
        s->errors[h.status - RB_S_MALFORMED]++;
    if (kind == RB_K_WELCOME || kind == RB_K_REPLY || kind == RB_K_ERROR)
        s->answered++;
    rb_body_release (&b);
    zmsg_destroy (&msg);
    return kind;
}

/*  --- HELLO: registrations naming random services ------------------------ */

static uint32_t
s_rand (uint32_t *state)
{
    uint32_t x = *state ? *state : 1; /* xorshift32 */
    x ^= x << 13;
    x ^= x >> 17;
    x ^= x << 5;
    return *state = x;
}

static int
s_send_hello (flood_t *f, zsock_t *sock, int index, uint64_t corr,
              uint32_t *rng)
{
    char name[RB_NAME_MAX + 1], svcs[HELLO_N_SVCS][16];
    snprintf (name, sizeof name, "%s-%d", f->prefix, index);
    rb_body_t b;
    rb_body_init (&b, RB_T_HELLO);
    b.role = (uint8_t) f->o.role;
    b.name = rb_str (name);
    for (int i = 0; i < HELLO_N_SVCS; i++) {
        snprintf (svcs[i], sizeof svcs[i], "r%08x", s_rand (rng));
        b.services[i] = rb_str (svcs[i]);
    }
    b.n_services = HELLO_N_SVCS;
    rb_header_t h = {.kind = RB_K_HELLO, .type = RB_T_HELLO, .corr = corr};
    return s_send (zsock_resolve (sock), &h, &b);
}

static int
s_hello (flood_t *f, zsock_t *pipe)
{
    int n = f->o.sockets < 1 ? 1 : f->o.sockets;
    n = n > MAX_SOCKETS ? MAX_SOCKETS : n;
    zsock_t **socks = (zsock_t **) calloc ((size_t) n, sizeof (zsock_t *));
    zmq_pollitem_t *items =
        (zmq_pollitem_t *) calloc ((size_t) n + 1, sizeof (zmq_pollitem_t));
    assert (socks && items);
    int made = 0;
    while (made < n && (socks[made] = s_socket (f, ZMQ_DEALER, false)))
        made++;
    zsock_signal (pipe, made == n ? 0 : 1);
    rb_flood_stats_t s = {0};
    uint64_t count = (uint64_t) f->o.count;
    uint32_t rng = f->o.seed;
    items[0] = (zmq_pollitem_t){zsock_resolve (pipe), 0, ZMQ_POLLIN, 0};
    for (int i = 0; i < made; i++)
        items[i + 1] = (zmq_pollitem_t){zsock_resolve (socks[i]), 0, 0, 0};
    while (made == n && !s.done && !s_expired (f)) {
        bool blocked = false;
        while (s.sent < count && !blocked &&
               (!f->o.in_flight ||
                s.sent - s.answered < (uint64_t) f->o.in_flight))
            if (s_send_hello (f, socks[s.sent % n], (int) (s.sent % n),
                              s.sent + 1, &rng))
                blocked = true;
            else
                s.sent++;
        for (int i = 0; i < n; i++)
            items[i + 1].events = ZMQ_POLLIN;
        if (blocked)
            items[s.sent % n + 1].events |= ZMQ_POLLOUT;
        if (zmq_poll (items, n + 1, s_round (f)) == -1 ||
            ((items[0].revents & ZMQ_POLLIN) && s_on_pipe (f, pipe)))
            break;
        for (int i = 0; i < n; i++)
            if (items[i + 1].revents & ZMQ_POLLIN)
                while (s_count (socks[i], &s) != -1)
                    ;
        s.done = s.answered >= count;
        s_publish (f, &s);
    }
    s.timed_out = !s.done && s_expired (f);
    s_publish (f, &s);
    for (int i = 0; i < made; i++)
        zsock_destroy (&socks[i]);
    free (socks);
    free (items);
    return 0;
}

/*  --- registered floods: DEAF_NODE and REQUESTS ------------------------- */

/*  Sends HELLO (name prefix, the service when offer) and waits for the
    answer. The broker's heartbeat in ms, or 0 if not welcomed.  */
static int
s_register (flood_t *f, zsock_t *pipe, zsock_t *sock, bool offer,
            rb_flood_stats_t *s)
{
    rb_body_t b;
    rb_body_init (&b, RB_T_HELLO);
    b.role = (uint8_t) f->o.role;
    b.name = rb_str (f->prefix);
    b.services[0] = rb_str (f->service);
    b.n_services = offer ? 1 : 0;
    rb_header_t h = {.kind = RB_K_HELLO, .type = RB_T_HELLO, .corr = 1};
    rb_msg_send (zsock_resolve (sock), &h, &b); /* an empty pipe */
    zpoller_t *poller = zpoller_new (pipe, sock, NULL);
    int heartbeat = 0;
    while (!heartbeat && !s->answered && !s_expired (f)) {
        void *which = zpoller_wait (poller, (int) s_round (f));
        if (which == pipe && s_on_pipe (f, pipe))
            break;
        if (which != sock)
            continue;
        zmsg_t *msg = zmsg_recv (sock);
        rb_body_t w;
        rb_body_init (&w, RB_T_NONE);
        if (msg && rb_msg_decode (msg, NULL, &h, &w, NULL) == RB_OK) {
            s->answered += h.kind == RB_K_WELCOME || h.kind == RB_K_ERROR;
            if (h.kind == RB_K_ERROR && h.status >= RB_S_MALFORMED &&
                h.status <= RB_S_INTERNAL)
                s->errors[h.status - RB_S_MALFORMED]++;
            if (h.kind == RB_K_WELCOME) {
                s->welcomed++;
                heartbeat = w.heartbeat_ms > 0 ? (int) w.heartbeat_ms : 1000;
            }
        }
        rb_body_release (&w);
        zmsg_destroy (&msg);
    }
    zpoller_destroy (&poller);
    s_publish (f, s);
    return heartbeat;
}

static int
s_heartbeat (zsock_t *sock)
{
    rb_header_t h = {.kind = RB_K_HEARTBEAT};
    return s_send (zsock_resolve (sock), &h, NULL);
}

static int
s_deaf_node (flood_t *f, zsock_t *pipe)
{
    zsock_t *sock = s_socket (f, ZMQ_DEALER, true);
    zsock_signal (pipe, sock ? 0 : 1);
    rb_flood_stats_t s = {0};
    int beat = sock ? s_register (f, pipe, sock, true, &s) : 0;
    s.done = beat > 0;
    s_publish (f, &s);
    int64_t next = zclock_mono () + beat;
    zmq_pollitem_t item = {zsock_resolve (pipe), 0, ZMQ_POLLIN, 0};
    while (beat && !f->term && !s_expired (f)) {
        int64_t wait = next - zclock_mono ();
        long ms =
            wait < s_round (f) ? (long) (wait > 0 ? wait : 0) : s_round (f);
        if (zmq_poll (&item, 1, ms) == 1 && s_on_pipe (f, pipe))
            break;
        if (zclock_mono () >= next) { /* never reads: only says it lives */
            s.sent += s_heartbeat (sock) == 0;
            next += beat;
            s_publish (f, &s);
        }
    }
    s.timed_out = s_expired (f);
    s_publish (f, &s);
    zsock_destroy (&sock);
    return 0;
}

static int
s_send_echo (flood_t *f, zsock_t *sock, uint64_t corr, const char *value)
{
    rb_body_t b;
    rb_body_init (&b, RB_T_ECHO);
    b.has_value = true;
    b.value = rb_strn (value, f->o.value_len);
    rb_header_t h = {.kind = RB_K_REQUEST,
                     .type = RB_T_ECHO,
                     .addr = RB_ADDR_SERVICE,
                     .corr = corr,
                     .timeout_ms = f->o.timeout_ms};
    snprintf (h.dest, sizeof h.dest, "%s", f->service);
    return s_send (zsock_resolve (sock), &h, &b);
}

static int
s_requests (flood_t *f, zsock_t *pipe)
{
    zsock_t *sock = s_socket (f, ZMQ_DEALER, false);
    zsock_signal (pipe, sock ? 0 : 1);
    rb_flood_stats_t s = {0};
    int beat = sock ? s_register (f, pipe, sock, false, &s) : 0;
    char *value = (char *) malloc (f->o.value_len + 1);
    assert (value);
    memset (value, 'f', f->o.value_len);
    uint64_t count = (uint64_t) f->o.count, limit = (uint64_t) f->o.in_flight;
    uint64_t base = s.answered; /* the WELCOME */
    int64_t next_beat = zclock_mono () + beat;
    zmq_pollitem_t items[2] = {{zsock_resolve (pipe), 0, ZMQ_POLLIN, 0},
                               {beat ? zsock_resolve (sock) : NULL, 0, 0, 0}};
    while (beat && !s.done && !s_expired (f)) {
        bool blocked = false;
        while (s.sent < count && !blocked &&
               (!limit || s.sent - (s.answered - base) < limit))
            if (s_send_echo (f, sock, s.sent + 1, value))
                blocked = true;
            else
                s.sent++;
        items[1].events = ZMQ_POLLIN | (blocked ? ZMQ_POLLOUT : 0);
        if (zmq_poll (items, 2, s_round (f)) == -1 ||
            ((items[0].revents & ZMQ_POLLIN) && s_on_pipe (f, pipe)))
            break;
        while (s_count (sock, &s) != -1)
            ;
        if (zclock_mono () >= next_beat) {
            s_heartbeat (sock);
            next_beat = zclock_mono () + beat;
        }
        s.done = s.sent == count && s.answered - base >= count;
        s_publish (f, &s);
    }
    s.timed_out = !s.done && s_expired (f);
    s_publish (f, &s);
    free (value);
    zsock_destroy (&sock);
    return 0;
}

/*  --- TAP: subscribers that never read ------------------------------------ */

/*  Reads what sub holds, for DRAIN_MS at most: the number of messages. */
static uint64_t
s_drain (zsock_t *sub)
{
    uint64_t messages = 0;
    int64_t until = zclock_mono () + DRAIN_MS;
    void *h = zsock_resolve (sub);
    zmq_pollitem_t item = {h, 0, ZMQ_POLLIN, 0};
    while (zclock_mono () < until && zmq_poll (&item, 1, DRAIN_IDLE) == 1) {
        zmq_msg_t m;
        zmq_msg_init (&m);
        while (zmq_msg_recv (&m, h, ZMQ_DONTWAIT) != -1)
            messages += !zmq_msg_more (&m);
        zmq_msg_close (&m);
    }
    return messages;
}

static int
s_tap (flood_t *f, zsock_t *pipe)
{
    int n = f->o.count < 1 ? 1 : f->o.count;
    n = n > MAX_SOCKETS ? MAX_SOCKETS : n;
    zsock_t **subs = (zsock_t **) calloc ((size_t) n, sizeof (zsock_t *));
    assert (subs);
    int made = 0;
    while (made < n && (subs[made] = s_socket (f, ZMQ_SUB, true))) {
        zsock_set_subscribe (subs[made], "");
        made++;
    }
    zsock_signal (pipe, made == n ? 0 : 1);
    rb_flood_stats_t s = {.sent = (uint64_t) made, .done = made == n};
    s_publish (f, &s);
    zmq_pollitem_t item = {zsock_resolve (pipe), 0, ZMQ_POLLIN, 0};
    while (s.done && !s_expired (f))
        if (zmq_poll (&item, 1, s_round (f)) == 1 && s_on_pipe (f, pipe))
            break;
    s.timed_out = s_expired (f);
    for (int i = 0; i < made; i++) {
        s.received += s_drain (subs[i]); /* never close a full SUB */
        zsock_destroy (&subs[i]);
    }
    s_publish (f, &s);
    free (subs);
    return 0;
}

/*  --- GETS: a terminal's requests of distinct keys ------------------------ */

static int
s_send_get (flood_t *f, zsock_t *sock, uint64_t i)
{
    uint64_t n = f->o.first + (f->o.keys ? i % f->o.keys : i);
    char key[RB_KEY_MAX + 1];
    snprintf (key, sizeof key, "%s%llu", f->prefix, (unsigned long long) n);
    rb_body_t b;
    rb_body_init (&b, RB_T_GET);
    b.key = rb_str (key);
    rb_header_t h = {.kind = RB_K_REQUEST, .type = RB_T_GET, .corr = i + 1};
    return s_send (zsock_resolve (sock), &h, &b);
}

static int
s_gets (flood_t *f, zsock_t *pipe)
{
    zsock_t *sock = s_socket (f, ZMQ_DEALER, false);
    zsock_signal (pipe, sock ? 0 : 1);
    rb_flood_stats_t s = {0};
    uint64_t count = (uint64_t) f->o.count, limit = (uint64_t) f->o.in_flight;
    zmq_pollitem_t items[2] = {{zsock_resolve (pipe), 0, ZMQ_POLLIN, 0},
                               {sock ? zsock_resolve (sock) : NULL, 0, 0, 0}};
    while (sock && !s.done && !s_expired (f)) {
        bool blocked = false;
        while (s.sent < count && !blocked &&
               (!limit || s.sent - s.answered < limit))
            if (s_send_get (f, sock, s.sent))
                blocked = true;
            else
                s.sent++;
        items[1].events = ZMQ_POLLIN | (blocked ? ZMQ_POLLOUT : 0);
        if (zmq_poll (items, 2, s_round (f)) == -1 ||
            ((items[0].revents & ZMQ_POLLIN) && s_on_pipe (f, pipe)))
            break;
        while (s_count (sock, &s) != -1)
            ;
        s.done = s.answered >= count;
        s_publish (f, &s);
    }
    s.timed_out = !s.done && s_expired (f);
    s_publish (f, &s);
    zsock_destroy (&sock);
    return 0;
}

/*  --- IDLE: TCP connections that never send ------------------------------- */

/*  "tcp://A.B.C.D:PORT" into addr. 0, or -1.  */
static int
s_tcp_address (const char *endpoint, struct sockaddr_in *addr)
{
    char host[64];
    int port = 0;
    if (sscanf (endpoint, "tcp://%63[0-9.]:%d", host, &port) != 2 ||
        port <= 0 || port > 65535)
        return -1;
    memset (addr, 0, sizeof *addr);
    addr->sin_family = AF_INET;
    addr->sin_port = htons ((uint16_t) port);
    return inet_pton (AF_INET, host, &addr->sin_addr) == 1 ? 0 : -1;
}

/*  Opens up to n non-blocking connections into fds; how many opened.  */
static int
s_connect_all (const struct sockaddr_in *addr, int *fds, int n)
{
    int opened = 0;
    for (; opened < n; opened++) {
        int fd =
            socket (AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
        if (fd == -1)
            break; /* out of descriptors: hold what we have */
        if (connect (fd, (const struct sockaddr *) addr, sizeof *addr) == -1 &&
            errno != EINPROGRESS) {
            close (fd);
            break;
        }
        fds[opened] = fd;
    }
    return opened;
}

/*  Reads what came on fd; closes it (fd := -1) when the other side did. */
static void
s_idle_read (int *fd, rb_flood_stats_t *s)
{
    char buf[512];
    ssize_t got;
    while ((got = read (*fd, buf, sizeof buf)) > 0)
        s->received += (uint64_t) got;
    if (got == 0 || (errno != EAGAIN && errno != EWOULDBLOCK)) {
        close (*fd);
        *fd = -1;
        s->closed++;
    }
}

static int
s_idle (flood_t *f, zsock_t *pipe)
{
    struct sockaddr_in addr;
    int n = f->o.count < 1 ? 1 : f->o.count;
    int *fds = (int *) malloc ((size_t) n * sizeof (int));
    zmq_pollitem_t *items =
        (zmq_pollitem_t *) calloc ((size_t) n + 1, sizeof (zmq_pollitem_t));
    assert (fds && items);
    int opened = -1;
    if (s_tcp_address (f->endpoint, &addr) == 0)
        opened = s_connect_all (&addr, fds, n);
    else
        s_fail (f, "rb_flood: idle: '%s' is not tcp://IPV4:PORT", f->endpoint);
    zsock_signal (pipe, opened >= 0 ? 0 : 1);
    rb_flood_stats_t s = {.sent = opened > 0 ? (uint64_t) opened : 0,
                          .done = opened >= 0};
    while (s.done && !s_expired (f)) {
        int k = 0;
        items[k++] = (zmq_pollitem_t){zsock_resolve (pipe), 0, ZMQ_POLLIN, 0};
        for (int i = 0; i < opened; i++)
            if (fds[i] != -1)
                items[k++] = (zmq_pollitem_t){NULL, fds[i], ZMQ_POLLIN, 0};
        if (zmq_poll (items, k, s_round (f)) == -1 ||
            ((items[0].revents & ZMQ_POLLIN) && s_on_pipe (f, pipe)))
            break;
        for (int i = 0, j = 1; i < opened; i++) {
            if (fds[i] == -1)
                continue; /* not among the items */
            if (items[j++].revents & (ZMQ_POLLIN | ZMQ_POLLERR))
                s_idle_read (&fds[i], &s);
        }
        s_publish (f, &s);
    }
    s.timed_out = s_expired (f);
    s_publish (f, &s);
    for (int i = 0; i < opened; i++)
        if (fds[i] != -1)
            close (fds[i]);
    free (fds);
    free (items);
    return 0;
}

/*  --- the actor and its caller's side ------------------------------------- */

typedef int (flood_fn) (flood_t *f, zsock_t *pipe);

static flood_fn *const s_runs[RB_FLOOD_KINDS_] = {
    [RB_FLOOD_HELLO] = s_hello,       [RB_FLOOD_DEAF_NODE] = s_deaf_node,
    [RB_FLOOD_REQUESTS] = s_requests, [RB_FLOOD_TAP] = s_tap,
    [RB_FLOOD_GETS] = s_gets,         [RB_FLOOD_IDLE] = s_idle};

/*  The flood's thread: its run signals once its sockets are made; then
    it waits for $TERM, whatever ended the run.  */
static void
s_actor (zsock_t *pipe, void *arg)
{
    flood_t *f = (flood_t *) arg;
    s_runs[f->o.kind](f, pipe);
    while (!f->term)
        s_on_pipe (f, pipe);
}

static char *
s_dup (const char *s)
{
    return s ? strdup (s) : NULL;
}

static void
s_free (flood_t *f)
{
    zcert_destroy (&f->cert);
    free (f->endpoint);
    free (f->curve_cert);
    free (f->broker_cert);
    free (f->prefix);
    free (f->service);
    pthread_mutex_destroy (&f->lock);
    free (f);
}

/*  The shared state with copies of opts' strings and the key loaded. */
static flood_t *
s_new (const rb_flood_opts_t *opts)
{
    flood_t *f = (flood_t *) calloc (1, sizeof *f);
    assert (f);
    pthread_mutex_init (&f->lock, NULL);
    f->o = *opts;
    f->o.endpoint = f->endpoint = s_dup (opts->endpoint ? opts->endpoint : "");
    f->o.curve_cert = f->curve_cert = s_dup (opts->curve_cert);
    f->o.broker_cert = f->broker_cert = s_dup (opts->broker_cert);
    f->o.prefix = f->prefix = s_dup (opts->prefix ? opts->prefix : "flood");
    f->o.service = f->service = s_dup (opts->service ? opts->service : "echo");
    f->started = zclock_mono ();
    f->deadline = f->started + (opts->deadline_ms > 0 ? opts->deadline_ms : 0);
    if (opts->curve_cert && *opts->curve_cert &&
        rb_curve_client_load (opts->curve_cert, opts->broker_cert, &f->cert,
                              f->broker_key, f->err, sizeof f->err)) {
        s_free (f);
        return NULL; /* err printed by the caller */
    }
    return f;
}

rb_flood_t *
rb_flood_start (const rb_flood_opts_t *opts)
{
    assert (opts);
    if (opts->kind <= 0 || opts->kind >= RB_FLOOD_KINDS_ || !opts->endpoint) {
        fprintf (stderr, "rb_flood: no such flood (%d) or no endpoint\n",
                 opts->kind);
        return NULL;
    }
    flood_t *f = s_new (opts);
    if (!f) {
        fprintf (stderr, "rb_flood: %s: cannot load the key %s\n",
                 rb_flood_name (opts->kind), opts->curve_cert);
        return NULL;
    }
    rb_flood_t *self = (rb_flood_t *) calloc (1, sizeof *self);
    assert (self);
    self->f = f;
    self->actor = zactor_new (s_actor, f);
    pthread_mutex_lock (&f->lock);
    bool failed = f->err[0] != '\0';
    if (failed)
        fprintf (stderr, "%s\n", f->err);
    pthread_mutex_unlock (&f->lock);
    if (failed)
        rb_flood_stop (&self, NULL);
    return self;
}

rb_flood_stats_t
rb_flood_stats (rb_flood_t *self)
{
    assert (self);
    pthread_mutex_lock (&self->f->lock);
    rb_flood_stats_t s = self->f->stats;
    pthread_mutex_unlock (&self->f->lock);
    return s;
}

int
rb_flood_wait (rb_flood_t *self, int timeout_ms)
{
    assert (self);
    int64_t until = zclock_mono () + timeout_ms;
    rb_flood_stats_t s = rb_flood_stats (self);
    while (!s.done && !s.timed_out && zclock_mono () < until) {
        zclock_sleep (2); /* a look every 2 ms, up to the deadline */
        s = rb_flood_stats (self);
    }
    return s.done ? 0 : -1;
}

void
rb_flood_stop (rb_flood_t **self_p, rb_flood_stats_t *stats)
{
    assert (self_p);
    rb_flood_t *self = *self_p;
    if (!self)
        return;
    zactor_destroy (&self->actor); /* $TERM; the thread has ended */
    if (stats)
        *stats = self->f->stats;
    s_free (self->f);
    free (self);
    *self_p = NULL;
}
