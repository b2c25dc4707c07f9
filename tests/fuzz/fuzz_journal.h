/*  fuzz_journal: the ops journal's readers (nodes/ops/rb_journal.h,
    rb_journal_repair.h) over one input written to a temp file: a
    read-only open (the scan), the pending orders and a recovery read
    back through a map, every order they name decoded; a check (record
    by record, going on past damage) and the orders and gaps it finds
    past the first damage; last a writer's open, which cuts a torn tail.
    fuzz_journal.c feeds the bytes as they come, fuzz_journal_fixed.c
    with every frame's two CRCs recomputed first.  */
#ifndef FUZZ_JOURNAL_H
#define FUZZ_JOURNAL_H

#include "rb_journal.h"
#include "rb_journal_repair.h"
#include "fuzz_util.h"

#include <assert.h>

static void
s_orders (const rb_journal_map_t *map, const uint64_t *offsets, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        rb_jorder_t o;
        assert (rb_journal_map_order (map, offsets[i], &o) == 0);
        assert (o.key_len >= 1 && o.key_len <= RB_JOURNAL_KEY_MAX);
    }
}

static void
s_read_back (rb_journal_t *j)
{
    uint64_t *offsets = NULL;
    size_t pending = rb_journal_pending_list (j, &offsets);
    rb_journal_map_t *map = rb_journal_map_new (j);
    if (map)
        s_orders (map, offsets, pending);
    free (offsets);
    if (!map)
        return;
    uint64_t last = 0;
    rb_journal_pending (j, NULL, &last);
    uint64_t marks[] = {0, last / 2, UINT64_MAX};
    for (size_t m = 0; m < sizeof marks / sizeof *marks; m++) {
        offsets = NULL;
        int64_t n = rb_journal_recovery (j, map, marks[m], &offsets);
        if (n > 0)
            s_orders (map, offsets, (size_t) n);
        free (offsets);
    }
    rb_journal_map_destroy (&map);
}

static void
s_check (const char *path)
{
    rb_journal_err_t err;
    rb_jcheck_t *c = rb_jcheck_new (path, false, 0, &err);
    if (!c)
        return;
    const rb_jcheck_info_t *info = rb_jcheck_info (c);
    size_t n;
    const rb_jdamage_t *damage = rb_jcheck_damage (c, &n);
    assert (n == info->damaged);
    for (size_t i = 0; i < n; i++)
        assert (damage[i].offset < info->size && damage[i].text[0]);
    for (size_t i = 0; i < rb_jcheck_lost (c); i++) {
        rb_jorder_t o;
        assert (rb_jcheck_lost_order (c, i, &o) < info->size);
    }
    rb_jcheck_gaps (c, &n);
    rb_jcheck_destroy (&c);
}

static void
fuzz_journal_read (const uint8_t *data, size_t size)
{
    const char *path = fuzz_file (data, size);
    rb_journal_err_t err;
    rb_journal_t *j = rb_journal_open (path, RB_JOURNAL_READONLY, 0, &err);
    if (j) {
        s_read_back (j);
        rb_journal_destroy (&j);
    } else
        assert (err.code != RB_JOURNAL_OK && err.text[0]);
    s_check (path);
    j = rb_journal_open (path, 0, 0, &err);
    rb_journal_destroy (&j);
}

#endif
