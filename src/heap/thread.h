/* Thread heaps and the inline fast paths of malloc and free.
 *
 * A thread allocates small blocks from slabs it owns: per size class, its
 * "current" slab. The owner alone drives the core's functions on a slab it
 * owns, without a lock:
 *   - malloc = class lookup + the core's lm_slab_alloc on the current slab
 *     (lowest free slot of a bitmap word) + the slot's address + a look at
 *     the slot's pending-free bit (below); a dry current slab is replaced
 *     by the next one of the thread's avail list of the class, still
 *     without a lock (thread_slabs.c, "the fast paths' list steps");
 *   - free = the slab and slot from the pointer (chunk header, pagemap,
 *     record, a multiply), then
 *       by the owner: the core's lm_slab_free_slot, which rejects a slot
 *       that is not allocated (a second free); no atomic instruction;
 *       by any other thread: a look at the slot's core bit (a second free
 *       is reported at once) and one atomic OR of the slot's bit into the
 *       slab's `freed` bitmap; the first such free since the slab was
 *       last collected pushes it on its owner's inbox;
 *   - the owner takes the bits (an atomic exchange per word) and frees the
 *     slots in the core (lm_slab_free_mask, one call per word) when it
 *     drains its inbox or its slab runs dry ("collects"); a bit whose slot
 *     the core says is free is reported;
 *   - nothing is ever stored in a free block: there is no list to poison,
 *     and no secret to leak. Two threads freeing one slot at once: the OR
 *     decides which was second. The owner's free racing with another
 *     thread's: the slot's bit is still set when the owner next takes the
 *     slot, and malloc reports it instead of handing the slot out.
 * A thread owns more than its current slabs: those it allocated from
 * before (full, or on its avail list of the class when they have free
 * slots). The free bytes it keeps on avail lists are bounded by
 * LEMMALLOC_TCACHE_BYTES; beyond it, and when a slab empties, the slab
 * goes back to the arena. Slabs move between a thread and its arena only
 * whole, under the arena lock; a thread's exit gives all of them back.
 *
 * Idle threads. A thread that goes quiet would keep its current slabs (and
 * its cache of large blocks) from everyone else. The decay pass takes them
 * from it ("steals") without its help, using an asymmetric Dekker protocol:
 * the owner marks each malloc and each free of its own with `busy` (two
 * plain stores and a load, no fence); a thief sets `steal`, runs a
 * process-wide memory barrier (membarrier(2) PRIVATE_EXPEDITED, which
 * makes every running thread execute a full barrier), and proceeds only
 * if `busy` is clear, in which
 * case the owner's next malloc sees `steal` and waits on the heap's lock
 * until the thief is done (its next free of its own frees as any other
 * thread would). Where membarrier is unavailable, threads are not
 * stolen from (only their exit gives their slabs back); ThreadSanitizer
 * builds use sequentially consistent atomics instead, which it can follow.
 */
#ifndef LM_THREAD_H
#define LM_THREAD_H
#include "heap.h"

#define LM_TH_LARGE 16 /* freed large blocks a thread keeps, at most */
#define LM_TH_INBOX 8 /* slabs a thread's frees push on its own inbox (when a thief was at work) before it drains it */

/* The slab a thread allocates class c from: the core's handle and the
 * span's address (the full dummy slab when it has none). */
struct lm_cur {
  lm_slab_t s;
  uintptr_t base;
};

/* Counters of one thread: written by it alone (relaxed), read by stats. */
struct lm_thcount {
  uint64_t nmalloc[LM_NUM_CLASSES]; /* small mallocs, by class */
  uint64_t nfree[LM_NUM_CLASSES];   /* small frees, by class */
  uint64_t nslow;                   /* of the small mallocs, those the fast path could not serve */
  uint64_t nother, other_bytes;     /* large and huge mallocs, and their usable bytes */
  uint64_t nfree_other, free_other_bytes; /* large and huge frees */
  uint64_t large_hits;              /* large mallocs served by the thread's cache */
  uint64_t threads;                 /* 1 in a thread's own counters: summed, threads seen */
};

struct lm_large_ent {
  uintptr_t p;
  uint32_t pages;
  uint32_t age;                     /* when it was cached (ms, low 32 bits) */
};

