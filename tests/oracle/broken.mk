# tests/oracle — the oracle's own tests: a unit test of its model, one shared
# object per planted defect (tests/oracle/broken.c -DBROKEN=...), the
# correct build of the same allocator, and a traced multi-threaded program.
# tools/oracle/check.sh runs them inside check-oracle.

ORACLE_DEFECTS := OK OVERLAP ALIGN ERRNO CALLOC REALLOC REALLOCFAIL LEAK OVERFLOW EINVALID POISON
ORACLE_BROKEN_SOS := $(ORACLE_DEFECTS:%=$(BUILD)/oracle/broken-%.so)

$(BUILD)/oracle/broken-%.so: tests/oracle/broken.c
	@mkdir -p $(@D)
	$(CC) $(ALL_CFLAGS) -fPIC -shared -fvisibility=hidden -pthread -DBROKEN=$* $< -o $@

# The same allocator with every function renamed bk_malloc, bk_free, ...
# (as jemalloc's je_ or mimalloc's mi_ builds): only --prefix bk_ finds it.
ORACLE_FNS := malloc free calloc realloc reallocarray posix_memalign aligned_alloc memalign valloc \
              pvalloc malloc_usable_size malloc_trim
$(BUILD)/oracle/prefixed-%.so: tests/oracle/broken.c
	@mkdir -p $(@D)
	$(CC) $(ALL_CFLAGS) -fPIC -fvisibility=hidden -pthread -DBROKEN=$* -c $< -o $(@:.so=.o)
	objcopy $(foreach f,$(ORACLE_FNS),--redefine-sym $(f)=bk_$(f)) $(@:.so=.o)
	$(CC) -shared -pthread $(@:.so=.o) -o $@

$(BUILD)/oracle/traced: tests/oracle/traced.c
	@mkdir -p $(@D)
	$(CC) $(ALL_CFLAGS) -pthread $< -o $@

$(BUILD)/oracle/model_test: tests/oracle/model_test.c tools/model/blocks.c tools/model/blocks.h
	@mkdir -p $(@D)
	$(CC) $(ALL_CFLAGS) tests/oracle/model_test.c tools/model/blocks.c -o $@

.PHONY: oracle-tests
oracle-tests: $(ORACLE_BROKEN_SOS) $(BUILD)/oracle/traced $(BUILD)/oracle/model_test \
              $(BUILD)/oracle/prefixed-OK.so $(BUILD)/oracle/prefixed-REALLOC.so
