/* Producer/consumer: every block is allocated on one thread and freed on
 * another, the pattern of queues and thread pools. Consumers never allocate,
 * so nothing they free can come back through their own cache: if remote
 * frees were not given back to where producers allocate from, memory taken
 * from the OS would grow with the number of blocks passed. Checks contents
 * on the way, then that memory from the OS after three million hand-offs is
 * within a few MiB of what it was after the first tenth.
 * Usage: remote [blocks per producer]. */
#include "../lib/test.h"
#include <malloc.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdint.h>

#define PAIRS 3
#define RING 1024

struct ring {
  _Atomic(uint8_t *) slot[RING];
  _Atomic size_t head, tail; /* producer writes head, consumer tail */
};
static struct ring rings[PAIRS];
static long per_producer = 1000000;
static atomic_long produced, bad;
static size_t os_after_warmup;
static atomic_int warm;

static size_t from_os(void) { struct mallinfo2 m = mallinfo2(); return m.arena + m.hblkhd; }

static void *producer(void *arg) {
  struct ring *r = arg;
  uint64_t x = (uintptr_t)arg | 1;
  for (long i = 0; i < per_producer; i++) {
    x ^= x << 13; x ^= x >> 7; x ^= x << 17;
    size_t n = x % 100 == 0 ? 16384 + x % 200000 : 16 + (x >> 8) % 2000;
    uint8_t *p = malloc(n);
    if (!p) { atomic_fetch_add(&bad, 1); continue; }
    memcpy(p, &n, sizeof n);
    p[n - 1] = (uint8_t)n;
    size_t h = atomic_load_explicit(&r->head, memory_order_relaxed);
    while (h - atomic_load_explicit(&r->tail, memory_order_acquire) == RING) sched_yield();
    atomic_store_explicit(&r->slot[h % RING], p, memory_order_relaxed);
    atomic_store_explicit(&r->head, h + 1, memory_order_release);
    /* After a tenth of all hand-offs, note what the heap took from the OS. */
    if (atomic_fetch_add(&produced, 1) == PAIRS * per_producer / 10) {
      os_after_warmup = from_os();
      atomic_store(&warm, 1);
    }
  }
  return NULL;
}

static void *consumer(void *arg) {
  struct ring *r = arg;
  for (long i = 0; i < per_producer; i++) {
    size_t t = atomic_load_explicit(&r->tail, memory_order_relaxed);
    while (atomic_load_explicit(&r->head, memory_order_acquire) == t) sched_yield();
    uint8_t *p = atomic_load_explicit(&r->slot[t % RING], memory_order_relaxed);
    atomic_store_explicit(&r->tail, t + 1, memory_order_release);
    size_t n;
    memcpy(&n, p, sizeof n);
    if (n < 16 || n > 300000 || p[n - 1] != (uint8_t)n) atomic_fetch_add(&bad, 1);
    free(p);
  }
  return NULL;
}

int main(int argc, char **argv) {
  if (argc > 1) per_producer = atol(argv[1]);
  lt_init("remote");
  char name[96];
  snprintf(name, sizeof name, "producer/consumer: %ld cross-thread frees, memory stays flat", PAIRS * per_producer);
  TEST(name) {
    pthread_t p[PAIRS], c[PAIRS];
    for (int i = 0; i < PAIRS; i++) {
      pthread_create(&c[i], NULL, consumer, &rings[i]);
      pthread_create(&p[i], NULL, producer, &rings[i]);
    }
    for (int i = 0; i < PAIRS; i++) { pthread_join(p[i], NULL); pthread_join(c[i], NULL); }
    size_t os_end = from_os();
    CHECKF(atomic_load(&bad) == 0, "%ld blocks failed or came back corrupted", atomic_load(&bad));
    CHECKF(atomic_load(&warm) && os_after_warmup > 0, "mallinfo2 reported nothing after the warm-up");
    CHECKF(os_end <= os_after_warmup + 16 * 1024 * 1024, "memory from the OS grew from %zu to %zu bytes",
           os_after_warmup, os_end);
  }
  return lt_done();
}
