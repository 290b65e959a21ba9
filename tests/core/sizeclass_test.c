/* Exhaustive test of the size classes over 0..LM_SMALL_MAX and of the slab
 * geometry of every class, against the properties in spec/sizeclass.acsl.
 * Prints one PASS:/FAIL: line per property; exits non-zero on any failure. */
#include <stdio.h>
#include <stdlib.h>
#include "core/core.h"

static int failures;
static const char *tag = ""; /* LM_TEST_TAG: names the build in every line */

static void report(const char *what, unsigned bad, const char *example)
{
  if (bad) {
    failures++;
    printf("FAIL: sizeclass%s: %s (%u cases, e.g. %s)\n", tag, what, bad, example);
  } else {
    printf("PASS: sizeclass%s: %s\n", tag, what);
  }
}

#define CHECK(what, cond, ...)                                              \
  do {                                                                      \
    if (!(cond)) {                                                          \
      if (!bad_##what++)                                                    \
        snprintf(ex_##what, sizeof ex_##what, __VA_ARGS__);                 \
    }                                                                       \
  } while (0)

int main(void)
{
  if (getenv("LM_TEST_TAG"))
    tag = getenv("LM_TEST_TAG");
  unsigned bad_sizes = 0, bad_class = 0, bad_smallest = 0, bad_mono = 0,
           bad_waste = 0, bad_slab = 0;
  char ex_sizes[96] = "", ex_class[96] = "", ex_smallest[96] = "",
       ex_mono[96] = "", ex_waste[96] = "", ex_slab[96] = "";

  /* Class sizes: 16, 32, 48, 64, then four per doubling, and from 1 KiB one
   * more an eighth above each power of two; multiples of 16, strictly
   * increasing, ending at LM_SMALL_MAX. */
  for (uint32_t c = 0; c < LM_NUM_CLASSES; c++) {
    uint32_t sz = lm_class_size(c);
    uint32_t want;
    if (c < 8) {
      want = 16 * (c + 1);
    } else if (c < 20) {
      uint32_t base = 128u << ((c - 8) / 4); /* start of the doubling */
      want = base + (c % 4 + 1) * (base / 4);
    } else {
      uint32_t base = 1024u << ((c - 20) / 5), k = (c - 20) % 5; /* 5 per doubling */
      want = k == 0 ? base + base / 8 : base + k * (base / 4);
    }
    CHECK(sizes, sz == want && sz % LM_QUANTUM == 0 &&
                     (c == 0 || lm_class_size(c - 1) < sz),
          "class %u size %u, want %u", c, sz, want);
  }
  CHECK(sizes, lm_class_size(LM_NUM_CLASSES - 1) == LM_SMALL_MAX,
        "last class %u", lm_class_size(LM_NUM_CLASSES - 1));
  report("class sizes 16,32,48,64, 4 per doubling, +1/8 above 2^k from 1 KiB, x16, increasing", bad_sizes, ex_sizes);

  uint32_t prev = 0;
  for (uint32_t n = 0; n <= LM_SMALL_MAX; n++) {
    uint32_t c = lm_size_class(n);
    CHECK(class, c < LM_NUM_CLASSES && lm_class_size(c) >= n,
          "n=%u class %u", n, c);
    if (c >= LM_NUM_CLASSES)
      continue;
    CHECK(smallest, c == 0 || lm_class_size(c - 1) < n, "n=%u class %u", n, c);
    CHECK(mono, c >= prev, "n=%u class %u < %u", n, c, prev);
    uint32_t waste = lm_class_size(c) - n;
    CHECK(waste, n == 0 || (n <= 64 ? waste < LM_QUANTUM : 4 * waste < n),
          "n=%u size %u", n, lm_class_size(c));
    prev = c;
  }
  report("lm_size_class total on 0..LM_SMALL_MAX, class size >= n", bad_class, ex_class);
  report("lm_size_class is the smallest class that fits", bad_smallest, ex_smallest);
  report("lm_size_class monotone", bad_mono, ex_mono);
  report("waste < 16 for 1..64 bytes, < n/4 above", bad_waste, ex_waste);

  /* Slab geometry: order <= max, slots in 1..max and as many as fit, tail
   * waste <= span/8, and the order is the largest whose span holds at most
   * LM_SLAB_MAX_SLOTS slots (one metadata row). */
  for (uint32_t c = 0; c < LM_NUM_CLASSES; c++) {
    uint32_t sz = lm_class_size(c), k = lm_class_slab_order(c),
             slots = lm_class_slab_slots(c);
    uint32_t span = LM_PAGE_SIZE << k;
    uint32_t fit = span / sz > LM_SLAB_MAX_SLOTS ? LM_SLAB_MAX_SLOTS : span / sz;
    CHECK(slab, k <= LM_SLAB_MAX_ORDER && slots >= 1 && slots <= LM_SLAB_MAX_SLOTS &&
                    slots == fit && span / sz <= LM_SLAB_MAX_SLOTS && slots * sz <= span &&
                    8 * (span - slots * sz) <= span,
          "class %u order %u slots %u", c, k, slots);
    for (uint32_t j = k + 1; j <= LM_SLAB_MAX_ORDER; j++) {
      uint32_t sp = LM_PAGE_SIZE << j;
      CHECK(slab, sp / sz > LM_SLAB_MAX_SLOTS, "class %u: order %u also fits one row", c, j);
    }
  }
  report("slab order/slots: one row, tail <= span/8, largest such order", bad_slab, ex_slab);

  /* The malloc table: after the fill, the lookup is lm_size_class for every
   * request size. */
  unsigned bad_table = 0;
  char ex_table[96] = "";
  lm_size_class_table_fill();
  for (uint32_t n = 0; n <= LM_SMALL_MAX; n++)
    CHECK(table, lm_size_class_lookup(n) == lm_size_class(n), "n=%u: table %u, lm_size_class %u",
          n, lm_size_class_lookup(n), lm_size_class(n));
  report("lm_size_class_lookup after lm_size_class_table_fill is lm_size_class on 0..LM_SMALL_MAX",
         bad_table, ex_table);

  /* Offset -> slot: every offset below 2^17 (twice the largest span) and
   * the multiples and their neighbours near 2^32, every class. */
  unsigned bad_slot = 0;
  char ex_slot[96] = "";
  for (uint32_t c = 0; c < LM_NUM_CLASSES; c++) {
    uint32_t sz = lm_class_size(c);
    for (uint64_t o = 0; o < ((uint64_t)1 << 32); o = o < (1u << 17) ? o + 1 : o + 0x10000001u) {
      for (uint64_t d = 0; d < 3 && o + d < ((uint64_t)1 << 32); d++) {
        uint32_t off = (uint32_t)(o + d);
        if (o < (1u << 17) && d) break;
        uint32_t want = off % sz == 0 ? off / sz : LM_SLOT_NONE;
        uint32_t got = lm_class_slot_of(c, off);
        CHECK(slot, got == want && (off % sz || lm_class_slot(c, off) == off / sz),
              "class %u off %u: %u, want %u", c, off, got, want);
      }
    }
    uint32_t last = (uint32_t)((UINT32_MAX / sz) * sz); /* the largest multiple */
    CHECK(slot, lm_class_slot_of(c, last) == last / sz && lm_class_slot(c, last) == last / sz &&
                lm_class_slot_of(c, last - 1) == LM_SLOT_NONE,
          "class %u off %u", c, last);
  }
  report("lm_class_slot_of: a slot start gives its slot, any other offset LM_SLOT_NONE", bad_slot, ex_slot);
  return failures != 0;
}
