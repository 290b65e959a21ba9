/* Thread caches: creation, refill, flush, idle trim, thread exit, counters. */
#include "tcache.h"
#include <string.h>

struct lm_tcache lm_tc_none; /* every bin empty with cap 0: always the slow path */
__thread struct lm_tcache *lm_tc __attribute__((tls_model("initial-exec"))) = &lm_tc_none;
uint64_t lm_tc_key;

enum { TC_NONE, TC_CREATING, TC_LIVE, TC_DEAD };
static __thread int tc_state __attribute__((tls_model("initial-exec")));
static pthread_key_t tc_exit_key;
static uint16_t caps[LM_NUM_CLASSES];
static unsigned next_arena;
/* under meta_lock */
static struct lm_tcache *tc_list, *tc_pool;
static struct lm_tcounters retired;
/* calls served with no cache (start-up, thread exit): atomic adds */
static struct lm_tcounters nocache;

static void tc_exit(void *arg);

void lm_tc_init(void) {
  /* Per-class caps: as many slots as fit a per-class budget, at most
   * LM_TCACHE_MAX_COUNT; the budget shrinks until the caps of all classes
   * together hold at most LEMMALLOC_TCACHE_BYTES. */
  size_t total = lm_heap.cfg.tcache_bytes, budget = total / 16, sum;
  do {
    sum = 0;
    for (uint32_t c = 0; c < LM_NUM_CLASSES; c++) {
      size_t n = budget / lm_class_bytes[c];
      caps[c] = (uint16_t)(n > LM_TCACHE_MAX_COUNT ? LM_TCACHE_MAX_COUNT : n);
      sum += (size_t)caps[c] * lm_class_bytes[c];
    }
    budget -= budget / 10 + 1;
  } while (sum > total && budget > 0);
  if (sum > total) memset(caps, 0, sizeof caps);
  pthread_key_create(&tc_exit_key, tc_exit);
}

static struct lm_arena *pick_arena(void) {
  unsigned n = __atomic_load_n(&lm_heap.narenas, __ATOMIC_RELAXED);
  return &lm_heap.arenas[__atomic_fetch_add(&next_arena, 1, __ATOMIC_RELAXED) % (n ? n : 1)];
}

struct lm_tcache *lm_tc_get(void) {
  struct lm_tcache *tc = lm_tc;
  if (tc != &lm_tc_none) return tc;
  if (tc_state != TC_NONE) return NULL; /* being created (nested call) or exited */
  tc_state = TC_CREATING;
  lm_lock(&lm_heap.meta_lock);
  if ((tc = tc_pool) != NULL) tc_pool = tc->next;
  lm_unlock(&lm_heap.meta_lock);
  if (tc == NULL) tc = lm_meta_alloc(sizeof *tc);
  if (tc == NULL) {
    tc_state = TC_NONE;
    return NULL;
  }
  memset(tc, 0, sizeof *tc);
  tc->c.threads = 1;
  for (uint32_t c = 0; c < LM_NUM_CLASSES; c++) tc->bins[c].cap = caps[c];
  tc->arena = pick_arena();
  tc->gc_ms = lm_os_now_ms();
  lm_lock(&lm_heap.meta_lock);
  tc->next = tc_list;
  if (tc_list) tc_list->prev = tc;
  tc_list = tc;
  lm_unlock(&lm_heap.meta_lock);
  /* May allocate (glibc, for keys >= 32): the nested call sees CREATING and
   * is served without a cache. */
  pthread_setspecific(tc_exit_key, tc);
  lm_tc = tc;
  tc_state = TC_LIVE;
  return tc;
}

static void push_raw(struct lm_tbin *b, uintptr_t *p) {
  p[0] = lm_tc_mangle(p, (uintptr_t)b->head);
  p[1] = lm_tc_key;
  b->head = p;
  __atomic_store_n(&b->count, (uint16_t)(b->count + 1), __ATOMIC_RELAXED);
}

void *lm_tc_refill(struct lm_tcache *tc, uint32_t cls) {
  struct lm_tbin *b = &tc->bins[cls];
  void *buf[LM_TCACHE_MAX_COUNT];
  uint32_t want = b->cap / 2u + 1u - (b->cap == 0);
  uint32_t got = lm_arena_alloc_small(tc->arena, cls, buf, want ? want : 1);
  if (got == 0) return NULL;
  for (uint32_t i = got; i-- > 1;) push_raw(b, buf[i]); /* lowest address on top */
  return buf[0];
}

void lm_tc_flush(struct lm_tcache *tc, uint32_t cls, uint32_t keep) {
  struct lm_tbin *b = &tc->bins[cls];
  if (b->count <= keep) return;
  void *out[LM_TCACHE_MAX_COUNT];
  uint32_t n = 0;
  /* The first `keep` entries (most recently freed, cache-hot) stay. */
  uintptr_t *p = b->head, *last_kept = NULL;
  for (uint32_t i = 0; i < keep; i++) {
    last_kept = p;
    uintptr_t next = lm_tc_mangle(p, p[0]);
    if (next & (LM_QUANTUM - 1)) lm_tc_corrupt(p);
    p = (uintptr_t *)next;
  }
  while (p != NULL && n < LM_TCACHE_MAX_COUNT) {
    uintptr_t next = lm_tc_mangle(p, p[0]);
    if (next & (LM_QUANTUM - 1)) lm_tc_corrupt(p);
#if LM_PLANT_BUG == 5 /* fuzz/plants.txt: lost cross-thread free */
    if (((struct lm_chunk *)lm_reg_lookup((uintptr_t)p))->arena != tc->arena->idx) {
      p = (uintptr_t *)next;
      continue;
    }
#endif
    p[0] = p[1] = 0;
    out[n++] = p;
    p = (uintptr_t *)next;
  }
#if LM_PLANT_BUG == 4 /* fuzz/plants.txt: thread-cache double insert */
  if (last_kept && n < LM_TCACHE_MAX_COUNT) out[n++] = last_kept;
#endif
  if (last_kept) last_kept[0] = lm_tc_mangle(last_kept, 0);
  else b->head = NULL;
  __atomic_store_n(&b->count, (uint16_t)keep, __ATOMIC_RELAXED);
  if (b->low > keep) b->low = (uint16_t)keep;
  lm_arena_free_small(out, n, "free");
}

