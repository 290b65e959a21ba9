/* Fuzz driver 1: the verified core against a plain reference model.
 *
 * The ops drive a few buddy chunks and slabs directly (no heap, no OS).
 * The model is deliberately naive -- a page map of allocated blocks and a
 * byte per slot of each slab -- and every core result is checked against the
 * contract in buddy.h/slab.h/sizeclass.h: results inside and aligned,
 * allocated memory was free, errors change nothing, counts exact. After
 * every step the touched structure's whole observable state is compared with
 * the model and lm_buddy_check()/lm_slab_check() must hold.
 *
 * How op kinds map to core calls. The slot picks the chunk or slab, and an
 * entry of a small table of the driver's own allocations, which feeds the
 * frees: most frees are valid, and a repeat is a double free.
 *   malloc            slab_alloc (odd slot) or buddy_alloc(order from size)
 *   calloc, the aligned family   buddy_alloc(order from size / log2 align)
 *   free, fill, check free the table entry (buddy or slab; fill frees a
 *                     slab slot by index, lm_slab_free_slot)
 *   realloc, reallocarray        slab_free / slab_free_slot / buddy_free at
 *                     a raw offset, index or page (size): the range,
 *                     interior and double-free paths
 *   valloc, take      buddy_take at a raw page (the purge path)
 *   usable_size       buddy_shrink of the table entry (slab or empty entry:
 *                     compare everything), to order slot / 16 % 12
 *   handoff           the heap's exact-run step: buddy_shrink of the table
 *                     entry (or of raw page aux * 64) to order slot / 16 % 12,
 *                     then buddy_take of the first tail block, recorded in
 *                     the next table entry
 *   pvalloc           slab_init with a size class or any legal geometry
 *   trim              the size-class contract at n = size
 *   others            compare everything
 */
#include "driver.h"
#include "core/core.h"

#define NCHUNKS 3
#define NSLABS 6
/* The state of chunk c lives at c << LM_BUDDY_SHIFT (buddy.h): the driver
 * keeps its chunks' states in memory aligned to that (allocated at start:
 * the loader does not honour a static alignment above a page under ASLR)
 * and uses their handles. */
static uint32_t chunk_handle[NCHUNKS];
static char *volatile chunk_pool; /* keeps the pool reachable for LeakSanitizer */
#define chunk_ids(i) chunk_handle[i]
__attribute__((constructor)) static void chunk_pool_init(void) {
  char *pool = chunk_pool = aligned_alloc(1u << LM_BUDDY_SHIFT, (size_t)NCHUNKS << LM_BUDDY_SHIFT);
  if (pool == NULL) abort();
  for (unsigned i = 0; i < NCHUNKS; i++) chunk_handle[i] = LM_BUDDY_HANDLE(pool + ((size_t)i << LM_BUDDY_SHIFT));
}
/* Slab records live at s << LM_SLAB_SHIFT (slab.h): the driver keeps them
 * in memory aligned to that too. */
static lm_slab_t slab_handle[NSLABS];
static char *volatile slab_pool; /* keeps the pool reachable for LeakSanitizer */
#define slab_ids(i) slab_handle[i]
__attribute__((constructor)) static void slab_pool_init(void) {
  char *pool = slab_pool = aligned_alloc((size_t)1 << LM_SLAB_SHIFT, (size_t)NSLABS << LM_SLAB_SHIFT);
  if (pool == NULL) abort();
  for (unsigned i = 0; i < NSLABS; i++) slab_handle[i] = LM_SLAB_HANDLE(pool + ((size_t)i << LM_SLAB_SHIFT));
}

#define PAGES LM_CHUNK_PAGES

/* ---- model ---- */

struct chunk_model {
  int8_t head_order[PAGES]; /* order of the allocated block with this head, or -1 */
  uint8_t used[PAGES];      /* page inside an allocated block */
};

/* slab.h: "returns the byte offset of the lowest free slot" -- a byte per
 * slot, searched from 0. */
struct slab_model {
  uint32_t size, nslots, used;
  uint8_t alloc[LM_SLAB_MAX_SLOTS];
};

/* The lowest free slot of the model, or nslots if it is full. */
static uint32_t slab_lowest_free(const struct slab_model *m) {
  uint32_t x = 0;
  while (x < m->nslots && m->alloc[x]) x++;
  return x;
}

