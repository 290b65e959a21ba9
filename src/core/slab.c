/* Slabs: a span cut into equal slots, handed out and taken back by index.
 *
 * Representation (SlabValid in spec/slab.acsl). One record per slab: the
 * geometry (size, nslots), a bitmap of LM_SLAB_MAX_SLOTS bits (bit x%64 of
 * word x/64 is 1 iff slot x is allocated; the bits of x >= nslots are 1, so
 * a word with a clear bit holds a free slot), `used`, the exact number of
 * allocated slots, and `hint`, a word below which every bit is set.
 *   - alloc takes the lowest free slot: from word `hint`, the first word
 *     with a clear bit, and in it the lowest clear bit (count trailing
 *     zeros of the complement). Live slots gather at the low end of the
 *     slab, so whole pages at its top become free and can go back to the
 *     kernel while the slab lives.
 *   - free clears the bit (an O(1) check makes double and wild frees
 *     errors) and lowers the hint if needed.
 *   - the used count is kept by alloc and free; that it is exactly the
 *     number of set bits below nslots is proven by counting lemmas over a
 *     snapshot of the record (NA in spec/slab.acsl).
 * 80 bytes per slab, whatever its slot count.
 *
 * Every access to a record goes through LM_SLAB(s) (slab.h): for the proofs
 * it is an element of a global array whose address is never taken, which
 * WP treats as a plain value (see spec/README.md). */
#include "slab.h"
#ifdef __FRAMAC__
#include "__fc_gcc_builtins.h" /* Frama-C's contract of __builtin_ctzll */
#endif
LM_CORE_HOT_BEGIN /* definitions of LM_CORE_HOT functions (core.h) */

/* No definition of lm_slab: at run time the record of slab s is at
 * s << LM_SLAB_SHIFT (slab.h); the array exists only for the proof. */

/* ---- Lemma functions: ghost code, proven like any other function and
 * called with //@ ghost where a proof needs them. ---- */

/* A slot index x < n is the offset x * size: a multiple of the slot size
 * whose slot lies wholly inside the n * size bytes of the slots. */
/*@ ghost
  /@ requires size_pos: size > 0;
     requires slot: x < n;
     requires span: n * size <= LM_SLAB_MAX_SPAN;
     assigns \nothing;
     ensures aligned: (x * size) % size == 0;
     ensures index: (x * size) / size == x;
     ensures inside: x * size + size <= n * size;
     ensures small: x * size + size <= LM_SLAB_MAX_SPAN;
  @/
  void lm_slab_lemma_slot(uint32_t x, uint32_t size, uint32_t n) {}
*/

/* lm_slab_free's out_of_range behavior (off / size >= n) is exactly "off
 * at or beyond the end of the last slot". */
/*@ ghost
  /@ requires size_pos: size > 0;
     assigns \nothing;
     ensures range: off / size >= n <==> off >= n * size;
  @/
  void lm_slab_lemma_range(uint32_t off, uint32_t size, uint32_t n) {}
*/

/* 1 << b fits a uint64_t (no unsigned overflow in the shift). A fact about
 * the constant 2^b: proven by the Range tactic (b = 0 .. 63, each case
 * evaluated), proofs/slab.session. */
/*@ ghost
  /@ requires bit: 0 <= b < 64;
     assigns \nothing;
     ensures low: 1 <= (1 << b);
     ensures high: (1 << b) <= 9223372036854775808;
  @/
  void lm_slab_lemma_pow(int32_t b) {}
*/

/* Every bit of UINT64_MAX is set: the other constant the bit reasoning
 * needs. Bit j: the Range tactic, as above (j = 0 .. 63). */
/*@ ghost
  /@ requires bit: 0 <= j < 64;
     assigns \nothing;
     ensures one: BT(18446744073709551615, j);
  @/
  void lm_slab_lemma_one(int32_t j)
  {
    /@ assert one: (18446744073709551615 & (1 << j)) != 0; @/
  }
*/

/* ... and all of them at once, by a ghost loop over j (the Range tactic
 * does not prove the quantified form itself). */
