/*  rb_journal_repair: journal check and repair (see rb_journal_repair.h
    and docs/journal.md).  */
#define _GNU_SOURCE
#include "rb_journal_repair.h"
#include "rb_journal_int.h"

#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define ASIDE_TRIES 100 /* names tried for the set-aside file */

struct rb_jcheck {
    rb_journal_t *j;     /* takes the records: seqs, acks, the path */
    const uint8_t *base; /* the file, mapped (NULL when empty) */
    struct stat st;      /* the file, taken under the lock */
    bool exclusive;      /* the lock is exclusive: a repair may follow */
    rb_jcheck_info_t info;
    rb_jdamage_t *damage; /* damaged spans, file order */
    size_t n_damage, cap_damage;
    uint64_t *lost; /* offsets of readable orders from the first damage */
    size_t n_lost, cap_lost;
    rb_jgap_t *gaps; /* seqs unreadable set-aside bytes may have held */
    size_t n_gaps, cap_gaps;
    bool gap_open; /* unreadable bytes since the last order taken */
    rb_jgap_t gap; /* and where they began */
};

/*  --- reading on past damage ------------------------------------------- */

/*  Unreadable bytes at off: the seqs they held are unknown. */
static void
s_gap_open (rb_jcheck_t *self, uint64_t off)
{
    if (self->gap_open)
        return;
    self->gap_open = true;
    self->gap = (rb_jgap_t){self->j->next, 0, off};
}

/*  A readable order (or seq floor) bounds the seqs before it: hi. */
static void
s_gap_close (rb_jcheck_t *self, uint64_t hi)
{
    if (!self->gap_open)
        return;
    self->gap_open = false;
    self->gap.hi = hi;
    if (hi < self->gap.lo)
        return;
    rb_journal_grow_ ((void **) &self->gaps, &self->cap_gaps, self->n_gaps + 1,
                      sizeof (rb_jgap_t));
    self->gaps[self->n_gaps++] = self->gap;
}

/*  Records a damaged span; the first one is where a repair cuts. */
static void
s_damaged (rb_jcheck_t *self, uint64_t off, uint64_t bytes, const char *text)
{
    if (self->n_damage == 0) {
        self->info.keep = off;
        self->info.kept_next = self->j->next;
        self->j->salvage = true;
    }
    rb_journal_grow_ ((void **) &self->damage, &self->cap_damage,
                      self->n_damage + 1, sizeof (rb_jdamage_t));
    rb_jdamage_t *d = &self->damage[self->n_damage++];
    d->offset = off;
    d->bytes = bytes;
    snprintf (d->text, sizeof d->text, "%s", text);
    self->info.damaged = self->n_damage;
}

/*  One intact record: taken, or damaged by what it says. Past damage an
    acknowledgement that names orders lost in it is taken all the same
    (its seqs were used); an order that cannot be taken is still named
    among the lost ones when it decodes.  */
static void
s_record (rb_jcheck_t *self, uint64_t off, uint32_t len)
{
    const uint8_t *p = self->base + off + FRAME_SIZE;
    rb_jorder_t o;
    bool order = rb_journal_decode_order_ (p, len, &o) == NULL;
    rb_journal_err_t err;
    int rc = rb_journal_take_ (self->j, p, len, off, &err);
    if (rc) {
        s_damaged (self, off, FRAME_SIZE + len, err.text);
        rc = rb_journal_take_ (self->j, p, len, off, &err);
    }
    if (rc && !order)
        s_gap_open (self, off);
    if (rc == 0 && (order || p[0] == T_FLOOR))
        s_gap_close (self, order ? o.seq - 1 : self->j->next - 1);
    self->info.records += rc == 0;
    self->info.orders += rc == 0 && order;
    if (rc == 0 && order && o.seq > self->info.last_seq)
        self->info.last_seq = o.seq;
    if (order && self->n_damage) {
        rb_journal_grow_ ((void **) &self->lost, &self->cap_lost,
                          self->n_lost + 1, sizeof (uint64_t));
        self->lost[self->n_lost++] = off;
    }
}

/*  Reads every record from the header on. */
static void
s_walk (rb_jcheck_t *self)
{
    uint64_t size = self->info.size, off = HEADER_SIZE;
    while (off < size) {
        const char *why = NULL;
        int state = rb_journal_frame_state_ (self->base, size, off, &why);
        if (state == F_TORN) {
            self->info.torn = true;
            self->info.torn_offset = off;
            self->info.torn_why = why;
            break;
        }
        uint32_t len = rb_jget32 (self->base + off);
        uint64_t next = state == F_BAD_HEADER
                            ? rb_journal_next_intact_ (self->base, size, off)
                            : off + FRAME_SIZE + len;
        if (state == F_OK)
            s_record (self, off, len);
        else {
            char text[600];
            snprintf (text, sizeof text, "%s: offset %" PRIu64 ": %s",
                      self->j->path, off, why);
            s_damaged (self, off, next - off, text);
            s_gap_open (self, off);
        }
        off = next;
    }
    if (self->gap_open) { /* no readable order after them: unbounded */
        s_gap_close (self, UINT64_MAX);
        self->gaps[self->n_gaps - 1].hi = 0;
        self->info.next_known = false;
    }
    self->info.next_seq = self->j->next;
}

