# Check part `memory`: placement and purge policies that keep RSS down
# (issues 4 and 16), observed through VmRSS (tests/memory/). Time budget:
# under 7 s on 2 cores (measured: reuse 0.1 s, idle 0.1 s, giveback 0.4 s,
# quiet 2.3 s, background 0.7 s on and 1.0 s off, most of it deliberate
# waits of a few decay periods). reuse runs with no decay, so that nothing
# is purged behind its back; giveback with the default decay (200 ms);
# background with the purger thread on and off (LEMMALLOC_BACKGROUND=0).

MEM_BIN := $(BUILD)/tests/memory

$(MEM_BIN)/reuse: tests/memory/reuse.c tests/lib/test.h
$(MEM_BIN)/quiet: tests/memory/quiet.c tests/lib/test.h
$(MEM_BIN)/idle: tests/memory/idle.c tests/lib/test.h include/lemmalloc.h
$(MEM_BIN)/giveback: tests/memory/giveback.c tests/lib/test.h include/lemmalloc.h
$(MEM_BIN)/background: tests/memory/background.c tests/lib/test.h
$(MEM_BIN)/reuse $(MEM_BIN)/quiet $(MEM_BIN)/idle $(MEM_BIN)/giveback $(MEM_BIN)/background:
	@mkdir -p $(@D)
	$(CC) $(ALL_CFLAGS) -Itests/lib -fno-builtin -pthread -o $@ $< -ldl

CHECK_PARTS += memory
.PHONY: check-memory
check-memory: $(BUILD)/liblemmalloc.so $(MEM_BIN)/reuse $(MEM_BIN)/quiet $(MEM_BIN)/idle $(MEM_BIN)/giveback \
              $(MEM_BIN)/background
	@rc=0; \
	LEMMALLOC_ARENAS=1 LEMMALLOC_PURGE_MS=3600000 \
	  tests/lib/preloaded.sh $(abspath $(BUILD)/liblemmalloc.so) lemmalloc $(MEM_BIN)/reuse || rc=1; \
	LEMMALLOC_ARENAS=1 LEMMALLOC_PURGE_MS=1000 \
	  tests/lib/preloaded.sh $(abspath $(BUILD)/liblemmalloc.so) lemmalloc $(MEM_BIN)/quiet || rc=1; \
	LEMMALLOC_ARENAS=1 LEMMALLOC_PURGE_MS=100 \
	  tests/lib/preloaded.sh $(abspath $(BUILD)/liblemmalloc.so) lemmalloc $(MEM_BIN)/idle || rc=1; \
	LEMMALLOC_ARENAS=1 LEMMALLOC_PURGE_MS=200 \
	  tests/lib/preloaded.sh $(abspath $(BUILD)/liblemmalloc.so) lemmalloc $(MEM_BIN)/giveback || rc=1; \
	LEMMALLOC_PURGE_MS=100 \
	  tests/lib/preloaded.sh $(abspath $(BUILD)/liblemmalloc.so) lemmalloc $(MEM_BIN)/background on || rc=1; \
	LEMMALLOC_PURGE_MS=100 LEMMALLOC_BACKGROUND=0 \
	  tests/lib/preloaded.sh $(abspath $(BUILD)/liblemmalloc.so) lemmalloc $(MEM_BIN)/background off || rc=1; \
	exit $$rc
