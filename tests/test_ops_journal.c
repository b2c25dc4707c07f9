/*  test_ops_journal: recobus-ops and its journal, run as a program
    (rb_otest.h): every order journaled before it is sent, a damaged or
    unusable journal stops orders, journal check and repair bring a
    damaged one back.  */
#include <check.h>
#include <czmq.h>
#include <jansson.h>
#include <sysexits.h>

#include "rb_otest.h"
#include "rb_testing.h"

#include "rb_journal.h"

/*  A DB that checks each order is in the journal when it arrives, then
    refuses it.  */
typedef struct {
    const char *bus, *journal;
    int seen, found;
} fake_t;

static bool
s_journaled (const char *path, uint64_t seq)
{
    rb_journal_err_t err;
    rb_journal_t *j = rb_journal_open (path, RB_JOURNAL_READONLY, 0, &err);
    if (!j)
        return false;
    uint64_t *offsets;
    size_t n = rb_journal_pending_list (j, &offsets);
    rb_journal_map_t *map = rb_journal_map_new (j);
    bool found = false;
    for (size_t i = 0; i < n && !found; i++) {
        rb_jorder_t o;
        found = rb_journal_map_order (map, offsets[i], &o) == 0 && o.seq == seq;
    }
    rb_journal_map_destroy (&map);
    free (offsets);
    rb_journal_destroy (&j);
    return found;
}

static void
s_fake_request (rb_bus_t *bus, const rb_header_t *h, const rb_body_t *b,
                zmsg_t **msg_p, void *arg)
{
    fake_t *f = (fake_t *) arg;
    if (h->type == RB_T_ORDER) {
        f->seen++;
        f->found += s_journaled (f->journal, b->seq);
    }
    for (uint32_t i = 0; h->type == RB_T_DIFF && i < b->n_orders; i++) {
        f->seen++;
        f->found += s_journaled (f->journal, b->orders[i].seq);
    }
    rb_bus_error (bus, h, RB_S_UNAVAILABLE, "refused by the test");
}

static void
s_fake_db (zsock_t *pipe, void *args)
{
    fake_t *f = (fake_t *) args;
    rb_bus_opts_t o = {.endpoint = f->bus,
                       .role = RB_ROLE_DB,
                       .name = "fake-db",
                       .services = {"db"},
                       .n_services = 1};
    rb_bus_t *bus = rb_bus_new (&o);
    rb_bus_on_request (bus, s_fake_request, f);
    rb_bus_wait_ready (bus, 5000);
    zsock_signal (pipe, 0);
    bool running = true;
    while (running) {
        if (zsock_events (pipe) & ZMQ_POLLIN) {
            char *cmd = zstr_recv (pipe);
            running = cmd && !streq (cmd, "$TERM");
            if (cmd && streq (cmd, "COUNTS"))
                zsock_send (pipe, "ii", f->seen, f->found);
            zstr_free (&cmd);
        }
        rb_bus_poll (bus, 10);
    }
    rb_bus_destroy (&bus);
}

