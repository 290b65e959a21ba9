/* Statistics: per-arena counters (read under each lock), per-thread
 * counters (read relaxed), merged on demand. */
#include <string.h>
#include "lemmalloc.h"
#include "heap/thread.h"
#include "heap/heapmap.h"

/* The public struct has room for a fixed number of classes (ABI): the
 * core's table must fit in it. */
_Static_assert(LM_NUM_CLASSES <= LM_STATS_CLASSES,
               "LM_NUM_CLASSES exceeds LM_STATS_CLASSES: raise the public bound (an ABI change)");

/* Peaks, raised by lm_stats_sample (every decay tick) and by lm_stats. */
static size_t peak_allocated, peak_mapped, peak_resident;

static size_t raise_peak(size_t *peak, size_t v) {
  size_t old = __atomic_load_n(peak, __ATOMIC_RELAXED);
  while (v > old && !__atomic_compare_exchange_n(peak, &old, v, true, __ATOMIC_RELAXED, __ATOMIC_RELAXED)) {}
  return v > old ? v : old;
}

/* The three figures that have peaks, from counters and one mincore walk
 * over the tables in use (no heap walk): cheap enough for the decay tick
 * (one uncontended lock per arena). */
static void sample(size_t *allocated, size_t *mapped, size_t *resident) {
  size_t tables = lm_meta_resident(); /* first: the counters below are read close together */
  size_t dirty = 0;
  for (unsigned i = 0; i < lm_heap.cfg.narenas; i++) {
    struct lm_arena *a = &lm_heap.arenas[i];
    lm_lock(&a->lock);
    dirty += a->dirty_pages;
    lm_unlock(&a->lock);
  }
  lm_lock(&lm_heap.huge_lock);
  size_t huge = lm_heap.huge_live_bytes + lm_heap.huge_cached_bytes;
  lm_unlock(&lm_heap.huge_lock);
  lm_lock(&lm_heap.meta_lock);
  size_t chunks = lm_heap.chunk_bytes, meta = lm_heap.meta_bytes;
  lm_unlock(&lm_heap.meta_lock);
  struct lm_thsum t;
  size_t cached;
  lm_th_summary(&t, &cached);
  *allocated = t.alloc_bytes >= t.free_bytes ? (size_t)(t.alloc_bytes - t.free_bytes) : 0;
  *mapped = chunks + huge + meta;
  *resident = dirty * LM_PAGE_SIZE + huge + tables;
}

void lm_stats_sample(void) LM_HIDDEN;
void lm_stats_sample(void) {
  size_t a, m, r;
  sample(&a, &m, &r);
  raise_peak(&peak_allocated, a);
  raise_peak(&peak_mapped, m);
  raise_peak(&peak_resident, r);
}

int lm_stats(struct lm_stats *st) {
  if (!lm_heap_ready()) lm_heap_init();
  memset(st, 0, sizeof *st);
  size_t tables = lm_meta_resident(); /* first: the counters below are read close together */
  size_t dirty = 0;
  for (unsigned i = 0; i < lm_heap.cfg.narenas; i++) {
    struct lm_arena *a = &lm_heap.arenas[i];
    lm_lock(&a->lock);
    dirty += a->dirty_pages;
    st->dirty_free += a->dirty_free_pages * LM_PAGE_SIZE;
    st->large_live += a->large_live_bytes;
    st->purged += a->purged_pages * LM_PAGE_SIZE;
    st->npurge += a->npurge;
    st->large_nmalloc += a->large_nmalloc;
    st->thread_slabs += a->owned_slab_bytes;
    st->nchunks += a->nchunks;
    for (uint32_t c = 0; c < LM_NUM_CLASSES; c++) {
      st->classes[c].nslabs += a->class_nslabs[c];
    }
    lm_unlock(&a->lock);
  }
  st->nclasses = LM_NUM_CLASSES;
  for (uint32_t c = 0; c < LM_NUM_CLASSES; c++) st->classes[c].size = lm_class_size_table[c];
  lm_lock(&lm_heap.huge_lock);
  st->huge_live = lm_heap.huge_live_bytes;
  st->huge_cached = lm_heap.huge_cached_bytes;
  st->huge_nmalloc = lm_heap.huge_nmalloc;
  st->huge_nreuse = lm_heap.huge_nreuse;
  st->huge_count = (size_t)(lm_heap.huge_nmalloc - lm_heap.huge_nfree);
  lm_unlock(&lm_heap.huge_lock);
  lm_lock(&lm_heap.meta_lock);
  size_t mapped_tables = lm_heap.meta_bytes;
  st->chunks_mapped = lm_heap.chunk_bytes;
  st->ntrim = lm_heap.ntrim;
  lm_unlock(&lm_heap.meta_lock);
  struct lm_thsum t;
  lm_th_summary(&t, &st->tcache_bytes);
  /* A run in a thread's cache is live to its arena, free to the program. */
  st->large_live = st->large_live >= st->tcache_bytes ? st->large_live - st->tcache_bytes : 0;
  struct lm_thcount per;
  size_t ignored;
  lm_th_totals(&per, &ignored);
  for (uint32_t c = 0; c < LM_NUM_CLASSES; c++) {
    st->classes[c].nmalloc = per.nmalloc[c];
    st->classes[c].nfree = per.nfree[c];
  }
  st->nmalloc = t.nmalloc;
  st->nfree = t.nfree;
  st->tcache_hits = t.hits;
  st->allocated = t.alloc_bytes >= t.free_bytes ? (size_t)(t.alloc_bytes - t.free_bytes) : 0;
  st->narenas = lm_heap.narenas;
  /* Mapped: what lemmalloc took from the OS with mmap. Metadata: what of
   * its own tables is resident (mincore over the header pool, the small
   * object pool and the registry's leaves: a header is touched only as its
   * chunk is used). */
  st->metadata = tables;
  st->mapped = st->chunks_mapped + st->huge_live + st->huge_cached + mapped_tables;
  st->resident = dirty * LM_PAGE_SIZE + st->huge_live + st->huge_cached + st->metadata;
  st->nthreads = t.threads;
  st->peak_allocated = raise_peak(&peak_allocated, st->allocated);
  st->peak_mapped = raise_peak(&peak_mapped, st->mapped);
  st->peak_resident = raise_peak(&peak_resident, st->resident);
  struct lm_hm_usage u; /* one walk over every chunk's blocks, lock by lock */
  lm_heapmap_usage(&u);
  st->slabs = u.slab_bytes;
  st->narenas_used = u.narenas;
  for (uint32_t c = 0; c < LM_NUM_CLASSES; c++) {
    st->classes[c].slots = u.slots[c];
    st->classes[c].slots_used = u.used[c];
  }
  return 0;
}

/* The printed reports (text, JSON, files, the signal): stats_out.c. */
