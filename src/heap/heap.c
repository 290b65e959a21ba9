/* The heap as a whole: its state, start-up (settings, class tables, the
 * arenas) and fork handlers, the decay clock that drives purging, and
 * iteration over its chunks. The registry is in registry.c, reports of
 * bad pointers in report.c. */
#include "heap.h"
#include "config.h"
#include "stats_out.h"
#include "thread.h"
#include "heapmap.h"
#include "arena.h"
#include "vg.h"
#include <string.h>

struct lm_heap lm_heap = {
  .init_lock = LM_LOCK_INIT, .meta_lock = LM_LOCK_INIT, .huge_lock = LM_LOCK_INIT,
};

/* ---- configuration: config.c reads and validates every setting ---- */

static void read_config(struct lm_config *c) {
  lm_config_read(c);
  if (lm_vg_init())
    c->tcache_bytes = 0; /* every call takes a slow path, where the hooks are
                            (vg.h); slab records, whose base is a block's
                            address, are in the header pool, hidden from the
                            leak scan by meta.c */
}

/* ---- the malloc table, filled by the core ----
 * The per-class tables (size, slab order, slots) are the core's constants
 * (sizeclass.h), read directly; only the request size -> class table is
 * filled, by the core: lm_size_class_lookup(n) is then lm_size_class(n)
 * for every n up to LM_SMALL_MAX (proven). */

static void class_tables(void) {
  lm_size_class_table_fill();
}

/* ---- start-up ---- */

static void fork_prepare(void);
static void fork_parent(void);
static void fork_child(void);
void lm_stats_print(void) LM_HIDDEN;
void lm_stats_sample(void) LM_HIDDEN;

void lm_heap_init(void) {
  if (lm_heap_ready()) return;
  lm_lock(&lm_heap.init_lock);
  if (lm_heap.initialized != 0) {
    /* initialized == 1 here would be a recursive call from inside init:
     * nothing in init allocates, so it cannot happen. */
    lm_unlock(&lm_heap.init_lock);
    return;
  }
  lm_heap.initialized = 1;
  read_config(&lm_heap.cfg);
  lm_heap.narenas = lm_heap.cfg.narenas;
  class_tables();
  for (unsigned i = 0; i < lm_heap.cfg.narenas; i++) {
    struct lm_arena *a = &lm_heap.arenas[i];
    lm_lock_reinit(&a->lock);
    lm_lock_reinit(&a->purge_lock);
    a->idx = i;
    a->purge_due_ms = UINT64_MAX;
    for (uint32_t c = 0; c < LM_NUM_CLASSES; c++) a->cur[c] = a->nonfull[c] = a->spare[c] = NULL;
  }
  lm_th_init();
  __atomic_store_n(&lm_heap.initialized, 2, __ATOMIC_RELEASE);
  lm_unlock(&lm_heap.init_lock);
  /* glibc's atfork registration may allocate: only now that malloc works. */
  pthread_atfork(fork_prepare, fork_parent, fork_child);
}

__attribute__((constructor)) static void lm_heap_ctor(void) { lm_heap_init(); }

__attribute__((destructor)) static void lm_heap_dtor(void) {
  if (lm_heap_ready() && lm_heap.cfg.stats_at_exit) lm_stats_print();
}

/* ---- fork: every lock taken in the documented order, so the child starts
 * with consistent state; the child recreates the locks. ---- */

static void fork_prepare(void) {
  lm_lock(&lm_heap.init_lock);
  for (unsigned i = 0; i < lm_heap.cfg.narenas; i++) lm_lock(&lm_heap.arenas[i].purge_lock);
  for (unsigned i = 0; i < lm_heap.cfg.narenas; i++) lm_lock(&lm_heap.arenas[i].lock);
  lm_lock(&lm_heap.huge_lock);
  lm_lock(&lm_heap.meta_lock);
}

static void fork_parent(void) {
  lm_unlock(&lm_heap.meta_lock);
  lm_unlock(&lm_heap.huge_lock);
  for (unsigned i = lm_heap.cfg.narenas; i-- > 0;) lm_unlock(&lm_heap.arenas[i].lock);
  for (unsigned i = lm_heap.cfg.narenas; i-- > 0;) lm_unlock(&lm_heap.arenas[i].purge_lock);
  lm_unlock(&lm_heap.init_lock);
}

