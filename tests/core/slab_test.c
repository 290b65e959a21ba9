/* Unit tests of the slabs, then a randomized differential test against a
 * plain reference model (tools/model/slab_model.c, shared with
 * fuzz/fuzz_core.c: a byte per slot, plus the policy: the lowest free slot
 * comes back first), with lm_slab_check() after every step.
 *
 * usage: [LM_TEST_TAG=label] slab_test [OPS [SEED]]   (default 3000000 ops, seed 1)
 * Prints PASS:/FAIL: lines; exits non-zero on any failure. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "core/core.h"
#include "../../tools/model/slab_model.h"

static int failures;
static char why[256];
static const char *tag = ""; /* LM_TEST_TAG: names the build in every line */

#define EXPECT(cond, ...)                                                   \
  do {                                                                      \
    if (!(cond)) {                                                          \
      snprintf(why, sizeof why, __VA_ARGS__);                               \
      return false;                                                         \
    }                                                                       \
  } while (0)

static void run(const char *name, bool (*fn)(void))
{
  why[0] = 0;
  if (fn()) {
    printf("PASS: slab%s: %s\n", tag, name);
  } else {
    failures++;
    printf("FAIL: slab%s: %s: %s\n", tag, name, why);
  }
}

/* Raw state of slab s (its whole record, reached like the core reaches it),
 * to show that a rejected call changed nothing. */
/* Slab handles: the record of slab s lives at s << LM_SLAB_SHIFT (slab.h),
 * so the test keeps NPOOL records in memory aligned to that, allocated at
 * start (the loader does not honour static alignments above a page under
 * ASLR), and names record i by SH(i). */
#define NPOOL 512
static char *volatile pool; /* keeps the pool reachable for LeakSanitizer */
static lm_slab_t SH(uint64_t i) { return LM_SLAB_HANDLE(pool + (i << LM_SLAB_SHIFT)); }

struct snapshot {
  struct lm_slab_core rec;
};

static void snap(lm_slab_t s, struct snapshot *out)
{
  out->rec = LM_SLAB(s);
}

static bool same(lm_slab_t s, const struct snapshot *a)
{
  return memcmp(&a->rec, &LM_SLAB(s), sizeof a->rec) == 0;
}

static bool test_fresh_lowest_first(void)
{
  lm_slab_t s = SH(7);
  lm_slab_init(s, 48, 5);
  EXPECT(lm_slab_check(s) && lm_slab_is_empty(s) && !lm_slab_is_full(s) &&
             lm_slab_used(s) == 0 && lm_slab_nslots(s) == 5 && lm_slab_slot_size(s) == 48,
         "fresh slab state");
  for (uint32_t i = 0; i < 5; i++) {
    int32_t off = lm_slab_alloc(s);
    EXPECT(off == (int32_t)(48 * i), "alloc %u returned %d", i, off);
    EXPECT(lm_slab_check(s) && lm_slab_used(s) == i + 1 && lm_slab_is_allocated(s, (uint32_t)off),
           "after alloc %u", i);
  }
  EXPECT(lm_slab_is_full(s) && !lm_slab_is_empty(s), "full after 5 allocs");
  struct snapshot before;
  snap(s, &before);
  EXPECT(lm_slab_alloc(s) == LM_ERR_NOMEM && same(s, &before), "alloc on a full slab");
  return true;
}

