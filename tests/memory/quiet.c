/* Freed pages beyond the recent demand go back at once (issue 4): an arena
 * that has handed out no pages for two decay periods keeps at most a small
 * reserve of what it frees, without waiting for the decay. Observed through
 * VmRSS only, right after the frees (well inside one decay period).
 *
 * Run preloaded with LEMMALLOC_ARENAS=1 and LEMMALLOC_PURGE_MS=1000
 * (mk/memory.mk). */
#include "test.h"
#include <stdint.h>

#define MIB ((size_t)1 << 20)
#define N 64

/* N blocks of 1 MiB, every page written (resident). */
static void take_touched(void **blk) {
  for (int i = 0; i < N; i++) {
    blk[i] = malloc(MIB);
    CHECK(blk[i] != NULL);
    if (blk[i]) memset(blk[i], 0x5a, MIB);
  }
}

int main(void) {
  lt_init("memory");
  lt_rss_kib(); /* stdio's FILE and buffer get their slots now */

  TEST("a quiet arena gives back what it frees before the decay") {
    void *blk[N];
    take_touched(blk);
    usleep(2200 * 1000); /* two decay periods without handing out pages */
    long before = lt_rss_kib();
    for (int i = 0; i < N; i++) free(blk[i]);
    long dropped = before - lt_rss_kib();
    /* The decay alone would keep all 64 MiB for another second. */
    CHECKF(before > 0 && dropped > (long)(N - 8) * 1024, "RSS dropped by %ld KiB of %zu freed", dropped, N * MIB >> 10);
  }

  TEST("a busy arena keeps what it frees for the allocations to come") {
    void *blk[N];
    take_touched(blk);
    long before = lt_rss_kib();
    for (int i = 0; i < N; i++) free(blk[i]);
    long dropped = before - lt_rss_kib();
    /* 64 MiB handed out just now: the same again may follow. */
    CHECKF(before > 0 && dropped < 8 * 1024, "RSS dropped by %ld KiB of %zu freed", dropped, N * MIB >> 10);
  }
  return lt_done();
}
