# The library: build/liblemmalloc.so (preload), build/liblemmalloc.a, the
# core-purity and layer checks. Check part `build` (budget: ~30 s: a full
# rebuild, then the layer checks and their self-test, ~10 s).
#
# Build switches (make VAR=value; features follow these, never whether a
# file exists; DEVELOPERS.md, Build switches):
#   LM_TRACE=1       1: build the call tracer that LEMMALLOC_TRACE=FILE turns
#                    on (src/api/trace.c, src/api/ops.c, -DLM_HAVE_TRACE);
#                    0: leave it out. The oracle's trace tests need 1.
#   LM_LTO=...       link-time optimization flags (below); empty: none
#
# Variables for other fragments (rebuild lemmalloc with other flags/backends):
#   LM_CORE_SRCS     the verified core (pure: no undefined symbols)
#   LM_LIB_SRCS      core + heap + API, without an OS backend
#   LM_OS_POSIX      src/os/os_posix.c  (mmap; the real library) + os_common.c
#   LM_OS_STATIC     src/os/os_static.c (static buffer, -DLM_STATIC_HEAP_SIZE=bytes) + os_common.c
#   LM_LIB_CFLAGS    flags every build of LM_LIB_SRCS needs (visibility, TLS
#                    model, trace switch); add your own after them
#   LM_LIB_HDRS      headers the sources depend on
# Example, ASan + static backend (TSan builds too; under TSan the thread
# heaps' steal protocol uses sequentially consistent atomics, thread.h):
#   $(CC) $(ALL_CFLAGS) $(LM_LIB_CFLAGS) -fsanitize=address \
#         $(LM_LIB_SRCS) $(LM_OS_STATIC) my_driver.c
# Linking LM_LIB_SRCS defines malloc & co (override.c); drop
# src/api/override.c from the list to get only the lm_* names.

LM_CORE_SRCS := src/core/sizeclass.c src/core/buddy.c src/core/slab.c
LM_HEAP_SRCS := src/heap/heap.c src/heap/registry.c src/heap/report.c src/heap/meta.c src/heap/chunk.c src/heap/slabs.c src/heap/large.c src/heap/purge.c src/heap/huge.c src/heap/thread.c src/heap/thread_slabs.c src/heap/thread_large.c src/heap/thread_giveback.c src/heap/block.c src/heap/stats.c src/heap/background.c \
                src/heap/heapmap.c src/heap/heapmap_trigger.c src/heap/vg.c src/heap/config.c src/heap/stats_out.c
LM_TRACE ?= 1
ifeq ($(filter 0 1,$(LM_TRACE)),)
$(error LM_TRACE must be 0 or 1, not '$(LM_TRACE)')
endif
LM_TRACE_SRCS := $(if $(filter 1,$(LM_TRACE)),src/api/trace.c src/api/ops.c)