static void fork_child(void) {
  lm_lock_reinit(&lm_heap.meta_lock);
  lm_lock_reinit(&lm_heap.huge_lock);
  for (unsigned i = 0; i < lm_heap.cfg.narenas; i++) {
    lm_lock_reinit(&lm_heap.arenas[i].lock);
    lm_lock_reinit(&lm_heap.arenas[i].purge_lock);
  }
  lm_lock_reinit(&lm_heap.init_lock);
  for (unsigned i = 0; i < lm_heap.cfg.narenas; i++) lm_arena_fork_child(&lm_heap.arenas[i]);
  lm_th_fork_child();
  lm_bg_fork_child();
}

size_t lm_heap_reclaim(void) {
  size_t released = lm_huge_decay(true);
  for (unsigned i = 0; i < lm_heap.cfg.narenas; i++) released += lm_arena_purge(&lm_heap.arenas[i], true);
  return released;
}

/* ---- the decay clock, driven from slow paths ---- */

void lm_heap_tick(void) { lm_heap_tick_at(lm_os_now_ms()); }

void lm_heap_tick_at(uint64_t now) {
  lm_bg_kick();
  if (lm_unlikely(__atomic_load_n(&lm_heapmap_pending, __ATOMIC_RELAXED))) lm_heapmap_poll(); /* the signal came */
  if (lm_unlikely(__atomic_load_n(&lm_stats_pending, __ATOMIC_RELAXED))) lm_stats_poll();
  for (unsigned i = 0; i < lm_heap.cfg.narenas; i++) /* arenas ever in use */
    if (lm_unlikely(__atomic_load_n(&lm_heap.arenas[i].purge_excess, __ATOMIC_RELAXED)))
      lm_arena_purge_excess(&lm_heap.arenas[i]);
  lm_th_decay_self((uint32_t)now, lm_heap.cfg.purge_ms);
  uint64_t due = __atomic_load_n(&lm_heap.next_tick_ms, __ATOMIC_RELAXED);
  if (now < due) return;
  uint32_t step = lm_heap.cfg.purge_ms / 4 + 1;
  if (!__atomic_compare_exchange_n(&lm_heap.next_tick_ms, &due, now + step, false,
                                   __ATOMIC_RELAXED, __ATOMIC_RELAXED))
    return; /* another thread runs this tick */
  lm_stats_sample();
  /* Threads idle for a decay period give their slabs and cached blocks
   * back (thread.h: stealing), stamped with their last activity: the pass
   * below can release their free pages at once. */
  lm_th_reclaim((uint32_t)now, lm_heap.cfg.purge_ms);
  for (unsigned i = 0; i < lm_heap.cfg.narenas; i++) {
    struct lm_arena *a = &lm_heap.arenas[i];
    if (__atomic_load_n(&a->purge_due_ms, __ATOMIC_RELAXED) <= now) lm_arena_purge(a, false);
  }
  lm_huge_decay(false);
}

/* ---- iteration ---- */

void lm_heap_each_chunk(lm_chunk_fn fn, void *arg) {
  for (unsigned i = 0; i < lm_heap.cfg.narenas; i++) {
    struct lm_arena *a = &lm_heap.arenas[i];
    lm_lock(&a->lock);
    lm_arena_collect_pending(a); /* the arena's slabs show their frees */
    for (struct lm_chunk *ch = a->chunks; ch; ch = ch->next) fn(a, ch, arg);
    lm_unlock(&a->lock);
  }
}

void lm_chunk_each_block(const struct lm_chunk *ch, lm_block_fn fn, void *arg) {
  for (uint32_t pg = 0; pg < LM_CHUNK_PAGES;) {
    uint32_t order = lm_buddy_order(lm_chunk_c(ch), pg);
    bool alloc = lm_buddy_is_allocated(lm_chunk_c(ch), pg);
    uint32_t e = (uint32_t)ch->page[pg] - 1;
    fn(ch, pg, order, alloc, alloc && e < LM_CHUNK_SLABS ? &ch->slab[e] : NULL, arg);
    pg += 1u << order;
  }
}
