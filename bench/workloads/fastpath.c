/* fastpath: the small malloc/free fast path, single thread, in nanoseconds
 * per malloc/free pair. Two shapes per size:
 *   pair:  p = malloc(n); free(p);           the thread cache's best case
 *   batch: 100 mallocs, then 100 frees        free-list push/pop order
 * Each measurement is the best of REPEATS, which filters noise from the
 * other processes on the machine (the wall time in the table includes all).
 *
 * Validation: each block is written and read back before it is freed.
 *
 * usage: fastpath [pairs=2000000] [repeats=5]
 */
#include "common.h"

#define BATCH 100

static double pair_ns(size_t n, long pairs) {
  double t0 = now_s();
  for (long i = 0; i < pairs; i++) {
    volatile char *p = xmalloc(n);
    p[0] = (char)i;
    p[n - 1] = (char)i;
    if (p[0] != (char)i || p[n - 1] != (char)i) fail("block of %zu bytes lost a write", n);
    free((void *)p);
  }
  return (now_s() - t0) * 1e9 / (double)pairs;
}

static double batch_ns(size_t n, long pairs) {
  void *b[BATCH];
  double t0 = now_s();
  for (long i = 0; i < pairs; i += BATCH) {
    for (int j = 0; j < BATCH; j++) {
      b[j] = xmalloc(n);
      *(volatile char *)b[j] = (char)j;
    }
    for (int j = 0; j < BATCH; j++) {
      if (*(volatile char *)b[j] != (char)j) fail("block of %zu bytes lost a write", n);
      free(b[j]);
    }
  }
  return (now_s() - t0) * 1e9 / (double)pairs;
}

int main(int argc, char **argv) {
  long pairs = arg_long(argc, argv, 1, 2000000), repeats = arg_long(argc, argv, 2, 5);
  static const size_t sizes[] = {16, 64, 256, 1024};
  printf("RESULT ok");
  for (size_t k = 0; k < sizeof sizes / sizeof *sizes; k++) {
    double best_pair = 1e30, best_batch = 1e30;
    for (long r = 0; r < repeats; r++) {
      double a = pair_ns(sizes[k], pairs), b = batch_ns(sizes[k], pairs);
      if (a < best_pair) best_pair = a;
      if (b < best_batch) best_batch = b;
    }
    printf(" pair_ns_%zu=%.2f batch_ns_%zu=%.2f", sizes[k], best_pair, sizes[k], best_batch);
  }
  printf("\n");
  return 0;
}
