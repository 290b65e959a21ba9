/* lemmalloc heap: everything between the verified core and the API.
 *
 * Glossary (in addition to src/core/core.h)
 *   arena      an independent heap: its chunks, its slabs, one lock. Threads
 *              are spread over arenas round-robin; a block always returns to
 *              the arena that owns its chunk.
 *   registry   a two-level radix table from address >> 22 (one entry per
 *              4 MiB granule) to the chunk or huge mapping covering it; a
 *              pointer with no entry was not handed out by lemmalloc.
 *   pagemap    per chunk, one word per page: the slab whose span holds the
 *              page (every page of the span), LARGE|pages at the head of a
 *              large block, LARGE at the head of its other buddy blocks, or 0.
 *   large      a request above LM_SMALL_MAX (or over-aligned) served by an
 *              exact run of pages inside one buddy block of up to
 *              LM_LARGE_MAX_ORDER: the allocated blocks of the page count's
 *              binary digits side by side (5 pages: 4 + 1), so the pages up
 *              to the next power of two stay free for other requests.
 *   huge       a request above LM_LARGE_MAX, mapped directly (4 MiB aligned)
 *              and kept in a small cache after free until the decay.
 *   tcache     per-thread stack of free slots per size class, linked through
 *              the slots, bounded in count and bytes; no lock.
 *   dirty      a page that may be resident: handed out since it was last
 *              purged. Free dirty pages are purged after LEMMALLOC_PURGE_MS,
 *              or after an eighth of it when an arena must map a chunk.
 *
 * Locks, in the only order they are taken: lm_heap.init_lock, arena purge
 * locks then arena locks by index, huge lock, meta lock. Syscalls (map, unmap, purge) are made with no
 * lock held.
 */
#ifndef LM_HEAP_H
#define LM_HEAP_H
#include <stddef.h>
#include <stdint.h>
#include <stdbool.h>
#include "core/core.h"
#include "os/os.h"

#define LM_HIDDEN __attribute__((visibility("hidden")))
#define lm_likely(x) __builtin_expect(!!(x), 1)
#define lm_unlikely(x) __builtin_expect(!!(x), 0)

/* Set bits of x. The x86-64 baseline has no popcnt instruction, and
 * __builtin_popcountll then calls libgcc: inline bit arithmetic instead. */
static inline uint32_t lm_popcount64(uint64_t x) {
#ifdef __POPCNT__
  return (uint32_t)__builtin_popcountll(x);
#else
  x -= (x >> 1) & 0x5555555555555555u;
  x = (x & 0x3333333333333333u) + ((x >> 2) & 0x3333333333333333u);
  x = (x + (x >> 4)) & 0x0f0f0f0f0f0f0f0fu;
  return (uint32_t)((x * 0x0101010101010101u) >> 56);
#endif
}

/* n copies of v from s on: a loop of 16-byte stores (not vectorized at -O2). */
static inline void lm_fill32(uint32_t *s, uint32_t n, uint32_t v) {
  typedef uint32_t v4 __attribute__((vector_size(16), aligned(4), may_alias));
  v4 q = {v, v, v, v};
  for (; n >= 4; n -= 4, s += 4) *(v4 *)s = q;
  for (; n > 0; n--) *s++ = v;
}

#define LM_CHUNK_SHIFT (LM_PAGE_SHIFT + LM_MAX_ORDER)
/* Large blocks go up to half a chunk: a 2 MiB buddy block still leaves the
 * other half of its chunk usable, and above that a direct mapping rounded to
 * pages wastes less than a power of two (huge cache removes the fault cost). */
#define LM_LARGE_MAX_ORDER (LM_MAX_ORDER - 1)
#define LM_LARGE_MAX ((size_t)LM_PAGE_SIZE << LM_LARGE_MAX_ORDER)
#define LM_MAX_ARENAS 64
#define LM_NONE UINT32_MAX

