/* Executing ops on the target and the model in lockstep.
 *
 * The model is lemmalloc's specification of the malloc family: which calls
 * must fail and how, what a result must satisfy (alignment, usable size,
 * disjointness), and what memory must hold afterwards (patterns, zeros,
 * realloc's prefix). Every live block carries a fill pattern over its whole
 * usable size; it is checked whenever the block is freed, reallocated or
 * named by a CHECK op, after malloc_trim, and for all blocks at the end.
 *
 * Threaded mode runs op.thread's ops on OS thread op.thread; blocks move
 * between threads only through the shared slots (HANDOFF/TAKE), so each
 * thread's table is private and only the interval set and the shared slots
 * need the lock. A block leaves the interval set before the target may
 * recycle it (free, realloc) and enters it after the target returned it. */
#define _GNU_SOURCE
#include "model.h"
#include "oracle.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

/* Requests up to these bounds must succeed on a machine with memory to
 * spare (the generator's sizes stay below 4 MiB + a bit). */
#define SMALL_OK ((size_t)64 << 20)
#define ALIGN_OK ((size_t)64 << 20)
#define PTRDIFF_LIMIT ((size_t)PTRDIFF_MAX)

static struct {
  struct blk tab[LM_OPS_MAX_THREADS][LM_OPS_SLOTS];
  struct blk shared[LM_OPS_SHARED];
  struct iset set;
  pthread_mutex_t lock;
  pthread_cond_t cond;
  unsigned nthreads, waiting, generation;
  int stop; /* atomic: set by the first violation, read by every thread */
  size_t page;
} S = {.lock = PTHREAD_MUTEX_INITIALIZER, .cond = PTHREAD_COND_INITIALIZER};

struct ctx {
  const struct run_opts *o;
  unsigned tid;       /* this OS thread's index (threaded) */
  unsigned cur;       /* table in use (serial: follows THREAD ops) */
  uint64_t seeds;     /* next fill seed */
  size_t i;           /* index of the op being run */
  const struct lm_op *op;
};

/* ---- reporting --------------------------------------------------------- */

bool violate(const struct run_opts *o, int prop, int basis, size_t op_index,
             const struct lm_op *op, const char *fn, const char *when, const char *fmt, ...) {
  int k = profile_match(o->pr, prop, fn, when);
  if (k >= 0) {
    size_t seen = __atomic_fetch_add(&o->rep->allowed[k], 1, __ATOMIC_RELAXED);
    if (seen == 0 || basis < o->rep->allowed_basis[k]) o->rep->allowed_basis[k] = basis; /* strictest */
    return true;
  }
  if (__atomic_exchange_n(&o->rep->claimed, 1, __ATOMIC_ACQ_REL)) return false;
  struct violation *v = &o->rep->v;
  v->prop = prop;
  v->basis = basis;
  v->op_index = op_index;
  snprintf(v->fn, sizeof v->fn, "%s", fn);
  snprintf(v->when, sizeof v->when, "%s", when);
  if (op) lm_op_format(op, v->call, sizeof v->call);
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(v->detail, sizeof v->detail, fmt, ap);
  va_end(ap);
  __atomic_store_n(&S.stop, 1, __ATOMIC_RELEASE);
  pthread_mutex_lock(&S.lock); /* wake threads waiting at a barrier (never called under it) */
  pthread_cond_broadcast(&S.cond);
  pthread_mutex_unlock(&S.lock);
  return false;
}

static bool stopped(void) { return __atomic_load_n(&S.stop, __ATOMIC_ACQUIRE); }

#define VIOLATE(c, prop, basis, fn, when, ...) \
  violate((c)->o, prop, basis, (c)->i, (c)->op, fn, when, __VA_ARGS__)

static void count(struct ctx *c, int prop) { c->o->rep->checks[c->tid][prop]++; }

/* ---- small rules ------------------------------------------------------- */

static bool pow2(size_t x) { return x && !(x & (x - 1)); }

static size_t pow2_ceil(size_t x) {
  size_t p = 1;
  while (p < x && p) p <<= 1;
  return p;
}

