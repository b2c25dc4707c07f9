/*  bench overload: a legitimate client's GET p99 during each flood of
    issue 14, against its p99 with no flood in the same run: rounds of
    round_s seconds alternate quiet, flood, quiet, flood ...; target: the
    flood's p99 at most 2x the quiet one.

    The cluster is real processes (rb_pcluster), plain (a HELLO naming
    random services needs the bench role, which CurveZMQ keeps off the
    bus), with the products' default caps: the broker with its tap, the
    DB node, svc-flood (latest-only, the GET floods' target) and
    svc-legit (latest-only); both cache nothing, so every GET takes the
    whole path service -> broker -> DB -> Redis. The legitimate client
    asks svc-legit for k0 .. k999, one GET at a time. The DB is
    recovering, with fk-0 .. fk-(N-1) flagged for good; the rest current.

    The floods (--floods LIST; default: all of them):
      hello    HELLOs naming 8 random services, 10 sockets, 1000 in flight
      tap      4 tap subscribers that never read; both rounds carry GETs
               of 1 kB values at svc-flood (32 in flight), so the tap is
               busy and the stalled subscribers fill up
      flagged  GETs of flagged keys at svc-flood, all at once
      absent   GETs of keys nobody wrote at svc-flood, 256 in flight
      deaf     a worker of "echo" that never reads and 4 kB ECHO requests
               at it (the broker's per-peer budget)
      idle     1000 TCP connections to the bus that never say HELLO
    After each round the cluster settles (no wait left at svc-flood, the
    broker back to its own nodes, nothing queued) before the next.  */
#include "rb_bench_cluster.h"
#include "rb_flood.h"
#include "rb_msg.h"
#include "rb_pcluster.h"

#include <string.h>
#include <unistd.h>

#define LEGIT_KEYS 1000    /* k0 .. k999: the legitimate client's */
#define BACK_KEYS  1000    /* k1000 .. k1999: the tap rounds' traffic */
#define VALUE      1024    /* bytes of each k value */
#define FOREVER    1000000 /* a flood's count: its round ends it */
#define SETTLE_MS  20000

typedef struct {
    const rb_bench_opts_t *o;
    rb_pcluster_t *pc;
    rb_bus_t *ops;   /* role ops, from this process */
    double round_s;  /* seconds of one round */
    int flagged;     /* fk- keys flagged */
    uint64_t nodes;  /* the broker's nodes when quiet */
    uint64_t absent; /* the next absent key's number */
} ctx_t;

/*  --- the floods ---------------------------------------------------------- */

static const char *
s_flood_ep (ctx_t *c)
{
    return c->pc->svc_ep[0];
}

static int
s_hello (ctx_t *c, rb_flood_opts_t *o)
{
    *o = rb_flood_defaults (RB_FLOOD_HELLO, c->pc->c->bus);
    o->count = FOREVER;
    o->sockets = 10;
    o->in_flight = 1000;
    o->prefix = "hf";
    return 1;
}

static int
s_tap_traffic (ctx_t *c, rb_flood_opts_t *o)
{
    *o = rb_flood_defaults (RB_FLOOD_GETS, s_flood_ep (c));
    o->count = FOREVER;
    o->prefix = "k";
    o->first = LEGIT_KEYS;
    o->keys = BACK_KEYS;
    o->in_flight = 32;
    return 1;
}

static int
s_tap (ctx_t *c, rb_flood_opts_t *o)
{
    *o = rb_flood_defaults (RB_FLOOD_TAP, c->pc->c->tap);
    o->count = 4;
    o->rcvbuf = 4096;
    return 1;
}

static int
s_flagged (ctx_t *c, rb_flood_opts_t *o)
{
    *o = rb_flood_defaults (RB_FLOOD_GETS, s_flood_ep (c));
    o->count = FOREVER;
    o->prefix = "fk-";
    o->keys = (uint64_t) c->flagged;
    o->in_flight = 0;
    return 1;
}

static int
s_absent (ctx_t *c, rb_flood_opts_t *o)
{
    *o = rb_flood_defaults (RB_FLOOD_GETS, s_flood_ep (c));
    o->count = FOREVER;
    o->prefix = "ab-";
    o->first = c->absent; /* never asked before: no cached absence */
    c->absent += FOREVER;
    o->in_flight = 256;
    return 1;
}

static int
s_deaf (ctx_t *c, rb_flood_opts_t *o)
{
    o[0] = rb_flood_defaults (RB_FLOOD_DEAF_NODE, c->pc->c->bus);
    o[0].prefix = "deaf";
    o[0].rcvbuf = 4096;
    o[1] = rb_flood_defaults (RB_FLOOD_REQUESTS, c->pc->c->bus);
    o[1].prefix = "asker";
    o[1].count = c->o->smoke ? 500 : 20000;
    o[1].value_len = 4096;
    return 2;
}

static int
s_idle (ctx_t *c, rb_flood_opts_t *o)
{
    *o = rb_flood_defaults (RB_FLOOD_IDLE, c->pc->c->bus);
    o->count = c->o->smoke ? 50 : 1000;
    return 1;
}

