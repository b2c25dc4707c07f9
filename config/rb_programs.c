/*  rb_programs: option tables (see rb_programs.h). Each table is the
    program's contract: flag, config key, type, default, bounds, help.  */
#include "rb_programs.h"

#include <stddef.h>

#define END                                                                    \
    {                                                                          \
        NULL, NULL, 0, 0, NULL, 0, 0, NULL, NULL, NULL                         \
    }

/*  The three options of every node that connects to the broker. */
// clang-format off
#define CURVE_CLIENT                                                           \
    {"curve-cert", "curve-cert", 0, RB_OPT_STR, NULL, 0, 4096, NULL, "FILE",   \
     "this node's certificate (NAME.cert_secret): CurveZMQ on the bus"},       \
    {"broker-cert", "broker-cert", 0, RB_OPT_STR, NULL, 0, 4096, NULL, "FILE", \
     "the broker's public certificate (with curve-cert)"},                     \
    {"insecure", "insecure", 0, RB_OPT_FLAG, NULL, 0, 0, NULL, NULL,           \
     "allow plain traffic to a broker beyond this host"}
// clang-format on

/*  Every daemon's Prometheus endpoint (common/rb_metrics.h). */
#define METRICS                                                                \
    {                                                                          \
        "metrics", "metrics", 0, RB_OPT_STR, "", 0, 255, NULL, "[HOST:]PORT",  \
            "serve Prometheus metrics on GET /metrics there (a bare port: "    \
            "127.0.0.1; empty: off)"                                           \
    }

static const rb_opt_t s_broker[] = {
    {"bind", "bind", 0, RB_OPT_STR, "tcp://127.0.0.1:5555", 1, 255, NULL, "EP",
     "endpoint every node connects to"},
    {"tap", "tap", 0, RB_OPT_STR, "tcp://127.0.0.1:5556", 0, 255, NULL, "EP",
     "endpoint of the traffic tap (empty: none)"},
    {"heartbeat", "heartbeat", 0, RB_OPT_INT, "1000", 10, 60000, NULL, "MS",
     "heartbeat interval, both ways"},
    {"liveness", "liveness", 0, RB_OPT_INT, "3", 1, 100, NULL, "N",
     "missed heartbeats before a node is expired"},
    {"queue-max", "queue-max", 0, RB_OPT_INT, "10000", 1, 1000000, NULL, "N",
     "requests queued per service, at most"},
    {"queue-bytes", NULL, 0, RB_OPT_INT, "268435456", 65536, 68719476736, NULL,
     NULL, "bytes of requests queued in all services, at most"},
    {"queue-timeout", "queue-timeout", 0, RB_OPT_INT, "2000", 1, 3600000, NULL,
     "MS", "deadline of a request that names none"},
    {"worker-credit", "worker-credit", 0, RB_OPT_INT, "1000", 1, 1000000, NULL,
     "N", "requests in flight per worker before queueing"},
    {"tap-hwm", "tap-hwm", 0, RB_OPT_INT, "10000", 1, 10000000, NULL, "N",
     "tap messages buffered per subscriber before dropping"},
    {"max-frame", "max-frame", 0, RB_OPT_INT, "16777216", 1024, 1073741824,
     NULL, "BYTES", "largest frame accepted from a node"},
    {"services-max", NULL, 0, RB_OPT_INT, "1024", 1, 100000, NULL, NULL,
     "services the broker knows at once; a HELLO past it is refused"},
    {"service-linger", NULL, 0, RB_OPT_INT, "30000", 0, 3600000, NULL, NULL,
     "ms a service without workers is kept (requests queue meanwhile)"},
    {"nodes-max", NULL, 0, RB_OPT_INT, "4096", 1, 1000000, NULL, NULL,
     "nodes registered at once; a HELLO past it is refused"},
    {"peer-queue-max", NULL, 0, RB_OPT_INT, "10000", 16, 10000000, NULL, NULL,
     "messages sent to one node and not yet read; past it the node is "
     "dropped"},
    {"peer-queue-bytes", NULL, 0, RB_OPT_INT, "67108864", 65536, 68719476736,
     NULL, NULL, "bytes likewise (at least twice max-frame)"},
    {"hello-timeout", NULL, 0, RB_OPT_INT, "10000", 0, 3600000, NULL, NULL,
     "ms a connection may stay without a registered node (0: for ever)"},
    {"curve-cert", "curve-cert", 0, RB_OPT_STR, NULL, 0, 4096, NULL, "FILE",
     "the broker's certificate (broker.cert_secret): CurveZMQ on bus and tap"},
    {"authorized-keys", "authorized-keys", 0, RB_OPT_STR, NULL, 0, 4096, NULL,
     "DIR", "public certificates of the nodes allowed in (with curve-cert)"},
    METRICS,
    {"insecure", "insecure", 0, RB_OPT_FLAG, NULL, 0, 0, NULL, NULL,
     "allow plain traffic on endpoints beyond this host"},
    END,
};

