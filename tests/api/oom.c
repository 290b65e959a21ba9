/* Out of memory: with the address space capped (RLIMIT_AS) at 256 MiB more
 * than the process uses, allocate until the allocator says no. Every
 * failure must be a clean NULL (or error code) with ENOMEM -- no crash, no
 * abort -- including in the paths that map new chunks, metadata and huge
 * blocks; a realloc that fails must leave its block intact; after frees the
 * heap must serve again, about as much as before; and eight threads running
 * out together must each get clean failures. */
#include "../lib/test.h"
#include <errno.h>
#include <malloc.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <sys/mman.h>
#include <sys/resource.h>

#define KiB ((size_t)1 << 10)
#define MiB ((size_t)1 << 20)
#define MAXP (1u << 20)

static void **ptr; /* mmap'ed before the cap: the test's own table */
static size_t *len;

static size_t vm_size(void) {
  char line[256];
  size_t kib = 0;
  FILE *f = fopen("/proc/self/status", "r");
  while (f && fgets(line, sizeof line, f))
    if (sscanf(line, "VmSize: %zu kB", &kib) == 1) break;
  if (f) fclose(f);
  return kib * KiB;
}

/* Fill memory with a mix of sizes until malloc fails; returns the count. */
static size_t fill_up(size_t from, size_t *bytes, int *bad_errno) {
  size_t i = from;
  uint32_t r = 7;
  *bytes = 0;
  for (; i < MAXP; i++) {
    r = r * 1103515245u + 12345u;
    size_t n = (r >> 8) % 16 == 0 ? 20 * KiB + (r >> 12) % (200 * KiB) : 16 + (r >> 12) % 2000;
    errno = 0;
    ptr[i] = malloc(n);
    if (!ptr[i]) { *bad_errno = errno != ENOMEM; break; }
    len[i] = n;
    *bytes += n;
    ((uint8_t *)ptr[i])[0] = ((uint8_t *)ptr[i])[n - 1] = (uint8_t)n;
  }
  return i - from;
}

/* Threads that run out together: each allocates until NULL, frees, again.
 * They are created before the cap (their stacks need address space too) and
 * wait for the start. */
static atomic_int thread_bad;
static pthread_mutex_t gate = PTHREAD_MUTEX_INITIALIZER; /* held by main until the start */
static void *hog(void *arg) {
  enum { N = 60000 };
  void **mine = (void **)arg;
  pthread_mutex_lock(&gate);
  pthread_mutex_unlock(&gate);
  for (int round = 0; round < 3; round++) {
    int n = 0;
    for (; n < N; n++) {
      size_t sz = n % 8 == 0 ? 64 * KiB + (size_t)n : 100 + (size_t)(n % 900);
      errno = 0;
      mine[n] = malloc(sz);
      if (!mine[n]) { if (errno != ENOMEM) atomic_fetch_add(&thread_bad, 1); break; }
      memset(mine[n], 1, 64);
    }
    for (int i = 0; i < n; i++) free(mine[i]);
  }
  return NULL;
}

