/* Slabs, on the heap's side: their records in the chunk headers, the
 * non-full heap of each class (lowest address first), the stacks of slabs
 * freed into, and slabs moving whole between the arena and the threads
 * that own them (thread_slabs.c). The core (src/core/slab.c) decides every slot;
 * this file picks the slab. */
#include "arena.h"
#include "thread.h"
#include "vg.h"
#include <string.h>

/* ---- slab records ----
 * A chunk's header holds LM_CHUNK_SLABS records; the lowest free one is
 * taken, so the header pages in use stay few and dense. A chunk whose
 * records are all taken gets no new slab (lm_arena_buddy_alloc skips it):
 * records run out per chunk, never for the heap. */

static struct lm_slab *rec_take(struct lm_chunk *ch) {
  for (uint32_t w = 0; w < (LM_CHUNK_SLABS + 63) / 64; w++) {
    uint64_t free = ~ch->slab_used[w];
    if (free == 0) continue;
    uint32_t n = w * 64 + (uint32_t)__builtin_ctzll(free);
    if (n >= LM_CHUNK_SLABS) break;
    ch->slab_used[w] |= (uint64_t)1 << (n % 64);
    ch->nslabs++;
    struct lm_slab *sl = &ch->slab[n];
    sl->num = (uint16_t)n;
    return sl;
  }
  return NULL;
}

static void rec_give(struct lm_chunk *ch, struct lm_slab *sl) {
  ch->slab_used[sl->num / 64] &= ~((uint64_t)1 << (sl->num % 64));
  ch->nslabs--;
}

/* ---- pairing heap of non-full slabs, lowest span address first, so that
 * allocation packs the low end and the high end empties out and can be
 * released. ---- */

static struct lm_slab *ph_meld(struct lm_slab *x, struct lm_slab *y) {
  if (x == NULL) return y;
  if (y == NULL) return x;
  if (y->base < x->base) {
    struct lm_slab *t = x;
    x = y;
    y = t;
  }
  y->ph_prev = x; /* y becomes x's first child */
  y->ph_next = x->ph_child;
  if (x->ph_child != NULL) x->ph_child->ph_prev = y;
  x->ph_child = y;
  x->ph_next = x->ph_prev = NULL;
  return x;
}

/* Merge a sibling list into one heap (two-pass pairing). */
static struct lm_slab *ph_merge_pairs(struct lm_slab *first) {
  struct lm_slab *stack = NULL;
  while (first != NULL) {
    struct lm_slab *x = first, *y = x->ph_next;
    first = y == NULL ? NULL : y->ph_next;
    x->ph_next = x->ph_prev = NULL;
    if (y != NULL) y->ph_next = y->ph_prev = NULL;
    struct lm_slab *m = ph_meld(x, y);
    m->ph_next = stack;
    stack = m;
  }
  struct lm_slab *root = NULL;
  while (stack != NULL) {
    struct lm_slab *m = stack;
    stack = m->ph_next;
    m->ph_next = NULL;
    root = ph_meld(root, m);
  }
  return root;
}

struct lm_slab *lm_nonfull_insert(struct lm_slab *root, struct lm_slab *sl) {
  sl->ph_child = sl->ph_next = sl->ph_prev = NULL;
  return ph_meld(root, sl);
}

struct lm_slab *lm_nonfull_remove(struct lm_slab *root, struct lm_slab *sl) {
  struct lm_slab *kids = sl->ph_child;
  sl->ph_child = NULL;
  if (sl == root) return ph_merge_pairs(kids);
  struct lm_slab *prev = sl->ph_prev, *next = sl->ph_next;
  if (prev->ph_child == sl) prev->ph_child = next;
  else prev->ph_next = next;
  if (next != NULL) next->ph_prev = prev;
  sl->ph_next = sl->ph_prev = NULL;
  return ph_meld(root, ph_merge_pairs(kids));
}

/* ---- slabs ---- */

/* Span order and slot count of the slabs of class cls: the core's
 * constants lm_class_order_table[cls] and lm_class_slots_table[cls]
 * (sizeclass.h, proven per class): the largest span whose slots fit one
 * bitmap, up to 64 KiB (spec/README.md, "the slab order rule"). */

static struct lm_arena *arena_of(const struct lm_slab *sl) { return &lm_heap.arenas[lm_slab_chunk(sl)->arena]; }

/* A fresh slab of class cls, owned by the arena, on no list. NULL if no
 * chunk of the arena has a buddy block for it (and a free record). The
 * record's pending link is left alone: it may still be on the pending
 * stack from an earlier life, and the stack's walk copes (slabs.c below). */
