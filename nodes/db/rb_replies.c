/*  rb_replies: each of the DB node's scripts' replies parsed once into
    the struct rb_scripts.h names for it (the scripts are in
    rb_scripts.c). This is the only file that reads a reply's elements;
    rb_failover.c reads FAILOVER's through the helpers here.  */
#include "rb_scripts.h"

#include <assert.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/*  --- reading a reply's elements (only here) ----------------------------- */

/*  Copies r's status word (its first element) into word. 0 for "ok", -1
    for another word, -2 if r is not a table starting with a word that
    fits.  */
static int
s_word (const redisReply *r, char *word)
{
    if (!r || r->type != REDIS_REPLY_ARRAY || r->elements < 1)
        return -2;
    const redisReply *e = r->element[0];
    if ((e->type != REDIS_REPLY_STRING && e->type != REDIS_REPLY_STATUS) ||
        e->len >= RB_REPLY_WORD || strlen (e->str) != e->len)
        return -2;
    memcpy (word, e->str, e->len + 1);
    return strcmp (word, "ok") == 0 ? 0 : -1;
}

/*  Element index of r, or NULL if r has none of that type. */
static const redisReply *
s_element (const redisReply *r, size_t index, int type)
{
    if (!r || r->type != REDIS_REPLY_ARRAY || index >= r->elements)
        return NULL;
    return r->element[index]->type == type ? r->element[index] : NULL;
}

/*  Element index of r, an array of whole groups of size elements each:
 *n gets the number of groups. NULL if it is not that.  */
static const redisReply *
s_groups (const redisReply *r, size_t index, size_t size, size_t *n)
{
    const redisReply *e = s_element (r, index, REDIS_REPLY_ARRAY);
    if (!e || e->elements % size)
        return NULL;
    *n = e->elements / size;
    return e;
}

/*  Element index of r as an unsigned integer (a Redis integer or a
    decimal string); 0, or -1 if it is absent or not one.  */
static int
s_u64 (const redisReply *r, size_t index, uint64_t *out)
{
    if (!r || r->type != REDIS_REPLY_ARRAY || index >= r->elements)
        return -1;
    const redisReply *e = r->element[index];
    if (e->type == REDIS_REPLY_INTEGER && e->integer >= 0) {
        *out = (uint64_t) e->integer;
        return 0;
    }
    if (e->type != REDIS_REPLY_STRING || e->len == 0 || e->len > 20)
        return -1;
    char *end;
    unsigned long long v = strtoull (e->str, &end, 10);
    if (*end || e->str[0] == '-')
        return -1;
    *out = v;
    return 0;
}

/*  Element index of r, a string: borrowed bytes; 0 or -1. */
static int
s_bytes (const redisReply *r, size_t index, const char **ptr, size_t *len)
{
    const redisReply *e = s_element (r, index, REDIS_REPLY_STRING);
    if (!e)
        return -1;
    *ptr = e->str;
    *len = e->len;
    return 0;
}

/*  Copies element index of r, a string shorter than len, into out. */
static int
s_text (const redisReply *r, size_t index, char *out, size_t len)
{
    const redisReply *e = s_element (r, index, REDIS_REPLY_STRING);
    if (!e || e->len >= len)
        return -1;
    memcpy (out, e->str, e->len + 1);
    return 0;
}

/*  Ends a parse: a reply not understood leaves nothing in out. */
static int
s_done (int rc, void *out, size_t size)
{
    if (rc == -2)
        memset (out, 0, size);
    return rc;
}

const char *
rb_reply_error (const redisReply *r)
{
    return r && r->type == REDIS_REPLY_ERROR ? r->str : NULL;
}

int
rb_reply_word (const redisReply *r, char *word)
{
    return s_word (r, word);
}

int
rb_reply_u64 (const redisReply *r, size_t index, uint64_t *out)
{
    return s_u64 (r, index, out);
}

int
rb_reply_text (const redisReply *r, size_t index, char *out, size_t len)
{
    return s_text (r, index, out, len);
}

/*  --- each script's reply ------------------------------------------------ */

