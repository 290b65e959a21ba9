/* The malloc API against glibc's and C23's semantics, through the public
 * glibc names only: the same binary runs on glibc (a check of the test
 * itself) and on lemmalloc (LD_PRELOAD, or linked with liblemmalloc.a).
 * Checks that glibc 2.36 itself fails (it predates C23's rules) run only
 * when malloc is not glibc's, and say SKIP otherwise.
 * The contract's rules are not written here: each call goes to the malloc
 * model (tools/model/malloc_model.c, the one the oracle and the fuzz
 * drivers use; strict -- lemmalloc's own guarantees -- when malloc is not
 * glibc's), and a broken rule fails the test under the model's property
 * name ("calloc-zero (C23, calloc): ..."). What this file adds are the
 * cases: sizes, alignments, recycling, real programs' use.
 * Built with -fno-builtin so the compiler cannot fold or drop the calls. */
#include "../lib/test.h"
#include <errno.h>
#include <malloc.h>
#include <dirent.h>
#include <limits.h>
#include <pthread.h>
#include <regex.h>
#include <stdint.h>
#include <sys/wait.h>

#include "../../tools/model/malloc_model.h"

/* The point here is to pass impossible sizes and dead pointers on purpose. */
#if defined(__GNUC__) && !defined(__clang__) && __GNUC__ >= 12
#pragma GCC diagnostic ignored "-Wuse-after-free"
#pragma GCC diagnostic ignored "-Walloc-size-larger-than="
#endif

#define KiB ((size_t)1 << 10)
#define MiB ((size_t)1 << 20)

/* Impossible sizes arrive through a volatile so the compiler sees no
 * constant overflow; vzero hides constant invalid alignments (clang 14
 * crashes in GVN on an alloc_align assumption that is not a power of two). */
static volatile size_t vmax = SIZE_MAX, vzero = 0;
#define HUGE_REQ (vmax)

static uint8_t pat(size_t i, unsigned seed) { return (uint8_t)(i * 131u + seed * 7u + 1u); }
static void fill(void *p, size_t n, unsigned seed) {
  uint8_t *b = p;
  for (size_t i = 0; i < n; i++) b[i] = pat(i, seed);
}
/* Index of the first byte that differs from the pattern, or n. */
static size_t first_bad(const void *p, size_t n, unsigned seed) {
  const uint8_t *b = p;
  for (size_t i = 0; i < n; i++)
    if (b[i] != pat(i, seed)) return i;
  return n;
}
/* ---- the malloc model as this test's judge ---- */

static bool model_violate(void *host, int prop, int basis, const char *fn, const char *when,
                          const char *detail) {
  (void)host;
  lt_fail(__FILE__, __LINE__, "%s (%s, %s, case %s): %s", lm_prop_name(prop), lm_basis_name(basis),
          fn, when, detail);
  return false;
}
static struct lm_model model;
static uint64_t seeds = 1;

static void model_init(void) {
  model = (struct lm_model){.strict = lt_strict, .page = (size_t)sysconf(_SC_PAGESIZE),
                            .fill_max = 8 * MiB, .small_ok = 64 * MiB, .align_ok = 64 * MiB,
                            .violate = model_violate};
}

/* Call `kind` (malloc, calloc, valloc, pvalloc, posix_memalign,
 * aligned_alloc, memalign) through its glibc name and have the model judge
 * the outcome. Returns the live block (filled with its pattern), or an
 * empty one when the call failed as it should or broke a rule. */
static struct blk call(unsigned kind, size_t nmemb, size_t size, size_t align) {
  struct lm_req r;
  lm_model_request(&model, kind, nmemb, size, align, &r);
  void *p = NULL;
  bool changed = false;
  int err;
  errno = 0;
  switch (kind) {
  case LM_OP_MALLOC: p = malloc(size); break;
  case LM_OP_CALLOC: p = calloc(nmemb, size); break;
  case LM_OP_VALLOC: p = valloc(size); break;
  case LM_OP_PVALLOC: p = pvalloc(size); break;
  case LM_OP_ALIGNED_ALLOC: p = aligned_alloc(align, size); break;
  case LM_OP_MEMALIGN: p = memalign(align, size); break;
  default: break;
  }
  err = errno;
  if (kind == LM_OP_POSIX_MEMALIGN) {
    void *const untouched = (void *)(uintptr_t)0x1234;
    p = untouched;
    err = posix_memalign(&p, align, size);
    changed = p != untouched;
    if (!changed) p = NULL;
  }
  struct lm_adopt a;
  struct blk b = {0};
  enum lm_act v = lm_model_result(&model, &r, p, err, errno != 0, changed, false, &a);
  if (v == LM_ACT_ADOPT && lm_model_block(&model, &r, &a, p, malloc_usable_size(p), seeds++, &b))
    lm_model_fill(&model, &b);
  else if (p)
    free(p);
  return b;
}

