/*  test_journal: the ops journal on its own: seq continuity across
    reopen, torn tails cut at every byte, damaged records refused with
    their offset, pending/acknowledged bookkeeping, locking, and the
    compaction recovery uses.  */
#include <check.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "rb_crc32c.h"
#include "rb_jtest.h"
#include "rb_journal.h"
#include "rb_msg.h"
#include "rb_proc.h"
#include "rb_testing.h"

static char *s_dir;
static char s_path[512];

static void
s_setup (void)
{
    rb_jt_make_dir (&s_dir, s_path, sizeof s_path, "rb-journal-test");
}

static void
s_teardown (void)
{
    rb_jt_remove_dir (&s_dir);
}

START_TEST (journal_new_file_starts_at_seq_one)
{
    rb_journal_t *j = rb_jt_open (s_path);
    ck_assert_uint_eq (rb_journal_next_seq (j), 1);
    ck_assert_uint_eq (rb_journal_pending (j, NULL, NULL), 0);
    ck_assert_uint_eq (rb_journal_orders (j), 0);
    ck_assert_ptr_null (rb_journal_warning (j));
    rb_journal_destroy (&j);
    ck_assert_ptr_null (j);
    ck_assert_int_eq (rb_jt_size (s_path), 8);
}
END_TEST

START_TEST (journal_file_is_private_to_its_owner)
{
    mode_t old = umask (0); /* whatever the caller's umask */
    rb_journal_t *j = rb_jt_open (s_path);
    umask (old);
    struct stat st;
    ck_assert_int_eq (stat (s_path, &st), 0);
    ck_assert_int_eq (st.st_mode & 0777, 0600); /* every order's value */
    rb_journal_destroy (&j);
}
END_TEST

START_TEST (journal_seq_continues_across_reopen)
{
    rb_journal_t *j = rb_jt_open (s_path);
    ck_assert_uint_eq (rb_jt_put (j, "a", "1"), 1);
    ck_assert_uint_eq (rb_jt_put (j, "b", "2"), 2);
    rb_jt_ack (j, 1, 2, 2);
    ck_assert_uint_eq (rb_jt_put (j, "c", NULL), 3);
    rb_journal_destroy (&j);
    j = rb_jt_open (s_path);
    ck_assert_uint_eq (rb_journal_next_seq (j), 4);
    ck_assert_uint_eq (rb_journal_orders (j), 3);
    ck_assert_uint_eq (rb_jt_put (j, "d", "4"), 4);
    rb_journal_destroy (&j);
    j = rb_jt_open (s_path);
    ck_assert_uint_eq (rb_journal_next_seq (j), 5);
    rb_journal_destroy (&j);
}
END_TEST

START_TEST (journal_staged_orders_count_only_once_committed)
{
    rb_journal_t *j = rb_jt_open (s_path);
    uint64_t seq;
    ck_assert_int_eq (rb_journal_add (j, RB_OP_PUT, "a", 1, "v", 1, &seq), 0);
    ck_assert_int_eq (rb_journal_add (j, RB_OP_PUT, "b", 1, "v", 1, &seq), 0);
    ck_assert_uint_eq (seq, 2);
    ck_assert_uint_eq (rb_journal_staged (j), 2);
    ck_assert_uint_eq (rb_journal_pending (j, NULL, NULL), 0);
    rb_journal_destroy (&j); /* a crash before the fsync */
    j = rb_jt_open (s_path);
    ck_assert_uint_eq (rb_journal_next_seq (j), 1);
    ck_assert_uint_eq (rb_jt_put (j, "a", "v"), 1);
    ck_assert_uint_eq (rb_journal_pending (j, NULL, NULL), 1);
    rb_journal_destroy (&j);
}
END_TEST

START_TEST (journal_refuses_bad_orders_and_stages_nothing)
{
    rb_journal_t *j = rb_jt_open (s_path);
    uint64_t seq;
    char long_key[66];
    memset (long_key, 'k', 65);
    long_key[65] = '\0';
    ck_assert_int_eq (rb_journal_add (j, RB_OP_PUT, "", 0, "v", 1, &seq), -1);
    ck_assert_int_eq (rb_journal_add (j, RB_OP_PUT, "a b", 3, "v", 1, &seq),
                      -1);
    ck_assert_int_eq (rb_journal_add (j, RB_OP_PUT, long_key, 65, "v", 1, &seq),
                      -1);
    ck_assert_int_eq (rb_journal_add (j, RB_OP_DELETE, "a", 1, "v", 1, &seq),
                      -1);
    ck_assert_int_eq (rb_journal_add (j, 7, "a", 1, NULL, 0, &seq), -1);
    ck_assert_ptr_nonnull (strstr (rb_journal_errstr (j), "op"));
    ck_assert_uint_eq (rb_journal_staged (j), 0);
    ck_assert_int_eq (rb_journal_add (j, RB_OP_PUT, long_key, 64, "", 0, &seq),
                      0);
    ck_assert_uint_eq (seq, 1);
    rb_journal_destroy (&j);
}
END_TEST

