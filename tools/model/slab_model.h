/* A slab as plain arrays (the reference model of src/core/slab.h, shared by
 * tests/core/slab_test.c and fuzz/fuzz_core.c): a byte per slot and a
 * count; slab.h's policy is that alloc returns the byte offset of the
 * lowest free slot. Each call has its expected result here; the caller runs
 * the core, compares, then applies the change with lm_sm_set.
 * lm_sm_compare checks a core slab against the model. */
#ifndef LM_SLAB_MODEL_H
#define LM_SLAB_MODEL_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/core.h"

struct lm_slab_model {
  uint32_t size, nslots, used;
  uint8_t alloc[LM_SLAB_MAX_SLOTS];
};

/* lm_slab_init(s, size, nslots): every slot free. */
void lm_sm_init(struct lm_slab_model *m, uint32_t size, uint32_t nslots);
/* The lowest free slot, or nslots if the slab is full. */
uint32_t lm_sm_lowest_free(const struct lm_slab_model *m);
/* Expected lm_slab_alloc: the lowest free slot's offset, or LM_ERR_NOMEM. */
int32_t lm_sm_alloc_expect(const struct lm_slab_model *m);
/* Expected lm_slab_free(off): 0, or LM_ERR_RANGE (past the last slot),
 * LM_ERR_INTERIOR (not a slot's start), LM_ERR_NOT_ALLOCATED. */
int32_t lm_sm_free_expect(const struct lm_slab_model *m, uint32_t off);
/* Expected lm_slab_free_slot(slot): 0, LM_ERR_RANGE or LM_ERR_NOT_ALLOCATED. */
int32_t lm_sm_free_slot_expect(const struct lm_slab_model *m, uint32_t slot);
/* Apply: slot becomes allocated or free. */
void lm_sm_set(struct lm_slab_model *m, uint32_t slot, bool allocated);

/* Compare core slab s with the model: used, nslots, slot size, empty/full,
 * and each slot's is_allocated / slot_allocated -- all of them (full) or
 * only `touched` (if < nslots) -- and that indexes past the last read as
 * free. false with why on the first difference. Does not run lm_slab_check. */
bool lm_sm_compare(const struct lm_slab_model *m, lm_slab_t s, bool full, uint32_t touched,
                   char *why, size_t cap);

#endif