/* realloc (or reallocarray) of *b, judged; *b becomes what is live after it. */
static void call_realloc(struct blk *b, unsigned kind, size_t nmemb, size_t size) {
  struct lm_req r;
  lm_model_request(&model, kind, nmemb, size, 0, &r);
  if (b->p && !lm_model_intact(&model, b, b->usable, LM_PROP_FILL, r.fn, "before realloc")) return;
  errno = 0;
  void *q = kind == LM_OP_REALLOCARRAY ? reallocarray((void *)b->p, nmemb, size)
                                       : realloc((void *)b->p, size);
  int err = errno;
  struct lm_adopt a;
  struct blk old = *b;
  enum lm_act v = lm_model_realloc(&model, &r, &old, q, err, err != 0, false, &a);
  if (v == LM_ACT_KEEP_OLD) return;
  if (v == LM_ACT_STOP && !q) return; /* reported; the old block may still be live */
  *b = (struct blk){0};
  if (v == LM_ACT_ADOPT && lm_model_block(&model, &r, &a, q, malloc_usable_size(q), seeds++, b))
    lm_model_fill(&model, b);
  else if (q)
    free(q);
}

/* Free a live block, its pattern checked first. */
static void release(struct blk *b) {
  if (!b->p) return;
  lm_model_intact(&model, b, b->usable, LM_PROP_FILL, "free", "at free");
  lm_model_usable(&model, b, malloc_usable_size((void *)b->p));
  free((void *)b->p);
  *b = (struct blk){0};
}

static size_t inuse(void) { struct mallinfo2 m = mallinfo2(); return m.uordblks + m.hblkhd; }
static int aligned(const void *p, size_t a) { return ((uintptr_t)p & (a - 1)) == 0; }

/* Sizes on and around powers of two and class edges, 1 B to 33 MiB: small
 * (slab), large (buddy span) and huge (own mapping) blocks. */
static const size_t sizes[] = {
  1, 7, 8, 15, 16, 17, 24, 31, 32, 33, 48, 63, 64, 65, 80, 100, 127, 128, 129, 200, 255,
  256, 257, 500, 1000, 1023, 1024, 1025, 2047, 2048, 2049, 4095, 4096, 4097, 8191, 8192,
  8193, 12288, 16383, 16384, 16385, 20000, 32767, 32768, 32769, 65536, 100000, 131071,
  131072, 131073, 262144, 1 * MiB - 1, 1 * MiB, 1 * MiB + 1, 2 * MiB, 4 * MiB - 1,
  4 * MiB, 4 * MiB + 1, 8 * MiB, 33 * MiB,
};
#define NSIZES (sizeof sizes / sizeof sizes[0])

