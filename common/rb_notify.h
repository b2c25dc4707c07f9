/*  rb_notify: a daemon's word to systemd (Type=notify, WatchdogSec=),
    over libsystemd's sd_notify: READY=1 once it really serves, STATUS=
    lines when what operators care about changes, WATCHDOG=1 from the
    daemon's own loop (a loop that hangs stops the pings, and systemd
    restarts the daemon), STOPPING=1 when it stops.

    Without NOTIFY_SOCKET in the environment (not under systemd, or a
    test running the actors in-process) the object is inert: every call
    does nothing. A NULL object is inert too, so an actor that was not
    asked to notify passes NULL.

        rb_notify_t *n = opts->notify ? rb_notify_new () : NULL;
        rb_notify_attach (n, loop, s_notify, self);   // s_notify calls
        zloop_start (loop);                           // rb_notify_ready,
        rb_notify_stopping (n);                       // rb_notify_status
        rb_notify_destroy (&n);                                          */
#ifndef RB_NOTIFY_H
#define RB_NOTIFY_H

#include <czmq.h>
#include <stdbool.h>
#include <stdint.h>

#define RB_NOTIFY_LOOK_MS   200  /* how often attach calls the daemon's fn */
#define RB_NOTIFY_STATUS_MS 1000 /* STATUS= lines at most this often */

typedef struct rb_notify rb_notify_t;

/*  Reads NOTIFY_SOCKET and the watchdog's settings (WATCHDOG_USEC,
    WATCHDOG_PID: sd_watchdog_enabled) once.  */
rb_notify_t *rb_notify_new (void);
void rb_notify_destroy (rb_notify_t **self_p);

/*  Whether NOTIFY_SOCKET was set; the watchdog interval in ms (0: off).  */
bool rb_notify_enabled (rb_notify_t *self);
int64_t rb_notify_watchdog_ms (rb_notify_t *self);

/*  Called every RB_NOTIFY_LOOK_MS from the daemon's loop: it looks
    whether it is ready now, and what its status line says.  */
typedef void (rb_notify_fn) (rb_notify_t *notify, void *arg);

/*  Timers in loop: WATCHDOG=1 every half the watchdog interval when
    systemd set one, and fn (with arg) every RB_NOTIFY_LOOK_MS, which
    also sends a STATUS= line held back by the rate limit. Nothing when
    inert. Call it once; the timers go with the loop.  */
void rb_notify_attach (rb_notify_t *self, zloop_t *loop, rb_notify_fn *fn,
                       void *arg);

/*  READY=1, the first time only.  */
void rb_notify_ready (rb_notify_t *self);
bool rb_notify_is_ready (rb_notify_t *self);

/*  STATUS=text (printf-style, one line) when it differs from the last
    one sent: at once if none went out in the last RB_NOTIFY_STATUS_MS,
    else held back and sent by the next look after that.  */
void rb_notify_status (rb_notify_t *self, const char *fmt, ...)
    __attribute__ ((format (printf, 2, 3)));

/*  STOPPING=1, the first time only.  */
void rb_notify_stopping (rb_notify_t *self);

#endif
