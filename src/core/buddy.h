/* Buddy allocator over the pages of one chunk.
 * Owner: core (buddy.c). Contracts: spec/buddy.acsl + below.
 * Every function takes the chunk index c, 0 <= c < LM_MAX_CHUNKS. */
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

/* The state of every chunk, in global arrays so that WP sees plain values
 * (see spec/buddy.md). Declared here only because the contracts below read
 * them: nothing outside buddy.c may touch them.
 *   st[c][p]        LM_BUDDY_INTERIOR / _FREE / _USED
 *   ord[c][p]       order of the block headed by p (heads only)
 *   pos[c][p]       slot of head p on stack (st-1, ord)
 *   stk[c][s][k][j] the j-th head of the stack of state s+1 and order k
 *   cnt[c][s][k]    how many heads that stack holds
 *   nfree[c]        pages in free blocks */
extern LM_BUDDY_HIDDEN uint8_t lm_buddy_st[LM_MAX_CHUNKS][LM_CHUNK_PAGES];
extern LM_BUDDY_HIDDEN uint8_t lm_buddy_ord[LM_MAX_CHUNKS][LM_CHUNK_PAGES];
extern LM_BUDDY_HIDDEN uint16_t lm_buddy_pos[LM_MAX_CHUNKS][LM_CHUNK_PAGES];
extern LM_BUDDY_HIDDEN uint16_t lm_buddy_stk[LM_MAX_CHUNKS][2][LM_BUDDY_ORDERS][LM_CHUNK_PAGES];
extern LM_BUDDY_HIDDEN uint16_t lm_buddy_cnt[LM_MAX_CHUNKS][2][LM_BUDDY_ORDERS];
extern LM_BUDDY_HIDDEN uint32_t lm_buddy_nfree[LM_MAX_CHUNKS];
extern LM_BUDDY_HIDDEN const uint16_t lm_buddy_pow2[16];

/* Make chunk c one free block of order LM_MAX_ORDER. */
void lm_buddy_init(uint32_t c);

/* Allocate a block of `order` pages-order (0..LM_MAX_ORDER), splitting a
 * larger free block if needed. Returns its head page (aligned to 2^order) or
 * LM_ERR_NOMEM. Prefers the lowest-addressed fitting block of the smallest
 * order available, so free memory gathers at the top of the chunk. */
int32_t lm_buddy_alloc(uint32_t c, uint32_t order);

/* Free the allocated block whose head is `page`, merging with free buddies.
 * Returns the order that was freed (>= 0), or LM_ERR_RANGE (page out of the
 * chunk), LM_ERR_INTERIOR (not the head of a block) or LM_ERR_NOT_ALLOCATED
 * (head of a free block: double free); on error nothing changes. */
int32_t lm_buddy_free(uint32_t c, uint32_t page);

/* Take the free block whose head is `page` out of the free lists and mark it
 * allocated (used by the heap to purge a free block outside its lock: take
 * it, unlock, madvise, lock, lm_buddy_free it). Returns its order, or
 * LM_ERR_RANGE, LM_ERR_INTERIOR or LM_ERR_NOT_FREE; nothing changes on error. */
int32_t lm_buddy_take(uint32_t c, uint32_t page);

/* Head page of the block (free or allocated) that contains `page`, or
 * LM_ERR_RANGE. */
int32_t lm_buddy_block_of(uint32_t c, uint32_t page);

/* For a block head: its order, and whether it is allocated. For a page that
 * is not a head: lm_buddy_is_head returns false and the others return 0/false. */
bool lm_buddy_is_head(uint32_t c, uint32_t page);
uint32_t lm_buddy_order(uint32_t c, uint32_t page);
bool lm_buddy_is_allocated(uint32_t c, uint32_t page);

/* Exact number of pages in free blocks of chunk c. */
uint32_t lm_buddy_free_pages(uint32_t c);

/* C mirror of BuddyValid(c): true iff every invariant holds. O(pages). */
bool lm_buddy_check(uint32_t c);

#endif
