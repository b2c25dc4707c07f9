/*  rb_file: a small file written whole and safely, for what the nodes
    keep beside their data (the DB's BACKUP_DIR/.dataset, a backup signing
    key). The bytes go to PATH.tmp in the same directory, created with
    O_CREAT | O_EXCL | O_NOFOLLOW and the mode asked for, after removing
    a stale PATH.tmp (unlink removes a link planted there, never what it
    points to); then fsync, a rename onto PATH (or, when PATH must not be
    replaced, a rename that refuses to), and an fsync of the directory.
    A reader sees the old file or the new one, never a part.  */
#ifndef RB_FILE_H
#define RB_FILE_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

/*  Writes len bytes as path with mode (e.g. 0600). replace false: an
    existing path is left alone and the call fails with errno EEXIST.
    Returns 0, or -1 with errno set and "PATH: what failed: why" in err;
    PATH.tmp is removed on failure.  */
int rb_file_write (const char *path, const void *data, size_t len, mode_t mode,
                   bool replace, char *err, size_t errlen);

/*  Writes all n bytes to fd, retrying short writes until write() says
    why it stopped (ENOSPC, EFBIG, EIO ...). 0, or -1 with errno.  */
int rb_file_write_all (int fd, const void *data, size_t n);

/*  Renames from to to unless to exists (renameat2 RENAME_NOREPLACE; where
    the file system cannot promise that, a check first). 0, or -1 with
    errno (EEXIST when to exists).  */
int rb_file_rename_new (const char *from, const char *to);

/*  fsyncs the directory dir, so that a rename in it is durable. 0, or -1
    with errno.  */
int rb_file_sync_dir (const char *dir);

#endif
