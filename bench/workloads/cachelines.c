/* cachelines: false sharing that the allocator causes (the kinds of
 * cache-thrash and cache-scratch), in two modes.
 *
 *   thrash:  THREADS threads each allocate a set of OBJS small objects
 *            (8..SIZE bytes), write them hard (WRITES increments of every
 *            object, round-robin over the set), free them, and repeat
 *            ROUNDS times. An allocator that gives objects of different
 *            threads neighbouring bytes of one cache line makes the lines
 *            bounce between the cores on every write.
 *   scratch: the main thread first allocates OBJS objects for every thread,
 *            interleaved (object j of thread 0, of thread 1, ... so they are
 *            packed together the way one thread's allocations are), and
 *            hands them over; each thread writes its given objects hard, frees
 *            them, and then runs the thrash loop. The given objects share
 *            lines by construction (what a program does when one thread
 *            makes objects for others); an allocator that hands the freed
 *            ones back out to the thread that freed them keeps the sharing
 *            alive for the rest of the run.
 * Compared with falseshare (one 8-byte object written, freed, again), a set
 * of objects of mixed sizes is live at once, as in a thread's working data.
 * With no false sharing the time is about THREADS / cores times the
 * single-thread time; the result line gives ns per write.
 *
 * Validation: every object must hold its count of writes before its free.
 *
 * usage: cachelines thrash|scratch [threads=2] [rounds=2000] [writes=2000]
 *                   [objs=8] [size=32] [--seed=N]
 */
#include "common.h"

typedef struct {
  _Alignas(LINE) pthread_t t;
  uint64_t rng;
  volatile uint32_t **given;
  long writes_done;
} thr;

static long g_threads, g_rounds, g_writes, g_objs, g_size;

/* Writes every object of the set `writes` times, round-robin; checks. */
static void hammer(thr *w, volatile uint32_t **o, long n) {
  for (long k = 0; k < n; k++) o[k][0] = 0;
  for (long i = 0; i < g_writes; i++)
    for (long k = 0; k < n; k++) o[k][0]++;
  for (long k = 0; k < n; k++)
    if (o[k][0] != (uint32_t)g_writes) fail("object %p lost writes", (void *)o[k]);
  w->writes_done += n * g_writes;
}

static void *run(void *arg) {
  thr *w = arg;
  volatile uint32_t *o[256];
  if (w->given) {
    hammer(w, w->given, g_objs);
    for (long k = 0; k < g_objs; k++) free((void *)w->given[k]);
  }
  for (long r = 0; r < g_rounds; r++) {
    for (long k = 0; k < g_objs; k++) o[k] = xmalloc(8 + rng_below(&w->rng, (uint32_t)g_size - 7));
    hammer(w, o, g_objs);
    for (long k = 0; k < g_objs; k++) free((void *)o[k]);
  }
  return NULL;
}

int main(int argc, char **argv) {
  uint64_t seed = arg_seed(&argc, argv, 1);
  if (argc < 2 || (strcmp(argv[1], "thrash") && strcmp(argv[1], "scratch")))
    fail("usage: cachelines thrash|scratch [threads] [rounds] [writes] [objs] [size]");
  int scratch = !strcmp(argv[1], "scratch");
  g_threads = arg_long(argc, argv, 2, 2);
  g_rounds = arg_long(argc, argv, 3, 2000);
  g_writes = arg_long(argc, argv, 4, 2000);
  g_objs = arg_long(argc, argv, 5, 8);
  g_size = arg_long(argc, argv, 6, 32);
  if (g_objs > 256 || g_size < 8) fail("objs must be <= 256 and size >= 8");
  thr *t = xcalloc_lines((size_t)g_threads, sizeof *t);
  for (long i = 0; i < g_threads; i++) {
    t[i].rng = seed_mix(seed, (uint64_t)i);
    if (scratch) t[i].given = xmalloc((size_t)g_objs * sizeof *t[i].given);
  }
  uint64_t mrng = seed_mix(seed, 999);
  if (scratch)
    for (long k = 0; k < g_objs; k++)
      for (long i = 0; i < g_threads; i++) t[i].given[k] = xmalloc(8 + rng_below(&mrng, (uint32_t)g_size - 7));
  double t0 = now_s();
  for (long i = 0; i < g_threads; i++) start_thread(&t[i].t, run, &t[i]);
  for (long i = 0; i < g_threads; i++) pthread_join(t[i].t, NULL);
  double dt = now_s() - t0;
  long writes = 0;
  for (long i = 0; i < g_threads; i++) {
    writes += t[i].writes_done;
    free(t[i].given);
  }
  long want = g_threads * g_objs * g_writes * (g_rounds + scratch);
  if (writes != want) fail("%ld writes done, want %ld", writes, want);
  free(t);
  printf("RESULT ok writes=%ld ns_per_write=%.3f\n", writes, dt * 1e9 / (double)writes * (double)g_threads);
  return 0;
}
