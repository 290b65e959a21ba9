/* The heap map: a picture of every chunk, one cell per OS page.
 *
 * A snapshot is taken arena by arena under each arena's lock (facts are
 * copied out, nothing is allocated, no syscall is made), then written with
 * the locks released. Its memory comes from lm_os_map, never from malloc,
 * so a map can be taken from inside the allocator (at exit, after a signal).
 *
 * Cell states, from the allocator's own bookkeeping:
 *   live     a page of a large block or of a slab whose every slot is
 *            allocated (slots held in another thread's cache count as live:
 *            only their owner may look at them)
 *   partly   a page of a slab with both allocated and free slots: the free
 *            slots keep the whole span from going back to the buddy
 *   dirty    a free page still resident: a free buddy page touched since it
 *            was last purged, or a page of an empty slab (a class's spare)
 *   purged   a free page the kernel holds no memory for (purged, or never
 *            touched)
 *   meta     a page of lemmalloc's own mapped tables (chunk headers, thread
 *            caches, registry leaves); drawn after the chunks
 * Huge mappings are not drawn (one may span a million pages); their bytes
 * appear in the totals.
 */
#ifndef LM_HEAPMAP_H
#define LM_HEAPMAP_H
#include "heap.h"

enum lm_hm_state { LM_HM_LIVE, LM_HM_PARTLY, LM_HM_DIRTY, LM_HM_PURGED, LM_HM_META, LM_HM_NSTATES };

struct lm_hm_chunk {
  uintptr_t base;
  uint32_t arena;
  uint8_t cell[LM_CHUNK_PAGES];   /* enum lm_hm_state per page */
};

struct lm_heapmap {
  size_t cap;                     /* chunks the mapping holds */
  size_t nchunks;                 /* chunks recorded */
  bool truncated;                 /* more chunks appeared than cap */
  size_t cells[LM_HM_NSTATES];    /* pages per state, metadata included */
  size_t live_bytes;              /* allocated slot bytes + large blocks */
  size_t partly_free_bytes;       /* free slot bytes in partly used slabs */
  size_t huge_live, huge_cached;  /* bytes, not drawn */
  size_t tcache_bytes;            /* free slots in thread caches (drawn live) */
  unsigned narenas;               /* arenas with at least one chunk */
  size_t map_bytes;               /* size of this snapshot's own mapping */
  struct lm_hm_chunk chunk[];     /* by arena, then by address */
};

/* Take a snapshot (call with no lock held). NULL if memory ran out. */
struct lm_heapmap *lm_heapmap_take(void) LM_HIDDEN;
void lm_heapmap_release(struct lm_heapmap *m) LM_HIDDEN;

/* Slab usage for the statistics, by the same walk without the cells: per
 * class, the slots of its slabs and how many are allocated (slots in thread
 * caches included); bytes in slab spans; arenas holding chunks. */
struct lm_hm_usage {
  uint64_t slots[LM_NUM_CLASSES], used[LM_NUM_CLASSES];
  size_t slab_bytes;
  unsigned narenas;
};
void lm_heapmap_usage(struct lm_hm_usage *u) LM_HIDDEN;

/* Write a snapshot to fd: PNG (palette image, stored-deflate, with legend
 * and totals drawn in) or a self-contained HTML page (canvas and tooltips,
 * no network). Return 0, or -1 on a write error. */
int lm_heapmap_write_png(const struct lm_heapmap *m, int fd) LM_HIDDEN;
int lm_heapmap_write_html(const struct lm_heapmap *m, int fd) LM_HIDDEN;
/* Legend, totals and one line of counts per chunk. */
int lm_heapmap_write_text(const struct lm_heapmap *m, int fd) LM_HIDDEN;

/* lm_heapmap_write(path) is public (include/lemmalloc.h): flush the calling
 * thread's cache, take a snapshot, write it as PNG if path ends in ".png",
 * as text if in ".txt", else as HTML. 0, or -1 with errno set. */
int lm_heapmap_write(const char *path) __attribute__((visibility("default")));

/* LEMMALLOC_HEAPMAP=FILE writes FILE at exit ("%p" in FILE becomes the
 * pid, "%n" the number of maps the process wrote before: 0, 1, ...).
 * LEMMALLOC_HEAPMAP_SIGNAL=NAME (USR1, SIGUSR2, HUP, WINCH or a number)
 * installs a handler that only sets lm_heapmap_pending; the next allocator
 * slow path (lm_heap_tick) calls lm_heapmap_poll, which writes FILE. Both
 * are read by heapmap.c's own constructor. */
extern volatile int lm_heapmap_pending LM_HIDDEN;
void lm_heapmap_poll(void) LM_HIDDEN;

#endif
