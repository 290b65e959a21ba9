# make verify: Frama-C WP on each src/core/*.c, results compared with the
# committed proofs/<name>.expected (see proofs/README.md).
#   make verify                 prove everything (smoke tests on), fail on any
#                               regression
#   make verify-update          rewrite the expected files (and tactic scripts)
#   make verify VERIFY_FILES=slab          one file
#   make verify VERIFY_FCT=lm_slab_free    iterate on one function
#   make verify-selftest        weaken a contract, plant a bug: verify must fail
#   make verify-smoke           verify with deeper smoke tests: 5 s per prover
#                               instead of 1, local initializations too
#   make verify VERIFY_SMOKE=0  no smoke tests (quicker, while iterating)
# Check part `verify`: one PASS:/FAIL: line per function. Time budget: under
# 20 minutes for the whole core, smoke tests included, on 2 cores (see
# proofs/README.md for the measured time).

CHECK_PARTS += verify
VERIFY_FILES ?=

.PHONY: verify verify-update check-verify verify-selftest check-verify-selftest verify-smoke
verify check-verify:
	@VERIFY_FCT="$(VERIFY_FCT)" proofs/verify.sh $(VERIFY_FILES)

verify-smoke:
	@VERIFY_SMOKE=deep VERIFY_FCT="$(VERIFY_FCT)" proofs/verify.sh $(VERIFY_FILES)

verify-update:
	@VERIFY_FCT="$(VERIFY_FCT)" proofs/verify.sh --update $(VERIFY_FILES)

# Check part `verify-selftest` (~4 minutes of CPU): proofs/selftest.sh.
CHECK_PARTS += verify-selftest
verify-selftest check-verify-selftest:
	@proofs/selftest.sh