typedef int (opts_fn) (ctx_t *c, rb_flood_opts_t *o);

/*  A flood of the scenario: what both rounds carry (background, or NULL)
    and what the flood round adds.  */
typedef struct {
    const char *name;
    bool by_default;
    opts_fn *background;
    opts_fn *flood;
} row_t;

static const row_t s_rows[] = {
    {"hello", true, NULL, s_hello},     {"tap", true, s_tap_traffic, s_tap},
    {"flagged", true, NULL, s_flagged}, {"absent", true, NULL, s_absent},
    {"deaf", true, NULL, s_deaf},       {"idle", true, NULL, s_idle},
};
#define N_ROWS ((int) (sizeof s_rows / sizeof s_rows[0]))

/*  Whether the word at at (ending at ',' or the end) is word. */
static bool
s_word_is (const char *at, const char *word)
{
    size_t len = strlen (word);
    return strncmp (at, word, len) == 0 && (at[len] == ',' || !at[len]);
}

/*  Whether row is asked for: named in list (comma-separated; "all": every
    one), or by default without a list.  */
static bool
s_chosen (const row_t *row, const char *list)
{
    if (!list)
        return row->by_default;
    for (const char *at = list; *at; at += strcspn (at, ",")) {
        at += *at == ',';
        if (s_word_is (at, "all") || s_word_is (at, row->name))
            return true;
    }
    return false;
}

const char *
rb_bench_overload_unknown (const char *list)
{
    for (const char *at = list; at && *at; at += strcspn (at, ",")) {
        at += *at == ',';
        bool known = s_word_is (at, "all");
        for (int r = 0; r < N_ROWS; r++)
            known |= s_word_is (at, s_rows[r].name);
        if (!known)
            return at;
    }
    return NULL;
}

/*  --- the cluster --------------------------------------------------------- */

/*  A request to service db from the ops node. 0 or its error; a
    BACKUP's file path in *path when path is given (the caller frees).  */
static int
s_call (ctx_t *c, rb_body_t *req, char **path)
{
    rb_body_t b;
    rb_body_init (&b, RB_T_NONE);
    zmsg_t *reply = NULL;
    rb_header_t h;
    int rc =
        rb_bus_call (c->ops, RB_ADDR_SERVICE, "db", req, 60000, &reply, &h, &b);
    if (path)
        *path =
            rc == 0 && b.type == RB_T_BACKUP_DONE ? rb_str_dup (b.text) : NULL;
    rb_body_release (&b);
    zmsg_destroy (&reply);
    return rc;
}

/*  A backup of the k records, restored, then fk-0 .. fk-(n-1) listed as
    behind seq 2: flagged until a diff that never comes.  */
static int
s_flag (ctx_t *c, int n)
{
    rb_body_t req;
    rb_body_init (&req, RB_T_BACKUP);
    char *path = NULL;
    if (s_call (c, &req, &path) || !path)
        return -1;
    rb_body_init (&req, RB_T_RESTORE);
    req.text = rb_str (strrchr (path, '/') ? strrchr (path, '/') + 1 : path);
    req.force = true; /* its watermark is 0: no journal to bound it */
    int rc = s_call (c, &req, NULL);
    free (path);
    rb_entry_t *e = (rb_entry_t *) calloc (10000, sizeof (rb_entry_t));
    char (*keys)[16] = calloc (10000, 16);
    for (int first = 0; rc == 0 && first < n; first += 10000) {
        int batch = n - first < 10000 ? n - first : 10000;
        for (int i = 0; i < batch; i++) {
            snprintf (keys[i], 16, "fk-%d", first + i);
            e[i] = (rb_entry_t){rb_str (keys[i]), 2};
        }
        rb_body_init (&req, RB_T_RECOVERY_LIST);
        req.entries = e;
        req.n_entries = (uint32_t) batch;
        req.last = first + batch >= n;
        rc = s_call (c, &req, NULL);
    }
    free (e);
    free (keys);
    return rc;
}

/*  A numeric STATUS item of dest (addr: service or node); -1 if no
    answer.  */
static int64_t
s_status (ctx_t *c, int addr, const char *dest, const char *name)
{
    uint64_t value;
    if (rb_status_num (c->ops, addr, dest, name, 2000, 0, &value))
        return -1;
    return (int64_t) value;
}

/*  Until no terminal waits at svc-flood, the broker holds only its own
    nodes and nothing is queued or in flight there but our question. */
static void
s_settle (ctx_t *c)
{
    int64_t until = zclock_mono () + SETTLE_MS;
    while (zclock_mono () < until) {
        int64_t waits = s_status (c, RB_ADDR_NODE, "svc-flood", "waits");
        int64_t nodes = s_status (c, RB_ADDR_SERVICE, "broker", "nodes");
        int64_t queued = s_status (c, RB_ADDR_SERVICE, "broker", "queued");
        if (waits == 0 && nodes >= 0 && (uint64_t) nodes <= c->nodes &&
            queued == 0)
            return;
        rb_bus_poll (c->ops, 50);
    }
    fprintf (stderr, "overload: the cluster did not settle in %d s\n",
             SETTLE_MS / 1000);
}

