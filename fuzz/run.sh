#!/usr/bin/env bash
# Run one fuzz campaign and print one summary line; fuzz/fuzz.mk drives it.
#
#   fuzz/run.sh libfuzzer DRIVER SECONDS     libFuzzer, ASan+UBSan build
#   fuzz/run.sh afl DRIVER SECONDS [JOBS]    AFL++ (1 main + JOBS-1 secondaries)
#   fuzz/run.sh tsan DRIVER SECONDS          TSan build: replay the corpus, then
#                                            generated workloads (no engine: see
#                                            fuzz/replay.c)
#   fuzz/run.sh replay VARIANT DRIVER PATH...  replay files/dirs, PASS/FAIL line
#
# Corpora live in $FUZZ_CORPUS (default fuzz/out/corpus/DRIVER, shared by
# both engines, seeded from fuzz/seeds/DRIVER); crashes go to
# $FUZZ_CRASHES (default fuzz/out/crashes/DRIVER-ENGINE). Exit status is
# non-zero when anything crashed, with the input and how to replay it.
set -u
cd "$(dirname "$0")/.."
mode=$1 driver=$2
B=${FUZZ_BIN:-build/fuzz}
corpus=${FUZZ_CORPUS:-fuzz/out/corpus/$driver}
seeds=fuzz/seeds/$driver
mkdir -p "$corpus"

export ASAN_OPTIONS=${ASAN_OPTIONS:-abort_on_error=1:symbolize=0:detect_leaks=0:allocator_may_return_null=1:handle_abort=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-halt_on_error=1:abort_on_error=1:print_stacktrace=1}
export TSAN_OPTIONS=${TSAN_OPTIONS:-halt_on_error=1:abort_on_error=1:second_deadlock_stack=1}

replay_hint() { # file: how to see what the input does
  echo "  replay: LEMMALLOC_FUZZ_TRACE=1 $B/replay/fuzz_$driver $1"
}

case $mode in
libfuzzer)
  secs=$3
  crashes=${FUZZ_CRASHES:-fuzz/out/crashes/$driver-libfuzzer}
  mkdir -p "$crashes"
  log=$crashes/last.log
  # Symbolized stacks for a human reading the log.
  ASAN_OPTIONS=${ASAN_OPTIONS/symbolize=0/symbolize=1} \
  nice "$B/lf/fuzz_$driver" -max_total_time="$secs" -print_final_stats=1 -max_len=8192 \
    -timeout=20 -rss_limit_mb=2560 -dict=fuzz/ops.dict -artifact_prefix="$crashes/" \
    "$corpus" "$seeds" >"$log" 2>&1
  rc=$?
  execs=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -1)
  cov=$(grep -Eo 'cov: [0-9]+ ft: [0-9]+' "$log" | tail -1)
  found=$(ls "$crashes" | grep -Ec '^(crash|leak|timeout|oom)-')
  echo "fuzz: $driver libfuzzer ${secs}s: ${execs:-0} execs/s, ${cov:-cov: ?}, corpus $(ls "$corpus" | wc -l), exit $rc"
  if [ "$rc" -ne 0 ]; then
    grep -E 'contract violated|ERROR: |SUMMARY: ' "$log" | head -5 | sed 's/^/  /'
    a=$(ls -t "$crashes" | grep -E '^(crash|leak|timeout|oom)-' | head -1)
    [ -n "$a" ] && replay_hint "$crashes/$a"
    echo "  log: $log ($found crash inputs in $crashes)"
    exit 1
  fi
  ;;
