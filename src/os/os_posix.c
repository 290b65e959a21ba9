/* OS backend for Linux: mmap, madvise(MADV_DONTNEED), mremap. */
#define _GNU_SOURCE
#include "os.h"
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <sys/prctl.h>
#include <signal.h>
#include <sys/auxv.h>
#include <sys/mman.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#define PAGE 4096u

/* No MAP_NORESERVE: the kernel's overcommit policy must be able to refuse
 * an impossible request (malloc(1 TiB) returns NULL, as with glibc). */
void *lm_os_map(size_t size, size_t align) {
  size_t extra = align > PAGE ? align - PAGE : 0;
  if (size + extra < size) return NULL;
  char *p = mmap(NULL, size + extra, PROT_READ | PROT_WRITE,
                 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (p == MAP_FAILED) return NULL;
  if (extra == 0) return p;
  /* Over-map by align - PAGE and cut both ends off. */
  char *a = (char *)(((uintptr_t)p + align - 1) & ~(uintptr_t)(align - 1));
  if (a > p) munmap(p, (size_t)(a - p));
  size_t tail = (size_t)(p + size + extra - (a + size));
  if (tail) munmap(a + size, tail);
  return a;
}

void lm_os_unmap(void *p, size_t size) { munmap(p, size); }

void lm_os_purge(void *p, size_t size) {
  /* DONTNEED, not FREE: RSS must drop now, and the range must read zero
   * (calloc relies on purged pages being clean). */
  madvise(p, size, MADV_DONTNEED);
}

void *lm_os_remap(void *p, size_t old, size_t size, size_t align) {
  void *q = mremap(p, old, size, 0);
  if (q != MAP_FAILED) return q;
  if (size < old) return NULL;
  /* Reserve an aligned range, then move the pages there (no copy). */
  void *r = lm_os_map(size, align);
  if (r == NULL) return NULL;
  q = mremap(p, old, size, MREMAP_MAYMOVE | MREMAP_FIXED, r);
  if (q == MAP_FAILED) {
    munmap(r, size);
    return NULL;
  }
  return q;
}

unsigned lm_os_ncpus(void) {
  cpu_set_t set;
  if (sched_getaffinity(0, sizeof set, &set) == 0) {
    int n = CPU_COUNT(&set);
    if (n > 0) return (unsigned)n;
  }
  long n = sysconf(_SC_NPROCESSORS_ONLN);
  return n > 0 ? (unsigned)n : 1;
}

uint64_t lm_os_now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
  return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

uint64_t lm_os_random(void) {
  uint64_t r = 0;
  if (getrandom(&r, sizeof r, GRND_NONBLOCK) == sizeof r) return r;
  /* The kernel's 16 start-up random bytes, mixed with an address and time. */
  const unsigned char *at = (const unsigned char *)getauxval(AT_RANDOM);
  if (at)
    for (int i = 0; i < 8; i++) r = (r << 8) | at[i];
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  r ^= (uint64_t)(uintptr_t)&r * 0x9e3779b97f4a7c15u ^ (uint64_t)ts.tv_nsec;
  return r;
}

/* The thread's start: a name, then fn (which never returns). */
struct start {
  void (*fn)(void);
  char name[16];
};
static struct start start_arg; /* one background thread at a time is started */

static void *thread_main(void *arg) {
  struct start *st = arg;
  prctl(PR_SET_NAME, st->name, 0, 0, 0);
  st->fn();
  return NULL;
}

bool lm_os_thread_start(void (*fn)(void), const char *name) {
  start_arg.fn = fn;
  size_t i = 0;
  for (; name[i] && i < sizeof start_arg.name - 1; i++) start_arg.name[i] = name[i];
  start_arg.name[i] = '\0';
  int saved = errno; /* malloc's success leaves errno alone */
  pthread_attr_t attr;
  if (pthread_attr_init(&attr) != 0) return false;
  pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
  pthread_attr_setstacksize(&attr, 256u << 10); /* the heap's passes need a few KiB */
  sigset_t all, old;
  sigfillset(&all);
  pthread_sigmask(SIG_SETMASK, &all, &old); /* inherited by the new thread */
  pthread_t t;
  int r = pthread_create(&t, &attr, thread_main, &start_arg);
  pthread_sigmask(SIG_SETMASK, &old, NULL);
  pthread_attr_destroy(&attr);
  errno = saved;
  return r == 0;
}
