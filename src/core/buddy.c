/* Buddy allocator over the pages of one chunk. Contracts: buddy.h,
 * spec/buddy.acsl; design and proof notes: spec/buddy.md.
 *
 * Every block head sits on exactly one stack: stack (0, k) holds the free
 * blocks of order k, stack (1, k) the allocated ones (entry j of stack
 * (s, k) is stk[j][s][k]), and pos[p] is the slot of head p on its stack.
 * That bijection makes "every free block is on
 * its list exactly once" a pair of universally quantified facts, removal of
 * a buddy O(1), and the page count a finite sum over the 2 x 11 stack sizes.
 *
 * Every public operation is a short sequence of four moves (take_free,
 * split, merge, release), each of which maps a valid chunk to a valid chunk,
 * so the invariant holds at every loop head and between calls.
 *
 * unlink_head and link_head break the invariant; their contracts say
 * exactly which cells they write. stk_drop and stk_push wrap them with the
 * stack bijection as pre- and postcondition, so the moves, built on those,
 * only reason about tiling and page counts. The
 * two one-line helpers buddy_of and buddy_free carry no contracts: the
 * proof inlines them into their callers (-inline-calls, proofs/buddy.flags). */
#define LM_BUDDY_LEMMAS /* this file proves and uses the lemma functions */
#include "core.h"

#if LM_MAX_ORDER > 15
#error "buddy: stacks and positions are uint16_t, so LM_MAX_ORDER <= 15"
#endif

/* No definition of lm_buddy: at run time the state of chunk c is at
 * c << LM_BUDDY_SHIFT (buddy.h); the array exists only for the proof. */

/* Powers of two from a table: `1u << k` with a symbolic k is opaque to the
 * provers, a table lookup is a plain value (spec: Pow2). */
LM_BUDDY_HIDDEN const uint16_t lm_buddy_pow2[16] = {
  1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 2048, 4096, 8192, 16384, 32768
};

/* The buddy of the order-k block at p (p aligned to 2^k, k < max). By
 * arithmetic, not XOR: the provers reason about + and % far better. */
static inline uint32_t buddy_of(uint32_t p, uint32_t k)
{
  uint32_t w = lm_buddy_pow2[k];
  return p % (2 * w) == 0 ? p + w : p - w;
}

/* Drop head p (on stack s, order k) from its stack: the last entry fills
 * its slot. The page count of the stacks drops by 2^k. */
/*@ requires chunk: c < LM_MAX_CHUNKS && p < LM_CHUNK_PAGES && s < 2 && k <= LM_MAX_ORDER;
    requires on_stack: lm_buddy[c].pos[p] < lm_buddy[c].cnt[s][k] <= LM_CHUNK_PAGES;
    requires last_in: lm_buddy[c].stk[lm_buddy[c].cnt[s][k] - 1][s][k] < LM_CHUNK_PAGES;
    assigns lm_buddy[c].stk[lm_buddy[c].pos[p]][s][k],
            lm_buddy[c].pos[lm_buddy[c].stk[lm_buddy[c].cnt[s][k] - 1][s][k]],
            lm_buddy[c].cnt[s][k], lm_buddy[c].st[p];
    ensures moved: lm_buddy[c].stk[\old(lm_buddy[c].pos[p])][s][k] ==
      \old(lm_buddy[c].stk[lm_buddy[c].cnt[s][k] - 1][s][k]);
    ensures moved_pos: lm_buddy[c].pos[\old(lm_buddy[c].stk[lm_buddy[c].cnt[s][k] - 1][s][k])] ==
      \old(lm_buddy[c].pos[p]);
    ensures popped: lm_buddy[c].cnt[s][k] == \old(lm_buddy[c].cnt[s][k]) - 1;
    ensures interior: lm_buddy[c].st[p] == LM_BUDDY_INTERIOR;
    ensures pages_s: Pages(c, s) == \old(Pages(c, s)) - Pow2(k);
    ensures pages_other: Pages(c, 1 - s) == \old(Pages(c, 1 - s)); */
static void unlink_head(uint32_t c, uint32_t s, uint32_t k, uint32_t p)
{
  uint32_t i = LM_BUDDY(c).pos[p], n = (uint32_t)LM_BUDDY(c).cnt[s][k] - 1;
  uint32_t last = LM_BUDDY(c).stk[n][s][k];
  LM_BUDDY(c).stk[i][s][k] = (uint16_t)last;
  LM_BUDDY(c).pos[last] = (uint16_t)i;
  LM_BUDDY(c).cnt[s][k] = (uint16_t)n;
  LM_BUDDY(c).st[p] = LM_BUDDY_INTERIOR;
}

/* Make p a head of order k in state s+1 on top of stack (s, k). The page
 * count of the stacks grows by 2^k. */