/* ---- registry ---- */
#define LM_VA_BITS 48
#define LM_REG_LEAF_BITS 13
#define LM_REG_ROOT_BITS (LM_VA_BITS - LM_CHUNK_SHIFT - LM_REG_LEAF_BITS)
#define LM_REG_HUGE ((uintptr_t)1) /* tag: entry points at a struct lm_huge */
extern uintptr_t *lm_reg_root[1u << LM_REG_ROOT_BITS] LM_HIDDEN;

/* Entry for address a: 0, a struct lm_chunk *, or (struct lm_huge *)|1. */
static inline __attribute__((always_inline)) uintptr_t lm_reg_lookup(uintptr_t a) {
  if (lm_unlikely(a >> LM_VA_BITS)) return 0;
  uintptr_t *leaf = __atomic_load_n(&lm_reg_root[a >> (LM_CHUNK_SHIFT + LM_REG_LEAF_BITS)],
                                    __ATOMIC_ACQUIRE);
  if (lm_unlikely(leaf == NULL)) return 0;
  return __atomic_load_n(&leaf[(a >> LM_CHUNK_SHIFT) & ((1u << LM_REG_LEAF_BITS) - 1)],
                         __ATOMIC_ACQUIRE);
}
/* Set the entries of every granule overlapping [a, a+size); false if a leaf
 * could not be mapped. */
bool lm_reg_set(uintptr_t a, size_t size, uintptr_t value) LM_HIDDEN;

/* ---- slabs and chunks ----
 * A slab's record lives in its chunk's header: the core's state of the
 * slab (first, so that the slab's handle is the record's address >>
 * LM_SLAB_SHIFT), then the heap's fields, then, on a cache line of its own,
 * the slab's freed bits.
 *
 * Who may touch what (thread.h explains the protocol):
 *   core, base, cls     the slab's owner: the thread that owns it (owner
 *                       != NULL; its fast path on its current slab, its
 *                       slow paths under its heap's lock), or the arena,
 *                       under its lock (owner == NULL). cls and base do not
 *                       change while any slot is allocated, so free reads
 *                       them freely.
 *   freed[]             every thread freeing a slot: one atomic OR; the
 *                       owner takes the bits (atomic exchange) and frees
 *                       those slots in the core ("collects").
 *   pending, pnext      a stack of slabs to collect (slabs.c): the first
 *                       free into a slab since its last collection pushes
 *                       it on its owner's inbox, or on the arena's pending
 *                       stack when the arena owns it.
 *   tnext, tprev, anext, afree, tlist
 *                       the owning thread, under its heap's lock: its list
 *                       of every slab it owns, and of those with free slots.
 *   the rest            the arena, under its lock. */
struct lm_theap;
struct lm_slab {
  struct lm_slab_core core;       /* only src/core reads or writes it */
  uintptr_t base;                 /* span address */
  struct lm_theap *owner;         /* NULL: the arena's (atomic: free reads it) */
  struct lm_slab *ph_child, *ph_next, *ph_prev; /* nonfull pairing heap, by base */
  struct lm_slab *pnext;          /* the arena's pending stack */
  uint32_t pending;               /* on that stack (atomic) */
  uint8_t cls;
  uint8_t state;                  /* enum lm_slab_state */
  uint16_t num;                   /* record number in its chunk's header */
  uint32_t free_ms;               /* last slot freed (low 32 bits of ms) */
  uint16_t purged;                /* span pages given back while the slab lives */
  uint16_t freed_since_check;     /* a slot was freed since the last sparse check */
  uint16_t free_seen;             /* pages wholly free at the last check (dense slabs of big slots) */
  uint8_t tlist;                  /* owner's: LM_TL_* */
  uint32_t afree;                 /* owner's: free bytes counted when it joined the avail list */
  struct lm_slab *tnext, *tprev;  /* owner's: every slab it owns */
  struct lm_slab *anext, *aprev;  /* owner's: its slabs of this class with free slots */
  /* Slots freed and not yet collected: bit slot%64 of word slot/64. */
  uint64_t freed[LM_SLAB_WORDS] __attribute__((aligned(64)));
} __attribute__((aligned(1u << LM_SLAB_SHIFT)));
_Static_assert(sizeof(struct lm_slab) == (1u << LM_SLAB_SHIFT), "a slab record is one 256-byte slot");
/* PURGING: out of every list while its free pages are being released. */
/* OWNED: a thread's (or the arena's own current one, when threads own
 * none). NONFULL and FULL: the arena's, with and without free
 * slots in the core (a FULL slab may have freed bits not yet collected). */
