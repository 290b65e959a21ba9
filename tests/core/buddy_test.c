/* Unit and differential tests of the buddy allocator (src/core/buddy.c).
 *
 *   buddy_test [ops] [seed] [label]
 *
 * Unit tests pin each function and error path; the differential test runs
 * `ops` random operations per chunk against a naive reference model (per-page
 * arrays, merging by scanning) and, after every step, compares the whole
 * chunk with the model and runs lm_buddy_check(). Prints PASS:/FAIL: lines
 * and exits non-zero on any failure. */
#include "core/core.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define N LM_CHUNK_PAGES
#define MAXO LM_MAX_ORDER

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
  for (uint32_t c = 0; c < LM_MAX_CHUNKS; c += LM_MAX_CHUNKS - 1) {
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
  EXPECT(lm_buddy_alloc(0, 0) == 0);
  lm_buddy_init(0);
  EXPECT(lm_buddy_check(0) && lm_buddy_free_pages(0) == N);
}

static void t_alloc_split(void)
{
  lm_buddy_init(1);
  /* Order 0 from a whole chunk: page 0, and one free block of each order
   * 0..max-1 at 2^k. */
  EXPECT(lm_buddy_alloc(1, 0) == 0);
  EXPECT(lm_buddy_check(1) && lm_buddy_free_pages(1) == N - 1);
  EXPECT(lm_buddy_is_allocated(1, 0) && lm_buddy_order(1, 0) == 0);
  for (uint32_t k = 0; k < MAXO; k++) {
    EXPECT(lm_buddy_is_head(1, 1u << k) && lm_buddy_order(1, 1u << k) == k);
    EXPECT(!lm_buddy_is_allocated(1, 1u << k));
  }
  /* The smallest sufficient order is used: order 0 comes from page 1. */
  EXPECT(lm_buddy_alloc(1, 0) == 1);
  /* order 3 takes the free order-3 block at 8, not a bigger one. */
  EXPECT(lm_buddy_alloc(1, 3) == 8);
  /* order 1: the order-1 block at 2 */
  EXPECT(lm_buddy_alloc(1, 1) == 2);
  /* another order 1: split the order-2 block at 4 */
  EXPECT(lm_buddy_alloc(1, 1) == 4);
  EXPECT(lm_buddy_is_head(1, 6) && lm_buddy_order(1, 6) == 1);
  EXPECT(lm_buddy_check(1));
  EXPECT(lm_buddy_free_pages(1) == N - 1 - 1 - 8 - 2 - 2);
  /* Results are aligned to their order */
  lm_buddy_init(1);
  for (uint32_t k = 0; k <= MAXO; k++) {
    lm_buddy_init(1);
    int32_t p = lm_buddy_alloc(1, k);
    EXPECT(p == 0 && lm_buddy_order(1, 0) == k && lm_buddy_free_pages(1) == N - (1u << k));
    EXPECT(lm_buddy_check(1));
  }
}

static void t_nomem(void)
{
  lm_buddy_init(2);
  EXPECT(lm_buddy_alloc(2, MAXO) == 0);
  for (uint32_t k = 0; k <= MAXO; k++)
    EXPECT(lm_buddy_alloc(2, k) == LM_ERR_NOMEM);
  EXPECT(lm_buddy_check(2) && lm_buddy_free_pages(2) == 0);
  EXPECT(lm_buddy_free(2, 0) == MAXO);
  /* Fill with order 0, then nothing more fits; every page is a head. */
  for (uint32_t p = 0; p < N; p++)
    EXPECT(lm_buddy_alloc(2, 0) >= 0);
  EXPECT(lm_buddy_alloc(2, 0) == LM_ERR_NOMEM);
  EXPECT(lm_buddy_check(2) && lm_buddy_free_pages(2) == 0);
  /* Orders above the maximum are refused. */
  lm_buddy_init(2);
  EXPECT(lm_buddy_alloc(2, MAXO + 1) == LM_ERR_NOMEM);
  EXPECT(lm_buddy_alloc(2, 1000000) == LM_ERR_NOMEM);
  EXPECT(lm_buddy_check(2) && lm_buddy_free_pages(2) == N);
}

