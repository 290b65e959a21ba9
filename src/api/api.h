/* Inline fast paths of the malloc family, shared by malloc.c (lm_*) and
 * override.c (malloc & co) so that both get them without a call. */
#ifndef LM_API_H
#define LM_API_H
#include "lemmalloc.h"
#include "heap/tcache.h"

void *lm_malloc_slow(size_t n) LM_HIDDEN __attribute__((noinline));
void lm_free_slow(void *p) LM_HIDDEN __attribute__((noinline));
/* A slot of class cls for malloc, whose bin in the calling thread's live
 * cache (cap > 0) is empty: refill it. */
void *lm_malloc_refill(uint32_t cls) LM_HIDDEN __attribute__((noinline));
/* Free p, found valid by the fast path, into bin cls, which is full. */
void lm_free_full(void *p, uint32_t cls) LM_HIDDEN __attribute__((noinline));
void *lm_calloc_slow(size_t nmemb, size_t size) LM_HIDDEN __attribute__((noinline));

#ifdef LM_HAVE_TRACE
#include "api/trace.h"
#define LM_TRACE(kind, in, a, b, out) \
  do { if (lm_unlikely(lm_trace_enabled)) lm_trace_record(kind, in, a, b, out); } while (0)
#else
#define LM_TRACE(kind, in, a, b, out) ((void)0)
#endif

/* The fast paths record no trace: with LEMMALLOC_TRACE set no thread
 * cache holds a slot (tcache.c), so every call takes a slow path, which
 * records it. */

/* One predictable test (size is small and the bin has a slot), then a pop. */
static inline __attribute__((always_inline)) void *lm_malloc_inline(size_t n) {
  if (lm_likely(n <= LM_SMALL_MAX)) {
    uint32_t cls = lm_class_of[(n + LM_QUANTUM - 1) / LM_QUANTUM];
    struct lm_tcache *tc = lm_tc;
    void *p = lm_tc_pop_cls(tc, cls);
    if (lm_likely(p != NULL)) return p;
    if (tc->bins[cls].cap != 0) return lm_malloc_refill(cls); /* a live cache */
  }
  return lm_malloc_slow(n);
}

static inline __attribute__((always_inline)) void lm_free_inline(void *p) {
  uint32_t cls = 0;
  enum lm_tc_free r = p != NULL ? lm_tc_free_fast(p, &cls) : LM_TC_SLOW;
  if (lm_likely(r == LM_TC_DONE)) return;
  if (r == LM_TC_FULL) lm_free_full(p, cls);
  else lm_free_slow(p);
}

/* A live slot's usable size without a call (ruby asks on every malloc and
 * free). The bin's cap keeps out the modes that read no slot bytes and
 * trace every call (no cache, valgrind, trace). */
static inline __attribute__((always_inline)) size_t lm_usable_size_inline(void *p) {
  struct lm_tcache *tc = lm_tc;
  const struct lm_slab *sl;
  uint32_t cls;
  if (lm_likely(p != NULL && lm_tc_slot(tc, (uintptr_t)p, &sl, &cls) && tc->bins[cls].cap != 0 &&
                ((uintptr_t *)p)[1] != lm_tc_key))
    return lm_class_bytes[cls];
  return lm_malloc_usable_size(p);
}

static inline __attribute__((always_inline)) void *lm_calloc_inline(size_t nmemb, size_t size) {
  size_t n;
  if (lm_likely(!__builtin_mul_overflow(nmemb, size, &n) && n <= LM_SMALL_MAX)) {
    void *p = lm_tc_pop(n);
    if (lm_likely(p != NULL)) return __builtin_memset(p, 0, n);
  }
  return lm_calloc_slow(nmemb, size);
}

#endif