static int
s_setup (ctx_t *c)
{
    rb_pcluster_opts_t po = {.bin_dir = c->o->bin_dir,
                             .redis = c->o->redis,
                             .tap = true,
                             .config = "service\n"
                                       "    svc-flood\n"
                                       "        cache-size = 0\n"
                                       "    svc-legit\n"
                                       "        cache-size = 0\n",
                             .services = {{"svc-flood", "latest-only"},
                                          {"svc-legit", "latest-only"}}};
    c->pc = rb_pcluster_new (&po);
    if (!c->pc || rb_bcluster_fill (c->o, LEGIT_KEYS + BACK_KEYS, VALUE) != 0)
        return -1;
    rb_bus_opts_t bo = {
        .endpoint = c->pc->c->bus, .role = RB_ROLE_OPS, .name = "bench-ops"};
    c->ops = rb_bus_new (&bo);
    if (rb_bus_wait_ready (c->ops, 5000) || s_flag (c, c->flagged))
        return -1;
    int64_t nodes = s_status (c, RB_ADDR_SERVICE, "broker", "nodes");
    c->nodes = nodes > 0 ? (uint64_t) nodes : 4;
    return 0;
}

/*  --- rounds -------------------------------------------------------------- */

/*  One round: the row's floods (with the flood's own when flooding),
    the legitimate client's p99 meanwhile, then the floods stopped and
    the cluster settled. The flood's messages sent go into *sent. 0, or
    -1 if a flood would not start or the client got no answer.  */
static int
s_round (ctx_t *c, const row_t *row, bool flooding, double *p99, uint64_t *sent)
{
    rb_flood_opts_t o[4];
    int n = row->background ? row->background (c, o) : 0;
    int first_flood = n;
    if (flooding)
        n += row->flood (c, o + n);
    rb_flood_t *f[4] = {NULL};
    int rc = 0;
    for (int i = 0; i < n && rc == 0; i++) {
        o[i].deadline_ms = (int) (c->round_s * 1000) + 10000;
        f[i] = rb_flood_start (&o[i]);
        rc = f[i] ? 0 : -1;
    }
    rb_samples_t lat = {0};
    long wrong = 0;
    if (rc == 0)
        rb_bench_terminal (c->pc->svc_ep[1], 1, LEGIT_KEYS,
                           rb_bcluster_filled (VALUE), c->round_s, &lat,
                           &wrong);
    if (wrong) /* not in the p99: said, so a flood cannot hide behind it */
        fprintf (stderr, "overload %s: %ld legitimate GETs not answered ok\n",
                 row->name, wrong);
    *p99 = lat.n ? rb_samples_pct (&lat, 99) : 0;
    rb_samples_free (&lat);
    *sent = 0;
    for (int i = 0; i < n; i++) {
        rb_flood_stats_t s = {0};
        rb_flood_stop (&f[i], &s);
        if (i >= first_flood)
            *sent += s.sent;
    }
    s_settle (c);
    return rc == 0 && *p99 > 0 ? 0 : -1;
}

static int
s_row (ctx_t *c, const row_t *row)
{
    rb_figure_t fig = {.unit = "us",
                       .target = c->o->smoke ? 0 : 2.0,
                       .note = "quiet p99, same run"};
    snprintf (fig.name, sizeof fig.name, "overload: GET p99 during %s flood",
              row->name);
    for (int run = 0; run < c->o->runs; run++) {
        double quiet, flood;
        uint64_t none, sent;
        if (s_round (c, row, false, &quiet, &none) ||
            s_round (c, row, true, &flood, &sent) || sent == 0) {
            fprintf (stderr, "overload %s: run %d failed\n", row->name,
                     run + 1);
            return -1;
        }
        rb_figure_add (&fig, flood, quiet);
        fprintf (stderr,
                 "overload %s: run %d: quiet p99 %.0f us, flood p99 %.0f us "
                 "(%.2fx), the flood sent %llu\n",
                 row->name, run + 1, quiet, flood, flood / quiet,
                 (unsigned long long) sent);
    }
    rb_report_add (&fig);
    return 0;
}

int
rb_bench_overload (const rb_bench_opts_t *o)
{
    const char *progs[] = {"recobus-broker", "recobus-db", "recobus-service"};
    for (int i = 0; i < 3; i++) {
        char *bin = zsys_sprintf ("%s/%s", o->bin_dir, progs[i]);
        bool present = access (bin, X_OK) == 0;
        zstr_free (&bin);
        if (!present) {
            fprintf (stderr, "bench overload: %s not built: skipped\n",
                     progs[i]);
            return 0;
        }
    }
    ctx_t c = {.o = o,
               .round_s = o->smoke ? 0.3 : 3.0,
               .flagged = o->smoke ? 500 : 20000};
    int rc = s_setup (&c);
    for (int r = 0; rc == 0 && r < N_ROWS; r++)
        if (s_chosen (&s_rows[r], o->floods))
            rc = s_row (&c, &s_rows[r]);
    if (rc)
        fprintf (stderr, "bench overload: failed (see above)\n");
    rb_bus_destroy (&c.ops);
    rb_pcluster_stop (&c.pc);
    return rc;
}
