/*  test_backup_security: issue 13's backups and files, against a real
    redis-server, the broker and DB node actors and real programs. RESTORE
    takes only a bare name in the backup dir and says the same whether or
    not some other file exists; a backup changed after it was signed,
    signed by another key or not signed is refused before Redis is
    touched; another dataset's backup, or one past the ops journal, only
    when forced; backup-keep keeps the N newest and deletes nothing else;
    the dataset file follows no link planted at its temp name; backups,
    the dataset file and the backup key are private; orders with a seq at
    or above 2^53 are refused and the journal hands none out; the DB warns
    about a backup dir others may write.  */
#include <check.h>
#include <czmq.h>
#include <sys/stat.h>
#include <unistd.h>

#include "rb_backup.h"
#include "rb_cluster.h"
#include "rb_crc32c.h"
#include "rb_journal_repair.h"
#include "rb_proc.h"
#include "rb_testing.h"
#include "rb_tnode.h"

#define BIN       RECOBUS_BINARY_DIR "/"
#define SEQ_CAP   (1ull << 53) /* the first seq the DB may not take */
#define FOREIGN   "ffffffffffffffffffffffffffffffff"
#define FUTURE_MS 9000000000000ull /* created after any real backup */
#define ANY_SEQ   UINT64_MAX       /* a journal that bounds nothing */

static rb_cluster_t *s_c;
static rb_tnode_t s_ops;
static zactor_t *s_db;
static rb_db_opts_t s_opts; /* db-1's, alive as long as it runs */
static char *s_dir;         /* keys, a journal: outside the backup dir */

static void
s_setup (void)
{
    umask (022); /* modes below come from the code, not from a umask */
    s_c = rb_cluster_new (NULL);
    ck_assert_ptr_nonnull (s_c);
    s_dir = rb_temp_dir ("rb-bsec");
    ck_assert_ptr_nonnull (s_dir);
}

static void
s_teardown (void)
{
    zactor_destroy (&s_db);
    rb_tnode_stop (&s_ops);
    rb_cluster_destroy (&s_c);
    rb_remove_tree (s_dir);
    free (s_dir);
}

/*  s_dir/name, in a static buffer of its own per slot. */
static const char *
s_path (int slot, const char *name)
{
    static char paths[4][600];
    snprintf (paths[slot], sizeof paths[slot], "%s/%s", s_dir, name);
    return paths[slot];
}

/*  A new backup key at s_dir/name; its path. */
static const char *
s_new_key (const char *name)
{
    const char *path = s_path (0, name);
    char err[700];
    ck_assert_msg (rb_sign_key_create (path, false, NULL, err, sizeof err) == 0,
                   "%s", err);
    return path;
}

static rb_sign_key_t *
s_load_key (const char *path)
{
    char err[700];
    rb_sign_key_t *key = rb_sign_key_load (path, err, sizeof err);
    ck_assert_msg (key != NULL, "%s", err);
    return key;
}

/*  A dataset, db-1 on it with backup_key ("" none) and backup_keep, and
    an ops test node with n orders k1..kn.  */
static void
s_start_with (int n, const char *backup_key, int backup_keep)
{
    ck_assert_int_eq (rb_cluster_init (s_c), 0);
    s_opts = rb_cluster_db_opts (s_c, "db-1");
    s_opts.backup_key = backup_key;
    s_opts.backup_keep = backup_keep;
    s_db = zactor_new (rb_db_actor, &s_opts);
    rb_tnode_start (&s_ops, s_c, RB_ROLE_OPS, "ops-1");
    rb_tnode_wait_db (&s_ops);
    for (int i = 1; i <= n; i++) {
        char key[16];
        snprintf (key, sizeof key, "k%d", i);
        ck_assert_int_eq (rb_tnode_order (&s_ops, (uint64_t) i, key, "v"), 0);
    }
}

static void
s_start (int n)
{
    s_start_with (n, "", 10);
}