struct lm_theap {
  /* The steal protocol (above): busy written by the owner on every malloc,
   * steal by a thief; both atomic. */
  uint32_t busy, steal;
  struct lm_cur cur[LM_NUM_CLASSES];
  /* The chunk of the last slab pointer freed here: free skips the registry
   * walk when the next pointer lies in the same chunk (NULL: none). */
  const struct lm_chunk *ch;
  struct lm_thcount c;
  /* Below: the owner's slow paths and thieves, under lock. */
  struct lm_slab *slab[LM_NUM_CLASSES]; /* the current slabs' records (NULL: none) */
  struct lm_slab *owned;            /* every slab it owns, current or not (tnext, tprev) */
  struct lm_slab *avail[LM_NUM_CLASSES]; /* owned slabs with free slots, not current (anext) */
  size_t avail_free;                /* their free bytes, as counted when each joined */
  uint32_t self_pushed;             /* slabs its own frees pushed on its inbox since the last drain */
  struct lm_arena *arena;
  struct lm_large_ent large[LM_TH_LARGE];
  uint32_t nlarge;
  uint32_t large_quiet;             /* large calls the cache served since one read the clock */
  size_t large_bytes;
  uint32_t slow_ms;                 /* last slow path that read the clock (low 32 bits of ms): idle detection */
  uint32_t decay_ms;                /* the thread's own last decay (lm_th_decay_self) */
  uint64_t decay_seen[LM_NUM_CLASSES]; /* c.nmalloc at that decay: classes left unused since */
  struct lm_theap *next, *prev;     /* all live thread heaps, under meta_lock */
  /* Kept when a recycled heap is reused (thread.c, lm_th_get): */
  lm_lock_t lock;
  /* Its slabs freed into since their last collection (slabs.c, "stacks"):
   * pushed by any thread, popped whole by the owner or a thief. */
  struct lm_slab *inbox __attribute__((aligned(64)));
};

/* The calling thread's heap; &lm_th_none (steal set: every call takes a
 * slow path) until its first slow path creates one, and again after its
 * exit. */
extern __thread struct lm_theap *lm_th __attribute__((tls_model("initial-exec"))) LM_HIDDEN;
extern struct lm_theap lm_th_none LM_HIDDEN;
/* A heap's current slab of a class it owns none of: always full. */
extern struct lm_cur lm_th_cur_none LM_HIDDEN;

/* Owner-only updates of fields other threads read: relaxed load and store
 * (plain moves on x86), never a locked instruction. */
#define LM_RELAXED_ADD(x, v) __atomic_store_n(&(x), __atomic_load_n(&(x), __ATOMIC_RELAXED) + (v), __ATOMIC_RELAXED)

#if defined(__SANITIZE_THREAD__)
#define LM_TH_SC 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define LM_TH_SC 1
#endif
#endif
#ifdef LM_TH_SC
/* ThreadSanitizer's runtime: a range whose races are by design. */
void AnnotateBenignRaceSized(const char *file, int line, const volatile void *mem, unsigned long size,
                             const char *desc);
#define LM_TH_ENTER(t) __atomic_store_n(&(t)->busy, 1, __ATOMIC_SEQ_CST)
#define LM_TH_STOLEN(t) __atomic_load_n(&(t)->steal, __ATOMIC_SEQ_CST)
#else
#define LM_TH_ENTER(t) (__atomic_store_n(&(t)->busy, 1, __ATOMIC_RELAXED), __atomic_signal_fence(__ATOMIC_SEQ_CST))
#define LM_TH_STOLEN(t) __atomic_load_n(&(t)->steal, __ATOMIC_ACQUIRE)
#endif
#define LM_TH_LEAVE(t) __atomic_store_n(&(t)->busy, 0, __ATOMIC_RELEASE)

/* The slab and slot of a slot's start a, or false (not a slot start of a
 * live slab: the slow path classifies it). No lock: the chunk header is
 * never unmapped, and a slab's class, base and geometry stay put while any
 * of its slots is allocated, which the caller's pointer claims. */
