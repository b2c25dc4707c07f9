/*  test_config: the config table and the ZPL file checks (rb_config):
    defaults and bounded values, and every way a file can be wrong, named
    FILE:LINE. The command line is test_cli's.  */
#include "rb_config.h"

#include <check.h>

#include "rb_ctest.h"
#include "rb_testing.h"
#include <czmq.h>

/*  --------------------------------------------------------------------
    Helpers */

/*  Loads text from a temporary file (removed again before returning);
    the file's name is left in path for the expected messages.  */
static int
s_load (rb_config_t *config, const char *text, char path[64])
{
    rb_ct_write (text, path);
    int rc = rb_config_load_file (config, path, rb_config_sections);
    unlink (path);
    return rc;
}

/*  Checks that text fails to load into a broker config with the message
    PATH followed by after_path.  */
static void
s_assert_load_fails (const char *text, const char *after_path)
{
    rb_config_t *config = rb_config_new (rb_ct_broker_opts, "broker");
    char path[64];
    ck_assert_int_eq (s_load (config, text, path), -1);
    char expected[1200];
    snprintf (expected, sizeof (expected), "%s%s", path, after_path);
    ck_assert_str_eq (rb_config_errstr (config), expected);
    rb_config_destroy (&config);
}

/*  --------------------------------------------------------------------
    rb_config: values and the table */

START_TEST (config_new_holds_every_table_default)
{
    rb_config_t *config = rb_config_new (rb_ct_broker_opts, "broker");
    ck_assert_str_eq (rb_config_str (config, "bind"), "tcp://127.0.0.1:5555");
    ck_assert_int_eq (rb_config_int (config, "heartbeat"), 1000);
    ck_assert (!rb_config_bool (config, "curve"));
    ck_assert_str_eq (rb_config_str (config, "mode"), "fast");
    ck_assert (!rb_config_bool (config, "init"));
    ck_assert_ptr_null (rb_config_str (config, "label"));
    ck_assert (!rb_config_is_set (config, "bind"));
    ck_assert_ptr_eq (rb_config_opt (config, "tap"), &rb_ct_broker_opts[1]);
    ck_assert_ptr_null (rb_config_opt (config, "nope"));
    rb_config_destroy (&config);
    ck_assert_ptr_null (config);
    rb_config_destroy (&config); //  NULL-safe
}
END_TEST

START_TEST (config_set_accepts_valid_and_keeps_old_on_bad_value)
{
    rb_config_t *config = rb_config_new (rb_ct_broker_opts, "broker");
    ck_assert_int_eq (rb_config_set (config, "heartbeat", "2000", "--hb"), 0);
    ck_assert_int_eq (rb_config_int (config, "heartbeat"), 2000);
    ck_assert (rb_config_is_set (config, "heartbeat"));
    ck_assert_int_eq (rb_config_set (config, "heartbeat", "abc", "--hb"), -1);
    ck_assert_str_eq (rb_config_errstr (config),
                      "--hb: 'abc' is not an integer");
    ck_assert_int_eq (rb_config_int (config, "heartbeat"), 2000);
    ck_assert_int_eq (rb_config_set (config, "nope", "1", "--nope"), -1);
    ck_assert_str_eq (rb_config_errstr (config), "--nope: unknown key nope");
    ck_assert_int_eq (rb_config_set (config, "curve", "on", NULL), 0);
    ck_assert (rb_config_bool (config, "curve"));
    rb_config_destroy (&config);
}
END_TEST

START_TEST (config_str_length_is_bounded_when_max_is_set)
{
    rb_config_t *config = rb_config_new (rb_ct_broker_opts, "broker");
    ck_assert_int_eq (rb_config_set (config, "bind", "", "--bind"), -1);
    ck_assert_str_eq (rb_config_errstr (config),
                      "--bind: value has 0 characters; allowed 1..255");
    ck_assert_int_eq (rb_config_set (config, "label", "", "--label"), 0);
    ck_assert_str_eq (rb_config_str (config, "label"), "");
    rb_config_destroy (&config);
}
END_TEST

/*  --------------------------------------------------------------------
    rb_config: files */