START_TEST (ops_journals_every_order_before_sending_it)
{
    static fake_t fake;
    fake = (fake_t){rb_ot.c->bus, rb_ot.journal, 0, 0};
    zactor_t *db = zactor_new (s_fake_db, &fake);
    rb_opsrun_t r = OPS ("put", "k", "v");
    ck_assert_int_eq (r.rc, EX_UNAVAILABLE);
    ck_assert_ptr_nonnull (strstr (r.err, "journaled as seq 1, pending"));
    ck_assert_ptr_nonnull (strstr (r.err, "refused by the test"));
    rb_opsrun_done (&r);
    /* the load's first batch is refused: the rest is journaled only */
    snprintf (rb_ot.journal, sizeof rb_ot.journal, "%s/second.journal",
              rb_ot.dir);
    char *path = rb_ot_load_file ("in.txt", "l", "v", 0, 35);
    r = OPS ("--batch", "10", "load", path);
    ck_assert_int_eq (r.rc, EX_UNAVAILABLE);
    ck_assert_ptr_nonnull (strstr (r.err, "35 order(s) journaled, pending"));
    rb_opsrun_done (&r);
    int seen, found;
    zstr_send (db, "COUNTS");
    zsock_recv (db, "ii", &seen, &found);
    ck_assert_int_ge (seen, 11); /* the put, one batch (maybe more) */
    ck_assert_int_eq (found, seen);
    rb_journal_err_t err;
    rb_journal_t *j = rb_journal_open (rb_ot.journal, 0, 0, &err);
    ck_assert_uint_eq (rb_journal_pending (j, NULL, NULL), 35);
    rb_journal_destroy (&j);
    snprintf (rb_ot.journal, sizeof rb_ot.journal, "%s/ops.journal", rb_ot.dir);
    j = rb_journal_open (rb_ot.journal, 0, 0, &err);
    ck_assert_uint_eq (rb_journal_pending (j, NULL, NULL), 1);
    rb_journal_destroy (&j);
    zactor_destroy (&db);
    zstr_free (&path);
}
END_TEST

/*  Flips the lowest bit of the journal's byte at offset. */
static void
s_flip (long offset)
{
    FILE *f = fopen (rb_ot.journal, "r+b");
    ck_assert_ptr_nonnull (f);
    fseek (f, offset, SEEK_SET);
    int c = fgetc (f);
    fseek (f, -1, SEEK_CUR);
    fputc (c ^ 1, f);
    fclose (f);
}

START_TEST (ops_stops_at_a_damaged_or_unusable_journal)
{
    rb_ot_db_start (true);
    OK ("put", "a", "1");
    OK ("put", "b", "2");
    OK ("put", "c", "3");
    s_flip (8 + 12 + 25 + 12 + 3); /* in the second record */
    rb_opsrun_t r = OPS ("put", "d", "4");
    ck_assert_int_eq (r.rc, EX_DATAERR);
    ck_assert_msg (strstr (r.err, "offset 45"), "%s", r.err);
    rb_opsrun_done (&r);
    snprintf (rb_ot.journal, sizeof rb_ot.journal, "%s/no/such/dir/j",
              rb_ot.dir);
    r = OPS ("put", "d", "4");
    ck_assert_int_eq (r.rc, EX_IOERR);
    ck_assert_ptr_nonnull (strstr (r.err, "No such file"));
    rb_opsrun_done (&r);
    /* another writer holds it: orders wait, status reads it anyway */
    snprintf (rb_ot.journal, sizeof rb_ot.journal, "%s/held.journal",
              rb_ot.dir);
    rb_journal_err_t err;
    rb_journal_t *j = rb_journal_open (rb_ot.journal, 0, 0, &err);
    r = OPS ("--timeout", "200", "put", "d", "4");
    ck_assert_int_eq (r.rc, EX_UNAVAILABLE);
    ck_assert_ptr_nonnull (strstr (r.err, "in use"));
    rb_opsrun_done (&r);
    json_t *st = rb_ot_status (0);
    ck_assert (json_is_true (
        json_object_get (json_object_get (st, "journal"), "in_use")));
    json_decref (st);
    rb_journal_destroy (&j);
}
END_TEST

/*  The whole file at path (*len bytes); the caller frees. */
static char *
s_file (const char *path, size_t *len)
{
    char *text = NULL;
    FILE *f = fopen (path, "rb");
    ck_assert_ptr_nonnull (f);
    ck_assert_int_eq (fseek (f, 0, SEEK_END), 0);
    *len = (size_t) ftell (f);
    rewind (f);
    text = malloc (*len + 1);
    ck_assert_uint_eq (fread (text, 1, *len, f), *len);
    fclose (f);
    return text;
}

/*  Records of "put K V" (K, V one byte): an order of 37 bytes, then its
    acknowledgement of 41. b's order starts at 8 + 78 = 86.  */
#define B_ORDER 86

