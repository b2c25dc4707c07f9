/*  rb_db: the DB node actor, on top of its parts (rb_db_int.h says which
    calls which): start-up, the state table, the loop, --init.

    States and events (docs/db.md has the same table). The state lives in
    Redis (rb:meta state), so every DB node on one Redis agrees; the
    scripts make each transition atomic. NEEDS_RESTORE is derived: no
    rb:meta, or a dataset other than the one this node serves.

    state          event               action                    next
    -------------  ------------------  ------------------------  -------------
    any            RESTORE (ops)       verify file, flush, load  RESTORING
    RESTORING      load finished       watermark := file's       RECOVERING
    NORMAL         GET                 data, flag false          NORMAL
    RECOVERING     GET, list not done  data, flag true           RECOVERING
    RECOVERING     GET, list done      data, flag iff behind     RECOVERING
    NORMAL/RECOV.  ORDER, DIFF (ops)   apply if newer, clear     same
    RECOVERING     RECOVERY_LIST (ops) flag keys behind target   RECOVERING
    RECOVERING     RECOVERY_END (ops)  if none left              NORMAL
    NORMAL         BACKUP (ops)        write file in a thread    NORMAL
    RESTORING      GET, ORDER, DIFF    ERROR unavailable         RESTORING
    NEEDS_RESTORE  GET, ORDER, DIFF    ERROR unavailable         NEEDS_RESTORE
    NORMAL/RECOV.  new Redis connection FAILOVER: epoch + 1,      RECOVERING
                   behind (other replid, RESET, flag all until
                   or watermark gone     the list is complete
                   back: rb_failover.h)
    any            Redis empty/foreign (seen by any script)      NEEDS_RESTORE
*/
#include "rb_db_int.h"
#include "rb_notify.h"

#include "rb_parts.h"

#include <assert.h>
#include <sysexits.h>

/*  --- init ------------------------------------------------------------ */

/*  What INIT answered, said in err; returns the exit code. */
static int
s_init_answered (const char *where, const char *id, const redisReply *reply,
                 char *err, size_t errlen)
{
    rb_init_reply_t rep;
    int parsed = rb_init_reply_parse (reply, &rep);
    const char *error = rb_reply_error (reply);
    if (parsed == 0)
        snprintf (err, errlen, "new dataset %s, epoch 1", id);
    else if (parsed == -1)
        snprintf (err, errlen,
                  "Redis at %s holds %llu key(s); --init needs an empty "
                  "Redis (it never overwrites data)",
                  where, (unsigned long long) rep.keys);
    else
        snprintf (err, errlen, "Redis at %s: unexpected INIT reply%s%s", where,
                  error ? ": " : "", error ? error : "");
    return parsed == 0 ? 0 : EX_DATAERR;
}

/*  A store connected to Redis, waited for up to connect-timeout; or NULL
    with *rc and *err saying why.  */
static rb_store_t *
s_store_reached (const rb_db_opts_t *opts, int *rc, char *err, size_t errlen)
{
    rb_store_opts_t so;
    rb_db__store_opts (opts, &so);
    rb_store_t *store = rb_store_new (&so, err, errlen);
    *rc = EX_CONFIG;
    if (store && rb_store_wait (store, opts->connect_timeout_ms)) {
        if (zsys_interrupted)
            snprintf (err, errlen, "interrupted while waiting for Redis: %s",
                      rb_store_errstr (store));
        else
            snprintf (err, errlen,
                      "no answer from Redis at %s within connect-timeout %d "
                      "ms: %s",
                      rb_store_address (store), opts->connect_timeout_ms,
                      rb_store_errstr (store));
        rb_store_destroy (&store);
        *rc = EX_UNAVAILABLE;
    }
    return store;
}

int
rb_db_wait_redis (const rb_db_opts_t *opts, char *err, size_t errlen)
{
    int rc;
    rb_store_t *store = s_store_reached (opts, &rc, err, errlen);
    if (!store)
        return rc;
    rb_store_destroy (&store);
    return 0;
}

/*  INIT on partitions first .. end - 1 (rb_parts.h); whole: the first
    also checks that its server holds no key at all. The first reply
    that is not "ok" is said in err; returns the exit code.  */
static int
s_init_parts (rb_store_t *store, rb_batch_t *b, const char *id, int first,
              int end, bool whole, char *err, size_t errlen)
{
    char parts[16];
    snprintf (parts, sizeof parts, "%d", rb_parts_count (store));
    rb_batch_reset (b);
    for (int p = first; p < end; p++) {
        rb_batch_call (b, RB_SCRIPT_INIT, rb_part_slot (p));
        rb_batch_key (b, p, "meta", NULL, 0);
        rb_batch_key (b, p, "stable", NULL, 0);
        rb_batch_str (b, id);
        rb_batch_str (b, parts);
        rb_batch_str (b, whole && p == first ? "1" : "0");
    }
    if (rb_batch_run (b, store)) {
        snprintf (err, errlen, "%s: %s", rb_store_address (store),
                  rb_store_errstr (store));
        return EX_UNAVAILABLE;
    }
    for (int i = 0; i < rb_batch_size (b); i++) {
        int rc = s_init_answered (rb_store_address (store), id,
                                  rb_batch_reply (b, i), err, errlen);
        if (rc)
            return rc;
    }
    return 0;
}

