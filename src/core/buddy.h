/* Buddy allocator over the pages of one chunk.
 * Owner: core (buddy.c). Contracts: spec/buddy.acsl + below.
 * Every function takes a chunk handle c, 0 <= c < LM_MAX_CHUNKS (see LM_BUDDY). */
#ifndef LM_BUDDY_H
#define LM_BUDDY_H
#include "core.h"

#define LM_BUDDY_ORDERS (LM_MAX_ORDER + 1)

/* Page states: a page is the head of a free or an allocated block, or lies
 * inside a block (interior). */
#define LM_BUDDY_INTERIOR 0
#define LM_BUDDY_FREE 1
#define LM_BUDDY_USED 2

#ifndef LM_BUDDY_HIDDEN
#define LM_BUDDY_HIDDEN __attribute__((visibility("hidden")))
#endif

/* The state of one chunk. Declared here only because the contracts below
 * read it: nothing outside buddy.c may touch it. */
struct lm_buddy_chunk {
  uint32_t nfree;               /* pages in free blocks */
  uint16_t cnt[2][LM_BUDDY_ORDERS]; /* heads on stack (s, k) */
  uint8_t st[LM_CHUNK_PAGES];   /* LM_BUDDY_INTERIOR / _FREE / _USED */
  uint8_t ord[LM_CHUNK_PAGES];  /* order of the block headed by p (heads) */
  uint16_t pos[LM_CHUNK_PAGES]; /* slot of head p on stack (st-1, ord) */
  /* stk[j][s][k]: the j-th head in state s+1 of order k, j < cnt[s][k].
   * Row j holds entry j of all 22 stacks, so only the rows below the
   * largest count are ever written: the memory this costs follows the
   * chunk's use (a chunk of 64 KiB slabs touches 62 rows, 2.7 KiB). */
  uint16_t stk[LM_CHUNK_PAGES][2][LM_BUDDY_ORDERS];
};

/* Where chunk c's state is. The code reaches it only through LM_BUDDY(c).
 * - To WP it is one element of a global array indexed by chunk, whose
 *   address is never taken: WP treats it as a plain value (spec/buddy.md),
 *   and an operation's footprint is the single element lm_buddy[c].
 * - At run time it is the struct at address c << LM_BUDDY_SHIFT: the heap
 *   keeps each chunk's state at the start of a header aligned to
 *   2^LM_BUDDY_SHIFT bytes and passes that address shifted down as c. What
 *   the proof assumes of that memory (valid, written by nothing but the
 *   core, one header per chunk) is listed under "What is trusted" in
 *   spec/README.md. */
#define LM_BUDDY_SHIFT 17
#ifdef __FRAMAC__
extern struct lm_buddy_chunk lm_buddy[LM_MAX_CHUNKS] LM_BUDDY_HIDDEN;
#define LM_BUDDY(c) lm_buddy[c]
#else
#define LM_BUDDY(c) (*(struct lm_buddy_chunk *)((uintptr_t)(c) << LM_BUDDY_SHIFT))
#endif
/* The handle of the chunk state at address p (aligned to 2^LM_BUDDY_SHIFT). */
#define LM_BUDDY_HANDLE(p) ((uint32_t)((uintptr_t)(p) >> LM_BUDDY_SHIFT))
extern const uint16_t lm_buddy_pow2[16] LM_BUDDY_HIDDEN;

#ifdef __FRAMAC__
#include "../../spec/buddy.acsl"
#endif

/* Make chunk c one free block of order LM_MAX_ORDER. */
/*@ requires chunk: c < LM_MAX_CHUNKS;
    assigns LM_BUDDY_CHUNK(c);
    LM_BUDDY_VALID(ensures, c)
    ensures whole: FreeHead(c, 0) && Ord(c, 0) == LM_MAX_ORDER;
    ensures all_free: lm_buddy[c].nfree == LM_CHUNK_PAGES; */
void lm_buddy_init(uint32_t c);

/* Allocate a block of 2^order pages (order 0..LM_MAX_ORDER), splitting a
 * larger free block if needed; the pages split off stay free. Returns its
 * head page (aligned to 2^order) or LM_ERR_NOMEM. Picks the smallest order
 * that has a free block, and there the most recently freed block; the block
 * keeps the lowest pages of what it is split from. */
