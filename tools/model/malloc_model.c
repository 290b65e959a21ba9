/* The malloc-family contract, executable: see malloc_model.h. Every rule of
 * the family is decided here and nowhere else; the oracle, the fuzz
 * drivers and the API test only call, follow and report. */
#include "malloc_model.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#define PTRDIFF_LIMIT ((size_t)PTRDIFF_MAX)
#define MAX_ALIGN ((size_t)PTRDIFF_MAX / 2 + 1) /* no object can be aligned above this */

static const struct {
  const char *name, *desc;
} props[LM_PROP_COUNT] = {
  [LM_PROP_CRASH] = {"crash", "the target crashed or hung on a valid call"},
  [LM_PROP_NULL_ERRNO] = {"null-errno", "a failure reports the right errno / error code"},
  [LM_PROP_MUST_FAIL] = {"must-fail", "impossible requests (overflow, > PTRDIFF_MAX) fail"},
  [LM_PROP_SPURIOUS_NULL] = {"spurious-null", "small satisfiable requests succeed"},
  [LM_PROP_USABLE] = {"usable-size", "malloc_usable_size >= request, stable while live"},
  [LM_PROP_ALIGN] = {"alignment", "fundamental alignment, or the requested one"},
  [LM_PROP_OVERLAP] = {"no-overlap", "a new block overlaps no live block"},
  [LM_PROP_FILL] = {"fill-intact", "every usable byte is the owner's: patterns survive"},
  [LM_PROP_REALLOC] = {"realloc-contents", "realloc keeps min(old, new) bytes"},
  [LM_PROP_REALLOC_FAIL] = {"realloc-fail-keeps", "a failed realloc leaves the block intact"},
  [LM_PROP_CALLOC] = {"calloc-zero", "calloc memory is zero, also when recycled"},
  [LM_PROP_BAD_ALIGN] = {"invalid-alignment", "invalid alignments give EINVAL / NULL"},
  [LM_PROP_USABLE_NULL] = {"usable-null", "malloc_usable_size(NULL) == 0"},
  [LM_PROP_FOOTPRINT] = {"footprint", "resident memory bounded for a steady live set"},
};

static const char *const bases[] = {"C23", "POSIX", "glibc", "lemmalloc"};

const char *lm_prop_name(int p) { return p >= 0 && p < LM_PROP_COUNT ? props[p].name : "none"; }
const char *lm_prop_desc(int p) { return p >= 0 && p < LM_PROP_COUNT ? props[p].desc : ""; }
const char *lm_basis_name(int b) { return b >= 0 && b < 4 ? bases[b] : "?"; }

int lm_prop_by_name(const char *name) {
  for (int p = 0; p < LM_PROP_COUNT; p++)
    if (strcmp(props[p].name, name) == 0) return p;
  return -1;
}

const char *lm_model_fn(unsigned kind) {
  static const char *const names[LM_OP_KINDS] = {
    [LM_OP_MALLOC] = "malloc", [LM_OP_CALLOC] = "calloc", [LM_OP_REALLOC] = "realloc",
    [LM_OP_REALLOCARRAY] = "reallocarray", [LM_OP_FREE] = "free",
    [LM_OP_POSIX_MEMALIGN] = "posix_memalign", [LM_OP_ALIGNED_ALLOC] = "aligned_alloc",
    [LM_OP_MEMALIGN] = "memalign", [LM_OP_VALLOC] = "valloc", [LM_OP_PVALLOC] = "pvalloc",
    [LM_OP_USABLE_SIZE] = "malloc_usable_size", [LM_OP_TRIM] = "malloc_trim",
  };
  return kind < LM_OP_KINDS && names[kind] ? names[kind] : "*";
}

/* ---- small rules --------------------------------------------------------- */

static bool pow2(size_t x) { return x && !(x & (x - 1)); }

static size_t pow2_ceil(size_t x) {
  size_t p = 1;
  while (p < x && p) p <<= 1;
  return p;
}

size_t lm_model_fundamental(size_t n) {
  if (n >= 16) return 16;
  size_t a = 1;
  while (a * 2 <= n) a *= 2;
  return a;
}

/* ---- reporting ----------------------------------------------------------- */

static void count(const struct lm_model *m, int prop) {
  if (m->count) m->count(m->host, prop);
}

__attribute__((format(printf, 6, 7))) static bool violate(const struct lm_model *m, int prop,
                                                           int basis, const char *fn,
                                                           const char *when, const char *fmt, ...) {
  char detail[320];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(detail, sizeof detail, fmt, ap);
  va_end(ap);
  return m->violate(m->host, prop, basis, fn, when, detail);
}

