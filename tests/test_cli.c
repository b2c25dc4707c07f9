/*  test_cli: the command line (rb_cli): flags over the file over the
    defaults, --help and --version, usage and config errors, --name; and
    that config/recobus.cfg and deploy/cluster.cfg load for every program
    the way it is run.  */
#include "rb_cli.h"
#include "rb_programs.h"
#include "rb_config.h"

#include <check.h>

#include "rb_ctest.h"
#include "rb_testing.h"
#include <czmq.h>

#ifndef RECOBUS_VERSION
#define RECOBUS_VERSION "0.0.0"
#endif
#ifndef RECOBUS_SOURCE_DIR
#error "RECOBUS_SOURCE_DIR must name the source tree"
#endif

#define ARGC(argv) ((int) (sizeof (argv) / sizeof ((argv)[0])) - 1)

/*  --------------------------------------------------------------------
    Tables: the programs of the tests, on rb_ctest.h's tables, and the
    example's other sections.  */

static const rb_opt_t s_monitor_opts[] = {
    {"tap", "tap", 0, RB_OPT_STR, "tcp://127.0.0.1:5556", 1, 255, NULL, "EP",
     "tap"},
    {"json", "json", 0, RB_OPT_FLAG, NULL, 0, 0, NULL, NULL, "JSON output"},
    {0}};

static const rb_program_t s_broker_prog = {
    "recobus-test", "[options] COMMAND ...", "A test program.", "Epilog text.",
    "broker",       rb_ct_broker_opts};

static const rb_program_t s_service_prog = {
    "recobus-service", "[options]",       "A service node.", NULL,
    "service/{name}",  rb_ct_service_opts};

/*  --------------------------------------------------------------------
    Helpers */

/*  Redirects fd (1 or 2) into a temporary file until s_capture_end. */
typedef struct {
    int fd;    /* the descriptor redirected */
    int saved; /* a copy of the original */
    FILE *tmp; /* where the output goes meanwhile */
} s_capture_t;

static void
s_capture_start (s_capture_t *capture, int fd)
{
    fflush (NULL);
    capture->fd = fd;
    capture->saved = dup (fd);
    capture->tmp = tmpfile ();
    ck_assert (capture->saved >= 0 && capture->tmp);
    dup2 (fileno (capture->tmp), fd);
}

/*  Restores fd and returns what was written meanwhile (caller frees). */
static char *
s_capture_end (s_capture_t *capture)
{
    fflush (NULL);
    dup2 (capture->saved, capture->fd);
    close (capture->saved);
    long size = ftell (capture->tmp);
    char *text = (char *) zmalloc ((size_t) size + 1);
    rewind (capture->tmp);
    ck_assert_int_eq (fread (text, 1, (size_t) size, capture->tmp), size);
    fclose (capture->tmp);
    return text;
}

/*  Parses argv for prog with stdout and stderr captured; returns the
    result and what was printed (the caller frees both strings).  */
static int
s_parse (const rb_program_t *prog, int argc, char **argv, rb_cli_t *cli,
         char **out, char **err)
{
    s_capture_t capture_out, capture_err;
    s_capture_start (&capture_out, STDOUT_FILENO);
    s_capture_start (&capture_err, STDERR_FILENO);
    int rc = rb_cli_parse (prog, argc, argv, cli);
    *err = s_capture_end (&capture_err);
    *out = s_capture_end (&capture_out);
    return rc;
}

/*  Parses argv for the test program and checks it fails with code and
    exactly the given stderr.  */
static void
s_assert_parse_fails (int argc, char **argv, int code, const char *stderr_text)
{
    rb_cli_t cli;
    char *out, *err;
    ck_assert_int_eq (s_parse (&s_broker_prog, argc, argv, &cli, &out, &err),
                      code);
    ck_assert_ptr_null (cli.config);
    ck_assert_str_eq (out, "");
    ck_assert_str_eq (err, stderr_text);
    free (out);
    free (err);
}

/*  --------------------------------------------------------------------
    rb_cli */

