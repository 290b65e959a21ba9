#!/usr/bin/env bash
# make demo: on a fresh machine, install what is needed, build lemmalloc and
# the workloads, then show glibc and lemmalloc side by side on the
# multi-threaded bloat workload (bench/demo.py does the measuring).
# Under two minutes on 2 cores once the packages are installed.
set -eu
cd "$(dirname "$0")/.."
start=$(date +%s)
echo "== 1/4 dependencies (scripts/deps.sh)"
scripts/deps.sh
echo "== 2/4 build (make all bench-build)"
make --no-print-directory -s -j2 all bench-build
echo "== 3/4 bloat workload: glibc vs lemmalloc"
/usr/bin/python3 bench/demo.py
echo "== 4/4 where the memory went: lemmalloc's heap map, mid-run and at exit"
tools/heapmap/demo.sh build/demo
echo "demo: done in $(( $(date +%s) - start )) s"
