/*  rb_db_load: a restore's load (docs/db.md, "Backups and restores"):
    every record of a backup the job has verified goes into Redis, which
    RESTORE_BEGIN left empty but for rb:meta. The file is read a second
    time and every check is made again as it goes (the reader's).

    A record is one command, RESTORE rb:{N}:r:KEY 0 PAYLOAD REPLACE: the
    record hash in Redis's own serialized form (rb_encode.h), which Redis
    takes whole instead of building it field by field as HSET does, and
    keeps compact (a listpack, whatever the value's size). REPLACE: a key
    twice in a backup (SCAN's promise during a rehash) is loaded twice and
    the later copy wins, as with HSET. A Redis that refuses the first
    RESTORE (older than 7.0, or an ACL that denies it) gets HSET rb:r:KEY
    v VALUE s SEQ d 0|1 for every record instead, with a warning. The
    tombstones of a round go into rb:{0}:tombs with one SADD on one Redis;
    on a cluster each goes with an SADD of its own to its partition's.

    Rounds of RB_LOAD_BATCH commands, formatted straight into the Redis
    protocol (rb_encode.h); two rounds stay in flight, so Redis works on
    one while the next is read and written, as redis-cli --pipe does.
    Each round renews the restore's lease. On a Redis Cluster each
    command goes to the master of its partition's slot (rb_store_bulk_add)
    and a round is sent and read before the next is made.  */
#include "rb_db_int.h"
#include "rb_encode.h"
#include "rb_parts.h"

#include <assert.h>
#include <inttypes.h>

#define RB_LOAD_BATCH 5000 /* commands per pipeline round */

typedef struct {
    rb_store_t *store;
    const rb_db_load_opts_t *opts;
    bool hset;          /* RESTORE refused: HSET for each record */
    rb_resp_t round;    /* this round's commands */
    rb_resp_t tombs;    /* this round's tombstone keys, as arguments */
    size_t n_tombs;     /* keys in tombs */
    uint8_t *payload;   /* one record's DUMP payload */
    size_t payload_cap; /* bytes allocated in payload */
    int batch;          /* commands in round */
    int queued;         /* the previous round's, replies unread */
    char err[256];      /* why the load failed */
    int parts;          /* the dataset's partitions (rb_parts.h) */
    bool cluster;       /* a Redis Cluster: every command routed alone */
    size_t *offs;       /* cluster: where each command of the round starts */
    int *slots;         /* and its slot */
    int n_cmds, cap_cmds;
    char prefix[24];    /* "rb:{N}:r:" of the record being added */
    size_t prefix_len;
} load_t;

static int
s_fail (load_t *self, int code, const char *what)
{
    snprintf (self->err, sizeof self->err, "%s", what);
    return code;
}

/*  A command of partition p starts in the round (on a cluster, each is
    sent to the master of its slot).  */
static void
s_mark (load_t *self, int p)
{
    if (!self->cluster)
        return;
    if (self->n_cmds == self->cap_cmds) {
        self->cap_cmds = self->cap_cmds ? self->cap_cmds * 2 : 1024;
        self->offs = (size_t *) realloc (self->offs,
                                         (size_t) self->cap_cmds * sizeof (size_t));
        self->slots =
            (int *) realloc (self->slots, (size_t) self->cap_cmds * sizeof (int));
        assert (self->offs && self->slots);
    }
    self->offs[self->n_cmds] = self->round.len;
    self->slots[self->n_cmds++] = rb_part_slot (p);
}

/*  The record's partition: its name prefix, and its command marked. */
static int
s_record_part (load_t *self, const rb_backup_record_t *rec)
{
    int p = rb_part_of (self->parts, rec->key, rec->key_len);
    self->prefix_len =
        (size_t) snprintf (self->prefix, sizeof self->prefix, "rb:{%d}:r:", p);
    s_mark (self, p);
    return p;
}

/*  The DUMP payload of rec into self->payload; its length.  */
static size_t
s_payload (load_t *self, const rb_backup_record_t *rec)
{
    size_t need = rb_dump_size (rec->value_len);
    if (need > self->payload_cap) {
        free (self->payload);
        self->payload_cap = need * 2;
        self->payload = (uint8_t *) malloc (self->payload_cap);
        assert (self->payload);
    }
    return rb_dump_record (self->payload, rec->value, rec->value_len, rec->seq,
                           rec->tombstone);
}

