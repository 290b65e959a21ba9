/* The background purger (src/heap/background.c): a multi-threaded program
 * whose threads all block after a burst gets its freed memory back with
 * no allocator call at all; a single-threaded program gets no extra
 * thread; the purger sleeps once nothing is left to give back; a fork
 * child starts its own.
 *
 * Usage: background [on|off]. `on` (LEMMALLOC_BACKGROUND unset) checks
 * all of the above; `off` (run with LEMMALLOC_BACKGROUND=0) checks that
 * the same wait gives nothing back without the purger, so that the first
 * check is seen to depend on it. Run preloaded with LEMMALLOC_PURGE_MS=100
 * (mk/memory.mk). While "blocked", the test itself calls nothing that
 * allocates: it reads /proc with open/read into buffers on the stack. */
#include "test.h"
#include <dirent.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define THREADS 8
#define MIB ((size_t)1 << 20)
#define PER_THREAD (6 * MIB)

/* The first `cap - 1` bytes of a /proc file, NUL-terminated; no malloc. */
static ssize_t read_proc(const char *path, char *buf, size_t cap) {
  int fd = open(path, O_RDONLY);
  if (fd < 0) return -1;
  ssize_t n = read(fd, buf, cap - 1);
  close(fd);
  buf[n < 0 ? 0 : n] = '\0';
  return n;
}

static long rss_kib(void) {
  char b[128];
  long pages = 0, rss = -1;
  if (read_proc("/proc/self/statm", b, sizeof b) <= 0 || sscanf(b, "%ld %ld", &pages, &rss) != 2) return -1;
  return rss * (sysconf(_SC_PAGESIZE) / 1024);
}

static void sleep_ms(long ms) {
  struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
  while (nanosleep(&ts, &ts) != 0) {
  }
}

