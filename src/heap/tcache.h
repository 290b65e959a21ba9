/* Thread caches and the inline fast paths of malloc and free.
 *
 * A bin is a stack of free slots of one class linked through the slots
 * themselves. Word 0 of a cached slot holds the next link xor the process
 * key: one xor, and a stray write most likely turns it into a misaligned
 * pointer, caught when popped, as glibc's safe-linking does. Word 1 holds
 * the key, which lets free recognise a slot that is already cached (double
 * free) without scanning on every call.
 *
 * Caps adapt: a bin starts at a fair share of LEMMALLOC_TCACHE_BYTES and
 * doubles each time it must go to the arena (a free found it full, a
 * malloc empty), as long as the caps of all bins together stay within
 * LEMMALLOC_TCACHE_BYTES, taking budget back from bins that stopped going
 * to the arena; the idle trim halves the caps of bins whose slots sat
 * unused. So a thread churning one class caches many of its slots, a
 * thread passing blocks to another moves them in large batches, and a
 * thread's cache never holds more than the setting.
 *
 * Cost: malloc = class lookup + pop + one counter, 24 instructions with
 * one predictable branch; free = chunk (the one remembered from the last
 * free, else the registry) + pagemap + slab descriptor + divisibility
 * check (multiply, no divide) + the allocated bit + push + one counter,
 * 66; no call, no stack frame, no lock, no atomic read-modify-write.
 * Measured with callgrind on a 64-byte malloc+free loop: 107 instructions
 * per iteration (glibc 141), of which 14 are the loop's own. Free's time
 * goes mostly to its chain of dependent loads (pointer -> chunk -> page
 * -> slab -> class -> bit), not to its instruction count: each link cut
 * shows in the time of a malloc+free loop.
 */
#ifndef LM_TCACHE_H
#define LM_TCACHE_H
#include "heap.h"

#define LM_TCACHE_MAX_COUNT 256 /* slots per bin at most */
#define LM_TB_ACTIVE 1u         /* went to the arena since its cap was last looked at */

struct lm_tbin {
  uintptr_t *head;                /* top slot, or NULL */
  uint16_t count;                 /* slots held */
  uint16_t cap;                   /* most it may hold now */
  uint16_t low;                   /* fewest held, as the slow paths saw it,
                                     since the last idle trim */
  uint16_t flags;                 /* LM_TB_*, slow paths only */
  uint64_t npop, npush;           /* calls served by the bin: malloc hits, frees */
};

/* Counters of calls not served by a bin. One writer (the owner thread);
 * readers load them, and the bins' count/npop/npush, relaxed. */
struct lm_tcounters {
  uint64_t nmalloc;                 /* allocations not served by the cache */
  uint64_t nfree, hits;
  uint64_t alloc_bytes, free_bytes; /* usable bytes handed out / given back */
  uint64_t threads;                 /* 1 in a cache's own counters: summed, threads seen */
};

struct lm_tcache {
  /* The chunk of the last slot freed here: free skips the registry walk
   * when the next pointer lies in the same chunk (NULL: none yet). */
  const struct lm_chunk *ch;
  struct lm_tbin bins[LM_NUM_CLASSES];
  struct lm_tcounters c;
  struct lm_arena *arena;
  size_t cap_bytes;               /* sum of cap * slot size over the bins */
  uint32_t nslow, steal_at;       /* visits to the arena; at the last steal */
  uint64_t gc_ms;
  struct lm_tcache *next, *prev;  /* all live caches, under meta_lock */
};

/* The calling thread's cache; &lm_tc_none (no bins, cap 0) until the first
 * slow path creates one, and again after the thread's destructor ran. */
extern __thread struct lm_tcache *lm_tc __attribute__((tls_model("initial-exec"))) LM_HIDDEN;
extern struct lm_tcache lm_tc_none LM_HIDDEN;
extern uint64_t lm_tc_key LM_HIDDEN;

/* Owner-only updates of fields other threads read: relaxed load and store
 * (plain moves on x86), never a locked instruction. */