START_TEST (ops_journal_check_and_repair_bring_a_damaged_journal_back)
{
    rb_ot_db_start (true);
    OK ("put", "a", "1");
    OK ("put", "b", "2");
    OK ("put", "c", "3");
    OK ("put", "d", "4");
    s_flip (B_ORDER + 30); /* b's value */
    rb_opsrun_t r = OPS ("journal", "check");
    ck_assert_int_eq (r.rc, EX_DATAERR);
    char *want = zsys_sprintf (
        "damaged: %s: offset 86: checksum mismatch (37 bytes)\n%s: 320 "
        "bytes, 7 records, 3 orders, last seq 4, next seq 5, 1 damaged\n",
        rb_ot.journal, rb_ot.journal);
    ck_assert_str_eq (r.out, want);
    zstr_free (&want);
    ck_assert_ptr_nonnull (
        strstr (r.err, "journal repair' keeps its first 86"));
    rb_opsrun_done (&r);
    char *out = EXPECT (EX_DATAERR, "--json", "journal", "check");
    json_t *j = rb_ot_json_line (out, 0);
    ck_assert_str_eq (rb_ot_str (j, "kind"), "damaged");
    ck_assert_int_eq (rb_ot_int (j, "offset"), B_ORDER);
    json_decref (j);
    j = rb_ot_json_line (out, 1);
    ck_assert_int_eq (rb_ot_int (j, "keep_bytes"), B_ORDER);
    ck_assert_int_eq (rb_ot_int (j, "lost_orders"), 2);
    json_decref (j);
    free (out);
    /* orders stop; status still shows the DB's watermark */
    free (EXPECT (EX_DATAERR, "put", "e", "5"));
    json_t *st = rb_ot_status (EX_DATAERR);
    ck_assert_int_eq (rb_ot_int (st, "watermark"), 4);
    ck_assert_ptr_nonnull (
        strstr (rb_ot_str (json_object_get (st, "journal"), "damaged"), "86"));
    json_decref (st);
    size_t len, n;
    char *damaged = s_file (rb_ot.journal, &len);
    out = EXPECT (0, "journal", "repair");
    char aside[600];
    ck_assert_int_eq (
        sscanf (out, "set aside: %599s (234 bytes from offset 86)", aside), 1);
    ck_assert_ptr_nonnull (strstr (out, "\nlost seq 2: in unreadable bytes at "
                                        "offset 86, key unknown\n"
                                        "lost seq 3: put c 3\n"
                                        "lost seq 4: put d 4\n"
                                        "repaired "));
    ck_assert_ptr_nonnull (strstr (out, "1 order(s) kept, next seq 5"));
    free (out);
    char *set = s_file (aside, &n); /* every byte from b's order on */
    ck_assert_uint_eq (n, len - B_ORDER);
    ck_assert_int_eq (memcmp (set, damaged + B_ORDER, n), 0);
    free (set);
    free (damaged);
    OK ("journal", "check");
    out = EXPECT (0, "journal", "repair");
    ck_assert_ptr_nonnull (strstr (out, "nothing to repair"));
    free (out);
    /* re-entered, c gets a seq above the 3 the DB holds for it: taken */
    out = EXPECT (0, "put", "c", "3 again");
    ck_assert_str_eq (out, "seq 5\n");
    free (out);
    rb_ot_expect_record ("c", "3 again", 5);
    OK ("put", "b", "2");
    rb_ot_expect_record ("b", "2", 6);
}
END_TEST

int
main (void)
{
    Suite *s = suite_create ("ops_journal");
    TCase *tc = tcase_create ("journal");
    tcase_set_timeout (tc, 150);
    tcase_add_checked_fixture (tc, rb_ot_setup, rb_ot_teardown);
    tcase_add_test (tc, ops_journals_every_order_before_sending_it);
    tcase_add_test (tc, ops_stops_at_a_damaged_or_unusable_journal);
    tcase_add_test (tc,
                    ops_journal_check_and_repair_bring_a_damaged_journal_back);
    suite_add_tcase (s, tc);
    return rb_test_run (s);
}
