/*  rb_db_backup: a backup's walk of Redis into a file (rb_db_int.h), run
    by the job's thread (rb_db_job.c) on its own Redis connection: the
    dataset's state read first and last (a restore meanwhile fails it),
    every record read with SCAN on every master at one slot map, written
    by rb_backup_writer, then the retention of backup-keep.  */
#include "rb_backup.h"
#include "rb_db_int.h"
#include "rb_crc16.h"
#include "rb_parts.h"

#include <assert.h>
#include <inttypes.h>
#include <stdarg.h>

#define RB_SCAN_COUNT 2000 /* keys per SCAN step */

typedef struct {
    rb_store_t *store;
    const rb_db_backup_opts_t *opts;
    int code;  /* the failure's RB_S_ code, 0 until one */
    char *err; /* and what it says */
    size_t errlen;
} backup_t;

/*  Keeps the first failure's code and text; returns -1.  */
static int
s_fail (backup_t *bk, int code, const char *fmt, ...)
{
    va_list args;
    va_start (args, fmt);
    vsnprintf (bk->err, bk->errlen, fmt, args);
    va_end (args);
    bk->code = code;
    return -1;
}

/*  Reads dataset, epoch and watermark (of every partition: the highest);
    the state must be normal.  */
static int
s_snapshot_meta (backup_t *bk, rb_batch_t *b, rb_backup_header_t *h)
{
    char ds[64];
    snprintf (ds, sizeof ds, "%s/%" PRIu64, bk->opts->dataset, bk->opts->epoch);
    rb_status_reply_t st;
    const char *error = NULL;
    int rc = rb_parts_status (b, bk->store, ds, &st, &error);
    if (rc == -3)
        rc = s_fail (bk, RB_S_UNAVAILABLE, "%s", rb_store_errstr (bk->store));
    else if (rc == -1)
        rc = s_fail (bk, RB_S_UNAVAILABLE, "no dataset to back up (%s)",
                     st.word);
    else if (rc == -2)
        rc = s_fail (bk, RB_S_INTERNAL, "STATUS: %s",
                     error ? error : "unexpected reply from Redis");
    else if (!streq (st.state, "normal"))
        rc = s_fail (bk, RB_S_WRONG_STATE,
                     "a backup needs state normal, not %s", st.state);
    else {
        h->epoch = st.epoch;
        h->watermark = st.watermark;
        memcpy (h->dataset, st.dataset, 33);
    }
    rb_batch_reset (b);
    return rc;
}

/*  Converts one HMGET v s d reply into a record; -1 if the key vanished
    (Redis flushed under us) or the reply is not what we wrote.  */
static int
s_to_record (const redisReply *r, const redisReply *key,
             rb_backup_record_t *rec)
{
    size_t klen = 0;
    const char *k = rb_part_record_key (key->str, key->len, &klen);
    if (!k || klen > RB_BACKUP_KEY_MAX || !r || r->type != REDIS_REPLY_ARRAY ||
        r->elements != 3 || r->element[0]->type != REDIS_REPLY_STRING ||
        r->element[1]->type != REDIS_REPLY_STRING)
        return -1;
    char *end;
    rec->key = k;
    rec->key_len = (uint32_t) klen;
    rec->tombstone = r->element[2]->type == REDIS_REPLY_STRING &&
                     streq (r->element[2]->str, "1");
    rec->value = (const uint8_t *) r->element[0]->str;
    rec->value_len = rec->tombstone ? 0 : (uint32_t) r->element[0]->len;
    rec->seq = strtoull (r->element[1]->str, &end, 10);
    return *end ? -1 : 0;
}

/*  Writes the records of one SCAN step: HMGET each key, pipelined (on a
    cluster each goes to the master of its slot: a key that moved since
    the SCAN is read where it is now).  */
