# Benchmarks and the demo (see bench/README.md).
#   make bench            full suite, every allocator, 5 interleaved runs (~15-25 min; budget 30)
#   make bench QUICK=1    the same workloads, smaller, 3 runs (~3-5 min)
#   make bench-memory     issue 4's memory table and RSS-over-time chart (~5 min)
#   make bench-hotpath    issue 16: workloads of the benchmark suite's kinds, real
#                         programs' churn, the Ruby bloat pattern (3 runs, ~20 min)
#   make bench-scaling    issue 16: one amount of work over 1..64 threads (~10 min)
#   make demo             deps, build, glibc vs lemmalloc on the bloat workload (< 2 min)
#   make bench-build      only build the C workloads (build/bench/)
# No check part: speed is never checked by timed tests. Every workload checks
# its own results, and the runner reports a failed check as a failure.
# BENCH_ARGS passes options to bench/run.py (e.g. --workloads larson,large
# --allocators glibc,lemmalloc --runs 1).

BENCH_PY   := /usr/bin/python3
BENCH_BIN  := $(BUILD)/bench
BENCH_SRCS := $(wildcard bench/workloads/*.c)
BENCH_EXES := $(patsubst bench/workloads/%.c,$(BENCH_BIN)/%,$(BENCH_SRCS))
# The workloads call malloc for its effect on the allocator: keep the
# compiler from folding malloc/free pairs away.
BENCH_CFLAGS := $(ALL_CFLAGS) -pthread -fno-builtin-malloc -fno-builtin-free \
                -fno-builtin-calloc -fno-builtin-realloc

.PHONY: bench bench-build bench-memory bench-hotpath bench-scaling demo

$(BENCH_BIN)/%: bench/workloads/%.c bench/workloads/common.h
	@mkdir -p $(@D)
	$(CC) $(BENCH_CFLAGS) -o $@ $< -lm

$(BENCH_BIN)/measure: bench/measure.c
	@mkdir -p $(@D)
	$(CC) $(ALL_CFLAGS) -o $@ $<

bench-build: $(BENCH_EXES) $(BENCH_BIN)/measure

bench: all bench-build
	nice $(BENCH_PY) bench/run.py --suite $(if $(QUICK),quick,full) $(BENCH_ARGS)

bench-memory: all bench-build
	nice $(BENCH_PY) bench/run.py --suite memory $(BENCH_ARGS)

bench-hotpath: all bench-build
	nice $(BENCH_PY) bench/run.py --suite hotpath $(BENCH_ARGS)

bench-scaling: all bench-build
	nice $(BENCH_PY) bench/run.py --suite scaling $(BENCH_ARGS)

demo:
	@bench/demo.sh
