#!/bin/bash -eu
# ClusterFuzzLite / OSS-Fuzz entry point. The service runs this (copied to
# $SRC/build.sh) from $SRC/lemmalloc with CC, CXX, CFLAGS, CXXFLAGS,
# LIB_FUZZING_ENGINE, OUT, SRC and WORK set; fuzz/build.sh takes them all
# and writes fuzz_core, fuzz_api and fuzz_threads to $OUT, each with a
# dictionary and a seed corpus (fuzz_X.dict, fuzz_X_seed_corpus.zip).
#
# `make check-fuzz` runs it the same way (fuzz/cflite-check.sh: $SRC laid
# out as the Dockerfile does, the service's environment), then each fuzzer
# on its seed corpus.
if [ -f fuzz/build.sh ]; then repo=$PWD; else repo=$SRC/lemmalloc; fi
exec "$repo/fuzz/build.sh"
