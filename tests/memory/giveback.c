/* Giving memory back (issue 4), seen through VmRSS only:
 *  - malloc_trim(0) releases every wholly free page at once and returns 1:
 *    freed large blocks, and free pages inside slabs that still hold live
 *    blocks, however full those slabs are (small slots and slots of more
 *    than a page alike);
 *  - with no call at all, what a busy arena freed goes back once the decay
 *    time has passed, driven by the program's own later allocations.
 * The pages expected back are computed from the blocks' addresses: the
 * whole pages inside the freed blocks that no kept block touches.
 *
 * Run preloaded with LEMMALLOC_ARENAS=1 and LEMMALLOC_PURGE_MS=200 (the
 * default decay) (mk/memory.mk). */
#include "test.h"
#include <dlfcn.h>
#include "lemmalloc.h"
#include <malloc.h>
#include <stdbool.h>
#include <stdint.h>

#define MIB ((size_t)1 << 20)
#define PAGE 4096u

static int by_address(const void *x, const void *y) {
  uintptr_t a = (uintptr_t)*(void *const *)x, b = (uintptr_t)*(void *const *)y;
  return a < b ? -1 : a > b;
}

/* n blocks of `size` bytes, written, sorted by address. */
static void **take(size_t n, size_t size) {
  void **b = calloc(n, sizeof *b);
  CHECK(b != NULL);
  if (b == NULL) return NULL;
  for (size_t i = 0; i < n; i++) {
    b[i] = malloc(size);
    CHECK(b[i] != NULL);
    if (b[i] == NULL) return NULL;
    memset(b[i], 0x5a, size);
  }
  qsort(b, n, sizeof *b, by_address);
  return b;
}

/* Frees the blocks with drop[i] set (b sorted by address); returns the KiB
 * of the pages that freed blocks touch and no kept block does. */
static long free_some(void **b, size_t n, size_t size, const bool *drop) {
  uintptr_t base = (uintptr_t)b[0] / PAGE, npages = ((uintptr_t)b[n - 1] + size - 1) / PAGE - base + 1;
  unsigned char *pg = calloc(npages, 1); /* bit 1: a freed block, bit 2: a kept one */
  CHECK(pg != NULL);
  if (pg == NULL) return 0;
  for (size_t i = 0; i < n; i++)
    for (uintptr_t p = (uintptr_t)b[i] / PAGE; p <= ((uintptr_t)b[i] + size - 1) / PAGE; p++)
      pg[p - base] |= drop[i] ? 1 : 2;
  long kib = 0;
  for (uintptr_t p = 0; p < npages; p++) kib += pg[p] == 1 ? PAGE / 1024 : 0;
  free(pg);
  for (size_t i = 0; i < n; i++)
    if (drop[i]) free(b[i]);
  return kib;
}

/* Which of the address-sorted blocks to free. */
static bool every_8th_kept(void *blk, size_t i, size_t size) { (void)blk, (void)size; return i % 8 != 0; }
static bool every_3rd(void *blk, size_t i, size_t size) { (void)blk, (void)size; return i % 3 == 0; }
static bool on_every_4th_page(void *blk, size_t i, size_t size) { /* touches a page whose number is a multiple of 4 */
  (void)i;
  return (uintptr_t)blk / PAGE % 4 == 0 || ((uintptr_t)blk + size - 1) / PAGE % 4 == 0;
}

/* n written blocks of `size`; frees those `drop` picks, then checks that
 * malloc_trim(0) returns 1 and gives back at least 80% of the pages
 * expected (the rest of the heap's small allocations, stdio's and the
 * test's own arrays, may sit on a few of them); frees the rest. */
static void trim_gives_back(const char *what, size_t n, size_t size, bool (*pick)(void *, size_t, size_t)) {
  void **b = take(n, size);
  bool *drop = calloc(n, sizeof *drop);
  CHECK(b != NULL && drop != NULL);
  if (b != NULL && drop != NULL) {
    for (size_t i = 0; i < n; i++) drop[i] = pick(b[i], i, size);
    long before = lt_rss_kib();
    long expect = free_some(b, n, size, drop);
    long after_free = lt_rss_kib();
    int r = malloc_trim(0);
    long dropped = after_free - lt_rss_kib();
    CHECKF(expect > 1024, "%s: only %ld KiB of pages wholly freed: the test does not exercise it", what, expect);
    CHECKF(r == 1, "%s: malloc_trim(0) returned %d with %ld KiB to give back", what, r, expect);
    CHECKF(dropped >= expect * 8 / 10, "%s: RSS dropped by %ld KiB at the trim (%ld KiB at the frees), %ld KiB of pages wholly free",
           what, dropped, before - after_free, expect);
    for (size_t i = 0; i < n; i++)
      if (!drop[i]) free(b[i]);
  }
  free(b);
  free(drop);
}

