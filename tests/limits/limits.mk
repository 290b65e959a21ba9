# Check part `limits` (issue 15): what a process costs, and what happens
# at a limit. Budget: about 40 s on 2 cores.
#   - footprint: 20 idle processes each, with and without the library:
#     commit charge <= glibc's + 8 MiB, VmSize <= glibc's + 64 MiB;
#   - python3 starts and is served by lemmalloc under `ulimit -v 200000`;
#   - under `ulimit -v 4000000`, malloc of 16 B, 64 B, 1 KiB, 64 KiB, 3 MiB
#     and of a mix, in a loop, returns NULL with ENOMEM within 30 s (an
#     alarm inside, a timeout outside: a hang fails instead of stalling CI),
#     and the heap serves again once everything is freed;
#   - 20 GiB of untouched 64 KiB blocks and 20,000 live 3 MiB blocks;
#   - every table the heap grows, run out: the library built with small
#     limits compiled in (LM_LIMIT_META_BYTES: chunk headers, the metadata
#     pool, huge-block records; LM_LIMIT_REG_LEAVES: the registry;
#     LM_CHUNK_SLABS=2: the slab records of each chunk, so that slabs move
#     on to other chunks until those run out too) returns NULL with ENOMEM
#     at once, and serves again after the frees.

LIMITS_BIN := $(BUILD)/tests/limits
LIMITS_TO  := timeout -k 5 60

$(LIMITS_BIN)/exhaust: tests/limits/exhaust.c
	@mkdir -p $(@D)
	$(CC) $(ALL_CFLAGS) -fno-builtin -o $@ $<

# The library with one small limit compiled in, for the exhaustion runs.
LIMITS_VARIANTS := meta leaves records
LIMITS_FLAGS_meta    := -DLM_LIMIT_META_BYTES='((size_t)2 << 20)'
LIMITS_FLAGS_leaves  := -DLM_LIMIT_REG_LEAVES=1
LIMITS_FLAGS_records := -DLM_CHUNK_SLABS=2 -DLM_LIMIT_META_BYTES='((size_t)2 << 20)'
# Modes per variant: the leaves cover 32 GiB of addresses each, which 16-byte
# blocks take 15 s to fill (the other variants run that size out). Leaves are
# never unmapped, so with one leaf a new mapping elsewhere can never be
# registered: after the frees, only the sizes served from chunks are asked.
LIMITS_MODES_meta    := 16 65536 3145728 mixed
LIMITS_MODES_leaves  := 65536 3145728 mixed
LIMITS_MODES_records := 16 65536 mixed
LIMITS_AFTER_leaves  := chunk
$(LIMITS_BIN)/liblemmalloc-%.so: $(LM_LIB_SRCS) $(LM_OS_POSIX) $(LM_LIB_HDRS) tests/limits/limits.mk
	@mkdir -p $(@D)
	$(CC) $(ALL_CFLAGS) $(LM_LIB_CFLAGS) $(LIMITS_FLAGS_$*) -fPIC -shared -Wl,-z,now -o $@ \
	  $(LM_LIB_SRCS) $(LM_OS_POSIX)

CHECK_PARTS += limits
.PHONY: check-limits
check-limits: $(BUILD)/liblemmalloc.so $(LIMITS_BIN)/exhaust $(foreach v,$(LIMITS_VARIANTS),$(LIMITS_BIN)/liblemmalloc-$(v).so)
	@rc=0; lib=$(abspath $(BUILD)/liblemmalloc.so); ex=$(LIMITS_BIN)/exhaust; \
	tests/limits/footprint.sh $$lib 20 || rc=1; \
	if (ulimit -v 200000; LD_PRELOAD=$$lib python3 -c \
	     'import sys; sys.exit(0 if "liblemmalloc" in open("/proc/self/maps").read() else 3)'); \
	then echo "PASS: limits: python3 starts under ulimit -v 200000 and lemmalloc serves it"; \
	else echo "FAIL: limits: python3 under ulimit -v 200000 did not start on lemmalloc"; rc=1; fi; \
	for m in 16 64 1024 65536 3145728 mixed; do \
	  (ulimit -v 4000000; LIMITS_LABEL=" (ulimit -v 4000000)" LD_PRELOAD=$$lib $(LIMITS_TO) $$ex $$m 30) || rc=1; \
	done; \
	LD_PRELOAD=$$lib $(LIMITS_TO) $$ex count 65536 327680 || rc=1; \
	LD_PRELOAD=$$lib $(LIMITS_TO) $$ex count 3145728 20000 || rc=1; \
	$(foreach v,$(LIMITS_VARIANTS),$(foreach m,$(LIMITS_MODES_$(v)), \
	  LIMITS_LABEL=" ($(v) run out)" LIMITS_AFTER=$(LIMITS_AFTER_$(v)) \
	    LD_PRELOAD=$(abspath $(LIMITS_BIN))/liblemmalloc-$(v).so $(LIMITS_TO) $$ex $(m) 30 || rc=1;)) \
	exit $$rc
