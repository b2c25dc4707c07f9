/*  rb_db_job: backup and restore, each in a thread of its own (a czmq
    actor with its own Redis connection), so the DB node keeps answering
    and heartbeating while a million records go to or come from disk.

    The job talks to the node over its pipe, one message per event:
      RESET  dataset  epoch total      restore began: Redis was replaced
      PROGRESS ""     loaded total     a restore's load, after each round
      DONE   path     n1 n2 n3 n4      finished (see s_on_done)
      FAIL   code     text             nothing more will happen
    and then waits for $TERM. The node's side (rb_db_job_t, at the end)
    starts a job, answers the request that asked for it and tells the
    view what a restore changed. A restore's steps are here (its load in
    rb_db_load.c); a backup's walk of Redis is in rb_db_backup.c.  */
#include "rb_backup.h"
#include "rb_db_int.h"
#include "rb_parts.h"

#include <assert.h>
#include <inttypes.h>
#include <stdarg.h>
#include <sys/time.h>

#define RB_LEASE_MS 15000 /* a restore's claim on Redis, renewed */

typedef struct {
    int kind;             /* RB_T_BACKUP or RB_T_RESTORE */
    char *path;           /* restore: the file asked for, "" = newest */
    uint64_t journal_seq; /* restore: the ops journal's last seq */
    bool force;           /* restore: another dataset, or past the journal */
    rb_db_opts_t opts;    /* borrowed from the node, which outlives us */
    char dataset[33];     /* the node's view when the job started */
    uint64_t epoch;
} job_args_t;

typedef struct {
    zsock_t *pipe;
    job_args_t *args;
    rb_store_t *store;
    rb_sign_key_t *key;      /* the backup key, if the node has one */
    rb_backup_trust_t trust; /* what a backup read here must hold */
    uint64_t total;          /* restore: records in the file */
    char err[800];
} job_t;

static uint64_t
s_wall_ms (void)
{
    struct timeval tv;
    gettimeofday (&tv, NULL);
    return (uint64_t) tv.tv_sec * 1000 + (uint64_t) tv.tv_usec / 1000;
}

static void
s_send (job_t *job, const char *word, const char *text, uint64_t n1,
        uint64_t n2, uint64_t n3, uint64_t n4)
{
    zsock_send (job->pipe, "ss8888", word, text, n1, n2, n3, n4);
}

static int
s_fail (job_t *job, int code, const char *fmt, ...)
{
    va_list args;
    va_start (args, fmt);
    vsnprintf (job->err, sizeof job->err, fmt, args);
    va_end (args);
    char text[820];
    snprintf (text, sizeof text, "%d %s", code, job->err);
    s_send (job, "FAIL", text, 0, 0, 0, 0);
    return -1;
}

/*  A reply its parser did not understand (-2): ERROR internal. */
static int
s_fail_reply (job_t *job, const char *what, const redisReply *r)
{
    const char *error = rb_reply_error (r);
    return s_fail (job, RB_S_INTERNAL, "unexpected %s reply from Redis%s%s",
                   what, error ? ": " : "", error ? error : "");
}

/*  True when the node asked us to stop ($TERM waiting on the pipe). */
static bool
s_stopping (job_t *job)
{
    return zsock_events (job->pipe) & ZMQ_POLLIN;
}

/*  --- restore ------------------------------------------------------------ */

/*  A name RESTORE may give: a file's name in the backup dir, nothing
    more. Checked before any file is opened, so the answer is the same
    whether or not some other file exists.  */
static bool
s_bare_name (const char *name)
{
    return name[0] != '.' && !strchr (name, '/');
}

/*  Whether a backup with header h may be restored here: one of the
    dataset this node serves (when it knows one), with a watermark the
    ops journal reaches. force takes either.  */