START_TEST (journal_remembers_request_ids_across_reopen)
{
    rb_journal_t *j = rb_jt_open (s_path);
    const uint8_t rid[16] = {1, 2, 3}, other[16] = {9};
    uint64_t seq, first = 0;
    uint32_t count = 0;
    rb_jt_put (j, "a", "v"); /* seq 1, no request id */
    ck_assert_int_eq (rb_journal_add (j, RB_OP_PUT, "b", 1, "v", 1, &seq), 0);
    ck_assert_int_eq (rb_journal_add (j, RB_OP_DELETE, "c", 1, NULL, 0, &seq),
                      0);
    ck_assert_int_eq (rb_journal_add_request (j, rid, 3, 2), -1); /* wrong */
    ck_assert_int_eq (rb_journal_add_request (j, rid, 2, 2), 0);
    ck_assert (!rb_journal_request (j, rid, &first, &count)); /* staged */
    ck_assert_int_eq (rb_journal_commit (j), 0);
    ck_assert (rb_journal_request (j, rid, &first, &count));
    ck_assert_uint_eq (first, 2);
    ck_assert_uint_eq (count, 2);
    rb_journal_ack (j, &first, 1, 2);
    ck_assert_uint_eq (rb_journal_pending_in (j, 2, 3), 1);
    rb_journal_destroy (&j);
    j = rb_jt_open (s_path);
    ck_assert (rb_journal_request (j, rid, &first, &count));
    ck_assert_uint_eq (first, 2);
    ck_assert_uint_eq (count, 2);
    ck_assert (!rb_journal_request (j, other, &first, &count));
    ck_assert_uint_eq (rb_journal_pending_in (j, 1, 3), 2);
    ck_assert_uint_eq (rb_journal_next_seq (j), 4);
    /* a failed request is dropped with its orders */
    ck_assert_int_eq (rb_journal_add (j, RB_OP_PUT, "d", 1, "v", 1, &seq), 0);
    ck_assert_int_eq (rb_journal_add_request (j, other, 4, 1), 0);
    rb_journal_drop_staged (j);
    ck_assert_int_eq (rb_journal_commit (j), 0);
    ck_assert (!rb_journal_request (j, other, &first, &count));
    ck_assert_uint_eq (rb_journal_next_seq (j), 4);
    rb_journal_destroy (&j);
}
END_TEST

/*  A journal of four orders and an ack, then a last record (an order,
    or an ack when ack_last); *before is the file size before it.  */
static void
s_build (bool ack_last, long *before, long *after)
{
    rb_journal_t *j = rb_jt_open (s_path);
    rb_jt_put (j, "a", "first");
    rb_jt_put (j, "b", "second");
    rb_jt_ack (j, 1, 2, 2);
    rb_jt_put (j, "c", NULL);
    rb_jt_put (j, "d", "fourth");
    *before = rb_jt_size (s_path);
    if (ack_last)
        rb_jt_ack (j, 3, 4, 4);
    else
        rb_jt_put (j, "e",
                   "the last order, long enough to tear in many places");
    rb_journal_destroy (&j);
    *after = rb_jt_size (s_path);
}

static void
s_check_cut (bool ack_last)
{
    long before, after, len;
    s_build (ack_last, &before, &after);
    char *full = rb_jt_slurp (s_path, &len);
    char copy[600];
    snprintf (copy, sizeof copy, "%s/torn.journal", s_dir);
    for (long cut = before; cut < after; cut++) {
        rb_jt_spew (copy, full, cut);
        rb_journal_t *j = rb_jt_open (copy);
        ck_assert_msg ((rb_journal_warning (j) != NULL) == (cut > before),
                       "cut at %ld: warning %s", cut, rb_journal_warning (j));
        ck_assert_uint_eq (rb_journal_next_seq (j), 5);
        ck_assert_uint_eq (rb_journal_orders (j), 4);
        ck_assert_uint_eq (rb_journal_pending (j, NULL, NULL), 2);
        rb_journal_destroy (&j);
        ck_assert_int_eq (rb_jt_size (copy), before);
        /* it goes on from there: the next order gets the dropped seq */
        j = rb_jt_open (copy);
        ck_assert_ptr_null (rb_journal_warning (j));
        ck_assert_uint_eq (rb_jt_put (j, "z", "again"), 5);
        rb_journal_destroy (&j);
    }
    free (full);
}

