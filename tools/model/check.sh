#!/usr/bin/env bash
# check-model: one model, two checkers. lemmalloc built with a planted
# contract bug (plant 8, fuzz/plants/8-realloc-short-copy.patch: a moving realloc copies one byte fewer than
# min(old, new)) is run through
#   - the oracle (build/lemmalloc-oracle --lib the planted .so), and
#   - the fuzz replay of the committed corpus (tests/regress and
#     fuzz/seeds/api through the planted fuzz_api, no engine), and
#   - the API test (tests/api/api.c) with the planted library preloaded;
# all must fail and name the same property, realloc-contents, which only
# tools/model/malloc_model.c (lm_model_realloc) decides. Prints PASS/FAIL.
# usage: check.sh ORACLE PLANTED_SO PLANTED_FUZZ_API OUT_DIR API_TEST
set -u
oracle=$1 so=$2 fuzz=$3 out=$4 api=$5
want=realloc-contents
mkdir -p "$out"
rc=0

log=$out/oracle-plant.log
nice "$oracle" --lib "$so" --seed 1 --ops 20000 --no-footprint --min-time 5 \
  --min-out "$out/oracle-plant.trace" >"$log" 2>&1
code=$?
got=$(awk '/^result: violation/ {print $3}' "$log")
if [ $code -eq 1 ] && [ "$got" = "$want" ]; then
  echo "PASS: model: the oracle catches plant 8 in lemmalloc as $got ($(grep -m1 '^VIOLATION' "$log" | cut -c1-90))"
else
  tail -n 15 "$log"; echo "FAIL: model: oracle on plant 8: expected $want, got '${got:-none}' (exit $code)"; rc=1
fi

# The replay: every committed input in one process, as make check-fuzz does.
log=$out/fuzz-plant.log
{ ASAN_OPTIONS=abort_on_error=1:symbolize=0:detect_leaks=0:allocator_may_return_null=1:handle_abort=1 \
  nice "$fuzz" tests/regress fuzz/seeds/api >"$log" 2>&1; } 2>/dev/null
code=$?
line=$(grep -m1 'contract violated' "$log")
if [ $code -ne 0 ] && [[ "$line" == *": $want ("* ]]; then
  echo "PASS: model: the fuzz replay catches plant 8 as $want (${line#lemmalloc fuzz: })" | cut -c1-200
else
  tail -n 5 "$log"; echo "FAIL: model: fuzz replay on plant 8: expected a $want violation, got '${line:-exit $code}'"; rc=1
fi

# The oracle's trace, minimized, replays through the fuzz driver too: the
# two checkers speak the same codec (src/api/ops.h) and the same model.
if [ -s "$out/oracle-plant.trace" ]; then
  line=$(ASAN_OPTIONS=abort_on_error=1:symbolize=0:detect_leaks=0:allocator_may_return_null=1 \
         "$fuzz" "$out/oracle-plant.trace" 2>&1 | grep -m1 'contract violated')
  if [[ "$line" == *": $want ("* ]]; then
    echo "PASS: model: the oracle's minimized trace, replayed by fuzz_api, breaks $want there too"
  else
    echo "FAIL: model: the oracle's minimized trace through fuzz_api: '${line:-passed}'"; rc=1
  fi
fi

log=$out/api-plant.log
{ LD_PRELOAD=$(realpath "$so") timeout 300 "$api" >"$log" 2>&1; } 2>/dev/null
code=$?
line=$(grep -m1 -E ": [a-z-]+ \((C23|POSIX|glibc|lemmalloc), " "$log")
if [ $code -ne 0 ] && [[ "$line" == *": $want ("* ]]; then
  echo "PASS: model: the API test catches plant 8 as $want ($(grep -c '^FAIL' "$log") tests fail)"
else
  tail -n 5 "$log"; echo "FAIL: model: API test on plant 8: expected a $want failure, got '${line:-exit $code}'"; rc=1
fi
exit $rc
