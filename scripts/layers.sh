#!/usr/bin/env bash
# The layering of src/ (DEVELOPERS.md, "Layers"), checked on what the
# compiler sees, not on how an #include is spelled:
#
#   api -> heap -> core          an arrow: "may include"; include/ is the
#              \-> os            public header, system headers are <...>
#
#   core   src/core, spec/*.acsl and <stddef.h> <stdint.h> <stdbool.h> only
#   os     src/os and system headers (os is below the heap)
#   heap   src/heap, src/core, src/os, include/, system headers; never src/api
#   api    src/api, src/heap, include/, system headers (core and os only
#          through the heap's headers)
#   any    nothing in src/ includes fuzz/ or tools/
#   include/  system headers only (it is installed alone)
#   symbols  only src/api/override.c defines malloc-family symbols (nm)
#
#   scripts/layers.sh includes [ROOT]        the include rules on ROOT (.)
#   scripts/layers.sh symbols OBJDIR OBJ...  the symbol rule on the objects
#                                            (OBJDIR/src/x/y.o is src/x/y.c)
#   scripts/layers.sh selftest OBJDIR OBJ... each rule fails on a planted
#                                            violation (a scratch copy)
# CC and LAYERS_CFLAGS (the library's flags: make passes ALL_CFLAGS and
# LM_LIB_CFLAGS) come from the environment.
#
# Includes: every .c and .h under src/ and include/ is preprocessed on its
# own (`$CC -E -dI`, edges() below), which keeps every #include directive
# the preprocessor acts on, in the file it is in; each edge "file includes
# header" is checked against the includer's layer, with the header resolved
# and its path normalized (`#include "../api/api.h"` from src/heap is
# src/api/api.h). Headers found outside the tree are system headers
# (/sys/NAME in messages); what they include is not checked. A violation
# prints the rule, the file and the header it includes. Exit status 0 when
# every rule of the mode passes.
set -u
CC=${CC:-cc}
LAYERS_CFLAGS=${LAYERS_CFLAGS:--std=c11 -Iinclude -Isrc}
here=$(cd "$(dirname "$0")/.." && pwd)

R_CORE="src/core includes only src/core, spec/*.acsl, <stddef.h> <stdint.h> <stdbool.h>"
R_OS="src/os includes only src/os and system headers"
R_HEAP="src/heap includes only src/heap, src/core, src/os, include/, system headers (never src/api)"
R_API="src/api includes only src/api, src/heap, include/, system headers"
R_EXT="nothing in src/ includes fuzz/ or tools/"
R_PUB="include/ includes only system headers"
R_SYM="only src/api/override.c defines malloc-family symbols"
CORE_SYS="stddef.h stdint.h stdbool.h"

