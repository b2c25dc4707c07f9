/*  rb_peers: the broker's table of registered nodes (see rb_broker_int.h).

    Peers live in one array, addressed by index; a removed peer's slot is
    reused by the next registration, with its generation bumped, so an
    (index, generation) pair held by a request in flight finds nothing
    once its peer is gone. Two hashes find a live peer by name and by
    routing id. Each live peer has one entry in a heap of due times, at
    the moment it would turn silent: the tick looks at those due only,
    and re-arms a peer heard from meanwhile.  */
#include "rb_broker_int.h"
#include "rb_timers.h"

#include <assert.h>
#include <string.h>

struct rb_peers {
    rb_peer_t *peers; /* indexed by peer index */
    uint32_t n_peers, cap_peers;
    uint32_t *free_peers; /* indexes of removed peers, for reuse */
    uint32_t n_free;
    uint32_t n_live;      /* peers registered now */
    zhashx_t *by_name;    /* name -> index + 1 */
    zhashx_t *by_id;      /* id hex -> index + 1 */
    rb_timers_t *silence; /* (when silent, generation << 32 | index) */
    int64_t silence_ms;   /* silent this long: expired */
};

rb_peers_t *
rb_peers__new (int64_t silence_ms)
{
    rb_peers_t *self = (rb_peers_t *) calloc (1, sizeof *self);
    assert (self);
    self->by_name = zhashx_new ();
    self->by_id = zhashx_new ();
    self->silence = rb_timers_new ();
    self->silence_ms = silence_ms;
    return self;
}

void
rb_peers__destroy (rb_peers_t **self_p)
{
    rb_peers_t *self = *self_p;
    if (!self)
        return;
    zhashx_destroy (&self->by_name);
    zhashx_destroy (&self->by_id);
    rb_timers_destroy (&self->silence);
    free (self->peers);
    free (self->free_peers);
    free (self);
    *self_p = NULL;
}

/*  --- lookup ------------------------------------------------------------ */

rb_peer_t *
rb_peers__at (rb_peers_t *self, uint32_t index, uint32_t gen)
{
    if (index >= self->n_peers)
        return NULL;
    rb_peer_t *p = &self->peers[index];
    return p->live && p->gen == gen ? p : NULL;
}

rb_peer_t *
rb_peers__get (rb_peers_t *self, uint32_t index)
{
    assert (index < self->n_peers);
    return &self->peers[index];
}

static void
s_hex (const uint8_t *id, size_t len, char *out)
{
    static const char digits[] = "0123456789abcdef";
    for (size_t i = 0; i < len; i++) {
        out[2 * i] = digits[id[i] >> 4];
        out[2 * i + 1] = digits[id[i] & 15];
    }
    out[2 * len] = '\0';
}

rb_peer_t *
rb_peers__by_id (rb_peers_t *self, const uint8_t *id, size_t len)
{
    char key[2 * RB_ID_MAX + 1];
    if (len > RB_ID_MAX)
        return NULL;
    s_hex (id, len, key);
    uintptr_t v = (uintptr_t) zhashx_lookup (self->by_id, key);
    return v ? &self->peers[v - 1] : NULL;
}

rb_peer_t *
rb_peers__by_name (rb_peers_t *self, const char *name)
{
    uintptr_t v = (uintptr_t) zhashx_lookup (self->by_name, name);
    return v ? &self->peers[v - 1] : NULL;
}

uint32_t
rb_peers__index (rb_peers_t *self, const rb_peer_t *p)
{
    return (uint32_t) (p - self->peers);
}

rb_peer_t *
rb_peers__next (rb_peers_t *self, uint32_t *cursor)
{
    while (*cursor < self->n_peers) {
        rb_peer_t *p = &self->peers[(*cursor)++];
        if (p->live)
            return p;
    }
    return NULL;
}

uint32_t
rb_peers__live (rb_peers_t *self)
{
    return self->n_live;
}

uint32_t
rb_peers__slots (rb_peers_t *self)
{
    return self->n_peers;
}

/*  --- registration and removal ----------------------------------------- */

