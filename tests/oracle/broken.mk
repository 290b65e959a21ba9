# tests/oracle — the oracle's own tests: a unit test of its model, one shared
# object per planted defect (tests/oracle/broken.c -DBROKEN=...), the
# correct build of the same allocator, and a traced multi-threaded program.
# tools/oracle/check.sh runs them inside check-oracle.

ORACLE_DEFECTS := OK OVERLAP ALIGN ERRNO CALLOC REALLOC REALLOCFAIL LEAK OVERFLOW EINVALID POISON
ORACLE_BROKEN_SOS := $(ORACLE_DEFECTS:%=$(BUILD)/oracle/broken-%.so)

$(BUILD)/oracle/broken-%.so: tests/oracle/broken.c
	@mkdir -p $(@D)
	$(CC) $(ALL_CFLAGS) -fPIC -shared -fvisibility=hidden -pthread -DBROKEN=$* $< -o $@

$(BUILD)/oracle/traced: tests/oracle/traced.c
	@mkdir -p $(@D)
	$(CC) $(ALL_CFLAGS) -pthread $< -o $@

$(BUILD)/oracle/model_test: tests/oracle/model_test.c tools/oracle/model.c tools/oracle/model.h
	@mkdir -p $(@D)
	$(CC) $(ALL_CFLAGS) tests/oracle/model_test.c tools/oracle/model.c -o $@

.PHONY: oracle-tests
oracle-tests: $(ORACLE_BROKEN_SOS) $(BUILD)/oracle/traced $(BUILD)/oracle/model_test
