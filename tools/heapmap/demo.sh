#!/usr/bin/env bash
# Heap maps of the multi-threaded bloat workload under lemmalloc, for
# `make demo`: one snapshot taken by a signal in the middle of the run, one
# at exit, each drawn by render.py.
#   tools/heapmap/demo.sh [OUTDIR=build/demo] [SECONDS=1.0]
# Writes OUTDIR/heapmap-mid.{txt,png,html} and OUTDIR/heapmap-exit.{txt,png,html}
# and prints the totals of both. Needs build/liblemmalloc.so, build/bench/bloat
# and Pillow for /usr/bin/python3 (python3-pil: scripts/deps.sh).
set -eu
cd "$(dirname "$0")/../.."
out=${1:-build/demo}
at=${2:-1.0}
lib=${LEMMALLOC_LIB:-build/liblemmalloc.so} bloat=build/bench/bloat
py=python3; [ -x /usr/bin/python3 ] && py=/usr/bin/python3
for f in "$lib" "$bloat"; do [ -x "$f" ] || [ -f "$f" ] || { echo "heapmap demo: $f missing (make all bench-build)" >&2; exit 1; }; done
mkdir -p "$out"
# One run of bloat 8 4000: a snapshot at $at seconds (%n = 0) and at exit (%n = 1).
rm -f "$out"/heapmap-[01].txt
LEMMALLOC_HEAPMAP="$out/heapmap-%n.txt" LEMMALLOC_HEAPMAP_SIGNAL=USR1 LD_PRELOAD=$lib "$bloat" 8 4000 >/dev/null &
pid=$!
sleep "$at"
kill -USR1 "$pid" 2>/dev/null || true
wait "$pid"
mv "$out/heapmap-0.txt" "$out/heapmap-mid.txt"
mv "$out/heapmap-1.txt" "$out/heapmap-exit.txt"
for when in mid exit; do
  snap=$out/heapmap-$when.txt
  "$py" tools/heapmap/render.py "$snap" -o "$out/heapmap-$when.png"
  "$py" tools/heapmap/render.py "$snap" -o "$out/heapmap-$when.html"
  echo "-- heap map, $when of run ($out/heapmap-$when.png, .html; snapshot: $snap)"
  "$py" tools/heapmap/render.py "$snap" | grep -v '^chunk \|^class ' | sed 1d
done
