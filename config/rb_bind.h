/*  rb_bind: where each of a program's options lands in the options struct
    of the actor it starts. The option table (rb_programs.c) is the one
    source of every option's name, type, default and bounds; a bind table
    says, once, which struct field a key fills and in which unit. Both the
    actor's defaults (rb_bind_defaults) and main()'s values from flags and
    file (rb_bind_config) come from the same two tables, so no default is
    written twice and no main() converts units by hand.  */
#ifndef RB_BIND_H
#define RB_BIND_H

#include <stddef.h>

#include "rb_config.h"

/*  The C type of the field a key fills. */
typedef enum {
    RB_FIELD_STR,  /* const char *: borrowed from the table or the config */
    RB_FIELD_INT,  /* int */
    RB_FIELD_U32,  /* uint32_t */
    RB_FIELD_I64,  /* int64_t */
    RB_FIELD_BOOL, /* bool */
    RB_FIELD_ENUM  /* int: the index of the word in the option's choices,
                      -1 when the option has no value */
} rb_field_t;

/*  One key's field. A bind table ends with an entry whose key is NULL. */
typedef struct {
    const char *key; /* the key in the program's option table */
    rb_field_t type; /* what is at offset */
    size_t offset;   /* offsetof (the opts struct, the field) */
    int scale; /* field = value x scale (1000: seconds in the config, ms in
                  the field); 0 means 1 */
} rb_bind_t;

/*  Fills opts from the option table's defaults. A key without a default
    leaves its field as it is.  */
void rb_bind_defaults (const rb_opt_t *table, const rb_bind_t *binds,
                       void *opts);

/*  Fills opts from cfg (defaults, file, flags, already validated against
    the same table). Strings are borrowed from cfg: keep it alive as long
    as opts is used.  */
void rb_bind_config (rb_config_t *cfg, const rb_bind_t *binds, void *opts);

#endif