/* C23 7.24.3: suitably aligned for any type with fundamental alignment and
 * size <= the request: 16 (alignof(max_align_t)) from 16 bytes on, the
 * largest power of two <= n below. */
static size_t fundamental(size_t n) {
  if (n >= 16) return 16;
  size_t a = 1;
  while (a * 2 <= n) a *= 2;
  return a;
}

static const char *kind_fn(const struct lm_op *op) { return lm_op_kind_name(op->kind); }

static uint64_t next_seed(struct ctx *c) {
  c->seeds = c->seeds * 6364136223846793005u + 1442695040888963407u;
  return c->seeds;
}

/* ---- the live-block bookkeeping ---------------------------------------- */

static size_t usable_of(struct ctx *c, void *p, size_t req) {
  return c->o->t->usable_size ? c->o->t->usable_size(p) : req;
}

/* Check that a live block still holds its pattern (prop names the rule a
 * mismatch breaks in this context). */
static bool check_blk(struct ctx *c, const struct blk *b, size_t upto, int prop, const char *fn,
                      const char *what) {
  count(c, prop);
  size_t bad = pat_check((void *)b->p, b->usable, upto, b->seed, c->o->fill_max);
  if (bad == SIZE_MAX) return true;
  return VIOLATE(c, prop, B_C23, fn, what,
                 "%s: block %p (request %zu, usable %zu): byte %zu is 0x%02x, expected 0x%02x",
                 what, (void *)b->p, b->req, b->usable, bad,
                 ((unsigned char *)b->p)[bad], pat_byte(b->seed, bad));
}

static void set_remove(uintptr_t p) {
  pthread_mutex_lock(&S.lock);
  iset_remove(&S.set, p);
  pthread_mutex_unlock(&S.lock);
}

/* Enter a block into the interval set; a hit is a no-overlap violation. */
static bool set_insert(struct ctx *c, const struct blk *b, const char *fn) {
  uintptr_t lo = b->p, hi = b->p + (b->usable ? b->usable : 1), olo, ohi;
  count(c, P_OVERLAP);
  pthread_mutex_lock(&S.lock);
  bool ok = iset_insert(&S.set, lo, hi, &olo, &ohi);
  pthread_mutex_unlock(&S.lock);
  if (ok) return true;
  VIOLATE(c, P_OVERLAP, B_C23, fn, "*",
          "new block [%p, %p) overlaps live block [%p, %p)", (void *)lo, (void *)hi,
          (void *)olo, (void *)ohi);
  return false; /* never excusable: the model cannot follow two owners */
}

/* Free a live block: check, leave the set, give it back. */
static bool release(struct ctx *c, struct blk *b, const char *fn) {
  bool ok = check_blk(c, b, b->usable, P_FILL, fn, "at free");
  set_remove(b->p);
  c->o->t->free((void *)b->p);
  b->p = 0;
  return ok;
}

/* A call returned block p for a request of n bytes: check what the spec
 * promises of it and make it live in slot *b. */
static bool settle(struct ctx *c, struct blk *b, void *p, size_t n, size_t align,
                   size_t min_usable, const char *fn, const char *when) {
  uintptr_t u = (uintptr_t)p;
  unsigned k = c->op->kind;
  int basis = k == LM_OP_POSIX_MEMALIGN                                         ? B_POSIX
              : k == LM_OP_MEMALIGN || k == LM_OP_VALLOC || k == LM_OP_PVALLOC ? B_GLIBC
                                                                               : B_C23;
  count(c, P_ALIGN);
  if (align > 1 && u % align &&
      !VIOLATE(c, P_ALIGN, basis, fn, strcmp(when, "*") ? when : n == 0 ? "zero-size" : "*",
               "%p is not %zu-aligned (request %zu)", p, align, n))
    return false;
  size_t us = usable_of(c, p, n);
  count(c, P_USABLE);
  if (us < min_usable) {
    if (!VIOLATE(c, P_USABLE, B_GLIBC, fn, "*", "malloc_usable_size(%p) = %zu < %zu", p, us,
                 min_usable))
      return false;
    us = n; /* follow the target: only the request is ours */
  }
  *b = (struct blk){.p = u, .req = n, .usable = us, .seed = next_seed(c)};
  if (!set_insert(c, b, fn)) {
    b->p = 0;
    return false;
  }
  pat_fill(p, us, b->seed, c->o->fill_max);
  return true;
}

