/* The registry: which chunk or huge mapping holds an address, one entry
 * per 4 MiB granule in a two-level table whose leaves are mapped on demand
 * and never unmapped (heap.h, lm_reg_lookup, reads it without a lock). */
#include "heap.h"

uintptr_t *lm_reg_root[1u << LM_REG_ROOT_BITS];

bool lm_reg_set(uintptr_t a, size_t size, uintptr_t value) {
  uintptr_t end = a + size;
  for (uintptr_t g = a & ~(uintptr_t)(LM_CHUNK_SIZE - 1); g < end; g += LM_CHUNK_SIZE) {
    uintptr_t **slot = &lm_reg_root[g >> (LM_CHUNK_SHIFT + LM_REG_LEAF_BITS)];
    uintptr_t *leaf = __atomic_load_n(slot, __ATOMIC_ACQUIRE);
    if (leaf == NULL) {
      if (value == 0) continue;
      size_t len = sizeof(uintptr_t) << LM_REG_LEAF_BITS;
      static uint32_t nleaves;
      if (__atomic_load_n(&nleaves, __ATOMIC_RELAXED) >= LM_LIMIT_REG_LEAVES) return false;
      uintptr_t *fresh = lm_meta_map(len, LM_PAGE_SIZE);
      if (fresh == NULL) return false;
      if (__atomic_compare_exchange_n(slot, &leaf, fresh, false, __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE)) {
        leaf = fresh;
        __atomic_fetch_add(&nleaves, 1, __ATOMIC_RELAXED);
      } else {
        lm_os_unmap(fresh, len); /* another thread installed one first */
        lm_lock(&lm_heap.meta_lock);
        lm_heap.meta_bytes -= len;
        lm_unlock(&lm_heap.meta_lock);
      }
    }
    __atomic_store_n(&leaf[(g >> LM_CHUNK_SHIFT) & ((1u << LM_REG_LEAF_BITS) - 1)], value,
                     __ATOMIC_RELEASE);
  }
  return true;
}
