/*  test_journal_repair: journal check and repair on their own: every
    damaged span reported with its offset, a torn tail told apart, the
    valid prefix kept and the rest set aside byte for byte, the lost
    orders named, the next seq kept above every seq the damaged part may
    have used (or the repair refused), and a writer that waited through
    a repair going on in the repaired file.  */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "rb_jtest.h"
#include "rb_journal_repair.h"
#include "rb_proc.h"
#include "rb_testing.h"

#define FLOOR_RECORD 21 /* frame and payload of a seq floor record */

static char *s_dir;
static char s_path[512];

static void
s_setup (void)
{
    rb_jt_make_dir (&s_dir, s_path, sizeof s_path, "rb-jrepair-test");
}

static void
s_teardown (void)
{
    rb_jt_remove_dir (&s_dir);
}

/*  Journal records: an order, or (key NULL) an acknowledgement. */
typedef struct {
    const char *key, *value;
    uint64_t lo, hi;
} step_t;

/*  a=1, b=2, ack 1..2, c=3, d=4, ack 3..4, e=5, ack 5. */
static const step_t s_steps[] = {{"a", "1", 0, 0},   {"b", "2", 0, 0},
                                 {NULL, NULL, 1, 2}, {"c", "3", 0, 0},
                                 {"d", "4", 0, 0},   {NULL, NULL, 3, 4},
                                 {"e", "5", 0, 0},   {NULL, NULL, 5, 5}};
#define STEPS 8

/*  Writes the first n steps; at[i] gets the offset of record i, at[n]
    the file's size.  */
static void
s_build (int n, long *at)
{
    rb_journal_t *j = rb_jt_open (s_path);
    for (int i = 0; i < n; i++) {
        at[i] = rb_jt_size (s_path);
        const step_t *s = &s_steps[i];
        if (s->key)
            rb_jt_put (j, s->key, s->value);
        else
            rb_jt_ack (j, s->lo, s->hi, s->hi);
    }
    rb_journal_destroy (&j);
    at[n] = rb_jt_size (s_path);
}

static void
s_flip (long offset, int mask)
{
    FILE *f = fopen (s_path, "r+b");
    ck_assert_ptr_nonnull (f);
    fseek (f, offset, SEEK_SET);
    int c = fgetc (f);
    fseek (f, offset, SEEK_SET);
    fputc (c ^ mask, f);
    fclose (f);
}

static rb_jcheck_t *
s_check (bool exclusive)
{
    rb_journal_err_t err;
    rb_jcheck_t *c = rb_jcheck_new (s_path, exclusive, 0, &err);
    ck_assert_msg (c != NULL, "check: %s", err.text);
    return c;
}

/*  Files in the test dir whose name starts with prefix. */
static int
s_count_files (const char *prefix)
{
    DIR *d = opendir (s_dir);
    int n = 0;
    for (struct dirent *e = readdir (d); e; e = readdir (d))
        n += strncmp (e->d_name, prefix, strlen (prefix)) == 0;
    closedir (d);
    return n;
}

START_TEST (journal_check_reports_every_damaged_record_with_its_offset)
{
    long at[STEPS + 1], len;
    s_build (STEPS, at);
    s_flip (at[1] + 20, 0x10); /* b: its payload */
    s_flip (at[4], 0x01);      /* d: its length */
    char *before = rb_jt_slurp (s_path, &len);
    rb_jcheck_t *c = s_check (false);
    const rb_jcheck_info_t *info = rb_jcheck_info (c);
    size_t n;
    const rb_jdamage_t *d = rb_jcheck_damage (c, &n);
    ck_assert_uint_eq (n, 2);
    ck_assert_uint_eq (info->damaged, 2);
    for (int i = 0; i < 2; i++) {
        long off = at[i ? 4 : 1], bytes = at[i ? 5 : 2] - off;
        ck_assert_uint_eq (d[i].offset, (uint64_t) off);
        ck_assert_uint_eq (d[i].bytes, (uint64_t) bytes);
        char want[600];
        snprintf (want, sizeof want, "%s: offset %ld: ", s_path, off);
        ck_assert_msg (strstr (d[i].text, want), "%s", d[i].text);
    }
    /* the acknowledgement of b, after it, is not damage */
    ck_assert_uint_eq (info->records, 6);
    ck_assert_uint_eq (info->orders, 3);
    ck_assert_uint_eq (info->last_seq, 5);
    ck_assert_uint_eq (info->next_seq, 6);
    ck_assert (info->next_known);
    ck_assert (!info->torn);
    ck_assert_uint_eq (info->keep, (uint64_t) at[1]);
    ck_assert_uint_eq (rb_jcheck_lost (c), 2); /* c and e */
    rb_jcheck_destroy (&c);
    ck_assert_ptr_null (c);
    /* an open refuses the journal at the same, first, offset */
    rb_journal_err_t err;
    ck_assert_ptr_null (rb_journal_open (s_path, 0, 0, &err));
    ck_assert_uint_eq (err.offset, (uint64_t) at[1]);
    char *after = rb_jt_slurp (s_path, &len);
    ck_assert_int_eq (memcmp (before, after, (size_t) len), 0);
    free (before);
    free (after);
}
END_TEST

