/* Fuzz driver 3: lemmalloc under concurrency.
 *
 * The input's THREAD ops split it into per-thread streams; 4 to 8 threads
 * (one more than the highest thread named, at least 4) start together and
 * each runs its own ops, all of them meeting at every BARRIER op. Blocks
 * cross threads through the shared slots (HANDOFF/TAKE), so frees land on
 * other threads' caches and other arenas; TRIM runs malloc_trim while the
 * others allocate, and the purge decay is 1 ms (exec.c), so purging
 * interleaves with everything. exec.c checks every result and each block's
 * pattern; a thread re-checks its own blocks after each trim.
 *
 * At each barrier, with all threads parked, the allocator's count of live
 * bytes must equal the driver's; at the end, after every thread exited and
 * every block was freed, it must be zero: a cross-thread free that got lost
 * shows up there.
 *
 * Built with ASan+UBSan and with TSan (lemmalloc's code instrumented too:
 * the shipped paths, with the steal protocol's fences as sequentially
 * consistent atomics, see src/heap/thread.h). Interleavings vary from run to run: a crash
 * found here may need a few replays to reproduce. */
#define _GNU_SOURCE /* pthread barriers */
#include "exec.h"
#include "lemmalloc.h"

#define MIN_THREADS 4

static struct lm_fuzz_shared shared[LM_OPS_SHARED];
static struct lm_op ops[LM_FUZZ_MAX_OPS];
static size_t nops;
static unsigned nthreads;
static pthread_barrier_t barrier;

struct worker {
  pthread_t tid;
  unsigned id;
  struct lm_fuzz_ctx ctx;
};
static struct worker workers[LM_OPS_MAX_THREADS];


static void *run(void *arg) {
  struct worker *w = arg;
  for (size_t i = 0; i < nops; i++) {
    const struct lm_op *op = &ops[i];
    if (op->kind == LM_OP_BARRIER) {
      /* Everyone parks; thread 0 compares the counts; everyone goes on. */
      pthread_barrier_wait(&barrier);
      if (w->id == 0) lm_fuzz_check_counts(op);
      pthread_barrier_wait(&barrier);
      continue;
    }
    if (op->thread % nthreads != w->id || op->kind == LM_OP_THREAD) continue;
    lm_fuzz_trace(i, op);
    lm_fuzz_exec(&w->ctx, op);
  }
  lm_fuzz_exec_release(&w->ctx, false);
  return NULL;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  static bool init;
  if (!init) {
    lm_fuzz_exec_init_shared(shared);
    init = true;
  }
  nops = lm_ops_decode(data, size, ops, LM_FUZZ_MAX_OPS);
  unsigned top = 0;
  for (size_t i = 0; i < nops; i++)
    if (ops[i].thread > top) top = ops[i].thread;
  nthreads = top + 1 < MIN_THREADS ? MIN_THREADS : top + 1;
  pthread_barrier_init(&barrier, NULL, nthreads);
  for (unsigned t = 0; t < nthreads; t++) {
    struct worker *w = &workers[t];
    memset(&w->ctx, 0, sizeof w->ctx);
    w->id = t;
    w->ctx.shared = shared;
    if (pthread_create(&w->tid, NULL, run, w) != 0) {
      fprintf(stderr, "fuzz_threads: pthread_create failed\n");
      abort();
    }
  }
  for (unsigned t = 0; t < nthreads; t++) pthread_join(workers[t].tid, NULL);
  pthread_barrier_destroy(&barrier);
  struct lm_fuzz_ctx main_ctx = {.shared = shared};
  lm_fuzz_exec_release(&main_ctx, true);
  lm_fuzz_check_empty();
  return 0;
}
