#!/usr/bin/env bash
# Every setting validated at start-up: a bad value prints exactly one line
# naming the variable, the value and what is used instead; good values print
# nothing; booleans take 1/0/yes/no/true/false/on/off; LEMMALLOC_CONF is
# read and the variables override it.
# usage: settings.sh LIB    (LIB: liblemmalloc.so, preloaded into `true`)
set -u
lib=$1
rc=0
ncpu=$(nproc); def_arenas=$(( (ncpu + 1) / 2 )); [ "$def_arenas" -gt 64 ] && def_arenas=64
err=$(mktemp /tmp/lemmalloc-settings.XXXXXX); trap 'rm -f "$err" "$err.map"' EXIT

# run ENV...: `true` under lemmalloc with only these LEMMALLOC_* settings;
# its stderr lands in $err.
unset_all=(); for v in $(env | grep -o '^LEMMALLOC_[A-Za-z0-9_]*'); do unset_all+=(-u "$v"); done
run() { env "${unset_all[@]}" "$@" LD_PRELOAD="$lib" true 2>"$err"; }
lines() { grep -c '^lemmalloc: ' "$err"; }

# one "expected line" ENV...: exactly that one lemmalloc line.
one() {
  local want=$1; shift
  run "$@"
  if [ "$(lines)" -eq 1 ] && grep -qxF "$want" "$err"; then echo "PASS: settings: $* -> '$want'"
  else echo "FAIL: settings: $*: want the one line '$want', got:"; sed 's/^/  /' "$err"; rc=1; fi
}
# quiet ENV...: valid settings, no line at all.
quiet() {
  run "$@"
  if [ ! -s "$err" ]; then echo "PASS: settings: $* accepted silently"
  else echo "FAIL: settings: $*: want no output, got:"; sed 's/^/  /' "$err"; rc=1; fi
}
# arenas N ENV...: the exit statistics say N arenas.
arenas() {
  local want=$1; shift
  run LEMMALLOC_STATS=1 "$@"
  if grep -qE "^  settings: arenas=$want " "$err"; then echo "PASS: settings: $* -> $want arenas in effect"
  else echo "FAIL: settings: $*: want $want arenas in effect, got:"; sed 's/^/  /' "$err"; rc=1; fi
}

# The cases issue 19 found silently ignored.
one "lemmalloc: LEMMALLOC_ARENAS=abc is not a number; using $def_arenas" LEMMALLOC_ARENAS=abc
arenas "$def_arenas" LEMMALLOC_ARENAS=abc
one "lemmalloc: LEMMALLOC_TCACHE_BYTES=99999999999g is above the maximum 64m; using 64m" LEMMALLOC_TCACHE_BYTES=99999999999g
one "lemmalloc: LEMMALLOC_TCACHE_BYTES=99999999999 is above the maximum 64m; using 64m" LEMMALLOC_TCACHE_BYTES=99999999999
one "lemmalloc: LEMMALLOC_TCACHE_BYTES=18446744073709551616 is above the maximum 64m; using 64m" LEMMALLOC_TCACHE_BYTES=18446744073709551616
one "lemmalloc: LEMMALLOC_PURGE_MS=-1 is not a number of milliseconds; using 200" LEMMALLOC_PURGE_MS=-1
one "lemmalloc: LEMMALLOC_PURGE_MS=99999999 is above the maximum 3600000 (an hour); using 3600000" LEMMALLOC_PURGE_MS=99999999
one "lemmalloc: LEMMALLOC_HUGE_CACHE=12q is not a size (digits and an optional k, m or g); using 64m" LEMMALLOC_HUGE_CACHE=12q
one "lemmalloc: LEMMALLOC_ARENAS=65 is above the maximum 64; using 64" LEMMALLOC_ARENAS=65
arenas 64 LEMMALLOC_ARENAS=65
one "lemmalloc: LEMMALLOC_ON_ERROR=ignore is not warn or abort; using abort" LEMMALLOC_ON_ERROR=ignore
one "lemmalloc: LEMMALLOC_STATS=maybe is not 1/0, yes/no, true/false, on/off, text or json; using off" LEMMALLOC_STATS=maybe
one "lemmalloc: LEMMALLOC_STATS_SIGNAL=KILL is not a signal lemmalloc may take (USR1, USR2, HUP, WINCH or a number); using none" LEMMALLOC_STATS_SIGNAL=KILL
one "lemmalloc: LEMMALLOC_HEAPMAP_SIGNAL=KILL is not a signal lemmalloc may take (USR1, USR2, HUP, WINCH or a number); using none" LEMMALLOC_HEAPMAP_SIGNAL=KILL
one "lemmalloc: LEMMALLOC_HEAPMAP_SIGNAL=USR1 needs LEMMALLOC_HEAPMAP=FILE; using none" LEMMALLOC_HEAPMAP_SIGNAL=usr1
# The heap map and the statistics read the same signal names (config.c):
# one handler per signal, the heap map's.
one "lemmalloc: LEMMALLOC_STATS_SIGNAL=USR2 is also LEMMALLOC_HEAPMAP_SIGNAL; using none" \
    LEMMALLOC_STATS_SIGNAL=SIGUSR2 LEMMALLOC_HEAPMAP_SIGNAL=usr2 LEMMALLOC_HEAPMAP="$err.map"