static struct lm_slab *slab_new(struct lm_arena *a, uint32_t cls) {
  uint32_t order = lm_class_order_table[cls], pg;
  struct lm_chunk *ch;
  if (!lm_arena_buddy_alloc(a, order, 1u << order, LM_WANT_SLAB, &ch, &pg)) return NULL;
  struct lm_slab *sl = rec_take(ch); /* lm_arena_buddy_alloc chose a chunk with one */
  if (sl == NULL) lm_heap_bug("internal error: no slab record in a chunk chosen for a slab", (void *)ch->base);
  lm_pages_taken(a, ch, pg, 1u << order);
  lm_slab_init(lm_slab_h(sl), lm_class_size_table[cls], lm_class_slots_table[cls]);
  sl->base = ch->base + ((uintptr_t)pg << LM_PAGE_SHIFT);
  sl->cls = (uint8_t)cls;
  sl->state = LM_SLAB_OWNED;
  __atomic_store_n(&sl->owner, NULL, __ATOMIC_RELAXED);
  sl->ph_child = sl->ph_next = sl->ph_prev = NULL;
  sl->free_ms = 0;
  sl->purged = 0;
  sl->freed_since_check = 0;
  sl->free_seen = 0;
  for (uint32_t w = 0; w < LM_SLAB_WORDS; w++) __atomic_store_n(&sl->freed[w], 0, __ATOMIC_RELAXED);
  for (uint32_t i = 0; i < (1u << order); i++) ch->page[pg + i] = (uint16_t)(sl->num + 1);
  a->class_nslabs[cls]++;
  return sl;
}

/* Give an empty slab's span back to the buddy, and its record. */
void lm_slab_release_span(struct lm_arena *a, struct lm_slab *sl, uint32_t stamp) {
  struct lm_chunk *ch = lm_slab_chunk(sl);
  uint32_t pg = (uint32_t)((sl->base - ch->base) >> LM_PAGE_SHIFT);
  uint32_t n = 1u << lm_class_order_table[sl->cls];
  for (uint32_t i = 0; i < n; i++) {
    ch->page[pg + i] = 0;
    if (sl->purged >> i & 1) lm_dirty_mark(ch, pg + i, 1, false); /* clean already */
  }
  sl->purged = 0;
  a->class_nslabs[sl->cls]--;
  sl->state = LM_SLAB_UNUSED;
  rec_give(ch, sl);
  lm_buddy_free(lm_chunk_c(ch), pg);
  lm_pages_returned(a, ch, pg, n, stamp);
}

/* An empty slab (on no list): kept as the class's spare, or released. */
void lm_slab_emptied(struct lm_arena *a, struct lm_slab *sl, uint32_t now) {
  uint32_t cls = sl->cls;
  if (a->spare[cls] == NULL) {
    sl->state = LM_SLAB_SPARE;
    a->spare[cls] = sl;
    a->spare_ms[cls] = now;
    lm_schedule_purge(a, now);
  } else {
    lm_slab_release_span(a, sl, now);
  }
}

/* ---- collecting freed slots ----
 * A free sets the slot's bit in sl->freed (thread.h); the slab's owner
 * takes the bits word by word and hands each word to the core
 * (lm_slab_free_mask, proven): it frees the slots of the word that are
 * allocated and returns the bits of those that were not. Such a bit is a
 * second free of the slot (after the first was collected): reported. */

uint32_t lm_slab_collect(struct lm_slab *sl) {
  lm_slab_t s = lm_slab_h(sl);
  uint32_t n = 0;
  for (uint32_t w = 0; w < LM_SLAB_WORDS; w++) {
    if (__atomic_load_n(&sl->freed[w], __ATOMIC_SEQ_CST) == 0) continue;
    uint64_t f = __atomic_exchange_n(&sl->freed[w], 0, __ATOMIC_ACQUIRE);
    uint64_t bad = lm_slab_free_mask(s, w, f); /* a subset of f's bits */
    n += lm_popcount64(f) - lm_popcount64(bad);
    for (; bad != 0; bad &= bad - 1)
      lm_heap_report(LM_CALL_FREE, LM_BAD_FREED, (void *)(sl->base + (uintptr_t)(w * 64 + (uint32_t)__builtin_ctzll(bad)) * lm_class_size_table[sl->cls]));
  }
  return n;
}

uint32_t lm_slab_live(const struct lm_slab *sl) {
  uint32_t used = lm_slab_used(lm_slab_h(sl)), freed = 0;
  for (uint32_t w = 0; w < LM_SLAB_WORDS; w++)
    freed += lm_popcount64(__atomic_load_n(&sl->freed[w], __ATOMIC_RELAXED));
  return freed < used ? used - freed : 0;
}

