/*  e2e_model: what the scenario did (see e2e.h): the orders by seq, as
    the commands reported them, in whatever order they came; the fault
    windows; the violations found.  */
#include "e2e.h"

#include <check.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#define PRINT_MAX 40 /* violations printed in full per seed */

static const struct {
    const char *name;
    bool outage;
    bool restored; /* healed by a restore: the restore's grace */
} s_faults[E2E_F_COUNT] = {
    [E2E_F_FLUSHALL] = {"flushall", true, true},
    [E2E_F_REDIS_RESTART] = {"redis-restart", true, true},
    [E2E_F_DB_FLUSH] = {"db-kill+flushall", true, true},
    [E2E_F_DB_KILL] = {"db-kill", true},
    [E2E_F_BROKER_KILL] = {"broker-kill", true},
    [E2E_F_REC_KILL_OPS] = {"recover:kill-ops", false},
    [E2E_F_REC_KILL_DB] = {"recover:kill-db", true},
    [E2E_F_REC_KILL_BROKER] = {"recover:kill-broker", true},
    [E2E_F_REC_FLUSH] = {"recover:flushall", true, true},
    [E2E_F_OPS_RACE] = {"ops-race", false},
    [E2E_F_REDIS_STALL] = {"redis-stall", true},
    [E2E_F_DB_PAUSE] = {"db-pause", true},
    [E2E_F_BROKER_PAUSE] = {"broker-pause", true},
    [E2E_F_DB_KILL_APPLY] = {"db-kill-apply", true},
    [E2E_F_OPS_KILL] = {"ops-kill", true}, /* the DB nodes paused a moment */
    [E2E_F_SVC_KILL] = {"svc-kill", true},
    [E2E_F_SVC_PAUSE] = {"svc-pause", true},
    [E2E_F_RESTORE_KILL] = {"restore:kill-db", true, true},
    [E2E_F_RESTORE_TAKEOVER] = {"restore:takeover", true, true},
    [E2E_F_BACKUP_FLOW] = {"backup-flow", false},
    /* not an outage: the other broker carries every request (docs/ha.md) */
    [E2E_F_PAIR_KILL] = {"pair-kill", false},
    /* the DB nodes reconnect on their one-second refresh: the restore's
       grace, though no restore heals it (the DB recovers by itself) */
    [E2E_F_REDIS_REWIND] = {"redis-rewind", true, true},
};

const char *
e2e_fault_name (int fault)
{
    return fault >= 0 && fault < E2E_F_COUNT ? s_faults[fault].name : "none";
}

bool
e2e_fault_is_outage (int fault)
{
    return fault >= 0 && fault < E2E_F_COUNT && s_faults[fault].outage;
}

int64_t
e2e_fault_grace_us (int fault)
{
    return fault >= 0 && fault < E2E_F_COUNT && s_faults[fault].restored
               ? E2E_RESTORE_GRACE_US
               : E2E_GRACE_US;
}

void
e2e_violation (e2e_model_t *m, const char *fmt, ...)
{
    if (m->n_violations++ >= PRINT_MAX)
        return;
    char text[600];
    va_list args;
    va_start (args, fmt);
    vsnprintf (text, sizeof text, fmt, args);
    va_end (args);
    fprintf (stderr, "e2e: RECOBUS_SEED=%" PRIu64 " VIOLATION: %s\n", m->seed,
             text);
}

/*  --- orders ------------------------------------------------------------ */

static void
s_grow (e2e_model_t *m, uint64_t seq)
{
    if (seq <= m->cap_orders)
        return;
    uint64_t cap = m->cap_orders ? m->cap_orders : 1024;
    while (cap < seq)
        cap *= 2;
    m->orders = (e2e_order_t *) realloc (m->orders, cap * sizeof *m->orders);
    ck_assert_ptr_nonnull (m->orders);
    memset (m->orders + m->cap_orders, 0,
            (cap - m->cap_orders) * sizeof *m->orders);
    m->cap_orders = cap;
}