START_TEST (journal_check_calls_a_torn_last_record_torn_not_damage)
{
    long at[STEPS + 1], len;
    s_build (5, at);
    char *buf = rb_jt_slurp (s_path, &len);
    rb_jt_spew (s_path, buf, at[5] - 5);
    free (buf);
    rb_jcheck_t *c = s_check (false);
    const rb_jcheck_info_t *info = rb_jcheck_info (c);
    ck_assert_uint_eq (info->damaged, 0);
    ck_assert (info->torn);
    ck_assert_uint_eq (info->torn_offset, (uint64_t) at[4]);
    ck_assert_ptr_nonnull (strstr (info->torn_why, "cut short"));
    ck_assert_uint_eq (info->orders, 3);
    ck_assert_uint_eq (info->next_seq, 4);
    rb_jcheck_destroy (&c);
    ck_assert_int_eq (rb_jt_size (s_path), at[5] - 5); /* left alone */
    /* a file that is not a journal */
    rb_jt_spew (s_path, "KEY\tVALUE\n", 10);
    rb_journal_err_t err;
    ck_assert_ptr_null (rb_jcheck_new (s_path, false, 0, &err));
    ck_assert_int_eq (err.code, RB_JOURNAL_E_CORRUPT);
    ck_assert_ptr_nonnull (strstr (err.text, "offset 0: not a recobus"));
}
END_TEST

START_TEST (journal_check_shares_the_lock_with_checks_not_with_writers)
{
    long at[STEPS + 1];
    s_build (2, at);
    rb_journal_t *j = rb_jt_open (s_path);
    rb_journal_err_t err;
    ck_assert_ptr_null (rb_jcheck_new (s_path, false, 0, &err));
    ck_assert_int_eq (err.code, RB_JOURNAL_E_LOCKED);
    rb_journal_destroy (&j);
    rb_jcheck_t *c1 = s_check (false), *c2 = s_check (false);
    ck_assert_ptr_null (rb_journal_open (s_path, 0, 0, &err));
    ck_assert_int_eq (err.code, RB_JOURNAL_E_LOCKED);
    ck_assert_ptr_null (rb_jcheck_new (s_path, true, 0, &err));
    rb_jcheck_destroy (&c1);
    rb_jcheck_destroy (&c2);
    j = rb_jt_open (s_path);
    rb_journal_destroy (&j);
}
END_TEST

