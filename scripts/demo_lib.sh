#!/usr/bin/env bash
#   scripts/demo_lib.sh: the demo's machinery, sourced by scripts/demo.sh
#   (not run on its own): its processes and their clean-up, the throwaway
#   redis-server, the CurveZMQ keys. Uses what demo.sh set before it: BIN,
#   the output and failure helpers.

# --- processes: everything started is stopped on the way out -----------------

TMP=$(mktemp -d "${TMPDIR:-/tmp}/recobus-demo.XXXXXX") || setup_fail "mktemp -d failed"
: >"$TMP/pids"
WATCHDOG=

# Every process in $TMP/pids: SIGCONT (one may be stopped), SIGTERM, and
# SIGKILL for those still there after 3 s.
stop_all () {
    local pids alive pid i
    pids=$(cat "$TMP/pids" 2>/dev/null)
    for pid in $pids; do
        kill -CONT "$pid" 2>/dev/null
        kill -TERM "$pid" 2>/dev/null
    done
    for i in $(seq 1 60); do
        alive=
        for pid in $pids; do kill -0 "$pid" 2>/dev/null && alive="$alive $pid"; done
        pids=$alive
        [ -z "$pids" ] && break
        sleep 0.05
    done
    for pid in $pids; do kill -KILL "$pid" 2>/dev/null; done
    wait 2>/dev/null
}

cleanup () {
    local rc=$? log
    trap '' INT TERM
    trap - EXIT
    [ -n "$WATCHDOG" ] && kill "$WATCHDOG" 2>/dev/null
    if [ "$rc" -eq 1 ] || [ "$rc" -eq 2 ]; then
        for log in db db2 svc-latest svc-stale broker recover; do
            [ -s "$TMP/$log.log" ] || continue
            echo "--- last lines of $log.log" >&2
            tail -n 6 "$TMP/$log.log" >&2
        done
    fi
    stop_all
    if [ "${RECOBUS_DEMO_KEEP:-0}" = 1 ]; then
        echo "demo: kept $TMP" >&2
    else
        rm -rf "$TMP"
    fi
    exit "$rc"
}
trap cleanup EXIT
trap 'echo; echo "demo: interrupted" >&2; exit 130' INT
trap 'echo "demo: terminated" >&2; exit 143' TERM

# The watchdog: should this script die without running its traps
# (SIGKILL), it stops what the script started and removes the temp dir.
(
    trap '' INT
    while kill -0 $$ 2>/dev/null; do sleep 0.5; done
    for pid in $(cat "$TMP/pids" 2>/dev/null); do
        kill -CONT "$pid" 2>/dev/null
        kill -KILL "$pid" 2>/dev/null
    done
    [ "${RECOBUS_DEMO_KEEP:-0}" = 1 ] || rm -rf "$TMP"
) >/dev/null 2>&1 </dev/null &
WATCHDOG=$!

# spawn NAME CMD...: CMD in the background (stdout NAME.out, stderr
# NAME.log), its pid in SPAWNED and in $TMP/pids.
spawn () {
    local name=$1
    shift
    "$@" >"$TMP/$name.out" 2>"$TMP/$name.log" </dev/null &
    SPAWNED=$!
    echo "$SPAWNED" >>"$TMP/pids"
}

# wait_for WHAT MS CMD...: runs CMD until it succeeds, for at most MS ms.
wait_for () {
    local what=$1 ms=$2 start
    shift 2
    now_ms
    start=$NOW
    until "$@"; do
        now_ms
        [ $((NOW - start)) -lt "$ms" ] || fail "$what (not within $ms ms)"
        sleep 0.02
    done
}

# line_in PID FILE REGEX: FILE has a line matching REGEX (the demo fails
# if the process PID has died meanwhile).
line_in () {
    grep -q -- "$3" "$2" 2>/dev/null && return 0
    kill -0 "$1" 2>/dev/null ||
        fail "$(basename "$2" .out) exited: $(tail -n 2 "${2%.out}.log" | tr '\n' ' ')"
    return 1
}

# --- Redis on a free loopback port --------------------------------------------

# redis_is_ours PORT PID: a PONG there, from the redis-server we started.
redis_is_ours () {
    redis-cli -p "$1" ping 2>/dev/null | grep -q PONG &&
        redis-cli -p "$1" info server 2>/dev/null | grep -q "^process_id:$2"
}

start_redis () {
    local port i
    mkdir -p "$TMP/redis"
    for _ in $(seq 1 20); do
        # below Linux's ephemeral ports, where the daemons' come from
        port=$((20000 + (RANDOM * 32768 + RANDOM) % 12000))
        # taken if anything answers there
        redis-cli -p "$port" ping >/dev/null 2>&1 && continue
        (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && continue
        spawn redis redis-server --port "$port" --bind 127.0.0.1 --save "" \
            --appendonly no --dir "$TMP/redis" --daemonize no \
            --logfile "$TMP/redis.log"
        for i in $(seq 1 250); do
            if redis_is_ours "$port" "$SPAWNED"; then
                REDIS_PORT=$port
                REDIS_PID=$SPAWNED
                return 0
            fi
            kill -0 "$SPAWNED" 2>/dev/null || break # bind failed: another port
            sleep 0.02
        done
        kill -KILL "$SPAWNED" 2>/dev/null
    done
    setup_fail "redis-server started on none of 20 loopback ports: $(tail -n 1 "$TMP/redis.log")"
}

# --- keys: CurveZMQ on the bus and the tap (docs/security.md) ----------------

# make_keys: one key pair per node, the public halves authorized at the
# broker. Plain (no keys) with RECOBUS_DEMO_PLAIN=1.
make_keys () {
    [ "${RECOBUS_DEMO_PLAIN:-0}" = 1 ] && return 0
    local who
    for who in broker:broker db:db-1 service:svc-latest service:svc-stale \
               ops:ops monitor:mon; do
        "$BIN/recobus-keygen" --role "${who%%:*}" --name "${who#*:}" \
            "$TMP/keys" >>"$TMP/keygen.out" 2>&1 ||
            setup_fail "recobus-keygen ${who#*:}: $(tail -n 1 "$TMP/keygen.out")"
        [ "${who%%:*}" = broker ] ||
            cp "$TMP/keys/${who#*:}.cert" "$TMP/keys/authorized/"
    done
}

# key NAME: the options that give node NAME its key (none in plain mode);
# key broker: the broker's own.
key () {
    [ "${RECOBUS_DEMO_PLAIN:-0}" = 1 ] && return 0
    if [ "$1" = broker ]; then
        echo "--curve-cert $TMP/keys/broker.cert_secret --authorized-keys $TMP/keys/authorized"
    else
        echo "--curve-cert $TMP/keys/$1.cert_secret --broker-cert $TMP/keys/broker.cert"
    fi
}