static inline __attribute__((always_inline)) bool lm_th_decode(struct lm_theap *t, uintptr_t a,
                                                               struct lm_slab **slp, uint32_t *slotp) {
  const struct lm_chunk *ch = t->ch;
  if (lm_unlikely(ch == NULL || ch->base != (a & ~(uintptr_t)(LM_CHUNK_SIZE - 1)))) {
    uintptr_t e = lm_reg_lookup(a);
    if (lm_unlikely(e == 0 || (e & LM_REG_HUGE))) return false;
    ch = (const struct lm_chunk *)e;
    if (t != &lm_th_none) t->ch = ch;
  }
  uint32_t n = (uint32_t)ch->page[(a >> LM_PAGE_SHIFT) & (LM_CHUNK_PAGES - 1)] - 1;
  if (lm_unlikely(n >= LM_CHUNK_SLABS)) return false;
  struct lm_slab *sl = (struct lm_slab *)&ch->slab[n];
  uint32_t slot = lm_class_slot_of(sl->cls, (uint32_t)(a - sl->base));
  if (lm_unlikely(slot >= lm_slab_nslots(lm_slab_h(sl)))) return false; /* not a slot start */
  *slp = sl;
  *slotp = slot;
  return true;
}

/* Noinline ends of the fast paths (thread.c, thread_slabs.c). */
void lm_th_free_notify(struct lm_slab *sl) LM_HIDDEN __attribute__((noinline));
/* Inside the window: the next slab of t's avail list of class cls becomes
 * current, and a slot of it (NULL: none listed); slab sl, full and on no
 * list, joins the avail list (false: the budget or an empty slab says
 * file it under the lock). */
void *lm_th_malloc_next(struct lm_theap *t, uint32_t cls) LM_HIDDEN __attribute__((noinline));
bool lm_th_free_list(struct lm_theap *t, struct lm_slab *sl) LM_HIDDEN __attribute__((noinline));
void lm_th_double_free(void *p) LM_HIDDEN __attribute__((noinline, cold));
void lm_th_free_file(struct lm_theap *t, struct lm_slab *sl) LM_HIDDEN __attribute__((noinline));

/* Slot `slot` of the owner's slab sl, just taken from the core: is a free
 * of it pending (its bit set)? Only after a second free that raced with
 * the owner's own free of it (lm_th_free_own): the slot must not be handed
 * out while that bit can still be collected. */
static inline __attribute__((always_inline)) bool lm_th_taken_freed(const struct lm_slab *sl, uint32_t cls,
                                                                     uint32_t off) {
  uint32_t slot = lm_class_slot(cls, off); /* off is a slot start (lm_slab_alloc) */
  return lm_unlikely(lm_slab_pending_free(sl, slot));
}

/* A slot of class cls from the calling thread's current slab, or from the
 * next slab of its avail list when that one is dry; NULL (none listed, a
 * thief is at work, the thread has no heap yet, or the slot taken was
 * freed twice: reported, and left for the slow path). */
static inline __attribute__((always_inline)) void *lm_th_malloc(uint32_t cls) {
  struct lm_theap *t = lm_th;
  void *p = NULL;
  LM_TH_ENTER(t);
  if (lm_likely(!LM_TH_STOLEN(t))) {
    const struct lm_cur *c = &t->cur[cls];
    int32_t off = lm_slab_alloc(c->s);
    if (lm_likely(off >= 0)) {
      p = (void *)(c->base + (uint32_t)off);
      if (lm_th_taken_freed((const struct lm_slab *)(uintptr_t)(c->s << LM_SLAB_SHIFT), cls, (uint32_t)off)) {
        lm_th_double_free(p);
        p = NULL;
      }
    } else {
      p = lm_th_malloc_next(t, cls); /* the current slab is dry */
    }
  }
  LM_TH_LEAVE(t);
  if (lm_likely(p != NULL)) LM_RELAXED_ADD(t->c.nmalloc[cls], 1); /* never the shared none: its slabs are full */
  return p;
}

/* The owner's free of slot `slot` of its slab sl: straight into the core,
 * no atomic, no lock; 1 done, 0 not done (sl is not t's, or a thief is at
 * work: free it as any other thread would), -1 a second free (the core's
 * slot is free, or a free of it is pending). Inside the steal protocol's
 * window, as malloc: no thief can take sl meanwhile, so the owner may also
 * count the slot on its avail list, or put a full slab on it. A slab it
 * cannot file there (over the budget of LEMMALLOC_TCACHE_BYTES, or now
 * empty) is filed by lm_th_free_file, after, under the lock. */