/* Where a thread keeps a slab it owns: its current slab of the class, on
 * its list of slabs with free slots, or on neither (full when last seen);
 * GIVEN: on the list of slabs it is giving back, under its lock. */
enum { LM_TL_FULL, LM_TL_CURRENT, LM_TL_AVAIL, LM_TL_GIVEN };
enum lm_slab_state { LM_SLAB_UNUSED, LM_SLAB_OWNED, LM_SLAB_NONFULL, LM_SLAB_FULL, LM_SLAB_SPARE,
                     LM_SLAB_PURGING };

static inline lm_slab_t lm_slab_h(const struct lm_slab *sl) { return LM_SLAB_HANDLE(sl); }
/* Is a free of slot `slot` of sl pending (its bit set in sl->freed)? */
static inline bool lm_slab_pending_free(const struct lm_slab *sl, uint32_t slot) {
  return (__atomic_load_n(&sl->freed[slot / 64], __ATOMIC_RELAXED) >> (slot % 64)) & 1;
}

/* Each chunk has a header: the core's state of the chunk (first, so that
 * its handle is the header's address >> LM_BUDDY_SHIFT), the heap's own
 * per-chunk tables, and the records of the slabs whose spans lie in the
 * chunk. Headers come from a pool of metadata that is never unmapped
 * (meta.c), not from the chunk: a stale or bogus pointer into a chunk that
 * was just unmapped still reads a header (zeros or another chunk's, whose
 * base then differs), never unmapped memory. Pages of a header are touched
 * only as they are used: records are taken lowest number first. */
#define LM_PM_LARGE 0x8000u /* pagemap: head of a large run | its pages (0: a later block of one) */
#define LM_HDR_SIZE ((size_t)1 << LM_BUDDY_SHIFT)
#ifndef LM_CHUNK_SLABS
#define LM_CHUNK_SLABS 256 /* slab records per chunk (tests/limits runs them out with fewer) */
#endif

struct lm_chunk {
  struct lm_buddy_chunk core;     /* only src/core reads or writes it */
  uintptr_t base;                 /* LM_CHUNK_SIZE aligned */
  uint32_t arena;
  uint32_t free_pages;            /* pages in free buddy blocks */
  uint32_t dirty_free;            /* of which dirty */
  uint32_t nowin_need, nowin_order; /* no dirty window that big here (find_dirty_window) */
  uint32_t nslabs;                /* slab records in use */
  struct lm_chunk *next;          /* arena's list, by increasing base; the pool's free list */
  uint64_t dirty[LM_CHUNK_PAGES / 64];
  uint64_t freemap[LM_CHUNK_PAGES / 64]; /* pages in free blocks, as the heap last saw: a filter only */
  uint64_t slab_used[(LM_CHUNK_SLABS + 63) / 64]; /* records in use */
  uint16_t page[LM_CHUNK_PAGES];  /* pagemap: slab record + 1, LARGE|pages, LARGE, or 0 */
  uint32_t stamp[LM_CHUNK_PAGES]; /* ms (low 32 bits) when a free page was freed */
  struct lm_slab slab[LM_CHUNK_SLABS];
};
_Static_assert(sizeof(struct lm_chunk) <= LM_HDR_SIZE, "a chunk header fits its pool slot");

/* The core's handle of chunk ch; the chunk whose header holds slab sl. */
static inline uint32_t lm_chunk_c(const struct lm_chunk *ch) { return LM_BUDDY_HANDLE(ch); }
static inline struct lm_chunk *lm_slab_chunk(const struct lm_slab *sl) {
  return (struct lm_chunk *)((uintptr_t)sl & ~(uintptr_t)(LM_HDR_SIZE - 1));
}
/* Slots of sl in use: the core's count less the frees not yet collected
 * (a snapshot: frees land at any time). slabs.c. */
