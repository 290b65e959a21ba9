/* Shared helpers for the benchmark workloads.
 *
 * Contract with bench/run.py: a workload does a fixed amount of work (never
 * "as much as fits in N seconds", so wall time is comparable), checks its own
 * results, and ends with one line on stdout
 *     RESULT ok key=value key=value ...
 * or prints "FAIL: why" on stderr and exits 1. A broken allocator must never
 * produce a fast "ok": every block a workload frees carries a pattern that is
 * checked first.
 */
#ifndef BENCH_COMMON_H
#define BENCH_COMMON_H

#define _GNU_SOURCE
#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define UNUSED __attribute__((unused))

static UNUSED _Noreturn void fail(const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  fputs("FAIL: ", stderr);
  vfprintf(stderr, fmt, ap);
  fputc('\n', stderr);
  va_end(ap);
  exit(1);
}

static UNUSED void *xmalloc(size_t n) {
  void *p = malloc(n);
  if (!p) fail("malloc(%zu) returned NULL", n);
  return p;
}

/* Per-thread records (a worker's generator and counters, written on every
 * step) each on cache lines of their own: the type puts _Alignas(LINE) on
 * its first member, and the array starts on a line. Two threads writing one
 * line would make the harness, not the allocator, the thing measured (it
 * made mtchurn's runs bimodal, 1x or 2x the CPU time, depending on which
 * threads the kernel put on different CPUs). */
#define LINE 64
static UNUSED void *xcalloc_lines(size_t n, size_t size) {
  size_t bytes = (n * size + LINE - 1) / LINE * LINE;
  void *p = aligned_alloc(LINE, bytes ? bytes : LINE);
  if (!p) fail("aligned_alloc(%zu) returned NULL", bytes);
  memset(p, 0, bytes);
  return p;
}

/* Keeps the compiler from proving a block unused and dropping the
 * malloc/free pair (GCC and clang both do that for plain pairs). */
static inline void escape(void *p) { __asm__ volatile("" : : "r"(p) : "memory"); }

/* splitmix64: a tiny, good, per-thread generator. */
static inline uint64_t rng_next(uint64_t *s) {
  uint64_t z = (*s += 0x9e3779b97f4a7c15ull);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}
static inline uint32_t rng_below(uint64_t *s, uint32_t n) {
  return (uint32_t)(((rng_next(s) >> 32) * (uint64_t)n) >> 32);
}

/* Sizes skewed towards small ones, as real programs ask for: the size is
 * uniform in [lo, hi] after a random power-of-two shrink. */
static inline size_t rng_size(uint64_t *s, size_t lo, size_t hi) {
  size_t span = hi - lo + 1;
  unsigned shrink = rng_below(s, 4);
  size_t n = lo + (size_t)(rng_next(s) % (span >> shrink ? span >> shrink : 1));
  return n;
}

/* Block pattern: the first and last 8 bytes (or the single byte of a tiny
 * block) encode the block's size and a tag; checked before every free. */
static inline uint64_t tag_word(size_t size, uint64_t tag) {
  return (size * 0x9e3779b97f4a7c15ull) ^ tag ^ 0x5bd1e9955bd1e995ull;
}
static inline void tag_fill(void *p, size_t size, uint64_t tag) {
  uint64_t w = tag_word(size, tag);
  if (size >= 16) {
    memcpy(p, &w, 8);
    memcpy((char *)p + size - 8, &w, 8);
  } else if (size > 0) {
    memset(p, (int)(w & 0xff), size);
  }
}
static inline void tag_check(const void *p, size_t size, uint64_t tag) {
  uint64_t w = tag_word(size, tag), a, b;
  if (size >= 16) {
    memcpy(&a, p, 8);
    memcpy(&b, (const char *)p + size - 8, 8);
    if (a != w || b != w) fail("block %p of %zu bytes corrupted", p, size);
  } else {
    for (size_t i = 0; i < size; i++)
      if (((const unsigned char *)p)[i] != (w & 0xff))
        fail("block %p of %zu bytes corrupted", p, size);
  }
}

