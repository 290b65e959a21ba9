#!/usr/bin/env bash
# check-oracle: the oracle passes lemmalloc, glibc, jemalloc, mimalloc and
# tcmalloc (their documented deviations excused by profiles/), replays a
# trace recorded from a real multi-threaded program, and names the right
# property for every planted defect, with a minimized trace that replays to
# the same violation. Budget: about 20 s on 2 cores (under a minute when loaded).
# usage: check.sh ORACLE LIBLEMMALLOC BUILD_DIR
set -u
oracle=$1 lemmalloc=$2 out=$3/oracle
prof=tools/oracle/profiles
mkdir -p "$out"
rc=0
pass() { echo "PASS: $*"; }
fail() { echo "FAIL: $*"; rc=1; }

# run NAME ARGS...: the oracle must end with "result: pass".
run() {
  local name=$1 log="$out/$1.log"; shift
  if nice "$oracle" --timeout 120 --min-time 10 --min-out "$out/$name.min.trace" "$@" >"$log" 2>&1 &&
     grep -q '^result: pass' "$log"; then
    local dev; dev=$(grep -c '^deviation .*: seen' "$log")
    [ "$dev" -gt 0 ] && dev=", $dev kinds of documented deviation excused" || dev=""
    pass "oracle: $name passes ($(grep '^ops:' "$log" | cut -d' ' -f2-)$dev)"
  else
    tail -n 25 "$log"; fail "oracle: $name"
  fi
}

# The model itself: patterns, sampling, the interval set.
"$out/model_test" || rc=1

lib() { ldconfig -p | awk -v n="$1" '$1 == n {print $NF; exit}'; }

# The real allocators: serial with the footprint phase, then threaded.
targets=("lemmalloc|$lemmalloc|" "glibc|libc|$prof/glibc.profile")
for p in jemalloc:libjemalloc.so.2 mimalloc:libmimalloc.so.2 tcmalloc:libtcmalloc_minimal.so.4; do
  path=$(lib "${p#*:}")
  if [ -z "$path" ]; then fail "oracle: ${p#*:} not installed (scripts/deps.sh)"; continue; fi
  targets+=("${p%%:*}|$path|$prof/${p%%:*}.profile")
done
for t in "${targets[@]}"; do
  IFS='|' read -r name path profile <<<"$t"
  args=(--lib "$path"); [ -n "$profile" ] && args+=(--profile "$profile")
  run "$name-serial" "${args[@]}" --seed 1 --ops 100000
  run "$name-threads" "${args[@]}" --seed 2 --ops 50000 --threads 4 --no-footprint
done

# A trace recorded from a real program under lemmalloc replays everywhere.
trace=$out/traced.trace
if LEMMALLOC_TRACE=$trace LD_PRELOAD=$lemmalloc timeout 120 "$out/traced" >/dev/null && [ -s "$trace" ]; then
  pass "trace: LEMMALLOC_TRACE recorded $(stat -c %s "$trace") bytes from a 5-thread program"
  for t in "${targets[@]}"; do
    IFS='|' read -r name path profile <<<"$t"
    args=(--lib "$path" --replay "$trace" --no-footprint); [ -n "$profile" ] && args+=(--profile "$profile")
    run "$name-replay" "${args[@]}"
  done
else
  fail "trace: LEMMALLOC_TRACE=$trace produced no trace"
fi

# Each planted defect is caught, with the property it breaks named, and the
# minimized trace replays to the same property.
expect() {
  case $1 in
    OVERLAP) echo no-overlap ;; ALIGN) echo alignment ;; ERRNO) echo null-errno ;;
    CALLOC) echo calloc-zero ;; REALLOC) echo realloc-contents ;;
    REALLOCFAIL) echo realloc-fail-keeps ;; LEAK) echo footprint ;;
    OVERFLOW) echo must-fail ;; EINVALID) echo invalid-alignment ;; POISON) echo fill-intact ;;
  esac
}
run broken-OK --lib "$out/broken-OK.so" --seed 1 --ops 20000
for so in "$out"/broken-*.so; do
  d=${so##*/broken-}; d=${d%.so}
  [ "$d" = OK ] && continue
  want=$(expect "$d") log=$out/broken-$d.log min=$out/broken-$d.min.trace
  rm -f "$min"
  nice "$oracle" --timeout 120 --lib "$so" --seed 1 --ops 20000 --min-time 5 --min-out "$min" >"$log" 2>&1
  code=$?
  got=$(awk '/^result: violation/ {print $3}' "$log")
  if [ "$code" -ne 1 ] || [ "$got" != "$want" ]; then
    tail -n 15 "$log"; fail "broken-$d: expected a $want violation, got '${got:-none}' (exit $code)"
    continue
  fi
  if [ "$want" = footprint ]; then
    pass "broken-$d: caught as $got (footprint phase: $(grep '^  resident' "$log" | sed 's/^ *//'))"
    continue
  fi
  ops=$(awk '/^minimized:/ {print $2}' "$log")
  again=$("$oracle" --lib "$so" --replay "$min" --min-time 0 --min-out "$out/broken-$d.again.trace" \
          --no-footprint 2>&1 | awk '/^result: violation/ {print $3}')
  if [ "$again" = "$want" ]; then
    pass "broken-$d: caught as $got, minimized to $ops op(s) that replay to the same"
  else
    fail "broken-$d: minimized trace replays to '${again:-pass}', not $want"
  fi
done
exit $rc
