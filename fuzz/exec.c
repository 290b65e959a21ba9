/* Op executor for the api and threads drivers. See exec.h.
 *
 * The malloc-family contract is not written here: every call's outcome goes
 * to the malloc model (tools/model/malloc_model.c), the specification the
 * oracle (tools/oracle) checks any allocator against, run strict: held to
 * lemmalloc's own choices (16-byte alignment for every block, realloc(p, 0)
 * frees and returns NULL, memalign rounds alignments up, ...). A broken
 * rule fails the input with the model's property name, e.g.
 *   contract violated at "t0 s3 = calloc(4, 1000)": calloc-zero (C23, calloc): byte 8 ...
 * The model judges alignment, usable size >= request and stable while live,
 * calloc zeros, realloc keeping min(old usable, new) bytes and leaving the
 * block intact when it fails, errno / EINVAL / ENOMEM on every error path,
 * impossible sizes failing, and every block's pattern (tools/model/blocks.h)
 * intact until freed: before free and realloc, at check ops, after trims.
 *
 * What stays here is what only a harness that owns lemmalloc can see:
 *  - when a NULL is allowed: only where memory really ran out -- the static
 *    OS backend refused this thread a mapping during the call (it is small,
 *    and its chunk-aligned mappings fragment it); the model is told so;
 *  - no overlap with a live block (single thread, a scan of the slots);
 *  - with bad_frees (single thread), ops on an empty slot hand lemmalloc
 *    bad pointers -- the slot's old block (double free), an interior
 *    pointer, a pointer it never gave out -- under M_CHECK_ACTION "warn":
 *    each must be reported and ignored (usable size 0), changing nothing,
 *    which the content checks and the final empty-heap check verify;
 *  - malloc_trim returns 0 or 1; lm_stats counts; when the driver is idle
 *    (every block freed), the backend's pages handed out are exactly what
 *    the heap counts as mapped: no leak.
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

/* ---- the model's host side ---- */

/* Refusals of the OS backend when the op began: a NULL is allowed only if
 * this thread was refused a mapping since. */
static __thread unsigned long refusals_at_op;

static bool ran_out(void) { return lm_os_static_refusals() != refusals_at_op; }

/* A rule broke: fail the input with the property's name. */
static bool host_violate(void *host, int prop, int basis, const char *fn, const char *when,
                         const char *detail) {
  const struct lm_op *op = ((const struct lm_fuzz_ctx *)host)->op;
  (void)when;
  if (prop == LM_PROP_SPURIOUS_NULL) { /* with what the heap holds, for triage */
    struct lm_stats st;
    lm_stats(&st);
    lm_fuzz_fail(op, "%s (%s, %s): %s, yet the OS backend refused no mapping; the heap maps "
                 "%zu KiB (%zu chunks, %zu KiB huge live, %zu KiB huge cached, %zu KiB "
                 "metadata), the backend has %zu KiB handed out", lm_prop_name(prop),
                 lm_basis_name(basis), fn, detail, st.mapped >> 10, st.nchunks,
                 st.huge_live >> 10, st.huge_cached >> 10, st.metadata >> 10,
                 lm_os_static_used() >> 10);
  }
  lm_fuzz_fail(op, "%s (%s, %s): %s", lm_prop_name(prop), lm_basis_name(basis), fn, detail);
}

/* The model, strict (lemmalloc's guarantees), reporting for op. */
static const struct lm_model *model(struct lm_fuzz_ctx *ctx, const struct lm_op *op) {
  ctx->op = op;
  ctx->model = (struct lm_model){.strict = true, .page = PAGE, .fill_max = LM_FUZZ_FULL_LIMIT,
                                 .small_ok = SIZE_MAX, .align_ok = (size_t)PTRDIFF_MAX / 2 + 1,
                                 .violate = host_violate, .host = ctx};
  return &ctx->model;
}

/* ---- block bookkeeping ---- */

static void check_block(struct lm_fuzz_ctx *ctx, const struct blk *b, const char *when) {
  lm_model_intact(&ctx->model, b, b->usable, LM_PROP_FILL, "*", when);
}

