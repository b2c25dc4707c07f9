/*  rb_ops_out: how the ops tool reports: exit codes, one-line errors,
    JSON result lines, progress bars (see rb_ops_int.h).  */
#include "rb_ops_int.h"
#include "rb_out.h"

#include <stdarg.h>

int
ops_exit_for (int code)
{
    switch (code) {
        case RB_OK: return 0;
        case RB_S_UNKNOWN_NODE:
        case RB_S_UNKNOWN_SERVICE:
        case RB_S_NAME_TAKEN:
        case RB_S_WORKER_LOST:
        case RB_S_TIMEOUT:
        case RB_S_OVERLOADED:
        case RB_S_UNAVAILABLE:
        case RB_S_FORBIDDEN: return EX_UNAVAILABLE;
        case RB_S_IO: return EX_IOERR;
        case RB_S_INTERNAL: return EX_SOFTWARE;
        default: return EX_DATAERR; /* malformed, wrong state, corrupt ... */
    }
}

void
ops_describe (int code, const rb_str_t *text, char *out, size_t len)
{
    int n = text && text->ptr ? (int) text->len : 0;
    const char *t = n ? text->ptr : "";
    if (code == RB_S_UNKNOWN_SERVICE)
        snprintf (out, len, "no node offers service %.*s (unknown_service)", n,
                  t);
    else if (code == RB_S_WORKER_LOST)
        snprintf (out, len,
                  "the DB node %.*s was lost mid-request (worker_lost)", n, t);
    else if (n)
        snprintf (out, len, "%.*s (%s)", n, t, rb_code_name (code));
    else if (code == RB_S_TIMEOUT)
        snprintf (out, len, "no answer before the deadline (timeout)");
    else
        snprintf (out, len, "%s", rb_code_name (code));
}

static void
s_vline (ops_t *self, const char *fmt, va_list args, char *out, size_t len)
{
    vsnprintf (out, len, fmt, args);
    fprintf (stderr, "recobus-ops: %s: %s\n", self->command, out);
    fflush (stderr);
}

int
ops_fail (ops_t *self, int exit_code, const char *fmt, ...)
{
    char text[1200];
    va_list args;
    va_start (args, fmt);
    s_vline (self, fmt, args, text, sizeof text);
    va_end (args);
    if (self->opts.json) {
        json_t *obj = ops_result (self);
        rb_out_json_bytes (obj, "error", text, strlen (text));
        json_object_set_new (obj, "exit", json_integer (exit_code));
        ops_emit (obj);
    }
    return exit_code;
}

void
ops_note (ops_t *self, const char *fmt, ...)
{
    char text[1200];
    va_list args;
    va_start (args, fmt);
    s_vline (self, fmt, args, text, sizeof text);
    va_end (args);
}

void
ops_order_result (ops_t *self, const char *key, uint64_t seq,
                  const char *status, const ops_ack_t *ack)
{
    if (!self->opts.json) {
        if (streq (status, "applied"))
            ops_say ("seq %" PRIu64, seq);
        return;
    }
    json_t *obj = ops_result (self);
    json_object_set_new (obj, "key", json_string (key));
    rb_out_json_uint (obj, "seq", seq);
    json_object_set_new (obj, "status", json_string (status));
    if (ack) {
        rb_out_json_uint (obj, "applied", ack->applied);
        rb_out_json_uint (obj, "skipped", ack->skipped);
        rb_out_json_uint (obj, "cleared", ack->cleared);
        rb_out_json_uint (obj, "watermark", ack->watermark);
    }
    ops_emit (obj);
}

json_t *
ops_result (ops_t *self)
{
    json_t *obj = json_object ();
    json_object_set_new (obj, "command", json_string (self->command));
    return obj;
}

void
ops_emit (json_t *obj)
{
    rb_out_json_line (stdout, obj);
    fflush (stdout);
}

void
ops_say (const char *fmt, ...)
{
    va_list args;
    va_start (args, fmt);
    vprintf (fmt, args);
    va_end (args);
    putchar ('\n');
    fflush (stdout);
}

double
ops_seconds (int64_t start_ms)
{
    return (double) (zclock_mono () - start_ms) / 1000.0;
}

/*  --- progress bars ------------------------------------------------------ */

#define BAR_WIDTH 24
#define REDRAW_MS 100

void
ops_progress_start (ops_progress_t *p, ops_t *ops, const char *what,
                    uint64_t total)
{
    memset (p, 0, sizeof *p);
    p->on = ops->opts.progress;
    snprintf (p->what, sizeof p->what, "%s", what);
    p->total = total;
    p->start = zclock_mono ();
    p->ops = ops;
    if (ops->watch)
        ops->watch (ops->watch_arg, what, 0, total);
}

/*  "1:05" from seconds. */
static void
s_clock (double s, char *out, size_t len)
{
    long t = (long) (s + 0.5);
    snprintf (out, len, "%ld:%02ld", t / 60, t % 60);
}

static void
s_draw (ops_progress_t *p, int64_t now)
{
    double secs = (double) (now - p->start) / 1000.0;
    double rate = secs > 0 ? (double) p->done / secs : 0;
    char bar[BAR_WIDTH + 1], eta[32] = "?";
    if (p->total) {
        int fill = (int) (BAR_WIDTH *
                          (p->done < p->total ? p->done : p->total) / p->total);
        for (int i = 0; i < BAR_WIDTH; i++)
            bar[i] = i < fill ? '#' : '.';
        bar[BAR_WIDTH] = '\0';
        if (rate > 0 && p->total > p->done)
            s_clock ((double) (p->total - p->done) / rate, eta, sizeof eta);
        else if (p->total <= p->done)
            snprintf (eta, sizeof eta, "0:00");
        fprintf (stderr,
                 "\r%s [%s] %" PRIu64 "/%" PRIu64 " %.0f/s ETA %s\033[K",
                 p->what, bar, p->done, p->total, rate, eta);
    } else
        fprintf (stderr, "\r%s %" PRIu64 " %.0f/s\033[K", p->what, p->done,
                 rate);
    fflush (stderr);
    p->drawn = now;
}

void
ops_progress_add (ops_progress_t *p, uint64_t n)
{
    p->done += n;
    if (p->ops && p->ops->watch)
        p->ops->watch (p->ops->watch_arg, p->what, p->done, p->total);
    int64_t now = zclock_mono ();
    if (p->on && now - p->drawn >= REDRAW_MS)
        s_draw (p, now);
}

void
ops_progress_end (ops_progress_t *p)
{
    if (p->on && p->drawn) {
        fprintf (stderr, "\r\033[K");
        fflush (stderr);
    }
    p->on = false;
}
