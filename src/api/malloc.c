/* The lm_ entry points: glibc's (and C23's) semantics on top of the heap.
 * Sizes are checked here once; below this file every size is sane. */
#include <errno.h>
#include <string.h>
#include "lemmalloc.h"
#include "api/api.h"
#include "heap/vg.h"

#define MAX_REQUEST ((size_t)PTRDIFF_MAX)
#define PAGE ((size_t)LM_PAGE_SIZE)

static inline bool pow2(size_t x) { return x != 0 && (x & (x - 1)) == 0; }

static uint32_t order_of_pages(size_t pages) { /* smallest k with 2^k >= pages */
  return pages <= 1 ? 0 : (uint32_t)(64 - __builtin_clzll((unsigned long long)(pages - 1)));
}

/* ---- allocation ---- */

/* A slot of class cls from the arena: through tc's empty bin (refilled),
 * or alone without a cache; counted, then the decay clock ticks. */
static void *from_arena(struct lm_tcache *tc, uint32_t cls) {
  void *p;
  if (tc != NULL) p = lm_tc_refill(tc, cls);
  else if (lm_arena_alloc_small(&lm_heap.arenas[0], cls, &p, 1) == 0) p = NULL;
  if (p != NULL) lm_count_alloc(lm_class_bytes[cls]);
  lm_heap_tick();
  return p;
}

static void *alloc_small(uint32_t cls) {
  struct lm_tcache *tc = lm_tc_get();
  void *p;
  if (tc != NULL && (p = lm_tc_pop_cls(tc, cls)) != NULL) return p;
  return from_arena(tc, cls);
}

/* A block of at least `size` bytes aligned to `align` (a power of two), or
 * NULL. zero: the first `size` bytes must read zero. pow2_run: a large
 * block spans its whole power of two of pages (for realloc's growth). */
static void *alloc_block(size_t size, size_t align, bool zero, bool pow2_run) {
  if (!lm_heap_ready()) lm_heap_init();
  if (size > MAX_REQUEST || align > MAX_REQUEST / 2 + 1) return NULL;
  if (align < LM_QUANTUM) align = LM_QUANTUM; /* every block is 16-aligned */
  if (size <= LM_SMALL_MAX && align <= PAGE) {
    uint32_t cls = lm_class_of[(size + LM_QUANTUM - 1) / LM_QUANTUM];
    while (cls < LM_NUM_CLASSES && (lm_class_bytes[cls] & (align - 1)) != 0) cls++;
    if (cls < LM_NUM_CLASSES) {
      void *p = alloc_small(cls);
      if (p) lm_vg_alloc(p, size, lm_class_bytes[cls], zero);
      if (p && zero) memset(p, 0, size);
      return p;
    }
  }
  uint32_t order = order_of_pages((size + PAGE - 1) / PAGE);
  uint32_t aorder = align > PAGE ? order_of_pages(align / PAGE) : 0;
  if (aorder > order) order = aorder;
  bool zeroed = false;
  void *p;
  size_t usable;
  if (order <= LM_LARGE_MAX_ORDER) {
    struct lm_tcache *tc = lm_tc_get();
    /* An exact run of pages, unless realloc grows the block: then the
     * whole power of two, so the next growth stays in place. */
    size_t pages = pow2_run ? (size_t)1 << order : (size + PAGE - 1) / PAGE;
    if (pages == 0) pages = 1;
    p = lm_arena_alloc_large(tc ? tc->arena : &lm_heap.arenas[0], (uint32_t)pages, order, &zeroed);
    usable = PAGE * pages;
  } else {
    p = lm_huge_alloc(size, align, &zeroed);
    usable = p ? ((struct lm_huge *)(lm_reg_lookup((uintptr_t)p) & ~LM_REG_HUGE))->size : 0;
  }
  if (p != NULL) {
    lm_vg_alloc(p, size, usable, zero);
    if (zero && !zeroed) memset(p, 0, size);
    lm_count_alloc(usable);
  }
  lm_heap_tick();
  return p;
}

static void *alloc_any(size_t size, size_t align, bool zero) { return alloc_block(size, align, zero, false); }

void *lm_malloc_refill(uint32_t cls) {
  void *p = from_arena(lm_tc, cls);
  if (p == NULL) errno = ENOMEM;
  return p;
}

void *lm_malloc_slow(size_t n) {
  void *p = alloc_any(n, 0, false);
  if (p == NULL) errno = ENOMEM;
  LM_TRACE(LM_OP_MALLOC, NULL, n, 0, p);
  return p;
}

void *lm_calloc_slow(size_t nmemb, size_t size) {
  size_t n;
  void *p = __builtin_mul_overflow(nmemb, size, &n) ? NULL : alloc_any(n, 0, true);
  if (p == NULL) errno = ENOMEM;
  LM_TRACE(LM_OP_CALLOC, NULL, nmemb, size, p);
  return p;
}