static void test_malloc(void) {
  TEST("malloc(0) returns unique non-NULL pointers") {
    enum { N = 1000 };
    static void *p[N];
    for (int i = 0; i < N; i++) {
      p[i] = malloc(0);
      CHECKF(p[i] != NULL, "i=%d", i);
      for (int j = 0; p[i] && j < i; j++) CHECKF(p[i] != p[j], "malloc(0) #%d == #%d", i, j);
    }
    for (int i = 0; i < N; i++) free(p[i]);
  }
  TEST("usable size covers the request, all of it writable, neighbours intact") {
    for (size_t k = 0; k < NSIZES; k++) {
      /* The model checks alignment and usable size and fills each block's
       * whole usable size; a, c are filled before b, so their patterns
       * intact at free mean writing b's usable size hit no neighbour. */
      size_t n = sizes[k];
      struct blk a = call(LM_OP_MALLOC, 0, n, 0), c = call(LM_OP_MALLOC, 0, n, 0);
      struct blk b = call(LM_OP_MALLOC, 0, n, 0);
      CHECKF(a.p && b.p && c.p, "n=%zu", n);
      release(&a); release(&c); release(&b);
    }
  }
  TEST("impossible sizes: NULL and ENOMEM") {
    const size_t bad[] = { HUGE_REQ, HUGE_REQ - 4096, HUGE_REQ / 2, HUGE_REQ / 2 + 1, (size_t)PTRDIFF_MAX + 1, (size_t)1 << 50 };
    for (size_t k = 0; k < sizeof bad / sizeof bad[0]; k++) {
      struct blk b = call(LM_OP_MALLOC, 0, bad[k], 0); /* must-fail, null-errno */
      CHECKF(b.p == 0, "malloc(%#zx) succeeded", bad[k]);
      release(&b);
    }
  }
  TEST("random mix: no overlap, contents kept") {
    enum { N = 4000 };
    static char *p[N]; static size_t n[N];
    unsigned r = 12345;
    for (int round = 0; round < 4; round++) {
      for (int i = 0; i < N; i++) {
        if (p[i] && (round == 3 || (r = r * 1103515245u + 12345u) >> 31)) {
          CHECKF(first_bad(p[i], n[i], (unsigned)i) == n[i], "block %d size %zu corrupted", i, n[i]);
          free(p[i]); p[i] = NULL;
        }
        if (round < 3 && !p[i]) {
          r = r * 1103515245u + 12345u;
          n[i] = (r >> 8) % 64 == 0 ? (r >> 12) % (600 * KiB) : (r >> 12) % 2000;
          p[i] = malloc(n[i]);
          CHECK(p[i] != NULL);
          if (p[i]) fill(p[i], n[i], (unsigned)i);
        }
      }
    }
  }
}

static void test_calloc(void) {
  TEST("calloc overflow: NULL and ENOMEM") {
    const size_t pairs[][2] = { { HUGE_REQ, HUGE_REQ }, { HUGE_REQ / 2, 3 }, { 3, HUGE_REQ / 2 },
                                { (size_t)1 << 32, (size_t)1 << 32 }, { HUGE_REQ, 2 }, { (size_t)1 << 40, (size_t)1 << 30 } };
    for (size_t k = 0; k < sizeof pairs / sizeof pairs[0]; k++) {
      struct blk b = call(LM_OP_CALLOC, pairs[k][0], pairs[k][1], 0); /* must-fail, null-errno */
      CHECKF(b.p == 0, "calloc(%#zx, %#zx) succeeded", pairs[k][0], pairs[k][1]);
      release(&b);
    }
  }
  TEST("calloc(0, n) and calloc(n, 0) return unique pointers") {
    void *a = calloc(0, 8), *b = calloc(8, 0), *c = calloc(0, 0);
    CHECK(a && b && c && a != b && b != c && a != c);
    free(a); free(b); free(c);
  }
  TEST("calloc memory is zero even when recycled") {
    /* Dirty many blocks of a size, free them, calloc as many: each must come
     * back zeroed whatever cache or slab it was recycled from. */
    const size_t cs[] = { 1, 8, 24, 100, 1000, 4096, 5000, 16384, 20000, 100000, 1 * MiB, 3 * MiB, 5 * MiB };
    for (size_t k = 0; k < sizeof cs / sizeof cs[0]; k++) {
      size_t n = cs[k], count = n >= MiB ? 4 : n >= 16384 ? 32 : 300;
      void *p[300];
      for (int round = 0; round < 3; round++) {
        for (size_t i = 0; i < count; i++) {
          p[i] = malloc(n);
          CHECKF(p[i] != NULL, "n=%zu", n);
          if (p[i]) memset(p[i], 0xA5, malloc_usable_size(p[i]));
        }
        for (size_t i = 0; i < count; i++) free(p[i]);
        static struct blk z[300]; /* calloc-zero: the model reads every byte up to 8 MiB */
        for (size_t i = 0; i < count; i++) {
          z[i] = round == 1 ? call(LM_OP_CALLOC, n, 1, 0) : call(LM_OP_CALLOC, 1, n, 0);
          CHECKF(z[i].p != 0, "n=%zu round %d block %zu", n, round, i);
        }
        for (size_t i = 0; i < count; i++) release(&z[i]);
      }
    }
  }
}

