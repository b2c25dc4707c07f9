/*  rb_journal: the append-only order journal (see rb_journal.h and
    docs/journal.md).  */
#define _GNU_SOURCE
#include "rb_journal_int.h"
#include "rb_msg.h" /* rb_key_valid, RB_OP_* */

#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <libgen.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/*  --- small helpers ------------------------------------------------------ */

static int
s_fail (rb_journal_t *self, const char *what)
{
    snprintf (self->errstr, sizeof self->errstr, "journal %s: %s: %s",
              self->path, what, strerror (errno));
    return -1;
}

static uint64_t
s_now_ms (void)
{
    struct timespec ts;
    clock_gettime (CLOCK_REALTIME, &ts);
    return (uint64_t) ts.tv_sec * 1000 + (uint64_t) ts.tv_nsec / 1000000;
}

/*  --- in-memory bookkeeping ---------------------------------------------- */

static void
s_pend_add (rb_journal_t *self, uint64_t seq, uint64_t offset)
{
    rb_journal_grow_ ((void **) &self->pend, &self->cap_pend, self->n_pend + 1,
                      sizeof (jpend_t));
    self->pend[self->n_pend++] = (jpend_t){seq, offset};
    self->pending++;
}

/*  Drops the dead entries once they are the majority. */
static void
s_pend_compact (rb_journal_t *self)
{
    if (self->dead < 1024 || self->dead < self->n_pend / 2)
        return;
    size_t out = 0;
    for (size_t i = self->head; i < self->n_pend; i++)
        if (self->pend[i].offset != UINT64_MAX)
            self->pend[out++] = self->pend[i];
    self->n_pend = out;
    self->dead = 0;
    self->head = 0;
}

