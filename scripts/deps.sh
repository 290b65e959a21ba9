#!/usr/bin/env bash
# Install the Debian packages the build, proofs, tests, fuzzers, benchmarks
# and demo need, only when something is missing. Safe to run repeatedly.
set -eu
pkgs=(
  build-essential make clang libclang-rt-14-dev          # compilers, libFuzzer, sanitizers
  frama-c-base why3 z3 cvc4                        # make verify
  afl++ zip                                         # make fuzz; seed corpora for ClusterFuzzLite (fuzz/build.sh)
  llvm-14                                           # make fuzz-coverage: llvm-profdata-14, llvm-cov-14
  valgrind                                          # valgrind support tests
  ruby python3 perl git sqlite3 g++ coreutils       # preload tests on real programs
  libjemalloc2 libmimalloc2.0 libtcmalloc-minimal4  # peers for the oracle and benchmarks
  pkg-config                                        # check-install builds against lemmalloc.pc
  python3-matplotlib                                # bench/plot.py, bench/demo.py charts
  python3-pil                                       # tools/heapmap/render.py PNGs (check-observe, demo)
)
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ "${#missing[@]}" -gt 0 ]; then
  echo "deps: installing ${missing[*]}"
  SUDO=; [ "$(id -u)" -eq 0 ] || SUDO=sudo
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}" >/dev/null
fi
# Why3 must know the provers before any WP run (writes ~/.why3.conf once).
if ! [ -f "$HOME/.why3.conf" ] || ! grep -q 'name = "Z3"' "$HOME/.why3.conf"; then
  why3 config detect >/dev/null 2>&1 || why3 config --detect >/dev/null 2>&1 || true
fi