rm -f "$err.map"
one "lemmalloc: LEMMALLOC_ARENA is not a lemmalloc setting (see README, Settings); ignored" LEMMALLOC_ARENA=2

# Good values say nothing.
quiet LEMMALLOC_ARENAS=2 LEMMALLOC_TCACHE_BYTES=64k LEMMALLOC_PURGE_MS=0 LEMMALLOC_HUGE_CACHE=1g \
      LEMMALLOC_ON_ERROR=warn LEMMALLOC_STATS=off LEMMALLOC_ARENAS= LEMMALLOC_CONF=purge_ms:100
arenas 3 LEMMALLOC_ARENAS=3

# Booleans.
for v in 1 yes true on YES On; do
  run LEMMALLOC_STATS=$v
  if grep -q '^lemmalloc stats' "$err" && [ "$(lines)" -eq 0 ]; then echo "PASS: settings: LEMMALLOC_STATS=$v is true"
  else echo "FAIL: settings: LEMMALLOC_STATS=$v: want the statistics and no complaint"; sed 's/^/  /' "$err"; rc=1; fi
done
for v in 0 no false off NO; do
  run LEMMALLOC_STATS=$v
  if [ ! -s "$err" ]; then echo "PASS: settings: LEMMALLOC_STATS=$v is false"
  else echo "FAIL: settings: LEMMALLOC_STATS=$v: want nothing"; sed 's/^/  /' "$err"; rc=1; fi
done

# LEMMALLOC_CONF, and the variables over it.
arenas 3 LEMMALLOC_CONF=arenas:3,purge_ms:100
arenas 2 LEMMALLOC_CONF=arenas:3 LEMMALLOC_ARENAS=2
arenas 3 "LEMMALLOC_CONF= arenas:3 , stats:1"
one "lemmalloc: LEMMALLOC_ARENAS=x is not a number; using 3" LEMMALLOC_CONF=arenas:3 LEMMALLOC_ARENAS=x
one "lemmalloc: LEMMALLOC_CONF arenas:many is not a number; using $def_arenas" LEMMALLOC_CONF=arenas:many,purge_ms:5
one "lemmalloc: LEMMALLOC_CONF colour:blue is not a setting (arenas, tcache_bytes, purge_ms, huge_cache, on_error, background, stats, stats_signal); ignored" \
    LEMMALLOC_CONF=arenas:2,colour:blue
one "lemmalloc: LEMMALLOC_CONF arenas is not key:value; ignored" LEMMALLOC_CONF=arenas
exit $rc
