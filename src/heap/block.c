/* The heap's side of the malloc family (alloc.h): where a request goes
 * (small, large, huge), what a pointer is (one classifier for free,
 * realloc and malloc_usable_size), freeing a classified block, trim, the
 * settings mallopt may change. */
#include "alloc.h"
#include "arena.h"
#include "vg.h"
#include <string.h>

#define PAGE ((size_t)LM_PAGE_SIZE)

static uint32_t order_of_pages(size_t pages) { /* smallest k with 2^k >= pages */
  return pages <= 1 ? 0 : (uint32_t)(64 - __builtin_clzll((unsigned long long)(pages - 1)));
}

/* ---- allocation ---- */

/* A small block of class cls: the thread's slab, or its slow path. */
static void *alloc_small(uint32_t cls) {
  void *p = lm_th_malloc(cls);
  return p != NULL ? p : lm_th_small_slow(cls);
}

/* A run of *pages pages aligned to 2^order: the thread's cache of freed
 * runs first (no lock; its run may have up to a quarter more pages, and
 * *pages becomes its size), then its arena. */
static void *alloc_large(uint32_t *pages, uint32_t order, bool *zeroed, bool *cached) {
  /* A cached run is aligned to its own size's power of two: not for a
   * request aligned beyond that. */
  void *p = order == order_of_pages(*pages) ? lm_th_large_get(*pages, pages) : NULL;
  if (p != NULL) {
    *zeroed = false;
    *cached = true;
    return p;
  }
  struct lm_theap *t = lm_th_get();
  return lm_arena_alloc_large(t ? t->arena : &lm_heap.arenas[0], *pages, order, zeroed);
}

void *lm_heap_alloc(size_t size, size_t align, unsigned flags) {
  if (!lm_heap_ready()) lm_heap_init();
  bool zero = flags & LM_ALLOC_ZERO;
  if (align < LM_QUANTUM) align = LM_QUANTUM; /* every block is 16-aligned */
  if (size <= LM_SMALL_MAX && align <= PAGE) {
    uint32_t cls = lm_size_class_lookup((uint32_t)size);
    while (cls < LM_NUM_CLASSES && (lm_class_size_table[cls] & (align - 1)) != 0) cls++;
    if (cls < LM_NUM_CLASSES) {
      void *p = alloc_small(cls);
      if (p) lm_vg_alloc(p, size, lm_class_size_table[cls], zero);
      if (p && zero) memset(p, 0, size);
      return p;
    }
  }
  uint32_t order = order_of_pages((size + PAGE - 1) / PAGE);
  uint32_t aorder = align > PAGE ? order_of_pages(align / PAGE) : 0;
  if (aorder > order) order = aorder;
  bool zeroed = false, cached = false;
  void *p;
  size_t usable;
  if (order <= LM_LARGE_MAX_ORDER) {
    /* An exact run of pages, unless realloc grows the block: then the
     * whole power of two, so the next growth stays in place. */
    uint32_t pages = (flags & LM_ALLOC_GROW) ? (uint32_t)1 << order : (uint32_t)((size + PAGE - 1) / PAGE);
    if (pages == 0) pages = 1;
    p = alloc_large(&pages, order, &zeroed, &cached); /* a cached run may be larger */
    usable = PAGE * pages;
  } else {
    p = lm_huge_alloc(size, align, &zeroed);
    usable = p ? ((struct lm_huge *)(lm_reg_lookup((uintptr_t)p) & ~LM_REG_HUGE))->size : 0;
  }
  if (p != NULL) {
    lm_vg_alloc(p, size, usable, zero);
    if (zero && !zeroed) memset(p, 0, size);
    lm_th_count_alloc(usable);
  }
  if (cached) lm_th_large_quiet(); /* a run from the thread's cache: no lock */
  else lm_heap_tick();
  return p;
}

/* ---- what a pointer is ---- */

static enum lm_bad classify_huge(uintptr_t a, struct lm_huge *h, struct lm_block *b) {
  if (a < h->base || a >= h->base + h->size) return LM_BAD_FOREIGN;
  if (a != h->base) return LM_BAD_INTERIOR;
  if (__atomic_load_n(&h->state, __ATOMIC_RELAXED) != 1 /* live */) return LM_BAD_FREED;
  b->kind = LM_BLK_HUGE;
  b->huge = h;
  b->usable = h->size;
  return LM_BAD_NONE;
}

/* A pointer into a slab's span. Freed bits are exact for any thread; the
 * core's bit of the slot is read as free's fast path reads it (thread.h,
 * lm_th_slot_freed). What a stale read lets pass (a slot of another
 * thread's slab that was freed and collected, or never handed out) is
 * reported when the owner collects its freed bit (lm_slab_collect). */
