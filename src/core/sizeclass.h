/* Size classes: request size -> class index -> block size.
 * Owner: core (sizeclass.c). Contracts: spec/sizeclass.acsl + below. */
#ifndef LM_SIZECLASS_H
#define LM_SIZECLASS_H
#include "core.h"

/* Class index for a request of n bytes, 0 <= n <= LM_SMALL_MAX (n == 0 maps
 * to class 0). Total, monotone; lm_class_size(lm_size_class(n)) >= n. */
uint32_t lm_size_class(uint32_t n);

/* Block size of class c (0 <= c < LM_NUM_CLASSES): a multiple of 16,
 * strictly increasing in c, lm_class_size(LM_NUM_CLASSES-1) == LM_SMALL_MAX. */
uint32_t lm_class_size(uint32_t c);

/* Buddy order (pages = 2^order, order <= LM_SLAB_MAX_ORDER) of a slab for
 * class c, and the number of slots it holds (1..LM_SLAB_MAX_SLOTS), chosen so
 * that slots * size fits in the span. */
uint32_t lm_class_slab_order(uint32_t c);
uint32_t lm_class_slab_slots(uint32_t c);

#endif