START_TEST (file_value_overrides_default)
{
    rb_config_t *config = rb_config_new (rb_ct_broker_opts, "broker");
    char path[64];
    const char *text = "# a comment\n"
                       "\n"
                       "broker\n"
                       "    bind = \"tcp://10.0.0.1:1\"   # quoted\n"
                       "    heartbeat=250\n"
                       "    mode = 'safe'\n"
                       "    curve = yes\n"
                       "    label = two words # a bare value runs to '#'\n"
                       "db\n"
                       "    name = db-1\n";
    ck_assert_int_eq (s_load (config, text, path), 0);
    ck_assert_str_eq (rb_config_str (config, "bind"), "tcp://10.0.0.1:1");
    ck_assert_int_eq (rb_config_int (config, "heartbeat"), 250);
    ck_assert_str_eq (rb_config_str (config, "mode"), "safe");
    ck_assert (rb_config_bool (config, "curve"));
    ck_assert_str_eq (rb_config_str (config, "label"), "two words");
    ck_assert (rb_config_is_set (config, "bind"));
    ck_assert (!rb_config_is_set (config, "tap"));
    ck_assert_str_eq (rb_config_str (config, "tap"), "tcp://127.0.0.1:5556");
    rb_config_destroy (&config);
}
END_TEST

START_TEST (file_without_our_section_keeps_defaults)
{
    rb_config_t *config = rb_config_new (rb_ct_broker_opts, "broker");
    char path[64];
    ck_assert_int_eq (s_load (config, "ops\n    batch = 5\n", path), 0);
    ck_assert_int_eq (rb_config_int (config, "heartbeat"), 1000);
    ck_assert (!rb_config_is_set (config, "heartbeat"));
    rb_config_destroy (&config);
}
END_TEST

START_TEST (file_other_known_sections_are_not_checked)
{
    rb_config_t *config = rb_config_new (rb_ct_broker_opts, "broker");
    char path[64];
    const char *text = "db\n"
                       "    anything = goes\n"
                       "    nested\n"
                       "        deeper = 1\n"
                       "broker\n"
                       "    liveness = 5\n";
    ck_assert_int_eq (s_load (config, text, path), 0);
    ck_assert_int_eq (rb_config_int (config, "liveness"), 5);
    rb_config_destroy (&config);
}
END_TEST

START_TEST (file_unknown_key_names_file_line_and_path)
{
    s_assert_load_fails ("# header\n"
                         "broker\n"
                         "    bnid = tcp://127.0.0.1:5555\n",
                         ":3: broker/bnid: unknown key");
}
END_TEST

START_TEST (file_int_out_of_range_names_the_range)
{
    s_assert_load_fails ("broker\n"
                         "    bind = tcp://127.0.0.1:5555\n"
                         "\n"
                         "    # heartbeat\n"
                         "    tap = tcp://127.0.0.1:5556\n"
                         "    liveness = 3\n"
                         "    heartbeat = 99999999\n",
                         ":7: broker/heartbeat: 99999999 is out of range "
                         "100..60000");
}
END_TEST

START_TEST (file_int_beyond_long_long_is_out_of_range)
{
    s_assert_load_fails ("broker\n    heartbeat = 99999999999999999999\n",
                         ":2: broker/heartbeat: 99999999999999999999 is out "
                         "of range 100..60000");
}
END_TEST

/*  Values that are not decimal integers, as written and as read. */
static const char *const s_non_ints[][2] = {
    {"12abc", "12abc"}, {"abc", "abc"},   {"1.5", "1.5"}, {"''", ""},
    {"' 12'", " 12"},   {"'12 '", "12 "}, {"=", "="}};

START_TEST (file_non_numeric_int_is_rejected)
{
    char text[128], after_path[128];
    snprintf (text, sizeof (text), "broker\n    heartbeat = %s\n",
              s_non_ints[_i][0]);
    snprintf (after_path, sizeof (after_path),
              ":2: broker/heartbeat: '%s' is not an integer",
              s_non_ints[_i][1]);
    s_assert_load_fails (text, after_path);
}
END_TEST

START_TEST (file_bad_enum_lists_the_choices)
{
    s_assert_load_fails ("broker\n    mode = fastest\n",
                         ":2: broker/mode: 'fastest' is not one of "
                         "fast|safe");
    s_assert_load_fails ("broker\n    mode = fast|safe\n",
                         ":2: broker/mode: 'fast|safe' is not one of "
                         "fast|safe");
}
END_TEST

START_TEST (file_bad_bool_lists_the_words)
{
    s_assert_load_fails ("broker\n    curve = maybe\n",
                         ":2: broker/curve: 'maybe' is not one of "
                         "true|false|yes|no|1|0|on|off");
}
END_TEST

START_TEST (file_unknown_top_level_section_is_rejected)
{
    s_assert_load_fails ("brokr\n    bind = tcp://127.0.0.1:5555\n",
                         ":1: brokr: unknown section");
    s_assert_load_fails ("broker\n    bind = x\n# typo\nmonitr = 1\n",
                         ":4: monitr: unknown section");
}
END_TEST

