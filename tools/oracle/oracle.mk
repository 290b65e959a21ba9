# tools/oracle — the differential oracle (build/lemmalloc-oracle) and its
# check part. Time budget of check-oracle: about 30 s on 2 cores (five
# real allocators x (100k serial + 50k threaded ops + a trace replay), ten
# planted defects from tests/oracle/broken.mk, each caught and minimized;
# the command line, --json, --keep-going and --prefix; 16 s measured).

# The malloc model (tools/model/) is the specification it checks against,
# shared with the fuzz drivers and tests/api.
MALLOC_MODEL_SRC := tools/model/malloc_model.c tools/model/blocks.c
MALLOC_MODEL_HDR := tools/model/malloc_model.h tools/model/blocks.h src/api/ops.h
ORACLE_SRC := tools/oracle/main.c tools/oracle/run.c tools/oracle/profile.c tools/oracle/target.c \
              $(MALLOC_MODEL_SRC) src/api/ops.c
ORACLE_HDR := tools/oracle/oracle.h $(MALLOC_MODEL_HDR) include/lemmalloc.h
ORACLE := $(BUILD)/lemmalloc-oracle

$(ORACLE): $(ORACLE_SRC) $(ORACLE_HDR)
	@mkdir -p $(@D)
	$(CC) $(ALL_CFLAGS) -pthread $(ORACLE_SRC) -o $@ -ldl

all: $(ORACLE)

CHECK_PARTS += oracle
.PHONY: check-oracle oracle oracle-table
oracle: $(ORACLE)

# The results table (allocator x property) and CPU time per million ops;
# ORACLE_OPS per run (two runs per allocator), a few minutes at 1000000.
ORACLE_OPS ?= 200000
oracle-table: $(ORACLE) $(BUILD)/liblemmalloc.so
	@tools/oracle/table.sh $(ORACLE_OPS)
check-oracle: $(ORACLE) $(BUILD)/liblemmalloc.so oracle-tests
	@tools/oracle/check.sh $(ORACLE) $(BUILD)/liblemmalloc.so $(BUILD)
