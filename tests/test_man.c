/*  test_man: the man pages in man/ against the programs (issue 18).
    Every long option a program's --help names is in its page; every key
    of its option table is in its page and in recobus.conf(5), under its
    section, with its default; groff reads every page without a warning.
    The pages are read as roff source with its escapes taken off
    ("\-\-bind" is "--bind").  */
#include <check.h>
#include <czmq.h>

#include "rb_programs.h"

#define MAN_DIR RECOBUS_SOURCE_DIR "/man/"

typedef struct {
    const rb_program_t *prog; /* its option table and section */
    const char *page;         /* file name in man/ */
} s_page_t;

static const s_page_t s_pages[] = {
    {&rb_program_broker, "recobus-broker.8"},
    {&rb_program_db, "recobus-db.8"},
    {&rb_program_service, "recobus-service.8"},
    {&rb_program_ops, "recobus-ops.8"},
    {&rb_program_monitor, "recobus-monitor.1"},
    {&rb_program_terminal, "recobus-terminal.1"},
    {&rb_program_keygen, "recobus-keygen.1"},
};
#define PAGES (sizeof s_pages / sizeof s_pages[0])

/*  Every failure of a test, one line each, reported at its end. */
static char s_missing[16384];

static void
s_miss (const char *fmt, ...)
{
    size_t used = strlen (s_missing);
    va_list args;
    va_start (args, fmt);
    vsnprintf (s_missing + used, sizeof s_missing - used, fmt, args);
    va_end (args);
    used = strlen (s_missing);
    if (used + 1 < sizeof s_missing)
        strcat (s_missing, "\n");
}

static void
s_report (void)
{
    ck_assert_msg (s_missing[0] == '\0', "\n%s", s_missing);
}

/*  The whole output of a shell command (stderr too), or of a file. */
static char *
s_slurp (FILE *f)
{
    size_t size = 0, room = 65536;
    char *text = (char *) malloc (room);
    ck_assert_ptr_nonnull (text);
    size_t got;
    while ((got = fread (text + size, 1, room - size - 1, f)) > 0) {
        size += got;
        if (size + 1 == room) {
            room *= 2;
            text = (char *) realloc (text, room);
            ck_assert_ptr_nonnull (text);
        }
    }
    text[size] = '\0';
    return text;
}

static char *
s_run (const char *command, int *status)
{
    FILE *f = popen (command, "r");
    ck_assert_msg (f, "%s: %s", command, strerror (errno));
    char *out = s_slurp (f);
    *status = pclose (f);
    return out;
}

/*  The page's roff source with the escapes an option or a default may
    carry taken off: \- and \(hy are '-', \& and font changes go.  */
static char *
s_page (const char *name)
{
    char path[512];
    snprintf (path, sizeof path, "%s%s", MAN_DIR, name);
    FILE *f = fopen (path, "r");
    ck_assert_msg (f, "%s: %s", path, strerror (errno));
    char *text = s_slurp (f);
    fclose (f);
    char *out = text;
    for (const char *in = text; *in;) {
        if (in[0] == '\\' && in[1] == '-')
            *out++ = '-', in += 2;
        else if (strncmp (in, "\\(hy", 4) == 0)
            *out++ = '-', in += 4;
        else if (in[0] == '\\' && in[1] == '&')
            in += 2;
        else if (in[0] == '\\' && in[1] == 'f' && in[2])
            in += 3;
        else
            *out++ = *in++;
    }
    *out = '\0';
    return text;
}

static bool
s_namechar (char c)
{
    return isalnum ((unsigned char) c) || c == '-' || c == '_';
}

/*  The first occurrence of word in text at or after from, standing
    alone (no name character on either side), or NULL.  */
static const char *
s_word (const char *text, const char *from, const char *word)
{
    size_t length = strlen (word);
    for (const char *at = strstr (from, word); at; at = strstr (at + 1, word)) {
        bool left = at > text && s_namechar (at[-1]) && word[0] != '-';
        if (at > text && word[0] == '-' && at[-1] == '-')
            left = true; /* "--x" inside "---x" */
        if (!left && !s_namechar (at[length]))
            return at;
    }
    return NULL;
}

/*  Where the entry that starts at at ends: the next .TP, .SS or .SH. */
static const char *
s_entry_end (const char *at)
{
    const char *end = at + strlen (at);
    const char *marks[] = {"\n.TP", "\n.SS", "\n.SH"};
    for (size_t i = 0; i < 3; i++) {
        const char *next = strstr (at, marks[i]);
        if (next && next < end)
            end = next;
    }
    return end;
}

/*  True when text[at..end) holds needle. */
static bool
s_within (const char *at, const char *end, const char *needle)
{
    const char *found = strstr (at, needle);
    return found && found + strlen (needle) <= end;
}

static const char *s_key_entry (const char *from, const char *end,
                                const char *key);

/*  --------------------------------------------------------------------
    Each program's page against its --help and its table */

START_TEST (man_page_names_every_option_of_help)
{
    s_missing[0] = '\0';
    for (size_t p = 0; p < PAGES; p++) {
        const rb_program_t *prog = s_pages[p].prog;
        char command[512];
        snprintf (command, sizeof command, "%s/%s --help 2>&1",
                  RECOBUS_BINARY_DIR, prog->name);
        int status;
        char *help = s_run (command, &status);
        ck_assert_msg (status == 0, "%s: exit %d\n%s", command, status, help);
        char *page = s_page (s_pages[p].page);
        int options = 0;
        for (const char *at = strstr (help, "--"); at;
             at = strstr (at + 2, "--")) {
            size_t length = 2;
            while (s_namechar (at[length]))
                length++;
            if (length == 2 || (at > help && s_namechar (at[-1])))
                continue;
            char option[128];
            snprintf (option, sizeof option, "%.*s", (int) length, at);
            options++;
            if (!s_word (page, page, option))
                s_miss ("man/%s lacks %s (named by %s --help)", s_pages[p].page,
                        option, prog->name);
        }
        ck_assert_msg (options >= 4, "%s: only %d options found", command,
                       options);
        free (page);
        free (help);
    }
    s_report ();
}
END_TEST

