/*  rb_metrics: the text builder, the histograms and the HTTP server of
    the Prometheus metrics (see rb_metrics.h).  */
#include "rb_metrics.h"

#include <arpa/inet.h>
#include <assert.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define RB_METRICS_CONNS   16 /* connections at once, at most */
#define RB_METRICS_PER_IP  4  /* from one address */
#define RB_METRICS_TIMEOUT 5  /* seconds a connection may stay idle */

/*  --- histograms ------------------------------------------------------------
 */

static const double s_bounds[RB_MHIST_BOUNDS] = {
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025,
    0.05,   0.1,     0.25,   0.5,   1,      2.5,   5,    10};

void
rb_mhist_observe (rb_mhist_t *h, double seconds)
{
    int i = 0;
    while (i < RB_MHIST_BOUNDS && seconds > s_bounds[i])
        i++;
    h->counts[i]++;
    h->count++;
    h->sum += seconds > 0 ? seconds : 0;
}

/*  --- the text builder -----------------------------------------------------
 */

struct rb_mtext {
    char *data; /* the text, NUL-terminated */
    size_t len, cap;
};

rb_mtext_t *
rb_mtext_new (void)
{
    rb_mtext_t *self = (rb_mtext_t *) calloc (1, sizeof *self);
    assert (self);
    self->cap = 4096;
    self->data = (char *) malloc (self->cap);
    assert (self->data);
    self->data[0] = '\0';
    return self;
}

void
rb_mtext_destroy (rb_mtext_t **self_p)
{
    if (!*self_p)
        return;
    free ((*self_p)->data);
    free (*self_p);
    *self_p = NULL;
}

void
rb_mtext_reset (rb_mtext_t *self)
{
    self->len = 0;
    self->data[0] = '\0';
}

const char *
rb_mtext_data (rb_mtext_t *self)
{
    return self->data;
}

size_t
rb_mtext_size (rb_mtext_t *self)
{
    return self->len;
}

static void s_add (rb_mtext_t *self, const char *fmt, ...)
    __attribute__ ((format (printf, 2, 3)));

static void
s_add (rb_mtext_t *self, const char *fmt, ...)
{
    for (;;) {
        va_list ap;
        va_start (ap, fmt);
        size_t room = self->cap - self->len;
        int n = vsnprintf (self->data + self->len, room, fmt, ap);
        va_end (ap);
        assert (n >= 0);
        if ((size_t) n < room) {
            self->len += (size_t) n;
            return;
        }
        self->cap = 2 * self->cap + (size_t) n;
        self->data = (char *) realloc (self->data, self->cap);
        assert (self->data);
    }
}

