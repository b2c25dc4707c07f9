/*  rb_config: table-driven settings. Values start as the table defaults,
    a ZPL file overrides them, flags override the file.

    czmq's zconfig builds the tree but keeps no line numbers and only logs
    its syntax errors, so the file is first read by a line scanner that
    accepts exactly what zconfig accepts, says what is wrong on which line,
    and maps every key path ("broker/bind") to its line. zconfig then reads
    the same bytes (zconfig_str_load, so both see one version of the file)
    and the program's section is checked key by key into a staging array
    that is only committed when everything is valid.  */
#include "rb_config.h"

#include <czmq.h>
#include <errno.h>
#include <fcntl.h>
#include <unistd.h>

#define RB_ZPL_LINE_MAX  1024      /* zconfig cuts longer lines silently */
#define RB_ZPL_DEPTH_MAX 16        /* nesting levels a file may use */
#define RB_ZPL_FILE_MAX  (1 << 20) /* bytes a config file may hold */

const char *const rb_config_sections[] = {
    "broker", "db",    "service", "ops",
    "monitor", "terminal", "bench", "keygen", NULL};

struct rb_config {
    const rb_opt_t *table; /* known keys, borrowed, ended by key == NULL */
    size_t size;           /* number of entries in table */
    char **values;         /* owned text per entry, or NULL when unset */
    bool *from_user;       /* per entry: set by the file or a flag */
    char *section;         /* ZPL path of this program's section */
    char *errstr;          /* last error, one line */
};

/*  What the scanner knows about one name in the file. */
typedef struct {
    int line;    /* line of its first occurrence, from 1 */
    bool valued; /* the line had "= value" */
} s_line_t;

/*  Line scanner state. */
typedef struct {
    const char *file;             /* file name, for messages */
    const char *section;          /* program's section, for duplicates */
    zhashx_t *lines;              /* key path -> s_line_t */
    char *open[RB_ZPL_DEPTH_MAX]; /* path of the last name at each depth */
    int depth;                    /* depth of the last name, -1: none */
} s_scan_t;

/*  --------------------------------------------------------------------
    Errors and lookups */

static int s_fail (rb_config_t *self, const char *fmt, ...) CHECK_PRINTF (2);

static int
s_fail (rb_config_t *self, const char *fmt, ...)
{
    va_list args;
    va_start (args, fmt);
    char *text = zsys_vprintf (fmt, args);
    va_end (args);
    assert (text);
    free (self->errstr);
    self->errstr = text;
    return -1;
}

static int
s_index (const rb_config_t *self, const char *key)
{
    for (size_t index = 0; index < self->size; index++)
        if (streq (self->table[index].key, key))
            return (int) index;
    return -1;
}

static int
s_index_asserted (const rb_config_t *self, const char *key)
{
    assert (self);
    assert (key);
    int index = s_index (self, key);
    assert (index >= 0); //  reading a key not in the table is our bug
    return index;
}

/*  --------------------------------------------------------------------
    Value checks: each returns NULL when text is valid, else a new string
    saying what is wrong (the caller frees it).  */

static bool
s_parse_int (const char *text, long long *value, bool *overflow)
{
    char *end = NULL;
    errno = 0;
    *value = strtoll (text, &end, 10);
    *overflow = errno == ERANGE;
    return end != text && *end == '\0' && !isspace ((unsigned char) *text);
}

static bool
s_parse_bool (const char *text, bool *value)
{
    static const char *const words[] = {"true",  "yes", "1", "on",
                                        "false", "no",  "0", "off"};
    for (size_t index = 0; index < 8; index++)
        if (streq (text, words[index])) {
            *value = index < 4;
            return true;
        }
    return false;
}

static bool
s_is_choice (const char *choices, const char *text)
{
    size_t length = strlen (text);
    const char *word = choices;
    while (word) {
        const char *bar = strchr (word, '|');
        size_t size = bar ? (size_t) (bar - word) : strlen (word);
        if (size == length && memcmp (word, text, size) == 0)
            return true;
        word = bar ? bar + 1 : NULL;
    }
    return false;
}

static char *
s_check_int (const rb_opt_t *opt, const char *text)
{
    long long value;
    bool overflow;
    if (!s_parse_int (text, &value, &overflow))
        return zsys_sprintf ("'%s' is not an integer", text);
    if (overflow || value < opt->min || value > opt->max)
        return zsys_sprintf ("%s is out of range %lld..%lld", text, opt->min,
                             opt->max);
    return NULL;
}