START_TEST (journal_repair_keeps_the_prefix_and_sets_the_rest_aside)
{
    long at[STEPS + 1], len, n;
    s_build (STEPS, at);
    s_flip (at[1] + 20, 0x10); /* b's payload */
    char *damaged = rb_jt_slurp (s_path, &len);
    rb_jcheck_t *c = s_check (true);
    rb_jrepair_t done;
    rb_journal_err_t err;
    ck_assert_msg (rb_jcheck_repair (c, 0, &done, &err) == 0, "%s", err.text);
    /* the lost orders: b unreadable, then c, d, e readable */
    size_t gaps;
    const rb_jgap_t *g = rb_jcheck_gaps (c, &gaps);
    ck_assert_uint_eq (gaps, 1);
    ck_assert_uint_eq (g[0].lo, 2);
    ck_assert_uint_eq (g[0].hi, 2);
    ck_assert_uint_eq (g[0].offset, (uint64_t) at[1]);
    ck_assert_uint_eq (rb_jcheck_lost (c), 3);
    for (size_t i = 0; i < 3; i++) {
        rb_jorder_t o;
        uint64_t off = rb_jcheck_lost_order (c, i, &o);
        ck_assert_uint_eq (o.seq, i + 3);
        ck_assert_int_eq (o.key[0], "cde"[i]);
        ck_assert_uint_eq (off, (uint64_t) at[i == 2 ? 6 : i + 3]);
    }
    rb_jcheck_destroy (&c);
    /* every byte from b on, aside; before it, the journal, and a floor */
    char want[600];
    snprintf (want, sizeof want, "%s.damaged-", s_path);
    ck_assert_int_eq (strncmp (done.aside, want, strlen (want)), 0);
    snprintf (want, sizeof want, "-%ld", at[1]);
    ck_assert_str_eq (done.aside + strlen (done.aside) - strlen (want), want);
    char *aside = rb_jt_slurp (done.aside, &n);
    ck_assert_int_eq (n, len - at[1]);
    ck_assert_int_eq (memcmp (aside, damaged + at[1], (size_t) n), 0);
    char *kept = rb_jt_slurp (s_path, &n);
    ck_assert_int_eq (n, at[1] + FLOOR_RECORD);
    ck_assert_int_eq (memcmp (kept, damaged, (size_t) at[1]), 0);
    ck_assert_int_eq (s_count_files ("ops.journal.repairing"), 0);
    free (aside);
    free (kept);
    free (damaged);
    /* seqs go on above those of the damaged part: the DB may have them */
    ck_assert_uint_eq (done.next_seq, 6);
    ck_assert (done.floor);
    rb_journal_t *j = rb_jt_open (s_path);
    ck_assert_ptr_null (rb_journal_warning (j));
    ck_assert_uint_eq (rb_journal_orders (j), 1);
    ck_assert_uint_eq (rb_journal_pending (j, NULL, NULL), 1); /* a */
    ck_assert_uint_eq (rb_jt_put (j, "c", "3 again"), 6);
    rb_journal_destroy (&j);
    c = s_check (false);
    ck_assert_uint_eq (rb_jcheck_info (c)->damaged, 0);
    ck_assert_uint_eq (rb_jcheck_info (c)->next_seq, 7);
    rb_jcheck_destroy (&c);
}
END_TEST

START_TEST (journal_repair_follows_no_link_planted_at_its_temp_file)
{
    long at[STEPS + 1];
    s_build (STEPS, at);
    s_flip (at[1] + 20, 0x10);
    /* a link at the repair's temp name, to a file the attacker wants
       overwritten */
    char victim[600], tmp[600];
    snprintf (victim, sizeof victim, "%s.victim", s_path);
    snprintf (tmp, sizeof tmp, "%s.repairing", s_path);
    FILE *f = fopen (victim, "w");
    ck_assert_ptr_nonnull (f);
    fputs ("precious", f);
    fclose (f);
    ck_assert_int_eq (symlink (victim, tmp), 0);
    rb_jcheck_t *c = s_check (true);
    rb_jrepair_t done;
    rb_journal_err_t err;
    ck_assert_msg (rb_jcheck_repair (c, 0, &done, &err) == 0, "%s", err.text);
    rb_jcheck_destroy (&c);
    long n;
    char *text = rb_jt_slurp (victim, &n);
    ck_assert_int_eq (n, 8);
    ck_assert_int_eq (memcmp (text, "precious", 8), 0);
    free (text);
    struct stat st;
    ck_assert_int_eq (lstat (s_path, &st), 0);
    ck_assert (S_ISREG (st.st_mode));
    ck_assert_int_eq (st.st_mode & 0077, 0); /* and private */
    unlink (victim);
}
END_TEST

START_TEST (journal_repair_refuses_to_guess_a_next_seq_it_cannot_see)
{
    long at[STEPS + 1], len, n;
    s_build (6, at);
    s_flip (at[4] + 20, 0x10); /* d: no readable order after it */
    char *damaged = rb_jt_slurp (s_path, &len);
    rb_jcheck_t *c = s_check (true);
    size_t gaps;
    const rb_jgap_t *g = rb_jcheck_gaps (c, &gaps);
    ck_assert_uint_eq (gaps, 1);
    ck_assert_uint_eq (g[0].lo, 4);
    ck_assert_uint_eq (g[0].hi, 0); /* no upper bound */
    ck_assert (!rb_jcheck_info (c)->next_known);
    rb_jrepair_t done;
    rb_journal_err_t err;
    ck_assert_int_eq (rb_jcheck_repair (c, 0, &done, &err), -1);
    ck_assert_int_eq (err.code, RB_JOURNAL_E_ARG);
    ck_assert_msg (strstr (err.text, "--next-seq"), "%s", err.text);
    /* the acknowledgement after d says seq 4 was used */
    ck_assert_int_eq (rb_jcheck_repair (c, 4, &done, &err), -1);
    ck_assert_ptr_nonnull (strstr (err.text, "seqs up to 4 are in use"));
    ck_assert_int_eq (rb_jcheck_repair (c, RB_JOURNAL_SEQ_MAX + 1, &done, &err),
                      -1);
    char *same = rb_jt_slurp (s_path, &n); /* nothing changed */
    ck_assert_int_eq (n, len);
    ck_assert_int_eq (memcmp (same, damaged, (size_t) len), 0);
    ck_assert_int_eq (s_count_files ("ops.journal.damaged-"), 0);
    free (same);
    free (damaged);
    uint64_t next = 1ull << 40; /* the operator's, above the DB's watermark */
    ck_assert_int_eq (rb_jcheck_repair (c, next, &done, &err), 0);
    ck_assert_uint_eq (done.next_seq, next);
    rb_jcheck_destroy (&c);
    rb_journal_t *j = rb_jt_open (s_path);
    ck_assert_uint_eq (rb_jt_put (j, "d", "4 again"), next);
    /* a recovery reads across the jump, sized by orders, not seqs */
    rb_journal_map_t *map = rb_journal_map_new (j);
    uint64_t *offsets;
    ck_assert_int_eq (rb_journal_recovery (j, map, 0, &offsets), 4);
    free (offsets);
    rb_journal_map_destroy (&map);
    rb_journal_destroy (&j);
}
END_TEST

