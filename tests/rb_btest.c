/*  rb_btest: what the broker's suites share (rb_btest.h).  */
#include "rb_btest.h"
#include "rb_cluster.h"
#include "rb_testing.h"

zactor_t *bt_broker;
char bt_bus_ep[256], bt_tap_ep[256];

/*  Starts a broker with short heartbeats so liveness tests are quick.
    Returns false if it could not bind (the caller may retry).  */
bool
bt_try_start (rb_broker_opts_t *opts, const char *bind)
{
    static rb_broker_opts_t o;
    rb_broker_opts_default (&o);
    if (opts)
        o = *opts;
    /* a random port (czmq's "!"), not the lowest free one ("*"): a node
       of another suite still reconnecting to the lowest ports, where its
       broker was, finds nobody rather than this broker */
    o.bind = bind ? bind : "tcp://127.0.0.1:!";
    o.tap = "tcp://127.0.0.1:!";
    bt_broker = zactor_new (rb_broker_actor, &o);
    zstr_send (bt_broker, "ENDPOINTS");
    char *bus, *tap;
    zsock_recv (bt_broker, "ss", &bus, &tap);
    bool bound = *bus != '\0';
    snprintf (bt_bus_ep, sizeof bt_bus_ep, "%s", bus);
    snprintf (bt_tap_ep, sizeof bt_tap_ep, "%s", tap);
    zstr_free (&bus);
    zstr_free (&tap);
    if (!bound)
        zactor_destroy (&bt_broker);
    return bound;
}

void
bt_start (rb_broker_opts_t *opts, const char *bind)
{
    ck_assert (bt_try_start (opts, bind));
}

rb_broker_opts_t
bt_fast (void)
{
    rb_broker_opts_t o;
    rb_broker_opts_default (&o);
    o.heartbeat_ms = 100;
    o.liveness = 3;
    return o;
}

void
bt_setup (void)
{
    rb_broker_opts_t o = bt_fast ();
    bt_start (&o, NULL);
}

void
bt_teardown (void)
{
    zactor_destroy (&bt_broker);
}

void
bt_serve (rb_bus_t *bus, const rb_header_t *h, const rb_body_t *b,
          zmsg_t **msg_p, void *arg)
{
    node_t *n = (node_t *) arg;
    n->served++;
    n->last_req = *h;
    if (n->hold)
        return;
    rb_body_t echo;
    rb_body_init (&echo, RB_T_ECHO);
    echo.has_value = b->has_value;
    echo.value = b->value;
    rb_bus_reply (bus, h, &echo);
}

void
bt_pushed (rb_bus_t *bus, const rb_header_t *h, const rb_body_t *b,
           zmsg_t **msg_p, void *arg)
{
    node_t *n = (node_t *) arg;
    n->pushes++;
    n->last_push_type = h->type;
}

void
bt_node (node_t *n, int role, const char *name, const char *service)
{
    bt_node_at (n, bt_bus_ep, role, name, service);
}

void
bt_node_at (node_t *n, const char *endpoint, int role, const char *name,
            const char *service)
{
    memset (n, 0, sizeof *n);
    rb_bus_opts_t o = {.endpoint = endpoint, .role = role, .name = name};
    if (service) {
        o.services[0] = service;
        o.n_services = 1;
    }
    n->bus = rb_bus_new (&o);
    rb_bus_on_request (n->bus, bt_serve, n);
    rb_bus_on_push (n->bus, bt_pushed, n);
}

/*  Polls every bus until *flag (if given) is true or ms pass. */
void
bt_pump (node_t **nodes, int count, volatile bool *flag, int ms)
{
    int64_t deadline = zclock_mono () + ms;
    while (zclock_mono () < deadline && !(flag && *flag))
        for (int i = 0; i < count; i++)
            rb_bus_poll (nodes[i]->bus, 1);
}

bool
bt_all_ready (node_t **nodes, int count, int ms)
{
    int64_t deadline = zclock_mono () + ms;
    while (zclock_mono () < deadline) {
        int ready = 0;
        for (int i = 0; i < count; i++) {
            rb_bus_poll (nodes[i]->bus, 1);
            ready += rb_bus_registered (nodes[i]->bus);
        }
        if (ready == count)
            return true;
    }
    return false;
}

void
bt_answered (rb_bus_t *bus, const rb_header_t *h, const rb_body_t *b,
             zmsg_t **msg_p, void *arg, uint64_t cookie)
{
    answers_t *a = (answers_t *) arg;
    if (h->kind == RB_K_REPLY)
        a->replies++;
    else {
        a->errors++;
        a->last_status = h->status;
        if (h->status < 200)
            a->count_by_status[h->status]++;
    }
    snprintf (a->last_sender, sizeof a->last_sender, "%s", h->sender);
    a->at = zclock_mono ();
    a->done = a->replies + a->errors >= a->expect;
}

rb_str_t bt_payload = {"ping", 4};

void
bt_ask (node_t *from, int addr, const char *dest, int n, uint32_t timeout,
        answers_t *a)
{
    rb_body_t b;
    rb_body_init (&b, RB_T_ECHO);
    b.has_value = true;
    b.value = bt_payload;
    a->expect += n;
    a->done = false;
    for (int i = 0; i < n; i++)
        ck_assert_int_eq (rb_bus_request (from->bus, addr, dest, &b, timeout,
                                          bt_answered, a, 0),
                          0);
}

/*  Sends a STATUS to the broker service; returns the named counter. */
uint64_t
bt_counter (node_t *n, const char *name)
{
    uint64_t value;
    ck_assert_int_eq (rb_status_num (n->bus, RB_ADDR_SERVICE, "broker", name,
                                     2000, 0, &value),
                      0);
    return value;
}
