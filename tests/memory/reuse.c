/* Placement that keeps RSS down (issue 4): freed pages that are still
 * resident are handed out again before pages that were given back to the
 * kernel, which would fault in afresh while the resident ones wait for the
 * decay. Observed from outside, through VmRSS only.
 *
 * Run preloaded with LEMMALLOC_ARENAS=1 and LEMMALLOC_PURGE_MS very long
 * (mk/memory.mk), so that nothing is purged behind the test's back. */
#include "test.h"
#include <malloc.h>
#include <stdbool.h>
#include <stdint.h>

#define MIB ((size_t)1 << 20)
#define N 12

static int by_address(const void *x, const void *y) {
  uintptr_t a = (uintptr_t)*(void *const *)x, b = (uintptr_t)*(void *const *)y;
  return a < b ? -1 : a > b;
}

/* N blocks of 1 MiB, touched, in address order. The lowest four are freed
 * and trimmed (clean, below everything else), the highest four freed while
 * resident. Returns false if the layout could not be made. */
static bool setup(void *blk[N]) {
  for (int i = 0; i < N; i++) {
    if ((blk[i] = malloc(MIB)) == NULL) return false;
    memset(blk[i], 0x5a, MIB);
  }
  qsort(blk, N, sizeof *blk, by_address);
  for (int i = 0; i < 4; i++) free(blk[i]);
  malloc_trim(0);
  for (int i = N - 4; i < N; i++) free(blk[i]);
  return true;
}

int main(void) {
  lt_init("memory");
  void *blk[N];
  lt_rss_kib(); /* stdio's FILE and buffer get their slots now, not in the freed blocks later */

  TEST("resident free pages are reused before purged ones (same size)") {
    CHECK(setup(blk));
    long before = lt_rss_kib();
    void *p[4];
    for (int i = 0; i < 4; i++) {
      p[i] = malloc(MIB);
      CHECK(p[i] != NULL);
      if (p[i]) memset(p[i], 0xa5, MIB);
    }
    long grew = lt_rss_kib() - before;
    /* Lowest-address placement takes the trimmed blocks: +4 MiB. Up to
     * one block may fault in: the small allocations made since the frees
     * (stdio's, the test's) take their slabs from the resident blocks too. */
    CHECKF(before > 0 && grew < 2048, "RSS grew by %ld KiB for 4 MiB of freed resident blocks", grew);
    for (int i = 0; i < 4; i++) free(p[i]);
    for (int i = 4; i < N - 4; i++) free(blk[i]);
    malloc_trim(0);
  }

  TEST("resident free pages are reused before purged ones (smaller blocks split from them)") {
    CHECK(setup(blk));
    long before = lt_rss_kib();
    void *p[16];
    for (int i = 0; i < 16; i++) {
      p[i] = malloc(MIB / 4);
      CHECK(p[i] != NULL);
      if (p[i]) memset(p[i], 0xa5, MIB / 4);
    }
    long grew = lt_rss_kib() - before;
    CHECKF(before > 0 && grew < 2048, "RSS grew by %ld KiB for 4 MiB of freed resident blocks", grew);
    for (int i = 0; i < 16; i++) free(p[i]);
    for (int i = 4; i < N - 4; i++) free(blk[i]);
    malloc_trim(0);
  }
  TEST("resident free pages are reused before purged ones (in the same free block)") {
    /* Two touched 1 MiB blocks that are buddies, X below Y. X is freed and
     * trimmed, then Y freed while resident: they merge into one free block
     * whose low half is clean, and the core splits blocks keeping the low
     * half. The heap must find the resident windows in the high half. */
    void *x = NULL, *y = NULL, *held[8];
    int nheld = 0;
    while (nheld < 8) { /* pairs until one is a buddy pair; the rest held */
      void *a = malloc(MIB), *b = malloc(MIB);
      CHECK(a != NULL && b != NULL);
      if (a == NULL || b == NULL) break;
      if ((uintptr_t)a % (2 * MIB) == 0 && (char *)b == (char *)a + MIB) {
        x = a;
        y = b;
        break;
      }
      held[nheld++] = a;
      held[nheld++] = b;
    }
    CHECKF(x != NULL, "no two 1 MiB blocks side by side in one 2 MiB block");
    if (x != NULL) {
      memset(x, 0x5a, MIB);
      memset(y, 0x5a, MIB);
      free(x);
      malloc_trim(0);
      /* Read before Y is freed: reading VmRSS may take a fresh slab for
       * stdio's buffer, which would come out of Y's resident pages. */
      long before = lt_rss_kib();
      free(y);
      void *p[4];
      for (int i = 0; i < 4; i++) {
        p[i] = malloc(MIB / 4);
        CHECK(p[i] != NULL);
        if (p[i]) memset(p[i], 0xa5, MIB / 4);
      }
      long grew = lt_rss_kib() - before;
      /* Taking the low half would fault in 1 MiB. */
      CHECKF(before > 0 && grew < 256, "RSS grew by %ld KiB for 1 MiB of blocks, with 1 MiB of freed resident pages", grew);
      for (int i = 0; i < 4; i++) free(p[i]);
    }
    while (nheld > 0) free(held[--nheld]);
    malloc_trim(0);
  }
  return lt_done();
}