/*  RESTORE of name, as sent, with the journal's last seq and force; its
    status, and the error text or the restored path in why.  */
static int
s_restore (const char *name, uint64_t journal_seq, bool force, char *why,
           size_t len)
{
    rb_body_t req;
    rb_body_init (&req, RB_T_RESTORE);
    req.text = rb_str (name);
    req.journal_seq = journal_seq;
    req.force = force;
    rb_reply_t r;
    int rc = rb_tnode_ask (&s_ops, &req, &r);
    snprintf (why, len, "%.*s", (int) r.b.text.len,
              r.b.text.ptr ? r.b.text.ptr : "");
    rb_reply_done (&r);
    return rc;
}

static int
s_restore_raw (const char *name, char *why, size_t len)
{
    return s_restore (name, ANY_SEQ, false, why, len);
}

/*  Redis as it was: normal, epoch 1, k1 as ordered.  */
static void
s_expect_untouched (void)
{
    rb_tnode_expect_state (&s_ops, "normal");
    rb_got_t g = rb_tnode_get (&s_ops, "k1");
    ck_assert_str_eq (g.value, "v");
    ck_assert_uint_eq (g.epoch, 1);
}

/*  Writes a backup of dataset into the backup dir, one record k1, with
    watermark and created_ms, signed by key (NULL: unsigned); its path
    (caller frees).  */
static char *
s_forge (const char *dataset, uint64_t watermark, uint64_t created_ms,
         const rb_sign_key_t *key)
{
    rb_backup_header_t h = {"", 1, watermark, created_ms, 0};
    snprintf (h.dataset, sizeof h.dataset, "%s", dataset);
    char err[600];
    rb_backup_writer_t *w =
        rb_backup_writer_new (s_c->backups, &h, key, err, sizeof err);
    ck_assert_msg (w != NULL, "%s", err);
    rb_backup_record_t r = {"k1", 2, (const uint8_t *) "forged", 6, 1, false};
    ck_assert_int_eq (rb_backup_writer_add (w, &r, err, sizeof err), 0);
    char *path;
    ck_assert_int_eq (
        rb_backup_writer_finish (&w, &path, NULL, err, sizeof err), 0);
    return path;
}

static void
s_write_file (const char *path, const char *text)
{
    FILE *f = fopen (path, "w");
    ck_assert_ptr_nonnull (f);
    fputs (text, f);
    ck_assert_int_eq (fclose (f), 0);
}

/*  The file's whole text (caller frees). */
static char *
s_read_file (const char *path)
{
    FILE *f = fopen (path, "r");
    ck_assert_ptr_nonnull (f);
    char *text = calloc (1, 4096);
    ck_assert_uint_lt (fread (text, 1, 4095, f), 4095);
    fclose (f);
    return text;
}

static mode_t
s_mode (const char *path)
{
    struct stat st;
    ck_assert_int_eq (lstat (path, &st), 0);
    ck_assert (S_ISREG (st.st_mode));
    return st.st_mode & 07777;
}

START_TEST (restore_takes_only_a_bare_name_in_the_backup_dir)
{
    s_start (3);
    uint64_t records, watermark;
    free (rb_tnode_backup (&s_ops, &records, &watermark));
    char outside[600];
    snprintf (outside, sizeof outside, "%s/../x", s_c->backups);
    s_write_file (outside, "not a backup");
    /* each pair: a name of a file that exists, one of a file that does
       not; both are refused alike, before any file is opened  */
    const char *pairs[][2] = {{"../x", "../no-such-x"},
                              {"/etc/passwd", "/etc/no-such-passwd"},
                              {".dataset", ".no-such-dataset"},
                              {"..", "..."},
                              {"./x", "sub/x"}};
    for (size_t i = 0; i < sizeof pairs / sizeof pairs[0]; i++) {
        char why[2][1100], shape[2][1100];
        int rc[2];
        for (int j = 0; j < 2; j++) {
            rc[j] = s_restore_raw (pairs[i][j], why[j], sizeof why[j]);
            char *at = strstr (why[j], pairs[i][j]);
            ck_assert_msg (at, "%s: %s", pairs[i][j], why[j]);
            snprintf (shape[j], sizeof shape[j], "%.*s<NAME>%s",
                      (int) (at - why[j]), why[j], at + strlen (pairs[i][j]));
        }
        ck_assert_msg (rc[0] == RB_S_BAD_REQUEST && rc[1] == RB_S_BAD_REQUEST,
                       "%s: %s / %s", pairs[i][0], rb_code_name (rc[0]),
                       rb_code_name (rc[1]));
        ck_assert_str_eq (shape[0], shape[1]);
        ck_assert_msg (strstr (why[0], "backup dir"), "%s", why[0]);
    }
    unlink (outside);
    s_expect_untouched ();
}
END_TEST

