/* The heap as the API layer (src/api) sees it, and all it sees: allocate,
 * classify a pointer, free a classified block, resize a huge block, trim,
 * the settings mallopt changes, statistics. Counting, ticking the decay
 * clock and telling valgrind about blocks happen inside. The inline fast
 * paths of malloc and free come from thread.h through here. src/api keeps
 * errno, tracing and glibc's semantics (which sizes fail how). */
#ifndef LM_ALLOC_H
#define LM_ALLOC_H
#include "thread.h"

/* lm_heap_alloc's flags. */
#define LM_ALLOC_ZERO 1u /* the first `size` bytes read zero */
#define LM_ALLOC_GROW 2u /* a large block spans its whole power of two of
                            pages, so that the next growth stays in place */

/* A block of at least `size` bytes aligned to `align` (a power of two, at
 * most PTRDIFF_MAX / 2 + 1; size at most PTRDIFF_MAX: the caller checks),
 * or NULL when memory is exhausted. Initializes the heap if needed. */
void *lm_heap_alloc(size_t size, size_t align, unsigned flags) LM_HIDDEN;

/* What a pointer is: a live block, with its usable size, or why not. */
enum lm_kind { LM_BLK_SMALL = 1, LM_BLK_LARGE, LM_BLK_HUGE };
struct lm_block {
  enum lm_kind kind;
  size_t usable;
  struct lm_chunk *ch;   /* small and large */
  struct lm_slab *slab;  /* small */
  uint32_t slot;         /* small */
  struct lm_huge *huge;  /* huge */
};
/* Classify p (not NULL): LM_BAD_NONE and *b filled, or what is wrong. No
 * report: the caller decides (lm_heap_report). */
enum lm_bad lm_heap_classify(const void *p, struct lm_block *b) LM_HIDDEN;
/* Free the block p that lm_heap_classify found live. A second free that
 * raced with this one is reported here. */
void lm_heap_free(void *p, const struct lm_block *b) LM_HIDDEN;
/* The program gives p up (free, or realloc moving it): called before p is
 * classified, so that under valgrind memcheck sees every free, a bad one
 * too, with the program's stack (vg.h). */
void lm_heap_freeing(const void *p) LM_HIDDEN;
/* Resize huge block b to hold n bytes (n above LM_LARGE_MAX) in place or
 * by moving its pages (no copy); NULL if not possible. */
void *lm_heap_huge_resize(void *p, const struct lm_block *b, size_t n) LM_HIDDEN;
/* The bytes of block p the program may use: its usable size, or under
 * valgrind the size memcheck knows (the request). A block resized in
 * place from `old` to n bytes (memcheck is told). Under valgrind huge
 * blocks are never remapped (memcheck's record would not follow). */
size_t lm_heap_block_size(void *p, size_t usable) LM_HIDDEN;
void lm_heap_resized(void *p, size_t old, size_t n) LM_HIDDEN;
bool lm_heap_may_remap(void) LM_HIDDEN;
/* malloc_trim: give every whole free page back; 1 if any was. */
int lm_heap_trim(void) LM_HIDDEN;
/* mallopt's settings: arenas for threads started from now on (1 on
 * success); abort or warn on bad pointers. */
int lm_heap_set_arena_max(int n) LM_HIDDEN;
void lm_heap_set_warn_only(bool warn) LM_HIDDEN;
/* A LEMMALLOC_* setting's value as the environment gives it (NULL in a
 * setuid process, or when unset): for settings of the api layer (trace). */
const char *lm_heap_setting(const char *name) LM_HIDDEN;

/* The inline fast paths: a slot for n bytes (NULL: take lm_heap_alloc),
 * and free (false: classify and report or lm_heap_free). */
static inline __attribute__((always_inline)) void *lm_heap_malloc_fast(size_t n) {
  return lm_likely(n <= LM_SMALL_MAX) ? lm_th_malloc(lm_size_class_lookup((uint32_t)n)) : NULL;
}
static inline __attribute__((always_inline)) bool lm_heap_free_fast(void *p) { return lm_th_free(p); }

/* The usable size of a live slot without a call (ruby asks on every malloc
 * and free), or 0: ask lm_heap_classify. */
static inline __attribute__((always_inline)) size_t lm_heap_usable_fast(const void *p) {
  struct lm_theap *t = lm_th;
  struct lm_slab *sl;
  uint32_t slot;
  if (lm_likely(t != &lm_th_none && lm_th_decode(t, (uintptr_t)p, &sl, &slot) &&
                !lm_slab_pending_free(sl, slot)))
    return lm_class_size_table[sl->cls];
  return 0;
}

#endif