/* The target failed a request of n bytes (alignment `align`) with error
 * `err`: was it allowed to, and did it say why properly? */
static bool failed_ok(struct ctx *c, int err, size_t n, size_t align, bool must_fail) {
  const char *fn = kind_fn(c->op);
  /* errno is POSIX's promise for the standard functions, glibc's for its
   * own (memalign, valloc, pvalloc). */
  int basis = c->op->kind == LM_OP_MEMALIGN || c->op->kind == LM_OP_VALLOC ||
                      c->op->kind == LM_OP_PVALLOC ? B_GLIBC : B_POSIX;
  count(c, P_NULL_ERRNO);
  if (err != ENOMEM &&
      !VIOLATE(c, P_NULL_ERRNO, basis, fn, "errno",
               "failed with errno %d (%s), expected ENOMEM", err, strerror(err)))
    return false;
  count(c, P_SPURIOUS_NULL);
  if (!must_fail && n <= SMALL_OK && align <= ALIGN_OK) {
    const char *when = n == 0 ? "zero-size" : "small";
    if (!VIOLATE(c, P_SPURIOUS_NULL, n == 0 ? B_GLIBC : B_LEMMALLOC, fn, when,
                 "request of %zu bytes (alignment %zu) failed", n, align))
      return false;
  }
  return true;
}

/* A result for an impossible request: always a violation; if excused, the
 * block is given back at once (its size cannot be modelled). */
static bool must_fail_hit(struct ctx *c, void *p, int basis, const char *what) {
  const char *when = strstr(what, "wraps") ? "overflow" : "huge";
  bool ok = VIOLATE(c, P_MUST_FAIL, basis, kind_fn(c->op), when, "%s, yet it succeeded with %p",
                    what, p);
  if (ok) c->o->t->free(p);
  return ok;
}

/* ---- one op ------------------------------------------------------------ */

static struct blk *slot_of(struct ctx *c) { return &S.tab[c->cur][c->op->slot % LM_OPS_SLOTS]; }

/* Allocation ops reuse the slot: its old block is freed first. */
static bool vacate(struct ctx *c, struct blk *b) {
  return b->p ? release(c, b, "free") : true;
}

static bool op_malloc_like(struct ctx *c, struct blk *b) {
  const struct target *t = c->o->t;
  const struct lm_op *op = c->op;
  size_t n = op->size, page = S.page, min = n, align;
  bool must;
  void *p;
  if (!vacate(c, b)) return false;
  errno = 0;
  switch (op->kind) {
  case LM_OP_VALLOC:
    if (!t->valloc) return true;
    p = t->valloc(n);
    must = n > PTRDIFF_LIMIT;
    align = page;
    break;
  case LM_OP_PVALLOC:
    if (!t->pvalloc) return true;
    p = t->pvalloc(n);
    must = n > PTRDIFF_LIMIT - page;
    align = page;
    min = must ? n : (n + page - 1) / page * page;
    break;
  default:
    p = t->malloc(n);
    must = n > PTRDIFF_LIMIT;
    align = fundamental(n);
    break;
  }
  int err = errno;
  count(c, P_MUST_FAIL);
  if (!p) return failed_ok(c, err, n, align, must);
  if (must) return must_fail_hit(c, p, B_GLIBC, "size > PTRDIFF_MAX");
  /* pvalloc's object is the rounded size (glibc): realloc must keep it all. */
  return settle(c, b, p, op->kind == LM_OP_PVALLOC ? min : n, align, min, kind_fn(op), "*");
}

