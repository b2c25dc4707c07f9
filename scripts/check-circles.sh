#!/bin/sh
#   scripts/check-circles.sh LIB.a...: fails if, inside one floor's library,
#   two source files call each other, directly or round a longer circle
#   (a.c uses b.c, b.c uses c.c, c.c uses a.c). Calls between files must
#   go one way, so each file can be read, and changed, knowing only the
#   files below it. Reads the archives' symbol tables with nm.
set -eu
status=0
for lib in "$@"; do
    [ -r "$lib" ] || { echo "check-circles: cannot read $lib" >&2; exit 2; }
    nm -A "$lib" 2>/dev/null | awk -v lib="$(basename "$lib")" '
        # nm -A prints "archive:member: value type name" or, undefined,
        # "archive:member:          U name".
        {
            split($1, part, ":"); member = part[2]
            type = $(NF - 1); name = $NF
            sub(/\.o$/, "", member); sub(/\.c$/, "", member)
            files[member] = 1
            if (type == "U") used[member, name] = 1
            else if (type ~ /^[TDBR]$/) definer[name] = member
        }
        END {
            n = 0
            for (f in files) { id[f] = n; names[n++] = f }
            for (k in used) {
                split(k, pair, SUBSEP)
                if (!(pair[2] in definer)) continue
                g = definer[pair[2]]
                if (g != pair[1]) reach[id[pair[1]], id[g]] = 1
            }
            for (k = 0; k < n; k++)
                for (i = 0; i < n; i++)
                    if ((i, k) in reach)
                        for (j = 0; j < n; j++)
                            if ((k, j) in reach) reach[i, j] = 1
            bad = 0
            for (i = 0; i < n; i++) {
                circle = ""; first = 1
                for (j = 0; j < n; j++)
                    if (j != i && (i, j) in reach && (j, i) in reach) {
                        if (j < i) first = 0
                        circle = circle ", " names[j] ".c"
                    }
                if (circle != "" && first) {
                    printf "%s: a circle: %s.c%s\n", lib, names[i], circle
                    bad = 1
                }
            }
            exit bad
        }' || status=1
done
[ $status -eq 0 ] && echo "check-circles: no circles in $#" "librar$( [ $# -eq 1 ] && echo y || echo ies)"
exit $status
