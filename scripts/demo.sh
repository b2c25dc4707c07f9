#!/usr/bin/env bash
#   scripts/demo.sh [BUILD_DIR]: the disaster-and-recovery story of patent
#   JP6023733B2 on a throwaway redis-server and the recobus daemons,
#   narrated step by step (S1 ... S11) and checked with assertions.
#
#   `make demo` runs it after `make deps` and the build; CTest runs it as
#   the end-to-end test `demo`. BUILD_DIR (default: build) holds the
#   recobus binaries. Exit status: 0 every assertion held; 1 one failed
#   (named on stderr); 2 the set-up failed (a binary missing, no Redis);
#   130 or 143 interrupted. Every process it starts is stopped and its temp
#   dir removed on the way out, whatever happens (a watchdog does it even
#   if this script is killed with SIGKILL). RECOBUS_DEMO_KEEP=1 keeps the
#   temp dir (daemon logs, journal, backups, monitor output) for a look.
#   The bus and the tap run under CurveZMQ (keys made by recobus-keygen in
#   the temp dir); RECOBUS_DEMO_PLAIN=1 runs them plain (loopback only).
#
#   Plain bash, grep, sed and awk: nothing beyond what `make deps` installs.
set -u
export LC_ALL=C

MAX_WAIT=1500     # ms a service node may wait for a current answer
TERM_TIMEOUT=8000 # ms a terminal waits for each answer
RECOVER_BATCH=10  # keys per recovery batch: small, so each phase takes a while
LIVENESS=5        # heartbeats (1 s) the broker lets a node miss: recover is
                  # paused for about 2 s below, and must not be expired

# --- output, time, failure ----------------------------------------------------

now_ms () {
    if [ -n "${EPOCHREALTIME:-}" ]; then
        local t=${EPOCHREALTIME//[.,]/}
        NOW=$((t / 1000))
    else
        NOW=$(date +%s%3N)
    fi
}
now_ms
T0=$NOW
elapsed () { now_ms; EL=$((NOW - T0)); }
took () { elapsed; TOOK=$((EL - $1)); }

say () {
    elapsed
    printf '[%3d.%03d s] %s\n' $((EL / 1000)) $((EL % 1000)) "$*"
}
info () { printf '              %s\n' "$*"; }

# step NAME WHAT: a new step of the story, on stdout and in the timeline.
step () {
    elapsed
    STEP_T=$EL
    printf '%s\t%s\t%s\n' "$EL" "$1" "$2" >>"$TMP/timeline"
    echo
    say "== $1: $2"
}

fail () {
    echo "demo: FAILED: $*" >&2
    exit 1
}
setup_fail () {
    echo "demo: set-up failed: $*" >&2
    exit 2
}

# --- arguments, binaries ------------------------------------------------------

case "${1:-}" in
-h | --help)
    sed -n '2,15p' "$0" | sed 's/^#//; s/^   //'
    exit 0
    ;;
