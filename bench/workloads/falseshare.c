/* falseshare: false-sharing probes after Hoard's cache-thrash and
 * cache-scratch. THREADS threads each allocate a small block, write it
 * WRITES times, free it, and repeat ITERS times.
 *   active:  each thread allocates its own blocks; an allocator that gives
 *            neighbouring bytes of one cache line to different threads makes
 *            them fight over the line.
 *   passive: the main thread allocates one block per thread, back to back,
 *            and each thread starts by freeing the one it was given; an
 *            allocator that reuses that freed block for the thread's next
 *            request inherits the shared line.
 * A good allocator keeps both near the single-thread time per write.
 *
 * Validation: each block must hold the count written into it.
 *
 * usage: falseshare [threads=2] [iters=2000] [writes=5000] [size=8]
 */
#include "common.h"

static long g_iters, g_writes, g_size;

typedef struct {
  void *given; /* passive mode: block allocated by main */
  pthread_t t;
} arg_t;

static void *worker(void *a) {
  arg_t *arg = a;
  if (arg->given) free(arg->given);
  for (long i = 0; i < g_iters; i++) {
    volatile char *p = xmalloc((size_t)g_size);
    p[0] = 0;
    for (long w = 0; w < g_writes; w++) p[0]++;
    if (p[0] != (char)g_writes) fail("block %p lost writes", (void *)p);
    free((void *)p);
  }
  return NULL;
}

static double run(long threads, int passive) {
  arg_t *args = calloc((size_t)threads, sizeof *args);
  if (!args) fail("calloc");
  for (long i = 0; i < threads; i++) args[i].given = passive ? xmalloc((size_t)g_size) : NULL;
  double t0 = now_s();
  for (long i = 0; i < threads; i++) start_thread(&args[i].t, worker, &args[i]);
  for (long i = 0; i < threads; i++) pthread_join(args[i].t, NULL);
  double dt = now_s() - t0;
  free(args);
  return dt;
}

int main(int argc, char **argv) {
  long threads = arg_long(argc, argv, 1, 2);
  g_iters = arg_long(argc, argv, 2, 2000);
  g_writes = arg_long(argc, argv, 3, 5000);
  g_size = arg_long(argc, argv, 4, 8);
  double active = run(threads, 0), passive = run(threads, 1);
  double per = 1e9 / ((double)g_iters * (double)g_writes);
  printf("RESULT ok active_ns_per_write=%.3f passive_ns_per_write=%.3f\n", active * per,
         passive * per);
  return 0;
}
