/* Thread heaps: creation, malloc's slow path, the cache of large blocks,
 * stealing from idle threads, thread exit, counters. The protocol is
 * described in thread.h. */
#include "thread.h"
#include "arena.h"
#include "vg.h"
#include <stddef.h>
#include <string.h>

/* The heap of threads with none. Its steal flag is always set, so that its
 * fast path never touches a slab: it is right from the first malloc in the
 * process, before any initialization (a library's constructor may run
 * before lemmalloc's). */
struct lm_theap lm_th_none = {.steal = 1};
__thread struct lm_theap *lm_th __attribute__((tls_model("initial-exec"))) = &lm_th_none;

/* A slab that is always full (one slot, taken): a thread heap's current
 * slab of every class it has none of, so that the fast path needs no test.
 * The core's own functions make it so and never write it again (a full
 * slab's lm_slab_alloc assigns nothing). */
static struct lm_slab slab_full;
struct lm_cur lm_th_cur_none;

enum { TH_NONE, TH_CREATING, TH_LIVE, TH_DEAD, TH_HEAPLESS };
static __thread int th_state __attribute__((tls_model("initial-exec")));
static pthread_key_t th_key;
static bool owning;                      /* threads own slabs */
static unsigned next_arena;
/* under meta_lock */
static struct lm_theap *th_list, *th_pool;
static struct lm_thcount retired;
/* calls served with no thread heap: atomic adds */
static struct lm_thcount shared;

static void th_exit(void *arg);
static void inbox_forward(struct lm_theap *t);
static void give_back(struct lm_theap *t, uint32_t stamp);

void lm_th_init(void) {
  lm_slab_t h = lm_slab_h(&slab_full);
  lm_slab_init(h, LM_QUANTUM, 1);
  if (lm_slab_alloc(h) < 0) lm_heap_bug("internal error: the full slab is not full", &slab_full);
  lm_th_cur_none = (struct lm_cur){h, 0};
  /* Under valgrind every call goes through the slow paths, which tell
   * memcheck about each block (vg.h). */
  owning = lm_heap.cfg.tcache_bytes != 0 && !lm_vg_on;
#ifdef LM_HAVE_TRACE
  /* A traced run records every call, and the inline fast paths carry no
   * trace hook (api.h): threads then own no slabs, so every call takes a
   * slow path, which records it. */
  const char *trace = lm_os_getenv("LEMMALLOC_TRACE");
  if (trace != NULL && *trace != '\0') owning = false;
#endif
  pthread_key_create(&th_key, th_exit);
}

static struct lm_arena *pick_arena(void) {
  unsigned n = __atomic_load_n(&lm_heap.narenas, __ATOMIC_RELAXED);
  return &lm_heap.arenas[__atomic_fetch_add(&next_arena, 1, __ATOMIC_RELAXED) % (n ? n : 1)];
}

struct lm_theap *lm_th_get(void) {
  struct lm_theap *t = lm_th;
  if (t != &lm_th_none) return t;
  if (th_state != TH_NONE) return NULL; /* being created (nested call), exited or heapless */
  if (!owning) { /* threads own nothing: only counted */
    th_state = TH_HEAPLESS;
    __atomic_fetch_add(&shared.threads, 1, __ATOMIC_RELAXED);
    return NULL;
  }
  th_state = TH_CREATING;
  lm_lock(&lm_heap.meta_lock);
  if ((t = th_pool) != NULL) th_pool = t->next;
  lm_unlock(&lm_heap.meta_lock);
  if (t == NULL && (t = lm_meta_alloc(sizeof *t)) != NULL) lm_lock_reinit(&t->lock);
  if (t == NULL) {
    th_state = TH_NONE;
    return NULL;
  }
  /* A recycled heap may still have a thief at work on it, one that picked
   * it before its last owner exited (lm_th_reclaim): its lock, never
   * reset, waits for it. Its inbox may still get slabs its last owner
   * gave back (frees that read the owner before it changed): passed on. */
  lm_lock(&t->lock);
  memset(t, 0, offsetof(struct lm_theap, lock));
  inbox_forward(t);
  for (uint32_t c = 0; c < LM_NUM_CLASSES; c++) t->cur[c] = lm_th_cur_none;
  t->c.threads = 1;
  t->arena = pick_arena();
  t->slow_ms = t->decay_ms = lm_now32();
  lm_unlock(&t->lock);
  lm_lock(&lm_heap.meta_lock);
  t->next = th_list;
  if (th_list) th_list->prev = t;
  th_list = t;
  lm_unlock(&lm_heap.meta_lock);
  /* May allocate (glibc, for keys >= 32): the nested call sees CREATING and
   * is served without a heap. */
  pthread_setspecific(th_key, t);
  lm_th = t;
  th_state = TH_LIVE;
  return t;
}

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
 * its live blocks stays bounded. All of it under the heap's lock. */

