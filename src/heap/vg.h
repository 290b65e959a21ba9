/* valgrind support: when the program runs under valgrind, lemmalloc tells
 * memcheck about every block with client requests, so that memcheck reports
 * use after free, overflows past the requested size, reads of
 * uninitialised bytes and leaks with the program's own stacks.
 *
 * Not under valgrind each hook costs one predictable branch on a flag set
 * once at init (lm_vg_on); the inline fast paths have no hook at all: under
 * valgrind threads own no slabs and cache no blocks (thread.c), so every
 * call takes a slow path, where the hooks are.
 *
 * What memcheck is told:
 *   chunk mapped      whole chunk NOACCESS: slots never handed out are
 *                     inaccessible too
 *   block handed out  its usable bytes NOACCESS, then MALLOCLIKE for the
 *                     requested size: the slack after the request is
 *                     inaccessible, as memcheck's own malloc has it
 *   block freed       FREELIKE (before lemmalloc checks the pointer, so an
 *                     invalid or double free is reported with its stack)
 *   realloc in place  RESIZEINPLACE from the size memcheck knows
 * The requested size is not stored anywhere: lm_vg_size() asks memcheck
 * where the block's addressable bytes end.
 *
 * Leaks: memcheck counts a block as reachable when a pointer to its start
 * sits in memory that is not a heap block, and lemmalloc's tables hold such
 * pointers (a slab's base is its first slot, a chunk's base its first
 * block, a huge record's base the block itself). lm_vg_hide() takes those
 * tables out of the leak scan: NOACCESS with address errors disabled in
 * the range, so lemmalloc still reads them silently (memcheck takes what is
 * loaded from there as defined) while the scan skips them. valgrind then
 * lists the ranges as "still in force" at exit, which is expected.
 *
 * Built without <valgrind/memcheck.h> (or with -DLM_NO_VALGRIND) the hooks
 * compile to nothing.
 */
#ifndef LM_VG_H
#define LM_VG_H
#include "heap.h"

#if !defined(LM_NO_VALGRIND) && defined(__has_include)
#if __has_include(<valgrind/memcheck.h>)
#define LM_HAVE_VALGRIND 1
#endif
#endif

#ifdef LM_HAVE_VALGRIND
#include <valgrind/valgrind.h>
#include <valgrind/memcheck.h>

extern bool lm_vg_on LM_HIDDEN; /* running under valgrind; set by lm_vg_init */

/* Ask valgrind once (at heap init); returns lm_vg_on. */
static inline bool lm_vg_init(void) {
  lm_vg_on = RUNNING_ON_VALGRIND != 0;
  return lm_vg_on;
}

static inline void lm_vg_noaccess(const void *p, size_t n) {
  if (lm_unlikely(lm_vg_on)) (void)VALGRIND_MAKE_MEM_NOACCESS(p, n);
}

/* Metadata [p, p+n) that holds block addresses: out of the leak scan. */
static inline void lm_vg_hide(const void *p, size_t n) {
  if (lm_unlikely(lm_vg_on)) {
    (void)VALGRIND_MAKE_MEM_NOACCESS(p, n);
    VALGRIND_DISABLE_ADDR_ERROR_REPORTING_IN_RANGE(p, n);
  }
}

/* p was handed out for `size` bytes (zeroed: known to read zero) out of
 * `usable`. */
static inline void lm_vg_alloc(const void *p, size_t size, size_t usable, bool zeroed) {
  if (lm_unlikely(lm_vg_on)) {
    (void)VALGRIND_MAKE_MEM_NOACCESS(p, usable);
    VALGRIND_MALLOCLIKE_BLOCK(p, size, 0, zeroed);
  }
}

static inline void lm_vg_free(const void *p) {
  if (lm_unlikely(lm_vg_on)) VALGRIND_FREELIKE_BLOCK(p, 0);
}

static inline void lm_vg_resize(const void *p, size_t old_size, size_t new_size) {
  if (lm_unlikely(lm_vg_on)) VALGRIND_RESIZEINPLACE_BLOCK(p, old_size, new_size, 0);
}

/* The size memcheck knows for live block p of `usable` bytes: the
 * addressable bytes form a prefix [p, p + size), found by bisection with a
 * request that reports nothing. Not under valgrind: usable. */
static inline size_t lm_vg_size(const void *p, size_t usable) {
  if (lm_likely(!lm_vg_on)) return usable;
  size_t lo = 0, hi = usable; /* bytes < lo addressable, byte hi is not (or end) */
  while (lo < hi) {
    size_t mid = lo + (hi - lo) / 2;
    unsigned char vbits;
    if (VALGRIND_GET_VBITS((const char *)p + mid, &vbits, 1) == 1) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

#else /* no valgrind headers: nothing to tell */
#define lm_vg_on false
static inline bool lm_vg_init(void) { return false; }
static inline void lm_vg_noaccess(const void *p, size_t n) { (void)p, (void)n; }
static inline void lm_vg_hide(const void *p, size_t n) { (void)p, (void)n; }
static inline void lm_vg_alloc(const void *p, size_t size, size_t usable, bool zeroed) {
  (void)p, (void)size, (void)usable, (void)zeroed;
}
static inline void lm_vg_free(const void *p) { (void)p; }
static inline void lm_vg_resize(const void *p, size_t old_size, size_t new_size) {
  (void)p, (void)old_size, (void)new_size;
}
static inline size_t lm_vg_size(const void *p, size_t usable) { (void)p; return usable; }
#endif

#endif
