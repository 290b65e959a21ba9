/* The lm_ entry points: glibc's (and C23's) semantics on top of the heap's
 * interface (heap/alloc.h). Sizes are checked here once; below this file
 * every size is sane. errno and the trace are kept here too. */
#include <errno.h>
#include <string.h>
#include "lemmalloc.h"
#include "api/api.h"

#define MAX_REQUEST ((size_t)PTRDIFF_MAX)
#define PAGE ((size_t)LM_PAGE_SIZE)

static inline bool pow2(size_t x) { return x != 0 && (x & (x - 1)) == 0; }

/* ---- allocation ---- */

/* A block of at least `size` bytes aligned to `align` (a power of two), or
 * NULL: sizes no object can have fail here. */
static void *alloc_block(size_t size, size_t align, unsigned flags) {
  if (size > MAX_REQUEST || align > MAX_REQUEST / 2 + 1) return NULL;
  return lm_heap_alloc(size, align, flags);
}

void *lm_malloc_slow(size_t n) {
  void *p = alloc_block(n, 0, 0);
  if (p == NULL) errno = ENOMEM;
  LM_TRACE(LM_OP_MALLOC, NULL, n, 0, p);
  return p;
}

void *lm_calloc_slow(size_t nmemb, size_t size) {
  size_t n;
  void *p = __builtin_mul_overflow(nmemb, size, &n) ? NULL : alloc_block(n, 0, LM_ALLOC_ZERO);
  if (p == NULL) errno = ENOMEM;
  LM_TRACE(LM_OP_CALLOC, NULL, nmemb, size, p);
  return p;
}

/* ---- what a pointer is ---- */

/* Classify p for `call`; on bad input report it and return false. */
static bool identify(void *p, enum lm_call call, struct lm_block *b) {
  enum lm_bad why = lm_heap_classify(p, b);
  if (why == LM_BAD_NONE) return true;
  lm_heap_report(call, why, p);
  return false;
}

/* ---- free ---- */

void lm_free_slow(void *p) {
  if (p == NULL) return;
  int saved = errno; /* free never changes errno */
  if (!lm_heap_ready()) lm_heap_init();
  LM_TRACE(LM_OP_FREE, p, 0, 0, NULL);
  lm_heap_freeing(p);
  struct lm_block b;
  if (identify(p, LM_CALL_FREE, &b)) lm_heap_free(p, &b);
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
    if ((q = alloc_block(n, 0, 0)) == NULL) errno = ENOMEM;
    return q;
  }
  if (!lm_heap_ready()) lm_heap_init();
  struct lm_block b;
  if (!identify(p, LM_CALL_REALLOC, &b)) {
    errno = EINVAL;
    return NULL;
  }
  if (n > MAX_REQUEST) {
    errno = ENOMEM;
    return NULL;
  }
  /* In place: it fits and does not waste more than half the block. */
  size_t size = lm_heap_block_size(p, b.usable); /* the usable size, or memcheck's */
  if (b.kind != LM_BLK_HUGE && n <= b.usable && (n > b.usable / 2 || b.usable <= 2 * LM_QUANTUM)) {
    lm_heap_resized(p, size, n);
    return p;
  }
  if (b.kind == LM_BLK_HUGE && n > LM_LARGE_MAX) {
    if (!lm_heap_may_remap() && n <= b.usable) { /* valgrind: shrink in place */
      lm_heap_resized(p, size, n);
      return p;
    }
    if (lm_heap_may_remap() && (q = lm_heap_huge_resize(p, &b, n)) != NULL) return q; /* mremap: no copy */
  }
  if ((q = alloc_block(n, 0, n > b.usable ? LM_ALLOC_GROW : 0)) == NULL) {
    errno = ENOMEM;
    return NULL; /* the old block stays intact */
  }
#if LM_PLANT_BUG == 8 /* fuzz/plants.txt: realloc loses the last kept byte */
  memcpy(q, p, (n < size ? n : size) - 1);
#else
  memcpy(q, p, n < size ? n : size);
#endif
  lm_heap_freeing(p);
  lm_heap_free(p, &b);
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
    void *p = alloc_block(size, align, 0);
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
  else if ((p = alloc_block(size, align, 0)) == NULL) errno = ENOMEM;
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
  void *p = alloc_block(size, align, 0);
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
    struct lm_block b;
    if (identify(p, LM_CALL_USABLE_SIZE, &b)) n = lm_heap_block_size(p, b.usable);
  }
  LM_TRACE(LM_OP_USABLE_SIZE, p, n, 0, NULL);
  return n;
}

int lm_trim(void) { return lm_heap_trim(); }

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
  switch (param) {
  case M_ARENA_MAX: /* applies to threads that start from now on */
    return lm_heap_set_arena_max(value);
  case M_CHECK_ACTION: /* glibc: bit 1 set = abort on corruption */
    lm_heap_set_warn_only((value & 2) == 0);
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