static int
s_write_keys (backup_t *bk, rb_batch_t *b, rb_backup_writer_t *w,
              const redisReply *keys, uint64_t *records)
{
    size_t n = keys->elements;
    rb_batch_reset (b);
    for (size_t i = 0; i < n; i++) {
        const redisReply *k = keys->element[i];
        if (k->type != REDIS_REPLY_STRING)
            return s_fail (bk, RB_S_IO, "bad SCAN reply from Redis");
        rb_batch_call (b, -1, rb_key_slot (k->str, k->len));
        rb_batch_str (b, "HMGET");
        rb_batch_arg (b, k->str, k->len);
        rb_batch_str (b, "v");
        rb_batch_str (b, "s");
        rb_batch_str (b, "d");
    }
    if (rb_batch_run (b, bk->store))
        return s_fail (bk, RB_S_IO, "%s", rb_store_errstr (bk->store));
    for (size_t i = 0; i < n; i++) {
        rb_backup_record_t rec;
        char err[256];
        if (s_to_record (rb_batch_reply (b, (int) i), keys->element[i], &rec))
            return s_fail (bk, RB_S_WRONG_STATE,
                           "record %s changed shape during the backup (Redis "
                           "flushed?)",
                           keys->element[i]->str);
        if (rb_backup_writer_add (w, &rec, err, sizeof err))
            return s_fail (bk, RB_S_IO, "%s", err);
        (*records)++;
    }
    return 0;
}

/*  On a cluster: who owns which slots, from CLUSTER NODES (each master's
    id and slot ranges, sorted), into a new string; "" on one Redis. A
    slot being moved shows as [SLOT->-ID] or [SLOT-<-ID]. NULL, with the
    failure sent, if it cannot be read.  */
static char *
s_topology (backup_t *bk)
{
    if (!rb_store_is_cluster (bk->store))
        return strdup ("");
    redisReply *r = rb_store_command_at (bk->store, 0, "CLUSTER NODES");
    if (!r || r->type != REDIS_REPLY_STRING) {
        s_fail (bk, RB_S_IO, "CLUSTER NODES: %s",
                r && r->str ? r->str : rb_store_errstr (bk->store));
        freeReplyObject (r);
        return NULL;
    }
    zlistx_t *lines = zlistx_new ();
    zlistx_set_destructor (lines, (zlistx_destructor_fn *) zstr_free);
    zlistx_set_comparator (lines, (zlistx_comparator_fn *) strcmp);
    char *text = strdup (r->str), *save = NULL;
    assert (text);
    for (char *line = strtok_r (text, "\n", &save); line;
         line = strtok_r (NULL, "\n", &save)) {
        /* id addr flags master ping pong epoch link slot... */
        char *f[9] = {0}, *fs = NULL;
        int n = 0;
        for (char *t = strtok_r (line, " ", &fs); t && n < 9;
             t = strtok_r (NULL, " ", &fs))
            f[n++] = t;
        if (n < 8 || !strstr (f[2], "master"))
            continue;
        char *slots = n == 9 ? f[8] : (char *) "";
        char *rest = fs && *fs ? fs : (char *) "";
        zlistx_add_end (lines, zsys_sprintf ("%s %s %s", f[0], slots, rest));
    }
    free (text);
    freeReplyObject (r);
    zlistx_sort (lines);
    char *out = strdup ("");
    for (char *l = (char *) zlistx_first (lines); l;
         l = (char *) zlistx_next (lines)) {
        char *grown = zsys_sprintf ("%s%s\n", out, l);
        free (out);
        out = grown;
    }
    zlistx_destroy (&lines);
    return out;
}

/*  Walks every record with SCAN, on every master in turn. A key may come
    twice (SCAN's promise during a rehash, or a resharding that moves it
    from a master not yet walked to one walked already is the reverse:
    see docs/db.md); the later copy is at least as new, and restore lets
    it win.  */
static int
s_scan_masters (backup_t *bk, rb_batch_t *b, rb_backup_writer_t *w,
                uint64_t *records)
{
    for (int m = 0; m < rb_store_masters (bk->store); m++) {
        char cursor[32] = "0";
        do {
            redisReply *r = rb_store_command_at (
                bk->store, m, "SCAN %s MATCH rb:{*}:r:* COUNT %d", cursor,
                RB_SCAN_COUNT);
            if (!r || r->type != REDIS_REPLY_ARRAY || r->elements != 2 ||
                r->element[0]->type != REDIS_REPLY_STRING ||
                r->element[1]->type != REDIS_REPLY_ARRAY) {
                freeReplyObject (r);
                return s_fail (bk, RB_S_IO, "SCAN failed: %s",
                               rb_store_errstr (bk->store));
            }
            snprintf (cursor, sizeof cursor, "%s", r->element[0]->str);
            int rc = s_write_keys (bk, b, w, r->element[1], records);
            freeReplyObject (r);
            if (rc)
                return rc;
            if (bk->opts->stopping (bk->opts->arg))
                return s_fail (bk, RB_S_INTERNAL, "stopped");
        } while (strcmp (cursor, "0") != 0);
    }
    return 0;
}

