/* The slab reference model: see slab_model.h. */
#include "slab_model.h"

#include <stdio.h>
#include <string.h>

void lm_sm_init(struct lm_slab_model *m, uint32_t size, uint32_t nslots) {
  memset(m, 0, sizeof *m);
  m->size = size;
  m->nslots = nslots;
}

uint32_t lm_sm_lowest_free(const struct lm_slab_model *m) {
  uint32_t x = 0;
  while (x < m->nslots && m->alloc[x]) x++;
  return x;
}

int32_t lm_sm_alloc_expect(const struct lm_slab_model *m) {
  uint32_t x = lm_sm_lowest_free(m);
  return x == m->nslots ? LM_ERR_NOMEM : (int32_t)(x * m->size);
}

int32_t lm_sm_free_expect(const struct lm_slab_model *m, uint32_t off) {
  return off / m->size >= m->nslots ? LM_ERR_RANGE
       : off % m->size              ? LM_ERR_INTERIOR
       : !m->alloc[off / m->size]   ? LM_ERR_NOT_ALLOCATED
                                    : 0;
}

int32_t lm_sm_free_slot_expect(const struct lm_slab_model *m, uint32_t slot) {
  return slot >= m->nslots ? LM_ERR_RANGE : !m->alloc[slot] ? LM_ERR_NOT_ALLOCATED : 0;
}

void lm_sm_set(struct lm_slab_model *m, uint32_t slot, bool allocated) {
  if (m->alloc[slot] == allocated) return;
  m->alloc[slot] = allocated;
  if (allocated) m->used++;
  else m->used--;
}

bool lm_sm_compare(const struct lm_slab_model *m, lm_slab_t s, bool full, uint32_t touched,
                   char *why, size_t cap) {
  unsigned long long id = (unsigned long long)s;
  if (lm_slab_used(s) != m->used || lm_slab_nslots(s) != m->nslots ||
      lm_slab_slot_size(s) != m->size) {
    snprintf(why, cap, "slab %#llx: used/nslots/size = %u/%u/%u, model %u/%u/%u", id,
             lm_slab_used(s), lm_slab_nslots(s), lm_slab_slot_size(s), m->used, m->nslots, m->size);
    return false;
  }
  if (lm_slab_is_empty(s) != (m->used == 0) || lm_slab_is_full(s) != (m->used == m->nslots)) {
    snprintf(why, cap, "slab %#llx: is_empty=%d is_full=%d with %u of %u used", id,
             lm_slab_is_empty(s), lm_slab_is_full(s), m->used, m->nslots);
    return false;
  }
  for (uint32_t i = full ? 0 : touched; i < m->nslots && (full || i == touched); i++)
    if (lm_slab_is_allocated(s, i * m->size) != (bool)m->alloc[i] ||
        lm_slab_slot_allocated(s, i) != (bool)m->alloc[i]) {
      snprintf(why, cap, "slab %#llx slot %u: is_allocated=%d slot_allocated=%d, model %d", id, i,
               lm_slab_is_allocated(s, i * m->size), lm_slab_slot_allocated(s, i), m->alloc[i]);
      return false;
    }
  if (lm_slab_slot_allocated(s, m->nslots) || lm_slab_slot_allocated(s, UINT32_MAX)) {
    snprintf(why, cap, "slab %#llx: a slot index past the last reads as allocated", id);
    return false;
  }
  return true;
}