esac
[ $# -le 1 ] || { echo "usage: $0 [BUILD_DIR]" >&2; exit 64; }
BIN=${1:-build}
[ -d "$BIN" ] || setup_fail "no build dir $BIN: build first (make)"
BIN=$(cd "$BIN" && pwd)
for prog in broker db service ops terminal monitor keygen; do
    [ -x "$BIN/recobus-$prog" ] ||
        setup_fail "$BIN/recobus-$prog is missing: build first (make)"
done
for tool in redis-server redis-cli awk sed grep mktemp; do
    command -v "$tool" >/dev/null 2>&1 || setup_fail "$tool not found: run 'make deps'"
done

# --- processes, Redis, keys (scripts/demo_lib.sh) -----------------------------

# shellcheck source=demo_lib.sh
. "${BASH_SOURCE[0]%/*}/demo_lib.sh"

# --- recobus-ops and its JSON -----------------------------------------------

ops () { "$BIN/recobus-ops" --broker "$BUS" --journal "$TMP/ops.journal" $(key ops) "$@"; }

# json_num JSON NAME, json_str JSON NAME: the first (top-level) field NAME.
json_num () { grep -o "\"$2\":[0-9.e+-]*" <<<"$1" | head -n 1 | cut -d: -f2; }
json_str () { grep -o "\"$2\":\"[^\"]*\"" <<<"$1" | head -n 1 | sed 's/^[^:]*:"//; s/"$//'; }
secs_ms () { awk -v s="${1:-0}" 'BEGIN { printf "%d", s * 1000 + 0.5 }'; }

status () { ST=$(ops --json status 2>/dev/null); }
state_is () { status; [ "$(json_str "$ST" state)" = "$1" ]; }
nodes_up () { # nodes_up NAME...: the broker lists each node NAME
    status
    local n
    for n in "$@"; do grep -q "\"$n\":{\"role\"" <<<"$ST" || return 1; done
}
tap_ready () { status; [ "$(json_num "$ST" tap_subscribers)" = 1 ]; }
list_complete () { status; [ "$(json_num "$ST" list_complete)" = 1 ]; }

# --- the data and what each answer must be ----------------------------------

# Subscribers +81-90-NNNNNNNN (1..10000, loaded first as seqs 1..10000),
# new ones +81-80-MMMMMMMM (after the backup), one that never exists.
sub () { printf -v "$1" '+81-90-%08d' "$2"; }
newk () { printf -v "$1" '+81-80-%08d' "$2"; }
NEVER=+81-70-99999999

# What each key must answer comes from the orders themselves, replayed:
# BACKUP[KEY] = "SEQ<TAB>VALUE", the record the backup holds (the first
# load, numbered from seq 1 in file order); NEWEST[KEY] = "STATUS<TAB>VALUE"
# once every order is applied (expected.tsv: every key ever written).
declare -A BACKUP NEWEST

# load_backup FILE: the first load's file, as the backup holds it.
load_backup () {
    local k seq v
    while IFS=$'\t' read -r k seq v; do
        BACKUP[$k]="$seq"$'\t'"$v"
    done < <(awk -F'\t' '{ print $1 "\t" NR "\t" $2 }' "$1")
}

# replay PUTS... DELETES: the newest state of every key, in file order.
replay () {
    local k st v
    awk -F'\t' 'FILENAME == del { v[$1] = "not_found\t"; next }
        { if (!($1 in v)) keys[++n] = $1; v[$1] = "ok\t" $2 }
        END { for (i = 1; i <= n; i++) print keys[i] "\t" v[keys[i]] }' \
        del="${!#}" "$@" >"$TMP/expected.tsv"
    while IFS=$'\t' read -r k st v; do
        NEWEST[$k]="$st"$'\t'"$v"
    done <"$TMP/expected.tsv"
}

# newest KEY: in N_ST and N_VAL (not_found for a key never written).
newest () {
    N_ST=not_found N_VAL=
    [ -n "${NEWEST[$1]-}" ] && IFS=$'\t' read -r N_ST N_VAL <<<"${NEWEST[$1]}"
}

# restored KEY: in R_SEQ and R_VAL (seq 0, no value: not in the backup).
restored () {
    R_SEQ=0 R_VAL=
    [ -n "${BACKUP[$1]-}" ] && IFS=$'\t' read -r R_SEQ R_VAL <<<"${BACKUP[$1]}"
}

# --- terminals ----------------------------------------------------------------

declare -A ANS # ANS[TAG|SVC|KEY] = "STATUS<TAB>SEQ<TAB>VALUE"

# ask TAG KEY...: one recobus-terminal per service node, both at once;
# answers in TAG.svc-latest and TAG.svc-stale, ANS and the tallies.
ask () {
    local tag=$1 svc rc k st seq val
    shift
    "$BIN/recobus-terminal" --service "$LATEST_EP" --timeout $TERM_TIMEOUT \
        get "$@" >"$TMP/$tag.svc-latest" 2>"$TMP/$tag.svc-latest.err" &
    local p1=$!
    "$BIN/recobus-terminal" --service "$STALE_EP" --timeout $TERM_TIMEOUT \
        get "$@" >"$TMP/$tag.svc-stale" 2>"$TMP/$tag.svc-stale.err" &
    local p2=$!
    echo "$p1 $p2" >>"$TMP/pids"
    wait $p1
    rc=$?
    [ $rc -eq 0 ] || fail "$tag: svc-latest did not answer every key (recobus-terminal exit $rc: $(head -n 1 "$TMP/$tag.svc-latest.err"))"
    wait $p2
    rc=$?
    [ $rc -eq 0 ] || fail "$tag: svc-stale did not answer every key (recobus-terminal exit $rc: $(head -n 1 "$TMP/$tag.svc-stale.err"))"
    collect "$tag" svc-latest
    collect "$tag" svc-stale
}

# collect TAG SVC: TAG.SVC into ANS and the tally of SVC's answers.
collect () {
    local k st seq val
    while IFS=$'\t' read -r k st seq val; do
        ANS[$1|$2|$k]="$st"$'\t'"$seq"$'\t'"$val"
    done <"$TMP/$1.$2"
    cat "$TMP/$1.$2" >>"$TMP/answers.$2"
}

# answer TAG SVC KEY: the answer in A_ST, A_SEQ, A_VAL and, readable, in A.
answer () {
    local v=${ANS[$1|$2|$3]-}
    if [ -z "$v" ]; then
        A_ST=none A_SEQ=0 A_VAL='' A="no answer"
        return
    fi
    IFS=$'\t' read -r A_ST A_SEQ A_VAL <<<"$v"
    A=$A_ST
    [ "${A_SEQ:-0}" != 0 ] && A="$A $A_SEQ"
    [ -n "$A_VAL" ] && A="$A $A_VAL"
}

# show TAG KEY...: both services' answers side by side.
show () {
    local tag=$1 k l
    shift
    printf '              %-17s %-31s %s\n' key svc-latest svc-stale
    for k in "$@"; do
        answer "$tag" svc-latest "$k"
        l=$A
        answer "$tag" svc-stale "$k"
        printf '              %-17s %-31s %s\n' "$k" "$l" "$A"
    done
}

# expect TAG SVC KEY STATUS SEQ VALUE: the answer is exactly that (SEQ -
# for any seq).
expect () {
    answer "$1" "$2" "$3"
    if [ "$A_ST" != "$4" ] || { [ "$5" != - ] && [ "$A_SEQ" != "$5" ]; } || [ "$A_VAL" != "$6" ]; then
        fail "$1: $2 answered $3 with '$A', expected '$4 $5 $6' (seq - is any)"
    fi
}

# The key's newest data (ok or not_found), or 'stale' with the record the
# backup holds; is_fresh tells without failing.
expect_fresh () { newest "$3"; expect "$1" "$2" "$3" "$N_ST" - "$N_VAL"; }
expect_stale () { restored "$3"; expect "$1" "$2" "$3" stale "$R_SEQ" "$R_VAL"; }
is_fresh () { newest "$3"; answer "$1" "$2" "$3"; [ "$A_ST" = "$N_ST" ] && [ "$A_VAL" = "$N_VAL" ]; }

# =============================================================================
# The story
# =============================================================================

echo "recobus demo: a subscriber database loses its data and is rebuilt while"
echo "terminals keep asking (patent JP6023733B2, steps S1-S11)."
echo "binaries: $BIN    temp dir: $TMP"

# --- set-up -------------------------------------------------------------------

step setup "a throwaway redis-server, the broker (with tap), a DB node, two service nodes, the monitor"
start_redis
info "redis-server  127.0.0.1:$REDIS_PORT (pid $REDIS_PID, no persistence, in the temp dir)"
mkdir -p "$TMP/keys/authorized"
make_keys
if [ "${RECOBUS_DEMO_PLAIN:-0}" = 1 ]; then
    info "plain bus and tap (RECOBUS_DEMO_PLAIN=1): loopback only"
else
    info "recobus-keygen  a CurveZMQ key pair per node in keys/, the public halves in keys/authorized/"
fi

spawn broker "$BIN/recobus-broker" --bind 'tcp://127.0.0.1:*' --tap 'tcp://127.0.0.1:*' \
    --liveness $LIVENESS $(key broker)
BROKER_PID=$SPAWNED
wait_for "recobus-broker binds its endpoints" 10000 line_in $BROKER_PID "$TMP/broker.out" '^recobus-broker: bus '
BUS=$(sed -n 's/^recobus-broker: bus \([^ ]*\) tap \([^ ]*\).*/\1/p' "$TMP/broker.out")
TAP=$(sed -n 's/^recobus-broker: bus \([^ ]*\) tap \([^ ]*\).*/\2/p' "$TMP/broker.out")
info "recobus-broker  bus $BUS, tap $TAP (free ports the system chose)"

spawn monitor "$BIN/recobus-monitor" --tap "$TAP" $(key mon)
MONITOR_PID=$SPAWNED
info "recobus-monitor  on the tap, writing to monitor.out in the temp dir"

spawn db "$BIN/recobus-db" --init --name db-1 --broker "$BUS" $(key db-1) \
    --redis "127.0.0.1:$REDIS_PORT" --backup-dir "$TMP/backups"
DB_PID=$SPAWNED
wait_for "recobus-db --init creates a dataset and serves" 10000 \
    line_in $DB_PID "$TMP/db.out" 'db-1 serving, state normal'
info "recobus-db --init  db-1: $(sed -n 's/^recobus-db: //p' "$TMP/db.out" | head -n 1)"

spawn svc-latest "$BIN/recobus-service" --name svc-latest --policy latest-only \
    --listen 'tcp://127.0.0.1:*' --broker "$BUS" --max-wait $MAX_WAIT $(key svc-latest)
LATEST_PID=$SPAWNED
spawn svc-stale "$BIN/recobus-service" --name svc-stale --policy stale-ok \
    --listen 'tcp://127.0.0.1:*' --broker "$BUS" --max-wait $MAX_WAIT $(key svc-stale)
STALE_PID=$SPAWNED
wait_for "svc-latest listens" 10000 line_in $LATEST_PID "$TMP/svc-latest.out" 'serving terminals on '
wait_for "svc-stale listens" 10000 line_in $STALE_PID "$TMP/svc-stale.out" 'serving terminals on '
LATEST_EP=$(sed -n 's/.*serving terminals on //p' "$TMP/svc-latest.out")
STALE_EP=$(sed -n 's/.*serving terminals on //p' "$TMP/svc-stale.out")
info "recobus-service  svc-latest (latest-only, max-wait $MAX_WAIT ms) on $LATEST_EP"
info "recobus-service  svc-stale  (stale-ok, max-wait $MAX_WAIT ms) on $STALE_EP"

wait_for "db-1, svc-latest and svc-stale register with the broker" 10000 \
    nodes_up db-1 svc-latest svc-stale
wait_for "the monitor subscribes to the tap" 10000 tap_ready
[ "$(json_str "$ST" state)" = normal ] || fail "set-up: the new DB is $(json_str "$ST" state), not normal"
[ "$(json_num "$ST" epoch)" = 1 ] || fail "set-up: the new dataset has epoch $(json_num "$ST" epoch), not 1"
took 0
D_SETUP=$TOOK
info "all up after $D_SETUP ms; the DB is normal, epoch 1"

# --- normal operation -----------------------------------------------------------

step load "10,000 subscribers in one recobus-ops load (normal operation)"
t=$STEP_T
awk 'BEGIN { for (n = 1; n <= 10000; n++) printf "+81-90-%08d\tplan=basic;n=%d\n", n, n }' \
    >"$TMP/subscribers.tsv"
OUT=$(ops --json load "$TMP/subscribers.tsv") || fail "load of 10,000 subscribers: exit $?"
[ "$(json_num "$OUT" applied)" = 10000 ] || fail "load of 10,000 subscribers: applied $(json_num "$OUT" applied)"
took $t
D_LOAD=$TOOK
[ "$(json_num "$OUT" first_seq)" = 1 ] || fail "the first load was numbered from seq $(json_num "$OUT" first_seq), not 1"
info "10000 orders journaled and applied as seqs $(json_num "$OUT" first_seq)..$(json_num "$OUT" last_seq), $(json_num "$OUT" batches) batches, $D_LOAD ms"
load_backup "$TMP/subscribers.tsv"
status
[ "$(json_num "$ST" keys)" = 10000 ] || fail "after the load the DB holds $(json_num "$ST" keys) records, not 10000"

sub K1 1; sub K15 15; sub K30 30; newk M1 1
ask normal "$K1" "$K30" "$K15"
show normal "$K1" "$K30" "$K15"
for svc in svc-latest svc-stale; do
    expect normal $svc "$K1" ok 1 "plan=basic;n=1"
    expect normal $svc "$K30" ok 30 "plan=basic;n=30"
    expect normal $svc "$K15" ok 15 "plan=basic;n=15"
done
info "both services answer 'ok', data only (S11: no flag in normal operation)"

step backup "the DB writes a backup (recobus-ops backup)"
t=$STEP_T
OUT=$(ops --json backup) || fail "backup: exit $?"
took $t
D_BACKUP=$TOOK
BACKUP_WM=$(json_num "$OUT" watermark)
BACKUP_RECORDS=$(json_num "$OUT" records)
[ "$BACKUP_RECORDS" = 10000 ] || fail "backup: $BACKUP_RECORDS records, not 10000"
[ "$BACKUP_WM" = 10000 ] || fail "backup: watermark $BACKUP_WM, not 10000"
info "$(basename "$(json_str "$OUT" path)"): $BACKUP_RECORDS records, watermark $BACKUP_WM, $(json_num "$OUT" bytes) bytes"

step orders "500 more orders after the backup: updates, new subscribers, deletes"
t=$STEP_T
awk 'BEGIN {
    for (i = 1; i <= 300; i++) printf "+81-90-%08d\tplan=gold;n=%d\n", 30 * i, 30 * i
    for (m = 1; m <= 150; m++) printf "+81-80-%08d\tplan=new;m=%d\n", m, m
    for (i = 1; i <= 40; i++) printf "+81-90-%08d\tplan=platinum;n=%d\n", 30 * i, 30 * i
}' >"$TMP/orders.tsv"
OUT=$(ops --json load "$TMP/orders.tsv") || fail "load of 490 orders: exit $?"
[ "$(json_num "$OUT" applied)" = 490 ] || fail "load of 490 orders: applied $(json_num "$OUT" applied)"
DELETES=()
for i in $(seq 0 8); do sub k $((30 * i + 15)); DELETES+=("$k"); done
newk k 150
DELETES+=("$k")
for k in "${DELETES[@]}"; do
    OUT=$(ops --json delete "$k") || fail "delete $k: exit $?"
    [ "$(json_str "$OUT" status)" = applied ] || fail "delete $k: $(json_str "$OUT" status)"
