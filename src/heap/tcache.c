/* Thread caches: creation, refill, flush, idle trim, thread exit, counters. */
#include "tcache.h"
#include <string.h>

/* Every bin empty with cap 0: always the slow path; remembers no chunk. */
struct lm_tcache lm_tc_none;
__thread struct lm_tcache *lm_tc __attribute__((tls_model("initial-exec"))) = &lm_tc_none;
uint64_t lm_tc_key;

enum { TC_NONE, TC_CREATING, TC_LIVE, TC_DEAD };
static __thread int tc_state __attribute__((tls_model("initial-exec")));
static pthread_key_t tc_exit_key;
static uint16_t base_cap[LM_NUM_CLASSES]; /* a fresh bin's cap */
static uint16_t max_cap[LM_NUM_CLASSES];  /* the most one bin may grow to */
static unsigned next_arena;
/* under meta_lock */
static struct lm_tcache *tc_list, *tc_pool;
static struct lm_tcounters retired;
/* calls served with no cache (start-up, thread exit): atomic adds */
static struct lm_tcounters nocache;

static void tc_exit(void *arg);

/* Threads holding a live cache. Up to TC_SHARED_THREADS of them each get
 * the whole setting; beyond that the setting times TC_SHARED_THREADS is
 * shared out, down to TC_MIN_BYTES a thread. An idle thread never trims
 * its own cache (only its own slow paths run the trim), so 20 idle Puma
 * or Sidekiq workers at 256 KiB would keep 5 MiB of free slots resident
 * (bloat-rb, 3 runs: final RSS 106 MiB at 256 KiB a thread, 96 at 64). */
#define TC_SHARED_THREADS 8
#define TC_MIN_BYTES ((size_t)64 << 10)
static unsigned tc_nlive;

static size_t tc_budget(void) {
  size_t total = lm_heap.cfg.tcache_bytes;
  unsigned n = __atomic_load_n(&tc_nlive, __ATOMIC_RELAXED);
  if (n <= TC_SHARED_THREADS) return total;
  size_t share = total / n * TC_SHARED_THREADS, floor = total < TC_MIN_BYTES ? total : TC_MIN_BYTES;
  return share < floor ? floor : share;
}

void lm_tc_init(void) {
  /* Fresh caps: as many slots as fit a per-class budget, at most
   * LM_TCACHE_MAX_COUNT; the budget shrinks until the caps of all classes
   * together hold at most half of LEMMALLOC_TCACHE_BYTES, leaving the other
   * half for the bins that grow. One bin grows to half the setting at most. */
  size_t total = lm_heap.cfg.tcache_bytes, budget, sum;
#ifdef LM_HAVE_TRACE
  /* A traced run records every call, and the inline fast paths carry no
   * trace hook (api.h): with LEMMALLOC_TRACE set no bin holds a slot, so
   * every call takes a slow path, which records it. */
  const char *trace = lm_os_getenv("LEMMALLOC_TRACE");
  if (trace != NULL && *trace != '\0') total = 0;
#endif
  budget = total / 32;
  do {
    sum = 0;
    for (uint32_t c = 0; c < LM_NUM_CLASSES; c++) {
      size_t n = budget / lm_class_bytes[c];
      base_cap[c] = (uint16_t)(n > LM_TCACHE_MAX_COUNT ? LM_TCACHE_MAX_COUNT : n);
      sum += (size_t)base_cap[c] * lm_class_bytes[c];
    }
    budget -= budget / 10 + 1;
  } while (sum > total / 2 && budget > 0);
  if (sum > total / 2) memset(base_cap, 0, sizeof base_cap);
  for (uint32_t c = 0; c < LM_NUM_CLASSES; c++) {
    size_t n = total / 2 / lm_class_bytes[c];
    max_cap[c] = (uint16_t)(n > LM_TCACHE_MAX_COUNT ? LM_TCACHE_MAX_COUNT : n);
  }
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
  for (uint32_t c = 0; c < LM_NUM_CLASSES; c++) {
    tc->bins[c].cap = base_cap[c];
    tc->cap_bytes += (size_t)base_cap[c] * lm_class_bytes[c];
  }
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
  __atomic_fetch_add(&tc_nlive, 1, __ATOMIC_RELAXED);
  return tc;
}

