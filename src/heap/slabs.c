/* Slabs, on the heap's side: their records in the chunk headers, the
 * non-full heap of each class (lowest address first), and small blocks:
 * batches of slots handed out to and taken back from the thread caches. The
 * core (src/core/slab.c) decides every slot; this file picks the slab. */
#include "arena.h"
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

/* Span order and slot count of the slabs of class cls, copied from the core
 * at init (lm_slab_geometry). The core's rule - the largest span whose slots
 * still fit one metadata row, up to 64 KiB - keeps the core's fixed
 * per-slab metadata small next to the slab (with one-page slabs it equalled
 * the data, and 64-byte objects ran out of slab indices at 256 MiB). */
uint8_t lm_slab_order_of[LM_NUM_CLASSES];
static uint16_t slab_slots[LM_NUM_CLASSES];

void lm_slab_geometry(void) {
  for (uint32_t c = 0; c < LM_NUM_CLASSES; c++) {
    lm_slab_order_of[c] = (uint8_t)lm_class_slab_order(c);
    slab_slots[c] = (uint16_t)lm_class_slab_slots(c);
  }
}

/* The core's Allocated(s, slot), mirrored one bit per slot for free's
 * lock-free fast path (a call into the core and two dependent loads there,
 * one bit test here). Every change of a slot's state goes through
 * lm_arena_alloc_small and lm_arena_free_small, which update the bit under
 * the arena lock right after the core accepted the change; a slab is
 * released only empty, so a fresh slab's bits are clear. Relaxed atomics:
 * plain moves on x86, and no data race with the unlocked readers. */
static void slot_live_set(struct lm_slab *sl, uint32_t slot, bool on) {
  uint64_t *w = &sl->live[slot / 64], m = (uint64_t)1 << (slot % 64);
  uint64_t v = __atomic_load_n(w, __ATOMIC_RELAXED);
  __atomic_store_n(w, on ? v | m : v & ~m, __ATOMIC_RELAXED);
}

/* A fresh slab of class cls, made current. NULL if no chunk of the arena
 * has a buddy block for it (and a free record). */
static struct lm_slab *slab_new(struct lm_arena *a, uint32_t cls) {
  uint32_t order = lm_slab_order_of[cls], pg;
  struct lm_chunk *ch;
  if (!lm_arena_buddy_alloc(a, order, 1u << order, LM_WANT_SLAB, &ch, &pg)) return NULL;
  struct lm_slab *sl = rec_take(ch); /* lm_arena_buddy_alloc chose a chunk with one */
  if (sl == NULL) lm_heap_bug("internal error: no slab record in a chunk chosen for a slab", (void *)ch->base);
  lm_pages_taken(a, ch, pg, 1u << order);
  lm_slab_init(lm_slab_h(sl), lm_class_bytes[cls], slab_slots[cls]);
  sl->base = ch->base + ((uintptr_t)pg << LM_PAGE_SHIFT);
  sl->cls = (uint8_t)cls;
  sl->state = LM_SLAB_CUR;
  sl->ph_child = sl->ph_next = sl->ph_prev = NULL;
  sl->free_ms = 0;
  sl->purged = 0;
  sl->freed_since_check = 0;
  sl->free_seen = 0;
  memset(sl->live, 0, sizeof sl->live);
  for (uint32_t i = 0; i < (1u << order); i++) ch->page[pg + i] = (uint16_t)(sl->num + 1);
  a->class_nslabs[cls]++;
  return sl;
}

