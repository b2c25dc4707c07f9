/*  rb_config: one table of known keys per program, values from built-in
    defaults, then a ZPL file (read with czmq zconfig), then command-line
    flags. Every value is validated against its table entry; a bad one is
    reported as "FILE:LINE: what is wrong" (or "--flag: what is wrong").  */
#ifndef RB_CONFIG_H
#define RB_CONFIG_H

#include <stdbool.h>

typedef enum {
    RB_OPT_STR,  /* any text (bounds: length min..max when max > 0) */
    RB_OPT_INT,  /* decimal integer within min..max */
    RB_OPT_BOOL, /* true|false|yes|no|1|0|on|off */
    RB_OPT_ENUM, /* one of the '|'-separated words in choices */
    RB_OPT_FLAG  /* a command-line switch without argument; "1" when given */
} rb_opt_type_t;

/*  One known key. A table is an array ended by an entry with key == NULL. */
typedef struct {
    const char *key;     /* key inside the program's section, e.g. "bind" */
    const char *flag;    /* long flag without "--", or NULL: file only */
    int short_flag;      /* single-letter flag, or 0 */
    rb_opt_type_t type;  /* how the value is read and checked */
    const char *defval;  /* default as text, or NULL: no default (unset) */
    long long min, max;  /* bounds for INT; length bounds for STR */
    const char *choices; /* ENUM words, "latest-only|stale-ok" */
    const char *metavar; /* placeholder in --help, e.g. "EP" */
    const char *help;    /* one-line description */
} rb_opt_t;

typedef struct rb_config rb_config_t;

/*  Creates a config holding every table default. table is borrowed and
    must outlive the object. section is the ZPL path the program reads,
    e.g. "broker" or "service/svc-latest".  */
rb_config_t *rb_config_new (const rb_opt_t *table, const char *section);
void rb_config_destroy (rb_config_t **self_p);

/*  Replaces the section path (the service node reads "service/NAME" once
    it knows its name).  */
void rb_config_set_section (rb_config_t *self, const char *section);

/*  Reads a ZPL file: checks its syntax, that every top-level section is a
    known one (known_sections, NULL-ended), that every key in this
    program's section is in the table, and every value against its entry.
    Returns 0, or -1 with errstr "FILE:LINE: ..." and nothing changed.  */
int rb_config_load_file (rb_config_t *self, const char *path,
                         const char *const *known_sections);

/*  Sets one key from text; origin names where it came from, for the error
    ("--bind", "recobus.cfg:12"). Returns 0, or -1 with errstr set and the
    old value kept.  */
int rb_config_set (rb_config_t *self, const char *key, const char *value,
                   const char *origin);

/*  Typed reads. The key must be in the table (asserted: our own bug). */
const char *rb_config_str (rb_config_t *self, const char *key);
long long rb_config_int (rb_config_t *self, const char *key);
bool rb_config_bool (rb_config_t *self, const char *key);
/*  True when the value came from the file or a flag, not the default. */
bool rb_config_is_set (rb_config_t *self, const char *key);

/*  The last error, one line; borrowed, valid until the next call.  */
const char *rb_config_errstr (rb_config_t *self);

/*  The table entry for key, or NULL. */
const rb_opt_t *rb_config_opt (rb_config_t *self, const char *key);

/*  The top-level sections a recobus config file may hold. */
extern const char *const rb_config_sections[];

#endif
