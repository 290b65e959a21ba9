/* A chunk header reused for another address (issue 17).
 *
 * Chunk headers come from a pool that is never unmapped: when a chunk is
 * unmapped its header goes back to the pool, and the next chunk mapped may
 * get it, at another address. free's fast path remembers the header of the
 * last chunk it freed into (thread.h, lm_th_decode) and must compare the
 * header's *current* base with the pointer's chunk: a copy of the old base
 * would send a stale pointer into the old chunk to the new chunk's page
 * map, and free a live slot there.
 *
 * The test: free a block of chunk X (the thread now remembers X's header
 * H), unmap X (trim), hold X's old range with a mapping of our own so that
 * the next chunk lands elsewhere, grow the heap until a new chunk Y gets H,
 * fill a slab in Y, then free the pointer at the same offset in X's old
 * range. lemmalloc must report it (LEMMALLOC_ON_ERROR=warn: a message, no
 * abort) and leave Y's block live and intact.
 *
 * Built with the library's sources (it reads the registry); run with
 * LEMMALLOC_ARENAS=1 LEMMALLOC_ON_ERROR=warn. */
#define _GNU_SOURCE
#include "../lib/test.h"
#include "heap/thread.h"
#include "heap/alloc.h"
#include <fcntl.h>
#include <malloc.h>
#include <sys/mman.h>

#define BIG ((size_t)2 << 20) /* half a chunk: a large run of its own */
#define NBIG 16

static const struct lm_chunk *chunk_of(const void *p) {
  uintptr_t e = lm_reg_lookup((uintptr_t)p);
  return (e == 0 || (e & LM_REG_HUGE)) ? NULL : (const struct lm_chunk *)e;
}

int main(void) {
  lt_init("chunk-reuse");
  void *big[NBIG];
  const struct lm_chunk *hx = NULL;
  uintptr_t xbase = 0;
  void *slot = NULL, *stale = NULL;
  TEST("stale pointer into a chunk whose header was reused: reported, new block live") {
    for (int i = 0; i < NBIG; i++) {
      big[i] = malloc(BIG);
      CHECK(big[i] != NULL);
    }
    /* The chunks of the last blocks: free all their blocks, so that the
     * trim unmaps one of them (it keeps the lowest empty chunk as a
     * reserve): X, the higher of the two. */
    const struct lm_chunk *c1 = chunk_of(big[NBIG - 1]), *c2 = chunk_of(big[NBIG - 3]);
    CHECK(c1 != NULL && c2 != NULL && c1 != c2);
    if (c1 == NULL || c2 == NULL || c1 == c2) return lt_done();
    hx = c1->base > c2->base ? c1 : c2;
    xbase = hx->base;
    for (int i = 0; i < NBIG; i++)
      if (big[i] && (chunk_of(big[i]) == c1 || chunk_of(big[i]) == c2)) {
        free(big[i]);
        big[i] = NULL;
      }
    /* The fast path now remembers X's header: a free of a pointer into X
     * that is no block (the slow path reports it and the heap goes on). */
    free((void *)(xbase + 64));
    CHECK(lm_th != &lm_th_none && lm_th->ch == hx);
    malloc_trim(0);
    CHECKF(lm_reg_lookup(xbase) == 0, "chunk X (%#lx) still mapped after the trim", (unsigned long)xbase);
    /* X's old range is ours now: the next chunk must go elsewhere. */
    void *hold = mmap((void *)xbase, LM_CHUNK_SIZE, PROT_READ | PROT_WRITE,
                      MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
    CHECKF(hold == (void *)xbase, "could not hold X's range: %p", hold);
    /* Grow until a new chunk gets X's header, then allocate 16 KiB blocks
     * until one lands in it. */
    void *more[64] = {0};
    int nmore = 0;
    const struct lm_chunk *hy = NULL;
    while (nmore < 64 && hy == NULL) {
      more[nmore] = malloc(BIG);
      CHECK(more[nmore] != NULL);
      if (chunk_of(more[nmore]) == hx) hy = hx;
      nmore++;
    }
    CHECKF(hy != NULL, "no new chunk got X's header in %d chunks' worth of blocks", nmore);
    CHECK(hy == NULL || hy->base != xbase);
    void *small[2048] = {0};
    int nsmall = 0;
    while (hy != NULL && nsmall < 2048 && slot == NULL) {
      small[nsmall] = malloc(16384);
      CHECK(small[nsmall] != NULL);
      if (small[nsmall] && chunk_of(small[nsmall]) == hy) slot = small[nsmall];
      nsmall++;
    }
    CHECKF(hy == NULL || slot != NULL, "no slab block landed in the new chunk");
    if (slot != NULL) {
      memset(slot, 0x5a, 16384);
      /* The same offset in X's old range: a pointer that was lemmalloc's,
       * into memory that is not any more. */
      stale = (void *)(xbase + ((uintptr_t)slot - hy->base));
      /* The fast path must not take it for Y's block. Its report goes to
       * stderr (LEMMALLOC_ON_ERROR=warn): captured in a file and read. */
      char path[] = "/tmp/lm-chunk-reuse.XXXXXX";
      int fd = mkstemp(path), saved = dup(2);
      CHECK(fd >= 0 && saved >= 0);
      CHECK(lm_th->ch == hy); /* the remembered header is H, now Y's */
      fflush(stderr);
      dup2(fd, 2);
      free(stale);
      fflush(stderr);
      dup2(saved, 2);
      char msg[512] = {0};
      ssize_t n = pread(fd, msg, sizeof msg - 1, 0);
      close(fd), close(saved), unlink(path);
      CHECKF(n > 0 && strstr(msg, "lemmalloc: free(): ") != NULL, "no report for the stale pointer: '%s'", msg);
      struct lm_block b;
      CHECKF(lm_heap_classify(slot, &b) == LM_BAD_NONE, "Y's block %p is no longer live", slot);
      unsigned char *c = slot;
      int intact = 1;
      for (size_t i = 0; i < 16384; i++) intact &= c[i] == 0x5a;
      CHECK(intact);
    }
    for (int i = 0; i < nsmall; i++) free(small[i]);
    for (int i = 0; i < nmore; i++) free(more[i]);
    for (int i = 0; i < NBIG; i++) free(big[i]);
    if (hold == (void *)xbase) munmap(hold, LM_CHUNK_SIZE);
  }
  return lt_done();
}