/*  The first pend index with seq >= seq. */
static size_t
s_pend_find (const rb_journal_t *self, uint64_t seq)
{
    size_t lo = self->head, hi = self->n_pend;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (self->pend[mid].seq < seq)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

/*  Forgets the orders lo..hi as pending. */
static void
s_pend_remove (rb_journal_t *self, uint64_t lo, uint64_t hi)
{
    for (size_t i = s_pend_find (self, lo);
         i < self->n_pend && self->pend[i].seq <= hi; i++) {
        if (self->pend[i].offset == UINT64_MAX)
            continue;
        self->pend[i].offset = UINT64_MAX;
        self->pending--;
        self->dead++;
    }
    while (self->head < self->n_pend &&
           self->pend[self->head].offset == UINT64_MAX)
        self->head++;
    s_pend_compact (self);
}

/*  An order is now in the file at offset. */
static void
s_order_seen (rb_journal_t *self, uint64_t seq, uint64_t offset)
{
    if (self->orders % INDEX_EVERY == 0) {
        rb_journal_grow_ ((void **) &self->marks, &self->cap_marks,
                          self->n_marks + 1, sizeof (jmark_t));
        self->marks[self->n_marks++] = (jmark_t){seq, offset};
    }
    self->orders++;
    self->next = seq + 1;
    s_pend_add (self, seq, offset);
}

/*  An ACK or REJECT range is now in the file. */
static void
s_range_seen (rb_journal_t *self, int type, uint64_t lo, uint64_t hi,
              uint64_t mark)
{
    s_pend_remove (self, lo, hi);
    if (type == T_REJECT)
        rb_journal_range_add_ (&self->rejected, &self->n_rejected,
                               &self->cap_rejected, (jrange_t){lo, hi, 0});
    else if (mark > lo) /* some of them were applied behind the watermark */
        rb_journal_range_add_ (&self->late, &self->n_late, &self->cap_late,
                               (jrange_t){lo, hi, mark});
}

/*  --- decoding records --------------------------------------------------- */

/*  Checks and takes one ORDER record; -1 with err. */
static int
s_take_order (rb_journal_t *self, const uint8_t *p, uint32_t len,
              uint64_t offset, rb_journal_err_t *err)
{
    rb_jorder_t o;
    const char *why = rb_journal_decode_order_ (p, len, &o);
    if (!why && o.seq < self->next)
        why = "seq not above the previous order's";
    if (!why && o.seq == UINT64_MAX)
        why = "seq out of range";
    if (why) {
        rb_journal_err_ (err, RB_JOURNAL_E_CORRUPT, offset,
                         "%s: offset %" PRIu64 ": %s", self->path, offset, why);
        return -1;
    }
    s_order_seen (self, o.seq, offset);
    return 0;
}

/*  Checks and takes one ACK or REJECT record; -1 with err. */
static int
s_take_ranges (rb_journal_t *self, const uint8_t *p, uint32_t len,
               uint64_t offset, rb_journal_err_t *err)
{
    uint32_t n = len >= ACKS_FIXED ? rb_jget32 (p + 9) : 0;
    const char *why = NULL;
    if (len < ACKS_FIXED || (uint64_t) ACKS_FIXED + 16 * (uint64_t) n != len)
        why = "acknowledgement lengths do not add up";
    for (uint32_t i = 0; !why && i < n; i++) {
        uint64_t lo = rb_jget64 (p + ACKS_FIXED + 16 * i);
        uint64_t hi = rb_jget64 (p + ACKS_FIXED + 16 * i + 8);
        if (lo > hi || hi == UINT64_MAX || (hi >= self->next && !self->salvage))
            why = "acknowledges an order not in the journal";
        else if (hi >= self->next) /* its order was in the damage */
            self->next = hi + 1;
    }
    if (why) {
        rb_journal_err_ (err, RB_JOURNAL_E_CORRUPT, offset,
                         "%s: offset %" PRIu64 ": %s", self->path, offset, why);
        return -1;
    }
    uint64_t mark = rb_jget64 (p + 1);
    for (uint32_t i = 0; i < n; i++)
        s_range_seen (self, p[0], rb_jget64 (p + ACKS_FIXED + 16 * i),
                      rb_jget64 (p + ACKS_FIXED + 16 * i + 8), mark);
    return 0;
}

/*  Checks and takes one seq floor record (a repair's): the next order's
    seq is at least the one it holds; -1 with err.  */
static int
s_take_floor (rb_journal_t *self, const uint8_t *p, uint32_t len,
              uint64_t offset, rb_journal_err_t *err)
{
    uint64_t lowest = len == FLOOR_SIZE ? rb_jget64 (p + 1) : 0;
    if (lowest < self->next || lowest == UINT64_MAX) {
        rb_journal_err_ (err, RB_JOURNAL_E_CORRUPT, offset,
                         "%s: offset %" PRIu64 ": bad seq floor record",
                         self->path, offset);
        return -1;
    }
    self->next = lowest;
    return 0;
}

/*  A request id is now in the file: into the ring of the newest. */
static void
s_request_seen (rb_journal_t *self, const jreq_t *r)
{
    if (!self->reqs) {
        self->reqs = (jreq_t *) calloc (RB_JOURNAL_REQUESTS, sizeof (jreq_t));
        assert (self->reqs);
    }
    self->reqs[self->reqs_at] = *r;
    self->reqs_at = (self->reqs_at + 1) % RB_JOURNAL_REQUESTS;
    if (self->n_reqs < RB_JOURNAL_REQUESTS)
        self->n_reqs++;
}

/*  Checks and takes one request record: its orders come before it in
    the file (the same commit wrote them first); -1 with err.  */
static int
s_take_request (rb_journal_t *self, const uint8_t *p, uint32_t len,
                uint64_t offset, rb_journal_err_t *err)
{
    jreq_t r;
    memset (&r, 0, sizeof r);
    if (len == REQUEST_SIZE) {
        memcpy (r.rid, p + 1, RB_JOURNAL_RID_SIZE);
        r.first = rb_jget64 (p + 17);
        r.count = rb_jget32 (p + 25);
    }
    if (len != REQUEST_SIZE || r.count == 0 || r.first == 0 ||
        (r.first + r.count > self->next && !self->salvage)) {
        rb_journal_err_ (err, RB_JOURNAL_E_CORRUPT, offset,
                         "%s: offset %" PRIu64 ": bad request record",
                         self->path, offset);
        return -1;
    }
    s_request_seen (self, &r);
    return 0;
}

int
rb_journal_take_ (rb_journal_t *self, const uint8_t *p, uint32_t len,
                  uint64_t offset, rb_journal_err_t *err)
{
    if (p[0] == T_ORDER)
        return s_take_order (self, p, len, offset, err);
    if (p[0] == T_ACK || p[0] == T_REJECT)
        return s_take_ranges (self, p, len, offset, err);
    if (p[0] == T_FLOOR)
        return s_take_floor (self, p, len, offset, err);
    if (p[0] == T_REQUEST)
        return s_take_request (self, p, len, offset, err);
    rb_journal_err_ (err, RB_JOURNAL_E_CORRUPT, offset,
                     "%s: offset %" PRIu64 ": unknown record type %u",
                     self->path, offset, p[0]);
    return -1;
}

/*  --- the open scan ------------------------------------------------------- */

/*  Cuts the file at offset (a writer) or just stops there (a reader). */
static int
s_cut (rb_journal_t *self, uint64_t off, uint64_t size, const char *why,
       rb_journal_err_t *err)
{
    snprintf (self->warning, sizeof self->warning,
              "journal %s: %s a torn last record at offset %" PRIu64
              " (%" PRIu64 " bytes, %s): a crash mid-write, never sent",
              self->path, self->readonly ? "ignored" : "cut", off, size - off,
              why);
    if (!self->readonly &&
        (ftruncate (self->fd, (off_t) off) || fsync (self->fd))) {
        rb_journal_err_ (err, RB_JOURNAL_E_IO, off,
                         "journal %s: cutting the torn tail: %s", self->path,
                         strerror (errno));
        return -1;
    }
    self->size = off;
    return 0;
}

static int
s_scan (rb_journal_t *self, const uint8_t *base, uint64_t size,
        rb_journal_err_t *err)
{
    uint64_t off = HEADER_SIZE;
    while (off < size) {
        const char *why = NULL;
        int state = rb_journal_frame_state_ (base, size, off, &why);
        if (state == F_TORN)
            return s_cut (self, off, size, why, err);
        if (state != F_OK) {
            rb_journal_err_ (err, RB_JOURNAL_E_CORRUPT, off,
                             "%s: offset %" PRIu64
                             ": %s (not the last record: the "
                             "journal is damaged)",
                             self->path, off, why);
            return -1;
        }
        uint32_t len = rb_jget32 (base + off);
        if (rb_journal_take_ (self, base + off + FRAME_SIZE, len, off, err))
            return -1;
        off += FRAME_SIZE + len;
    }
    self->size = size;
    return 0;
}

/*  --- opening ------------------------------------------------------------- */

/*  Waits up to wait_ms for the flock op on fd: the ms waited, or -1. */
static int
s_lock (int fd, const char *path, int op, int wait_ms, rb_journal_err_t *err)
{
    int waited = 0;
    while (flock (fd, op | LOCK_NB)) {
        if (errno != EWOULDBLOCK && errno != EINTR) {
            rb_journal_err_ (err, RB_JOURNAL_E_IO, 0, "journal %s: lock: %s",
                             path, strerror (errno));
            return -1;
        }
        if (waited >= wait_ms) {
            rb_journal_err_ (
                err, RB_JOURNAL_E_LOCKED, 0,
                "journal %s: in use by another recobus-ops (waited %d ms)",
                path, wait_ms);
            return -1;
        }
        usleep (LOCK_POLL_MS * 1000);
        waited += LOCK_POLL_MS;
    }
    return waited;
}

/*  Whether path still names the file st describes. */
static bool
s_named (const char *path, const struct stat *st)
{
    struct stat now;
    return stat (path, &now) == 0 && now.st_ino == st->st_ino &&
           now.st_dev == st->st_dev;
}

int
rb_journal_open_fd_ (const char *path, int oflags, int lock_op, int wait_ms,
                     struct stat *st, rb_journal_err_t *err)
{
    for (int tries = 0; tries < REOPEN_MAX; tries++) {
        int fd = open (path, oflags | O_CLOEXEC, 0600);
        if (fd < 0) {
            rb_journal_err_ (err, RB_JOURNAL_E_IO, 0, "journal %s: %s", path,
                             strerror (errno));
            return -1;
        }
        int waited = lock_op ? s_lock (fd, path, lock_op, wait_ms, err) : 0;
        if (waited >= 0 && fstat (fd, st)) {
            rb_journal_err_ (err, RB_JOURNAL_E_IO, 0, "journal %s: %s", path,
                             strerror (errno));
            waited = -1;
        } else if (waited >= 0 && !S_ISREG (st->st_mode)) {
            rb_journal_err_ (err, RB_JOURNAL_E_IO, 0,
                             "journal %s: not a regular file", path);
            waited = -1;
        }
        if (waited >= 0 && s_named (path, st))
            return fd;
        close (fd);
        if (waited < 0)
            return -1;
        wait_ms -= waited; /* replaced while we waited: open the new one */
    }
    rb_journal_err_ (
        err, RB_JOURNAL_E_LOCKED, 0,
        "journal %s: replaced again and again while waiting for it", path);
    return -1;
}

/*  A new (or header-torn) journal: writes the header. */
static int
s_init_file (rb_journal_t *self, rb_journal_err_t *err)
{
    if (ftruncate (self->fd, 0) ||
        rb_journal_pwrite_all_ (self->fd, MAGIC, HEADER_SIZE, 0) ||
        fsync (self->fd) || rb_journal_sync_dir_ (self->path)) {
        rb_journal_err_ (err, RB_JOURNAL_E_IO, 0,
                         "journal %s: writing the header: %s", self->path,
                         strerror (errno));
        return -1;
    }
    self->size = HEADER_SIZE;
    return 0;
}

/*  Checks the header and scans the records of a file of size bytes. */
static int
s_load (rb_journal_t *self, uint64_t size, rb_journal_err_t *err)
{
    if (size == 0)
        return self->readonly ? 0 : s_init_file (self, err);
    void *map = mmap (NULL, size, PROT_READ, MAP_PRIVATE, self->fd, 0);
    if (map == MAP_FAILED) {
        rb_journal_err_ (err, RB_JOURNAL_E_IO, 0, "journal %s: mmap: %s",
                         self->path, strerror (errno));
        return -1;
    }
    madvise (map, size, MADV_SEQUENTIAL);
    const uint8_t *base = (const uint8_t *) map;
    int rc = 0;
    bool prefix = memcmp (base, MAGIC, size < HEADER_SIZE ? size : 8) == 0;
    if (!prefix) {
        rb_journal_err_ (err, RB_JOURNAL_E_CORRUPT, 0,
                         "%s: offset 0: not a recobus journal (bad magic)",
                         self->path);
        rc = -1;
    } else if (size < HEADER_SIZE) {
        snprintf (self->warning, sizeof self->warning,
                  "journal %s: header cut short (%" PRIu64
                  " bytes): a crash while creating it; starting afresh",
                  self->path, size);
        rc = self->readonly ? 0 : s_init_file (self, err);
    } else
        rc = s_scan (self, base, size, err);
    munmap (map, size);
    return rc;
}

rb_journal_t *
rb_journal_new_ (const char *path, bool readonly)
{
    rb_journal_t *self = (rb_journal_t *) calloc (1, sizeof *self);
    assert (self);
    self->path = strdup (path);
    assert (self->path);
    self->readonly = readonly;
    self->fd = -1;
    self->next = 1;
    return self;
}

rb_journal_t *
rb_journal_open (const char *path, int flags, int lock_wait_ms,
                 rb_journal_err_t *err)
{
    memset (err, 0, sizeof *err);
    rb_journal_t *self =
        rb_journal_new_ (path, (flags & RB_JOURNAL_READONLY) != 0);
    /* a writer takes the size only once it holds the lock */
    struct stat st;
    self->fd = rb_journal_open_fd_ (
        path, self->readonly ? O_RDONLY : O_RDWR | O_CREAT,
        self->readonly ? 0 : LOCK_EX, lock_wait_ms, &st, err);
    if (self->fd < 0 || s_load (self, (uint64_t) st.st_size, err)) {
        rb_journal_destroy (&self);
        return NULL;
    }
    return self;
}

void
rb_journal_destroy (rb_journal_t **self_p)
{
    rb_journal_t *self = *self_p;
    if (!self)
        return;
    /* a map of the file (recover keeps one) holds the open file, and
       with it the lock, past close: let the lock go first */
    if (self->fd >= 0)
        flock (self->fd, LOCK_UN);
    if (self->fd >= 0)
        close (self->fd);
    free (self->path);
    free (self->pend);
    free (self->late);
    free (self->rejected);
    free (self->marks);
    free (self->stage);
    free (self->staged);
    free (self->reqs);
    free (self);
    *self_p = NULL;
}

/*  --- accessors ----------------------------------------------------------- */

const char *
rb_journal_path (rb_journal_t *self)
{
    return self->path;
}

const char *
rb_journal_warning (rb_journal_t *self)
{
    return self->warning[0] ? self->warning : NULL;
}

const char *
rb_journal_errstr (rb_journal_t *self)
{
    return self->errstr;
}

uint64_t
rb_journal_next_seq (rb_journal_t *self)
{
    return self->next;
}

uint64_t
rb_journal_orders (rb_journal_t *self)
{
    return self->orders;
}

uint64_t
rb_journal_pending (rb_journal_t *self, uint64_t *first, uint64_t *last)
{
    uint64_t lo = 0, hi = 0;
    for (size_t i = self->head; i < self->n_pend; i++)
        if (self->pend[i].offset != UINT64_MAX) {
            lo = self->pend[i].seq;
            break;
        }
    for (size_t i = self->n_pend; i > self->head; i--)
        if (self->pend[i - 1].offset != UINT64_MAX) {
            hi = self->pend[i - 1].seq;
            break;
        }
    if (first)
        *first = lo;
    if (last)
        *last = hi;
    return self->pending;
}

/*  --- writing ------------------------------------------------------------- */

static int
s_writable (rb_journal_t *self)
{
    if (self->readonly) {
        snprintf (self->errstr, sizeof self->errstr,
                  "journal %s: opened read-only", self->path);
        return -1;
    }
    if (self->broken) {
        snprintf (self->errstr, sizeof self->errstr,
                  "journal %s: an earlier write failed; reopen it", self->path);
        return -1;
    }
    return 0;
}

int
rb_journal_add (rb_journal_t *self, int op, const char *key, size_t key_len,
                const void *value, size_t value_len, uint64_t *seq)
{
    const char *why = NULL;
    if (op != RB_OP_PUT && op != RB_OP_DELETE)
        why = "unknown op";
    else if (!rb_key_valid (key, key_len))
        why = "bad key (1-64 printable ASCII bytes)";
    else if (op == RB_OP_DELETE && value_len)
        why = "a delete has no value";
    else if (value_len > RB_JOURNAL_VALUE_MAX)
        why = "value too long";
    else if (self->next + self->n_staged > RB_JOURNAL_SEQ_MAX)
        why = "no seq left: the next would be 2^53 or above, past what the "
              "DB holds exactly";
    if (why || s_writable (self)) {
        if (why)
            snprintf (self->errstr, sizeof self->errstr, "journal %s: %s",
                      self->path, why);
        return -1;
    }
    size_t len = ORDER_FIXED + key_len + value_len;
    rb_journal_grow_ ((void **) &self->stage, &self->stage_cap,
                      self->stage_len + FRAME_SIZE + len, 1);
    uint8_t *p = self->stage + self->stage_len + FRAME_SIZE;
    uint64_t s = self->next + self->n_staged;
    p[0] = T_ORDER;
    rb_jput64 (p + 1, s);
    rb_jput64 (p + 9, s_now_ms ());
    p[17] = (uint8_t) op;
    p[18] = (uint8_t) key_len;
    rb_jput32 (p + 19, (uint32_t) value_len);
    memcpy (p + ORDER_FIXED, key, key_len);
    if (value_len)
        memcpy (p + ORDER_FIXED + key_len, value, value_len);
    rb_journal_frame_ (self->stage + self->stage_len, (uint32_t) len);
    rb_journal_grow_ ((void **) &self->staged, &self->cap_staged,
                      self->n_staged + 1, sizeof (jpend_t));
    self->staged[self->n_staged++] = (jpend_t){s, self->stage_len};
    self->stage_len += FRAME_SIZE + len;
    *seq = s;
    return 0;
}

size_t
rb_journal_staged (rb_journal_t *self)
{
    return self->n_staged;
}

int
rb_journal_add_request (rb_journal_t *self,
                        const uint8_t rid[RB_JOURNAL_RID_SIZE], uint64_t first,
                        uint32_t count)
{
    if (s_writable (self))
        return -1;
    if (count == 0 || self->has_staged_req || count != self->n_staged ||
        first != self->staged[0].seq) {
        snprintf (self->errstr, sizeof self->errstr,
                  "journal %s: a request record must name the orders staged",
                  self->path);
        return -1;
    }
    rb_journal_grow_ ((void **) &self->stage, &self->stage_cap,
                      self->stage_len + FRAME_SIZE + REQUEST_SIZE, 1);
    uint8_t *p = self->stage + self->stage_len + FRAME_SIZE;
    p[0] = T_REQUEST;
    memcpy (p + 1, rid, RB_JOURNAL_RID_SIZE);
    rb_jput64 (p + 17, first);
    rb_jput32 (p + 25, count);
    rb_journal_frame_ (self->stage + self->stage_len, REQUEST_SIZE);
    self->stage_len += FRAME_SIZE + REQUEST_SIZE;
    memcpy (self->staged_req.rid, rid, RB_JOURNAL_RID_SIZE);
    self->staged_req.first = first;
    self->staged_req.count = count;
    self->has_staged_req = true;
    return 0;
}

void
rb_journal_drop_staged (rb_journal_t *self)
{
    self->n_staged = 0;
    self->stage_len = 0;
    self->has_staged_req = false;
}

bool
rb_journal_request (rb_journal_t *self, const uint8_t rid[RB_JOURNAL_RID_SIZE],
                    uint64_t *first, uint32_t *count)
{
    for (size_t i = 0; i < self->n_reqs; i++) { /* newest first */
        size_t at =
            (self->reqs_at + RB_JOURNAL_REQUESTS - 1 - i) % RB_JOURNAL_REQUESTS;
        if (memcmp (self->reqs[at].rid, rid, RB_JOURNAL_RID_SIZE) == 0) {
            *first = self->reqs[at].first;
            *count = self->reqs[at].count;
            return true;
        }
    }
    return false;
}

uint64_t
rb_journal_pending_in (rb_journal_t *self, uint64_t lo, uint64_t hi)
{
    uint64_t n = 0;
    for (size_t i = s_pend_find (self, lo);
         i < self->n_pend && self->pend[i].seq <= hi; i++)
        n += self->pend[i].offset != UINT64_MAX;
    return n;
}

int
rb_journal_sync (rb_journal_t *self)
{
    if (self->readonly || self->fd < 0 || fsync (self->fd) == 0)
        return 0;
    return s_fail (self, "fsync");
}

/*  Appends bytes at the end; on a failed write the file is cut back. */
static int
s_append (rb_journal_t *self, const void *buf, size_t len, bool sync)
{
    if (rb_journal_pwrite_all_ (self->fd, buf, len, self->size) == 0 &&
        (!sync || fsync (self->fd) == 0))
        return 0;
    int saved = errno;
    s_fail (self, sync ? "write or fsync" : "write");
    /* after a failed fsync the page cache cannot be trusted: stop */
    if (ftruncate (self->fd, (off_t) self->size) || sync)
        self->broken = true;
    errno = saved;
    return -1;
}

int
rb_journal_commit (rb_journal_t *self)
{
    if (self->n_staged == 0)
        return 0;
    int rc = s_writable (self);
    if (rc == 0)
        rc = s_append (self, self->stage, self->stage_len, true);
    for (size_t i = 0; rc == 0 && i < self->n_staged; i++)
        s_order_seen (self, self->staged[i].seq,
                      self->size + self->staged[i].offset);
    if (rc == 0 && self->has_staged_req)
        s_request_seen (self, &self->staged_req);
    if (rc == 0)
        self->size += self->stage_len;
    self->n_staged = 0;
    self->stage_len = 0;
    self->has_staged_req = false;
    return rc;
}

/*  Writes ACK or REJECT records for seqs, as ranges of consecutive seqs,
    and applies them.  */
static int
s_ranges (rb_journal_t *self, int type, const uint64_t *seqs, size_t n,
          uint64_t mark)
{
    int rc = s_writable (self);
    size_t i = 0;
    while (i < n) {
        size_t room = n - i < RANGES_MAX ? n - i : RANGES_MAX;
        uint8_t *rec = (uint8_t *) malloc (FRAME_SIZE + ACKS_FIXED + 16 * room);
        assert (rec);
        uint8_t *p = rec + FRAME_SIZE;
        uint32_t count = 0;
        for (; i < n && count < RANGES_MAX; count++) {
            size_t j = i;
            while (j + 1 < n && seqs[j + 1] == seqs[j] + 1)
                j++;
            assert (j + 1 >= n || seqs[j + 1] > seqs[j]); /* ascending */
            rb_jput64 (p + ACKS_FIXED + 16 * count, seqs[i]);
            rb_jput64 (p + ACKS_FIXED + 16 * count + 8, seqs[j]);
            s_range_seen (self, type, seqs[i], seqs[j], mark);
            i = j + 1;
        }
        p[0] = (uint8_t) type;
        rb_jput64 (p + 1, mark);
        rb_jput32 (p + 9, count);
        uint32_t len = ACKS_FIXED + 16 * count;
        rb_journal_frame_ (rec, len);
        if (rc == 0 && s_append (self, rec, FRAME_SIZE + len, false))
            rc = -1;
        else if (rc == 0)
            self->size += FRAME_SIZE + len;
        free (rec);
    }
    return rc;
}

int
rb_journal_ack (rb_journal_t *self, const uint64_t *seqs, size_t n,
                uint64_t watermark)
{
    return s_ranges (self, T_ACK, seqs, n, watermark);
}

int
rb_journal_reject (rb_journal_t *self, const uint64_t *seqs, size_t n)
{
    return s_ranges (self, T_REJECT, seqs, n, 0);
}
