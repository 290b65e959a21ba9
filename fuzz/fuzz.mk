# fuzz/ — the op codec, three fuzz drivers, their engines and check part.
#
#   make fuzz                 every driver under libFuzzer and AFL++ (ASan+UBSan)
#                             and the threads driver under TSan, FUZZ_SECONDS
#                             each (default 60): 7 runs, ~7 min + builds
#   make fuzz JOBS=N          AFL++ with one main and N-1 secondaries
#   make fuzz FUZZ_DRIVERS=api   only some drivers
#   make fuzz-build           just the binaries (build/fuzz/{lf,afl,replay,tsan})
#   make fuzz-selftest        plant each known bug (fuzz/plants/N-*.patch, in a
#                             scratch copy of src/) and show the fuzzers find it
#                             within FUZZ_SELFTEST_SECONDS
#   make fuzz-coverage        line and branch coverage of src/ by the committed
#                             inputs (build/fuzz-coverage/html/index.html), and
#                             the check against fuzz/uncovered.txt (~10 s)
# Crashes land in fuzz/out/crashes/ (git-ignored), the growing corpus in
# fuzz/out/corpus/. Check part `fuzz`, budget ~5 min on 2 cores: builds of
# the four variants (~2 min), replays of tests/regress/ and the seeds
# (seconds), smoke runs of 15 s (libFuzzer), 10 s (AFL++) per driver and
# 15 s of TSan (~2 min). Measured 4m48s with the machine under load.

FUZZ_SECONDS ?= 60
FUZZ_SMOKE_SECONDS ?= 15
FUZZ_SELFTEST_SECONDS ?= 120
JOBS ?= 1
FUZZ_DRIVERS ?= core api threads
FUZZ_DIR := $(BUILD)/fuzz