START_TEST (cli_flag_overrides_file_and_file_overrides_default)
{
    char path[64];
    rb_ct_write ("broker\n    heartbeat = 250\n    tap = tcp://file:2\n"
                 "    bind = tcp://file:1\n",
                 path);
    char *argv[] = {"recobus-test", "-c",           path, "--heartbeat", "300",
                    "-b",           "tcp://flag:1", "-m", "safe",        NULL};
    rb_cli_t cli;
    char *out, *err;
    int rc = s_parse (&s_broker_prog, ARGC (argv), argv, &cli, &out, &err);
    unlink (path);
    ck_assert_int_eq (rc, 0);
    ck_assert_str_eq (err, "");
    ck_assert_int_eq (rb_config_int (cli.config, "heartbeat"), 300);
    ck_assert_str_eq (rb_config_str (cli.config, "bind"), "tcp://flag:1");
    ck_assert_str_eq (rb_config_str (cli.config, "tap"), "tcp://file:2");
    ck_assert_str_eq (rb_config_str (cli.config, "mode"), "safe");
    ck_assert_int_eq (rb_config_int (cli.config, "liveness"), 3);
    ck_assert_int_eq (cli.argi, ARGC (argv));
    rb_config_destroy (&cli.config);
    free (out);
    free (err);
}
END_TEST

START_TEST (cli_stops_at_first_operand)
{
    char *argv[] = {"recobus-test", "-v",     "-vv", "--init",
                    "put",          "--bind", "x",   NULL};
    rb_cli_t cli;
    char *out, *err;
    ck_assert_int_eq (
        s_parse (&s_broker_prog, ARGC (argv), argv, &cli, &out, &err), 0);
    ck_assert_int_eq (cli.argi, 4);
    ck_assert_str_eq (argv[cli.argi], "put");
    ck_assert_int_eq (cli.verbose, 3);
    ck_assert (rb_config_bool (cli.config, "init"));
    ck_assert (rb_config_is_set (cli.config, "init"));
    ck_assert_str_eq (rb_config_str (cli.config, "bind"),
                      "tcp://127.0.0.1:5555");
    rb_config_destroy (&cli.config);
    free (out);
    free (err);
}
END_TEST

START_TEST (cli_double_dash_ends_options_and_parse_repeats)
{
    char *argv[] = {"recobus-test", "--", "-x", NULL};
    for (int round = 0; round < 2; round++) {
        rb_cli_t cli;
        char *out, *err;
        ck_assert_int_eq (
            s_parse (&s_broker_prog, ARGC (argv), argv, &cli, &out, &err), 0);
        ck_assert_int_eq (cli.argi, 2);
        ck_assert_int_eq (cli.verbose, 0);
        rb_config_destroy (&cli.config);
        free (out);
        free (err);
    }
}
END_TEST

START_TEST (cli_help_shows_options_defaults_and_exit_codes)
{
    char *argv[] = {"recobus-test", "--bind", "x", "--help", "--nope", NULL};
    rb_cli_t cli;
    char *out, *err;
    ck_assert_int_eq (
        s_parse (&s_broker_prog, ARGC (argv), argv, &cli, &out, &err), -1);
    ck_assert_ptr_null (cli.config);
    ck_assert_str_eq (err, "");
    const char *wanted[] = {
        "Usage: recobus-test [options] COMMAND ...\n\nA test program.\n",
        "  -b, --bind EP",
        "bus endpoint (default: tcp://127.0.0.1:5555)\n",
        "      --heartbeat MS",
        "heartbeat interval (range 100..60000; default: 1000)\n",
        "  -m, --mode CHOICE",
        "how to run (one of fast|safe; default: fast)\n",
        "start afresh\n",
        "  -c, --config FILE",
        "  -v ",
        "  -h, --help ",
        "      --version ",
        "\nEpilog text.\n",
        "Exit status:\n  0   success\n  64  command-line usage error\n"
        "  65  bad input data\n  69  a peer is unreachable or timed out\n"
        "  70  internal error\n  74  input/output error\n"
        "  78  bad configuration\n"};
    for (size_t index = 0; index < sizeof (wanted) / sizeof (wanted[0]);
         index++)
        ck_assert_msg (strstr (out, wanted[index]), "missing '%s' in:\n%s",
                       wanted[index], out);
    ck_assert_ptr_null (strstr (out, "liveness")); //  file-only key
    free (out);
    free (err);
}
END_TEST

START_TEST (cli_version_prints_name_and_version)
{
    char *argv[] = {"recobus-test", "--version", NULL};
    rb_cli_t cli;
    char *out, *err;
    ck_assert_int_eq (
        s_parse (&s_broker_prog, ARGC (argv), argv, &cli, &out, &err), -1);
    ck_assert_str_eq (out, "recobus-test " RECOBUS_VERSION "\n");
    ck_assert_ptr_null (cli.config);
    free (out);
    free (err);
}
END_TEST