#define LM_RELAXED_ADD(x, v) __atomic_store_n(&(x), __atomic_load_n(&(x), __ATOMIC_RELAXED) + (v), __ATOMIC_RELAXED)
#define LM_RELAXED_SET(x, v) __atomic_store_n(&(x), (v), __ATOMIC_RELAXED)

_Noreturn void lm_tc_corrupt(const void *p) LM_HIDDEN;

/* Pop a slot of class cls, or NULL (bin empty). */
static inline __attribute__((always_inline)) void *lm_tc_pop_cls(struct lm_tcache *tc, uint32_t cls) {
  struct lm_tbin *b = &tc->bins[cls];
  uintptr_t *p = b->head;
  if (lm_unlikely(p == NULL)) return NULL;
  uintptr_t next = p[0] ^ lm_tc_key;
  if (lm_unlikely(next & (LM_QUANTUM - 1))) lm_tc_corrupt(p);
  b->head = (uintptr_t *)next;
  uint16_t cnt = (uint16_t)(b->count - 1);
  LM_RELAXED_SET(b->count, cnt);
  p[1] = 0; /* the key must not survive in user data */
  LM_RELAXED_ADD(b->npop, 1);
  return p;
}

/* Pop a slot for n <= LM_SMALL_MAX bytes, or NULL (bin empty or no cache). */
static inline __attribute__((always_inline)) void *lm_tc_pop(size_t n) {
  return lm_tc_pop_cls(lm_tc, lm_class_of[(n + LM_QUANTUM - 1) / LM_QUANTUM]);
}

/* Push slot p on bin b (caller checked that there is room). */
static inline __attribute__((always_inline)) void lm_tc_push(struct lm_tbin *b, uintptr_t *p) {
  uintptr_t key = lm_tc_key;
  p[0] = (uintptr_t)b->head ^ key;
  p[1] = key;
  b->head = p;
  LM_RELAXED_SET(b->count, (uint16_t)(b->count + 1));
  LM_RELAXED_ADD(b->npush, 1);
}

/* Is p, beyond doubt, the start of a slot the core counts as allocated?
 * Then *slp = its slab and *clsp = its class; if not, let the exact path
 * decide. No lock: "allocated" is stable for a slot the caller holds, and
 * a "no" read while another thread changes the slab only costs the slow
 * path. A cached slot counts as allocated: callers check the key. */
static inline __attribute__((always_inline)) bool lm_tc_slot(struct lm_tcache *tc, uintptr_t a,
                                                             const struct lm_slab **slp, uint32_t *clsp) {
#ifndef LM_FREE_CHECK_LOCKED
  /* The registry walk is two loads, each waiting for the one before; the
   * remembered chunk's loads wait for nothing, which shortens the chain
   * every free waits on before it can retire. The remembered header may
   * since describe another chunk (the pool reuses headers): its own base,
   * read from it, then differs and p goes to the registry. A header is
   * never unmapped, so reading it is safe whatever happened. */
  const struct lm_chunk *ch = tc->ch;
  if (lm_unlikely(ch == NULL || ch->base != (a & ~(uintptr_t)(LM_CHUNK_SIZE - 1)))) {
    uintptr_t e = lm_reg_lookup(a);
    if (lm_unlikely(e == 0 || (e & LM_REG_HUGE))) return false;
    ch = (const struct lm_chunk *)e;
    if (tc != &lm_tc_none) tc->ch = ch;
  }
  uint32_t n = (uint32_t)ch->page[(a >> LM_PAGE_SHIFT) & (LM_CHUNK_PAGES - 1)] - 1;
  if (lm_unlikely(n >= LM_CHUNK_SLABS)) return false;
  const struct lm_slab *sl = &ch->slab[n];
  uint32_t cls = sl->cls;
  uint32_t slot = lm_slot_of(cls, (uint32_t)(a - sl->base));
  if (lm_unlikely(slot >= LM_SLAB_MAX_SLOTS)) return false; /* not a slot start */
  /* The core's "allocated", from its mirror (slabs.c). */
  uint64_t live = __atomic_load_n(&sl->live[slot / 64], __ATOMIC_RELAXED);
  if (lm_unlikely(!(live >> (slot % 64) & 1))) return false;
  *slp = sl;
  *clsp = cls;
  return true;
#else
  /* Sanitizer builds always ask the core, under the lock. */
  (void)tc, (void)a, (void)slp, (void)clsp;
  return false;
#endif
}

