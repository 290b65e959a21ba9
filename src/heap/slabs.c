/* Slabs, on the heap's side: slab indices and the core's per-slab rows,
 * the non-full heap of each class (lowest address first), and small blocks:
 * batches of slots handed out to and taken back from the thread caches. The
 * core (src/core/slab.c) decides every slot; this file picks the slab. */
#include "arena.h"
#include "vg.h"
#include <string.h>

#define S lm_slabs

/* ---- slab indices (meta_lock) ----
 * Lowest free index first, from a two-level bitmap: live indices stay
 * dense, so the core's slab records (lm_slab, 80 bytes each) and the
 * per-slab tables here that stay unused are a contiguous top. */

#define SLAB_WORDS (LM_MAX_SLABS / 64)
static uint64_t slab_free_bits[SLAB_WORDS];     /* 1 = index free (after first use) */
static uint64_t slab_free_sum[(SLAB_WORDS + 63) / 64];
static uint32_t slab_high;                      /* indices >= this never used */

static void slab_bit_set(uint32_t s, bool on) {
  uint64_t m = (uint64_t)1 << (s % 64);
  if (on) slab_free_bits[s / 64] |= m;
  else slab_free_bits[s / 64] &= ~m;
  uint64_t w = (uint64_t)1 << (s / 64 % 64);
  if (slab_free_bits[s / 64]) slab_free_sum[s / 4096] |= w;
  else slab_free_sum[s / 4096] &= ~w;
}

static uint32_t slab_id_alloc(void) {
  uint32_t s = LM_NONE;
  lm_lock(&lm_heap.meta_lock);
  for (uint32_t i = 0; i < sizeof slab_free_sum / sizeof *slab_free_sum; i++) {
    if (slab_free_sum[i] == 0) continue;
    uint32_t w = i * 64 + (uint32_t)__builtin_ctzll(slab_free_sum[i]);
    s = w * 64 + (uint32_t)__builtin_ctzll(slab_free_bits[w]);
    break;
  }
  if (s != LM_NONE) slab_bit_set(s, false);
  else if (slab_high < LM_MAX_SLABS) s = slab_high++;
  lm_unlock(&lm_heap.meta_lock);
  return s;
}

static void slab_id_free(uint32_t s) {
  lm_lock(&lm_heap.meta_lock);
  slab_bit_set(s, true);
  lm_unlock(&lm_heap.meta_lock);
}

size_t lm_tables_resident(void) {
  lm_lock(&lm_heap.meta_lock);
  size_t slabs = slab_high;
  lm_unlock(&lm_heap.meta_lock);
  return lm_hdr_resident() +
         lm_os_resident(lm_slab, slabs * sizeof lm_slab[0]) +
         lm_os_resident(lm_slabs, slabs * sizeof lm_slabs[0]) +
         lm_os_resident(lm_slot_live, slabs * sizeof lm_slot_live[0]);
}

/* ---- pairing heap of non-full slabs, lowest span address first, so that
 * allocation packs the low end and the high end empties out and can be
 * released. Links are slab indices in lm_slabs. ---- */

static uint32_t ph_meld(uint32_t x, uint32_t y) {
  if (x == LM_NONE) return y;
  if (y == LM_NONE) return x;
  if (S[y].base < S[x].base) {
    uint32_t t = x;
    x = y;
    y = t;
  }
  S[y].ph_prev = x; /* y becomes x's first child */
  S[y].ph_next = S[x].ph_child;
  if (S[x].ph_child != LM_NONE) S[S[x].ph_child].ph_prev = y;
  S[x].ph_child = y;
  S[x].ph_next = S[x].ph_prev = LM_NONE;
  return x;
}

/* Merge a sibling list into one heap (two-pass pairing). */
static uint32_t ph_merge_pairs(uint32_t first) {
  uint32_t stack = LM_NONE;
  while (first != LM_NONE) {
    uint32_t x = first, y = S[x].ph_next;
    first = y == LM_NONE ? LM_NONE : S[y].ph_next;
    S[x].ph_next = S[x].ph_prev = LM_NONE;
    if (y != LM_NONE) S[y].ph_next = S[y].ph_prev = LM_NONE;
    uint32_t m = ph_meld(x, y);
    S[m].ph_next = stack;
    stack = m;
  }
  uint32_t root = LM_NONE;
  while (stack != LM_NONE) {
    uint32_t m = stack;
    stack = S[m].ph_next;
    S[m].ph_next = LM_NONE;
    root = ph_meld(root, m);
  }
  return root;
}