/* --seed=N anywhere on the command line (bench/run.py --seed passes it to
 * every workload of the hotpath and scaling suites): taken out of argv, so
 * the positional arguments keep their places, and returned; def if absent.
 * Every generator of a seeded workload derives from it (seed_mix), so runs
 * can vary the seed and a failure can be replayed with the same one. */
static UNUSED uint64_t arg_seed(int *argc, char **argv, uint64_t def) {
  for (int i = 1; i < *argc; i++) {
    if (strncmp(argv[i], "--seed=", 7)) continue;
    char *end;
    unsigned long long v = strtoull(argv[i] + 7, &end, 10);
    if (*end || end == argv[i] + 7) fail("bad seed '%s'", argv[i]);
    for (int k = i; k < *argc - 1; k++) argv[k] = argv[k + 1];
    argv[--*argc] = NULL;
    return v;
  }
  return def;
}

/* A generator state for stream `k` (a thread, a phase) of run `seed`. */
static inline uint64_t seed_mix(uint64_t seed, uint64_t k) {
  uint64_t s = seed * 0x9e3779b97f4a7c15ull + k * 0xd1b54a32d192ed03ull + 0x2545f4914f6cdd1dull;
  return rng_next(&s);
}

/* Log-uniform size in [lo, hi]: a power-of-two band chosen uniformly, then a
 * size uniform inside it, so 100..200 is as likely as 32K..64K (the shape of
 * object sizes in a heap: many small, a long tail of big ones). */
static inline size_t rng_log_size(uint64_t *s, size_t lo, size_t hi) {
  unsigned lb = 63u - (unsigned)__builtin_clzll(lo), hb = 63u - (unsigned)__builtin_clzll(hi);
  unsigned b = lb + rng_below(s, hb - lb + 1);
  size_t a = (size_t)1 << b, z = ((size_t)2 << b) - 1;
  if (a < lo) a = lo;
  if (z > hi) z = hi;
  return a + (size_t)(rng_next(s) % (z - a + 1));
}

/* Intrusive lock-free inbox (many senders, one owner that takes everything
 * at once): how a thread hands blocks to the thread that will free them.
 * Taking the whole list with one exchange has no ABA problem. */
typedef struct inbox_node {
  struct inbox_node *next;
} inbox_node;
static inline void inbox_push(inbox_node **box, inbox_node *n) {
  inbox_node *old = __atomic_load_n(box, __ATOMIC_RELAXED);
  do n->next = old;
  while (!__atomic_compare_exchange_n(box, &old, n, 1, __ATOMIC_RELEASE, __ATOMIC_RELAXED));
}
static inline inbox_node *inbox_take(inbox_node **box) {
  if (!__atomic_load_n(box, __ATOMIC_RELAXED)) return NULL;
  return __atomic_exchange_n(box, NULL, __ATOMIC_ACQUIRE);
}

static UNUSED double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* VmRSS of this process in KiB, read without the malloc family. */
static UNUSED long rss_kib(void) {
  char buf[4096];
  int fd = open("/proc/self/status", O_RDONLY);
  if (fd < 0) return -1;
  ssize_t n = read(fd, buf, sizeof buf - 1);
  close(fd);
  if (n <= 0) return -1;
  buf[n] = 0;
  char *p = strstr(buf, "VmRSS:");
  return p ? strtol(p + 6, NULL, 10) : -1;
}

/* argv[i] as a positive integer, or the default. */
static UNUSED long arg_long(int argc, char **argv, int i, long def) {
  if (argc <= i) return def;
  char *end;
  long v = strtol(argv[i], &end, 10);
  if (*end || v <= 0) fail("argument %d: '%s' is not a positive integer", i, argv[i]);
  return v;
}

static UNUSED void start_thread(pthread_t *t, void *(*fn)(void *), void *arg) {
  if (pthread_create(t, NULL, fn, arg)) fail("pthread_create");
}

#endif
