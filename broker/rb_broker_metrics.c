/*  rb_broker_metrics: the broker's Prometheus metrics (rb_metrics.h;
    docs/operations.md, "Metrics"): the STATUS counters (rb_info.c) as
    named families, rendered by the broker's own loop.  */
#include "rb_broker_int.h"
#include "rb_metrics.h"

static void
s_routed (rb_mtext_t *t, const broker_t *self)
{
    const char *name = "recobus_broker_routed_messages_total";
    rb_mtext_family (t, name, "counter",
                     "Messages forwarded between nodes, by body type.");
    for (int type = 1; type < RB_T_COUNT_; type++)
        rb_mtext_sample (t, name, "type", rb_type_name (type),
                         (double) self->routed[type]);
}

static void
s_refused (rb_mtext_t *t, const broker_t *self, const rb_outbox_stats_t *out)
{
    const char *name = "recobus_broker_refused_total";
    rb_mtext_family (t, name, "counter",
                     "Messages, HELLOs and subscriptions refused, by reason.");
    rb_mtext_sample (t, name, "reason", "not_allowed", (double) self->refused);
    rb_mtext_sample (t, name, "reason", "nodes_full",
                     (double) self->nodes_refused);
    rb_mtext_sample (t, name, "reason", "malformed", (double) self->malformed);
    rb_mtext_sample (t, name, "reason", "tap_not_monitor",
                     (double) out->tap_refused);
    name = "recobus_broker_errors_sent_total";
    rb_mtext_family (t, name, "counter", "ERROR messages sent, by status.");
    for (int c = 0; c < RB_CODES; c++)
        rb_mtext_sample (t, name, "status", rb_code_name (RB_S_MALFORMED + c),
                         (double) out->errors[c]);
}

static void
s_peers (rb_mtext_t *t, broker_t *self)
{
    uint64_t roles[RB_ROLE_MAX_ + 1] = {0};
    uint32_t cursor = 0;
    rb_peer_t *p;
    while ((p = rb_peers__next (self->peers, &cursor)))
        if (p->role <= RB_ROLE_MAX_)
            roles[p->role]++;
    const char *name = "recobus_broker_peers";
    rb_mtext_family (t, name, "gauge", "Registered nodes, by role.");
    for (int r = 1; r <= RB_ROLE_MAX_; r++)
        rb_mtext_sample (t, name, "role", rb_role_name (r), (double) roles[r]);
}

static void
s_queues (rb_mtext_t *t, broker_t *self)
{
    rb_mtext_gauge (t, "recobus_broker_queued_requests",
                    "Requests waiting in the services' queues.",
                    rb_services__queued (self->services));
    rb_mtext_gauge (t, "recobus_broker_queued_bytes",
                    "Bytes of the requests waiting in the queues.",
                    (double) self->queued_bytes);
    rb_mtext_gauge (t, "recobus_broker_inflight_requests",
                    "Requests sent to a worker and not answered yet.",
                    rb_slots_used (self->flights));
    rb_mtext_gauge (t, "recobus_broker_services", "Services known.",
                    rb_services__count (self->services));
}

static void
s_render (rb_mtext_t *t, void *arg)
{
    broker_t *self = (broker_t *) arg;
    const rb_outbox_stats_t *out = rb_outbox__stats (self->out);
    s_routed (t, self);
    s_refused (t, self, out);
    s_peers (t, self);
    s_queues (t, self);
    rb_mtext_counter (t, "recobus_broker_tap_drops_total",
                      "Tap copies a full subscriber did not take.",
                      out->tap_drops);
    rb_mtext_gauge (t, "recobus_broker_tap_subscribers",
                    "Live subscriptions on the tap.", out->tap_subs);
    rb_mtext_counter (t, "recobus_broker_expired_requests_total",
                      "Requests expired in a queue or in flight.",
                      self->expired);
    rb_mtext_counter (t, "recobus_broker_nodes_lost_total",
                      "Nodes removed: silent, disconnected or unreachable.",
                      self->nodes_lost);
    rb_mtext_counter (t, "recobus_broker_rerouted_requests_total",
                      "Requests in flight sent again when a worker was lost.",
                      self->rerouted);
    rb_mtext_counter (t, "recobus_broker_over_budget_total",
                      "Nodes dropped for not reading what they were sent.",
                      self->over_budget);
    rb_mtext_counter (t, "recobus_broker_send_failures_total",
                      "Sends to a gone or full node.", out->send_fails);
}

int
rb_broker__metrics_start (broker_t *self, zloop_t *loop)
{
    const char *ep = self->opts.metrics;
    self->metrics = rb_metrics_start (loop, ep, s_render, self, "broker");
    return ep && *ep && !self->metrics ? -1 : 0;
}
