/* lemmalloc verified core: shared constants and glossary.
 *
 * The core decides where every block goes. It is pure C on indices and
 * offsets: it includes only <stddef.h>, <stdint.h>, <stdbool.h> and its own
 * headers, makes no syscalls, takes no locks, sets no errno and calls no libc
 * function (the build checks that its objects have no undefined symbols).
 * Every function carries an ACSL contract proven by Frama-C WP (`make verify`).
 *
 * Glossary (used in code, contracts and docs with exactly these meanings)
 *   OS page     4 KiB, the unit the kernel maps and the unit of the buddy.
 *   page        an OS page inside a chunk, named by its index 0..LM_CHUNK_PAGES-1.
 *   chunk       LM_CHUNK_PAGES pages of memory aligned to their size, obtained
 *               from the OS by the heap and named by a chunk handle
 *               0..LM_MAX_CHUNKS-1. The core never sees its address.
 *   order       a block of order k spans 2^k pages; 0 <= k <= LM_MAX_ORDER.
 *   block       a run of 2^k pages starting at a page index that is a
 *               multiple of 2^k (its head); free or allocated. Blocks tile
 *               the chunk.
 *   buddy       the other half of the order-(k+1) block that a block of
 *               order k belongs to: head + 2^k or head - 2^k.
 *   size class  a small request size rounded up to one of LM_NUM_CLASSES
 *               block sizes (multiples of 16, four classes per doubling, and
 *               one just above each power of two from 1 KiB).
 *   slab        a buddy block cut into equal slots of one size class, named
 *               by a slab handle (lm_slab_t) 0..LM_MAX_SLABS-1 chosen by the
 *               heap; its state is one record reached through LM_SLAB(s).
 *   slot        one block inside a slab, named by its slot index or by its
 *               byte offset from the start of the slab (slot * slot size).
 *   span        the bytes of the buddy block a slab lives in.
 *
 * State lives in global arrays indexed by chunk, page and slab: WP reasons
 * about arrays whose address is never taken as plain values, which is what
 * makes the proofs tractable (see spec/README.md). Only the core's functions
 * read or write them.
 */
#ifndef LM_CORE_H
#define LM_CORE_H

#include <stddef.h>
#include <stdint.h>
#include <stdbool.h>

#define LM_PAGE_SHIFT 12
#define LM_PAGE_SIZE (1u << LM_PAGE_SHIFT)

/* Buddy geometry: a chunk is 2^LM_MAX_ORDER pages (4 MiB). */
#ifndef LM_MAX_ORDER
#define LM_MAX_ORDER 10
#endif
#define LM_CHUNK_PAGES (1u << LM_MAX_ORDER)
#define LM_CHUNK_SIZE ((size_t)LM_CHUNK_PAGES << LM_PAGE_SHIFT)
/* Chunk handles: 0 <= c < LM_MAX_CHUNKS. A handle is the address of the
 * chunk's state shifted down by LM_BUDDY_SHIFT (buddy.h), so every address
 * of a 47-bit user space has one: no cap below what the OS gives. */
#define LM_MAX_CHUNKS (1u << 30)

/* Slab handles: 0 <= s < LM_MAX_SLABS. A handle is the address of the
 * slab's record shifted down by LM_SLAB_SHIFT (slab.h), so every address of
 * a 48-bit space has one. */
#define LM_MAX_SLABS ((uint64_t)1 << 40)
#define LM_SLAB_MAX_SLOTS 512
#define LM_SLAB_MAX_ORDER 4 /* a slab spans at most 2^4 pages = 64 KiB */

/* Size classes: 16, 32, 48, 64, then four per doubling up to 16 KiB, plus
 * one an eighth above each power of two from 1 KiB (1152 .. 9216). */
#define LM_QUANTUM 16
#define LM_SMALL_MAX 16384
#define LM_NUM_CLASSES 40

/* The heap's fast paths call a few core functions on every malloc and
 * free, and a call costs about as much as their bodies. The library is
 * built with link-time optimization (src/build.mk defines LM_CORE_LTO),
 * where GCC inlines functions marked LM_CORE_HOT whatever its size budget
 * says (the mark is on declarations of functions not declared inline,
 * hence the silenced -Wattributes). Other builds, Frama-C included, see
 * plain declarations. */
#if defined(LM_CORE_LTO) && defined(__GNUC__) && !defined(__clang__) && !defined(__FRAMAC__)
#define LM_CORE_HOT __attribute__((always_inline))
#define LM_CORE_HOT_BEGIN _Pragma("GCC diagnostic push") _Pragma("GCC diagnostic ignored \"-Wattributes\"")
#define LM_CORE_HOT_END _Pragma("GCC diagnostic pop")
#else
#define LM_CORE_HOT
#define LM_CORE_HOT_BEGIN
#define LM_CORE_HOT_END
#endif

/* Error codes returned (negative) by core functions. */
#define LM_ERR_NOMEM (-1)        /* no free block / slot big enough */
#define LM_ERR_RANGE (-2)        /* index or offset outside the chunk/slab */
#define LM_ERR_INTERIOR (-3)     /* page or offset inside a block, not its start */
#define LM_ERR_NOT_ALLOCATED (-4) /* start of a block that is free: double free */
#define LM_ERR_NOT_FREE (-5)      /* lm_buddy_take of a block that is allocated */

#include "sizeclass.h"
#include "buddy.h"
#include "slab.h"

#endif
