/* Slabs: a span cut into equal slots. Slab handle s: 0 <= s < LM_MAX_SLABS.
 * Owner: core (slab.c). Contracts: spec/slab.acsl + below. */
#ifndef LM_SLAB_H
#define LM_SLAB_H
#include "core.h"

/* Largest span a slab may cover: 2^LM_SLAB_MAX_ORDER pages (64 KiB). */
#define LM_SLAB_MAX_SPAN (LM_PAGE_SIZE << LM_SLAB_MAX_ORDER)

#define LM_SLAB_WORDS (LM_SLAB_MAX_SLOTS / 64) /* bitmap words per slab */

/* A slab handle: 0 <= s < LM_MAX_SLABS. */
typedef uint64_t lm_slab_t;

/* The state of one slab. Declared here only so that the contracts below can
 * name it and LM_SLAB can reach it: nothing outside slab.c may read or write
 * it. */
struct lm_slab_core {
  uint16_t size;   /* slot size in bytes */
  uint16_t nslots; /* slots in the span, 1..LM_SLAB_MAX_SLOTS */
  uint16_t used;   /* exactly the number of allocated slots */
  uint16_t hint;   /* every slot of the words below `hint` is allocated */
  uint64_t bits[LM_SLAB_WORDS]; /* bit x%64 of word x/64: 1 = slot x allocated;
                                   bits of x >= nslots are 1 */
};

/* Where slab s's record is. Every access to a slab's state goes through
 * LM_SLAB(s), and only this macro names where the records live.
 * - To WP they are elements of a global array whose address is never
 *   taken, which it treats as a plain value (spec/README.md).
 * - At run time the record of s is at address s << LM_SLAB_SHIFT: the heap
 *   keeps each slab's record at the start of a 256-byte slot of its chunk's
 *   header and passes that address shifted down as s. What the proofs
 *   assume of that memory is listed in spec/README.md ("How the core's
 *   state is reached"). */
#define LM_SLAB_SHIFT 8
#ifdef __FRAMAC__
extern struct lm_slab_core lm_slab[LM_MAX_SLABS];
#define LM_SLAB(s) lm_slab[s]
#else
#define LM_SLAB(s) (*(struct lm_slab_core *)((uintptr_t)(s) << LM_SLAB_SHIFT))
#endif
/* The handle of the record at address p (aligned to 2^LM_SLAB_SHIFT). */
#define LM_SLAB_HANDLE(p) ((lm_slab_t)((uintptr_t)(p) >> LM_SLAB_SHIFT))

/* Ghost ownership of a slot (SlotOwner in spec/slab.acsl): the core's
 * (free), the user's (allocated), or pending (allocated, and its bit set in
 * the heap's `freed` bitmap by another thread's free). */
#define LM_OWNER_CORE 0
#define LM_OWNER_USER 1
#define LM_OWNER_PENDING 2

#ifdef __FRAMAC__
#include "../../spec/slab.acsl"
#endif

/* Make slab s hold `nslots` free slots (1..LM_SLAB_MAX_SLOTS) of
 * `slot_size` bytes (a multiple of 16, at most LM_SMALL_MAX,
 * nslots * slot_size <= LM_SLAB_MAX_SPAN). Writes the whole record: the
 * bitmap is cleared and the bits past the last slot are set. */
/*@
  requires slab: IsSlab(s);
  requires size_min: LM_QUANTUM <= slot_size;
  requires size_max: slot_size <= LM_SMALL_MAX;
  requires size_quantum: slot_size % LM_QUANTUM == 0;
  requires slots: 1 <= nslots <= LM_SLAB_MAX_SLOTS;
  requires span: nslots * slot_size <= LM_SLAB_MAX_SPAN;
  assigns lm_slab[s];
  LM_SLAB_ENSURES_VALID(s)
  ensures size: SlotSize(s) == slot_size;
  ensures nslots: NSlots(s) == nslots;
  ensures empty: Used(s) == 0;
  ensures none_allocated: \forall integer x; !Allocated(s, x);
  ensures hint: Hint(s) == 0;
*/
void lm_slab_init(lm_slab_t s, uint32_t slot_size, uint32_t nslots);

/* Allocate a slot: returns the byte offset of the lowest free slot (a
 * multiple of the slot size, < nslots * slot_size), now allocated, or
 * LM_ERR_NOMEM if every slot is allocated (nothing changes then). */
