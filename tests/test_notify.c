/*  test_notify: the daemons' word to systemd (Type=notify, WatchdogSec=,
    common/rb_notify.h), without systemd: the test binds the datagram
    socket systemd would (NOTIFY_SOCKET) with SO_PASSCRED, so the kernel
    says which process sent each line, as it tells systemd. The four
    daemons run as real programs; the DB, the service node and the ops
    node start before the broker exists, so they cannot be ready yet:
    READY=1 must wait for the broker, and a node that says it is ready
    answers a STATUS at once. Then STATUS= lines, WATCHDOG=1 that stops
    while a daemon is stopped (SIGSTOP) and comes back with it, and
    STOPPING=1 on SIGTERM.  */
#define _GNU_SOURCE
#include <check.h>
#include <czmq.h>
#include <signal.h>
#include <stddef.h>
#include <sys/socket.h>
#include <sys/un.h>

#include "rb_bus.h"
#include "rb_notify.h"
#include "rb_proc.h"
#include "rb_redis.h"
#include "rb_testing.h"

#define BIN         RECOBUS_BINARY_DIR
#define WATCHDOG_US "2000000" /* so WATCHDOG=1 each second */

enum { BROKER, DB, SVC, OPS, DAEMONS };

/*  What one daemon said, counted as it arrives.  */
typedef struct {
    const char *name; /* its node name on the bus ("" for the broker) */
    rb_proc_t *proc;
    pid_t pid;
    int ready, stopping, watchdogs, statuses;
    char status[256]; /* the last STATUS= text */
} daemon_t;

static struct {
    char *dir;
    int sock; /* the socket systemd would listen on */
    char path[200];
    char bus[64]; /* the broker's endpoint, known before it runs */
    rb_redis_t *redis;
    daemon_t d[DAEMONS];
    rb_bus_t *probe; /* asks the nodes their STATUS */
} T;

/*  --- the socket ------------------------------------------------------ */

