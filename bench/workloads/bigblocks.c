/* bigblocks: malloc/free loops of large blocks, 64 KiB..2 MiB, in 1 and in
 * N threads (the kind of malloc-large, at the sizes between the small
 * classes and direct mappings that buffers, images and column chunks
 * have).
 *
 * Each thread keeps KEEP blocks and, ITERS times, replaces a random one
 * with a new block of 64 KiB..2 MiB (log-uniform). Like most users of big
 * buffers it touches only part of each block: the first 4 KiB and then
 * every 4th page of the first quarter are written, and the last 64 bytes.
 * An allocator that returns such blocks to the kernel at once pays page
 * faults on every reuse; one that keeps too many holds memory (peak RSS).
 *
 * Validation: every written word is read back before the free.
 *
 * usage: bigblocks [threads=1] [iters=20000 per thread] [keep=8] [--seed=N]
 */
#include "common.h"

typedef struct {
  _Alignas(LINE) pthread_t t;
  uint64_t rng, touched;
  long iters;
} thr;

static long g_iters, g_keep;

static void touch(uint64_t *p, size_t n, uint64_t v, thr *w) {
  size_t words = n / 8, page = 4096 / 8;
  for (size_t i = 0; i < page && i < words; i += 8) p[i] = v ^ i;
  for (size_t i = page; i < words / 4; i += 4 * page) p[i] = v ^ i;
  for (size_t i = words - 8; i < words; i++) p[i] = v ^ i;
  w->touched++;
}

static void check(const uint64_t *p, size_t n, uint64_t v) {
  size_t words = n / 8, page = 4096 / 8;
  for (size_t i = 0; i < page && i < words; i += 8)
    if (p[i] != (v ^ i)) fail("block %p of %zu bytes lost word %zu", (void *)p, n, i);
  for (size_t i = page; i < words / 4; i += 4 * page)
    if (p[i] != (v ^ i)) fail("block %p of %zu bytes lost word %zu", (void *)p, n, i);
  for (size_t i = words - 8; i < words; i++)
    if (p[i] != (v ^ i)) fail("block %p of %zu bytes lost its tail", (void *)p, n);
}

static void *run(void *arg) {
  thr *w = arg;
  uint64_t *blk[64] = {0}, tag[64];
  size_t size[64];
  for (long it = 0; it < g_iters + g_keep; it++) {
    uint32_t i = it < g_keep ? (uint32_t)it : rng_below(&w->rng, (uint32_t)g_keep);
    if (blk[i]) {
      check(blk[i], size[i], tag[i]);
      free(blk[i]);
    }
    if (it >= g_iters) { /* the last KEEP steps only free */
      blk[i] = NULL;
      continue;
    }
    size[i] = rng_log_size(&w->rng, 65536, 2 << 20) & ~(size_t)7;
    tag[i] = rng_next(&w->rng);
    blk[i] = xmalloc(size[i]);
    touch(blk[i], size[i], tag[i], w);
    w->iters++;
  }
  for (long i = 0; i < g_keep; i++)
    if (blk[i]) {
      check(blk[i], size[i], tag[i]);
      free(blk[i]);
    }
  return NULL;
}

int main(int argc, char **argv) {
  uint64_t seed = arg_seed(&argc, argv, 1);
  long threads = arg_long(argc, argv, 1, 1);
  g_iters = arg_long(argc, argv, 2, 20000);
  g_keep = arg_long(argc, argv, 3, 8);
  if (g_keep > 64) fail("keep must be <= 64");
  thr *t = xcalloc_lines((size_t)threads, sizeof *t);
  for (long i = 0; i < threads; i++) t[i].rng = seed_mix(seed, (uint64_t)i);
  if (threads == 1) {
    run(&t[0]);
  } else {
    for (long i = 0; i < threads; i++) start_thread(&t[i].t, run, &t[i]);
    for (long i = 0; i < threads; i++) pthread_join(t[i].t, NULL);
  }
  long blocks = 0;
  for (long i = 0; i < threads; i++) {
    if (t[i].iters != g_iters || t[i].touched != (uint64_t)g_iters) fail("thread %ld lost iterations", i);
    blocks += t[i].iters;
  }
  free(t);
  printf("RESULT ok blocks=%ld\n", blocks);
  return 0;
}
