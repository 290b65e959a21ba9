#!/usr/bin/env bash
# Run a test program on lemmalloc and check that lemmalloc served it.
# Usage: tests/lib/preloaded.sh LIB|static LABEL CMD [ARGS...]
#   LIB     preload this .so; `static` runs CMD as is (linked with the .a)
#   LABEL   names the run in PASS:/FAIL: lines
# The program gets LT_EXPECT=lemmalloc (it checks in-process who defines
# malloc) and LEMMALLOC_STATS=1: its stderr must hold the "lemmalloc stats"
# line printed at exit. LT_TIMEOUT (seconds, default 300) bounds the run.
# Exits non-zero if the program or the check failed.
set -u
lib=$1 label=$2; shift 2
err=$(mktemp /tmp/lemmalloc-test-err.XXXXXX)
trap 'rm -f "$err"' EXIT
preload=()
[ "$lib" = static ] || preload=(LD_PRELOAD="$lib")
# timeout runs outside the preload: env execs the program, so the only
# process that can print a stats line is the program itself.
timeout -k 5 "${LT_TIMEOUT:-300}" env "${preload[@]}" LT_EXPECT=lemmalloc LT_LABEL="$label" \
  LEMMALLOC_STATS=1 "$@" 2>"$err"
rc=$?
[ "$rc" -eq 124 ] || [ "$rc" -eq 137 ] && echo "FAIL: $(basename "$1")/$label: timed out after ${LT_TIMEOUT:-300} s"
# Show the program's own stderr, not the statistics.
sed -n '/^lemmalloc stats/q;p' "$err"
if grep -q '^lemmalloc stats' "$err"; then
  echo "PASS: $(basename "$1")/$label: lemmalloc served it (stats line at exit)"
else
  echo "FAIL: $(basename "$1")/$label: no 'lemmalloc stats' line at exit (exit status $rc)"
  rc=1
fi
exit $rc
