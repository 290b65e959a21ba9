/* Buddy allocator over the pages of one chunk.
 * Owner: core (buddy.c). Contracts: spec/buddy.acsl + below.
 * Every function takes the chunk index c, 0 <= c < LM_MAX_CHUNKS. */
#ifndef LM_BUDDY_H
#define LM_BUDDY_H
#include "core.h"

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