static bool op_calloc(struct ctx *c, struct blk *b) {
  const struct lm_op *op = c->op;
  if (!c->o->t->calloc) return true;
  if (!vacate(c, b)) return false;
  size_t n;
  bool overflow = __builtin_mul_overflow(op->nmemb, op->size, &n);
  errno = 0;
  void *p = c->o->t->calloc(op->nmemb, op->size);
  int err = errno;
  count(c, P_MUST_FAIL);
  if (!p) return failed_ok(c, err, overflow ? SIZE_MAX : n, 1, overflow || n > PTRDIFF_LIMIT);
  if (overflow) return must_fail_hit(c, p, B_C23, "nmemb * size wraps");
  if (n > PTRDIFF_LIMIT) return must_fail_hit(c, p, B_GLIBC, "size > PTRDIFF_MAX");
  count(c, P_CALLOC);
  size_t bad = zero_check(p, n, c->o->fill_max);
  if (bad != SIZE_MAX &&
      !VIOLATE(c, P_CALLOC, B_C23, "calloc", "*", "byte %zu of %p (%zu bytes) is 0x%02x", bad,
               p, n, ((unsigned char *)p)[bad]))
    return false;
  return settle(c, b, p, n, fundamental(n), n, "calloc", "*");
}

/* realloc and reallocarray. */
static bool op_realloc(struct ctx *c, struct blk *b) {
  const struct target *t = c->o->t;
  const struct lm_op *op = c->op;
  bool array = op->kind == LM_OP_REALLOCARRAY;
  const char *fn = kind_fn(op);
  if (array ? !t->reallocarray : !t->realloc) return true;
  size_t n = op->size;
  bool overflow = array && __builtin_mul_overflow(op->nmemb, op->size, &n);
  bool must = overflow || n > PTRDIFF_LIMIT;
  struct blk old = *b;
  if (old.p) {
    if (!check_blk(c, &old, old.usable, P_FILL, fn, "before realloc")) return false;
    set_remove(old.p); /* the target may now recycle its range */
  }
  errno = 0;
  void *p = array ? t->reallocarray((void *)old.p, op->nmemb, op->size)
                  : t->realloc((void *)old.p, n);
  int err = errno;
  count(c, P_MUST_FAIL);
  if (!p) {
    if (old.p && n == 0 && !overflow) { /* C17: implementation-defined; glibc frees */
      b->p = 0;
      return true;
    }
    if (!failed_ok(c, err, n, 1, must)) return false;
    if (!old.p) return true;
    if (!check_blk(c, &old, old.usable, P_REALLOC_FAIL, fn, "after failed realloc"))
      return false;
    return set_insert(c, &old, fn); /* still live, still ours */
  }
  if (must) {
    b->p = 0;
    return must_fail_hit(c, p, overflow ? B_POSIX : B_GLIBC,
                         overflow ? "nmemb * size wraps" : "size > PTRDIFF_MAX");
  }
  if (old.p) {
    size_t keep = old.req < n ? old.req : n;
    count(c, P_REALLOC);
    size_t bad = pat_check(p, old.usable, keep, old.seed, c->o->fill_max);
    if (bad != SIZE_MAX &&
        !VIOLATE(c, P_REALLOC, B_C23, fn, "*",
                 "realloc(%p, %zu) = %p: byte %zu of the kept %zu is 0x%02x, expected 0x%02x",
                 (void *)old.p, n, p, bad, keep, ((unsigned char *)p)[bad],
                 pat_byte(old.seed, bad)))
      return false;
  }
  b->p = 0;
  return settle(c, b, p, n, fundamental(n), n, fn, "*");
}

static bool op_free(struct ctx *c, struct blk *b) {
  if (b->p) return release(c, b, "free");
  c->o->t->free(NULL); /* must be a no-op */
  return true;
}