static struct chunk_model cm[NCHUNKS];
static struct slab_model sm[NSLABS];

/* The canonical tiling the model implies: with maximal merging, free blocks
 * are exactly the maximal aligned runs with no used page. */
struct tiling {
  bool head[PAGES], alloc[PAGES];
  uint8_t order[PAGES];
  uint32_t block_of[PAGES];
  uint32_t free_pages;
  uint32_t used_before[PAGES + 1]; /* used pages in [0, i): O(1) range test */
};

static bool range_unused(const struct tiling *t, uint32_t h, uint32_t n) {
  return t->used_before[h + n] == t->used_before[h];
}

static void tile(const struct chunk_model *m, uint32_t h, uint32_t k, struct tiling *t) {
  uint32_t n = 1u << k;
  bool allocated = m->head_order[h] == (int8_t)k;
  if (allocated || range_unused(t, h, n)) {
    t->head[h] = true;
    t->alloc[h] = allocated;
    t->order[h] = (uint8_t)k;
    for (uint32_t i = h; i < h + n; i++) t->block_of[i] = h;
    if (!allocated) t->free_pages += n;
    return;
  }
  tile(m, h, k - 1, t); /* k > 0: an order-0 page is either used by its own block or free */
  tile(m, h + n / 2, k - 1, t);
}

/* The model's tiling of chunk ci, recomputed only after the model changed. */
static struct tiling tilings[NCHUNKS];
static bool tiling_stale[NCHUNKS];

static const struct tiling *tiling_of(unsigned ci) {
  struct tiling *t = &tilings[ci];
  if (!tiling_stale[ci]) return t;
  const struct chunk_model *m = &cm[ci];
  memset(t->head, 0, sizeof t->head);
  t->free_pages = 0;
  t->used_before[0] = 0;
  for (uint32_t i = 0; i < PAGES; i++) t->used_before[i + 1] = t->used_before[i] + m->used[i];
  tile(m, 0, LM_MAX_ORDER, t);
  tiling_stale[ci] = false;
  return t;
}

/* ---- state feedback ----
 * Code coverage saturates quickly on a core this small, while bugs hide in
 * states (two free blocks of one order, a slab whose freed slots are
 * stacked). libFuzzer treats counters in this section as extra coverage, so
 * an input that reaches a new shape of state is kept and mutated further.
 * Other engines ignore the section. */
#define STATE_FEATURES (NCHUNKS * (LM_MAX_ORDER + 1) * 4 + NSLABS * 8 + LM_OP_KINDS * 8)
__attribute__((section("__libfuzzer_extra_counters"), used))
static uint8_t state_counters[STATE_FEATURES];

static void feature(size_t i) {
  if (state_counters[i] < 255) state_counters[i]++;
}

static size_t bucket(uint32_t n) { return n < 3 ? n : 3; }

/* Which result (success or which error) each kind of op has reached. */
static void result_feature(const struct lm_op *op, int32_t r) {
  feature(NCHUNKS * (LM_MAX_ORDER + 1) * 4 + NSLABS * 8 + op->kind * 8u +
          (r >= 0 ? 0u : (uint32_t)(-r) % 8));
}

/* ---- comparisons ---- */

/* full: every page; otherwise only the model's block heads (with
 * lm_buddy_check vouching for the pages in between): most steps take the
 * cheap road, every FULL_EVERY-th op and the last one the whole. */
#define FULL_EVERY 16