/* What free's fast path did with a pointer. */
enum lm_tc_free { LM_TC_SLOW, LM_TC_DONE, LM_TC_FULL };

/* Free p into the thread cache if it is, beyond doubt, an allocated slot
 * start not already cached here and the bin has room: LM_TC_DONE. If all
 * holds but the bin is full: LM_TC_FULL, *cls set (lm_tc_free_slow makes
 * room; no need to classify p again). LM_TC_SLOW: take the slow path,
 * which classifies p exactly and reports any error. */
static inline __attribute__((always_inline)) enum lm_tc_free lm_tc_free_fast(void *ptr, uint32_t *clsp) {
  struct lm_tcache *tc = lm_tc;
  const struct lm_slab *sl;
  uint32_t cls;
  if (lm_unlikely(!lm_tc_slot(tc, (uintptr_t)ptr, &sl, &cls))) return LM_TC_SLOW;
  struct lm_tbin *b = &tc->bins[cls];
  uintptr_t *p = (uintptr_t *)ptr, key = lm_tc_key;
  /* The cap first: with cap 0 (no cache, valgrind, trace) p's bytes are
   * not ours to read. */
  if (lm_unlikely(b->count >= b->cap)) {
    *clsp = cls;
    return b->cap && p[1] != key ? LM_TC_FULL : LM_TC_SLOW;
  }
  if (lm_unlikely(p[1] == key)) return LM_TC_SLOW;
  /* lm_tc_push written out: through it the key is loaded again after the
   * stores (they may alias it), 3 more instructions per free. */
  p[1] = key;
  p[0] = (uintptr_t)b->head ^ key;
  b->head = p;
  LM_RELAXED_SET(b->count, (uint16_t)(b->count + 1));
  LM_RELAXED_ADD(b->npush, 1);
  return LM_TC_DONE;
}

/* tcache.c */
struct lm_tcache *lm_tc_get(void) LM_HIDDEN;      /* NULL: this thread has none */
/* The bin of cls is empty: fill it from the arena and return one slot, or
 * NULL if memory is exhausted. */
void *lm_tc_refill(struct lm_tcache *tc, uint32_t cls) LM_HIDDEN;
/* Free slot p (validated, not cached) into bin cls, making room first if
 * the bin is full. false: the bin takes no slots (cap 0); free it directly. */
bool lm_tc_free_slow(struct lm_tcache *tc, uint32_t cls, uintptr_t *p) LM_HIDDEN;
/* Give all but `keep` slots of bin cls back to their arenas. */
void lm_tc_flush(struct lm_tcache *tc, uint32_t cls, uint32_t keep) LM_HIDDEN;
void lm_tc_flush_all(struct lm_tcache *tc) LM_HIDDEN;
void lm_tc_gc(struct lm_tcache *tc, uint64_t now) LM_HIDDEN;
/* Is slot p in one of this thread's bins? (double-free scan) */
bool lm_tc_contains(const struct lm_tcache *tc, uint32_t cls, const void *p) LM_HIDDEN;
/* Counters of every thread (live and exited) added up. */
void lm_tc_totals(struct lm_tcounters *out, size_t *cached_bytes) LM_HIDDEN;
/* Counting for calls served without a cache. */
void lm_count_alloc(size_t usable) LM_HIDDEN;
void lm_count_free(size_t usable) LM_HIDDEN;
void lm_tc_fork_child(void) LM_HIDDEN;
void lm_tc_init(void) LM_HIDDEN;

#endif
