/*  rb_sign: the backup signing key and Ed25519ph signatures (see
    rb_sign.h).  */
#include "rb_sign.h"
#include "rb_file.h"

#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define KEY_WORD  "recobus-backup-key 1 " /* what the key line starts with */
#define SEED_SIZE crypto_sign_SEEDBYTES
#define LINE_SIZE (sizeof KEY_WORD - 1 + 2 * SEED_SIZE + 1)

struct rb_sign_key {
    uint8_t pk[crypto_sign_PUBLICKEYBYTES]; /* public half */
    uint8_t sk[crypto_sign_SECRETKEYBYTES]; /* secret half (seed + pk) */
};

struct rb_sign {
    crypto_sign_state state; /* the running SHA-512 of Ed25519ph */
};

static void
s_sodium (void)
{
    int rc = sodium_init ();
    assert (rc >= 0); /* 1 when already done: fine */
}

int
rb_sign_key_create (const char *path, bool replace, char id[RB_SIGN_ID_SIZE],
                    char *err, size_t errlen)
{
    s_sodium ();
    uint8_t seed[SEED_SIZE], pk[crypto_sign_PUBLICKEYBYTES],
        sk[crypto_sign_SECRETKEYBYTES];
    char line[LINE_SIZE + 1];
    randombytes_buf (seed, sizeof seed);
    crypto_sign_seed_keypair (pk, sk, seed);
    memcpy (line, KEY_WORD, sizeof KEY_WORD - 1);
    sodium_bin2hex (line + sizeof KEY_WORD - 1, 2 * SEED_SIZE + 1, seed,
                    SEED_SIZE);
    line[LINE_SIZE - 1] = '\n';
    int rc = rb_file_write (path, line, LINE_SIZE, 0600, replace, err, errlen);
    int saved = errno;
    if (rc == 0 && id)
        rb_sign_id (pk, id);
    sodium_memzero (seed, sizeof seed);
    sodium_memzero (sk, sizeof sk);
    sodium_memzero (line, sizeof line);
    errno = saved;
    return rc;
}

/*  Reads the key line of the open file fd into line (LINE_SIZE bytes);
    0, or -1 with err.  */
static int
s_read_line (int fd, const char *path, char *line, char *err, size_t errlen)
{
    struct stat st;
    if (fstat (fd, &st) || !S_ISREG (st.st_mode)) {
        snprintf (err, errlen, "%s: not a regular file", path);
        return -1;
    }
    if (st.st_mode & 077) {
        snprintf (err, errlen,
                  "%s: mode %04o: group or others may read or write it "
                  "(chmod 600 %s)",
                  path, (unsigned) (st.st_mode & 07777), path);
        return -1;
    }
    char extra;
    ssize_t got = read (fd, line, LINE_SIZE);
    if (got != (ssize_t) LINE_SIZE || read (fd, &extra, 1) != 0 ||
        memcmp (line, KEY_WORD, sizeof KEY_WORD - 1) != 0 ||
        line[LINE_SIZE - 1] != '\n') {
        snprintf (err, errlen,
                  "%s: not a backup key (one line: \"%s<64 hex chars>\"; "
                  "recobus-keygen --backup-key writes one)",
                  path, KEY_WORD);
        return -1;
    }
    return 0;
}

/*  The seed's 64 lowercase hex chars at hex into seed; 0 or -1. */
static int
s_seed (const char *hex, uint8_t *seed)
{
    for (size_t i = 0; i < 2 * SEED_SIZE; i++)
        if (!hex[i] || !strchr ("0123456789abcdef", hex[i]))
            return -1;
    size_t len = 0;
    return sodium_hex2bin (seed, SEED_SIZE, hex, 2 * SEED_SIZE, NULL, &len,
                           NULL) == 0 &&
                   len == SEED_SIZE
               ? 0
               : -1;
}

rb_sign_key_t *
rb_sign_key_load (const char *path, char *err, size_t errlen)
{
    s_sodium ();
    int fd = open (path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK);
    if (fd < 0) {
        snprintf (err, errlen, "%s: cannot open: %s", path,
                  errno == ELOOP ? "it is a symbolic link" : strerror (errno));
        return NULL;
    }
    char line[LINE_SIZE];
    uint8_t seed[SEED_SIZE];
    rb_sign_key_t *self = NULL;
    int rc = s_read_line (fd, path, line, err, errlen);
    if (rc == 0 && s_seed (line + sizeof KEY_WORD - 1, seed)) {
        snprintf (err, errlen, "%s: not a backup key (bad hex in the seed)",
                  path);
        rc = -1;
    }
    if (rc == 0) {
        self = (rb_sign_key_t *) calloc (1, sizeof *self);
        assert (self);
        crypto_sign_seed_keypair (self->pk, self->sk, seed);
    }
    close (fd);
    sodium_memzero (line, sizeof line);
    sodium_memzero (seed, sizeof seed);
    return self;
}

void
rb_sign_key_destroy (rb_sign_key_t **self_p)
{
    if (!*self_p)
        return;
    sodium_memzero (*self_p, sizeof **self_p);
    free (*self_p);
    *self_p = NULL;
}

const uint8_t *
rb_sign_key_public (const rb_sign_key_t *self)
{
    return self->pk;
}

void
rb_sign_id (const uint8_t *public_key, char id[RB_SIGN_ID_SIZE])
{
    sodium_bin2hex (id, RB_SIGN_ID_SIZE, public_key, 8);
}

rb_sign_t *
rb_sign_new (void)
{
    s_sodium ();
    rb_sign_t *self = (rb_sign_t *) calloc (1, sizeof *self);
    assert (self);
    crypto_sign_init (&self->state);
    return self;
}

void
rb_sign_update (rb_sign_t *self, const void *data, size_t len)
{
    crypto_sign_update (&self->state, (const unsigned char *) data, len);
}

void
rb_sign_final (rb_sign_t *self, const rb_sign_key_t *key,
               uint8_t sig[RB_SIGN_SIZE])
{
    crypto_sign_final_create (&self->state, sig, NULL, key->sk);
}

bool
rb_sign_check (rb_sign_t *self, const uint8_t *public_key, const uint8_t *sig)
{
    return crypto_sign_final_verify (&self->state, sig, public_key) == 0;
}

void
rb_sign_destroy (rb_sign_t **self_p)
{
    free (*self_p);
    *self_p = NULL;
}