uint32_t lm_slab_live(const struct lm_slab *sl) LM_HIDDEN;

/* meta.c: chunk headers, LM_HDR_SIZE-aligned, from regions never unmapped.
 * A fresh or reused header's tables read zero (not its slab records). */
struct lm_chunk *lm_hdr_alloc(void) LM_HIDDEN;
void lm_hdr_free(struct lm_chunk *ch) LM_HIDDEN;
/* Resident bytes of the header pool, and of all metadata (the header
 * pool, the small-object pool, the registry's leaves): mincore walks. */
size_t lm_hdr_resident(void) LM_HIDDEN;
size_t lm_meta_resident(void) LM_HIDDEN;

/* Per size class, the core's constant tables (sizeclass.h), read
 * directly: lm_class_size_table[c] (block size), lm_class_order_table[c]
 * (slab span order), lm_class_slots_table[c] (slots per slab); every entry
 * proven equal to the core's function of c (lm_class_lemma_tables). The
 * class of a request is the core's (lm_size_class_lookup, whose table
 * heap.c has lm_size_class_table_fill fill at init). */
/* Offset -> slot is the core's (sizeclass.h): lm_class_slot_of(cls, off)
 * is the slot of a slot start and LM_SLOT_NONE for any other offset, and
 * lm_class_slot(cls, off) the slot of an offset known to be a slot start;
 * both proven, inlined by LTO (a multiply and a shift, and for the first a
 * multiply and a compare). */

/* ---- huge mappings ---- */
struct lm_huge {
  uintptr_t base;                 /* mapping start == user pointer */
  size_t size;                    /* mapping length, a multiple of pages */
  uint64_t freed_ms;              /* when it entered the cache */
  uint32_t state;                 /* 0 unused, 1 live, 2 cached */
  struct lm_huge *next;           /* free list of records */
};

/* ---- arenas ---- */
struct lm_arena {
  lm_lock_t lock;
  lm_lock_t purge_lock;           /* one purge pass at a time; before lock */
  uint32_t idx;
  struct lm_chunk *chunks;        /* by increasing address */
  struct lm_chunk *fit[LM_MAX_ORDER + 1]; /* first-fit hints by order (chunk.c) */
  struct lm_slab *cur[LM_NUM_CLASSES];     /* the arena's own current slab, when threads own none */
  struct lm_slab *pending;                 /* slabs freed into, to collect (atomic push, pop under lock) */
  struct lm_slab *nonfull[LM_NUM_CLASSES]; /* pairing heap root (lowest base first) */
  struct lm_slab *spare[LM_NUM_CLASSES];   /* one empty slab kept against ping-pong */
  uint32_t spare_ms[LM_NUM_CLASSES];
  uint64_t purge_due_ms;          /* next time a decay pass is worth doing */
  uint32_t sparse_due_ms;         /* next pass over sparse slabs (low 32 bits) */
  uint32_t take_since;            /* start of the demand window (low 32 bits of ms) */
  size_t take_cur, take_prev;     /* pages handed out in this window, the one before */
  size_t purge_keep;              /* dirty free pages the excess pass leaves */
  uint32_t purge_excess;          /* more dirty free pages than demand: purge at the next tick */
  /* counters, under lock */
  size_t nchunks, nempty, dirty_pages, dirty_free_pages; /* nempty: chunks wholly free */
  size_t large_live_bytes;
  size_t owned_slab_bytes;        /* spans of slabs that threads own */
  uint64_t purged_pages, npurge;
  uint64_t class_nslabs[LM_NUM_CLASSES]; /* slabs now alive */
  uint64_t large_nmalloc, large_nfree;
} __attribute__((aligned(64)));

