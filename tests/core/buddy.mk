# Buddy allocator tests (tests/core/buddy_test.c): unit tests of every
# function and error path, then a randomized differential run against a
# reference model with lm_buddy_check() after each step.
# Budget: about 30 s on one core (3M ops at -O2 + 600k under ASan+UBSan).
CHECK_PARTS += core-buddy

# The reference model is tools/model/buddy_model.c, shared with fuzz/fuzz_core.c.
BUDDY_TEST_SRC := tests/core/buddy_test.c tools/model/buddy_model.c src/core/buddy.c
BUDDY_TEST_DEPS := $(BUDDY_TEST_SRC) tools/model/buddy_model.h src/core/core.h src/core/buddy.h \
                   spec/buddy.acsl
BUDDY_OPS ?= 3000000
BUDDY_ASAN_OPS ?= 600000

$(BUILD)/tests/buddy_test: $(BUDDY_TEST_DEPS)
	@mkdir -p $(@D)
	$(CC) $(ALL_CFLAGS) -o $@ $(BUDDY_TEST_SRC)

$(BUILD)/tests/buddy_test_asan: $(BUDDY_TEST_DEPS)
	@mkdir -p $(@D)
	$(CC) $(ALL_CFLAGS) -O1 -fno-omit-frame-pointer -fsanitize=address,undefined \
	  -fno-sanitize-recover=all -o $@ $(BUDDY_TEST_SRC)

.PHONY: check-core-buddy
check-core-buddy: $(BUILD)/tests/buddy_test $(BUILD)/tests/buddy_test_asan
	@$(BUILD)/tests/buddy_test $(BUDDY_OPS) 1
	@$(BUILD)/tests/buddy_test_asan $(BUDDY_ASAN_OPS) 2 "(asan+ubsan) "