static void compare_chunk(const struct lm_op *op, unsigned ci, bool full) {
  uint32_t c = chunk_ids(ci);
  const struct tiling *t = tiling_of(ci);
  uint32_t nfree[LM_MAX_ORDER + 1] = {0};
  for (uint32_t p = 0; p < PAGES; p++)
    if (t->head[p] && !t->alloc[p]) nfree[t->order[p]]++;
  for (uint32_t k = 0; k <= LM_MAX_ORDER; k++)
    feature((ci * (LM_MAX_ORDER + 1) + k) * 4 + bucket(nfree[k]));
  LM_FUZZ_EXPECT(op, lm_buddy_check(c), "lm_buddy_check(%u) failed", c);
  LM_FUZZ_EXPECT(op, lm_buddy_free_pages(c) == t->free_pages,
                 "chunk %u: lm_buddy_free_pages = %u, model %u", c, lm_buddy_free_pages(c),
                 t->free_pages);
  for (uint32_t p = 0; p < PAGES; p += full || !t->head[p] ? 1 : 1u << t->order[p]) {
    bool h = lm_buddy_is_head(c, p);
    uint32_t o = lm_buddy_order(c, p);
    bool a = lm_buddy_is_allocated(c, p);
    LM_FUZZ_EXPECT(op, h == t->head[p] && o == (t->head[p] ? t->order[p] : 0u) &&
                       a == (t->head[p] && t->alloc[p]),
                   "chunk %u page %u: core says head=%d order=%u allocated=%d, "
                   "model head=%d order=%u allocated=%d",
                   c, p, h, o, a, t->head[p], t->order[p], t->alloc[p]);
    if (!h) continue;
    /* block_of costs O(order): ask it at the block's first, middle and last page. */
    uint32_t last = p + (1u << t->order[p]) - 1, probes[3] = {p, p + (last - p + 1) / 2, last};
    for (unsigned k = 0; k < 3; k++) {
      int32_t b = lm_buddy_block_of(c, probes[k]);
      LM_FUZZ_EXPECT(op, b == (int32_t)p, "chunk %u: block_of(%u) = %d, model %u", c,
                     probes[k], b, p);
    }
  }
  LM_FUZZ_EXPECT(op, lm_buddy_block_of(c, PAGES) == LM_ERR_RANGE &&
                     lm_buddy_block_of(c, UINT32_MAX) == LM_ERR_RANGE,
                 "chunk %u: block_of past the chunk is not LM_ERR_RANGE", c);
}

static void compare_slab(const struct lm_op *op, unsigned si, bool full, uint32_t touched) {
  lm_slab_t s = slab_ids(si);
  const struct slab_model *m = &sm[si];
  /* How many words below the lowest free slot are full (0, 1, 2, more):
   * the alloc's search across bitmap words. */
  feature(NCHUNKS * (LM_MAX_ORDER + 1) * 4 + si * 8 + bucket(slab_lowest_free(m) / 64) * 2 +
          (m->used == m->nslots));
  LM_FUZZ_EXPECT(op, lm_slab_check(s), "lm_slab_check(%#llx) failed", (unsigned long long)s);
  LM_FUZZ_EXPECT(op, lm_slab_used(s) == m->used && lm_slab_nslots(s) == m->nslots &&
                     lm_slab_slot_size(s) == m->size,
                 "slab %#llx: used/nslots/size = %u/%u/%u, model %u/%u/%u", (unsigned long long)s, lm_slab_used(s),
                 lm_slab_nslots(s), lm_slab_slot_size(s), m->used, m->nslots, m->size);
  LM_FUZZ_EXPECT(op, lm_slab_is_empty(s) == (m->used == 0) &&
                     lm_slab_is_full(s) == (m->used == m->nslots),
                 "slab %#llx: is_empty=%d is_full=%d with %u of %u used", (unsigned long long)s, lm_slab_is_empty(s),
                 lm_slab_is_full(s), m->used, m->nslots);
  for (uint32_t i = full ? 0 : touched; i < m->nslots && (full || i == touched); i++)
    LM_FUZZ_EXPECT(op, lm_slab_is_allocated(s, i * m->size) == (bool)m->alloc[i] &&
                       lm_slab_slot_allocated(s, i) == (bool)m->alloc[i],
                   "slab %#llx slot %u: is_allocated=%d slot_allocated=%d, model %d", (unsigned long long)s, i,
                   lm_slab_is_allocated(s, i * m->size), lm_slab_slot_allocated(s, i),
                   m->alloc[i]);
  LM_FUZZ_EXPECT(op, !lm_slab_slot_allocated(s, m->nslots) && !lm_slab_slot_allocated(s, UINT32_MAX),
                 "slab %#llx: a slot index past the last reads as allocated", (unsigned long long)s);
}

/* ---- operations ---- */