const rb_program_t rb_program_broker = {
    "recobus-broker",
    "[options]",
    "Routes requests, replies and pushes between recobus nodes over one "
    "ZeroMQ ROUTER socket, and publishes a copy of the traffic on a tap.",
    NULL,
    "broker",
    s_broker,
};

static const rb_opt_t s_db[] = {
    {"name", "name", 0, RB_OPT_STR, "db-1", 1, 64, NULL, "NAME",
     "node name on the bus"},
    {"broker", "broker", 0, RB_OPT_STR, "tcp://127.0.0.1:5555", 1, 255, NULL,
     "EP[,EP]", "the broker's bus endpoint (a pair: both, docs/ha.md)"},
    {"redis", "redis", 0, RB_OPT_STR, "127.0.0.1:6379", 1, 255, NULL,
     "HOST:PORT|unix:PATH", "the Redis holding the live data"},
    {"redis-sentinels", "redis-sentinels", 0, RB_OPT_STR, "", 0, 1023, NULL,
     "HOST:PORT,...",
     "Redis Sentinels to ask where the master is, instead "
     "of redis (with redis-master-name)"},
    {"redis-master-name", "redis-master-name", 0, RB_OPT_STR, "", 0, 255, NULL,
     "NAME", "the master the sentinels watch (with redis-sentinels)"},
    {"redis-cluster", "redis-cluster", 0, RB_OPT_STR, "", 0, 1023, NULL,
     "HOST:PORT,...",
     "seed nodes of a Redis Cluster to keep the data in, instead of redis "
     "(docs/db.md)"},
    {"redis-user", NULL, 0, RB_OPT_STR, "", 0, 255, NULL, NULL,
     "Redis ACL user (with redis-password)"},
    {"redis-password", NULL, 0, RB_OPT_STR, "", 0, 255, NULL, NULL,
     "Redis AUTH password"},
    {"redis-timeout", NULL, 0, RB_OPT_INT, "2000", 10, 600000, NULL, NULL,
     "Redis connect and command timeout, ms"},
    {"connect-timeout", "connect-timeout", 0, RB_OPT_INT, "30000", 0, 3600000,
     NULL, "MS",
     "at start-up (and --init), wait this long for Redis (or the sentinels' "
     "master) to answer, then exit 69; 0: try once"},
    {"redis-wait-replicas", "redis-wait-replicas", 0, RB_OPT_INT, "0", 0, 100,
     NULL, "N",
     "before acknowledging orders, WAIT until N replicas have them (0: no "
     "wait; docs/ha.md)"},
    {"redis-wait-timeout", NULL, 0, RB_OPT_INT, "100", 1, 60000, NULL, NULL,
     "longest WAIT for the replicas, ms (then the ACK goes anyway)"},
    {"backup-dir", "backup-dir", 0, RB_OPT_STR, "backups", 1, 4096, NULL, "DIR",
     "where backups are written and found"},
    {"backup-key", "backup-key", 0, RB_OPT_STR, "", 0, 4096, NULL, "FILE",
     "key that signs backups and checks them before a restore (0600; "
     "recobus-keygen --backup-key); none: backups are unsigned"},
    {"backup-keep", "backup-keep", 0, RB_OPT_INT, "10", 0, 100000, NULL, "N",
     "after each backup, keep the N newest (0: keep all)"},
    {"init", "init", 0, RB_OPT_FLAG, NULL, 0, 0, NULL, NULL,
     "create a new dataset on an empty Redis, then serve"},
    {"max-value", NULL, 0, RB_OPT_INT, "65536", 1, 16777216, NULL, NULL,
     "longest record value accepted, bytes"},
    {"max-batch", NULL, 0, RB_OPT_INT, "10000", 1, 1000000, NULL, NULL,
     "entries in a recovery list or diff batch, at most"},
    {"fetch-ttl", NULL, 0, RB_OPT_INT, "600", 1, 86400, NULL, NULL,
     "seconds the fetchers of a key are remembered, for pushes"},
    {"fetch-cap", NULL, 0, RB_OPT_INT, "64", 1, 10000, NULL, NULL,
     "fetchers remembered per key, at most"},
    {"backup-every", NULL, 0, RB_OPT_INT, "0", 0, 31536000, NULL, NULL,
     "seconds between scheduled backups (0: none)"},
    METRICS,
    CURVE_CLIENT,
    END,
};