/* posix_memalign, aligned_alloc, memalign. */
static bool op_aligned(struct ctx *c, struct blk *b) {
  const struct target *t = c->o->t;
  const struct lm_op *op = c->op;
  const char *fn = kind_fn(op);
  size_t a = op->align, n = op->size;
  if ((op->kind == LM_OP_POSIX_MEMALIGN && !t->posix_memalign) ||
      (op->kind == LM_OP_ALIGNED_ALLOC && !t->aligned_alloc) ||
      (op->kind == LM_OP_MEMALIGN && !t->memalign))
    return true;
  if (!vacate(c, b)) return false;
  bool must = n > PTRDIFF_LIMIT;
  const char *when = a == 0 ? "zero" : !pow2(a) ? "non-pow2" : "ptr-multiple";
  void *p;
  int err;

  if (op->kind == LM_OP_POSIX_MEMALIGN) {
    /* POSIX: a power of two multiple of sizeof(void *); *memptr untouched
     * on failure. */
    bool valid = pow2(a) && a % sizeof(void *) == 0;
    void *const untouched = (void *)(uintptr_t)0x0bad0bad0bad0ba0u;
    p = untouched;
    err = t->posix_memalign(&p, a, n);
    count(c, P_BAD_ALIGN);
    if (!valid) {
      if ((err == EINVAL || (must && err == ENOMEM)) && p == untouched) return true;
      if (!VIOLATE(c, P_BAD_ALIGN, B_POSIX, fn, when,
                   "posix_memalign(%zu, %zu) returned %d, *memptr %s; expected EINVAL, untouched",
                   a, n, err, p == untouched ? "untouched" : "changed"))
        return false;
      if (err || p == untouched) return true;
      count(c, P_MUST_FAIL);
      if (must) return must_fail_hit(c, p, B_GLIBC, "size > PTRDIFF_MAX");
      return settle(c, b, p, n, fundamental(n), n, fn, "*"); /* no promise beyond */
    }
    count(c, P_NULL_ERRNO);
    if (err) {
      if (p != untouched &&
          !VIOLATE(c, P_NULL_ERRNO, B_GLIBC, fn, "memptr", "failed with %d but changed *memptr",
                   err))
        return false;
      return failed_ok(c, err, n, a, must);
    }
    count(c, P_MUST_FAIL);
    if (must) return must_fail_hit(c, p, B_GLIBC, "size > PTRDIFF_MAX");
    return settle(c, b, p, n, a, n, fn, "*");
  }

  errno = 0;
  p = op->kind == LM_OP_ALIGNED_ALLOC ? t->aligned_alloc(a, n) : t->memalign(a, n);
  err = errno;
  count(c, P_BAD_ALIGN);
  if (op->kind == LM_OP_ALIGNED_ALLOC && !pow2(a)) {
    /* C23 7.24.3.1: an alignment the implementation does not support
     * fails; POSIX.1-2024 names EINVAL. */
    if (!p) {
      if (err == EINVAL || (must && err == ENOMEM)) return true; /* both apply */
      return VIOLATE(c, P_NULL_ERRNO, B_POSIX, fn, "einval",
                     "aligned_alloc(%zu, %zu) failed with errno %d, expected EINVAL", a, n, err);
    }
    if (!VIOLATE(c, P_BAD_ALIGN, B_C23, fn, when, "aligned_alloc(%zu, %zu) = %p, expected NULL",
                 a, n, p))
      return false;
    count(c, P_MUST_FAIL);
    if (must) return must_fail_hit(c, p, B_GLIBC, "size > PTRDIFF_MAX");
    return settle(c, b, p, n, fundamental(n), n, fn, "*"); /* no promise beyond */
  }
  if (op->kind == LM_OP_MEMALIGN && !pow2(a)) {
    /* glibc rounds the alignment up to a power of two (0 acts as malloc);
     * refusing with EINVAL is the other sane answer. */
    if (!p) {
      if (err == EINVAL || err == ENOMEM) return true;
      return VIOLATE(c, P_NULL_ERRNO, B_GLIBC, fn, "einval",
                     "memalign(%zu, %zu) failed with errno %d, expected EINVAL", a, n, err);
    }
    count(c, P_MUST_FAIL);
    if (must) return must_fail_hit(c, p, B_GLIBC, "size > PTRDIFF_MAX");
    return settle(c, b, p, n, a ? pow2_ceil(a) : fundamental(n), n, fn, when);
  }
  count(c, P_MUST_FAIL);
  if (!p) {
    if (a > ALIGN_OK && (err == EINVAL || err == ENOMEM)) return true; /* unsupported */
    if (op->kind == LM_OP_ALIGNED_ALLOC && n % a && n <= SMALL_OK && a <= ALIGN_OK) {
      /* C11 wanted n to be a multiple of a; C17 (DR 460) and C23 do not. */
      count(c, P_SPURIOUS_NULL);
      return VIOLATE(c, P_SPURIOUS_NULL, B_C23, fn, "size-not-multiple",
                     "aligned_alloc(%zu, %zu) failed (errno %d)", a, n, err);
    }
    return failed_ok(c, err, n, a, must);
  }
  if (must) return must_fail_hit(c, p, B_GLIBC, "size > PTRDIFF_MAX");
  return settle(c, b, p, n, a, n, fn, "*");
}

