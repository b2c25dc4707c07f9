/*  rb_db_view: what the DB node knows of the dataset in Redis: its id,
    the highest epoch seen, the state as last read. The truth is in Redis
    (rb:meta); this is the node's copy, kept up to date by every script
    reply (rb_db__view_saw_state, rb_db__view_saw_epoch) and by STATUS
    once a second (rb_db__view_tick).

    It also owns what follows from a newer epoch: the RESET push to every
    service node, and BACKUP_DIR/.dataset ("ID EPOCH"), the dataset this
    node (or its predecessor) served, so a Redis holding another one, or
    an old snapshot of it, is noticed after a restart.  */
#include "rb_db_int.h"
#include "rb_failover.h"
#include "rb_file.h"
#include "rb_parts.h"

#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>

struct rb_db_view {
    const char *name;     /* the node's, for logs (borrowed) */
    char *path;           /* BACKUP_DIR/.dataset */
    rb_bus_t *bus;        /* RESETs go out on it (borrowed) */
    rb_store_t *store;    /* STATUS is read from it (borrowed) */
    char dataset[33];     /* the dataset id this node serves, "" if none */
    uint64_t epoch;       /* highest epoch seen */
    int state;            /* rb_db_state_t as last seen in Redis */
    uint64_t n_resets;    /* RESETs sent */
    uint32_t reset_regs;  /* the bus registration a RESET was sent in */
    uint64_t *acked_epoch; /* per partition: the epoch of acked_wm */
    uint64_t *acked_wm;    /* per partition: highest watermark an ACK of
                              ours carried */
    uint64_t failovers;    /* transitions this node made (FAILOVER moved) */
    uint64_t recovering;   /* keys recovering, as STATUS last said */
    uint64_t normal_epoch; /* every partition seen normal at this epoch */
    rb_batch_t *batch;     /* STATUS and FOLLOW of every partition */
    rb_batch_t *check;     /* FAILOVER: its own, as the check runs inside
                              another batch's run (a new connection) */
};

static const char *const s_state_names[RB_DB_STATE_COUNT] = {
    "normal", "restoring", "recovering", "needs_restore"};

const char *
rb_db_state_name (int state)
{
    return state >= 0 && state < RB_DB_STATE_COUNT ? s_state_names[state] : "?";
}

/*  --- BACKUP_DIR/.dataset ------------------------------------------------ */