static char *
s_check_str (const rb_opt_t *opt, const char *text)
{
    size_t length = strlen (text);
    if (opt->max <= 0)
        return NULL;
    if ((long long) length < opt->min || (long long) length > opt->max)
        return zsys_sprintf ("value has %zu characters; allowed %lld..%lld",
                             length, opt->min, opt->max);
    return NULL;
}

static char *
s_check_value (const rb_opt_t *opt, const char *text)
{
    bool flag;
    switch (opt->type) {
        case RB_OPT_INT: return s_check_int (opt, text);
        case RB_OPT_BOOL:
        case RB_OPT_FLAG:
            if (s_parse_bool (text, &flag))
                return NULL;
            return zsys_sprintf ("'%s' is not one of "
                                 "true|false|yes|no|1|0|on|off",
                                 text);
        case RB_OPT_ENUM:
            if (s_is_choice (opt->choices, text))
                return NULL;
            return zsys_sprintf ("'%s' is not one of %s", text, opt->choices);
        case RB_OPT_STR: return s_check_str (opt, text);
    }
    return zsys_sprintf ("unknown option type %d", (int) opt->type);
}

/*  --------------------------------------------------------------------
    Object */

rb_config_t *
rb_config_new (const rb_opt_t *table, const char *section)
{
    assert (table);
    assert (section);
    rb_config_t *self = (rb_config_t *) zmalloc (sizeof (rb_config_t));
    assert (self);
    self->table = table;
    while (table[self->size].key)
        self->size++;
    self->values = (char **) zmalloc ((self->size + 1) * sizeof (char *));
    self->from_user = (bool *) zmalloc ((self->size + 1) * sizeof (bool));
    self->section = strdup (section);
    assert (self->values && self->from_user && self->section);
    for (size_t index = 0; index < self->size; index++) {
        const rb_opt_t *opt = &table[index];
        //  A default that fails its own entry is a bug in the table
        assert (!opt->defval || !s_check_value (opt, opt->defval));
        assert (opt->type != RB_OPT_ENUM || opt->choices);
        if (opt->defval)
            self->values[index] = strdup (opt->defval);
    }
    return self;
}

void
rb_config_destroy (rb_config_t **self_p)
{
    assert (self_p);
    rb_config_t *self = *self_p;
    if (!self)
        return;
    for (size_t index = 0; index < self->size; index++)
        free (self->values[index]);
    free (self->values);
    free (self->from_user);
    free (self->section);
    free (self->errstr);
    free (self);
    *self_p = NULL;
}

void
rb_config_set_section (rb_config_t *self, const char *section)
{
    assert (self);
    assert (section);
    char *copy = strdup (section);
    assert (copy);
    free (self->section);
    self->section = copy;
}

static void
s_store (rb_config_t *self, int index, char *value)
{
    free (self->values[index]);
    self->values[index] = value;
    self->from_user[index] = true;
}

int
rb_config_set (rb_config_t *self, const char *key, const char *value,
               const char *origin)
{
    assert (self);
    assert (key);
    const char *where = origin ? origin : key;
    int index = s_index (self, key);
    if (index < 0)
        return s_fail (self, "%s: unknown key %s", where, key);
    if (!value)
        return s_fail (self, "%s: missing value", where);
    char *problem = s_check_value (&self->table[index], value);
    if (problem) {
        s_fail (self, "%s: %s", where, problem);
        free (problem);
        return -1;
    }
    char *copy = strdup (value);
    assert (copy);
    s_store (self, index, copy);
    return 0;
}

/*  --------------------------------------------------------------------
    Line scanner */

static void
s_line_destroy (void **item_p)
{
    free (*item_p);
    *item_p = NULL;
}

static void
s_scan_init (s_scan_t *scan, const char *file, const char *section)
{
    memset (scan, 0, sizeof (*scan));
    scan->file = file;
    scan->section = section;
    scan->lines = zhashx_new ();
    assert (scan->lines);
    zhashx_set_destructor (scan->lines, s_line_destroy);
    scan->depth = -1;
}

static void
s_scan_end (s_scan_t *scan)
{
    zhashx_destroy (&scan->lines);
    for (int depth = 0; depth < RB_ZPL_DEPTH_MAX; depth++)
        zstr_free (&scan->open[depth]);
}

