/* Fuzz driver 2: the whole lm_* API in one thread, with content checks
 * (fuzz/exec.c says what is checked). Built with lemmalloc's own sources
 * (the static OS backend, no malloc override) so that the sanitizers
 * instrument the allocator itself and ASan's interceptors never see it.
 *
 * On top of exec.c: new blocks must not overlap any live one, and the
 * allocator's own count of live bytes (lm_stats().allocated) must equal the
 * driver's at every barrier; once the input's blocks are freed
 * the allocator must hold nothing (lm_fuzz_check_empty): a lost or
 * doubled free shows up there even when no byte is corrupted.
 * Ops on empty slots pass bad pointers (exec.c: bad_frees).
 * A thread op, here, trims and then checks every live block. */
#include "exec.h"
#include "lemmalloc.h"

static struct lm_fuzz_ctx ctx;
static struct lm_fuzz_shared shared[LM_OPS_SHARED];


int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  static struct lm_op ops[LM_FUZZ_MAX_OPS];
  static bool init;
  if (!init) {
    lm_fuzz_exec_init_shared(shared);
    init = true;
  }
  ctx.shared = shared;
  ctx.check_overlap = true;
  ctx.bad_frees = true;
  memset(ctx.stale, 0, sizeof ctx.stale); /* each input stands alone */
  size_t n = lm_ops_decode(data, size, ops, LM_FUZZ_MAX_OPS);
  for (size_t i = 0; i < n; i++) {
    const struct lm_op *op = &ops[i];
    lm_fuzz_trace(i, op);
    lm_fuzz_exec(&ctx, op);
    if (op->kind == LM_OP_BARRIER) {
      lm_fuzz_check_counts(op);
    } else if (op->kind == LM_OP_THREAD) {
      lm_trim();
      lm_fuzz_exec_check_all(&ctx, op);
    }
  }
  lm_fuzz_exec_release(&ctx, true);
  lm_fuzz_check_empty();
  return 0;
}