static void check_no_overlap(struct lm_fuzz_ctx *ctx, const char *fn, const struct blk *n) {
  if (!ctx->check_overlap) return;
  uintptr_t a = n->p, e = n->p + (n->usable ? n->usable : 1);
  for (unsigned i = 0; i < LM_OPS_SLOTS + (ctx->shared ? LM_OPS_SHARED : 0); i++) {
    const struct blk *o = i < LM_OPS_SLOTS ? &ctx->slots[i] : &ctx->shared[i - LM_OPS_SLOTS].b;
    if (o->p && o != n && !(e <= o->p || o->p + o->usable <= a))
      lm_model_overlap(&ctx->model, fn, a, e, o->p, o->p + o->usable);
  }
}

/* Make a block the model adopted live in *b (empty): check it, fill it. */
static void settle(struct lm_fuzz_ctx *ctx, struct blk *b, const struct lm_req *r,
                   const struct lm_adopt *a, void *p) {
  struct blk nb;
  lm_model_block(&ctx->model, r, a, p, lm_malloc_usable_size(p), lm_fuzz_key(p, a->n), &nb);
  check_no_overlap(ctx, r->fn, &nb);
  *b = nb;
  lm_model_fill(&ctx->model, b);
  atomic_fetch_add(&live_bytes, b->usable);
}

/* Do what the model's verdict says (a STOP never gets here: the host aborted). */
static void act(struct lm_fuzz_ctx *ctx, struct blk *b, const struct lm_req *r, enum lm_act v,
                const struct lm_adopt *a, void *p) {
  if (v == LM_ACT_ADOPT) settle(ctx, b, r, a, p);
  else if (v == LM_ACT_GIVE_BACK) lm_free(p);
}

static void drop(struct blk *b) {
  atomic_fetch_sub(&live_bytes, b->usable);
  memset(b, 0, sizeof *b);
}

static void free_block(struct lm_fuzz_ctx *ctx, struct blk *b) {
  if (!b->p) return;
  check_block(ctx, b, "before free");
  lm_model_usable(&ctx->model, b, lm_malloc_usable_size((void *)b->p));
  lm_free((void *)b->p);
  drop(b);
}

/* ---- ops ---- */

static void do_alloc(struct lm_fuzz_ctx *ctx, const struct lm_op *op, struct blk *b) {
  struct lm_req r;
  lm_model_request(&ctx->model, op->kind, op->nmemb, op->size, op->align, &r);
  void *p = NULL;
  bool changed = false;
  int err;
  errno = 0;
  switch (op->kind) {
  case LM_OP_MALLOC: p = lm_malloc(op->size); break;
  case LM_OP_CALLOC: p = lm_calloc(op->nmemb, op->size); break;
  case LM_OP_VALLOC: p = lm_valloc(op->size); break;
  case LM_OP_PVALLOC: p = lm_pvalloc(op->size); break;
  case LM_OP_ALIGNED_ALLOC: p = lm_aligned_alloc(op->align, op->size); break;
  case LM_OP_MEMALIGN: p = lm_memalign(op->align, op->size); break;
  default: { /* posix_memalign: returns its error, *out untouched on failure */
    void *const sentinel = (void *)(uintptr_t)0x5e5e5e5e;
    p = sentinel;
    err = lm_posix_memalign(&p, op->align, op->size);
    changed = p != sentinel;
    if (!changed) p = NULL;
    struct lm_adopt a;
    act(ctx, b, &r, lm_model_result(&ctx->model, &r, p, err, errno != 0, changed, ran_out(), &a),
        &a, p);
    return;
  }
  }
  err = errno;
  struct lm_adopt a;
  act(ctx, b, &r, lm_model_result(&ctx->model, &r, p, err, err != 0, false, ran_out(), &a), &a, p);
}