/*@ requires chunk: c < LM_MAX_CHUNKS && p < LM_CHUNK_PAGES && s < 2 && k <= LM_MAX_ORDER;
    requires room: lm_buddy[c].cnt[s][k] < LM_CHUNK_PAGES;
    assigns lm_buddy[c].stk[lm_buddy[c].cnt[s][k]][s][k], lm_buddy[c].pos[p],
            lm_buddy[c].cnt[s][k], lm_buddy[c].st[p], lm_buddy[c].ord[p];
    ensures pushed: lm_buddy[c].stk[\old(lm_buddy[c].cnt[s][k])][s][k] == p;
    ensures pos: lm_buddy[c].pos[p] == \old(lm_buddy[c].cnt[s][k]);
    ensures count: lm_buddy[c].cnt[s][k] == \old(lm_buddy[c].cnt[s][k]) + 1;
    ensures head: lm_buddy[c].st[p] == s + 1 && lm_buddy[c].ord[p] == k;
    ensures pages_s: Pages(c, s) == \old(Pages(c, s)) + Pow2(k);
    ensures pages_other: Pages(c, 1 - s) == \old(Pages(c, 1 - s)); */
static void link_head(uint32_t c, uint32_t s, uint32_t k, uint32_t p)
{
  uint32_t n = LM_BUDDY(c).cnt[s][k];
  LM_BUDDY(c).stk[n][s][k] = (uint16_t)p;
  LM_BUDDY(c).pos[p] = (uint16_t)n;
  LM_BUDDY(c).cnt[s][k] = (uint16_t)(n + 1);
  LM_BUDDY(c).st[p] = (uint8_t)(s + 1);
  LM_BUDDY(c).ord[p] = (uint8_t)k;
}

/* unlink_head and link_head with the stack bijection as their contract:
 * the facts hold before and after, p's state (and order) being the only
 * change. Proved here once, in a context free of tiling and sums, so the
 * moves only reason about those. */

/* Head p (state s+1, order k) leaves its stack and becomes interior. */
/*@ requires chunk: c < LM_MAX_CHUNKS && p < LM_CHUNK_PAGES && s < 2 && k <= LM_MAX_ORDER;
    LM_BUDDY_STACKS(requires, c)
    requires head: lm_buddy[c].st[p] == s + 1 && lm_buddy[c].ord[p] == k;
    assigns lm_buddy[c].stk[lm_buddy[c].pos[p]][s][k],
            lm_buddy[c].pos[lm_buddy[c].stk[lm_buddy[c].cnt[s][k] - 1][s][k]],
            lm_buddy[c].cnt[s][k], lm_buddy[c].st[p];
    LM_BUDDY_STACKS(ensures, c)
    ensures interior: lm_buddy[c].st[p] == LM_BUDDY_INTERIOR;
    ensures pages_s: Pages(c, s) == \old(Pages(c, s)) - Pow2(k);
    ensures pages_other: Pages(c, 1 - s) == \old(Pages(c, 1 - s)); */
static void stk_drop(uint32_t c, uint32_t s, uint32_t k, uint32_t p)
{
  //@ assert last_in: lm_buddy[c].stk[lm_buddy[c].cnt[s][k] - 1][s][k] < LM_CHUNK_PAGES;
  // The last entry is the only head of (s, k) in the top slot: every other
  // one stays below the new count.
  /*@ assert below_top: \forall integer q; InChunk(q) && lm_buddy[c].st[q] == s + 1 &&
        lm_buddy[c].ord[q] == k && q != lm_buddy[c].stk[lm_buddy[c].cnt[s][k] - 1][s][k] ==>
        lm_buddy[c].pos[q] < lm_buddy[c].cnt[s][k] - 1; */
  unlink_head(c, s, k, p);
}

/* Interior page p becomes a head of state s+1 and order k on its stack. */
/*@ requires chunk: c < LM_MAX_CHUNKS && p < LM_CHUNK_PAGES && s < 2 && k <= LM_MAX_ORDER;
    LM_BUDDY_STACKS(requires, c)
    requires interior: lm_buddy[c].st[p] == LM_BUDDY_INTERIOR;
    requires room: lm_buddy[c].cnt[s][k] < LM_CHUNK_PAGES;
    assigns lm_buddy[c].stk[lm_buddy[c].cnt[s][k]][s][k], lm_buddy[c].pos[p],
            lm_buddy[c].cnt[s][k], lm_buddy[c].st[p], lm_buddy[c].ord[p];
    LM_BUDDY_STACKS(ensures, c)
    ensures head: lm_buddy[c].st[p] == s + 1 && lm_buddy[c].ord[p] == k;
    ensures pages_s: Pages(c, s) == \old(Pages(c, s)) + Pow2(k);
    ensures pages_other: Pages(c, 1 - s) == \old(Pages(c, 1 - s)); */
static void stk_push(uint32_t c, uint32_t s, uint32_t k, uint32_t p)
{
  link_head(c, s, k, p);
}

/* The four moves. Each takes a valid chunk to a valid chunk. */