static bool
s_is_namechar (char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
           (c >= '0' && c <= '9') || c == '_' || c == '.' || c == '@' ||
           c == '-';
}

/*  True when only spaces, then nothing or a comment, follow. */
static bool
s_is_eoln (const char *text)
{
    while (isspace ((unsigned char) *text))
        text++;
    return *text == '\0' || *text == '#';
}

/*  True when path is under, above or equal to the program's section:
    a second occurrence there would hide keys from us.  */
static bool
s_is_related (const char *path, const char *section)
{
    size_t plen = strlen (path), slen = strlen (section);
    if (plen == slen)
        return streq (path, section);
    if (plen < slen)
        return section[plen] == '/' && memcmp (section, path, plen) == 0;
    return path[slen] == '/' && memcmp (path, section, slen) == 0;
}

static int
s_scan_fail (rb_config_t *self, s_scan_t *scan, int lineno, const char *what)
{
    return s_fail (self, "%s:%d: malformed ZPL: %s", scan->file, lineno, what);
}

/*  Checks "= value" (or nothing) after a name and sets *valued; returns
    NULL, or what is wrong.  */
static const char *
s_scan_value (const char *text, bool *valued)
{
    while (isspace ((unsigned char) *text))
        text++;
    *valued = *text == '=';
    const char *junk = "expected '=' or a comment after the name";
    if (!*valued)
        return s_is_eoln (text) ? NULL : junk;
    text++;
    while (isspace ((unsigned char) *text))
        text++;
    if (*text != '"' && *text != '\'')
        return NULL; //  a bare value runs to '#' or the end of the line
    const char *close = strchr (text + 1, *text);
    if (!close)
        return *text == '"' ? "missing closing \"" : "missing closing '";
    return s_is_eoln (close + 1) ? NULL : "text after the closing quote";
}

/*  Records path at lineno; a repeated path near our section is an error,
    elsewhere the first occurrence is kept.  */
static int
s_scan_record (rb_config_t *self, s_scan_t *scan, int level, char *path,
               int lineno, bool valued)
{
    zstr_free (&scan->open[level]);
    scan->open[level] = path;
    scan->depth = level;
    s_line_t *seen = (s_line_t *) zhashx_lookup (scan->lines, path);
    if (seen && s_is_related (path, scan->section))
        return s_fail (self, "%s:%d: %s: repeated (first at line %d)",
                       scan->file, lineno, path, seen->line);
    if (seen)
        return 0;
    s_line_t *line = (s_line_t *) zmalloc (sizeof (s_line_t));
    assert (line);
    line->line = lineno;
    line->valued = valued;
    zhashx_insert (scan->lines, path, line);
    return 0;
}

/*  Checks indentation, name and value of one line (already trimmed at
    the end) and records its name.  */
static int
s_scan_name (rb_config_t *self, s_scan_t *scan, const char *text, int level,
             int lineno)
{
    if (level > scan->depth + 1)
        return s_scan_fail (self, scan, lineno,
                            "indented deeper than the line above allows");
    if (level >= RB_ZPL_DEPTH_MAX)
        return s_scan_fail (self, scan, lineno, "nested too deep");
    size_t length = 0;
    while (s_is_namechar (text[length]))
        length++;
    if (length == 0 && text[0] == '=')
        return s_scan_fail (self, scan, lineno, "expected a name before '='");
    unsigned char c = (unsigned char) text[length];
    if (length == 0 || (c && c != '=' && c != '#' && !isspace (c))) {
        char what[64];
        if (isgraph (c))
            snprintf (what, sizeof (what), "'%c' is not allowed in a name", c);
        else
            snprintf (what, sizeof (what), "byte 0x%02x in a name", c);
        return s_scan_fail (self, scan, lineno, what);
    }
    bool valued;
    const char *problem = s_scan_value (text + length, &valued);
    if (problem)
        return s_scan_fail (self, scan, lineno, problem);
    char *path = level ? zsys_sprintf ("%s/%.*s", scan->open[level - 1],
                                       (int) length, text)
                       : zsys_sprintf ("%.*s", (int) length, text);
    assert (path);
    return s_scan_record (self, scan, level, path, lineno, valued);
}

