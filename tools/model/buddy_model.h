/* The buddy allocator of one chunk as plain arrays (the reference model of
 * src/core/buddy.h, shared by tests/core/buddy_test.c and fuzz/fuzz_core.c):
 * which pages are allocated and in which blocks; the free blocks are
 * implied -- with maximal merging they are exactly the largest aligned runs
 * of pages no allocated block uses (the canonical tiling). Each call of
 * buddy.h has its expected result here, computed by scanning, nothing
 * clever; the caller runs the core, compares, then applies the change with
 * lm_bm_mark. lm_bm_compare checks a core chunk against the model. */
#ifndef LM_BUDDY_MODEL_H
#define LM_BUDDY_MODEL_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/core.h"

#define LM_BM_PAGES LM_CHUNK_PAGES

struct lm_buddy_model {
  int8_t head_order[LM_BM_PAGES]; /* order of the allocated block with this head, or -1 */
  uint8_t used[LM_BM_PAGES];      /* page inside an allocated block */
  /* The canonical tiling, recomputed (lm_bm_tiling) after a change. */
  bool stale;
  bool head[LM_BM_PAGES], alloc[LM_BM_PAGES];
  uint8_t order[LM_BM_PAGES];     /* of the block headed here */
  uint32_t block_of[LM_BM_PAGES]; /* head of the block holding the page */
  uint32_t free_pages;
  uint32_t nfree[LM_MAX_ORDER + 1]; /* free blocks per order */
  uint32_t used_before[LM_BM_PAGES + 1]; /* used pages in [0, i): O(1) range test */
};

/* A fresh chunk: one free block of LM_MAX_ORDER (lm_buddy_init). */
void lm_bm_init(struct lm_buddy_model *m);
/* The tiling, up to date. */
const struct lm_buddy_model *lm_bm_tiling(struct lm_buddy_model *m);

/* lm_buddy_alloc(order): the smallest order >= `order` that has a free
 * block (best fit), or -1 (LM_ERR_NOMEM; also for order > LM_MAX_ORDER). */
int lm_bm_best_order(struct lm_buddy_model *m, uint32_t order);
/* Is r an allowed result of lm_buddy_alloc(order)? The head of a free
 * block of the best order (so aligned, inside, on unused pages), or
 * LM_ERR_NOMEM when nothing fits. why: what is wrong. */
bool lm_bm_alloc_ok(struct lm_buddy_model *m, uint32_t order, int32_t r, char *why, size_t cap);
/* Expected result of lm_buddy_free / lm_buddy_take / lm_buddy_shrink:
 * the block's order, or the error (LM_ERR_RANGE, _INTERIOR,
 * _NOT_ALLOCATED, _NOT_FREE). */
int32_t lm_bm_free_expect(struct lm_buddy_model *m, uint32_t page);
int32_t lm_bm_take_expect(struct lm_buddy_model *m, uint32_t page);
int32_t lm_bm_shrink_expect(struct lm_buddy_model *m, uint32_t page, uint32_t order);
/* Expected lm_buddy_block_of(page): the head holding it, or LM_ERR_RANGE. */
int32_t lm_bm_block_of(struct lm_buddy_model *m, uint32_t page);

/* Apply a change: the 2^order pages at head become one allocated block
 * (used) or free (the tiling merges them). alloc/take = mark(true); free =
 * mark(false) with the block's order; shrink from k to j = mark(false, k)
 * then mark(true, j). */
void lm_bm_mark(struct lm_buddy_model *m, uint32_t head, uint32_t order, bool used);

/* Compare core chunk c with the model: free page count, and every page
 * (full) or the block heads only (lm_buddy_check vouching for the rest):
 * is_head, order, is_allocated, block_of (at each block's first, middle
 * and last page), and block_of past the chunk. false with why on the first
 * difference. Does not run lm_buddy_check itself. */
bool lm_bm_compare(struct lm_buddy_model *m, uint32_t c, bool full, char *why, size_t cap);

#endif
