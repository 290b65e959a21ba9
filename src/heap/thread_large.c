/* A thread's cache of freed large blocks (thread.h, lm_th_large_get and
 * lm_th_large_put). */
#include "thread_int.h"

/* ---- the cache of freed large blocks ----
 * A run freed by this thread is kept (its pagemap head marked CACHED, so
 * that a second free or a realloc of it is caught) for this thread's next
 * malloc of as many pages, or of up to a fifth fewer (a run of 5 pages
 * serves 20 KiB requests and, when none of 4 is cached, 16 KiB + 1 B): a
 * malloc/free loop of large blocks then takes no lock and no syscall. At most LM_TH_LARGE runs and
 * LEMMALLOC_TCACHE_BYTES bytes; the oldest go back to their arena first,
 * and an idle thread's go back at the decay. */

/* Entry i leaves the cache (its owner inside the steal window, or a thief
 * or the owner under t->lock); nlarge and large_bytes are read by others
 * (holds, lm_th_totals), so they change by atomic stores. */
static void large_remove(struct lm_theap *t, uint32_t i) {
  uint32_t n = t->nlarge - 1;
  LM_RELAXED_ADD(t->large_bytes, -((size_t)t->large[i].pages << LM_PAGE_SHIFT));
  t->large[i] = t->large[n];
  __atomic_store_n(&t->nlarge, n, __ATOMIC_RELAXED);
}

void lm_th_large_drop(struct lm_theap *t, uint32_t i) {
  struct lm_large_ent e = t->large[i];
  large_remove(t, i);
  struct lm_chunk *ch = (struct lm_chunk *)lm_reg_lookup(e.p);
  lm_arena_free_large(ch, e.p, LM_LARGE_FROM_CACHE, e.age);
}

/* The owner's get and put run inside the steal protocol's window, as its
 * small mallocs do (thread.h), not under t->lock: a thief that takes the
 * cache (lm_th_give_back) holds that lock and has seen the owner out of the
 * window; an owner that finds a thief at work passes the cache by. */

/* A cached run for `pages` pages: of exactly as many, else the smallest of
 * at most a quarter more (its usable size is its own, in *got). */
void *lm_th_large_get(uint32_t pages, uint32_t *got) {
  struct lm_theap *t = lm_th;
  if (t == &lm_th_none || __atomic_load_n(&t->nlarge, __ATOMIC_RELAXED) == 0) return NULL;
  uintptr_t a = 0;
  LM_TH_ENTER(t);
  if (lm_likely(!LM_TH_STOLEN(t))) {
    uint32_t best = LM_TH_LARGE, most = pages + pages / 4;
    for (uint32_t i = t->nlarge; i-- > 0;) {
      uint32_t n = t->large[i].pages;
      if (n >= pages && n <= most && (best == LM_TH_LARGE || n < t->large[best].pages)) {
        best = i;
        if (n == pages) break;
      }
    }
    if (best < LM_TH_LARGE) {
      a = t->large[best].p;
      *got = t->large[best].pages;
      large_remove(t, best);
      lm_large_set_live((struct lm_chunk *)lm_reg_lookup(a), a, *got);
      LM_RELAXED_ADD(t->c.large_hits, 1);
    }
  }
  LM_TH_LEAVE(t);
  return (void *)a;
}

/* Stamped with the thread's last slow path, not the clock (a clock read
 * costs more than the rest of the call): a run looks older than it is by
 * at most the time since then, so it may only leave the cache sooner. */
enum lm_put lm_th_large_put(struct lm_chunk *ch, uintptr_t p, uint32_t pages) {
  struct lm_theap *t = lm_th;
  size_t bytes = (size_t)pages << LM_PAGE_SHIFT, budget = lm_heap.cfg.tcache_bytes;
  if (t == &lm_th_none || bytes > budget) return LM_PUT_NOT;
  if (!lm_large_set_cached(ch, p, pages)) return LM_PUT_BAD;
  struct lm_large_ent out[LM_TH_LARGE + 1]; /* what leaves the cache, freed after the window */
  uint32_t nout = 0;
  uint32_t now = __atomic_load_n(&t->slow_ms, __ATOMIC_RELAXED);
  LM_TH_ENTER(t);
  if (lm_likely(!LM_TH_STOLEN(t))) {
    while (t->nlarge > 0 && (t->nlarge == LM_TH_LARGE || t->large_bytes + bytes > budget)) {
      uint32_t old = 0;
      for (uint32_t i = 1; i < t->nlarge; i++)
        if ((int32_t)(t->large[i].age - t->large[old].age) < 0) old = i;
      out[nout++] = t->large[old];
      large_remove(t, old);
    }
    t->large[t->nlarge] = (struct lm_large_ent){p, pages, now};
    __atomic_store_n(&t->nlarge, t->nlarge + 1, __ATOMIC_RELAXED);
    LM_RELAXED_ADD(t->large_bytes, bytes);
  } else {
    out[nout++] = (struct lm_large_ent){p, pages, now}; /* a thief is at work: straight back */
  }
  LM_TH_LEAVE(t);
  for (uint32_t i = 0; i < nout; i++)
    lm_arena_free_large((struct lm_chunk *)lm_reg_lookup(out[i].p), out[i].p, LM_LARGE_FROM_CACHE, out[i].age);
  return nout ? LM_PUT_SPILLED : LM_PUT_KEPT;
}
