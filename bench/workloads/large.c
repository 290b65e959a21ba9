/* large: large blocks in a loop, the pattern of image and buffer
 * processing. Each iteration allocates a block of 5..25 MiB, writes one word
 * in every 4 KiB page (so every page is really faulted in), reads them back
 * and frees it. An allocator that returns such blocks to the kernel at once
 * and faults them in again on the next round pays a page fault per page per
 * iteration; one that keeps them pays nothing but holds the memory.
 *
 * Validation: every written word is read back before the free.
 *
 * usage: large [iterations=300] [min_mib=5] [max_mib=25]
 */
#include "common.h"

int main(int argc, char **argv) {
  long iters = arg_long(argc, argv, 1, 300);
  long lo = arg_long(argc, argv, 2, 5), hi = arg_long(argc, argv, 3, 25);
  if (hi < lo) fail("max_mib < min_mib");
  uint64_t rng = 5, sum = 0;
  for (long it = 0; it < iters; it++) {
    size_t n = ((size_t)lo << 20) + (size_t)(rng_next(&rng) % (((size_t)(hi - lo) << 20) + 1));
    uint64_t *p = xmalloc(n);
    size_t words = n / 8, stride = 4096 / 8;
    for (size_t i = 0; i < words; i += stride) p[i] = i ^ (uint64_t)it;
    p[words - 1] = (uint64_t)it;
    for (size_t i = 0; i < words - 1; i += stride)
      if (p[i] != (i ^ (uint64_t)it)) fail("page word %zu of block %ld lost", i, it);
    if (p[words - 1] != (uint64_t)it) fail("last word of block %ld lost", it);
    sum += n;
    free(p);
  }
  printf("RESULT ok mib_allocated=%llu\n", (unsigned long long)(sum >> 20));
  return 0;
}
