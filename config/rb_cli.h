/*  rb_cli: the one way every recobus program reads its command line.
    Common flags: -h/--help (shows defaults), --version, -c/--config FILE,
    -v (repeatable: debug logs on stderr). Program flags come from the
    program's rb_opt_t table. Flags override the file; the file overrides
    the defaults. Exit codes are sysexits.h's.  */
#ifndef RB_CLI_H
#define RB_CLI_H

#include <sysexits.h>
#include "rb_config.h"

typedef struct {
    const char *name;     /* program name, "recobus-broker" */
    const char *usage;    /* after the name: "[options] COMMAND ..." */
    const char *summary;  /* one paragraph shown at the top of --help */
    const char *epilog;   /* extra help text after the options, or NULL */
    const char *section;  /* ZPL section; "{name}" is replaced by the value
                             of the "name" option (service nodes) */
    const rb_opt_t *opts; /* the program's table */
} rb_program_t;

typedef struct {
    rb_config_t *config; /* the merged configuration; caller destroys */
    int verbose;         /* number of -v given */
    int argi;            /* index in argv of the first operand */
} rb_cli_t;

/*  Parses argv. Returns:
      0        ready: cli filled in, operands are argv[cli->argi..argc-1]
      -1       --help or --version printed on stdout: exit 0
      EX_USAGE a bad flag or missing argument (one line on stderr + hint)
      EX_CONFIG a bad config file or value (one line "FILE:LINE: ...")
    Errors are printed by this function. Options stop at the first
    operand, so subcommand flags can follow it (parsed by the program).  */
int rb_cli_parse (const rb_program_t *prog, int argc, char **argv,
                  rb_cli_t *cli);

/*  For daemons (no operands): parses argv as rb_cli_parse, refuses any
    operand (EX_USAGE), and sends logs to stderr under the program's
    name. Returns 0 to go on, -1 when --help/--version was printed (exit
    0), or the exit code.  */
int rb_cli_daemon (const rb_program_t *prog, int argc, char **argv,
                   rb_cli_t *cli);

/*  Blocks until SIGINT or SIGTERM (czmq's zsys_interrupted).  */
void rb_cli_wait_signal (void);

/*  Prints the --help text for prog on stdout. */
void rb_cli_help (const rb_program_t *prog);

/*  Prints "NAME: message" on stderr (one line, printf-style). */
void rb_cli_error (const rb_program_t *prog, const char *fmt, ...)
    __attribute__ ((format (printf, 2, 3)));

#endif
