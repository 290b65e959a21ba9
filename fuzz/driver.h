/* Shared by the fuzz drivers: failure reporting with the op that failed,
 * optional op tracing, and the content pattern the API drivers write.
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
 * (and the replayer) records a crash with this input. */
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
 * Byte i of a block filled under key k is byte (i % 8) of the word
 * mix(k) + (i / 8). The key is derived from the block's address and size
 * when it is filled, so two blocks that overlap, a slot handed out twice or
 * a page purged while live all show up as a mismatch. Big blocks are
 * covered at both ends and on one word per page in between, which keeps a
 * fill cheap while still touching every page. */

#define LM_FUZZ_FULL_LIMIT (16u << 10)

static inline uint64_t lm_fuzz_key(const void *p, size_t n) {
  uint64_t z = (uint64_t)(uintptr_t)p ^ ((uint64_t)n * 0x9e3779b97f4a7c15u);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9u;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebu;
  return (z ^ (z >> 31)) | 1; /* never 0, so zeroed memory never matches */
}

static inline uint8_t lm_fuzz_byte(uint64_t key, size_t i) {
  return (uint8_t)((key + i / 8) >> (8 * (i % 8)));
}

/* The ranges of an n-byte block that the pattern covers (all of it when
 * small, else both ends and 8 bytes per 4 KiB), clipped to the first `limit`
 * bytes, so checking a prefix after realloc reads only bytes the fill wrote.
 * Usage: for (struct lm_fuzz_ranges r = {n, limit, 0, 0, 0}; lm_fuzz_next(&r);) */
struct lm_fuzz_ranges {
  size_t n, limit, pos; /* inputs, and the next start */
  size_t off, len;      /* the current range */
};

static inline bool lm_fuzz_next(struct lm_fuzz_ranges *r) {
  const size_t L = LM_FUZZ_FULL_LIMIT, n = r->n;
  size_t start = r->pos, end;
  if (start >= n || start >= r->limit) return false;
  if (n <= 2 * L) {
    end = r->pos = n;
  } else if (start < L) {
    end = r->pos = L;
  } else if (start + 8 <= n - L) {
    end = start + 8;
    r->pos = start + 4096 + 8 <= n - L ? start + 4096 : n - L;
  } else {
    if (start < n - L) start = n - L;
    end = r->pos = n;
  }
  if (end > r->limit) end = r->limit;
  if (start >= end) return false;
  r->off = start;
  r->len = end - start;
  return true;
}

static inline void lm_fuzz_fill_range(uint8_t *p, size_t off, size_t len, uint64_t key) {
  size_t i = off, end = off + len;
  for (; i < end && i % 8; i++) p[i] = lm_fuzz_byte(key, i);
  for (; i + 8 <= end; i += 8) { /* whole words: little-endian layout of key + i/8 */
    uint64_t w = key + i / 8;
    memcpy(p + i, &w, 8);
  }
  for (; i < end; i++) p[i] = lm_fuzz_byte(key, i);
}

/* Offset of the first wrong byte in the range, or SIZE_MAX if all match. */
static inline size_t lm_fuzz_check_range(const uint8_t *p, size_t off, size_t len,
                                         uint64_t key) {
  size_t i = off, end = off + len;
  for (; i < end && i % 8; i++)
    if (p[i] != lm_fuzz_byte(key, i)) return i;
  for (; i + 8 <= end; i += 8) {
    uint64_t w;
    memcpy(&w, p + i, 8);
    if (w != key + i / 8) break; /* the byte loop below finds which */
  }
  for (; i < end; i++)
    if (p[i] != lm_fuzz_byte(key, i)) return i;
  return SIZE_MAX;
}

static inline void lm_fuzz_fill(void *p, size_t n, uint64_t key) {
  for (struct lm_fuzz_ranges r = {n, n, 0, 0, 0}; lm_fuzz_next(&r);)
    lm_fuzz_fill_range((uint8_t *)p, r.off, r.len, key);
}

/* Check the first `limit` bytes of a block filled as n bytes under key:
 * offset of the first wrong byte, or SIZE_MAX. */
static inline size_t lm_fuzz_check(const void *p, size_t n, size_t limit, uint64_t key) {
  for (struct lm_fuzz_ranges r = {n, limit, 0, 0, 0}; lm_fuzz_next(&r);) {
    size_t bad = lm_fuzz_check_range((const uint8_t *)p, r.off, r.len, key);
    if (bad != SIZE_MAX) return bad;
  }
  return SIZE_MAX;
}

/* First non-zero byte of an n-byte block in the covered ranges, or SIZE_MAX. */
static inline size_t lm_fuzz_check_zero(const void *p, size_t n) {
  for (struct lm_fuzz_ranges r = {n, n, 0, 0, 0}; lm_fuzz_next(&r);)
    for (size_t i = r.off; i < r.off + r.len; i++)
      if (((const uint8_t *)p)[i]) return i;
  return SIZE_MAX;
}

#endif
