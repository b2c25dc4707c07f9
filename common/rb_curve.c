/*  rb_curve: see rb_curve.h.  */
#include "rb_curve.h"

#include <string.h>
#include <sys/stat.h>

static bool
s_prefixed (const char *s, const char *prefix, const char **rest)
{
    size_t n = strlen (prefix);
    if (strncmp (s, prefix, n) != 0)
        return false;
    *rest = s + n;
    return true;
}

/*  Whether host is a dotted quad in 127.0.0.0/8. */
static bool
s_loopback_v4 (const char *host, size_t len)
{
    char text[16];
    if (len < 7 || len > 15)
        return false;
    memcpy (text, host, len);
    text[len] = 0;
    unsigned a, b, c, d;
    char end;
    return sscanf (text, "%3u.%3u.%3u.%3u%c", &a, &b, &c, &d, &end) == 4 &&
           strspn (text, "0123456789.") == len && a == 127 && b < 256 &&
           c < 256 && d < 256;
}

/*  Whether one endpoint (of a list) is local. */
static bool s_local_one (const char *endpoint);

bool
rb_endpoint_local (const char *endpoint)
{
    if (!endpoint)
        return false;
    if (!strchr (endpoint, ','))
        return s_local_one (endpoint);
    /* a broker pair: "EP1,EP2", local only if both are */
    char copy[512];
    if (strlen (endpoint) >= sizeof copy)
        return false;
    strcpy (copy, endpoint);
    char *save = NULL;
    for (char *ep = strtok_r (copy, ",", &save); ep;
         ep = strtok_r (NULL, ",", &save))
        if (!s_local_one (ep))
            return false;
    return true;
}

static bool
s_local_one (const char *endpoint)
{
    const char *host;
    if (s_prefixed (endpoint, "ipc://", &host) ||
        s_prefixed (endpoint, "inproc://", &host))
        return true;
    if (!s_prefixed (endpoint, "tcp://", &host))
        return false;
    const char *colon = strrchr (host, ':');
    if (!colon)
        return false;
    size_t len = (size_t) (colon - host);
    return (len == 9 && memcmp (host, "localhost", 9) == 0) ||
           (len == 5 && memcmp (host, "[::1]", 5) == 0) ||
           s_loopback_v4 (host, len);
}

static bool
s_has_secret (zcert_t *cert)
{
    const byte *key = zcert_secret_key (cert);
    for (int i = 0; i < 32; i++)
        if (key[i])
            return true;
    return false;
}

zcert_t *
rb_curve_load (const char *path, char *err, size_t errlen)
{
    zcert_t *cert = zcert_load (path);
    const char *why = NULL;
    if (!cert)
        why = "cannot read it as a certificate";
    else if (!s_has_secret (cert))
        why = "holds no secret key (the NAME.cert_secret file is needed)";
    else if (!rb_curve_role (cert) || !rb_curve_name (cert))
        why = "its metadata lacks a role or a name (made by recobus-keygen?)";
    if (why) {
        snprintf (err, errlen, "certificate %s: %s", path, why);
        zcert_destroy (&cert);
    }
    return cert;
}

int
rb_curve_public (const char *path, char *key, char *err, size_t errlen)
{
    zcert_t *cert = zcert_load (path);
    if (!cert) {
        snprintf (err, errlen, "certificate %s: cannot read it", path);
        return -1;
    }
    snprintf (key, 41, "%s", zcert_public_txt (cert));
    zcert_destroy (&cert);
    return 0;
}

int
rb_curve_client_load (const char *cert_path, const char *broker_path,
                      zcert_t **cert, char *broker_key, char *err,
                      size_t errlen)
{
    if (!broker_path || !*broker_path) {
        snprintf (err, errlen,
                  "a certificate needs broker-cert too (the "
                  "broker's public certificate)");
        return -1;
    }
    *cert = rb_curve_load (cert_path, err, errlen);
    if (!*cert)
        return -1;
    if (rb_curve_public (broker_path, broker_key, err, errlen) == 0)
        return 0;
    zcert_destroy (cert);
    return -1;
}

int
rb_curve_plain_check (const char *const *endpoints, int n, bool insecure,
                      const char **warning, char *err, size_t errlen)
{
    for (int i = 0; i < n; i++) {
        const char *ep = endpoints[i];
        if (!ep || !strstr (ep, "://") || rb_endpoint_local (ep))
            continue; /* none, not an endpoint (the socket says so), local */
        if (insecure) {
            *warning = "INSECURE: plain traffic beyond this host "
                       "(--insecure): anyone on the network can read and "
                       "send bus messages";
            return 0;
        }
        snprintf (err, errlen,
                  "%s is not a loopback, ipc or inproc endpoint: give a "
                  "certificate (CurveZMQ, docs/security.md) or --insecure",
                  ep);
        return -1;
    }
    *warning = "plain mode (no certificate): loopback, ipc and inproc only";
    return 0;
}

int
rb_curve_startup (const char *cert, const char *peer_cert, bool client,
                  const char *const *endpoints, int n, bool insecure, char *err,
                  size_t errlen)
{
    const char *note = NULL;
    if (!cert || !*cert) {
        if (rb_curve_plain_check (endpoints, n, insecure, &note, err, errlen))
            return -1;
        zsys_warning ("%s", note);
        return 0;
    }
    zcert_t *mine = NULL;
    char key[41];
    if (client) {
        if (rb_curve_client_load (cert, peer_cert, &mine, key, err, errlen))
            return -1;
    } else if (!(mine = rb_curve_load (cert, err, errlen)))
        return -1;
    zcert_destroy (&mine);
    return 0;
}

const char *
rb_curve_role (zcert_t *cert)
{
    return zcert_meta (cert, "role");
}

const char *
rb_curve_name (zcert_t *cert)
{
    return zcert_meta (cert, "name");
}

void
rb_curve_server (void *sock, zcert_t *cert)
{
    zcert_apply (cert, sock);
    zsock_set_curve_server (sock, 1);
}

void
rb_curve_client (void *sock, zcert_t *cert, const char *server_key)
{
    zcert_apply (cert, sock);
    zsock_set_curve_serverkey (sock, server_key);
}

zactor_t *
rb_curve_auth_new (const char *dir, char *err, size_t errlen)
{
    struct stat st;
    if (stat (dir, &st) != 0 || !S_ISDIR (st.st_mode)) {
        snprintf (err, errlen, "authorized keys %s: not a directory", dir);
        return NULL;
    }
    zactor_t *auth = zactor_new (zauth, NULL);
    if (!auth) {
        snprintf (err, errlen, "cannot start ZAP");
        return NULL;
    }
    zstr_sendx (auth, "CURVE", dir, NULL);
    zsock_wait (auth);
    return auth;
}

int
rb_curve_server_load (const char *cert_path, const char *role,
                      const char *authorized, zcert_t **cert, zactor_t **auth,
                      char *err, size_t errlen)
{
    *auth = NULL;
    *cert = rb_curve_load (cert_path, err, errlen);
    if (*cert && !streq (rb_curve_role (*cert), role)) {
        snprintf (err, errlen, "certificate %s: role %s, not %s", cert_path,
                  rb_curve_role (*cert), role);
        zcert_destroy (cert);
    }
    if (*cert)
        *auth = rb_curve_auth_new (authorized ? authorized : "", err, errlen);
    if (*auth)
        return 0;
    zcert_destroy (cert);
    return -1;
}

void
rb_curve_daemon_threads (const char *cert)
{
    if (cert && *cert)
        zsys_set_io_threads (2);
}