/* Free head p becomes allocated, same order. */
/*@ requires chunk: c < LM_MAX_CHUNKS && p < LM_CHUNK_PAGES;
    LM_BUDDY_VALID(requires, c)
    requires free: FreeHead(c, p);
    assigns lm_buddy[c];
    LM_BUDDY_VALID(ensures, c)
    ensures kept: PagesKept{Pre, Here}(c, p, p);
    ensures used: UsedHead(c, p) && Ord(c, p) == \old(Ord(c, p));
    ensures count: lm_buddy[c].nfree == \old(lm_buddy[c].nfree) - Pow2(Ord(c, p)); */
static void take_free(uint32_t c, uint32_t p)
{
  uint32_t k = LM_BUDDY(c).ord[p];
  //@ ghost lm_buddy_lemma_term(c, 0, k);
  stk_drop(c, 0, k, p);
  //@ ghost lm_buddy_lemma_term(c, 1, k);
  stk_push(c, 1, k, p);
  LM_BUDDY(c).nfree -= lm_buddy_pow2[k];
}

/* The cell-level steps of split, merge and release: the stack and count
 * updates, with the bookkeeping half of the invariant (LM_BUDDY_BOOK) as
 * their contract and their exact effect on the pages' states and orders.
 * The moves prove tiling and merging from that effect alone, so neither
 * proof sees the other's facts (nor the intermediate states of the stacks). */

/* Allocated head p of order k+1 becomes allocated of order k; the upper
 * half p + 2^k, interior until now, becomes a free head of order k. */
/*@ requires chunk: c < LM_MAX_CHUNKS && k < LM_MAX_ORDER && p + 2 * Pow2(k) <= LM_CHUNK_PAGES;
    LM_BUDDY_BOOK(requires, c)
    requires used: UsedHead(c, p) && Ord(c, p) == k + 1;
    requires high: lm_buddy[c].st[p + Pow2(k)] == LM_BUDDY_INTERIOR;
    assigns lm_buddy[c];
    LM_BUDDY_BOOK(ensures, c)
    ensures kept: KeptFrom(\at(lm_buddy[c], Pre), c, p, p + Pow2(k));
    ensures low: UsedHead(c, p) && Ord(c, p) == k;
    ensures high: FreeHead(c, p + Pow2(k)) && Ord(c, p + Pow2(k)) == k;
    ensures count: lm_buddy[c].nfree == \old(lm_buddy[c].nfree) + Pow2(k); */
static void split_cells(uint32_t c, uint32_t p, uint32_t k)
{
  //@ ghost lm_buddy_lemma_pow2(k);
  //@ ghost lm_buddy_lemma_term(c, 1, k + 1);
  stk_drop(c, 1, k + 1, p);
  //@ ghost lm_buddy_lemma_term(c, 1, k);
  stk_push(c, 1, k, p);
  //@ ghost lm_buddy_lemma_term(c, 0, k);
  stk_push(c, 0, k, p + lm_buddy_pow2[k]);
  LM_BUDDY(c).nfree += lm_buddy_pow2[k];
}

/* Allocated head p and free head b, both of order k, become interior but
 * for m (one of them), now an allocated head of order k+1. */
/*@ requires chunk: c < LM_MAX_CHUNKS && p < LM_CHUNK_PAGES && b < LM_CHUNK_PAGES &&
      k < LM_MAX_ORDER && (m == p || m == b);
    LM_BUDDY_BOOK(requires, c)
    requires used: UsedHead(c, p) && Ord(c, p) == k;
    requires buddy: FreeHead(c, b) && Ord(c, b) == k;
    assigns lm_buddy[c];
    LM_BUDDY_BOOK(ensures, c)
    ensures kept: KeptFrom(\at(lm_buddy[c], Pre), c, p, b);
    ensures merged: UsedHead(c, m) && Ord(c, m) == k + 1;
    ensures gone: !Head(c, m == p ? b : p);
    ensures count: lm_buddy[c].nfree == \old(lm_buddy[c].nfree) - Pow2(k); */
static void merge_cells(uint32_t c, uint32_t p, uint32_t b, uint32_t m, uint32_t k)
{
  //@ ghost lm_buddy_lemma_pow2(k);
  //@ ghost lm_buddy_lemma_term(c, 0, k);
  stk_drop(c, 0, k, b);
  stk_drop(c, 1, k, p);
  //@ ghost lm_buddy_lemma_term(c, 1, k + 1);
  stk_push(c, 1, k + 1, m);
  LM_BUDDY(c).nfree -= lm_buddy_pow2[k];
}

/* Allocated head p of order k becomes free. */
/*@ requires chunk: c < LM_MAX_CHUNKS && p < LM_CHUNK_PAGES && k <= LM_MAX_ORDER;
    LM_BUDDY_BOOK(requires, c)
    requires used: UsedHead(c, p) && Ord(c, p) == k;
    assigns lm_buddy[c];
    LM_BUDDY_BOOK(ensures, c)
    ensures kept: KeptFrom(\at(lm_buddy[c], Pre), c, p, p);
    ensures free: FreeHead(c, p) && Ord(c, p) == k;
    ensures count: lm_buddy[c].nfree == \old(lm_buddy[c].nfree) + Pow2(k); */
