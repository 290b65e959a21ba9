#!/usr/bin/env bash
# ClusterFuzzLite, locally and short (there is no Docker here): lay out
# $SRC as the Dockerfile does ($SRC/lemmalloc is this repository, $SRC/build.sh
# a copy of .clusterfuzzlite/build.sh), run it from $SRC/lemmalloc with
# bash -eu and the environment the service sets for a libFuzzer + ASan
# build (CC=clang CXX=clang++ CFLAGS=-fsanitize=address,fuzzer-no-link
# LIB_FUZZING_ENGINE=-fsanitize=fuzzer OUT SRC WORK, nothing else), check
# that OUT holds what the service expects (one executable per driver, its
# dictionary, its seed corpus zip), then run each fuzzer the way its
# run_fuzzers step does (seed corpus unzipped into a scratch corpus, the
# dictionary, OSS-Fuzz's ASan options with leak detection on) for a few
# seconds. Also checks the files under .clusterfuzzlite/ and the workflows.
# usage: fuzz/cflite-check.sh [SECONDS per fuzzer, default 2]
set -u
cd "$(dirname "$0")/.."
secs=${1:-2}
repo=$PWD
rc=0
pass() { echo "PASS: cflite: $*"; }
fail() { echo "FAIL: cflite: $*"; rc=1; }
for f in Dockerfile build.sh project.yaml; do
  [ -f ".clusterfuzzlite/$f" ] || fail ".clusterfuzzlite/$f is missing"
done
grep -qx 'language: c' .clusterfuzzlite/project.yaml 2>/dev/null &&
  grep -q '^FROM gcr.io/oss-fuzz-base/base-builder$' .clusterfuzzlite/Dockerfile 2>/dev/null &&
  pass ".clusterfuzzlite/: Dockerfile FROM gcr.io/oss-fuzz-base/base-builder, project.yaml language: c" ||
  fail ".clusterfuzzlite/ Dockerfile or project.yaml"
for w in cflite_pr cflite_batch; do
  f=.github/workflows/$w.yml
  if [ -f "$f" ] && grep -q 'google/clusterfuzzlite/actions/build_fuzzers@v1' "$f" &&
     grep -q 'google/clusterfuzzlite/actions/run_fuzzers@v1' "$f"; then
    if python3 -c 'import yaml' 2>/dev/null &&
       ! python3 -c 'import sys, yaml; yaml.safe_load(open(sys.argv[1]))' "$f" 2>/dev/null; then
      fail "$f is not valid YAML"; continue
    fi
    pass "$f builds and runs the fuzzers (mode $(sed -n "s/^ *mode: '\(.*\)'/\1/p" "$f"))"
  else fail "$f missing or without the ClusterFuzzLite actions"; fi
done
[ -f .clusterfuzzlite/build.sh ] || exit 1

t=$(mktemp -d /tmp/lemmalloc-cflite.XXXXXX)
trap 'rm -rf "$t"' EXIT
mkdir -p "$t/src" "$t/out" "$t/work"
ln -s "$repo" "$t/src/lemmalloc"
cp .clusterfuzzlite/build.sh "$t/src/build.sh"
start=$(date +%s)
if (cd "$t/src/lemmalloc" &&
    env -i PATH="$PATH" HOME="$HOME" CC=clang CXX=clang++ CFLAGS="-fsanitize=address,fuzzer-no-link" \
      CXXFLAGS="-fsanitize=address,fuzzer-no-link" LIB_FUZZING_ENGINE=-fsanitize=fuzzer \
      OUT="$t/out" SRC="$t/src" WORK="$t/work" nice bash -eu "$t/src/build.sh") >"$t/build.log" 2>&1
then pass "\$SRC/build.sh from \$SRC/lemmalloc with ClusterFuzzLite's environment builds ($(( $(date +%s) - start )) s)"
else tail -20 "$t/build.log"; fail "\$SRC/build.sh with ClusterFuzzLite's environment"; exit 1; fi

export ASAN_OPTIONS=alloc_dealloc_mismatch=0:allocator_may_return_null=1:detect_leaks=1:handle_abort=1:symbolize=0:dedup_token_length=3
for d in core api threads; do
  fz=$t/out/fuzz_$d
  if ! [ -x "$fz" ] || ! [ -s "$t/out/fuzz_$d.dict" ] || ! [ -s "$t/out/fuzz_${d}_seed_corpus.zip" ]; then
    fail "OUT lacks fuzz_$d, fuzz_$d.dict or fuzz_${d}_seed_corpus.zip: $(ls "$t/out" | tr '\n' ' ')"; continue
  fi
  mkdir -p "$t/corpus/$d"
  python3 -c 'import sys, zipfile; zipfile.ZipFile(sys.argv[1]).extractall(sys.argv[2])' \
    "$t/out/fuzz_${d}_seed_corpus.zip" "$t/corpus/$d"
  n=$(ls "$t/corpus/$d" | wc -l)
  log=$t/$d.log
  nice "$fz" -max_total_time="$secs" -timeout=25 -rss_limit_mb=2560 -dict="$t/out/fuzz_$d.dict" \
    -artifact_prefix="$t/" "$t/corpus/$d" >"$log" 2>&1
  code=$?
  if [ $code -eq 0 ] && grep -q 'INITED' "$log" && grep -q '^Done [0-9]* runs' "$log"; then
    pass "fuzz_$d: ${secs} s on its $n seeds with its dictionary: $(grep -Eo 'cov: [0-9]+ ft: [0-9]+' "$log" | tail -1), $(grep -o '^Done [0-9]* runs' "$log")"
  else
    grep -E 'ERROR|SUMMARY|contract violated' "$log" | head -5 | sed 's/^/  /'
    cp "$log" "build/cflite-$d.log" 2>/dev/null
    fail "fuzz_$d on its seed corpus: exit $code (log: build/cflite-$d.log)"
  fi
done
exit $rc