/*  Reads "ID EPOCH" (a link there is not followed). */
static void
s_load (rb_db_view_t *self)
{
    int fd = open (self->path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
    FILE *f = fd >= 0 ? fdopen (fd, "r") : NULL;
    char id[40] = "";
    unsigned long long epoch = 0;
    if (f && fscanf (f, "%39s %llu", id, &epoch) == 2 && strlen (id) == 32) {
        memcpy (self->dataset, id, 33);
        self->epoch = epoch;
    }
    if (f)
        fclose (f);
    else if (fd >= 0)
        close (fd);
}

/*  Writes "ID EPOCH", mode 0600, through .dataset.tmp (rb_file.h: no
    link planted there is followed).  */
static int
s_save (rb_db_view_t *self)
{
    char line[64], err[600];
    int len = snprintf (line, sizeof line, "%s %llu\n", self->dataset,
                        (unsigned long long) self->epoch);
    int rc = rb_file_write (self->path, line, (size_t) len, 0600, true, err,
                            sizeof err);
    if (rc)
        zsys_error ("db %s: %s", self->name, err);
    return rc;
}

/*  --- the check of every new Redis connection ------------------------------
 */

/*  What FAILOVER answered for a partition: a transition made here, or
    what the dataset is at now (an epoch another node moved is followed,
    with a RESET).  */
static void
s_checked (rb_db_view_t *self, int part, const rb_failover_reply_t *rep)
{
    if (rep->moved)
        zsys_warning ("db %s: Redis at %s may be behind what was "
                      "acknowledged in partition %d (another replication "
                      "id, or a watermark gone back: a failover or a "
                      "restart): dataset recovering at epoch %" PRIu64
                      "; run 'recobus-ops recover'",
                      self->name, rb_store_address (self->store), part,
                      rep->epoch);
    rb_db__view_saw_epoch (self, rep->epoch);
    if (rep->moved || rb_parts_count (self->store) == 1)
        rb_db__view_saw_state (self, rep->state);
    if (!rep->moved && rb_parts_count (self->store) == 1 &&
        streq (rep->state, "normal"))
        rb_db__view_saw_normal (self, rep->epoch);
}

/*  On a cluster: the replication ids of the masters other than m, now
    (INFO replication): a partition whose meta names one of them moved
    here by resharding, with its history (rb_failover.h). Adds them as
    args of every call of the batch later; returns how many (at most
    max).  */
static int
s_other_replids (rb_store_t *store, int m, char (*ids)[48], int max)
{
    int n = 0;
    for (int i = 0; i < rb_store_masters (store) && n < max; i++) {
        if (i == m)
            continue;
        redisReply *r = rb_store_command_at (store, i, "INFO replication");
        const char *at =
            r && r->type == REDIS_REPLY_STRING ? strstr (r->str, "master_replid:")
                                               : NULL;
        if (at && sscanf (at, "master_replid:%47[0-9a-f]", ids[n]) == 1)
            n++;
        freeReplyObject (r);
    }
    return n;
}

/*  Runs on every new connection (on a cluster: to each master), before
    anything is read from it: may this Redis be behind what was
    acknowledged? (rb_failover.h), for every partition it holds. 0 to
    serve from it; -1 drops it (a reply not understood changes
    nothing).  */
static int
s_check_connection (rb_store_t *store, void *arg)
{
    rb_db_view_t *self = (rb_db_view_t *) arg;
    char ds[64];
    rb_db__view_arg (self, ds, sizeof ds);
    int m = rb_store_checking (store), parts = rb_parts_count (store);
    char ids[64][48];
    int n_ids = parts > 1 ? s_other_replids (store, m, ids, 64) : 0;
    rb_batch_t *b = self->check;
    rb_batch_reset (b);
    int *part = (int *) calloc ((size_t) parts, sizeof (int));
    assert (part);
    for (int p = 0; p < parts; p++) {
        int slot = rb_part_slot (p);
        if (parts > 1 && rb_store_slot_master (store, slot) != m)
            continue;
        part[rb_batch_call (b, RB_SCRIPT_FAILOVER, slot)] = p;
        rb_batch_key (b, p, "meta", NULL, 0);
        rb_batch_key (b, p, "stable", NULL, 0);
        rb_batch_str (b, ds);
        rb_batch_u64 (b, self->acked_epoch[p]);
        rb_batch_u64 (b, self->acked_wm[p]);
        for (int i = 0; i < n_ids; i++)
            rb_batch_str (b, ids[i]);
    }
    if (rb_batch_run (b, store)) {
        free (part);
        return -1; /* the connection went: its error says why */
    }
    int rc = 0, moved = 0, recorded = 0;
    for (int c = 0; rc == 0 && c < rb_batch_size (b); c++) {
        rb_failover_reply_t rep;
        redisReply *reply = rb_batch_reply (b, c);
        rc = rb_failover_reply_parse (reply, &rep);
        if (rc == -1 && !streq (rep.word, "no_replid"))
            rc = 0; /* needs_restore, foreign, lagging: every script will
                       refuse too, and the view looks at every partition */
        if (rc == 0 && rep.epoch) {
            s_checked (self, part[c], &rep);
            moved += rep.moved;
            recorded += rep.recorded;
        } else if (rc == 0)
            rb_db__view_saw_state (self, rep.word);
        else {
            const char *error = rb_reply_error (reply);
            zsys_error ("db %s: Redis at %s: the failover check was not "
                        "understood (%s): not serving from it",
                        self->name, rb_store_address (store),
                        error      ? error
                        : rc == -1 ? "no master_replid in INFO"
                                   : "unexpected reply");
        }
    }
    if (moved) /* the other partitions follow at the next refresh */
        self->failovers++;
    if (recorded)
        zsys_info ("db %s: Redis at %s: replication id recorded (%d "
                   "partition(s))",
                   self->name, rb_store_address (store), recorded);
    rb_batch_reset (b);
    free (part);
    return rc == 0 ? 0 : -1;
}

/*  --- the view ------------------------------------------------------------ */

rb_db_view_t *
rb_db__view_new (const rb_db_opts_t *opts, rb_bus_t *bus, rb_store_t *store)
{
    rb_db_view_t *self = (rb_db_view_t *) calloc (1, sizeof *self);
    assert (self);
    self->name = opts->name;
    self->path = zsys_sprintf ("%s/.dataset", opts->backup_dir);
    assert (self->path);
    self->bus = bus;
    self->store = store;
    self->state = RB_DB_NEEDS_RESTORE;
    self->acked_epoch = (uint64_t *) calloc (RB_PARTS_CLUSTER, sizeof (uint64_t));
    self->acked_wm = (uint64_t *) calloc (RB_PARTS_CLUSTER, sizeof (uint64_t));
    self->batch = rb_batch_new ();
    self->check = rb_batch_new ();
    assert (self->acked_epoch && self->acked_wm);
    s_load (self);
    if (store)
        rb_store_on_connect (store, s_check_connection, self);
    return self;
}

void
rb_db__view_destroy (rb_db_view_t **self_p)
{
    rb_db_view_t *self = *self_p;
    if (!self)
        return;
    zstr_free (&self->path);
    free (self->acked_epoch);
    free (self->acked_wm);
    rb_batch_destroy (&self->batch);
    rb_batch_destroy (&self->check);
    free (self);
    *self_p = NULL;
}

const char *
rb_db__view_dataset (rb_db_view_t *self)
{
    return self->dataset;
}

uint64_t
rb_db__view_epoch (rb_db_view_t *self)
{
    return self->epoch;
}

int
rb_db__view_state (rb_db_view_t *self)
{
    return self->state;
}

uint64_t
rb_db__view_resets (rb_db_view_t *self)
{
    return self->n_resets;
}

uint64_t
rb_db__view_recovering (rb_db_view_t *self)
{
    return self->recovering;
}

uint64_t
rb_db__view_failovers (rb_db_view_t *self)
{
    return self->failovers;
}

void
rb_db__view_saw_acked (rb_db_view_t *self, int part, uint64_t epoch,
                       uint64_t watermark)
{
    assert (part >= 0 && part < RB_PARTS_CLUSTER);
    if (epoch > self->acked_epoch[part])
        self->acked_epoch[part] = epoch, self->acked_wm[part] = watermark;
    else if (epoch == self->acked_epoch[part] &&
             watermark > self->acked_wm[part])
        self->acked_wm[part] = watermark;
}

void
rb_db__view_saw_normal (rb_db_view_t *self, uint64_t epoch)
{
    if (epoch == self->epoch)
        self->normal_epoch = epoch;
}

bool
rb_db__view_normal_proven (rb_db_view_t *self)
{
    return self->state == RB_DB_NORMAL && self->epoch &&
           self->normal_epoch == self->epoch;
}

void
rb_db__view_arg (rb_db_view_t *self, char *buf, size_t len)
{
    snprintf (buf, len, "%s/%" PRIu64, self->dataset, self->epoch);
}

/*  --- what the node saw ----------------------------------------------------
 */

void
rb_db__view_saw_state (rb_db_view_t *self, const char *word)
{
    int before = self->state;
    if (!word || streq (word, "ok"))
        return;
    if (streq (word, "lagging"))
        return; /* the next refresh (each second) looks at them all */
    if (streq (word, "needs_restore") || streq (word, "foreign") ||
        streq (word, "parts"))
        self->state = RB_DB_NEEDS_RESTORE;
    else if (streq (word, "restoring"))
        self->state = RB_DB_RESTORING;
    else if (streq (word, "recovering"))
        self->state = RB_DB_RECOVERING;
    else if (streq (word, "normal"))
        self->state = RB_DB_NORMAL;
    if (self->state != before)
        zsys_info ("db %s: state %s -> %s", self->name,
                   rb_db_state_name (before), rb_db_state_name (self->state));
}

/*  Tells every service node the epoch (RESET): what they cached from an
    older one is dropped; a node at this epoch already loses nothing.  */
static void
s_send_reset (rb_db_view_t *self)
{
    rb_body_t reset;
    rb_body_init (&reset, RB_T_RESET);
    reset.epoch = self->epoch;
    rb_bus_push (self->bus, RB_ADDR_ROLE, "service", &reset);
    self->n_resets++;
    self->reset_regs = rb_bus_registrations (self->bus);
}

void
rb_db__view_saw_epoch (rb_db_view_t *self, uint64_t epoch)
{
    if (epoch <= self->epoch)
        return;
    zsys_info ("db %s: epoch %" PRIu64 " -> %" PRIu64 ": RESET to services",
               self->name, self->epoch, epoch);
    self->epoch = epoch;
    s_send_reset (self);
    s_save (self);
}

void
rb_db__view_restoring (rb_db_view_t *self, const char *dataset, uint64_t epoch)
{
    snprintf (self->dataset, sizeof self->dataset, "%s", dataset);
    self->epoch = epoch;
    rb_db__view_saw_state (self, "restoring");
    s_send_reset (self);
    s_save (self);
}

/*  --- reading Redis ------------------------------------------------------- */

/*  Partitions below epoch (a transition made on another, not yet
    here) follow it. Logged once per partition moved.  */
static void
s_follow (rb_db_view_t *self, const char *dataset, uint64_t epoch)
{
    static const char *const keys[] = {"meta", "stable"};
    char at[24];
    snprintf (at, sizeof at, "%" PRIu64, epoch);
    const char *argv[] = {dataset, at};
    int parts = rb_parts_count (self->store);
    if (rb_batch_all (self->batch, self->store, parts, RB_SCRIPT_FOLLOW, keys,
                      2, 2, argv))
        return;
    int moved = 0;
    for (int p = 0; p < parts; p++) {
        rb_follow_reply_t rep;
        if (rb_follow_reply_parse (rb_batch_reply (self->batch, p), &rep) == 0)
            moved += rep.moved;
    }
    if (moved)
        zsys_warning ("db %s: %d partition(s) behind epoch %" PRIu64
                      " followed it: dataset recovering",
                      self->name, moved, epoch);
    rb_batch_reset (self->batch);
}

void
rb_db__view_refresh (rb_db_view_t *self)
{
    char ds[64];
    rb_db__view_arg (self, ds, sizeof ds);
    rb_status_reply_t st;
    int rc = rb_parts_status (self->batch, self->store, ds, &st, NULL);
    rb_batch_reset (self->batch);
    if (rc == 0 && st.epoch < self->epoch)
        rc = -1, snprintf (st.word, sizeof st.word, "foreign");
    if (rc == 0) {
        if (!self->dataset[0]) {
            memcpy (self->dataset, st.dataset, sizeof self->dataset);
            zsys_info ("db %s: serving dataset %s", self->name, self->dataset);
            s_save (self);
        }
        rb_db__view_saw_epoch (self, st.epoch);
        if (st.lagging && !streq (st.state, "restoring"))
            s_follow (self, st.dataset, st.epoch);
        rb_db__view_saw_state (self, st.state);
        if (streq (st.state, "normal"))
            rb_db__view_saw_normal (self, st.epoch);
        self->recovering = st.recovering;
    } else if (rc == -1) {
        if (streq (st.word, "parts"))
            zsys_error ("db %s: the dataset in Redis was made with another "
                        "number of partitions than %d (one Redis: 1, a "
                        "cluster: %d): move it by a backup and a restore",
                        self->name, rb_parts_count (self->store),
                        RB_PARTS_CLUSTER);
        rb_db__view_saw_state (self, st.word);
    }
}

void
rb_db__view_tick (rb_db_view_t *self)
{
    rb_db__view_refresh (self);
    /* once per registration with the broker (start-up, broker restart,
       expiry): a RESET sent by a restore that crashed before it reached
       the services (or by a node that died) is sent again  */
    if (self->epoch && rb_bus_registered (self->bus) &&
        rb_bus_registrations (self->bus) != self->reset_regs)
        s_send_reset (self);
}