void lm_tc_flush_all(struct lm_tcache *tc) {
  for (uint32_t c = 0; c < LM_NUM_CLASSES; c++) lm_tc_flush(tc, c, 0);
}

/* Idle trim: slots that sat at the bottom of a bin for a whole decay period
 * (never popped) go back to the arena, three quarters at a time. */
void lm_tc_gc(struct lm_tcache *tc, uint64_t now) {
  if (now - tc->gc_ms < lm_heap.cfg.purge_ms) return;
  tc->gc_ms = now;
  for (uint32_t c = 0; c < LM_NUM_CLASSES; c++) {
    struct lm_tbin *b = &tc->bins[c];
    uint32_t drop = b->low - b->low / 4u;
    if (drop) lm_tc_flush(tc, c, b->count - drop);
    b->low = b->count;
  }
}

bool lm_tc_contains(const struct lm_tcache *tc, uint32_t cls, const void *ptr) {
  const struct lm_tbin *b = &tc->bins[cls];
  uintptr_t *p = b->head;
  for (uint32_t i = 0; i < b->count && p != NULL; i++) {
    if (p == ptr) return true;
    uintptr_t next = lm_tc_mangle(p, p[0]);
    if (next & (LM_QUANTUM - 1)) lm_tc_corrupt(p);
    p = (uintptr_t *)next;
  }
  return false;
}

static void add_counters(struct lm_tcounters *to, const struct lm_tcounters *from) {
  to->nmalloc += __atomic_load_n(&from->nmalloc, __ATOMIC_RELAXED);
  to->nfree += __atomic_load_n(&from->nfree, __ATOMIC_RELAXED);
  to->hits += __atomic_load_n(&from->hits, __ATOMIC_RELAXED);
  to->alloc_bytes += __atomic_load_n(&from->alloc_bytes, __ATOMIC_RELAXED);
  to->free_bytes += __atomic_load_n(&from->free_bytes, __ATOMIC_RELAXED);
  to->threads += __atomic_load_n(&from->threads, __ATOMIC_RELAXED);
}

static void tc_exit(void *arg) {
  struct lm_tcache *tc = arg;
  lm_tc = &lm_tc_none;
  tc_state = TC_DEAD;
  lm_tc_flush_all(tc);
  lm_lock(&lm_heap.meta_lock);
  add_counters(&retired, &tc->c);
  if (tc->prev) tc->prev->next = tc->next;
  else tc_list = tc->next;
  if (tc->next) tc->next->prev = tc->prev;
  tc->next = tc_pool;
  tc_pool = tc;
  lm_unlock(&lm_heap.meta_lock);
}

void lm_tc_totals(struct lm_tcounters *out, size_t *cached_bytes) {
  memset(out, 0, sizeof *out);
  size_t cached = 0;
  lm_lock(&lm_heap.meta_lock);
  add_counters(out, &retired);
  for (struct lm_tcache *tc = tc_list; tc; tc = tc->next) {
    add_counters(out, &tc->c);
    for (uint32_t c = 0; c < LM_NUM_CLASSES; c++)
      cached += (size_t)__atomic_load_n(&tc->bins[c].count, __ATOMIC_RELAXED) * lm_class_bytes[c];
  }
  lm_unlock(&lm_heap.meta_lock);
  add_counters(out, &nocache);
  out->nmalloc += out->hits;
  *cached_bytes = cached;
}

void lm_count_alloc(size_t usable) {
  struct lm_tcache *tc = lm_tc;
  if (tc != &lm_tc_none) {
    LM_RELAXED_ADD(tc->c.nmalloc, 1);
    LM_RELAXED_ADD(tc->c.alloc_bytes, usable);
  } else {
    __atomic_fetch_add(&nocache.nmalloc, 1, __ATOMIC_RELAXED);
    __atomic_fetch_add(&nocache.alloc_bytes, usable, __ATOMIC_RELAXED);
  }
}

void lm_count_free(size_t usable) {
  struct lm_tcache *tc = lm_tc;
  if (tc != &lm_tc_none) {
    LM_RELAXED_ADD(tc->c.nfree, 1);
    LM_RELAXED_ADD(tc->c.free_bytes, usable);
  } else {
    __atomic_fetch_add(&nocache.nfree, 1, __ATOMIC_RELAXED);
    __atomic_fetch_add(&nocache.free_bytes, usable, __ATOMIC_RELAXED);
  }
}

/* In a fork child only the forking thread survives: the other caches'
 * slots stay allocated (a bounded leak, as in every allocator with thread
 * caches); their structures are recycled. */
void lm_tc_fork_child(void) {
  struct lm_tcache *self = lm_tc != &lm_tc_none ? lm_tc : NULL;
  struct lm_tcache *tc = tc_list;
  while (tc) {
    struct lm_tcache *next = tc->next;
    if (tc != self) {
      add_counters(&retired, &tc->c);
      tc->next = tc_pool;
      tc_pool = tc;
    }
    tc = next;
  }
  tc_list = self;
  if (self) self->next = self->prev = NULL;
}