/* ---- what a pointer is ---- */

enum kind { K_BAD, K_SMALL, K_LARGE, K_HUGE };
struct block {
  enum kind kind;
  size_t usable;
  struct lm_chunk *ch;
  struct lm_huge *huge;
  const struct lm_slab *slab;
  uint32_t cls;
};

/* Classify p; on bad input report it (fn names the caller) and return K_BAD. */
static enum kind identify(void *ptr, const char *fn, struct block *b) {
  uintptr_t a = (uintptr_t)ptr;
  /* A live slot, as free's fast path sees it, needs no lock: ruby asks
   * malloc_usable_size on every malloc and free, programs realloc often. */
  const struct lm_slab *sl;
  uint32_t cls;
  if (lm_tc_slot(lm_tc, a, &sl, &cls) &&
      (lm_heap.cfg.tcache_bytes == 0 || ((uintptr_t *)ptr)[1] != lm_tc_key)) {
    b->slab = sl;
    b->cls = cls;
    b->usable = lm_class_bytes[cls];
    return b->kind = K_SMALL;
  }
  uintptr_t e = lm_reg_lookup(a);
  const char *why = "invalid pointer (not allocated by lemmalloc)";
  b->kind = K_BAD;
  if (e == 0) goto bad;
  if (e & LM_REG_HUGE) {
    b->huge = (struct lm_huge *)(e & ~LM_REG_HUGE);
    if (a < b->huge->base || a >= b->huge->base + b->huge->size) goto bad;
    if (a != b->huge->base) {
      why = "interior pointer (not the start of a block)";
      goto bad;
    }
    if (__atomic_load_n(&b->huge->state, __ATOMIC_RELAXED) != 1 /* live */) {
      why = fn[0] == 'f' ? "double free of" : "pointer to a freed block";
      goto bad;
    }
    b->usable = b->huge->size;
    return b->kind = K_HUGE;
  }
  struct lm_chunk *ch = (struct lm_chunk *)e;
  b->ch = ch;
  uint32_t pm = ch->page[(a - ch->base) >> LM_PAGE_SHIFT];
  if (pm - 1 < LM_CHUNK_SLABS) {
    sl = &ch->slab[pm - 1];
    lm_slab_t s = lm_slab_h(sl);
    uint32_t off = (uint32_t)(a - sl->base), slot = lm_slot_of(sl->cls, off);
    if (off >= lm_slab_nslots(s) * lm_class_bytes[sl->cls]) {
      why = "invalid pointer (free memory)";
      goto bad;
    }
    if (slot == LM_NONE) {
      why = "interior pointer (not the start of a block)";
      goto bad;
    }
    /* Under the lock: the fast path's lock-free read can see a slab
     * mid-update and send a valid free here; this answer is exact. */
    struct lm_arena *ar = &lm_heap.arenas[ch->arena];
    lm_lock(&ar->lock);
    bool live = lm_slab_slot_allocated(s, slot);
    lm_unlock(&ar->lock);
    if (!live) {
      why = fn[0] == 'f' ? "double free of" : "pointer to a freed block";
      goto bad;
    }
    /* The key is a 64-bit secret written only into cached slots (and wiped
     * when a slot leaves a cache), so a match means p sits in some thread's
     * cache: this thread's (the scan confirms it) or another live thread's,
     * which cannot be walked safely. Either way p was freed. */
    /* (With no thread cache no slot carries the key, and under valgrind,
     * where there is none, p's bytes are off limits or undefined.) */
    if (lm_heap.cfg.tcache_bytes != 0 && ((uintptr_t *)ptr)[1] == lm_tc_key) {
      struct lm_tcache *tc = lm_tc_get();
      bool ours = tc != NULL && lm_tc_contains(tc, sl->cls, ptr);
      why = fn[0] != 'f' ? "pointer to a freed block" : ours ? "double free of" : "double free (block in another thread's cache) of";
      goto bad;
    }
    b->slab = sl;
    b->cls = sl->cls;
    b->usable = lm_class_bytes[sl->cls];
    return b->kind = K_SMALL;
  }
  if ((pm & LM_PM_LARGE) && (a & (PAGE - 1)) == 0) {
    if (pm != LM_PM_LARGE) {
      b->usable = PAGE * (pm & ~LM_PM_LARGE);
      return b->kind = K_LARGE;
    }
  }
  why = lm_arena_why_bad(ch, a);
bad:
  lm_heap_error(fn, why, ptr);
  return K_BAD;
}

/* ---- free ---- */