/* Give an empty slab's span back to the buddy, and its record. */
void lm_slab_release_span(struct lm_arena *a, struct lm_slab *sl, uint32_t stamp) {
  struct lm_chunk *ch = lm_slab_chunk(sl);
  uint32_t pg = (uint32_t)((sl->base - ch->base) >> LM_PAGE_SHIFT);
  uint32_t n = 1u << lm_slab_order_of[sl->cls];
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

uint32_t lm_arena_alloc_small(struct lm_arena *a, uint32_t cls, void **out, uint32_t n) {
  uint32_t got = 0, size = lm_class_bytes[cls];
  lm_lock(&a->lock);
  while (got < n) {
    struct lm_slab *sl = a->cur[cls];
    if (sl == NULL) {
      if ((sl = a->nonfull[cls]) != NULL) {
        a->nonfull[cls] = lm_nonfull_remove(sl, sl);
      } else if ((sl = a->spare[cls]) != NULL) {
        a->spare[cls] = NULL;
      } else if ((sl = slab_new(a, cls)) == NULL) {
        if (lm_arena_grow(a)) continue;
        break;
      }
      sl->state = LM_SLAB_CUR;
      a->cur[cls] = sl;
    }
    /* As many slots as the slab has free, up to the request: the core's
     * count says how many allocations will succeed, so no test per slot. */
    lm_slab_t s = lm_slab_h(sl);
    uint32_t k = lm_slab_nslots(s) - lm_slab_used(s), i = 0;
    if (k > n - got) k = n - got;
    uintptr_t base = sl->base;
    for (; i < k; i++) {
      int32_t off = lm_slab_alloc(s);
      if (off < 0) break;
      out[got++] = (void *)(base + (uint32_t)off);
      slot_live_set(sl, lm_slot_of(cls, (uint32_t)off), true);
      if (lm_unlikely(sl->purged)) { /* the slot's pages fault back in */
        uint32_t p0 = (uint32_t)off >> LM_PAGE_SHIFT, p1 = ((uint32_t)off + size - 1) >> LM_PAGE_SHIFT;
        uint32_t m = (uint32_t)sl->purged & ((2u << p1) - (1u << p0));
        sl->purged &= (uint16_t)~m;
        a->dirty_pages += (size_t)__builtin_popcount(m);
      }
    }
    if (i < k || lm_slab_is_full(s)) {
      sl->state = LM_SLAB_FULL;
      a->cur[cls] = NULL;
    }
  }
  a->class_nmalloc[cls] += got;
  lm_unlock(&a->lock);
  return got;
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

static const char *slab_error(int32_t r) {
  return r == LM_ERR_NOT_ALLOCATED ? "double free of" : r == LM_ERR_INTERIOR ? "interior pointer" : "invalid pointer";
}

/* k slots of slab s were just freed (a's lock held): re-file the slab. */
static void slab_freed(struct lm_arena *a, struct lm_slab *sl, uint32_t k, uint32_t now) {
  uint32_t cls = sl->cls;
  a->class_nfree[cls] += k;
  sl->free_ms = now;
  sl->freed_since_check = 1;
  if (sl->state == LM_SLAB_PURGING) return; /* the purge re-files it */
  bool empty = lm_slab_is_empty(lm_slab_h(sl));
  if (sl->state == LM_SLAB_FULL && !empty) {
    sl->state = LM_SLAB_NONFULL;
    a->nonfull[cls] = lm_nonfull_insert(a->nonfull[cls], sl);
  } else if (empty) {
    if (sl->state == LM_SLAB_NONFULL) a->nonfull[cls] = lm_nonfull_remove(a->nonfull[cls], sl);
    else if (sl->state == LM_SLAB_CUR) a->cur[cls] = NULL;
    lm_slab_emptied(a, sl, now);
  }
}

void lm_arena_free_small(void **ptrs, uint32_t n, const char *fn) {
  struct lm_arena *a = NULL;
  struct lm_chunk *ch = NULL;
  uint32_t now = lm_now32() | 1;
  const void *bad = NULL;
  int32_t bad_r = 0;
  /* A batch mostly holds runs of slots of one slab (a consumer frees what
   * a producer carved in order): the slab is re-filed once per run. */
  struct lm_slab *run = NULL;
  uint32_t run_freed = 0, cls = 0;
  uintptr_t base = 0;
  for (uint32_t i = 0; i < n; i++) {
    uintptr_t p = (uintptr_t)ptrs[i];
    /* Slots of a batch mostly share a chunk, which stays mapped while
     * they are allocated: the registry only when p is outside it. */
    if (ch == NULL || p - ch->base >= LM_CHUNK_SIZE) {
      ch = (struct lm_chunk *)lm_reg_lookup(p);
      struct lm_arena *owner = &lm_heap.arenas[ch->arena];
      if (owner != a) {
        if (run_freed) slab_freed(a, run, run_freed, now);
        run = NULL, run_freed = 0;
        if (a) lm_unlock(&a->lock);
        lm_lock(&owner->lock);
        a = owner;
      }
    }
    struct lm_slab *sl = &ch->slab[ch->page[(p - ch->base) >> LM_PAGE_SHIFT] - 1];
    if (sl != run) {
      if (run_freed) slab_freed(a, run, run_freed, now);
      run = sl, run_freed = 0, cls = sl->cls, base = sl->base;
    }
    /* By slot index: a multiply where lm_slab_free divides. LM_NONE (not
     * a slot start) is out of range for the core. */
    uint32_t slot = lm_slot_of(cls, (uint32_t)(p - base));
    int32_t r = lm_slab_free_slot(lm_slab_h(sl), slot);
    if (r < 0) { /* a double free that reached the core through two caches */
      if (bad == NULL) bad = ptrs[i], bad_r = r;
      continue;
    }
    slot_live_set(sl, slot, false);
    run_freed++;
  }
  if (run_freed) slab_freed(a, run, run_freed, now);
  if (a) lm_unlock(&a->lock);
  if (bad) lm_heap_error(fn, slab_error(bad_r), bad);
}

