#!/usr/bin/env bash
# Show that the fuzzers bite: for each bug in fuzz/plants.txt, copy the tree
# to a scratch directory, apply the bug's patch there (fuzz/plant.sh: a
# patch that does not apply is a FAIL, never a skip), build the libFuzzer
# drivers from that copy (fuzz/build.sh with FUZZ_SRC_ROOT) and run them
# from the committed seeds (fresh corpus) until one reports it, at most
# SECONDS per driver. Prints PASS/FAIL per bug with the driver, the time
# and the violation.
#   fuzz/selftest.sh [SECONDS] [n ...]
set -u
cd "$(dirname "$0")/.."
secs=${1:-120}; shift || true
only=" $* "
rc=0
for n in "$@"; do
  if ! awk -F'|' -v n="$n" '$1 == n { f = 1 } END { exit !f }' fuzz/plants.txt; then
    echo "FAIL: plant $n: not in fuzz/plants.txt"; rc=1
  fi
done
while IFS='|' read -r n patch drivers what; do
  case $n in ''|\#*) continue ;; esac
  [ "$only" != "  " ] && [[ "$only" != *" $n "* ]] && continue
  dir=build/fuzz/plant-$n
  tree=$PWD/$dir/tree
  mkdir -p build/fuzz
  rm -rf "$tree"
  if ! err=$(fuzz/plant.sh copy "$n" "$tree" 2>&1); then
    echo "FAIL: plant $n ($what): $patch does not apply, nothing was run:"
    sed 's/^/  /' <<<"$err"
    rc=1; continue
  fi
  if ! FUZZ_SRC_ROOT=$tree CC=clang CXX=clang++ \
       CFLAGS="-O1 -g -fno-omit-frame-pointer -fsanitize=address,undefined -fno-sanitize-recover=all -fsanitize=fuzzer-no-link" \
       FUZZ_DRIVER_CFLAGS="-fno-sanitize-coverage=trace-cmp" LIB_FUZZING_ENGINE=-fsanitize=fuzzer \
       FUZZ_DRIVERS="$drivers" OUT=$dir \
       fuzz/build.sh >"$dir.build.log" 2>&1; then
    echo "FAIL: plant $n ($what): build failed, see $dir.build.log"; rc=1; continue
  fi
  found=""
  for d in $drivers; do
    work=$dir/run-$d; rm -rf "$work"; mkdir -p "$work/corpus"
    start=$(date +%s)
    { ASAN_OPTIONS=abort_on_error=1:detect_leaks=0:allocator_may_return_null=1:symbolize=0 \
      UBSAN_OPTIONS=halt_on_error=1:abort_on_error=1 \
      nice "$dir/fuzz_$d" -max_total_time="$secs" -max_len=8192 -timeout=20 -dict=fuzz/ops.dict \
        -artifact_prefix="$work/" "$work/corpus" "fuzz/seeds/$d" >"$work/log" 2>&1; } 2>/dev/null
    status=$?
    t=$(( $(date +%s) - start ))
    if [ "$status" -ne 0 ]; then
      why=$(grep -m1 -E 'contract violated|^lemmalloc: |ERROR: (AddressSanitizer|UndefinedBehavior|libFuzzer)|runtime error' "$work/log")
      found="found by $d (libFuzzer) in ${t}s: ${why#lemmalloc fuzz: }"
      break
    fi
  done
  if [ -n "$found" ]; then echo "PASS: plant $n ($what): $found"
  else echo "FAIL: plant $n ($what): not found by $drivers in ${secs}s each"; rc=1; fi
done < fuzz/plants.txt
exit $rc
