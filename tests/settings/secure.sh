#!/usr/bin/env bash
# A setuid-root program linked with lemmalloc, run by an unprivileged user
# (AT_SECURE set) with every file-writing setting pointing into a directory
# only root may write: lemmalloc must create none of the files, and say in
# one stderr line that it ignored the settings. The same binary run without
# the setuid bit (by root, not secure) must create the trace: the control
# that shows the files would appear if the settings were honoured.
# usage: secure.sh HELPER (built with liblemmalloc.a)
# Needs root and setpriv; prints a SKIP line otherwise.
set -u
helper=$1
if [ "$(id -u)" -ne 0 ]; then echo "SKIP: settings: setuid test needs root (runs as uid $(id -u))"; exit 0; fi
if ! command -v setpriv >/dev/null; then echo "SKIP: settings: setuid test needs setpriv (util-linux)"; exit 0; fi
d=$(mktemp -d /tmp/lemmalloc-secure.XXXXXX)
trap 'rm -rf "$d"' EXIT
chmod 755 "$d"
cp "$helper" "$d/helper"
chown 0:0 "$d/helper"
chmod 4755 "$d/helper"
vars=(LEMMALLOC_TRACE="$d/trace" LEMMALLOC_HEAPMAP="$d/map.txt" LEMMALLOC_STATS_FILE="$d/stats"
      LEMMALLOC_STATS=1 LEMMALLOC_ARENAS=abc)
rc=0
out=$(env "${vars[@]}" setpriv --reuid=65534 --regid=65534 --clear-groups "$d/helper" 2>"$d/err")
code=$?
if [ "$code" -ne 0 ] || ! grep -q '^secure=1 euid=0 ' <<<"$out"; then
  cat "$d/err"
  echo "SKIP: settings: the setuid helper did not run in secure mode (exit $code, '$out'; nosuid mount?)"
  exit 0
fi
made=$(cd "$d" && ls trace* map* stats* 2>/dev/null | tr '\n' ' ')
if [ -z "$made" ]; then echo "PASS: settings: setuid program (AT_SECURE) writes no trace, heap map or stats file"
else echo "FAIL: settings: setuid program (AT_SECURE) honoured file settings as root: created $made"; rc=1; fi
n=$(grep -c 'lemmalloc' "$d/err")
if [ "$n" -eq 1 ] && grep -q 'AT_SECURE' "$d/err" && grep -q 'LEMMALLOC_TRACE' "$d/err"; then
  echo "PASS: settings: setuid program: one line says the settings were ignored ($(cat "$d/err"))"
else
  echo "FAIL: settings: setuid program: want one 'lemmalloc' line naming AT_SECURE and LEMMALLOC_TRACE, got $n:"
  sed 's/^/  /' "$d/err"; rc=1
fi
# Control: the same binary, not setuid, run by root, honours the trace.
chmod 0755 "$d/helper"
env LEMMALLOC_TRACE="$d/trace" "$d/helper" >/dev/null 2>&1
if [ -s "$d/trace" ]; then echo "PASS: settings: control: the same program not setuid writes its trace"
else echo "FAIL: settings: control: the same program not setuid wrote no trace (the check above proves nothing)"; rc=1; fi
exit $rc
