/* Slabs: a span cut into equal slots, handed out and taken back by index.
 *
 * Representation (SlabValid in spec/slab.acsl). Slots below `bump` have been
 * handed out at least once since lm_slab_init; slots at or above it never
 * were, and are free. perm[0 .. bump-1] is a permutation of the slots below
 * bump and pos is its inverse; positions below `top` hold the free slots
 * (a LIFO stack, top of stack at top-1), positions top .. bump-1 the
 * allocated ones. So
 *   - a slot is allocated iff slot < bump && pos[slot] >= top: O(1) checks
 *     make double and wild frees errors;
 *   - used == bump - top exactly, and empty/full follow without counting;
 *   - init is O(1) and touches no per-slot metadata: a slot's two entries
 *     are first written when the slot is first handed out, lowest offset
 *     first, so metadata and span pages of a fresh slab stay unfaulted.
 * alloc pops the most recently freed slot (warm in cache) before it bumps;
 * free swaps the slot into position top and grows the stack.
 *
 * All state is in global arrays indexed by slab: WP treats arrays whose
 * address is never taken as plain values (see spec/README.md), so no
 * pointer into them is ever formed here. */
#include "slab.h"

struct lm_slab_hdr lm_slab_hdr[LM_MAX_SLABS];
uint16_t lm_slab_perm[LM_MAX_SLABS][LM_SLAB_MAX_SLOTS];
uint16_t lm_slab_pos[LM_MAX_SLABS][LM_SLAB_MAX_SLOTS];

/* Lemma functions: the contracts in slab.h name slots by index (off / size,
 * x * size); these restate them in bytes. Ghost code with empty bodies: WP
 * proves each postcondition from the precondition alone. */

/* A slot index x < n is the offset x * size: a multiple of the slot size
 * whose slot lies wholly inside the n * size bytes of the slots. */
/*@ ghost
  /@ requires size_pos: size > 0;
     requires slot: x < n;
     assigns \nothing;
     ensures aligned: (x * size) % size == 0;
     ensures index: (x * size) / size == x;
     ensures inside: x * size + size <= n * size;
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

void lm_slab_init(uint32_t s, uint32_t slot_size, uint32_t nslots)
{
  lm_slab_hdr[s].size = (uint16_t)slot_size;
  lm_slab_hdr[s].nslots = (uint16_t)nslots;
  lm_slab_hdr[s].top = 0;
  lm_slab_hdr[s].bump = 0;
}

int32_t lm_slab_alloc(uint32_t s)
{
  uint32_t top = lm_slab_hdr[s].top;
  uint32_t slot;
  if (top > 0) {
    /* Reuse the most recently freed slot: it is at position top-1, and
     * shrinking the stack moves it to the allocated side. */
    slot = lm_slab_perm[s][top - 1];
    lm_slab_hdr[s].top = (uint16_t)(top - 1);
  } else {
    uint32_t bump = lm_slab_hdr[s].bump;
    if (bump == lm_slab_hdr[s].nslots)
      return LM_ERR_NOMEM;
    /* First use of slot `bump`: it enters the permutation at its own
     * position, which is >= top, i.e. allocated. */
    slot = bump;
    lm_slab_perm[s][bump] = (uint16_t)bump;
    lm_slab_pos[s][bump] = (uint16_t)bump;
    lm_slab_hdr[s].bump = (uint16_t)(bump + 1);
  }
  //@ ghost lm_slab_lemma_slot(slot, lm_slab_hdr[s].size, lm_slab_hdr[s].nslots);
  return (int32_t)(slot * lm_slab_hdr[s].size);
}

/* Free allocated slot `slot`: swap it with the first allocated position
 * (top), then grow the free stack over it. The callers have checked it. */
/*@
  requires slab: IsSlab(s);
  LM_SLAB_REQUIRES_VALID(s)
  requires allocated: slot < NSlots(s) && Allocated(s, slot);
  assigns LM_SLAB_STATE(s);
  LM_SLAB_ENSURES_VALID(s)
  ensures geometry: SlotSize(s) == \old(SlotSize(s)) && NSlots(s) == \old(NSlots(s));
  ensures released: !Allocated(s, slot);
  ensures others: \forall integer y; y != slot ==>
    (Allocated(s, y) <==> \at(Allocated(s, y), Pre));
  ensures used: Used(s) == \old(Used(s)) - 1;
  ensures lifo: Perm(s, Top(s) - 1) == slot;
*/
static void lm_slab_release(uint32_t s, uint32_t slot)
{
  uint32_t top = lm_slab_hdr[s].top;
  uint32_t p = lm_slab_pos[s][slot];
  uint32_t other = lm_slab_perm[s][top];
  lm_slab_perm[s][p] = (uint16_t)other;
  lm_slab_pos[s][other] = (uint16_t)p;
  lm_slab_perm[s][top] = (uint16_t)slot;
  lm_slab_pos[s][slot] = (uint16_t)top;
  lm_slab_hdr[s].top = (uint16_t)(top + 1);
}

