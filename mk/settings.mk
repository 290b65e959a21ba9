# Settings, statistics output and secure mode (issue 19). Check part
# `settings`: every LEMMALLOC_* setting validated with one line per bad
# value, LEMMALLOC_CONF and its precedence, the statistics as text and JSON,
# to a file (%p), from programs that close stderr, on a signal; a setuid
# program (AT_SECURE) honours no file setting. Budget: a few seconds.
#   make check-settings      the part
#   tests/settings/*.sh      the scripts it runs (each prints PASS:/FAIL:)

SET_DIR := $(BUILD)/settings

$(SET_DIR)/setuid_helper: tests/settings/setuid_helper.c $(BUILD)/liblemmalloc.a
	@mkdir -p $(@D)
	$(CC) $(ALL_CFLAGS) -o $@ $< $(BUILD)/liblemmalloc.a -pthread

$(SET_DIR)/statsprog: tests/settings/statsprog.c
	@mkdir -p $(@D)
	$(CC) $(ALL_CFLAGS) -o $@ $<

CHECK_PARTS += settings
.PHONY: check-settings
check-settings:
	@mkdir -p $(SET_DIR); \
	if $(MAKE) --no-print-directory -s $(BUILD)/liblemmalloc.so $(SET_DIR)/setuid_helper $(SET_DIR)/statsprog >$(SET_DIR).log 2>&1; \
	then echo "PASS: settings: build the test programs"; \
	else cat $(SET_DIR).log; echo "FAIL: settings: build"; exit 1; fi; \
	rc=0; \
	tests/settings/settings.sh $(abspath $(BUILD)/liblemmalloc.so) || rc=1; \
	tests/settings/stats.sh $(abspath $(BUILD)/liblemmalloc.so) $(SET_DIR)/statsprog || rc=1; \
	tests/settings/secure.sh $(SET_DIR)/setuid_helper || rc=1; \
	exit $$rc