/*  --- opening ------------------------------------------------------------ */

/*  Maps the file and checks its header: 0, or -1 with err.  */
static int
s_map (rb_jcheck_t *self, rb_journal_err_t *err)
{
    uint64_t size = self->info.size = (uint64_t) self->st.st_size;
    if (size == 0)
        return 0;
    void *map = mmap (NULL, size, PROT_READ, MAP_PRIVATE, self->j->fd, 0);
    if (map == MAP_FAILED) {
        rb_journal_err_ (err, RB_JOURNAL_E_IO, 0, "journal %s: mmap: %s",
                         self->j->path, strerror (errno));
        return -1;
    }
    self->base = (const uint8_t *) map;
    if (memcmp (self->base, MAGIC, size < HEADER_SIZE ? size : 8)) {
        rb_journal_err_ (err, RB_JOURNAL_E_CORRUPT, 0,
                         "%s: offset 0: not a recobus journal (bad magic)",
                         self->j->path);
        return -1;
    }
    if (size < HEADER_SIZE) {
        self->info.torn = true;
        self->info.torn_why = "a file header cut short";
    }
    return 0;
}

rb_jcheck_t *
rb_jcheck_new (const char *path, bool exclusive, int lock_wait_ms,
               rb_journal_err_t *err)
{
    memset (err, 0, sizeof *err);
    rb_jcheck_t *self = (rb_jcheck_t *) calloc (1, sizeof *self);
    assert (self);
    self->j = rb_journal_new_ (path, true);
    self->info.next_known = true;
    self->exclusive = exclusive;
    self->j->fd =
        rb_journal_open_fd_ (path, O_RDONLY, exclusive ? LOCK_EX : LOCK_SH,
                             lock_wait_ms, &self->st, err);
    if (self->j->fd < 0 || s_map (self, err)) {
        rb_jcheck_destroy (&self);
        return NULL;
    }
    s_walk (self);
    return self;
}

void
rb_jcheck_destroy (rb_jcheck_t **self_p)
{
    rb_jcheck_t *self = *self_p;
    if (!self)
        return;
    if (self->base)
        munmap ((void *) self->base, self->info.size);
    rb_journal_destroy (&self->j); /* closes the file: the lock goes */
    free (self->damage);
    free (self->lost);
    free (self->gaps);
    free (self);
    *self_p = NULL;
}

const rb_jcheck_info_t *
rb_jcheck_info (rb_jcheck_t *self)
{
    return &self->info;
}

const rb_jdamage_t *
rb_jcheck_damage (rb_jcheck_t *self, size_t *n)
{
    *n = self->n_damage;
    return self->damage;
}

size_t
rb_jcheck_lost (rb_jcheck_t *self)
{
    return self->n_lost;
}

uint64_t
rb_jcheck_lost_order (rb_jcheck_t *self, size_t i, rb_jorder_t *o)
{
    assert (i < self->n_lost);
    uint64_t off = self->lost[i];
    const char *why = rb_journal_decode_order_ (
        self->base + off + FRAME_SIZE, rb_jget32 (self->base + off), o);
    assert (why == NULL); /* the walk decoded it */
    return off;
}

const rb_jgap_t *
rb_jcheck_gaps (rb_jcheck_t *self, size_t *n)
{
    *n = self->n_gaps;
    return self->gaps;
}

/*  --- repairing ---------------------------------------------------------- */

/*  The repaired journal's next seq, or 0 with err (refused).  */
static uint64_t
s_next_seq (rb_jcheck_t *self, uint64_t want, rb_journal_err_t *err)
{
    const char *path = self->j->path;
    uint64_t least = self->info.next_seq;
    if (want == 0 && !self->info.next_known)
        rb_journal_err_ (
            err, RB_JOURNAL_E_ARG, self->gap.offset,
            "%s: offset %" PRIu64 ": unreadable bytes after the last "
            "readable order may have held orders from seq %" PRIu64
            " on, sent already: repair with --next-seq N, N at least %" PRIu64
            " and above the DB's watermark (recobus-ops status)",
            path, self->gap.offset, self->gap.lo, least);
    else if (want && want < least)
        rb_journal_err_ (err, RB_JOURNAL_E_ARG, 0,
                         "%s: --next-seq %" PRIu64 ": seqs up to %" PRIu64
                         " are in use in the journal or its damaged part: "
                         "N at least %" PRIu64,
                         path, want, least - 1, least);
    else if (want > RB_JOURNAL_SEQ_MAX)
        rb_journal_err_ (err, RB_JOURNAL_E_ARG, 0,
                         "%s: --next-seq %" PRIu64 ": at most 2^53 - 1 (%llu)",
                         path, want, RB_JOURNAL_SEQ_MAX);
    else
        return want ? want : least;
    return 0;
}

