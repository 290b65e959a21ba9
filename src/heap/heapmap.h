/* The heap map: a snapshot of every chunk, one cell per OS page, written
 * as versioned text (tools/heapmap/README.md, "Format"). Pictures (PNG,
 * HTML) are drawn from that file by tools/heapmap/render.py, outside the
 * process: the library only takes and writes snapshots.
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
 *            caches, registry leaves): counted, not part of any chunk
 * Huge mappings have no cells (one may span a million pages); their bytes
 * are in the totals.
 */
#ifndef LM_HEAPMAP_H
#define LM_HEAPMAP_H
#include "heap.h"

enum lm_hm_state { LM_HM_LIVE, LM_HM_PARTLY, LM_HM_DIRTY, LM_HM_PURGED, LM_HM_META, LM_HM_NSTATES };

/* Slab usage, per class: slabs, their slots and how many are allocated
 * (slots in thread caches included); bytes in slab spans; arenas holding
 * chunks. lm_stats' occupancy and the snapshot's slab lines. */
struct lm_hm_usage {
  uint64_t nslabs[LM_NUM_CLASSES], slots[LM_NUM_CLASSES], used[LM_NUM_CLASSES];
  size_t slab_bytes;
  unsigned narenas;
};

struct lm_hm_chunk {
  uintptr_t base;
  uint32_t arena;
  uint8_t cell[LM_CHUNK_PAGES];   /* enum lm_hm_state per page */
};

struct lm_heapmap {
  size_t cap;                     /* chunks the mapping holds */
  size_t nchunks;                 /* chunks recorded */
  bool truncated;                 /* more chunks appeared than cap */
  size_t cells[LM_HM_NSTATES];    /* pages per state of the recorded chunks; meta: resident table pages */
  size_t live_bytes;              /* allocated slot bytes + large blocks */
  size_t partly_free_bytes;       /* free slot bytes in partly used slabs */
  size_t huge_live, huge_cached;  /* bytes, no cells */
  size_t tcache_bytes;            /* free slots in thread caches (cells live) */
  struct lm_hm_usage usage;       /* every chunk's slabs, recorded or not */
  size_t map_bytes;               /* size of this snapshot's own mapping */
  struct lm_hm_chunk chunk[];     /* by arena, then by address */
};

/* Take a snapshot (call with no lock held). NULL if memory ran out. */
struct lm_heapmap *lm_heapmap_take(void) LM_HIDDEN;
void lm_heapmap_release(struct lm_heapmap *m) LM_HIDDEN;

/* The snapshot's walk without the cells (no mapping): for lm_stats. */
void lm_heapmap_usage(struct lm_hm_usage *u) LM_HIDDEN;

/* Write a snapshot to fd in the text format. 0, or -1 on a write error. */
int lm_heapmap_write_fd(const struct lm_heapmap *m, int fd) LM_HIDDEN;

/* lm_heapmap_write(path) is public (include/lemmalloc.h): flush the calling
 * thread's cache, take a snapshot, write it to path (whatever its name)
 * through a temporary file renamed over it. 0, or -1 with errno set. */
int lm_heapmap_write(const char *path) __attribute__((visibility("default")));

/* heapmap_trigger.c: LEMMALLOC_HEAPMAP=FILE is written at exit ("%p" in
 * FILE becomes the pid, "%n" the number of maps the process wrote before:
 * 0, 1, ...). With LEMMALLOC_HEAPMAP_SIGNAL=SIG a handler only sets
 * lm_heapmap_pending; the next allocator slow path (lm_heap_tick) calls
 * lm_heapmap_poll, which writes FILE. config.c reads both settings
 * (lm_heapmap_conf, config.h). */
extern volatile int lm_heapmap_pending LM_HIDDEN;
void lm_heapmap_poll(void) LM_HIDDEN;

#endif