/* Set bin cls's cap, keeping the sum of caps within the setting. */
static void set_cap(struct lm_tcache *tc, uint32_t cls, uint32_t cap) {
  struct lm_tbin *b = &tc->bins[cls];
  tc->cap_bytes += ((size_t)cap - b->cap) * lm_class_bytes[cls];
  b->cap = (uint16_t)cap;
}

/* A bin went to the arena (a free found it full, or a malloc empty):
 * double its cap, so that a class in heavy use moves more slots per arena
 * lock and ping-pongs less. Over budget, bins that did not go to the arena
 * since the last look go back to a fresh bin's cap and slots; a bin that
 * did only loses its mark (second chance, as in the clock algorithm). So
 * the budget follows the classes in use. */
static void grow(struct lm_tcache *tc, uint32_t cls) {
  struct lm_tbin *b = &tc->bins[cls];
  size_t total = tc_budget();
  b->flags |= LM_TB_ACTIVE;
  tc->nslow++;
  uint32_t cap = b->cap ? 2u * b->cap : 1u;
  if (cap > max_cap[cls]) cap = max_cap[cls];
  if (cap <= b->cap) return;
  size_t need = (size_t)(cap - b->cap) * lm_class_bytes[cls];
  if (tc->cap_bytes + need > total) {
    /* At most one walk per 256 visits to the arena: a bin in use goes
     * there several times in between, so it keeps its mark (with 32,
     * mtchurn's 25 classes in use flushed each other in turn). */
    if (tc->nslow - tc->steal_at < 256) return;
    tc->steal_at = tc->nslow;
    for (uint32_t c = 0; c < LM_NUM_CLASSES; c++) {
      struct lm_tbin *o = &tc->bins[c];
      if (c == cls) continue;
      if (o->flags & LM_TB_ACTIVE) o->flags &= (uint16_t)~LM_TB_ACTIVE;
      else if (o->cap > base_cap[c]) {
        lm_tc_flush(tc, c, base_cap[c]);
        set_cap(tc, c, base_cap[c]);
      }
    }
    if (tc->cap_bytes + need > total) return;
  }
  set_cap(tc, cls, cap);
}

void *lm_tc_refill(struct lm_tcache *tc, uint32_t cls) {
  struct lm_tbin *b = &tc->bins[cls];
  grow(tc, cls);
  void *buf[LM_TCACHE_MAX_COUNT / 2 + 1];
  uint32_t got = lm_arena_alloc_small(tc->arena, cls, buf, b->cap / 2u + 1u);
  if (got == 0) return NULL;
  /* Lowest address on top; the counters count calls, not refills. */
  uintptr_t *head = b->head;
  for (uint32_t i = got; i-- > 1;) {
    uintptr_t *p = buf[i];
    p[0] = (uintptr_t)head ^ lm_tc_key;
    p[1] = lm_tc_key;
    head = p;
  }
  b->head = head;
  LM_RELAXED_SET(b->count, (uint16_t)(b->count + got - 1));
  b->low = 0; /* it ran dry */
  return buf[0];
}

bool lm_tc_free_slow(struct lm_tcache *tc, uint32_t cls, uintptr_t *p) {
  struct lm_tbin *b = &tc->bins[cls];
  if (b->count >= b->cap) {
    grow(tc, cls);
    if (b->cap == 0) return false;
    if (b->count >= b->cap) lm_tc_flush(tc, cls, b->cap / 2u);
  }
  lm_tc_push(b, p);
  return true;
}

/* The slots leave from the top (the most recently freed): that takes one
 * step per slot given back and none per slot kept, and the slabs reuse
 * their most recently freed slots first, so hot slots come back first on
 * the next refill. */
