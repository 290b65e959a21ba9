/* The purger thread against working threads, under ThreadSanitizer.
 *
 * lemmalloc's sources are linked in with the POSIX backend (the fuzz
 * drivers' static backend starts no purger) and called through the lm_*
 * names, so that TSan keeps its own malloc and sees every access of the
 * heap's. With a decay of 20 ms the purger ticks every 6 ms: it steals the
 * slabs and cached blocks of threads that pause, purges, parks once all
 * threads pause together, and is woken when they resume, while the others
 * allocate, hand blocks to each other (most frees are remote), realloc
 * and check every block's contents. A data race, a lost or corrupted
 * block, or a purger that never parks fails the run.
 *
 * Usage: purger [threads=6] [rounds=4]; run with LEMMALLOC_PURGE_MS=20
 * (mk/tsan.mk). */
#define _GNU_SOURCE
#include <dirent.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include "lemmalloc.h"

#define SLOTS 512
struct hdr {
  uint32_t seed, size;
};
static _Atomic(struct hdr *) slot[SLOTS];
static atomic_int errors;
static long rounds = 4;
static pthread_barrier_t all_paused, resume;

static uint64_t rnd(uint64_t *s) {
  *s ^= *s >> 12, *s ^= *s << 25, *s ^= *s >> 27;
  return *s * 0x2545F4914F6CDD1Dull;
}

static void sleep_ms(long ms) {
  struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
  while (nanosleep(&ts, &ts) != 0) {
  }
}

/* 16 B .. 300 KiB, mostly small; one in 200 a huge block (3 MiB). */
static size_t pick_size(uint64_t *s) {
  uint64_t r = rnd(s);
  if (r % 200 == 0) return 3u << 20;
  if (r % 8 == 0) return 16384 + (r >> 20) % (300u << 10);
  return 16 + (r >> 20) % 2000;
}

static void fill(struct hdr *h, uint32_t seed, uint32_t size) {
  h->seed = seed, h->size = size;
  unsigned char *b = (unsigned char *)h;
  for (uint32_t j = sizeof *h; j < size; j += 61) b[j] = (unsigned char)(seed ^ j);
}

static void check(const struct hdr *h, uint32_t size) {
  const unsigned char *b = (const unsigned char *)h;
  for (uint32_t j = sizeof *h; j < size; j += 61)
    if (b[j] != (unsigned char)(h->seed ^ j)) {
      if (atomic_fetch_add(&errors, 1) < 5) fprintf(stderr, "block %p of %u bytes: byte %u lost\n", (void *)h, size, j);
      return;
    }
}

static void drop(struct hdr *h) {
  if (h == NULL) return;
  check(h, h->size);
  lm_free(h);
}

static void *worker(void *arg) {
  uint64_t s = (uint64_t)(uintptr_t)arg * 0x9e3779b97f4a7c15u + 7;
  for (long r = 0; r < rounds; r++) {
    for (int op = 0; op < 6000; op++) {
      uint64_t x = rnd(&s);
      uint32_t i = (uint32_t)(x % SLOTS);
      if (x % 5 == 0) { /* take a block (any thread's), grow or shrink it */
        struct hdr *h = atomic_exchange(&slot[i], NULL);
        if (h == NULL) continue;
        check(h, h->size);
        uint32_t n = (uint32_t)pick_size(&s);
        struct hdr *g = lm_realloc(h, n);
        if (g == NULL) {
          drop(h);
          continue;
        }
        fill(g, (uint32_t)x, n);
        drop(atomic_exchange(&slot[i], g));
      } else {
        uint32_t n = (uint32_t)pick_size(&s);
        struct hdr *h = lm_malloc(n);
        if (h == NULL) continue;
        fill(h, (uint32_t)x, n);
        drop(atomic_exchange(&slot[i], h)); /* the previous block: usually another thread's */
      }
      /* Some threads pause for a few decay periods mid-round: the purger
       * steals from them while the others keep going. */
      if (op == 3000 && x % 3 == 0) sleep_ms(60);
    }
    pthread_barrier_wait(&all_paused); /* everyone quiet: the purger settles */
    pthread_barrier_wait(&resume);
  }
  return NULL;
}

/* Context switches of the thread named lemmalloc-bg so far, -1 if none. */
static long purger_switches(void) {
  DIR *d = opendir("/proc/self/task");
  if (d == NULL) return -1;
  long total = -1;
  struct dirent *e;
  while ((e = readdir(d)) != NULL) {
    char path[96], b[4096];
    if (e->d_name[0] == '.') continue;
    snprintf(path, sizeof path, "/proc/self/task/%s/comm", e->d_name);
    int fd = open(path, O_RDONLY);
    ssize_t n = fd >= 0 ? read(fd, b, sizeof b - 1) : -1;
    if (fd >= 0) close(fd);
    if (n <= 0 || strncmp(b, "lemmalloc-bg", 12) != 0) continue;
    snprintf(path, sizeof path, "/proc/self/task/%s/status", e->d_name);
    fd = open(path, O_RDONLY);
    n = fd >= 0 ? read(fd, b, sizeof b - 1) : -1;
    if (fd >= 0) close(fd);
    if (n <= 0) continue;
    b[n] = '\0';
    const char *v = strstr(b, "voluntary_ctxt_switches:"), *nv = strstr(b, "nonvoluntary_ctxt_switches:");
    if (v && nv) total = atol(v + 24) + atol(nv + 27);
  }
  closedir(d);
  return total;
}

int main(int argc, char **argv) {
  long threads = argc > 1 ? atol(argv[1]) : 6;
  if (argc > 2) rounds = atol(argv[2]);
  pthread_t t[64];
  if (threads < 2 || threads > 64) threads = 6;
  pthread_barrier_init(&all_paused, NULL, (unsigned)threads + 1);
  pthread_barrier_init(&resume, NULL, (unsigned)threads + 1);
  for (long i = 0; i < threads; i++) pthread_create(&t[i], NULL, worker, (void *)(i + 1));
  int parked = 0;
  for (long r = 0; r < rounds; r++) {
    pthread_barrier_wait(&all_paused);
    /* Nothing allocates now: within a few decay periods the purger has
     * taken everything back and stops waking up. */
    long a = -1, b = -1;
    for (int k = 0; k < 40; k++) {
      a = purger_switches();
      sleep_ms(50);
      b = purger_switches();
      if (a >= 0 && b - a <= 1) break;
    }
    parked += a >= 0 && b - a <= 1;
    pthread_barrier_wait(&resume);
  }
  for (long i = 0; i < threads; i++) pthread_join(t[i], NULL);
  for (int i = 0; i < SLOTS; i++) drop(atomic_exchange(&slot[i], NULL));
  struct lm_stats st;
  int ok = lm_stats(&st) == 0;
  printf("purger: %ld threads x %ld rounds; the purger parked in %d of %ld pauses; %d blocks lost; "
         "%zu KiB live at the end\n", threads, rounds, parked, rounds, atomic_load(&errors),
         ok ? st.allocated >> 10 : 0);
  int fail = atomic_load(&errors) != 0 || parked != rounds || !ok || st.allocated != 0;
  printf("%s: threads/purger: the purger under ThreadSanitizer\n", fail ? "FAIL" : "PASS");
  return fail;
}
