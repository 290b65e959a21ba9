/* randmix: a random mix of mallocs and frees, each thread on its own blocks
 * (the kind of alloc-test), run with 1 and with N threads.
 *
 * Each thread keeps up to SLOTS blocks. At every step it either allocates
 * (into a random empty slot) or frees (a random live block): the chance to
 * allocate is 1 - live/SLOTS, so the number of live blocks walks randomly
 * around half of SLOTS and every block's lifetime is random (no FIFO, no
 * LIFO). Sizes: 80% 8..128 B, 18% 128 B..2 KiB, 2% 2..16 KiB, log-uniform
 * inside each band. Nothing is shared between threads: with more threads
 * than cores the work per thread is the same, so the time grows with
 * THREADS / cores for an allocator that scales.
 *
 * Validation: each block carries a size/tag pattern checked before its
 * free; mallocs = frees; a checksum of every tag allocated must equal the
 * checksum of every tag freed.
 *
 * usage: randmix [threads=1] [steps=10000000 per thread] [slots=8192] [--seed=N]
 * prints: RESULT ok ops=.. mops_per_s=.. (mallocs + frees per second, all threads)
 */
#include "common.h"

typedef struct {
  _Alignas(LINE) pthread_t t;
  uint64_t rng, made, gone;
  long mallocs, frees;
} thr;

static long g_steps, g_slots;

static size_t pick_size(uint64_t *s) {
  uint32_t r = rng_below(s, 100);
  if (r < 80) return rng_log_size(s, 8, 128);
  if (r < 98) return rng_log_size(s, 128, 2048);
  return rng_log_size(s, 2048, 16384);
}

static void *run(void *arg) {
  thr *w = arg;
  void **blk = calloc((size_t)g_slots, sizeof *blk);
  uint32_t *size = calloc((size_t)g_slots, sizeof *size);
  uint64_t *tag = calloc((size_t)g_slots, sizeof *tag);
  /* live[] lists the occupied slots, empty[] the free ones: O(1) picks. */
  uint32_t *live = calloc((size_t)g_slots, sizeof *live), *empty = calloc((size_t)g_slots, sizeof *empty);
  uint32_t *where = calloc((size_t)g_slots, sizeof *where);
  if (!blk || !size || !tag || !live || !empty || !where) fail("calloc");
  uint32_t nlive = 0, nempty = (uint32_t)g_slots;
  for (uint32_t i = 0; i < (uint32_t)g_slots; i++) empty[i] = i, where[i] = i;
  for (long s = 0; s < g_steps; s++) {
    if (rng_below(&w->rng, (uint32_t)g_slots) >= nlive) { /* allocate */
      uint32_t k = rng_below(&w->rng, nempty), i = empty[k];
      empty[k] = empty[--nempty];
      where[empty[k]] = k;
      size_t n = pick_size(&w->rng);
      blk[i] = xmalloc(n);
      size[i] = (uint32_t)n;
      tag[i] = rng_next(&w->rng);
      tag_fill(blk[i], n, tag[i]);
      w->made += tag[i];
      w->mallocs++;
      live[nlive] = i;
      where[i] = nlive++;
    } else { /* free */
      uint32_t k = rng_below(&w->rng, nlive), i = live[k];
      live[k] = live[--nlive];
      where[live[k]] = k;
      tag_check(blk[i], size[i], tag[i]);
      free(blk[i]);
      blk[i] = NULL;
      w->gone += tag[i];
      w->frees++;
      empty[nempty] = i;
      where[i] = nempty++;
    }
  }
  for (uint32_t k = 0; k < nlive; k++) {
    uint32_t i = live[k];
    tag_check(blk[i], size[i], tag[i]);
    free(blk[i]);
    w->gone += tag[i];
    w->frees++;
  }
  free(blk);
  free(size);
  free(tag);
  free(live);
  free(empty);
  free(where);
  return NULL;
}

int main(int argc, char **argv) {
  uint64_t seed = arg_seed(&argc, argv, 1);
  long threads = arg_long(argc, argv, 1, 1);
  g_steps = arg_long(argc, argv, 2, 10000000);
  g_slots = arg_long(argc, argv, 3, 8192);
  thr *t = xcalloc_lines((size_t)threads, sizeof *t);
  for (long i = 0; i < threads; i++) t[i].rng = seed_mix(seed, (uint64_t)i);
  double t0 = now_s();
  if (threads == 1) {
    run(&t[0]); /* in the main thread, as a single-threaded program would */
  } else {
    for (long i = 0; i < threads; i++) start_thread(&t[i].t, run, &t[i]);
    for (long i = 0; i < threads; i++) pthread_join(t[i].t, NULL);
  }
  double dt = now_s() - t0;
  long ops = 0;
  for (long i = 0; i < threads; i++) {
    if (t[i].mallocs != t[i].frees || t[i].made != t[i].gone)
      fail("thread %ld: %ld mallocs, %ld frees, tag sums differ", i, t[i].mallocs, t[i].frees);
    ops += t[i].mallocs + t[i].frees;
  }
  free(t);
  printf("RESULT ok ops=%ld mops_per_s=%.2f\n", ops, (double)ops / dt / 1e6);
  return 0;
}
