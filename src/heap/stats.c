/* Statistics: per-arena counters (read under each lock), per-thread
 * counters (read relaxed), merged on demand; the printed summary. */
#include <stdio.h>
#include <string.h>
#include "lemmalloc.h"
#include "heap/tcache.h"
#include "heap/heapmap.h"

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
  size_t tables = lm_tables_resident(); /* first: the counters below are read close together */
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
  size_t meta = lm_heap.meta_bytes, chunks = lm_heap.chunk_bytes;
  lm_unlock(&lm_heap.meta_lock);
  struct lm_tcounters t;
  size_t cached;
  lm_tc_totals(&t, &cached);
  *allocated = t.alloc_bytes >= t.free_bytes ? (size_t)(t.alloc_bytes - t.free_bytes) : 0;
  *mapped = chunks + huge + meta;
  *resident = dirty * LM_PAGE_SIZE + huge + meta + tables;
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
  size_t tables = lm_tables_resident(); /* first: the counters below are read close together */
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
    st->nchunks += a->nchunks;
    for (uint32_t c = 0; c < LM_NUM_CLASSES && c < LM_STATS_CLASSES; c++) {
      st->classes[c].nmalloc += a->class_nmalloc[c];
      st->classes[c].nfree += a->class_nfree[c];
      st->classes[c].nslabs += a->class_nslabs[c];
    }
    lm_unlock(&a->lock);
  }
  for (uint32_t c = 0; c < LM_NUM_CLASSES && c < LM_STATS_CLASSES; c++) st->classes[c].size = lm_class_bytes[c];
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
  struct lm_tcounters t;
  lm_tc_totals(&t, &st->tcache_bytes);
  st->nmalloc = t.nmalloc;
  st->nfree = t.nfree;
  st->tcache_hits = t.hits;
  st->allocated = t.alloc_bytes >= t.free_bytes ? (size_t)(t.alloc_bytes - t.free_bytes) : 0;
  st->narenas = lm_heap.narenas;
  /* Mapped: what lemmalloc took from the OS with mmap (its static tables
   * came with the library); metadata and resident count those tables'
   * resident pages too. */
  st->metadata = mapped_tables + tables;
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
  for (uint32_t c = 0; c < LM_NUM_CLASSES && c < LM_STATS_CLASSES; c++) {
    st->classes[c].slots = u.slots[c];
    st->classes[c].slots_used = u.used[c];
  }
  return 0;
}

/* snprintf into a stack buffer: glibc's snprintf does not allocate for
 * these formats. */
#define OUT(...) do { int k_ = snprintf(buf, sizeof buf, __VA_ARGS__); \
  if (k_ > 0) lm_os_write_err(buf, (size_t)k_ < sizeof buf ? (size_t)k_ : sizeof buf - 1); } while (0)

void lm_stats_print(void) LM_HIDDEN;
void lm_stats_print(void) {
  struct lm_stats st;
  char buf[256];
  lm_stats(&st);
  const double M = 1024.0 * 1024.0;
  OUT("lemmalloc stats: %u arenas (%u used), %llu threads seen, %zu chunks, thread cache %zu KiB\n",
      st.narenas, st.narenas_used, (unsigned long long)st.nthreads, st.nchunks, lm_heap.cfg.tcache_bytes >> 10);
  OUT("  live %.1f MiB (peak %.1f): %.1f MiB in slabs, %.1f MiB large, %.1f MiB huge\n", st.allocated / M,
      st.peak_allocated / M, st.slabs / M, st.large_live / M, st.huge_live / M);
  OUT("  mapped %.1f MiB (peak %.1f), resident ~%.1f MiB (peak %.1f), metadata %.1f MiB\n", st.mapped / M,
      st.peak_mapped / M, st.resident / M, st.peak_resident / M, st.metadata / M);
  OUT("  free but resident %.1f MiB in chunks, %.1f MiB in huge cache, %.1f MiB in thread caches\n",
      st.dirty_free / M, st.huge_cached / M, st.tcache_bytes / M);
  OUT("  purged %.1f MiB in %llu passes, %llu trims, %llu chunks unmapped; huge: %llu maps, %llu reused\n",
      st.purged / M, (unsigned long long)st.npurge, (unsigned long long)st.ntrim,
      (unsigned long long)lm_heap.nunmapped_chunks,
      (unsigned long long)(st.huge_nmalloc - st.huge_nreuse), (unsigned long long)st.huge_nreuse);
  OUT("  calls: %llu malloc, %llu free; thread cache hit rate %.1f%%\n", (unsigned long long)st.nmalloc,
      (unsigned long long)st.nfree, st.nmalloc ? 100.0 * (double)st.tcache_hits / (double)st.nmalloc : 0.0);
  OUT("  %7s %10s %10s %7s %9s\n", "class", "nmalloc", "nfree", "slabs", "occupancy");
  for (unsigned c = 0; c < LM_STATS_CLASSES; c++)
    if (st.classes[c].nmalloc)
      OUT("  %7zu %10llu %10llu %7llu %8.1f%%\n", st.classes[c].size, (unsigned long long)st.classes[c].nmalloc,
          (unsigned long long)st.classes[c].nfree, (unsigned long long)st.classes[c].nslabs,
          st.classes[c].slots ? 100.0 * (double)st.classes[c].slots_used / (double)st.classes[c].slots : 0.0);
}

void lm_malloc_stats(void) { lm_stats_print(); }