static bool test_lowest_reuse(void)
{
  lm_slab_t s = SH(8);
  lm_slab_init(s, 16, 10);
  for (int i = 0; i < 10; i++)
    lm_slab_alloc(s);
  EXPECT(lm_slab_free(s, 3 * 16) == 0 && lm_slab_free(s, 7 * 16) == 0 &&
             lm_slab_free(s, 0) == 0 && lm_slab_check(s) && lm_slab_used(s) == 7,
         "three frees");
  EXPECT(lm_slab_alloc(s) == 0 && lm_slab_alloc(s) == 3 * 16 && lm_slab_alloc(s) == 7 * 16,
         "freed slots must come back lowest first");
  EXPECT(lm_slab_is_full(s) && lm_slab_check(s), "full again");
  /* A freed slot below an untouched one comes first, and the other way. */
  lm_slab_init(s, 16, 10);
  lm_slab_alloc(s);
  lm_slab_alloc(s);
  lm_slab_free(s, 0);
  EXPECT(lm_slab_alloc(s) == 0 && lm_slab_alloc(s) == 32, "reuse then the next untouched");
  lm_slab_free(s, 16);
  lm_slab_free(s, 32);
  EXPECT(lm_slab_alloc(s) == 16 && lm_slab_alloc(s) == 32 && lm_slab_alloc(s) == 48 &&
             lm_slab_check(s),
         "lowest of freed and untouched");
  return true;
}

/* Slots on both sides of bitmap word boundaries, slabs ending inside a word
 * and on a word boundary, the search skipping full words and coming back
 * below them after a free. */
static bool test_word_boundaries(void)
{
  static const uint32_t ns[] = {1, 63, 64, 65, 127, 128, 129, 300, 448, 511, 512};
  lm_slab_t s = SH(9);
  for (size_t k = 0; k < sizeof ns / sizeof ns[0]; k++) {
    uint32_t n = ns[k], size = LM_QUANTUM;
    lm_slab_init(s, size, n);
    EXPECT(lm_slab_check(s) && lm_slab_is_empty(s), "n=%u: fresh slab", n);
    for (uint32_t i = 0; i < n; i++) {
      int32_t off = lm_slab_alloc(s);
      EXPECT(off == (int32_t)(i * size), "n=%u: alloc %u returned %d", n, i, off);
    }
    EXPECT(lm_slab_alloc(s) == LM_ERR_NOMEM && lm_slab_is_full(s) && lm_slab_check(s),
           "n=%u: full", n);
    EXPECT(!lm_slab_slot_allocated(s, n) && !lm_slab_is_allocated(s, n * size),
           "n=%u: the slot past the last reads as free", n);
    /* Free the last slot, then one slot in each word below it, top down:
     * the allocs must take them back lowest first. */
    uint32_t freed[LM_SLAB_WORDS + 1], nf = 0;
    for (uint32_t x = n - 1;; x -= 64) {
      EXPECT(lm_slab_free_slot(s, x) == 0 && lm_slab_check(s), "n=%u: free slot %u", n, x);
      freed[nf++] = x;
      if (x < 64)
        break;
    }
    EXPECT(lm_slab_used(s) == n - nf && !lm_slab_is_full(s), "n=%u: used after %u frees", n, nf);
    while (nf > 0) {
      uint32_t want = freed[--nf];
      int32_t off = lm_slab_alloc(s);
      EXPECT(off == (int32_t)(want * size) && lm_slab_check(s), "n=%u: alloc gave %d, want slot %u",
             n, off, want);
    }
    EXPECT(lm_slab_is_full(s), "n=%u: full again", n);
    for (uint32_t x = 0; x < n; x++)
      EXPECT(lm_slab_free(s, x * size) == 0, "n=%u: free %u", n, x);
    EXPECT(lm_slab_is_empty(s) && lm_slab_check(s), "n=%u: empty", n);
  }
  return true;
}