START_TEST (journal_cuts_a_torn_last_order_at_every_byte)
{
    s_check_cut (false);
}
END_TEST

START_TEST (journal_cuts_a_torn_last_ack_at_every_byte)
{
    s_check_cut (true);
}
END_TEST

START_TEST (journal_cuts_a_complete_last_record_with_a_bad_checksum)
{
    long before, after, len;
    s_build (false, &before, &after);
    char *buf = rb_jt_slurp (s_path, &len);
    buf[after - 3] ^= 0x20;
    rb_jt_spew (s_path, buf, len);
    free (buf);
    rb_journal_t *j = rb_jt_open (s_path);
    ck_assert_ptr_nonnull (strstr (rb_journal_warning (j), "checksum"));
    ck_assert_uint_eq (rb_journal_next_seq (j), 5);
    rb_journal_destroy (&j);
    ck_assert_int_eq (rb_jt_size (s_path), before);
}
END_TEST

START_TEST (journal_cuts_a_last_record_whose_header_is_damaged)
{
    long before, after, len;
    s_build (false, &before, &after);
    char *buf = rb_jt_slurp (s_path, &len);
    buf[before + 5] ^= 0x01; /* the length's own checksum */
    rb_jt_spew (s_path, buf, len);
    free (buf);
    rb_journal_t *j = rb_jt_open (s_path);
    ck_assert_ptr_nonnull (strstr (rb_journal_warning (j), "length"));
    ck_assert_uint_eq (rb_journal_next_seq (j), 5);
    rb_journal_destroy (&j);
    ck_assert_int_eq (rb_jt_size (s_path), before);
}
END_TEST

START_TEST (journal_cuts_a_zero_filled_tail)
{
    long before, after, len;
    s_build (false, &before, &after);
    char *buf = rb_jt_slurp (s_path, &len);
    buf = realloc (buf, (size_t) len + 4096);
    memset (buf + len, 0, 4096);
    rb_jt_spew (s_path, buf, len + 4096);
    free (buf);
    rb_journal_t *j = rb_jt_open (s_path);
    ck_assert_ptr_nonnull (rb_journal_warning (j));
    ck_assert_uint_eq (rb_journal_next_seq (j), 6);
    rb_journal_destroy (&j);
    ck_assert_int_eq (rb_jt_size (s_path), after);
}
END_TEST

START_TEST (journal_refuses_a_damaged_record_before_the_last_with_its_offset)
{
    rb_journal_t *j = rb_jt_open (s_path);
    rb_jt_put (j, "a", "one");
    long second = rb_jt_size (s_path);
    rb_jt_put (j, "b", "two");
    rb_jt_put (j, "c", "three");
    rb_journal_destroy (&j);
    long len;
    char *buf = rb_jt_slurp (s_path, &len);
    for (int where = 0; where < 2; where++) {
        char *bad = malloc ((size_t) len);
        memcpy (bad, buf, (size_t) len);
        /* a flipped bit in the payload, or in the length field */
        bad[second + (where ? 1 : 16)] ^= 0x04;
        rb_jt_spew (s_path, bad, len);
        free (bad);
        rb_journal_err_t err;
        j = rb_journal_open (s_path, 0, 0, &err);
        ck_assert_ptr_null (j);
        ck_assert_int_eq (err.code, RB_JOURNAL_E_CORRUPT);
        ck_assert_uint_eq (err.offset, (uint64_t) second);
        char want[64];
        snprintf (want, sizeof want, "offset %ld", second);
        ck_assert_msg (strstr (err.text, want), "%s", err.text);
        ck_assert_int_eq (rb_jt_size (s_path), len); /* left as it was */
    }
    free (buf);
}
END_TEST

START_TEST (journal_refuses_a_file_that_is_not_a_journal)
{
    rb_jt_spew (s_path, "KEY\tVALUE\nKEY2\tVALUE2\n", 22);
    rb_journal_err_t err;
    ck_assert_ptr_null (rb_journal_open (s_path, 0, 0, &err));
    ck_assert_int_eq (err.code, RB_JOURNAL_E_CORRUPT);
    ck_assert_uint_eq (err.offset, 0);
    ck_assert_ptr_nonnull (strstr (err.text, "not a recobus journal"));
}
END_TEST