static void free_small(void *p, const struct block *b, const char *fn) {
  struct lm_tcache *tc = lm_tc_get();
  if (tc != NULL) {
    struct lm_tbin *bin = &tc->bins[b->cls];
    if (bin->count < bin->cap) {
      lm_tc_push(bin, p);
      return;
    }
    bool cached = lm_tc_free_slow(tc, b->cls, p); /* flushes, or cap 0 */
    lm_heap_tick();
    if (cached) return;
  }
  lm_count_free(b->usable);
  lm_arena_free_small(&p, 1, fn);
}

static void free_block(void *p, const char *fn) {
  struct block b;
  lm_vg_free(p); /* first: memcheck reports a bad free with its stack */
  switch (identify(p, fn, &b)) {
  case K_SMALL:
    free_small(p, &b, fn);
    return;
  case K_LARGE:
    if (lm_arena_free_large(b.ch, (uintptr_t)p, fn)) lm_count_free(b.usable);
    break;
  case K_HUGE:
    if (lm_huge_free(b.huge, (uintptr_t)p, fn)) lm_count_free(b.usable);
    break;
  case K_BAD:
    return;
  }
  lm_heap_tick();
}

void lm_free_slow(void *p) {
  if (p == NULL) return;
  int saved = errno; /* free never changes errno */
  if (!lm_heap_ready()) lm_heap_init();
  LM_TRACE(LM_OP_FREE, p, 0, 0, NULL);
  free_block(p, "free");
  errno = saved;
}

void lm_free_full(void *p, uint32_t cls) {
  int saved = errno;
  lm_tc_free_slow(lm_tc, cls, p); /* makes room: grows the cap or flushes */
  lm_heap_tick();
  errno = saved;
}

/* ---- the API ---- */

void *lm_malloc(size_t n) { return lm_malloc_inline(n); }
void lm_free(void *p) { lm_free_inline(p); }
void *lm_calloc(size_t nmemb, size_t size) { return lm_calloc_inline(nmemb, size); }

/* realloc without the p != NULL && n == 0 case; sets errno on failure. */
static void *realloc_impl(void *p, size_t n) {
  void *q;
  if (p == NULL) {
    if ((q = alloc_any(n, 0, false)) == NULL) errno = ENOMEM;
    return q;
  }
  if (!lm_heap_ready()) lm_heap_init();
  struct block b;
  if (identify(p, "realloc", &b) == K_BAD) {
    errno = EINVAL;
    return NULL;
  }
  if (n > MAX_REQUEST) {
    errno = ENOMEM;
    return NULL;
  }
  /* In place: it fits and does not waste more than half the block. */
  size_t size = lm_vg_size(p, b.usable); /* the usable size, or memcheck's */
  if (b.kind != K_HUGE && n <= b.usable && (n > b.usable / 2 || b.usable <= 2 * LM_QUANTUM)) {
    lm_vg_resize(p, size, n);
    return p;
  }
  /* Under valgrind a huge block is never remapped (memcheck's record of
   * it would not follow): it keeps its mapping to shrink, moves to grow. */
  if (b.kind == K_HUGE && n > LM_LARGE_MAX && lm_vg_on && n <= b.usable) {
    lm_vg_resize(p, size, n);
    return p;
  }
  if (b.kind == K_HUGE && n > LM_LARGE_MAX && !lm_vg_on) {
    size_t old = b.usable;
    if ((q = lm_huge_realloc(b.huge, n)) != NULL) { /* mremap: no copy */
      lm_count_free(old);
      lm_count_alloc(b.huge->size);
      return q;
    }
  }
  if ((q = alloc_block(n, 0, false, n > b.usable)) == NULL) {
    errno = ENOMEM;
    return NULL; /* the old block stays intact */
  }
  memcpy(q, p, n < size ? n : size);
  free_block(p, "realloc");
  return q;
}

void *lm_realloc(void *p, size_t n) {
  int saved = errno;
  void *q = NULL;
  if (p != NULL && n == 0) { /* glibc: realloc(p, 0) frees p, returns NULL */
    lm_free_slow(p);
  } else if ((q = realloc_impl(p, n)) != NULL) {
    errno = saved;
  }
  LM_TRACE(LM_OP_REALLOC, p, n, 0, q);
  return q;
}

void *lm_reallocarray(void *p, size_t nmemb, size_t size) {
  int saved = errno;
  size_t n;
  void *q = NULL;
  if (__builtin_mul_overflow(nmemb, size, &n)) errno = ENOMEM;
  else if (p != NULL && n == 0) lm_free_slow(p);
  else if ((q = realloc_impl(p, n)) != NULL) errno = saved;
  LM_TRACE(LM_OP_REALLOCARRAY, p, nmemb, size, q);
  return q;
}

