/* Fuzz driver 1: the verified core against a plain reference model.
 *
 * The ops drive a few buddy chunks and slabs directly (no heap, no OS).
 * The model is deliberately naive -- a page map of allocated blocks and a
 * byte per slot of each slab, tools/model/buddy_model.c and slab_model.c,
 * the ones tests/core uses too -- and every core result is checked against the
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
#include "../tools/model/buddy_model.h"
#include "../tools/model/slab_model.h"

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

/* ---- model ----
 * The reference models are shared with the core's unit tests
 * (tools/model/buddy_model.h, slab_model.h): a page map of allocated blocks
 * per chunk (the free blocks it implies by maximal merging) and a byte per
 * slot per slab. */

static struct lm_buddy_model cm[NCHUNKS];
static struct lm_slab_model sm[NSLABS];

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
  const struct lm_buddy_model *t = lm_bm_tiling(&cm[ci]);
  for (uint32_t k = 0; k <= LM_MAX_ORDER; k++)
    feature((ci * (LM_MAX_ORDER + 1) + k) * 4 + bucket(t->nfree[k]));
  LM_FUZZ_EXPECT(op, lm_buddy_check(c), "lm_buddy_check(%u) failed", c);
  char why[256];
  LM_FUZZ_EXPECT(op, lm_bm_compare(&cm[ci], c, full, why, sizeof why), "%s", why);
}

static void compare_slab(const struct lm_op *op, unsigned si, bool full, uint32_t touched) {
  lm_slab_t s = slab_ids(si);
  const struct lm_slab_model *m = &sm[si];
  /* How many words below the lowest free slot are full (0, 1, 2, more):
   * the alloc's search across bitmap words. */
  feature(NCHUNKS * (LM_MAX_ORDER + 1) * 4 + si * 8 + bucket(lm_sm_lowest_free(m) / 64) * 2 +
          (m->used == m->nslots));
  LM_FUZZ_EXPECT(op, lm_slab_check(s), "lm_slab_check(%#llx) failed", (unsigned long long)s);
  char why[256];
  LM_FUZZ_EXPECT(op, lm_sm_compare(m, s, full, touched, why, sizeof why), "%s", why);
}

/* ---- operations ---- */

static void slab_init(unsigned si, uint32_t size, uint32_t nslots) {
  lm_slab_init(slab_ids(si), size, nslots);
  lm_sm_init(&sm[si], size, nslots);
}

/* A failing call changes nothing: the slab's whole record is as before. */
static bool slab_unchanged(unsigned si, const struct lm_slab_core *before) {
  return memcmp(&LM_SLAB(slab_ids(si)), before, sizeof *before) == 0;
}

static void do_slab_alloc(const struct lm_op *op, unsigned si, int32_t *got) {
  struct lm_slab_model *m = &sm[si];
  struct lm_slab_core before = LM_SLAB(slab_ids(si));
  int32_t want = lm_sm_alloc_expect(m); /* slab.h: the lowest free slot */
  int32_t r = lm_slab_alloc(slab_ids(si));
  result_feature(op, r);
  LM_FUZZ_EXPECT(op, r == want, "slab with %u of %u used: alloc returned %d, want %d", m->used,
                 m->nslots, r, want);
  if (r < 0) {
    LM_FUZZ_EXPECT(op, slab_unchanged(si, &before), "full slab: alloc changed its record");
    return;
  }
  lm_sm_set(m, (uint32_t)r / m->size, true);
  *got = r;
}

static void do_slab_free(const struct lm_op *op, unsigned si, uint32_t off) {
  struct lm_slab_model *m = &sm[si];
  int32_t want = lm_sm_free_expect(m, off);
  struct lm_slab_core before = LM_SLAB(slab_ids(si));
  int32_t r = lm_slab_free(slab_ids(si), off);
  result_feature(op, r);
  LM_FUZZ_EXPECT(op, r == want, "slab free of offset %u returned %d, want %d", off, r, want);
  LM_FUZZ_EXPECT(op, r == 0 || slab_unchanged(si, &before),
                 "slab free of offset %u failed (%d) but changed the record", off, r);
  if (r == 0) lm_sm_set(m, off / m->size, false);
}

/* lm_slab_free_slot: the same by slot index (the heap's path). */
static void do_slab_free_slot(const struct lm_op *op, unsigned si, uint32_t slot) {
  struct lm_slab_model *m = &sm[si];
  int32_t want = lm_sm_free_slot_expect(m, slot);
  struct lm_slab_core before = LM_SLAB(slab_ids(si));
  int32_t r = lm_slab_free_slot(slab_ids(si), slot);
  result_feature(op, r);
  LM_FUZZ_EXPECT(op, r == want, "slab free of slot %u returned %d, want %d", slot, r, want);
  LM_FUZZ_EXPECT(op, r == 0 || slab_unchanged(si, &before),
                 "slab free of slot %u failed (%d) but changed the record", slot, r);
  if (r == 0) lm_sm_set(m, slot, false);
}

static void do_buddy_alloc(const struct lm_op *op, unsigned ci, uint32_t order, int32_t *got) {
  char why[256];
  /* buddy.h: the head of a free block of the smallest order that fits */
  int32_t r = lm_buddy_alloc(chunk_ids(ci), order);
  result_feature(op, r);
  LM_FUZZ_EXPECT(op, lm_bm_alloc_ok(&cm[ci], order, r, why, sizeof why), "%s", why);
  if (r < 0) return;
  lm_bm_mark(&cm[ci], (uint32_t)r, order, true);
  *got = r;
}

static int32_t do_buddy_free(const struct lm_op *op, unsigned ci, uint32_t page, bool take) {
  int32_t want = take ? lm_bm_take_expect(&cm[ci], page) : lm_bm_free_expect(&cm[ci], page);
  int32_t r = take ? lm_buddy_take(chunk_ids(ci), page) : lm_buddy_free(chunk_ids(ci), page);
  result_feature(op, r);
  LM_FUZZ_EXPECT(op, r == want, "buddy %s of page %u returned %d, want %d",
                 take ? "take" : "free", page, r, want);
  if (r >= 0) lm_bm_mark(&cm[ci], page, (uint32_t)r, take);
  return r;
}

/* lm_buddy_shrink: the block keeps its lowest 2^order pages and the rest
 * goes back free; the model's canonical tiling then has exactly buddy.h's
 * tail blocks (free, order j at page + 2^j), which compare_chunk checks. */
static int32_t do_buddy_shrink(const struct lm_op *op, unsigned ci, uint32_t page, uint32_t order) {
  int32_t want = lm_bm_shrink_expect(&cm[ci], page, order);
  int32_t r = lm_buddy_shrink(chunk_ids(ci), page, order);
  result_feature(op, r);
  LM_FUZZ_EXPECT(op, r == want, "buddy shrink of page %u to order %u returned %d, want %d",
                 page, order, r, want);
  if (r >= 0) {
    lm_bm_mark(&cm[ci], page, (uint32_t)r, false);
    lm_bm_mark(&cm[ci], page, order, true);
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
    lm_bm_init(&cm[ci]);
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
