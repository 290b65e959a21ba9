# Check part `memory`: placement and purge policies that keep RSS down
# (issue 4), observed through VmRSS (tests/memory/). Time budget: under 5 s
# on 2 cores (measured: reuse 0.1 s, idle 0.1 s, giveback 0.4 s, quiet 2.3 s,
# most of it a deliberate wait of two decay periods). One arena; reuse runs
# with no decay, so that nothing is purged behind its back; giveback with
# the default decay (200 ms).

MEM_BIN := $(BUILD)/tests/memory

$(MEM_BIN)/reuse: tests/memory/reuse.c tests/lib/test.h
$(MEM_BIN)/quiet: tests/memory/quiet.c tests/lib/test.h
$(MEM_BIN)/idle: tests/memory/idle.c tests/lib/test.h include/lemmalloc.h
$(MEM_BIN)/giveback: tests/memory/giveback.c tests/lib/test.h include/lemmalloc.h
$(MEM_BIN)/reuse $(MEM_BIN)/quiet $(MEM_BIN)/idle $(MEM_BIN)/giveback:
	@mkdir -p $(@D)
	$(CC) $(ALL_CFLAGS) -Itests/lib -fno-builtin -pthread -o $@ $< -ldl

CHECK_PARTS += memory
.PHONY: check-memory
check-memory: $(BUILD)/liblemmalloc.so $(MEM_BIN)/reuse $(MEM_BIN)/quiet $(MEM_BIN)/idle $(MEM_BIN)/giveback
	@rc=0; \
	LEMMALLOC_ARENAS=1 LEMMALLOC_PURGE_MS=3600000 \
	  tests/lib/preloaded.sh $(abspath $(BUILD)/liblemmalloc.so) lemmalloc $(MEM_BIN)/reuse || rc=1; \
	LEMMALLOC_ARENAS=1 LEMMALLOC_PURGE_MS=1000 \
	  tests/lib/preloaded.sh $(abspath $(BUILD)/liblemmalloc.so) lemmalloc $(MEM_BIN)/quiet || rc=1; \
	LEMMALLOC_ARENAS=1 LEMMALLOC_PURGE_MS=100 \
	  tests/lib/preloaded.sh $(abspath $(BUILD)/liblemmalloc.so) lemmalloc $(MEM_BIN)/idle || rc=1; \
	LEMMALLOC_ARENAS=1 LEMMALLOC_PURGE_MS=200 \
	  tests/lib/preloaded.sh $(abspath $(BUILD)/liblemmalloc.so) lemmalloc $(MEM_BIN)/giveback || rc=1; \
	exit $$rc
