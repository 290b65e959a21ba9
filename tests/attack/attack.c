/* Attacks on the free lists (issue 16), judged from outside the allocator.
 *
 *   attack CASE SIZE SEED [ITERATIONS]
 *
 * Each case is what an attacker with a use-after-free can do against any
 * malloc: call malloc and free, read freed or fresh (uninitialised) memory,
 * write into freed memory. What to read and write is chosen knowing how
 * lemmalloc's thread cache lays out its lists today (word 0 of a cached
 * slot = next ^ key, word 1 = key, one key per process), but the judgement
 * uses nothing of lemmalloc: every pointer malloc returns is checked before
 * the program touches it, so the same test judges any allocator.
 *
 * A returned block is bad if it is NULL or misaligned, overlaps a block
 * this program holds live (the same address: handed out twice), lies in a
 * global or on a stack (any loaded object's segments, [stack], the
 * attacker's targets, the workers' stacks) or is not inside one writable
 * anonymous mapping (heap memory is mmap'ed or brk'ed). Live blocks are
 * filled as programs fill theirs (every 16-byte-aligned word a heap
 * pointer, the rest a pattern) and checked before each free and after each
 * round. After the attack the program allocates on, in batches (several
 * mallocs, then the fills), of the attacked size and others, checks
 * everything, frees, and allocates again. The case `control` makes no
 * attack: on any sound malloc it ends "HEAP CORRECT".
 *
 * Output (stdout), read by run.sh:
 *   ALLOC <who serves malloc>
 *   LEAK / WRITE / INFO ...      what the attacker learned and wrote
 *   BROKEN <what>                malloc handed out a bad block (exit 1)
 *   CRASH sig=.. addr=.. obj=.. off=.. sym=.. call=.. thread=.. phase=..
 *                                a fatal signal, where (run.sh names it)
 *   HEAP CORRECT ...             nothing bad was handed out (exit 0)
 * An allocator that detects the attack aborts (SIGABRT) and says why on
 * stderr; run.sh judges that. Core dumps are off (the crashes are wanted). */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <fcntl.h>
#include <link.h>
#include <limits.h>
#include <linux/futex.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <time.h>
#include <ucontext.h>
#include <unistd.h>

#if defined(__GNUC__) && !defined(__clang__) && __GNUC__ >= 12
#pragma GCC diagnostic ignored "-Wuse-after-free"
#endif

/* ---- output without malloc (stdio would allocate its buffer) ---- */

