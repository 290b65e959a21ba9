/* Multi-threaded stress: dozens of threads allocate with every entry point,
 * hand blocks to each other through shared slots (so most frees are
 * cross-thread), grow and shrink them with realloc, and check every block's
 * contents before each realloc and free, while one more thread keeps
 * calling malloc_trim and mallinfo2. Two waves: the second reuses what the
 * first wave's threads left in the heap after they exited with full caches.
 * Usage: stress [threads] [ops per thread] [huge]. */
#include "../lib/test.h"
#include <malloc.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>

#define SLOTS 2048

/* A block starts with its header; byte j >= 8 holds (seed ^ j) & 0xff. */
struct hdr { uint32_t seed, size; };

static _Atomic(struct hdr *) slot[SLOTS];
static atomic_int errors;
static pthread_mutex_t print_lock = PTHREAD_MUTEX_INITIALIZER;

#define BAD(...) do { \
    if (atomic_fetch_add(&errors, 1) < 10) { \
      pthread_mutex_lock(&print_lock); printf("  " __VA_ARGS__); putchar('\n'); pthread_mutex_unlock(&print_lock); } \
  } while (0)

static uint64_t rnd(uint64_t *s) { /* xorshift64* */
  *s ^= *s >> 12; *s ^= *s << 25; *s ^= *s >> 27;
  return *s * 0x2545F4914F6CDD1Dull;
}

/* Mostly small, some medium and large, a few huge: every kind of block.
 * The huge mode makes a third of them 1-12 MiB, so huge mappings grow,
 * shrink and go while chunks come and go around them, and uses only 64
 * slots to bound the memory. */
static uint64_t huge_share = 0; /* per mille */
static uint64_t nslots = SLOTS;
static size_t pick_size(uint64_t *r) {
  uint64_t x = rnd(r), k = x % 1000;
  if (k < huge_share) return ((size_t)1 << 20) + (x >> 10) % ((size_t)11 << 20);
  k = (k - huge_share) * 1000 / (1000 - huge_share); /* the rest: the default mix */
  if (k < 700) return 8 + (x >> 10) % 249;
  if (k < 900) return 256 + (x >> 10) % (16 * 1024);
  if (k < 998) return 16 * 1024 + (x >> 10) % (256 * 1024);
  return 256 * 1024 + (x >> 10) % (5 * 1024 * 1024);
}

/* Bytes of a block that carry the pattern: all of the first 4 KiB, then 8 of
 * every 512, so that big blocks cost little yet any overlap shows. The set
 * does not depend on the block's size, so realloc may move its end. It is
 * walked in runs [a, b) that the compiler can vectorize. */
static int next_run(size_t *a, size_t *b, size_t upto) {
  size_t j = *b; /* end of the previous run */
  if (j >= 4096 && (j & 511) >= 8) j = (j | 511) + 1;
  if (j >= upto) return 0;
  size_t e = j < 4096 ? 4096 : (j & ~(size_t)511) + 8;
  *a = j; *b = e < upto ? e : upto;
  return 1;
}
#define RUNS(a, b, from, upto) for (size_t a = 0, b = (from) < 8 ? 8 : (from); next_run(&a, &b, (upto));)

static void fill_from(struct hdr *h, size_t from) {
  uint8_t *p = (uint8_t *)h;
  RUNS(a, b, from, h->size) for (size_t j = a; j < b; j++) p[j] = (uint8_t)(h->seed ^ j);
}
static int intact(const struct hdr *h, size_t upto, uint32_t seed, const char *where) {
  const uint8_t *p = (const uint8_t *)h;
  if (h->seed != seed) { BAD("%s: block %p header seed %#x, want %#x", where, (void *)h, h->seed, seed); return 0; }
  RUNS(a, b, 8, upto) {
    uint8_t diff = 0;
    for (size_t j = a; j < b; j++) diff |= p[j] ^ (uint8_t)(seed ^ j);
    if (diff)
      for (size_t j = a; j < b; j++)
        if (p[j] != (uint8_t)(seed ^ j)) { BAD("%s: block %p (size %u) byte %zu is %#x", where, (void *)h, h->size, j, p[j]); return 0; }
  }
  return 1;
}
static void check_and_free(struct hdr *h) {
  if (!h) return;
  intact(h, h->size, h->seed, "before free");
  h->seed = ~h->seed; /* a stale copy handed out again would now fail its check */
  free(h);
}

static struct hdr *new_block(uint64_t *r) {
  size_t n = pick_size(r);
  uint64_t how = rnd(r) % 10;
  void *p = NULL;
  if (how < 5) p = malloc(n);
  else if (how < 7) {
    p = calloc(1, n);
    const uint8_t *b = p;
    if (p) RUNS(x, y, 0, n) {
      uint8_t any = 0;
      for (size_t j = x; j < y; j++) any |= b[j];
      if (any || b[0] | b[1] | b[2] | b[3] | b[4] | b[5] | b[6] | b[7]) { BAD("calloc(%zu) not zero in [%zu, %zu)", n, x, y); break; }
    }
  } else {
    size_t a = (size_t)1 << (3 + rnd(r) % 14); /* 8 B .. 64 KiB */
    if (how == 7) { if (posix_memalign(&p, a, n)) p = NULL; }
    else if (how == 8) p = aligned_alloc(a, n);
    else p = memalign(a, n);
    if (p && ((uintptr_t)p & (a - 1))) BAD("aligned %zu: got %p", a, p);
  }
  if (!p) { BAD("allocation of %zu failed", n); return NULL; }
  if (malloc_usable_size(p) < n) BAD("usable %zu < %zu", malloc_usable_size(p), n);
  struct hdr *h = p;
  h->seed = (uint32_t)rnd(r); h->size = (uint32_t)n;
  fill_from(h, 8);
  return h;
}

