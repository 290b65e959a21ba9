/* Slabs: a span cut into equal slots. Slab index s: 0 <= s < LM_MAX_SLABS.
 * Owner: core (slab.c). Contracts: spec/slab.acsl + below. */
#ifndef LM_SLAB_H
#define LM_SLAB_H
#include "core.h"

/* Largest span a slab may cover: 2^LM_SLAB_MAX_ORDER pages (64 KiB). */
#define LM_SLAB_MAX_SPAN (LM_PAGE_SIZE << LM_SLAB_MAX_ORDER)

/* Slab state, defined in slab.c. Declared here only so that the contracts
 * below can name it: nothing outside slab.c may read or write it. */
struct lm_slab_hdr {
  uint16_t size;   /* slot size in bytes */
  uint16_t nslots; /* slots in the span */
  uint16_t top;    /* free slots on the stack: lm_slab_perm[s][0 .. top-1] */
  uint16_t bump;   /* slots >= bump were never handed out since init */
};
extern __attribute__((visibility("hidden"))) struct lm_slab_hdr lm_slab_hdr[LM_MAX_SLABS];
extern __attribute__((visibility("hidden"))) uint16_t lm_slab_perm[LM_MAX_SLABS][LM_SLAB_MAX_SLOTS];
extern __attribute__((visibility("hidden"))) uint16_t lm_slab_pos[LM_MAX_SLABS][LM_SLAB_MAX_SLOTS];

/* Make slab s hold `nslots` free slots (1..LM_SLAB_MAX_SLOTS) of
 * `slot_size` bytes (a multiple of 16, at most LM_SMALL_MAX,
 * nslots * slot_size <= LM_SLAB_MAX_SPAN). O(1): touches no slot metadata.
 * Slots are handed out lowest offset first on a fresh slab. */
void lm_slab_init(uint32_t s, uint32_t slot_size, uint32_t nslots);

/* Allocate a slot: returns its byte offset (a multiple of the slot size,
 * < nslots * slot_size) or LM_ERR_NOMEM if the slab is full. The most
 * recently freed slot is reused first; failing that, the lowest slot never
 * handed out. */
int32_t lm_slab_alloc(uint32_t s);

/* Free the slot at byte offset `off`. Returns 0, or LM_ERR_RANGE (off beyond
 * the last slot), LM_ERR_INTERIOR (not a multiple of the slot size) or
 * LM_ERR_NOT_ALLOCATED (slot already free); on error nothing changes. */
int32_t lm_slab_free(uint32_t s, uint32_t off);

/* Is the slot at byte offset `off` currently allocated? */
bool lm_slab_is_allocated(uint32_t s, uint32_t off);

uint32_t lm_slab_used(uint32_t s);      /* exact count of allocated slots */
uint32_t lm_slab_nslots(uint32_t s);
uint32_t lm_slab_slot_size(uint32_t s);
bool lm_slab_is_empty(uint32_t s);      /* no slot allocated: span may go back */
bool lm_slab_is_full(uint32_t s);

/* C mirror of SlabValid(s). O(slots). */
bool lm_slab_check(uint32_t s);

#endif
