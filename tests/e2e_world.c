/*  e2e_world: one seed's processes (see e2e_world.h): a throwaway
    redis-server, the recobus-broker and recobus-db programs, the two
    service nodes (in-process, or one as the recobus-service program
    when the seed pauses or kills it), the load; pausing and resuming
    them, and stopping everything at the end or when a seed fails.  */
#include "rb_parts.h"
#include "e2e_world.h"
#include "rb_fixture.h"

#include <check.h>
#include <inttypes.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>

#include "rb_service.h"

#define BROKER_BIN  RECOBUS_BINARY_DIR "/recobus-broker"
#define DB_BIN      RECOBUS_BINARY_DIR "/recobus-db"
#define SERVICE_BIN RECOBUS_BINARY_DIR "/recobus-service"

static const char *const s_svc_names[] = {"svc-latest", "svc-stale"};
static const char *const s_policies[] = {"latest-only", "stale-ok"};

uint32_t
e2e_rand (e2e_world_t *w, uint32_t n)
{
    return e2e_rng_below (&w->rng, n);
}

uint32_t
e2e_frand (e2e_world_t *w, uint32_t n)
{
    return e2e_rng_below (&w->frng, n);
}

double
e2e_ms (const e2e_world_t *w, int64_t us)
{
    return (double) (us - w->m.t0) / 1000.0;
}

void
e2e_step (e2e_world_t *w, const char *fmt, ...)
{
    size_t room = sizeof w->timeline - w->timeline_len;
    int n = snprintf (w->timeline + w->timeline_len, room, "  %9.1f ms  ",
                      e2e_ms (w, e2e_us ()));
    if (n <= 0 || (size_t) n >= room)
        return;
    w->timeline_len += (size_t) n;
    room -= (size_t) n;
    va_list args;
    va_start (args, fmt);
    n = vsnprintf (w->timeline + w->timeline_len, room, fmt, args);
    va_end (args);
    if (n > 0 && (size_t) n + 1 < room) {
        w->timeline_len += (size_t) n;
        w->timeline[w->timeline_len++] = '\n';
        w->timeline[w->timeline_len] = '\0';
    }
}

/*  --- broker and DB nodes ------------------------------------------------- */

/*  c->bus: the broker's endpoint, or a pair's two. */
static void
s_set_bus (e2e_world_t *w)
{
    if (w->plan.pair)
        snprintf (w->c->bus, sizeof w->c->bus,
                  "tcp://127.0.0.1:%d,tcp://127.0.0.1:%d", w->port, w->port2);
    else
        snprintf (w->c->bus, sizeof w->c->bus, "tcp://127.0.0.1:%d", w->port);
}

/*  Starts a broker into *p_p on *port (a free one if new_port or none). */
static void
s_broker_start (e2e_world_t *w, rb_proc_t **p_p, int *port, bool new_port,
                const char *what)
{
    for (int attempt = 0; attempt < 5 && !*p_p; attempt++) {
        if (new_port || !*port)
            *port = rb_free_port ();
        char bind[64];
        snprintf (bind, sizeof bind, "tcp://127.0.0.1:%d", *port);
        char *argv[] = {BROKER_BIN,
                        "--bind",
                        bind,
                        "--tap",
                        "",
                        "--heartbeat",
                        "200",
                        "--curve-cert",
                        w->c->broker_secret,
                        "--authorized-keys",
                        w->c->authorized,
                        NULL};
        rb_proc_t *p = rb_proc_start (argv, NULL);
        ck_assert_ptr_nonnull (p);
        if (rb_proc_wait_output (p, "recobus-broker: bus", 5000) == 0) {
            e2e_step (w, "%s started on %s", what, bind);
            *p_p = p;
        } else
            rb_proc_destroy (&p); /* the port was taken meanwhile */
    }
    if (!*p_p)
        e2e_world_abort (w, "%s did not start", what);
    s_set_bus (w);
}

void
e2e_broker_start (e2e_world_t *w, bool new_port)
{
    s_broker_start (w, &w->broker, &w->port, new_port, "the broker");
}

void
e2e_broker2_start (e2e_world_t *w)
{
    s_broker_start (w, &w->broker2, &w->port2, false, "the second broker");
}