START_TEST (cli_unknown_flag_is_a_usage_error)
{
    char *long_argv[] = {"recobus-test", "--nope", NULL};
    s_assert_parse_fails (ARGC (long_argv), long_argv, EX_USAGE,
                          "recobus-test: unknown option '--nope'\n"
                          "Try 'recobus-test --help'.\n");
    char *ambiguous_argv[] = {"recobus-test", "--c", "x", NULL};
    s_assert_parse_fails (ARGC (ambiguous_argv), ambiguous_argv, EX_USAGE,
                          "recobus-test: option '--c' is ambiguous\n"
                          "Try 'recobus-test --help'.\n");
    char *short_argv[] = {"recobus-test", "--init", "-vx", NULL};
    s_assert_parse_fails (ARGC (short_argv), short_argv, EX_USAGE,
                          "recobus-test: unknown option '-x'\n"
                          "Try 'recobus-test --help'.\n");
}
END_TEST

START_TEST (cli_missing_argument_is_a_usage_error)
{
    char *long_argv[] = {"recobus-test", "--bind", NULL};
    s_assert_parse_fails (ARGC (long_argv), long_argv, EX_USAGE,
                          "recobus-test: option '--bind' requires an "
                          "argument\nTry 'recobus-test --help'.\n");
    char *short_argv[] = {"recobus-test", "-c", NULL};
    s_assert_parse_fails (ARGC (short_argv), short_argv, EX_USAGE,
                          "recobus-test: option '-c' requires an "
                          "argument\nTry 'recobus-test --help'.\n");
}
END_TEST

START_TEST (cli_switch_given_a_value_is_a_usage_error)
{
    char *argv[] = {"recobus-test", "--init=yes", NULL};
    s_assert_parse_fails (ARGC (argv), argv, EX_USAGE,
                          "recobus-test: option '--init' does not take an "
                          "argument\nTry 'recobus-test --help'.\n");
}
END_TEST

START_TEST (cli_bad_flag_value_is_a_usage_error)
{
    char *argv[] = {"recobus-test", "--heartbeat", "5", NULL};
    s_assert_parse_fails (ARGC (argv), argv, EX_USAGE,
                          "recobus-test: --heartbeat: 5 is out of range "
                          "100..60000\nTry 'recobus-test --help'.\n");
    char *enum_argv[] = {"recobus-test", "-m", "slow", NULL};
    s_assert_parse_fails (ARGC (enum_argv), enum_argv, EX_USAGE,
                          "recobus-test: --mode: 'slow' is not one of "
                          "fast|safe\nTry 'recobus-test --help'.\n");
}
END_TEST

START_TEST (cli_bad_config_file_is_a_config_error)
{
    char path[64];
    rb_ct_write ("broker\n    bnid = x\n", path);
    char *argv[] = {"recobus-test", "--config", path, NULL};
    rb_cli_t cli;
    char *out, *err;
    int rc = s_parse (&s_broker_prog, ARGC (argv), argv, &cli, &out, &err);
    unlink (path);
    ck_assert_int_eq (rc, EX_CONFIG);
    ck_assert_ptr_null (cli.config);
    char expected[256];
    snprintf (expected, sizeof (expected),
              "recobus-test: %s:2: broker/bnid: unknown key\n", path);
    ck_assert_str_eq (err, expected);
    free (out);
    free (err);
    char *missing_argv[] = {"recobus-test", "-c", "/nonexistent/x.cfg", NULL};
    s_assert_parse_fails (ARGC (missing_argv), missing_argv, EX_CONFIG,
                          "recobus-test: /nonexistent/x.cfg: cannot read: "
                          "No such file or directory\n");
}
END_TEST

/*  Parses the service program with a two-service file and extra flags;
    returns the config's cache-size.  */
static long long
s_service_cache_size (char *name_flag, char *name)
{
    char path[64];
    rb_ct_write ("service\n"
                 "    svc-latest\n"
                 "        policy = stale-ok\n"
                 "        cache-size = 7\n"
                 "    svc-stale\n"
                 "        cache-size = 8\n",
                 path);
    char *argv[] = {"recobus-service", "-c", path, name_flag, name, NULL};
    int argc = name_flag ? ARGC (argv) : 3;
    rb_cli_t cli;
    char *out, *err;
    int rc = s_parse (&s_service_prog, argc, argv, &cli, &out, &err);
    unlink (path);
    ck_assert_msg (rc == 0, "%s", err);
    long long size = rb_config_int (cli.config, "cache-size");
    rb_config_destroy (&cli.config);
    free (out);
    free (err);
    return size;
}