START_TEST (journal_starts_afresh_after_a_torn_header)
{
    rb_jt_spew (s_path, "RBJ", 3);
    rb_journal_t *j = rb_jt_open (s_path);
    ck_assert_ptr_nonnull (rb_journal_warning (j));
    ck_assert_uint_eq (rb_jt_put (j, "a", "1"), 1);
    rb_journal_destroy (&j);
    j = rb_jt_open (s_path);
    ck_assert_uint_eq (rb_journal_next_seq (j), 2);
    rb_journal_destroy (&j);
}
END_TEST

START_TEST (journal_reports_io_errors)
{
    char path[600];
    snprintf (path, sizeof path, "%s/no/such/dir/ops.journal", s_dir);
    rb_journal_err_t err;
    ck_assert_ptr_null (rb_journal_open (path, 0, 0, &err));
    ck_assert_int_eq (err.code, RB_JOURNAL_E_IO);
    ck_assert_ptr_nonnull (strstr (err.text, "No such file"));
    ck_assert_ptr_null (rb_journal_open (s_dir, 0, 0, &err));
    ck_assert_int_eq (err.code, RB_JOURNAL_E_IO);
}
END_TEST

START_TEST (journal_tracks_pending_and_acknowledged_orders_across_reopen)
{
    rb_journal_t *j = rb_jt_open (s_path);
    char key[8], value[8];
    for (int i = 1; i <= 10; i++) {
        snprintf (key, sizeof key, "k%d", i);
        snprintf (value, sizeof value, "v%d", i);
        rb_jt_put (j, key, value);
    }
    uint64_t acked[] = {1, 2, 3, 7};
    ck_assert_int_eq (rb_journal_ack (j, acked, 4, 7), 0);
    uint64_t rejected[] = {4};
    ck_assert_int_eq (rb_journal_reject (j, rejected, 1), 0);
    for (int round = 0; round < 2; round++) {
        uint64_t first, last;
        ck_assert_uint_eq (rb_journal_pending (j, &first, &last), 5);
        ck_assert_uint_eq (first, 5);
        ck_assert_uint_eq (last, 10);
        uint64_t *offsets;
        ck_assert_uint_eq (rb_journal_pending_list (j, &offsets), 5);
        rb_journal_map_t *map = rb_journal_map_new (j);
        uint64_t want[] = {5, 6, 8, 9, 10};
        for (int i = 0; i < 5; i++) {
            rb_jorder_t o;
            ck_assert_int_eq (rb_journal_map_order (map, offsets[i], &o), 0);
            ck_assert_uint_eq (o.seq, want[i]);
            snprintf (key, sizeof key, "k%d", (int) want[i]);
            ck_assert_int_eq (o.key_len, strlen (key));
            ck_assert_int_eq (memcmp (o.key, key, o.key_len), 0);
            ck_assert_int_eq (o.op, RB_OP_PUT);
            ck_assert_int_eq (o.value_len, strlen (key));
            ck_assert_int_eq (memcmp (o.value, "v", 1), 0);
            ck_assert_uint_gt (o.time_ms, 1500000000000ull);
        }
        ck_assert_int_eq (rb_journal_map_order (map, 0, NULL), -1);
        rb_journal_map_destroy (&map);
        free (offsets);
        rb_journal_destroy (&j);
        j = rb_jt_open (s_path);
    }
    uint64_t rest[] = {5, 6, 8, 9, 10, 11};
    ck_assert_int_eq (rb_journal_ack (j, rest, 5, 10), 0);
    ck_assert_uint_eq (rb_journal_pending (j, NULL, NULL), 0);
    rb_journal_destroy (&j);
    j = rb_jt_open (s_path);
    ck_assert_uint_eq (rb_journal_pending (j, NULL, NULL), 0);
    ck_assert_uint_eq (rb_journal_next_seq (j), 11);
    rb_journal_destroy (&j);
}
END_TEST

