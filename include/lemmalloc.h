/* lemmalloc public API.
 *
 * Linked in (liblemmalloc.a or .so), the lm_ functions below behave exactly
 * like their glibc counterparts without the prefix. Preloaded
 * (LD_PRELOAD=build/liblemmalloc.so, or bin/lemmalloc CMD), the library
 * also defines malloc, free, ... themselves.
 *
 * Settings, read once at start-up from the environment and checked (a bad
 * value prints one line saying what is used instead); README, Settings,
 * has the full list. The main ones (sizes take a k, m or g suffix):
 *   LEMMALLOC_ARENAS=N        arenas (independent heaps, one lock each);
 *                             default: half the CPUs this process may use,
 *                             rounded up; max 64. mallopt(M_ARENA_MAX, n)
 *                             lowers it for threads started afterwards.
 *   LEMMALLOC_TCACHE_BYTES=B  free bytes a thread may keep, beyond its
 *                             current slab of each class: in other slabs
 *                             it owns, and in freed large blocks (default
 *                             256k, max 64m); 0: threads own no slabs and
 *                             every call takes an arena lock.
 *   LEMMALLOC_PURGE_MS=MS     free pages go back to the kernel after this
 *                             many ms unused (default 200); 0 = at once.
 *   LEMMALLOC_HUGE_CACHE=B    bytes of freed huge (> 2 MiB) mappings kept
 *                             for reuse until the decay (default 64m).
 *   LEMMALLOC_ON_ERROR=warn   on a bad free/realloc print the line and go
 *                             on; default (abort): print and abort.
 *   LEMMALLOC_STATS=1|json    print the statistics at exit (text or one
 *                             JSON object); the first text line starts
 *                             "lemmalloc stats". LEMMALLOC_STATS_FILE=PATH
 *                             (%p = pid) writes them there instead of to
 *                             stderr; LEMMALLOC_STATS_SIGNAL=USR1 writes
 *                             them whenever the process gets that signal.
 *   LEMMALLOC_CONF=k:v,...    the same settings in one variable
 *                             ("arenas:2,purge_ms:100,stats:json"); each
 *                             variable above overrides it.
 *   LEMMALLOC_TRACE=FILE      record every call for tools/oracle.
 * A setuid or setgid program (AT_SECURE) ignores all of them.
 *
 * Under valgrind, memcheck replaces lemmalloc's malloc family with its own,
 * as it does glibc's, and so still sees every block of the program.
 */
#ifndef LEMMALLOC_H
#define LEMMALLOC_H
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define LM_API __attribute__((visibility("default")))

/* The version of this header: MAJOR.MINOR.PATCH. These three lines are the
 * one source of truth for lemmalloc's version (the Makefile, the soname
 * liblemmalloc.so.MAJOR, lemmalloc.pc and the wrapper read them). */
#define LEMMALLOC_VERSION_MAJOR 0
#define LEMMALLOC_VERSION_MINOR 1
#define LEMMALLOC_VERSION_PATCH 0
#define LEMMALLOC_STRINGIFY_(x) #x
#define LEMMALLOC_STRINGIFY(x) LEMMALLOC_STRINGIFY_(x)
/* "0.1.0" */
#define LEMMALLOC_VERSION                                                                    \
  LEMMALLOC_STRINGIFY(LEMMALLOC_VERSION_MAJOR) "." LEMMALLOC_STRINGIFY(LEMMALLOC_VERSION_MINOR) "." \
  LEMMALLOC_STRINGIFY(LEMMALLOC_VERSION_PATCH)
/* For #if: 100 = 0.1.0, 10203 = 1.2.3. */
#define LEMMALLOC_VERSION_NUMBER \
  (LEMMALLOC_VERSION_MAJOR * 10000 + LEMMALLOC_VERSION_MINOR * 100 + LEMMALLOC_VERSION_PATCH)

/* The version of the library actually running ("0.1.0"), which may be
 * newer than the header a program was built with. */
