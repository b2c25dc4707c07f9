/*  rb_backup_dir: the backup dir as a whole (see rb_backup.h): its
    backup files newest first, the newest one a restore may take, and
    retention (keep the N newest that verify, delete older ones).  */
#include "rb_backup_int.h"

#include <assert.h>
#include <czmq.h>
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

typedef struct {
    char *path;           /* DIR/backup-...rbb */
    rb_backup_header_t h; /* its header, as read */
} candidate_t;

typedef struct {
    candidate_t *items; /* newest first once sorted */
    size_t n, cap;
    size_t skipped;   /* files that did not read or verify */
    const char *skip; /* what the log says of those: "skipping" ... */
} candidates_t;

bool
rb_backup_name (const char *name)
{
    size_t len = strlen (name);
    return len > 11 && strncmp (name, "backup-", 7) == 0 &&
           strcmp (name + len - 4, ".rbb") == 0;
}

/*  Newest first: created_ms, then watermark, then name. */
static int
s_newer_first (const void *a, const void *b)
{
    const candidate_t *x = (const candidate_t *) a;
    const candidate_t *y = (const candidate_t *) b;
    if (x->h.created_ms != y->h.created_ms)
        return x->h.created_ms > y->h.created_ms ? -1 : 1;
    if (x->h.watermark != y->h.watermark)
        return x->h.watermark > y->h.watermark ? -1 : 1;
    return -strcmp (x->path, y->path);
}

static void
s_add (candidates_t *list, char *path, const rb_backup_header_t *h)
{
    if (list->n == list->cap) {
        list->cap = list->cap ? list->cap * 2 : 16;
        list->items = (candidate_t *) realloc (
            list->items, list->cap * sizeof (candidate_t));
        assert (list->items);
    }
    list->items[list->n++] = (candidate_t){path, *h};
}

static void
s_free (candidates_t *list)
{
    for (size_t i = 0; i < list->n; i++)
        free (list->items[i].path);
    free (list->items);
}

/*  dir's backup files whose header checks out (reading only the header),
    newest first; the others are logged (as skip says) and counted.  */
static int
s_list (const char *dir, const rb_backup_trust_t *t, candidates_t *list,
        const char *skip, char *err, size_t errlen)
{
    memset (list, 0, sizeof *list);
    list->skip = skip;
    DIR *d = opendir (dir);
    if (!d)
        return rb_backup__err (err, errlen, "%s: cannot open: %s", dir,
                               strerror (errno));
    struct dirent *e;
    while ((e = readdir (d))) {
        if (!rb_backup_name (e->d_name))
            continue;
        char *path = rb_backup__join (dir, e->d_name);
        char why[RB_BACKUP__ERR_MAX];
        rb_backup_header_t h;
        rb_backup_reader_t *r =
            rb_backup_reader_new (path, t, &h, why, sizeof why);
        if (r)
            s_add (list, path, &h);
        else {
            zsys_warning ("backup: %s %s", skip, why);
            list->skipped++;
            free (path);
        }
        rb_backup_reader_destroy (&r);
    }
    closedir (d);
    if (list->n > 1)
        qsort (list->items, list->n, sizeof (candidate_t), s_newer_first);
    return 0;
}

/*  Whether the i-th candidate verifies in full; logs it if not. */
static bool
s_verifies (candidates_t *list, size_t i, const rb_backup_trust_t *t)
{
    char why[RB_BACKUP__ERR_MAX];
    if (rb_backup_verify (list->items[i].path, t, NULL, NULL, why,
                          sizeof why) == 0)
        return true;
    zsys_warning ("backup: %s %s", list->skip, why);
    list->skipped++;
    return false;
}

char *
rb_backup_newest (const char *dir, const rb_backup_trust_t *t,
                  rb_backup_accept_fn *accept, void *arg, char *err,
                  size_t errlen)
{
    candidates_t list;
    if (s_list (dir, t, &list, "skipping", err, errlen))
        return NULL;
    char *found = NULL, first[RB_BACKUP__ERR_MAX] = "";
    size_t refused = 0;
    for (size_t i = 0; i < list.n && !found; i++) {
        char why[RB_BACKUP__ERR_MAX];
        candidate_t *c = &list.items[i];
        if (accept && !accept (&c->h, arg, why, sizeof why)) {
            zsys_warning ("backup: skipping %s: %s", c->path, why);
            if (!refused++)
                snprintf (first, sizeof first, "; %.4000s: %.4000s", c->path,
                          why);
        } else if (s_verifies (&list, i, t)) {
            found = c->path;
            c->path = NULL;
        }
    }
    if (!found)
        rb_backup__err (err, errlen,
                        "%s: no backup to restore (%zu that do not verify, "
                        "%zu refused%s)",
                        dir, list.skipped, refused, first);
    s_free (&list);
    return found;
}

int
rb_backup_prune (const char *dir, const rb_backup_trust_t *t,
                 const char *dataset, int keep, const char *keep_path,
                 char *err, size_t errlen)
{
    candidates_t list;
    if (keep <= 0)
        return 0;
    if (s_list (dir, t, &list, "backup-keep leaves alone", err, errlen))
        return -1;
    int kept = 0, deleted = 0;
    for (size_t i = 0; i < list.n; i++) {
        candidate_t *c = &list.items[i];
        bool ours = streq (c->h.dataset, dataset);
        bool just_written = keep_path && streq (c->path, keep_path);
        if (!ours || (!just_written && !s_verifies (&list, i, t)))
            continue; /* not ours to judge: left alone */
        if (kept < keep || just_written)
            kept++;
        else if (unlink (c->path) == 0) {
            zsys_info ("backup: backup-keep %d: deleted %s", keep, c->path);
            deleted++;
        } else
            zsys_warning ("backup: backup-keep %d: cannot delete %s: %s", keep,
                          c->path, strerror (errno));
    }
    s_free (&list);
    return deleted;
}
