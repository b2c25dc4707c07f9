/*  rb_btest: the broker suites' helpers (test_broker, test_budget): a
    broker actor on loopback TCP with short heartbeats, test nodes on
    the bus that answer ECHO requests and count pushes, asynchronous
    requests with their answers counted, and the broker's STATUS
    counters. They fail the running Check test when a step fails; every
    wait is on a condition with a deadline.  */
#ifndef RB_BTEST_H
#define RB_BTEST_H

#include <check.h>
#include <czmq.h>

#include "rb_broker.h"
#include "rb_bus.h"
#include "rb_msg.h"

/*  The broker under test and its resolved endpoints. */
extern zactor_t *bt_broker;
extern char bt_bus_ep[256], bt_tap_ep[256];

/*  A test node: its bus and what it saw. */
typedef struct {
    rb_bus_t *bus;
    int served;           /* requests handled */
    bool hold;            /* keep requests unanswered */
    rb_header_t last_req; /* the last request's header */
    int pushes;
    uint8_t last_push_type;
} node_t;

/*  Answers collected by async requests. */
typedef struct {
    int replies, errors, last_status, count_by_status[200];
    bool done; /* replies + errors reached expect */
    int expect;
    char last_sender[RB_NAME_MAX + 1];
    int64_t at;
} answers_t;

/*  Starts a broker with opts (NULL: defaults) on bind (NULL: a free
    loopback port), tap on a free one. false if it could not bind.  */
bool bt_try_start (rb_broker_opts_t *opts, const char *bind);
void bt_start (rb_broker_opts_t *opts, const char *bind);
/*  Defaults with 100 ms heartbeats and liveness 3.  */
rb_broker_opts_t bt_fast (void);
/*  The checked fixture: bt_fast broker / destroyed.  */
void bt_setup (void);
void bt_teardown (void);

/*  A node named name of role on the broker, worker of service if any. */
void bt_node (node_t *n, int role, const char *name, const char *service);
/*  The same on the broker(s) at endpoint (a pair: "EP1,EP2"). */
void bt_node_at (node_t *n, const char *endpoint, int role, const char *name,
                 const char *service);
/*  Handlers bt_node installs: answer ECHO (unless hold), count pushes. */
void bt_serve (rb_bus_t *bus, const rb_header_t *h, const rb_body_t *b,
               zmsg_t **msg_p, void *arg);
void bt_pushed (rb_bus_t *bus, const rb_header_t *h, const rb_body_t *b,
                zmsg_t **msg_p, void *arg);
/*  Polls every bus until *flag (if given) is true or ms pass. */
void bt_pump (node_t **nodes, int count, volatile bool *flag, int ms);
/*  Polls until every node is registered; false at the deadline.  */
bool bt_all_ready (node_t **nodes, int count, int ms);

/*  Sends n ECHO requests (value "ping") to dest; answers land in a. */
extern rb_str_t bt_payload;
void bt_ask (node_t *from, int addr, const char *dest, int n, uint32_t timeout,
             answers_t *a);
/*  The answer callback bt_ask uses.  */
void bt_answered (rb_bus_t *bus, const rb_header_t *h, const rb_body_t *b,
                  zmsg_t **msg_p, void *arg, uint64_t cookie);
/*  The broker's STATUS counter name, asked from node n.  */
uint64_t bt_counter (node_t *n, const char *name);

#endif
