/*  rb_db_opts: the DB node's options: defaults from its option table
    (config/rb_programs.c), and which field each key fills.  */
#include "rb_db_int.h"
#include "rb_programs.h"

#include <string.h>

#define F(field) offsetof (rb_db_opts_t, field)

const rb_bind_t rb_db_binds[] = {
    {"name", RB_FIELD_STR, F (name), 0},
    {"broker", RB_FIELD_STR, F (broker), 0},
    {"redis", RB_FIELD_STR, F (redis), 0},
    {"redis-sentinels", RB_FIELD_STR, F (redis_sentinels), 0},
    {"redis-master-name", RB_FIELD_STR, F (redis_master_name), 0},
    {"redis-cluster", RB_FIELD_STR, F (redis_cluster), 0},
    {"redis-user", RB_FIELD_STR, F (redis_user), 0},
    {"redis-password", RB_FIELD_STR, F (redis_password), 0},
    {"redis-timeout", RB_FIELD_INT, F (redis_timeout_ms), 0},
    {"connect-timeout", RB_FIELD_INT, F (connect_timeout_ms), 0},
    {"redis-wait-replicas", RB_FIELD_INT, F (redis_wait_replicas), 0},
    {"redis-wait-timeout", RB_FIELD_INT, F (redis_wait_timeout_ms), 0},
    {"backup-dir", RB_FIELD_STR, F (backup_dir), 0},
    {"backup-key", RB_FIELD_STR, F (backup_key), 0},
    {"backup-keep", RB_FIELD_INT, F (backup_keep), 0},
    {"max-value", RB_FIELD_U32, F (max_value), 0},
    {"max-batch", RB_FIELD_U32, F (max_batch), 0},
    {"fetch-ttl", RB_FIELD_INT, F (fetch_ttl_s), 0},
    {"fetch-cap", RB_FIELD_INT, F (fetch_cap), 0},
    {"backup-every", RB_FIELD_INT, F (backup_every_s), 0},
    {"metrics", RB_FIELD_STR, F (metrics), 0},
    {"curve-cert", RB_FIELD_STR, F (curve_cert), 0},
    {"broker-cert", RB_FIELD_STR, F (broker_cert), 0},
    {NULL, 0, 0, 0},
};

void
rb_db_opts_default (rb_db_opts_t *o)
{
    memset (o, 0, sizeof *o);
    rb_bind_defaults (rb_program_db.opts, rb_db_binds, o);
}

void
rb_db__store_opts (const rb_db_opts_t *o, rb_store_opts_t *so)
{
    *so = (rb_store_opts_t){.address = o->redis,
                            .sentinels = o->redis_sentinels,
                            .master_name = o->redis_master_name,
                            .cluster = o->redis_cluster,
                            .user = o->redis_user,
                            .password = o->redis_password,
                            .timeout_ms = o->redis_timeout_ms};
}