int main(void) {
  lt_init("oom");
  ptr = mmap(NULL, MAXP * sizeof *ptr, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  len = mmap(NULL, MAXP * sizeof *len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  void *warm = malloc(100); /* the allocator is set up before the cap */
  pthread_t t[8];
  int made = 0;
  pthread_mutex_lock(&gate);
  for (int i = 0; i < 8; i++)
    if (pthread_create(&t[i], NULL, hog, ptr + (size_t)i * (MAXP / 8)) != 0) break;
    else made++;
  fflush(stdout);
  struct rlimit lim = { vm_size() + 256 * MiB, RLIM_INFINITY };
  if (ptr == MAP_FAILED || len == MAP_FAILED || setrlimit(RLIMIT_AS, &lim) != 0) {
    printf("FAIL: oom: setup (mmap or setrlimit) failed\n");
    return 1;
  }
  size_t n1 = 0, bytes1 = 0;
  TEST("malloc until the address space runs out: NULL and ENOMEM") {
    int bad_errno = 0;
    n1 = fill_up(0, &bytes1, &bad_errno);
    CHECKF(n1 < MAXP && !bad_errno, "%zu blocks, %zu bytes, then errno %d", n1, bytes1, errno);
    CHECKF(bytes1 > 64 * MiB, "only %zu bytes before the first failure", bytes1);
  }
  TEST("when full, every entry point fails cleanly") {
    /* Each entry point and size is driven to its own failure (another may
     * still find room: a free slot of its class, a cached mapping). */
    const size_t sizes[] = { 16, 3000, 50 * KiB, 300 * KiB, 3 * MiB, 9 * MiB, 64 * MiB };
    for (int fn = 0; fn < 4; fn++)
      for (size_t k = 0; k < sizeof sizes / sizeof sizes[0]; k++) {
        size_t n = sizes[k];
        for (int i = 0; i < 200000; i++) {
          void *p = (void *)0x1234;
          errno = 0;
          int rc = fn == 0 ? (p = malloc(n)) == NULL
                 : fn == 1 ? (p = calloc(1, n)) == NULL
                 : fn == 2 ? (p = aligned_alloc(4096, n)) == NULL
                 : posix_memalign(&p, 64, n);
          if (fn == 3 && rc) {
            CHECKF(rc == ENOMEM && p == (void *)0x1234, "posix_memalign(64, %zu) = %d, out %p", n, rc, p);
            break;
          }
          if (rc) { CHECKF(errno == ENOMEM, "entry point %d, size %zu: errno %d", fn, n, errno); break; }
          if (n1 == MAXP) { free(p); break; }
          ptr[n1] = p; len[n1++] = n;
          ((uint8_t *)p)[0] = ((uint8_t *)p)[n - 1] = (uint8_t)n;
        }
      }
    /* realloc of a live block to a size that cannot fit keeps the block. */
    for (size_t i = 0; i < n1 && i < 200; i += 7) {
      errno = 0;
      void *q = realloc(ptr[i], len[i] + 64 * MiB);
      CHECKF(q == NULL && errno == ENOMEM, "realloc(%zu -> +64 MiB) = %p errno %d", len[i], q, errno);
      if (q) { ptr[i] = q; len[i] += 64 * MiB; }
    }
  }
  TEST("contents intact; after freeing, the heap serves as much again") {
    size_t corrupt = 0;
    for (size_t i = 0; i < n1; i++) {
      uint8_t *b = ptr[i];
      if (b[0] != (uint8_t)len[i] || b[len[i] - 1] != (uint8_t)len[i]) corrupt++;
    }
    CHECKF(corrupt == 0, "%zu blocks corrupted", corrupt);
    for (size_t i = 0; i < n1; i++) free(ptr[i]);
    malloc_trim(0);
    size_t bytes2 = 0;
    int bad_errno = 0;
    size_t n2 = fill_up(0, &bytes2, &bad_errno);
    CHECKF(!bad_errno, "errno %d", errno);
    CHECKF(bytes2 >= bytes1 / 10 * 9, "first fill %zu bytes, second only %zu", bytes1, bytes2);
    for (size_t i = 0; i < n2; i++) free(ptr[i]);
    void *p = malloc(1000);
    CHECK(p != NULL);
    free(p);
  }
  TEST("eight threads run out of memory together, three times") {
    CHECKF(made == 8, "only %d threads could start", made);
    pthread_mutex_unlock(&gate);
    for (int i = 0; i < made; i++) pthread_join(t[i], NULL);
    CHECKF(atomic_load(&thread_bad) == 0, "%d failures without ENOMEM", atomic_load(&thread_bad));
    void *p = malloc(1000);
    CHECK(p != NULL);
    free(p);
  }
  free(warm);
  return lt_done();
}