/*@ ghost
  /@ assigns \nothing;
     ensures ones: \forall integer j; 0 <= j < 64 ==> BT(18446744073709551615, j);
  @/
  void lm_slab_lemma_ones(void)
  {
    /@ loop invariant bound: 0 <= j <= 64;
       loop invariant ones: \forall integer k; 0 <= k < j ==> BT(18446744073709551615, k);
       loop assigns j;
       loop variant 64 - j;
    @/
    for (int32_t j = 0; j < 64; j++)
      lm_slab_lemma_one(j);
  }
*/

/* Bit j of UINT64_MAX >> s is bit j + s of UINT64_MAX. */
/*@ ghost
  /@ requires shift: 0 <= s < 64;
     assigns \nothing;
     ensures lsr: \forall integer j; 0 <= j < 64 ==>
       (BT(18446744073709551615 >> s, j) <==> BT(18446744073709551615, j + s));
  @/
  void lm_slab_lemma_lsr(int32_t s) {}
*/

/* UINT64_MAX >> (63 - b) has bits 0 .. b set (the mask of lm_slab_lowest_clear). */
/*@ ghost
  /@ requires bit: 0 <= b < 64;
     assigns \nothing;
     ensures low: \forall integer j; 0 <= j <= b ==> BT(18446744073709551615 >> (63 - b), j);
  @/
  void lm_slab_lemma_low(int32_t b)
  {
    lm_slab_lemma_ones();
    lm_slab_lemma_lsr(63 - b);
    /@ assert shifted: \forall integer j; 0 <= j <= b ==>
         BT(18446744073709551615, j + (63 - b)); @/
  }
*/

/* Bit y of the bitmap is bit y - 64 i of word i, for y in word i. */
/*@ ghost
  /@ requires word: i < LM_SLAB_WORDS;
     assigns \nothing;
     ensures div: \forall integer y; 0 <= y ==> (y / 64 == i <==> 64 * i <= y < 64 * i + 64);
     ensures mod: \forall integer y; 64 * i <= y < 64 * i + 64 ==> y % 64 == y - 64 * i;
  @/
  void lm_slab_lemma_word(uint32_t i) {}
*/

/* Counting, on record values. Flipping slot x (every other slot keeps its
 * state) changes the count below i by the change at x, if x < i. */
/*@ ghost
  /@ requires others: \forall integer y; y != x ==> AB(w, y) == AB(v, y);
     assigns \nothing;
     ensures flip: NA(w, n) == NA(v, n) + (x < n ? AB(w, x) - AB(v, x) : 0);
  @/
  void lm_slab_lemma_flip(struct lm_slab_core v, struct lm_slab_core w, uint32_t x,
                          uint32_t n)
  {
    /@ loop invariant bound: 0 <= i <= n;
       loop invariant flip: NA(w, i) == NA(v, i) + (x < i ? AB(w, x) - AB(v, x) : 0);
       loop assigns i;
       loop variant n - i;
    @/
    for (uint32_t i = 0; i < n; i++) {
    }
  }
*/

/* The count below n is between 0 and n; it is 0 iff no slot below n is
 * allocated, n iff every slot below n is. */
/*@ ghost
  /@ assigns \nothing;
     ensures bounds: 0 <= NA(v, n) <= n;
     ensures none: NA(v, n) == 0 <==> (\forall integer x; 0 <= x < n ==> !SlotAlloc(v, x));
     ensures all: NA(v, n) == n <==> (\forall integer x; 0 <= x < n ==> SlotAlloc(v, x));
  @/
  void lm_slab_lemma_count(struct lm_slab_core v, uint32_t n)
  {
    /@ loop invariant bound: 0 <= i <= n;
       loop invariant bounds: 0 <= NA(v, i) <= i;
       loop invariant none: NA(v, i) == 0 <==>
         (\forall integer x; 0 <= x < i ==> !SlotAlloc(v, x));
       loop invariant all: NA(v, i) == i <==>
         (\forall integer x; 0 <= x < i ==> SlotAlloc(v, x));
       loop assigns i;
       loop variant n - i;
    @/
    for (uint32_t i = 0; i < n; i++) {
    }
  }
*/

