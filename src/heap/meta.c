/* Metadata memory: the pool of small internal objects (thread caches, huge
 * block records) and the pool of chunk headers. Both come from mappings
 * that are never given back to the OS, so a pointer to metadata, however
 * stale, always points at readable memory: free may read a header before
 * it knows whether the pointer it was given is valid. What is unused is
 * purged instead (madvise), and reads as zero afterwards. */
#include "heap.h"
#include "thread.h" /* LM_TH_SC: a ThreadSanitizer build */
#include "vg.h"
#include <stddef.h>
#include <string.h>

void *lm_meta_map(size_t len, size_t align) {
  lm_lock(&lm_heap.meta_lock);
  bool over = LM_LIMIT_META_BYTES - lm_heap.meta_bytes < len; /* never below 0: checked before counting */
  lm_unlock(&lm_heap.meta_lock);
  char *m = over ? NULL : lm_os_map(len, align);
  if (m == NULL) return NULL;
  lm_lock(&lm_heap.meta_lock);
  lm_heap.meta_bytes += len;
  lm_unlock(&lm_heap.meta_lock);
  return m;
}

/* ---- small objects: bump allocation in 256 KiB pieces, never freed ----
 * Each piece starts with a link to the one before, so that the resident
 * count can walk them. */

#define META_PIECE ((size_t)256 << 10)
struct piece { struct piece *prev; size_t len; };
static char *meta_cur, *meta_end;     /* meta_lock */
static struct piece *pieces;          /* the last piece mapped */

void *lm_meta_alloc(size_t size) {
  size = (size + 63) & ~(size_t)63;
  for (;;) {
    lm_lock(&lm_heap.meta_lock);
    if ((size_t)(meta_end - meta_cur) >= size) {
      void *p = meta_cur;
      meta_cur += size;
      lm_unlock(&lm_heap.meta_lock);
      return p;
    }
    lm_unlock(&lm_heap.meta_lock);
    size_t head = 64; /* the piece's link, padded to the objects' alignment */
    size_t len = size + head > META_PIECE ? (size + head + LM_PAGE_SIZE - 1) & ~(size_t)(LM_PAGE_SIZE - 1)
                                          : META_PIECE;
    char *m = lm_meta_map(len, LM_PAGE_SIZE);
    if (m == NULL) return NULL;
    lm_lock(&lm_heap.meta_lock);
    struct piece *pc = (struct piece *)m;
    pc->prev = pieces;
    pc->len = len;
    pieces = pc;
    /* The rest of the previous piece is abandoned (at most one object). */
    meta_cur = m + head;
    meta_end = m + len;
    lm_unlock(&lm_heap.meta_lock);
  }
}

/* Resident bytes of the pool's pieces and of the registry's leaves. */
static size_t pool_resident(void) {
  lm_lock(&lm_heap.meta_lock);
  struct piece *pc = pieces; /* pieces are only ever prepended */
  lm_unlock(&lm_heap.meta_lock);
  size_t bytes = 0;
  for (; pc != NULL; pc = pc->prev) bytes += lm_os_resident(pc, pc->len);
  for (size_t i = 0; i < sizeof lm_reg_root / sizeof lm_reg_root[0]; i++) {
    uintptr_t *leaf = __atomic_load_n(&lm_reg_root[i], __ATOMIC_ACQUIRE);
    if (leaf != NULL) bytes += lm_os_resident(leaf, sizeof(uintptr_t) << LM_REG_LEAF_BITS);
  }
  return bytes;
}

/* ---- chunk headers ----
 * Regions of HDRS_PER_REGION headers, each header LM_HDR_SIZE bytes aligned
 * to its size (the core finds a chunk's state from that alignment). Freed
 * headers go on a free list linked through their `next` field; all their
 * pages but the one holding that link are purged, so an unused header costs
 * one page. Nothing reads a header's old contents: lm_buddy_init's contract
 * reads nothing of the old state, nor lm_slab_init's of a record's, and
 * lm_hdr_alloc zeroes the heap's tables. */

#define HDRS_PER_REGION 8 /* 1 MiB: an idle process maps one region */
#define REGION_SIZE (HDRS_PER_REGION * LM_HDR_SIZE)

struct region { char *base; struct region *next; };
static struct lm_chunk *hdr_free;     /* meta_lock */
static char *region_cur;              /* next never-used header of the last region */
static char *region_end;
static struct region *regions;        /* every region, for the resident count */