/*@ requires chunk: c < LM_MAX_CHUNKS;
    LM_BUDDY_VALID(requires, c)
    assigns LM_BUDDY_CHUNK(c);
    LM_BUDDY_VALID(ensures, c)
    behavior found:
      assumes order <= LM_MAX_ORDER &&
        \exists integer p; InChunk(p) && FreeHead(c, p) && Ord(c, p) >= order;
      ensures inside: 0 <= \result && \result + Pow2(order) <= LM_CHUNK_PAGES;
      ensures aligned: Aligned(\result, order);
      ensures allocated: UsedHead(c, \result) && Ord(c, \result) == order;
      ensures was_free: \let r = \result; \at(FreeHead(c, r), Pre) && \at(Ord(c, r), Pre) >= order;
      ensures best_fit: \let r = \result; \forall integer q; InChunk(q) && \at(FreeHead(c, q), Pre) &&
        \at(Ord(c, q), Pre) >= order ==> \at(Ord(c, q), Pre) >= \at(Ord(c, r), Pre);
      ensures others_used: \forall integer q; InChunk(q) && q != \result ==>
        (UsedHead(c, q) <==> \at(UsedHead(c, q), Pre));
      ensures others_order: \forall integer q; InChunk(q) && q != \result && UsedHead(c, q) ==>
        Ord(c, q) == \at(Ord(c, q), Pre);
      ensures count: lm_buddy[c].nfree == \old(lm_buddy[c].nfree) - Pow2(order);
    behavior nomem:
      assumes order > LM_MAX_ORDER ||
        \forall integer p; InChunk(p) && FreeHead(c, p) ==> Ord(c, p) < order;
      assigns \nothing;
      ensures nomem: \result == LM_ERR_NOMEM;
    complete behaviors;
    disjoint behaviors; */
int32_t lm_buddy_alloc(uint32_t c, uint32_t order);

/* Free the allocated block whose head is `page`, merging with free buddies.
 * Returns the order that was freed (>= 0), or LM_ERR_RANGE (page out of the
 * chunk), LM_ERR_INTERIOR (not the head of a block) or LM_ERR_NOT_ALLOCATED
 * (head of a free block: double free); on error nothing changes. */
/*@ requires chunk: c < LM_MAX_CHUNKS;
    LM_BUDDY_VALID(requires, c)
    assigns LM_BUDDY_CHUNK(c);
    LM_BUDDY_VALID(ensures, c)
    behavior out_of_range:
      assumes page >= LM_CHUNK_PAGES;
      assigns \nothing;
      ensures range: \result == LM_ERR_RANGE;
    behavior interior:
      assumes page < LM_CHUNK_PAGES && !Head(c, page);
      assigns \nothing;
      ensures interior: \result == LM_ERR_INTERIOR;
    behavior double_free:
      assumes page < LM_CHUNK_PAGES && FreeHead(c, page);
      assigns \nothing;
      ensures not_allocated: \result == LM_ERR_NOT_ALLOCATED;
    behavior freed:
      assumes page < LM_CHUNK_PAGES && UsedHead(c, page);
      ensures order: \result == \old(Ord(c, page));
      ensures released: \forall integer q, h; page <= q < page + Pow2(\result) &&
        InChunk(h) && Head(c, h) && h <= q < h + Size(c, h) ==> FreeHead(c, h);
      ensures others_used: \forall integer q; InChunk(q) ==>
        (UsedHead(c, q) <==> (\at(UsedHead(c, q), Pre) && q != page));
      ensures others_order: \forall integer q; InChunk(q) && UsedHead(c, q) ==>
        Ord(c, q) == \at(Ord(c, q), Pre);
      ensures count: lm_buddy[c].nfree == \old(lm_buddy[c].nfree) + Pow2(\result);
    complete behaviors;
    disjoint behaviors; */
int32_t lm_buddy_free(uint32_t c, uint32_t page);

/* Take the free block whose head is `page` out of the free lists and mark it
 * allocated (used by the heap to purge a free block outside its lock: take
 * it, unlock, madvise, lock, lm_buddy_free it). Returns its order, or
 * LM_ERR_RANGE, LM_ERR_INTERIOR or LM_ERR_NOT_FREE; nothing changes on error. */
/*@ requires chunk: c < LM_MAX_CHUNKS;
    LM_BUDDY_VALID(requires, c)
    assigns LM_BUDDY_CHUNK(c);
    LM_BUDDY_VALID(ensures, c)
    behavior out_of_range:
      assumes page >= LM_CHUNK_PAGES;
      assigns \nothing;
      ensures range: \result == LM_ERR_RANGE;
    behavior interior:
      assumes page < LM_CHUNK_PAGES && !Head(c, page);
      assigns \nothing;
      ensures interior: \result == LM_ERR_INTERIOR;
    behavior allocated:
      assumes page < LM_CHUNK_PAGES && UsedHead(c, page);
      assigns \nothing;
      ensures not_free: \result == LM_ERR_NOT_FREE;
    behavior taken:
      assumes page < LM_CHUNK_PAGES && FreeHead(c, page);
      ensures order: \result == \old(Ord(c, page)) && Ord(c, page) == \result;
      ensures taken: UsedHead(c, page);
      ensures others: \forall integer q; InChunk(q) && q != page ==>
        lm_buddy[c].st[q] == \at(lm_buddy[c].st[q], Pre) &&
        lm_buddy[c].ord[q] == \at(lm_buddy[c].ord[q], Pre);
      ensures count: lm_buddy[c].nfree == \old(lm_buddy[c].nfree) - Pow2(\result);
    complete behaviors;
    disjoint behaviors; */
int32_t lm_buddy_take(uint32_t c, uint32_t page);

