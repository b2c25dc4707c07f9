/*  bench storm: a miss storm. 1,000 terminals, each a DEALER of its own
    on the service node's terminal endpoint, each ask one key nobody asked
    before, all sent before any answer is read; the figure is the p99 of
    the 1,000 round trips (send to verified answer), against the same keys
    asked again the same way right after, when they are cached. Every run
    asks a key range of its own, so every cold storm is cold.

    The 1,000 sockets live in a libzmq context of the scenario's own:
    czmq's holds at most 1,024 sockets, a number fixed when its first
    socket was made. Each terminal costs about three descriptors in this
    process (its socket's mailbox, its connection and the service node's
    end of it); the soft limit is raised when short of them.  */
#include "rb_bench_cluster.h"
#include "rb_msg.h"

#include <errno.h>
#include <sys/resource.h>
#include <zmq.h>

#define TERMINALS   1000
#define VALUE_BYTES 100
#define WARMUP_KEYS 100   /* the first storm's keys: no run's */
#define STORM_MS    20000 /* every answer of a storm within this */

/*  Raises the soft limit on descriptors to need, if the hard one lets. */
static int
s_fd_limit (rlim_t need)
{
    struct rlimit rl;
    if (getrlimit (RLIMIT_NOFILE, &rl))
        return -1;
    if (rl.rlim_cur >= need)
        return 0;
    if (rl.rlim_max != RLIM_INFINITY && rl.rlim_max < need) {
        fprintf (stderr,
                 "storm: %lu descriptors needed, the hard limit is %lu "
                 "(ulimit -Hn)\n",
                 (unsigned long) need, (unsigned long) rl.rlim_max);
        return -1;
    }
    rl.rlim_cur = need;
    return setrlimit (RLIMIT_NOFILE, &rl);
}

/*  Reads terminal i's answer: correct (for corr i) or not.  */
static bool
s_read (void *sock, int i)
{
    zmsg_t *msg = zmsg_recv (sock);
    if (!msg)
        return false;
    zframe_t *hf = zmsg_first (msg);
    rb_header_t h;
    bool ok =
        hf &&
        rb_header_decode (zframe_data (hf), zframe_size (hf), &h, NULL) == 0 &&
        h.corr == (uint64_t) i &&
        rb_bench_correct (msg, rb_bcluster_filled (VALUE_BYTES));
    zmsg_destroy (&msg);
    return ok;
}

/*  One storm: terminal i asks k<key0 + i % nkeys>, all sent first; each
    round trip goes into lat. 0, or -1 when an answer was wrong or not
    there by the deadline.  */
static int
s_storm (void **socks, int key0, int nkeys, rb_samples_t *lat)
{
    static double sent[TERMINALS];
    static bool done[TERMINALS];
    static zmq_pollitem_t items[TERMINALS];
    for (int i = 0; i < TERMINALS; i++) {
        done[i] = false;
        sent[i] = rb_now_us ();
        rb_bench_send_get (socks[i], (uint64_t) i, key0 + i % nkeys);
    }
    int left = TERMINALS, wrong = 0;
    double deadline = rb_now_us () + STORM_MS * 1e3;
    while (left > 0) {
        int ms = (int) ((deadline - rb_now_us ()) / 1e3);
        for (int i = 0; i < TERMINALS; i++)
            items[i] =
                (zmq_pollitem_t){socks[i], 0, done[i] ? 0 : ZMQ_POLLIN, 0};
        int rc = ms > 0 ? zmq_poll (items, TERMINALS, ms) : 0;
        if (rc == 0 || (rc < 0 && errno != EINTR))
            break;
        for (int i = 0; i < TERMINALS && rc > 0; i++) {
            if (done[i] || !(items[i].revents & ZMQ_POLLIN))
                continue;
            if (s_read (socks[i], i))
                rb_samples_add (lat, rb_now_us () - sent[i]);
            else
                wrong++;
            done[i] = true;
            left--;
        }
    }
    if (left == 0 && wrong == 0)
        return 0;
    fprintf (stderr, "storm: %d answer(s) missing, %d wrong\n", left, wrong);
    return -1;
}

/*  The p99 of a storm of keys k<key0 ...>, or 0 when it failed.  */
static double
s_storm_p99 (void **socks, int key0)
{
    rb_samples_t lat = {0};
    double p99 =
        s_storm (socks, key0, TERMINALS, &lat) ? 0 : rb_samples_pct (&lat, 99);
    rb_samples_free (&lat);
    return p99;
}

/*  The terminals, and the storms of each run. 0, or -1 when the sockets
    could not be made or the first storm failed.  */
static int
s_storms (const rb_bench_opts_t *o, const char *endpoint, rb_figure_t *f)
{
    void *ctx = zmq_ctx_new ();
    zmq_ctx_set (ctx, ZMQ_MAX_SOCKETS, TERMINALS + 64);
    void **socks = (void **) calloc (TERMINALS, sizeof (void *));
    int rc = 0, linger = 0;
    for (int i = 0; i < TERMINALS && rc == 0; i++) {
        socks[i] = zmq_socket (ctx, ZMQ_DEALER);
        rc = socks[i] ? zmq_setsockopt (socks[i], ZMQ_LINGER, &linger,
                                        sizeof linger) ||
                            zmq_connect (socks[i], endpoint)
                      : -1;
    }
    if (rc)
        fprintf (stderr, "storm: socket: %s\n", zmq_strerror (zmq_errno ()));
    /* every terminal connected and answered once before a measured
       storm, on keys no run asks (ten terminals a key) */
    rb_samples_t lat = {0};
    if (rc == 0)
        rc = s_storm (socks, 0, WARMUP_KEYS, &lat);
    rb_samples_free (&lat);
    for (int run = 0; run < o->runs && rc == 0; run++) {
        int key0 = TERMINALS * (run + 1);
        double cold = s_storm_p99 (socks, key0);
        double warm = cold > 0 ? s_storm_p99 (socks, key0) : 0;
        rb_figure_add (f, cold, warm);
        fprintf (stderr, "storm: run %d: p99 %.0f us cold vs %.0f warm\n",
                 run + 1, cold, warm);
        if (cold <= 0 || warm <= 0)
            break; /* a late answer would meet the next storm */
    }
    for (int i = 0; i < TERMINALS; i++)
        if (socks[i])
            zmq_close (socks[i]);
    free (socks);
    zmq_ctx_term (ctx);
    return rc;
}

int
rb_bench_storm (const rb_bench_opts_t *o)
{
    if (s_fd_limit (TERMINALS * 4 + 1024))
        return -1;
    int nkeys = TERMINALS * (o->runs + 1);
    rb_bcluster_t c;
    if (rb_bcluster_start (&c, o, (uint32_t) (nkeys + TERMINALS),
                           RB_POLICY_LATEST_ONLY))
        return -1;
    if (rb_bcluster_fill (o, nkeys, VALUE_BYTES)) {
        rb_bcluster_stop (&c);
        return -1;
    }
    rb_figure_t f = {.name = "miss storm p99, 1000 terminals (us)",
                     .unit = "us",
                     .target = o->smoke ? 0 : 10,
                     .note = "the same 1000 keys asked again, cached"};
    int rc = s_storms (o, c.terminals, &f);
    if (rc == 0)
        rb_report_add (&f);
    rb_bcluster_stop (&c);
    return rc;
}