static void slab_init(unsigned si, uint32_t size, uint32_t nslots) {
  lm_slab_init(slab_ids(si), size, nslots);
  struct slab_model *m = &sm[si];
  memset(m, 0, sizeof *m);
  m->size = size;
  m->nslots = nslots;
}

/* A failing call changes nothing: the slab's whole record is as before. */
static bool slab_unchanged(unsigned si, const struct lm_slab_core *before) {
  return memcmp(&LM_SLAB(slab_ids(si)), before, sizeof *before) == 0;
}

static void do_slab_alloc(const struct lm_op *op, unsigned si, int32_t *got) {
  struct slab_model *m = &sm[si];
  struct lm_slab_core before = LM_SLAB(slab_ids(si));
  int32_t r = lm_slab_alloc(slab_ids(si));
  result_feature(op, r);
  if (m->used == m->nslots) {
    LM_FUZZ_EXPECT(op, r == LM_ERR_NOMEM, "full slab: alloc returned %d", r);
    LM_FUZZ_EXPECT(op, slab_unchanged(si, &before), "full slab: alloc changed its record");
    return;
  }
  LM_FUZZ_EXPECT(op, r >= 0, "slab with %u of %u used: alloc returned %d", m->used, m->nslots, r);
  uint32_t off = (uint32_t)r;
  LM_FUZZ_EXPECT(op, off % m->size == 0 && off / m->size < m->nslots,
                 "slab alloc returned offset %u: not a slot of %u x %u", off, m->nslots, m->size);
  LM_FUZZ_EXPECT(op, !m->alloc[off / m->size], "slab alloc returned slot %u, already allocated",
                 off / m->size);
  uint32_t want = slab_lowest_free(m);
  LM_FUZZ_EXPECT(op, off / m->size == want, "slab alloc returned slot %u, want %u (the lowest free)",
                 off / m->size, want);
  m->alloc[off / m->size] = 1;
  m->used++;
  *got = r;
}

static void do_slab_free(const struct lm_op *op, unsigned si, uint32_t off) {
  struct slab_model *m = &sm[si];
  int32_t want = off >= m->nslots * m->size ? LM_ERR_RANGE
               : off % m->size              ? LM_ERR_INTERIOR
               : !m->alloc[off / m->size]   ? LM_ERR_NOT_ALLOCATED
                                            : 0;
  struct lm_slab_core before = LM_SLAB(slab_ids(si));
  int32_t r = lm_slab_free(slab_ids(si), off);
  result_feature(op, r);
  LM_FUZZ_EXPECT(op, r == want, "slab free of offset %u returned %d, want %d", off, r, want);
  LM_FUZZ_EXPECT(op, r == 0 || slab_unchanged(si, &before),
                 "slab free of offset %u failed (%d) but changed the record", off, r);
  if (r == 0) {
    m->alloc[off / m->size] = 0;
    m->used--;
  }
}

/* lm_slab_free_slot: the same by slot index (the heap's path). */
static void do_slab_free_slot(const struct lm_op *op, unsigned si, uint32_t slot) {
  struct slab_model *m = &sm[si];
  int32_t want = slot >= m->nslots ? LM_ERR_RANGE : !m->alloc[slot] ? LM_ERR_NOT_ALLOCATED : 0;
  struct lm_slab_core before = LM_SLAB(slab_ids(si));
  int32_t r = lm_slab_free_slot(slab_ids(si), slot);
  result_feature(op, r);
  LM_FUZZ_EXPECT(op, r == want, "slab free of slot %u returned %d, want %d", slot, r, want);
  LM_FUZZ_EXPECT(op, r == 0 || slab_unchanged(si, &before),
                 "slab free of slot %u failed (%d) but changed the record", slot, r);
  if (r == 0) {
    m->alloc[slot] = 0;
    m->used--;
  }
}

/* Expected result of freeing or taking `page` when it is not an error. */
static int32_t buddy_head_error(const struct tiling *t, uint32_t page, bool want_alloc) {
  if (page >= PAGES) return LM_ERR_RANGE;
  if (!t->head[page]) return LM_ERR_INTERIOR;
  if (t->alloc[page] != want_alloc) return want_alloc ? LM_ERR_NOT_ALLOCATED : LM_ERR_NOT_FREE;
  return t->order[page];
}

