/* Size classes: request size -> class index -> block size.
 * Owner: core (sizeclass.c). Contracts: spec/sizeclass.acsl + below. */
#ifndef LM_SIZECLASS_H
#define LM_SIZECLASS_H
#include "core.h"

/* The class of every request size, by table: entry i is the class of 16 i,
 * so lm_size_class_table[(n + 15) / 16] is lm_size_class(n) for every
 * n <= LM_SMALL_MAX (ClassTable in spec/sizeclass.acsl). The core owns it:
 * lm_size_class_table_fill writes it (the heap calls it once at start-up)
 * and lm_size_class_lookup reads it (a malloc before start-up reads it all
 * zero: spec/README.md, "The heap keeps the preconditions"); declared here
 * so that the contracts can name it, with hidden visibility. */
#define LM_CLASS_TABLE_LEN (LM_SMALL_MAX / LM_QUANTUM + 1)
#ifndef LM_SIZECLASS_HIDDEN
#define LM_SIZECLASS_HIDDEN __attribute__((visibility("hidden")))
#endif
extern uint8_t lm_size_class_table[LM_CLASS_TABLE_LEN] LM_SIZECLASS_HIDDEN;

/* The per-class tables, constants of the core that the heap reads directly
 * (a load either way, and no copy to fill at start-up): entry c is what
 * lm_class_size(c), lm_class_slab_order(c) and lm_class_slab_slots(c)
 * return, i.e. ClassSize(c), SlabOrder(c) and SlotsFit(SlabOrder(c),
 * ClassSize(c)) for every class c: proven by the lemma function
 * lm_class_lemma_tables (sizeclass.c), and those functions read them. */
extern const uint32_t lm_class_size_table[LM_NUM_CLASSES] LM_SIZECLASS_HIDDEN;
extern const uint8_t lm_class_order_table[LM_NUM_CLASSES] LM_SIZECLASS_HIDDEN;
extern const uint16_t lm_class_slots_table[LM_NUM_CLASSES] LM_SIZECLASS_HIDDEN;

#ifdef __FRAMAC__
#include "../../spec/sizeclass.acsl"
#endif

/* Class index for a request of n bytes, 0 <= n <= LM_SMALL_MAX (n == 0 maps
 * to class 0). Total, monotone; lm_class_size(lm_size_class(n)) >= n, and it
 * is the smallest such class, so the block wastes less than 16 bytes up to
 * 64 and less than a quarter of the request above. No loop, no table. */
/*@
  requires domain: n <= LM_SMALL_MAX;
  assigns \nothing;
  ensures in_range: IsClass(\result);
  ensures fits: n <= ClassSize(\result);
  ensures smallest: \result == 0 || ClassSize(\result - 1) < n;
  ensures waste_quantum: 1 <= n <= 64 ==> ClassSize(\result) - n < LM_QUANTUM;
  ensures waste_quarter: n > 64 ==> 4 * (ClassSize(\result) - n) < n;
*/
uint32_t lm_size_class(uint32_t n);

/* Block size of class c (0 <= c < LM_NUM_CLASSES): a multiple of 16,
 * strictly increasing in c, lm_class_size(LM_NUM_CLASSES-1) == LM_SMALL_MAX. */
/*@
  requires domain: 0 <= c < LM_NUM_CLASSES;
  assigns \nothing;
  ensures size: \result == ClassSize(c);
  ensures quantum: \result % LM_QUANTUM == 0;
  ensures increasing: c + 1 < LM_NUM_CLASSES ==> \result < ClassSize(c + 1);
  ensures bounds: LM_QUANTUM <= \result <= LM_SMALL_MAX;
  ensures last: c == LM_NUM_CLASSES - 1 ==> \result == LM_SMALL_MAX;
*/
LM_CORE_HOT_BEGIN
uint32_t lm_class_size(uint32_t c) LM_CORE_HOT;
LM_CORE_HOT_END

/* Buddy order (pages = 2^order, order <= LM_SLAB_MAX_ORDER) of a slab for
 * class c: the largest order whose span holds at most LM_SLAB_MAX_SLOTS
 * slots (16 B: 8 KiB, 32 and 48 B: 16 KiB, 64 to 112 B: 32 KiB, 128 B and
 * up: 64 KiB), so each
 * slab's bitmap is used well; the tail left at the end of the span is at
 * most 1/8 of it. */
