/* simple: one thread allocates N blocks of one size, frees them in the
 * order they came, and repeats, for N in {25, 100, 400, 1600} and sizes
 * 16, 32, 64, ... 2048 (the kind of glibc's bench-malloc-simple). The
 * small N stay inside a thread cache; 1600 blocks of 2 KiB do not, so the
 * test goes from the cache's fast path to the allocator's refill and
 * flush paths. Every (N, size) pair gets the same number of
 * malloc/free pairs, PAIRS / 32.
 *
 * Validation: every block holds its index and size in its first word and
 * the round in its last, checked before its free.
 *
 * usage: simple [pairs=60000000] [--seed=N]   (the seed only shuffles the
 *        order of the (N, size) pairs)
 * prints: RESULT ok ns_25=.. ns_100=.. ns_400=.. ns_1600=.. (ns per pair,
 *         mean over the sizes)
 */
#include "common.h"

int main(int argc, char **argv) {
  uint64_t seed = arg_seed(&argc, argv, 1);
  long pairs = arg_long(argc, argv, 1, 60000000);
  static const long NS[4] = {25, 100, 400, 1600};
  int order[32];
  for (int i = 0; i < 32; i++) order[i] = i;
  uint64_t rng = seed_mix(seed, 0);
  for (int i = 31; i > 0; i--) {
    int j = (int)rng_below(&rng, (uint32_t)i + 1), t = order[i];
    order[i] = order[j];
    order[j] = t;
  }
  double ns[4] = {0, 0, 0, 0};
  uint64_t **blk = xmalloc(1600 * sizeof *blk);
  for (int o = 0; o < 32; o++) {
    int ni = order[o] / 8;
    long n = NS[ni];
    size_t size = (size_t)16 << (order[o] % 8);
    long reps = pairs / 32 / n;
    double t0 = now_s();
    for (long r = 0; r < reps; r++) {
      for (long i = 0; i < n; i++) {
        uint64_t *p = xmalloc(size);
        p[0] = (uint64_t)i ^ size;
        p[size / 8 - 1] = (uint64_t)r;
        blk[i] = p;
      }
      for (long i = 0; i < n; i++) {
        if (blk[i][0] != ((uint64_t)i ^ size) || blk[i][size / 8 - 1] != (uint64_t)r)
          fail("block %ld of %zu bytes corrupted", i, size);
        free(blk[i]);
      }
    }
    ns[ni] += (now_s() - t0) * 1e9 / (double)(reps * n) / 8;
  }
  free(blk);
  printf("RESULT ok ns_25=%.2f ns_100=%.2f ns_400=%.2f ns_1600=%.2f\n", ns[0], ns[1], ns[2], ns[3]);
  return 0;
}
