/* mtchurn: multi-threaded churn, each thread on its own blocks. THREADS
 * threads each keep a ring of SLOTS blocks of random sizes (16..SIZE bytes,
 * mostly small) and replace the oldest one STEPS times. Nothing is shared,
 * so an allocator that scales should run it in the single-thread time
 * multiplied by THREADS / cores; a global lock or shared cache lines show.
 *
 * Validation: every block's pattern is checked before it is freed.
 *
 * usage: mtchurn [threads=4] [steps=5000000] [slots=2000] [size=2048]
 */
#include "common.h"

static long g_steps, g_slots, g_size;

typedef struct {
  _Alignas(LINE) pthread_t t;
  uint64_t rng;
  long frees;
} worker;

static void *run(void *arg) {
  worker *w = arg;
  void **blk = calloc((size_t)g_slots, sizeof *blk);
  size_t *size = calloc((size_t)g_slots, sizeof *size);
  uint64_t *tag = calloc((size_t)g_slots, sizeof *tag);
  if (!blk || !size || !tag) fail("calloc");
  for (long s = 0; s < g_steps; s++) {
    long i = s % g_slots;
    if (blk[i]) {
      tag_check(blk[i], size[i], tag[i]);
      free(blk[i]);
      w->frees++;
    }
    size[i] = rng_size(&w->rng, 16, (size_t)g_size);
    tag[i] = rng_next(&w->rng);
    blk[i] = xmalloc(size[i]);
    tag_fill(blk[i], size[i], tag[i]);
  }
  for (long i = 0; i < g_slots; i++)
    if (blk[i]) {
      tag_check(blk[i], size[i], tag[i]);
      free(blk[i]);
      w->frees++;
    }
  free(blk);
  free(size);
  free(tag);
  return NULL;
}

int main(int argc, char **argv) {
  long threads = arg_long(argc, argv, 1, 4);
  g_steps = arg_long(argc, argv, 2, 5000000);
  g_slots = arg_long(argc, argv, 3, 2000);
  g_size = arg_long(argc, argv, 4, 2048);
  if (g_size < 16) fail("size must be at least 16");
  worker *ws = xcalloc_lines((size_t)threads, sizeof *ws);
  if (!ws) fail("calloc");
  for (long i = 0; i < threads; i++) {
    ws[i].rng = 31 + (uint64_t)i;
    start_thread(&ws[i].t, run, &ws[i]);
  }
  long frees = 0;
  for (long i = 0; i < threads; i++) {
    pthread_join(ws[i].t, NULL);
    frees += ws[i].frees;
  }
  free(ws);
  if (frees != threads * g_steps) fail("%ld frees, want %ld", frees, threads * g_steps);
  printf("RESULT ok frees=%ld\n", frees);
  return 0;
}