LM_API_SRCS  := src/api/malloc.c src/api/override.c $(LM_TRACE_SRCS)
LM_LIB_SRCS  := $(LM_CORE_SRCS) $(LM_HEAP_SRCS) $(LM_API_SRCS)
LM_OS_POSIX  := src/os/os_posix.c src/os/os_common.c
LM_OS_STATIC := src/os/os_static.c src/os/os_common.c
LM_LIB_HDRS  := $(wildcard include/*.h src/core/*.h src/os/*.h src/heap/*.h src/api/*.h)
LM_LIB_CFLAGS := -fvisibility=hidden -ftls-model=initial-exec -pthread \
                 -fno-builtin-malloc -fno-builtin-free -fno-builtin-calloc -fno-builtin-realloc \
                 $(if $(filter 1,$(LM_TRACE)),-DLM_HAVE_TRACE)

# Link-time optimization lets the heap's fast paths inline the core's
# small functions (lm_slab_free_slot, the class tables' users); the objects
# stay fat so that the purity check below can read them.
LM_LTO ?= -flto=auto -ffat-lto-objects

LM_OBJDIR := $(BUILD)/lib
LM_OBJS := $(patsubst %.c,$(LM_OBJDIR)/%.o,$(LM_LIB_SRCS) $(LM_OS_POSIX))
LM_CORE_OBJS := $(patsubst %.c,$(LM_OBJDIR)/%.o,$(LM_CORE_SRCS))

# The flags are part of what an object is made from: a change of a switch
# (LM_TRACE=0) or of CFLAGS rebuilds the library, no `make clean` needed.
LM_FLAGS_FILE := $(LM_OBJDIR)/cflags
LM_FLAGS_NOW = $(CC) $(ALL_CFLAGS) $(LM_LIB_CFLAGS) -fPIC -O2 $(LM_LTO)
.PHONY: lm-flags-force
$(LM_FLAGS_FILE): lm-flags-force
	@mkdir -p $(@D)
	@echo '$(LM_FLAGS_NOW)' | cmp -s - $@ || echo '$(LM_FLAGS_NOW)' >$@

$(LM_OBJDIR)/%.o: %.c $(LM_LIB_HDRS) $(LM_FLAGS_FILE)
	@mkdir -p $(@D)
	$(CC) $(ALL_CFLAGS) $(LM_LIB_CFLAGS) -fPIC -O2 $(LM_LTO) $(if $(LM_LTO),-DLM_CORE_LTO) -c -o $@ $<

# The version: include/lemmalloc.h's three LEMMALLOC_VERSION_* lines are its
# only home. The soname changes with the major version.
LM_VERSION_PART = $(shell sed -n 's/^.define LEMMALLOC_VERSION_$(1) *\([0-9][0-9]*\).*/\1/p' include/lemmalloc.h)
LM_VERSION := $(call LM_VERSION_PART,MAJOR).$(call LM_VERSION_PART,MINOR).$(call LM_VERSION_PART,PATCH)
LM_SONAME  := liblemmalloc.so.$(call LM_VERSION_PART,MAJOR)

# build/liblemmalloc.so is the file everything in the repository preloads;
# build/liblemmalloc.so.0 (the soname) points at it for programs linked
# with -L build -llemmalloc.
$(BUILD)/liblemmalloc.so: $(LM_OBJS)
	$(CC) -shared -pthread $(LM_LTO) $(if $(LM_LTO),-O2 -fPIC) -Wl,-z,now -Wl,-soname,$(LM_SONAME) -o $@ $(LM_OBJS)
	ln -sf liblemmalloc.so $(BUILD)/$(LM_SONAME)

$(BUILD)/liblemmalloc.a: $(LM_OBJS)
	@rm -f $@
	ar rcs $@ $(LM_OBJS)

all: $(BUILD)/liblemmalloc.so $(BUILD)/liblemmalloc.a

CHECK_PARTS += build
.PHONY: check-build
# The library builds; the core objects call nothing outside themselves; the
# .so exports the malloc family, lm_* and nothing else; the layers hold
# (scripts/layers.sh: includes on the preprocessor's view, malloc-family
# definitions with nm) and each layer rule fails on a planted violation.
LM_EXPORT_OK := ^(malloc|free|calloc|realloc|reallocarray|posix_memalign|aligned_alloc|memalign|valloc|pvalloc|malloc_usable_size|malloc_trim|malloc_stats|mallopt|mallinfo2?|cfree|__libc_(malloc|free|calloc|realloc|memalign|valloc|pvalloc)|__posix_memalign|lm_[a-z0-9_]+)$$
check-build:
	@rc=0; mkdir -p $(BUILD); \
	if $(MAKE) --no-print-directory -s $(BUILD)/liblemmalloc.so $(BUILD)/liblemmalloc.a >$(BUILD)/build.log 2>&1; \
	then echo "PASS: build liblemmalloc.so and liblemmalloc.a"; \
	else cat $(BUILD)/build.log; echo "FAIL: build liblemmalloc.so and liblemmalloc.a"; exit 1; fi; \
	for o in $(LM_CORE_OBJS); do \
	  u=$$(nm -u $$o); \
	  if [ -z "$$u" ]; then echo "PASS: core purity: $$o has no undefined symbols"; \
	  else echo "FAIL: core purity: $$o needs: $$(echo $$u | tr '\n' ' ')"; rc=1; fi; \
	done; \
	bad=$$(nm -D --defined-only $(BUILD)/liblemmalloc.so | awk '$$2 ~ /[TWVDBi]/ {print $$3}' | grep -Ev '$(LM_EXPORT_OK)'); \
	if [ -z "$$bad" ]; then echo "PASS: exports: only the malloc family and lm_*"; \
	else echo "FAIL: exports: unexpected $$(echo $$bad | tr '\n' ' ')"; rc=1; fi; \
	so=$$(readelf -d $(BUILD)/liblemmalloc.so | sed -n 's/.*Library soname: \[\(.*\)\]/\1/p'); \
	if [ "$$so" = "$(LM_SONAME)" ] && [ "$$(readlink $(BUILD)/$(LM_SONAME))" = liblemmalloc.so ]; \
	then echo "PASS: soname $(LM_SONAME) (version $(LM_VERSION)), build/$(LM_SONAME) -> liblemmalloc.so"; \
	else echo "FAIL: soname '$$so', want $(LM_SONAME) with build/$(LM_SONAME) -> liblemmalloc.so"; rc=1; fi; \
	tls=$$(readelf -d $(BUILD)/liblemmalloc.so | grep -c STATIC_TLS); \
	if [ "$$tls" -gt 0 ]; then echo "PASS: initial-exec TLS (DF_STATIC_TLS set)"; \
	else echo "FAIL: liblemmalloc.so does not use initial-exec TLS"; rc=1; fi; \
	$(LM_LAYERS_RUN); \
	exit $$rc

# The layer checks (DEVELOPERS.md, Layers), also alone: make layers (seconds).
LM_LAYERS = CC='$(CC)' LAYERS_CFLAGS='$(ALL_CFLAGS) $(LM_LIB_CFLAGS)' scripts/layers.sh
LM_LAYERS_RUN = $(LM_LAYERS) includes . || rc=1; \
	$(LM_LAYERS) symbols $(LM_OBJDIR) $(LM_OBJS) || rc=1; \
	$(LM_LAYERS) selftest $(LM_OBJDIR) $(LM_OBJS) || rc=1
.PHONY: layers
layers: $(LM_OBJS)
	@rc=0; $(LM_LAYERS_RUN); exit $$rc