const rb_program_t rb_program_db = {
    "recobus-db",
    "[options]",
    "The DB node: keeps the subscriber records in Redis, answers GET with "
    "the data and its recovering flag, applies orders, and runs backups, "
    "restores and recovery (patent JP6023733B2, steps S1-S5 and S9-S11).",
    NULL,
    "db",
    s_db,
};

static const rb_opt_t s_service[] = {
    {"name", "name", 0, RB_OPT_STR, NULL, 1, 64, NULL, "NAME",
     "node name on the bus (required)"},
    {"policy", "policy", 0, RB_OPT_ENUM, NULL, 0, 0, "latest-only|stale-ok",
     NULL, "latest-only waits for current data; stale-ok answers 'stale'"},
    {"listen", "listen", 0, RB_OPT_STR, "tcp://127.0.0.1:5570", 1, 255, NULL,
     "EP", "endpoint terminals connect to"},
    {"broker", "broker", 0, RB_OPT_STR, "tcp://127.0.0.1:5555", 1, 255, NULL,
     "EP[,EP]", "the broker's bus endpoint (a pair: both, docs/ha.md)"},
    {"max-wait", "max-wait", 0, RB_OPT_INT, "5000", 1, 600000, NULL, "MS",
     "longest a terminal waits for a current answer"},
    {"cache-size", "cache-size", 0, RB_OPT_INT, "100000", 0, 100000000, NULL,
     "N", "records cached, at most (0: no cache)"},
    {"cache-ttl", NULL, 0, RB_OPT_INT, "300", 1, 86400, NULL, NULL,
     "seconds a cached record is trusted (keep below 9/10 of the DB's "
     "fetch-ttl)"},
    {"poll-min", NULL, 0, RB_OPT_INT, "20", 1, 60000, NULL, NULL,
     "first re-poll delay of a flagged key, ms"},
    {"poll-max", NULL, 0, RB_OPT_INT, "500", 1, 600000, NULL, NULL,
     "longest re-poll delay, ms"},
    {"poll-rate", NULL, 0, RB_OPT_INT, "2000", 0, 10000000, NULL, NULL,
     "timed re-polls of flagged keys a second, at most (0: no limit)"},
    {"db-timeout", NULL, 0, RB_OPT_INT, "1000", 10, 600000, NULL, NULL,
     "deadline of one request to the db service, ms"},
    {"stats-every", NULL, 0, RB_OPT_INT, "10", 0, 86400, NULL, NULL,
     "seconds between counter lines in the log with -v (0: never)"},
    {"waits-max", NULL, 0, RB_OPT_INT, "100000", 1, 1048576, NULL, NULL,
     "keys waited on at once; past it a miss is answered unavailable"},
    {"waiters-max", NULL, 0, RB_OPT_INT, "1000", 1, 100000, NULL, NULL,
     "terminals waiting on one key; past it, unavailable at once"},
    METRICS,
    CURVE_CLIENT,
    END,
};

