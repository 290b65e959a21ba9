/* threadtest: THREADS threads, each replacing random blocks of a working
 * set of SLOTS blocks with blocks of random sizes (the kind of glibc's
 * bench-malloc-thread): free the block in a random slot, allocate one of
 * 8 B..32 KiB (log-uniform: as many 8..16 B blocks as 16..32 KiB ones) in
 * its place, ITERS times. Nothing is shared between threads; run with 1
 * thread and with more threads than cores.
 *
 * Validation: each block carries a size/tag pattern checked before its
 * free; every thread must do ITERS replacements.
 *
 * usage: threadtest [threads=1] [iters=5000000 per thread] [slots=1024] [--seed=N]
 * prints: RESULT ok ops=.. mops_per_s=.. (mallocs + frees per second, all threads)
 */
#include "common.h"

typedef struct {
  _Alignas(LINE) pthread_t t;
  uint64_t rng;
  long done;
} thr;

static long g_iters, g_slots;

static void *run(void *arg) {
  thr *w = arg;
  void **blk = calloc((size_t)g_slots, sizeof *blk);
  size_t *size = calloc((size_t)g_slots, sizeof *size);
  uint64_t *tag = calloc((size_t)g_slots, sizeof *tag);
  if (!blk || !size || !tag) fail("calloc");
  for (long it = 0; it < g_iters; it++) {
    uint32_t i = rng_below(&w->rng, (uint32_t)g_slots);
    if (blk[i]) {
      tag_check(blk[i], size[i], tag[i]);
      free(blk[i]);
    }
    size[i] = rng_log_size(&w->rng, 8, 32768);
    tag[i] = rng_next(&w->rng);
    blk[i] = xmalloc(size[i]);
    tag_fill(blk[i], size[i], tag[i]);
    w->done++;
  }
  for (long i = 0; i < g_slots; i++)
    if (blk[i]) {
      tag_check(blk[i], size[i], tag[i]);
      free(blk[i]);
    }
  free(blk);
  free(size);
  free(tag);
  return NULL;
}

int main(int argc, char **argv) {
  uint64_t seed = arg_seed(&argc, argv, 1);
  long threads = arg_long(argc, argv, 1, 1);
  g_iters = arg_long(argc, argv, 2, 5000000);
  g_slots = arg_long(argc, argv, 3, 1024);
  thr *t = xcalloc_lines((size_t)threads, sizeof *t);
  for (long i = 0; i < threads; i++) t[i].rng = seed_mix(seed, (uint64_t)i);
  double t0 = now_s();
  if (threads == 1) {
    run(&t[0]); /* the main thread, as glibc's test runs its 1-thread case */
  } else {
    for (long i = 0; i < threads; i++) start_thread(&t[i].t, run, &t[i]);
    for (long i = 0; i < threads; i++) pthread_join(t[i].t, NULL);
  }
  double dt = now_s() - t0;
  for (long i = 0; i < threads; i++)
    if (t[i].done != g_iters) fail("thread %ld did %ld iterations", i, t[i].done);
  free(t);
  printf("RESULT ok ops=%ld mops_per_s=%.2f\n", 2 * threads * g_iters,
         2.0 * (double)(threads * g_iters) / dt / 1e6);
  return 0;
}
