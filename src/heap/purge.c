/* Giving pages back to the OS: the decay passes (free pages freed at least
 * LEMMALLOC_PURGE_MS ago), the excess pass, trims, whole free pages inside
 * live slabs, and unmapping empty chunks. A pass takes blocks out of the
 * buddy under the lock, makes the syscalls without it, and gives them back. */
#include "arena.h"

static size_t arena_purge(struct lm_arena *a, uint32_t age, bool all, bool excess);

size_t lm_arena_purge_aged(struct lm_arena *a, uint32_t age) { return arena_purge(a, age, false, false); }

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
  return lm_is_dirty(ch, pg) && now - ch->stamp[pg] >= age;
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

static uint32_t sparse_free_mask(const struct lm_slab *sl) {
  lm_slab_t s = lm_slab_h(sl);
  uint32_t size = lm_class_size_table[sl->cls], nslots = lm_slab_nslots(s), npages = 1u << lm_class_order_table[sl->cls];
  uint32_t mask = 0;
  for (uint32_t p = 0; p < npages; p++) {
    if (sl->purged >> p & 1) continue;
    uint32_t first = (p << LM_PAGE_SHIFT) / size, last = ((p + 1) << LM_PAGE_SHIFT) / size; /* may overrun by one: harmless */
    bool all_free = true;
    for (uint32_t k = first; k <= last && k < nslots && all_free; k++)
      if ((k + 1) * size > (p << LM_PAGE_SHIFT)) all_free = !lm_slab_slot_allocated(s, k);
    if (all_free) mask |= 1u << p;
  }
  return mask;
}

/* The wholly free pages of slab sl that this pass takes (0: none), by the
 * rules above; updates the slab's marks of what it saw. */
static uint32_t sparse_pick(struct lm_slab *sl, bool all) {
  uint32_t span = 1u << lm_class_order_table[sl->cls], size = lm_class_size_table[sl->cls];
  bool sparse = (uint64_t)lm_slab_used(lm_slab_h(sl)) * size * 2 <= ((uint64_t)span << LM_PAGE_SHIFT);
  bool big = size >= LM_PAGE_SIZE;
  bool changed = sl->freed_since_check;
  if (!(all || (sparse && changed) || (big && (changed || sl->free_seen)))) return 0;
  sl->freed_since_check = 0;
  uint32_t mask = sparse_free_mask(sl);
  if (!sparse && !all) {
    uint32_t fresh = mask & ~(uint32_t)sl->free_seen;
    mask &= sl->free_seen;
    sl->free_seen = (uint16_t)fresh;
  } else {
    sl->free_seen = 0;
  }
  return mask;
}

/* Lock held on entry and exit; drops it around madvise. Walks the slabs of
 * every chunk of the arena by record (a chunk's records in use are a
 * bitmap in its header), a batch at a time. */
