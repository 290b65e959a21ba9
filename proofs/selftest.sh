#!/usr/bin/env bash
# make verify-selftest: show that `make verify` fails on a weakened contract
# and on each bug planted in the core. Every case runs proofs/verify.sh in a
# scratch copy of the tree (src, include, spec, proofs) with one change:
#   - a contract weakened (an ensures deleted, in a header or the spec), or
#     a goal of a proof step deleted: caught by the digests recorded in
#     proofs/<name>.expected before any prover runs;
#   - the same weakening together with the bug it would hide;
#   - a bug planted by applying its patch (fuzz/plants/N-*.patch, the same
#     plants the fuzz self-test uses, fuzz/plants.txt; fuzz/plant.sh) to the
#     copy, or by a sed on a core source (the offset -> slot decode), the
#     contracts untouched: caught by the provers, on the function the bug
#     is in (VERIFY_FCT). A patch or sed that no longer applies is a FAIL of
#     its case, never a skip;
#   - dead code planted (a branch the contract makes unreachable): caught by
#     the smoke tests alone.
# A case passes when verify.sh exits non-zero with the expected kind of FAIL
# line. Last line: "N passed, M failed".
# Smoke tests are off (VERIFY_SMOKE=0) except in the dead-code case: they
# only add goals and FAIL lines, never take one away, so a case that fails
# without them fails with them too (as make verify runs), and they would
# cost about a minute more (each function's tests run both provers to the
# smoke timeout).
set -u
cd "$(dirname "$0")/.."
root=$PWD
work=$(mktemp -d "${TMPDIR:-/tmp}/lm-verify-selftest.XXXXXX")
trap 'rm -rf "$work"' EXIT
pass=0 fail=0

# case NAME EXPECT FILE SED [plant=N] [ENV...] -- VERIFY_ARGS...
#   FILE/SED: a file of the tree and the sed script applied to it (or - -)
#   plant=N: also apply planted bug N (fuzz/plant.sh apply)
#   EXPECT: an extended regexp the FAIL line must match
run_case() {
  local name=$1 expect=$2 file=$3 script=$4
  shift 4
  local envs=() plant=
  case ${1:-} in plant=*) plant=${1#plant=}; shift ;; esac
  while [ "$#" -gt 0 ] && [ "$1" != -- ]; do envs+=("$1"); shift; done
  shift
  local dir=$work/case$((pass + fail))
  mkdir -p "$dir"
  cp -r "$root/src" "$root/include" "$root/spec" "$root/proofs" "$dir/"
  if [ -n "$plant" ]; then
    local err
    if ! err=$("$root/fuzz/plant.sh" apply "$plant" "$dir" 2>&1); then
      echo "FAIL: verify-selftest: $name: plant $plant does not apply:"
      sed 's/^/  /' <<<"$err"
      fail=$((fail + 1))
      return
    fi
  fi
  if [ "$file" != - ]; then
    cp "$dir/$file" "$dir/$file.orig"
    sed -i -E "$script" "$dir/$file"
    if cmp -s "$dir/$file" "$dir/$file.orig"; then
      echo "FAIL: verify-selftest: $name: the change did not apply to $file"
      fail=$((fail + 1))
      return
    fi
  fi
  local start out rc
  start=$(date +%s)
  out=$(cd "$dir" && env VERIFY_SMOKE=0 "${envs[@]}" VERIFY_TICK=100000 proofs/verify.sh "$@" 2>&1)
  rc=$?
  local secs=$(( $(date +%s) - start ))
  local hit
  hit=$(grep -E '^FAIL: ' <<<"$out" | grep -E -m1 "$expect")
  if [ "$rc" -ne 0 ] && [ -n "$hit" ]; then
    echo "PASS: verify-selftest: $name: make verify fails (${secs}s): ${hit#FAIL: }"
    pass=$((pass + 1))
  else
    echo "FAIL: verify-selftest: $name: make verify exited $rc without a FAIL line matching '$expect'"
    grep -E '^(FAIL|PASS): ' <<<"$out" | tail -5 | sed 's/^/  /'
    fail=$((fail + 1))
  fi
}

# Weakened contracts: no prover needed, the digest catches them.
run_case "lm_slab_alloc without 'ensures was_free'" "lm_slab_alloc: the specification changed" \
  src/core/slab.h '/ensures was_free:/d' -- slab
run_case "lm_size_class without 'ensures fits' (size >= request)" "lm_size_class: the specification changed" \
  src/core/sizeclass.h '/ensures fits:/d' -- sizeclass
run_case "spec/slab.acsl: Allocated means nothing" "logic:Allocated: the specification changed" \
  spec/slab.acsl 's/^(\s*predicate Allocated\{L\}\(integer s, integer x\) =).*/\1 \\true;/' -- slab