int
rb_get_reply_parse (const redisReply *r, size_t n, rb_get_reply_t *out)
{
    memset (out, 0, n * sizeof *out);
    char word[RB_REPLY_WORD] = "";
    uint64_t epoch = 0;
    size_t groups = 0;
    int rc = s_word (r, word);
    const redisReply *reads = rc == 0 ? s_groups (r, 3, 5, &groups) : NULL;
    if (rc == 0 && (s_u64 (r, 1, &epoch) || !reads || groups != n))
        rc = -2;
    for (size_t i = 0; rc == 0 && i < n; i++) {
        rb_get_reply_t *o = &out[i];
        uint64_t flag = 0, found = 0;
        const char *reg;
        size_t reg_len;
        if (s_u64 (reads, 5 * i, &o->seq) || s_u64 (reads, 5 * i + 1, &flag) ||
            s_u64 (reads, 5 * i + 2, &found) ||
            s_bytes (reads, 5 * i + 3, &o->value, &o->value_len) ||
            s_bytes (reads, 5 * i + 4, &reg, &reg_len) || reg_len > 1) {
            rc = -2;
            break;
        }
        o->epoch = epoch;
        o->registered = reg_len == 1 && (reg[0] == 'f' || reg[0] == 'a');
        o->recovering = flag != 0;
        o->found = found != 0;
        if (!o->found) {
            o->value = NULL;
            o->value_len = 0;
        }
    }
    if (rc == -2)
        word[0] = '\0';
    for (size_t i = 0; i < n; i++) {
        if (rc != 0)
            memset (&out[i], 0, sizeof out[i]);
        memcpy (out[i].word, word, sizeof word);
    }
    return rc;
}

bool
rb_meta_reply_normal (const redisReply *r, const char *id, uint64_t epoch)
{
    uint64_t e = 0;
    const redisReply *d = s_element (r, 0, REDIS_REPLY_STRING);
    const redisReply *st = s_element (r, 2, REDIS_REPLY_STRING);
    return r && r->elements == 3 && d && st && s_u64 (r, 1, &e) == 0 &&
           e == epoch && strcmp (d->str, id) == 0 &&
           strcmp (st->str, "normal") == 0;
}

int
rb_record_reply_parse (const redisReply *r, uint64_t epoch, rb_get_reply_t *out)
{
    memset (out, 0, sizeof *out);
    if (!r || r->type != REDIS_REPLY_ARRAY || r->elements != 3)
        return -2;
    const redisReply *v = r->element[0], *s = r->element[1], *d = r->element[2];
    bool has_seq = s->type != REDIS_REPLY_NIL;
    /* as the GET script reads it: no seq, no record; a value may be
       missing (""); a seq we cannot read is not understood */
    if ((has_seq && s_u64 (r, 1, &out->seq)) ||
        (v->type != REDIS_REPLY_STRING && v->type != REDIS_REPLY_NIL) ||
        (d->type != REDIS_REPLY_STRING && d->type != REDIS_REPLY_NIL)) {
        memset (out, 0, sizeof *out);
        return -2;
    }
    strcpy (out->word, "ok");
    out->epoch = epoch;
    out->found = has_seq &&
                 !(d->type == REDIS_REPLY_STRING && strcmp (d->str, "1") == 0);
    if (out->found && v->type == REDIS_REPLY_STRING) {
        out->value = v->str;
        out->value_len = v->len;
    } else if (out->found)
        out->value = "";
    return 0;
}

/*  Fills push's current record from APPLY's current list (quads of
    order index, seq, deleted, value), for order idx (from 1).  */
static int
s_apply_current (const redisReply *current, uint64_t idx, rb_apply_push_t *p)
{
    for (size_t i = 0; i < current->elements; i += 4) {
        uint64_t at = 0;
        const char *del;
        size_t del_len;
        if (s_u64 (current, i, &at) || at != idx)
            continue;
        if (s_u64 (current, i + 1, &p->seq) ||
            s_bytes (current, i + 2, &del, &del_len) ||
            s_bytes (current, i + 3, &p->value, &p->value_len))
            return -1;
        p->deleted = del_len == 1 && del[0] == '1';
        if (p->deleted) {
            p->value = NULL;
            p->value_len = 0;
        }
        return 0;
    }
    return -1; /* a 'c' push with no record to push */
}

/*  Reads push i of APPLY's push list (triples of kind, order index from
    1, node).  */
static int
s_apply_push (const redisReply *list, size_t i, const redisReply *current,
              uint32_t n_orders, rb_apply_push_t *p)
{
    const char *kind;
    size_t kind_len;
    uint64_t idx = 0;
    if (s_bytes (list, 3 * i, &kind, &kind_len) || kind_len != 1 ||
        !strchr ("ucr", kind[0]) || s_u64 (list, 3 * i + 1, &idx) || idx < 1 ||
        idx > n_orders || !s_element (list, 3 * i + 2, REDIS_REPLY_STRING))
        return -1;
    p->kind = kind[0];
    p->order = (uint32_t) (idx - 1);
    p->node = list->element[3 * i + 2]->str;
    return p->kind == 'c' ? s_apply_current (current, idx, p) : 0;
}

