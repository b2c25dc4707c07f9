/*  rb_bind: options into structs (see rb_bind.h).  */
#include "rb_bind.h"

#include <assert.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/*  One option's value, whichever source it came from. */
typedef struct {
    const char *text; /* STR and ENUM; NULL: no value */
    long long number; /* INT */
    bool flag;        /* BOOL and FLAG */
} value_t;

static const rb_opt_t *
s_opt (const rb_opt_t *table, const char *key)
{
    for (; table->key; table++)
        if (strcmp (table->key, key) == 0)
            return table;
    return NULL;
}

/*  The index of word in "a|b|c", or -1. */
static int
s_choice_index (const char *choices, const char *word)
{
    if (!choices || !word)
        return -1;
    size_t len = strlen (word);
    for (int index = 0; choices; index++) {
        const char *bar = strchr (choices, '|');
        size_t size = bar ? (size_t) (bar - choices) : strlen (choices);
        if (size == len && memcmp (choices, word, size) == 0)
            return index;
        choices = bar ? bar + 1 : NULL;
    }
    return -1;
}

static void
s_store (const rb_bind_t *b, const rb_opt_t *opt, const value_t *v, void *opts)
{
    char *field = (char *) opts + b->offset;
    long long n = v->number * (b->scale ? b->scale : 1);
    switch (b->type) {
        case RB_FIELD_STR: memcpy (field, &v->text, sizeof v->text); break;
        case RB_FIELD_INT: *(int *) (void *) field = (int) n; break;
        case RB_FIELD_U32: *(uint32_t *) (void *) field = (uint32_t) n; break;
        case RB_FIELD_I64: *(int64_t *) (void *) field = (int64_t) n; break;
        case RB_FIELD_BOOL: *(bool *) (void *) field = v->flag; break;
        case RB_FIELD_ENUM:
            *(int *) (void *) field = s_choice_index (opt->choices, v->text);
            break;
    }
}

void
rb_bind_defaults (const rb_opt_t *table, const rb_bind_t *binds, void *opts)
{
    for (; binds->key; binds++) {
        const rb_opt_t *opt = s_opt (table, binds->key);
        assert (opt); /* a bind naming no option is our bug */
        if (!opt->defval)
            continue;
        value_t v = {opt->defval, strtoll (opt->defval, NULL, 10),
                     s_choice_index ("true|yes|1|on", opt->defval) >= 0};
        s_store (binds, opt, &v, opts);
    }
}

void
rb_bind_config (rb_config_t *cfg, const rb_bind_t *binds, void *opts)
{
    for (; binds->key; binds++) {
        const rb_opt_t *opt = rb_config_opt (cfg, binds->key);
        assert (opt);
        value_t v = {NULL, 0, false};
        if (opt->type == RB_OPT_INT)
            v.number = rb_config_int (cfg, binds->key);
        else if (opt->type == RB_OPT_BOOL || opt->type == RB_OPT_FLAG)
            v.flag = rb_config_bool (cfg, binds->key);
        else
            v.text = rb_config_str (cfg, binds->key);
        s_store (binds, opt, &v, opts);
    }
}
