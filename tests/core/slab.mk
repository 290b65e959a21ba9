# Size classes and slabs: exhaustive size-class test, slab unit tests and a
# randomized differential test against a reference model, built -O2 and with
# ASan+UBSan. Check part `core-slab`; time budget about 30 s on 2 cores
# (measured: 20 s for the whole part from a clean build, 31 s on a loaded machine).

CHECK_PARTS += core-slab

SLAB_TEST_DIR := $(BUILD)/tests/core
# The reference model is tools/model/slab_model.c, shared with fuzz/fuzz_core.c.
SLAB_CORE_SRC := src/core/slab.c src/core/sizeclass.c tools/model/slab_model.c
SLAB_CORE_HDR := $(wildcard src/core/*.h spec/*.acsl) tools/model/slab_model.h
SLAB_SAN_FLAGS := -O1 -fno-omit-frame-pointer -fsanitize=address,undefined -fno-sanitize-recover=all
SLAB_TEST_OPS ?= 3000000
SLAB_TEST_SEED ?= $(shell date +%s)

$(SLAB_TEST_DIR)/sizeclass_test: tests/core/sizeclass_test.c src/core/sizeclass.c $(SLAB_CORE_HDR)
	@mkdir -p $(@D)
	$(CC) $(ALL_CFLAGS) -o $@ tests/core/sizeclass_test.c src/core/sizeclass.c

$(SLAB_TEST_DIR)/slab_test: tests/core/slab_test.c $(SLAB_CORE_SRC) $(SLAB_CORE_HDR)
	@mkdir -p $(@D)
	$(CC) $(ALL_CFLAGS) -o $@ tests/core/slab_test.c $(SLAB_CORE_SRC)

$(SLAB_TEST_DIR)/slab_test-san: tests/core/slab_test.c $(SLAB_CORE_SRC) $(SLAB_CORE_HDR)
	@mkdir -p $(@D)
	$(CC) $(ALL_CFLAGS) $(SLAB_SAN_FLAGS) -o $@ tests/core/slab_test.c $(SLAB_CORE_SRC)

$(SLAB_TEST_DIR)/sizeclass_test-san: tests/core/sizeclass_test.c src/core/sizeclass.c $(SLAB_CORE_HDR)
	@mkdir -p $(@D)
	$(CC) $(ALL_CFLAGS) $(SLAB_SAN_FLAGS) -o $@ tests/core/sizeclass_test.c src/core/sizeclass.c

.PHONY: check-core-slab
# The unit tests and seed 1 (reproducible) in both builds, plus a fresh seed
# per run (printed in the differential line) so CI keeps exploring.
check-core-slab: $(SLAB_TEST_DIR)/sizeclass_test $(SLAB_TEST_DIR)/sizeclass_test-san \
                 $(SLAB_TEST_DIR)/slab_test $(SLAB_TEST_DIR)/slab_test-san
	@rc=0; \
	$(SLAB_TEST_DIR)/sizeclass_test || rc=1; \
	LM_TEST_TAG=" [asan+ubsan]" $(SLAB_TEST_DIR)/sizeclass_test-san || rc=1; \
	$(SLAB_TEST_DIR)/slab_test $(SLAB_TEST_OPS) 1 || rc=1; \
	LM_TEST_TAG=" [seed $(SLAB_TEST_SEED)]" $(SLAB_TEST_DIR)/slab_test $(SLAB_TEST_OPS) $(SLAB_TEST_SEED) || rc=1; \
	LM_TEST_TAG=" [asan+ubsan]" $(SLAB_TEST_DIR)/slab_test-san $(SLAB_TEST_OPS) 1 || rc=1; \
	exit $$rc
