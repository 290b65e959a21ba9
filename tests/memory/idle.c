/* Idle threads give their memory back (issues 4 and 16). A thread owns the
 * slabs it allocates from; a thread that goes quiet would keep those
 * slabs, and the free slots in them, from every other thread. So:
 *   - what 32 threads hold after a burst of mallocs and frees is bounded
 *     by what the README promises per thread (lm_stats' thread_slabs): its
 *     current slab of each class it used, the slabs its frees pushed on its
 *     inbox since it last drained it (at most 8), and LEMMALLOC_TCACHE_BYTES
 *     of free slots in its other slabs; not what it allocated;
 *   - once they sleep, the decay (driven here by another thread's
 *     allocations) takes their slabs back without their help within a few
 *     decay periods, and the emptied slabs go back to the buddy: slab bytes
 *     fall to what the working threads use.
 * The threads burst over four classes (and a large size), free everything
 * (the frees land in their own slabs, as freed bits the owner collects
 * when it drains its inbox) and block on a barrier: "blocked", not
 * exited.
 *
 * Run preloaded with LEMMALLOC_PURGE_MS=100. Where the kernel has no
 * membarrier(2) (the steal needs it), the second part is skipped with a
 * note: threads then give their slabs back only at exit. */
#define _GNU_SOURCE
#include "test.h"
#include <linux/membarrier.h>
#include <malloc.h>
#include <pthread.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>
#include <stdbool.h>
#include "lemmalloc.h"

#define THREADS 32
#define BLOCKS 400
static const size_t sizes[] = {24, 100, 1000, 5000};
#define NSIZES (sizeof sizes / sizeof sizes[0])
#define SPAN (64u << 10) /* the largest slab span */

static pthread_barrier_t parked, done;

static void *worker(void *arg) {
  (void)arg;
  void *blk[BLOCKS];
  for (int round = 0; round < 4; round++)
    for (size_t s = 0; s < NSIZES; s++) {
      for (int i = 0; i < BLOCKS; i++) memset(blk[i] = malloc(sizes[s]), 1, sizes[s]);
      for (int i = 0; i < BLOCKS; i++) free(blk[i]);
    }
  free(malloc(200000)); /* a large block for the thread's cache */
  pthread_barrier_wait(&parked);
  pthread_barrier_wait(&done);
  return NULL;
}

static double now(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

int main(void) {
  lt_init("memory");
  int (*stats)(struct lm_stats *) = (int (*)(struct lm_stats *))dlsym(RTLD_DEFAULT, "lm_stats");
  bool membarrier = syscall(SYS_membarrier, MEMBARRIER_CMD_QUERY, 0, 0) > 0;

  TEST("32 threads that burst and then block: bounded, and given back at the decay") {
    pthread_t t[THREADS];
    pthread_barrier_init(&parked, NULL, THREADS + 1);
    pthread_barrier_init(&done, NULL, THREADS + 1);
    for (int i = 0; i < THREADS; i++) CHECK(pthread_create(&t[i], NULL, worker, NULL) == 0);
    pthread_barrier_wait(&parked);
    /* This thread gives back what it owns itself (pthread_create allocates
     * in it), so that what the stats count from now on is the workers'. */
    malloc_trim(0);
    struct lm_stats st;
    CHECK(stats != NULL && stats(&st) == 0);
    if (stats != NULL) {
      size_t bound = (size_t)THREADS * ((NSIZES + 8) * SPAN + (256u << 10));
      CHECKF(st.thread_slabs > 0, "no slab owned by a thread: the test does not exercise ownership");
      CHECKF(st.tcache_bytes > 0, "no large block cached by a thread: the test does not exercise the cache");
      CHECKF(st.thread_slabs <= bound, "32 blocked threads own %zu KiB of slabs, more than the README's bound (%zu KiB)",
             st.thread_slabs >> 10, bound >> 10);
      size_t before = st.thread_slabs, slabs_before = st.slabs;
      /* Another thread works (its slow paths run the decay clock) while the
       * 32 stay blocked: after a few decay periods their slabs are back. */
      double t0 = now();
      while (now() - t0 < 1.0) {
        free(malloc(300000));
        usleep(2000);
      }
      CHECK(stats(&st) == 0);
      if (membarrier) {
        CHECKF(st.thread_slabs == 0, "after 1 s (10 decay periods) blocked threads still own %zu KiB of slabs "
               "(%zu KiB at the start)", st.thread_slabs >> 10, before >> 10);
        CHECKF(st.tcache_bytes == 0, "blocked threads still cache %zu KiB of large blocks", st.tcache_bytes >> 10);
        /* Emptied, the slabs went back to the buddy but a spare per class. */
        CHECKF(st.slabs <= NSIZES * SPAN, "slab bytes went from %zu to %zu KiB: the emptied slabs were not "
               "given back", slabs_before >> 10, st.slabs >> 10);
      } else {
        printf("# membarrier(2) unavailable: idle threads keep their slabs until they exit\n");
      }
    }
    pthread_barrier_wait(&done);
    for (int i = 0; i < THREADS; i++) pthread_join(t[i], NULL);
  }
  /* A thread that keeps working but stops using a class (or a large size)
   * gives that class's slab, and the blocks its cache keeps, back on its
   * own within a decay period or two: it is never stolen from. */
  TEST("a working thread gives back the slabs of classes it stopped using, and its old cached blocks") {
    void *blk[BLOCKS];
    for (size_t s = 0; s < NSIZES; s++) {
      for (int i = 0; i < BLOCKS; i++) memset(blk[i] = malloc(sizes[s]), 1, sizes[s]);
      for (int i = 0; i < BLOCKS; i++) free(blk[i]);
    }
    free(malloc(100000)); /* cached */
    struct lm_stats st;
    CHECK(stats != NULL && stats(&st) == 0);
    if (stats != NULL) {
      CHECKF(st.thread_slabs >= NSIZES * 4096 && st.tcache_bytes > 0, "the thread owns %zu KiB of slabs and caches "
             "%zu KiB: the test does not exercise them", st.thread_slabs >> 10, st.tcache_bytes >> 10);
      double t0 = now();
      while (now() - t0 < 1.0) { /* 48-byte blocks only, and large ones too big to cache */
        free(malloc(48));
        free(malloc(300000));
        usleep(2000);
      }
      CHECK(stats(&st) == 0);
      CHECKF(st.thread_slabs <= SPAN, "after 1 s (10 decay periods) the thread owns %zu KiB of slabs, "
             "more than its one class in use", st.thread_slabs >> 10);
      CHECKF(st.tcache_bytes == 0, "after 1 s the thread still caches %zu KiB of large blocks", st.tcache_bytes >> 10);
    }
  }
  return lt_done();
}