const rb_program_t rb_program_service = {
    "recobus-service",
    "--name NAME --policy latest-only|stale-ok [options]",
    "A service node: serves terminals from its cache or the DB, and during "
    "a recovery either waits for current data (latest-only) or answers "
    "with the restored data marked stale (stale-ok) (patent steps S6-S7).",
    NULL,
    "service/{name}",
    s_service,
};

static const rb_opt_t s_terminal[] = {
    {"service", "service", 0, RB_OPT_STR, "tcp://127.0.0.1:5570", 1, 255, NULL,
     "EP", "the service node to ask"},
    {"json", "json", 0, RB_OPT_FLAG, NULL, 0, 0, NULL, NULL,
     "one JSON object per key"},
    {"timeout", "timeout", 0, RB_OPT_INT, "10000", 1, 3600000, NULL, "MS",
     "how long to wait for each answer"},
    END,
};

const rb_program_t rb_program_terminal = {
    "recobus-terminal",
    "[options] get KEY...",
    "A terminal: asks a service node for subscriber records and prints one "
    "line per key: KEY, status (ok, not_found, stale, unavailable), seq, "
    "value.",
    "Exit 0 when every key got an answer, 65 for a malformed key, 69 when "
    "the service did not "
    "answer in time.",
    "terminal",
    s_terminal,
};

static const rb_opt_t s_ops[] = {
    {"broker", "broker", 0, RB_OPT_STR, "tcp://127.0.0.1:5555", 1, 255, NULL,
     "EP[,EP]", "the broker's bus endpoint (a pair: both, docs/ha.md)"},
    {"journal", "journal", 0, RB_OPT_STR, "ops.journal", 1, 4096, NULL, "FILE",
     "the order journal (source of truth for order numbers)"},
    {"json", "json", 0, RB_OPT_FLAG, NULL, 0, 0, NULL, NULL,
     "one JSON object per line"},
    {"batch", "batch", 0, RB_OPT_INT, "1000", 1, 10000, NULL, "N",
     "orders or keys per batch (load, recover)"},
    {"timeout", "timeout", 0, RB_OPT_INT, "10000", 10, 3600000, NULL, "MS",
     "deadline of one request"},
    {"job-timeout", NULL, 0, RB_OPT_INT, "600000", 1000, 86400000, NULL, NULL,
     "deadline of a backup or restore, ms"},
    {"name", NULL, 0, RB_OPT_STR, "", 0, 64, NULL, NULL,
     "node name on the bus (default: ops-PID; serve: ops-serve)"},
    {"auto-recover", "auto-recover", 0, RB_OPT_BOOL, "on", 0, 0, NULL, "on|off",
     "serve: run the recovery by itself when the DB is recovering"},
    {"watch-interval", "watch-interval", 0, RB_OPT_INT, "1000", 100, 60000,
     NULL, "MS", "serve: how often it asks the DB's state"},
    {"metrics", "metrics", 0, RB_OPT_STR, "", 0, 255, NULL, "[HOST:]PORT",
     "serve: Prometheus metrics on GET /metrics there (a bare port: "
     "127.0.0.1; empty: off)"},
    {"request-id", "request-id", 0, RB_OPT_STR, "", 0, 32, NULL, "HEX",
     "the request id of put/delete/load sent to an ops node (32 hex "
     "digits; default: random): run again with the same id, an order is "
     "journaled once"},
    CURVE_CLIENT,
    END,
};

const rb_program_t rb_program_ops = {
    "recobus-ops",
    "[options] COMMAND [ARGS]",
    "The operations system: journals numbered service orders and sends "
    "them to the DB, and runs backups, restores and recoveries (patent "
    "steps S3, S8, S10).",
    "Commands:\n"
    "  put KEY VALUE         one order; prints its seq\n"
    "  delete KEY            one order; prints its seq\n"
    "  load FILE|-           bulk orders, one \"KEY<TAB>VALUE\" per line\n"
    "  backup                the DB writes a backup; prints path, records, "
    "watermark\n"
    "  restore [--force] [FILE]\n"
    "                        S1-S2 from the newest backup, or FILE (a name "
    "in\n"
    "                        the DB's backup dir); --force takes another\n"
    "                        dataset's, or one past the journal's last seq\n"
    "  recover [--batch N]   S3, S8, S10: list, diffs, end\n"
    "  status                state, epoch, watermark, keys, recovering, "
    "nodes\n"
    "  sync                  re-send journaled orders the DB has not "
    "acknowledged\n"
    "  journal check         each damaged record with its offset; exit 65 "
    "on damage\n"
    "  journal repair [--next-seq N]\n"
    "                        keep the intact start, set the rest aside\n"
    "  serve                 run as the ops node: the journal's single "
    "writer;\n"
    "                        takes put/delete/load/sync from the other "
    "commands,\n"
    "                        re-sends pending orders, recovers by itself\n"
    "                        (auto-recover) when the DB is recovering",
    "ops",
    s_ops,
};