int lm_posix_memalign(void **out, size_t align, size_t size) {
  int r = 0;
  if (!pow2(align) || align % sizeof(void *) != 0) {
    r = EINVAL; /* *out untouched */
  } else {
    int saved = errno;
    void *p = alloc_any(size, align, false);
    errno = saved;
    if (p == NULL) r = ENOMEM;
    else *out = p;
  }
  LM_TRACE(LM_OP_POSIX_MEMALIGN, NULL, align, size, r == 0 ? *out : NULL);
  return r;
}

void *lm_aligned_alloc(size_t align, size_t size) {
  void *p = NULL;
  if (!pow2(align)) errno = EINVAL;
  else if ((p = alloc_any(size, align, false)) == NULL) errno = ENOMEM;
  LM_TRACE(LM_OP_ALIGNED_ALLOC, NULL, align, size, p);
  return p;
}

/* glibc's memalign: alignments that are not powers of two are rounded up. */
static void *memalign_impl(size_t align, size_t size) {
  if (align > MAX_REQUEST / 2 + 1) {
    errno = EINVAL;
    return NULL;
  }
  if (align < LM_QUANTUM) align = LM_QUANTUM;
  if (!pow2(align)) align = (size_t)1 << (64 - __builtin_clzll((unsigned long long)align));
  void *p = alloc_any(size, align, false);
  if (p == NULL) errno = ENOMEM;
  return p;
}

void *lm_memalign(size_t align, size_t size) {
  void *p = memalign_impl(align, size);
  LM_TRACE(LM_OP_MEMALIGN, NULL, align, size, p);
  return p;
}

void *lm_valloc(size_t size) {
  void *p = memalign_impl(PAGE, size);
  LM_TRACE(LM_OP_VALLOC, NULL, size, 0, p);
  return p;
}

void *lm_pvalloc(size_t size) {
  void *p = NULL;
  if (size > MAX_REQUEST) errno = ENOMEM;
  else p = memalign_impl(PAGE, size == 0 ? PAGE : (size + PAGE - 1) & ~(PAGE - 1));
  LM_TRACE(LM_OP_PVALLOC, NULL, size, 0, p);
  return p;
}

size_t lm_malloc_usable_size(void *p) {
  size_t n = 0;
  if (p != NULL) {
    if (!lm_heap_ready()) lm_heap_init();
    struct block b;
    if (identify(p, "malloc_usable_size", &b) != K_BAD) n = lm_vg_size(p, b.usable);
  }
  LM_TRACE(LM_OP_USABLE_SIZE, p, n, 0, NULL);
  return n;
}

int lm_trim(void) {
  if (!lm_heap_ready()) lm_heap_init();
  struct lm_tcache *tc = lm_tc_get();
  if (tc != NULL) lm_tc_flush_all(tc);
  size_t released = 0;
  for (unsigned i = 0; i < lm_heap.cfg.narenas; i++) released += lm_arena_purge(&lm_heap.arenas[i], true);
  released += lm_huge_decay(true);
  lm_lock(&lm_heap.meta_lock);
  lm_heap.ntrim++;
  lm_unlock(&lm_heap.meta_lock);
  return released > 0;
}

int lm_malloc_trim(size_t pad) {
  (void)pad; /* no heap top to keep: every whole free page goes */
  int saved = errno;
  int r = lm_trim();
  errno = saved;
  LM_TRACE(LM_OP_TRIM, NULL, pad, 0, NULL);
  return r;
}

/* glibc's parameter numbers (<malloc.h>). */
#define M_MXFAST 1
#define M_TRIM_THRESHOLD (-1)
#define M_TOP_PAD (-2)
#define M_MMAP_THRESHOLD (-3)
#define M_MMAP_MAX (-4)
#define M_CHECK_ACTION (-5)
#define M_PERTURB (-6)
#define M_ARENA_TEST (-7)
#define M_ARENA_MAX (-8)

int lm_mallopt(int param, int value) {
  if (!lm_heap_ready()) lm_heap_init();
  switch (param) {
  case M_ARENA_MAX: /* applies to threads that start from now on */
    if (value <= 0) return 0;
    __atomic_store_n(&lm_heap.narenas, (unsigned)(value < (int)lm_heap.cfg.narenas ? value : (int)lm_heap.cfg.narenas),
                     __ATOMIC_RELAXED);
    return 1;
  case M_CHECK_ACTION: /* glibc: bit 1 set = abort on corruption */
    lm_heap.cfg.warn_only = (value & 2) == 0;
    return 1;
  case M_MXFAST:
    return value >= 0 && value <= 160; /* glibc's bound; no fastbins here */
  case M_MMAP_THRESHOLD:
    return value >= 0 && value <= 32 << 20; /* glibc's bound; fixed thresholds here */
  case M_TRIM_THRESHOLD:
  case M_TOP_PAD:
  case M_MMAP_MAX:
  case M_ARENA_TEST:
    return 1; /* accepted; lemmalloc's own decay decides */
  default:
    return 0; /* M_PERTURB and unknown parameters */
  }
}