done
took $t
D_ORDERS=$TOOK
status
LAST_SEQ=$(json_num "$ST" watermark)
[ "$LAST_SEQ" = 10500 ] || fail "after 10,500 orders the DB's watermark is $LAST_SEQ"
printf '%s\n' "${DELETES[@]}" >"$TMP/deletes.txt"
replay "$TMP/subscribers.tsv" "$TMP/orders.tsv" "$TMP/deletes.txt"
WANT_KEYS=$(grep -c $'\tok\t' "$TMP/expected.tsv")
WANT_TOMBS=$(grep -c $'\tnot_found\t' "$TMP/expected.tsv")
WANT_CHANGED=$(cut -f1 "$TMP/orders.tsv" "$TMP/deletes.txt" | sort -u | wc -l)
info "490 puts in one load (300 subscribers updated to gold, 40 of them again to"
info "platinum, 150 new subscribers) and ${#DELETES[@]} deletes (9 subscribers, 1 new one)"
info "the journal holds seqs 1..$LAST_SEQ; the backup lacks the last $((LAST_SEQ - BACKUP_WM))"

ask updated "$K30" "$K15" "$M1"
show updated "$K30" "$K15" "$M1"
for svc in svc-latest svc-stale; do
    for k in "$K30" "$K15" "$M1"; do expect_fresh updated $svc "$k"; done