/*@
  requires domain: 0 <= c < LM_NUM_CLASSES;
  assigns \nothing;
  ensures rule: \result == SlabOrder(c);
  ensures bounded: \result <= LM_SLAB_MAX_ORDER;
  ensures tail_small: TailSmall(\result, c);
  ensures row_fits: RowFits(\result, c);
  ensures largest: \forall integer k; \result < k <= LM_SLAB_MAX_ORDER ==> !RowFits(k, c);
*/
uint32_t lm_class_slab_order(uint32_t c);

/* The number of slots that slab holds (1..LM_SLAB_MAX_SLOTS): as many as fit
 * in its span, so slots * size <= span and the tail is at most span / 8. */
/*@
  requires domain: 0 <= c < LM_NUM_CLASSES;
  assigns \nothing;
  ensures as_many_as_fit: \result == SlotsFit(SlabOrder(c), ClassSize(c));
  ensures bounds: 1 <= \result <= LM_SLAB_MAX_SLOTS;
  ensures inside_span: \result * ClassSize(c) <= SpanBytes(SlabOrder(c));
  ensures tail_small: 8 * (SpanBytes(SlabOrder(c)) - \result * ClassSize(c)) <= SpanBytes(SlabOrder(c));
*/
uint32_t lm_class_slab_slots(uint32_t c);

/* Fill lm_size_class_table: entry i is the smallest class that holds 16 i
 * bytes, lm_size_class(16 i), for every i (ClassTable). Writes the table
 * and nothing else. */
/*@
  assigns lm_size_class_table[0 .. LM_CLASS_TABLE_LEN - 1];
  ensures filled: ClassTable;
*/
void lm_size_class_table_fill(void);

/* lm_size_class(n) by the table, on every malloc: one load. Once the table
 * is filled (ClassTable), the entry at (n + 15) / 16 is the smallest class
 * that holds n, which is what lm_size_class(n) returns (the smallest fit
 * is unique: lm_size_class_monotone with n == m). */
/*@
  requires domain: n <= LM_SMALL_MAX;
  requires filled: ClassTable;
  assigns \nothing;
  ensures in_range: IsClass(\result);
  ensures fits: n <= ClassSize(\result);
  ensures smallest: \result == 0 || ClassSize(\result - 1) < n;
*/
LM_CORE_HOT_BEGIN
uint32_t lm_size_class_lookup(uint32_t n) LM_CORE_HOT;
LM_CORE_HOT_END

/* What lm_class_slot_of returns for an offset that is not a slot start. */
#define LM_SLOT_NONE UINT32_MAX

/* Slot index of byte offset `off` in a slab of class c, for an offset the
 * caller knows to be a slot start (as lm_slab_alloc returns): off / size,
 * computed as (off * M) / 2^32 with M = ceil(2^32 / size) from a constant
 * table, so a multiply and a shift, no division. Exact for every multiple
 * of the size below 2^32; for other offsets the result is unspecified (use
 * lm_class_slot_of to reject them). */
/*@
  requires domain: 0 <= c < LM_NUM_CLASSES;
  assigns \nothing;
  ensures exact: off % ClassSize(c) == 0 ==> \result == off / ClassSize(c);
  ensures bounded: \result <= off / LM_QUANTUM;
*/
LM_CORE_HOT_BEGIN
uint32_t lm_class_slot(uint32_t c, uint32_t off) LM_CORE_HOT;
LM_CORE_HOT_END

/* Offset -> slot on every free: the slot index of byte offset `off` in a
 * slab of class c if `off` is a slot start (a multiple of the class size),
 * else LM_SLOT_NONE: an interior pointer is never accepted, and every slot
 * start is (for any off < 2^32; whether the slot is inside the slab is the
 * caller's compare with the slab's nslots). lm_class_slot plus one
 * multiply and compare. */
/*@
  requires domain: 0 <= c < LM_NUM_CLASSES;
  assigns \nothing;
  ensures sound: \result != LM_SLOT_NONE ==> \result * ClassSize(c) == off;
  behavior slot_start:
    assumes off % ClassSize(c) == 0;
    ensures slot: \result == off / ClassSize(c);
    ensures not_none: \result != LM_SLOT_NONE;
  behavior interior:
    assumes off % ClassSize(c) != 0;
    ensures none: \result == LM_SLOT_NONE;
  complete behaviors;
  disjoint behaviors;
*/
LM_CORE_HOT_BEGIN
uint32_t lm_class_slot_of(uint32_t c, uint32_t off) LM_CORE_HOT;
LM_CORE_HOT_END

#endif