/* Slots of arena slab sl were just collected (lock held): re-file it. */
void lm_slab_collected(struct lm_arena *a, struct lm_slab *sl, uint32_t now) {
  uint32_t cls = sl->cls;
  sl->free_ms = now;
  sl->freed_since_check = 1;
  if (sl->state == LM_SLAB_PURGING) return; /* the purge re-files it */
  bool empty = lm_slab_is_empty(lm_slab_h(sl));
  if (sl->state == LM_SLAB_FULL && !empty) {
    sl->state = LM_SLAB_NONFULL;
    a->nonfull[cls] = lm_nonfull_insert(a->nonfull[cls], sl);
  } else if (empty) {
    if (sl->state == LM_SLAB_NONFULL) a->nonfull[cls] = lm_nonfull_remove(a->nonfull[cls], sl);
    else if (sl->state == LM_SLAB_OWNED && a->cur[cls] == sl) a->cur[cls] = NULL;
    lm_slab_emptied(a, sl, now);
  }
}

/* ---- the stacks of slabs to collect ----
 * The first free into a slab since it was last collected sets the slab's
 * pending flag and pushes it, lock-free, on its owner's inbox (thread_slabs.c)
 * or, when the arena owns it, on the arena's pending stack; a free that
 * finds the flag set pushes nothing (the slab is on a stack already). The
 * popper takes a whole stack at once, clears each slab's flag and then
 * collects it; a slab whose owner changed since it was pushed is passed on
 * (pushed again, for its owner now). A record stays a record for good
 * (headers are never unmapped, and a chunk is unmapped only when none of
 * its records is on a stack), so a stale entry is only a slab collected
 * once more, or skipped, or passed on. The pushing free set its bit
 * before it read the flag, and the popper clears the flag before it
 * collects (both sequentially consistent): a free that saw the flag set
 * has its bit collected by that pop. */

struct lm_theap *lm_slab_notify(struct lm_slab *sl) {
  if (__atomic_exchange_n(&sl->pending, 1, __ATOMIC_SEQ_CST)) return NULL;
  struct lm_theap *o = __atomic_load_n(&sl->owner, __ATOMIC_SEQ_CST);
  struct lm_slab **head = o != NULL ? &o->inbox : &arena_of(sl)->pending;
  struct lm_slab *top = __atomic_load_n(head, __ATOMIC_RELAXED);
  do sl->pnext = top;
  while (!__atomic_compare_exchange_n(head, &top, sl, true, __ATOMIC_RELEASE, __ATOMIC_RELAXED));
  return o;
}

void lm_arena_collect_pending(struct lm_arena *a) {
  struct lm_slab *sl = __atomic_exchange_n(&a->pending, NULL, __ATOMIC_ACQUIRE);
  uint32_t now = lm_now32() | 1;
  while (sl != NULL) {
    struct lm_slab *next = sl->pnext;
    __atomic_store_n(&sl->pending, 0, __ATOMIC_SEQ_CST);
    if (arena_of(sl) != a || __atomic_load_n(&sl->owner, __ATOMIC_SEQ_CST) != NULL) {
      lm_slab_notify(sl); /* a thread's now, or its header serves another arena's chunk */
    } else if (sl->state != LM_SLAB_UNUSED) {
      if (lm_slab_collect(sl)) lm_slab_collected(a, sl, now);
    }
    sl = next;
  }
}

/* ---- slabs between an arena and its threads ---- */

/* A slab for class cls, taken off the arena's lists or made (lock held; it
 * drops it to map a chunk). NULL: out of memory. */
static struct lm_slab *slab_take(struct lm_arena *a, uint32_t cls) {
  for (;;) {
    struct lm_slab *sl;
    if ((sl = a->nonfull[cls]) != NULL) {
      a->nonfull[cls] = lm_nonfull_remove(sl, sl);
    } else if ((sl = a->spare[cls]) != NULL) {
      a->spare[cls] = NULL;
    } else if ((sl = slab_new(a, cls)) == NULL) {
      if (lm_arena_grow(a)) continue;
      return NULL;
    }
    /* Its slots are handed out without the arena from now on, so pages the
     * arena purged while it held the slab count as dirty again at once:
     * when the slab is released, none of them may pass for clean (calloc
     * would skip zeroing them). */
    if (sl->purged) { /* (the chunk's dirty map stays set for a live slab's pages) */
      a->dirty_pages += (size_t)lm_popcount64(sl->purged);
      sl->purged = 0;
    }
    sl->state = LM_SLAB_OWNED;
    return sl;
  }
}

/* A thread's slab comes back to the arena (lock held). Its freed bits are
 * collected, then the owner is cleared, then they are collected again: a
 * free that set its bit after the second collection saw the flag clear
 * and pushed the slab for owner NULL (the arena), or saw it set and the
 * slab is on a stack whose popper passes it on to the arena. */