# layer PATH: which part of the tree a normalized path is in.
layer() {
  case $1 in
    /*) echo sys ;;
    src/core/*) echo core ;; src/os/*) echo os ;; src/heap/*) echo heap ;; src/api/*) echo api ;;
    include/*) echo include ;; spec/*) echo spec ;; fuzz/*) echo fuzz ;; tools/*) echo tools ;;
    ../*) echo outside ;;
    *) echo other ;;
  esac
}

# edges UNIT: "includer<TAB>header" for every #include directive the
# preprocessor processes for UNIT (`$CC -E -dI`: the directives stay in the
# output, after line markers naming the file they are in; a header whose
# include guard is already set still has its directive listed). Each header
# is resolved as the preprocessor does for files of the tree: "x" next to
# the includer, then in the -iquote/-I directories; <x> in the -I
# directories; otherwise it is a system header, written /sys/x. Paths are
# normalized. Fails (with the compiler's message) if UNIT does not
# preprocess.
edges() {
  local unit=$1 out dirs="" prev="" t
  for t in $LAYERS_CFLAGS; do
    case $prev in -I|-iquote) dirs="$dirs $t" ;; esac
    case $t in -I?*) dirs="$dirs ${t#-I}" ;; -iquote?*) dirs="$dirs ${t#-iquote}" ;; esac
    prev=$t
  done
  if ! out=$("$CC" $LAYERS_CFLAGS -E -dI "$unit" 2>&1 >"$tmp_i"); then
    printf '%s\n' "$out" | head -5 >&2
    return 1
  fi
  awk -v dirs="$dirs" '
    function norm(p,   n, a, i, k, s, out) {
      if (p ~ /^\//) return p
      n = split(p, a, "/"); k = 0
      for (i = 1; i <= n; i++) {
        if (a[i] == "." || a[i] == "") continue
        if (a[i] == ".." && k > 0 && s[k] != "..") { k--; continue }
        s[++k] = a[i]
      }
      out = s[1]; for (i = 2; i <= k; i++) out = out "/" s[i]
      return out
    }
    function exists(p,   r, line) { r = (getline line < p); close(p); return r >= 0 }
    function dirof(p) { return p ~ /\// ? substr(p, 1, match(p, /\/[^\/]*$/) - 1) : "." }
    BEGIN { nd = split(dirs, idir, " ") }
    /^# [0-9]+ "/ {
      f = $0; sub(/^# [0-9]+ "/, "", f); sub(/".*$/, "", f)
      cur = norm(f); next
    }
    /^[ \t]*#[ \t]*include(_next)?[ \t]/ {
      if (cur ~ /^\// || cur ~ /^</) next       # inside a system header
      x = $0; sub(/^[ \t]*#[ \t]*include(_next)?[ \t]*/, "", x)
      q = substr(x, 1, 1); x = substr(x, 2); sub(/[">].*$/, "", x)
      r = ""
      if (q != "\"" && q != "<") r = "macro:" q x  # #include MACRO: judged as no layer
      else if (x ~ /^\//) r = x
      else {
        if (q == "\"" && exists(dirof(cur) "/" x)) r = dirof(cur) "/" x
        for (i = 1; r == "" && i <= nd; i++) if (exists(idir[i] "/" x)) r = idir[i] "/" x
        if (r == "") r = "/sys/" x
      }
      print cur "\t" norm(r)
    }' "$tmp_i"
}

# verdict LAYER HEADER: the rule an edge from a file of LAYER to HEADER
# breaks (empty: allowed, or an includer whose includes are not checked).
verdict() {
  local from=$1 to=$2 tl
  tl=$(layer "$to")
  case $from in core|os|heap|api) ;; include) [ "$tl" = sys ] || echo PUB; return ;; *) return ;; esac
  case $tl in fuzz|tools) echo EXT; return ;; esac
  case $from:$tl in
    core:core|core:spec) ;;
    core:sys) [[ " $CORE_SYS " == *" ${to#/sys/} "* ]] || echo CORE ;;
    core:*) echo CORE ;;
    os:os|os:sys) ;;
    os:*) echo OS ;;
    heap:heap|heap:core|heap:os|heap:include|heap:sys) ;;
    heap:*) echo HEAP ;;
    api:api|api:heap|api:include|api:sys) ;;
    api:*) echo API ;;
  esac
}