/* ---- requests ------------------------------------------------------------ */

void lm_model_request(const struct lm_model *m, unsigned kind, size_t nmemb, size_t size,
                      size_t align, struct lm_req *r) {
  memset(r, 0, sizeof *r);
  r->kind = kind;
  r->fn = lm_model_fn(kind);
  r->nmemb = nmemb;
  r->size = size;
  r->align = align;
  r->n = size;
  size_t page = m->page;
  switch (kind) {
  case LM_OP_CALLOC: case LM_OP_REALLOCARRAY:
    r->overflow = __builtin_mul_overflow(nmemb, size, &r->n);
    if (r->overflow) r->n = SIZE_MAX;
    r->must_fail = r->overflow || r->n > PTRDIFF_LIMIT;
    r->result_align = lm_model_fundamental(r->n);
    break;
  case LM_OP_VALLOC:
    r->must_fail = size > PTRDIFF_LIMIT;
    r->result_align = page;
    break;
  case LM_OP_PVALLOC:
    /* glibc: the object is the size rounded up to whole pages (a page for 0) */
    r->must_fail = size > PTRDIFF_LIMIT - page;
    if (!r->must_fail) r->n = (size + page - 1) / page * page;
    if (m->strict && size == 0) r->n = page;
    r->result_align = page;
    break;
  case LM_OP_POSIX_MEMALIGN: case LM_OP_ALIGNED_ALLOC: case LM_OP_MEMALIGN:
    r->must_fail = size > PTRDIFF_LIMIT;
    r->result_align = align;
    break;
  default: /* malloc, realloc */
    r->must_fail = size > PTRDIFF_LIMIT;
    r->result_align = lm_model_fundamental(size);
    break;
  }
}

/* The target failed request r with error err: was it allowed to, and did it
 * say why properly? */
static bool failed_ok(const struct lm_model *m, const struct lm_req *r, int err, size_t align,
                      bool ran_out) {
  /* errno is POSIX's promise for the standard functions, glibc's for its
   * own (memalign, valloc, pvalloc). */
  int basis = r->kind == LM_OP_MEMALIGN || r->kind == LM_OP_VALLOC || r->kind == LM_OP_PVALLOC
                  ? LM_B_GLIBC : LM_B_POSIX;
  count(m, LM_PROP_NULL_ERRNO);
  if (err != ENOMEM &&
      !violate(m, LM_PROP_NULL_ERRNO, basis, r->fn, "errno",
               "failed with errno %d (%s), expected ENOMEM", err, strerror(err)))
    return false;
  count(m, LM_PROP_SPURIOUS_NULL);
  size_t n = r->kind == LM_OP_PVALLOC ? r->size : r->n;
  if (!r->must_fail && !ran_out && n <= m->small_ok && align <= m->align_ok) {
    const char *when = n == 0 ? "zero-size" : "small";
    if (!violate(m, LM_PROP_SPURIOUS_NULL, n == 0 ? LM_B_GLIBC : LM_B_LEMMALLOC, r->fn, when,
                 "request of %zu bytes (alignment %zu) failed", n, align))
      return false;
  }
  return true;
}

/* A result for an impossible request: always a violation; if excused, the
 * host gives the block back at once (its size cannot be modelled). */
static enum lm_act impossible(const struct lm_model *m, const struct lm_req *r, void *p) {
  int basis = !r->overflow ? LM_B_GLIBC : r->kind == LM_OP_CALLOC ? LM_B_C23 : LM_B_POSIX;
  const char *what = r->overflow ? "nmemb * size wraps" : "size > PTRDIFF_MAX";
  bool ok = violate(m, LM_PROP_MUST_FAIL, basis, r->fn, r->overflow ? "overflow" : "huge",
                    "%s, yet it succeeded with %p", what, p);
  return ok ? LM_ACT_GIVE_BACK : LM_ACT_STOP;
}

static enum lm_act adopt(struct lm_adopt *a, size_t n, size_t align, size_t min_usable,
                         const char *when) {
  *a = (struct lm_adopt){.n = n, .align = align, .min_usable = min_usable, .when = when};
  return LM_ACT_ADOPT;
}

/* posix_memalign: a power-of-two multiple of sizeof(void *); the code is
 * returned and *memptr is left untouched on failure (POSIX). */
