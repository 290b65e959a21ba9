/* OS backend that never maps: memory comes from one static buffer, handed
 * out and taken back in pages through a bitmap. For fuzzers, sanitizer
 * builds and tests: the heap above is unchanged, only its source of pages.
 * LM_STATIC_HEAP_SIZE (bytes, default 256 MiB of .bss, touched lazily)
 * bounds the whole heap, so exhaustion paths are reachable too. */
#define _GNU_SOURCE
#include "os.h"
#include <string.h>
#include <time.h>
#include <unistd.h>

#ifndef LM_STATIC_HEAP_SIZE
#define LM_STATIC_HEAP_SIZE ((size_t)256 << 20)
#endif
#define PAGE ((size_t)4096)
#define NPAGES (LM_STATIC_HEAP_SIZE / PAGE)
#define ALIGN_MAX ((size_t)4 << 20) /* the buffer is aligned to a chunk */

static char heap[LM_STATIC_HEAP_SIZE] __attribute__((aligned(4 << 20)));
static uint64_t used[NPAGES / 64];
static lm_lock_t lock = LM_LOCK_INIT;
static __thread unsigned long refusals; /* maps this thread was refused */

static bool page_used(size_t i) { return used[i / 64] >> (i % 64) & 1; }
static void mark(size_t i, size_t n, bool on) {
  for (size_t j = i; j < i + n; j++) {
    if (on) used[j / 64] |= (uint64_t)1 << (j % 64);
    else used[j / 64] &= ~((uint64_t)1 << (j % 64));
  }
}

void *lm_os_map(size_t size, size_t align) {
  size_t n = size / PAGE, step = (align < PAGE ? PAGE : align) / PAGE;
  void *r = NULL;
  bool ok = size != 0 && align <= ALIGN_MAX && n <= NPAGES;
  lm_lock(&lock);
  for (size_t i = 0; ok && i + n <= NPAGES; i += step) {
    size_t j = 0;
    while (j < n && !page_used(i + j)) j++;
    if (j == n) {
      mark(i, n, true);
      r = heap + i * PAGE;
      break;
    }
  }
  lm_unlock(&lock);
  if (r == NULL) refusals++;
  return r; /* pages are zero: unmap and purge zero them */
}

unsigned long lm_os_static_refusals(void) { return refusals; }

size_t lm_os_static_used(void) {
  size_t n = 0;
  lm_lock(&lock);
  for (size_t i = 0; i < NPAGES / 64; i++) n += (size_t)__builtin_popcountll(used[i]);
  lm_unlock(&lock);
  return n * PAGE;
}

void lm_os_unmap(void *p, size_t size) {
  memset(p, 0, size);
  lm_lock(&lock);
  mark((size_t)((char *)p - heap) / PAGE, size / PAGE, false);
  lm_unlock(&lock);
}

void lm_os_purge(void *p, size_t size) { memset(p, 0, size); }

void *lm_os_remap(void *p, size_t old, size_t size, size_t align) {
  (void)p, (void)old, (void)size, (void)align;
  return NULL; /* the heap falls back to allocate-copy-free */
}

unsigned lm_os_ncpus(void) {
  long n = sysconf(_SC_NPROCESSORS_ONLN);
  return n > 0 ? (unsigned)n : 1;
}

uint64_t lm_os_now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

uint64_t lm_os_random(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  uint64_t r = (uint64_t)ts.tv_nsec ^ ((uint64_t)(uintptr_t)&ts << 17);
  r ^= r >> 33;
  r *= 0xff51afd7ed558ccdu;
  r ^= r >> 33;
  return r | 1;
}

/* The static backend serves tests and fuzz drivers that control every
 * thread: no background thread. */
bool lm_os_thread_start(void (*fn)(void), const char *name) {
  (void)fn, (void)name;
  return false;
}
