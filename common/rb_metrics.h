/*  rb_metrics: Prometheus metrics for a daemon (docs/operations.md,
    "Metrics").

    The daemons are single-threaded loops, so the numbers are only read
    by the loop's own thread: once a second (rb_metrics_attach's timer)
    the loop renders a snapshot in the text exposition format with an
    rb_mtext_t, and hands it to the HTTP server, which serves the last
    snapshot from libmicrohttpd's own thread under a mutex. The server
    answers GET /metrics only (404 for other paths, 405 for other
    methods), with bounded connections and a connection timeout; it reads
    nothing and changes nothing.

        rb_metrics_t *m = rb_metrics_attach (loop, "127.0.0.1:9101",
                                             render, self, err, sizeof err);
        ...                        // zloop_start (loop)
        rb_metrics_destroy (&m);   // after the loop stopped          */
#ifndef RB_METRICS_H
#define RB_METRICS_H

#include <czmq.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>

/*  --- histograms with fixed buckets ------------------------------------- */

#define RB_MHIST_BOUNDS 16 /* upper bounds in seconds: 100 us .. 10 s */

/*  A histogram the loop updates inline; all zeros is empty. */
typedef struct {
    uint64_t counts[RB_MHIST_BOUNDS + 1]; /* per bucket; the last is +Inf */
    uint64_t count;                       /* observations */
    double sum;                           /* their sum, seconds */
} rb_mhist_t;

/*  Counts one observation of seconds. */
void rb_mhist_observe (rb_mhist_t *h, double seconds);

/*  --- the text builder -----------------------------------------------------
 */

typedef struct rb_mtext rb_mtext_t;

rb_mtext_t *rb_mtext_new (void);
void rb_mtext_destroy (rb_mtext_t **self_p);
/*  Empties the text, to render the next snapshot. */
void rb_mtext_reset (rb_mtext_t *self);
/*  The text so far (borrowed, NUL-terminated), and its length. */
const char *rb_mtext_data (rb_mtext_t *self);
size_t rb_mtext_size (rb_mtext_t *self);

/*  A family's # HELP and # TYPE lines; type is "counter", "gauge" or
    "histogram". Its samples follow.  */
void rb_mtext_family (rb_mtext_t *self, const char *name, const char *type,
                      const char *help);
/*  One sample name{label="value"} (label NULL: none); the value is
    escaped as the format asks.  */
void rb_mtext_sample (rb_mtext_t *self, const char *name, const char *label,
                      const char *value, double v);
/*  A family of one sample without labels. */
void rb_mtext_counter (rb_mtext_t *self, const char *name, const char *help,
                       uint64_t v);
void rb_mtext_gauge (rb_mtext_t *self, const char *name, const char *help,
                     double v);
/*  A histogram family: _bucket{le=...}, _sum, _count. */
void rb_mtext_hist (rb_mtext_t *self, const char *name, const char *help,
                    const rb_mhist_t *h);

/*  --- the HTTP server ------------------------------------------------------
 */

typedef struct rb_metrics rb_metrics_t;

/*  Renders the daemon's metrics into t (already reset); arg is the
    daemon's, passed to rb_metrics_attach.  */
typedef void (rb_metrics_render_fn) (rb_mtext_t *t, void *arg);

/*  Parses an endpoint: "HOST:PORT" with an IPv4 address, "[IPv6]:PORT",
    or a bare "PORT" (127.0.0.1). Port 0 lets the system choose. 0, or
    -1 with why in err.  */
int rb_metrics_parse (const char *endpoint, struct sockaddr_storage *addr,
                      char *err, size_t errlen);

/*  0 when endpoint is NULL, "" (metrics off) or parses; else -1 with
    why in err: what main () checks before starting anything.  */
int rb_metrics_check (const char *endpoint, char *err, size_t errlen);

/*  Serves GET /metrics on endpoint, with a snapshot rendered now and then
    every RB_METRICS_MS by a timer on loop (the caller's thread). NULL,
    with why in err, for a bad endpoint or a failed bind.  */
#define RB_METRICS_MS 1000
rb_metrics_t *rb_metrics_attach (zloop_t *loop, const char *endpoint,
                                 rb_metrics_render_fn *render, void *arg,
                                 char *err, size_t errlen);
/*  rb_metrics_attach as a daemon starts it: NULL at once for no endpoint
    (NULL or ""); else a line in the log, "WHO: metrics on EP (port N)"
    or "WHO: why not", and the server or NULL.  */
rb_metrics_t *rb_metrics_start (zloop_t *loop, const char *endpoint,
                                rb_metrics_render_fn *render, void *arg,
                                const char *who);
/*  Stops the server; call once the loop has stopped (the timer is not
    cancelled). NULL-safe; sets *self_p to NULL.  */
void rb_metrics_destroy (rb_metrics_t **self_p);
/*  The port the server listens on (the chosen one for port 0). */
int rb_metrics_port (rb_metrics_t *self);
/*  Renders and publishes a snapshot now (the timer does it anyway). */
void rb_metrics_update (rb_metrics_t *self);

#endif
