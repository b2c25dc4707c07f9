#!/usr/bin/env bash
#   tests/tour.sh BUILD_DIR: runs README.md's "A 5-minute tour" as a new
#   user would, its ```sh blocks one after the other in one bash, and
#   checks what the README says they print. So README and behaviour
#   cannot drift apart: a changed flag, a daemon that no longer waits
#   for its peers, an output that changed, each fails this test.
#
#   Changed on the way, and only this: every port of the tour and of
#   config/recobus.cfg becomes a free one (in a copy of the config, whose
#   /var/lib/recobus becomes a dir that must stay absent), config/ the
#   copy, /tmp/rb-tour a temp dir, ./build/ BUILD_DIR.
#
#   What is checked: every command ends within STEP_S seconds (default
#   60) and, under set -e, with exit 0; the comment lines that start a
#   line ("# TEXT") right under a command are lines it must print (runs
#   of blanks count as one, "..." stands for any text, a "  # note" at
#   the end is left out). Everything the tour started is stopped at the
#   end, also when it fails.
#
#   RECOBUS_TOUR_README=FILE runs another README (to see this test fail
#   on a wrong one); RECOBUS_TOUR_KEEP=1 keeps the temp dir.
set -eu

SRC=$(cd "$(dirname "$0")/.." && pwd)
BUILD=$(cd "${1:?usage: tests/tour.sh BUILD_DIR}" && pwd)
README=${RECOBUS_TOUR_README:-$SRC/README.md}
STEP_S=${STEP_S:-60}
T=$(mktemp -d "${TMPDIR:-/tmp}/recobus-tour.XXXXXX")
RUNNER=
WATCHDOG=

fail () {
    echo "tour: $*" >&2
    exit 1
}

# The tour's processes are one process group (the runner's): all of it
# gets SIGTERM, then SIGKILL whatever is left after 3 s.
stop_tour () {
    [ -n "$RUNNER" ] || return 0
    kill -TERM -- "-$RUNNER" 2>/dev/null || true
    local _
    for _ in $(seq 1 60); do
        kill -0 -- "-$RUNNER" 2>/dev/null || break
        sleep 0.05
    done
    kill -KILL -- "-$RUNNER" 2>/dev/null || true
    wait "$RUNNER" 2>/dev/null || true
    RUNNER=
}