/*  Writes a, then b, to the new file fd, fsyncs and closes it: 0, or -1
    with errno.  */
static int
s_write_new (int fd, const void *a, size_t a_len, const void *b, size_t b_len)
{
    int rc = rb_journal_pwrite_all_ (fd, a, a_len, 0) ||
                     rb_journal_pwrite_all_ (fd, b, b_len, a_len) || fsync (fd)
                 ? -1
                 : 0;
    int saved = errno;
    if (close (fd) && rc == 0)
        return -1;
    errno = saved;
    return rc;
}

/*  Saves every byte from the first damage on in a new file next to the
    journal (never one that exists), fsynced: 0, or -1 with err.  */
static int
s_aside (rb_jcheck_t *self, rb_jrepair_t *out, rb_journal_err_t *err)
{
    char stamp[32];
    struct tm tm;
    time_t now = time (NULL);
    strftime (stamp, sizeof stamp, "%Y%m%dT%H%M%S", gmtime_r (&now, &tm));
    uint64_t keep = self->info.keep;
    int fd = -1;
    for (int i = 1; fd < 0 && i <= ASIDE_TRIES; i++) {
        int n = snprintf (out->aside, sizeof out->aside,
                          "%s.damaged-%s-%" PRIu64, self->j->path, stamp, keep);
        if (i > 1 && n > 0 && (size_t) n < sizeof out->aside)
            snprintf (out->aside + n, sizeof out->aside - (size_t) n, "-%d", i);
        fd = open (out->aside, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
        if (fd < 0 && errno != EEXIST)
            break;
    }
    if (fd < 0 ||
        s_write_new (fd, self->base + keep, self->info.size - keep, NULL, 0)) {
        rb_journal_err_ (err, RB_JOURNAL_E_IO, keep,
                         "journal %s: setting aside %s: %s", self->j->path,
                         out->aside, strerror (errno));
        if (fd >= 0)
            unlink (out->aside); /* our own partial copy */
        return -1;
    }
    return 0;
}

/*  Writes the kept prefix (and a seq floor record when next is above
    its own next seq) beside the journal, then renames it over the
    journal; each step durable before the next. 0, or -1 with err.  */
static int
s_replace (rb_jcheck_t *self, uint64_t next, rb_journal_err_t *err)
{
    const char *path = self->j->path;
    char tmp[4200];
    snprintf (tmp, sizeof tmp, "%s.repairing", path);
    uint8_t floor[FRAME_SIZE + FLOOR_SIZE];
    size_t n = next > self->info.kept_next ? sizeof floor : 0;
    floor[FRAME_SIZE] = T_FLOOR;
    rb_jput64 (floor + FRAME_SIZE + 1, next);
    rb_journal_frame_ (floor, FLOOR_SIZE);
    /* ours alone while we hold the lock: a crashed repair's is removed
       and redone; never followed if it is a link planted there */
    unlink (tmp);
    int fd =
        open (tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (fd >= 0 && fchown (fd, self->st.st_uid, self->st.st_gid)) {
        /* not root: the repaired journal is the caller's */
    }
    int rc = fd < 0 || fchmod (fd, self->st.st_mode & 0600) ||
                     s_write_new (fd, self->base, self->info.keep, floor, n) ||
                     rb_journal_sync_dir_ (path) || rename (tmp, path) ||
                     rb_journal_sync_dir_ (path)
                 ? -1
                 : 0;
    if (rc) {
        rb_journal_err_ (err, RB_JOURNAL_E_IO, self->info.keep,
                         "journal %s: writing the repaired copy %s: %s", path,
                         tmp, strerror (errno));
        unlink (tmp);
    }
    return rc;
}

int
rb_jcheck_repair (rb_jcheck_t *self, uint64_t next_seq, rb_jrepair_t *out,
                  rb_journal_err_t *err)
{
    memset (err, 0, sizeof *err);
    memset (out, 0, sizeof *out);
    assert (self->exclusive && self->n_damage > 0);
    uint64_t next = s_next_seq (self, next_seq, err);
    if (next == 0 || s_aside (self, out, err) || s_replace (self, next, err))
        return -1;
    out->next_seq = next;
    out->floor = next > self->info.kept_next;
    return 0;
}
