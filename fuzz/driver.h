/* Shared by the fuzz drivers: failure reporting with the op that failed,
 * optional op tracing, and the seed of the content pattern the API drivers
 * write (the pattern and the contract: tools/model/).
 * Each driver is one .c file defining LLVMFuzzerTestOneInput; the engines
 * (libFuzzer, AFL++'s driver, fuzz/replay.c) supply main. */
#ifndef LM_FUZZ_DRIVER_H
#define LM_FUZZ_DRIVER_H
#include "api/ops.h"

#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Ops run per input: enough for deep heap states, small enough to keep
 * thousands of executions per second. */
#define LM_FUZZ_MAX_OPS 2048

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* LEMMALLOC_FUZZ_TRACE=1 prints every op before it runs (for replays). */
static inline bool lm_fuzz_tracing(void) {
  static int on = -1; /* threads may race to compute it: same answer, atomically */
  int v = __atomic_load_n(&on, __ATOMIC_RELAXED);
  if (v < 0) {
    const char *e = getenv("LEMMALLOC_FUZZ_TRACE");
    v = e && *e && *e != '0';
    __atomic_store_n(&on, v, __ATOMIC_RELAXED);
  }
  return v;
}

static inline void lm_fuzz_trace(size_t i, const struct lm_op *op) {
  if (!lm_fuzz_tracing()) return;
  char buf[160];
  lm_op_format(op, buf, sizeof buf);
  fprintf(stderr, "op %zu: %s\n", i, buf);
}

/* A contract violation: say which op and why, then abort so every engine
 * (and the replayer) records a crash with this input. With
 * LEMMALLOC_FUZZ_FAILLOG=FILE the line is appended there too: AFL++ keeps
 * crashing inputs but not what they printed, and thread interleavings do
 * not always replay. */
__attribute__((noreturn, format(printf, 2, 3))) static inline void
lm_fuzz_fail(const struct lm_op *op, const char *fmt, ...) {
  char line[1024], what[160];
  int k;
  if (op) {
    lm_op_format(op, what, sizeof what);
    k = snprintf(line, sizeof line, "lemmalloc fuzz: contract violated at \"%s\": ", what);
  } else {
    k = snprintf(line, sizeof line, "lemmalloc fuzz: contract violated between ops: ");
  }
  va_list ap;
  va_start(ap, fmt);
  if (k >= 0 && (size_t)k < sizeof line) vsnprintf(line + k, sizeof line - (size_t)k, fmt, ap);
  va_end(ap);
  fprintf(stderr, "%s\n", line);
  const char *path = getenv("LEMMALLOC_FUZZ_FAILLOG");
  FILE *f = path && *path ? fopen(path, "a") : NULL;
  if (f) {
    fprintf(f, "%s\n", line);
    fclose(f);
  }
  abort();
}

#define LM_FUZZ_EXPECT(op, cond, ...) \
  do { if (!(cond)) lm_fuzz_fail((op), __VA_ARGS__); } while (0)

/* ---- content pattern --------------------------------------------------
 * The pattern itself is the malloc model's (tools/model/blocks.h), the one
 * the oracle writes too. The API drivers seed each block from its address
 * and size, so two blocks that overlap, a slot handed out twice or a page
 * purged while live all show up as a mismatch. Blocks up to
 * LM_FUZZ_FULL_LIMIT are patterned on every byte; bigger ones on their
 * first LM_FUZZ_FULL_LIMIT bytes, 64 bytes of every page and their last 64
 * bytes, which keeps a fill cheap while still touching every page. */

#define LM_FUZZ_FULL_LIMIT (16u << 10)

static inline uint64_t lm_fuzz_key(const void *p, size_t n) {
  uint64_t z = (uint64_t)(uintptr_t)p ^ ((uint64_t)n * 0x9e3779b97f4a7c15u);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9u;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebu;
  return (z ^ (z >> 31)) | 1; /* never 0, so zeroed memory never matches */
}

#endif
