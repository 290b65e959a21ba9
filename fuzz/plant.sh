#!/usr/bin/env bash
# Planted bugs live in patch files (fuzz/plants/N-name.patch, listed in
# fuzz/plants.txt), never in src/: the shipped and proven sources carry no
# planted code. The self-tests (fuzz/selftest.sh, proofs/selftest.sh) copy
# the tree into a scratch directory and apply one patch there.
#
#   fuzz/plant.sh copy N DIR    copy src/, include/ and spec/ into DIR (made
#                               if missing) and apply plant N there
#   fuzz/plant.sh apply N DIR   apply plant N to DIR, which holds a copy of
#                               the tree (src/ at least)
#   fuzz/plant.sh patch N       print plant N's patch file
#   fuzz/plant.sh check         every plant of fuzz/plants.txt applies to
#                               this tree, exactly (dry run): PASS/FAIL lines
#
# A patch that does not apply exactly (no fuzz; offsets are fine) is an
# error: the command says so and exits non-zero, it never goes on without
# the bug. When src/ changes under a plant, edit the patch (apply it with
# `patch -p1` in a scratch copy, fix the code, `diff -u` again).
set -u
cd "$(dirname "$0")/.."
root=$PWD

die() { echo "plant.sh: $*" >&2; exit 2; }

# patch_of N: the patch file plants.txt names for N (fields n|patch|...).
patch_of() {
  local n=$1 p
  p=$(awk -F'|' -v n="$n" '$1 == n { print $2; exit }' fuzz/plants.txt)
  [ -n "$p" ] || die "plant $n is not in fuzz/plants.txt"
  [ -f "$p" ] || die "plant $n: $p (fuzz/plants.txt) does not exist"
  grep -q '^@@ ' "$p" || die "plant $n: $p has no hunk"
  echo "$p"
}

# unique PATCH DIR: each hunk's old text (context and removed lines) occurs
# exactly once in its file under DIR, so that patch cannot apply it at an
# offset to a look-alike place (lm_slab_free and lm_slab_free_slot end alike).
unique() {
  python3 - "$1" "$2" <<'PY'
import re, sys
patch, root = sys.argv[1], sys.argv[2]
ok, name, hunks = True, None, []
def flush():
    global ok
    if name is None:
        return
    text = open(f"{root}/{name}").read()
    for i, old in enumerate(hunks, 1):
        k = text.count("".join(old))
        if k == 0:
            print(f"{name}: hunk {i} of {patch} is not found (the code changed: refresh the patch)")
        elif k > 1:
            print(f"{name}: hunk {i} of {patch} matches {k} places (add context to the hunk)")
        if k != 1:
            ok = False
for line in open(patch):
    if line.startswith("--- "):
        continue
    if line.startswith("+++ "):
        flush()
        name, hunks = line[4:].split("\t")[0].strip().split("/", 1)[1], []
    elif line.startswith("@@"):
        hunks.append([])
    elif hunks and line[:1] in (" ", "-"):
        hunks[-1].append(line[1:])
    elif hunks and line == "\n":
        hunks[-1].append("\n")
flush()
sys.exit(0 if ok else 1)
PY
}

# apply N DIR [--dry-run]
apply() {
  local n=$1 dir=$2 p out
  shift 2
  p=$(patch_of "$n") || exit 2
  [ -d "$dir/src" ] || die "plant $n: $dir has no src/"
  if ! out=$(unique "$root/$p" "$dir" 2>&1); then
    echo "plant.sh: plant $n: $p does not fit $dir/src (each hunk's old text must occur once):" >&2
    sed 's/^/  /' <<<"$out" >&2
    return 1
  fi
  if ! out=$(patch -p1 --forward --fuzz=0 --batch --no-backup-if-mismatch \
                   --reject-file=- -d "$dir" "$@" <"$root/$p" 2>&1); then
    echo "plant.sh: plant $n: $p does not apply to $dir/src:" >&2
    sed 's/^/  /' <<<"$out" >&2
    return 1
  fi
}

case ${1:-} in
  patch)
    [ "$#" -eq 2 ] || die "usage: fuzz/plant.sh patch N"
    patch_of "$2" ;;
  apply)
    [ "$#" -eq 3 ] || die "usage: fuzz/plant.sh apply N DIR"
    apply "$2" "$3" ;;
  copy)
    [ "$#" -eq 3 ] || die "usage: fuzz/plant.sh copy N DIR"
    patch_of "$2" >/dev/null || exit 2
    mkdir -p "$3" && cp -r src include spec "$3/" || die "cannot copy the tree to $3"
    apply "$2" "$3" ;;
  check)
    rc=0 count=0
    while IFS='|' read -r n p _; do
      case $n in ''|\#*) continue ;; esac
      count=$((count + 1))
      if err=$(apply "$n" "$root" --dry-run 2>&1); then
        echo "PASS: plants: plant $n ($p) applies to src/"
      else
        echo "FAIL: plants: plant $n ($p) does not apply to src/"
        sed 's/^/  /' <<<"$err"
        rc=1
      fi
    done <fuzz/plants.txt
    if [ "$count" -eq 0 ]; then echo "FAIL: plants: fuzz/plants.txt lists no plant"; rc=1; fi
    if grep -rn 'LM_PLANT_BUG' src include >/dev/null; then
      echo "FAIL: plants: src/ or include/ still mentions LM_PLANT_BUG:"
      grep -rn 'LM_PLANT_BUG' src include | sed 's/^/  /'
      rc=1
    else
      echo "PASS: plants: no planted code in src/ or include/ (LM_PLANT_BUG appears nowhere)"
    fi
    exit $rc ;;
  *)
    die "usage: fuzz/plant.sh copy N DIR | apply N DIR | patch N | check" ;;
esac
