/* lemmalloc public API.
 *
 * Linked in (liblemmalloc.a or .so), the lm_ functions below behave exactly
 * like their glibc counterparts without the prefix. Preloaded
 * (LD_PRELOAD=liblemmalloc.so, or bin/lemmalloc CMD), the library also
 * defines malloc, free, ... themselves.
 */
#ifndef LEMMALLOC_H
#define LEMMALLOC_H
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define LM_API __attribute__((visibility("default")))

LM_API void *lm_malloc(size_t size);
LM_API void lm_free(void *p);
LM_API void *lm_calloc(size_t nmemb, size_t size);
LM_API void *lm_realloc(void *p, size_t size);
LM_API void *lm_reallocarray(void *p, size_t nmemb, size_t size);
LM_API int lm_posix_memalign(void **out, size_t align, size_t size);
LM_API void *lm_aligned_alloc(size_t align, size_t size);
LM_API void *lm_memalign(size_t align, size_t size);
LM_API void *lm_valloc(size_t size);
LM_API void *lm_pvalloc(size_t size);
LM_API size_t lm_malloc_usable_size(void *p);
LM_API int lm_malloc_trim(size_t pad);
LM_API void lm_malloc_stats(void);
LM_API int lm_mallopt(int param, int value);

#define LM_STATS_CLASSES 36

/* A snapshot of the allocator's counters (bytes unless stated). Each
 * figure is exact for the moment its part was read; parts are read one
 * after the other, so concurrent activity can make them disagree slightly. */
struct lm_stats {
  size_t mapped;          /* chunks + huge mappings (live and cached) + metadata */
  size_t resident;        /* estimate: dirty pages in chunks + huge + metadata */
  size_t allocated;       /* live blocks, usable sizes (what malloc_usable_size says) */
  size_t chunks_mapped;   /* bytes in 4 MiB chunks */
  size_t dirty_free;      /* free pages not yet returned to the OS */
  size_t large_live;      /* live buddy blocks for large requests */
  size_t huge_live;       /* live huge mappings */
  size_t huge_cached;     /* freed huge mappings kept for reuse */
  size_t tcache_bytes;    /* free slots sitting in thread caches */
  size_t purged;          /* cumulative bytes returned with madvise */
  size_t metadata;        /* bytes mapped for lemmalloc's own tables */
  uint64_t npurge;        /* purge passes that released something */
  uint64_t ntrim;         /* malloc_trim / lm_trim calls */
  uint64_t nmalloc, nfree; /* allocation and free calls served */
  uint64_t tcache_hits;   /* allocations served by a thread cache */
  uint64_t large_nmalloc, huge_nmalloc, huge_nreuse;
  unsigned narenas;
  size_t nchunks;
  struct {
    size_t size;          /* block size of the class */
    uint64_t nmalloc;     /* slots handed out by slabs (to caches or callers) */
    uint64_t nfree;       /* slots given back to slabs */
    uint64_t nslabs;      /* slabs alive */
  } classes[LM_STATS_CLASSES];
};

/* Fill *out; returns 0. */
LM_API int lm_stats(struct lm_stats *out);
/* Flush the calling thread's cache and give every whole free page of every
 * arena back to the OS now; returns 1 if anything was released, else 0. */
LM_API int lm_trim(void);

#ifdef __cplusplus
}
#endif
#endif