/*  Takes a free peer slot: a removed one, or a new one. */
static rb_peer_t *
s_alloc (rb_peers_t *self)
{
    if (self->n_free)
        return &self->peers[self->free_peers[--self->n_free]];
    if (self->n_peers == self->cap_peers) {
        self->cap_peers = self->cap_peers ? self->cap_peers * 2 : 16;
        self->peers = (rb_peer_t *) realloc (
            self->peers, self->cap_peers * sizeof (rb_peer_t));
        self->free_peers = (uint32_t *) realloc (
            self->free_peers, self->cap_peers * sizeof (uint32_t));
        assert (self->peers && self->free_peers);
    }
    rb_peer_t *p = &self->peers[self->n_peers++];
    memset (p, 0, sizeof *p);
    return p;
}

rb_peer_t *
rb_peers__add (rb_peers_t *self, const rb_body_t *hello, const uint8_t *id,
               size_t id_len)
{
    assert (id_len <= RB_ID_MAX);
    rb_peer_t *p = s_alloc (self);
    p->live = true;
    rb_str_to (p->name, sizeof p->name, hello->name);
    p->role = hello->role;
    p->id_len = id_len;
    memcpy (p->id, id, id_len);
    s_hex (p->id, p->id_len, p->id_key);
    p->last_heard = zclock_mono ();
    p->inflight = 0;
    p->fd = -1;
    p->last_refused_log = 0;
    rb_budget_init (&p->budget, p->last_heard);
    p->over_budget = false;
    p->gone = false;
    self->n_live++;
    p->n_services = hello->n_services;
    for (uint32_t i = 0; i < hello->n_services; i++)
        rb_str_to (p->services[i], sizeof p->services[i], hello->services[i]);
    uintptr_t index = rb_peers__index (self, p) + 1;
    zhashx_insert (self->by_name, p->name, (void *) index);
    zhashx_insert (self->by_id, p->id_key, (void *) index);
    rb_timers_add (self->silence, p->last_heard + self->silence_ms,
                   (uint64_t) p->gen << 32 | (index - 1));
    return p;
}

rb_peer_t *
rb_peers__silent (rb_peers_t *self, int64_t now)
{
    int64_t at;
    uint64_t key;
    while (rb_timers_pop (self->silence, now, &at, &key)) {
        rb_peer_t *p =
            rb_peers__at (self, (uint32_t) key, (uint32_t) (key >> 32));
        if (!p)
            continue; /* removed meanwhile */
        if (now - p->last_heard > self->silence_ms)
            return p;
        rb_timers_add (self->silence, p->last_heard + self->silence_ms + 1,
                       key); /* heard from since: due again later */
    }
    return NULL;
}

void
rb_peers__remove (rb_peers_t *self, rb_peer_t *p)
{
    zhashx_delete (self->by_name, p->name);
    zhashx_delete (self->by_id, p->id_key);
    p->live = false;
    p->gen++;
    self->n_live--;
    self->free_peers[self->n_free++] = rb_peers__index (self, p);
}

/*  --- the NODES listing --------------------------------------------------- */

void
rb_peers__list (rb_peers_t *self, rb_body_t *b, char (*services)[RB_TEXT_MAX])
{
    rb_body_init (b, RB_T_NODES);
    b->nodes = (rb_node_t *) calloc (self->n_peers + 1, sizeof (rb_node_t));
    assert (b->nodes);
    int64_t now = zclock_mono ();
    for (uint32_t i = 0; i < self->n_peers && b->n_nodes < 1024; i++) {
        rb_peer_t *p = &self->peers[i];
        if (!p->live)
            continue;
        char *list = services[b->n_nodes];
        list[0] = '\0';
        for (uint32_t s = 0; s < p->n_services; s++)
            snprintf (list + strlen (list), RB_TEXT_MAX - strlen (list), "%s%s",
                      s ? "," : "", p->services[s]);
        b->nodes[b->n_nodes++] =
            (rb_node_t){rb_str (p->name), p->role, rb_str (list),
                        (uint64_t) (now - p->last_heard), p->inflight};
    }
}
