# fuzz/ — the op codec, the fuzz drivers and their check part.
# (first increment: the codec and its round-trip test)

FUZZ_OUT := $(BUILD)/fuzz

$(FUZZ_OUT)/ops_test: fuzz/ops.c fuzz/ops_test.c fuzz/ops.h
	@mkdir -p $(@D)
	$(CC) $(ALL_CFLAGS) fuzz/ops.c fuzz/ops_test.c -o $@

CHECK_PARTS += fuzz
.PHONY: check-fuzz
check-fuzz: $(FUZZ_OUT)/ops_test
	@$(FUZZ_OUT)/ops_test