afl)
  secs=$3 jobs=${4:-1}
  out=${FUZZ_AFL_OUT:-fuzz/out/afl/$driver}
  crashes=${FUZZ_CRASHES:-fuzz/out/crashes/$driver-afl}
  rm -rf "$out"; mkdir -p "$out" "$crashes"
  # Start from the seeds plus what libFuzzer found (small inputs only).
  in=$out/in; mkdir -p "$in"
  cp "$seeds"/* "$in"/ 2>/dev/null
  find "$corpus" -type f -size -4k 2>/dev/null | head -400 | xargs -r cp -t "$in"
  export LEMMALLOC_FUZZ_FAILLOG=$crashes/violations.log
  : >"$LEMMALLOC_FUZZ_FAILLOG"
  export AFL_NO_UI=1 AFL_SKIP_CPUFREQ=1 AFL_I_DONT_CARE_ABOUT_MISSING_CRASHES=1 \
         AFL_NO_AFFINITY=1 AFL_QUIET=1 AFL_SKIP_CRASHES=0
  pids=()
  for j in $(seq 1 "$jobs"); do
    if [ "$j" -eq 1 ]; then role=(-M main); else role=(-S "s$j"); fi
    nice afl-fuzz "${role[@]}" -i "$in" -o "$out" -V "$secs" -m none -t 5000 \
      -x fuzz/ops.dict -- "$B/afl/fuzz_$driver" >"$out/afl-$j.log" 2>&1 &
    pids+=($!)
  done
  rc=0
  for p in "${pids[@]}"; do wait "$p" || rc=$?; done
  execs=0 edges=0 cvg="" n=0
  for st in "$out"/*/fuzzer_stats; do
    [ -f "$st" ] || continue
    e=$(awk -F': *' '$1 ~ /^execs_per_sec/ {print $2}' "$st")
    execs=$(awk -v a="$execs" -v b="${e:-0}" 'BEGIN {printf "%.0f", a + b}')
    g=$(awk -F': *' '$1 ~ /^edges_found/ {print $2}' "$st"); [ "${g:-0}" -gt "$edges" ] && edges=$g
    cvg=$(awk -F': *' '$1 ~ /^bitmap_cvg/ {print $2}' "$st")
  done
  for c in "$out"/*/crashes/id:*; do [ -f "$c" ] && { cp "$c" "$crashes/"; n=$((n + 1)); }; done
  # Share what AFL++ found with libFuzzer's corpus.
  for q in "$out"/*/queue/id:*; do [ -f "$q" ] && cp "$q" "$corpus/afl-$(cksum <"$q" | cut -d' ' -f1)"; done
  echo "fuzz: $driver afl++ ${secs}s x $jobs: $execs execs/s, edges $edges (bitmap ${cvg:-?}), $n crashes"
  if [ "$n" -gt 0 ] || [ ! -f "$out/main/fuzzer_stats" ]; then
    [ ! -f "$out/main/fuzzer_stats" ] && { echo "  afl-fuzz did not run:"; tail -5 "$out/afl-1.log" | sed 's/^/  /'; }
    [ -s "$crashes/violations.log" ] && sort "$crashes/violations.log" | uniq -c | sort -rn | head -5 | sed 's/^/  /'
    first=$(ls "$crashes" 2>/dev/null | grep '^id:' | head -1)
    [ -n "$first" ] && replay_hint "$crashes/$first"
    exit 1
  fi
  ;;
tsan)
  secs=$3
  crashes=${FUZZ_CRASHES:-fuzz/out/crashes/$driver-tsan}
  mkdir -p "$crashes"
  log=$crashes/last.log
  seed=$(( $(date +%s) % 1000000007 ))
  { nice "$B/tsan/fuzz_$driver" "$seeds" "$corpus" -seconds="$secs" -seed="$seed" >"$log" 2>&1; } 2>/dev/null
  rc=$?
  files=$(sed -n 's/^replay: \([0-9]* inputs\).*/\1/p' "$log" | tail -1)
  line=$(grep -Eo '[0-9]+ generated workloads.*' "$log" | tail -1)
  echo "fuzz: $driver tsan ${secs}s: ${files:-0 inputs} replayed, ${line:-no time left to generate}, exit $rc"
  if [ "$rc" -ne 0 ]; then
    grep -E 'contract violated|WARNING: ThreadSanitizer|SUMMARY: |replay: seed' "$log" | tail -5 | sed 's/^/  /'
    echo "  log: $log (seed $seed; rerun: $B/tsan/fuzz_$driver -seconds=$secs -seed=$seed)"
    exit 1
  fi
  ;;
replay)
  # All inputs in one process; if that fails, one process per file so that
  # every failing input is named, not only the first.
  variant=$3; shift 3
  bin=$B/$variant/fuzz_$driver
  mkdir -p build/fuzz
  log=$(mktemp build/fuzz/replay-$variant-$driver.XXXXXX) # concurrent checks: own file
  if { "$bin" "$@" >"$log" 2>&1; } 2>/dev/null; then
    echo "PASS: fuzz replay ($variant) $driver: $(grep -Eo '[0-9]+ inputs' "$log" | tail -1) from $*"
    rm -f "$log"
    exit 0
  fi
  rc=0
  for f in $(find "$@" -maxdepth 1 -type f ! -name '.*' | sort); do
    if ! { "$bin" "$f" >"$log" 2>&1; } 2>/dev/null; then
      echo "FAIL: fuzz replay ($variant) $driver: $f"
      grep -E 'contract violated|ERROR: |WARNING: ThreadSanitizer|SUMMARY: ' "$log" | head -3 | sed 's/^/  /'
      echo "  trace it: LEMMALLOC_FUZZ_TRACE=1 $bin $f"
      rc=1
    fi
  done
  [ "$rc" -eq 0 ] && echo "FAIL: fuzz replay ($variant) $driver: failed together, passed one by one (state leaking between inputs?)"
  exit 1
  ;;
*)
  echo "usage: fuzz/run.sh libfuzzer|afl|tsan|replay ..." >&2
  exit 2
  ;;
esac
