/* Thread heaps: their life (creation at a thread's first slow path,
 * recycling at its exit, the fork child's reset) and their counters.
 * The protocol is described in thread.h; the other thread_*.c files hold
 * what a heap does (thread_int.h). */
#include "thread_int.h"
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
struct lm_theap *lm_th_list;
static struct lm_theap *th_pool;
static struct lm_thcount retired;
struct lm_thcount lm_th_shared;

static void th_exit(void *arg);

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
    __atomic_fetch_add(&lm_th_shared.threads, 1, __ATOMIC_RELAXED);
    if (!lm_vg_on) lm_bg_thread_seen();
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
  lm_th_inbox_forward(t);
  for (uint32_t c = 0; c < LM_NUM_CLASSES; c++) t->cur[c] = lm_th_cur_none;
  t->c.threads = 1;
  t->arena = pick_arena();
  t->slow_ms = t->decay_ms = lm_now32();
  lm_unlock(&t->lock);
  lm_lock(&lm_heap.meta_lock);
  t->next = lm_th_list;
  if (lm_th_list) lm_th_list->prev = t;
  lm_th_list = t;
  lm_unlock(&lm_heap.meta_lock);
  /* May allocate (glibc, for keys >= 32): the nested call sees CREATING and
   * is served without a heap. */
  pthread_setspecific(th_key, t);
  lm_th = t;
  th_state = TH_LIVE;
  lm_bg_thread_seen(); /* may allocate (pthread_create): served by t */
  return t;
}

/* ---- thread exit ---- */

static void add(struct lm_thcount *to, const struct lm_thcount *from);

static void th_exit(void *arg) {
  struct lm_theap *t = arg;
  lm_th = &lm_th_none;
  th_state = TH_DEAD;
  lm_lock(&t->lock);
  lm_th_give_back(t, lm_now32());
  lm_th_inbox_forward(t); /* frees that read the owner before the slabs went back */
  lm_unlock(&t->lock);
  lm_lock(&lm_heap.meta_lock);
  add(&retired, &t->c); /* its counts stay in the totals */
  if (t->prev) t->prev->next = t->next;
  else lm_th_list = t->next;
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
  struct lm_theap *t = lm_th_list;
  lm_th_list = NULL;
  while (t) {
    struct lm_theap *next = t->next;
    lm_lock_reinit(&t->lock);
    t->inbox = NULL;
    __atomic_store_n(&t->owned, NULL, __ATOMIC_RELAXED);
    for (uint32_t c = 0; c < LM_NUM_CLASSES; c++) {
      lm_th_set_current(t, c, NULL);
      t->avail[c] = NULL;
    }
    t->avail_free = 0;
    if (t == self) {
      t->next = t->prev = NULL;
      lm_th_list = t;
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
  for (struct lm_theap *t = lm_th_list; t; t = t->next) {
    add(out, &t->c);
    cached += __atomic_load_n(&t->large_bytes, __ATOMIC_RELAXED);
  }
  lm_unlock(&lm_heap.meta_lock);
  add(out, &lm_th_shared);
  *cached_bytes = cached;
}

void lm_th_summary(struct lm_thsum *out, size_t *cached_bytes) {
  struct lm_thcount t;
  lm_th_totals(&t, cached_bytes);
  memset(out, 0, sizeof *out);
  for (uint32_t c = 0; c < LM_NUM_CLASSES; c++) {
    out->nmalloc += t.nmalloc[c];
    out->nfree += t.nfree[c];
    out->alloc_bytes += t.nmalloc[c] * lm_class_size_table[c];
    out->free_bytes += t.nfree[c] * lm_class_size_table[c];
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
    __atomic_fetch_add(&lm_th_shared.nother, 1, __ATOMIC_RELAXED);
    __atomic_fetch_add(&lm_th_shared.other_bytes, usable, __ATOMIC_RELAXED);
  }
}

void lm_th_count_free(size_t usable) {
  struct lm_theap *t = lm_th;
  if (t != &lm_th_none) {
    LM_RELAXED_ADD(t->c.nfree_other, 1);
    LM_RELAXED_ADD(t->c.free_other_bytes, usable);
  } else {
    __atomic_fetch_add(&lm_th_shared.nfree_other, 1, __ATOMIC_RELAXED);
    __atomic_fetch_add(&lm_th_shared.free_other_bytes, usable, __ATOMIC_RELAXED);
  }
}