static bool
s_accept (const rb_backup_header_t *h, void *arg, char *why, size_t len)
{
    const job_args_t *a = ((job_t *) arg)->args;
    if (a->force)
        return true;
    if (a->dataset[0] && !streq (h->dataset, a->dataset)) {
        snprintf (why, len,
                  "a backup of dataset %s, not of this node's %s (restore "
                  "--force takes it)",
                  h->dataset, a->dataset);
        return false;
    }
    if (h->watermark > a->journal_seq) {
        snprintf (why, len,
                  "watermark %" PRIu64 " is above the ops journal's last "
                  "seq %" PRIu64 ": from another journal, or forged (restore "
                  "--force takes it)",
                  h->watermark, a->journal_seq);
        return false;
    }
    return true;
}

/*  Reads the whole file through once (every check, the signature too),
    counting its records into *total, then back to its first record. 0,
    or -1 with the reader's error.  */
static int
s_verify_all (rb_backup_reader_t *r, uint64_t *total)
{
    rb_backup_record_t rec;
    int rc;
    *total = 0;
    while ((rc = rb_backup_reader_next (r, &rec)) == 1)
        (*total)++;
    return rc == 0 ? rb_backup_reader_rewind (r) : -1;
}

/*  The file asked for, or the newest one this node would take. */
static char *
s_pick_file (job_t *job)
{
    const rb_db_opts_t *o = &job->args->opts;
    const char *name = job->args->path;
    char err[600];
    char *path = NULL;
    if (!*name) {
        path = rb_backup_newest (o->backup_dir, &job->trust, s_accept, job, err,
                                 sizeof err);
        if (!path)
            s_fail (job, RB_S_CORRUPT, "%s", err);
    } else if (s_bare_name (name))
        path = zsys_sprintf ("%s/%s", o->backup_dir, name);
    else
        s_fail (job, RB_S_BAD_REQUEST,
                "restore takes the name of a backup in the DB's backup dir "
                "(no '/', not starting with '.'), not '%s'",
                name);
    return path;
}

/*  Opens the backup to restore and checks all of it, Redis untouched:
    the reader comes back at its first record, *path_p names the file.
    NULL once the job has failed.  */
static rb_backup_reader_t *
s_open_backup (job_t *job, rb_backup_header_t *h, char **path_p)
{
    char *path = s_pick_file (job);
    if (!path)
        return NULL;
    char err[600], why[400];
    rb_backup_reader_t *r =
        rb_backup_reader_new (path, &job->trust, h, err, sizeof err);
    if (!r)
        s_fail (job, RB_S_CORRUPT, "%s", err);
    else if (s_verify_all (r, &job->total))
        s_fail (job, RB_S_CORRUPT, "%s", rb_backup_reader_error (r));
    else if (!s_accept (h, job, why, sizeof why))
        s_fail (job, RB_S_BAD_REQUEST, "%s: %s", path, why);
    else {
        *path_p = path;
        return r;
    }
    rb_backup_reader_destroy (&r);
    free (path);
    return NULL;
}

/*  s_stopping for the load and the backup.  */
static bool
s_stopping_fn (void *arg)
{
    return s_stopping ((job_t *) arg);
}

static uint64_t
s_lease_until (void *arg)
{
    return s_wall_ms () + RB_LEASE_MS;
}

static void
s_load_progress (void *arg, uint64_t loaded)
{
    job_t *job = (job_t *) arg;
    s_send (job, "PROGRESS", "", loaded, job->total, 0, 0);
}

/*  Loads the records (rb_db_load.c). 0, or -1 once failed.  */
static int
s_load (job_t *job, rb_backup_reader_t *reader, uint64_t *records)
{
    rb_db_load_opts_t lo = {job->args->opts.name, s_lease_until, s_stopping_fn,
                            job, s_load_progress};
    char err[256];
    int code = rb_db__load (job->store, reader, &lo, records, err, sizeof err);
    return code ? s_fail (job, code, "%s", err) : 0;
}

/*  The restore's steps on every partition (rb_parts.h): one batch of a
    script per partition, KEYS meta and stable (and tombs for CLEAN),
    the same args; partitions first .. end - 1. 0, or the failure.  */
