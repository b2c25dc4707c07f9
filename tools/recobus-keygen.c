/*  recobus-keygen: writes one node's CurveZMQ key pair (czmq zcert) with
    its role and name in the metadata, for the broker to bind the role and
    the name to the key (docs/security.md); or, with --backup-key FILE,
    the key the DB nodes sign backups with (rb_sign.h).  */
#include <czmq.h>
#include <sys/stat.h>
#include <unistd.h>

#include "rb_cli.h"
#include "rb_msg.h"
#include "rb_programs.h"
#include "rb_sign.h"

static const rb_program_t *const s_program = &rb_program_keygen;

/*  DIR/NAME.cert; the secret file is that path + "_secret". */
static char *
s_path (const char *dir, const char *name)
{
    return zsys_sprintf ("%s/%s.cert", dir, name);
}

static int
s_write (const char *dir, const char *role, const char *name, bool force)
{
    if (zsys_dir_create ("%s", dir) != 0) {
        rb_cli_error (s_program, "%s: cannot create it: %s", dir,
                      strerror (errno));
        return EX_CANTCREAT;
    }
    char *path = s_path (dir, name);
    char *secret = zsys_sprintf ("%s_secret", path);
    int rc = 0;
    if (!force && (zsys_file_exists (path) || zsys_file_exists (secret))) {
        rb_cli_error (s_program, "%s exists already (--force replaces it)",
                      path);
        rc = EX_CANTCREAT;
    } else {
        zcert_t *cert = zcert_new ();
        zcert_set_meta (cert, "role", "%s", role);
        zcert_set_meta (cert, "name", "%s", name);
        if (zcert_save (cert, path) != 0 || chmod (secret, 0600) != 0 ||
            chmod (path, 0644) != 0) {
            rb_cli_error (s_program, "%s: cannot write it: %s", path,
                          strerror (errno));
            rc = EX_CANTCREAT;
        } else
            printf ("recobus-keygen: %s (%s) public key %s\n"
                    "  %s     the public key: copy it into the broker's "
                    "authorized-keys directory\n"
                    "  %s  both keys (0600): keep it on the node's host\n",
                    name, role, zcert_public_txt (cert), path, secret);
        zcert_destroy (&cert);
    }
    zstr_free (&secret);
    zstr_free (&path);
    return rc;
}

/*  --backup-key FILE: a new signing key, never over one without force. */
static int
s_backup_key (const char *path, bool force)
{
    char id[RB_SIGN_ID_SIZE], err[700];
    if (rb_sign_key_create (path, force, id, err, sizeof err) == 0) {
        printf ("recobus-keygen: backup key %s (key id %s), mode 0600: the "
                "same file goes to every DB node of the dataset, as its "
                "backup-key\n",
                path, id);
        return 0;
    }
    if (errno == EEXIST)
        rb_cli_error (s_program, "%s exists already (--force replaces it)",
                      path);
    else
        rb_cli_error (s_program, "%s", err);
    return EX_CANTCREAT;
}

int
main (int argc, char **argv)
{
    rb_cli_t cli;
    int rc = rb_cli_parse (s_program, argc, argv, &cli);
    if (rc)
        return rc == -1 ? 0 : rc;
    umask (077); /* the secret file is never readable by others, not even
                    for a moment */
    const char *role = rb_config_str (cli.config, "role");
    const char *name = rb_config_str (cli.config, "name");
    const char *backup_key = rb_config_str (cli.config, "backup-key");
    bool force = rb_config_bool (cli.config, "force");
    if (backup_key && (role || name || cli.argi != argc)) {
        rb_cli_error (s_program,
                      "usage: %s --backup-key FILE (no --role, --name or DIR)",
                      s_program->name);
        rc = EX_USAGE;
    } else if (backup_key)
        rc = s_backup_key (backup_key, force);
    else if (!role || !name || cli.argi + 1 != argc) {
        rb_cli_error (s_program, "usage: %s --role ROLE --name NAME DIR",
                      s_program->name);
        rc = EX_USAGE;
    } else if (!rb_name_valid (name, strlen (name))) {
        rb_cli_error (s_program, "--name %s: not a valid node name", name);
        rc = EX_USAGE;
    } else
        rc = s_write (argv[cli.argi], role, name, force);
    rb_config_destroy (&cli.config);
    return rc;
}