START_TEST (dataset_file_follows_no_link_planted_at_its_temp_name)
{
    ck_assert_int_eq (rb_cluster_init (s_c), 0);
    char victim[600], tmp[600], path[600];
    snprintf (victim, sizeof victim, "%s.victim", s_c->backups);
    snprintf (tmp, sizeof tmp, "%s/.dataset.tmp", s_c->backups);
    snprintf (path, sizeof path, "%s/.dataset", s_c->backups);
    s_write_file (victim, "precious");
    ck_assert_int_eq (symlink (victim, tmp), 0);
    /* a node new to the dataset writes .dataset at its start */
    s_db = rb_cluster_db (s_c, "db-1");
    char *text = s_read_file (victim);
    ck_assert_str_eq (text, "precious");
    free (text);
    unlink (victim);
    ck_assert_int_eq (s_mode (path), 0600);
    text = s_read_file (path);
    ck_assert_msg (strlen (text) == 35 && strstr (text, " 1\n"), "%s", text);
    free (text);
    ck_assert_int_eq (access (tmp, F_OK), -1); /* the link went */
}
END_TEST

START_TEST (backups_and_the_dataset_file_are_private)
{
    s_start (2);
    uint64_t records, watermark;
    char *path = rb_tnode_backup (&s_ops, &records, &watermark);
    ck_assert_int_eq (s_mode (path), 0600);
    free (path);
    char dataset[600];
    snprintf (dataset, sizeof dataset, "%s/.dataset", s_c->backups);
    ck_assert_int_eq (s_mode (dataset), 0600);
}
END_TEST

START_TEST (db_refuses_orders_with_a_seq_at_or_above_2_53)
{
    s_start (2);
    ck_assert_int_eq (rb_tnode_order (&s_ops, SEQ_CAP, "k1", "frozen"),
                      RB_S_MALFORMED);
    ck_assert_int_eq (rb_tnode_order (&s_ops, UINT64_MAX, "k9", "frozen"),
                      RB_S_MALFORMED);
    /* a diff with one such order among good ones: none of it is applied */
    rb_order_t orders[] = {
        {3, rb_str ("k1"), RB_OP_PUT, true, rb_str ("ok")},
        {SEQ_CAP + 7, rb_str ("k2"), RB_OP_DELETE, false, rb_str (NULL)}};
    rb_reply_t r;
    ck_assert_int_eq (rb_tnode_diff (&s_ops, orders, 2, &r), RB_S_MALFORMED);
    char *why = rb_str_dup (r.b.text);
    ck_assert_msg (strstr (why, "2^53"), "%s", why);
    free (why);
    rb_reply_done (&r);
    rb_got_t g = rb_tnode_get (&s_ops, "k1");
    ck_assert_str_eq (g.value, "v");
    ck_assert_uint_eq (g.seq, 1);
    ck_assert (rb_tnode_get (&s_ops, "k2").found);
    ck_assert (!rb_tnode_get (&s_ops, "k9").found);
    ck_assert_uint_eq (rb_tnode_status_num (&s_ops, "watermark"), 2);
    /* the highest seq that is exact is taken */
    ck_assert_int_eq (rb_tnode_order (&s_ops, SEQ_CAP - 1, "k1", "last"), 0);
    ck_assert_str_eq (rb_tnode_get (&s_ops, "k1").value, "last");
}
END_TEST