static void test_realloc(void) {
  TEST("realloc keeps contents across small, large and huge, up and down") {
    const size_t steps[] = { 10, 100, 1000, 16384, 16385, 20000, 300000, 3 * MiB, 5 * MiB, 70 * MiB,
                             6 * MiB, 3 * MiB, 50000, 16000, 500, 17, 1, 64 * KiB, 1 };
    struct blk b = {0}; /* realloc-contents, usable-size, alignment: the model's */
    for (size_t k = 0; k < sizeof steps / sizeof steps[0]; k++) {
      call_realloc(&b, LM_OP_REALLOC, 0, steps[k]);
      CHECKF(b.p != 0, "realloc to %zu", steps[k]);
      if (!b.p) break;
    }
    release(&b);
  }
  TEST("realloc failure leaves the block intact, errno ENOMEM") {
    const size_t ns[] = { 100, 20000, 1 * MiB, 9 * MiB };
    for (size_t k = 0; k < sizeof ns / sizeof ns[0]; k++) {
      /* must-fail, null-errno, realloc-fail-keeps: the model's */
      struct blk b = call(LM_OP_MALLOC, 0, ns[k], 0);
      CHECK(b.p != 0);
      if (!b.p) continue;
      uintptr_t p = b.p;
      const size_t bad[] = { HUGE_REQ, HUGE_REQ - 100, (size_t)PTRDIFF_MAX + 1, (size_t)1 << 50 };
      for (size_t j = 0; j < sizeof bad / sizeof bad[0]; j++) {
        call_realloc(&b, LM_OP_REALLOC, 0, bad[j]);
        call_realloc(&b, LM_OP_REALLOCARRAY, HUGE_REQ / 2, 3);
        CHECKF(b.p == p, "realloc(%zu-byte block, %#zx): the block is no longer live", ns[k], bad[j]);
      }
      call_realloc(&b, LM_OP_REALLOC, 0, ns[k] * 2); /* and it is still a live block */
      CHECK(b.p != 0);
      release(&b);
    }
  }
  TEST("realloc(NULL, n) is malloc(n)") {
    struct blk p = {0}, z = {0};
    call_realloc(&p, LM_OP_REALLOC, 0, 100);
    call_realloc(&z, LM_OP_REALLOC, 0, 0);
    CHECK(p.p != 0 && z.p != 0 && z.p != p.p);
    release(&p); release(&z);
  }
  TEST("realloc(p, 0) frees p and returns NULL (glibc)") {
    /* 1000 x 256 KiB written and "freed" by realloc(p, 0): a leak would add 250 MiB of RSS. */
    long before = lt_rss_kib();
    for (int i = 0; i < 1000; i++) {
      char *p = malloc(256 * KiB);
      CHECK(p != NULL);
      if (!p) break;
      memset(p, i, 256 * KiB);
      void *q = realloc(p, 0);
      CHECKF(q == NULL, "realloc(p, 0) = %p", q);
      if (q) free(q);
    }
    long grown = lt_rss_kib() - before;
    CHECKF(grown < 64 * 1024, "RSS grew by %ld KiB", grown);
  }
  TEST("realloc to the usable size stays in place") {
    const size_t ns[] = { 1, 100, 3000, 20000, 1 * MiB, 6 * MiB };
    for (size_t k = 0; k < sizeof ns / sizeof ns[0]; k++) {
      char *p = malloc(ns[k]);
      CHECK(p != NULL);
      if (!p) continue;
      size_t u = malloc_usable_size(p);
      char *q = realloc(p, u);
      CHECKF(q == p, "realloc(p, usable %zu) of a %zu block moved it", u, ns[k]);
      free(q ? q : p);
    }
  }
  TEST("realloc of aligned blocks keeps contents") {
    const size_t ns[] = { 10, 5000, 100000, 5 * MiB };
    for (size_t a = 16; a <= 64 * MiB; a *= 4)
      for (size_t i = 0; i < 4; i++)
        for (size_t j = 0; j < 4; j++) {
          struct blk b = call(LM_OP_MEMALIGN, 0, ns[i], a); /* realloc-contents: the model's */
          CHECKF(b.p != 0, "memalign(%zu, %zu)", a, ns[i]);
          if (!b.p) continue;
          call_realloc(&b, LM_OP_REALLOC, 0, ns[j]);
          CHECKF(b.p != 0, "memalign(%zu, %zu) realloc to %zu failed", a, ns[i], ns[j]);
          release(&b);
        }
  }
  TEST("reallocarray: overflow NULL+ENOMEM, else realloc") {
    struct blk b = {0};
    call_realloc(&b, LM_OP_REALLOCARRAY, HUGE_REQ / 2, 3);
    call_realloc(&b, LM_OP_REALLOCARRAY, (size_t)1 << 33, (size_t)1 << 31);
    CHECK(b.p == 0);
    call_realloc(&b, LM_OP_REALLOCARRAY, 10, 10);
    CHECK(b.p != 0);
    call_realloc(&b, LM_OP_REALLOCARRAY, 1000, 10);
    CHECK(b.p != 0);
    release(&b);
  }
}

