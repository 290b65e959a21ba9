/* Slabs: a span cut into equal slots. Slab index s: 0 <= s < LM_MAX_SLABS.
 * Owner: core (slab.c). Contracts: spec/slab.acsl + below. */
#ifndef LM_SLAB_H
#define LM_SLAB_H
#include "core.h"

/* Make slab s hold `nslots` free slots (1..LM_SLAB_MAX_SLOTS) of
 * `slot_size` bytes (a multiple of 16, nslots * slot_size <= 64 KiB).
 * Slots are handed out lowest offset first on a fresh slab. */
void lm_slab_init(uint32_t s, uint32_t slot_size, uint32_t nslots);

/* Allocate a slot: returns its byte offset (a multiple of the slot size,
 * < nslots * slot_size) or LM_ERR_NOMEM if the slab is full. */
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
