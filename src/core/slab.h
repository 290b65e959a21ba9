/* Slabs: a span cut into equal slots. Slab index s: 0 <= s < LM_MAX_SLABS.
 * Owner: core (slab.c). Contracts: spec/slab.acsl + below. */
#ifndef LM_SLAB_H
#define LM_SLAB_H
#include "core.h"

/* Largest span a slab may cover: 2^LM_SLAB_MAX_ORDER pages (64 KiB). */
#define LM_SLAB_MAX_SPAN (LM_PAGE_SIZE << LM_SLAB_MAX_ORDER)

/* Slab state, defined in slab.c. Declared here only so that the contracts
 * below can name it: nothing outside slab.c may read or write it. */
struct lm_slab_hdr {
  uint16_t size;   /* slot size in bytes */
  uint16_t nslots; /* slots in the span */
  uint16_t top;    /* free slots on the stack: lm_slab_perm[s][0 .. top-1] */
  uint16_t bump;   /* slots >= bump were never handed out since init */
};
extern __attribute__((visibility("hidden"))) struct lm_slab_hdr lm_slab_hdr[LM_MAX_SLABS];
extern __attribute__((visibility("hidden"))) uint16_t lm_slab_perm[LM_MAX_SLABS][LM_SLAB_MAX_SLOTS];
extern __attribute__((visibility("hidden"))) uint16_t lm_slab_pos[LM_MAX_SLABS][LM_SLAB_MAX_SLOTS];

#ifdef __FRAMAC__
#include "../../spec/slab.acsl"
#endif

/* Make slab s hold `nslots` free slots (1..LM_SLAB_MAX_SLOTS) of
 * `slot_size` bytes (a multiple of 16, at most LM_SMALL_MAX,
 * nslots * slot_size <= LM_SLAB_MAX_SPAN). O(1): touches no slot metadata.
 * Slots are handed out lowest offset first on a fresh slab. */
/*@
  requires slab: IsSlab(s);
  requires size_min: LM_QUANTUM <= slot_size;
  requires size_max: slot_size <= LM_SMALL_MAX;
  requires size_quantum: slot_size % LM_QUANTUM == 0;
  requires slots: 1 <= nslots <= LM_SLAB_MAX_SLOTS;
  requires span: nslots * slot_size <= LM_SLAB_MAX_SPAN;
  assigns lm_slab_hdr[s];
  LM_SLAB_ENSURES_VALID(s)
  ensures size: SlotSize(s) == slot_size;
  ensures nslots: NSlots(s) == nslots;
  ensures empty: Used(s) == 0;
  ensures none_allocated: \forall integer x; !Allocated(s, x);
  ensures fresh: Bump(s) == 0;
*/
void lm_slab_init(uint32_t s, uint32_t slot_size, uint32_t nslots);

/* Allocate a slot: returns its byte offset (a multiple of the slot size,
 * < nslots * slot_size) or LM_ERR_NOMEM if the slab is full. The most
 * recently freed slot is reused first; failing that, the lowest slot never
 * handed out. */