static bool test_bad_frees_change_nothing(void)
{
  lm_slab_t s = SH(NPOOL - 1);
  lm_slab_init(s, 4096, 4);
  lm_slab_alloc(s); /* 0 */
  lm_slab_alloc(s); /* 4096 */
  lm_slab_free(s, 0);
  struct snapshot before;
  snap(s, &before);
  static const struct { uint32_t off; int32_t err; } cases[] = {
    {0, LM_ERR_NOT_ALLOCATED},        /* double free */
    {8192, LM_ERR_NOT_ALLOCATED},     /* never handed out */
    {12288, LM_ERR_NOT_ALLOCATED},
    {16384, LM_ERR_RANGE},            /* one past the last slot */
    {16385, LM_ERR_RANGE},
    {0xffffffffu, LM_ERR_RANGE},
    {1, LM_ERR_INTERIOR},
    {4096 + 16, LM_ERR_INTERIOR},
    {16383, LM_ERR_INTERIOR},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    int32_t r = lm_slab_free(s, cases[i].off);
    EXPECT(r == cases[i].err, "free(%u) returned %d, want %d", cases[i].off, r, cases[i].err);
    EXPECT(same(s, &before), "free(%u) changed the slab", cases[i].off);
    EXPECT(!lm_slab_is_allocated(s, cases[i].off), "is_allocated(%u)", cases[i].off);
  }
  static const struct { uint32_t slot; int32_t err; } slot_cases[] = {
    {0, LM_ERR_NOT_ALLOCATED}, {2, LM_ERR_NOT_ALLOCATED}, {3, LM_ERR_NOT_ALLOCATED},
    {4, LM_ERR_RANGE}, {0xffffffffu, LM_ERR_RANGE},
  };
  for (size_t i = 0; i < sizeof slot_cases / sizeof slot_cases[0]; i++) {
    int32_t r = lm_slab_free_slot(s, slot_cases[i].slot);
    EXPECT(r == slot_cases[i].err, "free_slot(%u) returned %d, want %d", slot_cases[i].slot, r,
           slot_cases[i].err);
    EXPECT(same(s, &before), "free_slot(%u) changed the slab", slot_cases[i].slot);
  }
  EXPECT(lm_slab_is_allocated(s, 4096) && lm_slab_slot_allocated(s, 1) &&
             lm_slab_free_slot(s, 1) == 0 && lm_slab_is_empty(s),
         "the one good free");
  return true;
}

/* lm_slab_free_mask against the plain answer: random slabs (slot counts
 * ending inside a word and on one), random allocated sets, every word and
 * random masks; the result is the mask's bits whose slot was not
 * allocated, the others are freed, nothing else changes. */
static bool test_free_mask(void)
{
  static const uint32_t counts[] = {1, 63, 64, 100, 128, 341, 512};
  uint64_t x = 0x9e3779b97f4a7c15u;
  for (uint32_t trial = 0; trial < 20000; trial++) {
    x ^= x << 13, x ^= x >> 7, x ^= x << 17;
    uint32_t n = counts[trial % (sizeof counts / sizeof counts[0])];
    lm_slab_t s = SH(7);
    lm_slab_init(s, 16, n);
    bool alloc[LM_SLAB_MAX_SLOTS] = {false};
    for (uint32_t i = 0; i < n; i++) lm_slab_alloc(s);
    uint64_t r = x;
    for (uint32_t i = 0; i < n; i++) {
      if (i % 64 == 0) r = r * 6364136223846793005u + 1442695040888963407u;
      alloc[i] = (r >> (i % 64)) & 1;
      if (!alloc[i]) lm_slab_free_slot(s, i);
    }
    uint32_t w = (uint32_t)(x >> 40) % LM_SLAB_WORDS;
    uint64_t mask = x * 0xbf58476d1ce4e5b9u;
    if (trial % 7 == 0) mask = UINT64_MAX;
    uint64_t want = 0;
    uint32_t freed = 0;
    for (uint32_t j = 0; j < 64; j++) {
      uint32_t slot = 64 * w + j;
      if (!(mask >> j & 1)) continue;
      if (slot < n && alloc[slot]) alloc[slot] = false, freed++;
      else want |= (uint64_t)1 << j;
    }
    uint32_t used = lm_slab_used(s);
    uint64_t got = lm_slab_free_mask(s, w, mask);
    EXPECT(got == want, "n=%u w=%u mask=%#llx: got %#llx, want %#llx", n, w,
           (unsigned long long)mask, (unsigned long long)got, (unsigned long long)want);
    EXPECT((uint32_t)(__builtin_popcountll(mask) - __builtin_popcountll(got)) == freed &&
               lm_slab_used(s) == used - freed,
           "n=%u w=%u: used %u, freed %u", n, w, lm_slab_used(s), freed);
    for (uint32_t i = 0; i < n; i++)
      EXPECT(lm_slab_slot_allocated(s, i) == alloc[i], "n=%u w=%u: slot %u", n, w, i);
    EXPECT(lm_slab_check(s), "n=%u w=%u: lm_slab_check", n, w);
  }
  return true;
}

