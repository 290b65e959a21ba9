# Seeing inside: the heap map and valgrind support (issue 8).
# Check part `observe`. Time budget: about 1.5 minutes on 2 cores (measured:
# heap map tests 3 s; valgrind 50 s, of which the API test under memcheck
# takes 20 s and the thread stress test 15 s).
#
#   make observe-heapmap   heap map pattern tests; writes build/observe/map.txt
#                          (a snapshot) and renders it to map.{png,html}
#   make observe-stats     lm_stats, mallinfo2, LEMMALLOC_STATS=1
#   make observe-valgrind  buggy programs under memcheck; logs in build/observe/vg/

OBS_DIR := $(BUILD)/observe
# The heap map test links the library's sources (it reads snapshots
# directly); `sort` also drops the heap map's files and vg.c if LM_LIB_SRCS
# has them.
OBS_LIB_SRCS := $(sort $(LM_LIB_SRCS) src/heap/heapmap.c src/heap/heapmap_trigger.c src/heap/vg.c) $(LM_OS_POSIX)
OBS_ENV := LEMMALLOC_ARENAS=1 LEMMALLOC_TCACHE_BYTES=0 LEMMALLOC_PURGE_MS=3600000 \
           LEMMALLOC_HEAPMAP=$(OBS_DIR)/hm-%p-%n.txt LEMMALLOC_HEAPMAP_SIGNAL=USR1
# The renderer needs Pillow: Debian's python3 with python3-pil (scripts/deps.sh).
OBS_PY := /usr/bin/python3
# A program that allocates until a file appears (its rule: mk/settings.mk).
OBS_STATSPROG := $(BUILD)/settings/statsprog

$(OBS_DIR)/heapmap_test: tests/observe/heapmap_test.c tests/lib/test.h $(OBS_LIB_SRCS) $(LM_LIB_HDRS)
	@mkdir -p $(@D)
	$(CC) $(ALL_CFLAGS) $(LM_LIB_CFLAGS) -o $@ tests/observe/heapmap_test.c $(OBS_LIB_SRCS) -ldl

# -O0: every deliberate bug stays where the source line says.
$(OBS_DIR)/vg_bugs: tests/observe/vg_bugs.c include/lemmalloc.h
	@mkdir -p $(@D)
	$(CC) $(CSTD) -Wall -Wextra -Wno-use-after-free -g -O0 -Iinclude -o $@ $< -ldl

$(OBS_DIR)/api_test: tests/api/api.c tests/lib/test.h $(API_MODEL_SRC) $(API_MODEL_HDR)
	@mkdir -p $(@D)
	$(CC) $(ALL_CFLAGS) -Itests/lib -o $@ tests/api/api.c $(API_MODEL_SRC) -ldl

$(OBS_DIR)/stress_test: tests/threads/stress.c tests/lib/test.h
	@mkdir -p $(@D)
	$(CC) $(ALL_CFLAGS) -Itests/lib -o $@ $< -pthread -ldl

# Linked with the shared library (the public lm_stats, mallinfo2).
$(OBS_DIR)/stats_test: tests/observe/stats_test.c tests/lib/test.h include/lemmalloc.h $(BUILD)/liblemmalloc.so
	@mkdir -p $(@D)
	$(CC) $(ALL_CFLAGS) -Itests/lib -o $@ $< -L$(BUILD) -llemmalloc -Wl,-rpath,$(abspath $(BUILD)) -pthread -ldl

.PHONY: observe-heapmap observe-stats observe-valgrind check-observe
# The snapshot test, then check_snapshot.py: the files it wrote (map.txt,
# on its signal, at its exit) parse, render.py draws map.txt as PNG, HTML
# and text and refuses bad files, and a preloaded process writes a map on
# the signal and at exit.
observe-heapmap: $(OBS_DIR)/heapmap_test $(BUILD)/liblemmalloc.so $(OBS_STATSPROG)
	@rm -f $(OBS_DIR)/map.* $(OBS_DIR)/hm-*.txt
	@$(OBS_ENV) $(OBS_DIR)/heapmap_test $(OBS_DIR) >$(OBS_DIR)/heapmap.out 2>&1; rc=$$?; \
	grep -v '^counts: ' $(OBS_DIR)/heapmap.out; \
	counts=$$(sed -n 's/^counts: //p' $(OBS_DIR)/heapmap.out); \
	if [ -z "$$counts" ]; then echo "FAIL: heapmap: the test printed no counts (exit $$rc)"; exit 1; fi; \
	$(OBS_PY) tests/observe/check_snapshot.py $(OBS_DIR) $(abspath $(BUILD)/liblemmalloc.so) \
	  $(OBS_STATSPROG) $$counts || rc=1; \
	exit $$rc

# Statistics: the test, then LEMMALLOC_STATS=1 at exit prints every part.
observe-stats: $(OBS_DIR)/stats_test
	@LEMMALLOC_TCACHE_BYTES=0 LT_EXPECT=lemmalloc LEMMALLOC_STATS=1 $(OBS_DIR)/stats_test \
	  2>$(OBS_DIR)/stats.err; rc=$$?; \
	for want in "threads seen" "(peak " "in slabs" "free but resident" "purged" "served without a lock" "occupancy"; do \
	  if grep -qF "$$want" $(OBS_DIR)/stats.err; then echo "PASS: stats: LEMMALLOC_STATS=1 prints \"$$want\""; \
	  else echo "FAIL: stats: LEMMALLOC_STATS=1 does not print \"$$want\" (see $(OBS_DIR)/stats.err)"; rc=1; fi; \
	done; \
	n=$$(grep -c '^lemmalloc stats:' $(OBS_DIR)/stats.err); \
	if [ "$$n" -eq 2 ]; then echo "PASS: stats: malloc_stats() and the exit summary both print"; \
	else echo "FAIL: stats: $$n summaries printed, want 2"; rc=1; fi; \
	exit $$rc

observe-valgrind: $(BUILD)/liblemmalloc.so $(OBS_DIR)/vg_bugs $(OBS_DIR)/api_test $(OBS_DIR)/stress_test \
                  $(OBS_DIR)/heapmap_test
	@tests/observe/valgrind.sh $(BUILD)/liblemmalloc.so $(OBS_DIR)/vg_bugs $(OBS_DIR)/api_test \
	  $(OBS_DIR)/stress_test $(OBS_DIR)/heapmap_test $(OBS_DIR)/vg

CHECK_PARTS += observe
check-observe:
	@rc=0; mkdir -p $(OBS_DIR); \
	if $(MAKE) --no-print-directory -s $(OBS_DIR)/heapmap_test $(OBS_DIR)/vg_bugs $(OBS_DIR)/api_test $(OBS_DIR)/stress_test \
	     $(BUILD)/liblemmalloc.so $(OBS_DIR)/stats_test $(OBS_STATSPROG) >$(OBS_DIR).log 2>&1; \
	then echo "PASS: observe: build the heap map test and the valgrind programs"; \
	else cat $(OBS_DIR).log; echo "FAIL: observe: build"; exit 1; fi; \
	$(MAKE) --no-print-directory -s observe-heapmap || rc=1; \
	$(MAKE) --no-print-directory -s observe-stats || rc=1; \
	$(MAKE) --no-print-directory -s observe-valgrind || rc=1; \
	exit $$rc