static void mark(unsigned ci, uint32_t h, uint32_t k, bool used) {
  struct chunk_model *m = &cm[ci];
  tiling_stale[ci] = true;
  m->head_order[h] = used ? (int8_t)k : -1;
  memset(&m->used[h], used, (size_t)1 << k);
}

static void do_buddy_alloc(const struct lm_op *op, unsigned ci, uint32_t order, int32_t *got) {
  const struct tiling *t = tiling_of(ci);
  /* buddy.h: the smallest order that has a free block (best fit), and the
   * result keeps the lowest pages of the block it is split from. */
  int best = -1;
  for (uint32_t p = 0; p < PAGES; p++)
    if (t->head[p] && !t->alloc[p] && t->order[p] >= order && (best < 0 || t->order[p] < best))
      best = t->order[p];
  int32_t r = lm_buddy_alloc(chunk_ids(ci), order);
  result_feature(op, r);
  if (best < 0) {
    LM_FUZZ_EXPECT(op, r == LM_ERR_NOMEM, "no free block of order >= %u, alloc returned %d",
                   order, r);
    return;
  }
  uint32_t n = 1u << order;
  LM_FUZZ_EXPECT(op, r >= 0 && (uint32_t)r % n == 0 && (uint32_t)r + n <= PAGES,
                 "buddy alloc of order %u returned %d: not an aligned block in the chunk", order, r);
  LM_FUZZ_EXPECT(op, t->head[r] && !t->alloc[r] && t->order[r] == best,
                 "buddy alloc of order %u returned page %d, not the head of a free block of "
                 "order %d (the smallest that fits)", order, r, best);
  LM_FUZZ_EXPECT(op, range_unused(t, (uint32_t)r, n),
                 "buddy alloc returned pages [%d, %u) that are in use", r, (uint32_t)r + n);
  mark(ci, (uint32_t)r, order, true);
  *got = r;
}

static int32_t do_buddy_free(const struct lm_op *op, unsigned ci, uint32_t page, bool take) {
  const struct tiling *t = tiling_of(ci);
  int32_t want = buddy_head_error(t, page, !take);
  int32_t r = take ? lm_buddy_take(chunk_ids(ci), page) : lm_buddy_free(chunk_ids(ci), page);
  result_feature(op, r);
  LM_FUZZ_EXPECT(op, r == want, "buddy %s of page %u returned %d, want %d",
                 take ? "take" : "free", page, r, want);
  if (r >= 0) mark(ci, page, (uint32_t)r, take);
  return r;
}

/* lm_buddy_shrink: the block keeps its lowest 2^order pages and the rest
 * goes back free; the model's canonical tiling then has exactly buddy.h's
 * tail blocks (free, order j at page + 2^j), which compare_chunk checks. */
static int32_t do_buddy_shrink(const struct lm_op *op, unsigned ci, uint32_t page, uint32_t order) {
  const struct tiling *t = tiling_of(ci);
  int32_t want = buddy_head_error(t, page, true);
  if (want >= 0 && order > (uint32_t)want) want = LM_ERR_RANGE;
  int32_t r = lm_buddy_shrink(chunk_ids(ci), page, order);
  result_feature(op, r);
  LM_FUZZ_EXPECT(op, r == want, "buddy shrink of page %u to order %u returned %d, want %d",
                 page, order, r, want);
  if (r >= 0) {
    mark(ci, page, (uint32_t)r, false);
    mark(ci, page, order, true);
  }
  return r;
}

/* The size-class contract, for one n and for the tables (once per process). */
static void check_class(const struct lm_op *op, uint32_t n) {
  uint32_t c = lm_size_class(n);
  LM_FUZZ_EXPECT(op, c < LM_NUM_CLASSES && lm_class_size(c) >= n &&
                     (c == 0 || lm_class_size(c - 1) < n),
                 "lm_size_class(%u) = %u is not the smallest class that fits", n, c);
}