/* ---- One word of the bitmap. Small functions whose contracts carry the
 * bit reasoning; the compiler inlines them. ---- */

/*@ requires bit: b < 64;
    assigns \nothing;
    ensures bit: \result == (1 << b);
*/
static inline uint64_t lm_slab_bit(uint32_t b)
{
  //@ ghost lm_slab_lemma_pow((int32_t)b);
  return (uint64_t)1 << b;
}

/*@ requires bit: b < 64;
    assigns \nothing;
    ensures test: \result <==> BT(w, b);
*/
static inline bool lm_slab_test(uint64_t w, uint32_t b)
{
  return ((w >> b) & 1) != 0;
}

/*@ requires bit: b < 64;
    assigns \nothing;
    ensures set: \forall integer j; 0 <= j < 64 ==> (BT(\result, j) <==> (j == b || BT(w, j)));
*/
static inline uint64_t lm_slab_set(uint64_t w, uint32_t b)
{
  return w | lm_slab_bit(b);
}

/*@ requires bit: b < 64;
    assigns \nothing;
    ensures clear: \forall integer j; 0 <= j < 64 ==> (BT(\result, j) <==> (j != b && BT(w, j)));
*/
static inline uint64_t lm_slab_clear(uint64_t w, uint32_t b)
{
  return w & ~lm_slab_bit(b);
}

/* The lowest clear bit of w, or 64 if every bit is set: the same contract
 * as lm_slab_lowest_clear below, bit by bit. */
/*@ assigns \nothing;
    ensures range: \result <= 64;
    ensures below: \forall integer j; 0 <= j < \result ==> BT(w, j);
    ensures clear: \result < 64 ==> !BT(w, \result);
*/
__attribute__((noinline, cold)) static uint32_t lm_slab_lowest_clear_slow(uint64_t w)
{
  uint32_t b = 0;
  /*@ loop invariant bound: 0 <= b <= 64;
      loop invariant below: \forall integer j; 0 <= j < b ==> BT(w, j);
      loop assigns b;
      loop variant 64 - b;
  */
  while (b < 64 && lm_slab_test(w, b))
    b++;
  return b;
}

/* The lowest clear bit of w, or 64 if every bit is set. b = ctz(~w), whose
 * contract only says 0 <= b < 64; the code then checks that bits 0 .. b of
 * ~w are exactly bit b (bit b of w clear, every bit below it set), so the
 * contract does not trust the builtin further. The check cannot fail with
 * a real ctz; if it did, the bit-by-bit scan answers. */
/*@ assigns \nothing;
    ensures range: \result <= 64;
    ensures below: \forall integer j; 0 <= j < \result ==> BT(w, j);
    ensures clear: \result < 64 ==> !BT(w, \result);
*/
static inline uint32_t lm_slab_lowest_clear(uint64_t w)
{
  uint64_t nw = ~w;
  /*@ assert not: \forall integer j; 0 <= j < 64 ==> (BT(nw, j) <==> !BT(w, j)); */
  if (nw == 0)
    return 64;
  uint32_t b = (uint32_t)__builtin_ctzll(nw);
  uint64_t bit = lm_slab_bit(b);
  uint64_t low = UINT64_MAX >> (63 - b); /* bits 0 .. b */
  if ((nw & low) == bit) {
    //@ ghost lm_slab_lemma_low((int32_t)b);
    /*@ assert low: \forall integer j; 0 <= j <= b ==> BT(low, j); */
    /*@ assert bit: \forall integer j; 0 <= j < 64 ==> (BT(bit, j) <==> j == b); */
    /*@ assert and: \forall integer j; 0 <= j < 64 ==>
          (BT(nw & low, j) <==> (BT(nw, j) && BT(low, j))); */
    return b;
  }
  return lm_slab_lowest_clear_slow(w);
}