cleanup () {
    local rc=$?
    trap - EXIT INT TERM
    [ -n "$WATCHDOG" ] && kill "$WATCHDOG" 2>/dev/null
    stop_tour
    if [ "$rc" -ne 0 ] && [ -s "$T/tour.log" ]; then
        echo "--- the tour's output (last 40 lines)" >&2
        tail -n 40 "$T/tour.log" >&2
    fi
    if [ "${RECOBUS_TOUR_KEEP:-0}" = 1 ]; then
        echo "tour: kept $T" >&2
    else
        rm -rf "$T"
    fi
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# --- the tour's shell blocks -------------------------------------------------

awk '/^## /          { tour = ($0 == "## A 5-minute tour"); next }
     tour && /^```sh$/ { block = 1; next }
     block && /^```$/  { block = 0; next }
     block             { print }' "$README" >"$T/blocks.sh"
[ -s "$T/blocks.sh" ] || fail "no \`\`\`sh block under '## A 5-minute tour' in $README"

# --- free ports for the tour's ports -----------------------------------------

# Every port written as :PORT, --port PORT or -p PORT, in the blocks and
# the config they read.
grep -ohE '(127\.0\.0\.1:|--port |-p )[0-9]{4,5}\b' "$T/blocks.sh" \
    "$SRC/config/recobus.cfg" | grep -oE '[0-9]+$' | sort -u >"$T/ports"
[ -s "$T/ports" ] || fail "no port found in the tour"

# A loopback port nobody answers on now, below Linux's ephemeral range.
free_port () {
    local p
    while :; do
        p=$((20000 + (RANDOM * 32768 + RANDOM) % 12000))
        grep -qx "$p" "$T/ports" "$T/taken" 2>/dev/null && continue
        (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null && continue
        echo "$p" >>"$T/taken"
        echo "$p"
        return
    done
}

while read -r port; do
    printf 's/\\(127\\.0\\.0\\.1:\\|--port \\|-p \\)%s\\b/\\1%s/g\n' \
        "$port" "$(free_port)"
done <"$T/ports" >"$T/ports.sed"

sed -f "$T/ports.sed" -e "s|/var/lib/recobus|$T/var-lib-recobus|g" \
    "$SRC/config/recobus.cfg" >"$T/recobus.cfg"
sed -f "$T/ports.sed" -e "s|config/recobus\\.cfg|$T/recobus.cfg|g" \
    -e "s|/tmp/rb-tour|$T/scratch|g" -e "s|\\./build/|$BUILD/|g" \
    "$T/blocks.sh" >"$T/blocks.run"
while read -r port; do
    if grep -qE "(127\\.0\\.0\\.1:|--port |-p )$port\\b" "$T/blocks.run" "$T/recobus.cfg"; then
        fail "port $port is still in the tour after the substitution"
    fi
done <"$T/ports"

# --- the runner: the blocks, each command a step with its checks -----------

# The runner's prologue: step N TEXT says which command runs now (the
# watchdog reads it), expect N LINE... checks what step N printed.
cat >"$T/run.sh" <<EOF
set -eu
T='$T'
EOF
cat >>"$T/run.sh" <<'EOF'
STEP=0
STEP_TEXT=
step () {
    STEP=$1
    STEP_TEXT=$2
    printf '%s %s %s\n' "$1" "$(($(date +%s) + STEP_S))" "$2" >"$T/step"
    printf '\n$ %s\n' "$2"
}
expect () {
    local n=$1 want got line found
    shift
    for want in "$@"; do
        found=
        while IFS= read -r line; do
            got=$(printf '%s' "$line" | tr -s ' \t' '  ' | sed 's/ *$//')
            # shellcheck disable=SC2053 # want is a pattern on purpose
            [[ $got == $want ]] && found=1 && break
        done <"$T/out.$n"
        [ -n "$found" ] || {
            echo "tour: step $n ($STEP_TEXT) did not print a line like: $want" >&2
            exit 1
        }
    done
}
trap 'echo "tour: step $STEP failed (exit $?): $STEP_TEXT" >&2' ERR
EOF
echo "cd '$SRC'" >>"$T/run.sh"

# An expected line as a bash pattern: blanks squeezed, "..." any text,
# the other pattern characters literal, a trailing "  # note" cut.
pattern () {
    printf '%s' "$1" | sed -e 's/[[:space:]][[:space:]]\+#.*$//' \
        -e 's/[[:space:]]\+/ /g' -e 's/ *$//' -e 's/[][\\*?]/\\&/g' \
        -e 's/\.\.\./*/g'
}

# Logical lines (continuations joined) of the blocks; a command followed
# by expected lines runs with its output also kept in out.N.
n=0
cmd=
wants=()
flush () {
    [ -n "$cmd" ] || return 0
    n=$((n + 1))
    printf 'step %d %q\n' "$n" "$(printf '%s' "$cmd" | sed 's/[[:space:]]\+#.*$//')"
    if [ "${#wants[@]}" -gt 0 ]; then
        # shellcheck disable=SC2016 # $T is the runner's
        printf '{ %s\n} >"$T/out.%d" 2>&1; cat "$T/out.%d"\n' "$cmd" "$n" "$n"
        printf 'expect %d' "$n"
        printf ' %q' "${wants[@]}"
        printf '\n'
    else
        printf '%s\n' "$cmd"
    fi
    cmd=
    wants=()
}
{
    while IFS= read -r line; do
        while [[ $line == *\\ ]] && IFS= read -r next; do
            line="$line"$'\n'"$next"
        done
        if [[ $line == '# '* ]]; then
            [ -n "$cmd" ] || fail "expected output with no command above it: $line"
            wants+=("$(pattern "${line#\# }")")
        elif [[ $line =~ ^[[:space:]]*(#.*)?$ ]]; then
            continue # a note, or a blank line
        else
            flush
            cmd=$line
        fi
    done <"$T/blocks.run"
    flush
} >>"$T/run.sh"
echo 'step done "(the end)"' >>"$T/run.sh"

# --- run it, with a deadline on every step ------------------------------------

mkdir -p "$T/scratch"
echo "tour: $n steps from $README, on ports $(tr '\n' ' ' <"$T/taken")"
set -m # the runner gets a process group of its own, the tour's
STEP_S=$STEP_S bash "$T/run.sh" >"$T/tour.log" 2>&1 </dev/null &
RUNNER=$!
set +m
(
    while kill -0 "$RUNNER" 2>/dev/null; do
        if read -r s until text 2>/dev/null <"$T/step" &&
            [ "$(date +%s)" -gt "$until" ]; then
            echo "tour: step $s ran past its ${STEP_S} s: $text" >>"$T/tour.log"
            kill -KILL -- "-$RUNNER" 2>/dev/null
            exit
        fi
        sleep 0.2
    done
) &
WATCHDOG=$!
rc=0
wait "$RUNNER" || rc=$?
RUNNER_PID=$RUNNER
RUNNER=
kill -KILL -- "-$RUNNER_PID" 2>/dev/null || true # whatever it left running
[ "$rc" -eq 0 ] || fail "the tour failed (exit $rc)"
grep -q '^done ' "$T/step" 2>/dev/null || fail "the tour stopped before its end"
[ ! -e "$T/var-lib-recobus" ] ||
    fail "the tour wrote under the config's /var/lib/recobus: a flag of the README is missing"
echo "tour: all $n steps ran and printed what README.md shows"