static int
s_scan_line (rb_config_t *self, s_scan_t *scan, char *line, int lineno)
{
    size_t length = strlen (line);
    while (length && isspace ((unsigned char) line[length - 1]))
        line[--length] = '\0';
    size_t spaces = strspn (line, " ");
    if (line[spaces] == '\t')
        return s_scan_fail (self, scan, lineno,
                            "tab in indentation (indent with 4 spaces)");
    if (spaces % 4) {
        char what[80];
        snprintf (what, sizeof (what),
                  "indentation of %zu spaces is not a multiple of 4", spaces);
        return s_scan_fail (self, scan, lineno, what);
    }
    if (line[spaces] == '\0' || line[spaces] == '#')
        return 0; //  blank line or comment
    return s_scan_name (self, scan, line + spaces, (int) (spaces / 4), lineno);
}

/*  Walks the text line by line; text must hold no NUL byte.  */
static int
s_scan_text (rb_config_t *self, s_scan_t *scan, const char *text)
{
    char line[RB_ZPL_LINE_MAX + 1];
    int lineno = 0;
    while (*text) {
        lineno++;
        const char *eoln = strchr (text, '\n');
        size_t length = eoln ? (size_t) (eoln - text) : strlen (text);
        if (length > RB_ZPL_LINE_MAX)
            return s_scan_fail (self, scan, lineno,
                                "line longer than 1024 bytes");
        memcpy (line, text, length);
        line[length] = '\0';
        if (s_scan_line (self, scan, line, lineno))
            return -1;
        text += length + (eoln ? 1 : 0);
    }
    return 0;
}

/*  --------------------------------------------------------------------
    File reading and checking */

/*  Reads up to RB_ZPL_FILE_MAX + 1 bytes into a new NUL-ended buffer,
    growing it as needed; returns it with its size, or NULL with errno
    set.  */
static char *
s_read_fd (int fd, size_t *size_p)
{
    size_t size = 0, room = 4096;
    char *text = (char *) malloc (room + 1);
    assert (text);
    while (size <= RB_ZPL_FILE_MAX) {
        if (size == room) {
            room *= 2;
            text = (char *) realloc (text, room + 1);
            assert (text);
        }
        ssize_t got = read (fd, text + size, room - size);
        if (got < 0 && errno != EINTR) {
            int saved = errno;
            free (text);
            errno = saved;
            return NULL;
        }
        if (got == 0)
            break;
        if (got > 0)
            size += (size_t) got;
    }
    text[size] = '\0';
    *size_p = size;
    return text;
}

/*  Reads the whole file into a new NUL-ended string; on error returns
    NULL with errstr set.  */
static char *
s_read_file (rb_config_t *self, const char *path)
{
    int fd = open (path, O_RDONLY);
    if (fd < 0) {
        s_fail (self, "%s: cannot read: %s", path, strerror (errno));
        return NULL;
    }
    size_t size = 0;
    char *text = s_read_fd (fd, &size);
    int rc = 0;
    if (!text)
        rc = s_fail (self, "%s: cannot read: %s", path, strerror (errno));
    else if (size > RB_ZPL_FILE_MAX)
        rc = s_fail (self, "%s: larger than %d bytes", path, RB_ZPL_FILE_MAX);
    else if (memchr (text, '\0', size))
        rc = s_fail (self, "%s: malformed ZPL: NUL byte in file", path);
    close (fd);
    if (rc)
        zstr_free (&text);
    return text;
}

/*  Sets errstr to "FILE:LINE: PATH: what".  */
static int
s_fail_at (rb_config_t *self, s_scan_t *scan, const char *path,
           const char *what)
{
    s_line_t *line = (s_line_t *) zhashx_lookup (scan->lines, path);
    if (!line) //  the two parsers disagree; still name file and key
        return s_fail (self, "%s: %s: %s", scan->file, path, what);
    return s_fail (self, "%s:%d: %s: %s", scan->file, line->line, path, what);
}

static bool
s_is_known (const char *const *known, const char *name)
{
    for (; *known; known++)
        if (streq (*known, name))
            return true;
    return false;
}

static int
s_check_sections (rb_config_t *self, s_scan_t *scan, zconfig_t *root,
                  const char *const *known)
{
    zconfig_t *item = zconfig_child (root);
    for (; item; item = zconfig_next (item))
        if (!s_is_known (known, zconfig_name (item)))
            return s_fail_at (self, scan, zconfig_name (item),
                              "unknown section");
    return 0;
}

