#!/bin/sh
# gcc.sh: the compiler as an allocation-heavy real program. Compiles the
# benchmark workloads with -O2 (gcc's driver runs cc1 and as for each file;
# LD_PRELOAD reaches them all), links the minimizer and runs it: the program
# gcc produced must check its own results, so a compiler that an allocator
# corrupted cannot pass.
# usage: gcc.sh OUTDIR [rounds=1]
set -eu
out=$1; rounds=${2:-1}
src=$(cd "$(dirname "$0")/../workloads" && pwd)
mkdir -p "$out"
i=0
while [ "$i" -lt "$rounds" ]; do
  gcc -std=c11 -O2 -g -pthread -c -o "$out/minimizer.o" "$src/minimizer.c"
  for f in larson prodcons realloc bloat mtchurn; do
    gcc -std=c11 -O2 -g -pthread -c -o "$out/$f.o" "$src/$f.c"
  done
  i=$((i + 1))
done
gcc -pthread -o "$out/minimizer" "$out/minimizer.o"
"$out/minimizer" 20 8