done
info "the records the services had cached were updated by the DB's pushes"

# --- the disaster ----------------------------------------------------------------

step disaster "redis-cli FLUSHALL, and kill -9 of the DB node"
t=$STEP_T
redis-cli -p "$REDIS_PORT" FLUSHALL >/dev/null || fail "redis-cli FLUSHALL failed"
kill -KILL "$DB_PID"
wait "$DB_PID" 2>/dev/null
info "Redis is empty and db-1 is gone"
# db-1 comes back under its own name: the broker lets the dead one go as
# soon as its connection closes (and if the restarted node's HELLO came
# first, it is told name_taken and says HELLO again)
info "the broker lets the dead db-1 go at once (its connection closed); db-1 starts again"
spawn db2 "$BIN/recobus-db" --name db-1 --broker "$BUS" $(key db-1) \
    --redis "127.0.0.1:$REDIS_PORT" --backup-dir "$TMP/backups"
DB_PID=$SPAWNED
wait_for "the restarted DB node serves" 10000 line_in $DB_PID "$TMP/db2.out" 'db-1 serving'
grep -q 'state needs_restore' "$TMP/db2.out" ||
    fail "the restarted DB node came up $(sed -n 's/.*serving, //p' "$TMP/db2.out"), not in needs_restore"
wait_for "the restarted db-1 registers and answers status" 10000 state_is needs_restore
took $t
D_DISASTER=$TOOK
info "db-1 is back, in state needs_restore: its Redis holds no dataset"

