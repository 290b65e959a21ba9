/* Op executor for the api and threads drivers. See exec.h.
 *
 * What is checked, per call (glibc's contract, as src/api/malloc.c states):
 *  - every block: 16-aligned (or the requested alignment), usable size >=
 *    request and stable while live, all of it writable, not overlapping
 *    another live block (single thread), its pattern intact until freed;
 *  - calloc memory reads zero; realloc keeps min(old, new) bytes, and on
 *    failure leaves the old block intact; realloc(p, 0) frees;
 *  - size overflow (calloc, reallocarray, > PTRDIFF_MAX) fails with ENOMEM;
 *    a bad alignment gives EINVAL (posix_memalign leaves *out untouched);
 *  - malloc_usable_size(NULL) == 0; malloc_trim returns 0 or 1 and leaves
 *    every live block intact;
 *  - with bad_frees (single thread), ops on an empty slot hand lemmalloc
 *    bad pointers -- the slot's old block (double free), an interior
 *    pointer, a pointer it never gave out -- under M_CHECK_ACTION "warn":
 *    each must be reported and ignored (usable size 0), changing nothing,
 *    which the content checks and the final empty-heap check verify;
 *  - failure is allowed only where memory really ran out: the static OS
 *    backend refused this thread a mapping during the call (it is small,
 *    and its chunk-aligned mappings fragment it), or the size or the
 *    alignment is one no object can have (over PTRDIFF_MAX). Any other
 *    NULL is a finding;
 *  - when the driver is idle (every block freed), the backend's pages
 *    handed out are exactly what the heap counts as mapped: no leak.
 */
#define _GNU_SOURCE
#include "exec.h"

#include <errno.h>
#include <stdatomic.h>
#include <stdlib.h>
#include "lemmalloc.h"
#include "os/os.h" /* lm_os_static_used: the drivers link the static backend */

#define PAGE ((size_t)4096)

static _Atomic size_t live_bytes;

size_t lm_fuzz_live_bytes(void) { return atomic_load(&live_bytes); }

__attribute__((constructor(101))) void lm_fuzz_exec_setup(void) {
  /* Purge almost at once so purging interleaves with everything; keep
   * whatever the user set. */
  setenv("LEMMALLOC_PURGE_MS", "1", 0);
  /* More arenas than the CI's two cores, so threads share some and not others. */
  setenv("LEMMALLOC_ARENAS", "3", 0);
}

void lm_fuzz_exec_init_shared(struct lm_fuzz_shared *sh) {
  for (unsigned i = 0; i < LM_OPS_SHARED; i++) {
    pthread_mutex_init(&sh[i].lock, NULL);
    memset(&sh[i].b, 0, sizeof sh[i].b);
  }
}

/* A call that returned no memory: fine if the OS backend refused this
 * thread a mapping since the op began, a finding otherwise (with what the
 * heap holds, for triage). */
static __thread unsigned long refusals_at_op;

static void failed(const struct lm_op *op, const char *fn, size_t n, size_t align) {
  if (n > (size_t)PTRDIFF_MAX || align > (size_t)PTRDIFF_MAX / 2 + 1) return; /* no object that big */
  if (lm_os_static_refusals() != refusals_at_op) return;
  struct lm_stats st;
  lm_stats(&st);
  lm_fuzz_fail(op, "%s(%zu bytes, align %zu) failed, yet the OS backend refused no mapping; the "
               "heap maps %zu KiB (%zu chunks, %zu KiB huge live, %zu KiB huge cached, %zu KiB "
               "metadata), the backend has %zu KiB handed out", fn, n, align, st.mapped >> 10,
               st.nchunks, st.huge_live >> 10, st.huge_cached >> 10, st.metadata >> 10,
               lm_os_static_used() >> 10);
}

/* ---- block bookkeeping ---- */

static void check_block(const struct lm_op *op, const struct lm_fuzz_block *b, const char *when) {
  size_t bad = lm_fuzz_check(b->p, b->filled, b->filled, b->key);
  LM_FUZZ_EXPECT(op, bad == SIZE_MAX,
                 "%s: block %p (%zu bytes, usable %zu) changed at offset %zu: 0x%02x, want 0x%02x",
                 when, b->p, b->req, b->usable, bad, ((const uint8_t *)b->p)[bad],
                 lm_fuzz_byte(b->key, bad));
}

