/* lifespan: many threads, blocks whose lifetimes range from one step to
 * the whole run, some passed between threads, threads that come and go
 * (the kind of mstress). Peak RSS matters here as much as time.
 *
 * The run is ROUNDS rounds; each round starts THREADS threads and waits
 * for them (so threads are created and destroyed all the time). A thread
 * keeps a local table of 512 slots and does STEPS steps, each one of:
 *   50%  allocate into a random local slot (freeing the block there),
 *   35%  free a random local slot,
 *   15%  swap a random local slot with a random slot of the shared table
 *        (TRANSFER slots, atomic exchange): the thread takes over a block
 *        that another thread, maybe of an earlier round, allocated.
 * Sizes: 90% 16..256 B, 9% 256 B..8 KiB, 1% 8..256 KiB (log-uniform in each
 * band). When a thread ends it frees half of its local blocks and swaps the
 * other half into the shared table (freeing what it gets back), so some
 * blocks outlive their thread by many rounds while most die within a few
 * steps. At the end the main thread frees what the shared table holds.
 *
 * Validation: every block has a header (size, tag) and a pattern, checked
 * before every free; mallocs = frees over the whole run.
 * prints: RESULT ok mallocs=.. max_live_kib=.. (bytes held by the shared
 * table after a round: the floor of any allocator's RSS between rounds)
 *
 * usage: lifespan [threads=32] [rounds=10] [steps=100000] [transfer=8192] [--seed=N]
 */
#include "common.h"

#define LOCAL 512

typedef struct {
  size_t size;
  uint64_t tag;
} hdr;

typedef struct {
  _Alignas(LINE) pthread_t t;
  uint64_t rng;
  long mallocs, frees;
} thr;

static long g_threads, g_rounds, g_steps, g_transfer;
static hdr **g_table;

static hdr *blk_new(thr *w) {
  uint32_t r = rng_below(&w->rng, 100);
  size_t n = r < 90 ? rng_log_size(&w->rng, 16, 256)
             : r < 99 ? rng_log_size(&w->rng, 256, 8192)
                      : rng_log_size(&w->rng, 8192, 262144);
  if (n < sizeof(hdr) + 16) n = sizeof(hdr) + 16;
  hdr *b = xmalloc(n);
  b->size = n;
  b->tag = rng_next(&w->rng);
  tag_fill(b + 1, n - sizeof *b, b->tag);
  w->mallocs++;
  return b;
}

static void blk_free(thr *w, hdr *b) {
  if (!b) return;
  tag_check(b + 1, b->size - sizeof *b, b->tag);
  free(b);
  w->frees++;
}

static hdr *swap_shared(thr *w, hdr *b) {
  return __atomic_exchange_n(&g_table[rng_below(&w->rng, (uint32_t)g_transfer)], b, __ATOMIC_ACQ_REL);
}

static void *run(void *arg) {
  thr *w = arg;
  hdr *local[LOCAL] = {0};
  for (long s = 0; s < g_steps; s++) {
    uint32_t r = rng_below(&w->rng, 100), i = rng_below(&w->rng, LOCAL);
    if (r < 50) {
      blk_free(w, local[i]);
      local[i] = blk_new(w);
    } else if (r < 85) {
      blk_free(w, local[i]);
      local[i] = NULL;
    } else {
      local[i] = swap_shared(w, local[i]);
    }
  }
  for (int i = 0; i < LOCAL; i++) {
    if (i % 2) blk_free(w, swap_shared(w, local[i]));
    else blk_free(w, local[i]);
  }
  return NULL;
}

int main(int argc, char **argv) {
  uint64_t seed = arg_seed(&argc, argv, 1);
  g_threads = arg_long(argc, argv, 1, 32);
  g_rounds = arg_long(argc, argv, 2, 10);
  g_steps = arg_long(argc, argv, 3, 100000);
  g_transfer = arg_long(argc, argv, 4, 8192);
  g_table = calloc((size_t)g_transfer, sizeof *g_table);
  thr *t = xcalloc_lines((size_t)g_threads, sizeof *t);
  if (!g_table) fail("calloc");
  long mallocs = 0, frees = 0;
  size_t max_live = 0;
  for (long r = 0; r < g_rounds; r++) {
    for (long i = 0; i < g_threads; i++) {
      t[i].rng = seed_mix(seed, (uint64_t)(r * g_threads + i));
      t[i].mallocs = t[i].frees = 0;
      start_thread(&t[i].t, run, &t[i]);
    }
    for (long i = 0; i < g_threads; i++) {
      pthread_join(t[i].t, NULL);
      mallocs += t[i].mallocs;
      frees += t[i].frees;
    }
    size_t live = 0;
    for (long k = 0; k < g_transfer; k++)
      if (g_table[k]) live += g_table[k]->size;
    if (live > max_live) max_live = live;
  }
  thr m = {0};
  for (long k = 0; k < g_transfer; k++) blk_free(&m, g_table[k]);
  frees += m.frees;
  if (mallocs != frees) fail("%ld mallocs, %ld frees", mallocs, frees);
  free(g_table);
  free(t);
  printf("RESULT ok mallocs=%ld max_live_kib=%zu\n", mallocs, max_live >> 10);
  return 0;
}
