/* What the four parts of an arena share, and nothing outside them uses:
 *   chunk.c   chunks, their dirty and free page maps, the demand window, and
 *             which buddy block an allocation takes (resident pages first);
 *   slabs.c   slabs: their indices, the non-full heap, small blocks;
 *   large.c   large blocks: exact runs of pages;
 *   purge.c   giving pages back: the decay, trims, sparse slabs, unmapping.
 * Everything here runs with the arena's lock held unless it says otherwise;
 * mappings and madvise happen with no lock held. */
#ifndef LM_ARENA_H
#define LM_ARENA_H
#include "heap.h"

static inline uint32_t lm_now32(void) { return (uint32_t)lm_os_now_ms(); }

/* ---- chunk.c ---- */

/* Set or clear bits [pg, pg+n) of a page bitmap. */
void lm_bits_mark(uint64_t *map, uint32_t pg, uint32_t n, bool on) LM_HIDDEN;
/* Dirty pages among [pg, pg+n) of ch. */
uint32_t lm_dirty_count(const struct lm_chunk *ch, uint32_t pg, uint32_t n) LM_HIDDEN;
static inline void lm_dirty_mark(struct lm_chunk *ch, uint32_t pg, uint32_t n, bool on) {
  lm_bits_mark(ch->dirty, pg, n, on);
}
static inline bool lm_is_dirty(const struct lm_chunk *ch, uint32_t pg) { return ch->dirty[pg / 64] >> (pg % 64) & 1; }

/* Change ch's count of pages in free buddy blocks (and the arena's count
 * of chunks that are wholly free, which lets a pass skip the chunk walk
 * that looks for chunks to unmap). */
static inline void lm_chunk_free_add(struct lm_arena *a, struct lm_chunk *ch, int32_t delta) {
  if (ch->free_pages == LM_CHUNK_PAGES) a->nempty--;
  ch->free_pages = (uint32_t)((int32_t)ch->free_pages + delta);
  if (ch->free_pages == LM_CHUNK_PAGES) a->nempty++;
}

/* Pages [pg, pg+n) leave the free blocks (they will be written): returns
 * whether all of them were clean, i.e. read zero. */
bool lm_pages_taken(struct lm_arena *a, struct lm_chunk *ch, uint32_t pg, uint32_t n) LM_HIDDEN;
/* Pages [pg, pg+n) are in free buddy blocks again, freed at time `stamp`. */
void lm_pages_returned(struct lm_arena *a, struct lm_chunk *ch, uint32_t pg, uint32_t n, uint32_t stamp) LM_HIDDEN;
/* A decay pass is due `purge_ms` after `now`, unless one is due already. */
void lm_schedule_purge(struct lm_arena *a, uint32_t now) LM_HIDDEN;
/* A buddy block was freed in ch: it may now hold free blocks of any order
 * (keeps the first-fit hints true). */
void lm_chunk_freed(struct lm_arena *a, struct lm_chunk *ch) LM_HIDDEN;
/* ch leaves a's list (to be unmapped). */
void lm_chunk_unlink(struct lm_arena *a, struct lm_chunk **at) LM_HIDDEN;

/* Map a chunk into the arena; drops and retakes the lock. false: out of
 * memory. */
bool lm_arena_grow(struct lm_arena *a) LM_HIDDEN;
/* A buddy block of 2^order pages for a use of its first `need` pages, in
 * some chunk of a (with a free slab record too if `want` is LM_WANT_SLAB);
 * false if no chunk has one. */
enum lm_want { LM_WANT_RUN, LM_WANT_SLAB };
bool lm_arena_buddy_alloc(struct lm_arena *a, uint32_t order, uint32_t need, enum lm_want want,
                          struct lm_chunk **out, uint32_t *pg) LM_HIDDEN;

/* ---- slabs.c ---- */

/* Span order of the slabs of class cls: lm_class_order_table[cls], the
 * core's constant (sizeclass.h). */
/* The non-full heap of a class: insert and remove slab sl, return the root. */
struct lm_slab *lm_nonfull_insert(struct lm_slab *root, struct lm_slab *sl) LM_HIDDEN;
struct lm_slab *lm_nonfull_remove(struct lm_slab *root, struct lm_slab *sl) LM_HIDDEN;
/* Give an empty slab's span back to the buddy, and its record. */
void lm_slab_release_span(struct lm_arena *a, struct lm_slab *sl, uint32_t stamp) LM_HIDDEN;
/* An empty slab, on no list: kept as its class's spare, or released. */
void lm_slab_emptied(struct lm_arena *a, struct lm_slab *sl, uint32_t now) LM_HIDDEN;

/* Take a slab's freed bits and free those slots in the core; returns how
 * many. The caller owns the slab: its thread, or the arena under its lock. */
uint32_t lm_slab_collect(struct lm_slab *sl) LM_HIDDEN;
/* Slots of the arena's slab sl were just collected (lock held): re-file
 * it (non-full, empty: spare or released). */
void lm_slab_collected(struct lm_arena *a, struct lm_slab *sl, uint32_t now) LM_HIDDEN;
/* A free into sl found its pending flag clear: set it and push sl on its
 * owner's inbox, or on the arena's pending stack (once until collected).
 * Lock-free. Returns the thread heap pushed to (NULL: the arena, or none). */
struct lm_theap *lm_slab_notify(struct lm_slab *sl) LM_HIDDEN;
/* Collect every slab on the pending stack (lock held). */
void lm_arena_collect_pending(struct lm_arena *a) LM_HIDDEN;
/* A slab of class cls for thread t, which owns it from now on (NULL: out
 * of memory). Takes a's lock. */
struct lm_slab *lm_arena_slab_take(struct lm_arena *a, struct lm_theap *t, uint32_t cls) LM_HIDDEN;
/* Slabs a thread gives back, a list linked by tnext (its lock held; takes
 * a's): each is collected and filed as the arena's. stamp: when their
 * pages were last in use, as far as the giver knows (now, or an idle
 * thread's last slow path): the decay counts from it. */
void lm_arena_slabs_give(struct lm_arena *a, struct lm_slab *list, uint32_t stamp) LM_HIDDEN;
/* The fork child's clean-up of arena a (slabs.c, "fork"). */
void lm_arena_fork_child(struct lm_arena *a) LM_HIDDEN;
/* One slot of class cls from the arena's own current slab (threads that
 * own no slabs); NULL if memory is exhausted. Takes the lock. */
void *lm_arena_alloc_one(struct lm_arena *a, uint32_t cls) LM_HIDDEN;

/* ---- large.c ---- */

/* The pagemap head of a large run: LM_PM_LARGE | pages, with
 * LM_PM_CACHED while the run sits in a thread's cache. Changed with
 * atomics: free marks it cached without the arena's lock. */
#define LM_PM_CACHED 0x4000u
/* A live run becomes cached (false: it was not a live run of `pages`), a
 * cached one live again. */
bool lm_large_set_cached(struct lm_chunk *ch, uintptr_t p, uint32_t pages) LM_HIDDEN;
void lm_large_set_live(struct lm_chunk *ch, uintptr_t p, uint32_t pages) LM_HIDDEN;

/* ---- purge.c ---- */

/* A decay pass over free pages freed at least `age` ms ago (no trim). */
size_t lm_arena_purge_aged(struct lm_arena *a, uint32_t age) LM_HIDDEN;

#endif