static void fill_block(struct lm_fuzz_block *b) {
  b->key = lm_fuzz_key(b->p, b->req);
  lm_fuzz_fill(b->p, b->usable, b->key);
  b->filled = b->usable;
}

static void check_no_overlap(struct lm_fuzz_ctx *ctx, const struct lm_op *op, void *p, size_t n) {
  if (!ctx->check_overlap) return;
  uintptr_t a = (uintptr_t)p;
  for (unsigned i = 0; i < LM_OPS_SLOTS; i++) {
    const struct lm_fuzz_block *o = &ctx->slots[i];
    if (!o->p) continue;
    uintptr_t b = (uintptr_t)o->p;
    LM_FUZZ_EXPECT(op, a + n <= b || b + o->usable <= a,
                   "new block [%p, +%zu) overlaps live block s%u [%p, +%zu)", p, n, i, o->p,
                   o->usable);
  }
  for (unsigned i = 0; ctx->shared && i < LM_OPS_SHARED; i++) {
    const struct lm_fuzz_block *o = &ctx->shared[i].b;
    uintptr_t b = (uintptr_t)o->p;
    LM_FUZZ_EXPECT(op, !o->p || a + n <= b || b + o->usable <= a,
                   "new block [%p, +%zu) overlaps shared block %u [%p, +%zu)", p, n, i, o->p,
                   o->usable);
  }
}

/* A new block p for a request of n bytes aligned to align: check it and
 * record it in *b (which must be empty). */
static void adopt(struct lm_fuzz_ctx *ctx, const struct lm_op *op, struct lm_fuzz_block *b,
                  void *p, size_t n, size_t align) {
  LM_FUZZ_EXPECT(op, (uintptr_t)p % (align < 16 ? 16 : align) == 0,
                 "block %p is not aligned to %zu", p, align < 16 ? 16 : align);
  size_t u = lm_malloc_usable_size(p);
  LM_FUZZ_EXPECT(op, u >= n, "usable size %zu of %p is below the request %zu", u, p, n);
  check_no_overlap(ctx, op, p, u);
  *b = (struct lm_fuzz_block){.p = p, .req = n, .usable = u};
  atomic_fetch_add(&live_bytes, u);
}

static void drop(struct lm_fuzz_block *b) {
  atomic_fetch_sub(&live_bytes, b->usable);
  memset(b, 0, sizeof *b);
}

static void free_block(const struct lm_op *op, struct lm_fuzz_block *b) {
  if (!b->p) return;
  check_block(op, b, "before free");
  LM_FUZZ_EXPECT(op, lm_malloc_usable_size(b->p) == b->usable,
                 "usable size of live %p changed from %zu to %zu", b->p, b->usable,
                 lm_malloc_usable_size(b->p));
  lm_free(b->p);
  drop(b);
}

/* Result of an allocating call into slot b (freed beforehand by the caller). */
static void got_block(struct lm_fuzz_ctx *ctx, const struct lm_op *op, struct lm_fuzz_block *b,
                      void *p, int err, size_t n, size_t align, bool zero, const char *fn) {
  if (!p) {
    failed(op, fn, n, 0);
    LM_FUZZ_EXPECT(op, err == ENOMEM, "%s(%zu) failed with errno %d, want ENOMEM", fn, n, err);
    return;
  }
  adopt(ctx, op, b, p, n, align);
  if (zero) {
    size_t bad = lm_fuzz_check_zero(p, n);
    LM_FUZZ_EXPECT(op, bad == SIZE_MAX, "calloc'd block %p has byte %zu = 0x%02x", p, bad,
                   ((uint8_t *)p)[bad]);
  }
  fill_block(b);
}

/* ---- ops ---- */