/*  Every master's records, at one slot map: a resharding that moved a
    slot while the masters were walked in turn could hide its keys from
    both walks, so a backup taken while slots move, or across a change of
    the map, fails (try again when the resharding is done).  */
static int
s_scan_all (backup_t *bk, rb_batch_t *b, rb_backup_writer_t *w,
            uint64_t *records)
{
    char *before = s_topology (bk);
    if (!before)
        return -1;
    int rc = strchr (before, '[')
                 ? s_fail (bk, RB_S_WRONG_STATE,
                           "slots are being moved (a resharding runs): "
                           "back up when it is done")
                 : s_scan_masters (bk, b, w, records);
    char *after = rc ? NULL : s_topology (bk);
    if (rc == 0 && !after)
        rc = -1;
    else if (rc == 0 && strcmp (before, after) != 0)
        rc = s_fail (bk, RB_S_WRONG_STATE,
                     "the cluster's slots moved during the backup: back "
                     "up again");
    free (before);
    free (after);
    return rc;
}

/*  Retention after a backup: the backup-keep newest of the dataset stay,
    path (the one just written) among them.  */
static void
s_keep (backup_t *bk, const char *dataset, const char *path)
{
    const rb_db_opts_t *o = bk->opts->opts;
    char err[400];
    if (rb_backup_prune (o->backup_dir, bk->opts->trust, dataset,
                         o->backup_keep, path, err, sizeof err) < 0)
        zsys_warning ("db %s: backup-keep: %s", o->name, err);
}

/*  Writes the records into a new file once the walk is whole.  */
static int
s_write (backup_t *bk, rb_batch_t *b, rb_backup_header_t *h,
         rb_db_backup_done_t *done)
{
    rb_backup_header_t after;
    h->created_ms = (uint64_t) zclock_time ();
    char err[400];
    rb_backup_writer_t *w = rb_backup_writer_new (
        bk->opts->opts->backup_dir, h, bk->opts->key, err, sizeof err);
    if (!w)
        return s_fail (bk, RB_S_IO, "%s", err);
    /* the same dataset and epoch at the end: no restore ran meanwhile */
    if (s_scan_all (bk, b, w, &done->records) ||
        s_snapshot_meta (bk, b, &after)) {
        rb_backup_writer_abort (&w);
        return -1;
    }
    if (!streq (after.dataset, h->dataset) || after.epoch != h->epoch) {
        rb_backup_writer_abort (&w);
        return s_fail (bk, RB_S_WRONG_STATE,
                       "Redis was restored during the backup");
    }
    if (rb_backup_writer_finish (&w, &done->path, &done->bytes, err,
                                 sizeof err))
        return s_fail (bk, RB_S_IO, "%s", err);
    done->watermark = h->watermark;
    return 0;
}

int
rb_db__backup (rb_store_t *store, const rb_db_backup_opts_t *opts,
               rb_db_backup_done_t *done, char *err, size_t errlen)
{
    backup_t bk = {store, opts, 0, err, errlen};
    rb_backup_header_t h;
    memset (&h, 0, sizeof h);
    memset (done, 0, sizeof *done);
    rb_batch_t *b = rb_batch_new ();
    int rc = s_snapshot_meta (&bk, b, &h);
    if (rc == 0 && (rc = s_write (&bk, b, &h, done)) == 0)
        s_keep (&bk, h.dataset, done->path);
    rb_batch_destroy (&b);
    assert (rc == 0 || bk.code != 0);
    if (rc) {
        free (done->path);
        done->path = NULL;
    }
    return rc ? bk.code : 0;
}
