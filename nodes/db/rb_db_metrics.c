/*  rb_db_metrics: the DB node's Prometheus metrics (rb_metrics.h;
    docs/operations.md, "Metrics"): what STATUS answers (rb_db_requests.c)
    as named families, and Redis's round trips (rb_store.c), rendered
    by the node's own loop once a second.  */
#include "rb_db_int.h"
#include "rb_metrics.h"

#include <assert.h>

struct rb_db_metrics {
    rb_metrics_t *server; /* the HTTP side */
    rb_store_t *store;    /* the parts read (borrowed) */
    rb_db_view_t *view;
    rb_db_job_t *job;
    rb_db_requests_t *requests;
};

/*  recobus_db_state{state=...}: 1 for the node's state, 0 for others. */
static void
s_state (rb_mtext_t *t, rb_db_metrics_t *self)
{
    const char *name = "recobus_db_state";
    rb_mtext_family (t, name, "gauge",
                     "The dataset's state as this node sees it (1: current).");
    int now = rb_db__view_state (self->view);
    for (int s = RB_DB_NORMAL; s <= RB_DB_NEEDS_RESTORE; s++)
        rb_mtext_sample (t, name, "state", rb_db_state_name (s), s == now);
}

/*  What the STATUS script read from Redis: -1 for each when it could
    not be read (Redis down), so that a graph shows the gap.  */
static void
s_dataset (rb_mtext_t *t, rb_db_metrics_t *self, const rb_status_reply_t *st,
           bool ok)
{
    rb_mtext_gauge (t, "recobus_db_epoch", "The dataset's epoch.",
                    (double) (ok ? st->epoch : rb_db__view_epoch (self->view)));
    rb_mtext_gauge (t, "recobus_db_watermark",
                    "Highest order seq applied (-1: Redis unreadable).",
                    ok ? (double) st->watermark : -1);
    rb_mtext_gauge (t, "recobus_db_records",
                    "Live records (-1: Redis unreadable).",
                    ok ? (double) (st->total - st->tombs) : -1);
    rb_mtext_gauge (t, "recobus_db_tombstones",
                    "Deleted records kept as tombstones (-1: unreadable).",
                    ok ? (double) st->tombs : -1);
    rb_mtext_gauge (t, "recobus_db_recovering_keys",
                    "Listed keys no order has reached yet (-1: unreadable).",
                    ok ? (double) st->recovering : -1);
    rb_mtext_gauge (t, "recobus_db_recovery_list_complete",
                    "1 once the recovery list's last batch came.",
                    ok ? (double) st->list_done : 0);
    rb_mtext_gauge (t, "recobus_db_restored_watermark",
                    "Watermark of the backup last restored (recovery's "
                    "starting point).",
                    ok ? (double) st->restored_watermark : 0);
    rb_mtext_gauge (t, "recobus_db_redis_up",
                    "1 when Redis answered this scrape's STATUS.", ok);
}

static void
s_counters (rb_mtext_t *t, const rb_db_counts_t *c, uint64_t resets)
{
    const char *gets = "recobus_db_get_answers_total";
    rb_mtext_family (t, gets, "counter",
                     "Keys answered to GET/GETS, by recovering flag.");
    rb_mtext_sample (t, gets, "flag", "flagged", (double) c->flagged);
    rb_mtext_sample (t, gets, "flag", "plain", (double) (c->gets - c->flagged));
    rb_mtext_counter (t, "recobus_db_plain_reads_total",
                      "Keys answered by plain reads, no script.", c->plain);
    const char *orders = "recobus_db_orders_total";
    rb_mtext_family (t, orders, "counter",
                     "Orders and diffs, by outcome (skipped: not newer).");
    rb_mtext_sample (t, orders, "outcome", "applied", (double) c->applied);
    rb_mtext_sample (t, orders, "outcome", "skipped", (double) c->skipped);
    const char *pushes = "recobus_db_pushes_total";
    rb_mtext_family (t, pushes, "counter", "Pushes sent, by kind.");
    rb_mtext_sample (t, pushes, "kind", "update", (double) c->updates);
    rb_mtext_sample (t, pushes, "kind", "recovered", (double) c->recovered);
    rb_mtext_sample (t, pushes, "kind", "reset", (double) resets);
    rb_mtext_counter (t, "recobus_db_refused_total", "Requests refused.",
                      c->refused);
    rb_mtext_counter (t, "recobus_db_replica_waits_total",
                      "WAITs for Redis replicas before an ACK.", c->waits);
    rb_mtext_counter (t, "recobus_db_replica_waits_short_total",
                      "WAITs that ended with fewer replicas than asked.",
                      c->waits_short);
}

static void
s_render (rb_mtext_t *t, void *arg)
{
    rb_db_metrics_t *self = (rb_db_metrics_t *) arg;
    rb_db_counts_t c;
    rb_status_reply_t st;
    bool ok = rb_db__requests_counts (self->requests, &c, &st) == 0;
    s_state (t, self);
    s_dataset (t, self, &st, ok);
    s_counters (t, &c, rb_db__view_resets (self->view));
    rb_mtext_gauge (t, "recobus_db_job_running",
                    "1 while a backup or restore runs.",
                    rb_db__job_running (self->job));
    uint64_t loaded, total;
    rb_db__job_progress (self->job, &loaded, &total);
    rb_mtext_gauge (t, "recobus_db_restore_loaded_records",
                    "Records the running (or last) restore has loaded.",
                    (double) loaded);
    rb_mtext_gauge (t, "recobus_db_restore_file_records",
                    "Records in the running (or last) restore's backup.",
                    (double) total);
    rb_mtext_counter (t, "recobus_db_failovers_total",
                      "Redis failovers seen (epoch bumped, keys flagged).",
                      rb_db__view_failovers (self->view));
    rb_mtext_counter (t, "recobus_db_redis_connects_total",
                      "Connections made to Redis.",
                      rb_store_connects (self->store));
    rb_mtext_hist (t, "recobus_db_redis_roundtrip_seconds",
                   "Redis round trips (a pipeline of reads or a script).",
                   rb_store_rtt (self->store));
}

rb_db_metrics_t *
rb_db__metrics_new (const char *endpoint, zloop_t *loop, const char *name,
                    rb_store_t *store, rb_db_view_t *view, rb_db_job_t *job,
                    rb_db_requests_t *requests)
{
    if (!endpoint || !*endpoint)
        return NULL;
    rb_db_metrics_t *self = (rb_db_metrics_t *) calloc (1, sizeof *self);
    assert (self);
    *self = (rb_db_metrics_t){NULL, store, view, job, requests};
    char who[128];
    snprintf (who, sizeof who, "db %s", name);
    self->server = rb_metrics_start (loop, endpoint, s_render, self, who);
    if (!self->server) {
        free (self);
        return NULL;
    }
    return self;
}

void
rb_db__metrics_destroy (rb_db_metrics_t **self_p)
{
    if (!*self_p)
        return;
    rb_metrics_destroy (&(*self_p)->server);
    free (*self_p);
    *self_p = NULL;
}
