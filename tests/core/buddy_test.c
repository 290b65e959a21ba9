/* Unit and differential tests of the buddy allocator (src/core/buddy.c).
 *
 *   buddy_test [ops] [seed] [label]
 *
 * Unit tests pin each function and error path; the differential test runs
 * `ops` random operations per chunk against a naive reference model
 * (tools/model/buddy_model.c, shared with fuzz/fuzz_core.c: per-page arrays,
 * the free blocks found by scanning) and, after every step, compares the whole
 * chunk with the model and runs lm_buddy_check(). Prints PASS:/FAIL: lines
 * and exits non-zero on any failure. */
#include "core/core.h"
#include "../../tools/model/buddy_model.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define N LM_CHUNK_PAGES
#define MAXO LM_MAX_ORDER

/* Chunk handles: the state of chunk c lives at c << LM_BUDDY_SHIFT (buddy.h),
 * so the test keeps its chunks' states in memory aligned to that (allocated
 * at start: the loader does not honour a static alignment above a page
 * under ASLR) and names them H[0..12]. */
#define NTEST_CHUNKS 13
static uint32_t H[NTEST_CHUNKS];
static char *volatile pool; /* keeps the pool reachable for LeakSanitizer */

static int failures;
static const char *current, *label = "";

#define EXPECT(cond)                                                         \
  do {                                                                       \
    if (!(cond)) {                                                           \
      failures++;                                                            \
      fprintf(stderr, "%s:%d: %s: expected %s\n", __FILE__, __LINE__,        \
              current, #cond);                                               \
      return;                                                                \
    }                                                                        \
  } while (0)

static void run(const char *name, void (*fn)(void))
{
  int before = failures;
  current = name;
  fn();
  printf("%s: buddy %s%s\n", failures == before ? "PASS" : "FAIL", label, name);
}

/* ---- unit tests ------------------------------------------------------- */

static void t_init(void)
{
  for (uint32_t i = 0; i < NTEST_CHUNKS; i += NTEST_CHUNKS - 1) {
    uint32_t c = H[i];
    lm_buddy_init(c);
    EXPECT(lm_buddy_check(c));
    EXPECT(lm_buddy_free_pages(c) == N);
    EXPECT(lm_buddy_is_head(c, 0) && lm_buddy_order(c, 0) == MAXO);
    EXPECT(!lm_buddy_is_allocated(c, 0));
    for (uint32_t p = 1; p < N; p++)
      EXPECT(!lm_buddy_is_head(c, p) && lm_buddy_order(c, p) == 0 &&
             !lm_buddy_is_allocated(c, p) && lm_buddy_block_of(c, p) == 0);
  }
  /* init resets a used chunk */
  EXPECT(lm_buddy_alloc(H[0], 0) == 0);
  lm_buddy_init(H[0]);
  EXPECT(lm_buddy_check(H[0]) && lm_buddy_free_pages(H[0]) == N);
}

static void t_alloc_split(void)
{
  lm_buddy_init(H[1]);
  /* Order 0 from a whole chunk: page 0, and one free block of each order
   * 0..max-1 at 2^k. */
  EXPECT(lm_buddy_alloc(H[1], 0) == 0);
  EXPECT(lm_buddy_check(H[1]) && lm_buddy_free_pages(H[1]) == N - 1);
  EXPECT(lm_buddy_is_allocated(H[1], 0) && lm_buddy_order(H[1], 0) == 0);
  for (uint32_t k = 0; k < MAXO; k++) {
    EXPECT(lm_buddy_is_head(H[1], 1u << k) && lm_buddy_order(H[1], 1u << k) == k);
    EXPECT(!lm_buddy_is_allocated(H[1], 1u << k));
  }
  /* The smallest sufficient order is used: order 0 comes from page 1. */
  EXPECT(lm_buddy_alloc(H[1], 0) == 1);
  /* order 3 takes the free order-3 block at 8, not a bigger one. */
  EXPECT(lm_buddy_alloc(H[1], 3) == 8);
  /* order 1: the order-1 block at 2 */
  EXPECT(lm_buddy_alloc(H[1], 1) == 2);
  /* another order 1: split the order-2 block at 4 */
  EXPECT(lm_buddy_alloc(H[1], 1) == 4);
  EXPECT(lm_buddy_is_head(H[1], 6) && lm_buddy_order(H[1], 6) == 1);
  EXPECT(lm_buddy_check(H[1]));
  EXPECT(lm_buddy_free_pages(H[1]) == N - 1 - 1 - 8 - 2 - 2);
  /* Results are aligned to their order */
  lm_buddy_init(H[1]);
  for (uint32_t k = 0; k <= MAXO; k++) {
    lm_buddy_init(H[1]);
    int32_t p = lm_buddy_alloc(H[1], k);
    EXPECT(p == 0 && lm_buddy_order(H[1], 0) == k && lm_buddy_free_pages(H[1]) == N - (1u << k));
    EXPECT(lm_buddy_check(H[1]));
  }
}

static void t_nomem(void)
{
  lm_buddy_init(H[2]);
  EXPECT(lm_buddy_alloc(H[2], MAXO) == 0);
  for (uint32_t k = 0; k <= MAXO; k++)
    EXPECT(lm_buddy_alloc(H[2], k) == LM_ERR_NOMEM);
  EXPECT(lm_buddy_check(H[2]) && lm_buddy_free_pages(H[2]) == 0);
  EXPECT(lm_buddy_free(H[2], 0) == MAXO);
  /* Fill with order 0, then nothing more fits; every page is a head. */
  for (uint32_t p = 0; p < N; p++)
    EXPECT(lm_buddy_alloc(H[2], 0) >= 0);
  EXPECT(lm_buddy_alloc(H[2], 0) == LM_ERR_NOMEM);
  EXPECT(lm_buddy_check(H[2]) && lm_buddy_free_pages(H[2]) == 0);
  /* Orders above the maximum are refused. */
  lm_buddy_init(H[2]);
  EXPECT(lm_buddy_alloc(H[2], MAXO + 1) == LM_ERR_NOMEM);
  EXPECT(lm_buddy_alloc(H[2], 1000000) == LM_ERR_NOMEM);
  EXPECT(lm_buddy_check(H[2]) && lm_buddy_free_pages(H[2]) == N);
}

static void t_free_merge(void)
{
  lm_buddy_init(H[3]);
  int32_t a = lm_buddy_alloc(H[3], 0), b = lm_buddy_alloc(H[3], 0);
  int32_t d = lm_buddy_alloc(H[3], 1);
  EXPECT(a == 0 && b == 1 && d == 2);
  EXPECT(lm_buddy_free(H[3], 1) == 0);       /* buddy 0 allocated: no merge */
  EXPECT(lm_buddy_is_head(H[3], 1) && !lm_buddy_is_allocated(H[3], 1));
  EXPECT(lm_buddy_free(H[3], 0) == 0);       /* merges with 1 into order 1 */
  EXPECT(lm_buddy_order(H[3], 0) == 1 && !lm_buddy_is_head(H[3], 1));
  EXPECT(lm_buddy_check(H[3]));
  EXPECT(lm_buddy_free(H[3], 2) == 1);       /* merges all the way up */
  EXPECT(lm_buddy_order(H[3], 0) == MAXO && lm_buddy_free_pages(H[3]) == N);
  EXPECT(lm_buddy_check(H[3]));
  /* Upper half freed last merges downwards. */
  for (uint32_t p = 0; p < N; p++)
    EXPECT(lm_buddy_alloc(H[3], 0) == (int32_t)p);
  for (uint32_t p = N; p-- > 0;) {
    EXPECT(lm_buddy_free(H[3], p) == 0);
    EXPECT(lm_buddy_free_pages(H[3]) == N - p);
  }
  EXPECT(lm_buddy_order(H[3], 0) == MAXO && lm_buddy_check(H[3]));
}

/* A failing free or take must leave every byte of the state unchanged. */
static struct lm_buddy_chunk snap;
static void snapshot(uint32_t c, struct lm_buddy_chunk *out)
{
  memcpy(out, &LM_BUDDY(c), sizeof *out);
}
static bool unchanged(uint32_t c)
{
  return memcmp(&LM_BUDDY(c), &snap, sizeof snap) == 0;
}

static void t_bad_free(void)
{
  uint32_t c = H[9];
  lm_buddy_init(c);
  EXPECT(lm_buddy_alloc(c, 2) == 0);  /* pages 0..3 allocated */
  EXPECT(lm_buddy_alloc(c, 0) == 4);
  snapshot(c, &snap);
  EXPECT(lm_buddy_free(c, N) == LM_ERR_RANGE && unchanged(c));
  EXPECT(lm_buddy_free(c, UINT32_MAX) == LM_ERR_RANGE && unchanged(c));
  EXPECT(lm_buddy_free(c, 1) == LM_ERR_INTERIOR && unchanged(c));
  EXPECT(lm_buddy_free(c, 3) == LM_ERR_INTERIOR && unchanged(c));
  EXPECT(lm_buddy_free(c, 5) == LM_ERR_NOT_ALLOCATED && unchanged(c));   /* free order 0 */
  EXPECT(lm_buddy_free(c, 512) == LM_ERR_NOT_ALLOCATED && unchanged(c)); /* free order 9 */
  EXPECT(lm_buddy_free(c, 513) == LM_ERR_INTERIOR && unchanged(c));
  /* double free */
  EXPECT(lm_buddy_free(c, 4) == 0);
  snapshot(c, &snap);
  EXPECT(lm_buddy_is_head(c, 4) && lm_buddy_order(c, 4) == 2); /* merged with 5, 6 */
  EXPECT(lm_buddy_free(c, 4) == LM_ERR_NOT_ALLOCATED && unchanged(c));
  EXPECT(lm_buddy_free(c, 5) == LM_ERR_INTERIOR && unchanged(c));
  EXPECT(lm_buddy_free(c, 0) == 2 && lm_buddy_free_pages(c) == N);
  snapshot(c, &snap);
  EXPECT(lm_buddy_free(c, 0) == LM_ERR_NOT_ALLOCATED && unchanged(c));
  EXPECT(lm_buddy_check(c));
}

static void t_take(void)
{
  uint32_t c = H[5];
  lm_buddy_init(c);
  EXPECT(lm_buddy_alloc(c, 0) == 0);
  snapshot(c, &snap);
  EXPECT(lm_buddy_take(c, N) == LM_ERR_RANGE && unchanged(c));
  EXPECT(lm_buddy_take(c, 0) == LM_ERR_NOT_FREE && unchanged(c));
  EXPECT(lm_buddy_take(c, 3) == LM_ERR_INTERIOR && unchanged(c));
  EXPECT(lm_buddy_take(c, 2) == 1);                 /* the free order-1 block */
  EXPECT(lm_buddy_is_allocated(c, 2) && lm_buddy_order(c, 2) == 1);
  EXPECT(lm_buddy_free_pages(c) == N - 3 && lm_buddy_check(c));
  EXPECT(lm_buddy_alloc(c, 1) == 4);                /* 2 is no longer free */
  /* The purge cycle: take, (madvise), free -> merges as before. */
  EXPECT(lm_buddy_take(c, 512) == MAXO - 1);
  EXPECT(lm_buddy_free(c, 512) == MAXO - 1);
  EXPECT(lm_buddy_is_head(c, 512) && !lm_buddy_is_allocated(c, 512));
  EXPECT(lm_buddy_free(c, 0) == 0 && lm_buddy_free(c, 2) == 1 && lm_buddy_free(c, 4) == 1);
  EXPECT(lm_buddy_order(c, 0) == MAXO && lm_buddy_free_pages(c) == N && lm_buddy_check(c));
}

/* Shrink of an allocated block: errors change nothing; success keeps the
 * lowest 2^order pages and frees the upper part as blocks of orders
 * order..old-1 at page + 2^j. */
static void t_shrink_errors(void)
{
  uint32_t c = H[10];
  lm_buddy_init(c);
  EXPECT(lm_buddy_alloc(c, 0) == 0);  /* free: 1 (o0), 2 (o1), 4 (o2), ... */
  EXPECT(lm_buddy_alloc(c, 3) == 8);  /* pages 8..15 allocated */
  snapshot(c, &snap);
  EXPECT(lm_buddy_shrink(c, N, 0) == LM_ERR_RANGE && unchanged(c));
  EXPECT(lm_buddy_shrink(c, UINT32_MAX, 0) == LM_ERR_RANGE && unchanged(c));
  EXPECT(lm_buddy_shrink(c, 9, 0) == LM_ERR_INTERIOR && unchanged(c));
  EXPECT(lm_buddy_shrink(c, 15, 0) == LM_ERR_INTERIOR && unchanged(c));
  EXPECT(lm_buddy_shrink(c, 17, 0) == LM_ERR_INTERIOR && unchanged(c));  /* inside free 16 */
  EXPECT(lm_buddy_shrink(c, 1, 0) == LM_ERR_NOT_ALLOCATED && unchanged(c));
  EXPECT(lm_buddy_shrink(c, 16, 0) == LM_ERR_NOT_ALLOCATED && unchanged(c));
  EXPECT(lm_buddy_shrink(c, 512, 0) == LM_ERR_NOT_ALLOCATED && unchanged(c));
  EXPECT(lm_buddy_shrink(c, 8, 4) == LM_ERR_RANGE && unchanged(c));   /* above its order */
  EXPECT(lm_buddy_shrink(c, 8, MAXO + 1) == LM_ERR_RANGE && unchanged(c));
  EXPECT(lm_buddy_shrink(c, 8, UINT32_MAX) == LM_ERR_RANGE && unchanged(c));
  EXPECT(lm_buddy_shrink(c, 0, 1) == LM_ERR_RANGE && unchanged(c));
  /* To its own order: a no-op that returns the order. */
  EXPECT(lm_buddy_shrink(c, 8, 3) == 3 && unchanged(c));
  EXPECT(lm_buddy_shrink(c, 0, 0) == 0 && unchanged(c));
  /* A shrunk-then-freed block is a free head: shrinking it again is refused. */
  EXPECT(lm_buddy_shrink(c, 8, 1) == 3);
  EXPECT(lm_buddy_free(c, 8) == 1);
  snapshot(c, &snap);
  EXPECT(lm_buddy_shrink(c, 8, 0) == LM_ERR_NOT_ALLOCATED && unchanged(c));
  EXPECT(lm_buddy_check(c));
}

static void t_shrink(void)
{
  uint32_t c = H[11];
  /* Every old order and every new order, on a block that does not start
   * at page 0 (page + 2^j must be relative to the block). */
  for (uint32_t old = 0; old < MAXO; old++)
    for (uint32_t k = 0; k <= old; k++) {
      lm_buddy_init(c);
      EXPECT(lm_buddy_alloc(c, 0) == 0);
      uint32_t h = 1u << old;
      EXPECT(lm_buddy_alloc(c, old) == (int32_t)h);
      uint32_t before = lm_buddy_free_pages(c);
      EXPECT(lm_buddy_shrink(c, h, k) == (int32_t)old);
      EXPECT(lm_buddy_check(c));
      EXPECT(lm_buddy_is_allocated(c, h) && lm_buddy_order(c, h) == k);
      EXPECT(lm_buddy_free_pages(c) == before + (1u << old) - (1u << k));
      uint32_t next = h + (1u << k); /* the next head inside the old block */
      for (uint32_t q = h + 1; q < h + (1u << old); q++) {
        if (q == next) {
          uint32_t j = (uint32_t)__builtin_ctz(q - h);
          EXPECT(j >= k && j < old);
          EXPECT(lm_buddy_is_head(c, q) && !lm_buddy_is_allocated(c, q) &&
                 lm_buddy_order(c, q) == j);
          next = h + (2u << j);
        } else {
          EXPECT(!lm_buddy_is_head(c, q));
        }
      }
      EXPECT(next == h + (1u << old));
      /* Freeing the kept part merges everything back. */
      EXPECT(lm_buddy_free(c, h) == (int32_t)k && lm_buddy_free(c, 0) == 0);
      EXPECT(lm_buddy_order(c, 0) == MAXO && lm_buddy_free_pages(c) == N && lm_buddy_check(c));
    }
  /* The whole chunk down to one page: one free block of each order 0..max-1. */
  lm_buddy_init(c);
  EXPECT(lm_buddy_alloc(c, MAXO) == 0 && lm_buddy_free_pages(c) == 0);
  EXPECT(lm_buddy_shrink(c, 0, 0) == MAXO);
  EXPECT(lm_buddy_is_allocated(c, 0) && lm_buddy_order(c, 0) == 0);
  for (uint32_t j = 0; j < MAXO; j++)
    EXPECT(lm_buddy_is_head(c, 1u << j) && !lm_buddy_is_allocated(c, 1u << j) &&
           lm_buddy_order(c, 1u << j) == j);
  EXPECT(lm_buddy_free_pages(c) == N - 1 && lm_buddy_check(c));
  /* Other blocks are left alone. */
  EXPECT(lm_buddy_alloc(c, 0) == 1 && lm_buddy_alloc(c, 2) == 4);
  EXPECT(lm_buddy_alloc(c, 5) == 32 && lm_buddy_shrink(c, 32, 2) == 5);
  EXPECT(lm_buddy_is_allocated(c, 0) && lm_buddy_order(c, 0) == 0);
  EXPECT(lm_buddy_is_allocated(c, 1) && lm_buddy_order(c, 1) == 0);
  EXPECT(lm_buddy_is_allocated(c, 4) && lm_buddy_order(c, 4) == 2);
  EXPECT(lm_buddy_is_head(c, 2) && !lm_buddy_is_allocated(c, 2) && lm_buddy_order(c, 2) == 1);
  EXPECT(lm_buddy_is_head(c, 64) && !lm_buddy_is_allocated(c, 64) && lm_buddy_order(c, 64) == 6);
  EXPECT(lm_buddy_free_pages(c) == N - 1 - 1 - 4 - 4 && lm_buddy_check(c));
}

/* An exact run of n pages the way the heap builds it: the smallest block
 * that holds n, shrunk to n's top digit, then the first tail block taken
 * and shrunk to the next digit, and so on. Records the pieces' heads. */
static bool build_run(uint32_t c, uint32_t n, uint32_t *piece, uint32_t *npieces)
{
  uint32_t k = n > 1 ? 32u - (uint32_t)__builtin_clz(n - 1) : 0;
  int32_t h = lm_buddy_alloc(c, k);
  if (h < 0)
    return false;
  uint32_t pg = (uint32_t)h;
  *npieces = 0;
  for (;;) {
    uint32_t j = 31u - (uint32_t)__builtin_clz(n);
    if (lm_buddy_shrink(c, pg, j) != (int32_t)k)
      return false;
    piece[(*npieces)++] = pg;
    if (n == 1u << j)
      return true;
    pg += 1u << j;
    n -= 1u << j;
    if (lm_buddy_take(c, pg) != (int32_t)j)
      return false;
    k = j;
  }
}

static void t_shrink_runs(void)
{
  uint32_t c = H[12], piece[MAXO + 1], np;
  /* 5 pages = 4 + 1 out of an order-3 block at 0: pages 5..7 stay free. */
  lm_buddy_init(c);
  EXPECT(build_run(c, 5, piece, &np) && np == 2 && piece[0] == 0 && piece[1] == 4);
  EXPECT(lm_buddy_is_allocated(c, 0) && lm_buddy_order(c, 0) == 2);
  EXPECT(lm_buddy_is_allocated(c, 4) && lm_buddy_order(c, 4) == 0);
  EXPECT(lm_buddy_is_head(c, 5) && !lm_buddy_is_allocated(c, 5) && lm_buddy_order(c, 5) == 0);
  EXPECT(lm_buddy_is_head(c, 6) && !lm_buddy_is_allocated(c, 6) && lm_buddy_order(c, 6) == 1);
  EXPECT(lm_buddy_is_head(c, 8) && !lm_buddy_is_allocated(c, 8) && lm_buddy_order(c, 8) == 3);
  EXPECT(lm_buddy_free_pages(c) == N - 5 && lm_buddy_check(c));
  EXPECT(lm_buddy_free(c, 4) == 0);  /* merges with 5, 6 back into order 2 at 4 */
  EXPECT(lm_buddy_order(c, 4) == 2 && !lm_buddy_is_allocated(c, 4));
  EXPECT(lm_buddy_free(c, 0) == 2);
  EXPECT(lm_buddy_order(c, 0) == MAXO && lm_buddy_free_pages(c) == N && lm_buddy_check(c));
  /* 13 = 8 + 4 + 1 out of an order-4 block, beside an allocated page. */
  EXPECT(lm_buddy_alloc(c, 0) == 0);
  EXPECT(build_run(c, 13, piece, &np) && np == 3);
  EXPECT(piece[0] == 16 && piece[1] == 24 && piece[2] == 28);
  EXPECT(lm_buddy_is_allocated(c, 16) && lm_buddy_order(c, 16) == 3);
  EXPECT(lm_buddy_is_allocated(c, 24) && lm_buddy_order(c, 24) == 2);
  EXPECT(lm_buddy_is_allocated(c, 28) && lm_buddy_order(c, 28) == 0);
  EXPECT(lm_buddy_is_head(c, 29) && !lm_buddy_is_allocated(c, 29) && lm_buddy_order(c, 29) == 0);
  EXPECT(lm_buddy_is_head(c, 30) && !lm_buddy_is_allocated(c, 30) && lm_buddy_order(c, 30) == 1);
  EXPECT(lm_buddy_free_pages(c) == N - 1 - 13 && lm_buddy_check(c));
  EXPECT(lm_buddy_free(c, 16) == 3 && lm_buddy_free(c, 28) == 0 && lm_buddy_free(c, 24) == 2);
  EXPECT(lm_buddy_free(c, 0) == 0);
  EXPECT(lm_buddy_order(c, 0) == MAXO && lm_buddy_free_pages(c) == N && lm_buddy_check(c));
  /* Every length: exact page count, pieces aligned and in order, and
   * freeing them (largest last) gives the whole chunk back. */
  for (uint32_t n = 1; n <= N; n++) {
    lm_buddy_init(c);
    EXPECT(build_run(c, n, piece, &np) && np == (uint32_t)__builtin_popcount(n));
    EXPECT(lm_buddy_free_pages(c) == N - n && lm_buddy_check(c));
    uint32_t at = piece[0];
    for (uint32_t i = 0; i < np; i++) {
      uint32_t k = lm_buddy_order(c, piece[i]);
      EXPECT(piece[i] == at && lm_buddy_is_allocated(c, piece[i]) && at % (1u << k) == 0);
      at += 1u << k;
    }
    EXPECT(at == piece[0] + n);
    for (uint32_t i = np; i-- > 0;)
      EXPECT(lm_buddy_free(c, piece[i]) >= 0);
    EXPECT(lm_buddy_order(c, 0) == MAXO && lm_buddy_free_pages(c) == N && lm_buddy_check(c));
  }
}

static void t_block_of(void)
{
  uint32_t c = H[6];
  lm_buddy_init(c);
  EXPECT(lm_buddy_block_of(c, N) == LM_ERR_RANGE);
  EXPECT(lm_buddy_block_of(c, UINT32_MAX) == LM_ERR_RANGE);
  EXPECT(lm_buddy_alloc(c, 0) == 0);
  EXPECT(lm_buddy_alloc(c, 3) == 8);
  for (uint32_t p = 0; p < N; p++) {
    int32_t want = p < 1 ? 0 : p < 2 ? 1 : p < 4 ? 2 : p < 8 ? 4 : p < 16 ? 8
                 : (int32_t)(1u << (31 - __builtin_clz(p)));
    EXPECT(lm_buddy_block_of(c, p) == want);
  }
}

static void t_queries_out_of_range(void)
{
  lm_buddy_init(H[7]);
  EXPECT(!lm_buddy_is_head(H[7], N) && lm_buddy_order(H[7], N) == 0 && !lm_buddy_is_allocated(H[7], N));
  EXPECT(!lm_buddy_is_head(H[7], UINT32_MAX) && lm_buddy_order(H[7], UINT32_MAX) == 0);
}

/* The check itself must notice corruption, or every test that relies on it
 * proves nothing. Each case breaks one invariant and restores it. */
static void t_check_detects(void)
{
  uint32_t c = H[8];
  lm_buddy_init(c);
  EXPECT(lm_buddy_alloc(c, 0) == 0);
  EXPECT(lm_buddy_alloc(c, 2) == 4);
  EXPECT(lm_buddy_check(c));
#define BREAK(lv, val)                                                       \
  do {                                                                       \
    __typeof__(lv) saved_ = (lv);                                            \
    (lv) = (val);                                                            \
    EXPECT(!lm_buddy_check(c));                                              \
    (lv) = saved_;                                                           \
    EXPECT(lm_buddy_check(c));                                               \
  } while (0)
  BREAK(LM_BUDDY(c).st[3], LM_BUDDY_FREE);          /* overlap */
  BREAK(LM_BUDDY(c).st[1], LM_BUDDY_INTERIOR);      /* gap */
  BREAK(LM_BUDDY(c).st[1], 3);                      /* bad state */
  BREAK(LM_BUDDY(c).ord[1], 1);                     /* changes tiling */
  BREAK(LM_BUDDY(c).ord[4], 3);                     /* misaligned */
  BREAK(LM_BUDDY(c).pos[1], 1);                     /* stack link */
  BREAK(LM_BUDDY(c).cnt[0][0], 0);                  /* free block off its stack */
  BREAK(LM_BUDDY(c).cnt[1][2], 2);                  /* stale entry */
  BREAK(LM_BUDDY(c).nfree, N);                      /* count */
  BREAK(LM_BUDDY(c).st[0], LM_BUDDY_FREE);          /* free buddies unmerged + stacks */
#undef BREAK
}

/* ---- differential test against a reference model ---------------------- */

/* The model (tools/model/buddy_model.h, shared with fuzz/fuzz_core.c): a
 * page map of allocated blocks; the free blocks are what maximal merging
 * leaves, found by scanning, nothing clever. */
static struct lm_buddy_model model;

static uint64_t rng_state;
static uint64_t rnd(void)
{
  rng_state ^= rng_state << 13;
  rng_state ^= rng_state >> 7;
  rng_state ^= rng_state << 17;
  return rng_state;
}

/* Compare the whole chunk with the model; report the first difference. */
static bool same_as_model(uint32_t c, uint64_t step)
{
  char why[256];
  if (lm_bm_compare(&model, c, true, why, sizeof why))
    return true;
  fprintf(stderr, "differential: step %llu: %s\n", (unsigned long long)step, why);
  return false;
}

static void differential(uint32_t c, uint64_t ops, uint64_t seed)
{
  static uint32_t live[N];
  uint32_t nlive = 0;
  char why[256];
  rng_state = seed * 0x9E3779B97F4A7C15ull + 1;
  lm_buddy_init(c);
  lm_bm_init(&model);
  for (uint64_t i = 0; i < ops; i++) {
    uint64_t r = rnd();
    uint32_t op = r % 16;
    /* Favour small orders, like the heap; drift between filling and
     * draining phases so both full and empty chunks are reached. */
    bool filling = (i / 4096) % 2 == 0;
    if (op < (filling ? 8u : 4u)) {
      uint32_t order = (r >> 8) % 64 == 0 ? (uint32_t)((r >> 16) % (MAXO + 3))
                                           : (uint32_t)__builtin_ctzll(rnd() | (1ull << MAXO));
      int32_t p = lm_buddy_alloc(c, order);
      /* The head of a free model block of the smallest order, or NOMEM. */
      if (!lm_bm_alloc_ok(&model, order, p, why, sizeof why)) {
        fprintf(stderr, "differential: step %llu: %s\n", (unsigned long long)i, why);
        EXPECT(false);
      }
      if (p >= 0) {
        lm_bm_mark(&model, (uint32_t)p, order, true);
        live[nlive++] = (uint32_t)p;
      }
    } else if (op < 12 && nlive > 0) {
      uint32_t j = (uint32_t)(r >> 8) % nlive, p = live[j];
      live[j] = live[--nlive];
      int32_t want = lm_bm_free_expect(&model, p);
      bool take_back = (r >> 40) % 8 == 0;
      EXPECT(want >= 0 && lm_buddy_free(c, p) == want);
      lm_bm_mark(&model, p, (uint32_t)want, false);
      if (take_back) {
        /* purge cycle on the block that now holds p */
        int32_t h = lm_bm_block_of(&model, p), k = lm_bm_take_expect(&model, (uint32_t)h);
        EXPECT(k >= 0 && lm_buddy_block_of(c, p) == h && lm_buddy_take(c, (uint32_t)h) == k);
        lm_bm_mark(&model, (uint32_t)h, (uint32_t)k, true);
        EXPECT(lm_buddy_check(c));
        EXPECT(lm_buddy_free(c, (uint32_t)h) == k);
        lm_bm_mark(&model, (uint32_t)h, (uint32_t)k, false);
      }
    } else if (op < 14) {
      /* Any page: free or take it and compare the verdict with the model. */
      uint32_t p = (r >> 8) % 64 == 0 ? N + (uint32_t)(r >> 20) % 8 : (uint32_t)(r >> 8) % N;
      bool take = op == 13;
      int32_t want = take ? lm_bm_take_expect(&model, p) : lm_bm_free_expect(&model, p);
      if (want < 0)
        snapshot(c, &snap);
      int32_t got = take ? lm_buddy_take(c, p) : lm_buddy_free(c, p);
      EXPECT(got == want);
      if (want < 0) {
        EXPECT(unchanged(c));
      } else if (take) {
        lm_bm_mark(&model, p, (uint32_t)want, true);
        live[nlive++] = p;
      } else {
        for (uint32_t j = 0; j < nlive; j++)
          if (live[j] == p) { live[j] = live[--nlive]; break; }
        lm_bm_mark(&model, p, (uint32_t)want, false);
      }
    } else if (op == 14) {
      /* Shrink: mostly a live block to an order it can take, sometimes any
       * page to any order (the error paths). After a real shrink, half the
       * time take the first tail block, as the heap does for exact runs. */
      bool any = nlive == 0 || (r >> 8) % 8 == 0;
      uint32_t p = any ? ((r >> 12) % 64 == 0 ? N + (uint32_t)(r >> 20) % 8 : (uint32_t)(r >> 20) % N)
                       : live[(uint32_t)(r >> 12) % nlive];
      int32_t cur = lm_bm_free_expect(&model, p); /* its order when p is a live head */
      uint32_t order = any || (r >> 44) % 16 == 0 || cur < 0 ? (uint32_t)(r >> 48) % (MAXO + 3)
                                                              : (uint32_t)(r >> 48) % ((uint32_t)cur + 1);
      int32_t want = lm_bm_shrink_expect(&model, p, order);
      if (want < 0)
        snapshot(c, &snap);
      EXPECT(lm_buddy_shrink(c, p, order) == want);
      if (want < 0) {
        EXPECT(unchanged(c));
      } else {
        lm_bm_mark(&model, p, (uint32_t)want, false);
        lm_bm_mark(&model, p, order, true);
        if (order < (uint32_t)want && (r >> 63) != 0) {
          uint32_t t = p + (1u << order);
          EXPECT(lm_buddy_check(c));
          EXPECT(lm_bm_take_expect(&model, t) == (int32_t)order);
          EXPECT(lm_buddy_take(c, t) == (int32_t)order);
          lm_bm_mark(&model, t, order, true);
          live[nlive++] = t;
        }
      }
    } else {
      uint32_t p = (uint32_t)(r >> 8) % N;
      EXPECT(lm_buddy_block_of(c, p) == lm_bm_block_of(&model, p));
    }
    EXPECT(lm_buddy_check(c));
    /* The full comparison is O(pages): do it on a sample of steps and
     * around every change of phase; the check above runs every step. */
    if (i % 8 == 0 || i % 4096 < 2)
      EXPECT(same_as_model(c, i));
  }
  EXPECT(same_as_model(c, ops));
}

static uint64_t diff_ops, diff_seed;
static void t_differential(void)
{
  /* Several chunks at once: chunk state must not leak between chunks. */
  uint32_t chunks[] = {H[0], H[8], H[9]};
  for (unsigned i = 0; i < 3; i++)
    differential(chunks[i], diff_ops / 3, diff_seed + i);
}

int main(int argc, char **argv)
{
  pool = aligned_alloc(1u << LM_BUDDY_SHIFT, (size_t)NTEST_CHUNKS << LM_BUDDY_SHIFT);
  if (pool == NULL) return 1;
  for (uint32_t i = 0; i < NTEST_CHUNKS; i++) H[i] = LM_BUDDY_HANDLE(pool + ((size_t)i << LM_BUDDY_SHIFT));
  diff_ops = argc > 1 ? strtoull(argv[1], NULL, 0) : 1000000;
  diff_seed = argc > 2 ? strtoull(argv[2], NULL, 0) : 1;
  label = argc > 3 ? argv[3] : "";
  run("init", t_init);
  run("alloc splits, smallest order first", t_alloc_split);
  run("alloc out of memory", t_nomem);
  run("free merges", t_free_merge);
  run("bad free changes nothing", t_bad_free);
  run("take", t_take);
  run("bad shrink changes nothing", t_shrink_errors);
  run("shrink", t_shrink);
  run("shrink + take build exact runs", t_shrink_runs);
  run("block_of", t_block_of);
  run("queries out of range", t_queries_out_of_range);
  run("check detects corruption", t_check_detects);
  char name[96];
  snprintf(name, sizeof name, "differential vs model (%llu ops, seed %llu)",
           (unsigned long long)diff_ops, (unsigned long long)diff_seed);
  run(name, t_differential);
  return failures ? 1 : 0;
}
