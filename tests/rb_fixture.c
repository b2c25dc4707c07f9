/*  rb_fixture: a cluster in its normal state (see rb_fixture.h). */
#include "rb_fixture.h"

#include <check.h>
#include <stdlib.h>

/*  With the tap on, tests wait on the monitor process without pumping
    their bus nodes: a loaded machine must not expire them meanwhile.  */
#define TAP_LIVENESS 25

rb_cluster_t *
rb_fixture_cluster (const rb_cluster_opts_t *opts)
{
    rb_cluster_t *c = rb_cluster_new (opts);
    ck_assert_msg (c != NULL, "the cluster did not start (stderr says why)");
    return c;
}

/*  A service node on the fixture's cluster, its endpoint in ep[256]. */
static zactor_t *
s_service (rb_fixture_t *self, const char *name, int policy, int max_wait_ms,
           char ep[256])
{
    rb_service_opts_t o = rb_cluster_service_opts (self->c, name, policy);
    o.max_wait_ms = max_wait_ms;
    zactor_t *svc = rb_cluster_service (self->c, &o, ep, 256);
    ck_assert_ptr_nonnull (svc);
    return svc;
}

rb_fixture_t *
rb_fixture_new (const rb_fixture_opts_t *opts)
{
    rb_fixture_opts_t none = {false, 0, 0};
    if (!opts)
        opts = &none;
    rb_fixture_t *self = (rb_fixture_t *) calloc (1, sizeof *self);
    ck_assert_ptr_nonnull (self);
    rb_cluster_opts_t co = {.tap = opts->tap,
                            .liveness = opts->tap ? TAP_LIVENESS : 0};
    self->c = rb_fixture_cluster (&co);
    ck_assert_int_eq (rb_cluster_init (self->c), 0);
    rb_db_opts_t db = rb_cluster_db_opts (self->c, "db-1");
    if (opts->redis_timeout_ms)
        db.redis_timeout_ms = opts->redis_timeout_ms;
    self->db = zactor_new (rb_db_actor, &db);
    ck_assert_ptr_nonnull (self->db);
    if (opts->max_wait_ms > 0) {
        self->latest = s_service (self, "svc-latest", RB_POLICY_LATEST_ONLY,
                                  opts->max_wait_ms, self->latest_ep);
        self->stale = s_service (self, "svc-stale", RB_POLICY_STALE_OK,
                                 opts->max_wait_ms, self->stale_ep);
    }
    rb_tnode_start (&self->ops, self->c, RB_ROLE_OPS, "ops-1");
    rb_tnode_start (&self->svc, self->c, RB_ROLE_SERVICE, "svc-1");
    rb_tnode_wait_db (&self->ops);
    return self;
}

void
rb_fixture_destroy (rb_fixture_t **self_p)
{
    rb_fixture_t *self = *self_p;
    if (!self)
        return;
    rb_tnode_stop (&self->ops);
    rb_tnode_stop (&self->svc);
    zactor_destroy (&self->latest);
    zactor_destroy (&self->stale);
    zactor_destroy (&self->db);
    rb_cluster_destroy (&self->c);
    free (self);
    *self_p = NULL;
}