/* realloc keeps the prefix: check it, then fill only the new bytes. */
static struct hdr *resize(struct hdr *h, size_t n) {
  uint32_t seed = h->seed, old = h->size;
  struct hdr *q = realloc(h, n);
  if (!q) { BAD("realloc(%u -> %zu) failed", old, n); h->seed = ~seed; free(h); return NULL; }
  intact(q, old < n ? old : n, seed, "after realloc");
  q->size = (uint32_t)n;
  if (n > old) fill_from(q, old);
  return q;
}

static uint64_t ops_per_thread = 20000;

static void *worker(void *arg) {
  uint64_t r = (uint64_t)(uintptr_t)arg * 0x9E3779B97F4A7C15ull + 1;
  for (uint64_t i = 0; i < ops_per_thread; i++) {
    uint64_t op = rnd(&r) % 100, s = rnd(&r) % nslots;
    if (op < 45) { /* publish a new block; whatever it displaces dies here */
      check_and_free(atomic_exchange(&slot[s], new_block(&r)));
    } else if (op < 65) { /* realloc a shared block, likely another thread's */
      struct hdr *h = atomic_exchange(&slot[s], NULL);
      if (h) h = resize(h, pick_size(&r));
      check_and_free(atomic_exchange(&slot[s], h));
    } else if (op < 75) { /* a local realloc chain, up then down */
      struct hdr *h = new_block(&r);
      for (int k = 0; h && k < 6; k++) {
        size_t up = (size_t)h->size * 3 + 1;
        h = resize(h, k < 4 && up < 6 * 1024 * 1024 ? up : h->size / 5 + 8);
      }
      check_and_free(h);
    } else { /* a local burst freed in a scrambled order: fills the thread cache */
      struct hdr *b[64];
      int n = 8 + (int)(rnd(&r) % 56);
      for (int k = 0; k < n; k++) {
        size_t sz = 8 + rnd(&r) % 512;
        b[k] = malloc(sz);
        if (!b[k]) { BAD("malloc(%zu) failed", sz); n = k; break; }
        b[k]->seed = (uint32_t)rnd(&r); b[k]->size = (uint32_t)sz;
        fill_from(b[k], 8);
      }
      for (int k = 0; k < n; k++) {
        int j = k + (int)(rnd(&r) % (uint64_t)(n - k));
        struct hdr *t = b[j]; b[j] = b[k]; b[k] = t;
        check_and_free(t);
      }
    }
  }
  /* Exit with a full cache: many freed small blocks of many classes. */
  void *last[512];
  for (int k = 0; k < 512; k++) last[k] = malloc(16 + (size_t)(k % 32) * 16);
  for (int k = 0; k < 512; k++) free(last[k]);
  return NULL;
}

/* Meanwhile one more thread trims and reads the statistics, which purge
 * and walk the heap while the workers use it. */
static atomic_int stop_trimming;
static void *trimmer(void *arg) {
  (void)arg;
  while (!atomic_load(&stop_trimming)) {
    malloc_trim(0);
    /* Figures read while blocks come and go may disagree by the blocks in
     * flight (many MiB when they are huge); a wrapped or runaway counter
     * would be far off. The exact check comes when all is freed. */
    struct mallinfo2 m = mallinfo2();
    if (m.uordblks > 2 * (m.arena + m.hblkhd) + ((size_t)64 << 20))
      BAD("mallinfo2: in use %zu > arena %zu + mapped %zu", m.uordblks, m.arena, m.hblkhd);
    usleep(2000);
  }
  return NULL;
}

static int wave(int nthreads, uint64_t seed) {
  pthread_t t[256], tr;
  int made = 0;
  atomic_store(&stop_trimming, 0);
  int trimming = pthread_create(&tr, NULL, trimmer, NULL) == 0;
  for (int i = 0; i < nthreads; i++)
    if (pthread_create(&t[made], NULL, worker, (void *)(uintptr_t)(seed + (uint64_t)i)) == 0) made++;
  for (int i = 0; i < made; i++) pthread_join(t[i], NULL);
  atomic_store(&stop_trimming, 1);
  if (trimming) pthread_join(tr, NULL);
  return made;
}

int main(int argc, char **argv) {
  int nthreads = argc > 1 ? atoi(argv[1]) : 32;
  if (argc > 2) ops_per_thread = strtoull(argv[2], NULL, 10);
  if (argc > 3 && !strcmp(argv[3], "huge")) huge_share = 330, nslots = 64;
  if (nthreads < 1 || nthreads > 256) nthreads = 32;
  lt_init("stress");
  char name[128];
  snprintf(name, sizeof name, "stress: %d threads x %llu ops%s, two waves, cross-thread frees, contents kept",
           nthreads, (unsigned long long)ops_per_thread, huge_share ? ", a third huge" : "");
  TEST(name) {
    size_t before = mallinfo2().uordblks;
    int made1 = wave(nthreads, 1000), made2 = wave(nthreads, 2000);
    CHECKF(made1 == nthreads && made2 == nthreads, "created %d and %d threads", made1, made2);
    for (int s = 0; s < SLOTS; s++) check_and_free(atomic_exchange(&slot[s], NULL));
    /* Everything is freed and every worker has exited: the in-use figure
     * must be back where it started (counters neither lost nor doubled). */
    size_t after = mallinfo2().uordblks;
    CHECKF(after <= before + ((size_t)1 << 20), "mallinfo2 in use %zu before, %zu after freeing everything", before, after);
    CHECKF(atomic_load(&errors) == 0, "%d bad blocks (first ones above)", atomic_load(&errors));
  }
  return lt_done();
}
