/* The slabs a thread owns: its lists of them, its inbox of slabs freed
 * into, malloc's slow path, and the ends of free's fast path that need
 * the heap's lock (thread.h has the protocol). */
#include "thread_int.h"

/* ---- the slabs a thread owns ----
 * Every slab a thread owns is on its `owned` list. Its current slab of a
 * class is the one its fast path allocates from; the others are on its
 * `avail` list of the class when they had free slots at their last
 * collection, else on no other list (full). A free into any of them pushes
 * it on the thread's inbox (once until collected); the thread drains the
 * inbox on its slow path: it collects each slab and lists those that now
 * have free slots. The free slots a thread keeps that way are bounded by
 * LEMMALLOC_TCACHE_BYTES: beyond it, and once a slab is wholly free, the
 * slab goes back to the arena, where any thread can use it. So a thread
 * that frees what it allocated, or gets its blocks freed by others, reuses
 * its own slabs without the arena's lock, and the memory it holds beyond
 * its live blocks stays bounded. All of it under the heap's lock, but for
 * the two steps of the fast paths below. */

void lm_th_set_current(struct lm_theap *t, uint32_t cls, struct lm_slab *sl) {
  __atomic_store_n(&t->slab[cls], sl, __ATOMIC_RELAXED); /* holds() reads it */
  t->cur[cls] = sl != NULL ? (struct lm_cur){lm_slab_h(sl), sl->base} : lm_th_cur_none;
  if (sl != NULL) sl->tlist = LM_TL_CURRENT;
}

static void owned_add(struct lm_theap *t, struct lm_slab *sl) {
  sl->tprev = NULL;
  sl->tnext = t->owned;
  if (t->owned) t->owned->tprev = sl;
  __atomic_store_n(&t->owned, sl, __ATOMIC_RELAXED); /* holds() reads it */
}

/* sl leaves t's lists and joins the list *give (linked by tnext). */
void lm_th_owned_drop(struct lm_theap *t, struct lm_slab *sl, struct lm_slab **give) {
  if (sl->tprev) sl->tprev->tnext = sl->tnext;
  else __atomic_store_n(&t->owned, sl->tnext, __ATOMIC_RELAXED);
  if (sl->tnext) sl->tnext->tprev = sl->tprev;
  sl->tlist = LM_TL_GIVEN;
  sl->tnext = *give;
  *give = sl;
}

static uint32_t free_bytes(const struct lm_slab *sl) {
  lm_slab_t s = lm_slab_h(sl);
  return (lm_slab_nslots(s) - lm_slab_used(s)) * lm_class_size_table[sl->cls];
}

static void avail_push(struct lm_theap *t, struct lm_slab *sl) {
  sl->tlist = LM_TL_AVAIL;
  sl->afree = free_bytes(sl);
  t->avail_free += sl->afree;
  sl->aprev = NULL;
  sl->anext = t->avail[sl->cls];
  if (sl->anext) sl->anext->aprev = sl;
  t->avail[sl->cls] = sl;
}

static void avail_remove(struct lm_theap *t, struct lm_slab *sl) {
  if (sl->aprev) sl->aprev->anext = sl->anext;
  else t->avail[sl->cls] = sl->anext;
  if (sl->anext) sl->anext->aprev = sl->aprev;
  t->avail_free -= sl->afree;
  sl->tlist = LM_TL_FULL;
}

struct lm_slab *lm_th_avail_pop(struct lm_theap *t, uint32_t cls) {
  struct lm_slab *sl = t->avail[cls];
  if (sl != NULL) avail_remove(t, sl);
  return sl;
}

/* While the free bytes t keeps on its avail lists exceed the budget, give
 * slabs back, those of class cls first. */
static void avail_trim(struct lm_theap *t, uint32_t cls, struct lm_slab **give) {
  struct lm_slab *sl;
  for (uint32_t c = cls, i = 0; t->avail_free > lm_heap.cfg.tcache_bytes && i < LM_NUM_CLASSES;) {
    if ((sl = lm_th_avail_pop(t, c)) != NULL) {
      lm_th_owned_drop(t, sl, give);
    } else {
      c = (c + 1) % LM_NUM_CLASSES;
      i++;
    }
  }
}

/* Slab sl of t's was just collected: list it if it has free slots to keep,
 * or give it back. */
static void refile(struct lm_theap *t, struct lm_slab *sl, struct lm_slab **give) {
  lm_slab_t s = lm_slab_h(sl);
  if (sl->tlist == LM_TL_CURRENT || sl->tlist == LM_TL_GIVEN || lm_slab_is_full(s)) return;
  if (sl->tlist == LM_TL_AVAIL && lm_slab_is_empty(s)) { /* emptied: back to the arena */
    avail_remove(t, sl);
    lm_th_owned_drop(t, sl, give);
    return;
  }
  if (sl->tlist == LM_TL_AVAIL) { /* listed already: recount */
    t->avail_free -= sl->afree;
    sl->afree = free_bytes(sl);
    t->avail_free += sl->afree;
    avail_trim(t, sl->cls, give);
    return;
  }
  if (!lm_th_free_list(t, sl)) lm_th_owned_drop(t, sl, give); /* full until now: listed, or given back */
}