START_TEST (journal_keeps_many_pending_orders_in_order)
{
    rb_journal_t *j = rb_jt_open (s_path);
    uint64_t seq;
    for (int i = 0; i < 20000; i++) {
        char key[16];
        snprintf (key, sizeof key, "key%d", i);
        ck_assert_int_eq (
            rb_journal_add (j, RB_OP_PUT, key, strlen (key), "x", 1, &seq), 0);
        if (i % 1000 == 999)
            ck_assert_int_eq (rb_journal_commit (j), 0);
    }
    /* acknowledge every other batch of 1000, out of order */
    uint64_t *seqs = malloc (1000 * sizeof (uint64_t));
    for (int b = 19; b >= 0; b -= 2) {
        for (int i = 0; i < 1000; i++)
            seqs[i] = (uint64_t) b * 1000 + (uint64_t) i + 1;
        ck_assert_int_eq (rb_journal_ack (j, seqs, 1000, 20000), 0);
    }
    free (seqs);
    for (int round = 0; round < 2; round++) {
        uint64_t first, last;
        ck_assert_uint_eq (rb_journal_pending (j, &first, &last), 10000);
        ck_assert_uint_eq (first, 1);
        ck_assert_uint_eq (last, 19000);
        uint64_t *offsets;
        size_t n = rb_journal_pending_list (j, &offsets);
        rb_journal_map_t *map = rb_journal_map_new (j);
        uint64_t prev = 0;
        for (size_t i = 0; i < n; i++) {
            rb_jorder_t o;
            ck_assert_int_eq (rb_journal_map_order (map, offsets[i], &o), 0);
            ck_assert_uint_gt (o.seq, prev);
            ck_assert_uint_eq (((o.seq - 1) / 1000) % 2, 0);
            prev = o.seq;
        }
        rb_journal_map_destroy (&map);
        free (offsets);
        rb_journal_destroy (&j);
        j = rb_jt_open (s_path);
    }
    rb_journal_destroy (&j);
}
END_TEST

START_TEST (journal_writer_holds_a_lock_readers_do_not_need)
{
    rb_journal_t *j = rb_jt_open (s_path);
    rb_jt_put (j, "a", "1");
    rb_journal_err_t err;
    ck_assert_ptr_null (rb_journal_open (s_path, 0, 100, &err));
    ck_assert_int_eq (err.code, RB_JOURNAL_E_LOCKED);
    ck_assert_ptr_nonnull (strstr (err.text, "in use"));
    rb_journal_t *r = rb_journal_open (s_path, RB_JOURNAL_READONLY, 0, &err);
    ck_assert_ptr_nonnull (r);
    ck_assert_uint_eq (rb_journal_next_seq (r), 2);
    ck_assert_uint_eq (rb_journal_pending (r, NULL, NULL), 1);
    uint64_t seq;
    ck_assert_int_eq (rb_journal_add (r, RB_OP_PUT, "b", 1, "2", 1, &seq), -1);
    rb_journal_destroy (&r);
    rb_journal_destroy (&j);
    j = rb_jt_open (s_path);
    rb_journal_destroy (&j);
}
END_TEST

START_TEST (journal_writer_that_waited_for_the_lock_takes_the_next_seq)
{
    rb_journal_t *j = rb_jt_open (s_path);
    ck_assert_uint_eq (rb_jt_put (j, "alice", "v1"), 1);
    /* a second writer opens the file and waits for our lock */
    pid_t pid = rb_jt_second_writer (s_path);
    /* an order appended meanwhile, longer than the second writer's */
    ck_assert_uint_eq (rb_jt_put (j, "alice", "v2, appended while bob waits"),
                       2);
    rb_journal_destroy (&j);
    int seq = rb_jt_second_writer_seq (pid);
    ck_assert_msg (seq == 3,
                   "the second writer got seq %d, want 3: the one after the "
                   "order appended while it waited",
                   seq);
    /* both orders of alice and bob's are there, intact, in order */
    j = rb_jt_open (s_path);
    ck_assert_ptr_null (rb_journal_warning (j));
    ck_assert_uint_eq (rb_journal_orders (j), 3);
    ck_assert_uint_eq (rb_journal_next_seq (j), 4);
    uint64_t *offsets;
    ck_assert_uint_eq (rb_journal_pending_list (j, &offsets), 3);
    rb_journal_map_t *map = rb_journal_map_new (j);
    const char *keys[] = {"alice", "alice", "bob"};
    for (int i = 0; i < 3; i++) {
        rb_jorder_t o;
        ck_assert_int_eq (rb_journal_map_order (map, offsets[i], &o), 0);
        ck_assert_uint_eq (o.seq, (uint64_t) i + 1);
        ck_assert_int_eq (o.key_len, strlen (keys[i]));
        ck_assert_int_eq (memcmp (o.key, keys[i], o.key_len), 0);
    }
    rb_journal_map_destroy (&map);
    free (offsets);
    rb_journal_destroy (&j);
}
END_TEST