static enum lm_act posix_memalign_result(const struct lm_model *m, const struct lm_req *r,
                                         void *p, int err, bool errno_changed, bool changed,
                                         bool ran_out, struct lm_adopt *a) {
  size_t al = r->align, n = r->size;
  const char *when = al == 0 ? "zero" : !pow2(al) ? "non-pow2" : "ptr-multiple";
  bool valid = pow2(al) && al % sizeof(void *) == 0;
  if (m->strict && errno_changed &&
      !violate(m, LM_PROP_NULL_ERRNO, LM_B_LEMMALLOC, r->fn, "errno",
               "posix_memalign changed errno (it returns its error)"))
    return LM_ACT_STOP;
  count(m, LM_PROP_BAD_ALIGN);
  if (!valid) {
    if ((err == EINVAL || (r->must_fail && err == ENOMEM)) && !changed) return LM_ACT_DONE;
    if (!violate(m, LM_PROP_BAD_ALIGN, LM_B_POSIX, r->fn, when,
                 "posix_memalign(%zu, %zu) returned %d, *memptr %s; expected EINVAL, untouched",
                 al, n, err, changed ? "changed" : "untouched"))
      return LM_ACT_STOP;
    if (err || !changed) return LM_ACT_DONE;
    count(m, LM_PROP_MUST_FAIL);
    if (r->must_fail) return impossible(m, r, p);
    return adopt(a, n, lm_model_fundamental(n), n, "*"); /* no promise beyond */
  }
  count(m, LM_PROP_NULL_ERRNO);
  if (err || !p) {
    if (changed &&
        !violate(m, LM_PROP_NULL_ERRNO, LM_B_GLIBC, r->fn, "memptr",
                 "failed with %d but changed *memptr", err))
      return LM_ACT_STOP;
    return failed_ok(m, r, err, al, ran_out) ? LM_ACT_DONE : LM_ACT_STOP;
  }
  count(m, LM_PROP_MUST_FAIL);
  if (r->must_fail) return impossible(m, r, p);
  return adopt(a, n, al, n, "*");
}

/* aligned_alloc and memalign. */
static enum lm_act aligned_result(const struct lm_model *m, const struct lm_req *r, void *p,
                                  int err, bool ran_out, struct lm_adopt *a) {
  size_t al = r->align, n = r->size;
  const char *when = al == 0 ? "zero" : !pow2(al) ? "non-pow2" : "ptr-multiple";
  count(m, LM_PROP_BAD_ALIGN);
  if (r->kind == LM_OP_ALIGNED_ALLOC && !pow2(al)) {
    /* C23 7.24.3.1: an alignment the implementation does not support
     * fails; POSIX.1-2024 names EINVAL. */
    if (!p) {
      if (err == EINVAL || (r->must_fail && err == ENOMEM)) return LM_ACT_DONE; /* both apply */
      return violate(m, LM_PROP_NULL_ERRNO, LM_B_POSIX, r->fn, "einval",
                     "aligned_alloc(%zu, %zu) failed with errno %d, expected EINVAL", al, n, err)
                 ? LM_ACT_DONE : LM_ACT_STOP;
    }
    if (!violate(m, LM_PROP_BAD_ALIGN, LM_B_C23, r->fn, when,
                 "aligned_alloc(%zu, %zu) = %p, expected NULL", al, n, p))
      return LM_ACT_STOP;
    count(m, LM_PROP_MUST_FAIL);
    if (r->must_fail) return impossible(m, r, p);
    return adopt(a, n, lm_model_fundamental(n), n, "*"); /* no promise beyond */
  }
  if (r->kind == LM_OP_MEMALIGN && m->strict && al > MAX_ALIGN) {
    /* lemmalloc, as glibc: no object has such an alignment: NULL, EINVAL. */
    if (p) {
      if (!violate(m, LM_PROP_BAD_ALIGN, LM_B_GLIBC, r->fn, "huge-align",
                   "memalign(%zu, %zu) = %p, expected NULL", al, n, p))
        return LM_ACT_STOP;
      return LM_ACT_GIVE_BACK;
    }
    return err == EINVAL || violate(m, LM_PROP_NULL_ERRNO, LM_B_GLIBC, r->fn, "einval",
                                    "memalign(%zu, %zu) failed with errno %d, expected EINVAL",
                                    al, n, err)
               ? LM_ACT_DONE : LM_ACT_STOP;
  }
  if (r->kind == LM_OP_MEMALIGN && !pow2(al)) {
    /* glibc rounds the alignment up to a power of two (0 acts as malloc);
     * refusing with EINVAL is the other sane answer -- not lemmalloc's. */
    size_t want = al ? pow2_ceil(al) : lm_model_fundamental(n);
    if (!p && m->strict) return failed_ok(m, r, err, want, ran_out) ? LM_ACT_DONE : LM_ACT_STOP;
    if (!p) {
      if (err == EINVAL || err == ENOMEM) return LM_ACT_DONE;
      return violate(m, LM_PROP_NULL_ERRNO, LM_B_GLIBC, r->fn, "einval",
                     "memalign(%zu, %zu) failed with errno %d, expected EINVAL", al, n, err)
                 ? LM_ACT_DONE : LM_ACT_STOP;
    }
    count(m, LM_PROP_MUST_FAIL);
    if (r->must_fail) return impossible(m, r, p);
    return adopt(a, n, want, n, when);
  }
  count(m, LM_PROP_MUST_FAIL);
  if (!p) {
    if (al > m->align_ok && (err == EINVAL || err == ENOMEM)) return LM_ACT_DONE; /* unsupported */
    if (r->kind == LM_OP_ALIGNED_ALLOC && n % al && !r->must_fail && n <= m->small_ok &&
        al <= m->align_ok && !ran_out) {
      /* C11 wanted n to be a multiple of the alignment; C17 (DR 460) and C23 do not. */
      count(m, LM_PROP_SPURIOUS_NULL);
      return violate(m, LM_PROP_SPURIOUS_NULL, LM_B_C23, r->fn, "size-not-multiple",
                     "aligned_alloc(%zu, %zu) failed (errno %d)", al, n, err)
                 ? LM_ACT_DONE : LM_ACT_STOP;
    }
    return failed_ok(m, r, err, al, ran_out) ? LM_ACT_DONE : LM_ACT_STOP;
  }
  if (r->must_fail) return impossible(m, r, p);
  return adopt(a, n, al, n, "*");
}

