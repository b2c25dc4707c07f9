/*  rb_db: the DB node actor: start-up, the state table, the loop.

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
    any            Redis empty/foreign (seen by any script)      NEEDS_RESTORE
*/
#include "rb_db_int.h"
#include "rb_scripts.h"

#include <assert.h>
#include <errno.h>
#include <inttypes.h>
#include <sysexits.h>

static const char *const s_state_names[RB_DB_STATE_COUNT] = {
    "normal", "restoring", "recovering", "needs_restore"};

const char *
rb_db_state_name (int state)
{
    return state >= 0 && state < RB_DB_STATE_COUNT ? s_state_names[state] : "?";
}

void
rb_db_opts_default (rb_db_opts_t *o)
{
    o->name = "db-1";
    o->broker = "tcp://127.0.0.1:5555";
    o->redis = "127.0.0.1:6379";
    o->redis_user = "";
    o->redis_password = "";
    o->redis_timeout_ms = 2000;
    o->backup_dir = "backups";
    o->max_value = 64 * 1024;
    o->max_batch = 10000;
    o->fetch_ttl_s = 600;
    o->fetch_cap = 64;
    o->backup_every_s = 0;
}

void
rb_db_saw_state (db_t *self, const char *word)
{
    int before = self->state;
    if (!word || streq (word, "ok"))
        return;
    if (streq (word, "needs_restore") || streq (word, "foreign"))
        self->state = RB_DB_NEEDS_RESTORE;
    else if (streq (word, "restoring"))
        self->state = RB_DB_RESTORING;
    else if (streq (word, "recovering"))
        self->state = RB_DB_RECOVERING;
    else if (streq (word, "normal"))
        self->state = RB_DB_NORMAL;
    if (self->state != before)
        zsys_info ("db %s: state %s -> %s", self->opts.name,
                   rb_db_state_name (before), rb_db_state_name (self->state));
}

int
rb_db_refusal (const char *word, const char **text)
{
    if (word && streq (word, "needs_restore")) {
        *text = "no dataset in Redis: needs restore";
        return RB_S_UNAVAILABLE;
    }
    if (word && streq (word, "foreign")) {
        *text = "Redis holds another dataset: needs restore";
        return RB_S_UNAVAILABLE;
    }
    if (word && streq (word, "restoring")) {
        *text = "restoring";
        return RB_S_UNAVAILABLE;
    }
    *text = word ? word : "unexpected reply from Redis";
    return word ? RB_S_WRONG_STATE : RB_S_INTERNAL;
}

/*  --- the dataset this node serves ---------------------------------- */

/*  BACKUP_DIR/.dataset holds "ID EPOCH": the dataset this node (or its
    predecessor) served, so a Redis holding another one is noticed.  */
static char *
s_dataset_path (db_t *self)
{
    return zsys_sprintf ("%s/.dataset", self->opts.backup_dir);
}

static void
s_dataset_load (db_t *self)
{
    char *path = s_dataset_path (self);
    FILE *f = fopen (path, "r");
    char id[40] = "";
    unsigned long long epoch = 0;
    if (f && fscanf (f, "%39s %llu", id, &epoch) == 2 && strlen (id) == 32) {
        memcpy (self->dataset, id, 33);
        self->epoch = epoch;
    }
    if (f)
        fclose (f);
    zstr_free (&path);
}

int
rb_db_dataset_save (db_t *self)
{
    char *path = s_dataset_path (self);
    char *tmp = zsys_sprintf ("%s.tmp", path);
    FILE *f = fopen (tmp, "w");
    int rc = -1;
    if (f) {
        fprintf (f, "%s %llu\n", self->dataset,
                 (unsigned long long) self->epoch);
        rc = fflush (f) == 0 && fsync (fileno (f)) == 0 ? 0 : -1;
        fclose (f);
        if (rc == 0)
            rc = rename (tmp, path);
    }
    if (rc)
        zsys_error ("db %s: cannot write %s: %s", self->opts.name, path,
                    strerror (errno));
    zstr_free (&tmp);
    zstr_free (&path);
    return rc;
}

void
rb_db_send_reset (db_t *self)
{
    rb_body_t reset;
    rb_body_init (&reset, RB_T_RESET);
    reset.epoch = self->epoch;
    rb_bus_push (self->bus, RB_ADDR_ROLE, "service", &reset);
    self->n_resets++;
    self->reset_regs = rb_bus_registrations (self->bus);
}

void
rb_db_saw_epoch (db_t *self, uint64_t epoch)
{
    if (epoch <= self->epoch)
        return;
    zsys_info ("db %s: epoch %" PRIu64 " -> %" PRIu64 ": RESET to services",
               self->opts.name, self->epoch, epoch);
    self->epoch = epoch;
    rb_db_send_reset (self);
    rb_db_dataset_save (self);
}

/*  --- init ------------------------------------------------------------ */