static bool op_usable(struct ctx *c, struct blk *b) {
  const struct target *t = c->o->t;
  if (!t->usable_size) return true;
  if (!b->p) {
    count(c, P_USABLE_NULL);
    size_t u = t->usable_size(NULL);
    return u == 0 || VIOLATE(c, P_USABLE_NULL, B_GLIBC, "malloc_usable_size", "*",
                             "malloc_usable_size(NULL) = %zu", u);
  }
  count(c, P_USABLE);
  size_t u = t->usable_size((void *)b->p);
  return u == b->usable ||
         VIOLATE(c, P_USABLE, B_GLIBC, "malloc_usable_size", "stable",
                 "malloc_usable_size(%p) = %zu, was %zu when allocated (request %zu)",
                 (void *)b->p, u, b->usable, b->req);
}

/* Check every block this thread may touch (all of them when serial). */
static bool sweep(struct ctx *c, const char *what) {
  unsigned lo = c->o->threaded ? c->tid : 0;
  unsigned hi = c->o->threaded ? c->tid + 1 : LM_OPS_MAX_THREADS;
  for (unsigned t = lo; t < hi; t++)
    for (unsigned s = 0; s < LM_OPS_SLOTS; s++)
      if (S.tab[t][s].p && !check_blk(c, &S.tab[t][s], S.tab[t][s].usable, P_FILL, "*", what))
        return false;
  if (c->o->threaded) return true;
  for (unsigned s = 0; s < LM_OPS_SHARED; s++)
    if (S.shared[s].p && !check_blk(c, &S.shared[s], S.shared[s].usable, P_FILL, "*", what))
      return false;
  return true;
}

/* All threads meet; returns false if the run was stopped meanwhile. */
static bool barrier(void) {
  pthread_mutex_lock(&S.lock);
  unsigned gen = S.generation;
  if (++S.waiting == S.nthreads) {
    S.waiting = 0;
    S.generation++;
    pthread_cond_broadcast(&S.cond);
  } else {
    while (gen == S.generation && !stopped())
      pthread_cond_wait(&S.cond, &S.lock);
  }
  pthread_mutex_unlock(&S.lock);
  return !stopped();
}

static bool exec_op(struct ctx *c) {
  const struct lm_op *op = c->op;
  struct blk *b = slot_of(c);
  switch (op->kind) {
  case LM_OP_MALLOC: case LM_OP_VALLOC: case LM_OP_PVALLOC:
    return op_malloc_like(c, b);
  case LM_OP_CALLOC:
    return op_calloc(c, b);
  case LM_OP_REALLOC: case LM_OP_REALLOCARRAY:
    return op_realloc(c, b);
  case LM_OP_FREE:
    return op_free(c, b);
  case LM_OP_POSIX_MEMALIGN: case LM_OP_ALIGNED_ALLOC: case LM_OP_MEMALIGN:
    return op_aligned(c, b);
  case LM_OP_USABLE_SIZE:
    return op_usable(c, b);
  case LM_OP_TRIM:
    if (!c->o->t->trim) return true;
    c->o->t->trim(op->size);
    return sweep(c, "after malloc_trim"); /* purging must spare live bytes */
  case LM_OP_FILL:
    if (b->p) {
      b->seed = next_seed(c);
      pat_fill((void *)b->p, b->usable, b->seed, c->o->fill_max);
    }
    return true;
  case LM_OP_CHECK:
    return !b->p || check_blk(c, b, b->usable, P_FILL, "*", "at check");
  case LM_OP_HANDOFF: case LM_OP_TAKE: {
    struct blk *sh = &S.shared[op->aux % LM_OPS_SHARED];
    bool ok = true;
    pthread_mutex_lock(&S.lock);
    struct blk *from = op->kind == LM_OP_HANDOFF ? b : sh, *to = from == b ? sh : b;
    struct blk old = {0};
    if (from->p) {
      old = *to;
      *to = *from;
      from->p = 0;
    }
    pthread_mutex_unlock(&S.lock);
    if (old.p) ok = release(c, &old, "free"); /* the displaced block */
    return ok;
  }
  case LM_OP_THREAD:
    if (!c->o->threaded) c->cur = op->aux % LM_OPS_MAX_THREADS;
    return true;
  case LM_OP_BARRIER:
    return !c->o->threaded || barrier();
  default:
    return true;
  }
}