enum lm_act lm_model_result(const struct lm_model *m, const struct lm_req *r, void *p, int err,
                            bool errno_changed, bool memptr_changed, bool ran_out,
                            struct lm_adopt *a) {
  switch (r->kind) {
  case LM_OP_POSIX_MEMALIGN:
    return posix_memalign_result(m, r, p, err, errno_changed, memptr_changed, ran_out, a);
  case LM_OP_ALIGNED_ALLOC: case LM_OP_MEMALIGN:
    return aligned_result(m, r, p, err, ran_out, a);
  case LM_OP_CALLOC: {
    count(m, LM_PROP_MUST_FAIL);
    if (!p) return failed_ok(m, r, err, 1, ran_out) ? LM_ACT_DONE : LM_ACT_STOP;
    if (r->must_fail) return impossible(m, r, p);
    count(m, LM_PROP_CALLOC);
    size_t bad = zero_check(p, r->n, m->fill_max);
    if (bad != SIZE_MAX &&
        !violate(m, LM_PROP_CALLOC, LM_B_C23, "calloc", "*", "byte %zu of %p (%zu bytes) is 0x%02x",
                 bad, p, r->n, ((unsigned char *)p)[bad]))
      return LM_ACT_STOP;
    return adopt(a, r->n, r->result_align, r->n, "*");
  }
  default: /* malloc, valloc, pvalloc */
    count(m, LM_PROP_MUST_FAIL);
    if (!p) return failed_ok(m, r, err, r->result_align, ran_out) ? LM_ACT_DONE : LM_ACT_STOP;
    if (r->must_fail) return impossible(m, r, p);
    /* pvalloc's object is the rounded size (glibc): realloc must keep it all. */
    return adopt(a, r->n, r->result_align, r->n, "*");
  }
}

enum lm_act lm_model_realloc(const struct lm_model *m, const struct lm_req *r,
                             const struct blk *old, void *q, int err, bool errno_changed,
                             bool ran_out, struct lm_adopt *a) {
  size_t n = r->n;
  count(m, LM_PROP_MUST_FAIL);
  if (old->p && n == 0 && !r->overflow) {
    /* C17: implementation-defined; glibc (and lemmalloc) free p, return NULL. */
    if (!q) return LM_ACT_DONE;
    if (m->strict &&
        !violate(m, LM_PROP_MUST_FAIL, LM_B_GLIBC, r->fn, "zero",
                 "%s(%p, 0) returned %p; lemmalloc frees the block and returns NULL (glibc)",
                 r->fn, (void *)old->p, q))
      return LM_ACT_STOP;
  }
  if (!q) {
    if (!failed_ok(m, r, err, 1, ran_out)) return LM_ACT_STOP;
    if (!old->p) return LM_ACT_DONE;
    return lm_model_intact(m, old, old->usable, LM_PROP_REALLOC_FAIL, r->fn,
                           "after failed realloc")
               ? LM_ACT_KEEP_OLD : LM_ACT_STOP;
  }
  if (r->must_fail) return impossible(m, r, q);
  if (m->strict && errno_changed &&
      !violate(m, LM_PROP_NULL_ERRNO, LM_B_LEMMALLOC, r->fn, "errno",
               "%s succeeded but changed errno to %d", r->fn, err))
    return LM_ACT_STOP;
  if (old->p) {
    /* C23: the first min(old, new) bytes; lemmalloc keeps the whole old usable size. */
    size_t had = m->strict ? old->usable : old->req, keep = had < n ? had : n;
    count(m, LM_PROP_REALLOC);
    size_t bad = pat_check(q, old->usable, keep, old->seed, m->fill_max);
    if (bad != SIZE_MAX &&
        !violate(m, LM_PROP_REALLOC, LM_B_C23, r->fn, "*",
                 "realloc(%p, %zu) = %p: byte %zu of the kept %zu is 0x%02x, expected 0x%02x",
                 (void *)old->p, n, q, bad, keep, ((unsigned char *)q)[bad],
                 pat_byte(old->seed, bad)))
      return LM_ACT_STOP;
  }
  return adopt(a, n, lm_model_fundamental(n), n, "*");
}