static void say(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void say(const char *fmt, ...) {
  char b[768];
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(b, sizeof b, fmt, ap);
  va_end(ap);
  if (n < 0) return;
  if ((size_t)n >= sizeof b) n = sizeof b - 1;
  ssize_t r = write(1, b, (size_t)n);
  (void)r;
}

static uint64_t rng_state;
static uint64_t rnd(void) { /* xorshift64* */
  rng_state ^= rng_state >> 12;
  rng_state ^= rng_state << 25;
  rng_state ^= rng_state >> 27;
  return rng_state * 0x2545f4914f6cdd1dull;
}

/* ---- calls into the allocator, marked for the crash report ---- */

static __thread const char *volatile in_call; /* "malloc()", "free()" or NULL */
static __thread const char *who = "main";     /* this thread, for the crash report */
static unsigned long nmalloc, mark;           /* mallocs so far; at the attacker's write */
static const char *phase = "start";

static void *call_malloc(size_t n) {
  in_call = "malloc()";
  void *p = malloc(n);
  in_call = NULL;
  return p;
}
static void call_free(void *p) {
  in_call = "free()";
  free(p);
  in_call = NULL;
}

static void on_crash(int sig, siginfo_t *si, void *ctx) {
  uintptr_t pc = 0;
#if defined(__x86_64__)
  pc = (uintptr_t)((ucontext_t *)ctx)->uc_mcontext.gregs[REG_RIP];
#elif defined(__aarch64__)
  pc = (uintptr_t)((ucontext_t *)ctx)->uc_mcontext.pc;
#else
  (void)ctx;
#endif
  Dl_info d;
  const char *obj = "?", *sym = "?";
  uintptr_t off = pc;
  if (pc && dladdr((void *)pc, &d)) {
    if (d.dli_fname) obj = d.dli_fname;
    off = pc - (uintptr_t)d.dli_fbase;
    if (d.dli_sname) sym = d.dli_sname;
  }
  const char *call = in_call;
  say("CRASH sig=%s addr=%#lx obj=%s off=%#lx sym=%s call=%s thread=%s phase=%s\n", sigabbrev_np(sig),
      (unsigned long)(uintptr_t)si->si_addr, obj, (unsigned long)off, sym, call ? call : "none", who, phase);
  signal(sig, SIG_DFL);
  raise(sig);
}

/* ---- what is not heap memory ---- */

struct range { uintptr_t lo, hi; char what[112]; };
static struct range banned[256];
static int nbanned;
static pthread_mutex_t ban_lock = PTHREAD_MUTEX_INITIALIZER;

static void ban(uintptr_t lo, uintptr_t hi, const char *what) {
  pthread_mutex_lock(&ban_lock);
  if (nbanned < (int)(sizeof banned / sizeof banned[0])) {
    banned[nbanned].lo = lo;
    banned[nbanned].hi = hi;
    snprintf(banned[nbanned].what, sizeof banned[0].what, "%s", what);
    nbanned++;
  }
  pthread_mutex_unlock(&ban_lock);
}

static int ban_object(struct dl_phdr_info *info, size_t size, void *arg) {
  (void)size, (void)arg;
  const char *name = info->dlpi_name && *info->dlpi_name ? info->dlpi_name : "the test program";
  const char *slash = strrchr(name, '/');
  char what[112];
  snprintf(what, sizeof what, "the static data of %s", slash ? slash + 1 : name);
  for (int i = 0; i < info->dlpi_phnum; i++) {
    const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
    if (ph->p_type != PT_LOAD) continue;
    uintptr_t lo = info->dlpi_addr + ph->p_vaddr;
    ban(lo, lo + ph->p_memsz, what);
  }
  return 0;
}

/* /proc/self/maps read with plain syscalls into a static buffer. */
static char maps[1 << 18];
static size_t read_maps(void) {
  int fd = open("/proc/self/maps", O_RDONLY);
  size_t n = 0;
  if (fd < 0) return 0;
  for (ssize_t r; n < sizeof maps - 1 && (r = read(fd, maps + n, sizeof maps - 1 - n)) > 0;) n += (size_t)r;
  close(fd);
  maps[n] = 0;
  return n;
}

/* Is [a, a+n) inside one writable anonymous (or [heap]) mapping? NULL if
 * so, else what it is. */
static const char *mapping_of(uintptr_t a, size_t n, char *why, size_t len) {
  read_maps();
  for (char *line = maps; *line;) {
    char *end = strchr(line, '\n');
    if (end) *end = 0;
    char *s = line;
    uintptr_t lo = strtoul(s, &s, 16), hi = strtoul(s + 1, &s, 16);
    if (a >= lo && a < hi) {
      char perms[5] = {0};
      memcpy(perms, s + 1, 4);
      const char *path = s + 6;
      for (int field = 0; field < 3 && *path; field++) { /* offset, device, inode */
        while (*path == ' ') path++;
        while (*path && *path != ' ') path++;
      }
      while (*path == ' ') path++;
      if (perms[0] != 'r' || perms[1] != 'w')
        snprintf(why, len, "%#lx lies in a %s mapping (%s)", (unsigned long)a, perms, *path ? path : "anonymous");
      else if (*path && strcmp(path, "[heap]") != 0)
        snprintf(why, len, "%#lx lies in %s", (unsigned long)a, path);
      else if (a + n > hi)
        snprintf(why, len, "%#lx + %zu runs past the end of its mapping at %#lx", (unsigned long)a, n, (unsigned long)hi);
      else
        return NULL;
      return why;
    }
    if (!end) break;
    line = end + 1;
  }
  snprintf(why, len, "%#lx is not mapped", (unsigned long)a);
  return why;
}

/* ---- blocks held live, each with a pattern ---- */

struct blk {
  uintptr_t p;
  size_t n;
  unsigned long tag;
  size_t hole_lo, hole_hi; /* bytes the program itself rewrote: not checked */
  int filled;
};
static struct blk live[2048];
static size_t nlive;

/* A block's contents as programs fill theirs: every 16-byte-aligned word
 * a heap pointer (here into the block itself: unique to the block), the
 * other bytes a pattern of its tag. */
static uint8_t expect(const struct blk *b, size_t j) {
  size_t w = j & ~(size_t)15;
  if (j - w < 8 && w + 8 <= b->n) {
    uintptr_t ptr = b->p + w;
    return ((const uint8_t *)&ptr)[j - w];
  }
  return (uint8_t)(b->tag * 167u + j * 13u + 1u);
}

/* What is wrong with block [a, a+n) just returned by malloc, or NULL. */
static const char *bad_block(uintptr_t a, size_t n, char *why, size_t len) {
  if (a == 0) return snprintf(why, len, "malloc returned NULL"), why;
  if (a & 15) return snprintf(why, len, "%#lx is not 16-byte aligned", (unsigned long)a), why;
  for (size_t i = 0; i < nlive; i++) {
    const struct blk *b = &live[i];
    if (a < b->p + b->n && b->p < a + n) {
      if (a == b->p)
        snprintf(why, len, "the same block %#lx handed out twice (still live since malloc #%lu)", (unsigned long)a, b->tag);
      else
        snprintf(why, len, "%#lx overlaps live block %#lx (%zu B, malloc #%lu)", (unsigned long)a,
                 (unsigned long)b->p, b->n, b->tag);
      return why;
    }
  }
  for (int i = 0; i < nbanned; i++)
    if (a < banned[i].hi && banned[i].lo < a + n)
      return snprintf(why, len, "%#lx lies in %s", (unsigned long)a, banned[i].what), why;
  return mapping_of(a, n, why, len);
}

static void broken(const char *what) {
  if (mark)
    say("BROKEN %s: %s (malloc #%lu after the attacker's write)\n", phase, what, nmalloc - mark);
  else
    say("BROKEN %s: %s\n", phase, what);
  _exit(1);
}

/* malloc, and stop at once if the block is bad (before touching it). */
static void *take(size_t n) {
  char why[400];
  void *p = call_malloc(n);
  nmalloc++;
  if (bad_block((uintptr_t)p, n, why, sizeof why)) broken(why);
  return p;
}

/* Hold block p live (later blocks must not overlap it); fill it with its
 * pattern now or, for blocks taken in a batch, after the batch. */
static struct blk *hold(void *p, size_t n) {
  if (nlive == sizeof live / sizeof live[0]) broken("test bug: too many live blocks");
  struct blk *b = &live[nlive++];
  memset(b, 0, sizeof *b);
  b->p = (uintptr_t)p;
  b->n = n;
  b->tag = nmalloc;
  return b;
}
static void fill(struct blk *b) {
  for (size_t j = 0; j < b->n; j++) ((uint8_t *)b->p)[j] = expect(b, j);
  b->filled = 1;
}
static void keep(void *p, size_t n) { fill(hold(p, n)); }
/* k mallocs of n bytes, then k fills: the way a program builds a structure. */
static void take_batch(size_t n, int k) {
  size_t first = nlive;
  for (int i = 0; i < k; i++) {
    size_t s = n ? n : 16 + rnd() % 3000;
    hold(take(s), s);
  }
  for (size_t i = first; i < nlive; i++) fill(&live[i]);
}
static void *take_keep(size_t n) {
  void *p = take(n);
  keep(p, n);
  return p;
}

static void verify(const struct blk *b) {
  if (!b->filled) return;
  for (size_t j = 0; j < b->n; j++)
    if ((j < b->hole_lo || j >= b->hole_hi) && ((const uint8_t *)b->p)[j] != expect(b, j)) {
      char why[200];
      snprintf(why, sizeof why, "live block %#lx (%zu B, malloc #%lu) changed at byte %zu", (unsigned long)b->p, b->n,
               b->tag, j);
      broken(why);
    }
}
static void verify_all(void) {
  for (size_t i = 0; i < nlive; i++) verify(&live[i]);
}

/* Stop holding live block i (pattern checked); free it unless told not to. */
static void release(size_t i, int do_free) {
  struct blk b = live[i];
  verify(&b);
  live[i] = live[--nlive];
  if (do_free) call_free((void *)b.p);
}
static void drop(void *p) {
  for (size_t i = 0; i < nlive; i++)
    if (live[i].p == (uintptr_t)p) {
      release(i, 1);
      return;
    }
  broken("test bug: dropping a block not held");
}

/* ---- the attacks' building blocks ---- */

/* Different heap states per seed: blocks of the attacked size and others,
 * about half of them freed again. */
static void warm_up(size_t n) {
  phase = "warm-up";
  void *p[64];
  int k = (int)(rnd() % 48) + 8;
  for (int i = 0; i < k; i++) {
    size_t s = rnd() % 4 == 0 ? 16 + rnd() % 2000 : n;
    p[i] = take_keep(s);
  }
  for (int i = 0; i < k; i++)
    if (rnd() & 1) drop(p[i]);
}

/* Learn the key from uninitialised memory: blocks freed and allocated
 * again keep word 0 = next ^ key, and the next block is the next one
 * malloc returns. Take the value most pairs agree on (at least two);
 * none: 0, plain pointers. */
static uintptr_t leak_key_fresh(size_t n) {
  enum { K = 16 };
  void *b[K];
  uintptr_t w[K], cand[K - 1];
  phase = "leak";
  for (int i = 0; i < K; i++) b[i] = take_keep(n);
  for (int i = 0; i < K; i++) drop(b[i]);
  for (int i = 0; i < K; i++) {
    b[i] = take(n);
    w[i] = ((volatile uintptr_t *)b[i])[0]; /* read before writing: uninitialised */
    keep(b[i], n);
  }
  int best = 0;
  uintptr_t key = 0;
  for (int i = 0; i + 1 < K; i++) cand[i] = w[i] ^ (uintptr_t)b[i + 1];
  for (int i = 0; i + 1 < K; i++) {
    int agree = 0;
    for (int j = 0; j + 1 < K; j++) agree += cand[j] == cand[i];
    if (agree > best) best = agree, key = cand[i];
  }
  if (best < 2) {
    say("LEAK none: no two of %d fresh pairs agree; writing plain pointers\n", K - 1);
    return 0;
  }
  say("LEAK key %#lx: word 0 of a fresh block xor the next block, %d of %d pairs agree\n", (unsigned long)key,
      best, K - 1);
  return key;
}

/* Two blocks freed, c last: c is the first a LIFO cache hands out again. */
static uintptr_t *freed_pair(size_t n) {
  void *x = take_keep(n), *c = take_keep(n);
  drop(x);
  drop(c);
  return c;
}

/* ---- the cases ---- */

static _Alignas(64) unsigned char target_global[512];

/* Leak the key (from fresh blocks or from a freed block's word 1), then
 * one use-after-free write of target ^ key into word 0 of the block freed
 * last. The attacker also writes key into the target's word 0 (decoded
 * next = NULL), so that a list that follows it ends there cleanly. */
static void key_poison(size_t n, int from_freed, const char *target_name, unsigned char *stack_buf) {
  uintptr_t key = 0, target = 0;
  unsigned char *l = NULL;
  if (!from_freed) key = leak_key_fresh(n);
  phase = "attack";
  if (!strcmp(target_name, "interior")) {
    /* inside a live block of ours, whose bytes the attacker controls
     * (taken first: of the attacked size, it would be the freed block) */
    l = take_keep(256);
    live[nlive - 1].hole_lo = 128;
    live[nlive - 1].hole_hi = 144;
  }
  uintptr_t *c = freed_pair(n);
  if (from_freed) {
    key = ((volatile uintptr_t *)c)[1];
    say("LEAK key %#lx: word 1 of a freed block\n", (unsigned long)key);
  }
  if (!strcmp(target_name, "global")) {
    target = (uintptr_t)target_global + 64;
    ban((uintptr_t)target_global, (uintptr_t)target_global + sizeof target_global, "target_global, a global variable");
  } else if (!strcmp(target_name, "stack")) {
    target = (uintptr_t)stack_buf + 64;
    ban((uintptr_t)stack_buf, (uintptr_t)stack_buf + 512, "a buffer on main()'s stack");
  } else {
    target = (uintptr_t)l + 128;
  }
  ((volatile uintptr_t *)target)[0] = key;
  ((volatile uintptr_t *)target)[1] = 0;
  ((volatile uintptr_t *)c)[0] = target ^ key;
  mark = nmalloc;
  say("WRITE word 0 of freed block %p = %#lx ^ key (target %s)\n", (void *)c, (unsigned long)target, target_name);
}

/* Writes the link check cannot tell from a valid link. A NUL byte moves
 * the link by less than 256 bytes, often onto a slot still in the list,
 * which does no harm: the attacker tries four times, with allocations
 * (checked) in between. */
static void weak_link(size_t n, const char *how) {
  phase = "attack";
  if (!strcmp(how, "zero")) {
    uintptr_t *c = freed_pair(n);
    memset((void *)c, 0, n);
    say("WRITE the whole freed block %p = 0\n", (void *)c);
  } else if (!strcmp(how, "nul")) {
    static char tries[4][32];
    for (int round = 1; round <= 4; round++) {
      snprintf(tries[round - 1], sizeof tries[0], "attack, try %d", round);
      phase = tries[round - 1];
      uintptr_t *c = freed_pair(n);
      ((volatile unsigned char *)c)[0] = 0;
      mark = nmalloc;
      say("WRITE byte 0 of freed block %p = 0 (try %d)\n", (void *)c, round);
      if (round < 4) take_batch(n, 8);
    }
  } else {
    void *l = take_keep(n);
    uintptr_t *c = freed_pair(n);
    ((volatile uintptr_t *)c)[0] = (uintptr_t)l;
    say("WRITE word 0 of freed block %p = live block %p\n", (void *)c, l);
  }
  mark = nmalloc;
}

/* Clear the "cached" marker (word 1) of a freed block, free it again. */
static void clear_marker_double_free(size_t n) {
  phase = "attack";
  void *x = take_keep(n);
  drop(x);
  ((volatile uintptr_t *)x)[1] = 0;
  say("WRITE word 1 of freed block %p = 0, then free it again\n", x);
  call_free(x);
  mark = nmalloc;
}

/* After the attack: allocate on in batches (a program mallocs a structure's
 * parts, then fills them), check all, free some, allocate again. */
static void aftermath(size_t n) {
  phase = "after the attack";
  for (int i = 0; i < 8; i++) take_batch(n, 8);
  for (int i = 0; i < 4; i++) take_batch(0, 8);
  verify_all();
  for (size_t i = 0; i < nlive;)
    if (rnd() & 1) release(i, 1);
    else i++;
  for (int i = 0; i < 8; i++) take_batch(n, 8);
  verify_all();
  while (nlive) release(nlive - 1, 1);
  for (int i = 0; i < 12; i++) take_batch(n, 8);
  verify_all();
  while (nlive) release(nlive - 1, 1);
}

/* ---- two threads free one block at once ---- */

enum { WORKERS = 2, GOT = 2 };
static void *volatile victim;
static size_t victim_n;
static unsigned gen, arrived; /* __atomic */
static void *got[WORKERS][GOT];
static uint64_t freeing[WORKERS][2]; /* when each worker's free began and ended */

/* Blocking waits (futex): a thread waiting takes no core, so the two
 * workers have both cores when they race. */
static void futex_wait(unsigned *v, unsigned seen) {
  syscall(SYS_futex, v, FUTEX_WAIT_PRIVATE, seen, NULL, NULL, 0);
}
static void wait_for(unsigned *v, unsigned want) {
  for (unsigned seen; (seen = __atomic_load_n(v, __ATOMIC_ACQUIRE)) != want;) futex_wait(v, seen);
}
static void bump(unsigned *v) {
  __atomic_add_fetch(v, 1, __ATOMIC_RELEASE);
  syscall(SYS_futex, v, FUTEX_WAKE_PRIVATE, INT_MAX, NULL, NULL, 0);
}
static void set(unsigned *v, unsigned to) {
  __atomic_store_n(v, to, __ATOMIC_RELEASE);
  syscall(SYS_futex, v, FUTEX_WAKE_PRIVATE, INT_MAX, NULL, NULL, 0);
}
static uint64_t now_ns(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (uint64_t)t.tv_sec * 1000000000u + (uint64_t)t.tv_nsec;
}
/* The release: woken at different times, both spin to the same instant. */
static uint64_t release_at; /* __atomic */
static void spin_until_release(void) {
  uint64_t at = __atomic_load_n(&release_at, __ATOMIC_ACQUIRE);
  while (now_ns() < at) {
  }
}

/* Each iteration has three steps, each started by main bumping gen and
 * ended by both workers bumping arrived: both free the victim (released
 * together); both malloc (after both frees returned: the second free must
 * find the block freed, not handed out again); both free what they got
 * (after main checked it). */
static void *worker(void *arg) {
  int id = (int)(intptr_t)arg;
  who = id ? "worker 1" : "worker 0";
  pthread_attr_t a;
  void *lo;
  size_t sz;
  if (pthread_getattr_np(pthread_self(), &a) == 0 && pthread_attr_getstack(&a, &lo, &sz) == 0)
    ban((uintptr_t)lo, (uintptr_t)lo + sz, "a worker thread's stack");
  /* One CPU each: on a busy machine the scheduler otherwise tends to
   * put both on the CPU the other load leaves free, and they never race. */
  cpu_set_t all, one;
  if (sched_getaffinity(0, sizeof all, &all) == 0 && CPU_COUNT(&all) >= WORKERS) {
    for (int cpu = 0, seen = 0; cpu < CPU_SETSIZE; cpu++)
      if (CPU_ISSET(cpu, &all) && seen++ == id) {
        CPU_ZERO(&one);
        CPU_SET(cpu, &one);
        pthread_setaffinity_np(pthread_self(), sizeof one, &one);
        break;
      }
  }
  call_free(call_malloc(victim_n)); /* this thread's cache exists from here */
  bump(&arrived);
  for (unsigned g = 1;; g += 3) {
    wait_for(&gen, g);
    if (victim == NULL) return NULL;
    spin_until_release();
    freeing[id][0] = now_ns();
    call_free(victim);
    freeing[id][1] = now_ns();
    bump(&arrived);
    wait_for(&gen, g + 1);
    for (int i = 0; i < GOT; i++) got[id][i] = call_malloc(victim_n);
    bump(&arrived);
    wait_for(&gen, g + 2);
    for (int i = 0; i < GOT; i++) call_free(got[id][i]);
    bump(&arrived);
  }
}

static void racing_double_free(size_t n, unsigned iterations) {
  pthread_t t[WORKERS];
  victim_n = n;
  phase = "two threads free one block";
  victim = (void *)1;
  for (int w = 0; w < WORKERS; w++) pthread_create(&t[w], NULL, worker, (void *)(intptr_t)w);
  unsigned expect = WORKERS, g = 1, overlapped = 0; /* rounds whose two frees overlapped in time */
  wait_for(&arrived, expect);
  for (unsigned it = 0; it < iterations; it++, g += 3) {
    void *p = take(n);
    victim = p;
    __atomic_store_n(&release_at, now_ns() + 200000, __ATOMIC_RELEASE);
    set(&gen, g); /* both free p, at the same instant */
    wait_for(&arrived, expect += WORKERS);
    uint64_t b0 = freeing[0][0] > freeing[1][0] ? freeing[0][0] : freeing[1][0];
    uint64_t e0 = freeing[0][1] < freeing[1][1] ? freeing[0][1] : freeing[1][1];
    overlapped += b0 <= e0;
    set(&gen, g + 1); /* both malloc */
    wait_for(&arrived, expect += WORKERS);
    for (int w = 0; w < WORKERS; w++)
      for (int i = 0; i < GOT; i++) {
        char why[400];
        nmalloc++;
        if (bad_block((uintptr_t)got[w][i], n, why, sizeof why)) {
          char what[500];
          snprintf(what, sizeof what, "iteration %u, thread %d's malloc %d after both freed %p: %s", it + 1, w, i + 1,
                   p, why);
          broken(what);
        }
        keep(got[w][i], n);
      }
    verify_all();
    for (int k = 0; k < WORKERS * GOT; k++) release(nlive - 1, 0); /* the workers free them */
    set(&gen, g + 2);
    wait_for(&arrived, expect += WORKERS);
  }
  victim = NULL;
  set(&gen, g);
  for (int w = 0; w < WORKERS; w++) pthread_join(t[w], NULL);
  say("INFO two frees of one block overlapped in time in %u of %u rounds\n", overlapped, iterations);
}

/* ---- main ---- */

static const char *provider(void) {
  Dl_info d;
  void *f = dlsym(RTLD_DEFAULT, "malloc");
  if (!f || !dladdr(f, &d) || !d.dli_fname) return "?";
  if (strstr(d.dli_fname, "/libc.so")) return "glibc";
  const char *slash = strrchr(d.dli_fname, '/');
  return slash ? slash + 1 : d.dli_fname;
}

static const char *const cases[] = {
  "control", /* no attack: checks the checks */
  "fresh-key-global", "fresh-key-stack", "fresh-key-interior", "freed-key-global", "zero-link",
  "nul-byte", "plain-pointer", "clear-marker-double-free", "thread-double-free",
};

int main(int argc, char **argv) {
  _Alignas(64) unsigned char stack_buf[512];
  int known = 0;
  if (argc >= 4)
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) known |= !strcmp(argv[1], cases[i]);
  if (!known) {
    say("usage: %s CASE SIZE SEED [ITERATIONS]\ncases:", argv[0]);
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) say(" %s", cases[i]);
    say("\n");
    return 2;
  }
  const char *c = argv[1];
  size_t n = strtoul(argv[2], NULL, 0);
  unsigned long seed = strtoul(argv[3], NULL, 0);
  unsigned iterations = argc > 4 ? (unsigned)strtoul(argv[4], NULL, 0) : 2000;
  if (n < 16) n = 16; /* the attacks read and write two words */
  rng_state = seed * 0x9e3779b97f4a7c15ull + 1;

  prctl(PR_SET_DUMPABLE, 0); /* no core dumps of the crashes this provokes */
  static char alt[1 << 16];
  stack_t ss = {.ss_sp = alt, .ss_size = sizeof alt};
  sigaltstack(&ss, NULL);
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_sigaction = on_crash;
  sa.sa_flags = SA_SIGINFO | SA_ONSTACK;
  sigaction(SIGSEGV, &sa, NULL);
  sigaction(SIGBUS, &sa, NULL);
  sigaction(SIGILL, &sa, NULL);
  sigaction(SIGFPE, &sa, NULL);
  dl_iterate_phdr(ban_object, NULL);
  say("ALLOC %s\n", provider());

  memset(stack_buf, 0, sizeof stack_buf);
  warm_up(n);
  if (!strcmp(c, "fresh-key-global")) key_poison(n, 0, "global", stack_buf);
  else if (!strcmp(c, "fresh-key-stack")) key_poison(n, 0, "stack", stack_buf);
  else if (!strcmp(c, "fresh-key-interior")) key_poison(n, 0, "interior", stack_buf);
  else if (!strcmp(c, "freed-key-global")) key_poison(n, 1, "global", stack_buf);
  else if (!strcmp(c, "zero-link")) weak_link(n, "zero");
  else if (!strcmp(c, "nul-byte")) weak_link(n, "nul");
  else if (!strcmp(c, "plain-pointer")) weak_link(n, "pointer");
  else if (!strcmp(c, "clear-marker-double-free")) clear_marker_double_free(n);
  else if (!strcmp(c, "thread-double-free")) racing_double_free(n, iterations);
  aftermath(n);
  say("HEAP CORRECT after %lu mallocs\n", nmalloc);
  __asm__ volatile("" : : "r"(stack_buf) : "memory"); /* the target buffer lives to here */
  return 0;
}
