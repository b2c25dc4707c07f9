/*  rb_authz: who may say what on the bus, as one table (docs/security.md).

    A peer's role is the one its key carries (CurveZMQ, ZAP metadata), or
    in plain mode the one its HELLO says. The broker checks every REQUEST,
    REPLY and PUSH against this table before routing it, and every HELLO's
    services against the services a role may offer. The DB node checks its
    own requests again, by the role the broker stamped (rb_db_requests.c),
    and a service node takes pushes and DATA only from role db.  */
#include "rb_broker_int.h"

#include <string.h>

#define R(role) (1u << (role))
#define DB      R (RB_ROLE_DB)
#define SVC     R (RB_ROLE_SERVICE)
#define OPS     R (RB_ROLE_OPS)
#define BENCH   R (RB_ROLE_BENCH)
#define NODES   (DB | SVC | OPS | BENCH) /* every role that joins the bus */

/*  Per body type: the roles that may send it in a REQUEST, a REPLY (or an
    ERROR), a PUSH. A type missing here is sent by nobody.  */
typedef struct {
    uint32_t request, reply, push;
} rb_authz_row_t;

static const rb_authz_row_t s_table[RB_T_COUNT_] = {
    [RB_T_ERROR] = {0, NODES, 0},
    [RB_T_GET] = {SVC | OPS | BENCH, 0, 0},
    [RB_T_DATA] = {0, DB | BENCH, 0},
    [RB_T_GETS] = {SVC | OPS | BENCH, 0, 0},
    [RB_T_RECORDS] = {0, DB | BENCH, 0},
    [RB_T_ORDER] = {OPS | BENCH, 0, 0},
    [RB_T_ACK] = {0, DB | BENCH, 0},
    [RB_T_RECOVERY_LIST] = {OPS | BENCH, 0, 0},
    [RB_T_DIFF] = {OPS | BENCH, 0, 0},
    [RB_T_RECOVERY_END] = {OPS | BENCH, 0, 0},
    [RB_T_SUBMIT] = {OPS, 0, 0}, /* to the ops node (recobus-ops serve) */
    [RB_T_STATUS] = {NODES, 0, 0},
    [RB_T_INFO] = {0, NODES, 0},
    [RB_T_BACKUP] = {OPS | BENCH, 0, 0},
    [RB_T_BACKUP_DONE] = {0, DB | BENCH, 0},
    [RB_T_RESTORE] = {OPS | BENCH, 0, 0},
    [RB_T_RESTORED] = {0, DB | BENCH, 0},
    [RB_T_RESET] = {0, 0, DB | BENCH},
    [RB_T_UPDATE] = {0, 0, DB | BENCH},
    [RB_T_RECOVERED] = {0, 0, DB | BENCH},
    [RB_T_NODES] = {NODES, 0, 0},        /* to the broker's own service */
    [RB_T_ECHO] = {NODES, NODES, NODES}, /* diagnostics: reaches nothing */
};

/*  The services a role may offer as a worker ("*": any), besides "echo",
    which any role may offer (it carries only ECHO).  */
static const char *const s_offers[RB_ROLE_MAX_ + 1] = {
    [RB_ROLE_DB] = "db",
    [RB_ROLE_OPS] = "ops",
    [RB_ROLE_BENCH] = "*",
};

bool
rb_authz__may_send (int role, int kind, int type)
{
    if (role <= RB_ROLE_NONE || role > RB_ROLE_MAX_ || type < 0 ||
        type >= RB_T_COUNT_)
        return false;
    const rb_authz_row_t *row = &s_table[type];
    uint32_t roles = kind == RB_K_REQUEST                       ? row->request
                     : kind == RB_K_REPLY || kind == RB_K_ERROR ? row->reply
                     : kind == RB_K_PUSH                        ? row->push
                                                                : 0;
    return (roles & R (role)) != 0;
}

bool
rb_authz__may_offer (int role, const char *service)
{
    const char *offers =
        role > 0 && role <= RB_ROLE_MAX_ ? s_offers[role] : NULL;
    return streq (service, "echo") ||
           (offers && (streq (offers, "*") || streq (offers, service)));
}

/*  Whether a HELLO's name is one the key's name allows: the same, or for
    an ops key, NAME-SUFFIX (each recobus-ops command registers as
    NAME-PID, so two can run at once).  */
static bool
s_name_allowed (const char *key_name, int role, const char *name)
{
    size_t len = strlen (key_name);
    if (streq (name, key_name))
        return true;
    return role == RB_ROLE_OPS && strncmp (name, key_name, len) == 0 &&
           name[len] == '-' && name[len + 1];
}

const char *
rb_authz__hello (const rb_authz_key_t *key, const rb_body_t *hello, char *why,
                 size_t len)
{
    char name[RB_NAME_MAX + 1];
    rb_str_to (name, sizeof name, hello->name);
    if (key->curve && (!key->role || !key->name))
        return "the key's authorized certificate has no role or name";
    if (key->curve) {
        int role = rb_role_lookup (key->role);
        if (role <= 0 || role == RB_ROLE_MONITOR || role == RB_ROLE_BENCH) {
            snprintf (why, len, "key of role '%s' may not join the bus",
                      key->role);
            return why;
        }
        if (role != hello->role) {
            snprintf (why, len, "HELLO says role %s, the key says %s",
                      rb_role_name (hello->role), key->role);
            return why;
        }
        if (!s_name_allowed (key->name, role, name)) {
            snprintf (why, len, "HELLO says name %s, the key says %s", name,
                      key->name);
            return why;
        }
    }
    for (uint32_t i = 0; i < hello->n_services; i++) {
        char svc[RB_NAME_MAX + 1];
        rb_str_to (svc, sizeof svc, hello->services[i]);
        if (!rb_authz__may_offer (hello->role, svc)) {
            snprintf (why, len, "role %s may not offer service %s",
                      rb_role_name (hello->role), svc);
            return why;
        }
    }
    return NULL;
}
