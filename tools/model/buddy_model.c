/* The buddy reference model: see buddy_model.h. */
#include "buddy_model.h"

#include <stdio.h>
#include <string.h>

#define PAGES LM_BM_PAGES

void lm_bm_init(struct lm_buddy_model *m) {
  memset(m->head_order, -1, sizeof m->head_order);
  memset(m->used, 0, sizeof m->used);
  m->stale = true;
}

static bool range_unused(const struct lm_buddy_model *m, uint32_t h, uint32_t n) {
  return m->used_before[h + n] == m->used_before[h];
}

/* Tile [h, h + 2^k): an allocated block stays as it is, a run with no used
 * page is one free block, anything else splits in two halves. */
static void tile(struct lm_buddy_model *m, uint32_t h, uint32_t k) {
  uint32_t n = 1u << k;
  bool allocated = m->head_order[h] == (int8_t)k;
  if (allocated || range_unused(m, h, n)) {
    m->head[h] = true;
    m->alloc[h] = allocated;
    m->order[h] = (uint8_t)k;
    for (uint32_t i = h; i < h + n; i++) m->block_of[i] = h;
    if (!allocated) m->free_pages += n, m->nfree[k]++;
    return;
  }
  tile(m, h, k - 1); /* k > 0: an order-0 page is either used by its own block or free */
  tile(m, h + n / 2, k - 1);
}

const struct lm_buddy_model *lm_bm_tiling(struct lm_buddy_model *m) {
  if (!m->stale) return m;
  memset(m->head, 0, sizeof m->head);
  memset(m->nfree, 0, sizeof m->nfree);
  m->free_pages = 0;
  m->used_before[0] = 0;
  for (uint32_t i = 0; i < PAGES; i++) m->used_before[i + 1] = m->used_before[i] + m->used[i];
  tile(m, 0, LM_MAX_ORDER);
  m->stale = false;
  return m;
}

int lm_bm_best_order(struct lm_buddy_model *m, uint32_t order) {
  lm_bm_tiling(m);
  for (uint32_t k = order; k <= LM_MAX_ORDER; k++)
    if (m->nfree[k]) return (int)k;
  return -1;
}

bool lm_bm_alloc_ok(struct lm_buddy_model *m, uint32_t order, int32_t r, char *why, size_t cap) {
  int best = lm_bm_best_order(m, order);
  if (best < 0) {
    if (r == LM_ERR_NOMEM) return true;
    snprintf(why, cap, "no free block of order >= %u, alloc returned %d", order, r);
    return false;
  }
  if (r < 0 || (uint32_t)r >= PAGES || !m->head[r] || m->alloc[r] || m->order[r] != best) {
    snprintf(why, cap, "buddy alloc of order %u returned %d, not the head of a free block of "
             "order %d (the smallest that fits)", order, r, best);
    return false;
  }
  return true; /* a free head: aligned, inside, and its pages unused */
}

static int32_t head_error(struct lm_buddy_model *m, uint32_t page, bool want_alloc) {
  lm_bm_tiling(m);
  if (page >= PAGES) return LM_ERR_RANGE;
  if (!m->head[page]) return LM_ERR_INTERIOR;
  if (m->alloc[page] != want_alloc) return want_alloc ? LM_ERR_NOT_ALLOCATED : LM_ERR_NOT_FREE;
  return m->order[page];
}

int32_t lm_bm_free_expect(struct lm_buddy_model *m, uint32_t page) { return head_error(m, page, true); }
int32_t lm_bm_take_expect(struct lm_buddy_model *m, uint32_t page) { return head_error(m, page, false); }

int32_t lm_bm_shrink_expect(struct lm_buddy_model *m, uint32_t page, uint32_t order) {
  int32_t want = head_error(m, page, true);
  return want >= 0 && order > (uint32_t)want ? LM_ERR_RANGE : want;
}

int32_t lm_bm_block_of(struct lm_buddy_model *m, uint32_t page) {
  lm_bm_tiling(m);
  return page < PAGES ? (int32_t)m->block_of[page] : LM_ERR_RANGE;
}

void lm_bm_mark(struct lm_buddy_model *m, uint32_t head, uint32_t order, bool used) {
  m->stale = true;
  m->head_order[head] = used ? (int8_t)order : -1;
  memset(&m->used[head], used, (size_t)1 << order);
}

bool lm_bm_compare(struct lm_buddy_model *m, uint32_t c, bool full, char *why, size_t cap) {
  lm_bm_tiling(m);
  if (lm_buddy_free_pages(c) != m->free_pages) {
    snprintf(why, cap, "chunk %u: lm_buddy_free_pages = %u, model %u", c, lm_buddy_free_pages(c),
             m->free_pages);
    return false;
  }
  for (uint32_t p = 0; p < PAGES; p += full || !m->head[p] ? 1 : 1u << m->order[p]) {
    bool h = lm_buddy_is_head(c, p), a = lm_buddy_is_allocated(c, p);
    uint32_t o = lm_buddy_order(c, p);
    if (h != m->head[p] || o != (m->head[p] ? m->order[p] : 0u) || a != (m->head[p] && m->alloc[p])) {
      snprintf(why, cap, "chunk %u page %u: core says head=%d order=%u allocated=%d, "
               "model head=%d order=%u allocated=%d", c, p, h, o, a, m->head[p], m->order[p],
               m->alloc[p]);
      return false;
    }
    if (!h) continue;
    /* block_of costs O(order): ask it at the block's first, middle and last page. */
    uint32_t last = p + (1u << m->order[p]) - 1, probes[3] = {p, p + (last - p + 1) / 2, last};
    for (unsigned k = 0; k < 3; k++) {
      int32_t b = lm_buddy_block_of(c, probes[k]);
      if (b != (int32_t)p) {
        snprintf(why, cap, "chunk %u: block_of(%u) = %d, model %u", c, probes[k], b, p);
        return false;
      }
    }
  }
  if (lm_buddy_block_of(c, PAGES) != LM_ERR_RANGE || lm_buddy_block_of(c, UINT32_MAX) != LM_ERR_RANGE) {
    snprintf(why, cap, "chunk %u: block_of past the chunk is not LM_ERR_RANGE", c);
    return false;
  }
  return true;
}
