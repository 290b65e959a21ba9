#!/usr/bin/env bash
# check-oracle: the oracle passes lemmalloc, glibc, jemalloc, mimalloc and
# tcmalloc (their documented deviations excused by profiles/), replays a
# trace recorded from a real multi-threaded program, and names the right
# property for every planted defect, with a minimized trace that replays to
# the same violation. Then its command line: --help, number validation,
# honest op counts when it stops early, --json, --keep-going (every property
# with its own minimized trace) and --prefix (mimalloc's mi_ names, a renamed
# allocator). Budget: about 30 s on 2 cores (under a minute when loaded).
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

# ---- the command line ------------------------------------------------------
res=$("$oracle" --help); code=$?
[ $code -eq 0 ] && grep -q -- '--keep-going' <<<"$res" && grep -q '^usage: lemmalloc-oracle' <<<"$res" &&
  pass "cli: --help prints the usage on stdout, exit 0" || fail "cli: --help: exit $code"
for bad in "--ops abc" "--ops 10x" "--ops -1" "--seed 1.5" "--threads 0" "--threads 99" "--rounds 2" \
           "--timeout 0" "--min-time soon" "--prefix a-b" "--frobnicate" "stray" "--replay x --ops 5"; do
  # shellcheck disable=SC2086
  err=$("$oracle" --lib libc $bad 2>&1 >/dev/null); code=$?
  if [ $code -eq 2 ] && grep -q '^lemmalloc-oracle: ' <<<"$err"; then pass "cli: '$bad' refused (exit 2): ${err%%$'\n'*}"
  else fail "cli: '$bad': exit $code, '$err'"; fi
done

je=$(lib libjemalloc.so.2)
if [ -n "$je" ]; then
  # Honest counts: without a profile jemalloc breaks null-errno at op 7.
  log=$out/je-stop.log
  nice "$oracle" --lib "$je" --min-time 2 --min-out "$out/je-stop.trace" >"$log" 2>&1
  if grep -q '^time: .* for 8 of 100032 ops.*stopped early: at the first violation' "$log" &&
     grep -q '^calloc-zero  *0  not reached (stopped early)' "$log"; then
    pass "counts: stopped at op 7 says 8 of 100032 ops, stopped early, and 'not reached'"
  else tail -n 20 "$log"; fail "counts: jemalloc without a profile"; fi
  # --keep-going: every property jemalloc breaks, each minimized and replayable.
  log=$out/je-kg.log
  rm -f "$out"/je-kg-*.trace
  nice "$oracle" --lib "$je" --keep-going --min-time 5 --min-out "$out/je-kg.trace" >"$log" 2>&1; code=$?
  props=$(awk '/^result: violation/ {print $3}' "$log" | sort | tr '\n' ' ')
  if [ $code -eq 1 ] && [ "$props" = "alignment null-errno " ] && grep -q '^time: .* for 98036 of 100032 ops .*; 1996 skipped$' "$log"; then
    pass "keep-going: jemalloc without a profile: $props(the two its profile excuses), ran every op"
  else tail -n 30 "$log"; fail "keep-going: jemalloc: want alignment and null-errno over every op, got '$props' (exit $code)"; fi
  for p in null-errno alignment; do
    t=$out/je-kg-$p.trace
    again=$("$oracle" --lib "$je" --replay "$t" --keep-going --no-footprint --min-time 0 --min-out "$out/again.trace" 2>&1 |
            awk '/^result: violation/ {print $3}' | head -1)
    [ -s "$t" ] && [ "$again" = "$p" ] && pass "keep-going: $p has its own minimized trace ($(awk -v p="$p" '/^minimized:/ && $0 ~ p {print $2}' "$log") ops) that replays to $p" ||
      fail "keep-going: $t replays to '${again:-pass}', not $p"
  done
  # --json: one object, parsed; the same facts.
  nice "$oracle" --lib "$je" --keep-going --json --min-time 2 --min-out "$out/je-json.trace" >"$out/je.json" 2>"$out/je.json.err"
  if python3 -m json.tool "$out/je.json" >/dev/null && python3 - "$out/je.json" <<'PY'
import json, sys
o = json.load(open(sys.argv[1]))
v = sorted(x["property"] for x in o["violations"])
props = {p["name"]: p["result"] for p in o["properties"]}
assert o["result"] == "violation" and v == ["alignment", "null-errno"], v
assert o["ops_run"] == 98036 and o["ops_skipped"] == 1996 and o["sequence"]["ops"] == 100032, o
assert props["null-errno"] == "violated" and props["calloc-zero"] == "ok" and len(props) == 14, props
assert all(x["trace"] and x["minimized_ops"] >= 1 for x in o["violations"]), o["violations"]
assert o["missing"] == ["reallocarray", "pvalloc", "malloc_trim"], o["missing"]
PY
  then pass "json: --json --keep-going on jemalloc: one object, violations, counts and properties as in the text"
  else head -c 600 "$out/je.json" "$out/je.json.err"; echo; fail "json: jemalloc"; fi
fi
nice "$oracle" --lib "$lemmalloc" --json --ops 20000 >"$out/lm.json" 2>&1
if python3 -c 'import json,sys; o=json.load(open(sys.argv[1])); sys.exit(not (o["result"]=="pass" and o["ops_run"]==o["sequence"]["ops"] and not o["stopped_early"] and o["footprint"]))' "$out/lm.json"
then pass "json: lemmalloc passes, every op run, footprint phase reported"
else head -c 600 "$out/lm.json"; echo; fail "json: lemmalloc"; fi

# --prefix: mimalloc's own mi_ names, and an allocator that has only bk_ names.
mi=$(lib libmimalloc.so.2)
if [ -n "$mi" ]; then
  run mimalloc-prefix --lib "$mi" --prefix mi_ --profile "$prof/mimalloc.profile" --seed 3 --ops 50000
  grep -q '^target: libmimalloc.so.2 (mi_\*) (missing, skipped: mi_malloc_trim)' "$out/mimalloc-prefix.log" &&
    pass "prefix: mi_malloc, mi_free, ... were the functions driven" || fail "prefix: mimalloc target line: $(head -1 "$out/mimalloc-prefix.log")"
fi
err=$("$oracle" --lib "$out/prefixed-REALLOC.so" 2>&1); code=$?
[ $code -eq 2 ] && grep -q 'does not define malloc' <<<"$err" && pass "prefix: a bk_-only allocator without --prefix: load error, exit 2" ||
  fail "prefix: bk_ allocator without --prefix: exit $code, '$err'"
run prefixed-OK --lib "$out/prefixed-OK.so" --prefix bk_ --seed 1 --ops 20000
got=$("$oracle" --lib "$out/prefixed-REALLOC.so" --prefix bk_ --ops 20000 --min-time 2 --min-out "$out/prefixed.trace" 2>&1 |
      awk '/^result: violation/ {print $3}')
[ "$got" = realloc-contents ] && pass "prefix: --prefix bk_ catches the bk_realloc defect (realloc-contents)" ||
  fail "prefix: --prefix bk_ on the broken bk_ allocator: '${got:-pass}'"
exit $rc