void
e2e_kill (e2e_world_t *w, rb_proc_t **p_p, const char *what)
{
    e2e_step (w, "SIGKILL %s", what);
    rb_proc_kill (*p_p, SIGKILL);
    e2e_resume (w, rb_proc_pid (*p_p), NULL); /* if it was stopped */
    int rc = rb_proc_wait (*p_p, 5000);
    rb_proc_destroy (p_p);
    if (rc != 128 + SIGKILL)
        e2e_world_abort (w, "%s: exit %d after SIGKILL", what, rc);
}

void
e2e_db_start (e2e_world_t *w, int i, bool init)
{
    char name[16];
    snprintf (name, sizeof name, "db-%d", i + 1);
    char *argv[] = {DB_BIN,
                    "-c",
                    w->config,
                    "--name",
                    name,
                    "--broker",
                    w->c->bus,
                    w->c->rcluster ? "--redis-cluster" : "--redis",
                    w->c->rcluster
                        ? (char *) rb_rcluster_seeds (w->c->rcluster)
                        : (char *) rb_redis_address (w->c->redis),
                    "--backup-dir",
                    w->c->backups,
                    "--curve-cert",
                    (char *) rb_cluster_key (w->c, "db", name),
                    "--broker-cert",
                    w->c->broker_cert,
                    init ? "--init" : NULL,
                    NULL};
    /* stdout and stderr in one log: its lines can be waited for */
    char log[600];
    snprintf (log, sizeof log, "%s/%s.log", w->dir, name);
    w->db[i] = rb_proc_start (argv, log);
    ck_assert_ptr_nonnull (w->db[i]);
    if (rb_proc_wait_output (w->db[i], "serving", 10000))
        e2e_world_abort (w, "%s did not start", name);
    e2e_step (w, "%s started%s", name, init ? " (--init)" : "");
}

/*  --- service nodes --------------------------------------------------------
 */

static void
s_service_actor (e2e_world_t *w, int i)
{
    static rb_service_opts_t opts[2];
    rb_service_opts_t *o = &opts[i];
    rb_service_opts_default (o);
    o->name = s_svc_names[i];
    o->policy = i == 0 ? RB_POLICY_LATEST_ONLY : RB_POLICY_STALE_OK;
    o->listen = "tcp://127.0.0.1:*";
    o->broker = w->c->bus;
    o->max_wait_ms = E2E_MAX_WAIT;
    o->poll_max_ms = E2E_POLL_MAX;
    o->cache_size = w->plan.cache_size;
    o->curve_cert = rb_cluster_key (w->c, "service", s_svc_names[i]);
    o->broker_cert = w->c->broker_cert;
    w->svc[i] = zactor_new (rb_service_actor, o);
    zstr_send (w->svc[i], "ENDPOINT");
    char *ep = zstr_recv (w->svc[i]);
    ck_assert (ep && *ep);
    snprintf (w->ep[i], sizeof w->ep[i], "%s", ep);
    zstr_free (&ep);
}

/*  The program, on w->ep[i] (a fixed port, so that terminals find it
    again after a restart). 0, or -1 if it did not come up.  */
static int
s_service_program (e2e_world_t *w, int i)
{
    char wait[16], cache[16];
    snprintf (wait, sizeof wait, "%d", E2E_MAX_WAIT);
    snprintf (cache, sizeof cache, "%u", w->plan.cache_size);
    char *argv[] = {SERVICE_BIN,
                    "-c",
                    w->config,
                    "--name",
                    (char *) s_svc_names[i],
                    "--policy",
                    (char *) s_policies[i],
                    "--listen",
                    w->ep[i],
                    "--broker",
                    w->c->bus,
                    "--max-wait",
                    wait,
                    "--cache-size",
                    cache,
                    "--curve-cert",
                    (char *) rb_cluster_key (w->c, "service", s_svc_names[i]),
                    "--broker-cert",
                    w->c->broker_cert,
                    NULL};
    w->svc_proc[i] = rb_proc_start (argv, NULL);
    ck_assert_ptr_nonnull (w->svc_proc[i]);
    if (rb_proc_wait_output (w->svc_proc[i], "serving terminals", 5000) == 0)
        return 0;
    rb_proc_destroy (&w->svc_proc[i]);
    return -1;
}

void
e2e_service_start (e2e_world_t *w, int i)
{
    if (w->plan.svc_proc != i) {
        s_service_actor (w, i);
        return;
    }
    bool again = w->ep[i][0] != '\0';
    int64_t deadline = zclock_mono () + 10000;
    do {
        if (!again)
            snprintf (w->ep[i], sizeof w->ep[i], "tcp://127.0.0.1:%d",
                      rb_free_port ());
        if (s_service_program (w, i) == 0) {
            e2e_step (w, "%s started as a program on %s", s_svc_names[i],
                      w->ep[i]);
            return;
        }
        zclock_sleep (100); /* the port may be held a moment */
    } while (zclock_mono () < deadline);
    e2e_world_abort (w, "%s did not start on %s", s_svc_names[i], w->ep[i]);
}

