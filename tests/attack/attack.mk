# Check part `attack`: the attacks on the free lists of issue 16, one
# program (tests/attack/attack.c, a case per attack) and its driver
# (tests/attack/run.sh); tests/README.md, "attack", says what each does.
# Every case runs for 16, 80, 200 and 1000 bytes and three seeds, each run
# in its own process under a timeout (ATTACK_TIMEOUT, 60 s), on lemmalloc
# with default settings and with LEMMALLOC_ON_ERROR=warn (PASS:/FAIL:), and
# on glibc for reference (NOTE: lines, never a failure). Time on 2 busy
# cores: ~50 s (each thread-double-free run in warn mode goes the full 2000
# rounds). The hot path of thread-owned slabs keeps nothing in a freed
# block, so the writes change nothing, and a second free finds the slot's
# freed bit set or the slot free in the core (src/heap/thread.h).

ATTACK_BIN := $(BUILD)/tests/attack

$(ATTACK_BIN)/attack: tests/attack/attack.c
	@mkdir -p $(@D)
	$(CC) $(ALL_CFLAGS) -fno-builtin -pthread -o $@ $< -ldl

CHECK_PARTS += attack
.PHONY: check-attack
check-attack: $(BUILD)/liblemmalloc.so $(ATTACK_BIN)/attack
	@tests/attack/run.sh $(abspath $(BUILD)/liblemmalloc.so) $(ATTACK_BIN)/attack
