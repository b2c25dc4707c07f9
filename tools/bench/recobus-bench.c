/*  recobus-bench: benchmarks, each side by side with its baseline in the
    same run (alternating), reported as ratios.

        recobus-bench [--runs N] [--smoke] [--redis HOST:PORT]
                      [--out PREFIX] [--floods LIST] SCENARIO...

    Scenarios: broker curve get hit restore flag fresh load memory
    overload storm wait cluster, or all.
    Without --redis a throwaway redis-server is started (and flushed at
    will): never point --redis at a Redis holding data you need.  */
#include "rb_bench.h"
#include "rb_proc.h"
#include "rb_redis.h"

#include <czmq.h>
#include <getopt.h>
#include <libgen.h>
#include <sysexits.h>

typedef struct {
    const char *name;
    int (*run) (const rb_bench_opts_t *);
    bool redis; /* needs a Redis */
} scenario_t;

static const scenario_t s_scenarios[] = {
    {"broker", rb_bench_broker, false},  {"get", rb_bench_get, true},
    {"hit", rb_bench_hit, true},         {"restore", rb_bench_restore, true},
    {"flag", rb_bench_flag, true},       {"fresh", rb_bench_fresh, true},
    {"load", rb_bench_load, true},       {"memory", rb_bench_memory, true},
    {"curve", rb_bench_curve, true},     {"overload", rb_bench_overload, true},
    {"storm", rb_bench_storm, true},     {"wait", rb_bench_wait, true},
    {"cluster", rb_bench_cluster, true},
};
#define N_SCENARIOS ((int) (sizeof s_scenarios / sizeof s_scenarios[0]))

static void
s_help (void)
{
    printf ("Usage: recobus-bench [options] SCENARIO...\n\n"
            "Runs each scenario with its baseline in the same process, "
            "alternating,\nand prints product, baseline, ratio, target and "
            "whether it was met.\n\nScenarios:\n"
            "  broker   request-reply via recobus-broker (tap on) vs bare "
            "zmq_proxy\n"
            "  curve    broker and GET path under CurveZMQ vs plain\n"
            "  get      terminal->service->broker->db->Redis vs direct "
            "hiredis GET (1,16,64),\n"
            "           vs a bare skeleton of its hops, and Redis time per "
            "GET vs HMGET\n"
            "  hit      service cache hits vs a bare ROUTER echo\n"
            "  restore  restore of a backup vs redis-cli --pipe of the same "
            "records\n"
            "  flag     RECOVERY_LIST of 100k keys vs pipelined SADD\n"
            "  fresh    DIFF ACK -> waiting latest-only terminal answer "
            "(p50/p99)\n"
            "  load     recobus-ops load vs the DB-side apply path alone\n"
            "  memory   RSS of broker, db and service at 10k and 1M records\n"
            "  overload a client's GET p99 during each flood vs quiet "
            "(issue 14)\n"
            "  storm    p99 of 1000 terminals each missing a distinct key "
            "vs the same warm\n"
            "  wait     orders with redis-wait-replicas 1 (one replica) vs "
            "without\n"
            "  cluster  get @64 (rate, Redis CPU per GET) and restore on a "
            "3-master\n"
            "           Redis Cluster vs on one Redis\n"
            "  all      every scenario\n\n"
            "Options:\n"
            "  --runs N          runs of each side (default: 5)\n"
            "  --smoke           tiny sizes and no targets: checks it works\n"
            "  --redis HOST:PORT a Redis it may FLUSH (default: starts its "
            "own)\n"
            "  --out PREFIX      write PREFIX.md and PREFIX.json (default: "
            "bench-results)\n"
            "  --floods LIST     overload: comma-separated, of hello tap "
            "flagged absent\n"
            "                    deaf idle, or all (default: all)\n"
            "  -h, --help        this help\n\n"
            "Exit status: 0 every target met (or --smoke), 1 a target "
            "missed,\n64 usage, 69 a server could not be started, 70 a "
            "scenario failed\nor a path measured nothing (a zero rate, "
            "or no correct answer), 73 no scratch dir.\n");
}

