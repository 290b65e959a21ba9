#include "blocks.h"

#include <string.h>

#define PAT_K 0x9e3779b97f4a7c15u
#define STRIDE 4096u
#define PROBE 64u

uint8_t pat_byte(uint64_t seed, size_t o) {
  return (uint8_t)((seed + (uint64_t)(o / 8) * PAT_K) >> (8 * (o % 8)));
}

/* The segments of a block of length len that carry its pattern: all of it
 * up to fill_max, then a PROBE-byte run at each STRIDE boundary and the last
 * PROBE bytes. Huge blocks thus cost a few bytes per page, yet every page is
 * touched (it must be mapped and writable) and both ends are exact. Segments
 * start at multiples of 8, so the word loop below stays simple. */
struct seg {
  size_t off, len;
};

static size_t segments(size_t len, size_t fill_max, struct seg *out, size_t i) {
  /* Returns the i-th segment in out, 0 when done (at most ~len/STRIDE+2). */
  if (len <= fill_max) {
    if (i > 0) return 0;
    *out = (struct seg){0, len};
    return 1;
  }
  size_t head = fill_max & ~(size_t)(STRIDE - 1);
  size_t tail = (len - PROBE) & ~(size_t)7;
  if (i == 0) {
    *out = (struct seg){0, head};
    return 1;
  }
  size_t off = head + (i - 1) * STRIDE;
  if (off < tail) {
    size_t l = PROBE < tail - off ? PROBE : tail - off;
    *out = (struct seg){off, l};
    return 1;
  }
  if (off < tail + STRIDE) { /* the one segment after the strides */
    *out = (struct seg){tail, len - tail};
    return 1;
  }
  return 0;
}

static void fill_range(unsigned char *p, size_t off, size_t len, uint64_t seed) {
  uint64_t v = seed + (uint64_t)(off / 8) * PAT_K;
  size_t i = 0;
  for (; i + 8 <= len; i += 8, v += PAT_K)
    memcpy(p + off + i, &v, 8);
  for (; i < len; i++)
    p[off + i] = pat_byte(seed, off + i);
}

static size_t check_range(const unsigned char *p, size_t off, size_t len, uint64_t seed) {
  uint64_t v = seed + (uint64_t)(off / 8) * PAT_K;
  size_t i = 0;
  for (; i + 8 <= len; i += 8, v += PAT_K) {
    uint64_t w;
    memcpy(&w, p + off + i, 8);
    if (w != v) break; /* find the exact byte below */
  }
  for (; i < len; i++)
    if (p[off + i] != pat_byte(seed, off + i)) return off + i;
  return SIZE_MAX;
}

void pat_fill(void *p, size_t len, uint64_t seed, size_t fill_max) {
  struct seg s;
  for (size_t i = 0; segments(len, fill_max, &s, i); i++)
    fill_range(p, s.off, s.len, seed);
}

size_t pat_check(const void *p, size_t len, size_t upto, uint64_t seed, size_t fill_max) {
  struct seg s;
  for (size_t i = 0; segments(len, fill_max, &s, i); i++) {
    if (s.off >= upto) break;
    size_t l = s.len < upto - s.off ? s.len : upto - s.off;
    size_t bad = check_range(p, s.off, l, seed);
    if (bad != SIZE_MAX) return bad;
  }
  return SIZE_MAX;
}

size_t zero_check(const void *p, size_t len, size_t fill_max) {
  const unsigned char *b = p;
  struct seg s;
  for (size_t i = 0; segments(len, fill_max, &s, i); i++) {
    size_t j = 0;
    for (; j + 8 <= s.len; j += 8) {
      uint64_t w;
      memcpy(&w, b + s.off + j, 8);
      if (w) break;
    }
    for (; j < s.len; j++)
      if (b[s.off + j]) return s.off + j;
  }
  return SIZE_MAX;
}

/* First index whose lo is >= x. */
static size_t lower_bound(const struct iset *s, uintptr_t x) {
  size_t a = 0, b = s->n;
  while (a < b) {
    size_t m = a + (b - a) / 2;
    if (s->lo[m] < x) a = m + 1;
    else b = m;
  }
  return a;
}

bool iset_insert(struct iset *s, uintptr_t lo, uintptr_t hi, uintptr_t *olo, uintptr_t *ohi) {
  size_t i = lower_bound(s, lo);
  size_t hit = SIZE_MAX;
  if (i > 0 && s->hi[i - 1] > lo) hit = i - 1;
  else if (i < s->n && s->lo[i] < hi) hit = i;
  if (hit != SIZE_MAX) {
    *olo = s->lo[hit];
    *ohi = s->hi[hit];
    return false;
  }
  if (s->n == ISET_CAP) return true; /* cannot happen: slots bound the live set */
  memmove(&s->lo[i + 1], &s->lo[i], (s->n - i) * sizeof s->lo[0]);
  memmove(&s->hi[i + 1], &s->hi[i], (s->n - i) * sizeof s->hi[0]);
  s->lo[i] = lo;
  s->hi[i] = hi;
  s->n++;
  return true;
}

void iset_remove(struct iset *s, uintptr_t lo) {
  size_t i = lower_bound(s, lo);
  if (i == s->n || s->lo[i] != lo) return;
  memmove(&s->lo[i], &s->lo[i + 1], (s->n - i - 1) * sizeof s->lo[0]);
  memmove(&s->hi[i], &s->hi[i + 1], (s->n - i - 1) * sizeof s->hi[0]);
  s->n--;
}