/* A slot of slab sl of t's: lm_slab_alloc, and the check that the slot has
 * no free pending (thread.h, lm_th_taken_freed); a pending one is
 * reported, then collected, which makes the slot free once. */
static int32_t take(struct lm_slab *sl) {
  int32_t off = lm_slab_alloc(lm_slab_h(sl));
  while (off >= 0 && lm_th_taken_freed(sl, sl->cls, (uint32_t)off)) {
    lm_th_double_free((void *)(sl->base + (uint32_t)off));
    lm_slab_collect(sl);
    off = lm_slab_alloc(lm_slab_h(sl));
  }
  return off;
}

/* sl becomes t's current slab of class cls in place of the dry one (which
 * stays t's, full, on no list); a slot of it, or -1. */
static int32_t switch_current(struct lm_theap *t, uint32_t cls, struct lm_slab *sl) {
  struct lm_slab *dry = t->slab[cls];
  if (dry != NULL) dry->tlist = LM_TL_FULL;
  lm_th_set_current(t, cls, sl);
  return take(sl);
}

/* ---- the fast paths' list steps, without the lock ----
 * Inside the steal protocol's window with no thief at work (thread.h) the
 * owner may also change its own lists: a thief starts only once it has
 * seen the owner out of the window, and holds t->lock until it is done;
 * nothing else touches them. So the two list steps the fast paths need
 * most often where slabs have few slots (blocks of a few KiB, 4 to 16
 * slots a slab) take no lock, no clock read and no call into the arena:
 *   - malloc, its current slab dry: the first slab of its avail list
 *     becomes current (lm_th_malloc_next);
 *   - the owner's free into one of its full slabs (on no list): the slab
 *     joins the avail list if the budget allows (lm_th_free_list).
 * Collecting, the arena and giving back stay on the slow paths. */

void *lm_th_malloc_next(struct lm_theap *t, uint32_t cls) {
  struct lm_slab *sl = t->avail[cls];
  if (sl == NULL) return NULL;
  avail_remove(t, sl);
  int32_t off = switch_current(t, cls, sl);
  return off >= 0 ? (void *)(sl->base + (uint32_t)off) : NULL;
}

bool lm_th_free_list(struct lm_theap *t, struct lm_slab *sl) {
  if (sl->tlist != LM_TL_FULL || lm_slab_is_empty(lm_slab_h(sl)) ||
      t->avail_free + free_bytes(sl) > lm_heap.cfg.tcache_bytes)
    return false;
  avail_push(t, sl);
  return true;
}

/* Take the inbox: collect t's slabs on it, pass the others on. */
void lm_th_inbox_drain(struct lm_theap *t, struct lm_slab **give) {
  __atomic_store_n(&t->self_pushed, 0, __ATOMIC_RELAXED);
  struct lm_slab *sl = __atomic_exchange_n(&t->inbox, NULL, __ATOMIC_ACQUIRE);
  while (sl != NULL) {
    struct lm_slab *next = sl->pnext;
    __atomic_store_n(&sl->pending, 0, __ATOMIC_SEQ_CST);
    if (__atomic_load_n(&sl->owner, __ATOMIC_RELAXED) == t) {
      lm_slab_collect(sl);
      refile(t, sl, give);
    } else {
      lm_slab_notify(sl); /* given back since it was pushed */
    }
    sl = next;
  }
}

/* The same for a heap that owns nothing (recycled, or exiting). */
void lm_th_inbox_forward(struct lm_theap *t) {
  struct lm_slab *sl = __atomic_exchange_n(&t->inbox, NULL, __ATOMIC_ACQUIRE);
  while (sl != NULL) {
    struct lm_slab *next = sl->pnext;
    __atomic_store_n(&sl->pending, 0, __ATOMIC_SEQ_CST);
    lm_slab_notify(sl);
    sl = next;
  }
}

/* A slab of class cls with a free slot for t to allocate from: one of its
 * own, or the arena's. The dry current slab stays t's (full). */
static struct lm_slab *next_slab(struct lm_theap *t, uint32_t cls, struct lm_slab **give) {
  lm_th_inbox_drain(t, give);
  struct lm_slab *sl;
  while ((sl = lm_th_avail_pop(t, cls)) != NULL && lm_slab_is_full(lm_slab_h(sl))) {
  }
  if (sl == NULL && (sl = lm_arena_slab_take(t->arena, t, cls)) != NULL) owned_add(t, sl);
  return sl;
}