/*@
  requires slab: IsSlab(s);
  LM_SLAB_REQUIRES_VALID(s)
  assigns LM_SLAB_STATE(s);
  LM_SLAB_ENSURES_VALID(s)
  ensures geometry: SlotSize(s) == \old(SlotSize(s)) && NSlots(s) == \old(NSlots(s));
  ensures aligned: \result >= 0 ==> \result % SlotSize(s) == 0;
  ensures inside: \result >= 0 ==> \result + SlotSize(s) <= NSlots(s) * SlotSize(s);
  ensures error: \result < 0 ==> \result == LM_ERR_NOMEM;
  behavior has_free:
    assumes \exists integer x; 0 <= x < NSlots(s) && !Allocated(s, x);
    ensures ok: \result >= 0;
    ensures slot: \let x = \result / SlotSize(s); 0 <= x < NSlots(s);
    ensures was_free: \let x = \result / SlotSize(s); !\at(Allocated(s, x), Pre);
    ensures taken: \let x = \result / SlotSize(s); Allocated(s, x);
    ensures lowest: \let x = \result / SlotSize(s);
      \forall integer y; 0 <= y < x ==> \at(Allocated(s, y), Pre);
    ensures others: \let x = \result / SlotSize(s);
      \forall integer y; y != x ==> (Allocated(s, y) <==> \at(Allocated(s, y), Pre));
    ensures used: Used(s) == \old(Used(s)) + 1;
  behavior full:
    assumes \forall integer x; 0 <= x < NSlots(s) ==> Allocated(s, x);
    assigns \nothing;
    ensures nomem: \result == LM_ERR_NOMEM;
  complete behaviors;
  disjoint behaviors;
*/
LM_CORE_HOT_BEGIN
int32_t lm_slab_alloc(lm_slab_t s) LM_CORE_HOT;
LM_CORE_HOT_END

/* Free the slot at byte offset `off`. Returns 0, or LM_ERR_RANGE (off beyond
 * the last slot), LM_ERR_INTERIOR (not a multiple of the slot size) or
 * LM_ERR_NOT_ALLOCATED (slot already free); on error nothing changes. */
/*@
  requires slab: IsSlab(s);
  LM_SLAB_REQUIRES_VALID(s)
  assigns LM_SLAB_STATE(s);
  LM_SLAB_ENSURES_VALID(s)
  ensures geometry: SlotSize(s) == \old(SlotSize(s)) && NSlots(s) == \old(NSlots(s));
  behavior out_of_range:
    assumes off / SlotSize(s) >= NSlots(s);
    assigns \nothing;
    ensures range: \result == LM_ERR_RANGE;
  behavior interior:
    assumes off / SlotSize(s) < NSlots(s) && off % SlotSize(s) != 0;
    assigns \nothing;
    ensures interior: \result == LM_ERR_INTERIOR;
  behavior not_allocated:
    assumes off / SlotSize(s) < NSlots(s) && off % SlotSize(s) == 0 &&
            !Allocated(s, off / SlotSize(s));
    assigns \nothing;
    ensures not_allocated: \result == LM_ERR_NOT_ALLOCATED;
  behavior freed:
    assumes off / SlotSize(s) < NSlots(s) && off % SlotSize(s) == 0 &&
            Allocated(s, off / SlotSize(s));
    ensures ok: \result == 0;
    ensures released: !Allocated(s, off / SlotSize(s));
    ensures others: \forall integer y; y != off / SlotSize(s) ==>
      (Allocated(s, y) <==> \at(Allocated(s, y), Pre));
    ensures used: Used(s) == \old(Used(s)) - 1;
  complete behaviors;
  disjoint behaviors;
*/
int32_t lm_slab_free(lm_slab_t s, uint32_t off);

/* lm_slab_free by slot index, for a caller that has already divided (the
 * heap's reciprocal multiply): returns 0, LM_ERR_RANGE (slot >= nslots) or
 * LM_ERR_NOT_ALLOCATED (slot free); on error nothing changes. */
/*@
  requires slab: IsSlab(s);
  LM_SLAB_REQUIRES_VALID(s)
  assigns LM_SLAB_STATE(s);
  LM_SLAB_ENSURES_VALID(s)
  ensures geometry: SlotSize(s) == \old(SlotSize(s)) && NSlots(s) == \old(NSlots(s));
  behavior out_of_range:
    assumes slot >= NSlots(s);
    assigns \nothing;
    ensures range: \result == LM_ERR_RANGE;
  behavior not_allocated:
    assumes slot < NSlots(s) && !Allocated(s, slot);
    assigns \nothing;
    ensures not_allocated: \result == LM_ERR_NOT_ALLOCATED;
  behavior freed:
    assumes slot < NSlots(s) && Allocated(s, slot);
    ensures ok: \result == 0;
    ensures released: !Allocated(s, slot);
    ensures others: \forall integer y; y != slot ==>
      (Allocated(s, y) <==> \at(Allocated(s, y), Pre));
    ensures used: Used(s) == \old(Used(s)) - 1;
  complete behaviors;
  disjoint behaviors;
*/
LM_CORE_HOT_BEGIN
int32_t lm_slab_free_slot(lm_slab_t s, uint32_t slot) LM_CORE_HOT;
LM_CORE_HOT_END