/*  On a cluster: every master must be empty before any partition is
    written.  */
static int
s_init_empty (rb_store_t *store, char *err, size_t errlen)
{
    for (int m = 0; m < rb_store_masters (store); m++) {
        redisReply *r = rb_store_command_at (store, m, "DBSIZE");
        long long n = r && r->type == REDIS_REPLY_INTEGER ? r->integer : -1;
        freeReplyObject (r);
        if (n < 0) {
            snprintf (err, errlen, "%s: DBSIZE: %s", rb_store_address (store),
                      rb_store_errstr (store));
            return EX_UNAVAILABLE;
        }
        if (n > 0) {
            snprintf (err, errlen,
                      "Redis at %s: a master holds %lld key(s); --init needs "
                      "an empty Redis (it never overwrites data)",
                      rb_store_address (store), n);
            return EX_DATAERR;
        }
    }
    return 0;
}

int
rb_db_init_dataset (const rb_db_opts_t *opts, char *err, size_t errlen)
{
    int rc;
    rb_store_t *store = s_store_reached (opts, &rc, err, errlen);
    if (!store)
        return rc;
    char id[33];
    for (int i = 0; i < 32; i++)
        id[i] = "0123456789abcdef"[randof (16)];
    id[32] = '\0';
    rb_batch_t *b = rb_batch_new ();
    int parts = rb_parts_count (store);
    /* partition 0 first, on an empty server: of two nodes initializing at
       once, one finds it taken */
    rc = parts > 1 ? s_init_empty (store, err, errlen) : 0;
    if (rc == 0)
        rc = s_init_parts (store, b, id, 0, 1, true, err, errlen);
    if (rc == 0 && parts > 1)
        rc = s_init_parts (store, b, id, 1, parts, false, err, errlen);
    rb_batch_destroy (&b);
    rb_store_destroy (&store);
    return rc;
}

/*  --- the actor ---------------------------------------------------------- */

/*  The node: the parts, each owning its own struct (rb_db_int.h), and
    what ties them together. Every field is touched by the actor's thread
    only.  */
typedef struct {
    rb_db_opts_t opts;          /* strings owned (copied at start) */
    zsock_t *pipe;              /* to the actor's owner */
    zloop_t *loop;              /* the bus, the job's pipe, the timer */
    rb_bus_t *bus;              /* worker of service "db" */
    rb_store_t *store;          /* Redis */
    rb_db_view_t *view;         /* the dataset, its epoch and state */
    rb_db_job_t *job;           /* backups and restores */
    rb_db_requests_t *requests; /* what each request does */
    int64_t next_backup;        /* scheduled backups: when, zclock_mono () */
    rb_notify_t *notify;        /* systemd's READY, STATUS, WATCHDOG, or NULL */
    rb_db_metrics_t *metrics;   /* --metrics, or NULL */
} db_t;

static char *
s_dup (const char *s)
{
    return strdup (s ? s : "");
}

static void
s_opts_copy (rb_db_opts_t *copy, const rb_db_opts_t *opts)
{
    *copy = *opts;
    copy->name = s_dup (opts->name);
    copy->broker = s_dup (opts->broker);
    copy->redis = s_dup (opts->redis);
    copy->redis_sentinels = s_dup (opts->redis_sentinels);
    copy->redis_master_name = s_dup (opts->redis_master_name);
    copy->redis_cluster = s_dup (opts->redis_cluster);
    copy->redis_user = s_dup (opts->redis_user);
    copy->redis_password = s_dup (opts->redis_password);
    copy->backup_dir = s_dup (opts->backup_dir);
    copy->backup_key = s_dup (opts->backup_key);
    copy->metrics = s_dup (opts->metrics);
}

static void
s_opts_free (rb_db_opts_t *copy)
{
    free ((char *) copy->name);
    free ((char *) copy->broker);
    free ((char *) copy->redis);
    free ((char *) copy->redis_sentinels);
    free ((char *) copy->redis_master_name);
    free ((char *) copy->redis_cluster);
    free ((char *) copy->redis_user);
    free ((char *) copy->redis_password);
    free ((char *) copy->backup_dir);
    free ((char *) copy->backup_key);
    free ((char *) copy->metrics);
}

