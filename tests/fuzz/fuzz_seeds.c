/*  fuzz_seeds: writes the seed corpus of the fuzz targets, made with the
    project's own writers (codec, backup writer, journal), into
    DIR/<target>/ (tests/fuzz/corpus/ is its output, committed; run it
    again only when a format changes):

        build-fuzz/tests/fuzz/fuzz_seeds tests/fuzz/corpus

    The config seeds are copies of config/recobus.cfg and
    deploy/cluster.cfg. Seeds are small: the fuzzer grows them.  */
#include "rb_backup.h"
#include "rb_journal.h"
#include "rb_journal_repair.h"
#include "rb_msg.h"
#include "rb_sign.h"

#include <assert.h>
#include <czmq.h>

static const char *s_out;

static void
s_write (const char *target, const char *name, const void *data, size_t len)
{
    char path[4096];
    snprintf (path, sizeof path, "%s/%s", s_out, target);
    zsys_dir_create ("%s", path);
    snprintf (path, sizeof path, "%s/%s/%s", s_out, target, name);
    FILE *f = fopen (path, "wb");
    assert (f && fwrite (data, 1, len, f) == len && fclose (f) == 0);
}

static void
s_copy (const char *target, const char *name, const char *from)
{
    zchunk_t *chunk = zchunk_slurp (from, 0);
    assert (chunk);
    s_write (target, name, zchunk_data (chunk), zchunk_size (chunk));
    zchunk_destroy (&chunk);
}

/*  One body of every type, with a field or two of each kind filled. */
static void
s_sample (rb_body_t *b, int type, rb_entry_t *entries, rb_order_t *orders,
          rb_item_t *items, rb_node_t *nodes)
{
    rb_body_init (b, type);
    b->key = rb_str ("+81-3-1234");
    b->has_value = true;
    b->value = rb_str ("plan=gold");
    b->seq = 42, b->epoch = 2, b->recovering = true, b->last = true;
    b->op = RB_OP_PUT, b->answer = RB_ANS_STALE, b->role = RB_ROLE_SERVICE;
    b->name = rb_str ("svc-latest");
    b->text = rb_str ("backup-0001700000000-w42.rbb");
    b->n_services = 1;
    b->services[0] = rb_str ("svc-latest");
    b->heartbeat_ms = 1000, b->liveness = 3;
    b->applied = 1, b->current = 42, b->watermark = 41;
    b->records = 2, b->bytes = 100, b->ms = 3, b->journal_seq = 43;
    entries[0] = (rb_entry_t){rb_str ("+81-3-1234"), 43};
    entries[1] = (rb_entry_t){rb_str ("+81-3-5678"), 44};
    orders[0] = (rb_order_t){43, rb_str ("+81-3-1234"), RB_OP_PUT, true,
                             rb_str ("plan=platinum")};
    orders[1] = (rb_order_t){44, rb_str ("+81-3-5678"), RB_OP_DELETE, false,
                             rb_str ("")};
    items[0] = (rb_item_t){rb_str ("state"), true, rb_str ("normal"), 0};
    items[1] = (rb_item_t){rb_str ("keys"), false, rb_str (""), 10000};
    nodes[0] = (rb_node_t){rb_str ("db-1"), RB_ROLE_DB, rb_str (""), 12, 0};
    nodes[1] = (rb_node_t){rb_str ("svc-latest"), RB_ROLE_SERVICE,
                           rb_str ("svc-latest"), 40, 1};
    b->entries = entries, b->n_entries = 2;
    b->orders = orders, b->n_orders = 2;
    b->items = items, b->n_items = 2;
    b->nodes = nodes, b->n_nodes = 2;
}

static size_t
s_body (int type, uint8_t *buf, size_t cap)
{
    rb_entry_t entries[2];
    rb_order_t orders[2];
    rb_item_t items[2];
    rb_node_t nodes[2];
    rb_body_t b;
    s_sample (&b, type, entries, orders, items, nodes);
    return rb_body_encode (&b, buf, cap);
}

static void
s_codec (void)
{
    uint8_t buf[2048];
    for (int type = 1; type < RB_T_COUNT_; type++) {
        buf[0] = (uint8_t) type;
        size_t len = s_body (type, buf + 1, sizeof buf - 1);
        s_write ("fuzz_body", rb_type_name (type), buf, len + 1);
    }
    for (int kind = 1; kind <= RB_K_MAX_; kind++) {
        rb_header_t h = {.kind = (uint8_t) kind,
                         .type = kind == RB_K_REQUEST ? RB_T_GET : RB_T_NONE,
                         .addr = kind == RB_K_REQUEST ? RB_ADDR_SERVICE : 0,
                         .role = RB_ROLE_OPS,
                         .status = kind == RB_K_ERROR ? RB_S_TIMEOUT : 0,
                         .timeout_ms = 2000,
                         .corr = 7};
        if (kind == RB_K_REQUEST)
            strcpy (h.dest, "svc-latest");
        strcpy (h.sender, "ops-1");
        size_t len = rb_header_encode (&h, buf, sizeof buf);
        s_write ("fuzz_header", rb_kind_name (kind), buf, len);
    }
}

/*  A terminal's GET as recobus-terminal sends it, in fuzz_terminal.c's
    layout: flags, id length, header length, id, header, body.  */