step needs_restore "terminals while the DB needs a restore: 'unavailable', never 'not_found'"
t=$STEP_T
sub a 4001; sub b 4500; sub c 45; newk d 50
A_KEYS=("$a" "$b" "$c" "$d" "$NEVER")
ask needs_restore "${A_KEYS[@]}"
took $t
show needs_restore "${A_KEYS[@]}"
for svc in svc-latest svc-stale; do
    for k in "${A_KEYS[@]}"; do expect needs_restore $svc "$k" unavailable 0 ""; done
done
info "every key 'unavailable' at max-wait ($TOOK ms), even $NEVER that never existed"
info "(keys no one asked before: a record a service cached before the disaster is"
info "still current, as no order can be applied until the restore)"

# --- S1, S2: restore ---------------------------------------------------------------

step S1 "restore from the newest backup (recobus-ops restore)"
MON_FROM=$(wc -l <"$TMP/monitor.out")
t=$STEP_T
OUT=$(ops --json restore) || fail "restore: exit $?"
took $t
D_RESTORE=$TOOK
RESTORE_MS=$(json_num "$OUT" ms)
[ "$(json_num "$OUT" records)" = 10000 ] || fail "restore: $(json_num "$OUT" records) records, not 10000"
[ "$(json_num "$OUT" watermark)" = "$BACKUP_WM" ] ||
    fail "restore: watermark $(json_num "$OUT" watermark), the backup's is $BACKUP_WM"
info "$(basename "$(json_str "$OUT" path)"): $(json_num "$OUT" records) records at watermark $(json_num "$OUT" watermark), $RESTORE_MS ms in the DB"

step S2 "the DB is recovering, by itself: a new epoch, RESET to every service node"
status
[ "$(json_str "$ST" state)" = recovering ] || fail "after the restore the DB is $(json_str "$ST" state), not recovering"
[ "$(json_num "$ST" epoch)" = 2 ] || fail "after the restore the epoch is $(json_num "$ST" epoch), not 2"
[ "$(json_num "$ST" list_complete)" = 0 ] || fail "after the restore the recovery list is already complete"
info "state recovering, epoch 2, $(json_num "$ST" keys) records; no recovery list yet"

step S5-S7 "terminals before the recovery list: every key is answered with the flag"
t=$STEP_T
sub u1 1; sub u2 5001; sub u3 9999
UNCHANGED=("$u1" "$u2" "$u3")
sub c1 30; sub c2 3000; sub c3 6000; newk c4 1; newk c5 100; sub c6 15; sub c7 255; newk c8 150
CHANGED=("$c1" "$c2" "$c3" "$c4" "$c5" "$c6" "$c7" "$c8")
ask flagged_all "${UNCHANGED[@]}" "${CHANGED[@]}" "$NEVER"
took $t
show flagged_all "${UNCHANGED[@]}" "${CHANGED[@]}" "$NEVER"
for k in "${UNCHANGED[@]}" "${CHANGED[@]}" "$NEVER"; do
    expect flagged_all svc-latest "$k" unavailable 0 ""
    expect_stale flagged_all svc-stale "$k"
done
info "S5 the DB answers with the data and the recovering flag; S6 each service"
info "applies its policy: latest-only re-polls (S7) and, at max-wait, says 'unavailable'"
info "($TOOK ms); stale-ok says 'stale' with the restored record (none: seq 0) at once"

# --- S3, S4: the recovery list, then a pause before the diffs --------------------

step S3-S4 "recobus-ops recover --batch $RECOVER_BATCH: the recovery list, then a pause"
t=$STEP_T
# the binary itself, not the ops function: its pid is the one to pause
"$BIN/recobus-ops" --broker "$BUS" --journal "$TMP/ops.journal" $(key ops) --json \
    --batch $RECOVER_BATCH recover >"$TMP/recover.out" 2>"$TMP/recover.log" &
