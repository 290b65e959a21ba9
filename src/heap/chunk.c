/* Chunks: mapping one into an arena, the maps of which of its pages are
 * dirty (may be resident) and free, the demand window that decides how many
 * dirty free pages the decay keeps, and which buddy block an allocation
 * takes: resident pages before purged ones, then first fit by address. */
#include "arena.h"
#include "thread.h"
#include "vg.h"
#include <string.h>

/* ---- dirty bitmap over a chunk's pages ---- */

static uint64_t range_mask(uint32_t lo, uint32_t hi) { /* bits [lo, hi) of one word, hi <= 64 */
  uint64_t m = hi == 64 ? ~(uint64_t)0 : ((uint64_t)1 << hi) - 1;
  return m & ~(((uint64_t)1 << lo) - 1);
}

uint32_t lm_dirty_count(const struct lm_chunk *ch, uint32_t pg, uint32_t n) {
  uint32_t cnt = 0, end = pg + n;
  while (pg < end) {
    uint32_t w = pg / 64, lo = pg % 64, hi = end - w * 64 < 64 ? end - w * 64 : 64;
    cnt += lm_popcount64(ch->dirty[w] & range_mask(lo, hi));
    pg = w * 64 + hi;
  }
  return cnt;
}

void lm_bits_mark(uint64_t *map, uint32_t pg, uint32_t n, bool on) {
  uint32_t end = pg + n;
  while (pg < end) {
    uint32_t w = pg / 64, lo = pg % 64, hi = end - w * 64 < 64 ? end - w * 64 : 64;
    if (on) map[w] |= range_mask(lo, hi);
    else map[w] &= ~range_mask(lo, hi);
    pg = w * 64 + hi;
  }
}

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
bool lm_pages_taken(struct lm_arena *a, struct lm_chunk *ch, uint32_t pg, uint32_t n) {
  uint32_t d = lm_dirty_count(ch, pg, n);
  lm_chunk_free_add(a, ch, -(int32_t)n);
  lm_bits_mark(ch->freemap, pg, n, false);
  ch->dirty_free -= d;
  a->dirty_free_pages -= d;
  a->dirty_pages += n - d;
  if (lm_heap.cfg.purge_ms) demand_window(a);
  a->take_cur += n;
  lm_dirty_mark(ch, pg, n, true);
  return d == 0;
}

void lm_schedule_purge(struct lm_arena *a, uint32_t now) {
  if (a->purge_due_ms == UINT64_MAX)
    __atomic_store_n(&a->purge_due_ms, (uint64_t)now + lm_heap.cfg.purge_ms, __ATOMIC_RELAXED);
}