static void release_cells(uint32_t c, uint32_t p, uint32_t k)
{
  //@ ghost lm_buddy_lemma_term(c, 1, k);
  stk_drop(c, 1, k, p);
  //@ ghost lm_buddy_lemma_term(c, 0, k);
  stk_push(c, 0, k, p);
  LM_BUDDY(c).nfree += lm_buddy_pow2[k];
}

/* Allocated head p of order k >= 1 keeps the lower half (order k-1) and
 * gives the upper half back as a free block: its buddy is p, allocated, so
 * the free blocks stay maximally merged. */
/*@ requires chunk: c < LM_MAX_CHUNKS && p < LM_CHUNK_PAGES;
    LM_BUDDY_VALID(requires, c)
    requires used: UsedHead(c, p) && Ord(c, p) >= 1;
    assigns lm_buddy[c];
    LM_BUDDY_VALID(ensures, c)
    ensures kept: PagesKept{Pre, Here}(c, p, p + Pow2(Ord(c, p)));
    ensures low: UsedHead(c, p) && Ord(c, p) == \old(Ord(c, p)) - 1;
    ensures high: FreeHead(c, p + Pow2(Ord(c, p))) && Ord(c, p + Pow2(Ord(c, p))) == Ord(c, p);
    ensures count: lm_buddy[c].nfree == \old(lm_buddy[c].nfree) + Pow2(Ord(c, p)); */
static void split(uint32_t c, uint32_t p)
{
  uint32_t k = (uint32_t)LM_BUDDY(c).ord[p] - 1;
  //@ ghost struct lm_buddy_chunk before = lm_buddy[c];
  //@ ghost lm_buddy_lemma_pow2(k);
  //@ assert high_interior: !Head(c, p + Pow2(k));
  split_cells(c, p, k);
  /*@ ghost lm_buddy_lemma_split_basic(c, before, p, k);
      lm_buddy_lemma_split_aligned(c, before, p, k);
      lm_buddy_lemma_split_next(c, before, p, k);
      lm_buddy_lemma_split_inside(c, before, p, k);
      lm_buddy_lemma_split_merged(c, before, p, k); */
}

/* Allocated head p of order k < max whose buddy is a free block of order k:
 * the two become one allocated block of order k+1, returned. */
/*@ requires chunk: c < LM_MAX_CHUNKS && p < LM_CHUNK_PAGES;
    LM_BUDDY_VALID(requires, c)
    requires used: UsedHead(c, p) && Ord(c, p) < LM_MAX_ORDER;
    requires buddy_free: FreeHead(c, Buddy(p, Ord(c, p))) &&
      Ord(c, Buddy(p, Ord(c, p))) == Ord(c, p);
    assigns lm_buddy[c];
    LM_BUDDY_VALID(ensures, c)
    ensures kept: PagesKept{Pre, Here}(c, p, \old(Buddy(p, Ord(c, p))));
    ensures merged_low: \old(LowHalf(p, Ord(c, p))) ==> \result == p;
    ensures merged_high: !\old(LowHalf(p, Ord(c, p))) ==> \result == p - Pow2(\old(Ord(c, p)));
    ensures used: UsedHead(c, \result) && Ord(c, \result) == \old(Ord(c, p)) + 1;
    ensures count: lm_buddy[c].nfree == \old(lm_buddy[c].nfree) - Pow2(\old(Ord(c, p))); */
static uint32_t merge(uint32_t c, uint32_t p)
{
  uint32_t k = LM_BUDDY(c).ord[p];
  //@ ghost lm_buddy_lemma_pow2(k);
  //@ ghost lm_buddy_lemma_half(p, k);
  uint32_t b = buddy_of(p, k);
  //@ ghost lm_buddy_lemma_half(b, k);
  uint32_t m = b < p ? b : p;
  //@ ghost struct lm_buddy_chunk before = lm_buddy[c];
  //@ assert pair: LowHalf(m, k) && (m == p ? b : p) == m + Pow2(k);
  merge_cells(c, p, b, m, k);
  /*@ ghost lm_buddy_lemma_merge_basic(c, before, m, k);
      lm_buddy_lemma_merge_aligned(c, before, m, k);
      lm_buddy_lemma_merge_next(c, before, m, k);
      lm_buddy_lemma_merge_inside(c, before, m, k);
      lm_buddy_lemma_merge_merged(c, before, m, k); */
  return m;
}

/* Allocated head p whose buddy is not a free block of its order (or that
 * spans the chunk) becomes free. */
