/*  rb_curve: CurveZMQ (RFC 26) for the bus and the tap, with czmq's zcert
    and zauth (ZAP, RFC 27). A node's certificate carries, in its metadata,
    the role it plays ("role") and the node name it may register ("name");
    the broker's store of authorized public certificates carries the same
    metadata, and ZAP hands it to the broker with every message, so a
    peer's role and name come from its key, never from what it says.

    Key files (docs/security.md): NAME.cert, the public half, for the
    broker's authorized directory (and the broker's own, for every node to
    connect to); NAME.cert_secret, both halves, mode 0600, for the node.  */
#ifndef RB_CURVE_H
#define RB_CURVE_H

#include <czmq.h>
#include <stdbool.h>
#include <stddef.h>

/*  Whether an endpoint stays on this host: ipc://, inproc://, or tcp://
    on 127.0.0.0/8, [::1] or localhost; a comma-separated list (a broker
    pair) if each of its endpoints does. Plain (unencrypted) traffic is
    only allowed on those.  */
bool rb_endpoint_local (const char *endpoint);

/*  Loads a node's certificate from its secret file (NAME.cert_secret).
    Refuses one without a secret key or without a role and a name in its
    metadata (their values are checked by the caller, against the codec's
    roles and names). NULL + err on failure.  */
zcert_t *rb_curve_load (const char *path, char *err, size_t errlen);

/*  Loads a peer's public certificate (NAME.cert): its public key as Z85
    text in key (41 bytes). 0, or -1 + err.  */
int rb_curve_public (const char *path, char *key, char *err, size_t errlen);

/*  A client's two files at once: its own certificate (cert_path, the
    secret file) and the broker's public one (broker_path), whose key goes
    into broker_key (41 bytes). 0, or -1 + err naming the file.  */
int rb_curve_client_load (const char *cert_path, const char *broker_path,
                          zcert_t **cert, char *broker_key, char *err,
                          size_t errlen);

/*  Whether a program may run in plain mode (no certificate): only when
    every endpoint is host-local (rb_endpoint_local), or when insecure is
    set (then the warning says so). NULL endpoints are skipped. Returns
    0 with *warning set to the one line to log, or -1 with err naming the
    first endpoint that is not local.  */
int rb_curve_plain_check (const char *const *endpoints, int n, bool insecure,
                          const char **warning, char *err, size_t errlen);

/*  The check every program makes before it starts. With a certificate
    (cert set): that it loads, and for a client (peer_cert set: the
    broker's public certificate) that the broker's does too. Without one:
    rb_curve_plain_check over the endpoints, and its warning logged (one
    line). 0, or -1 + err.  */
int rb_curve_startup (const char *cert, const char *peer_cert, bool client,
                      const char *const *endpoints, int n, bool insecure,
                      char *err, size_t errlen);

/*  For a daemon with a certificate: two ZeroMQ I/O threads, so the
    CurveZMQ boxing of different connections runs on two cores (measured
    in docs/benchmarks.md). Call before the process makes any socket.  */
void rb_curve_daemon_threads (const char *cert);

/*  The role and name in a certificate's metadata (or NULL). */
const char *rb_curve_role (zcert_t *cert);
const char *rb_curve_name (zcert_t *cert);

/*  Makes sock a CURVE server with cert (before bind). */
void rb_curve_server (void *sock, zcert_t *cert);
/*  Makes sock a CURVE client with cert, to the server whose public key
    (Z85) is server_key (before connect).  */
void rb_curve_client (void *sock, zcert_t *cert, const char *server_key);

/*  A server's certificate (its secret file, whose metadata must say
    role) and ZAP over the authorized directory (rb_curve_auth_new). 0,
    or -1 + err with nothing left started.  */
int rb_curve_server_load (const char *cert_path, const char *role,
                          const char *authorized, zcert_t **cert,
                          zactor_t **auth, char *err, size_t errlen);

/*  Starts ZAP for this process: only the keys whose public certificates
    are in dir (re-read when it changes) complete a CURVE handshake. NULL
    + err if dir cannot be read.  */
zactor_t *rb_curve_auth_new (const char *dir, char *err, size_t errlen);

#endif
