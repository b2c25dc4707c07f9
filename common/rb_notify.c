/*  rb_notify: a daemon's word to systemd (see rb_notify.h). libsystemd
    speaks the protocol (one datagram to NOTIFY_SOCKET per call); this
    file decides when: READY and STOPPING once, STATUS on change and at
    most once a second, WATCHDOG from the loop's own timer.  */
#include "rb_notify.h"

#include <assert.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <systemd/sd-daemon.h>

#define RB_NOTIFY_TEXT_MAX 256 /* bytes in a STATUS= line */

struct rb_notify {
    bool enabled;                  /* NOTIFY_SOCKET was set */
    int64_t watchdog_ms;           /* systemd's interval; 0: off */
    bool ready;                    /* READY=1 sent */
    bool stopping;                 /* STOPPING=1 sent */
    char sent[RB_NOTIFY_TEXT_MAX]; /* the last STATUS= text sent */
    char held[RB_NOTIFY_TEXT_MAX]; /* a newer one held back, or "" */
    int64_t sent_at;               /* when it went out (zclock_mono) */
    rb_notify_fn *fn;              /* the daemon's look, and its arg */
    void *arg;
};

rb_notify_t *
rb_notify_new (void)
{
    rb_notify_t *self = (rb_notify_t *) calloc (1, sizeof *self);
    assert (self);
    const char *socket = getenv ("NOTIFY_SOCKET");
    self->enabled = socket && *socket;
    uint64_t usec = 0;
    if (self->enabled && sd_watchdog_enabled (0, &usec) > 0)
        self->watchdog_ms = (int64_t) (usec / 1000);
    return self;
}

void
rb_notify_destroy (rb_notify_t **self_p)
{
    assert (self_p);
    free (*self_p);
    *self_p = NULL;
}

bool
rb_notify_enabled (rb_notify_t *self)
{
    return self && self->enabled;
}

int64_t
rb_notify_watchdog_ms (rb_notify_t *self)
{
    return rb_notify_enabled (self) ? self->watchdog_ms : 0;
}

/*  One datagram; a failure is logged, never fatal: systemd that does not
    listen must not stop the daemon.  */
static void
s_send (const char *state)
{
    int rc = sd_notify (0, state);
    if (rc < 0)
        zsys_warning ("notify: cannot tell systemd %.20s: %s", state,
                      strerror (-rc));
}

static void
s_status_send (rb_notify_t *self, const char *text)
{
    char line[RB_NOTIFY_TEXT_MAX + 8];
    snprintf (line, sizeof line, "STATUS=%s", text);
    s_send (line);
    snprintf (self->sent, sizeof self->sent, "%s", text);
    self->held[0] = '\0';
    self->sent_at = zclock_mono ();
}

static int
s_on_watchdog (zloop_t *loop, int timer_id, void *arg)
{
    s_send ("WATCHDOG=1");
    return 0;
}

static int
s_on_look (zloop_t *loop, int timer_id, void *arg)
{
    rb_notify_t *self = (rb_notify_t *) arg;
    if (self->fn)
        self->fn (self, self->arg);
    if (self->held[0] &&
        zclock_mono () - self->sent_at >= RB_NOTIFY_STATUS_MS) {
        char text[RB_NOTIFY_TEXT_MAX];
        memcpy (text, self->held, sizeof text);
        s_status_send (self, text);
    }
    return 0;
}

void
rb_notify_attach (rb_notify_t *self, zloop_t *loop, rb_notify_fn *fn, void *arg)
{
    if (!rb_notify_enabled (self))
        return;
    self->fn = fn;
    self->arg = arg;
    zloop_timer (loop, RB_NOTIFY_LOOK_MS, 0, s_on_look, self);
    if (self->watchdog_ms > 0) {
        int64_t half = self->watchdog_ms / 2;
        zloop_timer (loop, (size_t) (half > 0 ? half : 1), 0, s_on_watchdog,
                     self);
        s_send ("WATCHDOG=1"); /* the first at once */
    }
}

void
rb_notify_ready (rb_notify_t *self)
{
    if (!rb_notify_enabled (self) || self->ready)
        return;
    self->ready = true;
    s_send ("READY=1");
}

bool
rb_notify_is_ready (rb_notify_t *self)
{
    return rb_notify_enabled (self) && self->ready;
}

void
rb_notify_status (rb_notify_t *self, const char *fmt, ...)
{
    if (!rb_notify_enabled (self))
        return;
    char text[RB_NOTIFY_TEXT_MAX];
    va_list args;
    va_start (args, fmt);
    vsnprintf (text, sizeof text, fmt, args);
    va_end (args);
    text[strcspn (text, "\n")] = '\0'; /* one line */
    if (streq (text, self->sent)) {
        self->held[0] = '\0'; /* back to what systemd shows already */
        return;
    }
    if (self->sent_at && zclock_mono () - self->sent_at < RB_NOTIFY_STATUS_MS)
        memcpy (self->held, text, sizeof self->held);
    else
        s_status_send (self, text);
}

void
rb_notify_stopping (rb_notify_t *self)
{
    if (!rb_notify_enabled (self) || self->stopping)
        return;
    self->stopping = true;
    s_send ("STOPPING=1");
}
