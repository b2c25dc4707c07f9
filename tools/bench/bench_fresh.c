/*  bench fresh: with N keys flagged and a latest-only terminal waiting
    on each, the time from each DIFF's ACK to its terminal's answer
    (RECOVERED push, then a poll), p50 and p99; target p99 <= 5 ms. The
    baseline is one plain round trip terminal -> service -> db at 1 in
    flight, the floor any answer pays.  */
#include "rb_backup.h"
#include "rb_bench_cluster.h"
#include "rb_msg.h"
#include "rb_service.h"

#include <string.h>

/*  Reads answers on the terminal socket and stamps their arrival. */
typedef struct {
    const char *endpoint;
    int n;
    double *answered; /* rb_now_us () per corr, 0 until answered */
    int *status;
} reader_args_t;

static void
s_reader (zsock_t *pipe, void *args)
{
    reader_args_t *a = (reader_args_t *) args;
    zsock_t *sock = zsock_new_dealer (a->endpoint);
    zsock_signal (pipe, 0);
    for (int i = 0; i < a->n; i++) { /* every GET at once */
        char k[32];
        snprintf (k, sizeof k, "k%d", i);
        rb_header_t h = {
            .kind = RB_K_REQUEST, .type = RB_T_GET, .corr = (uint64_t) i};
        rb_body_t b;
        rb_body_init (&b, RB_T_GET);
        b.key = rb_str (k);
        rb_msg_send (zsock_resolve (sock), &h, &b);
    }
    zpoller_t *poller = zpoller_new (pipe, sock, NULL);
    rb_body_t b;
    rb_body_init (&b, RB_T_NONE);
    while (zpoller_wait (poller, -1) == sock) {
        zmsg_t *msg = zmsg_recv (sock);
        double now = rb_now_us ();
        rb_header_t h;
        if (rb_msg_decode (msg, NULL, &h, &b, NULL) == 0 &&
            h.corr < (uint64_t) a->n) {
            a->answered[h.corr] = now;
            a->status[h.corr] = b.answer;
        }
        zmsg_destroy (&msg);
    }
    rb_body_release (&b);
    zpoller_destroy (&poller);
    zsock_destroy (&sock);
}

static int
s_call (rb_bcluster_t *c, rb_body_t *req)
{
    rb_body_t b;
    rb_body_init (&b, RB_T_NONE);
    zmsg_t *reply;
    rb_header_t h;
    int rc =
        rb_bus_call (c->ops, RB_ADDR_SERVICE, "db", req, 60000, &reply, &h, &b);
    zmsg_destroy (&reply);
    rb_body_release (&b);
    return rc;
}

/*  Restore (all flagged), then the list: every key behind target 2. */
static int
s_flag_all (rb_bcluster_t *c, const char *backup, int n)
{
    rb_body_t req;
    rb_body_init (&req, RB_T_RESTORE);
    req.text =
        rb_str (strrchr (backup, '/') + 1); /* a name in the backup dir */
    req.force = true; /* a made-up dataset, and no journal */
    if (s_call (c, &req))
        return -1;
    rb_entry_t *e = (rb_entry_t *) calloc ((size_t) n, sizeof (rb_entry_t));
    char (*keys)[16] = calloc ((size_t) n, 16);
    for (int i = 0; i < n; i++) {
        snprintf (keys[i], 16, "k%d", i);
        e[i] = (rb_entry_t){rb_str (keys[i]), 2};
    }
    rb_body_init (&req, RB_T_RECOVERY_LIST);
    req.entries = e;
    req.n_entries = (uint32_t) n;
    req.last = true;
    int rc = s_call (c, &req);
    free (e);
    free (keys);
    return rc;
}

/*  One run: n terminals wait; a DIFF per key; latency of each answer
    after its ACK into lat.  */
static int
s_run (rb_bcluster_t *c, const char *backup, int n, rb_samples_t *lat)
{
    if (s_flag_all (c, backup, n))
        return -1;
    reader_args_t a = {c->terminals, n, calloc ((size_t) n, sizeof (double)),
                       calloc ((size_t) n, sizeof (int))};
    zactor_t *reader = zactor_new (s_reader, &a);
    zclock_sleep (300); /* the GETs park: not part of any figure */
    double *acked = (double *) calloc ((size_t) n, sizeof (double));
    for (int i = 0; i < n; i++) {
        char k[16];
        snprintf (k, sizeof k, "k%d", i);
        rb_order_t o = {2, rb_str (k), RB_OP_PUT, true, rb_str ("fresh")};
        rb_body_t req;
        rb_body_init (&req, RB_T_DIFF);
        req.orders = &o;
        req.n_orders = 1;
        if (s_call (c, &req))
            return -1;
        acked[i] = rb_now_us ();
    }
    double until = rb_now_us () + 10e6;
    for (int i = 0; i < n && rb_now_us () < until; i++)
        while (a.answered[i] == 0 && rb_now_us () < until)
            zclock_sleep (1);
    int ok = 0;
    for (int i = 0; i < n; i++)
        if (a.answered[i] > 0 && a.status[i] == RB_ANS_OK) {
            double d = a.answered[i] - acked[i];
            rb_samples_add (lat, d > 0 ? d : 0);
            ok++;
        }
    zactor_destroy (&reader);
    free (a.answered);
    free (a.status);
    free (acked);
    return ok == n ? 0 : -1;
}

int
rb_bench_fresh (const rb_bench_opts_t *o)
{
    int n = o->smoke ? 50 : 1000;
    rb_bcluster_t c;
    if (rb_bcluster_start (&c, o, 0, RB_POLICY_LATEST_ONLY) ||
        rb_bcluster_fill (o, n, 100))
        return -1;
    rb_body_t req;
    rb_body_init (&req, RB_T_BACKUP);
    rb_body_t b;
    rb_body_init (&b, RB_T_NONE);
    zmsg_t *reply;
    rb_header_t h;
    if (rb_bus_call (c.ops, RB_ADDR_SERVICE, "db", &req, 60000, &reply, &h, &b))
        return -1;
    char *backup = rb_str_dup (b.text);
    zmsg_destroy (&reply);
    rb_body_release (&b);
    rb_figure_t p50 = {.name = "fresh: DIFF ACK -> terminal answer p50",
                       .unit = "us",
                       .note = "terminal GET round trip @1"};
    rb_figure_t p99 = p50;
    snprintf (p99.name, sizeof p99.name,
              "fresh: DIFF ACK -> terminal answer p99");
    p99.target = o->smoke ? 0 : 5000;
    p99.target_is_abs = true;
    for (int run = 0; run < o->runs; run++) {
        rb_samples_t lat = {0}, rtt = {0};
        if (s_run (&c, backup, n, &lat)) {
            free (backup);
            return -1;
        }
        rb_bench_terminal (c.terminals, 1, n, (rb_expect_t){"fresh", 5},
                           o->smoke ? 0.2 : 1.0, &rtt, NULL);
        rb_figure_add (&p50, rb_samples_pct (&lat, 50),
                       rb_samples_pct (&rtt, 50));
        rb_figure_add (&p99, rb_samples_pct (&lat, 99),
                       rb_samples_pct (&rtt, 99));
        fprintf (stderr, "fresh: run %d: p50 %.0f us p99 %.0f us\n", run + 1,
                 rb_samples_pct (&lat, 50), rb_samples_pct (&lat, 99));
        rb_samples_free (&lat);
        rb_samples_free (&rtt);
    }
    rb_report_add (&p50);
    rb_report_add (&p99);
    free (backup);
    rb_bcluster_stop (&c);
    return 0;
}
