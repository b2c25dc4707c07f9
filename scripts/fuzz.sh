#!/bin/sh
# Runs every libFuzzer target of a fuzz build for SECONDS each, one after
# the other (docs/fuzzing.md): `make fuzz` (FUZZ_S, default 60) and the
# smoke at the end of `make check` (3 s each).
#
#   scripts/fuzz.sh BUILD_DIR SECONDS [TARGET...]
#
# Each target starts from its committed seeds, tests/fuzz/corpus/TARGET,
# and keeps what it finds in BUILD_DIR/fuzz-corpus/TARGET (the committed
# corpus is never written); a crash leaves its input in
# BUILD_DIR/fuzz-crashes/ and the log in BUILD_DIR/fuzz-logs/TARGET.log.
# Prints one line per target (executions, new corpus entries, crashes)
# and exits 1 if any target crashed or reported a sanitizer error.
set -u
build=${1:?usage: fuzz.sh BUILD_DIR SECONDS [TARGET...]}
secs=${2:?usage: fuzz.sh BUILD_DIR SECONDS [TARGET...]}
shift 2
top=$(cd "$(dirname "$0")/.." && pwd)
targets=${*:-"fuzz_header fuzz_body fuzz_terminal fuzz_backup
  fuzz_backup_fixed fuzz_journal fuzz_journal_fixed fuzz_config"}

mkdir -p "$build/fuzz-crashes" "$build/fuzz-logs"
failed=0
printf '%-20s %12s %10s %8s %8s\n' target executions exec/s corpus crashes
for t in $targets; do
    bin=$build/tests/fuzz/$t
    if [ ! -x "$bin" ]; then
        echo "fuzz: $bin missing (make fuzz builds it)" >&2
        exit 1
    fi
    work=$build/fuzz-corpus/$t
    log=$build/fuzz-logs/$t.log
    mkdir -p "$work"
    # ASan's leak check stays on; -timeout: one input over 10 s is a hang
    "$bin" -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 \
        -print_final_stats=1 -artifact_prefix="$build/fuzz-crashes/$t-" \
        "$work" "$top/tests/fuzz/corpus/$t" >"$log" 2>&1
    rc=$?
    runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log")
    rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log")
    units=$(find "$work" -type f | wc -l)
    crashes=0
    if [ "$rc" -ne 0 ] || grep -q 'ERROR: \(AddressSanitizer\|libFuzzer\)\|runtime error:' "$log"; then
        crashes=1
        failed=1
    fi
    printf '%-20s %12s %10s %8s %8s\n' "$t" "${runs:-?}" "${rate:-?}" \
        "$units" "$crashes"
    if [ "$crashes" -ne 0 ]; then
        echo "fuzz: $t failed (exit $rc); its log, $log:" >&2
        grep -A 30 'ERROR\|runtime error' "$log" | head -40 >&2
        ls "$build/fuzz-crashes/$t-"* 2>/dev/null >&2
    fi
done
exit $failed