/*  Each option of the table in the program's page, after OPTIONS, with
    its default in the same entry: a flag as --flag, a file-only key as
    an entry of its own (".TP", ".B key").  */
START_TEST (man_page_names_every_key_with_its_default)
{
    s_missing[0] = '\0';
    for (size_t p = 0; p < PAGES; p++) {
        char *page = s_page (s_pages[p].page);
        const char *options = strstr (page, "\n.SH OPTIONS");
        ck_assert_msg (options, "man/%s: no OPTIONS section", s_pages[p].page);
        for (const rb_opt_t *opt = s_pages[p].prog->opts; opt->key; opt++) {
            char name[128];
            snprintf (name, sizeof name, "%s%s", opt->flag ? "--" : "",
                      opt->flag ? opt->flag : opt->key);
            const char *at =
                opt->flag
                    ? s_word (page, options, name)
                    : s_key_entry (options, options + strlen (options), name);
            if (!at) {
                s_miss ("man/%s lacks %s", s_pages[p].page, name);
                continue;
            }
            if (opt->defval && *opt->defval &&
                !s_within (at, s_entry_end (at), opt->defval))
                s_miss ("man/%s: %s: no default %s in its entry",
                        s_pages[p].page, name, opt->defval);
        }
        free (page);
    }
    s_report ();
}
END_TEST

/*  --------------------------------------------------------------------
    recobus.conf(5): every key under its section, as ".B key", with its
    default in its entry */

/*  The program's section as recobus.conf(5) heads it: "service/NAME". */
static void
s_section_title (const rb_program_t *prog, char *title, size_t size)
{
    const char *mark = strstr (prog->section, "{name}");
    if (mark)
        snprintf (title, size, "%.*sNAME%s", (int) (mark - prog->section),
                  prog->section, mark + 6);
    else
        snprintf (title, size, "%s", prog->section);
}

/*  The ".B" line naming key in [from, end), or NULL. */
static const char *
s_key_entry (const char *from, const char *end, const char *key)
{
    for (const char *at = s_word (from, from, key); at && at < end;
         at = s_word (from, at + 1, key)) {
        const char *line = at;
        while (line > from && line[-1] != '\n')
            line--;
        if (strncmp (line, ".B ", 3) == 0 && line - from >= 4 &&
            strncmp (line - 4, ".TP\n", 4) == 0)
            return at;
    }
    return NULL;
}

START_TEST (conf_page_names_every_key_of_every_program)
{
    s_missing[0] = '\0';
    char *page = s_page ("recobus.conf.5");
    for (size_t p = 0; p < PAGES; p++) {
        char title[128], heading[160];
        s_section_title (s_pages[p].prog, title, sizeof title);
        snprintf (heading, sizeof heading, "\n.SS %s\n", title);
        const char *start = strstr (page, heading);
        if (!start) {
            s_miss ("man/recobus.conf.5 lacks section %s", title);
            continue;
        }
        start += strlen (heading) - 1;
        const char *next = strstr (start, "\n.SS ");
        const char *end = next ? next : strstr (start, "\n.SH ");
        ck_assert_ptr_nonnull (end);
        for (const rb_opt_t *opt = s_pages[p].prog->opts; opt->key; opt++) {
            const char *at = s_key_entry (start, end, opt->key);
            if (!at)
                s_miss ("man/recobus.conf.5: section %s lacks key %s", title,
                        opt->key);
            else if (opt->defval && *opt->defval &&
                     !s_within (at, s_entry_end (at), opt->defval))
                s_miss ("man/recobus.conf.5: %s/%s: no default %s in its "
                        "entry",
                        title, opt->key, opt->defval);
        }
    }
    free (page);
    s_report ();
}
END_TEST

/*  --------------------------------------------------------------------
    Every page renders without a warning */

START_TEST (man_pages_render_without_warnings)
{
    s_missing[0] = '\0';
    const char *all[PAGES + 1];
    for (size_t p = 0; p < PAGES; p++)
        all[p] = s_pages[p].page;
    all[PAGES] = "recobus.conf.5";
    for (size_t p = 0; p <= PAGES; p++) {
        char command[512];
        snprintf (command, sizeof command, "groff -man -ww -z %s%s 2>&1",
                  MAN_DIR, all[p]);
        int status;
        char *out = s_run (command, &status);
        ck_assert_msg (WEXITSTATUS (status) != 127,
                       "groff not found: install the Debian package "
                       "groff-base (make deps)");
        if (status != 0 || *out)
            s_miss ("man/%s: groff says:\n%s", all[p], out);
        free (out);
    }
    s_report ();
}
END_TEST

static Suite *
s_suite (void)
{
    Suite *suite = suite_create ("man");
    TCase *tc = tcase_create ("man");
    tcase_set_timeout (tc, 60);
    tcase_add_test (tc, man_page_names_every_option_of_help);
    tcase_add_test (tc, man_page_names_every_key_with_its_default);
    tcase_add_test (tc, conf_page_names_every_key_of_every_program);
    tcase_add_test (tc, man_pages_render_without_warnings);
    suite_add_tcase (suite, tc);
    return suite;
}

int
main (void)
{
    SRunner *runner = srunner_create (s_suite ());
    srunner_run_all (runner, CK_NORMAL);
    int failed = srunner_ntests_failed (runner);
    srunner_free (runner);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