START_TEST (cli_name_selects_the_service_subsection)
{
    ck_assert_int_eq (s_service_cache_size ("--name", "svc-latest"), 7);
    ck_assert_int_eq (s_service_cache_size ("-n", "svc-stale"), 8);
    //  Without --name the section stays "service/{name}": defaults only
    ck_assert_int_eq (s_service_cache_size (NULL, NULL), 100000);
}
END_TEST

/*  --------------------------------------------------------------------
    The shipped example config */

/*  Programs not built yet are checked against the keys the example
    promises; built ones against their real tables (rb_programs.c).  */
static const struct {
    const char *section;  /* section a program reads */
    const rb_opt_t *opts; /* that program's keys, NULL: the real table */
    const char *key;      /* one key the example sets */
    const char *value;    /* and its value there */
} s_example[] = {
    {"broker", NULL, "max-frame", "16777216"},
    {"db", NULL, "backup-dir", "/var/lib/recobus/backups"},
    {"service/svc-latest", rb_ct_service_opts, "policy", "latest-only"},
    {"service/svc-stale", rb_ct_service_opts, "listen", "tcp://127.0.0.1:5571"},
    {"ops", NULL, "journal", "/var/lib/recobus/ops.journal"},
    {"monitor", s_monitor_opts, "tap", "tcp://127.0.0.1:5556"},
};

START_TEST (example_config_loads_for_every_section)
{
    const rb_opt_t *opts = s_example[_i].opts;
    if (!opts && strcmp (s_example[_i].section, "broker") == 0)
        opts = rb_program_broker.opts;
    if (!opts && strcmp (s_example[_i].section, "db") == 0)
        opts = rb_program_db.opts;
    if (!opts && strcmp (s_example[_i].section, "ops") == 0)
        opts = rb_program_ops.opts;
    ck_assert_ptr_nonnull (opts);
    rb_config_t *config = rb_config_new (opts, s_example[_i].section);
    const char *path = RECOBUS_SOURCE_DIR "/config/recobus.cfg";
    int rc = rb_config_load_file (config, path, rb_config_sections);
    ck_assert_msg (rc == 0, "%s", rb_config_errstr (config));
    ck_assert (rb_config_is_set (config, s_example[_i].key));
    ck_assert_str_eq (rb_config_str (config, s_example[_i].key),
                      s_example[_i].value);
    rb_config_destroy (&config);
}
END_TEST

START_TEST (example_config_serves_the_named_service)
{
    char *argv[] = {"recobus-service",
                    "-c",
                    RECOBUS_SOURCE_DIR "/config/recobus.cfg",
                    "--name",
                    "svc-stale",
                    NULL};
    rb_cli_t cli;
    char *out, *err;
    int rc = s_parse (&s_service_prog, ARGC (argv), argv, &cli, &out, &err);
    ck_assert_msg (rc == 0, "%s", err);
    ck_assert_str_eq (rb_config_str (cli.config, "policy"), "stale-ok");
    ck_assert_str_eq (rb_config_str (cli.config, "name"), "svc-stale");
    rb_config_destroy (&cli.config);
    free (out);
    free (err);
}
END_TEST

/*  --------------------------------------------------------------------
    The sample deployment config, against the real tables, read the way
    the systemd units in deploy/ run each program.  */

#define CLUSTER_CFG RECOBUS_SOURCE_DIR "/deploy/cluster.cfg"

static const struct {
    const rb_program_t *prog; /* the real program */
    const char *name;         /* --name the unit passes, or NULL */
    const char *key;          /* one key the sample sets */
    const char *value;        /* and the value that program reads */
} s_cluster[] = {
    {&rb_program_broker, NULL, "tap", "tcp://127.0.0.1:5556"},
    {&rb_program_db, "db-1", "backup-dir", "/var/lib/recobus/backups"},
    {&rb_program_db, "db-2", "redis", "127.0.0.1:6379"},
    {&rb_program_service, "svc-latest-1", "policy", "latest-only"},
    {&rb_program_service, "svc-latest-2", "listen", "tcp://127.0.0.1:5571"},
    {&rb_program_service, "svc-stale", "policy", "stale-ok"},
    {&rb_program_ops, NULL, "journal", "/var/lib/recobus/ops.journal"},
    {&rb_program_monitor, NULL, "tap", "tcp://127.0.0.1:5556"},
    {&rb_program_terminal, NULL, "service", "tcp://127.0.0.1:5570"},
    {&rb_program_broker, NULL, "authorized-keys",
     "/etc/recobus/keys/authorized"},
    {&rb_program_db, "db-1", "broker-cert", "/etc/recobus/keys/broker.cert"},
    {&rb_program_service, "svc-stale", "broker-cert",
     "/etc/recobus/keys/broker.cert"},
    {&rb_program_ops, NULL, "curve-cert", "/etc/recobus/keys/ops.cert_secret"},
    {&rb_program_monitor, NULL, "curve-cert",
     "/etc/recobus/keys/monitor.cert_secret"},
};

