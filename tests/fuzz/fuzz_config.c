/*  fuzz_config: a ZPL config file as the programs load it (config/
    rb_config.h): the input written to a temp file and loaded against
    the option tables of recobus-broker, -db, -ops and -service (section
    service/svc-latest), as each program's -c FILE does, with the known
    top-level sections. A file that loads leaves every key readable.  */
#include "rb_config.h"
#include "rb_programs.h"
#include "fuzz_util.h"

#include <assert.h>

static void
s_load (const rb_program_t *prog, const char *section, const char *path)
{
    rb_config_t *config = rb_config_new (prog->opts, section);
    assert (config);
    if (rb_config_load_file (config, path, rb_config_sections) == 0) {
        for (const rb_opt_t *o = prog->opts; o->key; o++)
            if (o->type == RB_OPT_INT && rb_config_str (config, o->key)) {
                long long v = rb_config_int (config, o->key);
                assert (v >= o->min && v <= o->max);
            } else if (o->type == RB_OPT_INT)
                continue;
            else if (o->type == RB_OPT_BOOL || o->type == RB_OPT_FLAG)
                rb_config_bool (config, o->key);
            else
                rb_config_str (config, o->key);
    } else
        assert (*rb_config_errstr (config));
    rb_config_destroy (&config);
}

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
    const char *path = fuzz_file (data, size);
    s_load (&rb_program_broker, rb_program_broker.section, path);
    s_load (&rb_program_db, rb_program_db.section, path);
    s_load (&rb_program_ops, rb_program_ops.section, path);
    s_load (&rb_program_service, "service/svc-latest", path);
    return 0;
}