/*@ requires chunk: c < LM_MAX_CHUNKS && p < LM_CHUNK_PAGES;
    LM_BUDDY_VALID(requires, c)
    requires used: UsedHead(c, p);
    requires maximal: Ord(c, p) == LM_MAX_ORDER ||
      !(FreeHead(c, Buddy(p, Ord(c, p))) && Ord(c, Buddy(p, Ord(c, p))) == Ord(c, p));
    assigns lm_buddy[c];
    LM_BUDDY_VALID(ensures, c)
    ensures kept: PagesKept{Pre, Here}(c, p, p);
    ensures free: FreeHead(c, p) && Ord(c, p) == \old(Ord(c, p));
    ensures count: lm_buddy[c].nfree == \old(lm_buddy[c].nfree) + Pow2(Ord(c, p)); */
static void release(uint32_t c, uint32_t p)
{
  uint32_t k = LM_BUDDY(c).ord[p];
  //@ ghost struct lm_buddy_chunk before = lm_buddy[c];
  release_cells(c, p, k);
  /*@ ghost lm_buddy_lemma_release_basic(c, before, p, k);
      lm_buddy_lemma_release_aligned(c, before, p, k);
      lm_buddy_lemma_release_next(c, before, p, k);
      lm_buddy_lemma_release_inside(c, before, p, k);
      lm_buddy_lemma_release_merged(c, before, p, k); */
}

/* Is the buddy of allocated head p (order k < max) a free block of order k? */
static inline bool buddy_free(uint32_t c, uint32_t p, uint32_t k)
{
  uint32_t b = buddy_of(p, k);
  return LM_BUDDY(c).st[b] == LM_BUDDY_FREE && LM_BUDDY(c).ord[b] == k;
}

void lm_buddy_init(uint32_t c)
{
  /*@ loop invariant p_range: 0 <= p <= LM_CHUNK_PAGES;
      loop invariant cleared: \forall integer q; 0 <= q < p ==> !Head(c, q);
      loop assigns p, lm_buddy[c].st[0 .. LM_CHUNK_PAGES - 1];
      loop variant LM_CHUNK_PAGES - p; */
  for (uint32_t p = 0; p < LM_CHUNK_PAGES; p++)
    LM_BUDDY(c).st[p] = LM_BUDDY_INTERIOR;
  /*@ loop invariant k_range: 0 <= k <= LM_MAX_ORDER + 1;
      loop invariant emptied: \forall integer s, j; 0 <= s < 2 && 0 <= j < k ==>
        lm_buddy[c].cnt[s][j] == 0;
      loop assigns k, lm_buddy[c].cnt[0 .. 1][0 .. LM_MAX_ORDER];
      loop variant LM_MAX_ORDER + 1 - k; */
  for (uint32_t k = 0; k <= LM_MAX_ORDER; k++) {
    LM_BUDDY(c).cnt[0][k] = 0;
    LM_BUDDY(c).cnt[1][k] = 0;
  }
  link_head(c, 0, LM_MAX_ORDER, 0);
  LM_BUDDY(c).nfree = LM_CHUNK_PAGES;
}

/* Allocation policy: the smallest order with a free block, and on that
 * order's stack the most recently freed block (LIFO: its pages are the most
 * likely to be resident and cached). Splitting keeps the lower half, so a
 * fresh chunk fills from page 0 upwards and its top stays whole. Finding the
 * lowest-addressed free block instead would cost a scan or an ordered
 * structure; the heap gathers free memory at chunk granularity. */
int32_t lm_buddy_alloc(uint32_t c, uint32_t order)
{
  uint32_t k = order;
  /*@ loop invariant k_range: order <= k && (k <= LM_MAX_ORDER + 1 || k == order);
      loop invariant none_below: \forall integer j; order <= j < k ==> lm_buddy[c].cnt[0][j] == 0;
      loop assigns k;
      loop variant LM_MAX_ORDER + 1 - k; */
  while (k <= LM_MAX_ORDER && LM_BUDDY(c).cnt[0][k] == 0)
    k++;
  if (k > LM_MAX_ORDER)
    return LM_ERR_NOMEM;
  uint32_t p = LM_BUDDY(c).stk[LM_BUDDY(c).cnt[0][k] - 1][0][k];
  take_free(c, p);
  /*@ loop invariant k_range: order <= k <= LM_MAX_ORDER;
      loop invariant p_in: InChunk(p);
      loop invariant p_used: UsedHead(c, p) && Ord(c, p) == k;
      LM_BUDDY_VALID(loop invariant, c)
      loop invariant others_used: \forall integer q; InChunk(q) && q != p ==>
        (UsedHead(c, q) <==> \at(UsedHead(c, q), Pre));
      loop invariant others_order: \forall integer q; InChunk(q) && q != p && UsedHead(c, q) ==>
        Ord(c, q) == \at(Ord(c, q), Pre);
      loop invariant count: lm_buddy[c].nfree == \at(lm_buddy[c].nfree, Pre) - Pow2(k);
      loop assigns k, LM_BUDDY_CHUNK(c);
      loop variant k - order; */
  while (k > order) {
    //@ ghost lm_buddy_lemma_pow2(k - 1);
    split(c, p);
    k--;
  }
  return (int32_t)p;
}

