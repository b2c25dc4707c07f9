/*  test_bind: each actor's options struct is filled from its program's
    option table and nowhere else: every default lands in its field (in
    the field's unit), every option a daemon takes has a field, and values
    from a config (file or flags) land the same way.  */
#include <check.h>

#include "rb_testing.h"
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "rb_broker.h"
#include "rb_db.h"
#include "rb_ops.h"
#include "rb_programs.h"
#include "rb_service.h"

/*  A program, its bind table, and options it takes that fill no field of
    the actor (they are read by main itself).  */
typedef struct {
    const rb_program_t *prog;
    const rb_bind_t *binds;
    const char *unbound; /* " key key " */
} bound_t;

static const bound_t s_bound[] = {
    {&rb_program_broker, rb_broker_binds, " insecure "},
    {&rb_program_db, rb_db_binds, " init insecure "},
    {&rb_program_service, rb_service_binds, " insecure "},
    {&rb_program_ops, rb_ops_binds, " insecure "},
};

static const rb_bind_t *
s_bind (const rb_bind_t *binds, const char *key)
{
    for (; binds->key; binds++)
        if (streq (binds->key, key))
            return binds;
    return NULL;
}

static long long
s_field_int (const rb_bind_t *b, const void *opts)
{
    const char *field = (const char *) opts + b->offset;
    switch (b->type) {
        case RB_FIELD_INT: return *(const int *) (const void *) field;
        case RB_FIELD_U32: return *(const uint32_t *) (const void *) field;
        case RB_FIELD_I64: return *(const int64_t *) (const void *) field;
        default: ck_abort_msg ("%s is not a number", b->key);
    }
    return 0;
}

START_TEST (every_option_of_a_daemon_has_a_field)
{
    for (size_t i = 0; i < sizeof s_bound / sizeof s_bound[0]; i++) {
        const bound_t *p = &s_bound[i];
        for (const rb_opt_t *o = p->prog->opts; o->key; o++) {
            char word[80];
            snprintf (word, sizeof word, " %s ", o->key);
            ck_assert_msg (
                s_bind (p->binds, o->key) || strstr (p->unbound, word),
                "%s: option %s fills no field", p->prog->name, o->key);
        }
        for (const rb_bind_t *b = p->binds; b->key; b++) {
            bool known = false;
            for (const rb_opt_t *o = p->prog->opts; o->key; o++)
                known |= streq (o->key, b->key);
            ck_assert_msg (known, "%s: bind %s is no option", p->prog->name,
                           b->key);
        }
    }
}
END_TEST

/*  Each number default, scaled to its field's unit, is in the field the
    actor's _opts_default fills.  */
static void
s_check_defaults (const bound_t *p, const void *opts)
{
    for (const rb_bind_t *b = p->binds; b->key; b++) {
        const rb_opt_t *o = p->prog->opts;
        while (!streq (o->key, b->key))
            o++;
        if (!o->defval)
            continue;
        const char *field = (const char *) opts + b->offset;
        if (b->type == RB_FIELD_STR)
            ck_assert_str_eq (*(const char *const *) (const void *) field,
                              o->defval);
        else if (b->type != RB_FIELD_BOOL && b->type != RB_FIELD_ENUM)
            ck_assert_int_eq (s_field_int (b, opts),
                              strtoll (o->defval, NULL, 10) *
                                  (b->scale ? b->scale : 1));
    }
}

START_TEST (actor_defaults_are_the_tables_defaults)
{
    rb_broker_opts_t broker;
    rb_broker_opts_default (&broker);
    s_check_defaults (&s_bound[0], &broker);
    rb_db_opts_t db;
    rb_db_opts_default (&db);
    s_check_defaults (&s_bound[1], &db);
    rb_service_opts_t svc;
    rb_service_opts_default (&svc);
    s_check_defaults (&s_bound[2], &svc);
    ck_assert_int_eq (svc.cache_ttl_ms, 300 * 1000); /* seconds -> ms */
    rb_ops_opts_t ops;
    rb_ops_opts_default (&ops);
    s_check_defaults (&s_bound[3], &ops);
    ck_assert (!ops.json);
}
END_TEST

START_TEST (config_values_land_in_their_fields)
{
    rb_config_t *cfg = rb_config_new (rb_program_service.opts, "service/a");
    ck_assert_int_eq (rb_config_set (cfg, "name", "svc-a", "--name"), 0);
    ck_assert_int_eq (rb_config_set (cfg, "policy", "stale-ok", "--policy"), 0);
    ck_assert_int_eq (rb_config_set (cfg, "cache-ttl", "7", "x.cfg:3"), 0);
    ck_assert_int_eq (rb_config_set (cfg, "cache-size", "4000000000", "f"),
                      -1); /* out of bounds: refused, the default stays */
    rb_service_opts_t o;
    rb_service_opts_default (&o);
    rb_bind_config (cfg, rb_service_binds, &o);
    ck_assert_str_eq (o.name, "svc-a");
    ck_assert_int_eq (o.policy, RB_POLICY_STALE_OK);
    ck_assert_int_eq (o.cache_ttl_ms, 7000);
    ck_assert_uint_eq (o.cache_size, 100000);
    rb_config_destroy (&cfg);

    cfg = rb_config_new (rb_program_broker.opts, "broker");
    ck_assert_int_eq (rb_config_set (cfg, "max-frame", "1073741824", "f"), 0);
    rb_broker_opts_t b;
    rb_broker_opts_default (&b);
    rb_bind_config (cfg, rb_broker_binds, &b);
    ck_assert_int_eq (b.max_frame, 1073741824LL);
    ck_assert_uint_eq (b.max_inflight, 1u << 20); /* not an option: kept */
    rb_config_destroy (&cfg);
}
END_TEST

int
main (void)
{
    Suite *s = suite_create ("bind");
    TCase *tc = tcase_create ("bind");
    tcase_add_test (tc, every_option_of_a_daemon_has_a_field);
    tcase_add_test (tc, actor_defaults_are_the_tables_defaults);
    tcase_add_test (tc, config_values_land_in_their_fields);
    suite_add_tcase (s, tc);
    return rb_test_run (s);
}