/*  --- pausing --------------------------------------------------------------
 */

void
e2e_pause (e2e_world_t *w, pid_t pid, const char *what)
{
    ck_assert_int_lt (w->n_stopped, 8);
    ck_assert_int_gt (pid, 0);
    kill (pid, SIGSTOP);
    w->stopped[w->n_stopped++] = pid;
    e2e_step (w, "SIGSTOP %s", what);
}

void
e2e_resume (e2e_world_t *w, pid_t pid, const char *what)
{
    for (int i = 0; i < w->n_stopped; i++)
        if (w->stopped[i] == pid) {
            kill (pid, SIGCONT);
            w->stopped[i] = w->stopped[--w->n_stopped];
            if (what)
                e2e_step (w, "SIGCONT %s", what);
            return;
        }
}

/*  On a Redis Cluster: the node number of the master holding key's
    partition (rb_parts.h), or -1.  */
static int
s_master_of (e2e_world_t *w, int key)
{
    const char *k = e2e_key (key);
    int p = rb_part_of (RB_PARTS_CLUSTER, k, strlen (k));
    return rb_rcluster_slot_owner (w->c->rcluster, rb_part_slot (p));
}

pid_t
e2e_redis_pid (e2e_world_t *w, int key)
{
    if (!w->c->rcluster)
        return rb_redis_pid (w->c->redis);
    int m = s_master_of (w, key);
    return m >= 0 ? rb_rcluster_pid (w->c->rcluster, m) : 0;
}

/*  Whether a connection to 127.0.0.1:port holds unread bytes on the
    server's side (/proc/net/tcp: local address, state, rx_queue).  */
static bool
s_unread_input (int port)
{
    FILE *f = fopen ("/proc/net/tcp", "r");
    if (!f)
        return false;
    char line[512];
    bool found = false;
    while (!found && fgets (line, sizeof line, f)) {
        unsigned local_port, state, txq, rxq;
        if (sscanf (line, " %*d: %*x:%x %*x:%*x %x %x:%x", &local_port, &state,
                    &txq, &rxq) == 4)
            found = (int) local_port == port && state == 1 && rxq > 0;
    }
    fclose (f);
    return found;
}

int
e2e_redis_wait_input (e2e_world_t *w, int key, int timeout_ms)
{
    int64_t deadline = zclock_mono () + timeout_ms;
    int m = w->c->rcluster ? s_master_of (w, key) : -1;
    int port = w->c->rcluster ? (m >= 0 ? rb_rcluster_port (w->c->rcluster, m)
                                        : 0)
                              : rb_redis_port (w->c->redis);
    while (!s_unread_input (port))
        if (zclock_mono () >= deadline)
            return -1;
        else
            zclock_sleep (2);
    return 0;
}

int
e2e_wait_expired (e2e_world_t *w, const char *name)
{
    rb_tnode_t n;
    rb_tnode_start (&n, w->c, RB_ROLE_OPS, "e2e-watch");
    int rc = rb_tnode_wait_listed (&n, name, false, E2E_STATE_WAIT);
    rb_tnode_stop (&n);
    if (rc == 0)
        e2e_step (w, "the broker let %s go", name);
    return rc;
}

/*  --- the load ----------------------------------------------------------- */

int
e2e_load_hold (e2e_world_t *w)
{
    zstr_send (w->load, "HOLD");
    int key = -1;
    ck_assert_int_eq (zsock_recv (w->load, "i", &key), 0);
    e2e_step (w, "load held (last latest-only ok: %s)",
              key >= 0 ? e2e_key (key) : "none");
    return key >= 0 ? key : (int) e2e_frand (w, E2E_HOT);
}

void
e2e_load_go (e2e_world_t *w)
{
    zstr_send (w->load, "GO");
    e2e_step (w, "load goes on");
}

void
e2e_load_ask (e2e_world_t *w, int svc, int key)
{
    char s[8], k[8];
    snprintf (s, sizeof s, "%d", svc);
    snprintf (k, sizeof k, "%d", key);
    zstr_sendx (w->load, "ASK", s, k, NULL);
}