START_TEST (journal_hands_out_no_seq_at_or_above_2_53)
{
    const char *path = s_path (0, "ops.journal");
    rb_journal_err_t err;
    rb_journal_t *j = rb_journal_open (path, 0, 0, &err);
    ck_assert_ptr_nonnull (j);
    uint64_t seq;
    for (int i = 0; i < 2; i++) {
        ck_assert_int_eq (rb_journal_add (j, RB_OP_PUT, "k", 1, "v", 1, &seq),
                          0);
        ck_assert_int_eq (rb_journal_commit (j), 0);
    }
    rb_journal_destroy (&j);
    FILE *f = fopen (path, "r+b"); /* damage the first record */
    ck_assert_ptr_nonnull (f);
    fseek (f, 20, SEEK_SET);
    fputc (0xff, f);
    fclose (f);
    rb_jcheck_t *c = rb_jcheck_new (path, true, 0, &err);
    ck_assert_ptr_nonnull (c);
    rb_jrepair_t done;
    ck_assert_int_eq (rb_jcheck_repair (c, SEQ_CAP, &done, &err), -1);
    ck_assert_msg (rb_jcheck_repair (c, SEQ_CAP - 1, &done, &err) == 0, "%s",
                   err.text);
    rb_jcheck_destroy (&c);
    j = rb_journal_open (path, 0, 0, &err);
    ck_assert_ptr_nonnull (j);
    ck_assert_int_eq (rb_journal_add (j, RB_OP_PUT, "k", 1, "v", 1, &seq), 0);
    ck_assert_uint_eq (seq, SEQ_CAP - 1);
    ck_assert_int_eq (rb_journal_commit (j), 0);
    ck_assert_int_eq (rb_journal_add (j, RB_OP_PUT, "k", 1, "v", 1, &seq), -1);
    ck_assert_msg (strstr (rb_journal_errstr (j), "2^53"), "%s",
                   rb_journal_errstr (j));
    rb_journal_destroy (&j);
}
END_TEST

START_TEST (db_warns_once_about_a_backup_dir_others_may_write)
{
    ck_assert_int_eq (chmod (s_c->backups, 0777), 0);
    char redis[64], broker[64];
    snprintf (redis, sizeof redis, "127.0.0.1:%d", rb_free_port ());
    snprintf (broker, sizeof broker, "tcp://127.0.0.1:%d", rb_free_port ());
    /* no Redis there: it says what it found at start-up, tries Redis
       once (connect-timeout 0) and exits 69 */
    char *argv[] = {
        BIN "recobus-db", "--backup-dir", s_c->backups,        "--redis", redis,
        "--broker",       broker,         "--connect-timeout", "0",       NULL};
    rb_proc_t *p = rb_proc_start (argv, NULL);
    ck_assert_ptr_nonnull (p);
    ck_assert_int_eq (rb_proc_wait (p, 10000), 69);
    char *err = rb_proc_stderr (p);
    const char *at = strstr (err, "group- or world-writable");
    ck_assert_msg (at, "%s", err);
    ck_assert_ptr_null (strstr (at + 1, "group- or world-writable"));
    ck_assert_ptr_nonnull (strstr (err, s_c->backups));
    free (err);
    rb_proc_destroy (&p);
}
END_TEST

/*  The file at path, with one byte of the first record's value flipped
    and the CRC computed again, as name in the backup dir: only the
    signature can tell.  */