/* ---- malloc's slow path ---- */

void *lm_th_small_slow(uint32_t cls) {
  struct lm_theap *t = lm_th_get();
  void *p = NULL;
  if (t == NULL) { /* no thread heap: the arena's own slab, under its lock */
    p = lm_arena_alloc_one(&lm_heap.arenas[0], cls);
    if (p != NULL) {
      __atomic_fetch_add(&lm_th_shared.nmalloc[cls], 1, __ATOMIC_RELAXED);
      __atomic_fetch_add(&lm_th_shared.nslow, 1, __ATOMIC_RELAXED);
    }
    lm_heap_tick();
    return p;
  }
  uint64_t now = lm_os_now_ms();
  lm_lock(&t->lock); /* waits for a thief at work on this heap */
  __atomic_store_n(&t->slow_ms, (uint32_t)now, __ATOMIC_RELAXED);
  struct lm_slab *sl = t->slab[cls], *give = NULL;
  int32_t off = -1;
  if (sl != NULL) {
    /* The slots freed into the slab since the last collection come back
     * first: a thread that frees what it allocated keeps using one slab. */
    lm_slab_collect(sl);
    off = take(sl);
  }
  if (off < 0) {
    struct lm_slab *next = next_slab(t, cls, &give);
    if (next == NULL) {
      /* Out of memory (or of slab records): what this thread holds goes
       * back first, free slots of other classes included, then once more. */
      if (give != NULL) lm_arena_slabs_give(t->arena, give, (uint32_t)now);
      give = NULL;
      lm_th_give_back(t, (uint32_t)now);
      sl = NULL;
      if ((next = lm_arena_slab_take(t->arena, t, cls)) != NULL) owned_add(t, next);
    }
    if (next != NULL) {
      off = switch_current(t, cls, next);
      sl = next;
    }
  }
  if (give != NULL) lm_arena_slabs_give(t->arena, give, (uint32_t)now);
  lm_unlock(&t->lock);
  if (off >= 0) {
    p = (void *)(sl->base + (uint32_t)off);
    LM_RELAXED_ADD(t->c.nmalloc[cls], 1);
    LM_RELAXED_ADD(t->c.nslow, 1);
  }
  lm_heap_tick_at(now);
  return p;
}

/* ---- the end of free's fast path ---- */

/* A thread's own frees push its slabs on its own inbox only when they
 * could not go straight into the core (a thief was at work, or the slow
 * path classified the pointer); one that does so repeatedly, and then may
 * block or only free for a while, drains its inbox every LM_TH_INBOX
 * such pushes, so that the slabs those frees emptied go back at once. */
void lm_th_free_notify(struct lm_slab *sl) {
  struct lm_theap *t = lm_th;
  if (lm_slab_notify(sl) != t || t == &lm_th_none) return;
  uint32_t n = __atomic_load_n(&t->self_pushed, __ATOMIC_RELAXED) + 1;
  __atomic_store_n(&t->self_pushed, n, __ATOMIC_RELAXED); /* a thief may reset it: a count lost */
  if (n < LM_TH_INBOX) return;
  struct lm_slab *give = NULL;
  lm_lock(&t->lock);
  lm_th_inbox_drain(t, &give);
  if (give != NULL) lm_arena_slabs_give(t->arena, give, lm_now32());
  lm_unlock(&t->lock);
}

/* The owner freed a slot of sl, not its current slab, and could not file
 * it without the lock (thread.h, lm_th_free_own): on its avail list if the
 * budget allows, else back to the arena; and the avail lists trimmed to
 * the budget. */
void lm_th_free_file(struct lm_theap *t, struct lm_slab *sl) {
  struct lm_slab *give = NULL;
  lm_lock(&t->lock);
  if (__atomic_load_n(&sl->owner, __ATOMIC_RELAXED) == t) { /* not stolen since */
    uint32_t cls = sl->cls;
    refile(t, sl, &give);
    avail_trim(t, cls, &give);
  }
  if (give != NULL) lm_arena_slabs_give(t->arena, give, lm_now32());
  lm_unlock(&t->lock);
}

void lm_th_double_free(void *p) { lm_heap_report(LM_CALL_FREE, LM_BAD_FREED, p); }

bool lm_th_free_slot(struct lm_slab *sl, uint32_t slot) {
  int cls = lm_th_free_remote(sl, slot);
  if (cls < 0) return false;
  struct lm_theap *t = lm_th;
  if (t != &lm_th_none) LM_RELAXED_ADD(t->c.nfree[cls], 1);
  else __atomic_fetch_add(&lm_th_shared.nfree[cls], 1, __ATOMIC_RELAXED);
  return true;
}