static const rb_opt_t s_monitor[] = {
    {"tap", "tap", 0, RB_OPT_STR, "tcp://127.0.0.1:5556", 1, 255, NULL,
     "EP[,EP]", "the broker's tap endpoint (a pair: both)"},
    {"json", "json", 0, RB_OPT_FLAG, NULL, 0, 0, NULL, NULL,
     "one JSON object per message (or per stats table)"},
    {"type", "type", 0, RB_OPT_STR, NULL, 0, 32, NULL, "TYPE",
     "show only messages of this body type (GET, DATA, ACK, ...)"},
    {"stats", "stats", 0, RB_OPT_FLAG, NULL, 0, 0, NULL, NULL,
     "a table of counters every second instead of the messages"},
    {"curve-cert", "curve-cert", 0, RB_OPT_STR, NULL, 0, 4096, NULL, "FILE",
     "this monitor's certificate (NAME.cert_secret): CurveZMQ on the tap"},
    {"broker-cert", "broker-cert", 0, RB_OPT_STR, NULL, 0, 4096, NULL, "FILE",
     "the broker's public certificate (with curve-cert)"},
    {"insecure", "insecure", 0, RB_OPT_FLAG, NULL, 0, 0, NULL, NULL,
     "allow a plain tap beyond this host"},
    END,
};

const rb_program_t rb_program_monitor = {
    "recobus-monitor",
    "[options]",
    "Shows the bus traffic live, from the broker's tap: one line per "
    "message (time, sender -> destination, type, key or batch size, "
    "recovering flag, status), labelled with its patent step (S3 list, S4 "
    "flagged, S5 flagged answer, S7 re-poll, S8 diff, S9 cleared, S10 end, "
    "RESET, UPDATE push ...).",
    "Undecodable messages are shown as such and never stop the monitor. "
    "Runs until interrupted (exit 0). See docs/monitor.md.",
    "monitor",
    s_monitor,
};

static const rb_opt_t s_keygen[] = {
    {"role", "role", 0, RB_OPT_ENUM, NULL, 0, 0,
     "broker|db|service|ops|monitor", NULL,
     "the role the key plays on the bus (required)"},
    {"name", "name", 0, RB_OPT_STR, NULL, 1, 64, NULL, "NAME",
     "the node name the key may register (required)"},
    {"force", "force", 0, RB_OPT_FLAG, NULL, 0, 0, NULL, NULL,
     "replace an existing key pair of that name (or backup key)"},
    {"backup-key", "backup-key", 0, RB_OPT_STR, NULL, 1, 4096, NULL, "FILE",
     "instead, write a backup signing key to FILE (mode 0600), for the "
     "DB nodes' backup-key"},
    END,
};

const rb_program_t rb_program_keygen = {
    "recobus-keygen",
    "--role ROLE --name NAME DIR | --backup-key FILE",
    "Writes a CurveZMQ key pair for one recobus node into DIR: NAME.cert "
    "(the public key, with the role and name in its metadata: copy it into "
    "the broker's authorized-keys directory) and NAME.cert_secret (both "
    "keys, mode 0600: it stays on the node's host). With --backup-key, "
    "writes instead the Ed25519 key that signs backups, shared by every DB "
    "node of one dataset.",
    "Exit 0 when written, 64 for bad arguments, 73 when the pair (or key) "
    "exists already (without --force) or cannot be written. See "
    "docs/security.md.",
    "keygen",
    s_keygen,
};