check_includes() {
  local root=${1:-.} rc=0 units all bad tmp_i u k
  cd "$root" || { echo "FAIL: layers: no tree at $root"; return 1; }
  units=$(ls src/*/*.c src/*/*.h include/*.h 2>/dev/null)
  all=$(mktemp) bad=$(mktemp) tmp_i=$(mktemp)
  for u in $units; do
    if ! edges "$u" >>"$all" 2>"$bad.err"; then
      echo "FAIL: layers: $u does not preprocess ($CC -E): $(tr '\n' ' ' <"$bad.err")"
      rc=1
    fi
  done
  sort -u "$all" -o "$all"
  # Only the edges that leave a file of src/ or include/ are judged.
  while IFS=$'\t' read -r from to; do
    k=$(verdict "$(layer "$from")" "$to")
    [ -n "$k" ] && printf '%s\t%s\t%s\n' "$k" "$from" "$to"
  done < <(grep -v '^/' "$all") >"$bad"
  local n_edges n_units
  n_edges=$(awk -F'\t' '$1 !~ /^\// ' "$all" | wc -l)
  n_units=$(wc -w <<<"$units")
  for k in CORE OS HEAP API EXT PUB; do
    local rule_var=R_$k rule
    rule=${!rule_var}
    if grep -q "^$k	" "$bad"; then
      awk -F'\t' -v k="$k" -v rule="$rule" '$1 == k { print "FAIL: layers: " rule ": " $2 " includes " $3 }' "$bad"
      rc=1
    else
      echo "PASS: layers: $rule"
    fi
  done
  echo "layers: $n_edges includes in $n_units files checked (preprocessed with $CC)"
  rm -f "$all" "$bad" "$bad.err" "$tmp_i"
  return $rc
}

FAMILY='^(malloc|free|calloc|realloc|reallocarray|posix_memalign|aligned_alloc|memalign|valloc|pvalloc|malloc_usable_size|malloc_trim|mallinfo|mallinfo2|malloc_stats|mallopt|cfree|__libc_[A-Za-z0-9_]+|__posix_memalign)$'

check_symbols() {
  local objdir=$1 rc=0 o src syms bad=() n=0 own=0
  shift
  [ "$#" -gt 0 ] || { echo "FAIL: layers: $R_SYM: no objects given"; return 1; }
  for o in "$@"; do
    src=${o#"$objdir"/}; src=${src%.o}.c
    if ! syms=$(nm --defined-only --format=posix "$o" 2>&1); then
      echo "FAIL: layers: $R_SYM: nm cannot read $o: $syms"; rc=1; continue
    fi
    n=$((n + 1))
    syms=$(awk '{ sub(/@.*/, "", $1); print $1 }' <<<"$syms" | grep -E "$FAMILY" | sort -u)
    if [ "$src" = src/api/override.c ]; then
      own=$(grep -c . <<<"$syms")
      grep -qx malloc <<<"$syms" || { echo "FAIL: layers: $R_SYM: $o defines no malloc (is it the override?)"; rc=1; }
    elif [ -n "$syms" ]; then
      bad+=("$src defines $(tr '\n' ' ' <<<"$syms" | sed 's/ $//')")
    fi
  done
  if [ "${#bad[@]}" -gt 0 ]; then
    for b in "${bad[@]}"; do echo "FAIL: layers: $R_SYM: $b"; done
    rc=1
  elif [ "$rc" -eq 0 ]; then
    echo "PASS: layers: $R_SYM ($n objects, nm --defined-only; override.c defines $own)"
  fi
  return $rc
}

