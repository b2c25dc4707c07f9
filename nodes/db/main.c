/*  recobus-db: parses flags and config, optionally creates a dataset
    (--init), then runs the DB node actor until SIGINT or SIGTERM.  */
#include <czmq.h>
#include <sys/stat.h>

#include "rb_curve.h"
#include "rb_db.h"
#include "rb_metrics.h"
#include "rb_programs.h"
#include "rb_sentinel.h"
#include "rb_sign.h"

static const rb_program_t *const s_program = &rb_program_db;

static void
s_opts_from (rb_config_t *cfg, rb_db_opts_t *o)
{
    rb_db_opts_default (o);
    rb_bind_config (cfg, rb_db_binds, o);
}

/*  Sentinels replace the one address: both given, or one half of the
    pair, or a list that does not parse, stops start-up.  */
static int
s_check_sentinels (rb_config_t *cfg, const rb_db_opts_t *o)
{
    bool sentinels = *o->redis_sentinels, name = *o->redis_master_name;
    if (*o->redis_cluster &&
        (sentinels || name || rb_config_is_set (cfg, "redis"))) {
        rb_cli_error (s_program,
                      "redis-cluster is set with %s: give the cluster's seed "
                      "nodes, or one Redis, or its sentinels",
                      sentinels ? "redis-sentinels"
                      : name    ? "redis-master-name"
                                : "redis");
        return EX_CONFIG;
    }
    if (sentinels && rb_config_is_set (cfg, "redis")) {
        rb_cli_error (s_program,
                      "redis and redis-sentinels are both set: give one "
                      "Redis address, or the sentinels that say where the "
                      "master is");
        return EX_CONFIG;
    }
    if (sentinels != name) {
        rb_cli_error (s_program, "%s is set without %s",
                      sentinels ? "redis-sentinels" : "redis-master-name",
                      sentinels ? "redis-master-name" : "redis-sentinels");
        return EX_CONFIG;
    }
    char err[600];
    rb_sentinel_t *s =
        sentinels ? rb_sentinel_new (o->redis_sentinels, o->redis_master_name,
                                     500, err, sizeof err)
                  : NULL;
    if (sentinels && !s) {
        rb_cli_error (s_program, "%s", err);
        return EX_CONFIG;
    }
    rb_sentinel_destroy (&s);
    return 0;
}

/*  Redis settings this build cannot honour: refused before we start. */
static int
s_check_redis (const rb_db_opts_t *o)
{
    if (strncmp (o->redis, "tls://", 6) == 0 ||
        strncmp (o->redis, "rediss://", 9) == 0) {
        rb_cli_error (s_program,
                      "--redis %s: TLS is not supported by this "
                      "build (hiredis 0.14); use a local Redis or a TLS "
                      "tunnel",
                      o->redis);
        return EX_CONFIG;
    }
    if (*o->redis_user && !*o->redis_password) {
        rb_cli_error (s_program,
                      "redis-user %s is set without "
                      "redis-password (an ACL user needs both)",
                      o->redis_user);
        return EX_CONFIG;
    }
    if (o->redis_wait_replicas &&
        o->redis_wait_timeout_ms >= o->redis_timeout_ms) {
        rb_cli_error (s_program,
                      "redis-wait-timeout %d must be below redis-timeout %d "
                      "(a WAIT longer than the command timeout would drop "
                      "the connection)",
                      o->redis_wait_timeout_ms, o->redis_timeout_ms);
        return EX_CONFIG;
    }
    return 0;
}

/*  The backup dir must exist and be writable before we serve; one
    warning when others may write it (plant or remove backups).  */
static int
s_check_backup_dir (const char *dir)
{
    struct stat st;
    if (zsys_dir_create ("%s", dir) != 0 || access (dir, W_OK) != 0 ||
        stat (dir, &st) != 0) {
        rb_cli_error (s_program, "backup dir %s: %s", dir, strerror (errno));
        return EX_IOERR;
    }
    if (st.st_mode & (S_IWGRP | S_IWOTH))
        zsys_warning ("db: backup dir %s is group- or world-writable (mode "
                      "%04o): others may plant or remove backups; chmod go-w "
                      "it",
                      dir, (unsigned) (st.st_mode & 07777));
    return 0;
}

/*  A backup key that is set must be one we can use, before we serve. */
static int
s_check_backup_key (const char *path)
{
    if (!path || !*path)
        return 0;
    char err[600];
    rb_sign_key_t *key = rb_sign_key_load (path, err, sizeof err);
    if (!key) {
        rb_cli_error (s_program, "backup-key %s", err);
        return EX_CONFIG;
    }
    rb_sign_key_destroy (&key);
    return 0;
}

int
main (int argc, char **argv)
{
    rb_cli_t cli;
    int rc = rb_cli_daemon (s_program, argc, argv, &cli);
    if (rc)
        return rc == -1 ? 0 : rc;
    rb_db_opts_t opts;
    s_opts_from (cli.config, &opts);
    opts.notify = true; /* systemd's Type=notify (deploy/) */
    char err[600];
    if (rb_metrics_check (opts.metrics, err, sizeof err)) {
        rb_cli_error (s_program, "%s", err);
        rc = EX_CONFIG;
    } else if (rb_curve_startup (
                   opts.curve_cert, opts.broker_cert, true, &opts.broker, 1,
                   rb_config_bool (cli.config, "insecure"), err, sizeof err)) {
        rb_cli_error (s_program, "%s", err);
        rc = EX_CONFIG;
    } else
        rb_curve_daemon_threads (opts.curve_cert);
    if (rc == 0)
        rc = s_check_sentinels (cli.config, &opts);
    if (rc == 0)
        rc = s_check_redis (&opts);
    if (rc == 0)
        rc = s_check_backup_key (opts.backup_key);
    if (rc == 0)
        rc = s_check_backup_dir (opts.backup_dir);
    if (rc == 0 && rb_config_bool (cli.config, "init")) {
        rc = rb_db_init_dataset (&opts, err, sizeof err);
        if (rc)
            rb_cli_error (s_program, "--init: %s", err);
        else
            printf ("recobus-db: %s\n", err);
    } else if (rc == 0 && (rc = rb_db_wait_redis (&opts, err, sizeof err)))
        rb_cli_error (s_program, "%s", err);
    if (rc == 0) {
        zactor_t *db = zactor_new (rb_db_actor, &opts);
        zstr_send (db, "STATE");
        char *state = zstr_recv (db);
        printf ("recobus-db: %s serving, state %s\n", opts.name,
                state ? state : "?");
        fflush (stdout);
        zstr_free (&state);
        rb_cli_wait_signal ();
        zactor_destroy (&db);
    }
    rb_config_destroy (&cli.config);
    return rc;
}