bool lm_model_block(const struct lm_model *m, const struct lm_req *r, const struct lm_adopt *a,
                    void *p, size_t usable, uint64_t seed, struct blk *b) {
  uintptr_t u = (uintptr_t)p;
  unsigned k = r->kind;
  int basis = k == LM_OP_POSIX_MEMALIGN                                         ? LM_B_POSIX
              : k == LM_OP_MEMALIGN || k == LM_OP_VALLOC || k == LM_OP_PVALLOC ? LM_B_GLIBC
                                                                               : LM_B_C23;
  size_t align = a->align;
  if (m->strict && align < 16) align = 16, basis = LM_B_LEMMALLOC; /* every lemmalloc block */
  count(m, LM_PROP_ALIGN);
  if (align > 1 && u % align &&
      !violate(m, LM_PROP_ALIGN, basis, r->fn,
               strcmp(a->when, "*") ? a->when : a->n == 0 ? "zero-size" : "*",
               "%p is not %zu-aligned (request %zu)", p, align, a->n))
    return false;
  count(m, LM_PROP_USABLE);
  if (usable < a->min_usable) {
    if (!violate(m, LM_PROP_USABLE, LM_B_GLIBC, r->fn, "*", "malloc_usable_size(%p) = %zu < %zu",
                 p, usable, a->min_usable))
      return false;
    usable = a->n; /* follow the target: only the request is ours */
  }
  *b = (struct blk){.p = u, .req = a->n, .usable = usable, .seed = seed};
  return true;
}

bool lm_model_overlap(const struct lm_model *m, const char *fn, uintptr_t lo, uintptr_t hi,
                      uintptr_t olo, uintptr_t ohi) {
  violate(m, LM_PROP_OVERLAP, LM_B_C23, fn, "*", "new block [%p, %p) overlaps live block [%p, %p)",
          (void *)lo, (void *)hi, (void *)olo, (void *)ohi);
  return false; /* never excusable: the model cannot follow two owners */
}

bool lm_model_intact(const struct lm_model *m, const struct blk *b, size_t upto, int prop,
                     const char *fn, const char *what) {
  count(m, prop);
  size_t bad = pat_check((void *)b->p, b->usable, upto, b->seed, m->fill_max);
  if (bad == SIZE_MAX) return true;
  return violate(m, prop, LM_B_C23, fn, what,
                 "%s: block %p (request %zu, usable %zu): byte %zu is 0x%02x, expected 0x%02x",
                 what, (void *)b->p, b->req, b->usable, bad, ((unsigned char *)b->p)[bad],
                 pat_byte(b->seed, bad));
}

bool lm_model_usable(const struct lm_model *m, const struct blk *b, size_t u) {
  if (!b->p) {
    count(m, LM_PROP_USABLE_NULL);
    return u == 0 || violate(m, LM_PROP_USABLE_NULL, LM_B_GLIBC, "malloc_usable_size", "*",
                             "malloc_usable_size(NULL) = %zu", u);
  }
  count(m, LM_PROP_USABLE);
  return u == b->usable ||
         violate(m, LM_PROP_USABLE, LM_B_GLIBC, "malloc_usable_size", "stable",
                 "malloc_usable_size(%p) = %zu, was %zu when allocated (request %zu)",
                 (void *)b->p, u, b->usable, b->req);
}

void lm_model_fill(const struct lm_model *m, const struct blk *b) {
  pat_fill((void *)b->p, b->usable, b->seed, m->fill_max);
}