START_TEST (cluster_config_loads_for_every_program)
{
    char *argv[] = {
        (char *) s_cluster[_i].prog->name, "-c", CLUSTER_CFG, "--name",
        (char *) s_cluster[_i].name,       NULL};
    int argc = s_cluster[_i].name ? ARGC (argv) : 3;
    rb_cli_t cli;
    char *out, *err;
    int rc = s_parse (s_cluster[_i].prog, argc, argv, &cli, &out, &err);
    ck_assert_msg (rc == 0, "%s: %s", s_cluster[_i].prog->name, err);
    ck_assert (rb_config_is_set (cli.config, s_cluster[_i].key));
    ck_assert_str_eq (rb_config_str (cli.config, s_cluster[_i].key),
                      s_cluster[_i].value);
    if (s_cluster[_i].name) /* the unit's instance names the node */
        ck_assert_str_eq (rb_config_str (cli.config, "name"),
                          s_cluster[_i].name);
    rb_config_destroy (&cli.config);
    free (out);
    free (err);
}
END_TEST

/*  Every section of the sample is one a program reads, and every service
    node there has a policy and its own listen endpoint.  */
START_TEST (cluster_config_service_nodes_are_complete_and_distinct)
{
    zconfig_t *root = zconfig_load (CLUSTER_CFG);
    ck_assert_ptr_nonnull (root);
    zconfig_t *service = zconfig_locate (root, "service");
    ck_assert_ptr_nonnull (service);
    int nodes = 0, latest = 0;
    char seen[8][64];
    for (zconfig_t *n = zconfig_child (service); n; n = zconfig_next (n)) {
        char *policy = zconfig_get (n, "policy", NULL);
        char *listen = zconfig_get (n, "listen", NULL);
        ck_assert_msg (policy && listen, "service/%s", zconfig_name (n));
        latest += strcmp (policy, "latest-only") == 0;
        for (int i = 0; i < nodes; i++)
            ck_assert_str_ne (seen[i], listen);
        ck_assert_int_lt (nodes, 8);
        snprintf (seen[nodes++], 64, "%s", listen);
    }
    ck_assert_int_eq (nodes, 3);
    ck_assert_int_eq (latest, 2);
    zconfig_destroy (&root);
}
END_TEST

/*  --------------------------------------------------------------------
    Runner */

static Suite *
s_suite (void)
{
    Suite *suite = suite_create ("cli");
    TCase *cli = tcase_create ("cli");
    tcase_add_test (cli, cli_flag_overrides_file_and_file_overrides_default);
    tcase_add_test (cli, cli_stops_at_first_operand);
    tcase_add_test (cli, cli_double_dash_ends_options_and_parse_repeats);
    tcase_add_test (cli, cli_help_shows_options_defaults_and_exit_codes);
    tcase_add_test (cli, cli_version_prints_name_and_version);
    tcase_add_test (cli, cli_unknown_flag_is_a_usage_error);
    tcase_add_test (cli, cli_missing_argument_is_a_usage_error);
    tcase_add_test (cli, cli_switch_given_a_value_is_a_usage_error);
    tcase_add_test (cli, cli_bad_flag_value_is_a_usage_error);
    tcase_add_test (cli, cli_bad_config_file_is_a_config_error);
    tcase_add_test (cli, cli_name_selects_the_service_subsection);
    suite_add_tcase (suite, cli);

    TCase *example = tcase_create ("example");
    tcase_add_loop_test (example, example_config_loads_for_every_section, 0,
                         N_OF (s_example));
    tcase_add_test (example, example_config_serves_the_named_service);
    suite_add_tcase (suite, example);

    TCase *cluster = tcase_create ("cluster");
    tcase_add_loop_test (cluster, cluster_config_loads_for_every_program, 0,
                         N_OF (s_cluster));
    tcase_add_test (cluster,
                    cluster_config_service_nodes_are_complete_and_distinct);
    suite_add_tcase (suite, cluster);
    return suite;
}

int
main (void)
{
    return rb_test_run (s_suite ());
}
