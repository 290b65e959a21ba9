#!/usr/bin/env bash
# Real Debian programs under lemmalloc, each compared with a glibc run.
# Usage: tests/preload/run.sh LIB CPP_PROGRAM [NAME...]
#   LIB          build/liblemmalloc.so; bin/lemmalloc is used when present
#   CPP_PROGRAM  the built tests/cpp/containers.cpp
#   NAME         run only these programs (default: all)
# A program passes when, run the same way in a fresh directory, its exit
# status and stdout under lemmalloc equal glibc's, and its stderr under
# lemmalloc holds the "lemmalloc stats" line that LEMMALLOC_STATS=1 prints at
# exit or /proc/PID/maps while it runs show liblemmalloc, proving lemmalloc
# served it. Budget: about 1.5 minutes on 2 cores.
set -u
root=$(cd "$(dirname "$0")/../.." && pwd)
lib=$(cd "$(dirname "$1")" && pwd)/$(basename "$1")
cpp=$(cd "$(dirname "$2")" && pwd)/$(basename "$2")
shift 2
here=$root/tests/preload
work=$(mktemp -d /tmp/lemmalloc-preload.XXXXXX)
trap 'rm -rf "$work"' EXIT
failed=0

# Run "$@" with lemmalloc in the background, through bin/lemmalloc when it
# exists (so the launcher is tested too), else with LD_PRELOAD. Both exec, so
# the background pid becomes the program itself: watch its /proc/PID/maps
# while it runs. Sets $status, and $mapped=1 if liblemmalloc was mapped.
run_lemmalloc() {
  local out=$1 err=$2; shift 2
  if [ -x "$root/bin/lemmalloc" ]; then
    LEMMALLOC_LIB="$lib" LEMMALLOC_STATS=1 exec "$root/bin/lemmalloc" "$@" >"$out" 2>"$err" &
  else
    LEMMALLOC_STATS=1 LD_PRELOAD="$lib" exec "$@" >"$out" 2>"$err" &
  fi
  local pid=$! start=$SECONDS
  mapped=0
  while kill -0 "$pid" 2>/dev/null; do
    [ "$mapped" = 0 ] && grep -q liblemmalloc "/proc/$pid/maps" 2>/dev/null && mapped=1
    if [ $((SECONDS - start)) -gt 120 ]; then kill -KILL "$pid"; break; fi
    sleep 0.02
  done
  wait "$pid"; status=$?
}

# compare NAME WHAT CMD...: run CMD in $work/NAME.{glibc,lemmalloc}/ and judge.
compare() {
  local name=$1 what=$2; shift 2
  [ "${#only[@]}" -gt 0 ] && [[ " ${only[*]} " != *" $name "* ]] && return
  local g=$work/$name.glibc l=$work/$name.lemmalloc rg why= evidence=
  mkdir -p "$g" "$l"
  (cd "$g" && SERVED_LOG=$g.served timeout 120 "$@" >"$g.out" 2>"$g.err"); rg=$?
  cd "$l" && SERVED_LOG=$l.served run_lemmalloc "$l.out" "$l.err" "$@"; cd "$root"
  grep -q '^lemmalloc stats' "$l.err" && evidence="stats line"
  [ "$mapped" = 1 ] && evidence="${evidence:+$evidence, }/proc/PID/maps"
  # Scripts run their programs through `served` (served.sh): each run, with
  # what it spawned, must print at least one stats line of its own.
  local runs=0 lines=0
  if [ -f "$l.served.runs" ]; then
    runs=$(wc -l <"$l.served.runs"); lines=$(grep -c '^lemmalloc stats' "$l.served")
    evidence="stats lines from $lines processes for $runs $(sort -u "$l.served.runs" | tr '\n' ' ')runs"
    [ "$lines" -lt "$runs" ] && evidence=
  fi
  if [ "$rg" -ne 0 ]; then why="the glibc run itself failed ($rg): $(tail -n 3 "$g.err" | tr '\n' ' ')"
  elif [ "$status" -ne 0 ]; then why="exit status $status under lemmalloc: $(grep -v '^ ' "$l.err" | head -n 3 | tr '\n' ' ')"
  elif ! cmp -s "$g.out" "$l.out"; then why="stdout differs: $(diff "$g.out" "$l.out" | head -n 6 | tr '\n' ' ')"
  elif [ "$runs" -gt "$lines" ]; then why="only $lines 'lemmalloc stats' lines for $runs programs run: lemmalloc did not serve them all"
  elif [ -z "$evidence" ]; then why="neither a 'lemmalloc stats' line nor liblemmalloc in /proc/PID/maps: lemmalloc did not serve it"
  elif [ ! -s "$g.out" ]; then why="no output to compare"
  fi
  if [ -z "$why" ]; then echo "PASS: preload: $name ($what; served: $evidence)"
  else echo "FAIL: preload: $name ($what): $why"; failed=1; fi
}

only=("$@")
export LC_ALL=C

compare ruby "8 threads: strings, hashes, JSON" ruby "$here/work.rb"
compare python3 "PYTHONMALLOC=malloc, 6 threads: dicts, JSON, regexes; fork pool" \
  env PYTHONMALLOC=malloc PYTHONHASHSEED=0 /usr/bin/python3 "$here/work.py"
compare perl "hashes, regexes, sort" env PERL_HASH_SEED=0 perl "$here/work.pl"
compare git "init, add, commit, log, fsck, gc" bash "$here/git.sh"
bash "$here/sqlite-input.sh" >"$work/input.sql"
compare sqlite3 "5000 inserts, index, joins, vacuum" sqlite3 db.sqlite ".read $work/input.sql"
compare gcc "cc1, as, ld: compile, link, run" bash "$here/gcc.sh"
# 400,000 lines, ~9 MB; a small buffer makes sort spill and merge too.
awk 'BEGIN { x = 1; for (i = 0; i < 400000; i++) { x = (x * 1103515245 + 12345) % 2147483648;
             printf "%d %s %d\n", x % 1000, substr("qwertyuiopasdfghjklzxcvbnm", x % 20 + 1, 6), x } }' >"$work/sort.in"
# (sort closes stderr before exiting, so only the maps can tell who served it.)
compare sort "400,000 lines, 2 threads, spills to disk" sort -S 2M --parallel=2 -k2,2 -k1,1n "$work/sort.in"
compare cpp "std::thread, containers, shared_ptr, exceptions, thread_local" "$cpp"

exit $failed
