/* Arenas: chunks managed by the buddy core, slabs cut by the slab core,
 * large blocks, dirty-page tracking and purging. Every function here that
 * touches an arena's chunks or slabs holds its lock; mappings and madvise
 * happen with no lock held. */
#include "heap.h"
#include "vg.h"
#include <string.h>

#define S lm_slabs

/* ---- dirty bitmap over a chunk's pages ---- */

static uint64_t range_mask(uint32_t lo, uint32_t hi) { /* bits [lo, hi) of one word, hi <= 64 */
  uint64_t m = hi == 64 ? ~(uint64_t)0 : ((uint64_t)1 << hi) - 1;
  return m & ~(((uint64_t)1 << lo) - 1);
}

static uint32_t dirty_count(const struct lm_chunk *ch, uint32_t pg, uint32_t n) {
  uint32_t cnt = 0, end = pg + n;
  while (pg < end) {
    uint32_t w = pg / 64, lo = pg % 64, hi = end - w * 64 < 64 ? end - w * 64 : 64;
    cnt += (uint32_t)__builtin_popcountll(ch->dirty[w] & range_mask(lo, hi));
    pg = w * 64 + hi;
  }
  return cnt;
}

static void mark_bits(uint64_t *map, uint32_t pg, uint32_t n, bool on) {
  uint32_t end = pg + n;
  while (pg < end) {
    uint32_t w = pg / 64, lo = pg % 64, hi = end - w * 64 < 64 ? end - w * 64 : 64;
    if (on) map[w] |= range_mask(lo, hi);
    else map[w] &= ~range_mask(lo, hi);
    pg = w * 64 + hi;
  }
}

static void dirty_mark(struct lm_chunk *ch, uint32_t pg, uint32_t n, bool on) { mark_bits(ch->dirty, pg, n, on); }

/* All of [pg, pg + n) set in both a and b. */
static bool all_set2(const uint64_t *a, const uint64_t *b, uint32_t pg, uint32_t n) {
  uint32_t end = pg + n;
  while (pg < end) {
    uint32_t w = pg / 64, lo = pg % 64, hi = end - w * 64 < 64 ? end - w * 64 : 64;
    uint64_t m = range_mask(lo, hi);
    if ((a[w] & b[w] & m) != m) return false;
    pg = w * 64 + hi;
  }
  return true;
}

static bool is_dirty(const struct lm_chunk *ch, uint32_t pg) { return ch->dirty[pg / 64] >> (pg % 64) & 1; }

/* Free dirty pages always kept, whatever the demand: 4 MiB. */
#define KEEP_MIN_PAGES ((4u << 20) >> LM_PAGE_SHIFT)

/* Demand: pages handed out from the free blocks in the current window of
 * one decay period and in the one before (lock held). */
static void demand_window(struct lm_arena *a) {
  uint32_t now = (uint32_t)lm_os_now_ms(), period = lm_heap.cfg.purge_ms, since = now - a->take_since;
  if (since >= period) {
    a->take_prev = since >= 2 * period ? 0 : a->take_cur;
    a->take_cur = 0;
    a->take_since = now;
  }
}

static size_t recent_demand(struct lm_arena *a) {
  demand_window(a);
  return a->take_prev > a->take_cur ? a->take_prev : a->take_cur;
}

/* Pages [pg, pg+n) leave the free blocks: from now on they count as dirty
 * (they will be written). Returns whether all of them were clean (zero). */
static bool pages_taken(struct lm_arena *a, struct lm_chunk *ch, uint32_t pg, uint32_t n) {
  uint32_t d = dirty_count(ch, pg, n);
#if LM_PLANT_BUG == 7 /* fuzz/plants.txt: calloc trusts dirty pages */
  bool head_clean = !is_dirty(ch, pg);
#endif
  ch->free_pages -= n;
  mark_bits(ch->freemap, pg, n, false);
  ch->dirty_free -= d;
  a->dirty_free_pages -= d;
  a->dirty_pages += n - d;
  if (lm_heap.cfg.purge_ms) demand_window(a);
  a->take_cur += n;
  dirty_mark(ch, pg, n, true);
#if LM_PLANT_BUG == 7
  return head_clean;
#endif
  return d == 0;
}

static void schedule_purge(struct lm_arena *a, uint32_t now) {
  if (a->purge_due_ms == UINT64_MAX)
    __atomic_store_n(&a->purge_due_ms, (uint64_t)now + lm_heap.cfg.purge_ms, __ATOMIC_RELAXED);
}