/*  RESTORE rb:{N}:r:KEY 0 PAYLOAD REPLACE into the round.  */
static void
s_restore_cmd (load_t *self, const rb_backup_record_t *rec)
{
    s_record_part (self, rec);
    size_t len = s_payload (self, rec);
    static const char head[] = "*5\r\n$7\r\nRESTORE\r\n";
    static const char ttl[] = "$1\r\n0\r\n";
    static const char tail[] = "$7\r\nREPLACE\r\n";
    rb_resp_raw (&self->round, head, sizeof head - 1);
    rb_resp_bulk2 (&self->round, self->prefix, self->prefix_len, rec->key,
                   rec->key_len);
    rb_resp_raw (&self->round, ttl, sizeof ttl - 1);
    rb_resp_bulk (&self->round, self->payload, len);
    rb_resp_raw (&self->round, tail, sizeof tail - 1);
}

/*  HSET rb:{N}:r:KEY v VALUE s SEQ d 0|1 into the round.  */
static void
s_hset_cmd (load_t *self, const rb_backup_record_t *rec)
{
    s_record_part (self, rec);
    rb_resp_array (&self->round, 8);
    rb_resp_bulk (&self->round, "HSET", 4);
    rb_resp_bulk2 (&self->round, self->prefix, self->prefix_len, rec->key,
                   rec->key_len);
    rb_resp_bulk (&self->round, "v", 1);
    rb_resp_bulk (&self->round, rec->value, rec->value_len);
    rb_resp_bulk (&self->round, "s", 1);
    rb_resp_uint (&self->round, rec->seq);
    rb_resp_bulk (&self->round, "d", 1);
    rb_resp_bulk (&self->round, rec->tombstone ? "1" : "0", 1);
}

/*  The first record: RESTORE alone, whether Redis takes it. 0 yes
    (loaded), 1 no (HSET from now on: the record not loaded yet), -1 the
    connection failed.  */
static int
s_probe (load_t *self, const rb_backup_record_t *rec)
{
    int p = rb_part_of (self->parts, rec->key, rec->key_len);
    char name[40 + RB_BACKUP_KEY_MAX];
    size_t nlen = rb_part_key (name, sizeof name, p, "r:", rec->key,
                               rec->key_len);
    size_t len = s_payload (self, rec);
    const char *argv[] = {"RESTORE", name, "0", (const char *) self->payload,
                          "REPLACE"};
    size_t lens[] = {7, nlen, 1, len, 7};
    rb_call_t call = {.script = -1, .argc = 5, .argv = argv, .lens = lens,
                      .slot = rb_part_slot (p)};
    if (rb_store_run (self->store, &call, 1))
        return -1;
    int rc = 0;
    if (call.reply->type == REDIS_REPLY_ERROR) {
        zsys_warning ("db %s: Redis refuses RESTORE (%s): loading with HSET, "
                      "which is slower",
                      self->opts->name, call.reply->str);
        self->hset = true;
        rc = 1;
    }
    rb_store_free_replies (&call, 1);
    return rc;
}

/*  Adds one record to the round: its command, and its key to the
    round's tombstones. The very first record asks Redis at once whether
    it takes RESTORE.  */
static int
s_add (load_t *self, const rb_backup_record_t *rec, bool first)
{
    if (first) {
        int rc = s_probe (self, rec);
        if (rc < 0)
            return s_fail (self, RB_S_IO, rb_store_errstr (self->store));
        if (rc == 1)
            s_hset_cmd (self, rec);
        self->batch += rc;
    } else {
        if (self->hset)
            s_hset_cmd (self, rec);
        else
            s_restore_cmd (self, rec);
        self->batch++;
    }
    if (rec->tombstone && self->parts > 1) {
        /* on a cluster, one SADD each: the keys of a round are in many
           partitions */
        int p = rb_part_of (self->parts, rec->key, rec->key_len);
        char name[24];
        size_t n = rb_part_key (name, sizeof name, p, "tombs", NULL, 0);
        s_mark (self, p);
        rb_resp_array (&self->round, 3);
        rb_resp_bulk (&self->round, "SADD", 4);
        rb_resp_bulk (&self->round, name, n);
        rb_resp_bulk (&self->round, rec->key, rec->key_len);
        self->batch++;
    } else if (rec->tombstone) {
        rb_resp_bulk (&self->tombs, rec->key, rec->key_len);
        self->n_tombs++;
    }
    return 0;
}