/* Page-aligned part of [p, p+n). */
static void purge_pages(char *p, size_t n) {
  uintptr_t a = ((uintptr_t)p + LM_PAGE_SIZE - 1) & ~(uintptr_t)(LM_PAGE_SIZE - 1);
  uintptr_t b = ((uintptr_t)p + n) & ~(uintptr_t)(LM_PAGE_SIZE - 1);
  if (b > a) lm_os_purge((void *)a, b - a);
}

struct lm_chunk *lm_hdr_alloc(void) {
  struct lm_chunk *ch = NULL;
  for (;;) {
    lm_lock(&lm_heap.meta_lock);
    if ((ch = hdr_free) != NULL) {
      hdr_free = ch->next;
    } else if (region_cur < region_end) {
      ch = (struct lm_chunk *)region_cur;
      region_cur += LM_HDR_SIZE;
    }
    lm_unlock(&lm_heap.meta_lock);
    if (ch != NULL) break;
    struct region *r = lm_meta_alloc(sizeof *r);
    char *m = r ? lm_meta_map(REGION_SIZE, LM_HDR_SIZE) : NULL;
    if (m == NULL) return NULL; /* r, if any, stays in the pool: at most one per failure */
    lm_vg_hide(m, REGION_SIZE);
    r->base = m;
    lm_lock(&lm_heap.meta_lock);
    lm_heap.hdr_bytes += REGION_SIZE;
    r->next = regions;
    regions = r;
    if (region_cur < region_end) { /* another thread mapped one meanwhile: keep ours for later */
      for (char *h = m; h < m + REGION_SIZE; h += LM_HDR_SIZE) {
        ((struct lm_chunk *)h)->next = hdr_free;
        hdr_free = (struct lm_chunk *)h;
      }
    } else {
      region_cur = m;
      region_end = m + REGION_SIZE;
    }
    lm_unlock(&lm_heap.meta_lock);
  }
  /* The heap's tables must read zero (the core's part is the core's, set
   * by lm_buddy_init; the slab records are set up one by one as they are
   * taken). A fresh region reads zero, and lm_hdr_free purged every page
   * of a reused header but the one holding its link: only that page's part
   * of the tables is cleared, so the others are touched only when used. */
  char *tables = (char *)ch + sizeof ch->core, *end = (char *)ch + offsetof(struct lm_chunk, slab);
  char *pg = (char *)((uintptr_t)&ch->next & ~(uintptr_t)(LM_PAGE_SIZE - 1));
  char *lo = pg > tables ? pg : tables, *hi = pg + LM_PAGE_SIZE < end ? pg + LM_PAGE_SIZE : end;
  memset(lo, 0, (size_t)(hi - lo));
#ifdef LM_TH_SC
  /* Free's racy read of a slot's bit (thread.h, lm_th_slot_freed) is by
   * design: ThreadSanitizer is told so for the bitmap words of each slab
   * record, and only them (the count and hint written with them stay
   * checked, so racing writers are still seen). */
  for (uint32_t i = 0; i < LM_CHUNK_SLABS; i++)
    AnnotateBenignRaceSized(__FILE__, __LINE__, ch->slab[i].core.bits, sizeof ch->slab[i].core.bits,
                            "a slot's core bit read by another thread's free (thread.h, lm_th_slot_freed)");
#endif
  return ch;
}

void lm_hdr_free(struct lm_chunk *ch) {
  /* Keep the page that holds the link, give back every other one. */
  char *h = (char *)ch, *link = (char *)&ch->next;
  uintptr_t keep = (uintptr_t)link & ~(uintptr_t)(LM_PAGE_SIZE - 1);
  purge_pages(h, (size_t)((char *)keep - h));
  purge_pages((char *)keep + LM_PAGE_SIZE, (size_t)(h + LM_HDR_SIZE - ((char *)keep + LM_PAGE_SIZE)));
  lm_lock(&lm_heap.meta_lock);
  ch->next = hdr_free;
  hdr_free = ch;
  lm_unlock(&lm_heap.meta_lock);
}

size_t lm_meta_resident(void) { return lm_hdr_resident() + pool_resident(); }

size_t lm_hdr_resident(void) {
  lm_lock(&lm_heap.meta_lock);
  struct region *r = regions; /* regions are only ever prepended */
  lm_unlock(&lm_heap.meta_lock);
  size_t bytes = 0;
  for (; r != NULL; r = r->next) bytes += lm_os_resident(r->base, REGION_SIZE);
  return bytes;
}