/* Allocate with `fn` for one alignment and several sizes, all live at once;
 * check alignment, usable size, and that every usable byte is writable
 * without touching the others. */
enum afn { PM, AA, MA };
static void aligned_round(enum afn fn, size_t a) {
  static const unsigned kinds[] = { LM_OP_POSIX_MEMALIGN, LM_OP_ALIGNED_ALLOC, LM_OP_MEMALIGN };
  size_t ns[] = { 0, 1, 100, 5000, a + 1, 3 * a / 2 };
  enum { NN = sizeof ns / sizeof ns[0] };
  struct blk p[NN] = { 0 }; /* alignment, usable-size, no-overlap via fill-intact: the model's */
  for (int i = 0; i < NN; i++) {
    if (ns[i] > 8 * MiB) continue;
    p[i] = call(kinds[fn], 0, ns[i], a);
    CHECKF(p[i].p != 0, "%s(%zu, %zu)", lm_model_fn(kinds[fn]), a, ns[i]);
  }
  for (int i = 0; i < NN; i++) release(&p[i]);
}

static void test_aligned(void) {
  TEST("posix_memalign: every power of two from sizeof(void*) to 64 MiB") {
    for (size_t a = sizeof(void *); a <= 64 * MiB; a *= 2) aligned_round(PM, a);
  }
  TEST("aligned_alloc: every power of two from 1 to 64 MiB") {
    for (size_t a = 1; a <= 64 * MiB; a *= 2) aligned_round(AA, a);
  }
  TEST("memalign: every power of two from 1 to 64 MiB") {
    for (size_t a = 1; a <= 64 * MiB; a *= 2) aligned_round(MA, a);
  }
  TEST("posix_memalign: bad alignment gives EINVAL, output untouched") {
    const size_t bad[] = { 0, 1, 3, sizeof(void *) / 2, sizeof(void *) + 1, 24, 48, 4095, 4097, HUGE_REQ, HUGE_REQ / 2 + 2 };
    for (size_t k = 0; k < sizeof bad / sizeof bad[0]; k++) {
      struct blk b = call(LM_OP_POSIX_MEMALIGN, 0, 64, bad[k]); /* invalid-alignment */
      CHECKF(b.p == 0, "posix_memalign(%#zx) succeeded", bad[k]);
      release(&b);
    }
  }
  TEST("posix_memalign: impossible size gives ENOMEM, output untouched") {
    const size_t pairs[][2] = { { 8, HUGE_REQ }, { 4096, HUGE_REQ - 4096 }, { 64 * MiB, HUGE_REQ / 2 },
                                { (size_t)1 << 62, 1 }, { 16, (size_t)1 << 50 } };
    for (size_t k = 0; k < sizeof pairs / sizeof pairs[0]; k++) {
      /* must-fail, null-errno (ENOMEM returned, *memptr untouched): the model's */
      struct blk b = call(LM_OP_POSIX_MEMALIGN, 0, pairs[k][1], pairs[k][0]);
      CHECKF(b.p == 0, "posix_memalign(%#zx, %#zx) succeeded", pairs[k][0], pairs[k][1]);
      release(&b);
    }
  }
  TEST("aligned_alloc and memalign: impossible size gives NULL and ENOMEM") {
    const size_t pairs[][2] = { { 8, HUGE_REQ }, { 4096, HUGE_REQ - 100 }, { 64 * MiB, HUGE_REQ / 2 },
                                { (size_t)1 << 62, 1 }, { 16, (size_t)1 << 50 } };
    /* The model also accepts EINVAL for alignments no allocator supports;
     * glibc and lemmalloc both say ENOMEM, pinned here. */
    for (size_t k = 0; k < sizeof pairs / sizeof pairs[0]; k++) {
      errno = 0;
      void *p = aligned_alloc(pairs[k][0], pairs[k][1]);
      CHECKF(p == NULL && errno == ENOMEM, "aligned_alloc(%#zx, %#zx) = %p errno %d", pairs[k][0], pairs[k][1], p, errno);
      errno = 0;
      p = memalign(pairs[k][0], pairs[k][1]);
      CHECKF(p == NULL && errno == ENOMEM, "memalign(%#zx, %#zx) = %p errno %d", pairs[k][0], pairs[k][1], p, errno);
    }
  }
  if (lt_strict) {
    TEST("aligned_alloc: invalid alignment gives NULL (C23)") {
      const size_t bad[] = { 0, 3, 24, 48, 100, 4097, HUGE_REQ, HUGE_REQ / 2 + 2 };
      for (size_t k = 0; k < sizeof bad / sizeof bad[0]; k++) {
        struct blk b = call(LM_OP_ALIGNED_ALLOC, 0, 64, bad[k] + vzero); /* invalid-alignment */
        CHECKF(b.p == 0, "aligned_alloc(%#zx, 64) succeeded", bad[k]);
        release(&b);
      }
    }
  } else {
    lt_skip("aligned_alloc: invalid alignment gives NULL (C23)", "glibc 2.36 accepts any alignment");
  }
  TEST("memalign: alignment 0 is malloc, other non-powers of two round up (glibc)") {
    void *p = memalign(vzero, 100);
    CHECK(p != NULL && malloc_usable_size(p) >= 100);
    free(p);
    const size_t odd[][2] = { { 3, 4 }, { 24, 32 }, { 48, 64 }, { 100, 128 }, { 5000, 8192 }, { 3 * MiB, 4 * MiB } };
    for (size_t k = 0; k < sizeof odd / sizeof odd[0]; k++) {
      struct blk b = call(LM_OP_MEMALIGN, 0, 100, odd[k][0] + vzero); /* alignment: rounded up */
      CHECKF(b.p != 0 && aligned((void *)b.p, odd[k][1]), "memalign(%zu, 100) = %p", odd[k][0], (void *)b.p);
      release(&b);
    }
  }
  TEST("valloc: page aligned") {
    size_t page = (size_t)sysconf(_SC_PAGESIZE);
    const size_t ns[] = { 0, 1, 4095, 4096, 4097, 100000, 5 * MiB };
    (void)page; /* alignment (a page) and usable size: the model's */
    for (size_t k = 0; k < sizeof ns / sizeof ns[0]; k++) {
      struct blk b = call(LM_OP_VALLOC, 0, ns[k], 0);
      CHECKF(b.p != 0, "valloc(%zu)", ns[k]);
      release(&b);
    }
    struct blk b = call(LM_OP_VALLOC, 0, HUGE_REQ - 100, 0); /* must-fail, null-errno */
    CHECKF(b.p == 0, "valloc(SIZE_MAX-100) succeeded");
    release(&b);
  }
  TEST("pvalloc: page aligned, size rounded up to whole pages") {
    size_t page = (size_t)sysconf(_SC_PAGESIZE);
    const size_t ns[] = { 1, 100, 4095, 4096, 4097, 100000, 5 * MiB + 1 };
    (void)page; /* page alignment, usable size >= the size rounded to pages: the model's */
    for (size_t k = 0; k < sizeof ns / sizeof ns[0]; k++) {
      struct blk b = call(LM_OP_PVALLOC, 0, ns[k], 0);
      CHECKF(b.p != 0, "pvalloc(%zu)", ns[k]);
      release(&b);
    }
    struct blk z = call(LM_OP_PVALLOC, 0, 0, 0);
    CHECK(z.p != 0);
    release(&z);
    /* Rounding SIZE_MAX - 100 up to a page overflows: it must fail, not wrap. */
    const size_t bad[] = { HUGE_REQ, HUGE_REQ - 100, HUGE_REQ - page + 1, HUGE_REQ / 2 + 1 };
    for (size_t k = 0; k < sizeof bad / sizeof bad[0]; k++) {
      struct blk b = call(LM_OP_PVALLOC, 0, bad[k], 0); /* must-fail, null-errno */
      CHECKF(b.p == 0, "pvalloc(%#zx) succeeded", bad[k]);
      release(&b);
    }
  }
}

