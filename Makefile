# lemmalloc — top-level build. Each area keeps its rules in its own fragment:
#   src/build.mk        the library (build/liblemmalloc.so, .a), core purity check
#   tests/core/*.mk     unit and differential tests of the core modules
#   proofs/wp.mk        make verify (Frama-C WP on src/core)
#   tests/tests.mk      unit, API, stress and preload tests
#   tests/attack/attack.mk   make check-attack: issue 16's free-list attacks
#                       (not in make check until the hot path resists them)
#   fuzz/fuzz.mk        make fuzz, fuzz smoke runs, regression replay
#   tools/oracle/oracle.mk   the differential oracle
#   tools/model/model.mk     the shared models' check (one model, two checkers)
#   bench/bench.mk      make bench, make bench-memory, make demo
#   mk/*.mk             memory, observe, settings (LEMMALLOC_* checks, stats
#                       output, secure mode), install (make install/uninstall,
#                       pkg-config, bin/lemmalloc)
# `make check` runs every registered check part through scripts/check.sh and
# ends with one summary line "check: N passed, N failed".

CC      ?= cc
CXX     ?= c++
BUILD   := build
CSTD    := -std=c11
WARN    := -Wall -Wextra -Wshadow -Wstrict-prototypes -Wmissing-prototypes
OPT     ?= -O2
CFLAGS  ?= $(OPT) -g
ALL_CFLAGS = $(CSTD) $(WARN) $(CFLAGS) -Iinclude -Isrc

# Check parts: fragments append `name` here and define target `check-name`,
# which prints "PASS: what" / "FAIL: what" lines and exits non-zero on failure.
CHECK_PARTS :=

.PHONY: all deps check verify fuzz bench demo clean
all:

deps:
	@scripts/deps.sh

# Fragments, in a fixed order (check parts run in this order).
# Named fragments are required (a missing one is an error, not a check part
# that silently vanishes); the globs list whatever their directories hold.
FRAGMENTS := src/build.mk $(wildcard tests/core/*.mk) proofs/wp.mk tests/tests.mk tests/attack/attack.mk \
             tests/limits/limits.mk fuzz/fuzz.mk tools/oracle/oracle.mk $(wildcard tests/oracle/*.mk) tools/model/model.mk \
             bench/bench.mk $(wildcard mk/*.mk)
include $(FRAGMENTS)

check:
	@scripts/deps.sh
	+@scripts/check.sh $(CHECK_PARTS)

clean:
	rm -rf $(BUILD)
