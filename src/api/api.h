/* Inline fast paths of the malloc family, shared by malloc.c (lm_*) and
 * override.c (malloc & co) so that both get them without a call. They use
 * the heap's interface (heap/alloc.h) and nothing else of it. */
#ifndef LM_API_H
#define LM_API_H
#include "lemmalloc.h"
#include "heap/alloc.h"

void *lm_malloc_slow(size_t n) LM_HIDDEN __attribute__((noinline));
void lm_free_slow(void *p) LM_HIDDEN __attribute__((noinline));
void *lm_calloc_slow(size_t nmemb, size_t size) LM_HIDDEN __attribute__((noinline));

#ifdef LM_HAVE_TRACE
#include "api/trace.h"
#define LM_TRACE(kind, in, a, b, out) \
  do { if (lm_unlikely(__atomic_load_n(&lm_trace_enabled, __ATOMIC_RELAXED))) lm_trace_record(kind, in, a, b, out); } while (0)
#else
#define LM_TRACE(kind, in, a, b, out) ((void)0)
#endif

/* The fast paths record no trace: with LEMMALLOC_TRACE set threads own no
 * slabs (thread.c, lm_th_init), so every call takes a slow path, which records it. */

static inline __attribute__((always_inline)) void *lm_malloc_inline(size_t n) {
  void *p = lm_heap_malloc_fast(n);
  return lm_likely(p != NULL) ? p : lm_malloc_slow(n);
}

static inline __attribute__((always_inline)) void lm_free_inline(void *p) {
  if (lm_likely(p != NULL && lm_heap_free_fast(p))) return;
  lm_free_slow(p);
}

/* A live slot's usable size without a call (ruby asks on every malloc and
 * free); anything else, and every call under valgrind, takes the slow path. */
static inline __attribute__((always_inline)) size_t lm_usable_size_inline(void *p) {
  size_t n = p != NULL ? lm_heap_usable_fast(p) : 0;
  return lm_likely(n != 0) ? n : lm_malloc_usable_size(p);
}

static inline __attribute__((always_inline)) void *lm_calloc_inline(size_t nmemb, size_t size) {
  size_t n;
  if (lm_likely(!__builtin_mul_overflow(nmemb, size, &n))) {
    void *p = lm_heap_malloc_fast(n);
    if (lm_likely(p != NULL)) return __builtin_memset(p, 0, n);
  }
  return lm_calloc_slow(nmemb, size);
}

#endif
