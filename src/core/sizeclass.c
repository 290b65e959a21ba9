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

LM_CORE_HOT_BEGIN /* definitions of LM_CORE_HOT functions (core.h) */

/* The per-class tables (sizeclass.h): the heap reads them directly, and
 * lm_class_lemma_tables below proves every entry. */

/* Class c -> block size; mirrors ClassSize() in spec/sizeclass.acsl. */
LM_SIZECLASS_HIDDEN const uint32_t lm_class_size_table[LM_NUM_CLASSES] = {
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
LM_SIZECLASS_HIDDEN const uint8_t lm_class_order_table[LM_NUM_CLASSES] = {
  1, 2, 2, 3, 3, 3, 3, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4,
  4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4,
};

/* Slots per slab: span / size for the order above (never above the cap). */
LM_SIZECLASS_HIDDEN const uint16_t lm_class_slots_table[LM_NUM_CLASSES] = {
  512, 512, 341, 512, 409, 341, 292, 512, 409, 341,
  292, 256, 204, 170, 146, 128, 102, 85,  73,  64,
  56,  51,  42,  36,  32,  28,  25,  21,  18,  16,
  14,  12,  10,  9,   8,   7,   6,   5,   4,   4,
};

/* ceil(2^32 / size) per class (see lm_class_magic). */
static const uint32_t lm_class_magics[LM_NUM_CLASSES] = {
  268435456, 134217728, 89478486, 67108864, 53687092, 44739243, 38347923, 33554432,
  26843546,  22369622,  19173962, 16777216, 13421773, 11184811, 9586981,  8388608,
  6710887,   5592406,   4793491,  4194304,  3728271,  3355444,  2796203,  2396746,
  2097152,   1864136,   1677722,  1398102,  1198373,  1048576,  932068,   838861,
  699051,    599187,    524288,   466034,   419431,   349526,   299594,   262144,
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
  return lm_class_size_table[c];
}

uint32_t lm_class_slab_order(uint32_t c)
{
  return lm_class_order_table[c];
}

uint32_t lm_class_slab_slots(uint32_t c)
{
  return lm_class_slots_table[c];
}

/* Lemma functions: facts about the logic model, proven once here (ghost code
 * with an empty body: WP proves the postcondition from the precondition). */

/* The reciprocal multiply is exact on multiples: if m = ceil(2^32 / sz)
 * (m * sz = 2^32 + e, 0 <= e < sz) then for every multiple off = q * sz
 * below 2^32, (off * m) / 2^32 = q, since off * m = q * 2^32 + q * e and
 * 0 <= q * e <= q * sz = off < 2^32. Also the quotient is at most off / 16
 * (m <= 2^28): the slot fits in 32 bits. */
/*@ ghost
  /@ requires size: LM_QUANTUM <= sz;
     requires low: m * sz >= 4294967296;
     requires tight: m * sz < 4294967296 + sz;
     requires bounded: m <= 268435456;
     requires off: off < 4294967296;
     assigns \nothing;
     ensures exact: off % sz == 0 ==> (off * m) / 4294967296 == off / sz;
     ensures small: (off * m) / 4294967296 <= off / LM_QUANTUM;
  @/
  void lm_class_lemma_reciprocal(uint64_t off, uint64_t sz, uint64_t m) {
    /@ assert scaled: off * m <= (off / LM_QUANTUM) * 4294967296 + 15 * 268435456; @/
    if (off % sz == 0) {
      uint64_t q = off / sz;
      /@ assert split: off == q * sz; @/
      /@ assert prod: off * m == q * 4294967296 + q * (m * sz - 4294967296); @/
      /@ assert err_lo: 0 <= q * (m * sz - 4294967296); @/
      /@ assert err_hi: q * (m * sz - 4294967296) <= q * sz; @/
      /@ assert err: q * (m * sz - 4294967296) < 4294967296; @/
    }
  }
*/

/*@ ghost
  /@ requires a_class: IsClass(a);
     requires b_class: IsClass(b);
     requires ordered: a < b;
     assigns \nothing;
     ensures increasing: ClassSize(a) < ClassSize(b);
  @/
  void lm_class_size_increasing(uint32_t a, uint32_t b) {}
*/

/* Every entry of the per-class tables the heap reads (sizeclass.h) is
 * the proven value: one class by the Range tactic (40 ground cases, the
 * tables read with -wp-init-const), then all of them by a ghost loop. */
/*@ ghost
  /@ requires domain: 0 <= c < LM_NUM_CLASSES;
     assigns \nothing;
     ensures size: lm_class_size_table[c] == ClassSize(c);
     ensures order: lm_class_order_table[c] == SlabOrder(c);
     ensures slots: lm_class_slots_table[c] == SlotsFit(SlabOrder(c), ClassSize(c));
  @/
  void lm_class_lemma_entry(uint32_t c) {}
*/

/*@ ghost
  /@ assigns \nothing;
     ensures size: \forall integer c; IsClass(c) ==> lm_class_size_table[c] == ClassSize(c);
     ensures order: \forall integer c; IsClass(c) ==> lm_class_order_table[c] == SlabOrder(c);
     ensures slots: \forall integer c; IsClass(c) ==>
       lm_class_slots_table[c] == SlotsFit(SlabOrder(c), ClassSize(c));
  @/
  void lm_class_lemma_tables(void)
  {
    /@ loop invariant bound: 0 <= c <= LM_NUM_CLASSES;
       loop invariant size: \forall integer k; 0 <= k < c ==> lm_class_size_table[k] == ClassSize(k);
       loop invariant order: \forall integer k; 0 <= k < c ==> lm_class_order_table[k] == SlabOrder(k);
       loop invariant slots: \forall integer k; 0 <= k < c ==>
         lm_class_slots_table[k] == SlotsFit(SlabOrder(k), ClassSize(k));
       loop assigns c;
       loop variant LM_NUM_CLASSES - c;
    @/
    for (uint32_t c = 0; c < LM_NUM_CLASSES; c++)
      lm_class_lemma_entry(c);
  }
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
 * filled with lm_size_class(16 i) (lm_size_class_table_fill): the class of
 * n rounded up to a multiple of 16 is the class of n, since every class
 * size is a multiple of 16. So the table's answer is lm_size_class(n)
 * itself (lm_size_class_lookup). */
/*@ ghost
  /@ requires domain: n <= LM_SMALL_MAX;
     requires fit_rounded: SmallestFit(LM_QUANTUM * ((n + LM_QUANTUM - 1) / LM_QUANTUM), c);
     assigns \nothing;
     ensures fit: SmallestFit(n, c);
  @/
  void lm_size_class_rounded(uint32_t n, uint32_t c) {}
*/

/* ---- The malloc table: request size -> class in one load ---- */

LM_SIZECLASS_HIDDEN uint8_t lm_size_class_table[LM_CLASS_TABLE_LEN];

void lm_size_class_table_fill(void)
{
  /*@ loop invariant bound: 0 <= i <= LM_CLASS_TABLE_LEN;
      loop invariant filled: \forall integer j; 0 <= j < i ==>
        SmallestFit(LM_QUANTUM * j, lm_size_class_table[j]);
      loop assigns i, lm_size_class_table[0 .. LM_CLASS_TABLE_LEN - 1];
      loop variant LM_CLASS_TABLE_LEN - i;
  */
  for (uint32_t i = 0; i < LM_CLASS_TABLE_LEN; i++)
    lm_size_class_table[i] = (uint8_t)lm_size_class(i * LM_QUANTUM);
}

uint32_t lm_size_class_lookup(uint32_t n)
{
  uint32_t i = (n + LM_QUANTUM - 1) / LM_QUANTUM;
  //@ ghost lm_size_class_rounded(n, lm_size_class_table[i]);
  return lm_size_class_table[i];
}

/* ---- Offset -> slot: the reciprocal multiply ---- */

/* The reciprocal of class c's size, rounded up: M * size >= 2^32 and
 * (M - 1) * size < 2^32, i.e. M = ceil(2^32 / size); so M * size = 2^32 + e
 * with 0 <= e < size. Proven per class (Range over the 40 classes). */
/*@
  requires domain: 0 <= c < LM_NUM_CLASSES;
  assigns \nothing;
  ensures low: \result * ClassSize(c) >= 4294967296;
  ensures tight: \result * ClassSize(c) < 4294967296 + ClassSize(c);
  ensures bounded: \result <= 268435456;
*/
static inline uint32_t lm_class_magic(uint32_t c)
{
  return lm_class_magics[c];
}

/* off = q * size and M * size = 2^32 + e with 0 <= e < size give
 * off * M = q * 2^32 + q * e, and q * e <= q * size = off < 2^32: so
 * (off * M) / 2^32 = q. */
uint32_t lm_class_slot(uint32_t c, uint32_t off)
{
  uint64_t m = lm_class_magic(c);
  uint64_t p = (uint64_t)off * m;
  //@ ghost uint64_t sz = lm_class_size_table[c];
  //@ assert size: sz == ClassSize(c);
  //@ ghost lm_class_lemma_reciprocal(off, sz, m);
  //@ assert small: p / 4294967296 <= off / LM_QUANTUM;
  return (uint32_t)(p / ((uint64_t)1 << 32));
}

uint32_t lm_class_slot_of(uint32_t c, uint32_t off)
{
  uint32_t q = lm_class_slot(c, off);
  return (uint64_t)q * lm_class_size(c) == off ? q : LM_SLOT_NONE;
}

LM_CORE_HOT_END