static int
s_apply_pushes (const redisReply *r, uint32_t n_orders, rb_apply_reply_t *out)
{
    size_t n = 0, n_current = 0;
    const redisReply *list = s_groups (r, 5, 3, &n);
    const redisReply *current = s_groups (r, 6, 4, &n_current);
    if (!list || !current)
        return -1;
    out->pushes = (rb_apply_push_t *) calloc (n ? n : 1, sizeof *out->pushes);
    assert (out->pushes);
    out->n_pushes = n;
    for (size_t i = 0; i < n; i++)
        if (s_apply_push (list, i, current, n_orders, &out->pushes[i]))
            return -1;
    return 0;
}

int
rb_apply_reply_parse (const redisReply *r, uint32_t n_orders,
                      rb_apply_reply_t *out)
{
    memset (out, 0, sizeof *out);
    int rc = s_word (r, out->word);
    if (rc == 0 &&
        (s_u64 (r, 1, &out->applied) || s_u64 (r, 2, &out->skipped) ||
         s_u64 (r, 3, &out->cleared) || s_u64 (r, 4, &out->watermark) ||
         s_u64 (r, 7, &out->epoch) || s_apply_pushes (r, n_orders, out)))
        rc = -2;
    if (rc == -2)
        rb_apply_reply_release (out);
    return s_done (rc, out, sizeof *out);
}

void
rb_apply_reply_release (rb_apply_reply_t *reply)
{
    if (!reply)
        return;
    free (reply->pushes);
    reply->pushes = NULL;
    reply->n_pushes = 0;
}

/*  FLAG's recovered list: pairs of key, node. */
static int
s_flag_recovered (const redisReply *r, rb_flag_reply_t *out)
{
    size_t n = 0;
    const redisReply *list = s_groups (r, 3, 2, &n);
    if (!list)
        return -1;
    out->recovered =
        (rb_flag_recovered_t *) calloc (n ? n : 1, sizeof *out->recovered);
    assert (out->recovered);
    out->n_recovered = n;
    for (size_t i = 0; i < n; i++) {
        rb_flag_recovered_t *x = &out->recovered[i];
        if (s_bytes (list, 2 * i, &x->key, &x->key_len) ||
            !s_element (list, 2 * i + 1, REDIS_REPLY_STRING))
            return -1;
        x->node = list->element[2 * i + 1]->str;
    }
    return 0;
}

int
rb_flag_reply_parse (const redisReply *r, rb_flag_reply_t *out)
{
    memset (out, 0, sizeof *out);
    int rc = s_word (r, out->word);
    if (rc == 0 && (s_u64 (r, 1, &out->flagged) ||
                    s_u64 (r, 2, &out->current) || s_flag_recovered (r, out)))
        rc = -2;
    if (rc == -2)
        rb_flag_reply_release (out);
    return s_done (rc, out, sizeof *out);
}

void
rb_flag_reply_release (rb_flag_reply_t *reply)
{
    if (!reply)
        return;
    free (reply->recovered);
    reply->recovered = NULL;
    reply->n_recovered = 0;
}

int
rb_end_reply_parse (const redisReply *r, rb_end_reply_t *out)
{
    memset (out, 0, sizeof *out);
    int rc = s_word (r, out->word);
    if (rc == -1 && strcmp (out->word, "incomplete") == 0 &&
        s_u64 (r, 1, &out->left))
        rc = -2;
    return s_done (rc, out, sizeof *out);
}

int
rb_init_reply_parse (const redisReply *r, rb_init_reply_t *out)
{
    memset (out, 0, sizeof *out);
    int rc = s_word (r, out->word);
    if (rc == -1 &&
        (strcmp (out->word, "not_empty") != 0 || s_u64 (r, 1, &out->keys)))
        rc = -2;
    return s_done (rc, out, sizeof *out);
}

int
rb_restore_begin_reply_parse (const redisReply *r,
                              rb_restore_begin_reply_t *out)
{
    memset (out, 0, sizeof *out);
    int rc = s_word (r, out->word);
    const char *who;
    size_t len;
    if (rc == 0 && s_u64 (r, 1, &out->epoch))
        rc = -2;
    else if (rc == -1 && strcmp (out->word, "lost") == 0) {
        if (s_u64 (r, 1, &out->epoch))
            rc = -2;
    } else if (rc == -1 &&
               (strcmp (out->word, "busy") != 0 || s_bytes (r, 1, &who, &len)))
        rc = -2;
    else if (rc == -1) /* a name too long is cut: it is only shown */
        snprintf (out->who, sizeof out->who, "%.*s", (int) len, who);
    return s_done (rc, out, sizeof *out);
}

int
rb_restore_clean_reply_parse (const redisReply *r,
                              rb_restore_clean_reply_t *out)
{
    memset (out, 0, sizeof *out);
    int rc = s_word (r, out->word);
    if (rc == 0 && (s_u64 (r, 1, &out->tombs) || s_u64 (r, 2, &out->sets)))
        rc = -2;
    else if (rc == -1 && strcmp (out->word, "lost") != 0)
        rc = -2;
    return s_done (rc, out, sizeof *out);
}