/* glibc functions that return memory for the caller to free: it must come
 * from the malloc in use (a block glibc got elsewhere would make free abort),
 * and their internal realloc/free traffic must work. */
static int by_name(const struct dirent **a, const struct dirent **b) { return strcmp((*a)->d_name, (*b)->d_name); }
static void test_libc_allocations(void) {
  TEST("memory from glibc functions (getline, asprintf, open_memstream, scandir, ...) frees") {
    char *s = strdup("lemmalloc"), *t = strndup("lemmalloc", 3);
    CHECK(s && t && !strcmp(s, "lemmalloc") && !strcmp(t, "lem"));
    free(s); free(t);
    char *a = NULL;
    CHECK(asprintf(&a, "%0*d", 5000, 7) == 5000 && a && a[4999] == '7');
    free(a);
    char *buf = NULL;
    size_t blen = 0;
    FILE *ms = open_memstream(&buf, &blen);
    CHECK(ms != NULL);
    for (int i = 0; ms && i < 20000; i++) fprintf(ms, "%d,", i);
    if (ms) fclose(ms);
    CHECKF(buf && blen > 100000 && !strncmp(buf, "0,1,2,", 6), "open_memstream: %zu bytes", blen);
    free(buf);
    FILE *f = fopen("/proc/self/maps", "r");
    char *line = NULL;
    size_t cap = 0;
    int lines = 0;
    while (f && getline(&line, &cap, f) > 0) lines++;
    CHECK(f && lines > 5);
    free(line);
    if (f) fclose(f);
    struct dirent **names = NULL;
    int n = scandir("/proc/self", &names, NULL, by_name);
    CHECKF(n > 10, "scandir: %d", n);
    for (int i = 0; i < n; i++) free(names[i]);
    free(names);
    regex_t re;
    CHECK(regcomp(&re, "^(a|b)+[0-9]{2,}$", REG_EXTENDED) == 0 && regexec(&re, "abba123", 0, NULL, 0) == 0);
    regfree(&re);
    char *rp = realpath("/proc/self/exe", NULL);
    CHECK(rp != NULL && rp[0] == '/');
    free(rp);
    char *cwd = getcwd(NULL, 0);
    CHECK(cwd != NULL);
    free(cwd);
  }
}

