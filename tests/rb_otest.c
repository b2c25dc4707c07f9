/*  rb_otest: what the recobus-ops suites share (see rb_otest.h). */
#include "rb_otest.h"

#include "rb_parts.h"

#include <signal.h>
#include <stdlib.h>
#include <string.h>

rb_ot_t rb_ot;

void
rb_ot_setup (void)
{
    memset (&rb_ot, 0, sizeof rb_ot);
    rb_ot.c = rb_fixture_cluster (NULL);
    rb_tnode_start (&rb_ot.probe, rb_ot.c, RB_ROLE_OPS, "probe");
    rb_ot.dir = rb_temp_dir ("rb-ops-test");
    ck_assert_ptr_nonnull (rb_ot.dir);
    snprintf (rb_ot.journal, sizeof rb_ot.journal, "%s/ops.journal", rb_ot.dir);
}

void
rb_ot_teardown (void)
{
    rb_proc_destroy (&rb_ot.db);
    rb_tnode_stop (&rb_ot.probe);
    rb_cluster_destroy (&rb_ot.c);
    rb_remove_tree (rb_ot.dir);
    free (rb_ot.dir);
}

void
rb_ot_db_start (bool init)
{
    char *argv[] = {RB_OT_DB_BIN,
                    "--broker",
                    rb_ot.c->bus,
                    rb_ot.c->rcluster ? "--redis-cluster" : "--redis",
                    rb_ot.c->rcluster
                        ? (char *) rb_rcluster_seeds (rb_ot.c->rcluster)
                        : rb_ot.c->redis_address,
                    "--backup-dir",
                    rb_ot.c->backups,
                    "--name",
                    "db-1",
                    init ? "--init" : NULL,
                    NULL};
    rb_ot.db = rb_proc_start (argv, NULL);
    ck_assert_ptr_nonnull (rb_ot.db);
    ck_assert_int_eq (rb_proc_wait_output (rb_ot.db, "serving", 10000), 0);
    rb_tnode_wait_db (&rb_ot.probe);
}

void
rb_ot_db_kill (void)
{
    rb_proc_kill (rb_ot.db, SIGKILL);
    ck_assert_int_eq (rb_proc_wait (rb_ot.db, 5000), 128 + SIGKILL);
    rb_proc_destroy (&rb_ot.db);
}

/*  --- running recobus-ops ------------------------------------------------ */

/*  Keeps the probe alive on the bus while recobus-ops runs. */
static void
s_pump (void *probe)
{
    rb_tnode_pump ((rb_tnode_t *) probe, 10);
}

rb_proc_t *
rb_ot_ops_start (const char *const *args)
{
    rb_opsrun_opts_t o = {RB_OT_OPS_BIN, rb_ot.c->bus, rb_ot.journal, 5000,
                          false,         NULL,         NULL};
    rb_proc_t *p = rb_opsrun_start (&o, args);
    ck_assert_ptr_nonnull (p);
    return p;
}

rb_opsrun_t
rb_ot_ops_wait (rb_proc_t **p_p)
{
    rb_opsrun_t r = rb_opsrun_wait (p_p, 120000, s_pump, &rb_ot.probe);
    ck_assert_msg (r.rc != -1, "recobus-ops still running: %s", r.err);
    return r;
}

rb_opsrun_t
rb_ot_ops (const char *const *args)
{
    rb_proc_t *p = rb_ot_ops_start (args);
    return rb_ot_ops_wait (&p);
}

char *
rb_ot_expect (int rc, const char *const *args)
{
    rb_opsrun_t r = rb_ot_ops (args);
    ck_assert_msg (r.rc == rc, "%s %s: exit %d, want %d; stdout: %s stderr: %s",
                   args[0], args[1] ? args[1] : "", r.rc, rc, r.out, r.err);
    free (r.err);
    return r.out;
}

/*  --- its JSON ------------------------------------------------------------ */

json_t *
rb_ot_json_line (const char *text, int index)
{
    for (int i = 0; i < index && text; i++) {
        text = strchr (text, '\n');
        text = text ? text + 1 : NULL;
    }
    ck_assert_ptr_nonnull (text);
    json_error_t err;
    json_t *obj = json_loadb (text, strcspn (text, "\n"), 0, &err);
    ck_assert_msg (obj != NULL, "not JSON: %s (%s)", text, err.text);
    return obj;
}

json_int_t
rb_ot_int (json_t *obj, const char *name)
{
    json_t *v = json_object_get (obj, name);
    ck_assert_msg (json_is_integer (v), "no integer %s", name);
    return json_integer_value (v);
}

const char *
rb_ot_str (json_t *obj, const char *name)
{
    const char *v = json_string_value (json_object_get (obj, name));
    ck_assert_msg (v != NULL, "no string %s", name);
    return v;
}

json_t *
rb_ot_status (int rc)
{
    char *out = EXPECT (rc, "--json", "status");
    ck_assert_msg (strchr (out, '\n') == out + strlen (out) - 1,
                   "not one line: %s", out);
    json_t *st = rb_ot_json_line (out, 0);
    free (out);
    return st;
}

/*  --- the data in Redis ------------------------------------------------ */

char *
rb_ot_load_file (const char *name, const char *key, const char *value, int from,
                 int to)
{
    char *path = zsys_sprintf ("%s/%s", rb_ot.dir, name);
    FILE *f = fopen (path, "w");
    ck_assert_ptr_nonnull (f);
    for (int i = from; i < to; i++)
        fprintf (f, "%s%d\t%s%d\n", key, i, value, i);
    fclose (f);
    return path;
}

/*  The record of key in Redis: "-" absent, "(del)" tombstone, else the
    value; *seq its seq. Caller frees.  */
static char *
s_record (const char *key, uint64_t *seq)
{
    int p = rb_part_of (rb_ot.c->rcluster ? RB_PARTS_CLUSTER : 1, key,
                        strlen (key));
    redisReply *r = rb_cluster_redis_cmd (rb_ot.c, rb_part_slot (p),
                                          "HMGET rb:{%d}:r:%s v s d", p, key);
    ck_assert_ptr_nonnull (r);
    ck_assert_int_eq (r->type, REDIS_REPLY_ARRAY);
    char *v;
    if (r->element[1]->type != REDIS_REPLY_STRING)
        v = strdup ("-");
    else if (r->element[2]->type == REDIS_REPLY_STRING &&
             streq (r->element[2]->str, "1"))
        v = strdup ("(del)");
    else
        v = strdup (r->element[0]->str);
    *seq = r->element[1]->type == REDIS_REPLY_STRING
               ? strtoull (r->element[1]->str, NULL, 10)
               : 0;
    freeReplyObject (r);
    return v;
}

void
rb_ot_expect_record (const char *key, const char *value, uint64_t seq)
{
    uint64_t got_seq;
    char *got = s_record (key, &got_seq);
    ck_assert_msg (streq (got, value) && got_seq == seq,
                   "%s: %s at seq %d, want %s at seq %d", key, got,
                   (int) got_seq, value, (int) seq);
    free (got);
}
