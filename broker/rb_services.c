/*  rb_services: the broker's services (see rb_broker_int.h): by name,
    each with its live workers (peer indexes) and the queue of requests
    waiting for one of them. A service is made when its first worker
    registers. Without workers it stays for `linger` ms, so requests
    queue while its worker restarts, then, its queue empty, it is freed:
    the table holds at most `max` services. Due times (a queue's first
    deadline, a linger's end) are in a heap of (time, service id), so
    the broker's tick costs the services due, not a walk over all.  */
#include "rb_broker_int.h"
#include "rb_slots.h"
#include "rb_timers.h"

#include <assert.h>
#include <string.h>

struct rb_services {
    zhashx_t *by_name;  /* name -> rb_service_t */
    uint32_t queue_max; /* requests queued per service */
    uint32_t max;       /* services, at most */
    int linger_ms;      /* a service without workers is kept this long */
    rb_slots_t *ids;    /* service id -> rb_service_t *, for the heap */
    rb_timers_t *due;   /* (when due, service id) */
};

static void
s_service_destroy (void **item)
{
    rb_service_t *svc = (rb_service_t *) *item;
    rb_queue_destroy (&svc->queue);
    free (svc->workers);
    free (svc);
    *item = NULL;
}

rb_services_t *
rb_services__new (uint32_t queue_max, uint32_t max, int linger_ms)
{
    rb_services_t *self = (rb_services_t *) calloc (1, sizeof *self);
    assert (self);
    self->by_name = zhashx_new ();
    zhashx_set_destructor (self->by_name, s_service_destroy);
    self->queue_max = queue_max;
    self->max = max;
    self->linger_ms = linger_ms;
    self->ids = rb_slots_new (sizeof (rb_service_t *), max + 1);
    self->due = rb_timers_new ();
    return self;
}

bool
rb_services__fit (rb_services_t *self, const rb_body_t *hello)
{
    size_t size = zhashx_size (self->by_name), added = 0;
    for (uint32_t i = 0; i < hello->n_services; i++) {
        char name[RB_NAME_MAX + 1];
        rb_str_to (name, sizeof name, hello->services[i]);
        added += rb_services__find (self, name) ? 0 : 1;
    }
    return size + added <= self->max;
}

uint32_t
rb_services__count (rb_services_t *self)
{
    return (uint32_t) zhashx_size (self->by_name);
}

void
rb_services__destroy (rb_services_t **self_p)
{
    rb_services_t *self = *self_p;
    if (!self)
        return;
    zhashx_destroy (&self->by_name);
    rb_slots_destroy (&self->ids);
    rb_timers_destroy (&self->due);
    free (self);
    *self_p = NULL;
}

rb_service_t *
rb_services__find (rb_services_t *self, const char *name)
{
    return (rb_service_t *) zhashx_lookup (self->by_name, name);
}

static rb_service_t *
s_require (rb_services_t *self, const char *name)
{
    rb_service_t *svc = rb_services__find (self, name);
    if (!svc) {
        svc = (rb_service_t *) calloc (1, sizeof *svc);
        assert (svc);
        snprintf (svc->name, sizeof svc->name, "%s", name);
        svc->queue = rb_queue_new (self->queue_max);
        svc->min_deadline = INT64_MAX;
        rb_service_t **slot =
            (rb_service_t **) rb_slots_alloc (self->ids, &svc->id);
        assert (slot); /* rb_services__fit was asked first */
        *slot = svc;
        zhashx_insert (self->by_name, name, svc);
    }
    return svc;
}

void
rb_services__join (rb_services_t *self, const char *name, uint32_t worker)
{
    rb_service_t *svc = s_require (self, name);
    if (svc->n_workers == svc->cap_workers) {
        svc->cap_workers = svc->cap_workers ? svc->cap_workers * 2 : 4;
        svc->workers = (uint32_t *) realloc (
            svc->workers, svc->cap_workers * sizeof (uint32_t));
        assert (svc->workers);
    }
    svc->workers[svc->n_workers++] = worker;
    svc->idle_since = 0;
}

void
rb_services__leave (rb_services_t *self, const char *name, uint32_t worker)
{
    rb_service_t *svc = rb_services__find (self, name);
    for (uint32_t j = 0; svc && j < svc->n_workers; j++)
        if (svc->workers[j] == worker)
            svc->workers[j--] = svc->workers[--svc->n_workers];
    if (svc && svc->n_workers == 0) {
        svc->idle_since = zclock_mono ();
        rb_timers_add (self->due, svc->idle_since + self->linger_ms, svc->id);
    }
}

rb_queued_t *
rb_services__push (rb_services_t *self, rb_service_t *svc, int64_t deadline)
{
    rb_queued_t *e = rb_queue_push (svc->queue);
    if (e && deadline < svc->min_deadline) {
        svc->min_deadline = deadline;
        rb_timers_add (self->due, deadline, svc->id);
    }
    return e;
}

void
rb_services__expire (rb_services_t *self, int64_t now, rb_queue_expire_fn *fn,
                     void *arg)
{
    int64_t at;
    uint64_t id;
    while (rb_timers_pop (self->due, now, &at, &id)) {
        rb_service_t **slot = (rb_service_t **) rb_slots_get (self->ids, id);
        if (!slot)
            continue; /* freed since */
        rb_service_t *svc = *slot;
        if (now >= svc->min_deadline) {
            rb_queue_expire (svc->queue, now, fn, arg);
            svc->min_deadline = rb_queue_min_deadline (svc->queue);
            if (svc->min_deadline != INT64_MAX)
                rb_timers_add (self->due, svc->min_deadline, id);
        }
        if (svc->idle_since && now - svc->idle_since >= self->linger_ms &&
            rb_queue_size (svc->queue) == 0) {
            rb_slots_free (self->ids, id);
            zhashx_delete (self->by_name, svc->name);
        }
    }
}

uint32_t
rb_services__queued (rb_services_t *self)
{
    uint32_t queued = 0;
    rb_service_t *svc = (rb_service_t *) zhashx_first (self->by_name);
    for (; svc; svc = (rb_service_t *) zhashx_next (self->by_name))
        queued += rb_queue_size (svc->queue);
    return queued;
}