/*  On a cluster: every command of the round to the master of its slot,
    and every reply read.  */
static int
s_round_cluster (load_t *self)
{
    for (int i = 0; i < self->n_cmds; i++) {
        size_t end = i + 1 < self->n_cmds ? self->offs[i + 1] : self->round.len;
        if (rb_store_bulk_add (self->store, self->slots[i],
                               self->round.data + self->offs[i],
                               end - self->offs[i]))
            return s_fail (self, RB_S_IO, rb_store_errstr (self->store));
    }
    self->round.len = 0;
    self->n_cmds = 0;
    self->batch = 0;
    if (rb_store_bulk_flush (self->store))
        return s_fail (self, RB_S_IO, rb_store_errstr (self->store));
    return 0;
}

/*  Ends the round: its SADD of tombstones and the lease, all sent; then the
    previous round's replies are read (this one goes out first).  */
static int
s_round (load_t *self, bool last)
{
    if (self->n_tombs) {
        rb_resp_array (&self->round, 2 + self->n_tombs);
        rb_resp_bulk (&self->round, "SADD", 4);
        rb_resp_bulk (&self->round, "rb:{0}:tombs", 12);
        memcpy (rb_resp_room (&self->round, self->tombs.len), self->tombs.data,
                self->tombs.len);
        self->round.len += self->tombs.len;
        self->tombs.len = 0;
        self->n_tombs = 0;
        self->batch++;
    }
    if (!last) {
        s_mark (self, 0);
        rb_resp_array (&self->round, 4);
        rb_resp_bulk (&self->round, "HSET", 4);
        rb_resp_bulk (&self->round, "rb:{0}:meta", 11);
        rb_resp_bulk (&self->round, "restore_until", 13);
        rb_resp_uint (&self->round, self->opts->lease_until (self->opts->arg));
        self->batch++;
    }
    if (self->cluster) /* each command to its master; no round in flight */
        return s_round_cluster (self);
    if (self->round.len &&
        rb_store_append_resp (self->store, self->round.data, self->round.len))
        return s_fail (self, RB_S_IO, rb_store_errstr (self->store));
    self->round.len = 0;
    int unread = self->queued + (last ? self->batch : 0);
    if (unread && rb_store_drain (self->store, unread))
        return s_fail (self, RB_S_IO, rb_store_errstr (self->store));
    self->queued = last ? 0 : self->batch;
    self->batch = 0;
    return 0;
}

static int
s_load_all (load_t *self, rb_backup_reader_t *reader, uint64_t *records)
{
    rb_backup_record_t rec;
    int rc;
    while ((rc = rb_backup_reader_next (reader, &rec)) == 1) {
        int failed = s_add (self, &rec, *records == 0);
        if (failed)
            return failed;
        (*records)++;
        if (self->batch < RB_LOAD_BATCH)
            continue;
        if ((failed = s_round (self, false)))
            return failed;
        if (self->opts->progress)
            self->opts->progress (self->opts->arg, *records);
        if (self->opts->stopping (self->opts->arg))
            return s_fail (self, RB_S_INTERNAL, "stopped");
    }
    int failed = s_round (self, true);
    if (failed)
        return failed;
    if (rc < 0)
        return s_fail (self, RB_S_CORRUPT, rb_backup_reader_error (reader));
    return 0;
}

int
rb_db__load (rb_store_t *store, rb_backup_reader_t *reader,
             const rb_db_load_opts_t *opts, uint64_t *records, char *err,
             size_t errlen)
{
    load_t self;
    memset (&self, 0, sizeof self);
    self.store = store;
    self.opts = opts;
    self.parts = rb_parts_count (store);
    self.cluster = rb_store_is_cluster (store);
    *records = 0;
    int rc = s_load_all (&self, reader, records);
    if (rc)
        snprintf (err, errlen, "%s", self.err);
    rb_resp_free (&self.round);
    rb_resp_free (&self.tombs);
    free (self.payload);
    free (self.offs);
    free (self.slots);
    return rc;
}