static void do_realloc(struct lm_fuzz_ctx *ctx, const struct lm_op *op, struct lm_fuzz_block *b,
                       bool array) {
  size_t n;
  bool overflow = __builtin_mul_overflow(op->nmemb, op->size, &n);
  if (!array) n = op->size, overflow = false;
  errno = 0;
  void *q = array ? lm_reallocarray(b->p, op->nmemb, op->size) : lm_realloc(b->p, n);
  int err = errno;
  const char *fn = array ? "reallocarray" : "realloc";
  if (overflow) {
    LM_FUZZ_EXPECT(op, q == NULL && err == ENOMEM, "%s overflowing %zu x %zu returned %p, errno %d",
                   fn, op->nmemb, op->size, q, err);
    if (b->p) check_block(op, b, "after a failed reallocarray");
    return;
  }
  if (b->p && n == 0) { /* glibc: frees, returns NULL */
    LM_FUZZ_EXPECT(op, q == NULL, "%s(p, 0) returned %p, want NULL", fn, q);
    drop(b);
    return;
  }
  if (!q) {
    failed(op, fn, n, 0);
    LM_FUZZ_EXPECT(op, err == ENOMEM, "%s(%zu) failed with errno %d, want ENOMEM", fn, n, err);
    if (b->p) check_block(op, b, "after a failed realloc");
    return;
  }
  LM_FUZZ_EXPECT(op, err == 0, "%s succeeded but set errno to %d", fn, err);
  if (!b->p) {
    adopt(ctx, op, b, q, n, 16);
    fill_block(b);
    return;
  }
  struct lm_fuzz_block old = *b;
  drop(b);
  old.p = q; /* the kept prefix still carries the old key */
  size_t keep = old.filled < n ? old.filled : n;
  size_t bad = lm_fuzz_check(q, old.filled, keep, old.key);
  LM_FUZZ_EXPECT(op, bad == SIZE_MAX, "%s to %zu bytes lost content at offset %zu", fn, n, bad);
  adopt(ctx, op, b, q, n, 16);
  fill_block(b);
}

static void do_aligned(struct lm_fuzz_ctx *ctx, const struct lm_op *op, struct lm_fuzz_block *b) {
  size_t a = op->align, n = op->size;
  bool pow2 = a && !(a & (a - 1));
  void *p = NULL;
  errno = 0;
  switch (op->kind) {
  case LM_OP_POSIX_MEMALIGN: {
    void *sentinel = (void *)(uintptr_t)0x5e5e5e5e;
    p = sentinel;
    int r = lm_posix_memalign(&p, a, n);
    LM_FUZZ_EXPECT(op, errno == 0, "posix_memalign changed errno to %d", errno);
    if (!pow2 || a % sizeof(void *)) {
      LM_FUZZ_EXPECT(op, r == EINVAL && p == sentinel,
                     "posix_memalign with bad alignment %zu returned %d, *out %p", a, r, p);
      return;
    }
    if (r) {
      LM_FUZZ_EXPECT(op, r == ENOMEM && p == sentinel,
                     "posix_memalign failed with %d and *out %p", r, p);
      failed(op, "posix_memalign", n, a);
      return;
    }
    adopt(ctx, op, b, p, n, a);
    fill_block(b);
    return;
  }
  case LM_OP_ALIGNED_ALLOC:
    p = lm_aligned_alloc(a, n);
    if (!pow2) {
      LM_FUZZ_EXPECT(op, p == NULL && errno == EINVAL,
                     "aligned_alloc with bad alignment %zu returned %p, errno %d", a, p, errno);
      return;
    }
    break;
  case LM_OP_MEMALIGN:
    p = lm_memalign(a, n);
    if (a > (size_t)PTRDIFF_MAX / 2 + 1) {
      LM_FUZZ_EXPECT(op, p == NULL && errno == EINVAL,
                     "memalign with alignment %zu returned %p, errno %d", a, p, errno);
      return;
    }
    /* glibc rounds other alignments up to a power of two */
    if (a < 16) a = 16;
    else if (!pow2) a = (size_t)1 << (64 - __builtin_clzll(a));
    break;
  case LM_OP_VALLOC:
    p = lm_valloc(n);
    a = PAGE;
    break;
  default: /* LM_OP_PVALLOC */
    p = lm_pvalloc(n);
    a = PAGE;
    if (n <= (size_t)PTRDIFF_MAX) n = n == 0 ? PAGE : (n + PAGE - 1) & ~(PAGE - 1);
    break;
  }
  if (!p) {
    failed(op, lm_op_kind_name(op->kind), n, a);
    LM_FUZZ_EXPECT(op, errno == ENOMEM, "%s failed with errno %d, want ENOMEM",
                   lm_op_kind_name(op->kind), errno);
    return;
  }
  adopt(ctx, op, b, p, n, a);
  fill_block(b);
}

void lm_fuzz_exec_check_all(struct lm_fuzz_ctx *ctx, const struct lm_op *op) {
  for (unsigned i = 0; i < LM_OPS_SLOTS; i++)
    if (ctx->slots[i].p) check_block(op, &ctx->slots[i], "live block");
}

/* ---- bad pointers ---- */