static void check_classes_once(void) {
  static bool done;
  if (done) return;
  done = true;
  for (uint32_t c = 0; c < LM_NUM_CLASSES; c++) {
    uint32_t size = lm_class_size(c), order = lm_class_slab_order(c), slots = lm_class_slab_slots(c);
    LM_FUZZ_EXPECT(NULL, size % LM_QUANTUM == 0 && size > 0 &&
                         (c == 0 || size > lm_class_size(c - 1)),
                   "class %u: size %u not a multiple of 16 above the previous class", c, size);
    LM_FUZZ_EXPECT(NULL, order <= LM_SLAB_MAX_ORDER && slots >= 1 &&
                         slots <= LM_SLAB_MAX_SLOTS &&
                         (uint64_t)slots * size <= ((uint64_t)LM_PAGE_SIZE << order),
                   "class %u: slab of order %u with %u slots of %u bytes does not fit", c,
                   order, slots, size);
  }
  LM_FUZZ_EXPECT(NULL, lm_class_size(LM_NUM_CLASSES - 1) == LM_SMALL_MAX,
                 "largest class is %u, not LM_SMALL_MAX", lm_class_size(LM_NUM_CLASSES - 1));
  for (uint32_t n = 0; n <= LM_SMALL_MAX; n++) check_class(NULL, n);
}

/* The driver's own record of what it allocated, so frees mostly hit. */
struct entry {
  enum { NONE, SLAB, BUDDY } type;
  uint8_t idx;    /* chunk or slab index */
  uint32_t where; /* slot offset or head page */
};
#define TABLE 16 /* few entries, so a free soon meets an earlier allocation */
static struct entry table[TABLE];

static void reset(void) {
  memset(table, 0, sizeof table);
  for (unsigned ci = 0; ci < NCHUNKS; ci++) {
    lm_buddy_init(chunk_ids(ci));
    memset(cm[ci].head_order, -1, sizeof cm[ci].head_order);
    memset(cm[ci].used, 0, sizeof cm[ci].used);
    tiling_stale[ci] = true;
  }
  /* Slabs start as real size classes: one tiny, some middle, the largest. */
  static const uint32_t cls[NSLABS] = {0, 3, 9, 17, 26, LM_NUM_CLASSES - 1};
  for (unsigned si = 0; si < NSLABS; si++)
    slab_init(si, lm_class_size(cls[si]), lm_class_slab_slots(cls[si]));
}

static uint32_t log2_floor(size_t x) { return x ? 63u - (uint32_t)__builtin_clzll(x) : 0; }

/* Order of a buddy request: small orders are the common and the tricky case. */
static uint32_t order_of(size_t v) { return (uint32_t)(v % 16) % (LM_MAX_ORDER + 1); }

/* Order to shrink to: slot / 16 is free of the table index (slot % TABLE);
 * LM_MAX_ORDER + 1 is above every block. */