static bool test_other_slabs_untouched(void)
{
  lm_slab_init(SH(100), 64, 3);
  lm_slab_init(SH(101), 64, 3);
  lm_slab_init(SH(102), 64, 3);
  lm_slab_alloc(SH(100));
  lm_slab_alloc(SH(102));
  struct snapshot a, c;
  snap(SH(100), &a);
  snap(SH(102), &c);
  lm_slab_alloc(SH(101));
  lm_slab_alloc(SH(101));
  lm_slab_free(SH(101), 64);
  lm_slab_free(SH(101), 0);
  lm_slab_init(SH(101), 32, 7);
  EXPECT(same(SH(100), &a) && same(SH(102), &c), "operations on slab 101 changed a neighbour");
  return true;
}

/* Every class geometry: fill, offsets distinct multiples inside the span,
 * free all in a scrambled order, empty again. */
static bool test_class_geometries(void)
{
  static bool seen[LM_SLAB_MAX_SLOTS];
  lm_slab_t s = SH(200);
  for (uint32_t c = 0; c < LM_NUM_CLASSES; c++) {
    uint32_t sz = lm_class_size(c), n = lm_class_slab_slots(c);
    lm_slab_init(s, sz, n);
    memset(seen, 0, sizeof seen);
    for (uint32_t i = 0; i < n; i++) {
      int32_t off = lm_slab_alloc(s);
      EXPECT(off >= 0 && (uint32_t)off % sz == 0 && (uint32_t)off / sz < n &&
                 (uint32_t)off + sz <= (LM_PAGE_SIZE << lm_class_slab_order(c)),
             "class %u alloc %u gave %d", c, i, off);
      EXPECT(!seen[off / sz], "class %u: offset %d handed out twice", c, off);
      seen[off / sz] = true;
    }
    EXPECT(lm_slab_alloc(s) == LM_ERR_NOMEM && lm_slab_is_full(s) && lm_slab_check(s),
           "class %u not full after %u allocs", c, n);
    for (uint32_t i = 0; i < n; i++) {
      uint32_t slot = (i * 7919u) % n; /* a permutation: 7919 is a prime > n */
      EXPECT(seen[slot] && lm_slab_free(s, slot * sz) == 0, "class %u free slot %u", c, slot);
      seen[slot] = false;
    }
    EXPECT(lm_slab_is_empty(s) && lm_slab_used(s) == 0 && lm_slab_check(s), "class %u not empty", c);
  }
  return true;
}

/* The mirror must reject broken states, or the differential test below
 * proves nothing: break each invariant in turn on a scratch slab. */