static void
s_flip_and_fix_crc (const char *path, const char *name)
{
    FILE *f = fopen (path, "rb");
    ck_assert_ptr_nonnull (f);
    uint8_t data[4096];
    size_t len = fread (data, 1, sizeof data, f);
    fclose (f);
    ck_assert_uint_gt (len, 68 + 14 + 2 + 104 + 20);
    data[68 + 14 + 2] ^= 0x01;     /* k1's value: 'v' -> 'w' */
    size_t crc_at = len - 104 - 4; /* before the signature */
    uint32_t crc = rb_crc32c (0, data, crc_at);
    for (int i = 0; i < 4; i++)
        data[crc_at + i] = (uint8_t) (crc >> (8 * i));
    char copy[600];
    snprintf (copy, sizeof copy, "%s/%s", s_c->backups, name);
    f = fopen (copy, "wb");
    ck_assert_ptr_nonnull (f);
    ck_assert_uint_eq (fwrite (data, 1, len, f), len);
    ck_assert_int_eq (fclose (f), 0);
}

/*  RESTORE of name is refused as corrupt, saying says. */
static void
s_expect_corrupt (const char *name, const char *says)
{
    char why[1100];
    ck_assert_int_eq (s_restore (name, ANY_SEQ, false, why, sizeof why),
                      RB_S_CORRUPT);
    ck_assert_msg (strstr (why, says), "%s: %s", name, why);
}

START_TEST (restore_checks_the_signature_before_touching_redis)
{
    const char *key = s_new_key ("backup.key");
    s_start_with (3, key, 10);
    uint64_t records, watermark;
    char *good = rb_tnode_backup (&s_ops, &records, &watermark);
    char *dataset = rb_tnode_status_text (&s_ops, "dataset");
    s_flip_and_fix_crc (good, "flipped.rbb");
    rb_sign_key_t *other = s_load_key (s_new_key ("other.key"));
    char *theirs = s_forge (dataset, 3, FUTURE_MS, other);
    char *unsigned_ = s_forge (dataset, 3, FUTURE_MS + 1, NULL);
    s_expect_corrupt ("flipped.rbb", "bad signature");
    s_expect_corrupt (strrchr (theirs, '/') + 1, "signed by another key");
    s_expect_corrupt (strrchr (unsigned_, '/') + 1, "not signed");
    s_expect_untouched ();
    /* the newest that verifies is the good one, past the two newer */
    char why[1100];
    ck_assert_int_eq (s_restore ("", ANY_SEQ, false, why, sizeof why), 0);
    ck_assert_str_eq (why, good);
    ck_assert_uint_eq (rb_tnode_get (&s_ops, "k1").epoch, 2);
    rb_sign_key_destroy (&other);
    free (unsigned_);
    free (theirs);
    free (dataset);
    free (good);
}
END_TEST

START_TEST (restore_takes_another_datasets_backup_only_when_forced)
{
    s_start (3);
    char *path = s_forge (FOREIGN, 1, 1000, NULL);
    const char *name = strrchr (path, '/') + 1;
    char why[1100];
    ck_assert_int_eq (s_restore (name, ANY_SEQ, false, why, sizeof why),
                      RB_S_BAD_REQUEST);
    ck_assert_msg (strstr (why, "a backup of dataset " FOREIGN), "%s", why);
    ck_assert_msg (strstr (why, "--force"), "%s", why);
    s_expect_untouched ();
    /* nor is it chosen as the newest */
    ck_assert_int_eq (s_restore ("", ANY_SEQ, false, why, sizeof why),
                      RB_S_CORRUPT);
    ck_assert_msg (strstr (why, "1 refused"), "%s", why);
    s_expect_untouched ();
    ck_assert_int_eq (s_restore (name, ANY_SEQ, true, why, sizeof why), 0);
    char *dataset = rb_tnode_status_text (&s_ops, "dataset");
    ck_assert_str_eq (dataset, FOREIGN);
    ck_assert_str_eq (rb_tnode_get (&s_ops, "k1").value, "forged");
    free (dataset);
    free (path);
}
END_TEST