static int
s_fan_out (job_t *job, rb_batch_t *b, int script, int first, int end,
           int argc, const char *const *argv)
{
    rb_batch_reset (b);
    for (int p = first; p < end; p++) {
        rb_batch_call (b, script, rb_part_slot (p));
        rb_batch_key (b, p, "meta", NULL, 0);
        rb_batch_key (b, p, "stable", NULL, 0);
        if (script == RB_SCRIPT_RESTORE_CLEAN)
            rb_batch_key (b, p, "tombs", NULL, 0);
        for (int i = 0; i < argc; i++)
            rb_batch_str (b, argv[i]);
    }
    if (rb_batch_run (b, job->store))
        return s_fail (job, RB_S_UNAVAILABLE, "%s",
                       rb_store_errstr (job->store));
    return 0;
}

/*  On a cluster, after the lead partition flushed its own server: every
    other master is flushed too (FLUSHDB), so nothing of the old dataset
    is left anywhere.  */
static int
s_flush_others (job_t *job)
{
    int lead = rb_store_slot_master (job->store, rb_part_slot (0));
    for (int m = 0; m < rb_store_masters (job->store); m++) {
        if (m == lead)
            continue;
        redisReply *r = rb_store_command_at (job->store, m, "FLUSHDB");
        int ok = r && r->type == REDIS_REPLY_STATUS;
        char why[300];
        snprintf (why, sizeof why, "%s",
                  r ? (r->str ? r->str : "?") : rb_store_errstr (job->store));
        freeReplyObject (r);
        if (!ok)
            return s_fail (job, RB_S_UNAVAILABLE, "FLUSHDB: %s", why);
    }
    return 0;
}

/*  RESTORE_BEGIN: the lead partition (0) takes the lease, flushes its
    server and moves to a new epoch; then every other master is flushed
    and every other partition gets the same epoch. *epoch gets it.  */
static int
s_begin (job_t *job, rb_batch_t *b, const rb_backup_header_t *h,
         uint64_t *epoch)
{
    char now[24], lease[16], fepoch[24], known[24], parts[16], at[24];
    snprintf (now, sizeof now, "%" PRIu64, s_wall_ms ());
    snprintf (lease, sizeof lease, "%d", RB_LEASE_MS);
    snprintf (fepoch, sizeof fepoch, "%" PRIu64, h->epoch);
    snprintf (known, sizeof known, "%" PRIu64, job->args->epoch);
    snprintf (parts, sizeof parts, "%d", rb_parts_count (job->store));
    const char *argv[] = {job->args->opts.name, now,    lease, h->dataset,
                          fepoch,               known,  parts, "0"};
    rb_batch_reset (b);
    rb_batch_call (b, RB_SCRIPT_RESTORE_BEGIN, rb_part_slot (0));
    rb_batch_key (b, 0, "meta", NULL, 0);
    rb_batch_key (b, 0, "stable", NULL, 0);
    for (int i = 0; i < 8; i++)
        rb_batch_str (b, argv[i]);
    if (rb_batch_run (b, job->store))
        return s_fail (job, RB_S_UNAVAILABLE, "%s",
                       rb_store_errstr (job->store));
    rb_restore_begin_reply_t rep;
    int rc = rb_restore_begin_reply_parse (rb_batch_reply (b, 0), &rep);
    if (rc == -1)
        return s_fail (job, RB_S_WRONG_STATE, "a restore is running on %s",
                       rep.who);
    if (rc)
        return s_fail_reply (job, "RESTORE_BEGIN", rb_batch_reply (b, 0));
    *epoch = rep.epoch;
    if (rb_parts_count (job->store) == 1)
        return 0;
    if (s_flush_others (job))
        return -1;
    snprintf (at, sizeof at, "%" PRIu64, rep.epoch);
    argv[7] = at;
    if (s_fan_out (job, b, RB_SCRIPT_RESTORE_BEGIN, 1,
                   rb_parts_count (job->store), 8, argv))
        return -1;
    for (int i = 0; i < rb_batch_size (b); i++) {
        rc = rb_restore_begin_reply_parse (rb_batch_reply (b, i), &rep);
        if (rc == -1)
            return s_fail (job, RB_S_WRONG_STATE,
                           "another node took the restore over");
        if (rc)
            return s_fail_reply (job, "RESTORE_BEGIN", rb_batch_reply (b, i));
    }
    return 0;
}

