# Tests of the malloc API, bad input, threads and fork, and real programs
# (issue 3): tests/README.md says what each covers. Check parts, with their
# time budget on 2 cores (measured on a busy 2-core machine: 20, 1, 60, 40 s):
#   api      ~15 s   API edge cases and out-of-memory behaviour on glibc (a
#                    check of the tests), then on lemmalloc preloaded (default
#                    settings, and no caches), API also linked statically (.a)
#   bad      ~5 s    bad frees: abort with one line, or warn and carry on;
#                    a stale pointer into a chunk whose header was reused
#   threads  ~70 s   stress (32 threads, default and tight settings, huge), fork
#                    while allocating, thousands of short-lived threads,
#                    three million producer/consumer hand-offs; the purger
#                    thread against working threads under ThreadSanitizer
#   preload  ~90 s   ruby, python3, perl, git, sqlite3, gcc, sort and a C++
#                    program under lemmalloc, output compared with glibc's
# Every program runs under a timeout: LT_TIMEOUT (default 300 s) in
# tests/lib/preloaded.sh, 120 s per program in tests/preload/run.sh.

TEST_BIN    := $(BUILD)/tests/bin
TEST_LIB    := $(BUILD)/liblemmalloc.so
TEST_CFLAGS  = $(ALL_CFLAGS) -fno-builtin -pthread
TEST_HDR    := tests/lib/test.h
PRELOADED   := tests/lib/preloaded.sh $(abspath $(TEST_LIB))
STATIC      := tests/lib/preloaded.sh static

$(TEST_BIN)/oom: tests/api/oom.c $(TEST_HDR)
$(TEST_BIN)/bad: tests/bad/bad.c $(TEST_HDR)
$(TEST_BIN)/stress: tests/threads/stress.c $(TEST_HDR)
$(TEST_BIN)/fork: tests/threads/fork.c $(TEST_HDR)
$(TEST_BIN)/thread-exit: tests/threads/exit.c $(TEST_HDR)
$(TEST_BIN)/remote: tests/threads/remote.c $(TEST_HDR)
$(TEST_BIN)/oom $(TEST_BIN)/bad $(TEST_BIN)/stress $(TEST_BIN)/fork $(TEST_BIN)/thread-exit $(TEST_BIN)/remote:
	@mkdir -p $(@D)
	$(CC) $(TEST_CFLAGS) -o $@ $<

# api: the contract's rules come from the malloc model (tools/model/), the
# one the oracle and the fuzz drivers use.
API_MODEL_SRC := tools/model/malloc_model.c tools/model/blocks.c
API_MODEL_HDR := tools/model/malloc_model.h tools/model/blocks.h src/api/ops.h
$(TEST_BIN)/api: tests/api/api.c $(TEST_HDR) $(API_MODEL_SRC) $(API_MODEL_HDR)
	@mkdir -p $(@D)
	$(CC) $(TEST_CFLAGS) -o $@ tests/api/api.c $(API_MODEL_SRC)

# early: linked with a library whose constructor allocates, which runs
# before lemmalloc's own (tests/api/early_lib.c).
$(TEST_BIN)/libearly.so: tests/api/early_lib.c
	@mkdir -p $(@D)
	$(CC) $(TEST_CFLAGS) -shared -fPIC -o $@ $<
$(TEST_BIN)/early: tests/api/early.c $(TEST_HDR) $(TEST_BIN)/libearly.so
	@mkdir -p $(@D)
	$(CC) $(TEST_CFLAGS) -o $@ $< -L$(TEST_BIN) -learly -Wl,-rpath,'$$ORIGIN'

# The same API test linked with liblemmalloc.a; -rdynamic lets it find
# lm_stats next to malloc and so see that lemmalloc serves it.
$(TEST_BIN)/api-static: tests/api/api.c $(TEST_HDR) $(API_MODEL_SRC) $(API_MODEL_HDR) $(BUILD)/liblemmalloc.a
	@mkdir -p $(@D)
	$(CC) $(TEST_CFLAGS) -rdynamic -o $@ tests/api/api.c $(API_MODEL_SRC) $(BUILD)/liblemmalloc.a

# chunk-reuse reads the registry: built with the library's sources.
$(TEST_BIN)/chunk-reuse: tests/bad/chunk_reuse.c $(TEST_HDR) $(LM_LIB_SRCS) $(LM_OS_POSIX) $(LM_LIB_HDRS)
	@mkdir -p $(@D)
	$(CC) $(ALL_CFLAGS) $(LM_LIB_CFLAGS) -O2 -rdynamic -o $@ tests/bad/chunk_reuse.c $(LM_LIB_SRCS) $(LM_OS_POSIX) -ldl