/* ---- The slab functions ---- */

/* Bits r .. 63 set, the others clear: the last word of a slab whose slots
 * end inside it. Bit by bit: at most 63 steps, once per lm_slab_init. */
/*@ requires r: 1 <= r < 64;
    assigns \nothing;
    ensures tail: \forall integer j; 0 <= j < 64 ==> (BT(\result, j) <==> r <= j);
*/
static uint64_t lm_slab_tail_word(uint32_t r)
{
  uint64_t w = 0;
  /*@ loop invariant bound: r <= j <= 64;
      loop invariant tail: \forall integer k; 0 <= k < 64 ==> (BT(w, k) <==> r <= k < j);
      loop assigns j, w;
      loop variant 64 - j;
  */
  for (uint32_t j = r; j < 64; j++)
    w = lm_slab_set(w, j);
  return w;
}

void lm_slab_init(lm_slab_t s, uint32_t slot_size, uint32_t nslots)
{
  LM_SLAB(s).size = (uint16_t)slot_size;
  LM_SLAB(s).nslots = (uint16_t)nslots;
  LM_SLAB(s).used = 0;
  LM_SLAB(s).hint = 0;
  //@ ghost lm_slab_lemma_ones();
  /*@ loop invariant bound: 0 <= i <= LM_SLAB_WORDS;
      loop invariant done: \forall integer x; 0 <= x < 64 * i ==> (Bit(s, x) <==> nslots <= x);
      loop invariant size: SlotSize(s) == slot_size;
      loop invariant nslots: NSlots(s) == nslots;
      loop invariant used: Used(s) == 0;
      loop invariant hint: Hint(s) == 0;
      loop assigns i, lm_slab[s].bits[0 .. LM_SLAB_WORDS - 1];
      loop variant LM_SLAB_WORDS - i;
  */
  for (uint32_t i = 0; i < LM_SLAB_WORDS; i++) {
    uint64_t w;
    if (64 * i + 64 <= nslots)
      w = 0;
    else if (64 * i >= nslots)
      w = UINT64_MAX;
    else
      w = lm_slab_tail_word(nslots - 64 * i);
    LM_SLAB(s).bits[i] = w;
  }
  //@ ghost lm_slab_lemma_count(lm_slab[s], nslots);
}

/* Allocate slot x = 64 i + b, free (bit b of w, word i, is clear), where
 * every bit of the words below i is set: the new hint is i. */
/*@
  requires slab: IsSlab(s);
  LM_SLAB_REQUIRES_VALID(s)
  requires word: i < LM_SLAB_WORDS && b < 64 && w == lm_slab[s].bits[i];
  requires slot: 64 * i + b < NSlots(s);
  requires clear: !BT(w, b);
  requires full: \forall integer y; 0 <= y < 64 * i ==> Bit(s, y);
  assigns LM_SLAB_STATE(s);
  LM_SLAB_ENSURES_VALID(s)
  ensures geometry: SlotSize(s) == \old(SlotSize(s)) && NSlots(s) == \old(NSlots(s));
  ensures taken: Allocated(s, 64 * i + b);
  ensures others: \forall integer y; y != 64 * i + b ==>
    (Allocated(s, y) <==> \at(Allocated(s, y), Pre));
  ensures used: Used(s) == \old(Used(s)) + 1;
*/
static inline void lm_slab_take(lm_slab_t s, uint32_t i, uint32_t b, uint64_t w)
{
  //@ ghost struct lm_slab_core before = lm_slab[s];
  //@ ghost lm_slab_lemma_word(i);
  /*@ assert was_free: !SlotAlloc(before, 64 * i + b); */
  //@ ghost lm_slab_lemma_count(before, before.nslots);
  LM_SLAB(s).bits[i] = lm_slab_set(w, b);
  LM_SLAB(s).used = (uint16_t)(LM_SLAB(s).used + 1);
  LM_SLAB(s).hint = (uint16_t)i;
  /*@ assert others: \forall integer y; y != 64 * i + b ==>
        (Allocated(s, y) <==> SlotAlloc(before, y)); */
  //@ ghost lm_slab_lemma_flip(before, lm_slab[s], 64 * i + b, before.nslots);
  /*@ assert geometry: lm_slab[s].size == before.size && lm_slab[s].nslots == before.nslots; */
}

