# tests/oracle — the oracle's own tests: one shared object per planted defect
# (tests/oracle/broken.c -DBROKEN=...), the correct build of the same
# allocator, and a traced multi-threaded program. tools/oracle/check.sh runs
# them inside check-oracle.

ORACLE_DEFECTS := OK OVERLAP ALIGN ERRNO CALLOC REALLOC REALLOCFAIL LEAK OVERFLOW EINVALID POISON
ORACLE_BROKEN_SOS := $(ORACLE_DEFECTS:%=$(BUILD)/oracle/broken-%.so)

$(BUILD)/oracle/broken-%.so: tests/oracle/broken.c
	@mkdir -p $(@D)
	$(CC) $(ALL_CFLAGS) -fPIC -shared -fvisibility=hidden -pthread -DBROKEN=$* $< -o $@

$(BUILD)/oracle/traced: tests/oracle/traced.c
	@mkdir -p $(@D)
	$(CC) $(ALL_CFLAGS) -pthread $< -o $@

.PHONY: oracle-tests
oracle-tests: $(ORACLE_BROKEN_SOS) $(BUILD)/oracle/traced