/* Pages [pg, pg+n) return to the free blocks, freed at time `stamp`. */
static void pages_returned(struct lm_arena *a, struct lm_chunk *ch, uint32_t pg, uint32_t n, uint32_t stamp) {
  uint32_t d = dirty_count(ch, pg, n);
  ch->free_pages += n;
  mark_bits(ch->freemap, pg, n, true);
  ch->nowin_need = UINT32_MAX; /* new free pages: new windows, perhaps */
  ch->dirty_free += d;
  a->dirty_free_pages += d;
  for (uint32_t i = pg; i < pg + n; i++) ch->stamp[i] = stamp;
  if (d == 0) return;
  schedule_purge(a, stamp);
  /* The decay keeps freed pages for the allocations to come, and those are
   * judged by the recent past: dirty free pages beyond what the arena
   * handed out over the last decay period or two (plus a reserve) would
   * only wait out the decay, so they go back at the next tick (a
   * collector's sweep after a busy spell, a server going quiet). */
  if (lm_heap.cfg.purge_ms == 0) return; /* the decay purges at once */
  size_t keep = recent_demand(a) + KEEP_MIN_PAGES;
  if (a->dirty_free_pages > keep) {
    a->purge_keep = keep;
    __atomic_store_n(&a->purge_excess, 1, __ATOMIC_RELAXED);
  }
}

/* ---- chunks ---- */

static uint32_t chunk_free_ids[LM_MAX_CHUNKS], chunk_nfree, chunk_high; /* meta_lock */

/* Give back the pages wholly inside [p, p+n) (a table row that shares its
 * first and last pages with its neighbours); returns the bytes. */
static size_t purge_inside(const void *p, size_t n) {
  uintptr_t a = ((uintptr_t)p + LM_PAGE_SIZE - 1) & ~(uintptr_t)(LM_PAGE_SIZE - 1);
  uintptr_t b = ((uintptr_t)p + n) & ~(uintptr_t)(LM_PAGE_SIZE - 1);
  if (b <= a) return 0;
  lm_os_purge((void *)a, b - a);
  return b - a;
}

static struct lm_chunk *chunk_new(uint32_t arena) {
  char *mem = lm_os_map(LM_CHUNK_SIZE, LM_CHUNK_SIZE);
  if (mem == NULL && lm_huge_decay(true) > 0) mem = lm_os_map(LM_CHUNK_SIZE, LM_CHUNK_SIZE); /* see lm_huge_alloc */
  if (mem == NULL) return NULL;
  uint32_t idx = LM_NONE;
  lm_lock(&lm_heap.meta_lock);
  if (chunk_nfree) idx = chunk_free_ids[--chunk_nfree];
  else if (chunk_high < LM_MAX_CHUNKS) idx = chunk_high++;
  lm_unlock(&lm_heap.meta_lock);
  struct lm_chunk *ch = idx == LM_NONE ? NULL : lm_chunks[idx];
  if (idx != LM_NONE && ch == NULL) ch = lm_meta_alloc(sizeof *ch);
  if (ch == NULL) {
    lm_os_unmap(mem, LM_CHUNK_SIZE);
    if (idx != LM_NONE) {
      lm_lock(&lm_heap.meta_lock);
      chunk_free_ids[chunk_nfree++] = idx;
      lm_unlock(&lm_heap.meta_lock);
    }
    return NULL;
  }
  memset(ch, 0, sizeof *ch);
  ch->base = (uintptr_t)mem;
  lm_vg_noaccess(mem, LM_CHUNK_SIZE); /* slots never handed out are off limits too */
  lm_vg_hide(ch, sizeof *ch);
  ch->idx = idx;
  ch->arena = arena;
  ch->free_pages = LM_CHUNK_PAGES;
  memset(ch->freemap, 0xff, sizeof ch->freemap);
  ch->nowin_need = UINT32_MAX;
  lm_buddy_init(idx);
  lm_chunks[idx] = ch;
  if (!lm_reg_set(ch->base, LM_CHUNK_SIZE, (uintptr_t)ch)) {
    lm_os_unmap(mem, LM_CHUNK_SIZE);
    lm_lock(&lm_heap.meta_lock);
    chunk_free_ids[chunk_nfree++] = idx;
    lm_unlock(&lm_heap.meta_lock);
    return NULL;
  }
  lm_lock(&lm_heap.meta_lock);
  lm_heap.chunk_bytes += LM_CHUNK_SIZE;
  lm_unlock(&lm_heap.meta_lock);
  return ch;
}

static size_t arena_purge(struct lm_arena *a, uint32_t age, bool all, bool excess);

/* Before a fresh chunk is faulted in, free pages that other threads left
 * dirty - in another arena, or here in blocks too small for the request -
 * go back if they were freed an eighth of the decay ago: otherwise the
 * heap holds both at its peak. Only on growth, so a steady free/malloc loop
 * never refaults because of it. */
static void purge_before_grow(void) {
  unsigned n = __atomic_load_n(&lm_heap.narenas, __ATOMIC_RELAXED);
  /* A pass over an arena with nothing to release skips its chunks at once. */
  for (unsigned i = 0; i < n; i++) arena_purge(&lm_heap.arenas[i], lm_heap.cfg.purge_ms / 8, false, false);
  /* Freed huge mappings wait in their cache for a huge request of their
   * size; a heap that grows its chunks instead would hold both (sqlite:
   * 150 -> 120 MiB peak). A loop of huge blocks never gets here. */
  lm_huge_decay(true);
}