int32_t lm_slab_alloc(lm_slab_t s)
{
  uint32_t i = LM_SLAB(s).hint;
  /*@ loop invariant bound: Hint(s) <= i <= LM_SLAB_WORDS;
      loop invariant full: \forall integer x; 0 <= x < 64 * i ==> Bit(s, x);
      loop assigns i;
      loop variant LM_SLAB_WORDS - i;
  */
  for (; i < LM_SLAB_WORDS; i++) {
    uint64_t w = LM_SLAB(s).bits[i];
    uint32_t b = lm_slab_lowest_clear(w);
    if (b < 64) {
      /* Slot x = 64 i + b is free and every slot below it is allocated
       * (the tail bits are set, so x < nslots). */
      uint32_t x = 64 * i + b;
      //@ ghost lm_slab_lemma_word(i);
      /*@ assert word: \forall integer y; 64 * i <= y < 64 * i + 64 ==>
            (Bit(s, y) <==> BT(w, y - 64 * i)); */
      /*@ assert free: x < NSlots(s) && !Allocated(s, x); */
      /*@ assert lowest: \forall integer y; 0 <= y < x ==> Allocated(s, y); */
      lm_slab_take(s, i, b, w);
      uint32_t size = LM_SLAB(s).size;
      //@ ghost lm_slab_lemma_slot(x, size, LM_SLAB(s).nslots);
      int32_t off = (int32_t)(x * size);
      /*@ assert off: off == x * size; */
      /*@ assert index: off / SlotSize(s) == x; */
      return off;
    }
  }
  /*@ assert full: \forall integer x; 0 <= x < NSlots(s) ==> Allocated(s, x); */
  return LM_ERR_NOMEM;
}

/* Free allocated slot `slot` (bit b of w, word i): clear the bit, count
 * it, lower the hint to its word if needed. The callers have checked it. */
/*@
  requires slab: IsSlab(s);
  LM_SLAB_REQUIRES_VALID(s)
  requires word: i == slot / 64 && b == slot % 64 && w == lm_slab[s].bits[i];
  requires allocated: slot < NSlots(s) && BT(w, b);
  assigns LM_SLAB_STATE(s);
  LM_SLAB_ENSURES_VALID(s)
  ensures geometry: SlotSize(s) == \old(SlotSize(s)) && NSlots(s) == \old(NSlots(s));
  ensures was_allocated: \at(Allocated(s, slot), Pre);
  ensures released: !Allocated(s, slot);
  ensures others: \forall integer y; y != slot ==>
    (Allocated(s, y) <==> \at(Allocated(s, y), Pre));
  ensures used: Used(s) == \old(Used(s)) - 1;
*/
static inline void lm_slab_release(lm_slab_t s, uint32_t slot, uint32_t i, uint32_t b,
                                   uint64_t w)
{
  (void)slot; /* named by the contract only */
  //@ ghost struct lm_slab_core before = lm_slab[s];
  //@ ghost lm_slab_lemma_count(before, before.nslots);
  uint32_t hint = LM_SLAB(s).hint;
  if (i < hint)
    hint = i;
  LM_SLAB(s).bits[i] = lm_slab_clear(w, b);
  LM_SLAB(s).used = (uint16_t)(LM_SLAB(s).used - 1);
  LM_SLAB(s).hint = (uint16_t)hint;
  /*@ assert others: \forall integer y; y != slot ==>
        (Allocated(s, y) <==> SlotAlloc(before, y)); */
  //@ ghost lm_slab_lemma_flip(before, lm_slab[s], slot, before.nslots);
  /*@ assert geometry: lm_slab[s].size == before.size && lm_slab[s].nslots == before.nslots; */
}

