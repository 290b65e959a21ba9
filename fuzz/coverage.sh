#!/usr/bin/env bash
# make fuzz-coverage: line and branch coverage of src/ by the committed fuzz
# inputs (fuzz/seeds/DRIVER/ through their driver, tests/regress/ through
# every driver), with clang's source-based coverage. No fuzzing: the replay
# engine (fuzz/replay.c) runs each file once, so the inputs are fixed; only
# the threads driver's interleavings and the purge decay's timing vary
# (fuzz/uncovered.txt marks the functions where that shows: "(varies)").
#
#   fuzz/coverage.sh          build, replay, merge, report, check
#
# Writes build/fuzz-coverage/: html/index.html (the annotated sources),
# report.txt (llvm-cov's per-file table), export.json and lcov.info, and
# prints one summary line per layer plus the total. Then
# fuzz/coverage.py checks that every uncovered line of src/heap and src/api
# is accounted for in fuzz/uncovered.txt, and fails naming each one that is
# not (FILE:LINE: FUNCTION).
#
# Environment: FUZZ_COVERAGE_DIR (build/fuzz-coverage), LLVM_PROFDATA and
# LLVM_COV (found: the -14 binaries, or the unversioned ones).
set -eu
cd "$(dirname "$0")/.."
start=$(date +%s)
DIR=${FUZZ_COVERAGE_DIR:-build/fuzz-coverage}

find_tool() { # name: the versioned binary matching clang, else any
  local v
  v=$(clang --version 2>/dev/null | sed -n 's/.*clang version \([0-9]*\).*/\1/p' | head -1)
  for t in "$1-$v" "$1-14" "$1"; do
    command -v "$t" >/dev/null 2>&1 && { echo "$t"; return; }
  done
  echo "fuzz-coverage: $1 not found (Debian: apt-get install llvm-14; make deps does it)" >&2
  exit 1
}
PROFDATA=${LLVM_PROFDATA:-$(find_tool llvm-profdata)} || exit 1
COV=${LLVM_COV:-$(find_tool llvm-cov)} || exit 1

# 1. The three drivers with the replay engine, every file (lemmalloc's and
# the drivers') instrumented; the report keeps src/ only. -O0 so that lines
# map to code one to one. No sanitizer: check-fuzz replays the same inputs
# under ASan, UBSan and TSan.
bin=$DIR/bin
mkdir -p "$bin"
if ! CC=clang CXX=clang++ CFLAGS="-O0 -g -fprofile-instr-generate -fcoverage-mapping" \
     LIB_FUZZING_ENGINE=replay OUT="$bin" WORK="$DIR/obj" fuzz/build.sh >"$DIR/build.log" 2>&1; then
  tail -20 "$DIR/build.log"
  echo "FAIL: fuzz-coverage: build of the instrumented drivers (log: $DIR/build.log)"
  exit 1
fi

# 2. Replay: each driver its own seeds and every regression input, as
# check-fuzz does. One profile per process. The drivers purge after 1 ms
# (exec.c), so whether a decay falls between two ops depends on timing;
# the api and threads drivers also run with purging at once (0) and never
# within a run (an hour), the two deterministic ends, so that what is
# covered does not depend on the machine's speed.
prof=$DIR/profiles
rm -rf "$prof" && mkdir -p "$prof"
inputs=0
replay() { # driver purge_ms ("" = the driver's 1 ms)
  local d=$1 log=$DIR/replay-$1-${2:-1}.log n
  local env=(env -u LEMMALLOC_PURGE_MS) # unset: the driver sets 1 ms (set but empty would mean the default)
  [ -n "$2" ] && env=(env LEMMALLOC_PURGE_MS="$2")
  # The core driver prints each op as it runs (the crash-triage trace,
  # fuzz/README.md): that reaches the codec's lm_op_format.
  [ "$d" = core ] && env+=(LEMMALLOC_FUZZ_TRACE=1)
  if ! "${env[@]}" LLVM_PROFILE_FILE="$prof/$d-%p.profraw" \
       "$bin/fuzz_$d" tests/regress "fuzz/seeds/$d" >"$log" 2>&1; then
    tail -5 "$log"
    echo "FAIL: fuzz-coverage: replay through fuzz_$d, LEMMALLOC_PURGE_MS=${2:-1} (log: $log)"
    exit 1
  fi
  n=$(sed -n 's/^replay: \([0-9]*\) inputs.*/\1/p' "$log" | tail -1)
  inputs=$((inputs + ${n:-0}))
}
replay core ""
for d in api threads; do
  for ms in "" 0 3600000; do replay $d "$ms"; done
done
# The threads driver's interleavings vary from run to run, and so do a few
# lines only races reach (fuzz/uncovered.txt, "(varies)"): a second pass
# adds its coverage to the first, so that the check fails on a line no
# longer reached, not on one interleaving's bad luck.
for ms in "" 0; do replay threads "$ms"; done

# 3. Merge and report.
"$PROFDATA" merge -sparse -o "$DIR/merged.profdata" "$prof"/*.profraw
objs=(-instr-profile="$DIR/merged.profdata" "$bin/fuzz_api" -object "$bin/fuzz_threads" -object "$bin/fuzz_core")
srcs=$(find src -name '*.[ch]' | sort)
rm -rf "$DIR/html"
# shellcheck disable=SC2086
"$COV" show "${objs[@]}" -format=html -output-dir="$DIR/html" -show-line-counts-or-regions \
  -show-branches=count -show-expansions -project-title=lemmalloc $srcs
# shellcheck disable=SC2086
"$COV" report "${objs[@]}" -show-region-summary=false $srcs >"$DIR/report.txt"
# shellcheck disable=SC2086
"$COV" export "${objs[@]}" -format=text $srcs >"$DIR/export.json"
# shellcheck disable=SC2086
"$COV" export "${objs[@]}" -format=lcov $srcs >"$DIR/lcov.info"

# 4. Summary line and the check against fuzz/uncovered.txt.
rc=0
python3 fuzz/coverage.py "$DIR" fuzz/uncovered.txt || rc=$?
echo "fuzz-coverage: $inputs inputs replayed in $(( $(date +%s) - start )) s; report $DIR/html/index.html"
exit $rc