/*  The records loaded: every key of every master (DBSIZE), but the
    partitions' meta and tombstone sets. Read while every partition is
    still restoring, when nothing else writes.  */
static int
s_count (job_t *job, uint64_t sets, uint64_t *total)
{
    uint64_t keys = 0;
    for (int m = 0; m < rb_store_masters (job->store); m++) {
        redisReply *r = rb_store_command_at (job->store, m, "DBSIZE");
        bool ok = r && r->type == REDIS_REPLY_INTEGER && r->integer >= 0;
        if (ok)
            keys += (uint64_t) r->integer;
        freeReplyObject (r);
        if (!ok)
            return s_fail (job, RB_S_IO, "DBSIZE: %s",
                           rb_store_errstr (job->store));
    }
    uint64_t other = (uint64_t) rb_parts_count (job->store) + sets;
    *total = keys > other ? keys - other : 0;
    return 0;
}

/*  RESTORE_CLEAN on every partition, the count, then RESTORE_END on every
    partition, the lead (0, which drops the lease) last.  */
static int
s_end (job_t *job, rb_batch_t *b, const rb_backup_header_t *h,
       uint64_t epoch, uint64_t *total)
{
    char wm[24], at[24], sum[24];
    snprintf (wm, sizeof wm, "%" PRIu64, h->watermark);
    snprintf (at, sizeof at, "%" PRIu64, epoch);
    const char *clean[] = {at};
    if (s_fan_out (job, b, RB_SCRIPT_RESTORE_CLEAN, 0,
                   rb_parts_count (job->store), 1, clean))
        return -1;
    uint64_t sets = 0;
    for (int i = 0; i < rb_batch_size (b); i++) {
        rb_restore_clean_reply_t rep;
        int rc = rb_restore_clean_reply_parse (rb_batch_reply (b, i), &rep);
        if (rc == -1)
            return s_fail (job, RB_S_WRONG_STATE,
                           "another node took the restore over");
        if (rc)
            return s_fail_reply (job, "RESTORE_CLEAN", rb_batch_reply (b, i));
        sets += rep.sets;
    }
    if (s_count (job, sets, total))
        return -1;
    snprintf (sum, sizeof sum, "%" PRIu64, *total);
    const char *argv[] = {job->args->opts.name, wm, at, "0", "0"};
    int parts = rb_parts_count (job->store);
    for (int lead = 0; lead < 2; lead++) {
        if (lead) {
            argv[3] = sum, argv[4] = "1";
        }
        if (!lead && parts == 1)
            continue;
        if (s_fan_out (job, b, RB_SCRIPT_RESTORE_END, lead ? 0 : 1,
                       lead ? 1 : parts, 5, argv))
            return -1;
        for (int i = 0; i < rb_batch_size (b); i++) {
            rb_restore_end_reply_t rep;
            redisReply *r = rb_batch_reply (b, i);
            int rc = rb_restore_end_reply_parse (r, &rep);
            if (rc == -1)
                return s_fail (job, RB_S_WRONG_STATE,
                               "another node took the restore over");
            if (rc)
                return s_fail_reply (job, "RESTORE_END", r);
        }
    }
    return 0;
}

static void
s_restore (job_t *job)
{
    int64_t start = zclock_mono ();
    rb_backup_header_t h;
    uint64_t epoch = 0, records = 0, total = 0;
    char *path = NULL;
    rb_backup_reader_t *reader = s_open_backup (job, &h, &path);
    rb_batch_t *b = rb_batch_new ();
    if (reader && s_begin (job, b, &h, &epoch) == 0) {
        s_send (job, "RESET", h.dataset, epoch, job->total, 0, 0);
        if (s_load (job, reader, &records) == 0 &&
            s_end (job, b, &h, epoch, &total) == 0)
            s_send (job, "DONE", path, total, h.watermark, epoch,
                    (uint64_t) (zclock_mono () - start));
    }
    rb_batch_destroy (&b);
    rb_backup_reader_destroy (&reader);
    free (path);
}