/* ---- configuration (LEMMALLOC_* at init) ---- */
struct lm_config {
  unsigned narenas;               /* LEMMALLOC_ARENAS, default half the CPUs */
  size_t tcache_bytes;            /* LEMMALLOC_TCACHE_BYTES, 0 disables */
  uint32_t purge_ms;              /* LEMMALLOC_PURGE_MS */
  size_t huge_cache_bytes;        /* LEMMALLOC_HUGE_CACHE */
  bool warn_only;                 /* LEMMALLOC_ON_ERROR=warn */
  bool stats_at_exit;             /* LEMMALLOC_STATS=1 */
  bool background;                /* LEMMALLOC_BACKGROUND: the purger thread (background.c) */
};

struct lm_heap {
  struct lm_config cfg;
  unsigned narenas;               /* arenas in use (mallopt may lower) */
  struct lm_arena arenas[LM_MAX_ARENAS];
  uint64_t next_tick_ms;
  lm_lock_t init_lock, meta_lock, huge_lock;
  int initialized;                /* 0, 1 busy, 2 done */
  /* huge mappings, under huge_lock */
  size_t huge_live_bytes, huge_cached_bytes;
  uint64_t huge_nmalloc, huge_nfree, huge_nreuse;
  /* process-wide counters, under meta_lock */
  size_t meta_bytes, chunk_bytes;  /* metadata mapped (all of it), chunks mapped */
  size_t hdr_bytes;               /* of meta_bytes: the chunk header pool's regions */
  uint64_t ntrim, nunmapped_chunks;
};
extern struct lm_heap lm_heap LM_HIDDEN;

static inline bool lm_heap_ready(void) {
  return lm_likely(__atomic_load_n(&lm_heap.initialized, __ATOMIC_ACQUIRE) == 2);
}

/* ---- heap.c: init, errors, config, fork ---- */
void lm_heap_init(void) LM_HIDDEN;
/* The calls that report bad pointers, and what is wrong with a pointer. */
enum lm_call { LM_CALL_FREE, LM_CALL_REALLOC, LM_CALL_USABLE_SIZE };
enum lm_bad {
  LM_BAD_NONE,        /* the start of a live block */
  LM_BAD_FOREIGN,     /* not in memory lemmalloc handed out */
  LM_BAD_INTERIOR,    /* inside a block, not at its start */
  LM_BAD_FREED,       /* the start of a block already freed */
  LM_BAD_FREE_MEMORY, /* in free memory of a chunk, not at a block's start */
};
/* Report bad input, one line from the one table of messages, e.g.
 * "lemmalloc: free(): double free of 0x...", then abort unless
 * LEMMALLOC_ON_ERROR=warn. */
void lm_heap_report(enum lm_call call, enum lm_bad why, const void *p) LM_HIDDEN;
/* A broken invariant of the heap itself (a bug, not bad input): report
 * and abort. */
_Noreturn void lm_heap_bug(const char *what, const void *p) LM_HIDDEN;
/* Run purge passes that are due (cheap when none is); _at: with the
 * clock (lm_os_now_ms) the caller has read already. */
void lm_heap_tick(void) LM_HIDDEN;
void lm_heap_tick_at(uint64_t now) LM_HIDDEN;

/* ---- background.c: the purger thread ---- */
/* A thread's first call: the second thread seen starts the purger. */
void lm_bg_thread_seen(void) LM_HIDDEN;
void lm_bg_fork_child(void) LM_HIDDEN;
/* Wake the purger if it sleeps with nothing to do (the clock's slow
 * paths: there may be something again). */
enum { LM_BG_OFF, LM_BG_RUNNING, LM_BG_PARKED };
extern uint32_t lm_bg_state LM_HIDDEN; /* LM_BG_*: the futex word the purger parks on */
void lm_bg_kick_slow(void) LM_HIDDEN;
static inline void lm_bg_kick(void) {
  if (lm_unlikely(__atomic_load_n(&lm_bg_state, __ATOMIC_RELAXED) == LM_BG_PARKED)) lm_bg_kick_slow();
}
/* The OS refused a mapping (address space or commit limit): what the heap
 * holds but does not use is worth less than the request, so unmap empty
 * chunks and cached huge mappings now, not at the decay. Returns bytes
 * released; the caller asks once more if any were. No lock held. */