/* Called with a's lock held; drops it to map a chunk. false: out of memory. */
static bool arena_grow(struct lm_arena *a) {
  lm_unlock(&a->lock);
  purge_before_grow();
  struct lm_chunk *ch = chunk_new(a->idx);
  lm_lock(&a->lock);
  if (ch == NULL) return false;
  struct lm_chunk **at = &a->chunks;
  while (*at && (*at)->base < ch->base) at = &(*at)->next;
  ch->next = *at;
  *at = ch;
  a->nchunks++;
  return true;
}

/* Takes the aligned block [w, w + 2^order) out of the free block headed by
 * h that contains it, and gives the rest of h back free: with the core's
 * proven steps only. Each round splits off the half of the current block
 * below w (shrink keeps the low half; take the high half, free the low),
 * until the block starts at w; then shrink it to `order`. */
static void take_window(struct lm_chunk *ch, uint32_t h, uint32_t w, uint32_t order) {
  int32_t r = lm_buddy_take(ch->idx, h);
  while (r >= 0 && h != w) {
    uint32_t j = 31u - (uint32_t)__builtin_clz(w - h); /* w is in [h + 2^j, h + 2^(j+1)) */
    if (lm_buddy_shrink(ch->idx, h, j) < 0 || (r = lm_buddy_take(ch->idx, h + (1u << j))) < 0) break;
    if (lm_buddy_free(ch->idx, h) < 0) r = -1; /* its buddy h + 2^j is allocated: no merge */
    h += 1u << j;
  }
  if (r < 0 || lm_buddy_shrink(ch->idx, w, order) < 0)
    lm_heap_bug("internal error: buddy window not taken at page", (void *)(uintptr_t)w);
}

/* The lowest free window of 2^order pages (aligned, inside one free block)
 * whose first `need` pages are all resident; false if there is none. The
 * heap's own bitmaps (dirty, free) pick the candidates; the core decides.
 * A chunk found without one is skipped until pages are freed in it. */
static bool find_dirty_window(struct lm_arena *a, uint32_t order, uint32_t need, struct lm_chunk **out, uint32_t *pg) {
  for (struct lm_chunk *ch = a->chunks; ch; ch = ch->next) {
    if (ch->dirty_free < need || (need >= ch->nowin_need && order >= ch->nowin_order)) continue;
    for (uint32_t w = 0; w < LM_CHUNK_PAGES; w += 1u << order) {
      if ((ch->dirty[w / 64] & ch->freemap[w / 64]) == 0) { /* no window starts in this word */
        if (order < 6) w |= 64 - (1u << order); /* its last window: the loop steps past it */
        continue;
      }
      if (!all_set2(ch->dirty, ch->freemap, w, need)) continue;
      int32_t h = lm_buddy_block_of(ch->idx, w);
      if (h < 0 || lm_buddy_is_allocated(ch->idx, (uint32_t)h) || lm_buddy_order(ch->idx, (uint32_t)h) < order) continue;
      take_window(ch, (uint32_t)h, w, order);
      *out = ch;
      *pg = w;
      return true;
    }
    /* None for this need and order, nor for any bigger, until pages come
     * back free here (taking and purging only remove windows). */
    ch->nowin_need = need;
    ch->nowin_order = order;
  }
  return false;
}

/* A buddy block of `order` for a use of its first `need` pages. Resident
 * pages are reused before purged ones are faulted back in: taking a clean
 * block while freed pages wait for the decay elsewhere costs a fault per
 * page and holds both at once. So while the arena has that many dirty free
 * pages: the core's pick in the lowest chunk with enough of them, if its
 * pages are dirty; else the lowest free window that is (a scan, but only
 * on this miss: bloat 8 8000 had about a third of its page faults there);
 * else, and when the arena has too few, the lowest chunk with a free block. */
static bool arena_buddy_alloc(struct lm_arena *a, uint32_t order, uint32_t need, struct lm_chunk **out, uint32_t *pg) {
  if (a->dirty_free_pages >= need) {
    for (struct lm_chunk *ch = a->chunks; ch; ch = ch->next) {
      if (ch->dirty_free < need) continue;
      int32_t r = lm_buddy_alloc(ch->idx, order);
      if (r < 0) continue;
      if (dirty_count(ch, (uint32_t)r, need) == need) {
        *out = ch;
        *pg = (uint32_t)r;
        return true;
      }
      if (lm_buddy_free(ch->idx, (uint32_t)r) < 0) lm_heap_bug("internal error: buddy free failed at page", (void *)(uintptr_t)r);
      break;
    }
    if (find_dirty_window(a, order, need, out, pg)) return true;
  }
  for (struct lm_chunk *ch = a->chunks; ch; ch = ch->next) {
    if (ch->free_pages < (1u << order)) continue;
    int32_t r = lm_buddy_alloc(ch->idx, order);
    if (r >= 0) {
      *out = ch;
      *pg = (uint32_t)r;
      return true;
    }
  }
  return false;
}

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
  size_t slabs = slab_high, chunks = chunk_high;
  lm_unlock(&lm_heap.meta_lock);
  return lm_os_resident(lm_buddy, chunks * sizeof lm_buddy[0]) +
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