#include <fcntl.h>
#include <unistd.h>

/* glibc's M_CHECK_ACTION: bit 1 set aborts on a bad pointer, clear warns. */
#define M_CHECK_ACTION (-5)

static bool inside(const struct lm_fuzz_block *b, uintptr_t a, bool start) {
  uintptr_t p = (uintptr_t)b->p;
  return b->p && (start ? a == p : a >= p && a < p + b->usable);
}

/* Is a the start of (or, !start, inside) a block the driver holds? */
static bool held(const struct lm_fuzz_ctx *ctx, const void *ptr, bool start) {
  uintptr_t a = (uintptr_t)ptr;
  for (unsigned i = 0; i < LM_OPS_SLOTS; i++)
    if (inside(&ctx->slots[i], a, start)) return true;
  for (unsigned i = 0; ctx->shared && i < LM_OPS_SHARED; i++)
    if (inside(&ctx->shared[i].b, a, start)) return true;
  return false;
}

/* free(p) or usable_size(p) (which must say 0) for a p lemmalloc must
 * reject, with its report silenced: stderr is for findings. */
static void bad_call(const struct lm_op *op, void *p, bool usable) {
  static int devnull = -1;
  if (devnull < 0) devnull = open("/dev/null", O_WRONLY | O_CLOEXEC);
  int saved = dup(2);
  if (devnull >= 0 && saved >= 0) dup2(devnull, 2);
  lm_mallopt(M_CHECK_ACTION, 0);
  size_t u = 0;
  if (usable) u = lm_malloc_usable_size(p);
  else lm_free(p);
  lm_mallopt(M_CHECK_ACTION, 2);
  if (saved >= 0) {
    dup2(saved, 2);
    close(saved);
  }
  LM_FUZZ_EXPECT(op, u == 0, "malloc_usable_size of bad pointer %p = %zu, want 0", p, u);
}

static uint8_t foreign[64] __attribute__((aligned(16)));

/* An op on an empty slot, with bad_frees: pass a pointer lemmalloc must refuse. */
static void bad_pointer(struct lm_fuzz_ctx *ctx, const struct lm_op *op) {
  void *stale = ctx->stale[op->slot];
  switch (op->kind) {
  case LM_OP_FREE: case LM_OP_USABLE_SIZE: /* the slot's old block: freed already */
    if (stale && !held(ctx, stale, true)) bad_call(op, stale, op->kind == LM_OP_USABLE_SIZE);
    break;
  case LM_OP_FILL: /* inside the next live block, not at its start */
    for (unsigned k = 1; k < LM_OPS_SLOTS; k++) {
      struct lm_fuzz_block *o = &ctx->slots[(op->slot + k) % LM_OPS_SLOTS];
      if (!o->p) continue;
      size_t off = 1 + (op->slot * 16u) % o->usable; /* 1 .. usable */
      if (off < o->usable) bad_call(op, (uint8_t *)o->p + off, false);
      check_block(op, o, "after a bad free inside it");
      break;
    }
    break;
  case LM_OP_CHECK: /* memory lemmalloc never handed out */
    bad_call(op, foreign + 16 * (op->slot % 4), op->slot & 1);
    break;
  default:
    break;
  }
}