static int
s_run (const char *name, const rb_bench_opts_t *o)
{
    for (int i = 0; i < N_SCENARIOS; i++) {
        if (!streq (name, "all") && !streq (name, s_scenarios[i].name))
            continue;
        fprintf (stderr, "== %s\n", s_scenarios[i].name);
        if (s_scenarios[i].run (o)) {
            fprintf (stderr, "recobus-bench: scenario %s failed\n",
                     s_scenarios[i].name);
            return EX_SOFTWARE;
        }
    }
    return 0;
}

int
main (int argc, char **argv)
{
    rb_bench_opts_t o = {.runs = 5};
    const char *out = "bench-results";
    static struct option longopts[] = {{"runs", required_argument, NULL, 'r'},
                                       {"smoke", no_argument, NULL, 's'},
                                       {"redis", required_argument, NULL, 'R'},
                                       {"out", required_argument, NULL, 'o'},
                                       {"floods", required_argument, NULL, 'f'},
                                       {"help", no_argument, NULL, 'h'},
                                       {NULL, 0, NULL, 0}};
    int c;
    while ((c = getopt_long (argc, argv, "h", longopts, NULL)) != -1) {
        if (c == 'r')
            o.runs = atoi (optarg);
        else if (c == 's')
            o.smoke = true;
        else if (c == 'R')
            o.redis = optarg;
        else if (c == 'o')
            out = optarg;
        else if (c == 'f')
            o.floods = optarg;
        else if (c == 'h') {
            s_help ();
            return 0;
        } else {
            fprintf (stderr, "Try 'recobus-bench --help'.\n");
            return EX_USAGE;
        }
    }
    if (o.runs < 1 || o.runs > 32 || optind >= argc) {
        fprintf (stderr, "recobus-bench: %s\nTry 'recobus-bench --help'.\n",
                 optind >= argc ? "name a scenario (or all)"
                                : "--runs must be 1..32");
        return EX_USAGE;
    }
    const char *flood = o.floods ? rb_bench_overload_unknown (o.floods) : NULL;
    if (flood) {
        fprintf (stderr,
                 "recobus-bench: --floods: '%.*s' is none of hello, tap, "
                 "flagged, absent, deaf, idle, all\n",
                 (int) strcspn (flood, ","), flood);
        return EX_USAGE;
    }
    for (int i = optind; i < argc; i++) {
        bool known = streq (argv[i], "all");
        for (int s = 0; s < N_SCENARIOS; s++)
            known |= streq (argv[i], s_scenarios[s].name);
        if (!known) {
            fprintf (stderr, "recobus-bench: unknown scenario '%s'\n", argv[i]);
            return EX_USAGE;
        }
    }
    zsys_init ();
    zsys_set_logstream (NULL); /* the daemons' chatter would skew runs */
    char self[4096];
    ssize_t n = readlink ("/proc/self/exe", self, sizeof self - 1);
    self[n > 0 ? n : 0] = '\0';
    o.bin_dir = dirname (self);
    o.tmp = rb_temp_dir ("recobus-bench");
    if (!o.tmp)
        return EX_CANTCREAT;
    rb_redis_t *redis = NULL; /* our own, when no --redis is given */
    if (!o.redis) {
        redis = rb_redis_start ();
        if (!redis) {
            fprintf (stderr, "recobus-bench: cannot start redis-server\n");
            rb_remove_tree (o.tmp);
            free (o.tmp);
            return EX_UNAVAILABLE;
        }
        o.redis = rb_redis_address (redis);
    }
    int rc = 0;
    for (int i = optind; i < argc && rc == 0; i++)
        rc = s_run (argv[i], &o);
    rb_report_print (stdout);
    char *md = zsys_sprintf ("%s.md", out), *js = zsys_sprintf ("%s.json", out);
    char command[1024] = "recobus-bench";
    for (int i = 1; i < argc; i++)
        snprintf (command + strlen (command), sizeof command - strlen (command),
                  " %s", argv[i]);
    rb_report_write (md, js, command);
    zstr_free (&md);
    zstr_free (&js);
    rb_redis_stop (&redis);
    if (rb_remove_tree (o.tmp))
        fprintf (stderr, "recobus-bench: could not remove %s\n", o.tmp);
    free (o.tmp);
    if (rc)
        return rc;
    if (rb_report_broken (stderr))
        return EX_SOFTWARE;
    return !o.smoke && rb_report_missed () ? 1 : 0;
}