/*  A reader that opens while a writer appends sees the file up to some
    byte of the records being written: that is a torn tail, never damage,
    wherever the cut falls in a batch of orders.  */
START_TEST (journal_reader_takes_a_batch_being_written_for_a_torn_tail)
{
    rb_journal_t *j = rb_jt_open (s_path);
    rb_jt_put (j, "a", "1");
    rb_jt_put (j, "b", "2");
    long before = rb_jt_size (s_path), after, len;
    uint64_t seq;
    for (int i = 0; i < 3; i++)
        ck_assert_int_eq (rb_journal_add (j, RB_OP_PUT, "batch", 5,
                                          "a value being written", 21, &seq),
                          0);
    ck_assert_int_eq (rb_journal_commit (j), 0);
    rb_journal_destroy (&j);
    after = rb_jt_size (s_path);
    char *full = rb_jt_slurp (s_path, &len);
    for (long cut = before; cut <= after; cut++) {
        rb_jt_spew (s_path, full, cut);
        rb_journal_err_t err;
        rb_journal_t *r =
            rb_journal_open (s_path, RB_JOURNAL_READONLY, 0, &err);
        ck_assert_msg (r != NULL, "cut at %ld: %s", cut, err.text);
        uint64_t orders = rb_journal_orders (r);
        ck_assert_uint_eq (orders, 2 + 3 * (uint64_t) (cut - before) /
                                           (uint64_t) (after - before));
        ck_assert_uint_eq (rb_journal_next_seq (r), orders + 1);
        rb_journal_destroy (&r);
        ck_assert_int_eq (rb_jt_size (s_path), cut); /* left alone */
    }
    free (full);
}
END_TEST

/*  recover keeps a map of the journal and lets the journal go, so that
    orders can be issued while it runs: the map must not keep the lock.  */
START_TEST (journal_map_outliving_its_journal_does_not_hold_the_lock)
{
    rb_journal_t *j = rb_jt_open (s_path);
    rb_jt_put (j, "a", "1");
    uint64_t *offsets;
    ck_assert_uint_eq (rb_journal_pending_list (j, &offsets), 1);
    rb_journal_map_t *map = rb_journal_map_new (j);
    rb_journal_destroy (&j);
    j = rb_jt_open (s_path); /* no wait: the lock is free */
    ck_assert_uint_eq (rb_jt_put (j, "b", "2"), 2);
    rb_jorder_t o;
    ck_assert_int_eq (rb_journal_map_order (map, offsets[0], &o), 0);
    ck_assert_uint_eq (o.seq, 1);
    rb_journal_map_destroy (&map);
    free (offsets);
    rb_journal_destroy (&j);
}
END_TEST

START_TEST (journal_reader_leaves_a_torn_tail_alone)
{
    long before, after, len;
    s_build (false, &before, &after);
    char *buf = rb_jt_slurp (s_path, &len);
    rb_jt_spew (s_path, buf, after - 5);
    free (buf);
    rb_journal_err_t err;
    rb_journal_t *r = rb_journal_open (s_path, RB_JOURNAL_READONLY, 0, &err);
    ck_assert_ptr_nonnull (r);
    ck_assert_ptr_nonnull (strstr (rb_journal_warning (r), "ignored"));
    ck_assert_uint_eq (rb_journal_next_seq (r), 5);
    rb_journal_destroy (&r);
    ck_assert_int_eq (rb_jt_size (s_path), after - 5);
}
END_TEST

/*  What rb_journal_recovery gives for watermark, as "key=seq ..." in
    the order it gives them.  */
static char *
s_recovery (rb_journal_t *j, uint64_t watermark)
{
    rb_journal_map_t *map = rb_journal_map_new (j);
    uint64_t *offsets;
    int64_t n = rb_journal_recovery (j, map, watermark, &offsets);
    ck_assert_int_ge (n, 0);
    char *text = calloc (1, 4096);
    for (int64_t i = 0; i < n; i++) {
        rb_jorder_t o;
        ck_assert_int_eq (rb_journal_map_order (map, offsets[i], &o), 0);
        snprintf (text + strlen (text), 4096 - strlen (text), "%s%.*s=%d%s",
                  i ? " " : "", (int) o.key_len, o.key, (int) o.seq,
                  o.op == RB_OP_DELETE ? "(del)" : "");
    }
    free (offsets);
    rb_journal_map_destroy (&map);
    return text;
}

