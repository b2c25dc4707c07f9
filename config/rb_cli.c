/*  rb_cli: getopt_long over the program's table plus the common flags.
    All flags are collected first, then the config is built (its section
    may depend on --name), the -c file is loaded, and the flags are
    applied in the order given, so flags override the file.  */
#include "rb_cli.h"

#include <czmq.h>
#include <getopt.h>

#ifndef RECOBUS_VERSION
#define RECOBUS_VERSION "0.0.0"
#endif

/*  getopt_long values of long-only options; table entry i is
    RB_CLI_TABLE + i (its short letter, if any, is looked up).  */
enum { RB_CLI_VERSION = 256, RB_CLI_TABLE = 257 };

#define RB_CLI_HELP_COLUMN 32 /* widest left column in --help */
#define RB_CLI_HELP_LINE   79 /* --help lines wrap before this column */

/*  One program flag as given on the command line. */
typedef struct {
    int index;         /* entry in the program's table */
    const char *value; /* borrowed from argv, or "1" for a switch */
} s_flag_t;

/*  Everything collected from argv before the config is built. */
typedef struct {
    const rb_program_t *prog; /* the program being parsed for */
    struct option *longopts;  /* getopt_long table, zero-ended */
    char *shortopts;          /* "+:hc:v" and the table's letters */
    s_flag_t *flags;          /* program flags in the order given */
    int count;                /* flags used */
    const char *config_file;  /* -c FILE, or NULL */
    int verbose;              /* number of -v */
} s_parse_t;

/*  --------------------------------------------------------------------
    Messages */

static void
s_verror (const rb_program_t *prog, const char *fmt, va_list args)
{
    fprintf (stderr, "%s: ", prog->name);
    vfprintf (stderr, fmt, args);
    fputc ('\n', stderr);
}

void
rb_cli_error (const rb_program_t *prog, const char *fmt, ...)
{
    assert (prog);
    va_list args;
    va_start (args, fmt);
    s_verror (prog, fmt, args);
    va_end (args);
}

static int s_usage_error (const rb_program_t *prog, const char *fmt, ...)
    CHECK_PRINTF (2);

/*  Prints the error and the --help hint; returns EX_USAGE.  */
static int
s_usage_error (const rb_program_t *prog, const char *fmt, ...)
{
    va_list args;
    va_start (args, fmt);
    s_verror (prog, fmt, args);
    va_end (args);
    fprintf (stderr, "Try '%s --help'.\n", prog->name);
    return EX_USAGE;
}

/*  --------------------------------------------------------------------
    Building the getopt tables */

static void
s_build_longopts (s_parse_t *parse)
{
    const rb_opt_t *opts = parse->prog->opts;
    size_t size = 0;
    while (opts[size].key)
        size++;
    parse->longopts =
        (struct option *) zmalloc ((size + 4) * sizeof (struct option));
    assert (parse->longopts);
    struct option *next = parse->longopts;
    *next++ = (struct option){"help", no_argument, NULL, 'h'};
    *next++ = (struct option){"version", no_argument, NULL, RB_CLI_VERSION};
    *next++ = (struct option){"config", required_argument, NULL, 'c'};
    for (size_t index = 0; index < size; index++) {
        const rb_opt_t *opt = &opts[index];
        assert (opt->flag || !opt->short_flag); //  a letter needs a name
        if (!opt->flag)
            continue;
        assert (!streq (opt->flag, "help") && !streq (opt->flag, "version") &&
                !streq (opt->flag, "config"));
        int has_arg =
            opt->type == RB_OPT_FLAG ? no_argument : required_argument;
        *next++ = (struct option){opt->flag, has_arg, NULL,
                                  RB_CLI_TABLE + (int) index};
    }
}

static void
s_build_shortopts (s_parse_t *parse)
{
    const rb_opt_t *opts = parse->prog->opts;
    size_t size = 0;
    while (opts[size].key)
        size++;
    parse->shortopts = (char *) zmalloc (2 * size + 8);
    assert (parse->shortopts);
    char *next = parse->shortopts;
    next += sprintf (next, "+:hc:v");
    for (size_t index = 0; index < size; index++) {
        int letter = opts[index].short_flag;
        if (!letter)
            continue;
        assert (isalnum (letter) && !strchr ("hcvW", letter));
        *next++ = (char) letter;
        if (opts[index].type != RB_OPT_FLAG)
            *next++ = ':';
    }
}