static void exec_op(struct lm_fuzz_ctx *ctx, const struct lm_op *op) {
  struct lm_fuzz_block *b = &ctx->slots[op->slot];
  if (b->p) ctx->stale[op->slot] = b->p;
  else if (ctx->bad_frees) bad_pointer(ctx, op);
  switch (op->kind) {
  case LM_OP_MALLOC: {
    free_block(op, b);
    errno = 0;
    void *p = lm_malloc(op->size);
    got_block(ctx, op, b, p, errno, op->size, 16, false, "malloc");
    break;
  }
  case LM_OP_CALLOC: {
    free_block(op, b);
    size_t n;
    bool overflow = __builtin_mul_overflow(op->nmemb, op->size, &n);
    errno = 0;
    void *p = lm_calloc(op->nmemb, op->size);
    if (overflow) {
      LM_FUZZ_EXPECT(op, p == NULL && errno == ENOMEM,
                     "calloc overflowing %zu x %zu returned %p, errno %d", op->nmemb, op->size,
                     p, errno);
      break;
    }
    got_block(ctx, op, b, p, errno, n, 16, true, "calloc");
    break;
  }
  case LM_OP_REALLOC: case LM_OP_REALLOCARRAY:
    if (b->p) check_block(op, b, "before realloc");
    do_realloc(ctx, op, b, op->kind == LM_OP_REALLOCARRAY);
    break;
  case LM_OP_FREE:
    free_block(op, b);
    break;
  case LM_OP_POSIX_MEMALIGN: case LM_OP_ALIGNED_ALLOC: case LM_OP_MEMALIGN:
  case LM_OP_VALLOC: case LM_OP_PVALLOC:
    free_block(op, b);
    do_aligned(ctx, op, b);
    break;
  case LM_OP_USABLE_SIZE: {
    size_t u = lm_malloc_usable_size(b->p);
    LM_FUZZ_EXPECT(op, b->p ? u == b->usable : u == 0, "malloc_usable_size(%p) = %zu, want %zu",
                   b->p, u, b->p ? b->usable : 0);
    break;
  }
  case LM_OP_TRIM: {
    int r = lm_malloc_trim(op->size);
    LM_FUZZ_EXPECT(op, r == 0 || r == 1, "malloc_trim returned %d", r);
    lm_fuzz_exec_check_all(ctx, op); /* purging must not touch a live page */
    break;
  }
  case LM_OP_FILL:
    if (b->p) {
      check_block(op, b, "before refill");
      fill_block(b);
    }
    break;
  case LM_OP_CHECK:
    if (b->p) check_block(op, b, "check");
    break;
  case LM_OP_HANDOFF: case LM_OP_TAKE: {
    if (!ctx->shared) break;
    struct lm_fuzz_shared *sh = &ctx->shared[op->aux % LM_OPS_SHARED];
    pthread_mutex_lock(&sh->lock);
    /* handoff: swap our block with the shared one; take: move it in, ours freed */
    if (op->kind == LM_OP_TAKE) free_block(op, b);
    struct lm_fuzz_block t = sh->b;
    sh->b = *b;
    *b = t;
    pthread_mutex_unlock(&sh->lock);
    if (b->p) check_block(op, b, "taken from another thread");
    break;
  }
  default: /* thread, barrier: the driver's business */
    break;
  }
}

void lm_fuzz_check_counts(const struct lm_op *op) {
  struct lm_stats st;
  lm_stats(&st);
  LM_FUZZ_EXPECT(op, st.allocated == lm_fuzz_live_bytes(),
                 "lm_stats: %zu bytes allocated, the driver holds %zu", st.allocated,
                 lm_fuzz_live_bytes());
}

void lm_fuzz_check_empty(void) {
  /* No trim here: it would purge every page the input touched, the
   * costliest thing a run does; the TRIM and THREAD ops exercise trimming. */
  struct lm_stats st;
  lm_stats(&st);
  LM_FUZZ_EXPECT(NULL, st.allocated == 0 && st.large_live == 0 && st.huge_live == 0,
                 "every block freed, yet lm_stats says %zu bytes allocated, %zu large, %zu huge",
                 st.allocated, st.large_live, st.huge_live);
  size_t out = 0;
  for (unsigned c = 0; c < st.nclasses; c++)
    out += (size_t)(st.classes[c].nmalloc - st.classes[c].nfree) * st.classes[c].size;
  LM_FUZZ_EXPECT(NULL, out == 0, "every block freed, yet the classes count %zu bytes of slots out", out);
  /* Every page the backend handed out is one the heap counts as mapped. */
  size_t used = lm_os_static_used();
  LM_FUZZ_EXPECT(NULL, used == st.mapped,
                 "the OS backend has %zu KiB handed out, the heap counts %zu KiB mapped (%zu chunks, "
                 "%zu KiB huge cached, %zu KiB metadata)", used >> 10, st.mapped >> 10, st.nchunks,
                 st.huge_cached >> 10, st.metadata >> 10);
}

void lm_fuzz_exec(struct lm_fuzz_ctx *ctx, const struct lm_op *op) {
  refusals_at_op = lm_os_static_refusals();
  exec_op(ctx, op);
}

void lm_fuzz_exec_release(struct lm_fuzz_ctx *ctx, bool shared_too) {
  for (unsigned i = 0; i < LM_OPS_SLOTS; i++) free_block(NULL, &ctx->slots[i]);
  for (unsigned i = 0; shared_too && ctx->shared && i < LM_OPS_SHARED; i++)
    free_block(NULL, &ctx->shared[i].b);
}