/*  recobus-ops --broker BUS --journal J ARGS...: its exit code; its
    stdout and stderr in *out and *err (caller frees).  */
static int
s_ops_run (const char *journal, const char *const *args, char **out, char **err)
{
    char *argv[16] = {BIN "recobus-ops", "--broker",  s_c->bus, "--journal",
                      (char *) journal,  "--timeout", "5000"};
    int n = 7;
    while (*args && n < 15)
        argv[n++] = (char *) *args++;
    argv[n] = NULL;
    return rb_proc_run (argv, 20000, out, err);
}

START_TEST (restore_past_the_ops_journal_only_when_forced)
{
    s_start (3);
    uint64_t records, watermark;
    char *path = rb_tnode_backup (&s_ops, &records, &watermark);
    const char *name = strrchr (path, '/') + 1;
    char why[1100];
    ck_assert_int_eq (s_restore (name, 2, false, why, sizeof why),
                      RB_S_BAD_REQUEST);
    ck_assert_msg (strstr (why, "watermark 3 is above the ops journal's last "
                                "seq 2"),
                   "%s", why);
    s_expect_untouched ();
    /* recobus-ops sends its journal's last seq: 0, a fresh journal */
    const char *journal = s_path (1, "ops.journal");
    char *out, *err;
    ck_assert_int_eq (s_ops_run (journal,
                                 (const char *[]){"restore", name, NULL}, &out,
                                 &err),
                      65);
    ck_assert_msg (strstr (err, "last seq 0"), "%s", err);
    free (out);
    free (err);
    s_expect_untouched ();
    /* forced, and named by a path: its name is looked up in the dir */
    char elsewhere[700];
    snprintf (elsewhere, sizeof elsewhere, "/some/where/%s", name);
    ck_assert_int_eq (
        s_ops_run (journal,
                   (const char *[]){"restore", "--force", elsewhere, NULL},
                   &out, &err),
        0);
    ck_assert_msg (strstr (err, "asking it for"), "%s", err);
    ck_assert_msg (strstr (out, path), "%s", out);
    free (out);
    free (err);
    ck_assert_uint_eq (rb_tnode_get (&s_ops, "k1").epoch, 2);
    free (path);
}
END_TEST

/*  Whether path still exists. */
static bool
s_exists (const char *path)
{
    return access (path, F_OK) == 0;
}

START_TEST (backup_keep_keeps_the_newest_and_deletes_nothing_else)
{
    const char *key = s_new_key ("backup.key");
    s_start_with (1, key, 2);
    char *dataset = rb_tnode_status_text (&s_ops, "dataset");
    /* older than any backup to come, each not ours to delete */
    rb_sign_key_t *k = s_load_key (key);
    char *foreign = s_forge (FOREIGN, 0, 1000, k);
    char *unsigned_ = s_forge (dataset, 0, 1001, NULL);
    char damaged[600], notes[600], named[600];
    snprintf (damaged, sizeof damaged, "%s/backup-0000000001002-w0.rbb",
              s_c->backups);
    snprintf (notes, sizeof notes, "%s/notes.txt", s_c->backups);
    snprintf (named, sizeof named, "%s/backup-keep-me.txt", s_c->backups);
    s_write_file (damaged, "RBBACKUP not really");
    s_write_file (notes, "mine");
    s_write_file (named, "mine too");
    char *paths[4];
    for (int i = 0; i < 4; i++) {
        uint64_t records, watermark;
        ck_assert_int_eq (rb_tnode_order (&s_ops, 2 + (uint64_t) i, "k1", "v"),
                          0);
        paths[i] = rb_tnode_backup (&s_ops, &records, &watermark);
    }
    ck_assert (!s_exists (paths[0]) && !s_exists (paths[1]));
    ck_assert (s_exists (paths[2]) && s_exists (paths[3]));
    const char *left[] = {foreign, unsigned_, damaged, notes, named};
    for (size_t i = 0; i < sizeof left / sizeof left[0]; i++)
        ck_assert_msg (s_exists (left[i]), "%s was deleted", left[i]);
    for (int i = 0; i < 4; i++)
        free (paths[i]);
    rb_sign_key_destroy (&k);
    free (unsigned_);
    free (foreign);
    free (dataset);
}
END_TEST

