/* lemmalloc-oracle: drives any malloc implementation with op sequences and
 * checks every result against lemmalloc's specification (see README.md).
 *
 *   target.c   load the allocator under test (dlopen, dlsym, origin check)
 *   ../model/  the specification itself, shared with the fuzz drivers:
 *              malloc_model.c (every rule, the property names and bases),
 *              blocks.c (fill patterns, the interval set that finds overlaps)
 *   run.c      execute ops on the target and the model in lockstep
 *   profile.c  the expected-deviation files that excuse documented differences
 *   main.c     command line, fork-isolated runs, footprint phase, delta
 *              debugging, the report
 */
#ifndef LM_ORACLE_H
#define LM_ORACLE_H
#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "../../src/api/ops.h"
#include "../model/malloc_model.h"

/* ---- the allocator under test ----------------------------------------- */

struct target {
  char name[64];
  void *(*malloc)(size_t);
  void (*free)(void *);
  void *(*calloc)(size_t, size_t);
  void *(*realloc)(void *, size_t);
  void *(*reallocarray)(void *, size_t, size_t);
  int (*posix_memalign)(void **, size_t, size_t);
  void *(*aligned_alloc)(size_t, size_t);
  void *(*memalign)(size_t, size_t);
  void *(*valloc)(size_t);
  void *(*pvalloc)(size_t);
  size_t (*usable_size)(void *);
  int (*trim)(size_t);
};

/* Load `spec` ("libc" or a path); 0 on success, else -1 with the reason in
 * `err`. Each function is looked up as `prefix` + its name ("" or, for
 * allocators built with prefixed names, "je_", "mi_", ...). Optional
 * functions that the object does not define itself stay NULL and are
 * listed in `missing` (comma separated). */
int target_load(struct target *t, const char *spec, const char *prefix, char *missing, size_t cap,
                char *err, size_t errcap);

/* ---- properties and profiles ------------------------------------------ */

/* The properties (LM_PROP_*), their names and bases (LM_B_*) are the malloc
 * model's: tools/model/malloc_model.h, shared with the fuzz drivers. */

#define MAX_ALLOW 64
struct allow {
  int prop;
  char fn[24];     /* function name or "*" */
  char when[24];   /* case tag or "*" */
  char why[200];
};
struct profile {
  char path[256];
  size_t n;
  struct allow a[MAX_ALLOW];
};
int profile_load(struct profile *pr, const char *path);
/* Index of the entry that excuses (prop, fn, when), or -1. */
int profile_match(const struct profile *pr, int prop, const char *fn, const char *when);

/* ---- what a run reports (lives in memory shared with the parent) ------- */

struct violation {
  int prop;             /* -1: none */
  int basis;
  size_t op_index;      /* index into the sequence; SIZE_MAX: not an op */
  char fn[24], when[24];
  char call[160];       /* the op as text */
  char detail[320];
};

struct report {
  struct violation v;                 /* the first unexcused violation */
  size_t checks[LM_OPS_MAX_THREADS][LM_PROP_COUNT];
  size_t allowed[MAX_ALLOW];          /* times each profile entry excused one */
  int allowed_basis[MAX_ALLOW];       /* the rule it broke (enum basis) */
  size_t skipped[LM_OP_KINDS];        /* ops whose function the target lacks */
  volatile size_t progress[LM_OPS_MAX_THREADS]; /* op being run (crash index) */
  size_t executed[LM_OPS_MAX_THREADS]; /* ops run (a barrier counts once, on thread 0) */
  volatile int claimed;               /* first violation wins */
  size_t footprint_warm, footprint_end; /* bytes resident, footprint phase */
};

/* ---- running ops -------------------------------------------------------- */

struct run_opts {
  const struct target *t;
  const struct profile *pr;
  struct report *rep;
  bool threaded;          /* one OS thread per op.thread, else serial */
  size_t fill_max;        /* blocks up to this size are filled whole */
};

/* Run ops[0..n) in lockstep with the model; false on the first unexcused
 * violation (recorded in opts->rep). Call in a child process: the target's
 * state is not reset afterwards. */
bool run_ops(const struct run_opts *o, const struct lm_op *ops, size_t n);

/* The footprint phase: churn a fixed live set and compare resident memory
 * after warm-up with the end. */
bool run_footprint(const struct run_opts *o, uint64_t seed, unsigned rounds);

/* Index of the calling run thread (for the crash handler). */
unsigned oracle_thread_id(void);

/* Record a violation unless the profile excuses it; returns true if excused
 * (the caller then follows the target's behaviour). */
bool violate(const struct run_opts *o, int prop, int basis, size_t op_index,
             const struct lm_op *op, const char *fn, const char *when,
             const char *fmt, ...) __attribute__((format(printf, 8, 9)));

#endif
