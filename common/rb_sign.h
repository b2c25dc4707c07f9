/*  rb_sign: the backup signing key and Ed25519 signatures (libsodium)
    over a stream of bytes. A DB node signs every backup it writes and
    checks a backup's signature before a restore touches Redis
    (docs/backup-format.md). The signature is Ed25519ph, libsodium's
    multi-part crypto_sign_init / update / final: a file of any size is
    signed and checked in one pass, never held in memory.

    The key file (recobus-keygen --backup-key FILE) is one line of text,

        recobus-backup-key 1 <64 lowercase hex chars: the 32-byte seed>

    mode 0600. Every DB node of one dataset holds the same file, so each
    can check what any of them wrote. Its public half is named in logs by
    an id, the first 8 bytes of the public key in hex.  */
#ifndef RB_SIGN_H
#define RB_SIGN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define RB_SIGN_PUBLIC_SIZE 32 /* bytes in a public key */
#define RB_SIGN_SIZE        64 /* bytes in a signature */
#define RB_SIGN_ID_SIZE     17 /* a key's id: 16 hex chars and a NUL */

typedef struct rb_sign_key rb_sign_key_t;
typedef struct rb_sign rb_sign_t;

/*  Writes a new random key to path, mode 0600, through rb_file_write (no
    link followed). replace false: an existing file is kept and the call
    fails with errno EEXIST. id (may be NULL) gets the new key's id.
    Returns 0, or -1 with errno and one line in err.  */
int rb_sign_key_create (const char *path, bool replace,
                        char id[RB_SIGN_ID_SIZE], char *err, size_t errlen);

/*  Reads a key file. Refused: not a regular file (a link is not
    followed), readable or writable by group or others, or not exactly
    the line above. NULL with "PATH: what is wrong" in err.  */
rb_sign_key_t *rb_sign_key_load (const char *path, char *err, size_t errlen);

/*  Wipes the secret and frees; NULL-safe; sets *self_p to NULL. */
void rb_sign_key_destroy (rb_sign_key_t **self_p);

/*  The key's public half, RB_SIGN_PUBLIC_SIZE bytes (borrowed). */
const uint8_t *rb_sign_key_public (const rb_sign_key_t *self);

/*  The id of a public key: its first 8 bytes in hex. */
void rb_sign_id (const uint8_t *public_key, char id[RB_SIGN_ID_SIZE]);

/*  A signature being computed over the bytes given to rb_sign_update. */
rb_sign_t *rb_sign_new (void);
void rb_sign_update (rb_sign_t *self, const void *data, size_t len);
/*  The signature of every byte given so far, by key. */
void rb_sign_final (rb_sign_t *self, const rb_sign_key_t *key,
                    uint8_t sig[RB_SIGN_SIZE]);
/*  Whether sig is public_key's signature of every byte given so far. */
bool rb_sign_check (rb_sign_t *self, const uint8_t *public_key,
                    const uint8_t *sig);
void rb_sign_destroy (rb_sign_t **self_p);

#endif