static size_t purge_sparse_slabs(struct lm_arena *a, bool all) {
  size_t released = 0;
  struct lm_slab *recs[SPARSE_BATCH];
  uint32_t masks[SPARSE_BATCH];
  struct lm_chunk *ch = a->chunks;
  uint32_t num = 0; /* next record number to look at in ch */
  for (;;) {
    uint32_t n = 0;
    while (ch != NULL && n < SPARSE_BATCH) {
      if (num >= LM_CHUNK_SLABS || ch->nslabs == 0) {
        ch = ch->next;
        num = 0;
        continue;
      }
      uint32_t k = num++;
      if (!(ch->slab_used[k / 64] >> (k % 64) & 1)) continue;
      struct lm_slab *sl = &ch->slab[k];
      if (sl->state == LM_SLAB_FULL && __atomic_load_n(&sl->owner, __ATOMIC_RELAXED) == NULL) {
        /* The safety net of the pending stack (slabs.c): whatever was freed
         * into a full slab of the arena's and not yet collected. */
        if (lm_slab_collect(sl)) lm_slab_collected(a, sl, lm_now32() | 1);
      }
      if (sl->state != LM_SLAB_NONFULL) continue;
      uint32_t mask = sparse_pick(sl, all);
      if (mask == 0) continue;
      a->nonfull[sl->cls] = lm_nonfull_remove(a->nonfull[sl->cls], sl);
      sl->state = LM_SLAB_PURGING;
      recs[n] = sl;
      masks[n++] = mask;
    }
    if (n == 0) return released;
    lm_unlock(&a->lock);
    for (uint32_t i = 0; i < n; i++) {
      uint32_t m = masks[i];
      while (m) {
        uint32_t p0 = (uint32_t)__builtin_ctz(m), p1 = p0;
        while (p1 < 32 && (m >> p1 & 1)) p1++;
        lm_os_purge((void *)(recs[i]->base + ((uintptr_t)p0 << LM_PAGE_SHIFT)), (size_t)(p1 - p0) << LM_PAGE_SHIFT);
        m &= ~((p1 >= 32 ? 0u : 1u << p1) - (1u << p0));
      }
    }
    lm_lock(&a->lock);
    for (uint32_t i = 0; i < n; i++) {
      struct lm_slab *sl = recs[i];
      uint32_t k = lm_popcount64(masks[i]);
      sl->purged |= (uint16_t)masks[i];
      a->dirty_pages -= k;
      a->purged_pages += k;
      released += k;
      if (lm_slab_is_empty(lm_slab_h(sl))) {
        lm_slab_emptied(a, sl, sl->free_ms);
      } else {
        sl->state = LM_SLAB_NONFULL;
        a->nonfull[sl->cls] = lm_nonfull_insert(a->nonfull[sl->cls], sl);
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
/* Spare slabs (one empty slab kept per class against ping-pong) that have
 * been spare for `age` ms go back to the buddy; the others are looked at
 * again when they will have. */
static void release_spares(struct lm_arena *a, uint32_t now, uint32_t age) {
  for (uint32_t c = 0; c < LM_NUM_CLASSES; c++) {
    struct lm_slab *sl = a->spare[c];
    if (sl == NULL) continue;
    if (now - a->spare_ms[c] >= age) {
      a->spare[c] = NULL;
      lm_slab_release_span(a, sl, a->spare_ms[c]); /* aged already: purgeable now */
    } else {
      lm_schedule_purge(a, a->spare_ms[c]);
    }
  }
}

/* The next batch of free blocks with old dirty pages, from (*ch, *pg) on,
 * taken out of the buddy (lock held). Returns how many; sets *young if
 * some dirty free pages were too young, and *again to the first block
 * taken with runs left over. */
static uint32_t take_batch(struct lm_arena *a, struct purge_rec *recs, struct lm_chunk **chp, uint32_t *pgp,
                           uint32_t now, uint32_t age, size_t keep, bool *young, struct purge_rec *again) {
  struct lm_chunk *ch = *chp;
  uint32_t pg = *pgp, n = 0;
  again->ch = NULL;
  while (ch != NULL && n < PURGE_BATCH && a->dirty_free_pages > keep) {
    if (ch->dirty_free == 0 || pg >= LM_CHUNK_PAGES) {
      ch = ch->next;
      pg = 0;
      continue;
    }
    int32_t head = lm_buddy_block_of(lm_chunk_c(ch), pg); /* merges may have moved heads */
    uint32_t h = head < 0 ? pg : (uint32_t)head, len = 1u << lm_buddy_order(lm_chunk_c(ch), h);
    pg = h + len;
    if (lm_buddy_is_allocated(lm_chunk_c(ch), h) || lm_dirty_count(ch, h, len) == 0) continue;
    struct purge_rec *r = &recs[n];
    r->ch = ch;
    r->pg = h;
    r->n = len;
    if (find_runs(r, now, age) == 0) {
      *young = true;
      continue;
    }
    if (lm_buddy_take(lm_chunk_c(ch), h) < 0) continue;
    uint32_t d = lm_dirty_count(ch, h, len);
    lm_chunk_free_add(a, ch, -(int32_t)len);
    ch->dirty_free -= d;
    a->dirty_free_pages -= d;
    if (r->more && again->ch == NULL) *again = *r;
    n++;
  }
  *chp = ch;
  *pgp = pg;
  return n;
}

/* The batch's runs are purged: mark them clean and give the blocks back. */
static size_t give_back_batch(struct lm_arena *a, struct purge_rec *recs, uint32_t n) {
  size_t released = 0;
  for (uint32_t i = 0; i < n; i++) {
    struct purge_rec *r = &recs[i];
    for (uint32_t k = 0; k < r->nruns; k++) lm_dirty_mark(r->ch, r->run_pg[k], r->run_n[k], false);
    uint32_t d = lm_dirty_count(r->ch, r->pg, r->n);
    lm_chunk_free_add(a, r->ch, (int32_t)r->n);
    r->ch->dirty_free += d;
    a->dirty_free_pages += d;
    a->dirty_pages -= r->purged;
    a->purged_pages += r->purged;
    released += r->purged;
    lm_buddy_free(lm_chunk_c(r->ch), r->pg);
    lm_chunk_freed(a, r->ch);
  }
  return released;
}

/* Old dirty pages of free buddy blocks go back to the OS, batch by batch,
 * until the arena's dirty free pages are down to `keep` (lock held on
 * entry and exit, dropped around madvise). */
static size_t purge_free_blocks(struct lm_arena *a, uint32_t now, uint32_t age, size_t keep, bool *young) {
  struct purge_rec recs[PURGE_BATCH], again;
  struct lm_chunk *ch = a->chunks;
  uint32_t pg = 0;
  size_t released = 0;
  for (;;) {
    uint32_t n = take_batch(a, recs, &ch, &pg, now, age, keep, young, &again);
    if (n == 0) return released;
    lm_unlock(&a->lock);
    for (uint32_t i = 0; i < n; i++)
      for (uint32_t k = 0; k < recs[i].nruns; k++)
        lm_os_purge((void *)(recs[i].ch->base + ((uintptr_t)recs[i].run_pg[k] << LM_PAGE_SHIFT)),
                    (size_t)recs[i].run_n[k] << LM_PAGE_SHIFT);
    lm_lock(&a->lock);
    released += give_back_batch(a, recs, n);
    /* A block whose dirty pages lie in more than PURGE_RUNS runs (a merged
     * block of pages freed at different times) is finished in this pass,
     * not one batch of runs per decay period: the scan resumes at it (its
     * purged runs are clean now, so each visit takes new ones). */
    if (again.ch != NULL) {
      ch = again.ch;
      pg = again.pg;
    }
  }
}

/* Is a record of chunk c on a pending stack? (then c stays mapped: its
 * header must not go back to the pool while the stack links through it) */
static bool records_pending(const struct lm_chunk *c) {
  for (uint32_t i = 0; i < LM_CHUNK_SLABS; i++)
    if (__atomic_load_n(&c->slab[i].pending, __ATOMIC_ACQUIRE)) return true;
  return false;
}

/* Is chunk c wholly free? The core's proven count of free pages decides
 * (lm_buddy_free_pages: exactly the pages in free blocks); the heap's own
 * count, which picks chunks on the hot paths, must agree. */
static bool chunk_empty(const struct lm_chunk *c) {
  bool empty = lm_buddy_free_pages(lm_chunk_c(c)) == LM_CHUNK_PAGES;
  if (empty != (c->free_pages == LM_CHUNK_PAGES))
    lm_heap_bug("internal error: a chunk's free page count differs from the core's", (void *)c->base);
  return empty;
}

/* Unmap empty chunks, keeping the lowest one as a reserve: only clean ones
 * (their pages aged and were purged), or every one on trim (`all`). Lock
 * held on entry and exit, dropped around the syscalls. */
static size_t unmap_empty_chunks(struct lm_arena *a, bool all) {
  size_t released = 0;
  while (a->nempty > 1) {
    struct lm_chunk *gone[32];
    uint32_t ngone = 0;
    bool kept = false;
    for (struct lm_chunk **at = &a->chunks; *at && ngone < 32;) {
      struct lm_chunk *c = *at;
      bool empty = chunk_empty(c);
      if (empty && kept && (c->dirty_free == 0 || all) && !records_pending(c)) {
        lm_chunk_unlink(a, at);
        a->dirty_free_pages -= c->dirty_free;
        a->dirty_pages -= c->dirty_free;
        gone[ngone++] = c;
        continue;
      }
      if (empty) kept = true;
      at = &c->next;
    }
    if (ngone == 0) break;
    lm_unlock(&a->lock);
    for (uint32_t i = 0; i < ngone; i++) {
      struct lm_chunk *c = gone[i];
      released += c->dirty_free;
      lm_reg_set(c->base, LM_CHUNK_SIZE, 0);
      lm_os_unmap((void *)c->base, LM_CHUNK_SIZE);
      /* The header goes back to the pool, which purges all but a page of
       * it (lm_buddy_init's contract reads nothing of the old state). */
      lm_hdr_free(c);
      lm_lock(&lm_heap.meta_lock);
      lm_heap.chunk_bytes -= LM_CHUNK_SIZE;
      lm_heap.nunmapped_chunks++;
      lm_unlock(&lm_heap.meta_lock);
    }
    lm_lock(&a->lock);
  }
  return released;
}

static size_t arena_purge(struct lm_arena *a, uint32_t age, bool all, bool excess) {
  /* One purge per arena at a time: while it holds purge_lock no chunk
   * leaves the arena's list, so the cursors of the passes stay valid across
   * the unlocked madvise windows. A decay pass does not wait for another. */
  if (all) lm_lock(&a->purge_lock);
  else if (!lm_trylock(&a->purge_lock)) return 0;
  uint32_t now = lm_now32();
  size_t released = 0;
  bool young = false; /* dirty free pages left for a later pass */
  lm_lock(&a->lock);
  if (!excess) {
    __atomic_store_n(&a->purge_due_ms, UINT64_MAX, __ATOMIC_RELAXED);
    release_spares(a, now, age);
  }
  lm_arena_collect_pending(a); /* frees into the arena's slabs: collected first */
  released += purge_free_blocks(a, now, age, excess ? a->purge_keep : 0, &young);
  /* The sparse-slab pass walks every page of the arena's slabs: once per
   * decay period at most, unless trimming. It takes whole free pages of
   * sparse slabs however recently the slab saw a free: the slabs of
   * long-lived objects see a few frees all the time (and kept 2x the live
   * bytes resident on bloat when they had to be quiet for a period), and
   * at one pass per period a page refaults at most once per period. */
  if (all || (int32_t)(now - a->sparse_due_ms) >= 0) {
    a->sparse_due_ms = now + lm_heap.cfg.purge_ms;
    released += purge_sparse_slabs(a, all);
  }
  if (released) a->npurge++;
  if (young || a->dirty_free_pages) lm_schedule_purge(a, now);
  released += unmap_empty_chunks(a, all);
  lm_unlock(&a->lock);
  lm_unlock(&a->purge_lock);
  return released;
}