static bool skipped(const struct run_opts *o, const struct lm_op *op) {
  const struct target *t = o->t;
  void *f = NULL;
  switch (op->kind) {
  case LM_OP_CALLOC: f = (void *)t->calloc; break;
  case LM_OP_REALLOC: f = (void *)t->realloc; break;
  case LM_OP_REALLOCARRAY: f = (void *)t->reallocarray; break;
  case LM_OP_POSIX_MEMALIGN: f = (void *)t->posix_memalign; break;
  case LM_OP_ALIGNED_ALLOC: f = (void *)t->aligned_alloc; break;
  case LM_OP_MEMALIGN: f = (void *)t->memalign; break;
  case LM_OP_VALLOC: f = (void *)t->valloc; break;
  case LM_OP_PVALLOC: f = (void *)t->pvalloc; break;
  case LM_OP_USABLE_SIZE: f = (void *)t->usable_size; break;
  case LM_OP_TRIM: f = (void *)t->trim; break;
  default: return false;
  }
  return f == NULL;
}

/* ---- driving ----------------------------------------------------------- */

struct thread_arg {
  const struct run_opts *o;
  const struct lm_op *ops;
  size_t n;
  unsigned tid;
  bool ok;
};

static __thread unsigned my_tid;
unsigned oracle_thread_id(void) { return my_tid; }

static void *thread_main(void *arg) {
  struct thread_arg *a = arg;
  struct ctx c = {.o = a->o, .tid = a->tid, .cur = a->tid, .seeds = 0x5eed + a->tid};
  my_tid = a->tid;
  a->ok = true;
  for (size_t i = 0; i < a->n && a->ok && !stopped(); i++) {
    const struct lm_op *op = &a->ops[i];
    bool mine = a->o->threaded ? op->thread == a->tid || op->kind == LM_OP_BARRIER : true;
    if (!mine) continue;
    if (skipped(a->o, op)) {
      __atomic_add_fetch(&a->o->rep->skipped[op->kind], 1, __ATOMIC_RELAXED);
      continue;
    }
    a->o->rep->progress[a->tid] = i;
    if (a->tid == 0 || op->kind != LM_OP_BARRIER) a->o->rep->executed[a->tid]++;
    c.i = i;
    c.op = op;
    a->ok = exec_op(&c);
  }
  if (a->ok && !stopped() && a->o->threaded) a->ok = barrier(); /* everyone done */
  if (a->ok && !stopped()) a->ok = sweep(&c, "at the end");
  /* Give back what is left, checking each block once more on the way. */
  for (unsigned s = 0; s < LM_OPS_SLOTS && a->ok && !stopped(); s++)
    for (unsigned t = a->o->threaded ? a->tid : 0; t < (a->o->threaded ? a->tid + 1 : LM_OPS_MAX_THREADS); t++)
      if (S.tab[t][s].p) a->ok = release(&c, &S.tab[t][s], "free");
  if (a->tid == 0)
    for (unsigned s = 0; s < LM_OPS_SHARED && a->ok && !stopped(); s++)
      if (S.shared[s].p) a->ok = release(&c, &S.shared[s], "free");
  return NULL;
}

