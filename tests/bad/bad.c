/* Bad input: double frees (also of a block in another live thread's cache),
 * interior, never-allocated, stack and foreign pointers, realloc of a freed
 * block. Each case runs in a child (this program re-executed with
 * `case NAME`) so that LEMMALLOC_ON_ERROR is read at start-up:
 *   default  the child must die of SIGABRT after exactly one stderr line that
 *            says "lemmalloc", names the problem and prints the pointer;
 *   warn     the child must print that one line, carry on, and find the heap
 *            intact: no block handed out twice, contents kept, the victim
 *            block (if live) still freeable without a word.
 * Run it with lemmalloc preloaded; on glibc every case fails (wrong text). */
#include "../lib/test.h"
#include <ctype.h>
#include <malloc.h>
#include <pthread.h>
#include <stdint.h>
#include <sys/mman.h>
#include <sys/wait.h>

#if defined(__GNUC__) && !defined(__clang__) && __GNUC__ >= 11
#pragma GCC diagnostic ignored "-Wfree-nonheap-object"
#endif
#if defined(__GNUC__) && !defined(__clang__) && __GNUC__ >= 12
#pragma GCC diagnostic ignored "-Wuse-after-free"
#endif

#define KiB ((size_t)1 << 10)
#define MiB ((size_t)1 << 20)

/* The block a case attacks, and whether it is still live after the attack. */
static char *victim;
static size_t victim_size;
static void *bad_ptr;

static void report(void *p) { /* the pointer the message must name, for the parent */
  printf("PTR %p\n", p);
  fflush(stdout);
}
static char *live(size_t n) {
  victim = malloc(n); victim_size = n;
  if (victim) memset(victim, 0x5c, n);
  return victim;
}
static void *freed(size_t n) {
  void *p = malloc(n);
  free(p);
  return p;
}

