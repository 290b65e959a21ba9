/* The background purger: one thread that runs the decay clock while the
 * program's own threads make no allocator call.
 *
 * The decay (lm_heap_tick: idle threads' slabs taken back, free pages
 * older than LEMMALLOC_PURGE_MS released, cached huge mappings unmapped)
 * is driven from slow paths. A program whose threads all block after a
 * burst (a server between requests, a job queue waiting for work) makes
 * no call, so without this thread it keeps every page it freed until it
 * wakes up. The purger ticks every quarter decay period while there is
 * something to give back, and sleeps with no time limit once nothing is
 * left (no dirty free page, no cached mapping, no thread holding slabs or
 * cached blocks): an idle process is not woken up by lemmalloc. The next
 * slow path that runs the clock wakes it (lm_bg_kick).
 *
 * It starts when the program runs its second thread, never in a
 * single-threaded program: those may depend on being single-threaded
 * (unshare(CLONE_NEWUSER), some sandboxes), and their one thread's own
 * calls drive the decay anyway. LEMMALLOC_BACKGROUND=0 turns it off. The
 * thread blocks every signal, allocates nothing, and is gone in a fork
 * child, which starts its own when it runs a second thread.
 *
 * Missing a wake-up (a race between parking and a kick, below) costs only
 * time: the slow paths still run the clock themselves, as they do with
 * the purger off. */
#include "arena.h"
#include "thread.h"

uint32_t lm_bg_state;       /* LM_BG_* (heap.h, lm_bg_kick) */
static uint32_t bg_threads; /* threads seen (capped at 2): the trigger */
static uint32_t bg_started; /* the purger was started in this process */

/* Nothing the decay could still give back, now or later, without a new
 * call of the program's (a racy look: a later tick corrects it). */
static bool settled(void) {
  for (unsigned i = 0; i < lm_heap.cfg.narenas; i++) {
    const struct lm_arena *a = &lm_heap.arenas[i];
    if (__atomic_load_n(&a->purge_due_ms, __ATOMIC_RELAXED) != UINT64_MAX ||
        __atomic_load_n(&a->purge_excess, __ATOMIC_RELAXED))
      return false;
  }
  lm_lock(&lm_heap.huge_lock);
  bool huge = lm_heap.huge_cached_bytes != 0;
  lm_unlock(&lm_heap.huge_lock);
  return !huge && !lm_th_holding();
}

static void bg_main(void) {
  uint32_t step = lm_heap.cfg.purge_ms / 4 + 1; /* lm_heap_tick's own period */
  for (;;) {
    lm_heap_tick();
    if (!settled()) {
      lm_os_wait(&lm_bg_state, LM_BG_RUNNING, step);
      continue;
    }
    /* Park, then look once more: a kick between the look above and the
     * store finds LM_BG_RUNNING and does nothing, so its work must be seen
     * here (both sides are sequentially consistent). */
    __atomic_store_n(&lm_bg_state, LM_BG_PARKED, __ATOMIC_SEQ_CST);
    if (settled()) {
      /* The whole process has been idle for a decay period: before
       * sleeping, a pass like malloc_trim's also releases the wholly free
       * pages of slabs that are more than half used (the decay takes only
       * those of sparse slabs, which refault least). */
      lm_heap_reclaim();
      lm_os_wait(&lm_bg_state, LM_BG_PARKED, 0);
    }
    __atomic_store_n(&lm_bg_state, LM_BG_RUNNING, __ATOMIC_SEQ_CST);
  }
}

void lm_bg_kick_slow(void) {
  uint32_t parked = LM_BG_PARKED;
  if (__atomic_compare_exchange_n(&lm_bg_state, &parked, LM_BG_RUNNING, false, __ATOMIC_SEQ_CST, __ATOMIC_RELAXED))
    lm_os_wake(&lm_bg_state);
}

void lm_bg_thread_seen(void) {
  if (!lm_heap.cfg.background || __atomic_load_n(&bg_threads, __ATOMIC_RELAXED) >= 2) return;
  if (__atomic_add_fetch(&bg_threads, 1, __ATOMIC_RELAXED) != 2) return;
  uint32_t no = 0;
  if (!__atomic_compare_exchange_n(&bg_started, &no, 1, false, __ATOMIC_RELAXED, __ATOMIC_RELAXED)) return;
  __atomic_store_n(&lm_bg_state, LM_BG_RUNNING, __ATOMIC_SEQ_CST);
  if (!lm_os_thread_start(bg_main, "lemmalloc-bg")) /* the OS said no: the slow paths do it all */
    __atomic_store_n(&lm_bg_state, LM_BG_OFF, __ATOMIC_RELAXED);
}

void lm_bg_fork_child(void) {
  lm_bg_state = LM_BG_OFF;
  bg_started = 0;
  bg_threads = 1; /* the forking thread */
}