static void slab_return(struct lm_arena *a, struct lm_slab *sl, uint32_t now) {
  now |= 1;
  a->owned_slab_bytes -= (size_t)LM_PAGE_SIZE << lm_class_order_table[sl->cls];
  uint32_t k = lm_slab_collect(sl);
  __atomic_store_n(&sl->owner, NULL, __ATOMIC_SEQ_CST);
  k += lm_slab_collect(sl);
  if (k) {
    sl->free_ms = now;
    sl->freed_since_check = 1;
  }
  lm_slab_t s = lm_slab_h(sl);
  if (lm_slab_is_empty(s)) {
    lm_slab_emptied(a, sl, now);
  } else if (lm_slab_is_full(s)) {
    sl->state = LM_SLAB_FULL;
  } else {
    sl->state = LM_SLAB_NONFULL;
    a->nonfull[sl->cls] = lm_nonfull_insert(a->nonfull[sl->cls], sl);
  }
}

struct lm_slab *lm_arena_slab_take(struct lm_arena *a, struct lm_theap *t, uint32_t cls) {
  lm_lock(&a->lock);
  lm_arena_collect_pending(a);
  struct lm_slab *sl = slab_take(a, cls);
  if (sl != NULL) {
    a->owned_slab_bytes += (size_t)LM_PAGE_SIZE << lm_class_order_table[cls];
    __atomic_store_n(&sl->owner, t, __ATOMIC_SEQ_CST);
    /* Frees that came while the arena owned it pushed it on the arena's
     * stack (collected above, or passed on to t by the next walk); what
     * they set is collected now. */
    lm_slab_collect(sl);
  }
  lm_unlock(&a->lock);
  return sl;
}

void lm_arena_slabs_give(struct lm_arena *a, struct lm_slab *list, uint32_t stamp) {
  lm_lock(&a->lock);
  for (struct lm_slab *sl = list, *next; sl != NULL; sl = next) {
    next = sl->tnext;
    if (arena_of(sl) != a) lm_heap_bug("internal error: a thread's slab from another arena", (void *)sl->base);
    slab_return(a, sl, stamp);
  }
  lm_unlock(&a->lock);
}

/* ---- fork ----
 * In the child only the forking thread lives on, and the others may have
 * stopped anywhere: in a fast path on a slab, in the middle of a change to
 * their own lists, of a push on a stack. So the child trusts none of
 * that: with every arena's lock held through the fork (their slabs' lists
 * are whole), it walks every slab record, clears every stack and pending
 * flag, and takes every thread's slab back to the arena, the forking
 * thread's too, collecting what was freed into it; a slab whose record
 * fails the core's check (caught half updated by a fast path) stays out
 * of every list for good, owned by nobody that runs. The arena's own
 * slabs are collected too. */
void lm_arena_fork_child(struct lm_arena *a) {
  a->pending = NULL;
  uint32_t now = lm_now32() | 1;
  for (struct lm_chunk *ch = a->chunks; ch != NULL; ch = ch->next) {
    for (uint32_t n = 0; n < LM_CHUNK_SLABS; n++) {
      if (!(ch->slab_used[n / 64] >> (n % 64) & 1)) continue;
      struct lm_slab *sl = &ch->slab[n];
      sl->pending = 0;
      if (sl->state == LM_SLAB_UNUSED) continue;
      struct lm_theap *o = sl->owner;
      if (o == &lm_th_none) continue; /* left out at an earlier fork */
      if (o != NULL) {
        if (lm_slab_check(lm_slab_h(sl))) slab_return(a, sl, lm_now32());
        else sl->owner = &lm_th_none;
      } else if (sl->state != LM_SLAB_PURGING) {
        if (lm_slab_collect(sl)) lm_slab_collected(a, sl, now);
      }
    }
  }
}

/* ---- threads that own no slabs ----
 * With LEMMALLOC_TCACHE_BYTES=0, under valgrind, or for a thread with no
 * heap (during its creation, after its exit), the arena allocates from a
 * current slab of its own, under its lock. */

void *lm_arena_alloc_one(struct lm_arena *a, uint32_t cls) {
  void *p = NULL;
  lm_lock(&a->lock);
  for (;;) {
    struct lm_slab *sl = a->cur[cls];
    if (sl == NULL) {
      lm_arena_collect_pending(a);
      if ((sl = slab_take(a, cls)) == NULL) break;
      a->cur[cls] = sl;
    }
    int32_t off = lm_slab_alloc(lm_slab_h(sl));
    if (off >= 0) {
      p = (void *)(sl->base + (uint32_t)off);
      break;
    }
    if (lm_slab_collect(sl)) continue;
    a->cur[cls] = NULL;
    sl->state = LM_SLAB_FULL;
  }
  lm_unlock(&a->lock);
  return p;
}