int main(void) {
  lt_init("memory");
  lt_rss_kib(); /* stdio's FILE and buffer get their slots now */

  TEST("malloc_trim(0) gives back freed large blocks at once")
    trim_gives_back("256 KiB blocks", 96, 256 * 1024, every_8th_kept); /* 84 of 96 */

  TEST("malloc_trim(0) gives back free pages inside slabs three quarters full (200-byte blocks)")
    trim_gives_back("200-byte blocks", 100000, 200, on_every_4th_page);

  /* Ruby's 8 KiB strings: 9216-byte slots, 1 or 2 whole pages in each */
  TEST("malloc_trim(0) gives back free pages inside slots of slabs two thirds full (8193-byte blocks)")
    trim_gives_back("8193-byte blocks", 3000, 8193, every_3rd);

  TEST("without a call, the decay gives back what a busy arena freed") {
    size_t n = 64;
    void **b = take(n, MIB);
    CHECK(b != NULL);
    if (b) {
      long before = lt_rss_kib();
      for (size_t i = 0; i < n; i++) free(b[i]);
      long kept = before - lt_rss_kib();
      /* The program goes on with a little work: a 64 KiB block every 10 ms,
       * for up to 3 s (15 decay periods); RSS is read after each. */
      long dropped = 0;
      for (int k = 0; k < 300 && dropped < (long)(n - 8) * 1024; k++) {
        usleep(10 * 1000);
        char *q = malloc(64 * 1024);
        CHECK(q != NULL);
        if (q) memset(q, 1, 64 * 1024);
        free(q);
        dropped = before - lt_rss_kib();
      }
      CHECKF(kept < (long)n * 1024 / 2, "RSS dropped by %ld KiB right at the frees: the test meant a busy arena", kept);
      CHECKF(dropped >= (long)(n - 8) * 1024, "RSS dropped by %ld KiB of %zu freed, within 3 s of light work", dropped, n * MIB >> 10);
    }
    free(b);
  }
  /* A free block whose dirty pages lie in many runs: 32 KiB blocks, every
   * other one freed and trimmed (clean), then the rest freed, so the buddy
   * merges them into blocks alternating dirty and clean. One decay pass
   * must take all the dirty runs (it once took 8 runs per block and left
   * the rest a period per 8 runs: a server going quiet kept 10-15 MiB). */
  TEST("one decay pass gives back a merged free block's dirty pages in every run") {
    size_t n = 64, size = 32 * 1024;
    void **b = take(n, size);
    CHECK(b != NULL);
    int (*stats)(struct lm_stats *) = (int (*)(struct lm_stats *))dlsym(RTLD_DEFAULT, "lm_stats");
    CHECK(stats != NULL);
    if (b && stats) {
      for (size_t i = 1; i < n; i += 2) free(b[i]);
      malloc_trim(0);
      long before = lt_rss_kib();
      for (size_t i = 0; i < n; i += 2) free(b[i]);
      long at_free = before - lt_rss_kib();
      struct lm_stats st;
      stats(&st);
      uint64_t passes = st.npurge;
      /* Light work (a 64 KiB block every 10 ms, up to 3 s) until a decay
       * pass releases something; RSS is read right after it. */
      long dropped = 0;
      for (int k = 0; k < 300 && st.npurge == passes; k++) {
        usleep(10 * 1000);
        char *q = malloc(64 * 1024);
        CHECK(q != NULL);
        if (q) memset(q, 1, 64 * 1024);
        free(q);
        stats(&st);
      }
      dropped = before - lt_rss_kib();
      /* What this thread's cache of large blocks holds (the last blocks it
       * freed, until its own decay) is not free yet. */
      long freed = (long)(n / 2 * size / 1024) - (long)(st.tcache_bytes >> 10);
      CHECKF(st.npurge > passes, "no decay pass released anything within 3 s");
      CHECKF(at_free < freed / 2, "RSS dropped by %ld KiB right at the frees: the test meant the decay", at_free);
      CHECKF(dropped >= freed * 9 / 10, "RSS dropped by %ld KiB of %ld KiB freed in 32 runs and not cached, after one decay pass",
             dropped, freed);
    }
    free(b);
  }
  /* A heap that spiked: its chunks are unmapped at the trim, and the
   * tables kept for each chunk index (the core's buddy row, ~48 KiB, and
   * the chunk header, ~9 KiB) must go with them: only the pages they share
   * with their neighbours may stay. Measured: 5 KiB per chunk stays; 24
   * KiB stayed before (the buddy rows' pages these blocks touch). */
  TEST("a trim after a spike gives back the unmapped chunks' tables too") {
    size_t n = 600, size = 256 * 1024; /* 150 MiB: about 38 chunks */
    int (*stats)(struct lm_stats *) = (int (*)(struct lm_stats *))dlsym(RTLD_DEFAULT, "lm_stats");
    CHECK(stats != NULL);
    void **b = calloc(n, sizeof *b);
    CHECK(b != NULL);
    if (b && stats) {
      malloc_trim(0);
      struct lm_stats st;
      stats(&st);
      size_t chunks0 = st.nchunks;
      long before = lt_rss_kib();
      for (size_t i = 0; i < n; i++) {
        b[i] = malloc(size);
        CHECK(b[i] != NULL);
        if (b[i]) memset(b[i], 1, 64); /* its first page and the tables */
      }
      stats(&st);
      long spike = (long)(st.nchunks - chunks0);
      for (size_t i = 0; i < n; i++) free(b[i]);
      malloc_trim(0);
      long kept = lt_rss_kib() - before;
      CHECKF(spike >= 30, "the spike took %ld chunks: the test meant more", spike);
      CHECKF(kept < spike * 12, "%ld KiB more resident after the trim than before a spike of %ld chunks (%ld KiB each)",
             kept, spike, spike ? kept / spike : 0);
    }
    free(b);
  }
  return lt_done();
}
