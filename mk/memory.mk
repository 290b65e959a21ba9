# Check part `memory`: placement policies that keep RSS down (issue 4),
# observed through VmRSS (tests/memory/). Time budget: under 5 s on 2 cores
# (measured: 0.1 s). One arena and no decay during the run, so that nothing
# is purged behind the test's back.

MEM_BIN := $(BUILD)/tests/memory

$(MEM_BIN)/reuse: tests/memory/reuse.c tests/lib/test.h
	@mkdir -p $(@D)
	$(CC) $(ALL_CFLAGS) -Itests/lib -fno-builtin -o $@ $< -ldl

CHECK_PARTS += memory
.PHONY: check-memory
check-memory: $(BUILD)/liblemmalloc.so $(MEM_BIN)/reuse
	@LEMMALLOC_ARENAS=1 LEMMALLOC_PURGE_MS=3600000 \
	  tests/lib/preloaded.sh $(abspath $(BUILD)/liblemmalloc.so) lemmalloc $(MEM_BIN)/reuse
