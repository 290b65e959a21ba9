#!/usr/bin/env bash
# Heap maps of the multi-threaded bloat workload under lemmalloc, for
# `make demo`: one taken by a signal in the middle of the run, one at exit.
#   tools/heapmap/demo.sh [OUTDIR=build/demo] [SECONDS=1.0]
# Writes OUTDIR/heapmap-mid.{png,txt} and OUTDIR/heapmap-exit.{png,txt} and
# prints the totals of both. Needs build/liblemmalloc.so and build/bench/bloat.
set -eu
cd "$(dirname "$0")/../.."
out=${1:-build/demo}
at=${2:-1.0}
lib=${LEMMALLOC_LIB:-build/liblemmalloc.so} bloat=build/bench/bloat
for f in "$lib" "$bloat"; do [ -x "$f" ] || [ -f "$f" ] || { echo "heapmap demo: $f missing (make all bench-build)" >&2; exit 1; }; done
mkdir -p "$out"
run() { # EXT: one run of bloat 8 4000, a map at $at seconds (%n = 0) and at exit (%n = 1)
  rm -f "$out"/heapmap-[01]."$1"
  LEMMALLOC_HEAPMAP="$out/heapmap-%n.$1" LEMMALLOC_HEAPMAP_SIGNAL=USR1 LD_PRELOAD=$lib "$bloat" 8 4000 >/dev/null &
  local pid=$!
  sleep "$at"
  kill -USR1 "$pid" 2>/dev/null || true
  wait "$pid"
  mv "$out/heapmap-0.$1" "$out/heapmap-mid.$1"
  mv "$out/heapmap-1.$1" "$out/heapmap-exit.$1"
}
run png
run txt
for when in mid exit; do
  echo "-- heap map, $when of run ($out/heapmap-$when.png; text: $out/heapmap-$when.txt)"
  grep -v '^chunk ' "$out/heapmap-$when.txt" | sed 1d
done