static uint32_t ph_insert(uint32_t root, uint32_t s) {
  S[s].ph_child = S[s].ph_next = S[s].ph_prev = LM_NONE;
  return ph_meld(root, s);
}

static uint32_t ph_remove(uint32_t root, uint32_t s) {
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

static uint32_t now32(void) { return (uint32_t)lm_os_now_ms(); }

/* Span order and slot count of the slabs of class cls, copied from the core
 * at init (lm_slab_geometry). The core's rule - the largest span whose slots
 * still fit one metadata row, up to 64 KiB - keeps the core's fixed
 * per-slab metadata small next to the slab (with one-page slabs it equalled
 * the data, and 64-byte objects ran out of slab indices at 256 MiB). */
static uint8_t slab_order[LM_NUM_CLASSES];
static uint16_t slab_slots[LM_NUM_CLASSES];

void lm_slab_geometry(void) {
  for (uint32_t c = 0; c < LM_NUM_CLASSES; c++) {
    slab_order[c] = (uint8_t)lm_class_slab_order(c);
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
  uint32_t order = slab_order[cls], pg;
  struct lm_chunk *ch;
  if (!arena_buddy_alloc(a, order, 1u << order, &ch, &pg)) return LM_NONE;
  uint32_t s = slab_id_alloc();
  if (s == LM_NONE) {
    lm_buddy_free(ch->idx, pg);
    return LM_NONE;
  }
  pages_taken(a, ch, pg, 1u << order);
  lm_slab_init(s, lm_class_bytes[cls], slab_slots[cls]);
  S[s].base = ch->base + ((uintptr_t)pg << LM_PAGE_SHIFT);
  S[s].cls = cls;
  S[s].nslots = slab_slots[cls];
  S[s].chunk = ch->idx;
  S[s].arena = a->idx;
  S[s].state = LM_SLAB_CUR;
  S[s].ph_child = S[s].ph_next = S[s].ph_prev = LM_NONE;
  S[s].purged = 0;
  S[s].freed_since_check = 0;
  S[s].free_seen = 0;
  for (uint32_t i = 0; i < (1u << order); i++) ch->page[pg + i] = s + 1;
  a->class_nslabs[cls]++;
  return s;
}

/* Give an empty slab's span back to the buddy. */
static void slab_release(struct lm_arena *a, uint32_t s, uint32_t stamp) {
  struct lm_chunk *ch = lm_chunks[S[s].chunk];
  uint32_t pg = (uint32_t)((S[s].base - ch->base) >> LM_PAGE_SHIFT);
  uint32_t n = 1u << slab_order[S[s].cls];
  for (uint32_t i = 0; i < n; i++) {
    ch->page[pg + i] = 0;
    if (S[s].purged >> i & 1) dirty_mark(ch, pg + i, 1, false); /* clean already */
  }
  S[s].purged = 0;
  a->class_nslabs[S[s].cls]--;
  S[s].state = LM_SLAB_UNUSED;
  lm_buddy_free(ch->idx, pg);
  pages_returned(a, ch, pg, n, stamp);
  slab_id_free(s);
}

uint32_t lm_arena_alloc_small(struct lm_arena *a, uint32_t cls, void **out, uint32_t n) {
  uint32_t got = 0, size = lm_class_bytes[cls];
  lm_lock(&a->lock);
  while (got < n) {
    uint32_t s = a->cur[cls];
    if (s == LM_NONE) {
      if ((s = a->nonfull[cls]) != LM_NONE) {
        a->nonfull[cls] = ph_remove(s, s);
      } else if ((s = a->spare[cls]) != LM_NONE) {
        a->spare[cls] = LM_NONE;
      } else if ((s = slab_new(a, cls)) == LM_NONE) {
        if (arena_grow(a)) continue;
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
static void slab_emptied(struct lm_arena *a, uint32_t s, uint32_t now) {
  uint32_t cls = S[s].cls;
  if (a->spare[cls] == LM_NONE) {
    S[s].state = LM_SLAB_SPARE;
    a->spare[cls] = s;
    a->spare_ms[cls] = now;
    schedule_purge(a, now);
  } else {
    slab_release(a, s, now);
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
    a->nonfull[cls] = ph_insert(a->nonfull[cls], s);
  } else if (empty) {
    if (S[s].state == LM_SLAB_NONFULL) a->nonfull[cls] = ph_remove(a->nonfull[cls], s);
    else if (S[s].state == LM_SLAB_CUR) a->cur[cls] = LM_NONE;
    slab_emptied(a, s, now);
  }
}

void lm_arena_free_small(void **ptrs, uint32_t n, const char *fn) {
  struct lm_arena *a = NULL;
  struct lm_chunk *ch = NULL;
  uint32_t now = now32() | 1;
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

/* ---- large blocks ---- */

/* Buddy block [pg, pg + 2^order) of chunk ch, allocated, becomes the run
 * [pg, pg + n): the allocated blocks of n's binary digits, largest first;
 * the rest goes back free (lm_buddy_shrink's tail, whose lowest block the
 * next digit takes). Costs a few O(1) core steps per digit of n. The
 * run's later blocks are marked in the pagemap, so that a bad pointer to
 * one reads as interior; the caller marks the head. */
static void carve_run(struct lm_chunk *ch, uint32_t pg, uint32_t n) {
  for (;;) {
    uint32_t k = 31u - (uint32_t)__builtin_clz(n);
    if (lm_buddy_shrink(ch->idx, pg, k) < 0) lm_heap_bug("internal error: buddy shrink failed at page", (void *)(uintptr_t)pg);
    if (n == 1u << k) return;
    pg += 1u << k;
    n -= 1u << k;
    if (lm_buddy_take(ch->idx, pg) < (int32_t)k) lm_heap_bug("internal error: buddy take failed at page", (void *)(uintptr_t)pg);
    ch->page[pg] = LM_PM_LARGE;
  }
}

void *lm_arena_alloc_large(struct lm_arena *a, uint32_t pages, uint32_t order, bool *zeroed) {
  struct lm_chunk *ch;
  uint32_t pg;
  lm_lock(&a->lock);
  while (!arena_buddy_alloc(a, order, pages, &ch, &pg)) {
    if (!arena_grow(a)) {
      lm_unlock(&a->lock);
      return NULL;
    }
  }
  if (pages < 1u << order) carve_run(ch, pg, pages);
  ch->page[pg] = LM_PM_LARGE | pages;
  *zeroed = pages_taken(a, ch, pg, pages);
  a->large_live_bytes += (size_t)pages << LM_PAGE_SHIFT;
  a->large_nmalloc++;
  lm_unlock(&a->lock);
  return (void *)(ch->base + ((uintptr_t)pg << LM_PAGE_SHIFT));
}

/* Why p (in chunk ch, not a valid block start) is bad; takes the lock. */
static const char *classify_bad(struct lm_chunk *ch, uintptr_t p) {
  struct lm_arena *a = &lm_heap.arenas[ch->arena];
  uint32_t pg = (uint32_t)((p - ch->base) >> LM_PAGE_SHIFT);
  lm_lock(&a->lock);
  int32_t head = lm_buddy_block_of(ch->idx, pg);
  bool alloc = head >= 0 && lm_buddy_is_allocated(ch->idx, (uint32_t)head);
  uint32_t e = head >= 0 ? ch->page[head] : 0;
  lm_unlock(&a->lock);
  if (!alloc) return (p & (LM_PAGE_SIZE - 1)) == 0 ? "double free of" : "invalid pointer (free memory)";
  if (e & LM_PM_LARGE || e - 1 < LM_MAX_SLABS) return "interior pointer (not the start of a block)";
  return "invalid pointer (not allocated by lemmalloc)";
}

const char *lm_arena_why_bad(struct lm_chunk *ch, uintptr_t p) { return classify_bad(ch, p); }

bool lm_arena_free_large(struct lm_chunk *ch, uintptr_t p, const char *fn) {
  struct lm_arena *a = &lm_heap.arenas[ch->arena];
  uint32_t pg = (uint32_t)((p - ch->base) >> LM_PAGE_SHIFT);
  lm_lock(&a->lock);
  uint32_t e = ch->page[pg], pages = e & ~LM_PM_LARGE;
  int32_t r = (e & LM_PM_LARGE) && pages && (p & (LM_PAGE_SIZE - 1)) == 0 ? lm_buddy_free(ch->idx, pg) : LM_ERR_INTERIOR;
  if (r < 0) {
    lm_unlock(&a->lock);
    lm_heap_error(fn, classify_bad(ch, p), (void *)p);
    return false;
  }
  ch->page[pg] = 0;
  /* the run's other blocks, each its own buddy block (see carve_run) */
  for (uint32_t q = pg + (1u << r); q < pg + pages; q += 1u << r) {
    ch->page[q] = 0;
    if ((r = lm_buddy_free(ch->idx, q)) < 0) lm_heap_bug("internal error: a large run lost a block at", (void *)(ch->base + ((uintptr_t)q << LM_PAGE_SHIFT)));
  }
  pages_returned(a, ch, pg, pages, now32());
  a->large_live_bytes -= (size_t)pages << LM_PAGE_SHIFT;
  a->large_nfree++;
  lm_unlock(&a->lock);
  return true;
}

/* ---- purging ---- */

#define PURGE_BATCH 32
#define PURGE_RUNS 8
/* A free block taken out of the buddy for purging, with the runs of its
 * pages to release, found under the lock (the dirty bitmap is shared with
 * pages other threads use, so it is only read under the lock). */
struct purge_rec {
  struct lm_chunk *ch;
  uint32_t pg, n, nruns, purged;
  bool more; /* runs past the PURGE_RUNS taken: the block is visited again */
  uint32_t run_pg[PURGE_RUNS], run_n[PURGE_RUNS];
};

static bool page_old(const struct lm_chunk *ch, uint32_t pg, uint32_t now, uint32_t age) {
  return is_dirty(ch, pg) && now - ch->stamp[pg] >= age;
}

/* Runs of old dirty pages in [pg, pg+n) (lock held); returns their count.
 * Runs beyond PURGE_RUNS are left for another visit (r->more). */
static uint32_t find_runs(struct purge_rec *r, uint32_t now, uint32_t age) {
  uint32_t i = r->pg, end = r->pg + r->n;
  r->nruns = r->purged = 0;
  while (i < end && r->nruns < PURGE_RUNS) {
    while (i < end && !page_old(r->ch, i, now, age)) i++;
    uint32_t j = i;
    while (j < end && page_old(r->ch, j, now, age)) j++;
    if (j > i) {
      r->run_pg[r->nruns] = i;
      r->run_n[r->nruns++] = j - i;
#if LM_PLANT_BUG == 6 /* fuzz/plants.txt: purge of a live page */
      if (j == end && end < LM_CHUNK_PAGES) r->run_n[r->nruns - 1]++;
#endif
      r->purged += j - i;
    }
    i = j;
  }
  r->more = i < end;
  return r->nruns;
}

/* ---- pages wholly free inside live slabs ----
 * A slab goes back to the buddy only when all its slots are free; until
 * then a sparse slab (at most half used) keeps every page it ever touched.
 * Pages whose slots are all free (by the core) hold no state - slot memory
 * of a free slot is garbage, and cached slots count as allocated - so they
 * can be released while the slab lives; allocation clears their bit. */

#define SPARSE_BATCH 32

static uint32_t sparse_free_mask(uint32_t s) {
  uint32_t size = lm_class_bytes[S[s].cls], nslots = S[s].nslots, npages = 1u << slab_order[S[s].cls];
  uint32_t mask = 0;
  for (uint32_t p = 0; p < npages; p++) {
    if (S[s].purged >> p & 1) continue;
    uint32_t first = (p << LM_PAGE_SHIFT) / size, last = ((p + 1) << LM_PAGE_SHIFT) / size; /* may overrun by one: harmless */
    bool all_free = true;
    for (uint32_t k = first; k <= last && k < nslots && all_free; k++)
      if ((k + 1) * size > (p << LM_PAGE_SHIFT)) all_free = !lm_slab_slot_allocated(s, k);
    if (all_free) mask |= 1u << p;
  }
  return mask;
}

/* Lock held on entry and exit; drops it around madvise. Sparse slabs give
 * their wholly free pages at once. Slabs of slots of a page or more are
 * looked at however full they are, since every free slot may hold a whole
 * page (Ruby's 8 KiB strings: their class three quarters full held 15
 * MiB of free slots): their pages go when they were wholly free at the
 * pass before too, a decay of one period, because such a slab is busy (a
 * cache's entries being replaced) and a page taken at once comes back
 * (bloat-rb: 11% more page faults, 5% more time). `all` (a trim) looks at
 * every slab that is not full and takes every wholly free page at once. */
static size_t purge_sparse_slabs(struct lm_arena *a, bool all) {
  size_t released = 0;
  uint32_t recs[SPARSE_BATCH], masks[SPARSE_BATCH];
  struct lm_chunk *ch = a->chunks;
  uint32_t pg = 0;
  for (;;) {
    uint32_t n = 0;
    while (ch != NULL && n < SPARSE_BATCH) {
      if (pg >= LM_CHUNK_PAGES) {
        ch = ch->next;
        pg = 0;
        continue;
      }
      uint32_t s = ch->page[pg] - 1;
      if (s >= LM_MAX_SLABS) {
        pg++;
        continue;
      }
      uint32_t span = 1u << slab_order[S[s].cls], size = lm_class_bytes[S[s].cls];
      uintptr_t at = ch->base + ((uintptr_t)pg << LM_PAGE_SHIFT);
      pg = (uint32_t)((S[s].base - ch->base) >> LM_PAGE_SHIFT) + span;
      if (S[s].base != at || S[s].state != LM_SLAB_NONFULL) continue;
      bool sparse = (uint64_t)lm_slab_used(s) * size * 2 <= ((uint64_t)span << LM_PAGE_SHIFT);
      bool big = size >= LM_PAGE_SIZE;
      bool changed = S[s].freed_since_check;
      if (!(all || (sparse && changed) || (big && (changed || S[s].free_seen)))) continue;
      S[s].freed_since_check = 0;
      uint32_t mask = sparse_free_mask(s);
      if (!sparse && !all) {
        uint32_t fresh = mask & ~(uint32_t)S[s].free_seen;
        mask &= S[s].free_seen;
        S[s].free_seen = (uint16_t)fresh;
      } else {
        S[s].free_seen = 0;
      }
      if (mask == 0) continue;
      a->nonfull[S[s].cls] = ph_remove(a->nonfull[S[s].cls], s);
      S[s].state = LM_SLAB_PURGING;
      recs[n] = s;
      masks[n++] = mask;
    }
    if (n == 0) return released;
    lm_unlock(&a->lock);
    for (uint32_t i = 0; i < n; i++) {
      uint32_t m = masks[i];
      while (m) {
        uint32_t p0 = (uint32_t)__builtin_ctz(m), p1 = p0;
        while (p1 < 32 && (m >> p1 & 1)) p1++;
        lm_os_purge((void *)(S[recs[i]].base + ((uintptr_t)p0 << LM_PAGE_SHIFT)), (size_t)(p1 - p0) << LM_PAGE_SHIFT);
        m &= ~((p1 >= 32 ? 0u : 1u << p1) - (1u << p0));
      }
    }
    lm_lock(&a->lock);
    for (uint32_t i = 0; i < n; i++) {
      uint32_t s = recs[i], k = (uint32_t)__builtin_popcount(masks[i]);
      S[s].purged |= (uint16_t)masks[i];
      a->dirty_pages -= k;
      a->purged_pages += k;
      released += k;
      if (lm_slab_is_empty(s)) {
        slab_emptied(a, s, S[s].free_ms);
      } else {
        S[s].state = LM_SLAB_NONFULL;
        a->nonfull[S[s].cls] = ph_insert(a->nonfull[S[s].cls], s);
      }
    }
  }
}

size_t lm_arena_purge(struct lm_arena *a, bool all) { return arena_purge(a, all ? 0 : lm_heap.cfg.purge_ms, all, false); }

size_t lm_arena_purge_excess(struct lm_arena *a) {
  __atomic_store_n(&a->purge_excess, 0, __ATOMIC_RELAXED);
  return arena_purge(a, 0, false, true);
}

/* A pass over free pages freed at least `age` ms ago; `all`: a trim;
 * `excess`: a pass over the excess, which stops once the arena's dirty
 * free pages are down to a->purge_keep and leaves the spare slabs alone. */
static size_t arena_purge(struct lm_arena *a, uint32_t age, bool all, bool excess) {
  /* One purge per arena at a time: while it holds purge_lock no chunk
   * leaves the arena's list, so the cursor below stays valid across the
   * unlocked madvise windows. A decay pass does not wait for another. */
  if (all) lm_lock(&a->purge_lock);
  else if (!lm_trylock(&a->purge_lock)) return 0;
  uint32_t now = now32();
  size_t released = 0;
  struct purge_rec recs[PURGE_BATCH];
  lm_lock(&a->lock);
  size_t keep = excess ? a->purge_keep : 0; /* dirty free pages the pass leaves */
  if (!excess) __atomic_store_n(&a->purge_due_ms, UINT64_MAX, __ATOMIC_RELAXED);
  for (uint32_t c = 0; c < LM_NUM_CLASSES && !excess; c++) {
    uint32_t s = a->spare[c];
    if (s == LM_NONE) continue;
    if (now - a->spare_ms[c] >= age) {
      a->spare[c] = LM_NONE;
      slab_release(a, s, a->spare_ms[c]); /* aged already: purgeable now */
    } else {
      schedule_purge(a, a->spare_ms[c]);
    }
  }
  bool young = false; /* dirty free pages left for a later pass */
  struct lm_chunk *ch = a->chunks;
  uint32_t pg = 0;
  for (;;) {
    uint32_t n = 0;
    struct lm_chunk *again_ch = NULL; /* the first block taken with runs left */
    uint32_t again_pg = 0;
    while (ch != NULL && n < PURGE_BATCH && a->dirty_free_pages > keep) {
      if (ch->dirty_free == 0 || pg >= LM_CHUNK_PAGES) {
        ch = ch->next;
        pg = 0;
        continue;
      }
      int32_t head = lm_buddy_block_of(ch->idx, pg); /* merges may have moved heads */
      uint32_t h = head < 0 ? pg : (uint32_t)head, len = 1u << lm_buddy_order(ch->idx, h);
      pg = h + len;
      if (lm_buddy_is_allocated(ch->idx, h) || dirty_count(ch, h, len) == 0) continue;
      struct purge_rec *r = &recs[n];
      r->ch = ch;
      r->pg = h;
      r->n = len;
      if (find_runs(r, now, age) == 0) {
        young = true;
        continue;
      }
      if (lm_buddy_take(ch->idx, h) < 0) continue;
      uint32_t d = dirty_count(ch, h, len);
      ch->free_pages -= len;
      ch->dirty_free -= d;
      a->dirty_free_pages -= d;
      if (r->more && again_ch == NULL) {
        again_ch = ch;
        again_pg = h;
      }
      n++;
    }
    if (n == 0) break;
    lm_unlock(&a->lock);
    for (uint32_t i = 0; i < n; i++)
      for (uint32_t k = 0; k < recs[i].nruns; k++)
        lm_os_purge((void *)(recs[i].ch->base + ((uintptr_t)recs[i].run_pg[k] << LM_PAGE_SHIFT)),
                    (size_t)recs[i].run_n[k] << LM_PAGE_SHIFT);
    lm_lock(&a->lock);
    for (uint32_t i = 0; i < n; i++) {
      struct purge_rec *r = &recs[i];
      for (uint32_t k = 0; k < r->nruns; k++) dirty_mark(r->ch, r->run_pg[k], r->run_n[k], false);
      uint32_t d = dirty_count(r->ch, r->pg, r->n);
      r->ch->free_pages += r->n;
      r->ch->dirty_free += d;
      a->dirty_free_pages += d;
      a->dirty_pages -= r->purged;
      a->purged_pages += r->purged;
      released += r->purged;
      lm_buddy_free(r->ch->idx, r->pg);
    }
    /* A block whose dirty pages lie in more than PURGE_RUNS runs (a merged
     * block of pages freed at different times) is finished in this pass,
     * not one batch of runs per decay period: the scan resumes at it (its
     * purged runs are clean now, so each visit takes new ones). */
    if (again_ch != NULL) {
      ch = again_ch;
      pg = again_pg;
    }
  }
  /* The sparse-slab pass walks every page of the arena: once per decay
   * period at most, unless trimming. It takes whole free pages of sparse
   * slabs however recently the slab saw a free: the slabs of long-lived
   * objects see a few frees all the time (and kept 2x the live bytes
   * resident on bloat when they had to be quiet for a period), and at one
   * pass per period a page refaults at most once per period. */
  if (all || (int32_t)(now - a->sparse_due_ms) >= 0) {
    a->sparse_due_ms = now + lm_heap.cfg.purge_ms;
    released += purge_sparse_slabs(a, all);
  }
  if (released) a->npurge++;
  /* Unmap empty chunks, keeping the lowest one as a reserve. Only clean ones
   * (their pages aged and were purged), or every one on trim. */
  if (young || a->dirty_free_pages) schedule_purge(a, now);
  for (;;) {
    struct lm_chunk *gone[32];
    uint32_t ngone = 0;
    bool kept = false;
    for (struct lm_chunk **at = &a->chunks; *at && ngone < 32;) {
      struct lm_chunk *c = *at;
      if (c->free_pages == LM_CHUNK_PAGES && kept && (c->dirty_free == 0 || all)) {
        *at = c->next;
        a->nchunks--;
        a->dirty_free_pages -= c->dirty_free;
        a->dirty_pages -= c->dirty_free;
        gone[ngone++] = c;
        continue;
      }
      if (c->free_pages == LM_CHUNK_PAGES) kept = true;
      at = &c->next;
    }
    if (ngone == 0) break;
    lm_unlock(&a->lock);
    for (uint32_t i = 0; i < ngone; i++) {
      struct lm_chunk *c = gone[i];
      uint32_t idx = c->idx;
      released += c->dirty_free;
      lm_reg_set(c->base, LM_CHUNK_SIZE, 0);
      lm_os_unmap((void *)c->base, LM_CHUNK_SIZE);
      /* The chunk's tables go too while its index is not yet free: the
       * core's buddy row (lm_buddy_init's contract reads none of the old
       * row) and the chunk header (zeroed when the index is reused). A
       * heap that spiked to many chunks kept ~50 KiB resident for each. */
      purge_inside(&lm_buddy[idx], sizeof lm_buddy[0]);
      purge_inside(c, sizeof *c); /* c reads as zeros from here */
      lm_lock(&lm_heap.meta_lock);
      lm_heap.chunk_bytes -= LM_CHUNK_SIZE;
      lm_heap.nunmapped_chunks++;
      chunk_free_ids[chunk_nfree++] = idx;
      lm_unlock(&lm_heap.meta_lock);
    }
    lm_lock(&a->lock);
  }
  lm_unlock(&a->lock);
  lm_unlock(&a->purge_lock);
  return released;
}