static enum lm_bad classify_slot(uintptr_t a, struct lm_chunk *ch, struct lm_slab *sl, struct lm_block *b) {
  lm_slab_t s = lm_slab_h(sl);
  uint32_t size = lm_class_size_table[sl->cls], off = (uint32_t)(a - sl->base);
  if (off >= lm_slab_nslots(s) * size) return LM_BAD_FREE_MEMORY;
  uint32_t slot = lm_class_slot_of(sl->cls, off);
  if (slot == LM_SLOT_NONE) return LM_BAD_INTERIOR;
  if (__atomic_load_n(&sl->freed[slot / 64], __ATOMIC_ACQUIRE) >> (slot % 64) & 1) return LM_BAD_FREED;
  if (lm_th_slot_freed(sl, slot)) return LM_BAD_FREED;
  b->kind = LM_BLK_SMALL;
  b->ch = ch;
  b->slab = sl;
  b->slot = slot;
  b->usable = size;
  return LM_BAD_NONE;
}

enum lm_bad lm_heap_classify(const void *ptr, struct lm_block *b) {
  uintptr_t a = (uintptr_t)ptr, e = lm_reg_lookup(a);
  if (e == 0) return LM_BAD_FOREIGN;
  if (e & LM_REG_HUGE) return classify_huge(a, (struct lm_huge *)(e & ~LM_REG_HUGE), b);
  struct lm_chunk *ch = (struct lm_chunk *)e;
  uint32_t pm = __atomic_load_n(&ch->page[(a - ch->base) >> LM_PAGE_SHIFT], __ATOMIC_ACQUIRE);
  if (pm - 1 < LM_CHUNK_SLABS) return classify_slot(a, ch, &ch->slab[pm - 1], b);
  if ((pm & LM_PM_LARGE) && (pm & ~(LM_PM_LARGE | LM_PM_CACHED)) != 0 && (a & (PAGE - 1)) == 0) {
    if (pm & LM_PM_CACHED) return LM_BAD_FREED;
    b->kind = LM_BLK_LARGE;
    b->ch = ch;
    b->usable = PAGE * (pm & ~(LM_PM_LARGE | LM_PM_CACHED));
    return LM_BAD_NONE;
  }
  return lm_large_why(ch, a);
}

/* ---- free ---- */

void lm_heap_freeing(const void *p) { lm_vg_free(p); }

void lm_heap_free(void *p, const struct lm_block *b) {
  bool ok;
  switch (b->kind) {
  case LM_BLK_SMALL:
    (void)lm_th_get(); /* with a heap, this thread's next frees take the fast path */
    if (!lm_th_free_slot(b->slab, b->slot)) lm_heap_report(LM_CALL_FREE, LM_BAD_FREED, p);
    return;
  case LM_BLK_LARGE: {
    enum lm_put r = lm_th_large_put(b->ch, (uintptr_t)p, (uint32_t)(b->usable / PAGE));
    if (r == LM_PUT_KEPT) { /* no lock */
      lm_th_count_free(b->usable);
      lm_th_large_quiet();
      return;
    }
    ok = r == LM_PUT_SPILLED ||
         (r == LM_PUT_NOT && lm_arena_free_large(b->ch, (uintptr_t)p, LM_LARGE_FROM_USER, lm_now32()));
    break;
  }
  case LM_BLK_HUGE:
    ok = lm_huge_free(b->huge, (uintptr_t)p);
    break;
  default:
    return;
  }
  if (ok) lm_th_count_free(b->usable);
  else lm_heap_report(LM_CALL_FREE, LM_BAD_FREED, p); /* a second free that raced with the first */
  lm_heap_tick();
}

void *lm_heap_huge_resize(void *p, const struct lm_block *b, size_t n) {
  (void)p;
  size_t old = b->usable;
  void *q = lm_huge_realloc(b->huge, n);
  if (q != NULL) {
    lm_th_count_free(old);
    lm_th_count_alloc(b->huge->size);
  }
  return q;
}

size_t lm_heap_block_size(void *p, size_t usable) { return lm_vg_size(p, usable); }
void lm_heap_resized(void *p, size_t old, size_t n) { lm_vg_resize(p, old, n); }
bool lm_heap_may_remap(void) { return !lm_vg_on; }

/* ---- trim and settings ---- */

int lm_heap_trim(void) {
  if (!lm_heap_ready()) lm_heap_init();
  lm_th_flush_self();
  size_t released = 0;
  for (unsigned i = 0; i < lm_heap.cfg.narenas; i++) released += lm_arena_purge(&lm_heap.arenas[i], true);
  released += lm_huge_decay(true);
  lm_lock(&lm_heap.meta_lock);
  lm_heap.ntrim++;
  lm_unlock(&lm_heap.meta_lock);
  return released > 0;
}

int lm_heap_set_arena_max(int n) {
  if (!lm_heap_ready()) lm_heap_init();
  if (n <= 0) return 0;
  unsigned max = lm_heap.cfg.narenas;
  __atomic_store_n(&lm_heap.narenas, (unsigned)n < max ? (unsigned)n : max, __ATOMIC_RELAXED);
  return 1;
}

void lm_heap_set_warn_only(bool warn) {
  if (!lm_heap_ready()) lm_heap_init();
  lm_heap.cfg.warn_only = warn;
}

const char *lm_heap_setting(const char *name) { return lm_os_getenv(name); }