int32_t lm_buddy_free(uint32_t c, uint32_t page)
{
  if (page >= LM_CHUNK_PAGES)
    return LM_ERR_RANGE;
  if (LM_BUDDY(c).st[page] == LM_BUDDY_INTERIOR)
    return LM_ERR_INTERIOR;
  if (LM_BUDDY(c).st[page] != LM_BUDDY_USED)
    return LM_ERR_NOT_ALLOCATED;
  uint32_t order = LM_BUDDY(c).ord[page], k = order, p = page;
  /*@ loop invariant k_range: order <= k <= LM_MAX_ORDER;
      loop invariant p_in: InChunk(p);
      loop invariant p_used: UsedHead(c, p) && Ord(c, p) == k;
      loop invariant p_covers: p <= page && page + Pow2(order) <= p + Pow2(k);
      LM_BUDDY_VALID(loop invariant, c)
      loop invariant others_used: \forall integer q; InChunk(q) && q != p ==>
        (UsedHead(c, q) <==> (\at(UsedHead(c, q), Pre) && q != page));
      loop invariant p_new: \let pp = p; pp == page || !\at(UsedHead(c, pp), Pre);
      loop invariant others_order: \forall integer q; InChunk(q) && q != p && UsedHead(c, q) ==>
        Ord(c, q) == \at(Ord(c, q), Pre);
      loop invariant count: lm_buddy[c].nfree == \at(lm_buddy[c].nfree, Pre) + Pow2(order) - Pow2(k);
      loop assigns k, p, LM_BUDDY_CHUNK(c);
      loop variant LM_MAX_ORDER - k; */
  while (k < LM_MAX_ORDER) {
    //@ ghost lm_buddy_lemma_pow2(k);
    //@ ghost lm_buddy_lemma_half(p, k);
    if (!buddy_free(c, p, k))
      break;
    p = merge(c, p);
    k++;
  }
  release(c, p);
  return (int32_t)order;
}

int32_t lm_buddy_take(uint32_t c, uint32_t page)
{
  if (page >= LM_CHUNK_PAGES)
    return LM_ERR_RANGE;
  if (LM_BUDDY(c).st[page] == LM_BUDDY_INTERIOR)
    return LM_ERR_INTERIOR;
  if (LM_BUDDY(c).st[page] != LM_BUDDY_FREE)
    return LM_ERR_NOT_FREE;
  take_free(c, page);
  return (int32_t)LM_BUDDY(c).ord[page];
}

int32_t lm_buddy_shrink(uint32_t c, uint32_t page, uint32_t order)
{
  if (page >= LM_CHUNK_PAGES)
    return LM_ERR_RANGE;
  if (LM_BUDDY(c).st[page] == LM_BUDDY_INTERIOR)
    return LM_ERR_INTERIOR;
  if (LM_BUDDY(c).st[page] != LM_BUDDY_USED)
    return LM_ERR_NOT_ALLOCATED;
  uint32_t had = LM_BUDDY(c).ord[page], k = had;
  if (order > k)
    return LM_ERR_RANGE;
  /*@ loop invariant k_range: order <= k <= had && had == \at(Ord(c, page), Pre);
      loop invariant p_used: UsedHead(c, page) && Ord(c, page) == k;
      LM_BUDDY_VALID(loop invariant, c)
      loop invariant tail: \forall integer j; k <= j < had ==>
        FreeHead(c, page + Pow2(j)) && Ord(c, page + Pow2(j)) == j;
      loop invariant others_used: \forall integer q; InChunk(q) ==>
        (UsedHead(c, q) <==> \at(UsedHead(c, q), Pre));
      loop invariant others_order: \forall integer q; InChunk(q) && q != page && UsedHead(c, q) ==>
        Ord(c, q) == \at(Ord(c, q), Pre);
      loop invariant count: lm_buddy[c].nfree == \at(lm_buddy[c].nfree, Pre) + Pow2(had) - Pow2(k);
      loop assigns k, LM_BUDDY_CHUNK(c);
      loop variant k - order; */
  while (k > order) {
    //@ ghost lm_buddy_lemma_pow2(k - 1);
    split(c, page);
    k--;
  }
  return (int32_t)had;
}

/* The containing block's head is `page` rounded down to 2^k for k = its
 * order; try k = 0, 1, ... and stop at the first head whose block reaches
 * `page` (blocks do not overlap, so it is the one). */
