/*  e2e_journal: the ops journal read back by a parser of the test's own
    (the byte layout of docs/journal.md), so that a bug in the tool's
    reader cannot hide one in its writer: every record's two CRC-32C,
    its layout, seqs strictly increasing; then held against the model.  */
#include "e2e.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define HEADER     8
#define FRAME      12
#define RECORD_MAX ((16u << 20) + 87)
#define T_ORDER    1
#define T_ACK      2
#define T_REJECT   3

/*  CRC-32C (Castagnoli), bit by bit: slow and plainly right. */
static uint32_t
s_crc32c (const uint8_t *p, size_t len)
{
    uint32_t crc = 0xffffffffu;
    for (size_t i = 0; i < len; i++) {
        crc ^= p[i];
        for (int b = 0; b < 8; b++)
            crc = (crc >> 1) ^ (0x82f63b78u & (0u - (crc & 1u)));
    }
    return ~crc;
}

static uint64_t
s_le (const uint8_t *p, int bytes)
{
    uint64_t v = 0;
    for (int i = bytes - 1; i >= 0; i--)
        v = (v << 8) | p[i];
    return v;
}

static void
s_add (e2e_journal_t *j, const e2e_jorder_t *o, size_t *cap)
{
    if (j->n == *cap) {
        *cap = *cap ? 2 * *cap : 1024;
        j->orders = (e2e_jorder_t *) realloc (j->orders, *cap * sizeof *o);
    }
    j->orders[j->n++] = *o;
}

/*  One order payload; 0 or -1 (error set). */
static int
s_order (e2e_journal_t *j, const uint8_t *p, uint32_t len, uint64_t off,
         size_t *cap)
{
    if (len < 23)
        goto bad;
    e2e_jorder_t o;
    memset (&o, 0, sizeof o);
    o.seq = s_le (p + 1, 8);
    uint8_t op = p[17], klen = p[18];
    uint32_t vlen = (uint32_t) s_le (p + 19, 4);
    if ((op != 1 && op != 2) || klen == 0 || klen > 64 ||
        (uint64_t) 23 + klen + vlen != len || (op == 2 && vlen))
        goto bad;
    if (j->n && o.seq <= j->orders[j->n - 1].seq) {
        snprintf (j->error, sizeof j->error,
                  "offset %" PRIu64 ": seq %" PRIu64 " after seq %" PRIu64, off,
                  o.seq, j->orders[j->n - 1].seq);
        return -1;
    }
    o.key = e2e_key_index ((const char *) p + 23, klen);
    o.del = op == 2;
    snprintf (o.value, sizeof o.value, "%.*s", (int) vlen,
              (const char *) p + 23 + klen);
    s_add (j, &o, cap);
    return 0;
bad:
    snprintf (j->error, sizeof j->error, "offset %" PRIu64 ": bad order", off);
    return -1;
}

/*  The records of buf[0..size-1]; stops at the first damaged one. */
static void
s_scan (e2e_journal_t *j, const uint8_t *buf, size_t size)
{
    size_t cap = 0, off = HEADER;
    while (off < size && !j->error[0]) {
        if (size - off < FRAME) {
            snprintf (j->error, sizeof j->error,
                      "offset %zu: a record cut short", off);
            break;
        }
        uint32_t len = (uint32_t) s_le (buf + off, 4);
        if (s_crc32c (buf + off, 4) != (uint32_t) s_le (buf + off + 4, 4) ||
            len == 0 || len > RECORD_MAX || len > size - off - FRAME) {
            snprintf (j->error, sizeof j->error,
                      "offset %zu: bad record length %u", off, len);
            break;
        }
        const uint8_t *p = buf + off + FRAME;
        if (s_crc32c (p, len) != (uint32_t) s_le (buf + off + 8, 4))
            snprintf (j->error, sizeof j->error, "offset %zu: payload checksum",
                      off);
        else if (p[0] == T_ORDER)
            s_order (j, p, len, off, &cap);
        else if (p[0] != T_ACK && p[0] != T_REJECT)
            snprintf (j->error, sizeof j->error, "offset %zu: record type %u",
                      off, p[0]);
        off += FRAME + len;
    }
}

int
e2e_journal_read (const char *path, e2e_journal_t *j)
{
    memset (j, 0, sizeof *j);
    FILE *f = fopen (path, "rb");
    if (!f)
        return -1;
    fseek (f, 0, SEEK_END);
    long size = ftell (f);
    fseek (f, 0, SEEK_SET);
    uint8_t *buf = (uint8_t *) malloc (size > 0 ? (size_t) size : 1);
    size_t got = size > 0 ? fread (buf, 1, (size_t) size, f) : 0;
    fclose (f);
    if (got < HEADER || memcmp (buf, "RBJRNL\1\n", HEADER) != 0)
        snprintf (j->error, sizeof j->error, "offset 0: bad header");
    else
        s_scan (j, buf, got);
    free (buf);
    return 0;
}

void
e2e_journal_free (e2e_journal_t *j)
{
    free (j->orders);
    j->orders = NULL;
    j->n = 0;
}

int
e2e_journal_adopt (e2e_model_t *m, const e2e_journal_t *j, int64_t start,
                   int64_t end, bool acked)
{
    int n = 0;
    for (size_t i = 0; i < j->n; i++) {
        const e2e_jorder_t *o = &j->orders[i];
        if (o->key >= 0 && !e2e_model_order (m, o->seq)) {
            e2e_model_add (m, o->seq, o->key, o->del, o->value, start, end,
                           acked, "(killed ops)");
            n++;
        }
    }
    return n;
}

static void
s_check_order (e2e_model_t *m, const e2e_jorder_t *jo, const e2e_order_t *o)
{
    if (!o) {
        e2e_violation (m,
                       "journal: seq %" PRIu64 " (%s %s '%s') was journaled "
                       "but no command reported it",
                       jo->seq, jo->del ? "delete" : "put",
                       jo->key >= 0 ? e2e_key (jo->key) : "?", jo->value);
        return;
    }
    if (jo->key != o->key || jo->del != o->del || strcmp (jo->value, o->value))
        e2e_violation (m,
                       "journal: seq %" PRIu64 " is %s %s '%s', but %s "
                       "reported it as %s %s '%s'",
                       jo->seq, jo->del ? "delete" : "put",
                       jo->key >= 0 ? e2e_key (jo->key) : "?", jo->value, o->by,
                       o->del ? "delete" : "put", e2e_key (o->key), o->value);
}

void
e2e_journal_check (e2e_model_t *m, const e2e_journal_t *j)
{
    if (j->error[0])
        e2e_violation (m, "journal damaged: %s", j->error);
    uint64_t next = 1;
    for (size_t i = 0; i < j->n; i++) {
        const e2e_jorder_t *jo = &j->orders[i];
        for (; next < jo->seq; next++)
            if (e2e_model_order (m, next))
                e2e_violation (m,
                               "journal: seq %" PRIu64 " (reported by %s) is "
                               "not in the journal",
                               next, e2e_model_order (m, next)->by);
        s_check_order (m, jo, e2e_model_order (m, jo->seq));
        next = jo->seq + 1;
    }
    for (; next <= m->n_orders && !j->error[0]; next++)
        if (e2e_model_order (m, next))
            e2e_violation (m,
                           "journal: seq %" PRIu64 " (reported by %s) is not "
                           "in the journal",
                           next, e2e_model_order (m, next)->by);
}
