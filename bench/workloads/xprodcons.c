/* xprodcons: cross-thread producer/consumer one block at a time, several
 * producers and several consumers (the kind of xmalloc-test).
 *
 * PRODUCERS threads allocate BLOCKS blocks each and pass every block on its
 * own, the moment it is written, to a consumer: each (producer, consumer)
 * pair has a lock-free single-producer single-consumer ring of RING
 * pointers, and a producer deals its blocks to the consumers in turn,
 * skipping a full ring. CONSUMERS threads sweep their rings, check each
 * block and free it. Sizes are a mix: 55% 24..64 B, 30% 64..512 B, 13%
 * 512 B..4 KiB and 2% 4..32 KiB (log-uniform inside each band). Every free
 * is remote, and a consumer frees the blocks of every producer interleaved,
 * so an allocator that sends a freed block back to its owner's heap meets
 * all of them at once. Unlike prodcons (batches of 64 blocks of one
 * producer through one mutex queue), there is no batching to amortise a
 * remote free over, and more threads than cores take turns.
 *
 * A thread that finds its rings full (producer) or empty (consumer) spins
 * briefly, then yields, then sleeps 50 us: the harness's waiting stays
 * small next to the allocator's work.
 *
 * Validation: every block carries its size in a header and a size/tag
 * pattern, checked before the free; the count and the sum of the tags
 * produced must equal those consumed.
 *
 * usage: xprodcons [producers=4] [consumers=4] [blocks=400000 per producer]
 *                  [ring=256] [--seed=N]
 */
#include "common.h"

typedef struct {
  _Alignas(LINE) size_t head; /* written by the consumer */
  _Alignas(LINE) size_t tail; /* written by the producer */
  _Alignas(LINE) void **slot;
} ring;

typedef struct {
  _Alignas(LINE) pthread_t t;
  int id;
  uint64_t rng, sum;
  long blocks, waits;
} thr;

static long g_np, g_nc, g_blocks, g_ring;
static ring *g_rings; /* [producer * g_nc + consumer] */
static int g_producers_left;

static size_t pick_size(uint64_t *s) {
  uint32_t r = rng_below(s, 100);
  if (r < 55) return rng_log_size(s, 24, 64);
  if (r < 85) return rng_log_size(s, 64, 512);
  if (r < 98) return rng_log_size(s, 512, 4096);
  return rng_log_size(s, 4096, 32768);
}

static void backoff(long *spins, long *waits) {
  if (++*spins < 64) {
    __asm__ volatile("pause");
  } else if (*spins < 80) {
    sched_yield();
  } else {
    usleep(50);
    ++*waits;
  }
}

static void *producer(void *arg) {
  thr *p = arg;
  long c = 0, spins = 0;
  for (long i = 0; i < g_blocks; i++) {
    size_t n = pick_size(&p->rng);
    uint64_t tag = rng_next(&p->rng);
    char *b = xmalloc(n);
    tag_fill(b, n, tag);
    memcpy(b + 8, &n, sizeof n); /* size at offset 8; the tag words at 0 and n-8 */
    p->sum += tag;
    for (;;) { /* the next consumer whose ring has room */
      ring *r = &g_rings[p->id * g_nc + c];
      c = (c + 1) % g_nc;
      size_t tail = r->tail;
      if (tail - __atomic_load_n(&r->head, __ATOMIC_ACQUIRE) < (size_t)g_ring) {
        r->slot[tail % (size_t)g_ring] = b;
        __atomic_store_n(&r->tail, tail + 1, __ATOMIC_RELEASE);
        spins = 0;
        break;
      }
      backoff(&spins, &p->waits);
    }
    p->blocks++;
  }
  __atomic_sub_fetch(&g_producers_left, 1, __ATOMIC_RELEASE);
  return NULL;
}

static void *consumer(void *arg) {
  thr *k = arg;
  long spins = 0;
  for (;;) {
    int last = __atomic_load_n(&g_producers_left, __ATOMIC_ACQUIRE) == 0;
    long got = 0;
    for (long p = 0; p < g_np; p++) {
      ring *r = &g_rings[p * g_nc + (k->id - g_np)];
      size_t head = r->head, tail = __atomic_load_n(&r->tail, __ATOMIC_ACQUIRE);
      /* At most a ring's worth from one producer before the next. */
      for (; head != tail; head++, got++) {
        char *b = r->slot[head % (size_t)g_ring];
        size_t n;
        uint64_t first;
        memcpy(&n, b + 8, sizeof n);
        memcpy(&first, b, 8);
        uint64_t tag = first ^ tag_word(n, 0);
        tag_check(b, n, tag);
        k->sum += tag;
        k->blocks++;
        free(b);
      }
      __atomic_store_n(&r->head, head, __ATOMIC_RELEASE);
    }
    if (got) {
      spins = 0;
    } else if (last) {
      return NULL; /* every producer was done before this empty sweep */
    } else {
      backoff(&spins, &k->waits);
    }
  }
}

int main(int argc, char **argv) {
  uint64_t seed = arg_seed(&argc, argv, 1);
  g_np = arg_long(argc, argv, 1, 4);
  g_nc = arg_long(argc, argv, 2, 4);
  g_blocks = arg_long(argc, argv, 3, 400000);
  g_ring = arg_long(argc, argv, 4, 256);
  g_rings = xcalloc_lines((size_t)(g_np * g_nc), sizeof *g_rings);
  for (long i = 0; i < g_np * g_nc; i++) g_rings[i].slot = xmalloc((size_t)g_ring * sizeof(void *));
  thr *t = xcalloc_lines((size_t)(g_np + g_nc), sizeof *t);
  g_producers_left = (int)g_np;
  for (long i = 0; i < g_np + g_nc; i++) {
    t[i].id = (int)i;
    t[i].rng = seed_mix(seed, (uint64_t)i);
  }
  for (long i = 0; i < g_np + g_nc; i++)
    start_thread(&t[i].t, i < g_np ? producer : consumer, &t[i]);
  uint64_t made = 0, eaten = 0;
  long nmade = 0, neaten = 0, waits = 0;
  for (long i = 0; i < g_np + g_nc; i++) {
    pthread_join(t[i].t, NULL);
    waits += t[i].waits;
    if (i < g_np) made += t[i].sum, nmade += t[i].blocks;
    else eaten += t[i].sum, neaten += t[i].blocks;
  }
  if (made != eaten || nmade != neaten || nmade != g_np * g_blocks)
    fail("produced %ld blocks (sum %llx), consumed %ld (sum %llx)", nmade,
         (unsigned long long)made, neaten, (unsigned long long)eaten);
  for (long i = 0; i < g_np * g_nc; i++) free(g_rings[i].slot);
  free(g_rings);
  free(t);
  printf("RESULT ok blocks=%ld sleeps=%ld checksum=%016llx\n", nmade, waits,
         (unsigned long long)made);
  return 0;
}