int
rb_db_init_dataset (const rb_db_opts_t *opts, char *err, size_t errlen)
{
    rb_store_opts_t so = {opts->redis, opts->redis_user, opts->redis_password,
                          opts->redis_timeout_ms};
    rb_store_t *store = rb_store_new (&so, err, errlen);
    if (!store)
        return EX_CONFIG;
    if (rb_store_connect (store)) {
        snprintf (err, errlen, "%s: %s", opts->redis, rb_store_errstr (store));
        rb_store_destroy (&store);
        return EX_UNAVAILABLE;
    }
    char id[33];
    for (int i = 0; i < 32; i++)
        id[i] = "0123456789abcdef"[randof (16)];
    id[32] = '\0';
    const char *argv[] = {id};
    size_t lens[] = {32};
    rb_call_t call = {RB_SCRIPT_INIT, 1, argv, lens, NULL};
    int rc = EX_UNAVAILABLE;
    snprintf (err, errlen, "%s: %s", opts->redis, rb_store_errstr (store));
    if (rb_store_run (store, &call, 1) == 0) {
        rb_init_reply_t rep;
        int parsed = rb_init_reply_parse (call.reply, &rep);
        const char *error = rb_reply_error (call.reply);
        rc = parsed == 0 ? 0 : EX_DATAERR;
        if (parsed == 0)
            snprintf (err, errlen, "new dataset %s, epoch 1", id);
        else if (parsed == -1)
            snprintf (err, errlen,
                      "Redis at %s holds %llu key(s); --init needs an empty "
                      "Redis (it never overwrites data)",
                      opts->redis, (unsigned long long) rep.keys);
        else
            snprintf (err, errlen, "Redis at %s: unexpected INIT reply%s%s",
                      opts->redis, error ? ": " : "", error ? error : "");
    }
    rb_store_free_replies (&call, 1);
    rb_store_destroy (&store);
    return rc;
}

/*  --- the actor ---------------------------------------------------------- */

static char *
s_dup (const char *s)
{
    return strdup (s ? s : "");
}

static db_t *
s_db_new (zsock_t *pipe, const rb_db_opts_t *opts, char *err, size_t errlen)
{
    db_t *self = (db_t *) calloc (1, sizeof *self);
    assert (self);
    self->pipe = pipe;
    self->opts = *opts;
    self->opts.name = s_dup (opts->name);
    self->opts.broker = s_dup (opts->broker);
    self->opts.redis = s_dup (opts->redis);
    self->opts.redis_user = s_dup (opts->redis_user);
    self->opts.redis_password = s_dup (opts->redis_password);
    self->opts.backup_dir = s_dup (opts->backup_dir);
    self->state = RB_DB_NEEDS_RESTORE;
    rb_store_opts_t so = {opts->redis, opts->redis_user, opts->redis_password,
                          opts->redis_timeout_ms};
    self->store = rb_store_new (&so, err, errlen);
    rb_bus_opts_t bo = {.endpoint = opts->broker,
                        .role = RB_ROLE_DB,
                        .name = opts->name,
                        .services = {"db"},
                        .n_services = 1,
                        .limits = {opts->max_value, opts->max_batch}};
    self->bus = rb_bus_new (&bo);
    rb_bus_on_request (self->bus, rb_db_on_request, self);
    rb_bus_on_idle (self->bus, rb_db_on_idle, self);
    s_dataset_load (self);
    return self;
}

static void
s_db_destroy (db_t **self_p)
{
    db_t *self = *self_p;
    if (!self)
        return;
    zactor_destroy (&self->job);
    for (uint32_t i = 0; i < self->n_gets; i++)
        zmsg_destroy (&self->gets[i].msg);
    free (self->gets);
    rb_bus_destroy (&self->bus);
    rb_store_destroy (&self->store);
    free ((char *) self->opts.name);
    free ((char *) self->opts.broker);
    free ((char *) self->opts.redis);
    free ((char *) self->opts.redis_user);
    free ((char *) self->opts.redis_password);
    free ((char *) self->opts.backup_dir);
    free (self);
    *self_p = NULL;
}

/*  Once a second: the state from Redis, and scheduled backups. */
static int
s_on_timer (zloop_t *loop, int timer_id, void *arg)
{
    db_t *self = (db_t *) arg;
    rb_db_refresh (self);
    /* once per registration with the broker (start-up, broker restart,
       expiry): a RESET sent by a restore that crashed before it reached
       the services (or by a node that died) is sent again  */
    if (self->epoch && rb_bus_registered (self->bus) &&
        rb_bus_registrations (self->bus) != self->reset_regs)
        rb_db_send_reset (self);
    if (self->opts.backup_every_s > 0 && !self->job &&
        self->state == RB_DB_NORMAL && zclock_mono () >= self->next_backup) {
        self->next_backup = zclock_mono () + self->opts.backup_every_s * 1000LL;
        rb_header_t none;
        memset (&none, 0, sizeof none); /* corr 0: nobody to answer */
        rb_body_t b;
        rb_body_init (&b, RB_T_BACKUP);
        rb_db_job_start (self, &none, &b);
    }
    return 0;
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
        zstr_send (pipe, rb_db_state_name (self->state));
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
    self->loop = zloop_new ();
    zloop_reader (self->loop, pipe, s_on_pipe, self);
    rb_bus_attach (self->bus, self->loop);
    zloop_timer (self->loop, 1000, 0, s_on_timer, self);
    self->next_backup = zclock_mono () + self->opts.backup_every_s * 1000LL;
    rb_db_refresh (self);
    zsys_info ("db %s: serving %s from %s, state %s", self->opts.name,
               self->dataset[0] ? self->dataset : "(no dataset)",
               self->opts.redis, rb_db_state_name (self->state));
    zsock_signal (pipe, 0);
    zloop_start (self->loop);
    /* the bus and the job leave the loop before it goes */
    rb_bus_destroy (&self->bus);
    zactor_destroy (&self->job);
    zloop_destroy (&self->loop);
    s_db_destroy (&self);
}