static void t_free_merge(void)
{
  lm_buddy_init(3);
  int32_t a = lm_buddy_alloc(3, 0), b = lm_buddy_alloc(3, 0);
  int32_t d = lm_buddy_alloc(3, 1);
  EXPECT(a == 0 && b == 1 && d == 2);
  EXPECT(lm_buddy_free(3, 1) == 0);       /* buddy 0 allocated: no merge */
  EXPECT(lm_buddy_is_head(3, 1) && !lm_buddy_is_allocated(3, 1));
  EXPECT(lm_buddy_free(3, 0) == 0);       /* merges with 1 into order 1 */
  EXPECT(lm_buddy_order(3, 0) == 1 && !lm_buddy_is_head(3, 1));
  EXPECT(lm_buddy_check(3));
  EXPECT(lm_buddy_free(3, 2) == 1);       /* merges all the way up */
  EXPECT(lm_buddy_order(3, 0) == MAXO && lm_buddy_free_pages(3) == N);
  EXPECT(lm_buddy_check(3));
  /* Upper half freed last merges downwards. */
  for (uint32_t p = 0; p < N; p++)
    EXPECT(lm_buddy_alloc(3, 0) == (int32_t)p);
  for (uint32_t p = N; p-- > 0;) {
    EXPECT(lm_buddy_free(3, p) == 0);
    EXPECT(lm_buddy_free_pages(3) == N - p);
  }
  EXPECT(lm_buddy_order(3, 0) == MAXO && lm_buddy_check(3));
}

/* A failing free or take must leave every byte of the state unchanged. */
static struct lm_buddy_chunk snap;
static void snapshot(uint32_t c, struct lm_buddy_chunk *out)
{
  memcpy(out, &lm_buddy[c], sizeof *out);
}
static bool unchanged(uint32_t c)
{
  return memcmp(&lm_buddy[c], &snap, sizeof snap) == 0;
}

static void t_bad_free(void)
{
  uint32_t c = LM_MAX_CHUNKS - 1;
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
  uint32_t c = 5;
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

static void t_block_of(void)
{
  uint32_t c = 6;
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
  lm_buddy_init(7);
  EXPECT(!lm_buddy_is_head(7, N) && lm_buddy_order(7, N) == 0 && !lm_buddy_is_allocated(7, N));
  EXPECT(!lm_buddy_is_head(7, UINT32_MAX) && lm_buddy_order(7, UINT32_MAX) == 0);
}

/* The check itself must notice corruption, or every test that relies on it
 * proves nothing. Each case breaks one invariant and restores it. */
static void t_check_detects(void)
{
  uint32_t c = 8;
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
  BREAK(lm_buddy[c].st[3], LM_BUDDY_FREE);          /* overlap */
  BREAK(lm_buddy[c].st[1], LM_BUDDY_INTERIOR);      /* gap */
  BREAK(lm_buddy[c].st[1], 3);                      /* bad state */
  BREAK(lm_buddy[c].ord[1], 1);                     /* changes tiling */
  BREAK(lm_buddy[c].ord[4], 3);                     /* misaligned */
  BREAK(lm_buddy[c].pos[1], 1);                     /* stack link */
  BREAK(lm_buddy[c].cnt[0][0], 0);                  /* free block off its stack */
  BREAK(lm_buddy[c].cnt[1][2], 2);                  /* stale entry */
  BREAK(lm_buddy[c].nfree, N);                      /* count */
  BREAK(lm_buddy[c].st[0], LM_BUDDY_FREE);          /* free buddies unmerged + stacks */
#undef BREAK
}

/* ---- differential test against a reference model ---------------------- */

/* Model: mord[p] = order of the block headed by p, or -1 inside a block;
 * mused[p] = allocated. Everything by scanning, nothing clever. */
static int8_t mord[N];
static bool mused[N];

static void model_init(void)
{
  memset(mord, -1, sizeof mord);
  memset(mused, 0, sizeof mused);
  mord[0] = MAXO;
}

static int model_min_free_order(uint32_t order)
{
  int best = -1;
  for (uint32_t p = 0; p < N; p++)
    if (mord[p] >= 0 && !mused[p] && (uint32_t)mord[p] >= order && (best < 0 || mord[p] < best))
      best = mord[p];
  return best;
}

static void model_merge(uint32_t p)
{
  uint32_t k = (uint32_t)mord[p];
  while (k < MAXO) {
    uint32_t b = p ^ (1u << k);
    if (mord[b] != (int)k || mused[b])
      break;
    uint32_t lo = p < b ? p : b, hi = p < b ? b : p;
    mord[hi] = -1;
    mused[hi] = false;
    mord[lo] = (int8_t)++k;
    p = lo;
  }
}

static uint32_t model_free_pages(void)
{
  uint32_t n = 0;
  for (uint32_t p = 0; p < N; p++)
    if (mord[p] >= 0 && !mused[p])
      n += 1u << mord[p];
  return n;
}

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
  int32_t head = 0;
  for (uint32_t p = 0; p < N; p++) {
    if (mord[p] >= 0)
      head = (int32_t)p;
    bool ok = lm_buddy_is_head(c, p) == (mord[p] >= 0) &&
              lm_buddy_order(c, p) == (mord[p] >= 0 ? (uint32_t)mord[p] : 0) &&
              lm_buddy_is_allocated(c, p) == (mord[p] >= 0 && mused[p]) &&
              lm_buddy_block_of(c, p) == head;
    if (!ok) {
      fprintf(stderr, "differential: step %llu: page %u differs from model\n",
              (unsigned long long)step, p);
      return false;
    }
  }
  return lm_buddy_free_pages(c) == model_free_pages();
}