/* Collect the frees of other threads in word w of the bitmap: `mask` is
 * word w of the heap's `freed` bitmap of the slab (bit j: slot 64 w + j
 * was freed by another thread), taken by the owner. Frees in the core
 * every slot of the mask that is allocated, changes no other slot, and
 * returns the bits of the mask whose slot was not allocated (a second free,
 * or a slot past the last): the heap reports each as a double free. The
 * slots freed are the bits of mask & ~result, popcount(mask) -
 * popcount(result) of them (the result's bits are bits of the mask). */
/*@
  requires slab: IsSlab(s);
  requires word: w < LM_SLAB_WORDS;
  LM_SLAB_REQUIRES_VALID(s)
  assigns LM_SLAB_STATE(s);
  LM_SLAB_ENSURES_VALID(s)
  ensures geometry: SlotSize(s) == \old(SlotSize(s)) && NSlots(s) == \old(NSlots(s));
  ensures rejected: \forall integer j; 0 <= j < 64 ==>
    (BT(\result, j) <==> (BT(mask, j) && !\at(Allocated(s, 64 * w + j), Pre)));
  ensures released: \forall integer j; 0 <= j < 64 ==> BT(mask, j) ==>
    !Allocated(s, 64 * w + j);
  ensures others: \forall integer y; !(64 * w <= y < 64 * w + 64 && BT(mask, y - 64 * w)) ==>
    (Allocated(s, y) <==> \at(Allocated(s, y), Pre));
  ensures exactly: \forall integer j; 0 <= j < 64 ==> BT(mask, j) ==>
    (!BT(\result, j) <==> \at(SlotOwner(s, 64 * w + j, mask), Pre) == LM_OWNER_PENDING);
  ensures collected: \forall integer j; 0 <= j < 64 ==>
    \at(SlotOwner(s, 64 * w + j, mask), Pre) == LM_OWNER_PENDING ==>
    SlotOwner(s, 64 * w + j, 0) == LM_OWNER_CORE;
*/
uint64_t lm_slab_free_mask(lm_slab_t s, uint32_t w, uint64_t mask);

/* Is slot index `slot` currently allocated? (false for slot >= nslots) */
/*@
  requires slab: IsSlab(s);
  LM_SLAB_REQUIRES_VALID(s)
  assigns \nothing;
  ensures allocated: \result <==> (slot < NSlots(s) && Allocated(s, slot));
*/
LM_CORE_HOT_BEGIN
bool lm_slab_slot_allocated(lm_slab_t s, uint32_t slot) LM_CORE_HOT;
LM_CORE_HOT_END

/* Is the slot at byte offset `off` currently allocated? */
/*@
  requires slab: IsSlab(s);
  LM_SLAB_REQUIRES_VALID(s)
  assigns \nothing;
  ensures allocated: \result <==> (off / SlotSize(s) < NSlots(s) &&
    off % SlotSize(s) == 0 && Allocated(s, off / SlotSize(s)));
*/
bool lm_slab_is_allocated(lm_slab_t s, uint32_t off);

/* Exact count of allocated slots. */
/*@
  requires slab: IsSlab(s);
  LM_SLAB_REQUIRES_VALID(s)
  assigns \nothing;
  ensures used: \result == Used(s);
  ensures count: \result == NAlloc(s, NSlots(s));
*/
uint32_t lm_slab_used(lm_slab_t s);

/*@
  requires slab: IsSlab(s);
  assigns \nothing;
  ensures nslots: \result == NSlots(s);
*/
LM_CORE_HOT_BEGIN
uint32_t lm_slab_nslots(lm_slab_t s) LM_CORE_HOT;
LM_CORE_HOT_END

/*@
  requires slab: IsSlab(s);
  assigns \nothing;
  ensures size: \result == SlotSize(s);
*/
uint32_t lm_slab_slot_size(lm_slab_t s);

/* No slot allocated: the span may go back whole. */
/*@
  requires slab: IsSlab(s);
  LM_SLAB_REQUIRES_VALID(s)
  assigns \nothing;
  ensures used: \result <==> Used(s) == 0;
  ensures none_allocated: \result <==> (\forall integer x; !Allocated(s, x));
*/
LM_CORE_HOT_BEGIN
bool lm_slab_is_empty(lm_slab_t s) LM_CORE_HOT;
LM_CORE_HOT_END

/* Every slot allocated. */
/*@
  requires slab: IsSlab(s);
  LM_SLAB_REQUIRES_VALID(s)
  assigns \nothing;
  ensures used: \result <==> Used(s) == NSlots(s);
  ensures all_allocated: \result <==> (\forall integer x; 0 <= x < NSlots(s) ==> Allocated(s, x));
*/
bool lm_slab_is_full(lm_slab_t s);

/* C mirror of SlabValid(s), the used count included. O(slots). */
/*@
  requires slab: IsSlab(s);
  assigns \nothing;
  ensures mirror: \result <==> SlabValid(s);
*/
bool lm_slab_check(lm_slab_t s);

#endif
