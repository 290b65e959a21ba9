/* Size classes: 16, 32, 48, 64, then four per doubling up to LM_SMALL_MAX,
 * plus, from 1 KiB on, one class an eighth above each power of two (see
 * spec/README.md for why this spacing).
 *
 * lm_size_class is on every malloc's path, so it is a few instructions with
 * no loop and no table: classes in (2^k, 2^(k+1)] are 2^(k-2) apart, so for
 * m = n - 1 the class is a constant plus m / 2^(k-2), with k = floor(log2 m)
 * found by at most three comparisons (k <= 6 folds into the first case);
 * from 1 KiB, one more comparison picks the eighth-step class. Every divisor
 * is a constant power of two (the compiler emits a shift), which keeps the
 * proof linear: WP knows division, not shifts. */
#include "sizeclass.h"

/* Class c -> block size; mirrors ClassSize() in spec/sizeclass.acsl. */
static const uint16_t lm_class_sizes[LM_NUM_CLASSES] = {
  16,    32,    48,    64,    80,    96,    112,   128,
  160,   192,   224,   256,   320,   384,   448,   512,
  640,   768,   896,   1024,  1152,  1280,  1536,  1792,
  2048,  2304,  2560,  3072,  3584,  4096,  4608,  5120,
  6144,  7168,  8192,  9216,  10240, 12288, 14336, 16384,
};

/* Slab span order per class: the largest order whose span holds at most
 * LM_SLAB_MAX_SLOTS slots (SlabOrder in spec/sizeclass.acsl). A slab's
 * bitmap has LM_SLAB_MAX_SLOTS bits, so a span that fills it lets
 * LM_MAX_SLABS handles cover gigabytes of small blocks; the lowest free slot
 * is handed out first, so pages of a big span that are never used stay
 * unfaulted, and the heap purges whole free pages inside sparse slabs. */
static const uint8_t lm_class_orders[LM_NUM_CLASSES] = {
  1, 2, 2, 3, 3, 3, 3, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4,
  4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4,
};

/* Slots per slab: span / size for the order above (never above the cap). */
static const uint16_t lm_class_slots[LM_NUM_CLASSES] = {
  512, 512, 341, 512, 409, 341, 292, 512, 409, 341,
  292, 256, 204, 170, 146, 128, 102, 85,  73,  64,
  56,  51,  42,  36,  32,  28,  25,  21,  18,  16,
  14,  12,  10,  9,   8,   7,   6,   5,   4,   4,
};

uint32_t lm_size_class(uint32_t n)
{
  uint32_t m = n - (n != 0); /* n - 1, and 0 for n == 0 */
  if (m < 128)
    return m / 16;
  if (m < 1024) {
    if (m < 256)
      return 4 + m / 32;
    if (m < 512)
      return 8 + m / 64;
    return 12 + m / 128;
  }
  if (m < 4096) {
    if (m < 2048)
      return m < 1152 ? 20 : 17 + m / 256;
    return m < 2304 ? 25 : 22 + m / 512;
  }
  if (m < 8192)
    return m < 4608 ? 30 : 27 + m / 1024;
  return m < 9216 ? 35 : 32 + m / 2048;
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

/* Lemma functions: facts about the logic model, proven once here (ghost code
 * with an empty body: WP proves the postcondition from the precondition). */

/*@ ghost
  /@ requires a_class: IsClass(a);
     requires b_class: IsClass(b);
     requires ordered: a < b;
     assigns \nothing;
     ensures increasing: ClassSize(a) < ClassSize(b);
  @/
  void lm_class_size_increasing(uint32_t a, uint32_t b) {}
*/

/* Smallest fit is monotone in n, so lm_size_class (which returns it) is
 * monotone: n <= m implies lm_size_class(n) <= lm_size_class(m). */
/*@ ghost
  /@ requires ordered: n <= m;
     requires fit_n: SmallestFit(n, a);
     requires fit_m: SmallestFit(m, b);
     assigns \nothing;
     ensures monotone: a <= b;
  @/
  void lm_size_class_monotone(uint32_t n, uint32_t m, uint32_t a, uint32_t b) {}
*/

/* The heap's malloc finds a class in a table indexed by (n + 15) / 16 and
 * filled with lm_size_class(16 i) (heap.c): the class of n rounded up to a
 * multiple of 16 is the class of n, since every class size is a multiple
 * of 16. So the table's answer is lm_size_class(n) itself. */
/*@ ghost
  /@ requires domain: n <= LM_SMALL_MAX;
     requires fit_rounded: SmallestFit(LM_QUANTUM * ((n + LM_QUANTUM - 1) / LM_QUANTUM), c);
     assigns \nothing;
     ensures fit: SmallestFit(n, c);
  @/
  void lm_size_class_rounded(uint32_t n, uint32_t c) {}
*/