int32_t lm_slab_free_slot(lm_slab_t s, uint32_t slot)
{
  if (slot >= LM_SLAB(s).nslots)
    return LM_ERR_RANGE;
  uint32_t i = slot / 64, b = slot % 64;
  uint64_t w = LM_SLAB(s).bits[i];
  if (!lm_slab_test(w, b))
    return LM_ERR_NOT_ALLOCATED;
  lm_slab_release(s, slot, i, b, w);
  return 0;
}

int32_t lm_slab_free(lm_slab_t s, uint32_t off)
{
  uint32_t size = LM_SLAB(s).size;
  uint32_t slot = off / size;
  if (slot >= LM_SLAB(s).nslots)
    return LM_ERR_RANGE;
  if (off % size != 0) /* same division as above: no second divide */
    return LM_ERR_INTERIOR;
  uint32_t i = slot / 64, b = slot % 64;
  uint64_t w = LM_SLAB(s).bits[i];
  if (!lm_slab_test(w, b))
    return LM_ERR_NOT_ALLOCATED;
  lm_slab_release(s, slot, i, b, w);
  return 0;
}

bool lm_slab_slot_allocated(lm_slab_t s, uint32_t slot)
{
  return slot < LM_SLAB(s).nslots && lm_slab_test(LM_SLAB(s).bits[slot / 64], slot % 64);
}

bool lm_slab_is_allocated(lm_slab_t s, uint32_t off)
{
  uint32_t size = LM_SLAB(s).size;
  uint32_t slot = off / size;
  return slot < LM_SLAB(s).nslots && off % size == 0 && lm_slab_slot_allocated(s, slot);
}

uint32_t lm_slab_used(lm_slab_t s)
{
  return LM_SLAB(s).used;
}

uint32_t lm_slab_nslots(lm_slab_t s)
{
  return LM_SLAB(s).nslots;
}

uint32_t lm_slab_slot_size(lm_slab_t s)
{
  return LM_SLAB(s).size;
}

bool lm_slab_is_empty(lm_slab_t s)
{
  //@ ghost lm_slab_lemma_count(lm_slab[s], LM_SLAB(s).nslots);
  return LM_SLAB(s).used == 0;
}

bool lm_slab_is_full(lm_slab_t s)
{
  //@ ghost lm_slab_lemma_count(lm_slab[s], LM_SLAB(s).nslots);
  return LM_SLAB(s).used == LM_SLAB(s).nslots;
}

bool lm_slab_check(lm_slab_t s)
{
  uint32_t size = LM_SLAB(s).size, n = LM_SLAB(s).nslots;
  if (size < LM_QUANTUM || size % LM_QUANTUM != 0 || n < 1 ||
      n > LM_SLAB_MAX_SLOTS || n * size > LM_SLAB_MAX_SPAN)
    return false;
  /*@ loop invariant bound: n <= x <= LM_SLAB_MAX_SLOTS;
      loop invariant tail: \forall integer y; n <= y < x ==> Bit(s, y);
      loop assigns x;
      loop variant LM_SLAB_MAX_SLOTS - x;
  */
  for (uint32_t x = n; x < LM_SLAB_MAX_SLOTS; x++)
    if (!lm_slab_test(LM_SLAB(s).bits[x / 64], x % 64))
      return false;
  uint32_t hint = LM_SLAB(s).hint;
  if (hint > LM_SLAB_WORDS)
    return false;
  /*@ loop invariant bound: 0 <= x <= 64 * hint;
      loop invariant hint: \forall integer y; 0 <= y < x ==> Bit(s, y);
      loop assigns x;
      loop variant 64 * hint - x;
  */
  for (uint32_t x = 0; x < 64 * hint; x++)
    if (!lm_slab_test(LM_SLAB(s).bits[x / 64], x % 64))
      return false;
  uint32_t count = 0;
  /*@ loop invariant bound: 0 <= x <= n;
      loop invariant count: count == NAlloc(s, x);
      loop invariant count_max: count <= x;
      loop assigns x, count;
      loop variant n - x;
  */
  for (uint32_t x = 0; x < n; x++)
    count += lm_slab_test(LM_SLAB(s).bits[x / 64], x % 64);
  return count == LM_SLAB(s).used;
}

