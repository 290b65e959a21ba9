/* The executable model of the malloc-family contract: what a conforming
 * malloc, free, calloc, realloc, reallocarray, posix_memalign,
 * aligned_alloc, memalign, valloc, pvalloc and malloc_usable_size must do
 * (C23, POSIX, glibc, and lemmalloc's own guarantees), written once.
 *
 * Its users call the allocator themselves and hand each outcome to a judge
 * here; the judge checks it rule by rule and says what became of the block
 * (adopt it, give it back, keep the old one). A broken rule is reported
 * through the host's `violate` callback under one of the property names
 * below -- the names lemmalloc-oracle prints, the fuzz drivers' failure
 * lines carry and tests/api/api.c reports: one name per rule everywhere.
 *
 *   users: tools/oracle/run.c (any allocator, through dlopen), fuzz/exec.c
 *          (lemmalloc's lm_* API, strict), tests/api/api.c (the glibc names,
 *          on glibc and on lemmalloc). tools/model/README.md has the map.
 *
 * Nothing here allocates, and nothing outside src/api/ops.h (the op kinds)
 * and tools/model/blocks.h (fill patterns) is needed: the model links into
 * any test without pulling in the library. */
#ifndef LM_MALLOC_MODEL_H
#define LM_MALLOC_MODEL_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "../../src/api/ops.h" /* LM_OP_* */
#include "blocks.h"

/* ---- properties: the rules, by the names every checker uses ------------ */

enum lm_prop {
  LM_PROP_CRASH,          /* crash: the target crashed or hung */
  LM_PROP_NULL_ERRNO,     /* null-errno: a failure reported with the wrong errno / return code */
  LM_PROP_MUST_FAIL,      /* must-fail: an impossible request (overflow, > PTRDIFF_MAX) succeeded */
  LM_PROP_SPURIOUS_NULL,  /* spurious-null: a small, satisfiable request failed */
  LM_PROP_USABLE,         /* usable-size: malloc_usable_size below the request, or not stable */
  LM_PROP_ALIGN,          /* alignment: result not aligned as promised */
  LM_PROP_OVERLAP,        /* no-overlap: result overlaps a live block */
  LM_PROP_FILL,           /* fill-intact: a live block's bytes changed behind its owner's back */
  LM_PROP_REALLOC,        /* realloc-contents: realloc lost contents */
  LM_PROP_REALLOC_FAIL,   /* realloc-fail-keeps: a failed realloc did not leave the old block intact */
  LM_PROP_CALLOC,         /* calloc-zero: calloc memory not zero */
  LM_PROP_BAD_ALIGN,      /* invalid-alignment: invalid alignment not rejected with EINVAL / NULL */
  LM_PROP_USABLE_NULL,    /* usable-null: malloc_usable_size(NULL) != 0 */
  LM_PROP_FOOTPRINT,      /* footprint: memory grows while the live set stays the same */
  LM_PROP_COUNT
};

/* Which document makes the rule (a violation names it). */
enum lm_basis { LM_B_C23, LM_B_POSIX, LM_B_GLIBC, LM_B_LEMMALLOC };

const char *lm_prop_name(int p);   /* "calloc-zero"; "none" out of range */
const char *lm_prop_desc(int p);   /* one line */
const char *lm_basis_name(int b);  /* "C23", "POSIX", "glibc", "lemmalloc" */
int lm_prop_by_name(const char *name); /* -1 if unknown */
const char *lm_model_fn(unsigned kind); /* "malloc", ... (the op kinds' names) */

/* ---- the checker's side -------------------------------------------------- */

struct lm_model {
  /* Policy. strict: hold the allocator to the choices lemmalloc makes where
   * the standards leave room (glibc's): 16-byte alignment for every block,
   * realloc(p, 0) frees p and returns NULL, memalign rounds other
   * alignments up and refuses only those above PTRDIFF_MAX / 2 + 1 (EINVAL),
   * pvalloc(0) is a page, realloc keeps all of the old usable size, a
   * successful realloc and any posix_memalign leave errno alone. Off (the
   * oracle, any allocator): every sane answer is accepted. */
  bool strict;
  size_t page;       /* the system page size */
  size_t fill_max;   /* blocks up to this size carry their pattern on every byte (blocks.h) */
  size_t small_ok;   /* requests up to this size ... */
  size_t align_ok;   /* ... and this alignment must succeed, unless the host says memory ran out */
  /* The host. violate: a rule broke (detail is the message); return true to
   * excuse it (the judge then goes on following the allocator's answer),
   * false to stop. count: a rule was checked (may be NULL). */
  bool (*violate)(void *host, int prop, int basis, const char *fn, const char *when,
                  const char *detail);
  void (*count)(void *host, int prop);
  void *host;
};

