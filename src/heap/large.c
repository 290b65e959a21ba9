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
  ch->page[pg] = LM_PM_LARGE | pages;
  *zeroed = lm_pages_taken(a, ch, pg, pages);
  a->large_live_bytes += (size_t)pages << LM_PAGE_SHIFT;
  a->large_nmalloc++;
  lm_unlock(&a->lock);
  return (void *)(ch->base + ((uintptr_t)pg << LM_PAGE_SHIFT));
}

/* Why p (in chunk ch, not a valid block start) is bad; takes the lock. */
static const char *classify_bad(struct lm_chunk *ch, uintptr_t p) {
  struct lm_arena *a = &lm_heap.arenas[ch->arena];
  uint32_t pg = (uint32_t)((p - ch->base) >> LM_PAGE_SHIFT);
  lm_lock(&a->lock);
  int32_t head = lm_buddy_block_of(lm_chunk_c(ch), pg);
  bool alloc = head >= 0 && lm_buddy_is_allocated(lm_chunk_c(ch), (uint32_t)head);
  uint32_t e = head >= 0 ? ch->page[head] : 0;
  lm_unlock(&a->lock);
  if (!alloc) return (p & (LM_PAGE_SIZE - 1)) == 0 ? "double free of" : "invalid pointer (free memory)";
  if (e & LM_PM_LARGE || e - 1 < LM_CHUNK_SLABS) return "interior pointer (not the start of a block)";
  return "invalid pointer (not allocated by lemmalloc)";
}

const char *lm_arena_why_bad(struct lm_chunk *ch, uintptr_t p) { return classify_bad(ch, p); }

bool lm_arena_free_large(struct lm_chunk *ch, uintptr_t p, const char *fn) {
  struct lm_arena *a = &lm_heap.arenas[ch->arena];
  uint32_t pg = (uint32_t)((p - ch->base) >> LM_PAGE_SHIFT);
  lm_lock(&a->lock);
  uint32_t e = ch->page[pg], pages = e & ~LM_PM_LARGE;
  int32_t r = (e & LM_PM_LARGE) && pages && (p & (LM_PAGE_SIZE - 1)) == 0 ? lm_buddy_free(lm_chunk_c(ch), pg) : LM_ERR_INTERIOR;
  if (r < 0) {
    lm_unlock(&a->lock);
    lm_heap_error(fn, classify_bad(ch, p), (void *)p);
    return false;
  }
  ch->page[pg] = 0;
  /* the run's other blocks, each its own buddy block (see carve_run) */
  for (uint32_t q = pg + (1u << r); q < pg + pages; q += 1u << r) {
    ch->page[q] = 0;
    if ((r = lm_buddy_free(lm_chunk_c(ch), q)) < 0) lm_heap_bug("internal error: a large run lost a block at", (void *)(ch->base + ((uintptr_t)q << LM_PAGE_SHIFT)));
  }
  lm_pages_returned(a, ch, pg, pages, lm_now32());
  a->large_live_bytes -= (size_t)pages << LM_PAGE_SHIFT;
  a->large_nfree++;
  lm_unlock(&a->lock);
  return true;
}