size_t lm_heap_reclaim(void) LM_HIDDEN;
/* Internal metadata (never user blocks): from mapped pages, never freed
 * back to the OS. */
void *lm_meta_alloc(size_t size) LM_HIDDEN;
/* Map `len` bytes of metadata (the pool, header regions, registry leaves),
 * counted in lm_heap.meta_bytes; NULL when the OS refuses (or a test limit
 * below is reached). */
void *lm_meta_map(size_t len, size_t align) LM_HIDDEN;

/* Test limits: tests/limits builds the library with small values to run
 * each table out; the library itself has none. */
#ifndef LM_LIMIT_META_BYTES
#define LM_LIMIT_META_BYTES SIZE_MAX  /* metadata mapped in all */
#endif
#ifndef LM_LIMIT_REG_LEAVES
#define LM_LIMIT_REG_LEAVES UINT32_MAX /* registry leaves (32 GiB of addresses each) */
#endif

/* ---- the arena (chunk.c, slabs.c, large.c, purge.c; arena.h) ---- */
/* A run of `pages` pages (1 <= pages <= 2^order) aligned to 2^order pages;
 * *zeroed says whether every page is known to read zero. */
void *lm_arena_alloc_large(struct lm_arena *a, uint32_t pages, uint32_t order, bool *zeroed) LM_HIDDEN;
/* Free the large run at p: a live one (FROM_USER, after the classifier)
 * or a thread's cached one, freed by the user at time `stamp` (the decay
 * counts a cached run's age from its free, not from the cache's); false if it was neither (a second free that
 * lost a race with the first). */
enum lm_large_from { LM_LARGE_FROM_USER, LM_LARGE_FROM_CACHE };
bool lm_arena_free_large(struct lm_chunk *ch, uintptr_t p, enum lm_large_from from, uint32_t stamp) LM_HIDDEN;
/* Why p, in chunk ch but not the start of a live block, is bad; takes the
 * lock. */
enum lm_bad lm_large_why(struct lm_chunk *ch, uintptr_t p) LM_HIDDEN;
/* Purge dirty free pages older than the decay (all of them if `all`), unmap
 * empty chunks beyond the reserve. Returns pages released. Takes the lock. */
size_t lm_arena_purge(struct lm_arena *a, bool all) LM_HIDDEN;
/* The pass lm_heap_tick runs when purge_excess is set: dirty free pages of
 * any age until purge_keep are left. Takes the lock. */
size_t lm_arena_purge_excess(struct lm_arena *a) LM_HIDDEN;



/* ---- huge.c ---- */
void *lm_huge_alloc(size_t size, size_t align, bool *zeroed) LM_HIDDEN;
bool lm_huge_free(struct lm_huge *h, uintptr_t p) LM_HIDDEN;
/* Resize in place or by moving pages; NULL if not possible. */
void *lm_huge_realloc(struct lm_huge *h, size_t size) LM_HIDDEN;
/* Unmap cached mappings older than the decay (all if `all`); bytes released. */
size_t lm_huge_decay(bool all) LM_HIDDEN;

/* ---- iteration, for the heap map and stats (call with no lock held;
 * each callback runs with the arena's lock held: it must not allocate). ---- */
typedef void (*lm_chunk_fn)(const struct lm_arena *a, const struct lm_chunk *ch, void *arg);
void lm_heap_each_chunk(lm_chunk_fn fn, void *arg) LM_HIDDEN;
/* Within a chunk (lock held): the blocks in address order, with for each its
 * head page, order, allocated flag and, for pages of a slab, its slab's
 * record (NULL otherwise). */
typedef void (*lm_block_fn)(const struct lm_chunk *ch, uint32_t page, uint32_t order,
                            bool allocated, const struct lm_slab *slab, void *arg);
void lm_chunk_each_block(const struct lm_chunk *ch, lm_block_fn fn, void *arg) LM_HIDDEN;

#endif
