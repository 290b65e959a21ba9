/* Executing ops on the target and the model in lockstep.
 *
 * The model is lemmalloc's specification of the malloc family, written once
 * in tools/model/malloc_model.c and shared with the fuzz drivers: which calls
 * must fail and how, what a result must satisfy (alignment, usable size,
 * disjointness), and what memory must hold afterwards (patterns, zeros,
 * realloc's prefix). This file calls the target, hands each outcome to the
 * model's judges and keeps the live blocks (its interval set finds
 * overlaps); the model runs lenient here (any allocator). Every live block carries a fill pattern over its whole
 * usable size; it is checked whenever the block is freed, reallocated or
 * named by a CHECK op, after malloc_trim, and for all blocks at the end.
 *
 * Threaded mode runs op.thread's ops on OS thread op.thread; blocks move
 * between threads only through the shared slots (HANDOFF/TAKE), so each
 * thread's table is private and only the interval set and the shared slots
 * need the lock. A block leaves the interval set before the target may
 * recycle it (free, realloc) and enters it after the target returned it. */
#define _GNU_SOURCE
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
  struct lm_model m;  /* the contract, with this context as its host */
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

/* ---- the model's host side ------------------------------------------- */

static uint64_t next_seed(struct ctx *c) {
  c->seeds = c->seeds * 6364136223846793005u + 1442695040888963407u;
  return c->seeds;
}

static bool host_violate(void *host, int prop, int basis, const char *fn, const char *when,
                         const char *detail) {
  return VIOLATE((struct ctx *)host, prop, basis, fn, when, "%s", detail);
}

static void host_count(void *host, int prop) { count(host, prop); }

/* The model as the oracle runs it: any allocator, every sane answer. */
static void model_init(struct ctx *c) {
  c->m = (struct lm_model){.strict = false, .page = S.page, .fill_max = c->o->fill_max,
                           .small_ok = SMALL_OK, .align_ok = ALIGN_OK,
                           .violate = host_violate, .count = host_count, .host = c};
}

/* ---- the live-block bookkeeping ---------------------------------------- */

static size_t usable_of(struct ctx *c, void *p, size_t req) {
  return c->o->t->usable_size ? c->o->t->usable_size(p) : req;
}

/* Check that a live block still holds its pattern (prop names the rule a
 * mismatch breaks in this context). */
static bool check_blk(struct ctx *c, const struct blk *b, size_t upto, int prop, const char *fn,
                      const char *what) {
  return lm_model_intact(&c->m, b, upto, prop, fn, what);
}

static void set_remove(uintptr_t p) {
  pthread_mutex_lock(&S.lock);
  iset_remove(&S.set, p);
  pthread_mutex_unlock(&S.lock);
}

/* Enter a block into the interval set; a hit is a no-overlap violation. */
static bool set_insert(struct ctx *c, const struct blk *b, const char *fn) {
  uintptr_t lo = b->p, hi = b->p + (b->usable ? b->usable : 1), olo, ohi;
  count(c, LM_PROP_OVERLAP);
  pthread_mutex_lock(&S.lock);
  bool ok = iset_insert(&S.set, lo, hi, &olo, &ohi);
  pthread_mutex_unlock(&S.lock);
  return ok || lm_model_overlap(&c->m, fn, lo, hi, olo, ohi);
}

/* Free a live block: check, leave the set, give it back. */
static bool release(struct ctx *c, struct blk *b, const char *fn) {
  bool ok = check_blk(c, b, b->usable, LM_PROP_FILL, fn, "at free");
  set_remove(b->p);
  c->o->t->free((void *)b->p);
  b->p = 0;
  return ok;
}

/* A block the model adopted: check what the spec promises of it, make it
 * live in slot *b and fill it. */
static bool settle(struct ctx *c, struct blk *b, const struct lm_req *r,
                   const struct lm_adopt *a, void *p) {
  if (!lm_model_block(&c->m, r, a, p, usable_of(c, p, a->n), next_seed(c), b)) return false;
  if (!set_insert(c, b, r->fn)) {
    b->p = 0;
    return false;
  }
  lm_model_fill(&c->m, b);
  return true;
}

/* Do what the model's verdict on a call says. */
static bool act(struct ctx *c, struct blk *b, const struct lm_req *r, enum lm_act v,
                const struct lm_adopt *a, void *p) {
  switch (v) {
  case LM_ACT_STOP: return false;
  case LM_ACT_ADOPT: return settle(c, b, r, a, p);
  case LM_ACT_GIVE_BACK: c->o->t->free(p); return true; /* excused; its size cannot be modelled */
  default: return true;
  }
}

/* ---- one op ------------------------------------------------------------ */

static struct blk *slot_of(struct ctx *c) { return &S.tab[c->cur][c->op->slot % LM_OPS_SLOTS]; }

/* Allocation ops reuse the slot: its old block is freed first. */
static bool vacate(struct ctx *c, struct blk *b) {
  return b->p ? release(c, b, "free") : true;
}