bool run_ops(const struct run_opts *o, const struct lm_op *ops, size_t n) {
  S.page = (size_t)sysconf(_SC_PAGESIZE);
  o->rep->v.prop = -1;
  unsigned nthreads = 1;
  if (o->threaded)
    for (size_t i = 0; i < n; i++)
      if (ops[i].thread + 1u > nthreads) nthreads = ops[i].thread + 1u;
  S.nthreads = nthreads;
  struct thread_arg args[LM_OPS_MAX_THREADS];
  pthread_t th[LM_OPS_MAX_THREADS];
  for (unsigned t = 0; t < nthreads; t++)
    args[t] = (struct thread_arg){.o = o, .ops = ops, .n = n, .tid = t};
  /* With the oracle's barrier every thread must exist, even with no ops. */
  for (unsigned t = 1; t < nthreads; t++)
    if (pthread_create(&th[t], NULL, thread_main, &args[t]) != 0) {
      fprintf(stderr, "oracle: pthread_create failed\n");
      return false;
    }
  thread_main(&args[0]);
  for (unsigned t = 1; t < nthreads; t++)
    pthread_join(th[t], NULL);
  return o->rep->v.prop < 0;
}

/* ---- footprint --------------------------------------------------------- */

static size_t resident_bytes(void) {
  char buf[128];
  FILE *f = fopen("/proc/self/statm", "r");
  unsigned long size = 0, res = 0;
  if (f) {
    if (fgets(buf, sizeof buf, f)) sscanf(buf, "%lu %lu", &size, &res);
    fclose(f);
  }
  return (size_t)res * (size_t)sysconf(_SC_PAGESIZE);
}

/* A live set of K blocks (16 B .. 64 KiB, log-uniform, ~6 MiB) is freed and
 * allocated again, same sizes, shuffled order, `rounds` times. A sound
 * allocator reaches a steady state after a round or two; one that leaks,
 * never reuses, or fragments without bound grows with every round. */
#define FP_K 1024
bool run_footprint(const struct run_opts *o, uint64_t seed, unsigned rounds) {
  static void *blk[FP_K];
  static size_t sz[FP_K];
  static unsigned order[FP_K];
  uint64_t st = seed | 1;
  for (unsigned i = 0; i < FP_K; i++) {
    st ^= st << 13, st ^= st >> 7, st ^= st << 17;
    sz[i] = ((size_t)16 << (st % 13)) + (st >> 20) % 64;
    order[i] = i;
  }
  o->rep->v.prop = -1;
  struct ctx c = {.o = o};
  size_t warm = 0, end = 0;
  for (unsigned r = 0; r < rounds; r++) {
    for (unsigned i = FP_K - 1; i > 0; i--) { /* shuffle */
      st ^= st << 13, st ^= st >> 7, st ^= st << 17;
      unsigned j = (unsigned)(st % (i + 1)), x = order[i];
      order[i] = order[j], order[j] = x;
    }
    for (unsigned k = 0; k < FP_K; k++) {
      unsigned i = order[k];
      if (blk[i]) o->t->free(blk[i]);
      blk[i] = o->t->malloc(sz[i]);
      if (blk[i]) memset(blk[i], (int)r, sz[i]); /* resident, as in real use */
    }
    if (r == 1) warm = resident_bytes();
  }
  end = resident_bytes();
  for (unsigned i = 0; i < FP_K; i++)
    o->t->free(blk[i]);
  o->rep->footprint_warm = warm;
  o->rep->footprint_end = end;
  count(&c, P_FOOTPRINT);
  /* Allow noise and a late size-class warm-up: a quarter plus 8 MiB. */
  if (end > warm + warm / 4 + ((size_t)8 << 20))
    return violate(o, P_FOOTPRINT, B_LEMMALLOC, SIZE_MAX, NULL, "malloc", "*",
                   "resident %zu KiB after round 2, %zu KiB after round %u, same live set",
                   warm >> 10, end >> 10, rounds);
  return true;
}
