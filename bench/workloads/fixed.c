/* fixed: fixed-size churn in one thread, the pattern of node pools, message
 * objects and tree rebuilds. A ring of SLOTS blocks of SIZE bytes: each step
 * frees the oldest block and allocates a new one, so the allocator's free
 * list for one size class is hit at full speed with a steady working set.
 *
 * Validation: every block's pattern is checked before it is freed.
 *
 * usage: fixed [steps=20000000] [size=64] [slots=1000]
 */
#include "common.h"

int main(int argc, char **argv) {
  long steps = arg_long(argc, argv, 1, 20000000);
  size_t size = (size_t)arg_long(argc, argv, 2, 64);
  long slots = arg_long(argc, argv, 3, 1000);
  void **ring = calloc((size_t)slots, sizeof *ring);
  if (!ring) fail("calloc");
  for (long s = 0; s < steps; s++) {
    long i = s % slots;
    if (ring[i]) {
      tag_check(ring[i], size, (uint64_t)(s - slots));
      free(ring[i]);
    }
    ring[i] = xmalloc(size);
    tag_fill(ring[i], size, (uint64_t)s);
  }
  for (long i = 0; i < slots; i++) free(ring[i]);
  free(ring);
  printf("RESULT ok steps=%ld\n", steps);
  return 0;
}