/* malloc, calloc, valloc, pvalloc and the aligned family. */
static bool op_alloc(struct ctx *c, struct blk *b) {
  const struct target *t = c->o->t;
  const struct lm_op *op = c->op;
  if (!vacate(c, b)) return false;
  struct lm_req r;
  lm_model_request(&c->m, op->kind, op->nmemb, op->size, op->align, &r);
  void *p = NULL;
  bool changed = false;
  int err;
  errno = 0;
  switch (op->kind) {
  case LM_OP_MALLOC: p = t->malloc(op->size); break;
  case LM_OP_CALLOC: p = t->calloc(op->nmemb, op->size); break;
  case LM_OP_VALLOC: p = t->valloc(op->size); break;
  case LM_OP_PVALLOC: p = t->pvalloc(op->size); break;
  case LM_OP_ALIGNED_ALLOC: p = t->aligned_alloc(op->align, op->size); break;
  case LM_OP_MEMALIGN: p = t->memalign(op->align, op->size); break;
  default: { /* posix_memalign: *memptr must stay untouched on failure */
    void *const untouched = (void *)(uintptr_t)0x0bad0bad0bad0ba0u;
    p = untouched;
    err = t->posix_memalign(&p, op->align, op->size);
    changed = p != untouched;
    if (!changed) p = NULL;
    struct lm_adopt a;
    return act(c, b, &r, lm_model_result(&c->m, &r, p, err, false, changed, false, &a), &a, p);
  }
  }
  err = errno;
  struct lm_adopt a;
  return act(c, b, &r, lm_model_result(&c->m, &r, p, err, false, false, false, &a), &a, p);
}

/* realloc and reallocarray. */
static bool op_realloc(struct ctx *c, struct blk *b) {
  const struct target *t = c->o->t;
  const struct lm_op *op = c->op;
  bool array = op->kind == LM_OP_REALLOCARRAY;
  struct lm_req r;
  lm_model_request(&c->m, op->kind, op->nmemb, op->size, 0, &r);
  struct blk old = *b;
  if (old.p) {
    if (!check_blk(c, &old, old.usable, LM_PROP_FILL, r.fn, "before realloc")) return false;
    set_remove(old.p); /* the target may now recycle its range */
  }
  errno = 0;
  void *p = array ? t->reallocarray((void *)old.p, op->nmemb, op->size)
                  : t->realloc((void *)old.p, op->size);
  int err = errno;
  struct lm_adopt a;
  enum lm_act v = lm_model_realloc(&c->m, &r, &old, p, err, false, false, &a);
  if (v == LM_ACT_KEEP_OLD) return set_insert(c, &old, r.fn); /* still live, still ours */
  b->p = 0;
  return act(c, b, &r, v, &a, p);
}

static bool op_free(struct ctx *c, struct blk *b) {
  if (b->p) return release(c, b, "free");
  c->o->t->free(NULL); /* must be a no-op */
  return true;
}

static bool op_usable(struct ctx *c, struct blk *b) {
  const struct target *t = c->o->t;
  if (!t->usable_size) return true;
  return lm_model_usable(&c->m, b, t->usable_size((void *)b->p));
}

/* Check every block this thread may touch (all of them when serial). */
static bool sweep(struct ctx *c, const char *what) {
  unsigned lo = c->o->threaded ? c->tid : 0;
  unsigned hi = c->o->threaded ? c->tid + 1 : LM_OPS_MAX_THREADS;
  for (unsigned t = lo; t < hi; t++)
    for (unsigned s = 0; s < LM_OPS_SLOTS; s++)
      if (S.tab[t][s].p && !check_blk(c, &S.tab[t][s], S.tab[t][s].usable, LM_PROP_FILL, "*", what))
        return false;
  if (c->o->threaded) return true;
  for (unsigned s = 0; s < LM_OPS_SHARED; s++)
    if (S.shared[s].p && !check_blk(c, &S.shared[s], S.shared[s].usable, LM_PROP_FILL, "*", what))
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
  case LM_OP_MALLOC: case LM_OP_VALLOC: case LM_OP_PVALLOC: case LM_OP_CALLOC:
  case LM_OP_POSIX_MEMALIGN: case LM_OP_ALIGNED_ALLOC: case LM_OP_MEMALIGN:
    return op_alloc(c, b);
  case LM_OP_REALLOC: case LM_OP_REALLOCARRAY:
    return op_realloc(c, b);
  case LM_OP_FREE:
    return op_free(c, b);
  case LM_OP_USABLE_SIZE:
    return op_usable(c, b);
  case LM_OP_TRIM:
    if (!c->o->t->trim) return true;
    c->o->t->trim(op->size);
    return sweep(c, "after malloc_trim"); /* purging must spare live bytes */
  case LM_OP_FILL:
    if (b->p) {
      b->seed = next_seed(c);
      lm_model_fill(&c->m, b);
    }
    return true;
  case LM_OP_CHECK:
    return !b->p || check_blk(c, b, b->usable, LM_PROP_FILL, "*", "at check");
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
  model_init(&c);
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
  model_init(&c);
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
  count(&c, LM_PROP_FOOTPRINT);
  /* Allow noise and a late size-class warm-up: a quarter plus 8 MiB. */
  if (end > warm + warm / 4 + ((size_t)8 << 20))
    return violate(o, LM_PROP_FOOTPRINT, LM_B_LEMMALLOC, SIZE_MAX, NULL, "malloc", "*",
                   "resident %zu KiB after round 2, %zu KiB after round %u, same live set",
                   warm >> 10, end >> 10, rounds);
  return true;
}
