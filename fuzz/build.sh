#!/usr/bin/env bash
# Build the lemmalloc fuzz drivers (fuzz_core, fuzz_api, fuzz_threads).
#
# OSS-Fuzz and ClusterFuzzLite run this unchanged: the engine and the
# sanitizer come from their environment, as everywhere else:
#   CC, CXX              compilers (clang, or afl-clang-fast for AFL++)
#   CFLAGS, CXXFLAGS     sanitizer and coverage flags, e.g.
#                        -fsanitize=address,undefined -fsanitize=fuzzer-no-link
#   LIB_FUZZING_ENGINE   what supplies main: -fsanitize=fuzzer (libFuzzer),
#                        an engine library (AFL++'s libAFLDriver.a), or the
#                        word `replay` for fuzz/replay.c (no engine: replays
#                        files, used for TSan and by `make check`)
#   OUT                  where binaries, seed corpora and dictionaries go
# Local extras (fuzz/fuzz.mk sets them): FUZZ_DRIVERS (subset to build),
# FUZZ_DRIVER_CFLAGS (flags for the drivers' own files only), FUZZ_LIB_CFLAGS
# (flags for lemmalloc's files only), WORK (objects), FUZZ_SRC_ROOT (a
# directory holding a copy of src/, include/ and spec/ to build lemmalloc
# from instead of this tree's: fuzz/selftest.sh points it at a scratch copy
# with a planted bug applied, fuzz/plant.sh).
#
# lemmalloc's own sources are compiled into every driver (static OS backend,
# no malloc override), so the sanitizers instrument the allocator and the
# drivers call lm_* directly, never through ASan's interceptors.
set -eu
cd "$(dirname "$0")/.."

CC=${CC:-clang}
CXX=${CXX:-clang++}
CFLAGS=${CFLAGS:--O1 -g -fsanitize=address,undefined -fsanitize=fuzzer-no-link}
CXXFLAGS=${CXXFLAGS:-$CFLAGS}
LIB_FUZZING_ENGINE=${LIB_FUZZING_ENGINE:--fsanitize=fuzzer}
OUT=${OUT:-build/fuzz/out}
WORK=${WORK:-$OUT/obj}
DRIVERS=${FUZZ_DRIVERS:-core api threads}
FUZZ_DRIVER_CFLAGS=${FUZZ_DRIVER_CFLAGS:-}
FUZZ_LIB_CFLAGS=${FUZZ_LIB_CFLAGS:-}
SRC_ROOT=${FUZZ_SRC_ROOT:-.}

# The library's source lists and flags have one home: src/build.mk.
eval "$(make -s --no-print-directory fuzz-vars)"

mkdir -p "$OUT" "$WORK"
common="-std=c11 -I$SRC_ROOT/include -I$SRC_ROOT/src -Ifuzz -pthread"

# compile SRC OBJ FLAGS...: one object, in the background (we wait below).
pids=()
compile() {
  local src=$1 obj=$2; shift 2
  "$CC" $common $CFLAGS "$@" -c "$src" -o "$obj" &
  pids+=($!)
  if [ "${#pids[@]}" -ge "$(nproc)" ]; then wait "${pids[0]}"; pids=("${pids[@]:1}"); fi
}
obj_of() { echo "$WORK/$(echo "$1" | tr / _ | sed 's/\.c$/.o/')"; }

lib_objs=() core_objs=()
for s in $FUZZ_LIB_SRCS; do
  o=$(obj_of "$s"); compile "$SRC_ROOT/$s" "$o" $FUZZ_LIB_FLAGS $FUZZ_LIB_CFLAGS; lib_objs+=("$o")
done
for s in $FUZZ_CORE_SRCS; do core_objs+=("$(obj_of "$s")"); done
compile "$SRC_ROOT/src/api/ops.c" "$(obj_of src/api/ops.c)" $FUZZ_DRIVER_CFLAGS $FUZZ_LIB_CFLAGS
# The models the drivers check against (tools/model/): the malloc-family
# contract and block patterns (api, threads), the buddy and slab references (core).
MODEL_SRCS="tools/model/malloc_model.c tools/model/blocks.c"
CORE_MODEL_SRCS="tools/model/buddy_model.c tools/model/slab_model.c"
for s in fuzz/exec.c fuzz/fuzz_core.c fuzz/fuzz_api.c fuzz/fuzz_threads.c $MODEL_SRCS $CORE_MODEL_SRCS; do
  compile "$s" "$(obj_of "$s")" $FUZZ_DRIVER_CFLAGS $FUZZ_LIB_CFLAGS
done
engine=$LIB_FUZZING_ENGINE
if [ "$engine" = replay ]; then
  compile fuzz/replay.c "$(obj_of fuzz/replay.c)" $FUZZ_DRIVER_CFLAGS
  engine=$(obj_of fuzz/replay.c)
fi
for p in "${pids[@]}"; do wait "$p"; done

for d in $DRIVERS; do
  objs=("$(obj_of fuzz/fuzz_$d.c)" "$(obj_of src/api/ops.c)")
  if [ "$d" = core ]; then objs+=("${core_objs[@]}"); for m in $CORE_MODEL_SRCS; do objs+=("$(obj_of "$m")"); done
  else objs+=("$(obj_of fuzz/exec.c)" "${lib_objs[@]}"); for m in $MODEL_SRCS; do objs+=("$(obj_of "$m")"); done; fi
  # C++ link: libFuzzer and AFL++'s driver need the C++ runtime.
  "$CXX" $CXXFLAGS "${objs[@]}" $engine -pthread -o "$OUT/fuzz_$d"
  cp fuzz/ops.dict "$OUT/fuzz_$d.dict"
  if command -v zip >/dev/null && [ -d "fuzz/seeds/$d" ]; then
    rm -f "$OUT/fuzz_${d}_seed_corpus.zip"
    zip -qj "$OUT/fuzz_${d}_seed_corpus.zip" fuzz/seeds/"$d"/*
  fi
done
