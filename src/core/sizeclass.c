/* Size classes: 16, 32, 48, 64, then four classes per doubling up to
 * LM_SMALL_MAX (see spec/README.md for why this spacing).
 *
 * lm_size_class is on every malloc's path, so it is a few instructions with
 * no loop and no table: classes in (2^k, 2^(k+1)] are 2^(k-2) apart, so for
 * m = n - 1 the class is 4k - 24 + (m >> (k-2)), with k = floor(log2 m)
 * found by at most three comparisons (k <= 6 folds into the first case).
 * Every shift is by a constant, which keeps the proof linear. */
#include "sizeclass.h"

/* Class c -> block size; mirrors ClassSize() in spec/sizeclass.acsl. */
static const uint16_t lm_class_sizes[LM_NUM_CLASSES] = {
  16,    32,    48,    64,    80,    96,    112,   128,
  160,   192,   224,   256,   320,   384,   448,   512,
  640,   768,   896,   1024,  1280,  1536,  1792,  2048,
  2560,  3072,  3584,  4096,  5120,  6144,  7168,  8192,
  10240, 12288, 14336, 16384,
};

/* Slab span order per class: the smallest order whose span, cut into as
 * many slots as fit (at most LM_SLAB_MAX_SLOTS), leaves a tail of at most
 * 1/8 of the span (SlabOrderRule in spec/sizeclass.acsl). Smallest, because
 * a slab can go back to the buddy only when wholly free, and small slabs
 * empty more often. */
static const uint8_t lm_class_orders[LM_NUM_CLASSES] = {
  0, 0, 0, 0, 0, 0, 0, 0,
  0, 0, 0, 0, 0, 0, 0, 0,
  0, 0, 0, 0, 0, 1, 0, 0,
  1, 2, 0, 0, 2, 3, 1, 1,
  3, 4, 2, 2,
};

/* Slots per slab: min(span / size, LM_SLAB_MAX_SLOTS) for the order above. */
static const uint16_t lm_class_slots[LM_NUM_CLASSES] = {
  256, 128, 85, 64, 51, 42, 36, 32,
  25,  21,  18, 16, 12, 10, 9,  8,
  6,   5,   4,  4,  3,  5,  2,  2,
  3,   5,   1,  1,  3,  5,  1,  1,
  3,   5,   1,  1,
};

uint32_t lm_size_class(uint32_t n)
{
  uint32_t m = n - (n != 0); /* n - 1, and 0 for n == 0 */
  if (m < 128)
    return m >> 4;
  if (m < 1024) {
    if (m < 256)
      return 4 + (m >> 5);
    if (m < 512)
      return 8 + (m >> 6);
    return 12 + (m >> 7);
  }
  if (m < 4096) {
    if (m < 2048)
      return 16 + (m >> 8);
    return 20 + (m >> 9);
  }
  if (m < 8192)
    return 24 + (m >> 10);
  return 28 + (m >> 11);
}

uint32_t lm_class_size(uint32_t c)
{
  return lm_class_sizes[c];
}

uint32_t lm_class_slab_order(uint32_t c)
{
  return lm_class_orders[c];
}

uint32_t lm_class_slab_slots(uint32_t c)
{
  return lm_class_slots[c];
}
