/*  rb_file: small files written whole and safely (see rb_file.h). */
#define _GNU_SOURCE /* renameat2 */
#include "rb_file.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/*  "what: why" into err for errno; keeps errno; returns -1. */
static int
s_fail (char *err, size_t errlen, const char *fmt, ...)
{
    int saved = errno;
    char what[600];
    va_list args;
    va_start (args, fmt);
    vsnprintf (what, sizeof what, fmt, args);
    va_end (args);
    if (err && errlen)
        snprintf (err, errlen, "%s: %s", what, strerror (saved));
    errno = saved;
    return -1;
}

int
rb_file_write_all (int fd, const void *data, size_t n)
{
    const uint8_t *p = (const uint8_t *) data;
    while (n > 0) {
        ssize_t done = write (fd, p, n);
        if (done < 0 && errno == EINTR)
            continue;
        if (done <= 0) {
            if (done == 0)
                errno = ENOSPC;
            return -1;
        }
        p += done;
        n -= (size_t) done;
    }
    return 0;
}

int
rb_file_rename_new (const char *from, const char *to)
{
    if (renameat2 (AT_FDCWD, from, AT_FDCWD, to, RENAME_NOREPLACE) == 0)
        return 0;
    if (errno != EINVAL && errno != ENOSYS)
        return -1;
    struct stat st;
    if (lstat (to, &st) == 0) {
        errno = EEXIST;
        return -1;
    }
    return rename (from, to);
}

int
rb_file_sync_dir (const char *dir)
{
    int fd = open (dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    int rc = fsync (fd);
    int saved = errno;
    close (fd);
    errno = saved;
    return rc;
}

/*  Creates tmp afresh (a stale one, or a link planted there, removed
    first) and writes the bytes durably; 0, or -1 with err.  */
static int
s_write_tmp (const char *tmp, const void *data, size_t len, mode_t mode,
             char *err, size_t errlen)
{
    if (unlink (tmp) && errno != ENOENT)
        return s_fail (err, errlen, "%s: cannot remove it", tmp);
    int fd =
        open (tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, mode);
    if (fd < 0)
        return s_fail (err, errlen, "%s: cannot create it", tmp);
    int rc =
        fchmod (fd, mode) || rb_file_write_all (fd, data, len) || fsync (fd)
            ? s_fail (err, errlen, "%s: cannot write it", tmp)
            : 0;
    if (close (fd) && rc == 0)
        rc = s_fail (err, errlen, "%s: cannot write it", tmp);
    return rc;
}

int
rb_file_write (const char *path, const void *data, size_t len, mode_t mode,
               bool replace, char *err, size_t errlen)
{
    size_t plen = strlen (path);
    char *tmp = (char *) malloc (plen + 5);
    char *dir = strdup (path);
    if (!tmp || !dir) {
        free (tmp);
        free (dir);
        errno = ENOMEM;
        return s_fail (err, errlen, "%s", path);
    }
    memcpy (tmp, path, plen);
    memcpy (tmp + plen, ".tmp", 5);
    int rc = s_write_tmp (tmp, data, len, mode, err, errlen);
    if (rc == 0 &&
        (replace ? rename (tmp, path) : rb_file_rename_new (tmp, path)))
        rc = s_fail (err, errlen, "%s: cannot rename it to %s", tmp, path);
    if (rc) {
        int saved = errno;
        unlink (tmp);
        errno = saved;
    } else if (rb_file_sync_dir (dirname (dir)))
        rc = s_fail (err, errlen, "%s: fsync", dir);
    free (tmp);
    free (dir);
    return rc;
}
