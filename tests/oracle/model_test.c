/* Unit test of the malloc model's block state (tools/model/blocks.c): fill patterns are
 * found intact where written and broken where any sampled byte changed, the
 * sampled segments of a huge block touch every page, and the interval set
 * tells adjacent blocks from overlapping ones. Prints PASS:/FAIL: lines. */
#include "../../tools/model/blocks.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int failures;

static void check(int ok, const char *what) {
  printf("%s: oracle model: %s\n", ok ? "PASS" : "FAIL", what);
  failures += !ok;
}

/* Every length around the word size and the sampling threshold: a fresh
 * fill checks clean, and flipping any one written byte is found there. */
static int patterns_exact(void) {
  const size_t fill_max = 8192;
  static unsigned char buf[3 * 8192 + 64];
  for (size_t len = 0; len < sizeof buf; len += len < 64 ? 1 : 509) {
    memset(buf, 0xee, sizeof buf);
    pat_fill(buf, len, 42 + len, fill_max);
    if (pat_check(buf, len, len, 42 + len, fill_max) != SIZE_MAX) return 0;
    for (size_t o = 0; o < len; o += 1 + o / 3) {
      if (buf[o] == 0xee && len > fill_max) continue; /* not sampled */
      buf[o] ^= 0x10;
      size_t bad = pat_check(buf, len, len, 42 + len, fill_max);
      buf[o] ^= 0x10;
      if (bad != o) return 0;
      /* A check limited to a prefix ignores bytes past it. */
      if (o > 0 && pat_check(buf, len, o, 42 + len, fill_max) != SIZE_MAX) return 0;
    }
  }
  return 1;
}

/* A huge block is sampled: its head whole, a probe in every page, its tail. */
static int sampling_covers_pages(void) {
  const size_t len = (1 << 20) + 12345, fill_max = 64 << 10;
  unsigned char *b = calloc(1, len);
  if (!b) return 0;
  pat_fill(b, len, 7, fill_max);
  int ok = 1;
  for (size_t page = 0; page < len; page += 4096) {
    int touched = 0;
    for (size_t i = page; i < page + 4096 && i < len; i++) touched |= b[i] != 0;
    ok &= touched;
  }
  for (size_t i = 0; i < fill_max; i++) ok &= b[i] == pat_byte(7, i);
  for (size_t i = len - 64; i < len; i++) ok &= b[i] == pat_byte(7, i);
  free(b);
  return ok;
}

/* Patterns of different seeds differ in every word, so a block copied from
 * another, or shifted by a word, does not pass. */
static int seeds_differ(void) {
  unsigned char a[256], b[256];
  pat_fill(a, sizeof a, 1, 1 << 20);
  pat_fill(b, sizeof b, 2, 1 << 20);
  if (pat_check(a, sizeof a, sizeof a, 2, 1 << 20) != 0) return 0;
  memmove(a, a + 8, sizeof a - 8);
  return pat_check(a, sizeof a, sizeof a, 1, 1 << 20) == 0 && b[0] != a[0];
}

static int zeros(void) {
  unsigned char z[1000] = {0};
  if (zero_check(z, sizeof z, 1 << 20) != SIZE_MAX) return 0;
  z[999] = 1;
  if (zero_check(z, sizeof z, 1 << 20) != 999) return 0;
  z[999] = 0, z[3] = 5;
  return zero_check(z, sizeof z, 1 << 20) == 3;
}

static int intervals(void) {
  static struct iset s;
  uintptr_t lo, hi;
  int ok = iset_insert(&s, 100, 200, &lo, &hi) && iset_insert(&s, 300, 400, &lo, &hi);
  ok &= iset_insert(&s, 200, 300, &lo, &hi);               /* adjacent both sides */
  ok &= !iset_insert(&s, 150, 160, &lo, &hi) && lo == 100; /* inside */
  ok &= !iset_insert(&s, 50, 101, &lo, &hi) && lo == 100;  /* one byte over */
  ok &= !iset_insert(&s, 399, 500, &lo, &hi) && lo == 300;
  ok &= !iset_insert(&s, 0, 1000, &lo, &hi);               /* around all */
  iset_remove(&s, 200);
  ok &= iset_insert(&s, 250, 260, &lo, &hi);               /* the hole is free */
  ok &= s.n == 3;
  iset_remove(&s, 12345);                                  /* unknown: no change */
  return ok && s.n == 3 && s.lo[0] == 100 && s.lo[1] == 250 && s.lo[2] == 300;
}

int main(void) {
  check(patterns_exact(), "patterns check clean and find every flipped sampled byte");
  check(sampling_covers_pages(), "a sampled huge block has its head, tail and every page written");
  check(seeds_differ(), "patterns of other seeds or shifted by a word do not match");
  check(zeros(), "zero check finds the first non-zero byte");
  check(intervals(), "interval set: adjacent blocks fit, any overlap is found");
  return failures != 0;
}
