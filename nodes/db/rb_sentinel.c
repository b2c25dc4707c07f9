/*  rb_sentinel: the Redis master's address, asked of Sentinels (see
    rb_sentinel.h).  */
#include "rb_sentinel.h"

#include <assert.h>
#include <hiredis/hiredis.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define RB_HOST_MAX 255 /* bytes in a host name */

/*  One sentinel of the list. */
typedef struct {
    char host[RB_HOST_MAX + 1];
    int port;
} rb_sentinel_addr_t;

struct rb_sentinel {
    rb_sentinel_addr_t addrs[RB_SENTINELS_MAX]; /* as listed */
    int n_addrs;
    int first;      /* the one that answered last: asked first */
    char *name;     /* the master name */
    int timeout_ms; /* per sentinel, to connect and to answer */
    char err[512];  /* why the last ask failed */
};

/*  A decimal port 1..65535 of exactly len bytes at s; -1 if not.  */
static int
s_port (const char *s, size_t len)
{
    if (len == 0 || len > 5)
        return -1;
    int port = 0;
    for (size_t i = 0; i < len; i++) {
        if (s[i] < '0' || s[i] > '9')
            return -1;
        port = port * 10 + (s[i] - '0');
    }
    return port >= 1 && port <= 65535 ? port : -1;
}

/*  Reads one "HOST:PORT" of len bytes at item into addr. 0 or -1.  */
static int
s_parse_one (const char *item, size_t len, rb_sentinel_addr_t *addr)
{
    const char *colon = NULL;
    for (size_t i = 0; i < len; i++)
        if (item[i] == ':')
            colon = item + i;
    if (!colon || colon == item || (size_t) (colon - item) > RB_HOST_MAX)
        return -1;
    addr->port = s_port (colon + 1, len - (size_t) (colon - item) - 1);
    if (addr->port < 0)
        return -1;
    memcpy (addr->host, item, (size_t) (colon - item));
    addr->host[colon - item] = '\0';
    return 0;
}

static int
s_parse_list (rb_sentinel_t *self, const char *list)
{
    const char *at = list;
    while (true) {
        const char *comma = strchr (at, ',');
        size_t len = comma ? (size_t) (comma - at) : strlen (at);
        if (self->n_addrs == RB_SENTINELS_MAX ||
            s_parse_one (at, len, &self->addrs[self->n_addrs]))
            return -1;
        self->n_addrs++;
        if (!comma)
            return 0;
        at = comma + 1;
    }
}

static bool
s_name_ok (const char *name)
{
    size_t len = name ? strlen (name) : 0;
    return len >= 1 && len <= 255 && !strpbrk (name, " \t\r\n");
}

rb_sentinel_t *
rb_sentinel_new (const char *list, const char *name, int timeout_ms, char *err,
                 size_t errlen)
{
    rb_sentinel_t *self = (rb_sentinel_t *) calloc (1, sizeof *self);
    assert (self);
    if (!list || s_parse_list (self, list)) {
        snprintf (err, errlen,
                  "bad Redis sentinels '%s': expected HOST:PORT[,HOST:PORT]... "
                  "(at most %d)",
                  list ? list : "", RB_SENTINELS_MAX);
        free (self);
        return NULL;
    }
    if (!s_name_ok (name)) {
        snprintf (err, errlen,
                  "bad Redis master name '%s': 1 to 255 bytes, no spaces",
                  name ? name : "");
        free (self);
        return NULL;
    }
    self->name = strdup (name);
    assert (self->name);
    self->timeout_ms = timeout_ms > 0 ? timeout_ms : 500;
    return self;
}

void
rb_sentinel_destroy (rb_sentinel_t **self_p)
{
    rb_sentinel_t *self = *self_p;
    if (!self)
        return;
    free (self->name);
    free (self);
    *self_p = NULL;
}

const char *
rb_sentinel_name (rb_sentinel_t *self)
{
    return self->name;
}

const char *
rb_sentinel_errstr (rb_sentinel_t *self)
{
    return self->err;
}

/*  The master's address from a get-master-addr-by-name reply: an array
    of two strings, a host and a port. NULL, or what is wrong with it.  */
static const char *
s_read_addr (const redisReply *r, char *host, size_t len, int *port)
{
    if (!r)
        return "no answer";
    if (r->type == REDIS_REPLY_ERROR)
        return r->str;
    if (r->type == REDIS_REPLY_NIL)
        return "does not know the master name";
    if (r->type != REDIS_REPLY_ARRAY || r->elements != 2 ||
        r->element[0]->type != REDIS_REPLY_STRING ||
        r->element[1]->type != REDIS_REPLY_STRING)
        return "answer is not [HOST, PORT]";
    const redisReply *h = r->element[0], *p = r->element[1];
    *port = s_port (p->str, p->len);
    if (h->len == 0 || h->len >= len || h->len > RB_HOST_MAX ||
        strlen (h->str) != h->len || *port < 0)
        return "answer is not a HOST and a PORT";
    memcpy (host, h->str, h->len + 1);
    return NULL;
}

/*  Asks sentinel a. NULL, or why it gave no address.  */
static const char *
s_ask_one (rb_sentinel_t *self, const rb_sentinel_addr_t *a, char *host,
           size_t len, int *port, char *why, size_t whylen)
{
    struct timeval tv = {self->timeout_ms / 1000,
                         (self->timeout_ms % 1000) * 1000};
    redisContext *c = redisConnectWithTimeout (a->host, a->port, tv);
    if (!c || c->err) {
        snprintf (why, whylen, "%s", c ? c->errstr : "out of memory");
        redisFree (c);
        return why;
    }
    redisSetTimeout (c, tv);
    redisReply *r = (redisReply *) redisCommand (
        c, "SENTINEL get-master-addr-by-name %s", self->name);
    const char *bad = s_read_addr (r, host, len, port);
    if (bad)
        snprintf (why, whylen, "%s", r ? bad : c->errstr);
    freeReplyObject (r);
    redisFree (c);
    return bad ? why : NULL;
}

int
rb_sentinel_ask (rb_sentinel_t *self, char *host, size_t len, int *port)
{
    size_t used = 0;
    self->err[0] = '\0';
    for (int i = 0; i < self->n_addrs; i++) {
        int at = (self->first + i) % self->n_addrs;
        const rb_sentinel_addr_t *a = &self->addrs[at];
        char why[200];
        if (!s_ask_one (self, a, host, len, port, why, sizeof why)) {
            self->first = at;
            return 0;
        }
        int n =
            snprintf (self->err + used, sizeof self->err - used, "%s%s:%d: %s",
                      used ? "; " : "", a->host, a->port, why);
        if (n > 0 && used + (size_t) n < sizeof self->err)
            used += (size_t) n;
    }
    return -1;
}
