#!/usr/bin/env bash
# make demo: on a fresh machine, install what is needed, build lemmalloc and
# the workloads, then show glibc and lemmalloc side by side on the
# multi-threaded bloat workload (bench/demo.py does the measuring).
# Under two minutes on 2 cores once the packages are installed.
set -eu
cd "$(dirname "$0")/.."
start=$(date +%s)
echo "== 1/3 dependencies (scripts/deps.sh)"
scripts/deps.sh
echo "== 2/3 build (make all bench-build)"
make --no-print-directory -s -j2 all bench-build
echo "== 3/3 bloat workload: glibc vs lemmalloc"
/usr/bin/python3 bench/demo.py
echo "demo: done in $(( $(date +%s) - start )) s"
