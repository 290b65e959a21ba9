/* Run an allocator out of memory and check that it says so at once.
 *
 *   exhaust MODE [MAX_SECONDS]
 *
 * MODE is a block size (16, 64, 1024, 65536, 3145728, ...) or "mixed" (sizes
 * cycling through all of those). The program mallocs blocks of that size,
 * without touching them, until malloc returns NULL, under an alarm of
 * MAX_SECONDS (default 20): a NULL must come, with errno ENOMEM, within that
 * time (an allocator that loops mapping and unmapping at a limit hangs and
 * is killed by the alarm, which fails the test). Then it frees every block
 * and checks that the heap serves a malloc of each size again (with
 * LIMITS_AFTER=chunk, only of the sizes served from chunks: when the
 * registry's leaves are what ran out, a new mapping outside the addresses
 * they cover can never be registered).
 *
 *   exhaust count SIZE N
 *
 * allocates N blocks of SIZE, untouched, and frees them: every malloc must
 * succeed (no table may run out before the OS does).
 *
 * Prints one PASS:/FAIL: line; exits non-zero on failure. */
#define _GNU_SOURCE
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static const size_t sizes[] = {16, 64, 1024, 65536, 3u << 20};
#define NSIZES (sizeof sizes / sizeof sizes[0])

static const char *label = "";

static void on_alarm(int sig) {
  (void)sig;
  static const char msg[] = "FAIL: limits: no NULL before the alarm (a hang at the limit?)\n";
  write(1, msg, sizeof msg - 1);
  _exit(1);
}

static double now(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

/* The blocks, in a list of arrays mapped with mmap-free means: each array
 * is itself a malloc'd block of pointers, chained through its slot 0, so the
 * bookkeeping needs no memory the allocator did not give. */
#define PER_ARRAY 8190
struct arr { struct arr *next; size_t n; void *p[PER_ARRAY]; };

static int count_mode(size_t size, size_t n) {
  void **v = malloc(n * sizeof *v);
  if (v == NULL) {
    printf("FAIL: limits%s: count %zu x %zu: no memory for the test's own table\n", label, n, size);
    return 1;
  }
  double t0 = now();
  for (size_t i = 0; i < n; i++)
    if ((v[i] = malloc(size)) == NULL) {
      printf("FAIL: limits%s: %zu x %zu bytes: malloc returned NULL at block %zu (errno %d)\n", label, n,
             size, i, errno);
      return 1;
    }
  for (size_t i = 0; i < n; i++) free(v[i]);
  free(v);
  printf("PASS: limits%s: %zu live blocks of %zu bytes (%.0f GiB) allocated and freed in %.1f s\n", label, n,
         size, (double)n * (double)size / (1u << 30), now() - t0);
  return 0;
}

int main(int argc, char **argv) {
  if (argc < 2) {
    fprintf(stderr, "usage: exhaust SIZE|mixed [MAX_SECONDS] | exhaust count SIZE N\n");
    return 2;
  }
  label = getenv("LIMITS_LABEL") ? getenv("LIMITS_LABEL") : "";
  if (strcmp(argv[1], "count") == 0 && argc >= 4)
    return count_mode(strtoull(argv[2], NULL, 0), strtoull(argv[3], NULL, 0));
  int mixed = strcmp(argv[1], "mixed") == 0;
  size_t size = mixed ? 0 : strtoull(argv[1], NULL, 0);
  unsigned max_s = argc > 2 ? (unsigned)atoi(argv[2]) : 20;
  signal(SIGALRM, on_alarm);
  alarm(max_s);
  double t0 = now();
  struct arr *head = NULL;
  size_t total = 0, bytes = 0;
  int err = 0;
  for (;;) {
    if (head == NULL || head->n == PER_ARRAY) {
      struct arr *a = malloc(sizeof *a);
      if (a == NULL) {
        err = errno;
        break;
      }
      a->next = head;
      a->n = 0;
      head = a;
    }
    size_t sz = mixed ? sizes[total % NSIZES] : size;
    errno = 0;
    void *p = malloc(sz);
    if (p == NULL) {
      err = errno;
      break;
    }
    head->p[head->n++] = p;
    total++;
    bytes += sz;
  }
  alarm(0);
  double secs = now() - t0;
  int bad = 0;
  if (err != ENOMEM) {
    printf("FAIL: limits%s: %s: malloc returned NULL with errno %d, not ENOMEM\n", label, argv[1], err);
    bad = 1;
  }
  /* Everything back, then the heap must serve each size again. */
  while (head != NULL) {
    struct arr *next = head->next;
    for (size_t i = 0; i < head->n; i++) free(head->p[i]);
    free(head);
    head = next;
  }
  const char *after = getenv("LIMITS_AFTER");
  size_t nafter = after != NULL && strcmp(after, "chunk") == 0 ? NSIZES - 1 : NSIZES;
  for (size_t i = 0; i < nafter; i++) {
    void *p = malloc(sizes[i]);
    if (p == NULL) {
      printf("FAIL: limits%s: %s: after freeing everything, malloc(%zu) still fails\n", label, argv[1], sizes[i]);
      bad = 1;
    }
    free(p);
  }
  if (!bad)
    printf("PASS: limits%s: %s: NULL with ENOMEM after %zu blocks (%.1f GiB) in %.1f s; the heap serves again\n",
           label, argv[1], total, (double)bytes / (1u << 30), secs);
  return bad;
}