/*  --- backup ----------------------------------------------------------- */

/*  A backup (rb_db_backup.c), answered DONE path records watermark bytes
    ms, or FAIL.  */
static void
s_backup (job_t *job)
{
    int64_t start = zclock_mono ();
    rb_db_backup_opts_t bo = {&job->args->opts,
                              job->args->dataset,
                              job->args->epoch,
                              job->key,
                              &job->trust,
                              s_stopping_fn,
                              job};
    rb_db_backup_done_t done;
    char err[sizeof job->err];
    int code = rb_db__backup (job->store, &bo, &done, err, sizeof err);
    if (code)
        s_fail (job, code, "%s", err);
    else
        s_send (job, "DONE", done.path, done.records, done.watermark,
                done.bytes, (uint64_t) (zclock_mono () - start));
    free (done.path);
}

/*  --- the job actor ------------------------------------------------------ */

/*  The backup key, read afresh for each job (the node checked it at its
    start); what a backup read here must hold. 0, or -1 once failed.  */
static int
s_trust (job_t *job)
{
    const rb_db_opts_t *o = &job->args->opts;
    char err[600];
    job->trust.max_value = o->max_value;
    if (!o->backup_key || !*o->backup_key)
        return 0;
    job->key = rb_sign_key_load (o->backup_key, err, sizeof err);
    job->trust.key = job->key;
    return job->key ? 0 : s_fail (job, RB_S_IO, "backup-key %s", err);
}

static void
s_job_actor (zsock_t *pipe, void *arg)
{
    job_t job;
    memset (&job, 0, sizeof job);
    job.pipe = pipe;
    job.args = (job_args_t *) arg;
    zsock_signal (pipe, 0);
    const rb_db_opts_t *o = &job.args->opts;
    rb_store_opts_t so;
    rb_db__store_opts (o, &so);
    char err[700];
    job.store = rb_store_new (&so, err, sizeof err);
    if (s_trust (&job))
        ; /* said why */
    else if (!job.store)
        s_fail (&job, RB_S_INTERNAL, "%s", err);
    else if (rb_store_connect (job.store))
        s_fail (&job, RB_S_UNAVAILABLE, "%s", rb_store_errstr (job.store));
    else if (job.args->kind == RB_T_RESTORE)
        s_restore (&job);
    else
        s_backup (&job);
    rb_store_destroy (&job.store);
    rb_sign_key_destroy (&job.key);
    free (job.args->path);
    free (job.args);
    char *command = zstr_recv (pipe); /* wait for $TERM */
    zstr_free (&command);
}

/*  --- the node's side ---------------------------------------------------- */

struct rb_db_job {
    const rb_db_opts_t *opts; /* the node's (borrowed) */
    zloop_t *loop;            /* reads the job's pipe (borrowed) */
    rb_bus_t *bus;            /* the answer goes out on it (borrowed) */
    rb_db_view_t *view;       /* what a restore changes (borrowed) */
    zactor_t *actor;          /* the backup or restore running, or NULL */
    rb_header_t req;          /* the request it answers */
    int kind;                 /* RB_T_BACKUP or RB_T_RESTORE */
    uint64_t loaded, total;   /* the running or last restore's records */
};

rb_db_job_t *
rb_db__job_new (const rb_db_opts_t *opts, zloop_t *loop, rb_bus_t *bus,
                rb_db_view_t *view)
{
    rb_db_job_t *self = (rb_db_job_t *) calloc (1, sizeof *self);
    assert (self);
    self->opts = opts;
    self->loop = loop;
    self->bus = bus;
    self->view = view;
    return self;
}

static void
s_stop (rb_db_job_t *self)
{
    if (!self->actor)
        return;
    zloop_reader_end (self->loop, zactor_sock (self->actor));
    zactor_destroy (&self->actor);
}

void
rb_db__job_destroy (rb_db_job_t **self_p)
{
    rb_db_job_t *self = *self_p;
    if (!self)
        return;
    s_stop (self);
    free (self);
    *self_p = NULL;
}