static int
s_socket_new (const char *path)
{
    int fd = socket (AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    ck_assert_int_ge (fd, 0);
    struct sockaddr_un a = {.sun_family = AF_UNIX};
    ck_assert_int_lt (strlen (path), sizeof a.sun_path);
    memcpy (a.sun_path, path, strlen (path) + 1);
    ck_assert_int_eq (bind (fd, (struct sockaddr *) &a, sizeof a), 0);
    int on = 1;
    ck_assert_int_eq (setsockopt (fd, SOL_SOCKET, SO_PASSCRED, &on, sizeof on),
                      0);
    return fd;
}

/*  One datagram within ms: its text into buf, the sender's pid. -1 if
    none came.  */
static int
s_recv (int fd, int ms, char *buf, size_t size, pid_t *pid)
{
    zmq_pollitem_t item = {NULL, fd, ZMQ_POLLIN, 0};
    if (zmq_poll (&item, 1, ms) <= 0)
        return -1;
    char control[CMSG_SPACE (sizeof (struct ucred))];
    struct iovec iov = {buf, size - 1};
    struct msghdr m = {.msg_iov = &iov,
                       .msg_iovlen = 1,
                       .msg_control = control,
                       .msg_controllen = sizeof control};
    ssize_t n = recvmsg (fd, &m, MSG_DONTWAIT);
    if (n < 0)
        return -1;
    buf[n] = '\0';
    struct cmsghdr *c = CMSG_FIRSTHDR (&m);
    *pid = 0;
    if (c && c->cmsg_type == SCM_CREDENTIALS)
        *pid = ((struct ucred *) CMSG_DATA (c))->pid;
    return 0;
}

static daemon_t *
s_by_pid (pid_t pid)
{
    for (int i = 0; i < DAEMONS; i++)
        if (T.d[i].proc && T.d[i].pid == pid)
            return &T.d[i];
    return NULL;
}

/*  Counts one line of a datagram for its sender.  */
static void
s_count (daemon_t *d, const char *line)
{
    if (streq (line, "READY=1"))
        d->ready++;
    else if (streq (line, "STOPPING=1"))
        d->stopping++;
    else if (streq (line, "WATCHDOG=1"))
        d->watchdogs++;
    else if (strncmp (line, "STATUS=", 7) == 0) {
        d->statuses++;
        snprintf (d->status, sizeof d->status, "%s", line + 7);
    } else
        ck_abort_msg ("%s sent an unknown line: %s", d->name, line);
}

/*  Takes what arrives for up to ms; returns the sender of the first
    datagram (NULL for none, or one not ours).  */
static daemon_t *
s_take (int ms)
{
    char buf[1024];
    pid_t pid;
    if (s_recv (T.sock, ms, buf, sizeof buf, &pid))
        return NULL;
    daemon_t *d = s_by_pid (pid);
    ck_assert_msg (d, "a datagram from pid %d, not a daemon: %s", (int) pid,
                   buf);
    for (char *line = strtok (buf, "\n"); line; line = strtok (NULL, "\n"))
        s_count (d, line);
    return d;
}

typedef bool (until_fn) (void);

/*  Takes datagrams until done says so; fails at the deadline.  */
static void
s_until (until_fn *done, int ms, const char *what)
{
    int64_t deadline = rb_clock_ms () + ms;
    while (!done ()) {
        int64_t left = deadline - rb_clock_ms ();
        ck_assert_msg (left > 0, "no %s within %d ms", what, ms);
        s_take ((int) (left < 100 ? left : 100));
    }
}

/*  --- the daemons ------------------------------------------------------ */

static void
s_start (int i, const char *name, char *const argv[])
{
    T.d[i].name = name;
    T.d[i].proc = rb_proc_start (argv, NULL);
    ck_assert_ptr_nonnull (T.d[i].proc);
    T.d[i].pid = rb_proc_pid (T.d[i].proc);
}

static void
s_start_nodes (void)
{
    char backups[600], journal[600];
    snprintf (backups, sizeof backups, "%s/backups", T.dir);
    snprintf (journal, sizeof journal, "%s/ops.journal", T.dir);
    char *db[] = {BIN "/recobus-db",
                  "--name",
                  "db-1",
                  "--broker",
                  T.bus,
                  "--redis",
                  (char *) rb_redis_address (T.redis),
                  "--backup-dir",
                  backups,
                  "--init",
                  NULL};
    s_start (DB, "db-1", db);
    char *svc[] = {BIN "/recobus-service",
                   "--name",
                   "svc-1",
                   "--policy",
                   "latest-only",
                   "--listen",
                   "tcp://127.0.0.1:*",
                   "--broker",
                   T.bus,
                   NULL};
    s_start (SVC, "svc-1", svc);
    char *ops[] = {BIN "/recobus-ops",
                   "--broker",
                   T.bus,
                   "--journal",
                   journal,
                   "serve",
                   NULL};
    s_start (OPS, "ops-serve", ops);
}

static void
s_start_broker (void)
{
    char *broker[] = {BIN "/recobus-broker", "--bind", T.bus, "--tap", "",
                      "--heartbeat",         "500",    NULL};
    s_start (BROKER, "broker", broker);
}

static void
s_setup (void)
{
    memset (&T, 0, sizeof T);
    T.dir = rb_temp_dir ("recobus-notify");
    ck_assert_ptr_nonnull (T.dir);
    snprintf (T.path, sizeof T.path, "%s/notify", T.dir);
    T.sock = s_socket_new (T.path);
    T.redis = rb_redis_start ();
    ck_assert_ptr_nonnull (T.redis);
    int port = rb_free_port ();
    ck_assert_int_gt (port, 0);
    snprintf (T.bus, sizeof T.bus, "tcp://127.0.0.1:%d", port);
    /* what systemd gives a Type=notify unit with WatchdogSec=2 (without
       WATCHDOG_PID, which sd_watchdog_enabled accepts) */
    setenv ("NOTIFY_SOCKET", T.path, 1);
    setenv ("WATCHDOG_USEC", WATCHDOG_US, 1);
}

static void
s_teardown (void)
{
    rb_bus_destroy (&T.probe);
    for (int i = 0; i < DAEMONS; i++)
        rb_proc_destroy (&T.d[i].proc);
    rb_redis_stop (&T.redis);
    if (T.sock > 0)
        close (T.sock);
    if (T.dir)
        rb_remove_tree (T.dir);
    free (T.dir);
    unsetenv ("NOTIFY_SOCKET");
    unsetenv ("WATCHDOG_USEC");
}

/*  A STATUS request to node name is answered (within 2 s).  */
static void
s_expect_answer (const char *name)
{
    ck_assert_int_eq (rb_bus_wait_ready (T.probe, 5000), 0);
    rb_body_t req;
    rb_body_init (&req, RB_T_STATUS);
    zmsg_t *reply = NULL;
    rb_header_t h;
    rb_body_t b;
    rb_body_init (&b, RB_T_NONE);
    int rc =
        rb_bus_call (T.probe, RB_ADDR_NODE, name, &req, 2000, &reply, &h, &b);
    ck_assert_msg (rc == 0, "%s said it was ready but did not answer STATUS",
                   name);
    zmsg_destroy (&reply);
    rb_body_release (&b);
    rb_body_release (&req);
}

/*  --- conditions to wait for --------------------------------------------- */

static bool
s_nodes_beat_twice (void)
{
    return T.d[DB].watchdogs >= 2 && T.d[SVC].watchdogs >= 2 &&
           T.d[OPS].watchdogs >= 2;
}

/*  Whether every daemon counted one line of the kind at offset (ready,
    stopping) at least.  */
static bool
s_every (size_t offset)
{
    for (int i = 0; i < DAEMONS; i++)
        if (!*(const int *) ((const char *) &T.d[i] + offset))
            return false;
    return true;
}

static bool
s_all_ready (void)
{
    return s_every (offsetof (daemon_t, ready));
}

/*  The STATUS= lines each daemon should settle on: the broker counts
    the three nodes and the probe.  */
static const char *const s_want[DAEMONS] = {
    "4 nodes", "state normal, epoch 1, 0 recovering", "registered, 0 cached",
    "recovery phase idle, 0 pending"};

static bool
s_statuses_settled (void)
{
    for (int i = 0; i < DAEMONS; i++)
        if (!streq (T.d[i].status, s_want[i]))
            return false;
    return true;
}

static bool
s_db_beats (void)
{
    return T.d[DB].watchdogs > 0;
}

static bool
s_all_stopping (void)
{
    return s_every (offsetof (daemon_t, stopping));
}

/*  --- tests ----------------------------------------------------------------
 */

/*  Without a broker nobody is ready, though each loop runs (it beats);
    with it, each is, and answers at once.  */
static void
s_check_ready_after_broker (void)
{
    s_start_nodes ();
    s_until (s_nodes_beat_twice, 15000, "WATCHDOG=1 from each node");
    for (int i = DB; i < DAEMONS; i++)
        ck_assert_msg (!T.d[i].ready, "%s is READY before the broker runs",
                       T.d[i].name);
    s_start_broker ();
    rb_bus_opts_t o = {.endpoint = T.bus, .role = RB_ROLE_OPS, .name = "probe"};
    T.probe = rb_bus_new (&o);
    int64_t deadline = rb_clock_ms () + 15000;
    bool asked[DAEMONS] = {false};
    while (!s_all_ready ()) {
        ck_assert_msg (rb_clock_ms () < deadline, "not every daemon READY");
        s_take (100);
        for (int i = DB; i < DAEMONS; i++)
            if (T.d[i].ready && !asked[i]) {
                s_expect_answer (T.d[i].name);
                asked[i] = true;
            }
    }
    for (int i = 0; i < DAEMONS; i++)
        ck_assert_int_eq (T.d[i].ready, 1);
}

static void
s_check_status_lines (void)
{
    int64_t deadline = rb_clock_ms () + 10000;
    while (!s_statuses_settled () && rb_clock_ms () < deadline)
        s_take (100);
    for (int i = 0; i < DAEMONS; i++)
        ck_assert_str_eq (T.d[i].status, s_want[i]);
}

/*  Stopped, the DB stops beating while the broker goes on; and comes
    back with SIGCONT.  */
static void
s_check_watchdog_stops (void)
{
    ck_assert_int_eq (rb_proc_kill (T.d[DB].proc, SIGSTOP), 0);
    char stat[64];
    snprintf (stat, sizeof stat, "/proc/%d/stat", (int) T.d[DB].pid);
    int64_t deadline = rb_clock_ms () + 5000;
    for (;;) { /* until the kernel says it is stopped */
        char *text = NULL;
        FILE *f = fopen (stat, "r");
        char line[512] = "";
        if (f && fgets (line, sizeof line, f))
            text = strrchr (line, ')');
        if (f)
            fclose (f);
        if (text && text[1] == ' ' && text[2] == 'T')
            break;
        ck_assert_msg (rb_clock_ms () < deadline, "the DB did not stop");
        s_take (10);
    }
    while (s_take (0)) /* what it sent before it stopped */
        ;
    T.d[DB].watchdogs = 0;
    T.d[BROKER].watchdogs = 0;
    deadline = rb_clock_ms () + 3000; /* 1.5 watchdog intervals */
    while (rb_clock_ms () < deadline)
        s_take ((int) (deadline - rb_clock_ms ()));
    ck_assert_int_eq (T.d[DB].watchdogs, 0);
    ck_assert_int_ge (T.d[BROKER].watchdogs, 2);
    ck_assert_int_eq (rb_proc_kill (T.d[DB].proc, SIGCONT), 0);
    s_until (s_db_beats, 3000, "WATCHDOG=1 from the DB after SIGCONT");
}

static void
s_check_stopping (void)
{
    for (int i = 0; i < DAEMONS; i++)
        rb_proc_kill (T.d[i].proc, SIGTERM);
    s_until (s_all_stopping, 10000, "STOPPING=1 from each daemon");
    for (int i = 0; i < DAEMONS; i++) {
        ck_assert_int_eq (T.d[i].stopping, 1);
        ck_assert_msg (rb_proc_wait (T.d[i].proc, 10000) == 0,
                       "%s did not exit 0", T.d[i].name);
    }
}

START_TEST (notify_daemons_ready_once_serving_beat_and_say_stopping)
{
    s_check_ready_after_broker ();
    s_check_status_lines ();
    s_check_watchdog_stops ();
    s_check_stopping ();
}
END_TEST

/*  In-process: READY and STOPPING once, STATUS on change and at most
    once a second (a held-back line goes out from the loop), WATCHDOG=1
    from the loop's timer; nothing at all without NOTIFY_SOCKET.  */

static int
s_on_socket (zloop_t *loop, zmq_pollitem_t *item, void *arg)
{
    char buf[512];
    pid_t pid;
    if (s_recv (item->fd, 0, buf, sizeof buf, &pid) == 0) {
        int *seen = (int *) arg;
        seen[0] += streq (buf, "STATUS=c");
        seen[1] += streq (buf, "WATCHDOG=1");
    }
    int *seen = (int *) arg;
    return seen[0] && seen[1] >= 2 ? -1 : 0;
}

static int
s_on_deadline (zloop_t *loop, int timer_id, void *arg)
{
    return -1;
}

static void
s_expect_line (const char *line)
{
    char buf[512];
    pid_t pid;
    ck_assert_int_eq (s_recv (T.sock, 0, buf, sizeof buf, &pid), 0);
    ck_assert_str_eq (buf, line);
}

START_TEST (notify_sends_each_line_once_and_status_on_change)
{
    setenv ("WATCHDOG_USEC", "400000", 1);
    rb_notify_t *n = rb_notify_new ();
    ck_assert (rb_notify_enabled (n));
    ck_assert_int_eq (rb_notify_watchdog_ms (n), 400);
    rb_notify_status (n, "%s", "a");
    rb_notify_status (n, "%s", "b"); /* held: a second has not passed */
    rb_notify_status (n, "%s", "a"); /* what systemd shows already */
    rb_notify_ready (n);
    rb_notify_ready (n);
    rb_notify_status (n, "%s", "c"); /* held, for the loop to send */
    rb_notify_stopping (n);
    rb_notify_stopping (n);
    s_expect_line ("STATUS=a");
    s_expect_line ("READY=1");
    s_expect_line ("STOPPING=1");
    char buf[64];
    pid_t pid;
    ck_assert_int_eq (s_recv (T.sock, 0, buf, sizeof buf, &pid), -1);
    zloop_t *loop = zloop_new ();
    int seen[2] = {0, 0};
    zmq_pollitem_t item = {NULL, T.sock, ZMQ_POLLIN, 0};
    zloop_poller (loop, &item, s_on_socket, seen);
    zloop_timer (loop, 5000, 1, s_on_deadline, NULL);
    rb_notify_attach (n, loop, NULL, NULL);
    zloop_start (loop);
    zloop_destroy (&loop);
    ck_assert_int_eq (seen[0], 1);
    ck_assert_int_ge (seen[1], 2);
    rb_notify_destroy (&n);
    while (s_recv (T.sock, 0, buf, sizeof buf, &pid) == 0) /* later beats */
        ;
    unsetenv ("NOTIFY_SOCKET");
    n = rb_notify_new ();
    ck_assert (!rb_notify_enabled (n));
    rb_notify_ready (n);
    rb_notify_status (n, "x");
    rb_notify_stopping (n);
    rb_notify_destroy (&n);
    rb_notify_ready (NULL);
    ck_assert_int_eq (s_recv (T.sock, 0, buf, sizeof buf, &pid), -1);
}
END_TEST

int
main (void)
{
    Suite *s = suite_create ("notify");
    TCase *tc = tcase_create ("notify");
    tcase_add_checked_fixture (tc, s_setup, s_teardown);
    tcase_set_timeout (tc, 120);
    tcase_add_test (tc, notify_sends_each_line_once_and_status_on_change);
    tcase_add_test (tc,
                    notify_daemons_ready_once_serving_beat_and_say_stopping);
    suite_add_tcase (s, tc);
    return rb_test_run (s);
}
