/*  rb_rcluster: a Redis Cluster's slot map and redirections (see
    rb_rcluster.h).  */
#include "rb_rcluster.h"
#include "rb_crc16.h"

#include <assert.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define NO_OWNER UINT16_MAX

typedef struct {
    char *host;
    int port;
} rb_master_t;

struct rb_rcluster_map {
    uint16_t owner[RB_SLOTS]; /* master number of each slot, or NO_OWNER */
    rb_master_t *masters;     /* in the order of their lowest slot */
    int n;                    /* masters */
};

rb_rcluster_map_t *
rb_rcluster_map_new (void)
{
    rb_rcluster_map_t *self = (rb_rcluster_map_t *) calloc (1, sizeof *self);
    assert (self);
    memset (self->owner, 0xff, sizeof self->owner);
    return self;
}

static void
s_free_masters (rb_master_t *masters, int n)
{
    for (int m = 0; m < n; m++)
        free (masters[m].host);
    free (masters);
}

void
rb_rcluster_map_destroy (rb_rcluster_map_t **self_p)
{
    rb_rcluster_map_t *self = *self_p;
    if (!self)
        return;
    s_free_masters (self->masters, self->n);
    free (self);
    *self_p = NULL;
}

/*  An integer element in [min, max], into *v; false if not one. */
static bool
s_int (const redisReply *r, long long min, long long max, long long *v)
{
    if (r->type != REDIS_REPLY_INTEGER || r->integer < min || r->integer > max)
        return false;
    *v = r->integer;
    return true;
}

/*  The master element [host, port, ...] of a range: host and port into
    the out parameters; false if malformed.  */
static bool
s_master (const redisReply *r, const char **host, int *port)
{
    long long p;
    if (r->type != REDIS_REPLY_ARRAY || r->elements < 2 ||
        r->element[0]->type != REDIS_REPLY_STRING || r->element[0]->len == 0 ||
        r->element[0]->len >= RB_RCLUSTER_HOST_MAX ||
        strlen (r->element[0]->str) != r->element[0]->len ||
        !s_int (r->element[1], 1, 65535, &p))
        return false;
    *host = r->element[0]->str;
    *port = (int) p;
    return true;
}

/*  Reads the ranges: the master element of each slot into by_slot (NULL
    for none). 0, or -1 if malformed (a slot in two ranges included).  */
static int
s_read_ranges (const redisReply *r, const redisReply **by_slot)
{
    if (!r || r->type != REDIS_REPLY_ARRAY || r->elements > RB_SLOTS)
        return -1;
    for (size_t e = 0; e < r->elements; e++) {
        const redisReply *range = r->element[e];
        long long from, to;
        const char *host;
        int port;
        if (range->type != REDIS_REPLY_ARRAY || range->elements < 3 ||
            !s_int (range->element[0], 0, RB_SLOTS - 1, &from) ||
            !s_int (range->element[1], from, RB_SLOTS - 1, &to) ||
            !s_master (range->element[2], &host, &port))
            return -1;
        for (long long s = from; s <= to; s++) {
            if (by_slot[s])
                return -1;
            by_slot[s] = range->element[2];
        }
    }
    return 0;
}

int
rb_rcluster_map_parse (rb_rcluster_map_t *self, const redisReply *r)
{
    const redisReply **by_slot =
        (const redisReply **) calloc (RB_SLOTS, sizeof *by_slot);
    uint16_t *owner = (uint16_t *) malloc (RB_SLOTS * sizeof *owner);
    rb_master_t *masters = NULL;
    int n = 0, rc = s_read_ranges (r, by_slot);
    assert (by_slot && owner);
    /* number the masters in the order of their lowest slot */
    for (int s = 0; rc == 0 && s < RB_SLOTS; s++) {
        owner[s] = NO_OWNER;
        const char *host;
        int port, m;
        if (!by_slot[s])
            continue;
        s_master (by_slot[s], &host, &port);
        for (m = 0; m < n; m++)
            if (masters[m].port == port && strcmp (masters[m].host, host) == 0)
                break;
        if (m == n && n == RB_RCLUSTER_MASTERS_MAX)
            rc = -1;
        else if (m == n) {
            masters =
                (rb_master_t *) realloc (masters, (n + 1) * sizeof *masters);
            assert (masters);
            masters[n].host = strdup (host);
            masters[n++].port = port;
        }
        owner[s] = (uint16_t) m;
    }
    if (rc == 0) {
        memcpy (self->owner, owner, sizeof self->owner);
        s_free_masters (self->masters, self->n);
        self->masters = masters, self->n = n;
    } else
        s_free_masters (masters, n);
    free (owner);
    free (by_slot);
    return rc;
}

int
rb_rcluster_map_masters (rb_rcluster_map_t *self)
{
    return self->n;
}

int
rb_rcluster_map_owner (rb_rcluster_map_t *self, int slot)
{
    if (slot < 0 || slot >= RB_SLOTS || self->owner[slot] == NO_OWNER)
        return -1;
    return self->owner[slot];
}

const char *
rb_rcluster_map_host (rb_rcluster_map_t *self, int m)
{
    assert (m >= 0 && m < self->n);
    return self->masters[m].host;
}

int
rb_rcluster_map_port (rb_rcluster_map_t *self, int m)
{
    assert (m >= 0 && m < self->n);
    return self->masters[m].port;
}

int
rb_rcluster_map_find (rb_rcluster_map_t *self, const char *host, int port)
{
    for (int m = 0; m < self->n; m++)
        if (self->masters[m].port == port &&
            strcmp (self->masters[m].host, host) == 0)
            return m;
    return -1;
}

int
rb_rcluster_map_set (rb_rcluster_map_t *self, int slot, int m)
{
    if (slot < 0 || slot >= RB_SLOTS || m < 0 || m >= self->n)
        return -1;
    self->owner[slot] = (uint16_t) m;
    return 0;
}

/*  A decimal number of 1..digits digits at *p, in [0, max], the pointer
    moved past it; -1 if none.  */
static long
s_number (const char **p, const char *end, int digits, long max)
{
    long v = 0;
    int d = 0;
    while (*p < end && **p >= '0' && **p <= '9' && d < digits)
        v = v * 10 + (*(*p)++ - '0'), d++;
    return d == 0 || v > max || (*p < end && **p >= '0' && **p <= '9') ? -1 : v;
}

int
rb_rcluster_redirect (const char *str, size_t len, rb_redirect_t *out)
{
    const char *p = str, *end = str + len;
    bool ask = len > 4 && memcmp (str, "ASK ", 4) == 0;
    if (!ask && !(len > 6 && memcmp (str, "MOVED ", 6) == 0))
        return -1;
    p += ask ? 4 : 6;
    long slot = s_number (&p, end, 5, RB_SLOTS - 1);
    if (slot < 0 || p >= end || *p++ != ' ')
        return -1;
    /* HOST:PORT, the last colon before the port (an IPv6 host has some) */
    const char *colon = NULL;
    for (const char *q = p; q < end; q++)
        if (*q == ':')
            colon = q;
    if (!colon || colon - p >= RB_RCLUSTER_HOST_MAX ||
        memchr (p, ' ', (size_t) (colon - p)) ||
        memchr (p, '\0', (size_t) (colon - p)))
        return -1;
    const char *at = colon + 1;
    long port = s_number (&at, end, 5, 65535);
    if (port < 1 || at != end)
        return -1;
    out->ask = ask;
    out->slot = (int) slot;
    memcpy (out->host, p, (size_t) (colon - p));
    out->host[colon - p] = '\0';
    out->port = (int) port;
    return 0;
}
