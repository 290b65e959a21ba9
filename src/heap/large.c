/* Large blocks: exact runs of pages inside one buddy block of up to
 * LM_LARGE_MAX_ORDER, and the reports of bad pointers into chunks. */
#include "arena.h"

/* ---- large blocks ---- */

/* Buddy block [pg, pg + 2^order) of chunk ch, allocated, becomes the run
 * [pg, pg + n): the allocated blocks of n's binary digits, largest first;
 * the rest goes back free (lm_buddy_shrink's tail, whose lowest block the
 * next digit takes). Costs a few O(1) core steps per digit of n. The
 * run's later blocks are marked in the pagemap, so that a bad pointer to
 * one reads as interior; the caller marks the head. */
static void carve_run(struct lm_chunk *ch, uint32_t pg, uint32_t n) {
  for (;;) {
    uint32_t k = 31u - (uint32_t)__builtin_clz(n);
    if (lm_buddy_shrink(lm_chunk_c(ch), pg, k) < 0) lm_heap_bug("internal error: buddy shrink failed at page", (void *)(uintptr_t)pg);
    if (n == 1u << k) return;
    pg += 1u << k;
    n -= 1u << k;
    if (lm_buddy_take(lm_chunk_c(ch), pg) < (int32_t)k) lm_heap_bug("internal error: buddy take failed at page", (void *)(uintptr_t)pg);
    ch->page[pg] = LM_PM_LARGE;
  }
}

void *lm_arena_alloc_large(struct lm_arena *a, uint32_t pages, uint32_t order, bool *zeroed) {
  struct lm_chunk *ch;
  uint32_t pg;
  lm_lock(&a->lock);
  while (!lm_arena_buddy_alloc(a, order, pages, LM_WANT_RUN, &ch, &pg)) {
    if (!lm_arena_grow(a)) {
      lm_unlock(&a->lock);
      return NULL;
    }
  }
  if (pages < 1u << order) carve_run(ch, pg, pages);
  __atomic_store_n(&ch->page[pg], (uint16_t)(LM_PM_LARGE | pages), __ATOMIC_RELEASE);
  *zeroed = lm_pages_taken(a, ch, pg, pages);
  a->large_live_bytes += (size_t)pages << LM_PAGE_SHIFT;
  a->large_nmalloc++;
  lm_unlock(&a->lock);
  return (void *)(ch->base + ((uintptr_t)pg << LM_PAGE_SHIFT));
}

#define PM_PAGES 0x3ffu /* the page count bits of a run's head (at most 512) */

static uint16_t *head_of(struct lm_chunk *ch, uintptr_t p) {
  return &ch->page[(p - ch->base) >> LM_PAGE_SHIFT];
}

bool lm_large_set_cached(struct lm_chunk *ch, uintptr_t p, uint32_t pages) {
  uint16_t live = (uint16_t)(LM_PM_LARGE | pages);
  return __atomic_compare_exchange_n(head_of(ch, p), &live, (uint16_t)(live | LM_PM_CACHED), false,
                                     __ATOMIC_ACQ_REL, __ATOMIC_RELAXED);
}

void lm_large_set_live(struct lm_chunk *ch, uintptr_t p, uint32_t pages) {
  __atomic_store_n(head_of(ch, p), (uint16_t)(LM_PM_LARGE | pages), __ATOMIC_RELEASE);
}

bool lm_arena_free_large(struct lm_chunk *ch, uintptr_t p, enum lm_large_from from, uint32_t stamp) {
  struct lm_arena *a = &lm_heap.arenas[ch->arena];
  uint32_t pg = (uint32_t)((p - ch->base) >> LM_PAGE_SHIFT);
  uint16_t want = from == LM_LARGE_FROM_CACHE ? LM_PM_LARGE | LM_PM_CACHED : LM_PM_LARGE;
  lm_lock(&a->lock);
  uint32_t e = __atomic_load_n(&ch->page[pg], __ATOMIC_ACQUIRE), pages = e & PM_PAGES;
  int32_t r = (e & (LM_PM_LARGE | LM_PM_CACHED)) == want && pages && (p & (LM_PAGE_SIZE - 1)) == 0
                  ? lm_buddy_free(lm_chunk_c(ch), pg)
                  : LM_ERR_INTERIOR;
  if (r < 0) { /* a second free of the run raced with the first: the first won */
    lm_unlock(&a->lock);
    return false;
  }
  __atomic_store_n(&ch->page[pg], 0, __ATOMIC_RELAXED);
  /* the run's other blocks, each its own buddy block (see carve_run) */
  for (uint32_t q = pg + (1u << r); q < pg + pages; q += 1u << r) {
    ch->page[q] = 0;
    if ((r = lm_buddy_free(lm_chunk_c(ch), q)) < 0) lm_heap_bug("internal error: a large run lost a block at", (void *)(ch->base + ((uintptr_t)q << LM_PAGE_SHIFT)));
  }
  lm_pages_returned(a, ch, pg, pages, stamp);
  a->large_live_bytes -= (size_t)pages << LM_PAGE_SHIFT;
  a->large_nfree++;
  lm_unlock(&a->lock);
  return true;
}

/* Why p, in chunk ch and not the start of a live block, is bad: from the
 * buddy, under the lock. */
enum lm_bad lm_large_why(struct lm_chunk *ch, uintptr_t p) {
  struct lm_arena *a = &lm_heap.arenas[ch->arena];
  uint32_t pg = (uint32_t)((p - ch->base) >> LM_PAGE_SHIFT);
  lm_lock(&a->lock);
  int32_t head = lm_buddy_block_of(lm_chunk_c(ch), pg);
  bool alloc = head >= 0 && lm_buddy_is_allocated(lm_chunk_c(ch), (uint32_t)head);
  uint32_t e = head >= 0 ? ch->page[head] : 0;
  lm_unlock(&a->lock);
  if (!alloc) return (p & (LM_PAGE_SIZE - 1)) == 0 ? LM_BAD_FREED : LM_BAD_FREE_MEMORY;
  if (e & LM_PM_LARGE || e - 1 < LM_CHUNK_SLABS) return LM_BAD_INTERIOR;
  return LM_BAD_FOREIGN;
}