int32_t lm_slab_free_slot(uint32_t s, uint32_t slot)
{
  if (slot >= lm_slab_hdr[s].nslots)
    return LM_ERR_RANGE;
  if (slot >= lm_slab_hdr[s].bump || lm_slab_pos[s][slot] < lm_slab_hdr[s].top)
    return LM_ERR_NOT_ALLOCATED;
  lm_slab_release(s, slot);
  return 0;
}

int32_t lm_slab_free(uint32_t s, uint32_t off)
{
  uint32_t size = lm_slab_hdr[s].size;
  uint32_t slot = off / size;
  if (slot >= lm_slab_hdr[s].nslots)
    return LM_ERR_RANGE;
  if (off % size != 0) /* same division as above: no second divide */
    return LM_ERR_INTERIOR;
#if LM_PLANT_BUG == 3 /* fuzz/plants.txt: double free accepted */
  if (slot >= lm_slab_hdr[s].bump || lm_slab_pos[s][slot] < lm_slab_hdr[s].top)
    return 0;
#endif
  if (slot >= lm_slab_hdr[s].bump || lm_slab_pos[s][slot] < lm_slab_hdr[s].top)
    return LM_ERR_NOT_ALLOCATED;
  lm_slab_release(s, slot);
  return 0;
}

bool lm_slab_slot_allocated(uint32_t s, uint32_t slot)
{
  return slot < lm_slab_hdr[s].bump && lm_slab_pos[s][slot] >= lm_slab_hdr[s].top;
}

bool lm_slab_is_allocated(uint32_t s, uint32_t off)
{
  uint32_t size = lm_slab_hdr[s].size;
  uint32_t slot = off / size;
  return slot < lm_slab_hdr[s].nslots && off % size == 0 && lm_slab_slot_allocated(s, slot);
}

uint32_t lm_slab_used(uint32_t s)
{
  return (uint32_t)lm_slab_hdr[s].bump - lm_slab_hdr[s].top;
}

uint32_t lm_slab_nslots(uint32_t s)
{
  return lm_slab_hdr[s].nslots;
}

uint32_t lm_slab_slot_size(uint32_t s)
{
  return lm_slab_hdr[s].size;
}

bool lm_slab_is_empty(uint32_t s)
{
  /* Witness that a slab is not empty: the slot at stack position Top. */
  //@ assert witness: Top(s) < Bump(s) ==> Allocated(s, Perm(s, Top(s)));
  return lm_slab_hdr[s].bump == lm_slab_hdr[s].top;
}

bool lm_slab_is_full(uint32_t s)
{
  /* Witnesses that a slab is not full: slot Bump, never handed out, or the
   * free slot at stack position 0. */
  //@ assert witness_bump: Bump(s) < NSlots(s) ==> !Allocated(s, Bump(s));
  //@ assert witness_top: Top(s) > 0 ==> 0 <= Perm(s, 0) < NSlots(s) && !Allocated(s, Perm(s, 0));
  return lm_slab_hdr[s].top == 0 && lm_slab_hdr[s].bump == lm_slab_hdr[s].nslots;
}

bool lm_slab_check(uint32_t s)
{
  uint32_t size = lm_slab_hdr[s].size, n = lm_slab_hdr[s].nslots;
  uint32_t top = lm_slab_hdr[s].top, bump = lm_slab_hdr[s].bump;
  if (size < LM_QUANTUM || size % LM_QUANTUM != 0 || n < 1 ||
      n > LM_SLAB_MAX_SLOTS || n * size > LM_SLAB_MAX_SPAN)
    return false;
  if (top > bump || bump > n)
    return false;
  /*@ loop invariant bound: 0 <= i <= bump;
      loop invariant perm_ok: \forall integer j, x; 0 <= j < i && x == Perm(s, j) ==>
        0 <= x < bump && Pos(s, x) == j;
      loop assigns i;
      loop variant bump - i; */
  for (uint32_t i = 0; i < bump; i++) {
    uint32_t x = lm_slab_perm[s][i];
    if (x >= bump || lm_slab_pos[s][x] != i)
      return false;
  }
  /*@ loop invariant bound: 0 <= x <= bump;
      loop invariant pos_ok: \forall integer y, j; 0 <= y < x && j == Pos(s, y) ==>
        0 <= j < bump && Perm(s, j) == y;
      loop assigns x;
      loop variant bump - x; */
  for (uint32_t x = 0; x < bump; x++) {
    uint32_t i = lm_slab_pos[s][x];
    if (i >= bump || lm_slab_perm[s][i] != x)
      return false;
  }
  return true;
}