LM_API const char *lm_version(void);

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

/* Room for the per-class counters of struct lm_stats: a fixed maximum, so
 * the public ABI does not change with lemmalloc's size-class table. lm_stats
 * fills the first `nclasses` entries (smallest class first) and zeroes the
 * rest; read `nclasses`, not this bound, to know how many are in use. */
#define LM_STATS_CLASSES 64

/* A snapshot of the allocator's counters (bytes unless stated). Each
 * figure is exact for the moment its part was read; parts are read one
 * after the other, so concurrent activity can make them disagree slightly. */
struct lm_stats {
  size_t mapped;          /* chunks + huge mappings (live and cached) + the
                             tables lemmalloc maps (not its static ones) */
  size_t resident;        /* estimate: dirty pages in chunks + huge + metadata */
  size_t allocated;       /* live blocks, usable sizes (what malloc_usable_size says) */
  size_t chunks_mapped;   /* bytes in 4 MiB chunks */
  size_t dirty_free;      /* free pages not yet returned to the OS */
  size_t large_live;      /* live buddy blocks for large requests */
  size_t huge_live;       /* live huge mappings */
  size_t huge_cached;     /* freed huge mappings kept for reuse */
  size_t tcache_bytes;    /* freed large blocks kept in threads' caches */
  size_t thread_slabs;    /* bytes of the slabs threads allocate from (one per
                             class a thread uses; given back when it idles) */
  size_t purged;          /* cumulative bytes returned with madvise */
  size_t metadata;        /* lemmalloc's own tables: those it maps, plus the
                             resident pages of its static ones (mincore) */
  uint64_t npurge;        /* purge passes that released something */
  uint64_t ntrim;         /* malloc_trim / lm_trim calls */
  uint64_t nmalloc, nfree; /* allocation and free calls served */
  uint64_t tcache_hits;   /* allocations served without a lock: a thread's own slab or large cache */
  uint64_t large_nmalloc, huge_nmalloc, huge_nreuse;
  size_t huge_count;      /* live huge mappings */
  unsigned narenas;
  size_t nchunks;
  size_t slabs;           /* bytes in slab spans (full, partly used or spare) */
  size_t peak_allocated;  /* highest figures seen: sampled at every decay tick */
  size_t peak_mapped;     /*   (LEMMALLOC_PURGE_MS / 4) and every lm_stats call, */
  size_t peak_resident;   /*   so a spike shorter than that can be missed */
  uint64_t nthreads;      /* threads seen: every thread that called malloc */
  unsigned narenas_used;  /* arenas holding at least one chunk */
  unsigned nclasses;      /* entries of classes[] in use (<= LM_STATS_CLASSES) */
  struct {
    size_t size;          /* block size of the class */
    uint64_t nmalloc;     /* slots handed out by slabs (to caches or callers) */
    uint64_t nfree;       /* slots given back to slabs */
    uint64_t nslabs;      /* slabs alive */
    uint64_t slots;       /* slots in those slabs */
    uint64_t slots_used;  /* of which allocated in the core: occupancy */
  } classes[LM_STATS_CLASSES]; /* [0, nclasses) in use, the rest zero */
};

/* Fill *out; returns 0. */
LM_API int lm_stats(struct lm_stats *out);
/* Write a snapshot of the heap to path: one cell per 4 KiB page of every
 * chunk (live, partly used slab, free but resident, returned to the
 * kernel), metadata pages, the fragmentation and slab figures. Always the
 * versioned text format of tools/heapmap/README.md ("Format"), whatever
 * path's extension; tools/heapmap/render.py draws it as PNG, HTML or text.
 * The file is replaced atomically; never allocates through malloc.
 * Returns 0, or -1 with errno set. */
LM_API int lm_heapmap_write(const char *path);
/* Flush the calling thread's cache and give every whole free page of every
 * arena back to the OS now; returns 1 if anything was released, else 0. */
LM_API int lm_trim(void);

#ifdef __cplusplus
}
#endif
#endif
