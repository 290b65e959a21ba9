/* Huge blocks: direct mappings, 4 MiB aligned so that each owns the
 * registry entries of its granules, with a small cache of freed mappings.
 *
 * Why the cache: a loop that mallocs and frees 5-25 MiB blocks would
 * otherwise pay mmap + a page fault per 4 KiB every time (this is where
 * jemalloc and mimalloc lose 7x to glibc). A freed mapping stays resident in
 * the cache until LEMMALLOC_PURGE_MS passes without reuse; a request takes
 * the smallest cached mapping that fits without being more than twice the
 * request plus a chunk (the rest of it stays resident, as glibc's heap top
 * would), or grows the biggest smaller one with mremap, so only the new
 * part faults. Bounded by LEMMALLOC_HUGE_CACHE bytes and by the decay. */
#include "heap.h"
#include "vg.h"

#define MAX_RECS 16384
#define CACHE_SLOTS 8
enum { H_UNUSED, H_LIVE, H_CACHED };

static struct lm_huge recs[MAX_RECS];
static uint32_t rec_free = LM_NONE, rec_high;       /* huge_lock */
static uint32_t cache[CACHE_SLOTS], ncache;         /* huge_lock */

static uintptr_t tag(struct lm_huge *h) { return (uintptr_t)h | LM_REG_HUGE; }

static size_t page_round(size_t n) { return (n + LM_PAGE_SIZE - 1) & ~(size_t)(LM_PAGE_SIZE - 1); }

static void rec_put(struct lm_huge *h) { /* huge_lock */
  h->state = H_UNUSED;
  h->next = rec_free;
  rec_free = (uint32_t)(h - recs);
}

static void cache_drop(uint32_t i) { /* huge_lock */
  lm_heap.huge_cached_bytes -= recs[cache[i]].size;
  cache[i] = cache[--ncache];
}

/* Unmap and forget records (no lock held). */
static size_t release(struct lm_huge **v, uint32_t n) {
  size_t bytes = 0;
  for (uint32_t i = 0; i < n; i++) {
    lm_reg_set(v[i]->base, v[i]->size, 0);
    lm_os_unmap((void *)v[i]->base, v[i]->size);
    bytes += v[i]->size;
  }
  if (n) {
    lm_lock(&lm_heap.huge_lock);
    for (uint32_t i = 0; i < n; i++) rec_put(v[i]);
    lm_unlock(&lm_heap.huge_lock);
  }
  return bytes;
}

/* Move or resize h's mapping (h is its caller's: nobody else looks it up
 * meanwhile). Its registry entries are cleared before mremap gives any
 * address range back: once released, a range can be mapped and registered
 * at once by another thread (a chunk, say), whose entries a late clear
 * would wipe out. */
static bool reshape(struct lm_huge *h, size_t size) {
  lm_reg_set(h->base, h->size, 0);
  void *q = lm_os_remap((void *)h->base, h->size, size, LM_CHUNK_SIZE);
  if (q == NULL || !lm_reg_set((uintptr_t)q, size, tag(h))) {
    if (q != NULL) { /* no registry leaf: give the new range back unregistered */
      lm_reg_set((uintptr_t)q, size, 0);
      lm_os_unmap(q, size);
      lm_lock(&lm_heap.huge_lock);
      lm_heap.huge_live_bytes -= h->size;
      h->base = 0;
      h->size = 0;
      lm_unlock(&lm_heap.huge_lock);
      return false;
    }
    lm_reg_set(h->base, h->size, tag(h));
    return false;
  }
  lm_lock(&lm_heap.huge_lock);
  lm_heap.huge_live_bytes += size - h->size;
  h->base = (uintptr_t)q;
  h->size = size;
  lm_unlock(&lm_heap.huge_lock);
  return true;
}

