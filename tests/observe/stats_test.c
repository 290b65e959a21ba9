/* Statistics (issue 8): lm_stats, mallinfo2 and the printed summary agree
 * with what the program did. Linked with build/liblemmalloc.so and run with
 * no thread cache (LEMMALLOC_TCACHE_BYTES=0, set by mk/observe.mk), so that
 * a free goes straight back to its slab and the occupancy is exact. */
#define _GNU_SOURCE
#include <malloc.h>
#include <pthread.h>
#include "../lib/test.h"
#include "lemmalloc.h"

static struct lm_stats st0, st;
void *volatile sink; /* the compiler may drop a malloc whose block is only freed */

static const struct lm_stats *now(void) {
  lm_stats(&st);
  return &st;
}

static int class_of(size_t size) {
  for (int c = 0; c < (int)st.nclasses; c++)
    if (st.classes[c].size == size) return c;
  return -1;
}

static void *thread_main(void *arg) {
  sink = malloc(100);
  free(sink);
  return arg;
}

int main(void) {
  lt_init("stats");
  lm_stats(&st0);

  TEST("threads seen: four new threads are counted") {
    pthread_t t[4];
    for (int i = 0; i < 4; i++) pthread_create(&t[i], NULL, thread_main, NULL);
    for (int i = 0; i < 4; i++) pthread_join(t[i], NULL);
    CHECKF(now()->nthreads >= st0.nthreads + 4, "threads seen %llu -> %llu", (unsigned long long)st0.nthreads,
           (unsigned long long)st.nthreads);
    CHECK(st.narenas_used >= 1 && st.narenas_used <= st.narenas);
  }

  TEST("slab occupancy per class follows mallocs and frees") {
    int c = class_of(5120);
    CHECK(c >= 0);
    uint64_t used0 = now()->classes[c].slots_used;
    char *p[12];
    for (int i = 0; i < 12; i++) p[i] = sink = malloc(5000);
    now();
    CHECKF(st.classes[c].slots_used == used0 + 12, "used %llu, want %llu",
           (unsigned long long)st.classes[c].slots_used, (unsigned long long)used0 + 12);
    CHECK(st.classes[c].slots >= st.classes[c].slots_used && st.classes[c].nslabs >= 1);
    for (int i = 0; i < 12; i += 2) free(p[i]);
    CHECKF(now()->classes[c].slots_used == used0 + 6, "used %llu after 6 frees",
           (unsigned long long)st.classes[c].slots_used);
    size_t slot_bytes = 0;
    for (int k = 0; k < (int)st.nclasses; k++) slot_bytes += st.classes[k].slots * st.classes[k].size;
    CHECKF(st.slabs >= slot_bytes && st.slabs <= st.chunks_mapped, "slabs %zu, their slots %zu, chunks %zu", st.slabs,
           slot_bytes, st.chunks_mapped);
    for (int i = 1; i < 12; i += 2) free(p[i]);
  }

  TEST("peaks: 16 MiB held then freed stays in the peaks") {
    size_t before = now()->allocated;
    void *p[16];
    for (int i = 0; i < 16; i++) p[i] = sink = malloc(1 << 20);
    size_t during = now()->allocated;
    for (int i = 0; i < 16; i++) free(p[i]);
    now();
    CHECKF(during >= before + (16u << 20), "allocated %zu -> %zu", before, during);
    CHECKF(st.peak_allocated >= during && st.allocated < during, "peak %zu, now %zu", st.peak_allocated, st.allocated);
    CHECK(st.peak_mapped >= st.mapped && st.peak_resident >= st.resident);
    CHECK(st.peak_mapped >= (16u << 20));
  }

  TEST("mallinfo2: blocks in use, huge mappings in use") {
    void *h = sink = malloc(8 << 20);
    struct mallinfo2 m = mallinfo2();
    now();
    CHECKF(m.hblks == st.huge_count && m.hblks >= 1, "hblks %zu, huge_count %zu", m.hblks, st.huge_count);
    CHECKF(m.hblkhd == st.huge_live && m.hblkhd >= (8u << 20), "hblkhd %zu, huge_live %zu", m.hblkhd, st.huge_live);
    CHECKF(m.uordblks >= (8u << 20) && m.arena == st.chunks_mapped, "uordblks %zu arena %zu", m.uordblks, m.arena);
    free(h);
  }

  TEST("calls and hit rate are consistent") {
    now();
    CHECK(st.nmalloc >= st.tcache_hits && st.nfree <= st.nmalloc + 1);
    CHECK(st.tcache_hits == 0); /* no thread cache in this run */
  }

  TEST("malloc_stats prints the summary") {
    fflush(stdout);
    malloc_stats(); /* to stderr; the make rule checks its lines */
  }
  return lt_done();
}