static uint32_t shrink_order(const struct lm_op *op) {
  return (uint32_t)(op->slot / TABLE) % (LM_MAX_ORDER + 2);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  static struct lm_op ops[LM_FUZZ_MAX_OPS];
  check_classes_once();
  reset();
  size_t n = lm_ops_decode(data, size, ops, LM_FUZZ_MAX_OPS);
  for (size_t i = 0; i < n; i++) {
    const struct lm_op *op = &ops[i];
    lm_fuzz_trace(i, op);
    unsigned ci = op->slot % NCHUNKS, si = op->slot % NSLABS;
    struct entry *e = &table[op->slot % TABLE];
    bool to_slab = op->slot & 1; /* for kinds that go either way */
    int32_t got = -1;
    bool chunk_touched = false, slab_touched = false;
    uint32_t touched_slot = UINT32_MAX; /* slab slot an op changed, if any */
    switch (op->kind) {
    case LM_OP_MALLOC: case LM_OP_CALLOC: case LM_OP_POSIX_MEMALIGN:
    case LM_OP_ALIGNED_ALLOC: case LM_OP_MEMALIGN:
      if (op->kind == LM_OP_MALLOC && to_slab) {
        do_slab_alloc(op, si, &got);
        if (got >= 0) touched_slot = (uint32_t)got / sm[si].size;
        if (got >= 0) *e = (struct entry){SLAB, (uint8_t)si, (uint32_t)got};
        slab_touched = true;
      } else {
        size_t v = op->kind == LM_OP_MALLOC || op->kind == LM_OP_CALLOC ? op->size
                                                                       : (size_t)log2_floor(op->align);
        do_buddy_alloc(op, ci, order_of(v), &got);
        if (got >= 0) *e = (struct entry){BUDDY, (uint8_t)ci, (uint32_t)got};
        chunk_touched = true;
      }
      break;
    case LM_OP_FREE: case LM_OP_FILL: case LM_OP_CHECK:
      if (e->type == SLAB) {
        si = e->idx;
        touched_slot = e->where / sm[si].size;
        if (op->kind == LM_OP_FILL) do_slab_free_slot(op, si, touched_slot);
        else do_slab_free(op, si, e->where);
        slab_touched = true;
      } else if (e->type == BUDDY) {
        ci = e->idx;
        do_buddy_free(op, ci, e->where, false);
        chunk_touched = true;
      }
      break; /* the entry stays: freeing it again is a double free */
    case LM_OP_REALLOC: case LM_OP_REALLOCARRAY: /* frees at raw offsets: the error paths */
      if (to_slab && op->kind == LM_OP_REALLOCARRAY) {
        touched_slot = (uint32_t)op->size;
        do_slab_free_slot(op, si, touched_slot);
        slab_touched = true;
      } else if (to_slab) {
        do_slab_free(op, si, (uint32_t)op->size);
        touched_slot = (uint32_t)op->size / sm[si].size;
        slab_touched = true;
      } else {
        do_buddy_free(op, ci, (uint32_t)op->size, false);
        chunk_touched = true;
      }
      break;
    case LM_OP_VALLOC: case LM_OP_TAKE: { /* the purge path */
      uint32_t page = op->kind == LM_OP_VALLOC ? (uint32_t)op->size : (uint32_t)op->aux * 32;
      if (do_buddy_free(op, ci, page, true) >= 0)
        *e = (struct entry){BUDDY, (uint8_t)ci, page};
      chunk_touched = true;
      break;
    }
    case LM_OP_USABLE_SIZE:
      if (e->type != BUDDY) {
        chunk_touched = slab_touched = true;
        break;
      }
      ci = e->idx;
      do_buddy_shrink(op, ci, e->where, shrink_order(op));
      chunk_touched = true;
      break;
    case LM_OP_HANDOFF: { /* carve_run's step: keep the low part, take the next */
      uint32_t page = (uint32_t)op->aux * 64, order = shrink_order(op);
      if (e->type == BUDDY) {
        ci = e->idx;
        page = e->where;
      }
      int32_t old = do_buddy_shrink(op, ci, page, order);
      if (old > (int32_t)order && do_buddy_free(op, ci, page + (1u << order), true) >= 0)
        table[(op->slot + 1) % TABLE] = (struct entry){BUDDY, (uint8_t)ci, page + (1u << order)};
      chunk_touched = true;
      break;
    }
    case LM_OP_PVALLOC: {
      /* Either a real class or any geometry the contract allows. */
      uint64_t v = op->size;
      uint32_t sz, slots;
      if (v & 1) {
        uint32_t c = (uint32_t)(v >> 1) % LM_NUM_CLASSES;
        sz = lm_class_size(c);
        slots = lm_class_slab_slots(c);
      } else {
        sz = LM_QUANTUM * (1 + (uint32_t)(v >> 1) % 256);
        uint32_t max = (64u << 10) / sz;
        if (max > LM_SLAB_MAX_SLOTS) max = LM_SLAB_MAX_SLOTS;
        slots = 1 + (uint32_t)(v >> 9) % max;
      }
      slab_init(si, sz, slots);
      for (unsigned k = 0; k < TABLE; k++) /* its old slots are gone */
        if (table[k].type == SLAB && table[k].idx == si) table[k].type = NONE;
      slab_touched = true;
      break;
    }
    case LM_OP_TRIM:
      check_class(op, (uint32_t)(op->size % (LM_SMALL_MAX + 1)));
      break;
    default: /* thread, barrier: look at everything */
      chunk_touched = slab_touched = true;
      break;
    }
    bool full = i % FULL_EVERY == 0 || i + 1 == n || op->kind == LM_OP_PVALLOC;
    if (chunk_touched) compare_chunk(op, ci, full);
    if (slab_touched) compare_slab(op, si, full, touched_slot);
  }
  return 0;
}