/* Pages [pg, pg+n) return to the free blocks, freed at time `stamp`. */
void lm_pages_returned(struct lm_arena *a, struct lm_chunk *ch, uint32_t pg, uint32_t n, uint32_t stamp) {
  uint32_t d = lm_dirty_count(ch, pg, n);
  lm_chunk_free_add(a, ch, (int32_t)n);
  lm_bits_mark(ch->freemap, pg, n, true);
  ch->nowin_need = UINT32_MAX; /* new free pages: new windows, perhaps */
  lm_chunk_freed(a, ch);
  ch->dirty_free += d;
  a->dirty_free_pages += d;
  lm_fill32(&ch->stamp[pg], n, stamp);
  if (d == 0) return;
  lm_schedule_purge(a, stamp);
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

/* A fresh chunk for arena `arena`: its memory, its header (the core's state
 * made one free block), its registry entries. NULL if the OS refuses. */
static struct lm_chunk *chunk_new(uint32_t arena) {
  char *mem = lm_os_map(LM_CHUNK_SIZE, LM_CHUNK_SIZE);
  if (mem == NULL && lm_heap_reclaim() > 0) mem = lm_os_map(LM_CHUNK_SIZE, LM_CHUNK_SIZE);
  if (mem == NULL) return NULL;
  struct lm_chunk *ch = lm_hdr_alloc();
  if (ch == NULL) {
    lm_os_unmap(mem, LM_CHUNK_SIZE);
    return NULL;
  }
  ch->base = (uintptr_t)mem;
  lm_vg_noaccess(mem, LM_CHUNK_SIZE); /* slots never handed out are off limits too */
  ch->arena = arena;
  ch->free_pages = LM_CHUNK_PAGES;
  memset(ch->freemap, 0xff, sizeof ch->freemap);
  ch->nowin_need = UINT32_MAX;
  lm_buddy_init(lm_chunk_c(ch));
  if (!lm_reg_set(ch->base, LM_CHUNK_SIZE, (uintptr_t)ch)) {
    lm_os_unmap(mem, LM_CHUNK_SIZE);
    lm_hdr_free(ch);
    return NULL;
  }
  lm_lock(&lm_heap.meta_lock);
  lm_heap.chunk_bytes += LM_CHUNK_SIZE;
  lm_unlock(&lm_heap.meta_lock);
  return ch;
}

/* Before a fresh chunk is faulted in, free pages that other threads left
 * dirty - in another arena, or here in blocks too small for the request -
 * go back if they were freed an eighth of the decay ago: otherwise the
 * heap holds both at its peak. Only on growth, so a steady free/malloc loop
 * never refaults because of it. */
static void purge_before_grow(void) {
  /* Threads quiet for an eighth of the decay give back their slabs and
   * cached blocks, memory another thread runs short of (first: their
   * free pages are then released below). */
  lm_th_reclaim(lm_now32(), lm_heap.cfg.purge_ms / 8);
  unsigned n = __atomic_load_n(&lm_heap.narenas, __ATOMIC_RELAXED);
  /* A pass over an arena with nothing to release skips its chunks at once. */
  for (unsigned i = 0; i < n; i++) lm_arena_purge_aged(&lm_heap.arenas[i], lm_heap.cfg.purge_ms / 8);
  /* Freed huge mappings wait in their cache for a huge request of their
   * size; a heap that grows its chunks instead would hold both (sqlite:
   * 150 -> 120 MiB peak). A loop of huge blocks never gets here. */
  lm_huge_decay(true);
}

/* Called with a's lock held; drops it to map a chunk. false: out of memory. */
bool lm_arena_grow(struct lm_arena *a) {
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
  a->nempty++; /* chunk_new made it wholly free */
  lm_chunk_freed(a, ch);
  return true;
}

/* First-fit hints. a->fit[k] is a chunk of a's list such that no chunk
 * before it (they are by increasing address) has a free buddy block of
 * order k or more; NULL: no chunk has one. So the search for a block of
 * order k starts there instead of at the lowest chunk: with thousands of
 * chunks (20 GiB of 64 KiB blocks) a walk from the start on every
 * allocation was quadratic. Allocating only removes free blocks, which
 * keeps the hints true; a freed block or a new chunk may move them down. */
void lm_chunk_freed(struct lm_arena *a, struct lm_chunk *ch) {
  for (uint32_t k = 0; k <= LM_MAX_ORDER; k++)
    if (a->fit[k] == NULL || ch->base < a->fit[k]->base) a->fit[k] = ch;
}

void lm_chunk_unlink(struct lm_arena *a, struct lm_chunk **at) {
  struct lm_chunk *ch = *at;
  for (uint32_t k = 0; k <= LM_MAX_ORDER; k++)
    if (a->fit[k] == ch) a->fit[k] = ch->next;
  *at = ch->next;
  a->nchunks--;
  if (ch->free_pages == LM_CHUNK_PAGES) a->nempty--;
}

/* Takes the aligned block [w, w + 2^order) out of the free block headed by
 * h that contains it, and gives the rest of h back free: with the core's
 * proven steps only. Each round splits off the half of the current block
 * below w (shrink keeps the low half; take the high half, free the low),
 * until the block starts at w; then shrink it to `order`. */
static void take_window(struct lm_chunk *ch, uint32_t h, uint32_t w, uint32_t order) {
  int32_t r = lm_buddy_take(lm_chunk_c(ch), h);
  while (r >= 0 && h != w) {
    uint32_t j = 31u - (uint32_t)__builtin_clz(w - h); /* w is in [h + 2^j, h + 2^(j+1)) */
    if (lm_buddy_shrink(lm_chunk_c(ch), h, j) < 0 || (r = lm_buddy_take(lm_chunk_c(ch), h + (1u << j))) < 0) break;
    if (lm_buddy_free(lm_chunk_c(ch), h) < 0) r = -1; /* its buddy h + 2^j is allocated: no merge */
    h += 1u << j;
  }
  if (r < 0 || lm_buddy_shrink(lm_chunk_c(ch), w, order) < 0)
    lm_heap_bug("internal error: buddy window not taken at page", (void *)(uintptr_t)w);
}

/* Bit i of the result is set when bits i .. i + n - 1 of m all are
 * (1 <= n <= 64; bits past 63 count as clear): log2(n) shifts. */
static uint64_t run_starts(uint64_t m, uint32_t n) {
  for (uint32_t have = 1; have < n && m != 0;) {
    uint32_t k = have <= n - have ? have : n - have;
    m &= m >> k;
    have += k;
  }
  return m;
}

/* Window w of chunk ch, resident and free in the heap's bitmaps: taken if
 * the core says a free block of at least `order` holds it. */
static bool try_window(struct lm_chunk *ch, uint32_t w, uint32_t order) {
  int32_t h = lm_buddy_block_of(lm_chunk_c(ch), w);
  if (h < 0 || lm_buddy_is_allocated(lm_chunk_c(ch), (uint32_t)h) || lm_buddy_order(lm_chunk_c(ch), (uint32_t)h) < order)
    return false;
  take_window(ch, (uint32_t)h, w, order);
  return true;
}

/* The lowest free window of 2^order pages (aligned, inside one free block)
 * whose first `need` pages are all resident; false if there is none. The
 * heap's own bitmaps (dirty, free) pick the candidates, a word at a time
 * for windows of up to 64 pages; the core decides. A chunk found without
 * one is skipped until pages are freed in it. */
static bool find_dirty_window(struct lm_arena *a, uint32_t order, uint32_t need, bool slab, struct lm_chunk **out,
                              uint32_t *pg) {
  /* Windows of 2^order <= 64 pages: bits at their starts in a word. */
  uint64_t starts = order >= 6 ? 1 : UINT64_MAX / ((UINT64_C(1) << (1u << order)) - 1);
  for (struct lm_chunk *ch = a->chunks; ch; ch = ch->next) {
    if (ch->dirty_free < need || (need >= ch->nowin_need && order >= ch->nowin_order)) continue;
    if (slab && ch->nslabs >= LM_CHUNK_SLABS) continue;
    if (order <= 6) {
      for (uint32_t i = 0; i < LM_CHUNK_PAGES / 64; i++) {
        uint64_t y = run_starts(ch->dirty[i] & ch->freemap[i], need) & starts;
        for (; y != 0; y &= y - 1) {
          uint32_t w = i * 64 + (uint32_t)__builtin_ctzll(y);
          if (try_window(ch, w, order)) {
            *out = ch;
            *pg = w;
            return true;
          }
        }
      }
    } else {
      for (uint32_t w = 0; w < LM_CHUNK_PAGES; w += 1u << order) {
        if (!all_set2(ch->dirty, ch->freemap, w, need) || !try_window(ch, w, order)) continue;
        *out = ch;
        *pg = w;
        return true;
      }
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
bool lm_arena_buddy_alloc(struct lm_arena *a, uint32_t order, uint32_t need, enum lm_want want,
                          struct lm_chunk **out, uint32_t *pg) {
  bool slab = want == LM_WANT_SLAB;
  if (a->dirty_free_pages >= need) {
    for (struct lm_chunk *ch = a->chunks; ch; ch = ch->next) {
      if (ch->dirty_free < need || (slab && ch->nslabs >= LM_CHUNK_SLABS)) continue;
      int32_t r = lm_buddy_alloc(lm_chunk_c(ch), order);
      if (r < 0) continue;
      if (lm_dirty_count(ch, (uint32_t)r, need) == need) {
        *out = ch;
        *pg = (uint32_t)r;
        return true;
      }
      if (lm_buddy_free(lm_chunk_c(ch), (uint32_t)r) < 0) lm_heap_bug("internal error: buddy free failed at page", (void *)(uintptr_t)r);
      break;
    }
    if (find_dirty_window(a, order, need, slab, out, pg)) return true;
  }
  /* A chunk skipped for want of a slab record may still have free blocks:
   * then the hint stays where it was. */
  bool skipped = false;
  for (struct lm_chunk *ch = a->fit[order]; ch; ch = ch->next) {
    if (ch->free_pages < (1u << order)) continue;
    if (slab && ch->nslabs >= LM_CHUNK_SLABS) {
      skipped = true;
      continue;
    }
    int32_t r = lm_buddy_alloc(lm_chunk_c(ch), order);
    if (r >= 0) {
      if (!skipped) a->fit[order] = ch; /* every chunk before it had none of this order */
      *out = ch;
      *pg = (uint32_t)r;
      return true;
    }
  }
  if (!skipped) a->fit[order] = NULL;
  return false;
}

