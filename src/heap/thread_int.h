/* What the files of the thread heaps share (thread.c, thread_slabs.c,
 * thread_large.c, thread_giveback.c), and nothing else includes. Every
 * function here is called with the heap's lock held or, for its owner,
 * inside the steal protocol's window (thread.h). */
#ifndef LM_THREAD_INT_H
#define LM_THREAD_INT_H
#include "thread.h"
#include "arena.h"

/* All live thread heaps (under meta_lock), and the counts of calls served
 * with no thread heap (atomic adds). */
extern struct lm_theap *lm_th_list LM_HIDDEN;
extern struct lm_thcount lm_th_shared LM_HIDDEN;

/* thread_slabs.c: t's current slab of class cls becomes sl (NULL: none);
 * sl leaves t's lists for the list *give (linked by tnext); a slab off
 * t's avail list of cls (NULL if none); the inbox taken, t's slabs on it
 * collected and listed, others' passed on; the same for a heap that owns
 * nothing. */
void lm_th_set_current(struct lm_theap *t, uint32_t cls, struct lm_slab *sl) LM_HIDDEN;
void lm_th_owned_drop(struct lm_theap *t, struct lm_slab *sl, struct lm_slab **give) LM_HIDDEN;
struct lm_slab *lm_th_avail_pop(struct lm_theap *t, uint32_t cls) LM_HIDDEN;
void lm_th_inbox_drain(struct lm_theap *t, struct lm_slab **give) LM_HIDDEN;
void lm_th_inbox_forward(struct lm_theap *t) LM_HIDDEN;

/* thread_large.c: cached run i goes back to its arena. */
void lm_th_large_drop(struct lm_theap *t, uint32_t i) LM_HIDDEN;

/* thread_giveback.c: everything t holds goes back, stamped `stamp` (t's
 * lock held). */
void lm_th_give_back(struct lm_theap *t, uint32_t stamp) LM_HIDDEN;

#endif
