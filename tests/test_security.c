/*  test_security: what is in place of issue 13 so far. Plain traffic is
    only allowed on endpoints that stay on the host; recobus-keygen writes
    a key pair with its role and name, the secret half private, and never
    overwrites one; a certificate without its secret half or its metadata
    is refused; the DB node refuses Redis settings it cannot honour.  */
#include <check.h>

#include "rb_testing.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "rb_curve.h"
#include "rb_proc.h"

#define BIN RECOBUS_BINARY_DIR "/"

static char *s_dir;

static void
s_setup (void)
{
    s_dir = rb_temp_dir ("rb-security");
    ck_assert_ptr_nonnull (s_dir);
}

static void
s_teardown (void)
{
    rb_remove_tree (s_dir);
    free (s_dir);
}

/*  Runs a program to its end; its exit code, its stderr in *err. */
static int
s_run (char *const argv[], char **err)
{
    char *out = NULL;
    int rc = rb_proc_run (argv, 10000, &out, err);
    free (out);
    return rc;
}

static void
s_copy (const char *from, const char *to)
{
    FILE *in = fopen (from, "rb"), *out = fopen (to, "wb");
    ck_assert (in && out);
    char buf[4096];
    size_t n;
    while ((n = fread (buf, 1, sizeof buf, in)) > 0)
        ck_assert_uint_eq (fwrite (buf, 1, n, out), n);
    fclose (in);
    ck_assert_int_eq (fclose (out), 0);
}

START_TEST (only_host_local_endpoints_count_as_local)
{
    ck_assert (rb_endpoint_local ("tcp://127.0.0.1:5555"));
    ck_assert (rb_endpoint_local ("tcp://127.9.9.9:1"));
    ck_assert (rb_endpoint_local ("tcp://localhost:5555"));
    ck_assert (rb_endpoint_local ("tcp://[::1]:5555"));
    ck_assert (rb_endpoint_local ("ipc:///tmp/bus"));
    ck_assert (rb_endpoint_local ("inproc://bus"));
    ck_assert (!rb_endpoint_local ("tcp://0.0.0.0:5555"));
    ck_assert (!rb_endpoint_local ("tcp://*:5555"));
    ck_assert (!rb_endpoint_local ("tcp://10.0.0.1:5555"));
    ck_assert (!rb_endpoint_local ("tcp://127.evil.example:5555"));
    ck_assert (!rb_endpoint_local ("tcp://localhost.evil:5555"));
    ck_assert (!rb_endpoint_local ("tcp://eth0;127.0.0.1:5555"));
    ck_assert (!rb_endpoint_local ("tcp://127.0.0.1.evil:5555"));
    ck_assert (!rb_endpoint_local ("tcp://1270.0.0.1:5555"));
    ck_assert (!rb_endpoint_local ("tcp://127.0.0.1"));
    ck_assert (!rb_endpoint_local ("udp://127.0.0.1:5555"));
    ck_assert (!rb_endpoint_local (NULL));
}
END_TEST

START_TEST (keygen_writes_a_private_pair_with_role_and_name)
{
    char *argv[] = {
        BIN "recobus-keygen", "--role", "db", "--name", "db-1", s_dir, NULL};
    char *err = NULL;
    ck_assert_int_eq (s_run (argv, &err), 0);
    free (err);
    char path[600], secret[600];
    snprintf (path, sizeof path, "%s/db-1.cert", s_dir);
    snprintf (secret, sizeof secret, "%s/db-1.cert_secret", s_dir);
    struct stat st;
    ck_assert_int_eq (stat (secret, &st), 0);
    ck_assert_int_eq (st.st_mode & 0077, 0);
    char e[300];
    zcert_t *cert = rb_curve_load (secret, e, sizeof e);
    ck_assert_msg (cert != NULL, "%s", e);
    ck_assert_str_eq (rb_curve_role (cert), "db");
    ck_assert_str_eq (rb_curve_name (cert), "db-1");
    char key[41];
    ck_assert_int_eq (rb_curve_public (path, key, e, sizeof e), 0);
    ck_assert_str_eq (key, zcert_public_txt (cert));
    /* the public half alone is no node's certificate */
    char pub[600];
    snprintf (pub, sizeof pub, "%s/copy.cert", s_dir);
    s_copy (path, pub);
    ck_assert_ptr_null (rb_curve_load (pub, e, sizeof e));
    ck_assert_ptr_nonnull (strstr (e, "no secret key"));
    /* a second run keeps the pair (73), --force replaces it */
    ck_assert_int_eq (s_run (argv, &err), 73);
    ck_assert_ptr_nonnull (strstr (err, "exists already"));
    free (err);
    zcert_t *again = rb_curve_load (secret, e, sizeof e);
    ck_assert_str_eq (zcert_public_txt (again), zcert_public_txt (cert));
    zcert_destroy (&again);
    char *force[] = {BIN "recobus-keygen",
                     "--force",
                     "--role",
                     "db",
                     "--name",
                     "db-1",
                     s_dir,
                     NULL};
    ck_assert_int_eq (s_run (force, &err), 0);
    free (err);
    again = rb_curve_load (secret, e, sizeof e);
    ck_assert_str_ne (zcert_public_txt (again), zcert_public_txt (cert));
    zcert_destroy (&again);
    zcert_destroy (&cert);
}
END_TEST

