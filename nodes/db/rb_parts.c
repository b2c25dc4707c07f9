/*  rb_parts: partitions and batches of calls (see rb_parts.h). A batch
    copies every argument into one growing buffer and keeps offsets; the
    pointers rb_store_run needs are made when the batch runs, so the
    buffer may move while it is built.  */
#include "rb_parts.h"
#include "rb_crc16.h"

#include <assert.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int
rb_parts_count (rb_store_t *store)
{
    return rb_store_is_cluster (store) ? RB_PARTS_CLUSTER : 1;
}

int
rb_part_of (int parts, const char *key, size_t len)
{
    return parts <= 1 ? 0 : (int) (rb_crc16 (key, len) % (unsigned) parts);
}

int
rb_part_slot (int p)
{
    char tag[16];
    int len = snprintf (tag, sizeof tag, "%d", p);
    return rb_key_slot (tag, (size_t) len);
}

size_t
rb_part_key (char *buf, size_t size, int p, const char *suffix, const char *key,
             size_t klen)
{
    int head = snprintf (buf, size, "rb:{%d}:%s", p, suffix);
    assert (head > 0 && (size_t) head + klen < size);
    if (key)
        memcpy (buf + head, key, klen);
    else
        klen = 0;
    buf[head + klen] = '\0';
    return (size_t) head + klen;
}

/*  --- a batch of calls ---------------------------------------------------- */

typedef struct {
    int script, slot;
    size_t first; /* its first argument (keys first) */
    int nkeys, argc;
} batch_call_t;

struct rb_batch {
    char *bytes; /* every argument, back to back */
    size_t used, cap;
    size_t *offs, *lens; /* per argument */
    size_t n_args, cap_args;
    batch_call_t *bcalls;
    rb_call_t *calls; /* made by run */
    const char **argv;
    int n_calls, cap_calls;
    bool ran;
};

rb_batch_t *
rb_batch_new (void)
{
    rb_batch_t *self = (rb_batch_t *) calloc (1, sizeof *self);
    assert (self);
    return self;
}

void
rb_batch_reset (rb_batch_t *self)
{
    if (self->ran)
        rb_store_free_replies (self->calls, self->n_calls);
    self->ran = false;
    self->used = 0;
    self->n_args = 0;
    self->n_calls = 0;
}

void
rb_batch_destroy (rb_batch_t **self_p)
{
    rb_batch_t *self = *self_p;
    if (!self)
        return;
    rb_batch_reset (self);
    free (self->bytes);
    free (self->offs);
    free (self->lens);
    free (self->bcalls);
    free (self->calls);
    free (self->argv);
    free (self);
    *self_p = NULL;
}

int
rb_batch_call (rb_batch_t *self, int script, int slot)
{
    assert (!self->ran);
    if (self->n_calls == self->cap_calls) {
        self->cap_calls = self->cap_calls ? self->cap_calls * 2 : 16;
        self->bcalls = (batch_call_t *) realloc (
            self->bcalls, (size_t) self->cap_calls * sizeof *self->bcalls);
        self->calls = (rb_call_t *) realloc (
            self->calls, (size_t) self->cap_calls * sizeof *self->calls);
        assert (self->bcalls && self->calls);
    }
    self->bcalls[self->n_calls] =
        (batch_call_t){script, slot, self->n_args, 0, 0};
    return self->n_calls++;
}

/*  Room for one more argument of len bytes; returns where to write. */
static char *
s_room (rb_batch_t *self, size_t len)
{
    assert (self->n_calls > 0);
    if (self->n_args == self->cap_args) {
        self->cap_args = self->cap_args ? self->cap_args * 2 : 64;
        self->offs =
            (size_t *) realloc (self->offs, self->cap_args * sizeof (size_t));
        self->lens =
            (size_t *) realloc (self->lens, self->cap_args * sizeof (size_t));
        assert (self->offs && self->lens);
    }
    if (self->used + len + 1 > self->cap) {
        size_t cap = self->cap ? self->cap : 4096;
        while (cap < self->used + len + 1)
            cap *= 2;
        self->bytes = (char *) realloc (self->bytes, cap);
        assert (self->bytes);
        self->cap = cap;
    }
    self->offs[self->n_args] = self->used;
    self->lens[self->n_args] = len;
    self->n_args++;
    self->bcalls[self->n_calls - 1].argc++;
    char *at = self->bytes + self->used;
    self->used += len + 1;
    at[len] = '\0';
    return at;
}

void
rb_batch_key (rb_batch_t *self, int p, const char *suffix, const char *key,
              size_t klen)
{
    batch_call_t *c = &self->bcalls[self->n_calls - 1];
    assert (c->argc == c->nkeys); /* keys before args */
    char head[48];
    int hlen = snprintf (head, sizeof head, "rb:{%d}:%s", p, suffix);
    assert (hlen > 0 && (size_t) hlen < sizeof head);
    if (!key)
        klen = 0;
    char *at = s_room (self, (size_t) hlen + klen);
    memcpy (at, head, (size_t) hlen);
    if (klen)
        memcpy (at + hlen, key, klen);
    c->nkeys++;
}