static void do_realloc(struct lm_fuzz_ctx *ctx, const struct lm_op *op, struct blk *b) {
  bool array = op->kind == LM_OP_REALLOCARRAY;
  struct lm_req r;
  lm_model_request(&ctx->model, op->kind, op->nmemb, op->size, 0, &r);
  errno = 0;
  void *q = array ? lm_reallocarray((void *)b->p, op->nmemb, op->size)
                  : lm_realloc((void *)b->p, op->size);
  int err = errno;
  struct blk old = *b;
  struct lm_adopt a;
  enum lm_act v = lm_model_realloc(&ctx->model, &r, &old, q, err, err != 0, ran_out(), &a);
  if (v == LM_ACT_KEEP_OLD) return; /* still live, intact */
  if (old.p) drop(b); /* freed or moved */
  act(ctx, b, &r, v, &a, q);
}

void lm_fuzz_exec_check_all(struct lm_fuzz_ctx *ctx, const struct lm_op *op) {
  model(ctx, op);
  for (unsigned i = 0; i < LM_OPS_SLOTS; i++)
    if (ctx->slots[i].p) check_block(ctx, &ctx->slots[i], "live block");
}

/* ---- bad pointers ---- */

#include <fcntl.h>
#include <unistd.h>

/* glibc's M_CHECK_ACTION: bit 1 set aborts on a bad pointer, clear warns. */
#define M_CHECK_ACTION (-5)

static bool inside(const struct blk *b, uintptr_t a, bool start) {
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
      struct blk *o = &ctx->slots[(op->slot + k) % LM_OPS_SLOTS];
      if (!o->p) continue;
      size_t off = 1 + (op->slot * 16u) % o->usable; /* 1 .. usable */
      if (off < o->usable) bad_call(op, (uint8_t *)o->p + off, false);
      check_block(ctx, o, "after a bad free inside it");
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
  struct blk *b = &ctx->slots[op->slot];
  if (b->p) ctx->stale[op->slot] = (void *)b->p;
  else if (ctx->bad_frees) bad_pointer(ctx, op);
  switch (op->kind) {
  case LM_OP_MALLOC: case LM_OP_CALLOC: case LM_OP_POSIX_MEMALIGN: case LM_OP_ALIGNED_ALLOC:
  case LM_OP_MEMALIGN: case LM_OP_VALLOC: case LM_OP_PVALLOC:
    free_block(ctx, b);
    do_alloc(ctx, op, b);
    break;
  case LM_OP_REALLOC: case LM_OP_REALLOCARRAY:
    if (b->p) check_block(ctx, b, "before realloc");
    do_realloc(ctx, op, b);
    break;
  case LM_OP_FREE:
    free_block(ctx, b);
    break;
  case LM_OP_USABLE_SIZE:
    lm_model_usable(&ctx->model, b, lm_malloc_usable_size((void *)b->p));
    break;
  case LM_OP_TRIM: {
    int r = lm_malloc_trim(op->size);
    LM_FUZZ_EXPECT(op, r == 0 || r == 1, "malloc_trim returned %d", r);
    lm_fuzz_exec_check_all(ctx, op); /* purging must not touch a live page */
    break;
  }
  case LM_OP_FILL:
    if (b->p) {
      check_block(ctx, b, "before refill");
      lm_model_fill(&ctx->model, b);
    }
    break;
  case LM_OP_CHECK:
    if (b->p) check_block(ctx, b, "check");
    break;
  case LM_OP_HANDOFF: case LM_OP_TAKE: {
    if (!ctx->shared) break;
    struct lm_fuzz_shared *sh = &ctx->shared[op->aux % LM_OPS_SHARED];
    pthread_mutex_lock(&sh->lock);
    /* handoff: swap our block with the shared one; take: move it in, ours freed */
    if (op->kind == LM_OP_TAKE) free_block(ctx, b);
    struct blk t = sh->b;
    sh->b = *b;
    *b = t;
    pthread_mutex_unlock(&sh->lock);
    if (b->p) check_block(ctx, b, "taken from another thread");
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
  model(ctx, op);
  exec_op(ctx, op);
}

void lm_fuzz_exec_release(struct lm_fuzz_ctx *ctx, bool shared_too) {
  model(ctx, NULL);
  for (unsigned i = 0; i < LM_OPS_SLOTS; i++) free_block(ctx, &ctx->slots[i]);
  for (unsigned i = 0; shared_too && ctx->shared && i < LM_OPS_SHARED; i++)
    free_block(ctx, &ctx->shared[i].b);
}