static inline __attribute__((always_inline)) int lm_th_free_own(struct lm_theap *t, struct lm_slab *sl,
                                                                uint32_t slot, bool *file) {
  int r = 0;
  LM_TH_ENTER(t);
  if (lm_likely(!LM_TH_STOLEN(t) && __atomic_load_n(&sl->owner, __ATOMIC_RELAXED) == t)) {
    r = -1;
    if (lm_likely(!lm_slab_pending_free(sl, slot) &&
                  lm_slab_free_slot(lm_slab_h(sl), slot) == 0)) {
      r = 1;
      if (lm_unlikely(sl->tlist != LM_TL_CURRENT)) {
        uint32_t bytes = lm_class_size_table[sl->cls];
        if (sl->tlist == LM_TL_AVAIL && t->avail_free + bytes <= lm_heap.cfg.tcache_bytes &&
            !lm_slab_is_empty(lm_slab_h(sl))) {
          sl->afree += bytes;
          t->avail_free += bytes;
        } else if (!lm_th_free_list(t, sl)) {
          *file = true;
        }
      }
    }
  }
  LM_TH_LEAVE(t);
  return r;
}

/* Is the slot free in the core already (so that freeing it is a second
 * free)? Read from any thread, without the owner (trusted, spec/README.md
 * "What rests on ownership"): between the slot's allocation, which the
 * program's hand-off of the pointer orders before this read, and this
 * free, the core's bit can only be cleared by the collection of an earlier
 * free of the same slot. So "free" is always a second free; a stale
 * "allocated" only leaves the report to the collection of this free's bit.
 * Read before the free's own bit is set: after it, the owner may collect
 * that bit and make the slot free legitimately. ThreadSanitizer builds
 * read it too: the bitmap words are declared a benign race to it (meta.c,
 * lm_hdr_alloc), and every other field stays checked. */
static inline __attribute__((always_inline)) bool lm_th_slot_freed(const struct lm_slab *sl, uint32_t slot) {
  return lm_unlikely(!lm_slab_slot_allocated(lm_slab_h(sl), slot));
}

/* A free of slot `slot` of sl by a thread that does not drive sl (any
 * thread but the owner, or the owner while a thief is at work): the
 * slot's bit goes into the slab's `freed` bitmap for the owner to collect.
 * Returns sl's class, or -1 for a second free (the caller reports it). */
static inline __attribute__((always_inline)) int lm_th_free_remote(struct lm_slab *sl, uint32_t slot) {
  if (lm_th_slot_freed(sl, slot)) return -1;
  uint64_t bit = (uint64_t)1 << (slot % 64);
  /* Read before the free is published: once its bit is set, the owner may
   * collect it, empty the slab and give the record to another class. */
  uint32_t cls = sl->cls;
  /* Sequentially consistent (a plain lock-prefixed OR on x86): the pending
   * flag below must not be read before the bit is set (slabs.c, "the
   * stacks of slabs to collect"). */
  uint64_t old = __atomic_fetch_or(&sl->freed[slot / 64], bit, __ATOMIC_SEQ_CST);
  if (lm_unlikely(old & bit)) return -1;
  if (lm_unlikely(!__atomic_load_n(&sl->pending, __ATOMIC_SEQ_CST))) lm_th_free_notify(sl);
  return (int)cls;
}

/* Free p if it is the start of a slot of a live slab: true. false: not a
 * slab pointer (or a bad one), or the thread has no heap yet (the slow
 * path makes one; under valgrind and with LEMMALLOC_TCACHE_BYTES=0 every
 * free takes it). A slot freed twice is reported here. */