/* Shrink the allocated block whose head is `page` to order `order`: it
 * keeps its lowest 2^order pages, and its upper part goes back as free
 * blocks of orders order, order+1, ..., old order - 1, side by side above
 * it (the halves split off, smallest first). With lm_buddy_take of the
 * first of them the heap builds exact page runs: n pages as the allocated
 * blocks of n's binary digits, so the pages a power of two would add stay
 * free. Returns the order the block had, or LM_ERR_RANGE (page out of the
 * chunk, or order above the block's), LM_ERR_INTERIOR or
 * LM_ERR_NOT_ALLOCATED; nothing changes on error. */
/*@ requires chunk: c < LM_MAX_CHUNKS;
    LM_BUDDY_VALID(requires, c)
    assigns LM_BUDDY_CHUNK(c);
    LM_BUDDY_VALID(ensures, c)
    behavior out_of_range:
      assumes page >= LM_CHUNK_PAGES;
      assigns \nothing;
      ensures range: \result == LM_ERR_RANGE;
    behavior interior:
      assumes page < LM_CHUNK_PAGES && !Head(c, page);
      assigns \nothing;
      ensures interior: \result == LM_ERR_INTERIOR;
    behavior free_block:
      assumes page < LM_CHUNK_PAGES && FreeHead(c, page);
      assigns \nothing;
      ensures not_allocated: \result == LM_ERR_NOT_ALLOCATED;
    behavior too_big:
      assumes page < LM_CHUNK_PAGES && UsedHead(c, page) && order > Ord(c, page);
      assigns \nothing;
      ensures range: \result == LM_ERR_RANGE;
    behavior shrunk:
      assumes page < LM_CHUNK_PAGES && UsedHead(c, page) && order <= Ord(c, page);
      ensures order: \result == \old(Ord(c, page));
      ensures kept: UsedHead(c, page) && Ord(c, page) == order;
      ensures tail: \forall integer j; order <= j < \result ==>
        FreeHead(c, page + Pow2(j)) && Ord(c, page + Pow2(j)) == j;
      ensures others_used: \forall integer q; InChunk(q) ==>
        (UsedHead(c, q) <==> \at(UsedHead(c, q), Pre));
      ensures others_order: \forall integer q; InChunk(q) && q != page && UsedHead(c, q) ==>
        Ord(c, q) == \at(Ord(c, q), Pre);
      ensures count: lm_buddy[c].nfree == \old(lm_buddy[c].nfree) + Pow2(\result) - Pow2(order);
    complete behaviors;
    disjoint behaviors; */
int32_t lm_buddy_shrink(uint32_t c, uint32_t page, uint32_t order);

/* Head page of the block (free or allocated) that contains `page`, or
 * LM_ERR_RANGE. */
/*@ requires chunk: c < LM_MAX_CHUNKS;
    LM_BUDDY_VALID(requires, c)
    assigns \nothing;
    behavior out_of_range:
      assumes page >= LM_CHUNK_PAGES;
      ensures range: \result == LM_ERR_RANGE;
    behavior in_chunk:
      assumes page < LM_CHUNK_PAGES;
      ensures head: InChunk(\result) && Head(c, \result);
      ensures contains: \result <= page < \result + Size(c, \result);
    complete behaviors;
    disjoint behaviors; */
int32_t lm_buddy_block_of(uint32_t c, uint32_t page);

/* For a block head: its order, and whether it is allocated. For a page that
 * is not a head: lm_buddy_is_head returns false and the others return 0/false. */
/*@ requires chunk: c < LM_MAX_CHUNKS;
    assigns \nothing;
    ensures head: \result <==> (page < LM_CHUNK_PAGES && Head(c, page)); */
bool lm_buddy_is_head(uint32_t c, uint32_t page);

/*@ requires chunk: c < LM_MAX_CHUNKS;
    assigns \nothing;
    ensures head: page < LM_CHUNK_PAGES && Head(c, page) ==> \result == Ord(c, page);
    ensures not_head: !(page < LM_CHUNK_PAGES && Head(c, page)) ==> \result == 0; */
uint32_t lm_buddy_order(uint32_t c, uint32_t page);

/*@ requires chunk: c < LM_MAX_CHUNKS;
    assigns \nothing;
    ensures allocated: \result <==> (page < LM_CHUNK_PAGES && UsedHead(c, page)); */
bool lm_buddy_is_allocated(uint32_t c, uint32_t page);

/* Exact number of pages in free blocks of chunk c. */
/*@ requires chunk: c < LM_MAX_CHUNKS;
    requires B_NFree(c);
    assigns \nothing;
    ensures exact: \result == Pages(c, 0); */
uint32_t lm_buddy_free_pages(uint32_t c);

/* C mirror of BuddyValid(c): true iff every invariant holds. O(pages). */
/*@ requires chunk: c < LM_MAX_CHUNKS;
    assigns \nothing;
    ensures valid: \result <==> BuddyValid(c); */
bool lm_buddy_check(uint32_t c);

#endif