/*  --- the whole world ------------------------------------------------------
 */

static void
s_write_config (e2e_world_t *w)
{
    snprintf (w->config, sizeof w->config, "%s/recobus.cfg", w->dir);
    FILE *f = fopen (w->config, "w");
    ck_assert_ptr_nonnull (f);
    fprintf (f, "db\n    redis-timeout = %d\n", E2E_REDIS_TMO);
    if (w->plan.backup_flow) /* all kept: a run may restore the first */
        fprintf (f, "    backup-every = 1\n    backup-keep = 0\n");
    fprintf (f, "service\n");
    for (int i = 0; i < 2; i++)
        fprintf (f, "    %s\n        poll-max = %d\n", s_svc_names[i],
                 E2E_POLL_MAX);
    fclose (f);
}

/*  Everything but the load: the caller plans first, then loads keys.  */
void
e2e_world_start (e2e_world_t *w, uint64_t seed)
{
    w->dir = rb_temp_dir ("rb-e2e-seed");
    ck_assert_ptr_nonnull (w->dir);
    snprintf (w->journal, sizeof w->journal, "%s/ops.journal", w->dir);
    s_write_config (w);
    /* the secure path is the tested path: CurveZMQ on the bus */
    w->c = rb_fixture_cluster (
        &(rb_cluster_opts_t){.no_broker = true, .curve = true});
    if (w->plan.pair) /* its port first: c->bus names both */
        e2e_broker2_start (w);
    e2e_broker_start (w, true);
    for (int i = 0; i < w->plan.n_db; i++)
        e2e_db_start (w, i, i == 0);
    for (int i = 0; i < 2; i++)
        e2e_service_start (w, i);
    w->load_opts = (e2e_load_opts_t){{w->ep[0], w->ep[1]},
                                     w->c->bus,
                                     seed,
                                     E2E_MAX_WAIT,
                                     rb_cluster_key (w->c, "ops", "e2e-probe"),
                                     w->c->broker_cert};
}

void
e2e_world_stop (e2e_world_t *w)
{
    while (w->n_stopped)
        e2e_resume (w, w->stopped[0], NULL);
    zactor_destroy (&w->load);
    for (int i = 0; i < 2; i++) {
        zactor_destroy (&w->svc[i]);
        rb_proc_destroy (&w->svc_proc[i]);
        rb_proc_destroy (&w->db[i]);
    }
    rb_proc_destroy (&w->broker);
    rb_proc_destroy (&w->broker2);
    rb_cluster_destroy (&w->c);
    if (w->dir)
        rb_remove_tree (w->dir);
    free (w->dir);
    w->dir = NULL;
    e2e_model_free (&w->m);
}

/*  The last lines a daemon wrote to stderr, to explain a failure. */
static void
s_print_log (e2e_world_t *w, const char *what, rb_proc_t *p)
{
    if (!p)
        return;
    char *text = rb_proc_stderr (p);
    size_t len = strlen (text);
    const char *tail = len > 3000 ? text + len - 3000 : text;
    fprintf (stderr, "e2e: RECOBUS_SEED=%" PRIu64 " %s stderr (tail):\n%s\n",
             w->m.seed, what, tail);
    free (text);
}

void
e2e_world_abort (e2e_world_t *w, const char *fmt, ...)
{
    char text[2048];
    va_list args;
    va_start (args, fmt);
    vsnprintf (text, sizeof text, fmt, args);
    va_end (args);
    fprintf (stderr, "e2e: RECOBUS_SEED=%" PRIu64 " timeline:\n%s", w->m.seed,
             w->timeline);
    s_print_log (w, "broker", w->broker);
    s_print_log (w, "broker-2", w->broker2);
    s_print_log (w, "db-1", w->db[0]);
    s_print_log (w, "db-2", w->db[1]);
    uint64_t seed = w->m.seed;
    const char *figures = getenv ("RECOBUS_E2E_STATS");
    w->stats.violations = w->m.n_violations + 1; /* and the abort */
    w->stats.secs = (double) (e2e_us () - w->m.t0) / 1e6;
    if (figures && *figures) /* the run's totals count it too */
        e2e_stats_append (figures, seed, &w->stats);
    e2e_world_stop (w);
    ck_abort_msg ("seed %" PRIu64 ": %s; replay with RECOBUS_SEED=%" PRIu64
                  " build/tests/test_e2e",
                  seed, text, seed);
    abort (); /* not reached: ck_abort_msg does not return */
}