static inline __attribute__((always_inline)) bool lm_th_free(void *p) {
  struct lm_theap *t = lm_th;
  struct lm_slab *sl;
  uint32_t slot;
  if (lm_unlikely(t == &lm_th_none || !lm_th_decode(t, (uintptr_t)p, &sl, &slot))) return false;
  bool file = false;
  int r = lm_th_free_own(t, sl, slot, &file); /* 0: not the owner's (or a thief's at work) */
  if (lm_likely(r > 0)) {
    LM_RELAXED_ADD(t->c.nfree[sl->cls], 1);
    if (lm_unlikely(file)) lm_th_free_file(t, sl);
    return true;
  }
  if (r == 0) {
    int cls = lm_th_free_remote(sl, slot);
    if (lm_likely(cls >= 0)) {
      LM_RELAXED_ADD(t->c.nfree[cls], 1);
      return true;
    }
  }
  lm_th_double_free(p); /* the owner's core said so, or the remote free did */
  return true;
}

/* The same for a slot the slow path classified (any thread, heap or none):
 * false if the slot was freed already (reported). */
bool lm_th_free_slot(struct lm_slab *sl, uint32_t slot) LM_HIDDEN;

/* thread.c */
void lm_th_init(void) LM_HIDDEN;
/* The calling thread's heap, created at its first call; NULL if it cannot
 * have one (threads own no slabs: LEMMALLOC_TCACHE_BYTES=0 or valgrind; no
 * memory; or the thread is exiting). */
struct lm_theap *lm_th_get(void) LM_HIDDEN;
/* malloc's slow path for class cls: collect or swap the current slab, or
 * serve from the arena; NULL if memory is exhausted. */
void *lm_th_small_slow(uint32_t cls) LM_HIDDEN;
/* The thread's cache of freed large blocks: a run of `pages` pages or a
 * quarter more (NULL if none; its pages in *got), and a freed run to keep:
 * kept; kept, and older ones (or, with a thief at work, this one) went
 * back to the arena; not kept (no thread heap, or over the budget: free
 * it); not a live run (report it). */
void *lm_th_large_get(uint32_t pages, uint32_t *got) LM_HIDDEN;
/* After a large call the cache served: the decay clock (lm_heap_tick) is
 * read on one such call in 8, not on each (a read costs more than the
 * rest of the call), so that a program whose only work is a loop of
 * cached large blocks still gives free pages back. */
static inline void lm_th_large_quiet(void) {
  struct lm_theap *t = lm_th;
  if (++t->large_quiet % 8 == 0) lm_heap_tick();
}
enum lm_put { LM_PUT_KEPT, LM_PUT_SPILLED, LM_PUT_NOT, LM_PUT_BAD };
enum lm_put lm_th_large_put(struct lm_chunk *ch, uintptr_t p, uint32_t pages) LM_HIDDEN;
/* Take the slabs and cached blocks of threads idle for `age` ms back to
 * their arenas (the decay, and an arena about to grow). */
void lm_th_reclaim(uint32_t now, uint32_t age) LM_HIDDEN;
/* Does a live thread hold slabs or cached blocks that a steal could take
 * back? (a racy look; false where membarrier(2) is refused) */
bool lm_th_holding(void) LM_HIDDEN;
/* The calling thread's slabs of classes it has not allocated from, and its
 * cached blocks, for `age` ms go back (its slow paths, once per period). */
void lm_th_decay_self(uint32_t now, uint32_t age) LM_HIDDEN;
/* Give every slab and cached block of the calling thread back (trim). */
void lm_th_flush_self(void) LM_HIDDEN;
/* Counters of every thread (live and exited) added up; bytes of freed
 * large blocks in the threads' caches. */
void lm_th_totals(struct lm_thcount *out, size_t *cached_bytes) LM_HIDDEN;
/* The same, summed the way statistics report them. */
struct lm_thsum {
  uint64_t nmalloc, nfree;          /* calls */
  uint64_t hits;                    /* mallocs served without a lock: fast path and large cache */
  uint64_t alloc_bytes, free_bytes; /* usable bytes handed out and given back */
  uint64_t threads;                 /* threads seen */
};
void lm_th_summary(struct lm_thsum *out, size_t *cached_bytes) LM_HIDDEN;
/* Counting large and huge calls (small ones count themselves). */
void lm_th_count_alloc(size_t usable) LM_HIDDEN;
void lm_th_count_free(size_t usable) LM_HIDDEN;
void lm_th_fork_child(void) LM_HIDDEN;

#endif