/* Map n bytes at p if that range is free, else anywhere. */
static char *map_over(void *p, size_t n) {
  char *m = mmap(p, n, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
  if (m == MAP_FAILED) m = mmap(NULL, n, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  return m;
}

static void *thread_free(void *p) { free(p); return NULL; }

/* Frees its block, then stays alive (its cache holding the block) until the
 * main thread has made the second free. */
static pthread_mutex_t hold = PTHREAD_MUTEX_INITIALIZER;
static pthread_barrier_t freed_it;
static void *thread_free_and_hold(void *p) {
  free(p);
  pthread_barrier_wait(&freed_it);
  pthread_mutex_lock(&hold);
  pthread_mutex_unlock(&hold);
  return NULL;
}

/* Each case does its setup, reports the pointer, then makes the bad call.
 * stdout's buffer is allocated first: allocated later, it could reuse the
 * block a case just freed, and the "double" free would be a valid one. */
static void run_case(const char *c) {
  printf("case %s\n", c);
  fflush(stdout);
  if (!strcmp(c, "double-free-small")) {
    void *p = freed(64);
    report(p); free(p);
  } else if (!strcmp(c, "double-free-small-later")) {
    void *p = freed(64), *q = malloc(200);
    free(q);
    report(p); free(p);
  } else if (!strcmp(c, "double-free-large")) {
    void *p = freed(100 * KiB);
    report(p); free(p);
  } else if (!strcmp(c, "double-free-huge")) {
    void *p = freed(9 * MiB);
    report(p); free(p);
  } else if (!strcmp(c, "double-free-aligned")) {
    void *p = memalign(4096, 3000);
    free(p);
    report(p); free(p);
  } else if (!strcmp(c, "double-free-other-thread")) {
    void *p = malloc(48);
    pthread_t t;
    pthread_create(&t, NULL, thread_free, p);
    pthread_join(t, NULL);
    report(p); free(p);
  } else if (!strcmp(c, "double-free-in-live-thread-cache")) {
    void *p = malloc(48);
    pthread_t t;
    pthread_mutex_lock(&hold);
    pthread_barrier_init(&freed_it, NULL, 2);
    pthread_create(&t, NULL, thread_free_and_hold, p);
    pthread_barrier_wait(&freed_it);
    report(p); free(p);
    pthread_mutex_unlock(&hold);
    pthread_join(t, NULL);
  } else if (!strcmp(c, "realloc-in-live-thread-cache")) {
    void *p = malloc(48);
    pthread_t t;
    pthread_mutex_lock(&hold);
    pthread_barrier_init(&freed_it, NULL, 2);
    pthread_create(&t, NULL, thread_free_and_hold, p);
    pthread_barrier_wait(&freed_it);
    report(p);
    bad_ptr = realloc(p, 100);
    pthread_mutex_unlock(&hold);
    pthread_join(t, NULL);
  } else if (!strcmp(c, "never-allocated-slot")) {
    /* A slot further along the same slab, never handed out (or sitting in
     * this thread's cache after a refill). */
    char *p = live(64) + 64 * 40;
    report(p); free(p);
  } else if (!strcmp(c, "interior-of-freed-large")) {
    char *p = freed(100 * KiB);
    report(p + 8192); free(p + 8192);
  } else if (!strcmp(c, "interior-small")) {
    char *p = live(64) + 16;
    report(p); free(p);
  } else if (!strcmp(c, "interior-small-odd")) {
    char *p = live(100) + 8;
    report(p); free(p);
  } else if (!strcmp(c, "interior-large")) {
    char *p = live(100 * KiB) + 4096;
    report(p); free(p);
  } else if (!strcmp(c, "interior-huge")) {
    char *p = live(9 * MiB) + 1 * MiB;
    report(p); free(p);
  } else if (!strcmp(c, "stack")) {
    char buf[64];
    memset(buf, 1, sizeof buf);
    report(buf + 16); free(buf + 16);
  } else if (!strcmp(c, "static")) {
    static char data[256];
    report(data + 32); free(data + 32);
  } else if (!strcmp(c, "mmap")) {
    char *m = mmap(NULL, 1 * MiB, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    report(m + 64); free(m + 64);
  } else if (!strcmp(c, "mmap-chunk-aligned")) {
    /* Foreign memory that looks like a chunk: 4 MiB aligned, zero-filled.
     * Metadata read from there must not be trusted. */
    char *m = mmap(NULL, 12 * MiB, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    char *a = (char *)(((uintptr_t)m + 4 * MiB - 1) & ~(uintptr_t)(4 * MiB - 1));
    report(a + 64 * KiB); free(a + 64 * KiB);
  } else if (!strcmp(c, "stale-huge-range")) {
    /* A huge block's range, unmapped by free (no huge cache), now mapped by
     * someone else: the registry must have forgotten it. */
    char *p = freed(9 * MiB);
    char *m = map_over(p, 9 * MiB);
    report(m + 64); free(m + 64);
  } else if (!strcmp(c, "stale-chunk-range")) {
    /* The same for a chunk that a trim gave back to the kernel. */
    enum { N = 64 };
    char *p[N], *m = NULL;
    for (int i = 0; i < N; i++) p[i] = malloc(1 * MiB);
    for (int i = 0; i < N; i++) free(p[i]);
    malloc_trim(0);
    for (int i = 0; i < N && !m; i++) {
      char *base = (char *)((uintptr_t)p[i] & ~(uintptr_t)(4 * MiB - 1));
      m = mmap(base, 4 * MiB, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
      if (m == MAP_FAILED) m = NULL;
      else if (m != base) { munmap(m, 4 * MiB); m = NULL; }
    }
    if (!m) m = map_over(p[0], 4 * MiB); /* nothing given back: a plain foreign pointer */
    report(m + 64 * KiB); free(m + 64 * KiB);
  } else if (!strcmp(c, "glibc-block")) {
    /* glibc's own malloc, looked up in libc.so.6 alone: RTLD_DEFAULT would
     * find the preloaded library's malloc (and its __libc_malloc) first. */
    void *libc = dlopen("libc.so.6", RTLD_LAZY | RTLD_NOLOAD);
    void *(*libc_malloc)(size_t) = libc ? (void *(*)(size_t))dlsym(libc, "malloc") : NULL;
    void *p = libc_malloc ? libc_malloc(100) : NULL;
    report(p); free(p);
  } else if (!strcmp(c, "realloc-freed")) {
    void *p = freed(64);
    report(p);
    void *q = realloc(p, 128);
    bad_ptr = q; /* warn mode: whatever came back must not alias a live block */
  } else if (!strcmp(c, "realloc-interior")) {
    char *p = live(300) + 32;
    report(p);
    bad_ptr = realloc(p, 1000);
  } else {
    printf("unknown case %s\n", c);
    exit(2);
  }
}

/* Warn mode, after the bad call: the heap must be whole. Allocate many blocks
 * of the attacked sizes; none may be handed out twice or overlap another,
 * and each must keep its fill; then free the victim normally. A block holds
 * its size, then a fill byte derived from its address. */
static int ptrcmp(const void *a, const void *b) {
  uintptr_t x = *(const uintptr_t *)a, y = *(const uintptr_t *)b;
  return x < y ? -1 : x > y;
}
static uint8_t fill_of(uintptr_t b) { return (uint8_t)(b >> 4 ^ 0xa5); }
static int heap_intact(void) {
  enum { N = 3000 };
  static const size_t ns[] = { 48, 64, 100, 200, 300, 3000, 100 * KiB };
  static uintptr_t p[N * 2];
  size_t n = 0;
  int ok = 1;
  for (size_t k = 0; k < sizeof ns / sizeof ns[0]; k++) {
    size_t count = ns[k] > 16 * KiB ? 40 : N / 7;
    for (size_t i = 0; i < count; i++) {
      char *b = malloc(ns[k]);
      if (!b) { printf("malloc(%zu) failed\n", ns[k]); return 0; }
      memcpy(b, &ns[k], sizeof(size_t));
      memset(b + sizeof(size_t), fill_of((uintptr_t)b), ns[k] - sizeof(size_t));
      p[n++] = (uintptr_t)b;
    }
  }
  /* A block realloc returned after the bad call takes part in the overlap check too. */
  if (bad_ptr) p[n++] = (uintptr_t)bad_ptr;
  qsort(p, n, sizeof p[0], ptrcmp);
  for (size_t i = 0; i < n; i++) {
    if (p[i] == (uintptr_t)bad_ptr) continue;
    size_t size;
    const uint8_t *b = (const uint8_t *)p[i];
    memcpy(&size, b, sizeof size);
    if (i + 1 < n && p[i + 1] == p[i]) { printf("block %#lx handed out twice\n", (unsigned long)p[i]); ok = 0; }
    else if (i + 1 < n && p[i] + size > p[i + 1]) { printf("blocks %#lx and %#lx overlap\n", (unsigned long)p[i], (unsigned long)p[i + 1]); ok = 0; }
    for (size_t j = sizeof size; j < size; j++)
      if (b[j] != fill_of(p[i])) { printf("block %#lx changed at byte %zu\n", (unsigned long)p[i], j); ok = 0; break; }
  }
  for (size_t i = 0; i < n; i++) if (p[i] != (uintptr_t)bad_ptr) free((void *)p[i]);
  if (victim) {
    for (size_t i = 0; i < victim_size; i++)
      if ((uint8_t)victim[i] != 0x5c) { printf("victim block changed at byte %zu\n", i); ok = 0; break; }
    free(victim); /* a valid free: must pass silently */
  }
  return ok;
}

struct expect { const char *name; const char *words[3]; };
static const struct expect cases[] = {
  { "double-free-small", { "double free" } },
  { "double-free-small-later", { "double free" } },
  { "double-free-large", { "double free" } },
  { "double-free-huge", { "double free", "invalid" } }, /* unmapped by the first free */
  { "double-free-aligned", { "double free" } },
  { "double-free-other-thread", { "double free" } },
  { "double-free-in-live-thread-cache", { "double free" } },
  { "realloc-in-live-thread-cache", { "double free", "invalid", "freed" } },
  { "never-allocated-slot", { "double free", "invalid" } },
  { "interior-of-freed-large", { "interior", "invalid", "double free" } },
  { "interior-small", { "interior", "invalid" } },
  { "interior-small-odd", { "interior", "invalid" } },
  { "interior-large", { "interior", "invalid" } },
  { "interior-huge", { "interior", "invalid" } },
  { "stack", { "invalid" } },
  { "static", { "invalid" } },
  { "mmap", { "invalid" } },
  { "mmap-chunk-aligned", { "invalid" } },
  { "stale-huge-range", { "invalid" } }, /* run with LEMMALLOC_HUGE_CACHE=0 */
  { "stale-chunk-range", { "invalid" } },
  { "glibc-block", { "invalid" } },
  { "realloc-freed", { "double free", "invalid", "freed" } },
  { "realloc-interior", { "interior", "invalid" } },
};

static char *slurp(const char *path) {
  static char buf[2][8192];
  static int which;
  char *b = buf[which ^= 1];
  FILE *f = fopen(path, "r");
  size_t n = f ? fread(b, 1, sizeof buf[0] - 1, f) : 0;
  if (f) fclose(f);
  b[n] = 0;
  return b;
}

/* stderr as one line for a FAIL detail. */
static const char *oneline(const char *s) {
  static char b[600];
  size_t n = 0;
  for (; *s && n < sizeof b - 3; s++) {
    if (*s == '\n') { b[n++] = '\\'; b[n++] = 'n'; } else b[n++] = *s;
  }
  b[n] = 0;
  return b;
}

static int count_lines(const char *s) {
  int n = 0;
  for (; *s; s++) n += *s == '\n';
  return n;
}

/* Run one case in a child and judge it. */
static void judge(const struct expect *e, int warn) {
  char name[128], out[] = "/tmp/lemmalloc-bad-out-XXXXXX", err[] = "/tmp/lemmalloc-bad-err-XXXXXX";
  snprintf(name, sizeof name, "%s %s", e->name, warn ? "warns and carries on" : "aborts");
  int fo = mkstemp(out), fe = mkstemp(err);
  fflush(stdout);
  pid_t pid = fork();
  if (pid == 0) {
    dup2(fo, 1); dup2(fe, 2);
    if (warn) setenv("LEMMALLOC_ON_ERROR", "warn", 1); else unsetenv("LEMMALLOC_ON_ERROR");
    if (!strcmp(e->name, "stale-huge-range")) setenv("LEMMALLOC_HUGE_CACHE", "0", 1); /* unmap at free */
    unsetenv("LEMMALLOC_STATS");
    alarm(20);
    execl("/proc/self/exe", "bad", "case", e->name, (char *)NULL);
    _exit(127);
  }
  int st = 0;
  waitpid(pid, &st, 0);
  close(fo); close(fe);
  char *so = slurp(out), *se = slurp(err);
  unlink(out); unlink(err);

  TEST(name) {
    void *p = NULL;
    char *line = strstr(so, "PTR ");
    CHECKF(line && sscanf(line, "PTR %p", &p) == 1, "the case did not get to the bad call; stdout: %s", oneline(so));
    char hex[32], low[8192];
    snprintf(hex, sizeof hex, "%lx", (unsigned long)(uintptr_t)p);
    size_t i;
    for (i = 0; se[i] && i < sizeof low - 1; i++) low[i] = (char)tolower((unsigned char)se[i]);
    low[i] = 0;
    int named = 0;
    for (int w = 0; w < 3 && e->words[w]; w++) named |= strstr(low, e->words[w]) != NULL;
    CHECKF(count_lines(se) == 1, "want exactly one line on stderr, got: %s", oneline(se));
    CHECKF(strstr(low, "lemmalloc") && named && strstr(low, hex), "message must say lemmalloc, %s..., and %s; got: %s", e->words[0], hex, oneline(se));
    if (warn) {
      CHECKF(WIFEXITED(st) && WEXITSTATUS(st) == 0, "status %#x", st);
      CHECKF(strstr(so, "heap intact") != NULL, "stdout: %s", oneline(so));
    } else {
      CHECKF(WIFSIGNALED(st) && WTERMSIG(st) == SIGABRT, "want SIGABRT, got status %#x (%s)",
             st, WIFSIGNALED(st) ? strsignal(WTERMSIG(st)) : "exited");
    }
  }
}

int main(int argc, char **argv) {
  if (argc == 3 && !strcmp(argv[1], "case")) {
    run_case(argv[2]);
    printf("%s\n", heap_intact() ? "heap intact" : "heap damaged");
    return 0;
  }
  lt_init("bad");
  for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
    judge(&cases[k], 0);
    judge(&cases[k], 1);
  }
  return lt_done();
}