static void set_current(struct lm_theap *t, uint32_t cls, struct lm_slab *sl) {
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
static void owned_drop(struct lm_theap *t, struct lm_slab *sl, struct lm_slab **give) {
  if (sl->tprev) sl->tprev->tnext = sl->tnext;
  else __atomic_store_n(&t->owned, sl->tnext, __ATOMIC_RELAXED);
  if (sl->tnext) sl->tnext->tprev = sl->tprev;
  sl->tlist = LM_TL_GIVEN;
  sl->tnext = *give;
  *give = sl;
}

static uint32_t free_bytes(const struct lm_slab *sl) {
  lm_slab_t s = lm_slab_h(sl);
  return (lm_slab_nslots(s) - lm_slab_used(s)) * lm_class_bytes[sl->cls];
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

static struct lm_slab *avail_pop(struct lm_theap *t, uint32_t cls) {
  struct lm_slab *sl = t->avail[cls];
  if (sl != NULL) avail_remove(t, sl);
  return sl;
}

/* While the free bytes t keeps on its avail lists exceed the budget, give
 * slabs back, those of class cls first. */
static void avail_trim(struct lm_theap *t, uint32_t cls, struct lm_slab **give) {
  struct lm_slab *sl;
  for (uint32_t c = cls, i = 0; t->avail_free > lm_heap.cfg.tcache_bytes && i < LM_NUM_CLASSES;) {
    if ((sl = avail_pop(t, c)) != NULL) {
      owned_drop(t, sl, give);
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
    owned_drop(t, sl, give);
    return;
  }
  if (sl->tlist == LM_TL_AVAIL) { /* listed already: recount */
    t->avail_free -= sl->afree;
    sl->afree = free_bytes(sl);
    t->avail_free += sl->afree;
    avail_trim(t, sl->cls, give);
    return;
  }
  if (!lm_slab_is_empty(s) && t->avail_free + free_bytes(sl) <= lm_heap.cfg.tcache_bytes) avail_push(t, sl);
  else owned_drop(t, sl, give);
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

/* Take the inbox: collect t's slabs on it, pass the others on. */
static void inbox_drain(struct lm_theap *t, struct lm_slab **give) {
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
static void inbox_forward(struct lm_theap *t) {
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
  inbox_drain(t, give);
  struct lm_slab *sl;
  while ((sl = avail_pop(t, cls)) != NULL && lm_slab_is_full(lm_slab_h(sl))) {
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
      __atomic_fetch_add(&shared.nmalloc[cls], 1, __ATOMIC_RELAXED);
      __atomic_fetch_add(&shared.nslow, 1, __ATOMIC_RELAXED);
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
      give_back(t, (uint32_t)now);
      sl = NULL;
      if ((next = lm_arena_slab_take(t->arena, t, cls)) != NULL) owned_add(t, next);
    }
    if (next != NULL) {
      if (sl != NULL) sl->tlist = LM_TL_FULL;
      set_current(t, cls, next);
      off = take(next);
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
static void notified(struct lm_slab *sl) {
  struct lm_theap *t = lm_th;
  if (lm_slab_notify(sl) != t || t == &lm_th_none) return;
  uint32_t n = __atomic_load_n(&t->self_pushed, __ATOMIC_RELAXED) + 1;
  __atomic_store_n(&t->self_pushed, n, __ATOMIC_RELAXED); /* a thief may reset it: a count lost */
  if (n < LM_TH_INBOX) return;
  struct lm_slab *give = NULL;
  lm_lock(&t->lock);
  inbox_drain(t, &give);
  if (give != NULL) lm_arena_slabs_give(t->arena, give, lm_now32());
  lm_unlock(&t->lock);
}

void lm_th_free_notify(struct lm_slab *sl) { notified(sl); }

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
  if (lm_th_slot_freed(sl, slot)) return false;
  uint64_t bit = (uint64_t)1 << (slot % 64);
  uint32_t cls = sl->cls; /* before the free is published (thread.h) */
  if (__atomic_fetch_or(&sl->freed[slot / 64], bit, __ATOMIC_SEQ_CST) & bit) return false;
  if (!__atomic_load_n(&sl->pending, __ATOMIC_SEQ_CST)) notified(sl);
  struct lm_theap *t = lm_th;
  if (t != &lm_th_none) LM_RELAXED_ADD(t->c.nfree[cls], 1);
  else __atomic_fetch_add(&shared.nfree[cls], 1, __ATOMIC_RELAXED);
  return true;
}

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

static void large_drop(struct lm_theap *t, uint32_t i) {
  struct lm_large_ent e = t->large[i];
  large_remove(t, i);
  struct lm_chunk *ch = (struct lm_chunk *)lm_reg_lookup(e.p);
  lm_arena_free_large(ch, e.p, LM_LARGE_FROM_CACHE, e.age);
}

/* The owner's get and put run inside the steal protocol's window, as its
 * small mallocs do (thread.h), not under t->lock: a thief that takes the
 * cache (give_back) holds that lock and has seen the owner out of the
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

/* ---- giving a thread's slabs and cached blocks back ---- */

/* Everything t holds goes back to the arenas (t->lock held). Its inbox is
 * drained first: what it holds for others is passed on. */
static void give_back(struct lm_theap *t, uint32_t stamp) {
  struct lm_slab *give = NULL;
  inbox_drain(t, &give);
  while (t->owned != NULL) owned_drop(t, t->owned, &give);
  for (uint32_t c = 0; c < LM_NUM_CLASSES; c++) {
    set_current(t, c, NULL);
    t->avail[c] = NULL;
  }
  t->avail_free = 0;
  if (give != NULL) lm_arena_slabs_give(t->arena, give, stamp);
  while (t->nlarge > 0) large_drop(t, t->nlarge - 1);
}

void lm_th_flush_self(void) {
  struct lm_theap *t = lm_th;
  if (t == &lm_th_none) return;
  lm_lock(&t->lock);
  give_back(t, lm_now32());
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
  inbox_drain(t, &give);
  for (uint32_t c = 0; c < LM_NUM_CLASSES; c++) {
    uint64_t n = t->c.nmalloc[c];
    if (n == t->decay_seen[c]) {
      struct lm_slab *sl;
      while ((sl = avail_pop(t, c)) != NULL) owned_drop(t, sl, &give);
      if ((sl = t->slab[c]) != NULL && !lm_slab_is_full(lm_slab_h(sl))) {
        set_current(t, c, NULL);
        owned_drop(t, sl, &give);
      }
    }
    t->decay_seen[c] = n;
  }
  if (give != NULL) lm_arena_slabs_give(t->arena, give, lm_now32());
  for (uint32_t i = t->nlarge; i-- > 0;)
    if (now - t->large[i].age >= age) large_drop(t, i);
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
    give_back(t, __atomic_load_n(&t->slow_ms, __ATOMIC_RELAXED)); /* idle since */
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

void lm_th_reclaim(uint32_t now, uint32_t age) {
  enum { BATCH = 64 };
  struct lm_theap *pick[BATCH];
  uint32_t n = 0;
  struct lm_theap *self = lm_th;
  lm_lock(&lm_heap.meta_lock);
  for (struct lm_theap *t = th_list; t != NULL && n < BATCH; t = t->next)
    if (t != self && now - __atomic_load_n(&t->slow_ms, __ATOMIC_RELAXED) >= age && holds(t)) pick[n++] = t;
  lm_unlock(&lm_heap.meta_lock);
  /* A heap picked may have exited since: its memory stays (the pool never
   * frees it), and an exited heap holds nothing. */
  for (uint32_t i = 0; i < n; i++) steal(pick[i]);
}

/* ---- thread exit ---- */

static void add(struct lm_thcount *to, const struct lm_thcount *from);

static void th_exit(void *arg) {
  struct lm_theap *t = arg;
  lm_th = &lm_th_none;
  th_state = TH_DEAD;
  lm_lock(&t->lock);
  give_back(t, lm_now32());
  inbox_forward(t); /* frees that read the owner before the slabs went back */
  lm_unlock(&t->lock);
  lm_lock(&lm_heap.meta_lock);
  add(&retired, &t->c); /* its counts stay in the totals */
  if (t->prev) t->prev->next = t->next;
  else th_list = t->next;
  if (t->next) t->next->prev = t->prev;
  t->next = th_pool;
  th_pool = t;
  lm_unlock(&lm_heap.meta_lock);
}

/* In a fork child only the forking thread survives, and the others may
 * have stopped anywhere. The arenas have taken every thread's slab back
 * already (lm_arena_fork_child: a walk of the records, trusting no thread's
 * lists) and cleared every stack; here the heaps follow: the forking
 * thread's owns no slab any more, and keeps its cached large blocks; the
 * others' are recycled, their cached blocks left where they are (leaked:
 * a dead thread may have been changing its cache). Locks are made anew. */
void lm_th_fork_child(void) {
  struct lm_theap *self = lm_th != &lm_th_none ? lm_th : NULL;
  for (struct lm_theap *t = th_pool; t != NULL; t = t->next) {
    lm_lock_reinit(&t->lock);
    t->inbox = NULL;
  }
  struct lm_theap *t = th_list;
  th_list = NULL;
  while (t) {
    struct lm_theap *next = t->next;
    lm_lock_reinit(&t->lock);
    t->inbox = NULL;
    __atomic_store_n(&t->owned, NULL, __ATOMIC_RELAXED);
    for (uint32_t c = 0; c < LM_NUM_CLASSES; c++) {
      set_current(t, c, NULL);
      t->avail[c] = NULL;
    }
    t->avail_free = 0;
    if (t == self) {
      t->next = t->prev = NULL;
      th_list = t;
    } else {
      t->busy = t->steal = 0;
      t->nlarge = 0;
      t->large_bytes = 0;
      add(&retired, &t->c);
      t->next = th_pool;
      th_pool = t;
    }
    t = next;
  }
}

/* ---- counters ---- */

static void add(struct lm_thcount *to, const struct lm_thcount *from) {
  for (uint32_t c = 0; c < LM_NUM_CLASSES; c++) {
    to->nmalloc[c] += __atomic_load_n(&from->nmalloc[c], __ATOMIC_RELAXED);
    to->nfree[c] += __atomic_load_n(&from->nfree[c], __ATOMIC_RELAXED);
  }
  to->nslow += __atomic_load_n(&from->nslow, __ATOMIC_RELAXED);
  to->nother += __atomic_load_n(&from->nother, __ATOMIC_RELAXED);
  to->other_bytes += __atomic_load_n(&from->other_bytes, __ATOMIC_RELAXED);
  to->nfree_other += __atomic_load_n(&from->nfree_other, __ATOMIC_RELAXED);
  to->free_other_bytes += __atomic_load_n(&from->free_other_bytes, __ATOMIC_RELAXED);
  to->large_hits += __atomic_load_n(&from->large_hits, __ATOMIC_RELAXED);
  to->threads += __atomic_load_n(&from->threads, __ATOMIC_RELAXED);
}

void lm_th_totals(struct lm_thcount *out, size_t *cached_bytes) {
  memset(out, 0, sizeof *out);
  size_t cached = 0;
  lm_lock(&lm_heap.meta_lock);
  add(out, &retired);
  for (struct lm_theap *t = th_list; t; t = t->next) {
    add(out, &t->c);
    cached += __atomic_load_n(&t->large_bytes, __ATOMIC_RELAXED);
  }
  lm_unlock(&lm_heap.meta_lock);
  add(out, &shared);
  *cached_bytes = cached;
}

void lm_th_summary(struct lm_thsum *out, size_t *cached_bytes) {
  struct lm_thcount t;
  lm_th_totals(&t, cached_bytes);
  memset(out, 0, sizeof *out);
  for (uint32_t c = 0; c < LM_NUM_CLASSES; c++) {
    out->nmalloc += t.nmalloc[c];
    out->nfree += t.nfree[c];
    out->alloc_bytes += t.nmalloc[c] * lm_class_bytes[c];
    out->free_bytes += t.nfree[c] * lm_class_bytes[c];
  }
  out->hits = out->nmalloc - t.nslow + t.large_hits;
  out->nmalloc += t.nother;
  out->nfree += t.nfree_other;
  out->alloc_bytes += t.other_bytes;
  out->free_bytes += t.free_other_bytes;
  out->threads = t.threads;
}

void lm_th_count_alloc(size_t usable) {
  struct lm_theap *t = lm_th;
  if (t != &lm_th_none) {
    LM_RELAXED_ADD(t->c.nother, 1);
    LM_RELAXED_ADD(t->c.other_bytes, usable);
  } else {
    __atomic_fetch_add(&shared.nother, 1, __ATOMIC_RELAXED);
    __atomic_fetch_add(&shared.other_bytes, usable, __ATOMIC_RELAXED);
  }
}

void lm_th_count_free(size_t usable) {
  struct lm_theap *t = lm_th;
  if (t != &lm_th_none) {
    LM_RELAXED_ADD(t->c.nfree_other, 1);
    LM_RELAXED_ADD(t->c.free_other_bytes, usable);
  } else {
    __atomic_fetch_add(&shared.nfree_other, 1, __ATOMIC_RELAXED);
    __atomic_fetch_add(&shared.free_other_bytes, usable, __ATOMIC_RELAXED);
  }
}