RECOVER_PID=$!
echo "$RECOVER_PID" >>"$TMP/pids"
# recover runs until its last list batch shows on the bus (the monitor),
# then is held still (SIGSTOP) while the DB takes that batch: the window
# between the list (S3-S4) and the diffs (S8), kept open for the terminals.
PAUSED=0
now_ms
start=$NOW
until grep -q 'RECOVERY_LIST entries=[0-9]* last=yes' "$TMP/monitor.out"; do
    kill -0 "$RECOVER_PID" 2>/dev/null || break
    now_ms
    [ $((NOW - start)) -lt 20000 ] || fail "S3: recover sent no last list batch within 20 s"
done
if kill -STOP "$RECOVER_PID" 2>/dev/null; then
    wait_for "S4: the DB takes the list's last batch" 10000 list_complete
    PAUSED=1
else
    wait "$RECOVER_PID"
    RECOVER_RC=$?
    status
    [ "$(json_str "$ST" state)" = normal ] ||
        fail "S3: recover exited ($RECOVER_RC) before its list was complete: $(tail -n 1 "$TMP/recover.log")"
fi
took $t
STILL_FLAGGED=$(json_num "$ST" recovering)
if [ $PAUSED = 1 ] && [ "$(json_str "$ST" state)" = recovering ]; then
    info "the list is in (S3) and the DB flags the keys behind their orders (S4);"
    info "recover paused (SIGSTOP) $TOOK ms after it started, $STILL_FLAGGED listed keys still waiting for their order"
else
    info "recover ended before it could be paused: the answers below are all fresh"
fi

step S5-S7 "terminals during the recovery, list complete: only keys still behind are flagged"
t=$STEP_T
ask flagged_some "${UNCHANGED[@]}" "$NEVER" "${CHANGED[@]}"
took $t
show flagged_some "${UNCHANGED[@]}" "$NEVER" "${CHANGED[@]}"
for svc in svc-latest svc-stale; do
    for k in "${UNCHANGED[@]}" "$NEVER"; do expect_fresh flagged_some $svc "$k"; done
done
WAITING=()
for k in "${CHANGED[@]}"; do
    # latest-only: 'unavailable', or the new data if its diff landed, never
    # the restored record; stale-ok: the restored record, or the new data
    is_fresh flagged_some svc-latest "$k" || expect flagged_some svc-latest "$k" unavailable 0 ""
    is_fresh flagged_some svc-stale "$k" || { expect_stale flagged_some svc-stale "$k"; WAITING+=("$k"); }
done
info "keys no order touched after the backup: 'ok' on both, at once (...5001 is not on"
info "the list; ...0001 and ...9999 are, their restored seqs already meet their targets);"
info "keys still behind: latest-only 'unavailable' at max-wait, stale-ok 'stale' ($TOOK ms)"

# --- S8, S9: the diffs ------------------------------------------------------------

# s7_more KEY N: the monitor has shown more than N S7 re-polls of KEY.
s7_more () { [ "$(grep -c "GET key=$1 \[S7 re-poll\]" "$TMP/monitor.out")" -gt "$2" ]; }

