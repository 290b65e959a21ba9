/* larson: the server pattern of Larson & Krishnan's benchmark. Each of
 * THREADS lineages owns SLOTS blocks of 16..SIZE bytes and replaces random
 * ones; every ROUNDS replacements it hands its whole table to a fresh thread
 * and exits, so each generation frees blocks that a thread that is already
 * gone allocated (cross-thread frees, thread churn, remote memory reuse).
 *
 * Validation: every block carries a size/tag pattern checked before free;
 * the count of frees must equal the count of mallocs.
 *
 * usage: larson [threads=4] [generations=40] [rounds=20000] [slots=1000] [size=512]
 */
#include "common.h"

typedef struct {
  _Alignas(LINE) void **blk;
  size_t *size;
  uint64_t *tag;
  uint64_t rng;
  long gen, mallocs, frees;
} lineage;

static long g_generations, g_rounds, g_slots, g_size;

static void *generation(void *arg) {
  lineage *l = arg;
  for (long r = 0; r < g_rounds; r++) {
    uint32_t i = rng_below(&l->rng, (uint32_t)g_slots);
    if (l->blk[i]) {
      tag_check(l->blk[i], l->size[i], l->tag[i]);
      free(l->blk[i]);
      l->frees++;
    }
    size_t n = rng_size(&l->rng, 16, (size_t)g_size);
    l->blk[i] = xmalloc(n);
    l->size[i] = n;
    l->tag[i] = rng_next(&l->rng);
    tag_fill(l->blk[i], n, l->tag[i]);
    l->mallocs++;
  }
  /* Hand the table to the next generation and die. */
  if (__atomic_add_fetch(&l->gen, 1, __ATOMIC_RELEASE) < g_generations) {
    pthread_t t;
    start_thread(&t, generation, l);
    pthread_detach(t);
  }
  return NULL;
}

int main(int argc, char **argv) {
  long threads = arg_long(argc, argv, 1, 4);
  g_generations = arg_long(argc, argv, 2, 40);
  g_rounds = arg_long(argc, argv, 3, 20000);
  g_slots = arg_long(argc, argv, 4, 1000);
  g_size = arg_long(argc, argv, 5, 512);
  if (g_size < 16) fail("size must be at least 16");
  lineage *ls = xcalloc_lines((size_t)threads, sizeof *ls);
  if (!ls) fail("calloc");
  for (long t = 0; t < threads; t++) {
    ls[t].blk = calloc((size_t)g_slots, sizeof(void *));
    ls[t].size = calloc((size_t)g_slots, sizeof(size_t));
    ls[t].tag = calloc((size_t)g_slots, sizeof(uint64_t));
    if (!ls[t].blk || !ls[t].size || !ls[t].tag) fail("calloc");
    ls[t].rng = 1000 + (uint64_t)t;
  }
  /* Generations are detached (a thread cannot join its successor's
   * successor), so wait until every lineage has counted its last one. */
  for (long t = 0; t < threads; t++) {
    pthread_t th;
    start_thread(&th, generation, &ls[t]);
    pthread_detach(th);
  }
  for (;;) {
    long done = 0;
    for (long t = 0; t < threads; t++)
      done += __atomic_load_n(&ls[t].gen, __ATOMIC_ACQUIRE) >= g_generations;
    if (done == threads) break;
    usleep(1000);
  }
  long mallocs = 0, frees = 0, live = 0;
  for (long t = 0; t < threads; t++) {
    for (long i = 0; i < g_slots; i++)
      if (ls[t].blk[i]) {
        tag_check(ls[t].blk[i], ls[t].size[i], ls[t].tag[i]);
        free(ls[t].blk[i]);
        frees++;
        live++;
      }
    mallocs += ls[t].mallocs;
    frees += ls[t].frees;
    free(ls[t].blk);
    free(ls[t].size);
    free(ls[t].tag);
  }
  free(ls);
  if (mallocs != frees) fail("%ld mallocs but %ld frees", mallocs, frees);
  if (mallocs != threads * g_generations * g_rounds) fail("lost work: %ld mallocs", mallocs);
  printf("RESULT ok mallocs=%ld live_at_end=%ld\n", mallocs, live);
  return 0;
}