int32_t lm_buddy_block_of(uint32_t c, uint32_t page)
{
  if (page >= LM_CHUNK_PAGES)
    return LM_ERR_RANGE;
  /*@ ghost uint32_t g = lm_buddy_lemma_cover(c, page); */
  /*@ loop invariant k_range: 0 <= k <= Ord(c, g);
      loop assigns k;
      loop variant LM_MAX_ORDER - k; */
  for (uint32_t k = 0; k <= LM_MAX_ORDER; k++) {
    //@ ghost lm_buddy_lemma_round(g, page, k);
    uint32_t h = page - page % lm_buddy_pow2[k];
    if (LM_BUDDY(c).st[h] != LM_BUDDY_INTERIOR &&
        page - h < lm_buddy_pow2[LM_BUDDY(c).ord[h]])
      return (int32_t)h;
  }
  //@ assert unreachable: \false;
  return LM_ERR_RANGE; /* unreachable on a valid chunk (proven) */
}

bool lm_buddy_is_head(uint32_t c, uint32_t page)
{
  return page < LM_CHUNK_PAGES && LM_BUDDY(c).st[page] != LM_BUDDY_INTERIOR;
}

uint32_t lm_buddy_order(uint32_t c, uint32_t page)
{
  return lm_buddy_is_head(c, page) ? LM_BUDDY(c).ord[page] : 0;
}

bool lm_buddy_is_allocated(uint32_t c, uint32_t page)
{
  return page < LM_CHUNK_PAGES && LM_BUDDY(c).st[page] == LM_BUDDY_USED;
}

uint32_t lm_buddy_free_pages(uint32_t c)
{
  return LM_BUDDY(c).nfree;
}

/* lm_buddy_check: the C mirror of BuddyValid(c), for tests and fuzzers.
 * Each helper tests one part of it and its contract says it returns true
 * exactly when that part holds. */

/* Stack (s, k): at most a chunk's pages of entries, each a head in the
 * stack's state and order that points back at its slot. */
/*@ requires chunk: c < LM_MAX_CHUNKS && s < 2 && k <= LM_MAX_ORDER;
    assigns \nothing;
    ensures ok: \result <==> StackOK(c, s, k); */
static bool check_stack(uint32_t c, uint32_t s, uint32_t k)
{
  uint32_t n = LM_BUDDY(c).cnt[s][k];
  if (n > LM_CHUNK_PAGES)
    return false;
  /*@ loop invariant j_range: 0 <= j <= n;
      loop invariant entries: \forall integer i; 0 <= i < j ==> StkEntry(c, s, k, i);
      loop assigns j;
      loop variant n - j; */
  for (uint32_t j = 0; j < n; j++) {
    uint32_t q = LM_BUDDY(c).stk[j][s][k];
    if (q >= LM_CHUNK_PAGES || LM_BUDDY(c).st[q] != s + 1 ||
        LM_BUDDY(c).ord[q] != k || LM_BUDDY(c).pos[q] != j)
      return false;
  }
  return true;
}

/* Every stack well formed; the blocks on them add up to the chunk, and the
 * free ones to nfree. */
/*@ requires chunk: c < LM_MAX_CHUNKS;
    assigns \nothing;
    ensures sound: \result ==> StacksValid(c);
    ensures complete: StacksValid(c) ==> \result; */
static bool check_stacks(uint32_t c)
{
  uint32_t free_pages = 0, used_pages = 0;
  /*@ loop invariant k_range: 0 <= k <= LM_MAX_ORDER + 1;
      loop invariant stacks: \forall integer s, j; 0 <= s < 2 && 0 <= j < k ==> StackOK(c, s, j);
      loop invariant free_sum: free_pages == PagesBelow(c, 0, k);
      loop invariant used_sum: used_pages == PagesBelow(c, 1, k);
      loop invariant bound: free_pages <= k * 1048576 && used_pages <= k * 1048576;
      loop assigns k, free_pages, used_pages;
      loop variant LM_MAX_ORDER + 1 - k; */
  for (uint32_t k = 0; k <= LM_MAX_ORDER; k++) {
    if (!check_stack(c, 0, k) || !check_stack(c, 1, k))
      return false;
    //@ ghost lm_buddy_lemma_pow2(k);
    //@ ghost lm_buddy_lemma_below(c, 0, k);
    //@ ghost lm_buddy_lemma_below(c, 1, k);
    free_pages += (uint32_t)LM_BUDDY(c).cnt[0][k] * lm_buddy_pow2[k];
    used_pages += (uint32_t)LM_BUDDY(c).cnt[1][k] * lm_buddy_pow2[k];
  }
  //@ ghost lm_buddy_lemma_below(c, 0, LM_MAX_ORDER);
  //@ ghost lm_buddy_lemma_below(c, 1, LM_MAX_ORDER);
  return free_pages + used_pages == LM_CHUNK_PAGES && free_pages == LM_BUDDY(c).nfree;
}

/* Tiling: walking from page 0, head to head, covers the chunk exactly;
 * every head is in a valid state and order, aligned, on its stack at its
 * slot, with only interior pages inside its block; no free block has a
 * free buddy of its order. (Complete given B_Counts, which check_stacks
 * tests first: a slot past the chunk is not rejected by TilingValid.) */