START_TEST (journal_repair_never_overwrites_a_set_aside_file)
{
    long at[STEPS + 1];
    s_build (STEPS, at);
    s_flip (at[3] + 20, 0x10); /* c */
    /* the names this second and the next two would get */
    time_t now = time (NULL);
    for (int i = 0; i < 3; i++) {
        time_t t = now + i;
        struct tm tm;
        char stamp[32], name[700];
        strftime (stamp, sizeof stamp, "%Y%m%dT%H%M%S", gmtime_r (&t, &tm));
        snprintf (name, sizeof name, "%s.damaged-%s-%ld", s_path, stamp, at[3]);
        rb_jt_spew (name, "keep me", 7);
    }
    rb_jcheck_t *c = s_check (true);
    rb_jrepair_t done;
    rb_journal_err_t err;
    ck_assert_msg (rb_jcheck_repair (c, 0, &done, &err) == 0, "%s", err.text);
    rb_jcheck_destroy (&c);
    ck_assert_str_eq (done.aside + strlen (done.aside) - 2, "-2");
    ck_assert_int_eq (s_count_files ("ops.journal.damaged-"), 4);
    ck_assert_uint_eq (done.next_seq, 6);
}
END_TEST

START_TEST (journal_writer_waiting_through_a_repair_opens_the_repaired_file)
{
    long at[STEPS + 1];
    s_build (STEPS, at);
    s_flip (at[1] + 20, 0x10);
    rb_jcheck_t *c = s_check (true);
    pid_t pid = rb_jt_second_writer (s_path); /* waits for our lock */
    rb_jrepair_t done;
    rb_journal_err_t err;
    ck_assert_int_eq (rb_jcheck_repair (c, 0, &done, &err), 0);
    rb_jcheck_destroy (&c);
    int seq = rb_jt_second_writer_seq (pid);
    ck_assert_msg (seq == 6, "the waiting writer got seq %d, want 6", seq);
    rb_journal_t *j = rb_jt_open (s_path);
    ck_assert_uint_eq (rb_journal_orders (j), 2);
    ck_assert_uint_eq (rb_journal_next_seq (j), 7);
    rb_journal_destroy (&j);
}
END_TEST

int
main (void)
{
    Suite *s = suite_create ("journal_repair");
    TCase *tc = tcase_create ("journal_repair");
    tcase_set_timeout (tc, 30);
    tcase_add_checked_fixture (tc, s_setup, s_teardown);
    tcase_add_test (tc,
                    journal_check_reports_every_damaged_record_with_its_offset);
    tcase_add_test (tc, journal_check_calls_a_torn_last_record_torn_not_damage);
    tcase_add_test (tc,
                    journal_check_shares_the_lock_with_checks_not_with_writers);
    tcase_add_test (tc,
                    journal_repair_keeps_the_prefix_and_sets_the_rest_aside);
    tcase_add_test (tc,
                    journal_repair_refuses_to_guess_a_next_seq_it_cannot_see);
    tcase_add_test (tc, journal_repair_never_overwrites_a_set_aside_file);
    tcase_add_test (tc,
                    journal_repair_follows_no_link_planted_at_its_temp_file);
    tcase_add_test (
        tc, journal_writer_waiting_through_a_repair_opens_the_repaired_file);
    suite_add_tcase (s, tc);
    return rb_test_run (s);
}