static db_t *
s_db_new (zsock_t *pipe, const rb_db_opts_t *opts, char *err, size_t errlen)
{
    db_t *self = (db_t *) calloc (1, sizeof *self);
    assert (self);
    self->pipe = pipe;
    self->notify = opts->notify ? rb_notify_new () : NULL;
    s_opts_copy (&self->opts, opts);
    const rb_db_opts_t *o = &self->opts;
    rb_store_opts_t so;
    rb_db__store_opts (o, &so);
    self->store = rb_store_new (&so, err, errlen);
    rb_bus_opts_t bo = {.endpoint = o->broker,
                        .role = RB_ROLE_DB,
                        .name = o->name,
                        .services = {"db"},
                        .n_services = 1,
                        .limits = {o->max_value, o->max_batch},
                        .curve_cert = o->curve_cert,
                        .broker_cert = o->broker_cert};
    self->bus = rb_bus_new (&bo);
    self->loop = zloop_new ();
    self->view = rb_db__view_new (o, self->bus, self->store);
    self->job = rb_db__job_new (o, self->loop, self->bus, self->view);
    self->requests =
        rb_db__requests_new (o, self->bus, self->store, self->view, self->job);
    return self;
}

static void
s_db_destroy (db_t **self_p)
{
    db_t *self = *self_p;
    if (!self)
        return;
    /* the bus and the job leave the loop before it goes */
    rb_db__metrics_destroy (&self->metrics);
    rb_bus_destroy (&self->bus);
    rb_db__job_destroy (&self->job);
    zloop_destroy (&self->loop);
    rb_db__requests_destroy (&self->requests);
    rb_db__view_destroy (&self->view);
    rb_store_destroy (&self->store);
    rb_notify_destroy (&self->notify);
    s_opts_free (&self->opts);
    free (self);
    *self_p = NULL;
}

/*  Once a second: the state from Redis, and scheduled backups. */
static int
s_on_timer (zloop_t *loop, int timer_id, void *arg)
{
    db_t *self = (db_t *) arg;
    rb_db__view_tick (self->view);
    if (self->opts.backup_every_s > 0 && !rb_db__job_running (self->job) &&
        rb_db__view_state (self->view) == RB_DB_NORMAL &&
        zclock_mono () >= self->next_backup) {
        self->next_backup = zclock_mono () + self->opts.backup_every_s * 1000LL;
        rb_header_t none;
        memset (&none, 0, sizeof none); /* corr 0: nobody to answer */
        rb_body_t b;
        rb_body_init (&b, RB_T_BACKUP);
        rb_db__job_start (self->job, &none, &b);
    }
    return 0;
}

/*  systemd: ready once Redis answers and the broker took our HELLO (we
    serve), then the state as the once-a-second STATUS read it.  */
static void
s_notify (rb_notify_t *notify, void *arg)
{
    db_t *self = (db_t *) arg;
    if (rb_store_connected (self->store) && rb_bus_registered (self->bus))
        rb_notify_ready (notify);
    rb_notify_status (
        notify, "state %s, epoch %" PRIu64 ", %" PRIu64 " recovering",
        rb_db_state_name (rb_db__view_state (self->view)),
        rb_db__view_epoch (self->view), rb_db__view_recovering (self->view));
}

static int
s_on_pipe (zloop_t *loop, zsock_t *pipe, void *arg)
{
    db_t *self = (db_t *) arg;
    char *command = zstr_recv (pipe);
    if (!command || streq (command, "$TERM")) {
        zstr_free (&command);
        return -1;
    }
    if (streq (command, "STATE"))
        zstr_send (pipe, rb_db_state_name (rb_db__view_state (self->view)));
    else
        zsys_warning ("db %s: unknown command %s", self->opts.name, command);
    zstr_free (&command);
    return 0;
}

void
rb_db_actor (zsock_t *pipe, void *args)
{
    char err[256] = "";
    db_t *self = s_db_new (pipe, (const rb_db_opts_t *) args, err, sizeof err);
    if (!self->store) {
        zsys_error ("db: %s", err);
        zsock_signal (pipe, 1);
        s_db_destroy (&self);
        return;
    }
    zloop_reader (self->loop, pipe, s_on_pipe, self);
    rb_bus_attach (self->bus, self->loop);
    zloop_timer (self->loop, 1000, 0, s_on_timer, self);
    rb_notify_attach (self->notify, self->loop, s_notify, self);
    self->metrics =
        rb_db__metrics_new (self->opts.metrics, self->loop, self->opts.name,
                            self->store, self->view, self->job, self->requests);
    self->next_backup = zclock_mono () + self->opts.backup_every_s * 1000LL;
    rb_db__view_refresh (self->view);
    const char *dataset = rb_db__view_dataset (self->view);
    zsys_info ("db %s: serving %s from %s, state %s", self->opts.name,
               dataset[0] ? dataset : "(no dataset)",
               rb_store_address (self->store),
               rb_db_state_name (rb_db__view_state (self->view)));
    zsock_signal (pipe, 0);
    zloop_start (self->loop);
    rb_notify_stopping (self->notify);
    s_db_destroy (&self);
}
