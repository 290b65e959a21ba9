# Check part `attack`: the attacks on the free lists of issue 16, one
# program (tests/attack/attack.c, a case per attack) and its driver
# (tests/attack/run.sh); tests/README.md, "attack", says what each does.
# Every case runs for 16, 80, 200 and 1000 bytes and three seeds, each run
# in its own process under a timeout (ATTACK_TIMEOUT, 60 s), on lemmalloc
# with default settings and with LEMMALLOC_ON_ERROR=warn (PASS:/FAIL:), and
# on glibc for reference (NOTE: lines, never a failure). Time on 2 busy
# cores: ~20 s while the attacks succeed (most runs end at the first bad
# block); ~50 s once they fail (measured with LEMMALLOC_TCACHE_BYTES=0,
# which passes every case: each thread-double-free run in warn mode then
# goes the full 2000 rounds).
#
# Not in CHECK_PARTS yet: today's thread cache loses to these attacks (that
# is what they are for). They join `make check` with the hot path that
# resists them (issue 16).

ATTACK_BIN := $(BUILD)/tests/attack

$(ATTACK_BIN)/attack: tests/attack/attack.c
	@mkdir -p $(@D)
	$(CC) $(ALL_CFLAGS) -fno-builtin -pthread -o $@ $< -ldl

.PHONY: check-attack
check-attack: $(BUILD)/liblemmalloc.so $(ATTACK_BIN)/attack
	@tests/attack/run.sh $(abspath $(BUILD)/liblemmalloc.so) $(ATTACK_BIN)/attack