/*  --------------------------------------------------------------------
    Collecting flags */

static int
s_table_index (const rb_program_t *prog, int value)
{
    if (value >= RB_CLI_TABLE)
        return value - RB_CLI_TABLE;
    for (int index = 0; prog->opts[index].key; index++)
        if (prog->opts[index].short_flag == value)
            return index;
    assert (false); //  getopt returned a letter we did not give it
    return -1;
}

/*  How many long options start with prefix (getopt_long accepts any
    unambiguous prefix).  */
static int
s_prefix_count (const struct option *longopts, const char *prefix)
{
    int count = 0;
    for (; longopts->name; longopts++)
        if (strncmp (longopts->name, prefix, strlen (prefix)) == 0)
            count++;
    return count;
}

/*  Reports a getopt_long error. arg is the argv element getopt was
    reading: "--name[=value]" for a long option, else a cluster of
    letters of which optopt is the bad one.  */
static int
s_bad_option (s_parse_t *parse, int code, const char *arg)
{
    char written[128];
    bool is_long = strncmp (arg, "--", 2) == 0;
    if (is_long)
        snprintf (written, sizeof (written), "%.*s", (int) strcspn (arg, "="),
                  arg);
    else
        snprintf (written, sizeof (written), "-%c", optopt);
    const rb_program_t *prog = parse->prog;
    if (code == ':')
        return s_usage_error (prog, "option '%s' requires an argument",
                              written);
    if (is_long && optopt)
        return s_usage_error (prog, "option '%s' does not take an argument",
                              written);
    if (is_long && s_prefix_count (parse->longopts, written + 2) > 1)
        return s_usage_error (prog, "option '%s' is ambiguous", written);
    return s_usage_error (prog, "unknown option '%s'", written);
}

/*  Handles one getopt_long result: 0 to go on, -1 after --help or
    --version, or an exit code. arg is the argv element it came from.  */
static int
s_take (s_parse_t *parse, int code, const char *arg)
{
    const rb_program_t *prog = parse->prog;
    switch (code) {
        case 'h': rb_cli_help (prog); return -1;
        case RB_CLI_VERSION:
            printf ("%s %s\n", prog->name, RECOBUS_VERSION);
            return -1;
        case 'c': parse->config_file = optarg; return 0;
        case 'v': parse->verbose++; return 0;
        case ':':
        case '?': return s_bad_option (parse, code, arg);
    }
    int index = s_table_index (prog, code);
    bool is_switch = prog->opts[index].type == RB_OPT_FLAG;
    parse->flags[parse->count++] = (s_flag_t){index, is_switch ? "1" : optarg};
    return 0;
}

static int
s_collect (s_parse_t *parse, int argc, char **argv)
{
    parse->flags =
        (s_flag_t *) zmalloc ((size_t) (argc + 1) * sizeof (s_flag_t));
    assert (parse->flags);
    s_build_longopts (parse);
    s_build_shortopts (parse);
    optind = 0; //  glibc: start afresh, as for a new argv
    opterr = 0; //  we print our own messages
    while (true) {
        //  Without permutation ('+'), the option getopt reads next is in
        //  argv[optind] (optind 0 means 1: a fresh start).
        int current = optind ? optind : 1;
        int code =
            getopt_long (argc, argv, parse->shortopts, parse->longopts, NULL);
        if (code == -1)
            return 0;
        int rc = s_take (parse, code, current < argc ? argv[current] : "");
        if (rc)
            return rc;
    }
}

/*  --------------------------------------------------------------------
    Building the config */

/*  The program's section with "{name}" replaced by the last --name, or
    the table's default name; as given when there is neither.  */