START_TEST (keygen_writes_a_private_backup_key_the_db_insists_on)
{
    const char *key = s_path (0, "backup.key");
    char *gen[] = {BIN "recobus-keygen", "--backup-key", (char *) key, NULL};
    char *out, *err;
    ck_assert_int_eq (rb_proc_run (gen, 10000, &out, &err), 0);
    free (out);
    free (err);
    ck_assert_int_eq (s_mode (key), 0600);
    char *first = s_read_file (key);
    ck_assert_int_eq (rb_proc_run (gen, 10000, &out, &err), 73);
    ck_assert_msg (strstr (err, "exists already"), "%s", err);
    free (out);
    free (err);
    char *force[] = {BIN "recobus-keygen", "--force", "--backup-key",
                     (char *) key, NULL};
    ck_assert_int_eq (rb_proc_run (force, 10000, &out, &err), 0);
    free (out);
    free (err);
    char *second = s_read_file (key);
    ck_assert_str_ne (first, second);
    ck_assert_int_eq (s_mode (key), 0600);
    /* the DB refuses to start on a key others may read, a link, junk */
    char *db[] = {BIN "recobus-db", "--backup-key", (char *) key,
                  "--backup-dir",   s_c->backups,   NULL};
    const char *link = s_path (1, "link.key");
    ck_assert_int_eq (symlink (key, link), 0);
    ck_assert_int_eq (chmod (key, 0640), 0);
    ck_assert_int_eq (rb_proc_run (db, 10000, &out, &err), 78);
    ck_assert_msg (strstr (err, "mode 0640"), "%s", err);
    free (out);
    free (err);
    db[2] = (char *) link;
    ck_assert_int_eq (rb_proc_run (db, 10000, &out, &err), 78);
    ck_assert_msg (strstr (err, "symbolic link"), "%s", err);
    free (out);
    free (err);
    db[2] = (char *) key;
    ck_assert_int_eq (chmod (key, 0600), 0);
    s_write_file (key, "recobus-backup-key 1 not-hex\n");
    ck_assert_int_eq (rb_proc_run (db, 10000, &out, &err), 78);
    ck_assert_msg (strstr (err, "not a backup key"), "%s", err);
    free (out);
    free (err);
    free (first);
    free (second);
}
END_TEST

int
main (void)
{
    Suite *s = suite_create ("backup_security");
    TCase *tc = tcase_create ("backup_security");
    tcase_set_timeout (tc, 60);
    tcase_add_checked_fixture (tc, s_setup, s_teardown);
    tcase_add_test (tc, restore_takes_only_a_bare_name_in_the_backup_dir);
    tcase_add_test (tc, dataset_file_follows_no_link_planted_at_its_temp_name);
    tcase_add_test (tc, backups_and_the_dataset_file_are_private);
    tcase_add_test (tc, db_refuses_orders_with_a_seq_at_or_above_2_53);
    tcase_add_test (tc, journal_hands_out_no_seq_at_or_above_2_53);
    tcase_add_test (tc, db_warns_once_about_a_backup_dir_others_may_write);
    tcase_add_test (tc, restore_checks_the_signature_before_touching_redis);
    tcase_add_test (tc, restore_takes_another_datasets_backup_only_when_forced);
    tcase_add_test (tc, restore_past_the_ops_journal_only_when_forced);
    tcase_add_test (tc, backup_keep_keeps_the_newest_and_deletes_nothing_else);
    tcase_add_test (tc, keygen_writes_a_private_backup_key_the_db_insists_on);
    suite_add_tcase (s, tc);
    return rb_test_run (s);
}