static double now_s(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

/* The tid of this process's thread named "lemmalloc-bg", 0 if none, and
 * how many there are in *count. Uses opendir (which allocates): not while
 * "blocked". */
static long purger(int *count) {
  char path[96], comm[64];
  long tid = 0;
  *count = 0;
  DIR *d = opendir("/proc/self/task");
  if (d == NULL) return 0;
  struct dirent *e;
  while ((e = readdir(d)) != NULL) {
    if (e->d_name[0] == '.') continue;
    snprintf(path, sizeof path, "/proc/self/task/%s/comm", e->d_name);
    if (read_proc(path, comm, sizeof comm) > 0 && strncmp(comm, "lemmalloc-bg", 12) == 0) {
      tid = atol(e->d_name);
      ++*count;
    }
  }
  closedir(d);
  return tid;
}

static int tasks(void) {
  int n = 0;
  DIR *d = opendir("/proc/self/task");
  if (d == NULL) return -1;
  struct dirent *e;
  while ((e = readdir(d)) != NULL) n += e->d_name[0] != '.';
  closedir(d);
  return n;
}

/* Context switches of thread tid so far (it wakes up once per switch). */
static long switches(long tid) {
  char path[96], b[4096];
  snprintf(path, sizeof path, "/proc/self/task/%ld/status", tid);
  if (read_proc(path, b, sizeof b) <= 0) return -1;
  const char *v = strstr(b, "voluntary_ctxt_switches:");
  const char *nv = strstr(b, "nonvoluntary_ctxt_switches:");
  return v && nv ? atol(v + 24) + atol(nv + 27) : -1;
}

static pthread_barrier_t burst_done, release;

/* A burst: small blocks of many classes and large blocks, written, then
 * every one freed; then block until released. */
static void *worker(void *arg) {
  uint64_t x = (uint64_t)(uintptr_t)arg * 0x9e3779b97f4a7c15u + 1;
  enum { MAX = 20000 };
  static __thread void *blk[MAX];
  size_t n = 0, bytes = 0;
  while (bytes < PER_THREAD && n < MAX) {
    x ^= x << 13, x ^= x >> 7, x ^= x << 17;
    size_t size = x % 8 == 0 ? 16384 + x % (512 << 10) : 16 + x % 4000;
    blk[n] = malloc(size);
    if (blk[n] == NULL) break;
    memset(blk[n++], 0x5a, size);
    bytes += size;
  }
  for (size_t i = 0; i < n; i++) free(blk[i]);
  pthread_barrier_wait(&burst_done);
  pthread_barrier_wait(&release);
  return NULL;
}

int main(int argc, char **argv) {
  bool on = argc < 2 || strcmp(argv[1], "off") != 0;
  lt_init("memory");

  TEST("a single-threaded program gets no purger thread") {
    for (int i = 0; i < 1000; i++) free(malloc(100 + (size_t)i * 997 % 300000));
    int n;
    purger(&n);
    CHECKF(tasks() == 1 && n == 0, "%d threads, %d purgers in a program that started none", tasks(), n);
  }

  long base = rss_kib();
  pthread_t t[THREADS];
  pthread_barrier_init(&burst_done, NULL, THREADS + 1);
  pthread_barrier_init(&release, NULL, THREADS + 1);
  for (long i = 0; i < THREADS; i++) CHECK(pthread_create(&t[i], NULL, worker, (void *)(i + 1)) == 0);
  pthread_barrier_wait(&burst_done);
  int count;
  long tid = purger(&count);
  long peak = rss_kib(), freed = peak - base;

  if (on) {
    TEST("a multi-threaded program runs one purger") {
      CHECKF(count == 1, "%d threads named lemmalloc-bg", count);
    }
    /* Everything is blocked now: the workers on a barrier, this thread in
     * nanosleep and read(2). Only the purger can give pages back. */
    TEST("threads that burst and all block: what they freed goes back with no call") {
      CHECKF(freed > (long)(THREADS * PER_THREAD / 1024 / 4), "the burst left only %ld KiB resident: "
             "the test does not exercise the purge", freed);
      double t0 = now_s();
      long rss = peak;
      while (now_s() - t0 < 5.0 && (rss = rss_kib()) > base + freed / 8) sleep_ms(20);
      printf("# RSS %ld KiB at the start, %ld after the burst, %ld after %.2f s blocked\n", base, peak, rss,
             now_s() - t0);
      CHECKF(rss <= base + freed / 8, "RSS %ld KiB after %.1f s of idle (was %ld at the start, %ld after the "
             "burst)", rss, now_s() - t0, base, peak);
    }
    TEST("with nothing left to give back, the purger sleeps") {
      double t0 = now_s();
      long s0 = switches(tid), s1 = s0;
      /* settled within a few decay periods (the idle threads' slabs are
       * taken back first, then their pages): then no more wake-ups */
      while (now_s() - t0 < 5.0) {
        s0 = switches(tid);
        sleep_ms(500);
        if ((s1 = switches(tid)) - s0 <= 1) break;
      }
      printf("# purger asleep after %.2f s\n", now_s() - t0);
      CHECKF(s0 >= 0 && s1 - s0 <= 1, "the purger woke %ld times in 0.5 s with nothing to do", s1 - s0);
    }
  } else {
    TEST("LEMMALLOC_BACKGROUND=0: no purger, and idle threads keep their pages") {
      CHECKF(count == 0, "%d threads named lemmalloc-bg", count);
      sleep_ms(1000); /* ten decay periods */
      long rss = rss_kib();
      CHECKF(rss > base + freed / 2, "RSS went from %ld to %ld KiB with no call and no purger: the test above "
             "could pass without it", peak, rss);
    }
  }
  pthread_barrier_wait(&release);
  for (int i = 0; i < THREADS; i++) pthread_join(t[i], NULL);

  if (on) {
    TEST("a fork child starts its own purger once it runs a second thread") {
      fflush(stdout);
      pid_t pid = fork();
      if (pid == 0) {
        lt_forked();
        int n0, n1;
        purger(&n0);
        pthread_t c;
        pthread_barrier_init(&burst_done, NULL, 2);
        pthread_barrier_init(&release, NULL, 2);
        if (pthread_create(&c, NULL, worker, (void *)99) != 0) _exit(3);
        pthread_barrier_wait(&burst_done);
        purger(&n1);
        pthread_barrier_wait(&release);
        pthread_join(c, NULL);
        _exit(n0 == 0 && n1 == 1 ? 0 : 10 + n0 * 4 + n1);
      }
      int st = 0;
      CHECK(pid > 0 && waitpid(pid, &st, 0) == pid);
      CHECKF(WIFEXITED(st) && WEXITSTATUS(st) == 0, "child status %d (10 + 4 x purgers after the fork + 1 x "
             "purgers after its thread's first malloc)", st);
    }
  }
  return lt_done();
}