void
rb_mtext_family (rb_mtext_t *self, const char *name, const char *type,
                 const char *help)
{
    s_add (self, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/*  A label value as the format wants it: \\, \" and \n escaped. */
static void
s_escape (const char *value, char *out, size_t size)
{
    size_t o = 0;
    for (const char *c = value; *c && o + 3 < size; c++) {
        if (*c == '\\' || *c == '"' || *c == '\n')
            out[o++] = '\\';
        out[o++] = *c == '\n' ? 'n' : *c;
    }
    out[o] = '\0';
}

/*  A value as the format wants it: integers exactly, others with %.9g. */
static void
s_value (rb_mtext_t *self, double v)
{
    if (v == (double) (int64_t) v && v > -9e15 && v < 9e15)
        s_add (self, " %" PRId64 "\n", (int64_t) v);
    else
        s_add (self, " %.9g\n", v);
}

void
rb_mtext_sample (rb_mtext_t *self, const char *name, const char *label,
                 const char *value, double v)
{
    if (label) {
        char escaped[512];
        s_escape (value ? value : "", escaped, sizeof escaped);
        s_add (self, "%s{%s=\"%s\"}", name, label, escaped);
    } else
        s_add (self, "%s", name);
    s_value (self, v);
}

void
rb_mtext_counter (rb_mtext_t *self, const char *name, const char *help,
                  uint64_t v)
{
    rb_mtext_family (self, name, "counter", help);
    rb_mtext_sample (self, name, NULL, NULL, (double) v);
}

void
rb_mtext_gauge (rb_mtext_t *self, const char *name, const char *help, double v)
{
    rb_mtext_family (self, name, "gauge", help);
    rb_mtext_sample (self, name, NULL, NULL, v);
}

void
rb_mtext_hist (rb_mtext_t *self, const char *name, const char *help,
               const rb_mhist_t *h)
{
    rb_mtext_family (self, name, "histogram", help);
    uint64_t below = 0;
    for (int i = 0; i < RB_MHIST_BOUNDS; i++) {
        below += h->counts[i];
        s_add (self, "%s_bucket{le=\"%g\"} %" PRIu64 "\n", name, s_bounds[i],
               below);
    }
    s_add (self, "%s_bucket{le=\"+Inf\"} %" PRIu64 "\n", name, h->count);
    s_add (self, "%s_sum %.9g\n%s_count %" PRIu64 "\n", name, h->sum, name,
           h->count);
}

/*  --- endpoints
 * --------------------------------------------------------------- */

static int
s_port (const char *text, int *port, char *err, size_t errlen)
{
    char *end = NULL;
    long p = strtol (text, &end, 10);
    if (!*text || !end || *end || p < 0 || p > 65535) {
        snprintf (err, errlen, "metrics: '%s' is not a port (0-65535)", text);
        return -1;
    }
    *port = (int) p;
    return 0;
}

int
rb_metrics_parse (const char *endpoint, struct sockaddr_storage *addr,
                  char *err, size_t errlen)
{
    memset (addr, 0, sizeof *addr);
    char host[64] = "127.0.0.1";
    const char *port_text = endpoint;
    const char *colon = strrchr (endpoint, ':');
    if (colon) {
        size_t len = (size_t) (colon - endpoint);
        bool v6 = len >= 2 && endpoint[0] == '[' && endpoint[len - 1] == ']';
        size_t from = v6 ? 1 : 0, n = v6 ? len - 2 : len;
        if (n == 0 || n >= sizeof host) {
            snprintf (err, errlen, "metrics: '%s' is not HOST:PORT", endpoint);
            return -1;
        }
        memcpy (host, endpoint + from, n);
        host[n] = '\0';
        port_text = colon + 1;
    }
    int port;
    if (s_port (port_text, &port, err, errlen))
        return -1;
    struct sockaddr_in *in4 = (struct sockaddr_in *) addr;
    struct sockaddr_in6 *in6 = (struct sockaddr_in6 *) addr;
    if (inet_pton (AF_INET, host, &in4->sin_addr) == 1) {
        in4->sin_family = AF_INET;
        in4->sin_port = htons ((uint16_t) port);
    } else if (inet_pton (AF_INET6, host, &in6->sin6_addr) == 1) {
        in6->sin6_family = AF_INET6;
        in6->sin6_port = htons ((uint16_t) port);
    } else {
        snprintf (err, errlen,
                  "metrics: '%s' is not an IP address (HOST:PORT, "
                  "[IPv6]:PORT or PORT)",
                  host);
        return -1;
    }
    return 0;
}

int
rb_metrics_check (const char *endpoint, char *err, size_t errlen)
{
    struct sockaddr_storage addr;
    if (!endpoint || !*endpoint)
        return 0;
    return rb_metrics_parse (endpoint, &addr, err, errlen);
}

/*  --- the server ------------------------------------------------------------
 */

struct rb_metrics {
    struct MHD_Daemon *httpd;     /* libmicrohttpd, its own thread */
    pthread_mutex_t lock;         /* guards snapshot and size */
    char *snapshot;               /* the last text published */
    size_t size;                  /* its length */
    rb_mtext_t *text;             /* the loop's builder */
    rb_metrics_render_fn *render; /* the daemon's renderer */
    void *arg;                    /* and its argument */
    int port;                     /* as bound */
};

static enum MHD_Result
s_reply (struct MHD_Connection *conn, unsigned int status, const char *body,
         size_t size, const char *type)
{
    struct MHD_Response *r = MHD_create_response_from_buffer (
        size, (void *) body, MHD_RESPMEM_MUST_COPY);
    if (!r)
        return MHD_NO;
    MHD_add_response_header (r, MHD_HTTP_HEADER_CONTENT_TYPE, type);
    if (status == MHD_HTTP_METHOD_NOT_ALLOWED)
        MHD_add_response_header (r, MHD_HTTP_HEADER_ALLOW, "GET");
    enum MHD_Result rc = MHD_queue_response (conn, status, r);
    MHD_destroy_response (r);
    return rc;
}

/*  libmicrohttpd's request handler, on its thread: GET /metrics gets a
    copy of the snapshot, anything else an error; no request body is
    ever read.  */
static enum MHD_Result
s_on_request (void *cls, struct MHD_Connection *conn, const char *url,
              const char *method, const char *version, const char *upload,
              size_t *upload_size, void **req_cls)
{
    rb_metrics_t *self = (rb_metrics_t *) cls;
    const char *plain = "text/plain; charset=utf-8";
    if (strcmp (method, MHD_HTTP_METHOD_GET) != 0) {
        const char *no = "only GET /metrics\n";
        return s_reply (conn, MHD_HTTP_METHOD_NOT_ALLOWED, no, strlen (no),
                        plain);
    }
    if (strcmp (url, "/metrics") != 0) {
        const char *no = "only GET /metrics\n";
        return s_reply (conn, MHD_HTTP_NOT_FOUND, no, strlen (no), plain);
    }
    pthread_mutex_lock (&self->lock);
    enum MHD_Result rc = s_reply (conn, MHD_HTTP_OK, self->snapshot, self->size,
                                  "text/plain; version=0.0.4; charset=utf-8");
    pthread_mutex_unlock (&self->lock);
    return rc;
}

void
rb_metrics_update (rb_metrics_t *self)
{
    rb_mtext_reset (self->text);
    self->render (self->text, self->arg);
    size_t size = rb_mtext_size (self->text);
    char *copy = (char *) malloc (size + 1);
    assert (copy);
    memcpy (copy, rb_mtext_data (self->text), size + 1);
    pthread_mutex_lock (&self->lock);
    char *old = self->snapshot;
    self->snapshot = copy;
    self->size = size;
    pthread_mutex_unlock (&self->lock);
    free (old);
}

static int
s_on_timer (zloop_t *loop, int timer_id, void *arg)
{
    rb_metrics_update ((rb_metrics_t *) arg);
    return 0;
}

static struct MHD_Daemon *
s_start (rb_metrics_t *self, const struct sockaddr_storage *addr)
{
    unsigned int flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_POLL;
    if (addr->ss_family == AF_INET6)
        flags |= MHD_USE_IPv6;
    return MHD_start_daemon (
        flags, 0, NULL, NULL, s_on_request, self, MHD_OPTION_SOCK_ADDR, addr,
        MHD_OPTION_CONNECTION_LIMIT, (unsigned int) RB_METRICS_CONNS,
        MHD_OPTION_PER_IP_CONNECTION_LIMIT, (unsigned int) RB_METRICS_PER_IP,
        MHD_OPTION_CONNECTION_TIMEOUT, (unsigned int) RB_METRICS_TIMEOUT,
        MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t) 32768, MHD_OPTION_END);
}

rb_metrics_t *
rb_metrics_attach (zloop_t *loop, const char *endpoint,
                   rb_metrics_render_fn *render, void *arg, char *err,
                   size_t errlen)
{
    struct sockaddr_storage addr;
    if (rb_metrics_parse (endpoint, &addr, err, errlen))
        return NULL;
    rb_metrics_t *self = (rb_metrics_t *) calloc (1, sizeof *self);
    assert (self);
    pthread_mutex_init (&self->lock, NULL);
    self->text = rb_mtext_new ();
    self->render = render;
    self->arg = arg;
    rb_metrics_update (self);
    self->httpd = s_start (self, &addr);
    if (!self->httpd) {
        snprintf (err, errlen, "metrics: cannot listen on %s: %s", endpoint,
                  strerror (errno));
        rb_metrics_destroy (&self);
        return NULL;
    }
    const union MHD_DaemonInfo *info =
        MHD_get_daemon_info (self->httpd, MHD_DAEMON_INFO_BIND_PORT);
    self->port = info ? info->port : 0;
    zloop_timer (loop, RB_METRICS_MS, 0, s_on_timer, self);
    return self;
}

void
rb_metrics_destroy (rb_metrics_t **self_p)
{
    rb_metrics_t *self = *self_p;
    if (!self)
        return;
    if (self->httpd)
        MHD_stop_daemon (self->httpd);
    rb_mtext_destroy (&self->text);
    pthread_mutex_destroy (&self->lock);
    free (self->snapshot);
    free (self);
    *self_p = NULL;
}

int
rb_metrics_port (rb_metrics_t *self)
{
    return self->port;
}

rb_metrics_t *
rb_metrics_start (zloop_t *loop, const char *endpoint,
                  rb_metrics_render_fn *render, void *arg, const char *who)
{
    if (!endpoint || !*endpoint)
        return NULL;
    char err[300];
    rb_metrics_t *self =
        rb_metrics_attach (loop, endpoint, render, arg, err, sizeof err);
    if (self)
        zsys_info ("%s: metrics on %s (port %d)", who, endpoint,
                   rb_metrics_port (self));
    else
        zsys_error ("%s: %s", who, err);
    return self;
}