/*@
  requires slab: IsSlab(s);
  LM_SLAB_REQUIRES_VALID(s)
  assigns LM_SLAB_STATE(s);
  LM_SLAB_ENSURES_VALID(s)
  ensures geometry: SlotSize(s) == \old(SlotSize(s)) && NSlots(s) == \old(NSlots(s));
  ensures aligned: \result >= 0 ==> \result % SlotSize(s) == 0;
  ensures inside: \result >= 0 ==> \result + SlotSize(s) <= NSlots(s) * SlotSize(s);
  ensures error: \result < 0 ==> \result == LM_ERR_NOMEM;
  behavior reuse:
    assumes Top(s) > 0;
    ensures lifo: \result == \old(Perm(s, Top(s) - 1)) * SlotSize(s);
    ensures slot: \let x = \old(Perm(s, Top(s) - 1)); 0 <= x < NSlots(s);
    ensures was_free: \let x = \old(Perm(s, Top(s) - 1)); !\at(Allocated(s, x), Pre);
    ensures taken: \let x = \old(Perm(s, Top(s) - 1)); Allocated(s, x);
    ensures others: \let x = \old(Perm(s, Top(s) - 1));
      \forall integer y; y != x ==> (Allocated(s, y) <==> \at(Allocated(s, y), Pre));
    ensures used: Used(s) == \old(Used(s)) + 1;
  behavior fresh:
    assumes Top(s) == 0 && Bump(s) < NSlots(s);
    ensures lowest: \result == \old(Bump(s)) * SlotSize(s);
    ensures slot: \let x = \old(Bump(s)); 0 <= x < NSlots(s);
    ensures was_free: \let x = \old(Bump(s)); !\at(Allocated(s, x), Pre);
    ensures taken: \let x = \old(Bump(s)); Allocated(s, x);
    ensures others: \let x = \old(Bump(s));
      \forall integer y; y != x ==> (Allocated(s, y) <==> \at(Allocated(s, y), Pre));
    ensures used: Used(s) == \old(Used(s)) + 1;
    ensures untouched: \forall integer y; y > \old(Bump(s)) ==> !Allocated(s, y);
  behavior full:
    assumes Top(s) == 0 && Bump(s) == NSlots(s);
    assigns \nothing;
    ensures nomem: \result == LM_ERR_NOMEM;
  complete behaviors;
  disjoint behaviors;
*/
int32_t lm_slab_alloc(uint32_t s);

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
    ensures lifo: Perm(s, Top(s) - 1) == off / SlotSize(s);
  complete behaviors;
  disjoint behaviors;
*/
int32_t lm_slab_free(uint32_t s, uint32_t off);

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
    ensures lifo: Perm(s, Top(s) - 1) == slot;
  complete behaviors;
  disjoint behaviors;
*/
int32_t lm_slab_free_slot(uint32_t s, uint32_t slot);

/* Is slot index `slot` currently allocated? (false for slot >= nslots) */
/*@
  requires slab: IsSlab(s);
  LM_SLAB_REQUIRES_VALID(s)
  assigns \nothing;
  ensures allocated: \result <==> (slot < NSlots(s) && Allocated(s, slot));
*/
bool lm_slab_slot_allocated(uint32_t s, uint32_t slot);

/* Is the slot at byte offset `off` currently allocated? */
/*@
  requires slab: IsSlab(s);
  LM_SLAB_REQUIRES_VALID(s)
  assigns \nothing;
  ensures allocated: \result <==> (off / SlotSize(s) < NSlots(s) &&
    off % SlotSize(s) == 0 && Allocated(s, off / SlotSize(s)));
*/
bool lm_slab_is_allocated(uint32_t s, uint32_t off);

/* Exact count of allocated slots. */
/*@
  requires slab: IsSlab(s);
  LM_SLAB_REQUIRES_VALID(s)
  assigns \nothing;
  ensures used: \result == Used(s);
*/
uint32_t lm_slab_used(uint32_t s);

/*@
  requires slab: IsSlab(s);
  assigns \nothing;
  ensures nslots: \result == NSlots(s);
*/
uint32_t lm_slab_nslots(uint32_t s);

/*@
  requires slab: IsSlab(s);
  assigns \nothing;
  ensures size: \result == SlotSize(s);
*/
uint32_t lm_slab_slot_size(uint32_t s);

/* No slot allocated: the span may go back whole. */
/*@
  requires slab: IsSlab(s);
  LM_SLAB_REQUIRES_VALID(s)
  assigns \nothing;
  ensures used: \result <==> Used(s) == 0;
  ensures none_allocated: \result <==> (\forall integer x; !Allocated(s, x));
*/
bool lm_slab_is_empty(uint32_t s);

/* Every slot allocated. */
/*@
  requires slab: IsSlab(s);
  LM_SLAB_REQUIRES_VALID(s)
  assigns \nothing;
  ensures used: \result <==> Used(s) == NSlots(s);
  ensures all_allocated: \result <==> (\forall integer x; 0 <= x < NSlots(s) ==> Allocated(s, x));
*/
bool lm_slab_is_full(uint32_t s);

/* C mirror of SlabValid(s). O(slots). */
/*@
  requires slab: IsSlab(s);
  assigns \nothing;
  ensures mirror: \result <==> SlabValid(s);
*/
bool lm_slab_check(uint32_t s);

#endif
