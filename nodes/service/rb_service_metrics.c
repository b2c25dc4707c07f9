/*  rb_service_metrics: the service node's Prometheus metrics
    (rb_metrics.h; docs/operations.md, "Metrics"): answers by status,
    the cache, the waits and how long they lasted, rendered by the node's
    own loop once a second from what rb_service.c counts.  */
#include "rb_service_int.h"

#include <assert.h>

struct rb_svc_metrics {
    rb_metrics_t *server;      /* the HTTP side */
    rb_svc__counts_fn *counts; /* fills the numbers */
    void *arg;                 /* the node, for counts */
};

static const char *const s_statuses[4] = {"ok", "not_found", "stale",
                                          "unavailable"};

static void
s_render (rb_mtext_t *t, void *arg)
{
    rb_svc_metrics_t *self = (rb_svc_metrics_t *) arg;
    rb_svc__counts_t c;
    self->counts (self->arg, &c);
    const char *answers = "recobus_service_answers_total";
    rb_mtext_family (t, answers, "counter",
                     "Answers sent to terminals, by status.");
    for (int i = 0; i < 4; i++)
        rb_mtext_sample (t, answers, "status", s_statuses[i],
                         (double) c.answers[i]);
    rb_mtext_counter (t, "recobus_service_cache_hits_total",
                      "GETs answered from the cache.", c.hits);
    rb_mtext_counter (t, "recobus_service_cache_misses_total",
                      "GETs that had to ask the DB.", c.misses);
    rb_mtext_gauge (t, "recobus_service_cache_records", "Records cached now.",
                    c.cached);
    rb_mtext_gauge (t, "recobus_service_cache_capacity_records",
                    "Records the cache may hold (cache-size).", c.cache_max);
    rb_mtext_gauge (t, "recobus_service_waits", "Keys waited on now.", c.waits);
    rb_mtext_hist (t, "recobus_service_wait_seconds",
                   "How long a parked terminal waited for its answer.",
                   c.wait_time);
    rb_mtext_counter (t, "recobus_service_waits_refused_total",
                      "Requests answered unavailable at once: too many waits.",
                      c.refused);
    rb_mtext_counter (t, "recobus_service_polls_total",
                      "GETs sent to the DB for waiting keys.", c.polls);
    rb_mtext_counter (t, "recobus_service_resets_total",
                      "RESET pushes taken (the cache emptied).", c.resets);
    rb_mtext_counter (t, "recobus_service_updates_total",
                      "UPDATE pushes taken.", c.updates);
    rb_mtext_counter (t, "recobus_service_recovered_total",
                      "RECOVERED pushes taken.", c.recovered);
}

rb_svc_metrics_t *
rb_svc__metrics_new (const char *endpoint, zloop_t *loop, const char *name,
                     rb_svc__counts_fn *counts, void *arg)
{
    if (!endpoint || !*endpoint)
        return NULL;
    rb_svc_metrics_t *self = (rb_svc_metrics_t *) calloc (1, sizeof *self);
    assert (self);
    *self = (rb_svc_metrics_t){NULL, counts, arg};
    char who[128];
    snprintf (who, sizeof who, "service %s", name);
    self->server = rb_metrics_start (loop, endpoint, s_render, self, who);
    if (!self->server) {
        free (self);
        return NULL;
    }
    return self;
}

void
rb_svc__metrics_destroy (rb_svc_metrics_t **self_p)
{
    if (!*self_p)
        return;
    rb_metrics_destroy (&(*self_p)->server);
    free (*self_p);
    *self_p = NULL;
}