void lm_tc_flush(struct lm_tcache *tc, uint32_t cls, uint32_t keep) {
  struct lm_tbin *b = &tc->bins[cls];
  if (b->count <= keep) return;
  void *out[LM_TCACHE_MAX_COUNT];
  uint32_t n = 0, drop = b->count - keep;
  uintptr_t *p = b->head;
  for (uint32_t i = 0; i < drop && p != NULL; i++) {
    uintptr_t next = p[0] ^ lm_tc_key;
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
  if (p != NULL && n < LM_TCACHE_MAX_COUNT) out[n++] = p;
#endif
  b->head = p;
  LM_RELAXED_SET(b->count, (uint16_t)keep);
  if (b->low > keep) b->low = (uint16_t)keep;
  lm_arena_free_small(out, n, "free");
}

void lm_tc_flush_all(struct lm_tcache *tc) {
  for (uint32_t c = 0; c < LM_NUM_CLASSES; c++) lm_tc_flush(tc, c, 0);
}

/* Idle trim, once per decay period: a bin that never ran dry in the period
 * held more than it needed; three quarters of the fewest slots it held (as
 * seen at refills, flushes and now: the fast paths keep no low-water mark)
 * go back to the arena, and its cap halves (not below a fresh bin's),
 * giving budget back to bins that need it. A bin trimmed too far refills
 * once. */
void lm_tc_gc(struct lm_tcache *tc, uint64_t now) {
  if (now - tc->gc_ms < lm_heap.cfg.purge_ms) return;
  tc->gc_ms = now;
  for (uint32_t c = 0; c < LM_NUM_CLASSES; c++) {
    struct lm_tbin *b = &tc->bins[c];
    uint32_t low = b->low < b->count ? b->low : b->count;
    uint32_t drop = low - low / 4u;
    if (drop) {
      lm_tc_flush(tc, c, b->count - drop);
      if (b->cap > base_cap[c]) set_cap(tc, c, b->cap / 2u > base_cap[c] ? b->cap / 2u : base_cap[c]);
      if (b->count > b->cap) lm_tc_flush(tc, c, b->cap);
    }
    b->low = b->count;
  }
}

bool lm_tc_contains(const struct lm_tcache *tc, uint32_t cls, const void *ptr) {
  const struct lm_tbin *b = &tc->bins[cls];
  uintptr_t *p = b->head;
  for (uint32_t i = 0; i < b->count && p != NULL; i++) {
    if (p == ptr) return true;
    uintptr_t next = p[0] ^ lm_tc_key;
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

/* The bins' call counts, as counters. */
static void add_bins(struct lm_tcounters *to, const struct lm_tcache *tc) {
  for (uint32_t c = 0; c < LM_NUM_CLASSES; c++) {
    uint64_t pops = __atomic_load_n(&tc->bins[c].npop, __ATOMIC_RELAXED);
    uint64_t pushes = __atomic_load_n(&tc->bins[c].npush, __ATOMIC_RELAXED);
    to->hits += pops;
    to->alloc_bytes += pops * lm_class_bytes[c];
    to->nfree += pushes;
    to->free_bytes += pushes * lm_class_bytes[c];
  }
}

static void tc_exit(void *arg) {
  struct lm_tcache *tc = arg;
  lm_tc = &lm_tc_none;
  tc_state = TC_DEAD;
  __atomic_fetch_sub(&tc_nlive, 1, __ATOMIC_RELAXED);
  lm_tc_flush_all(tc);
  lm_lock(&lm_heap.meta_lock);
  add_counters(&retired, &tc->c);
  add_bins(&retired, tc);
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
    add_bins(out, tc);
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
      add_bins(&retired, tc);
      tc->next = tc_pool;
      tc_pool = tc;
    }
    tc = next;
  }
  tc_list = self;
  if (self) self->next = self->prev = NULL;
  tc_nlive = self != NULL; /* the child's one thread */
}