static char *
s_section (const s_parse_t *parse)
{
    const rb_program_t *prog = parse->prog;
    const char *name = NULL;
    for (int index = 0; prog->opts[index].key; index++)
        if (streq (prog->opts[index].key, "name"))
            name = prog->opts[index].defval;
    for (int index = 0; index < parse->count; index++)
        if (streq (prog->opts[parse->flags[index].index].key, "name"))
            name = parse->flags[index].value;
    const char *mark = strstr (prog->section, "{name}");
    char *section = NULL;
    if (mark && name)
        section = zsys_sprintf ("%.*s%s%s", (int) (mark - prog->section),
                                prog->section, name, mark + 6);
    else
        section = strdup (prog->section);
    assert (section);
    return section;
}

static int
s_apply_flags (s_parse_t *parse, rb_config_t *config)
{
    for (int index = 0; index < parse->count; index++) {
        const rb_opt_t *opt = &parse->prog->opts[parse->flags[index].index];
        char origin[128];
        snprintf (origin, sizeof (origin), "--%s", opt->flag);
        if (rb_config_set (config, opt->key, parse->flags[index].value, origin))
            return s_usage_error (parse->prog, "%s", rb_config_errstr (config));
    }
    return 0;
}

static int
s_build_config (s_parse_t *parse, rb_config_t **config_p)
{
    char *section = s_section (parse);
    rb_config_t *config = rb_config_new (parse->prog->opts, section);
    free (section);
    int rc = 0;
    if (parse->config_file &&
        rb_config_load_file (config, parse->config_file, rb_config_sections)) {
        rb_cli_error (parse->prog, "%s", rb_config_errstr (config));
        rc = EX_CONFIG;
    }
    if (rc == 0)
        rc = s_apply_flags (parse, config);
    if (rc)
        rb_config_destroy (&config);
    *config_p = config;
    return rc;
}

int
rb_cli_parse (const rb_program_t *prog, int argc, char **argv, rb_cli_t *cli)
{
    assert (prog && prog->name && prog->section && prog->opts);
    assert (cli);
    memset (cli, 0, sizeof (*cli));
    s_parse_t parse = {.prog = prog};
    int rc = s_collect (&parse, argc, argv);
    if (rc == 0)
        rc = s_build_config (&parse, &cli->config);
    cli->verbose = parse.verbose;
    cli->argi = optind;
    free (parse.flags);
    free (parse.longopts);
    free (parse.shortopts);
    return rc;
}

/*  --------------------------------------------------------------------
    Help */

/*  The left column: "  -b, --bind EP" or "      --heartbeat MS".  */
static void
s_help_left (char *buffer, size_t size, const rb_opt_t *opt)
{
    static const char *const metavars[] = {"VALUE", "N", "BOOL", "CHOICE",
                                           NULL};
    const char *metavar = opt->metavar ? opt->metavar : metavars[opt->type];
    char letter[8] = "   ";
    if (opt->short_flag)
        snprintf (letter, sizeof (letter), "-%c,", opt->short_flag);
    if (!opt->flag)
        snprintf (buffer, size, "  -%c%s%s", opt->short_flag,
                  metavar ? " " : "", metavar ? metavar : "");
    else
        snprintf (buffer, size, "  %s --%s%s%s", letter, opt->flag,
                  metavar ? " " : "", metavar ? metavar : "");
}

#define RB_CLI_NBSP '\x1f' /* a space the help never breaks a line at */

/*  The right column: help and "(one of ...; range ...; default: ...)".  */
static char *
s_help_right (const rb_opt_t *opt)
{
    char extra[512] = "";
    size_t used = 0;
    if (opt->type == RB_OPT_ENUM)
        used += snprintf (extra + used, sizeof (extra) - used, "; one of %s",
                          opt->choices);
    if (opt->type == RB_OPT_INT && used < sizeof (extra))
        used += snprintf (extra + used, sizeof (extra) - used,
                          "; range %lld..%lld", opt->min, opt->max);
    if (opt->defval && *opt->defval && opt->type != RB_OPT_FLAG &&
        used < sizeof (extra)) /* NBSP: "default: X" is never split */
        snprintf (extra + used, sizeof (extra) - used, "; default:%c%s",
                  RB_CLI_NBSP, opt->defval);
    const char *help = opt->help ? opt->help : "";
    char *text =
        extra[0] ? zsys_sprintf ("%s (%s)", help, extra + 2) : strdup (help);
    assert (text);
    return text;
}

