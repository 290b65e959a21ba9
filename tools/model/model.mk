# tools/model — the executable models the tests, the fuzz drivers and the
# oracle share (tools/model/README.md), and check part `model`: proof that
# the sharing is real. A contract bug planted in lemmalloc (plant 8,
# fuzz/plants/8-realloc-short-copy.patch, applied by fuzz/plant.sh to a
# scratch copy of the tree: a moving realloc loses the last kept byte) must be caught
# by the oracle, by the fuzz replay of the committed corpus and by the API
# test, all naming realloc-contents, the verdict of one function
# (lm_model_realloc).
# Budget: about 1.5 min on 2 cores (the planted library and the planted
# fuzz_api replay build, ~70 s; the runs take seconds).

MODEL_DIR := $(BUILD)/model
MODEL_PLANT := 8

# A scratch copy of the tree with the plant applied (never src/ itself).
MODEL_TREE := $(MODEL_DIR)/tree$(MODEL_PLANT)
$(MODEL_TREE)/.stamp: $(LM_LIB_SRCS) $(LM_OS_POSIX) $(wildcard src/*/*.h include/*.h) fuzz/plants/$(MODEL_PLANT)-*.patch
	@rm -rf $(@D) && mkdir -p $(@D)
	@fuzz/plant.sh copy $(MODEL_PLANT) $(@D) >/dev/null
	@touch $@

# lemmalloc with the plant, as a shared object for the oracle (-O1, no LTO).
$(MODEL_DIR)/liblemmalloc-plant$(MODEL_PLANT).so: $(MODEL_TREE)/.stamp
	cd $(MODEL_TREE) && $(CC) $(ALL_CFLAGS) $(LM_LIB_CFLAGS) -O1 -fPIC -shared \
	  $(LM_LIB_SRCS) $(LM_OS_POSIX) -o $(abspath $@)

# The fuzz API driver with the same plant, replay engine, ASan+UBSan.
$(MODEL_DIR)/fuzz-plant$(MODEL_PLANT)/.stamp: $(FUZZ_DEPS) $(MODEL_TREE)/.stamp
	@mkdir -p $(@D)
	@FUZZ_SRC_ROOT=$(MODEL_TREE) CC=clang CXX=clang++ CFLAGS="$(FUZZ_OPT) $(FUZZ_ASAN)" LIB_FUZZING_ENGINE=replay \
	  FUZZ_DRIVERS=api OUT=$(@D) \
	  fuzz/build.sh >$(@D).build.log 2>&1 || { tail -20 $(@D).build.log; exit 1; }
	@touch $@

CHECK_PARTS += model
.PHONY: check-model
check-model: $(ORACLE) $(MODEL_DIR)/liblemmalloc-plant$(MODEL_PLANT).so \
             $(MODEL_DIR)/fuzz-plant$(MODEL_PLANT)/.stamp $(TEST_BIN)/api
	@tools/model/check.sh $(ORACLE) $(MODEL_DIR)/liblemmalloc-plant$(MODEL_PLANT).so \
	  $(MODEL_DIR)/fuzz-plant$(MODEL_PLANT)/fuzz_api $(MODEL_DIR) $(TEST_BIN)/api