uint32_t lm_nonfull_insert(uint32_t root, uint32_t s) {
  S[s].ph_child = S[s].ph_next = S[s].ph_prev = LM_NONE;
  return ph_meld(root, s);
}

uint32_t lm_nonfull_remove(uint32_t root, uint32_t s) {
  uint32_t kids = S[s].ph_child;
  S[s].ph_child = LM_NONE;
  if (s == root) return ph_merge_pairs(kids);
  uint32_t prev = S[s].ph_prev, next = S[s].ph_next;
  if (S[prev].ph_child == s) S[prev].ph_child = next;
  else S[prev].ph_next = next;
  if (next != LM_NONE) S[next].ph_prev = prev;
  S[s].ph_next = S[s].ph_prev = LM_NONE;
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
uint64_t lm_slot_live[LM_MAX_SLABS][LM_SLAB_MAX_SLOTS / 64];

static void slot_live_set(uint32_t s, uint32_t slot, bool on) {
  uint64_t *w = &lm_slot_live[s][slot / 64], m = (uint64_t)1 << (slot % 64);
  uint64_t v = __atomic_load_n(w, __ATOMIC_RELAXED);
  __atomic_store_n(w, on ? v | m : v & ~m, __ATOMIC_RELAXED);
}

/* A fresh slab of class cls, made current. LM_NONE if no buddy block. */
static uint32_t slab_new(struct lm_arena *a, uint32_t cls) {
  uint32_t order = lm_slab_order_of[cls], pg;
  struct lm_chunk *ch;
  if (!lm_arena_buddy_alloc(a, order, 1u << order, &ch, &pg)) return LM_NONE;
  uint32_t s = slab_id_alloc();
  if (s == LM_NONE) {
    lm_buddy_free(lm_chunk_c(ch), pg);
    return LM_NONE;
  }
  lm_pages_taken(a, ch, pg, 1u << order);
  lm_slab_init(s, lm_class_bytes[cls], slab_slots[cls]);
  S[s].base = ch->base + ((uintptr_t)pg << LM_PAGE_SHIFT);
  S[s].cls = cls;
  S[s].nslots = slab_slots[cls];
  S[s].chunk = ch;
  S[s].arena = a->idx;
  S[s].state = LM_SLAB_CUR;
  S[s].ph_child = S[s].ph_next = S[s].ph_prev = LM_NONE;
  S[s].purged = 0;
  S[s].freed_since_check = 0;
  S[s].free_seen = 0;
  for (uint32_t i = 0; i < (1u << order); i++) ch->page[pg + i] = s + 1;
  a->class_nslabs[cls]++;
  ch->nslabs++;
  return s;
}

/* Give an empty slab's span back to the buddy. */
void lm_slab_release_span(struct lm_arena *a, uint32_t s, uint32_t stamp) {
  struct lm_chunk *ch = S[s].chunk;
  uint32_t pg = (uint32_t)((S[s].base - ch->base) >> LM_PAGE_SHIFT);
  uint32_t n = 1u << lm_slab_order_of[S[s].cls];
  for (uint32_t i = 0; i < n; i++) {
    ch->page[pg + i] = 0;
    if (S[s].purged >> i & 1) lm_dirty_mark(ch, pg + i, 1, false); /* clean already */
  }
  S[s].purged = 0;
  a->class_nslabs[S[s].cls]--;
  ch->nslabs--;
  S[s].state = LM_SLAB_UNUSED;
  lm_buddy_free(lm_chunk_c(ch), pg);
  lm_pages_returned(a, ch, pg, n, stamp);
  slab_id_free(s);
}

uint32_t lm_arena_alloc_small(struct lm_arena *a, uint32_t cls, void **out, uint32_t n) {
  uint32_t got = 0, size = lm_class_bytes[cls];
  lm_lock(&a->lock);
  while (got < n) {
    uint32_t s = a->cur[cls];
    if (s == LM_NONE) {
      if ((s = a->nonfull[cls]) != LM_NONE) {
        a->nonfull[cls] = lm_nonfull_remove(s, s);
      } else if ((s = a->spare[cls]) != LM_NONE) {
        a->spare[cls] = LM_NONE;
      } else if ((s = slab_new(a, cls)) == LM_NONE) {
        if (lm_arena_grow(a)) continue;
        break;
      }
      S[s].state = LM_SLAB_CUR;
      a->cur[cls] = s;
    }
    /* As many slots as the slab has free, up to the request: the core's
     * count says how many allocations will succeed, so no test per slot. */
    uint32_t k = S[s].nslots - lm_slab_used(s), i = 0;
    if (k > n - got) k = n - got;
    uintptr_t base = S[s].base;
    for (; i < k; i++) {
      int32_t off = lm_slab_alloc(s);
      if (off < 0) break;
      out[got++] = (void *)(base + (uint32_t)off);
      slot_live_set(s, lm_slot_of(cls, (uint32_t)off), true);
      if (lm_unlikely(S[s].purged)) { /* the slot's pages fault back in */
        uint32_t p0 = (uint32_t)off >> LM_PAGE_SHIFT, p1 = ((uint32_t)off + size - 1) >> LM_PAGE_SHIFT;
        uint32_t m = (uint32_t)S[s].purged & ((2u << p1) - (1u << p0));
        S[s].purged &= (uint16_t)~m;
        a->dirty_pages += (size_t)__builtin_popcount(m);
      }
    }
    if (i < k || lm_slab_is_full(s)) {
      S[s].state = LM_SLAB_FULL;
      a->cur[cls] = LM_NONE;
    }
  }
  a->class_nmalloc[cls] += got;
  lm_unlock(&a->lock);
  return got;
}

/* An empty slab (on no list): kept as the class's spare, or released. */
void lm_slab_emptied(struct lm_arena *a, uint32_t s, uint32_t now) {
  uint32_t cls = S[s].cls;
  if (a->spare[cls] == LM_NONE) {
    S[s].state = LM_SLAB_SPARE;
    a->spare[cls] = s;
    a->spare_ms[cls] = now;
    lm_schedule_purge(a, now);
  } else {
    lm_slab_release_span(a, s, now);
  }
}

static const char *slab_error(int32_t r) {
  return r == LM_ERR_NOT_ALLOCATED ? "double free of" : r == LM_ERR_INTERIOR ? "interior pointer" : "invalid pointer";
}

/* k slots of slab s were just freed (a's lock held): re-file the slab. */
static void slab_freed(struct lm_arena *a, uint32_t s, uint32_t k, uint32_t now) {
  uint32_t cls = S[s].cls;
  a->class_nfree[cls] += k;
  S[s].free_ms = now;
  S[s].freed_since_check = 1;
  if (S[s].state == LM_SLAB_PURGING) return; /* the purge re-files it */
  bool empty = lm_slab_is_empty(s);
  if (S[s].state == LM_SLAB_FULL && !empty) {
    S[s].state = LM_SLAB_NONFULL;
    a->nonfull[cls] = lm_nonfull_insert(a->nonfull[cls], s);
  } else if (empty) {
    if (S[s].state == LM_SLAB_NONFULL) a->nonfull[cls] = lm_nonfull_remove(a->nonfull[cls], s);
    else if (S[s].state == LM_SLAB_CUR) a->cur[cls] = LM_NONE;
    lm_slab_emptied(a, s, now);
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
  uint32_t run = LM_NONE, run_freed = 0, cls = 0;
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
        run = LM_NONE, run_freed = 0;
        if (a) lm_unlock(&a->lock);
        lm_lock(&owner->lock);
        a = owner;
      }
    }
    uint32_t s = ch->page[(p - ch->base) >> LM_PAGE_SHIFT] - 1;
    if (s != run) {
      if (run_freed) slab_freed(a, run, run_freed, now);
      run = s, run_freed = 0, cls = S[s].cls, base = S[s].base;
    }
    /* By slot index: a multiply where lm_slab_free divides. LM_NONE (not
     * a slot start) is out of range for the core. */
    uint32_t slot = lm_slot_of(cls, (uint32_t)(p - base));
    int32_t r = lm_slab_free_slot(s, slot);
    if (r < 0) { /* a double free that reached the core through two caches */
      if (bad == NULL) bad = ptrs[i], bad_r = r;
      continue;
    }
    slot_live_set(s, slot, false);
    run_freed++;
  }
  if (run_freed) slab_freed(a, run, run_freed, now);
  if (a) lm_unlock(&a->lock);
  if (bad) lm_heap_error(fn, slab_error(bad_r), bad);
}