# A weakening that once passed (377/377 goals): the not_allocated
# behaviours of lm_slab_free and lm_slab_free_slot deleted, with the double
# free they would hide planted.
run_case "lm_slab_free: not_allocated behaviours deleted + double free planted" \
  "the specification changed" \
  src/core/slab.h '/behavior not_allocated:/,/ensures not_allocated:/d' \
  plant=3 -- slab
# A proof step deleted: one goal fewer, caught by the goal names' digest.
run_case "an assert of lm_slab_alloc deleted" "lm_slab_alloc .*its goals changed" \
  src/core/slab.c '/assert lowest:/d' VERIFY_FCT=lm_slab_alloc -- slab

# Offset -> slot (lm_class_slot_of, sizeclass.c): the interior behaviour
# deleted (an interior pointer could then be accepted), caught by the digest.
run_case "lm_class_slot_of without 'ensures none' (interior offsets rejected)" \
  "lm_class_slot_of: the specification changed" \
  src/core/sizeclass.h '/ensures none:/d' -- sizeclass
# The malloc table (lm_size_class_table_fill): its postcondition deleted.
run_case "lm_size_class_table_fill without 'ensures filled'" \
  "lm_size_class_table_fill: the specification changed" \
  src/core/sizeclass.h '/ensures filled:/d' -- sizeclass

# Bugs planted, contracts untouched: the provers fail.
# The offset check loosened to accept any offset at or past the slot start
# (interior pointers freed as the slot), and the reciprocal of 1152 rounded
# down (a slot start at the top of a large offset would decode one slot
# low): sed on the copy's sizeclass.c.
run_case "lm_class_slot_of accepts an interior offset" "lm_class_slot_of .*unproved" \
  src/core/sizeclass.c 's/\* lm_class_size\(c\) == off \?/* lm_class_size(c) <= off ?/' \
  VERIFY_FCT=lm_class_slot_of -- sizeclass
run_case "the reciprocal of 1152 rounded down" "lm_class_magic .*unproved" \
  src/core/sizeclass.c 's/ 3728271,/ 3728270,/' VERIFY_FCT=lm_class_magic -- sizeclass
# The malloc table: its last entry (16384 bytes) never filled, and the
# lookup's index rounded wrong (a multiple of 16 gets the next class).
run_case "lm_size_class_table_fill misses the last entry" "lm_size_class_table_fill .*unproved" \
  src/core/sizeclass.c 's/i < LM_CLASS_TABLE_LEN; i\+\+/i < LM_CLASS_TABLE_LEN - 1; i++/' \
  VERIFY_FCT=lm_size_class_table_fill -- sizeclass
run_case "lm_size_class_lookup rounds n + 16 down" "lm_size_class_lookup .*unproved" \
  src/core/sizeclass.c 's/\(n \+ LM_QUANTUM - 1\) \/ LM_QUANTUM;/(n + LM_QUANTUM) \/ LM_QUANTUM;/' \
  VERIFY_FCT=lm_size_class_lookup -- sizeclass
# Dead code, contracts untouched: a defensive check that the contract makes
# unreachable (n > LM_SMALL_MAX under requires domain) planted at the top of
# lm_size_class_lookup. Every goal still proves (on a dead path anything
# does) and none is added; only the smoke tests, on in make verify, see it.
run_case "lm_size_class_lookup: a dead branch planted" "lm_size_class_lookup .*smoke test failed" \
  src/core/sizeclass.c 's/^  uint32_t i = \(n \+ LM_QUANTUM - 1\) \/ LM_QUANTUM;/  if (n > LM_SMALL_MAX)\n    return 0;\n&/' \
  VERIFY_SMOKE=1 VERIFY_FCT=lm_size_class_lookup -- sizeclass
run_case "plant 3: lm_slab_free accepts a double free" "lm_slab_free .*unproved" \
  - - plant=3 VERIFY_FCT=lm_slab_free -- slab
run_case "plant 1: lm_size_class off by one at multiples of 1 KiB" "lm_size_class .*unproved" \
  - - plant=1 VERIFY_FCT=lm_size_class -- sizeclass
run_case "plant 2: lm_buddy_free misses a merge with the buddy below" "lm_buddy_free .*unproved" \
  - - plant=2 VERIFY_FCT=lm_buddy_free VERIFY_TIMEOUT=5 -- buddy

# lm_buddy_check (its contract: true exactly when BuddyValid holds) with
# the alignment test of its tiling walk dropped: a misaligned head passes.
run_case "lm_buddy_check skips the alignment test" "check_tiling .*unproved" \
  src/core/buddy.c 's/if \(p % w != 0\) \{/if (0) {/' \
  VERIFY_FCT=check_tiling -- buddy

echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
