/* The one file that defines the C library's allocation functions, for
 * LD_PRELOAD (and for programs linked with liblemmalloc.a). Each is the
 * lm_ function of the same name; malloc, free and calloc inline their fast
 * paths (api.h) rather than adding a call. glibc's internal __libc_*
 * names are defined too, for the few programs that call them directly. */
#define _GNU_SOURCE
#include <malloc.h>
#include <stdlib.h>
#include "lemmalloc.h"
#include "api/api.h"

#define EXPORT __attribute__((visibility("default")))

EXPORT void *malloc(size_t n) { return lm_malloc_inline(n); }
EXPORT void free(void *p) { lm_free_inline(p); }
EXPORT void *calloc(size_t nmemb, size_t size) { return lm_calloc_inline(nmemb, size); }
EXPORT void *realloc(void *p, size_t n) { return lm_realloc(p, n); }
EXPORT void *reallocarray(void *p, size_t nmemb, size_t size) { return lm_reallocarray(p, nmemb, size); }
EXPORT int posix_memalign(void **out, size_t align, size_t size) { return lm_posix_memalign(out, align, size); }
EXPORT void *aligned_alloc(size_t align, size_t size) { return lm_aligned_alloc(align, size); }
EXPORT void *memalign(size_t align, size_t size) { return lm_memalign(align, size); }
EXPORT void *valloc(size_t size) { return lm_valloc(size); }
EXPORT void *pvalloc(size_t size) { return lm_pvalloc(size); }
EXPORT size_t malloc_usable_size(void *p) { return lm_usable_size_inline(p); }
EXPORT int malloc_trim(size_t pad) { return lm_malloc_trim(pad); }
EXPORT void malloc_stats(void) { lm_malloc_stats(); }
EXPORT int mallopt(int param, int value) { return lm_mallopt(param, value); }

/* mallinfo2: arena = bytes in chunks, hblks/hblkhd = huge mappings,
 * uordblks = live allocated bytes, fordblks = the rest of the chunks,
 * keepcost = dirty free bytes that a trim would release. */
EXPORT struct mallinfo2 mallinfo2(void) {
  struct lm_stats st;
  lm_stats(&st);
  struct mallinfo2 mi = {0};
  mi.arena = st.chunks_mapped;
  mi.hblkhd = st.huge_live; /* in use, as glibc's: cached mappings are in fordblks */
  mi.hblks = st.huge_count;
  mi.uordblks = st.allocated;
  size_t small_large = st.allocated > st.huge_live ? st.allocated - st.huge_live : 0;
  mi.fordblks = (st.chunks_mapped > small_large ? st.chunks_mapped - small_large : 0) + st.huge_cached;
  mi.fsmblks = st.tcache_bytes;
  mi.keepcost = st.dirty_free;
  return mi;
}

/* The old int version, saturated, for programs still calling it. */
EXPORT struct mallinfo mallinfo(void) {
  struct mallinfo2 m2 = mallinfo2();
  struct mallinfo mi = {0};
#define SAT(x) ((int)((x) > 0x7fffffff ? 0x7fffffff : (x)))
  mi.arena = SAT(m2.arena);
  mi.hblks = SAT(m2.hblks);
  mi.hblkhd = SAT(m2.hblkhd);
  mi.uordblks = SAT(m2.uordblks);
  mi.fordblks = SAT(m2.fordblks);
  mi.fsmblks = SAT(m2.fsmblks);
  mi.keepcost = SAT(m2.keepcost);
  return mi;
}

void *__libc_malloc(size_t n);
void __libc_free(void *p);
void *__libc_calloc(size_t nmemb, size_t size);
void *__libc_realloc(void *p, size_t n);
void *__libc_memalign(size_t align, size_t size);
void *__libc_valloc(size_t size);
void *__libc_pvalloc(size_t size);
int __posix_memalign(void **out, size_t align, size_t size);
void cfree(void *p);

EXPORT void *__libc_malloc(size_t n) { return lm_malloc_inline(n); }
EXPORT void __libc_free(void *p) { lm_free_inline(p); }
EXPORT void *__libc_calloc(size_t nmemb, size_t size) { return lm_calloc_inline(nmemb, size); }
EXPORT void *__libc_realloc(void *p, size_t n) { return lm_realloc(p, n); }
EXPORT void *__libc_memalign(size_t align, size_t size) { return lm_memalign(align, size); }
EXPORT void *__libc_valloc(size_t size) { return lm_valloc(size); }
EXPORT void *__libc_pvalloc(size_t size) { return lm_pvalloc(size); }
EXPORT int __posix_memalign(void **out, size_t align, size_t size) { return lm_posix_memalign(out, align, size); }
EXPORT void cfree(void *p) { lm_free_inline(p); }
