/* A thread's slabs and cached blocks going back to the arenas: all of
 * them (trim, exit, an idle thread stolen from), or those its own decay
 * finds unused. */
#include "thread_int.h"

/* ---- giving a thread's slabs and cached blocks back ---- */

/* Everything t holds goes back to the arenas (t->lock held). Its inbox is
 * drained first: what it holds for others is passed on. */
void lm_th_give_back(struct lm_theap *t, uint32_t stamp) {
  struct lm_slab *give = NULL;
  lm_th_inbox_drain(t, &give);
  while (t->owned != NULL) lm_th_owned_drop(t, t->owned, &give);
  for (uint32_t c = 0; c < LM_NUM_CLASSES; c++) {
    lm_th_set_current(t, c, NULL);
    t->avail[c] = NULL;
  }
  t->avail_free = 0;
  if (give != NULL) lm_arena_slabs_give(t->arena, give, stamp);
  while (t->nlarge > 0) lm_th_large_drop(t, t->nlarge - 1);
}

void lm_th_flush_self(void) {
  struct lm_theap *t = lm_th;
  if (t == &lm_th_none) return;
  lm_lock(&t->lock);
  lm_th_give_back(t, lm_now32());
  lm_unlock(&t->lock);
}

/* The calling thread's own decay: the slabs with free slots of a class its
 * mallocs have not touched for a decay period (its current one and those
 * on its avail list), and a cached block older than that, go back to the
 * arena, where others can use their free slots and the purge can reach
 * their pages. (Idle threads are stolen from instead, below.) */
void lm_th_decay_self(uint32_t now, uint32_t age) {
  struct lm_theap *t = lm_th;
  if (t == &lm_th_none) return;
  __atomic_store_n(&t->slow_ms, now, __ATOMIC_RELAXED); /* busy: not for thieves (and the large cache's stamp) */
  if (now - t->decay_ms < age) return;
  t->decay_ms = now;
  struct lm_slab *give = NULL;
  lm_lock(&t->lock); /* a thief may be giving the slabs back */
  lm_th_inbox_drain(t, &give);
  for (uint32_t c = 0; c < LM_NUM_CLASSES; c++) {
    uint64_t n = t->c.nmalloc[c];
    if (n == t->decay_seen[c]) {
      struct lm_slab *sl;
      while ((sl = lm_th_avail_pop(t, c)) != NULL) lm_th_owned_drop(t, sl, &give);
      if ((sl = t->slab[c]) != NULL && !lm_slab_is_full(lm_slab_h(sl))) {
        lm_th_set_current(t, c, NULL);
        lm_th_owned_drop(t, sl, &give);
      }
    }
    t->decay_seen[c] = n;
  }
  if (give != NULL) lm_arena_slabs_give(t->arena, give, lm_now32());
  for (uint32_t i = t->nlarge; i-- > 0;)
    if (now - t->large[i].age >= age) lm_th_large_drop(t, i);
  lm_unlock(&t->lock);
}

/* Steal from t (thread.h): true if t held nothing or gave it all back. */
static bool steal(struct lm_theap *t) {
  if (!lm_trylock(&t->lock)) return false; /* its owner is on a slow path: not idle */
  bool done = false;
  __atomic_store_n(&t->steal, 1, __ATOMIC_SEQ_CST);
#ifdef LM_TH_SC
  bool fenced = true;
#else
  bool fenced = lm_os_membarrier();
#endif
  if (fenced && __atomic_load_n(&t->busy, __ATOMIC_SEQ_CST) == 0) {
    lm_th_give_back(t, __atomic_load_n(&t->slow_ms, __ATOMIC_RELAXED)); /* idle since */
    done = true;
  }
  __atomic_store_n(&t->steal, 0, __ATOMIC_RELEASE);
  lm_unlock(&t->lock);
  return done;
}

/* Does t hold anything worth taking back? (a racy look: a hint only) */
static bool holds(const struct lm_theap *t) {
  return __atomic_load_n(&t->nlarge, __ATOMIC_RELAXED) || __atomic_load_n(&t->owned, __ATOMIC_RELAXED) ||
         __atomic_load_n(&t->inbox, __ATOMIC_RELAXED);
}

bool lm_th_holding(void) {
#ifndef LM_TH_SC
  if (lm_os_membarrier_refused()) return false; /* nothing can be stolen: only exits give back */
#endif
  bool any = false;
  lm_lock(&lm_heap.meta_lock);
  for (struct lm_theap *t = lm_th_list; t != NULL && !any; t = t->next) any = holds(t);
  lm_unlock(&lm_heap.meta_lock);
  return any;
}

void lm_th_reclaim(uint32_t now, uint32_t age) {
  enum { BATCH = 64 };
  struct lm_theap *pick[BATCH];
  uint32_t n = 0;
  struct lm_theap *self = lm_th;
  lm_lock(&lm_heap.meta_lock);
  for (struct lm_theap *t = lm_th_list; t != NULL && n < BATCH; t = t->next)
    if (t != self && now - __atomic_load_n(&t->slow_ms, __ATOMIC_RELAXED) >= age && holds(t)) pick[n++] = t;
  lm_unlock(&lm_heap.meta_lock);
  /* A heap picked may have exited since: its memory stays (the pool never
   * frees it), and an exited heap holds nothing. */
  for (uint32_t i = 0; i < n; i++) steal(pick[i]);
}