bool
rb_db__job_running (rb_db_job_t *self)
{
    return self->actor != NULL;
}

static int s_on_event (zloop_t *loop, zsock_t *pipe, void *arg);

void
rb_db__job_start (rb_db_job_t *self, const rb_header_t *h, const rb_body_t *b)
{
    if (self->actor) {
        if (h->corr || h->kind)
            rb_bus_error (self->bus, h, RB_S_WRONG_STATE,
                          "a backup or restore is running on this node");
        return;
    }
    job_args_t *args = (job_args_t *) calloc (1, sizeof *args);
    assert (args);
    args->kind = b->type;
    args->path = b->type == RB_T_RESTORE ? rb_str_dup (b->text) : strdup ("");
    args->journal_seq = b->type == RB_T_RESTORE ? b->journal_seq : 0;
    args->force = b->type == RB_T_RESTORE && b->force;
    args->opts = *self->opts;
    snprintf (args->dataset, sizeof args->dataset, "%s",
              rb_db__view_dataset (self->view));
    args->epoch = rb_db__view_epoch (self->view);
    self->req = *h;
    self->kind = b->type;
    self->actor = zactor_new (s_job_actor, args);
    zloop_reader (self->loop, zactor_sock (self->actor), s_on_event, self);
    zsys_info ("db %s: %s started", self->opts->name, rb_type_name (b->type));
}

static void
s_on_done (rb_db_job_t *self, const char *path, const uint64_t n[4])
{
    rb_body_t b;
    rb_body_init (&b, self->kind == RB_T_RESTORE ? RB_T_RESTORED
                                                 : RB_T_BACKUP_DONE);
    b.text = rb_str (path);
    b.records = n[0], b.watermark = n[1], b.ms = n[3];
    if (self->kind == RB_T_RESTORE) {
        b.epoch = n[2];
        self->loaded = self->total; /* every record of the file is in */
    } else
        b.bytes = n[2];
    zsys_info ("db %s: %s done: %s, %" PRIu64 " records, watermark %" PRIu64
               ", %" PRIu64 " ms",
               self->opts->name, rb_type_name (self->kind), path, n[0], n[1],
               n[3]);
    if (self->req.kind)
        rb_bus_reply (self->bus, &self->req, &b);
}

/*  FAIL: text is "CODE message". */
static void
s_on_fail (rb_db_job_t *self, const char *text)
{
    char *rest = NULL;
    long code = strtol (text, &rest, 10);
    zsys_warning ("db %s: %s failed: %s", self->opts->name,
                  rb_type_name (self->kind), rest + 1);
    if (self->req.kind)
        rb_bus_error (self->bus, &self->req, (int) code, rest + 1);
}

/*  The job's pipe is readable: a progress event or the end. */
static int
s_on_event (zloop_t *loop, zsock_t *pipe, void *arg)
{
    rb_db_job_t *self = (rb_db_job_t *) arg;
    char *word = NULL, *text = NULL;
    uint64_t n[4] = {0};
    if (zsock_recv (pipe, "ss8888", &word, &text, &n[0], &n[1], &n[2], &n[3]) ==
        -1)
        return 0;
    bool ended = !streq (word, "RESET") && !streq (word, "PROGRESS");
    if (streq (word, "RESET")) { /* the job began a restore */
        self->loaded = 0, self->total = n[1];
        rb_db__view_restoring (self->view, text, n[0]);
    } else if (streq (word, "PROGRESS"))
        self->loaded = n[0], self->total = n[1];
    else if (streq (word, "DONE"))
        s_on_done (self, text, n);
    else
        s_on_fail (self, text);
    zstr_free (&word);
    zstr_free (&text);
    if (ended) {
        s_stop (self);
        rb_db__view_refresh (self->view);
    }
    return 0;
}

void
rb_db__job_progress (rb_db_job_t *self, uint64_t *loaded, uint64_t *total)
{
    *loaded = self->loaded;
    *total = self->total;
}