START_TEST (file_key_without_value_is_rejected)
{
    s_assert_load_fails ("broker\n    bind\n",
                         ":2: broker/bind: missing '= value'");
    s_assert_load_fails ("broker\n    bind\n        x = 1\n",
                         ":2: broker/bind: expected a value, not a section");
}
END_TEST

START_TEST (file_repeated_key_in_our_section_is_rejected)
{
    s_assert_load_fails ("broker\n    bind = a\n    bind = b\n",
                         ":3: broker/bind: repeated (first at line 2)");
    s_assert_load_fails ("broker\n    tap = a\ndb\nbroker\n    bind = b\n",
                         ":4: broker: repeated (first at line 1)");
}
END_TEST

START_TEST (file_repeated_names_elsewhere_are_accepted)
{
    rb_config_t *config = rb_config_new (rb_ct_broker_opts, "broker");
    char path[64];
    const char *text = "db\n    a = 1\n    a = 2\ndb\nbroker\n    tap = t\n";
    ck_assert_int_eq (s_load (config, text, path), 0);
    ck_assert_str_eq (rb_config_str (config, "tap"), "t");
    rb_config_destroy (&config);
}
END_TEST

/*  Malformed ZPL: text, line and what is wrong. */
static const struct {
    const char *text;
    int line;
    const char *what;
} s_malformed[] = {
    {"broker\n  bind = x\n", 2,
     "indentation of 2 spaces is not a multiple "
     "of 4"},
    {"broker\n    bind = x\n   # note\n", 3,
     "indentation of 3 spaces is not a multiple of 4"},
    {"broker\n\tbind = x\n", 2, "tab in indentation (indent with 4 spaces)"},
    {"broker\n        bind = x\n", 2,
     "indented deeper than the line above allows"},
    {"    broker\n", 1, "indented deeper than the line above allows"},
    {"broker\n    bi$nd = x\n", 2, "'$' is not allowed in a name"},
    {"broker\n    bi/nd = x\n", 2, "'/' is not allowed in a name"},
    {"broker\n    b*nd = x\n", 2, "'*' is not allowed in a name"},
    {"broker\n    \"bind\" = x\n", 2, "'\"' is not allowed in a name"},
    {"= x\n", 1, "expected a name before '='"},
    {"broker\n    bind tcp://x\n", 2,
     "expected '=' or a comment after the name"},
    {"broker\n    bind = \"tcp://x\n", 2, "missing closing \""},
    {"broker\n    bind = 'tcp://x\n", 2, "missing closing '"},
    {"broker\n    bind = 'x' y\n", 2, "text after the closing quote"},
    {"broker\n    bind = x\n\n\n    tap = \x01\n    b\x01 = 1\n", 6,
     "byte 0x01 in a name"},
};

START_TEST (file_malformed_zpl_names_the_line)
{
    char after_path[256];
    snprintf (after_path, sizeof (after_path), ":%d: malformed ZPL: %s",
              s_malformed[_i].line, s_malformed[_i].what);
    s_assert_load_fails (s_malformed[_i].text, after_path);
}
END_TEST

START_TEST (file_line_longer_than_zconfig_reads_is_rejected)
{
    char text[1200] = "broker\n    label = ";
    size_t used = strlen (text);
    memset (text + used, 'x', sizeof (text) - used - 2);
    text[sizeof (text) - 2] = '\n';
    text[sizeof (text) - 1] = '\0';
    s_assert_load_fails (text, ":2: malformed ZPL: line longer than 1024 "
                               "bytes");
}
END_TEST

START_TEST (file_that_cannot_be_read_says_why)
{
    rb_config_t *config = rb_config_new (rb_ct_broker_opts, "broker");
    const char *missing = "/nonexistent-recobus-dir/recobus.cfg";
    ck_assert_int_eq (rb_config_load_file (config, missing, NULL), -1);
    ck_assert_str_eq (rb_config_errstr (config),
                      "/nonexistent-recobus-dir/recobus.cfg: cannot read: "
                      "No such file or directory");
    ck_assert_int_eq (rb_config_load_file (config, "/tmp", NULL), -1);
    ck_assert_str_eq (rb_config_errstr (config),
                      "/tmp: cannot read: Is a directory");
    rb_config_destroy (&config);
}
END_TEST

