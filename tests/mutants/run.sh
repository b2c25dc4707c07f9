#!/bin/sh
# make mutants: shows that the tests bite. Each tests/mutants/*.patch is a
# small, deliberate break of one promise (its first lines say which, and
# which tests must catch it). For each one this script copies the working
# tree (the files git tracks, as they are now) to a temp dir, applies the
# patch, builds, and runs the named CTest suites and e2e seeds, and says
# which of them failed. A mutant is caught when any of them fails; the run
# fails if one survives.
#
#   tests/mutants/run.sh [BUILD_TYPE] [PATCH...]     (default: every patch)
#
# Header lines a patch carries, before its diff:
#   Mutant: one line, what it breaks
#   Suites: CTest names run with ctest -R '^(a|b)$' (may be empty)
#   Seeds:  e2e seeds run with RECOBUS_SEED=N build/tests/test_e2e
#   Targets: CMake targets to build (default: all)
set -u
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
jobs=$(nproc 2>/dev/null || echo 2)
if [ $# -gt 0 ] && [ "${1%.patch}" = "$1" ]; then
    build_type=$1
    shift
else
    build_type=RelWithDebInfo
fi
[ $# -gt 0 ] || set -- "$here"/*.patch

work=$(mktemp -d "${TMPDIR:-/tmp}/rb-mutants.XXXXXX") || exit 70
trap 'rm -rf "$work"' EXIT INT TERM

# the tracked files as they are in the working tree, once
mkdir "$work/.src" &&
( cd "$root" && git ls-files -z | xargs -0 cp --parents -t "$work/.src/" ) ||
    { echo "mutants: cannot copy the tree" >&2; exit 74; }

field () { sed -n "s/^$1: *//p" "$2" | head -1; }

caught=0
survived=0
report=""
for patch in "$@"; do
    case $patch in /*) ;; *) patch="$PWD/$patch" ;; esac
    name=$(basename "$patch" .patch)
    what=$(field Mutant "$patch")
    suites=$(field Suites "$patch")
    seeds=$(field Seeds "$patch")
    targets=$(field Targets "$patch")
    tree="$work/$name"
    rm -rf "$tree"
    cp -a "$work/.src" "$tree"
    log="$work/$name.log"
    echo "mutants: $name: $what"
    if ! (cd "$tree" && git apply "$patch") >"$log" 2>&1; then
        echo "mutants: $name: the patch does not apply any more:" >&2
        cat "$log" >&2
        exit 70
    fi
    if ! cmake -S "$tree" -B "$tree/build" -DCMAKE_BUILD_TYPE="$build_type" \
             >>"$log" 2>&1 ||
       ! cmake --build "$tree/build" -j "$jobs" ${targets:+--target $targets} \
             >>"$log" 2>&1; then
        echo "mutants: $name: does not build (a mutant must build):" >&2
        tail -20 "$log" >&2
        exit 70
    fi
    by=""
    if [ -n "$suites" ]; then
        regex=$(echo "$suites" | tr ' ' '|')
        if ! (cd "$tree/build" && ctest -R "^($regex)\$" --output-on-failure \
                  --timeout 600) >>"$log" 2>&1; then
            failed=$(sed -n 's/^[[:space:]]*[0-9]* - \([a-z_0-9]*\) (Failed).*/\1/p' \
                     "$log" | tr '\n' ' ' | sed 's/ $//')
            by="suite(s) ${failed:-$suites}"
        fi
    fi
    for seed in $seeds; do
        if ! RECOBUS_SEED=$seed "$tree/build/tests/test_e2e" >>"$log" 2>&1
        then
            by="${by:+$by, }e2e seed $seed"
        fi
    done
    if [ -n "$by" ]; then
        caught=$((caught + 1))
        line="caught   $name: $by"
    else
        survived=$((survived + 1))
        line="SURVIVED $name: passed ${suites:+suites $suites}${seeds:+ seeds $seeds}"
        cp "$log" "${TMPDIR:-/tmp}/rb-mutant-$name.log"
    fi
    echo "mutants: $line"
    report="$report$line
"
    rm -rf "$tree"
done

echo
echo "mutants: $caught caught, $survived survived"
printf '%s' "$report"
[ "$survived" -eq 0 ]