# purger-tsan: the library's sources with the POSIX backend (the purger
# thread runs; the fuzz drivers' static backend starts none) under
# ThreadSanitizer, called through the lm_* names (no override.c: TSan
# keeps its own malloc).
TSAN_LIB_SRCS := $(filter-out src/api/override.c,$(LM_LIB_SRCS)) $(LM_OS_POSIX)
$(TEST_BIN)/purger-tsan: tests/threads/purger.c $(TSAN_LIB_SRCS) $(LM_LIB_HDRS)
	@mkdir -p $(@D)
	clang -std=gnu11 -O1 -g -fsanitize=thread -Iinclude -Isrc $(filter-out -flto% -ffat-lto-objects,$(LM_LIB_CFLAGS)) \
	  -o $@ tests/threads/purger.c $(TSAN_LIB_SRCS) -ldl

$(TEST_BIN)/containers: tests/cpp/containers.cpp
	@mkdir -p $(@D)
	$(CXX) -std=c++17 -O2 -g -Wall -Wextra -pthread -o $@ $<

CHECK_PARTS += api bad threads preload
.PHONY: check-api check-bad check-threads check-preload

# The API test runs again with every cache off and purging at once: the
# paths (fresh mappings, purged pages) that warm caches otherwise hide.
check-api: $(TEST_LIB) $(TEST_BIN)/api $(TEST_BIN)/oom $(TEST_BIN)/api-static $(TEST_BIN)/early
	@rc=0; \
	for t in api oom early; do \
	  LT_EXPECT=glibc timeout -k 5 300 $(TEST_BIN)/$$t || rc=1; \
	  $(PRELOADED) lemmalloc $(TEST_BIN)/$$t || rc=1; \
	  LEMMALLOC_TCACHE_BYTES=0 LEMMALLOC_HUGE_CACHE=0 LEMMALLOC_PURGE_MS=0 \
	    $(PRELOADED) "lemmalloc, no caches, purge at once" $(TEST_BIN)/$$t || rc=1; \
	done; \
	$(STATIC) lemmalloc-static $(TEST_BIN)/api-static || rc=1; \
	exit $$rc

check-bad: $(TEST_LIB) $(TEST_BIN)/bad $(TEST_BIN)/chunk-reuse
	@rc=0; \
	$(PRELOADED) lemmalloc $(TEST_BIN)/bad || rc=1; \
	LEMMALLOC_ARENAS=1 LEMMALLOC_ON_ERROR=warn $(STATIC) lemmalloc-static $(TEST_BIN)/chunk-reuse || rc=1; \
	exit $$rc

# The stress test runs again with one arena, no thread cache and purging at
# once: every free then takes the arena lock and purges race with reuse,
# paths the defaults make rarer. Then with a third of the blocks huge, with
# and without the huge cache: mappings grow, shrink and go among chunks.
check-threads: $(TEST_LIB) $(TEST_BIN)/stress $(TEST_BIN)/fork $(TEST_BIN)/thread-exit $(TEST_BIN)/remote \
               $(TEST_BIN)/purger-tsan
	@rc=0; \
	$(PRELOADED) lemmalloc $(TEST_BIN)/stress 32 4000 || rc=1; \
	LEMMALLOC_ARENAS=1 LEMMALLOC_TCACHE_BYTES=0 LEMMALLOC_PURGE_MS=0 \
	  $(PRELOADED) "lemmalloc, 1 arena, no cache, purge at once" $(TEST_BIN)/stress 24 2000 || rc=1; \
	$(PRELOADED) "lemmalloc, a third huge" $(TEST_BIN)/stress 16 400 huge || rc=1; \
	LEMMALLOC_HUGE_CACHE=0 LEMMALLOC_PURGE_MS=0 \
	  $(PRELOADED) "lemmalloc, a third huge, no huge cache" $(TEST_BIN)/stress 16 400 huge || rc=1; \
	$(PRELOADED) lemmalloc $(TEST_BIN)/fork 120 || rc=1; \
	$(PRELOADED) lemmalloc $(TEST_BIN)/thread-exit 300 || rc=1; \
	$(PRELOADED) lemmalloc $(TEST_BIN)/remote || rc=1; \
	LEMMALLOC_PURGE_MS=20 TSAN_OPTIONS="halt_on_error=1 exitcode=66" \
	  timeout -k 5 300 $(TEST_BIN)/purger-tsan 6 4 || { echo "FAIL: threads/purger: exit status $$?"; rc=1; }; \
	exit $$rc

check-preload: $(TEST_LIB) $(TEST_BIN)/containers
	@tests/preload/run.sh $(TEST_LIB) $(TEST_BIN)/containers