START_TEST (file_with_nul_byte_or_too_large_is_rejected)
{
    rb_config_t *config = rb_config_new (rb_ct_broker_opts, "broker");
    char path[64], expected[128];
    const char nul[] = "broker\n    bind = a\0b\n";
    rb_ct_write_bytes (nul, sizeof (nul) - 1, path);
    ck_assert_int_eq (rb_config_load_file (config, path, NULL), -1);
    unlink (path);
    snprintf (expected, sizeof (expected),
              "%s: malformed ZPL: NUL byte in file", path);
    ck_assert_str_eq (rb_config_errstr (config), expected);
    size_t size = (1 << 20) + 1;
    char *big = (char *) malloc (size);
    memset (big, '\n', size);
    rb_ct_write_bytes (big, size, path);
    free (big);
    ck_assert_int_eq (rb_config_load_file (config, path, NULL), -1);
    unlink (path);
    snprintf (expected, sizeof (expected), "%s: larger than 1048576 bytes",
              path);
    ck_assert_str_eq (rb_config_errstr (config), expected);
    rb_config_destroy (&config);
}
END_TEST

START_TEST (file_failed_load_changes_nothing)
{
    rb_config_t *config = rb_config_new (rb_ct_broker_opts, "broker");
    char path[64];
    ck_assert_int_eq (s_load (config, "broker\n    tap = first\n", path), 0);
    const char *text = "broker\n"
                       "    bind = tcp://changed:1\n"
                       "    tap = second\n"
                       "    heartbeat = 5\n";
    ck_assert_int_eq (s_load (config, text, path), -1);
    ck_assert_str_eq (rb_config_str (config, "bind"), "tcp://127.0.0.1:5555");
    ck_assert (!rb_config_is_set (config, "bind"));
    ck_assert_str_eq (rb_config_str (config, "tap"), "first");
    ck_assert_int_eq (rb_config_int (config, "heartbeat"), 1000);
    rb_config_destroy (&config);
}
END_TEST

START_TEST (file_nested_section_is_read_after_set_section)
{
    rb_config_t *config = rb_config_new (rb_ct_service_opts, "service/{name}");
    rb_config_set_section (config, "service/svc-b");
    char path[64];
    const char *text = "service\n"
                       "    svc-a\n"
                       "        policy = latest-only\n"
                       "        bogus = 1\n"
                       "    svc-b\n"
                       "        policy = stale-ok\n"
                       "        cache-size = 7\n";
    ck_assert_int_eq (s_load (config, text, path), 0);
    ck_assert_str_eq (rb_config_str (config, "policy"), "stale-ok");
    ck_assert_int_eq (rb_config_int (config, "cache-size"), 7);
    rb_config_set_section (config, "service/svc-a");
    ck_assert_int_eq (s_load (config, text, path), -1);
    char expected[128];
    snprintf (expected, sizeof (expected),
              "%s:4: service/svc-a/bogus: unknown key", path);
    ck_assert_str_eq (rb_config_errstr (config), expected);
    rb_config_destroy (&config);
}
END_TEST

/*  --------------------------------------------------------------------
    Runner */

static Suite *
s_suite (void)
{
    Suite *suite = suite_create ("config");
    TCase *values = tcase_create ("values");
    tcase_add_test (values, config_new_holds_every_table_default);
    tcase_add_test (values,
                    config_set_accepts_valid_and_keeps_old_on_bad_value);
    tcase_add_test (values, config_str_length_is_bounded_when_max_is_set);
    suite_add_tcase (suite, values);

    TCase *files = tcase_create ("files");
    tcase_add_test (files, file_value_overrides_default);
    tcase_add_test (files, file_without_our_section_keeps_defaults);
    tcase_add_test (files, file_other_known_sections_are_not_checked);
    tcase_add_test (files, file_unknown_key_names_file_line_and_path);
    tcase_add_test (files, file_int_out_of_range_names_the_range);
    tcase_add_test (files, file_int_beyond_long_long_is_out_of_range);
    tcase_add_loop_test (files, file_non_numeric_int_is_rejected, 0,
                         N_OF (s_non_ints));
    tcase_add_test (files, file_bad_enum_lists_the_choices);
    tcase_add_test (files, file_bad_bool_lists_the_words);
    tcase_add_test (files, file_unknown_top_level_section_is_rejected);
    tcase_add_test (files, file_key_without_value_is_rejected);
    tcase_add_test (files, file_repeated_key_in_our_section_is_rejected);
    tcase_add_test (files, file_repeated_names_elsewhere_are_accepted);
    tcase_add_loop_test (files, file_malformed_zpl_names_the_line, 0,
                         N_OF (s_malformed));
    tcase_add_test (files, file_line_longer_than_zconfig_reads_is_rejected);
    tcase_add_test (files, file_that_cannot_be_read_says_why);
    tcase_add_test (files, file_with_nul_byte_or_too_large_is_rejected);
    tcase_add_test (files, file_failed_load_changes_nothing);
    tcase_add_test (files, file_nested_section_is_read_after_set_section);
    suite_add_tcase (suite, files);

    return suite;
}

int
main (void)
{
    return rb_test_run (s_suite ());
}