# Sources every variant depends on (build.sh compiles them all).
FUZZ_DEPS := $(wildcard fuzz/*.c fuzz/*.h src/*/*.c src/*/*.h include/*.h tools/model/*.[ch]) fuzz/ops.dict \
             fuzz/build.sh src/build.mk fuzz/fuzz.mk

# What build.sh needs from src/build.mk: the library without the malloc
# override (the drivers call lm_*), with the static OS backend.
.PHONY: fuzz-vars
fuzz-vars:
	@echo "FUZZ_LIB_SRCS='$(filter-out src/api/override.c src/api/ops.c,$(LM_LIB_SRCS)) $(LM_OS_STATIC)'"
	@echo "FUZZ_CORE_SRCS='$(LM_CORE_SRCS)'"
	@echo "FUZZ_LIB_FLAGS='$(LM_LIB_CFLAGS)'"

FUZZ_OPT := -O1 -g -fno-omit-frame-pointer $(WARN)
FUZZ_ASAN := -fsanitize=address,undefined -fno-sanitize-recover=all

# One build.sh call per variant; the stamp stands for its binaries.
# lf: libFuzzer. The drivers' own files skip comparison tracing: their
#     pattern loops would otherwise cost half the time and guide nothing.
$(FUZZ_DIR)/lf/.stamp: $(FUZZ_DEPS)
	@echo "fuzz: building libFuzzer drivers"
	@CC=clang CXX=clang++ CFLAGS="$(FUZZ_OPT) $(FUZZ_ASAN) -fsanitize=fuzzer-no-link" \
	  FUZZ_DRIVER_CFLAGS="-fno-sanitize-coverage=trace-cmp" LIB_FUZZING_ENGINE=-fsanitize=fuzzer \
	  OUT=$(@D) FUZZ_LIB_CFLAGS="$(FUZZ_LIB_CFLAGS)" fuzz/build.sh
	@touch $@
# afl: AFL++ in persistent mode (afl-clang-fast links its libFuzzer-style driver).
$(FUZZ_DIR)/afl/.stamp: $(FUZZ_DEPS)
	@echo "fuzz: building AFL++ drivers"
	@AFL_QUIET=1 CC=afl-clang-fast CXX=afl-clang-fast++ CFLAGS="$(FUZZ_OPT) $(FUZZ_ASAN)" \
	  LIB_FUZZING_ENGINE=-fsanitize=fuzzer OUT=$(@D) FUZZ_LIB_CFLAGS="$(FUZZ_LIB_CFLAGS)" fuzz/build.sh
	@touch $@
# replay: no engine, ASan+UBSan; runs files (make check, crash triage).
$(FUZZ_DIR)/replay/.stamp: $(FUZZ_DEPS)
	@echo "fuzz: building replay drivers"
	@CC=clang CXX=clang++ CFLAGS="$(FUZZ_OPT) $(FUZZ_ASAN)" LIB_FUZZING_ENGINE=replay \
	  OUT=$(@D) FUZZ_LIB_CFLAGS="$(FUZZ_LIB_CFLAGS)" fuzz/build.sh
	@touch $@
# tsan: ThreadSanitizer over lemmalloc and the drivers, replay engine.
$(FUZZ_DIR)/tsan/.stamp: $(FUZZ_DEPS)
	@echo "fuzz: building TSan drivers"
	@CC=clang CXX=clang++ CFLAGS="$(FUZZ_OPT) -fsanitize=thread" LIB_FUZZING_ENGINE=replay \
	  OUT=$(@D) FUZZ_LIB_CFLAGS="$(FUZZ_LIB_CFLAGS)" \
	  FUZZ_DRIVERS=threads fuzz/build.sh
	@touch $@

FUZZ_VARIANTS := lf afl replay tsan
.PHONY: fuzz fuzz-build fuzz-selftest
fuzz-build: $(foreach v,$(FUZZ_VARIANTS),$(FUZZ_DIR)/$(v)/.stamp)

# Every run goes on after a crash so one report covers all drivers.
fuzz: fuzz-build
	@rc=0; for d in $(FUZZ_DRIVERS); do \
	  fuzz/run.sh libfuzzer $$d $(FUZZ_SECONDS) || rc=1; \
	  fuzz/run.sh afl $$d $(FUZZ_SECONDS) $(JOBS) || rc=1; \
	  if [ $$d = threads ]; then fuzz/run.sh tsan $$d $(FUZZ_SECONDS) || rc=1; fi; \
	done; \
	if [ $$rc -eq 0 ]; then echo "fuzz: no crash"; else echo "fuzz: CRASHES (see above, fuzz/out/crashes/)"; fi; \
	exit $$rc

# ---- the op codec on its own ----
$(FUZZ_DIR)/ops_test: src/api/ops.c fuzz/ops_test.c src/api/ops.h
	@mkdir -p $(@D)
	$(CC) $(ALL_CFLAGS) src/api/ops.c fuzz/ops_test.c -o $@

# ---- check part ----
# Replays tests/regress/ (every file through every driver: any input is a
# valid program for each) and the seeds, under ASan+UBSan and, for the
# threads driver, TSan; then short runs of each engine on scratch corpora
# (a fresh directory per run, so two checks in one tree do not collide;
# kept on failure for triage). fuzz/cflite-check.sh builds the drivers as
# ClusterFuzzLite does (.clusterfuzzlite/build.sh, its environment, into a
# scratch OUT: ~5 s at -O0) and runs each on its seed corpus for 2 s.
CHECK_PARTS += fuzz
.PHONY: check-fuzz
check-fuzz: $(FUZZ_DIR)/ops_test
	@$(FUZZ_DIR)/ops_test
	@fuzz/plant.sh check
	@if $(MAKE) --no-print-directory -s $(FUZZ_DIR)/replay/.stamp $(FUZZ_DIR)/tsan/.stamp \
	     $(FUZZ_DIR)/lf/.stamp $(FUZZ_DIR)/afl/.stamp >$(FUZZ_DIR)/build.log 2>&1; \
	then echo "PASS: fuzz: drivers build (libFuzzer, AFL++, replay, TSan)"; \
	else tail -20 $(FUZZ_DIR)/build.log; echo "FAIL: fuzz: drivers build"; exit 1; fi
	@rc=0; for d in core api threads; do \
	  fuzz/run.sh replay $$d replay tests/regress fuzz/seeds/$$d || rc=1; \
	done; \
	fuzz/run.sh replay threads tsan tests/regress fuzz/seeds/threads || rc=1; \
	fuzz/cflite-check.sh 2 || rc=1; \
	smoke=$$(mktemp -d $(FUZZ_DIR)/smoke.XXXXXX); \
	for d in core api threads; do \
	  if FUZZ_CORPUS=$$smoke/corpus/$$d FUZZ_CRASHES=$$smoke/crashes/$$d-libfuzzer \
	     fuzz/run.sh libfuzzer $$d $(FUZZ_SMOKE_SECONDS); \
	  then echo "PASS: fuzz smoke: $$d under libFuzzer"; else echo "FAIL: fuzz smoke: $$d under libFuzzer"; rc=1; fi; \
	  if FUZZ_CORPUS=$$smoke/corpus/$$d FUZZ_CRASHES=$$smoke/crashes/$$d-afl \
	     FUZZ_AFL_OUT=$$smoke/afl/$$d fuzz/run.sh afl $$d 10; \
	  then echo "PASS: fuzz smoke: $$d under AFL++"; else echo "FAIL: fuzz smoke: $$d under AFL++"; rc=1; fi; \
	done; \
	if FUZZ_CORPUS=$$smoke/corpus/threads FUZZ_CRASHES=$$smoke/crashes/threads-tsan \
	   fuzz/run.sh tsan threads $(FUZZ_SMOKE_SECONDS); \
	then echo "PASS: fuzz smoke: threads under TSan"; else echo "FAIL: fuzz smoke: threads under TSan"; rc=1; fi; \
	if [ $$rc -eq 0 ]; then rm -rf $$smoke; else echo "fuzz smoke files kept in $$smoke"; fi; \
	exit $$rc

# ---- coverage of src/ by the committed inputs (issue 17) ----
# fuzz/coverage.sh: clang source-based coverage builds of the three drivers
# (replay engine), every seed and regression input replayed, one summary
# line per layer, and every uncovered line of src/heap and src/api checked
# against fuzz/uncovered.txt. Deterministic inputs, no fuzzing; check part
# `fuzz-coverage`, ~10 s on 2 cores (build included).
.PHONY: fuzz-coverage check-fuzz-coverage
fuzz-coverage:
	@fuzz/coverage.sh
CHECK_PARTS += fuzz-coverage
check-fuzz-coverage: fuzz-coverage

# Regenerate the committed seeds and dictionary from the codec.
.PHONY: fuzz-seeds
fuzz-seeds:
	@mkdir -p $(FUZZ_DIR) fuzz/seeds/core fuzz/seeds/api fuzz/seeds/threads
	$(CC) $(ALL_CFLAGS) src/api/ops.c fuzz/seedgen.c -o $(FUZZ_DIR)/seedgen
	$(FUZZ_DIR)/seedgen fuzz

# Planted bugs (fuzz/plants.txt, fuzz/plants/*.patch, applied to a scratch
# copy by fuzz/plant.sh): each must be found within FUZZ_SELFTEST_SECONDS per
# driver, from the seeds alone. ~1-2 min per bug.
fuzz-selftest:
	@fuzz/selftest.sh $(FUZZ_SELFTEST_SECONDS) $(PLANTS)