step S8-S9 "recover goes on: the diffs are applied, each key's flag cleared with its diff"
t=$STEP_T
WAIT_PID=
if [ ${#WAITING[@]} -gt 0 ] && [ $PAUSED = 1 ]; then
    # a latest-only terminal asks for the keys still flagged; once svc-latest
    # re-polls one more time (S7, on the monitor), recover goes on
    S7_BEFORE=$(grep -c "GET key=${WAITING[0]} \[S7 re-poll\]" "$TMP/monitor.out")
    "$BIN/recobus-terminal" --service "$LATEST_EP" --timeout $TERM_TIMEOUT \
        get "${WAITING[@]}" >"$TMP/waiting.svc-latest" 2>"$TMP/waiting.svc-latest.err" &
    WAIT_PID=$!
    echo "$WAIT_PID" >>"$TMP/pids"
    wait_for "svc-latest re-polls ${WAITING[0]} (S7)" 5000 s7_more "${WAITING[0]}" "$S7_BEFORE"
    info "a latest-only terminal asks for the ${#WAITING[@]} keys still flagged: svc-latest re-polls (S7)"
fi
if [ $PAUSED = 1 ]; then
    kill -CONT "$RECOVER_PID"
    wait "$RECOVER_PID"
    RECOVER_RC=$?
fi
if [ "$RECOVER_RC" -ne 0 ]; then
    # recover is resumable: should the pause have cost it a request, again
    info "recover stopped ($(tail -n 1 "$TMP/recover.log")); running it again (safe)"
    ops --json --batch $RECOVER_BATCH recover >>"$TMP/recover.out" 2>>"$TMP/recover.log" ||
        fail "recover: exit $?: $(tail -n 1 "$TMP/recover.log")"
fi
if [ -n "$WAIT_PID" ]; then
    wait "$WAIT_PID" || fail "the waiting latest-only terminal got no answer (exit $?)"
    collect waiting svc-latest
    printf '              %-17s %s\n' key "svc-latest (asked during the pause, answered after)"
    N_FRESH=0
    for k in "${WAITING[@]}"; do
        answer waiting svc-latest "$k"
        printf '              %-17s %s\n' "$k" "$A"
        if is_fresh waiting svc-latest "$k"; then
            N_FRESH=$((N_FRESH + 1))
        else
            expect waiting svc-latest "$k" unavailable 0 ""
        fi
    done
    info "$N_FRESH of ${#WAITING[@]} got their new data as soon as their diff landed (S9, S11),"
    info "$((${#WAITING[@]} - N_FRESH)) 'unavailable' at max-wait: never the restored record"
fi
SCAN=$(grep '"phase":"scan"' "$TMP/recover.out" | head -n 1)
LIST=$(grep '"phase":"list"' "$TMP/recover.out" | head -n 1)
DIFFS=$(grep '"phase":"diffs"' "$TMP/recover.out" | tail -n 1)
END=$(grep '"phase":"end"' "$TMP/recover.out" | tail -n 1)
if [ -z "$LIST" ] || [ -z "$DIFFS" ] || [ -z "$END" ]; then
    fail "recover printed no list, diffs or end line"
fi
LIST_KEYS=$(json_num "$LIST" keys)
FLAGGED=$(json_num "$LIST" flagged)
[ "$FLAGGED" = "$LIST_KEYS" ] ||
    fail "recover stored the targets of $FLAGGED keys, not of the $LIST_KEYS listed"
[ "$(json_num "$DIFFS" skipped)" = "$((LIST_KEYS - WANT_CHANGED))" ] ||
    fail "the diffs skipped $(json_num "$DIFFS" skipped) orders, not the $((LIST_KEYS - WANT_CHANGED)) the backup held already"
[ "$(json_num "$DIFFS" cleared)" = "$WANT_CHANGED" ] ||
    fail "the diffs cleared $(json_num "$DIFFS" cleared) flags, not $WANT_CHANGED"
info "list:  $LIST_KEYS keys in $(json_num "$LIST" batches) batches: targets stored $FLAGGED"
info "diffs: $(json_num "$DIFFS" keys) keys in $(json_num "$DIFFS" batches) batches: applied $(json_num "$DIFFS" applied), skipped $(json_num "$DIFFS" skipped), cleared $(json_num "$DIFFS" cleared)"

step S10 "recovery complete: the DB is normal again, by itself"
status
[ "$(json_str "$ST" state)" = normal ] || fail "after recover the DB is $(json_str "$ST" state), not normal"
[ "$(json_num "$ST" recovering)" = 0 ] || fail "after recover $(json_num "$ST" recovering) keys are still flagged"
[ "$(json_num "$ST" pending)" = 0 ] || fail "after recover $(json_num "$ST" pending) orders are pending"
[ "$(json_num "$ST" watermark)" = "$LAST_SEQ" ] ||
    fail "after recover the watermark is $(json_num "$ST" watermark), the journal's last order $LAST_SEQ"
[ "$(json_num "$ST" keys)" = "$WANT_KEYS" ] ||
    fail "after recover the DB holds $(json_num "$ST" keys) live records, the orders make $WANT_KEYS"
[ "$(json_num "$ST" tombstones)" = "$WANT_TOMBS" ] ||
    fail "after recover the DB holds $(json_num "$ST" tombstones) tombstones, the orders make $WANT_TOMBS"
info "recobus-ops status --json: state normal, recovering 0, pending 0, watermark $LAST_SEQ,"
info "$WANT_KEYS live records, $WANT_TOMBS tombstones, epoch $(json_num "$ST" epoch)"
kill -0 "$MONITOR_PID" 2>/dev/null || fail "recobus-monitor died: $(tail -n 1 "$TMP/monitor.log")"

step S11 "every key fresh: answers carry the data only"
t=$STEP_T
sub f1 600; sub f2 9000; sub f3 225; newk f4 149
FINAL=("${UNCHANGED[@]}" "${CHANGED[@]}" "$NEVER" "${A_KEYS[@]:0:4}" "$f1" "$f2" "$f3" "$f4")
ask fresh "${FINAL[@]}"
took $t
show fresh "${FINAL[@]}"
for svc in svc-latest svc-stale; do
    for k in "${FINAL[@]}"; do expect_fresh fresh $svc "$k"; done
done
info "both services: each key's newest data, deleted ones 'not_found' ($TOOK ms)"

# Every key ever written, through both services, against the orders replayed
# (expected.tsv): no order lost, none applied out of turn. Asked 2500 keys at
# a time; these answers stay out of the tallies below.
elapsed
t=$EL
mapfile -t ALL < <(cut -f1 "$TMP/expected.tsv")
FULL_N=${#ALL[@]}
: >"$TMP/full.svc-latest"
: >"$TMP/full.svc-stale"
for ((i = 0; i < FULL_N; i += 2500)); do
    "$BIN/recobus-terminal" --service "$LATEST_EP" --timeout $TERM_TIMEOUT \
        get "${ALL[@]:i:2500}" >>"$TMP/full.svc-latest" 2>"$TMP/full.svc-latest.err" &
    p1=$!
    "$BIN/recobus-terminal" --service "$STALE_EP" --timeout $TERM_TIMEOUT \
        get "${ALL[@]:i:2500}" >>"$TMP/full.svc-stale" 2>"$TMP/full.svc-stale.err" &
    p2=$!
    echo "$p1 $p2" >>"$TMP/pids"
    wait $p1 || fail "every key: svc-latest did not answer keys $i.. (exit $?: $(head -n 1 "$TMP/full.svc-latest.err"))"
    wait $p2 || fail "every key: svc-stale did not answer keys $i.. (exit $?: $(head -n 1 "$TMP/full.svc-stale.err"))"
done
for svc in svc-latest svc-stale; do
    BAD=$(awk -F'\t' 'NR == FNR { want[$1] = $2 "\t" $3; next }
        { n++; if (want[$1] != $2 "\t" $4) { bad++; if (bad <= 3) printf "%s answered %s %s, ", $1, $2, $4 } }
        END { if (n != length(want)) printf "%d answers for %d keys", n, length(want); else if (bad) printf "%d wrong", bad }' \
        "$TMP/expected.tsv" "$TMP/full.$svc")
    [ -z "$BAD" ] || fail "every key through $svc: $BAD"
done
took $t
info "and all $FULL_N keys ever written, through each service, answer as the 10,500"
info "orders replayed say ($TOOK ms): no order lost"

# =============================================================================
# Timeline and summary
# =============================================================================

elapsed
TOTAL=$EL
echo
echo "== timeline (ms since the start) =="
awk -F'\t' '{ printf "  %7d  %-14s %s\n", $1, $2, $3 }' "$TMP/timeline"
printf '  %7d  %-14s %s\n' "$TOTAL" end "every assertion held"

count () { awk -F'\t' -v s="$2" '$2 == s { n++ } END { print n + 0 }' "$TMP/answers.$1"; }
label () { tail -n +$((MON_FROM + 1)) "$TMP/monitor.out" | grep -c "\[$1\]"; }

echo
echo "== summary =="
printf '  %-24s %s\n' "orders" "10000 loaded, 500 after the backup (490 puts, 10 deletes): seqs 1..$LAST_SEQ" \
    "backup" "$BACKUP_RECORDS records at watermark $BACKUP_WM" \
    "recovery list (S3-S4)" "$LIST_KEYS keys: targets stored $FLAGGED, $((LIST_KEYS - WANT_CHANGED)) of them already current" \
    "diffs (S8-S9)" "$(json_num "$DIFFS" keys) keys: applied $(json_num "$DIFFS" applied), skipped $(json_num "$DIFFS" skipped), cleared $(json_num "$DIFFS" cleared)" \
    "final data" "$WANT_KEYS live records, $WANT_TOMBS tombstones, watermark $LAST_SEQ, epoch 2" \
    "every key checked" "$FULL_N keys through each service: all as the replayed orders say"
echo
echo "  durations                                      ms"
printf '    %-42s %6d\n' "set-up: redis-server and 5 daemons" "$D_SETUP" \
    "load of 10,000 subscribers" "$D_LOAD" \
    "backup" "$D_BACKUP" \
    "500 orders (1 load, 10 deletes)" "$D_ORDERS" \
    "disaster until db-1 is back (needs_restore)" "$D_DISASTER" \
    "restore (S1-S2), seen from ops" "$D_RESTORE" \
    "  of which the DB's restore" "${RESTORE_MS:-0}" \
    "recover: scan of the journal" "$(secs_ms "$(json_num "$SCAN" seconds)")" \
    "recover: list (S3-S4)" "$(secs_ms "$(json_num "$LIST" seconds)")" \
    "recover: diffs (S8-S9), with the pause" "$(secs_ms "$(json_num "$DIFFS" seconds)")" \
    "recover: end (S10)" "$(secs_ms "$(json_num "$END" seconds)")" \
    "whole demo" "$TOTAL"
echo
echo "  terminal answers by status"
printf '    %-12s %6s %10s %6s %12s %6s\n' service ok not_found stale unavailable total
for svc in svc-latest svc-stale; do
    printf '    %-12s %6d %10d %6d %12d %6d\n' $svc "$(count $svc ok)" "$(count $svc not_found)" \
        "$(count $svc stale)" "$(count $svc unavailable)" "$(wc -l <"$TMP/answers.$svc")"
done
echo
echo "  bus messages by patent step, from the restore on (monitor output)"
LINE=
for l in "S1 restore" "S2 recovering" "RESET" "S3 list" "S4 flagged" "S5 flagged answer" \
    "S7 re-poll" "S8 diff" "S9 cleared" "RECOVERED push" "S10 end" "S10 normal" "S11 fresh"; do
    LINE="$LINE$l $(label "$l"), "
done
echo "${LINE%, }" | fold -s -w 70 | sed 's/^/    /'
echo
echo "demo: every assertion held; no latest-only answer was stale, no order was lost."
exit 0