/* Frees a block, takes it back untouched and hands it over. */
static void *recycle(void *arg) {
  void *p = malloc((size_t)(uintptr_t)arg);
  free(p);
  return malloc((size_t)(uintptr_t)arg);
}

static void test_free_and_info(void) {
  TEST("free(NULL) and malloc_usable_size(NULL)") {
    errno = 77;
    free(NULL);
    CHECK(errno == 77);
    lm_model_usable(&model, &(struct blk){0}, malloc_usable_size(NULL)); /* usable-null */
  }
  TEST("recycled blocks never written are freed silently") {
    /* A freed slot carries allocator bookkeeping (a cache link, a key that
     * flags it as freed); handed out again and freed untouched, it must not
     * look like a double free. Run in a child so an abort is a FAIL. */
    fflush(stdout);
    pid_t pid = fork();
    if (pid == 0) {
      lt_forked();
      for (int i = 0; i < 2000; i++) {
        size_t n = 16 + (size_t)(i % 64) * 16;
        void *p = malloc(n);
        free(p);
        void *q = malloc(n); /* most likely p again */
        free(q);
        q = realloc(malloc(n), n * 2);
        free(q);
        if (i % 100 == 0) { /* the same, recycled on another thread, freed here */
          pthread_t t;
          if (pthread_create(&t, NULL, recycle, (void *)(uintptr_t)n) == 0 && pthread_join(t, &q) == 0) free(q);
        }
      }
      _exit(0);
    }
    int st = 0;
    waitpid(pid, &st, 0);
    CHECKF(pid > 0 && WIFEXITED(st) && WEXITSTATUS(st) == 0, "child status %#x", st);
  }
  TEST("free preserves errno for small, large and huge blocks") {
    const size_t ns[] = { 16, 1000, 20000, 1 * MiB, 9 * MiB, 70 * MiB };
    for (int round = 0; round < 3; round++)
      for (size_t k = 0; k < sizeof ns / sizeof ns[0]; k++) {
        void *p = malloc(ns[k]);
        CHECK(p != NULL);
        if (p) memset(p, 1, ns[k]);
        errno = 12345;
        free(p);
        CHECKF(errno == 12345, "free of %zu bytes set errno to %d", ns[k], errno);
      }
  }
  TEST("mallinfo2 reports a plausible, changing figure") {
    size_t before = inuse();
    enum { N = 32 };
    void *p[N];
    for (int i = 0; i < N; i++) {
      p[i] = malloc(256 * KiB);
      if (p[i]) memset(p[i], 1, 256 * KiB);
    }
    size_t during = inuse();
    for (int i = 0; i < N; i++) free(p[i]);
    size_t after = inuse();
    struct mallinfo2 m = mallinfo2();
    CHECKF(during >= before + 8 * MiB && during <= before + 64 * MiB,
           "in use before %zu during %zu (8 MiB allocated)", before, during);
    CHECKF(after + 4 * MiB <= during, "in use during %zu after freeing %zu", during, after);
    CHECKF(m.uordblks <= m.arena + m.hblkhd, "uordblks %zu arena %zu hblkhd %zu", m.uordblks, m.arena, m.hblkhd);
  }
  TEST("malloc_trim returns 0 or 1 and the heap still works") {
    void *p[64];
    for (int i = 0; i < 64; i++) { p[i] = malloc(64 * KiB); if (p[i]) memset(p[i], 2, 64 * KiB); }
    for (int i = 0; i < 63; i++) free(p[i]);
    int r0 = malloc_trim(0), r1 = malloc_trim(1 * MiB), r2 = malloc_trim(0);
    CHECKF((r0 == 0 || r0 == 1) && (r1 == 0 || r1 == 1) && (r2 == 0 || r2 == 1), "%d %d %d", r0, r1, r2);
    CHECK(p[63] && ((char *)p[63])[64 * KiB - 1] == 2);
    free(p[63]);
    for (int i = 0; i < 64; i++) { p[i] = malloc(64 * KiB); CHECK(p[i]); if (p[i]) fill(p[i], 64 * KiB, (unsigned)i); }
    for (int i = 0; i < 64; i++) { CHECK(p[i] && first_bad(p[i], 64 * KiB, (unsigned)i) == 64 * KiB); free(p[i]); }
  }
  TEST("mallopt returns 0 or 1") {
    const int params[][2] = { { M_ARENA_MAX, 2 }, { M_MMAP_THRESHOLD, 1 << 20 }, { M_TRIM_THRESHOLD, 1 << 20 },
                              { M_TOP_PAD, 0 }, { 12345, 1 } };
    for (size_t k = 0; k < sizeof params / sizeof params[0]; k++) {
      int r = mallopt(params[k][0], params[k][1]);
      CHECKF(r == 0 || r == 1, "mallopt(%d, %d) = %d", params[k][0], params[k][1], r);
    }
    void *p = malloc(100);
    CHECK(p != NULL);
    free(p);
  }
  TEST("malloc_stats prints to stderr") {
    char path[] = "/tmp/lemmalloc-stats-XXXXXX";
    int fd = mkstemp(path), saved = dup(2);
    CHECK(fd >= 0 && saved >= 0);
    fflush(stderr);
    dup2(fd, 2);
    malloc_stats();
    fflush(stderr);
    dup2(saved, 2); close(saved);
    char buf[4096] = { 0 };
    ssize_t n = pread(fd, buf, sizeof buf - 1, 0);
    close(fd); unlink(path);
    CHECKF(n > 0, "malloc_stats printed nothing");
    if (lt_strict) CHECKF(strstr(buf, "lemmalloc") != NULL, "output: %.80s", buf);
  }
}

int main(void) {
  lt_init("api");
  model_init();
  test_malloc();
  test_calloc();
  test_realloc();
  test_aligned();
  test_free_and_info();
  test_libc_allocations();
  return lt_done();
}