static void
s_twice (e2e_model_t *m, uint64_t seq, const e2e_order_t *o, int key, bool del,
         const char *value, const char *by)
{
    e2e_violation (m,
                   "seq %" PRIu64 " handed out twice: to %s (%s %s '%s', "
                   "ran %.1f..%.1f ms) and to %s (%s %s '%s')",
                   seq, o->by, o->del ? "delete" : "put", e2e_key (o->key),
                   o->value, (double) (o->cmd_start - m->t0) / 1000.0,
                   (double) (o->cmd_end - m->t0) / 1000.0, by,
                   del ? "delete" : "put", e2e_key (key), del ? "" : value);
}

void
e2e_model_add (e2e_model_t *m, uint64_t seq, int key, bool del,
               const char *value, int64_t start, int64_t end, bool acked,
               const char *by)
{
    ck_assert_msg (seq >= 1, "seed %" PRIu64 ": seq 0 reported", m->seed);
    s_grow (m, seq);
    e2e_order_t *o = &m->orders[seq - 1];
    if (o->known) {
        s_twice (m, seq, o, key, del, value, by);
        return;
    }
    o->known = true;
    o->key = (uint16_t) key;
    o->del = del;
    snprintf (o->value, sizeof o->value, "%s", del ? "" : value);
    o->cmd_start = start;
    o->cmd_end = end;
    o->acked = acked ? end : E2E_NEVER;
    snprintf (o->by, sizeof o->by, "%s", by);
    if (seq > m->n_orders)
        m->n_orders = seq;
}

void
e2e_model_settle (e2e_model_t *m, int64_t start, int64_t end)
{
    for (uint64_t i = 0; i < m->n_orders; i++) {
        e2e_order_t *o = &m->orders[i];
        if (o->known && o->acked == E2E_NEVER && o->cmd_end < start)
            o->acked = end;
    }
}

void
e2e_model_span (e2e_model_t *m, int64_t start, int64_t end)
{
    ck_assert_int_lt (m->n_restores, E2E_SPANS);
    m->restores[m->n_restores] = (e2e_span_t){start, end};
    m->normal[m->n_restores++] = E2E_NEVER;
}

void
e2e_model_recovered (e2e_model_t *m, int64_t when)
{
    if (m->n_restores && m->normal[m->n_restores - 1] == E2E_NEVER)
        m->normal[m->n_restores - 1] = when;
}

const e2e_order_t *
e2e_model_order (const e2e_model_t *m, uint64_t seq)
{
    if (seq < 1 || seq > m->n_orders || !m->orders[seq - 1].known)
        return NULL;
    return &m->orders[seq - 1];
}

void
e2e_model_free (e2e_model_t *m)
{
    free (m->orders);
    m->orders = NULL;
    m->n_orders = m->cap_orders = 0;
}

const e2e_order_t *
e2e_newest (const e2e_model_t *m, int key, uint64_t *seq)
{
    for (uint64_t s = m->n_orders; s >= 1; s--)
        if (m->orders[s - 1].known && m->orders[s - 1].key == key) {
            *seq = s;
            return &m->orders[s - 1];
        }
    *seq = 0;
    return NULL;
}

/*  --- fault windows ------------------------------------------------------ */

int
e2e_fault_begin (e2e_model_t *m, int fault, int svc)
{
    ck_assert_int_lt (m->n_windows, E2E_WINDOWS);
    e2e_window_t *w = &m->windows[m->n_windows];
    w->fault = (uint8_t) fault;
    w->svc = (int8_t) svc;
    w->start = e2e_us ();
    w->heal = w->whole = E2E_NEVER;
    return m->n_windows++;
}

void
e2e_fault_heal (e2e_model_t *m, int window)
{
    if (window >= 0 && window < m->n_windows &&
        m->windows[window].heal == E2E_NEVER)
        m->windows[window].heal = e2e_us ();
}

void
e2e_fault_whole (e2e_model_t *m, int window)
{
    e2e_fault_heal (m, window);
    if (window >= 0 && window < m->n_windows &&
        m->windows[window].whole == E2E_NEVER)
        m->windows[window].whole = e2e_us ();
}

void
e2e_fault_heal_all (e2e_model_t *m, uint32_t faults)
{
    for (int i = 0; i < m->n_windows; i++)
        if (faults & (1u << m->windows[i].fault))
            e2e_fault_whole (m, i);
}
