/* Statistics: per-arena counters (read under each lock), per-thread
 * counters (read relaxed), merged on demand; the printed summary. */
#include <stdio.h>
#include <string.h>
#include "lemmalloc.h"
#include "heap/tcache.h"

int lm_stats(struct lm_stats *st) {
  if (!lm_heap_ready()) lm_heap_init();
  memset(st, 0, sizeof *st);
  size_t dirty = 0;
  for (unsigned i = 0; i < LM_MAX_ARENAS; i++) {
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
  st->metadata = lm_heap.meta_bytes;
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
  st->mapped = st->chunks_mapped + st->huge_live + st->huge_cached + st->metadata;
  st->resident = dirty * LM_PAGE_SIZE + st->huge_live + st->huge_cached + st->metadata;
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
  OUT("lemmalloc stats: %u arenas, %zu chunks, tcache %zu bytes per thread\n", st.narenas, st.nchunks,
      lm_heap.cfg.tcache_bytes);
  OUT("  mapped %.1f MiB, resident ~%.1f MiB, allocated %.1f MiB, dirty free %.1f MiB\n", st.mapped / M,
      st.resident / M, st.allocated / M, st.dirty_free / M);
  OUT("  large %.1f MiB, huge %.1f MiB live + %.1f MiB cached, metadata %.1f MiB\n", st.large_live / M,
      st.huge_live / M, st.huge_cached / M, st.metadata / M);
  OUT("  calls: %llu malloc, %llu free, %llu tcache hits\n", (unsigned long long)st.nmalloc,
      (unsigned long long)st.nfree, (unsigned long long)st.tcache_hits);
  OUT("  purged %.1f MiB in %llu passes, %llu trims, %llu chunks unmapped; huge: %llu maps, %llu reused\n",
      st.purged / M, (unsigned long long)st.npurge, (unsigned long long)st.ntrim,
      (unsigned long long)lm_heap.nunmapped_chunks,
      (unsigned long long)(st.huge_nmalloc - st.huge_nreuse), (unsigned long long)st.huge_nreuse);
  OUT("  %-7s %10s %10s %8s\n", "class", "nmalloc", "nfree", "slabs");
  for (unsigned c = 0; c < LM_STATS_CLASSES; c++)
    if (st.classes[c].nmalloc)
      OUT("  %-7zu %10llu %10llu %8llu\n", st.classes[c].size, (unsigned long long)st.classes[c].nmalloc,
          (unsigned long long)st.classes[c].nfree, (unsigned long long)st.classes[c].nslabs);
}

void lm_malloc_stats(void) { lm_stats_print(); }