static void
s_expect_recovery (rb_journal_t *j, uint64_t watermark, const char *want)
{
    char *got = s_recovery (j, watermark);
    ck_assert_msg (streq (got, want), "watermark %d: got '%s', want '%s'",
                   (int) watermark, got, want);
    free (got);
}

START_TEST (journal_recovery_compacts_to_the_newest_order_per_key)
{
    rb_journal_t *j = rb_jt_open (s_path);
    rb_jt_put (j, "a", "a1"); /* 1 */
    rb_jt_put (j, "b", "b1"); /* 2 */
    rb_jt_put (j, "c", "c1"); /* 3 */
    rb_jt_ack (j, 1, 1, 1);   /* one at a time, each on time */
    rb_jt_ack (j, 2, 2, 2);
    rb_jt_ack (j, 3, 3, 3);
    rb_jt_put (j, "a", "a2"); /* 4 */
    rb_jt_put (j, "d", "d1"); /* 5 */
    rb_jt_put (j, "b", NULL); /* 6: a delete */
    rb_jt_ack (j, 4, 6, 6);   /* one batch: 4 and 5 behind 6 */
    rb_jt_put (j, "a", "a3"); /* 7 */
    rb_jt_ack (j, 7, 7, 7);
    rb_jt_put (j, "e", "e1"); /* 8: refused for good */
    uint64_t eight = 8;
    rb_journal_reject (j, &eight, 1);
    rb_jt_put (j, "c", "c2"); /* 9: pending */
    for (int round = 0; round < 2; round++) {
        s_expect_recovery (j, 0, "a=7 b=6(del) c=9 d=5");
        s_expect_recovery (j, 3, "a=7 d=5 b=6(del) c=9");
        /* the batch 4..6 was acknowledged at watermark 6: a backup at 5
           may have been read before all of it landed */
        s_expect_recovery (j, 5, "a=7 d=5 b=6(del) c=9");
        s_expect_recovery (j, 6, "a=7 d=5 b=6(del) c=9");
        s_expect_recovery (j, 7, "c=9");
        s_expect_recovery (j, 100, "c=9"); /* pending: always */
        rb_journal_destroy (&j);
        j = rb_jt_open (s_path);
    }
    uint64_t nine = 9;
    rb_journal_ack (j, &nine, 1, 9);
    s_expect_recovery (j, 9, "");
    s_expect_recovery (j, 8, "c=9");
    rb_journal_destroy (&j);
}
END_TEST

START_TEST (journal_recovery_includes_orders_applied_behind_the_watermark)
{
    rb_journal_t *j = rb_jt_open (s_path);
    rb_jt_put (j, "f", "f1"); /* 1: timed out, delivered much later */
    for (int i = 2; i <= 50; i++) {
        char key[8];
        snprintf (key, sizeof key, "k%d", i);
        rb_jt_put (j, key, "x");
        rb_jt_ack (j, (uint64_t) i, (uint64_t) i, (uint64_t) i);
    }
    rb_jt_ack (j, 1, 1, 50);  /* the DB stood at 50 when it took order 1 */
    rb_jt_put (j, "f", "f2"); /* 51, not acknowledged yet: pending */
    s_expect_recovery (j, 51, "f=51");
    rb_jt_ack (j, 51, 51, 51);
    s_expect_recovery (j, 51, "");
    /* a backup at 40 was maybe read before order 1 landed */
    s_expect_recovery (j, 40,
                       "f=51 k41=41 k42=42 k43=43 k44=44 k45=45 "
                       "k46=46 k47=47 k48=48 k49=49 k50=50");
    s_expect_recovery (j, 50, "f=51");
    rb_journal_destroy (&j);
}
END_TEST

