/* Idle threads' caches stay bounded (issue 4): a thread trims its cache
 * only on its own slow paths, so a pool of workers that go idle keeps what
 * their caches hold. Past 8 threads with a cache, lemmalloc shares 8 times
 * LEMMALLOC_TCACHE_BYTES among them (at least 64 KiB each). Here 32
 * threads each grow one bin as far as it may go, then wait; the free slots
 * held by all caches (lm_stats) must fit the shared budget, half of what
 * 32 unshared caches would hold.
 *
 * Run preloaded with the default LEMMALLOC_TCACHE_BYTES (256 KiB). */
#include "test.h"
#include <pthread.h>
#include "lemmalloc.h"

#define THREADS 32
#define BLOCKS 512
#define SIZE 1000 /* the 1024-byte class */

static pthread_barrier_t started, parked, done;

static void *worker(void *arg) {
  (void)arg;
  static __thread void *blk[BLOCKS];
  free(malloc(16)); /* this thread's cache exists from here */
  pthread_barrier_wait(&started); /* all 32 have one before any bin grows */
  /* Rounds of malloc-all then free-all: each round's frees find the bin
   * full, flush and try to double its cap. */
  for (int round = 0; round < 8; round++) {
    for (int i = 0; i < BLOCKS; i++) blk[i] = malloc(SIZE);
    for (int i = 0; i < BLOCKS; i++) free(blk[i]);
  }
  pthread_barrier_wait(&parked);
  pthread_barrier_wait(&done);
  return NULL;
}

int main(void) {
  lt_init("memory");
  int (*stats)(struct lm_stats *) = (int (*)(struct lm_stats *))dlsym(RTLD_DEFAULT, "lm_stats");

  TEST("32 idle threads' caches share a bounded budget") {
    pthread_t t[THREADS];
    pthread_barrier_init(&started, NULL, THREADS);
    pthread_barrier_init(&parked, NULL, THREADS + 1);
    pthread_barrier_init(&done, NULL, THREADS + 1);
    for (int i = 0; i < THREADS; i++) CHECK(pthread_create(&t[i], NULL, worker, NULL) == 0);
    pthread_barrier_wait(&parked);
    struct lm_stats st;
    CHECK(stats != NULL && stats(&st) == 0);
    /* Unshared, each thread's bin doubles its cap up to half the setting
     * (128 slots) and ends holding 64 to 128 of them: 2 to 4 MiB in all.
     * Shared, a thread's share (256 KiB x 8 / 32 = 64 KiB) is below what
     * its fresh caps over all classes add up to, so the bin never grows
     * past its fresh cap (8 slots): about 256 KiB in all. */
    size_t unshared_min = (size_t)THREADS * 64 * 1024;
    if (stats != NULL) {
      CHECKF(st.tcache_bytes <= unshared_min / 2, "thread caches hold %zu KiB (unshared they would hold %zu KiB or more)",
             st.tcache_bytes >> 10, unshared_min >> 10);
      CHECKF(st.tcache_bytes > 0, "no slot cached at all: the test does not exercise the caches");
    }
    pthread_barrier_wait(&done);
    for (int i = 0; i < THREADS; i++) pthread_join(t[i], NULL);
  }
  return lt_done();
}