static bool test_check_rejects(void)
{
  lm_slab_t s = SH(300);
  struct snapshot good;
  lm_slab_init(s, 32, 200);
  for (int i = 0; i < 150; i++)
    lm_slab_alloc(s);
  lm_slab_free(s, 64);
  lm_slab_free(s, 32 * 100);
  EXPECT(lm_slab_check(s), "valid slab rejected");
  snap(s, &good);
#define BREAK(stmt, what)                                                   \
  do {                                                                      \
    stmt;                                                                   \
    EXPECT(!lm_slab_check(s), "check accepted " what);                     \
    LM_SLAB(s) = good.rec;                                                  \
  } while (0)
  BREAK(LM_SLAB(s).size = 24, "a size not a multiple of 16");
  BREAK(LM_SLAB(s).size = 0, "size 0");
  BREAK(LM_SLAB(s).nslots = 0, "no slots");
  BREAK(LM_SLAB(s).nslots = LM_SLAB_MAX_SLOTS + 1, "too many slots");
  BREAK((LM_SLAB(s).size = 16384, LM_SLAB(s).nslots = 8), "a span over 64 KiB");
  BREAK(LM_SLAB(s).nslots = 300, "tail bits counted as allocated slots");
  BREAK(LM_SLAB(s).nslots = 100, "allocated slots past the last");
  BREAK(LM_SLAB(s).bits[LM_SLAB_WORDS - 1] &= ~((uint64_t)1 << 63), "a clear tail bit");
  BREAK(LM_SLAB(s).bits[200 / 64] &= ~((uint64_t)1 << (200 % 64)), "a clear bit just past the last slot");
  BREAK(LM_SLAB(s).hint = LM_SLAB_WORDS + 1, "a hint past the bitmap");
  BREAK(LM_SLAB(s).hint = 1, "a hint above a word with a free slot");
  BREAK(LM_SLAB(s).used++, "a used count one too high");
  BREAK(LM_SLAB(s).used--, "a used count one too low");
  BREAK(LM_SLAB(s).bits[0] |= (uint64_t)1 << 2, "an allocated bit not counted");
  BREAK(LM_SLAB(s).bits[1] &= ~((uint64_t)1 << 0), "a freed bit still counted");
#undef BREAK
  /* Hint 1 is valid once word 0 is full; LM_SLAB_WORDS once all are. */
  lm_slab_alloc(s); /* slot 2: word 0 full */
  LM_SLAB(s).hint = 1;
  EXPECT(lm_slab_check(s), "hint 1 over a full word rejected");
  lm_slab_init(s, 32, 70);
  while (lm_slab_alloc(s) >= 0)
    ;
  LM_SLAB(s).hint = LM_SLAB_WORDS;
  EXPECT(lm_slab_check(s) && lm_slab_alloc(s) == LM_ERR_NOMEM, "hint past a full slab rejected");
  LM_SLAB(s) = good.rec;
  EXPECT(lm_slab_check(s), "restore");
  return true;
}

/* ---- differential test ---- */

static uint64_t rng_state;
static uint64_t rnd(void)
{
  rng_state ^= rng_state >> 12;
  rng_state ^= rng_state << 25;
  rng_state ^= rng_state >> 27;
  return rng_state * 2685821657736338717ull;
}
static uint32_t below(uint32_t n) { return (uint32_t)((rnd() >> 32) % n); }

/* The reference model is tools/model/slab_model.h (a byte per slot, the
 * lowest free slot first), shared with fuzz/fuzz_core.c. */
#define NMODEL 24
struct model {
  lm_slab_t s;
  struct lm_slab_model m;
  uint32_t target; /* fill level the op mix drifts to */
};
static struct model models[NMODEL];

static void model_init(struct model *x)
{
  static const uint32_t small[] = {1, 2, 3, 7, 16, 33};
  uint32_t r = below(10), size = LM_QUANTUM * (1 + below(64)), n;
  if (r < 4)
    n = small[below(6)];
  else if (r < 8)
    n = 1 + below(128);
  else
    n = 1 + below(LM_SLAB_MAX_SLOTS);
  while (n * size > LM_SLAB_MAX_SPAN)
    size -= LM_QUANTUM;
  lm_sm_init(&x->m, size, n);
  x->target = below(n + 1);
  lm_slab_init(x->s, size, n);
}