START_TEST (journal_recovery_of_a_long_journal_reads_from_the_right_place)
{
    rb_journal_t *j = rb_jt_open (s_path);
    uint64_t seq, *seqs = malloc (500 * sizeof (uint64_t));
    for (int b = 0; b < 20; b++) {
        for (int i = 0; i < 500; i++) {
            char key[16];
            snprintf (key, sizeof key, "k%d", (b * 500 + i) % 7000);
            rb_journal_add (j, RB_OP_PUT, key, strlen (key), "v", 1, &seq);
            seqs[i] = seq;
        }
        ck_assert_int_eq (rb_journal_commit (j), 0);
        ck_assert_int_eq (rb_journal_ack (j, seqs, 500, seq), 0);
    }
    free (seqs);
    for (uint64_t w = 0; w <= 10000; w += 250) {
        rb_journal_map_t *map = rb_journal_map_new (j);
        uint64_t *offsets;
        int64_t n = rb_journal_recovery (j, map, w, &offsets);
        /* keys with an order above w, or in the batch of 500 that was
           acknowledged at watermark >= w */
        uint64_t from = w == 0 ? 1 : ((w - 1) / 500) * 500 + 1;
        if (w % 500 == 0 && w > 0)
            from = w - 499; /* acked at exactly w: that batch too */
        uint64_t keys = 10000 - from + 1 > 7000 ? 7000 : 10000 - from + 1;
        ck_assert_msg (n == (int64_t) keys, "w %d: %d keys, want %d", (int) w,
                       (int) n, (int) keys);
        for (int64_t i = 0; i < n; i++) {
            rb_jorder_t o;
            rb_journal_map_order (map, offsets[i], &o);
            ck_assert_uint_ge (o.seq, 3001); /* the newest of each key */
        }
        free (offsets);
        rb_journal_map_destroy (&map);
    }
    rb_journal_destroy (&j);
}
END_TEST

START_TEST (crc32c_instruction_path_matches_the_table_path)
{
    uint8_t buf[1031];
    for (size_t i = 0; i < sizeof buf; i++)
        buf[i] = (uint8_t) (i * 131 + 7);
    for (size_t len = 0; len < sizeof buf; len += 13)
        for (size_t start = 0; start < 9; start++) {
            size_t n = len + start <= sizeof buf ? len : sizeof buf - start;
            ck_assert_uint_eq (rb_crc32c (0, buf + start, n),
                               rb_crc32c_sw (0, buf + start, n));
            ck_assert_uint_eq (rb_crc32c (0x12345678, buf + start, n),
                               rb_crc32c_sw (0x12345678, buf + start, n));
        }
    /* the standard check value of CRC-32C */
    ck_assert_uint_eq (rb_crc32c (0, "123456789", 9), 0xe3069283);
}
END_TEST

int
main (void)
{
    Suite *s = suite_create ("journal");
    TCase *tc = tcase_create ("journal");
    tcase_set_timeout (tc, 30);
    tcase_add_checked_fixture (tc, s_setup, s_teardown);
    tcase_add_test (tc, crc32c_instruction_path_matches_the_table_path);
    tcase_add_test (tc, journal_new_file_starts_at_seq_one);
    tcase_add_test (tc, journal_file_is_private_to_its_owner);
    tcase_add_test (tc, journal_seq_continues_across_reopen);
    tcase_add_test (tc, journal_staged_orders_count_only_once_committed);
    tcase_add_test (tc, journal_refuses_bad_orders_and_stages_nothing);
    tcase_add_test (tc, journal_remembers_request_ids_across_reopen);
    tcase_add_test (tc, journal_cuts_a_torn_last_order_at_every_byte);
    tcase_add_test (tc, journal_cuts_a_torn_last_ack_at_every_byte);
    tcase_add_test (tc,
                    journal_cuts_a_complete_last_record_with_a_bad_checksum);
    tcase_add_test (tc, journal_cuts_a_last_record_whose_header_is_damaged);
    tcase_add_test (tc, journal_cuts_a_zero_filled_tail);
    tcase_add_test (
        tc, journal_refuses_a_damaged_record_before_the_last_with_its_offset);
    tcase_add_test (tc, journal_refuses_a_file_that_is_not_a_journal);
    tcase_add_test (tc, journal_starts_afresh_after_a_torn_header);
    tcase_add_test (tc, journal_reports_io_errors);
    tcase_add_test (
        tc, journal_tracks_pending_and_acknowledged_orders_across_reopen);
    tcase_add_test (tc, journal_keeps_many_pending_orders_in_order);
    tcase_add_test (tc, journal_writer_holds_a_lock_readers_do_not_need);
    tcase_add_test (tc,
                    journal_writer_that_waited_for_the_lock_takes_the_next_seq);
    tcase_add_test (tc,
                    journal_map_outliving_its_journal_does_not_hold_the_lock);
    tcase_add_test (tc, journal_reader_leaves_a_torn_tail_alone);
    tcase_add_test (tc,
                    journal_reader_takes_a_batch_being_written_for_a_torn_tail);
    tcase_add_test (tc, journal_recovery_compacts_to_the_newest_order_per_key);
    tcase_add_test (
        tc, journal_recovery_includes_orders_applied_behind_the_watermark);
    tcase_add_test (
        tc, journal_recovery_of_a_long_journal_reads_from_the_right_place);
    suite_add_tcase (s, tc);
    return rb_test_run (s);
}