/* The bits of the mask from the lowest up: b is the lowest set bit of
 * `rest` (the lowest clear bit of its complement: ctz, checked), and every
 * bit below the ghost `lo` is done. A slot that is allocated is freed as
 * lm_slab_free_slot frees it (lm_slab_release); any other bit goes to the
 * result, nothing changed. (Not a call of lm_slab_free_slot: WP does not
 * use a behavior's `assigns \nothing` at a call site, so its error cases
 * would not be known to leave the record as it was.) */
uint64_t lm_slab_free_mask(lm_slab_t s, uint32_t w, uint64_t mask)
{
  uint64_t rest = mask, bad = 0;
  //@ ghost uint32_t lo = 0;
  /*@ loop invariant v_size: S_Size(s);
      loop invariant v_slots: S_Slots(s);
      loop invariant v_span: S_Span(s);
      loop invariant v_tail: S_Tail(s);
      loop invariant v_hint: S_Hint(s);
      loop invariant v_used: S_Used(s);
      loop invariant geometry: SlotSize(s) == \at(SlotSize(s), Pre) &&
        NSlots(s) == \at(NSlots(s), Pre);
      loop invariant lo: 0 <= lo <= 64;
      loop invariant rest: \forall integer j; 0 <= j < 64 ==>
        (BT(rest, j) <==> (lo <= j && BT(mask, j)));
      loop invariant bad: \forall integer j; 0 <= j < 64 ==>
        (BT(bad, j) <==> (j < lo && BT(mask, j) && !\at(Allocated(s, 64 * w + j), Pre)));
      loop invariant released: \forall integer j; 0 <= j < lo ==> BT(mask, j) ==>
        !Allocated(s, 64 * w + j);
      loop invariant others: \forall integer y;
        !(64 * w <= y < 64 * w + lo && BT(mask, y - 64 * w)) ==>
        (Allocated(s, y) <==> \at(Allocated(s, y), Pre));
      loop assigns lo, rest, bad, LM_SLAB_STATE(s);
      loop variant 64 - lo;
  */
  for (;;) {
    uint64_t nr = ~rest;
    /*@ assert not: \forall integer j; 0 <= j < 64 ==> (BT(nr, j) <==> !BT(rest, j)); */
    uint32_t b = lm_slab_lowest_clear(nr);
    if (b >= 64)
      break;
    /*@ assert pending: BT(rest, b) && BT(mask, b) && lo <= b; */
    uint32_t x = 64 * w + b;
    /*@ assert unchanged: \let y = x; Allocated(s, y) <==> \at(Allocated(s, y), Pre); */
    uint64_t word = LM_SLAB(s).bits[w];
    if (x < LM_SLAB(s).nslots && lm_slab_test(word, b)) {
      /*@ assert was: \let y = x; \at(Allocated(s, y), Pre); */
      lm_slab_release(s, x, w, b, word);
    } else {
      /*@ assert was_not: \let y = x; !\at(Allocated(s, y), Pre); */
      bad = lm_slab_set(bad, b);
    }
    rest = lm_slab_clear(rest, b);
    //@ ghost lo = b + 1;
  }
  /*@ assert done: \forall integer j; 0 <= j < 64 ==> !BT(rest, j); */
  //@ ghost lm_slab_lemma_word(w);
  /*@ assert owner: \forall integer j; 0 <= j < 64 ==>
        (\at(SlotOwner(s, 64 * w + j, mask), Pre) == LM_OWNER_PENDING <==>
         (BT(mask, j) && \at(Allocated(s, 64 * w + j), Pre))); */
  /*@ assert core: \forall integer j; 0 <= j < 64 ==>
        (SlotOwner(s, 64 * w + j, 0) == LM_OWNER_CORE <==> !Allocated(s, 64 * w + j)); */
  return bad;
}
LM_CORE_HOT_END