/*@ requires chunk: c < LM_MAX_CHUNKS;
    assigns \nothing;
    ensures sound: \result ==> TilingValid(c);
    ensures complete: B_Counts(c) && TilingValid(c) ==> \result; */
static bool check_tiling(uint32_t c)
{
  uint32_t p = 0;
  /*@ loop invariant p_range: p <= LM_CHUNK_PAGES;
      loop invariant p_head: p < LM_CHUNK_PAGES && B_First(c) && B_Next(c) ==> Head(c, p);
      loop invariant w_first: p > 0 ==> Head(c, 0);
      loop invariant w_states: \forall integer q; 0 <= q < p ==>
        lm_buddy[c].st[q] <= LM_BUDDY_USED;
      loop invariant w_orders: \forall integer q; 0 <= q < p && Head(c, q) ==>
        Ord(c, q) <= LM_MAX_ORDER;
      loop invariant w_aligned: \forall integer q; 0 <= q < p && Head(c, q) ==>
        Aligned(q, Ord(c, q));
      loop invariant w_end: \forall integer q; 0 <= q < p && Head(c, q) ==>
        q + Size(c, q) <= p;
      loop invariant w_next: \forall integer q, n; 0 <= q < p && Head(c, q) &&
        n == q + Size(c, q) && n < p ==> Head(c, n);
      loop invariant w_inside: \forall integer q, r; 0 <= q < p && Head(c, q) &&
        q < r < q + Size(c, q) ==> !Head(c, r);
      loop invariant w_merged: \forall integer q, n; 0 <= q < p && FreeHead(c, q) &&
        Ord(c, q) < LM_MAX_ORDER && LowHalf(q, Ord(c, q)) && n == q + Size(c, q) ==>
        !(FreeHead(c, n) && Ord(c, n) == Ord(c, q));
      loop invariant w_pos_in: \forall integer q, s, k; 0 <= q < p && Head(c, q) &&
        s == lm_buddy[c].st[q] - 1 && k == lm_buddy[c].ord[q] ==>
        lm_buddy[c].pos[q] < lm_buddy[c].cnt[s][k];
      loop invariant w_pos_back: \forall integer q, s, k; 0 <= q < p && Head(c, q) &&
        s == lm_buddy[c].st[q] - 1 && k == lm_buddy[c].ord[q] ==>
        lm_buddy[c].stk[lm_buddy[c].pos[q]][s][k] == q;
      loop assigns p;
      loop variant LM_CHUNK_PAGES - p; */
  while (p < LM_CHUNK_PAGES) {
    uint32_t s = LM_BUDDY(c).st[p], k = LM_BUDDY(c).ord[p];
    if (s == LM_BUDDY_INTERIOR || s > LM_BUDDY_USED || k > LM_MAX_ORDER) {
      //@ assert bad_head: !(B_First(c) && B_Next(c) && B_States(c) && B_Orders(c));
      return false;
    }
    //@ ghost lm_buddy_lemma_pow2(k);
    uint32_t w = lm_buddy_pow2[k], i = LM_BUDDY(c).pos[p];
    if (p % w != 0) {
      //@ assert bad_place: !(B_First(c) && B_Next(c) && B_Aligned(c) && B_Fits(c));
      return false;
    }
    if (p + w > LM_CHUNK_PAGES) { /* an aligned block below the end fits */
      //@ ghost lm_buddy_lemma_fits(p, k);
      //@ assert unreachable: \false;
      return false;
    }
    if (i >= LM_BUDDY(c).cnt[s - 1][k] || i >= LM_CHUNK_PAGES ||
        LM_BUDDY(c).stk[i][s - 1][k] != p) {
      //@ assert bad_pos: !(B_First(c) && B_Next(c) && B_Counts(c) && B_PosIn(c) && B_PosBack(c));
      return false;
    }
    /*@ loop invariant q_range: p + 1 <= q <= p + w;
        loop invariant interior: \forall integer r; p < r < q ==> !Head(c, r);
        loop assigns q;
        loop variant p + w - q; */
    for (uint32_t q = p + 1; q < p + w; q++)
      if (LM_BUDDY(c).st[q] != LM_BUDDY_INTERIOR) {
        //@ assert bad_inside: !(B_First(c) && B_Next(c) && B_Inside(c));
        return false;
      }
    /* Maximally merged: a free block's buddy is not free of its order. */
    if (s == LM_BUDDY_FREE && k < LM_MAX_ORDER) {
      //@ ghost lm_buddy_lemma_half(p, k);
      if (buddy_free(c, p, k)) {
        //@ assert bad_merge: !(B_First(c) && B_Next(c) && B_Merged(c));
        return false;
      }
    }
    p += w;
  }
  return true;
}

/* Stacks first: the walk reads stk at the slots the heads name. */
bool lm_buddy_check(uint32_t c)
{
  return check_stacks(c) && check_tiling(c);
}