void *lm_huge_alloc(size_t size, size_t align, bool *zeroed) {
  size = size ? page_round(size) : LM_PAGE_SIZE; /* size 0 with a huge alignment */
  if (align < LM_CHUNK_SIZE) align = LM_CHUNK_SIZE;
  struct lm_huge *h = NULL, *grow = NULL;
  lm_lock(&lm_heap.huge_lock);
  uint32_t best = LM_NONE, below = LM_NONE;
  for (uint32_t i = 0; i < ncache; i++) {
    struct lm_huge *c = &recs[cache[i]];
    if (c->base & (align - 1)) continue;
    if (c->size >= size) {
      if (c->size - size <= size + LM_CHUNK_SIZE && (best == LM_NONE || c->size < recs[cache[best]].size))
        best = i;
    } else if (align == LM_CHUNK_SIZE && (below == LM_NONE || c->size > recs[cache[below]].size)) {
      below = i;
    }
  }
  uint32_t pick = best != LM_NONE ? best : below;
  if (pick != LM_NONE) {
    h = &recs[cache[pick]];
    cache_drop(pick);
    h->state = H_LIVE;
    lm_heap.huge_live_bytes += h->size;
    lm_heap.huge_nreuse++;
    if (best == LM_NONE) grow = h;
  }
  lm_unlock(&lm_heap.huge_lock);
  if (h != NULL) {
    *zeroed = false;
    if (grow && !reshape(h, size)) { /* could not grow it: unmap, map anew */
      lm_lock(&lm_heap.huge_lock);
      lm_heap.huge_live_bytes -= h->size;
      lm_unlock(&lm_heap.huge_lock);
      release(&h, 1);
      h = NULL;
    }
  }
  if (h == NULL) {
    void *m = lm_os_map(size, align);
    /* Refused (address space or commit limit): cached mappings are worth
     * less than this request, give them back and ask once more. */
    if (m == NULL && lm_huge_decay(true) > 0) m = lm_os_map(size, align);
    if (m == NULL) return NULL;
    *zeroed = true;
    lm_lock(&lm_heap.huge_lock);
    uint32_t r = rec_free;
    if (r != LM_NONE) rec_free = recs[r].next;
    else if (rec_high < MAX_RECS) r = rec_high++;
    if (r == 0) lm_vg_hide(recs, sizeof recs); /* first record: base == block */
    if (r != LM_NONE) {
      h = &recs[r];
      h->base = (uintptr_t)m;
      h->size = size;
      h->state = H_LIVE;
      lm_heap.huge_live_bytes += size;
    }
    lm_unlock(&lm_heap.huge_lock);
    if (h == NULL || !lm_reg_set(h->base, size, tag(h))) {
      if (h) {
        lm_reg_set(h->base, size, 0);
        lm_lock(&lm_heap.huge_lock);
        lm_heap.huge_live_bytes -= size;
        rec_put(h);
        lm_unlock(&lm_heap.huge_lock);
      }
      lm_os_unmap(m, size);
      return NULL;
    }
  }
  lm_lock(&lm_heap.huge_lock);
  lm_heap.huge_nmalloc++;
  lm_unlock(&lm_heap.huge_lock);
  return (void *)h->base;
}

bool lm_huge_free(struct lm_huge *h, uintptr_t p, const char *fn) {
  struct lm_huge *out[CACHE_SLOTS + 1];
  uint32_t nout = 0;
  lm_lock(&lm_heap.huge_lock);
  const char *bad = NULL;
  if (h->state == H_UNUSED || p < h->base || p >= h->base + h->size)
    bad = "invalid pointer (not allocated by lemmalloc)";
  else if (p != h->base)
    bad = "interior pointer (not the start of a block)";
  else if (h->state != H_LIVE)
    bad = "double free of";
  if (bad) {
    lm_unlock(&lm_heap.huge_lock);
    lm_heap_error(fn, bad, (void *)p);
    return false;
  }
  lm_heap.huge_live_bytes -= h->size;
  lm_heap.huge_nfree++;
  if (h->size > lm_heap.cfg.huge_cache_bytes) {
    h->state = H_CACHED; /* a concurrent double free must not slip in */
    out[nout++] = h;
  } else {
    /* Make room: evict the oldest until the slot and byte bounds hold. */
    while (ncache > 0 && (ncache == CACHE_SLOTS ||
                          lm_heap.huge_cached_bytes + h->size > lm_heap.cfg.huge_cache_bytes)) {
      uint32_t old = 0;
      for (uint32_t i = 1; i < ncache; i++)
        if (recs[cache[i]].freed_ms < recs[cache[old]].freed_ms) old = i;
      out[nout++] = &recs[cache[old]];
      cache_drop(old);
    }
    h->state = H_CACHED;
    h->freed_ms = lm_os_now_ms();
    lm_heap.huge_cached_bytes += h->size;
    cache[ncache++] = (uint32_t)(h - recs);
  }
  lm_unlock(&lm_heap.huge_lock);
  release(out, nout);
  return true;
}

void *lm_huge_realloc(struct lm_huge *h, size_t size) {
  size = page_round(size);
  if (size == h->size) return (void *)h->base;
  return reshape(h, size) ? (void *)h->base : NULL;
}

size_t lm_huge_decay(bool all) {
  struct lm_huge *out[CACHE_SLOTS];
  uint32_t nout = 0;
  uint64_t now = lm_os_now_ms();
  lm_lock(&lm_heap.huge_lock);
  for (uint32_t i = 0; i < ncache;) {
    struct lm_huge *c = &recs[cache[i]];
    if (all || now - c->freed_ms >= lm_heap.cfg.purge_ms) {
      out[nout++] = c;
      cache_drop(i);
    } else {
      i++;
    }
  }
  lm_unlock(&lm_heap.huge_lock);
  return release(out, nout);
}