static void differential(uint32_t c, uint64_t ops, uint64_t seed)
{
  static uint32_t live[N];
  uint32_t nlive = 0;
  rng_state = seed * 0x9E3779B97F4A7C15ull + 1;
  lm_buddy_init(c);
  model_init();
  for (uint64_t i = 0; i < ops; i++) {
    uint64_t r = rnd();
    uint32_t op = r % 16;
    /* Favour small orders, like the heap; drift between filling and
     * draining phases so both full and empty chunks are reached. */
    bool filling = (i / 4096) % 2 == 0;
    if (op < (filling ? 8u : 4u)) {
      uint32_t order = (r >> 8) % 64 == 0 ? (uint32_t)((r >> 16) % (MAXO + 3))
                                           : (uint32_t)__builtin_ctzll(rnd() | (1ull << MAXO));
      int best = model_min_free_order(order);
      int32_t p = lm_buddy_alloc(c, order);
      if (best < 0 || order > MAXO) {
        EXPECT(p == LM_ERR_NOMEM);
      } else {
        /* Must be the head of a free model block of the smallest order. */
        EXPECT(p >= 0 && (uint32_t)p < N && mord[p] == best && !mused[p]);
        for (uint32_t k = (uint32_t)best; k > order; k--)
          mord[p + (1u << (k - 1))] = (int8_t)(k - 1);
        mord[p] = (int8_t)order;
        mused[p] = true;
        live[nlive++] = (uint32_t)p;
      }
    } else if (op < 12 && nlive > 0) {
      uint32_t j = (uint32_t)(r >> 8) % nlive, p = live[j];
      live[j] = live[--nlive];
      int32_t want = mord[p];
      bool take_back = (r >> 40) % 8 == 0;
      EXPECT(lm_buddy_free(c, p) == want);
      mused[p] = false;
      model_merge(p);
      if (take_back) {
        /* purge cycle on the block that now holds p */
        int32_t h = lm_buddy_block_of(c, p);
        EXPECT(h >= 0 && lm_buddy_take(c, (uint32_t)h) == mord[h]);
        mused[h] = true;
        EXPECT(lm_buddy_check(c));
        EXPECT(lm_buddy_free(c, (uint32_t)h) == mord[h]);
        mused[h] = false;
        model_merge((uint32_t)h);
      }
    } else if (op < 14) {
      /* Any page: free or take it and compare the verdict with the model. */
      uint32_t p = (r >> 8) % 64 == 0 ? N + (uint32_t)(r >> 20) % 8 : (uint32_t)(r >> 8) % N;
      bool take = op == 13;
      int32_t want;
      if (p >= N) want = LM_ERR_RANGE;
      else if (mord[p] < 0) want = LM_ERR_INTERIOR;
      else if (take ? mused[p] : !mused[p]) want = take ? LM_ERR_NOT_FREE : LM_ERR_NOT_ALLOCATED;
      else want = mord[p];
      if (want < 0)
        snapshot(c, &snap);
      int32_t got = take ? lm_buddy_take(c, p) : lm_buddy_free(c, p);
      EXPECT(got == want);
      if (want < 0) {
        EXPECT(unchanged(c));
      } else if (take) {
        mused[p] = true;
        live[nlive++] = p;
      } else {
        for (uint32_t j = 0; j < nlive; j++)
          if (live[j] == p) { live[j] = live[--nlive]; break; }
        mused[p] = false;
        model_merge(p);
      }
    } else {
      uint32_t p = (uint32_t)(r >> 8) % N;
      int32_t h = (int32_t)p;
      while (mord[h] < 0) h--;
      EXPECT(lm_buddy_block_of(c, p) == h);
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
  uint32_t chunks[] = {0, 9, LM_MAX_CHUNKS - 1};
  for (unsigned i = 0; i < 3; i++)
    differential(chunks[i], diff_ops / 3, diff_seed + i);
}

int main(int argc, char **argv)
{
  diff_ops = argc > 1 ? strtoull(argv[1], NULL, 0) : 1000000;
  diff_seed = argc > 2 ? strtoull(argv[2], NULL, 0) : 1;
  label = argc > 3 ? argv[3] : "";
  run("init", t_init);
  run("alloc splits, smallest order first", t_alloc_split);
  run("alloc out of memory", t_nomem);
  run("free merges", t_free_merge);
  run("bad free changes nothing", t_bad_free);
  run("take", t_take);
  run("block_of", t_block_of);
  run("queries out of range", t_queries_out_of_range);
  run("check detects corruption", t_check_detects);
  char name[96];
  snprintf(name, sizeof name, "differential vs model (%llu ops, seed %llu)",
           (unsigned long long)diff_ops, (unsigned long long)diff_seed);
  run(name, t_differential);
  return failures ? 1 : 0;
}
