/* fork while other threads allocate hard. A fork taken while any allocator
 * lock is held by another thread leaves the child with that lock held
 * forever unless the allocator's atfork handlers take and release them.
 * Every child allocates (small, large, huge, aligned, in a new thread too),
 * checks, frees and exits normally; a child stuck for 10 s is killed by
 * SIGALRM and counted as a deadlock. Forks come from the main thread and from
 * a worker thread. Usage: fork [forks]. */
#include "../lib/test.h"
#include <malloc.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <sys/wait.h>

#define WORKERS 6
#define SLOTS 512

static _Atomic(uint8_t *) slot[SLOTS];
static atomic_int stop;

static uint64_t rnd(uint64_t *s) {
  *s ^= *s >> 12; *s ^= *s << 25; *s ^= *s >> 27;
  return *s * 0x2545F4914F6CDD1Dull;
}
static size_t pick(uint64_t *r) {
  uint64_t x = rnd(r), k = x % 1000;
  return k < 800 ? 1 + (x >> 10) % 512 : k < 990 ? (x >> 10) % 200000 : (x >> 10) % (6 << 20);
}

/* Blocks carry their size, then a fill byte: everywhere in small blocks, at
 * three places in big ones (writing all of them would make every fork's
 * copy-on-write the cost of the test). */
static uint8_t *block(uint64_t *r) {
  size_t n = pick(r) + 16;
  uint8_t *p = rnd(r) % 8 ? malloc(n) : memalign((size_t)64 << (rnd(r) % 8), n);
  if (!p) return NULL;
  memcpy(p, &n, sizeof n);
  if (n <= 4096) memset(p + 8, (int)(n & 0xff), n - 8);
  else p[8] = p[n / 2] = p[n - 1] = (uint8_t)n;
  return p;
}
static int check_free(uint8_t *p) {
  if (!p) return 1;
  size_t n;
  memcpy(&n, p, sizeof n);
  int ok = p[8] == (uint8_t)n && p[n - 1] == (uint8_t)n && p[n / 2] == (uint8_t)n;
  free(p);
  return ok;
}

static atomic_int parent_bad;
static void *worker(void *arg) {
  uint64_t r = (uintptr_t)arg * 7919 + 1;
  while (!atomic_load(&stop))
    for (int i = 0; i < 64; i++)
      if (!check_free(atomic_exchange(&slot[rnd(&r) % SLOTS], block(&r)))) atomic_fetch_add(&parent_bad, 1);
  return NULL;
}

static void *child_thread(void *arg) {
  uint64_t r = (uintptr_t)arg;
  for (int i = 0; i < 2000; i++)
    if (!check_free(block(&r))) return (void *)1;
  return NULL;
}

/* In the child: only this thread exists; the heap must be usable. */
static void child(uint64_t seed) {
  lt_forked();
  alarm(10);
  uint64_t r = seed | 1;
  static uint8_t *mine[1000];
  int bad = 0;
  for (int i = 0; i < 1000; i++) mine[i] = block(&r);
  for (int i = 0; i < 1000; i++) bad += !check_free(mine[i]);
  for (int s = 0; s < SLOTS; s += 7) /* blocks the parent's threads made before the fork */
    bad += !check_free(atomic_exchange(&slot[s], NULL));
  pthread_t t;
  void *tbad = (void *)1;
  if (pthread_create(&t, NULL, child_thread, (void *)(uintptr_t)(seed * 3 + 1)) == 0) pthread_join(t, &tbad);
  exit(bad || tbad ? 3 : 0); /* exit, not _exit: atexit handlers run too */
}

static int forks = 150, children_ok, deadlocks, child_failed;
static void fork_some(int n, uint64_t seed) {
  for (int i = 0; i < n && !deadlocks; i++) { /* one deadlock decides: stop */
    pid_t pid = fork();
    if (pid == 0) child(seed + (uint64_t)i);
    if (pid < 0) { child_failed++; continue; }
    int st;
    while (waitpid(pid, &st, 0) < 0) {}
    if (WIFEXITED(st) && WEXITSTATUS(st) == 0) children_ok++;
    else if (WIFSIGNALED(st) && WTERMSIG(st) == SIGALRM) deadlocks++;
    else {
      if (child_failed++ < 5) printf("  child %d: status %#x\n", i, st);
    }
  }
}
static void *forking_worker(void *arg) {
  fork_some(forks / 3, (uintptr_t)arg);
  return NULL;
}

int main(int argc, char **argv) {
  if (argc > 1) forks = atoi(argv[1]);
  lt_init("fork");
  char name[96];
  snprintf(name, sizeof name, "fork: %d forks while %d threads allocate, children allocate and exit", forks, WORKERS);
  TEST(name) {
    pthread_t t[WORKERS], f;
    for (int i = 0; i < WORKERS; i++) pthread_create(&t[i], NULL, worker, (void *)(uintptr_t)(i + 1));
    usleep(20000);
    fork_some(forks - forks / 3, 1u << 20);
    pthread_create(&f, NULL, forking_worker, (void *)(uintptr_t)(1u << 21));
    pthread_join(f, NULL);
    atomic_store(&stop, 1);
    for (int i = 0; i < WORKERS; i++) pthread_join(t[i], NULL);
    for (int s = 0; s < SLOTS; s++) if (!check_free(atomic_exchange(&slot[s], NULL))) parent_bad++;
    CHECKF(deadlocks == 0, "%d of %d children deadlocked (killed by SIGALRM after 10 s)", deadlocks, forks);
    CHECKF(child_failed == 0 && (deadlocks || children_ok == forks), "%d children ok, %d failed", children_ok, child_failed);
    CHECKF(parent_bad == 0, "%d corrupted blocks in the parent", parent_bad);
  }
  return lt_done();
}