# selftest OBJDIR OBJ...: plant one violation of each rule in a scratch copy
# and require the exact FAIL line for each, and nothing else.
selftest() {
  local objdir=$1 rc=0 tmp out
  shift
  tmp=$(mktemp -d "${TMPDIR:-/tmp}/lm-layers.XXXXXX")
  trap 'rm -rf "$tmp"' RETURN
  mkdir -p "$tmp/tree/fuzz" "$tmp/tree/tools/oracle"
  cp -r "$here/src" "$here/include" "$here/spec" "$tmp/tree/"
  # Stand-ins for the headers planted below: each only needs to exist (the
  # real ones include further files of their own directories).
  echo '/* stand-in for the layer self-test */' >"$tmp/tree/fuzz/driver.h"
  echo '/* stand-in for the layer self-test */' >"$tmp/tree/tools/oracle/oracle.h"
  # plant FILE LINE RULE HEADER: append LINE to FILE; RULE must then fail
  # with "FILE includes HEADER".
  local want=()
  plant() {
    printf '%s\n' "$2" >>"$tmp/tree/$1"
    want+=("FAIL: layers: $3: $1 includes $4")
  }
  plant src/core/buddy.c '#include "../heap/heap.h"' "$R_CORE" src/heap/heap.h
  plant src/core/slab.h '#include <stdlib.h>' "$R_CORE" /sys/stdlib.h
  plant src/os/os_common.c '#include "heap/heap.h"' "$R_OS" src/heap/heap.h
  plant src/heap/purge.c '#include "../api/api.h"' "$R_HEAP" src/api/api.h
  plant src/api/malloc.c '#include "core/core.h"' "$R_API" src/core/core.h
  plant src/api/override.c '#include "../../fuzz/driver.h"' "$R_EXT" fuzz/driver.h
  plant src/heap/stats.c '#include "../../tools/oracle/oracle.h"' "$R_EXT" tools/oracle/oracle.h
  plant include/lemmalloc.h '#include "../src/os/os.h"' "$R_PUB" src/os/os.h
  out=$(cd "$tmp/tree" && check_includes . 2>&1)
  local status=$? w
  for w in "${want[@]}"; do
    if grep -qxF -- "$w" <<<"$out"; then
      echo "PASS: layers self-test: ${w#FAIL: layers: }"
    else
      echo "FAIL: layers self-test: no line '$w'"; rc=1
    fi
  done
  local extra
  extra=$(grep '^FAIL: ' <<<"$out" | grep -vxF -f <(printf '%s\n' "${want[@]}"))
  if [ "$status" -eq 0 ] || [ -n "$extra" ]; then
    echo "FAIL: layers self-test: includes exited $status with other FAIL lines:"
    sed 's/^/  /' <<<"$extra"; rc=1
  fi
  # Symbols: the library's objects, two of them rebuilt with a malloc-family
  # definition appended (a plain one and an alias).
  local objs=() o rel
  for o in "$@"; do
    rel=${o#"$objdir"/}
    mkdir -p "$tmp/obj/$(dirname "$rel")"
    cp "$o" "$tmp/obj/$rel"
    objs+=("$tmp/obj/$rel")
  done
  printf '%s\n' 'void *calloc(size_t n, size_t m) { (void)n; (void)m; return 0; }' >>"$tmp/tree/src/heap/meta.c"
  printf '%s\n' 'int lm_os_mallopt(int a, int b) { return a + b; }' \
    'int mallopt(int, int) __attribute__((alias("lm_os_mallopt")));' >>"$tmp/tree/src/os/os_posix.c"
  for rel in src/heap/meta src/os/os_posix; do
    if ! (cd "$tmp/tree" && "$CC" $LAYERS_CFLAGS -O0 -w -c "$rel.c" -o "$tmp/obj/$rel.o"); then
      echo "FAIL: layers self-test: cannot compile the planted $rel.c"; return 1
    fi
  done
  out=$(check_symbols "$tmp/obj" "${objs[@]}" 2>&1)
  status=$?
  for w in "src/heap/meta.c defines calloc" "src/os/os_posix.c defines mallopt"; do
    if grep -qxF -- "FAIL: layers: $R_SYM: $w" <<<"$out"; then
      echo "PASS: layers self-test: $R_SYM: $w"
    else
      echo "FAIL: layers self-test: no line 'FAIL: layers: $R_SYM: $w'"; rc=1
    fi
  done
  if [ "$status" -eq 0 ]; then echo "FAIL: layers self-test: symbols exited 0"; rc=1; fi
  return $rc
}

case ${1:-} in
  includes) shift; check_includes "$@" ;;
  symbols) shift; [ "$#" -ge 1 ] || exit 2; check_symbols "$@" ;;
  selftest) shift; [ "$#" -ge 1 ] || exit 2; selftest "$@" ;;
  *) echo "usage: scripts/layers.sh includes [ROOT] | symbols OBJDIR OBJ... | selftest OBJDIR OBJ..." >&2; exit 2 ;;
esac