/* A request as the contract reads it, before the call. */
struct lm_req {
  unsigned kind;         /* LM_OP_* */
  const char *fn;
  size_t nmemb, size, align; /* the arguments */
  size_t n;              /* the object: size, nmemb * size (SIZE_MAX if it wraps),
                            pvalloc's size rounded up to pages */
  bool overflow;         /* nmemb * size wraps (calloc, reallocarray) */
  bool must_fail;        /* no object can be that big: overflow, over PTRDIFF_MAX,
                            pvalloc rounding past it */
  size_t result_align;   /* a result must be aligned to this */
};
void lm_model_request(const struct lm_model *m, unsigned kind, size_t nmemb, size_t size,
                      size_t align, struct lm_req *r);

/* What the host does after a judge. */
enum lm_act {
  LM_ACT_STOP,       /* a violation that was not excused: stop */
  LM_ACT_DONE,       /* nothing to keep: a proper failure (realloc: the old block is gone) */
  LM_ACT_ADOPT,      /* a new block: settle it (lm_model_block), fill it, keep it */
  LM_ACT_GIVE_BACK,  /* an impossible request succeeded and it was excused: free the block */
  LM_ACT_KEEP_OLD,   /* realloc failed: the old block is still live and intact */
};
/* What an adopted block must satisfy (arguments of lm_model_block). */
struct lm_adopt {
  size_t n, align, min_usable;
  const char *when;
};

/* The outcome of malloc, calloc, valloc, pvalloc, posix_memalign,
 * aligned_alloc or memalign. p: the result (posix_memalign: *memptr if the
 * call wrote it, else NULL). err: errno after the call (posix_memalign: its
 * return value); errno_changed: errno differs from before the call;
 * memptr_changed: posix_memalign wrote *memptr. ran_out: the host knows
 * memory really ran out during the call (a failure is then no spurious
 * null). Checks calloc's zeros itself. */
enum lm_act lm_model_result(const struct lm_model *m, const struct lm_req *r, void *p, int err,
                            bool errno_changed, bool memptr_changed, bool ran_out,
                            struct lm_adopt *a);

/* realloc / reallocarray. old: the block passed in (old->p == 0: NULL); the
 * host checked it intact (lm_model_intact, LM_PROP_FILL) and took it out of
 * its live set before the call. q: the result. */
enum lm_act lm_model_realloc(const struct lm_model *m, const struct lm_req *r,
                             const struct blk *old, void *q, int err, bool errno_changed,
                             bool ran_out, struct lm_adopt *a);

/* A new block p (usable size `usable` as the allocator says): aligned to
 * `align`, usable >= min_usable. Fills *b (its seed: the host's) with the
 * usable size the model follows; false to stop. Overlap is the host's
 * business (its live set), reported with lm_model_overlap. */
bool lm_model_block(const struct lm_model *m, const struct lm_req *r, const struct lm_adopt *a,
                    void *p, size_t usable, uint64_t seed, struct blk *b);

/* [lo, hi) of a new block overlaps the live block [olo, ohi): never excusable. */
bool lm_model_overlap(const struct lm_model *m, const char *fn, uintptr_t lo, uintptr_t hi,
                      uintptr_t olo, uintptr_t ohi);

/* A live block still holds its pattern in [0, upto); prop names the rule a
 * mismatch breaks here (LM_PROP_FILL, or LM_PROP_REALLOC_FAIL). */
bool lm_model_intact(const struct lm_model *m, const struct blk *b, size_t upto, int prop,
                     const char *fn, const char *what);

/* malloc_usable_size(b) returned u: stable while live (b->p != 0), 0 for NULL. */
bool lm_model_usable(const struct lm_model *m, const struct blk *b, size_t u);

/* The pattern the model writes into a block it adopted. */
void lm_model_fill(const struct lm_model *m, const struct blk *b);

/* Alignment C23 promises for an object of n bytes (7.24.3): 16 from 16 bytes
 * on, the largest power of two <= n below. */
size_t lm_model_fundamental(size_t n);

#endif