void
rb_batch_arg (rb_batch_t *self, const char *arg, size_t len)
{
    char *at = s_room (self, len);
    if (len)
        memcpy (at, arg, len);
}

void
rb_batch_str (rb_batch_t *self, const char *arg)
{
    rb_batch_arg (self, arg, strlen (arg));
}

void
rb_batch_u64 (rb_batch_t *self, uint64_t n)
{
    char num[24];
    int len = snprintf (num, sizeof num, "%" PRIu64, n);
    rb_batch_arg (self, num, (size_t) len);
}

int
rb_batch_run (rb_batch_t *self, rb_store_t *store)
{
    assert (!self->ran);
    self->argv = (const char **) realloc (
        self->argv, (self->n_args ? self->n_args : 1) * sizeof (char *));
    assert (self->argv);
    for (size_t i = 0; i < self->n_args; i++)
        self->argv[i] = self->bytes + self->offs[i];
    for (int i = 0; i < self->n_calls; i++) {
        batch_call_t *b = &self->bcalls[i];
        self->calls[i] = (rb_call_t){.script = b->script,
                                     .argc = b->argc,
                                     .argv = self->argv + b->first,
                                     .lens = self->lens + b->first,
                                     .reply = NULL,
                                     .nkeys = b->nkeys,
                                     .slot = b->slot};
    }
    self->ran = true;
    return self->n_calls ? rb_store_run (store, self->calls, self->n_calls) : 0;
}

int
rb_batch_size (rb_batch_t *self)
{
    return self->n_calls;
}

redisReply *
rb_batch_reply (rb_batch_t *self, int i)
{
    assert (i >= 0 && i < self->n_calls);
    return self->ran ? self->calls[i].reply : NULL;
}

void
rb_batch_part_call (rb_batch_t *self, int script, int p,
                    const char *const *sets)
{
    rb_batch_call (self, script, rb_part_slot (p));
    rb_batch_key (self, p, "meta", NULL, 0);
    rb_batch_key (self, p, "stable", NULL, 0);
    for (int i = 0; sets && sets[i]; i++)
        rb_batch_key (self, p, sets[i], NULL, 0);
}

int
rb_batch_all (rb_batch_t *self, rb_store_t *store, int parts, int script,
              const char *const *suffixes, int n_suffixes, int argc,
              const char *const *argv)
{
    rb_batch_reset (self);
    for (int p = 0; p < parts; p++) {
        rb_batch_call (self, script, rb_part_slot (p));
        for (int k = 0; k < n_suffixes; k++)
            rb_batch_key (self, p, suffixes[k], NULL, 0);
        for (int a = 0; a < argc; a++)
            rb_batch_str (self, argv[a]);
    }
    return rb_batch_run (self, store);
}

/*  --- the dataset's status ------------------------------------------------ */

int
rb_parts_status (rb_batch_t *b, rb_store_t *store, const char *ds,
                 rb_status_reply_t *out, const char **error)
{
    static const char *const keys[] = {"meta", "stable", "tombs", "rec"};
    const char *argv[] = {ds};
    int parts = rb_parts_count (store);
    if (error)
        *error = NULL;
    memset (out, 0, sizeof *out);
    if (rb_batch_all (b, store, parts, RB_SCRIPT_STATUS, keys, 4, 1, argv))
        return -3;
    redisReply **replies =
        (redisReply **) calloc ((size_t) parts, sizeof (redisReply *));
    assert (replies);
    for (int p = 0; p < parts; p++) {
        replies[p] = rb_batch_reply (b, p);
        if (error && !*error)
            *error = rb_reply_error (replies[p]);
    }
    int rc = rb_status_merge (replies, parts, out);
    free (replies);
    if (rc == 0 && out->parts != (uint64_t) parts) {
        snprintf (out->word, sizeof out->word, "parts");
        rc = -1;
    }
    return rc;
}

const char *
rb_part_record_key (const char *name, size_t len, size_t *klen)
{
    if (len < 8 || memcmp (name, "rb:{", 4) != 0)
        return NULL;
    const char *close = (const char *) memchr (name + 4, '}', len - 4);
    if (!close || close == name + 4)
        return NULL;
    for (const char *d = name + 4; d < close; d++)
        if (*d < '0' || *d > '9')
            return NULL;
    size_t head = (size_t) (close - name) + 4; /* "}:r:" */
    if (len <= head || memcmp (close, "}:r:", 4) != 0)
        return NULL;
    *klen = len - head;
    return name + head;
}