START_TEST (keygen_refuses_bad_roles_and_names)
{
    char *role[] = {
        BIN "recobus-keygen", "--role", "root", "--name", "x", s_dir, NULL};
    char *name[] = {
        BIN "recobus-keygen", "--role", "db", "--name", "a b", s_dir, NULL};
    char *nodir[] = {BIN "recobus-keygen", "--role", "db", "--name", "x", NULL};
    char *err = NULL;
    ck_assert_int_eq (s_run (role, &err), 64);
    free (err);
    ck_assert_int_eq (s_run (name, &err), 64);
    free (err);
    ck_assert_int_eq (s_run (nodir, &err), 64);
    free (err);
    char path[600];
    snprintf (path, sizeof path, "%s/x.cert", s_dir);
    ck_assert (!zsys_file_exists (path));
}
END_TEST

START_TEST (a_certificate_without_metadata_is_refused)
{
    char path[600], e[300];
    snprintf (path, sizeof path, "%s/bare.cert", s_dir);
    zcert_t *bare = zcert_new ();
    ck_assert_int_eq (zcert_save (bare, path), 0);
    zcert_destroy (&bare);
    strcat (path, "_secret");
    ck_assert_ptr_null (rb_curve_load (path, e, sizeof e));
    ck_assert_ptr_nonnull (strstr (e, "lacks a role or a name"));
    snprintf (path, sizeof path, "%s/none.cert_secret", s_dir);
    ck_assert_ptr_null (rb_curve_load (path, e, sizeof e));
}
END_TEST

START_TEST (db_refuses_redis_settings_it_cannot_honour)
{
    char cfg[600];
    snprintf (cfg, sizeof cfg, "%s/db.cfg", s_dir);
    FILE *f = fopen (cfg, "w");
    ck_assert_ptr_nonnull (f);
    fputs ("db\n    redis-user = \"recobus\"\n", f);
    fclose (f);
    char *tls[] = {BIN "recobus-db", "--redis", "tls://127.0.0.1:6379",
                   "--backup-dir",   s_dir,     NULL};
    char *user[] = {BIN "recobus-db", "-c", cfg, "--backup-dir", s_dir, NULL};
    char *err = NULL;
    ck_assert_int_eq (s_run (tls, &err), 78);
    ck_assert_ptr_nonnull (strstr (err, "TLS is not supported"));
    free (err);
    ck_assert_int_eq (s_run (user, &err), 78);
    ck_assert_ptr_nonnull (strstr (err, "without redis-password"));
    free (err);
}
END_TEST

int
main (void)
{
    Suite *s = suite_create ("security");
    TCase *tc = tcase_create ("security");
    tcase_set_timeout (tc, 60);
    tcase_add_checked_fixture (tc, s_setup, s_teardown);
    tcase_add_test (tc, only_host_local_endpoints_count_as_local);
    tcase_add_test (tc, keygen_writes_a_private_pair_with_role_and_name);
    tcase_add_test (tc, keygen_refuses_bad_roles_and_names);
    tcase_add_test (tc, a_certificate_without_metadata_is_refused);
    tcase_add_test (tc, db_refuses_redis_settings_it_cannot_honour);
    suite_add_tcase (s, tc);
    return rb_test_run (s);
}
