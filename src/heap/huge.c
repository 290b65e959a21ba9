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

#define CACHE_SLOTS 8
#define RECS_PER_BATCH 64 /* records taken from the metadata pool at a time */
enum { H_UNUSED, H_LIVE, H_CACHED };

/* Records come from the metadata pool, which is never unmapped (a stale
 * registry entry still points at a readable record), and are recycled
 * through a free list: as many live huge blocks as the OS will map. */
static struct lm_huge *rec_free;                    /* huge_lock */
static struct lm_huge *cache[CACHE_SLOTS];          /* huge_lock */
static uint32_t ncache;

static uintptr_t tag(struct lm_huge *h) { return (uintptr_t)h | LM_REG_HUGE; }

static size_t page_round(size_t n) { return (n + LM_PAGE_SIZE - 1) & ~(size_t)(LM_PAGE_SIZE - 1); }

static void rec_put(struct lm_huge *h) { /* huge_lock */
  h->state = H_UNUSED;
  h->next = rec_free;
  rec_free = h;
}

/* A free record, or NULL if the pool cannot grow. Takes huge_lock. */
static struct lm_huge *rec_get(void) {
  for (;;) {
    lm_lock(&lm_heap.huge_lock);
    struct lm_huge *h = rec_free;
    if (h != NULL) rec_free = h->next;
    lm_unlock(&lm_heap.huge_lock);
    if (h != NULL) return h;
    struct lm_huge *batch = lm_meta_alloc(RECS_PER_BATCH * sizeof *batch);
    if (batch == NULL) return NULL;
    lm_vg_hide(batch, RECS_PER_BATCH * sizeof *batch); /* base == the block: not a leak */
    lm_lock(&lm_heap.huge_lock);
    for (uint32_t i = 0; i < RECS_PER_BATCH; i++) rec_put(&batch[i]);
    lm_unlock(&lm_heap.huge_lock);
  }
}

static void cache_drop(uint32_t i) { /* huge_lock */
  lm_heap.huge_cached_bytes -= cache[i]->size;
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
    struct lm_huge *c = cache[i];
    if (c->base & (align - 1)) continue;
    if (c->size >= size) {
      if (c->size - size <= size + LM_CHUNK_SIZE && (best == LM_NONE || c->size < cache[best]->size))
        best = i;
    } else if (align == LM_CHUNK_SIZE && (below == LM_NONE || c->size > cache[below]->size)) {
      below = i;
    }
  }
  uint32_t pick = best != LM_NONE ? best : below;
  if (pick != LM_NONE) {
    h = cache[pick];
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
    if (m == NULL && lm_heap_reclaim() > 0) m = lm_os_map(size, align);
    if (m == NULL) return NULL;
    *zeroed = true;
    if ((h = rec_get()) != NULL) {
      lm_lock(&lm_heap.huge_lock);
      h->base = (uintptr_t)m;
      h->size = size;
      h->state = H_LIVE;
      lm_heap.huge_live_bytes += size;
      lm_unlock(&lm_heap.huge_lock);
    }
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

/* The classifier found h live at p; under the lock it is checked again (a
 * second free racing with the first loses here: false, the caller reports
 * it). */
bool lm_huge_free(struct lm_huge *h, uintptr_t p) {
  struct lm_huge *out[CACHE_SLOTS + 1];
  uint32_t nout = 0;
  lm_lock(&lm_heap.huge_lock);
  if (h->state != H_LIVE || p != h->base) {
    lm_unlock(&lm_heap.huge_lock);
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
        if (cache[i]->freed_ms < cache[old]->freed_ms) old = i;
      out[nout++] = cache[old];
      cache_drop(old);
    }
    h->state = H_CACHED;
    h->freed_ms = lm_os_now_ms();
    lm_heap.huge_cached_bytes += h->size;
    cache[ncache++] = h;
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
    struct lm_huge *c = cache[i];
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