/*  Prints left, then right from column width, wrapped at words so lines
    stay within RB_CLI_HELP_LINE columns.  */
static void
s_help_line (int width, const char *left, const char *right)
{
    if ((int) strlen (left) + 2 > width)
        printf ("%s\n%*s", left, width, "");
    else
        printf ("%-*s", width, left);
    int room = RB_CLI_HELP_LINE - width, used = 0;
    while (*right) {
        int word = (int) strcspn (right, " ");
        if (used > 0 && used + 1 + word > room) {
            printf ("\n%*s", width, "");
            used = 0;
        } else if (used > 0) {
            putchar (' ');
            used++;
        }
        for (int i = 0; i < word; i++)
            putchar (right[i] == RB_CLI_NBSP ? ' ' : right[i]);
        used += word;
        right += word + strspn (right + word, " ");
    }
    putchar ('\n');
}

/*  The common options, as table entries so they print alike. */
static const rb_opt_t s_common[] = {
    {"config", "config", 'c', RB_OPT_STR, NULL, 0, 0, NULL, "FILE",
     "read settings from FILE"},
    {"verbose", NULL, 'v', RB_OPT_FLAG, NULL, 0, 0, NULL, NULL,
     "debug logs on stderr (repeat for more)"},
    {"help", "help", 'h', RB_OPT_FLAG, NULL, 0, 0, NULL, NULL,
     "show this help and exit"},
    {"version", "version", 0, RB_OPT_FLAG, NULL, 0, 0, NULL, NULL,
     "show the version and exit"},
    {0}};

static int
s_help_width (const rb_program_t *prog)
{
    int width = 0;
    char left[256];
    for (int pass = 0; pass < 2; pass++) {
        const rb_opt_t *opt = pass ? s_common : prog->opts;
        for (; opt->key; opt++) {
            if (!opt->flag && !opt->short_flag)
                continue;
            s_help_left (left, sizeof (left), opt);
            int length = (int) strlen (left) + 2;
            if (length <= RB_CLI_HELP_COLUMN) //  longer ones wrap
                width = MAX (width, length);
        }
    }
    return width;
}

static void
s_help_options (const rb_opt_t *opt, int width)
{
    char left[256];
    for (; opt->key; opt++) {
        if (!opt->flag && !opt->short_flag)
            continue; //  a file-only key
        s_help_left (left, sizeof (left), opt);
        char *right = s_help_right (opt);
        s_help_line (width, left, right);
        free (right);
    }
}

static void
s_help_exits (void)
{
    printf ("Exit status:\n"
            "  0   success\n"
            "  64  command-line usage error\n"
            "  65  bad input data\n"
            "  69  a peer is unreachable or timed out\n"
            "  70  internal error\n"
            "  74  input/output error\n"
            "  78  bad configuration\n");
}

void
rb_cli_help (const rb_program_t *prog)
{
    assert (prog);
    int width = s_help_width (prog);
    printf ("Usage: %s %s\n\n", prog->name,
            prog->usage ? prog->usage : "[options]");
    if (prog->summary)
        printf ("%s\n\n", prog->summary);
    printf ("Options:\n");
    s_help_options (prog->opts, width);
    printf ("\nCommon options:\n");
    s_help_options (s_common, width);
    if (prog->epilog)
        printf ("\n%s\n", prog->epilog);
    printf ("\n");
    s_help_exits ();
}

int
rb_cli_daemon (const rb_program_t *prog, int argc, char **argv, rb_cli_t *cli)
{
    int rc = rb_cli_parse (prog, argc, argv, cli);
    if (rc)
        return rc;
    if (cli->argi < argc) {
        rb_cli_error (prog, "unexpected argument '%s'", argv[cli->argi]);
        rb_config_destroy (&cli->config);
        return EX_USAGE;
    }
    zsys_set_logstream (stderr); /* stdout is for results only */
    zsys_set_logident (prog->name);
    return 0;
}

void
rb_cli_wait_signal (void)
{
    while (!zsys_interrupted)
        zclock_sleep (100);
}