static bool differential(uint64_t ops, uint64_t seed)
{
  char diff[200];
  rng_state = seed * 0x9e3779b97f4a7c15ull + 1;
  for (int i = 0; i < NMODEL; i++) {
    /* Spread over the index space, including both ends. */
    uint64_t idx = i == 0 ? 0 : i == 1 ? NPOOL - 1 : 2 + below(NPOOL - 3);
    for (int j = 0; j < i; j++)
      if (models[j].s == SH(idx))
        idx = (idx + 1) % NPOOL, j = -1;
    models[i].s = SH(idx);
    model_init(&models[i]);
  }
  uint64_t errs = 0, allocs = 0, frees = 0;
  for (uint64_t k = 0; k < ops; k++) {
    struct model *x = &models[below(NMODEL)];
    struct lm_slab_model *m = &x->m;
    uint32_t r = below(100);
    if (r == 0 && below(20) == 0) {
      model_init(x);
    } else if (r < 50 + (m->used < x->target ? 20 : -20)) {
      int32_t want = lm_sm_alloc_expect(m); /* the lowest free slot, or NOMEM */
      int32_t off = lm_slab_alloc(x->s);
      EXPECT(off == want, "op %llu: slab %#llx (%u of %u used) alloc gave %d, want %d",
             (unsigned long long)k, (unsigned long long)x->s, m->used, m->nslots, off, want);
      if (off >= 0) {
        lm_sm_set(m, (uint32_t)off / m->size, true);
        allocs++;
      }
    } else if (r < 92) {
      /* Free: mostly an allocated slot, sometimes anything at all. */
      uint32_t off, slot = below(m->nslots);
      switch (below(8)) {
      case 0: off = (uint32_t)rnd(); break;
      case 1: off = m->nslots * m->size + below(3 * m->size); break;
      case 2: off = slot * m->size + 1 + below(m->size - 1); break;
      default: off = slot * m->size; break;
      }
      /* Half the time by slot index: same result, except that an interior
       * offset names the slot it falls in. */
      bool by_slot = below(2) == 0;
      int32_t want = by_slot ? lm_sm_free_slot_expect(m, off / m->size) : lm_sm_free_expect(m, off);
      struct snapshot before;
      if (want)
        snap(x->s, &before);
      int32_t got = by_slot ? lm_slab_free_slot(x->s, off / m->size) : lm_slab_free(x->s, off);
      EXPECT(got == want, "op %llu: slab %#llx %s(%u) gave %d, want %d", (unsigned long long)k,
             (unsigned long long)x->s, by_slot ? "free_slot" : "free", by_slot ? off / m->size : off,
             got, want);
      if (want) {
        EXPECT(same(x->s, &before), "op %llu: rejected free changed slab %#llx",
               (unsigned long long)k, (unsigned long long)x->s);
        errs++;
      } else {
        lm_sm_set(m, off / m->size, false);
        frees++;
      }
    } else if (r < 96) {
      x->target = below(m->nslots + 1);
    }
    EXPECT(lm_slab_check(x->s), "op %llu: slab %#llx fails lm_slab_check", (unsigned long long)k,
           (unsigned long long)x->s);
    EXPECT(lm_sm_compare(m, x->s, true, 0, diff, sizeof diff), "op %llu: %s",
           (unsigned long long)k, diff);
  }
  printf("slab differential: %llu ops (%llu allocs, %llu frees, %llu rejected frees), seed %llu\n",
         (unsigned long long)ops, (unsigned long long)allocs, (unsigned long long)frees,
         (unsigned long long)errs, (unsigned long long)seed);
  return true;
}

static uint64_t g_ops = 3000000, g_seed = 1;
static bool test_differential(void) { return differential(g_ops, g_seed); }

int main(int argc, char **argv)
{
  pool = aligned_alloc((size_t)1 << LM_SLAB_SHIFT, (size_t)NPOOL << LM_SLAB_SHIFT);
  if (pool == NULL)
    return 1;
  if (argc > 1)
    g_ops = strtoull(argv[1], NULL, 0);
  if (argc > 2)
    g_seed = strtoull(argv[2], NULL, 0);
  if (getenv("LM_TEST_TAG"))
    tag = getenv("LM_TEST_TAG");
  run("fresh slab hands out lowest offsets first, then NOMEM", test_fresh_lowest_first);
  run("the lowest free slot comes first, freed or untouched", test_lowest_reuse);
  run("slots across bitmap words, slabs ending inside and on a word", test_word_boundaries);
  run("bad frees return the error and change nothing", test_bad_frees_change_nothing);
  run("free_mask frees the allocated slots of a mask, returns the others", test_free_mask);
  run("operations leave other slabs unchanged", test_other_slabs_untouched);
  run("every class geometry fills, stays inside, empties", test_class_geometries);
  run("lm_slab_check rejects each broken invariant", test_check_rejects);
  run("differential against a bool-per-slot model", test_differential);
  return failures != 0;
}