int
rb_restore_end_reply_parse (const redisReply *r, rb_restore_end_reply_t *out)
{
    memset (out, 0, sizeof *out);
    int rc = s_word (r, out->word);
    if (rc == -1 && strcmp (out->word, "lost") != 0)
        rc = -2;
    return s_done (rc, out, sizeof *out);
}

int
rb_follow_reply_parse (const redisReply *r, rb_follow_reply_t *out)
{
    memset (out, 0, sizeof *out);
    uint64_t moved = 0;
    int rc = s_word (r, out->word);
    if (rc == 0 && (s_u64 (r, 1, &moved) || moved > 1))
        rc = -2;
    out->moved = moved == 1;
    return s_done (rc, out, sizeof *out);
}

int
rb_status_reply_parse (const redisReply *r, rb_status_reply_t *out)
{
    memset (out, 0, sizeof *out);
    int rc = s_word (r, out->word);
    uint64_t *nums[] = {&out->epoch,
                        &out->watermark,
                        &out->total,
                        &out->tombs,
                        &out->recovering,
                        &out->list_done,
                        &out->restored_watermark};
    for (size_t i = 0; rc == 0 && i < 7; i++)
        if (s_u64 (r, i + 2, nums[i]))
            rc = -2;
    if (rc == 0 && (s_u64 (r, 10, &out->parts) || out->parts < 1))
        rc = -2;
    if (rc == 0 && (s_text (r, 1, out->state, sizeof out->state) ||
                    s_text (r, 9, out->dataset, sizeof out->dataset) ||
                    strlen (out->dataset) != 32))
        rc = -2;
    return s_done (rc, out, sizeof *out);
}

/*  Folds partition st into the merged m (the first: copied).  */
static int
s_merge_one (rb_status_reply_t *m, const rb_status_reply_t *st, bool first)
{
    if (first) {
        *m = *st;
        if (strcmp (st->state, "recovering") != 0)
            m->list_done = 1, m->restored_watermark = UINT64_MAX;
        return 0;
    }
    if (strcmp (st->dataset, m->dataset) != 0 || st->parts != m->parts)
        return -1;
    const char *rank[] = {"normal", "recovering", "restoring"};
    int a = 0, b = 0;
    for (int i = 0; i < 3; i++) {
        a = strcmp (m->state, rank[i]) == 0 ? i : a;
        b = strcmp (st->state, rank[i]) == 0 ? i : b;
    }
    if (b > a)
        memcpy (m->state, st->state, sizeof m->state);
    m->epoch = st->epoch > m->epoch ? st->epoch : m->epoch;
    m->watermark = st->watermark > m->watermark ? st->watermark : m->watermark;
    m->total += st->total;
    m->tombs += st->tombs;
    m->recovering += st->recovering;
    return 0;
}

int
rb_status_merge (redisReply *const *r, int n, rb_status_reply_t *out)
{
    memset (out, 0, sizeof *out);
    rb_status_reply_t *all =
        (rb_status_reply_t *) calloc ((size_t) (n ? n : 1), sizeof *all);
    assert (all);
    int rc = n > 0 ? 0 : -2;
    for (int p = 0; rc == 0 && p < n; p++) {
        rc = rb_status_reply_parse (r[p], &all[p]);
        if (rc == -1)
            memcpy (out->word, all[p].word, sizeof out->word);
    }
    for (int p = 0; rc == 0 && p < n; p++)
        if (s_merge_one (out, &all[p], p == 0)) {
            rc = -1;
            snprintf (out->word, sizeof out->word, "%s",
                      strcmp (all[p].dataset, all[0].dataset) ? "foreign"
                                                              : "parts");
        }
    for (int p = 0; rc == 0 && p < n; p++) {
        const rb_status_reply_t *st = &all[p];
        bool recovering = strcmp (st->state, "recovering") == 0;
        out->lagging += st->epoch < out->epoch;
        if (recovering && !st->list_done)
            out->list_done = 0;
        if (recovering && st->restored_watermark < out->restored_watermark)
            out->restored_watermark = st->restored_watermark;
    }
    if (rc == 0 && out->lagging && strcmp (out->state, "normal") == 0)
        snprintf (out->state, sizeof out->state, "recovering");
    if (rc == 0 && out->restored_watermark == UINT64_MAX)
        out->restored_watermark = all[0].restored_watermark;
    free (all);
    if (rc != 0) {
        char word[RB_REPLY_WORD];
        memcpy (word, out->word, sizeof word);
        memset (out, 0, sizeof *out);
        if (rc == -1)
            memcpy (out->word, word, sizeof word);
    }
    return rc;
}