static void
s_terminal (void)
{
    rb_header_t h = {.kind = RB_K_REQUEST, .type = RB_T_GET, .corr = 1};
    uint8_t buf[1024], id[5] = {0, 0x80, 0, 0x41, 0xa7};
    size_t head = rb_header_encode (&h, buf + 4 + sizeof id, 512);
    memcpy (buf + 4, id, sizeof id);
    buf[0] = 1, buf[1] = sizeof id;
    buf[2] = (uint8_t) head, buf[3] = (uint8_t) (head >> 8);
    size_t len = 4 + sizeof id + head;
    len += s_body (RB_T_GET, buf + len, sizeof buf - len);
    s_write ("fuzz_terminal", "get", buf, len);
    buf[0] = 0; /* no body frame */
    s_write ("fuzz_terminal", "get-no-body", buf, 4 + sizeof id + head);
}

static void
s_backup (const char *dir, const char *name, const rb_sign_key_t *key, int n)
{
    rb_backup_header_t h = {
        .epoch = 2, .watermark = 42, .created_ms = 1700000000123};
    memcpy (h.dataset, "0123456789abcdef0123456789abcdef", 33);
    char err[512], *path = NULL;
    rb_backup_writer_t *w =
        rb_backup_writer_new (dir, &h, key, err, sizeof err);
    assert (w);
    for (int i = 0; i < n; i++) {
        char k[16];
        snprintf (k, sizeof k, "+81-3-%04d", i);
        rb_backup_record_t r = {
            k, (uint32_t) strlen (k), (const uint8_t *) "plan=gold",
            9, (uint64_t) i + 1,      false};
        if (i % 3 == 2)
            r.value = (const uint8_t *) "", r.value_len = 0, r.tombstone = true;
        assert (rb_backup_writer_add (w, &r, err, sizeof err) == 0);
    }
    assert (rb_backup_writer_finish (&w, &path, NULL, err, sizeof err) == 0);
    s_copy ("fuzz_backup", name, path);
    s_copy ("fuzz_backup_fixed", name, path);
    unlink (path);
    free (path);
}

static void
s_backups (const char *dir)
{
    s_backup (dir, "empty", NULL, 0);
    s_backup (dir, "three", NULL, 3);
    char keyfile[4200], id[RB_SIGN_ID_SIZE], err[512];
    snprintf (keyfile, sizeof keyfile, "%s/backup.key", dir);
    assert (rb_sign_key_create (keyfile, false, id, err, sizeof err) == 0);
    rb_sign_key_t *key = rb_sign_key_load (keyfile, err, sizeof err);
    assert (key);
    s_backup (dir, "signed", key, 2);
    rb_sign_key_destroy (&key);
    unlink (keyfile);
}

static void
s_journal_copy (const char *path, const char *name)
{
    s_copy ("fuzz_journal", name, path);
    s_copy ("fuzz_journal_fixed", name, path);
}

/*  Orders, an acknowledgement and a rejection; then the same damaged in
    its middle and repaired, which adds a seq floor record.  */
static void
s_journals (const char *dir)
{
    char path[4200];
    snprintf (path, sizeof path, "%s/ops.journal", dir);
    rb_journal_err_t err;
    rb_journal_t *j = rb_journal_open (path, 0, 0, &err);
    assert (j);
    uint64_t seq[4];
    rb_journal_add (j, RB_OP_PUT, "+81-3-1234", 10, "plan=gold", 9, &seq[0]);
    rb_journal_add (j, RB_OP_PUT, "+81-3-5678", 10, "plan=basic", 10, &seq[1]);
    rb_journal_add (j, RB_OP_DELETE, "+81-3-1234", 10, NULL, 0, &seq[2]);
    rb_journal_add (j, RB_OP_PUT, "+81-3-9999", 10, "x", 1, &seq[3]);
    assert (rb_journal_commit (j) == 0);
    assert (rb_journal_ack (j, seq, 2, 2) == 0);
    assert (rb_journal_reject (j, &seq[2], 1) == 0);
    rb_journal_destroy (&j);
    s_journal_copy (path, "orders-ack-reject");

    /* the second order's payload damaged: a repair sets it aside */
    FILE *f = fopen (path, "r+b");
    assert (f && fseek (f, 8 + 12 + 23 + 10 + 9 + 12 + 5, SEEK_SET) == 0);
    fputc ('#', f);
    fclose (f);
    s_journal_copy (path, "damaged");
    rb_jcheck_t *c = rb_jcheck_new (path, true, 0, &err);
    assert (c && rb_jcheck_info (c)->damaged);
    rb_jrepair_t done;
    assert (rb_jcheck_repair (c, 10, &done, &err) == 0);
    rb_jcheck_destroy (&c);
    s_journal_copy (path, "repaired-floor");
    unlink (done.aside);
    unlink (path);
}

int
main (int argc, char **argv)
{
    if (argc != 2) {
        fprintf (stderr, "usage: fuzz_seeds DIR\n");
        return 64;
    }
    s_out = argv[1];
    char tmp[] = "/tmp/rb-seeds-XXXXXX";
    assert (mkdtemp (tmp));
    s_codec ();
    s_terminal ();
    s_backups (tmp);
    s_journals (tmp);
    rmdir (tmp);
    return 0;
}