/*  Checks one key of our section and stages its value.  */
static int
s_read_key (rb_config_t *self, s_scan_t *scan, zconfig_t *item,
            const char *path, char **staged)
{
    int index = s_index (self, zconfig_name (item));
    if (index < 0)
        return s_fail_at (self, scan, path, "unknown key");
    if (zconfig_child (item))
        return s_fail_at (self, scan, path, "expected a value, not a section");
    s_line_t *line = (s_line_t *) zhashx_lookup (scan->lines, path);
    if (line && !line->valued)
        return s_fail_at (self, scan, path, "missing '= value'");
    char *problem = s_check_value (&self->table[index], zconfig_value (item));
    if (problem) {
        s_fail_at (self, scan, path, problem);
        free (problem);
        return -1;
    }
    free (staged[index]);
    staged[index] = strdup (zconfig_value (item));
    assert (staged[index]);
    return 0;
}

static int
s_read_section (rb_config_t *self, s_scan_t *scan, zconfig_t *root,
                char **staged)
{
    zconfig_t *section = zconfig_locate (root, self->section);
    if (!section)
        return 0; //  nothing for us in this file: defaults stay
    zconfig_t *item = zconfig_child (section);
    for (; item; item = zconfig_next (item)) {
        char *path = zsys_sprintf ("%s/%s", self->section, zconfig_name (item));
        assert (path);
        int rc = s_read_key (self, scan, item, path, staged);
        free (path);
        if (rc)
            return -1;
    }
    return 0;
}

/*  Scans, parses and checks text; stages our section's values.  */
static int
s_load_text (rb_config_t *self, const char *path, const char *text,
             const char *const *known, char **staged)
{
    s_scan_t scan;
    s_scan_init (&scan, path, self->section);
    int rc = s_scan_text (self, &scan, text);
    zconfig_t *root = rc ? NULL : zconfig_str_load (text);
    if (rc == 0 && !root)
        rc = s_fail (self, "%s: malformed ZPL (rejected by zconfig)", path);
    if (rc == 0)
        rc = s_check_sections (self, &scan, root, known);
    if (rc == 0)
        rc = s_read_section (self, &scan, root, staged);
    zconfig_destroy (&root);
    s_scan_end (&scan);
    return rc;
}

int
rb_config_load_file (rb_config_t *self, const char *path,
                     const char *const *known_sections)
{
    assert (self);
    assert (path);
    char *text = s_read_file (self, path);
    if (!text)
        return -1;
    char **staged = (char **) zmalloc ((self->size + 1) * sizeof (char *));
    assert (staged);
    const char *const *known =
        known_sections ? known_sections : rb_config_sections;
    int rc = s_load_text (self, path, text, known, staged);
    for (size_t index = 0; index < self->size; index++) {
        if (rc == 0 && staged[index])
            s_store (self, (int) index, staged[index]);
        else
            free (staged[index]);
    }
    free (staged);
    free (text);
    return rc;
}

/*  --------------------------------------------------------------------
    Reads */

const char *
rb_config_str (rb_config_t *self, const char *key)
{
    return self->values[s_index_asserted (self, key)];
}

long long
rb_config_int (rb_config_t *self, const char *key)
{
    int index = s_index_asserted (self, key);
    assert (self->table[index].type == RB_OPT_INT);
    const char *text = self->values[index];
    return text ? strtoll (text, NULL, 10) : 0;
}

bool
rb_config_bool (rb_config_t *self, const char *key)
{
    int index = s_index_asserted (self, key);
    assert (self->table[index].type == RB_OPT_BOOL ||
            self->table[index].type == RB_OPT_FLAG);
    bool value = false;
    if (self->values[index])
        s_parse_bool (self->values[index], &value);
    return value;
}

bool
rb_config_is_set (rb_config_t *self, const char *key)
{
    return self->from_user[s_index_asserted (self, key)];
}

const char *
rb_config_errstr (rb_config_t *self)
{
    assert (self);
    return self->errstr ? self->errstr : "";
}

const rb_opt_t *
rb_config_opt (rb_config_t *self, const char *key)
{
    assert (self);
    assert (key);
    int index = s_index (self, key);
    return index < 0 ? NULL : &self->table[index];
}
