/* Writes the committed seed corpora (fuzz/seeds/DRIVER/) and the op
 * dictionary (fuzz/ops.dict) from the codec, so both stay valid when the
 * wire format changes: `make fuzz-seeds`. Seeds are small on purpose:
 * generated workloads for breadth, hand-written sequences for the edges. */
#include "api/ops.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define KIB ((size_t)1 << 10)
#define MIB ((size_t)1 << 20)

static void write_ops(const char *dir, const char *name, const struct lm_op *ops, size_t n) {
  static uint8_t buf[1 << 16];
  size_t len = lm_ops_encode(ops, n, buf, sizeof buf);
  char path[512];
  snprintf(path, sizeof path, "%s/%s", dir, name);
  FILE *f = fopen(path, "wb");
  if (!f || fwrite(buf, 1, len, f) != len || fclose(f) != 0) {
    perror(path);
    exit(1);
  }
}

static void generated(const char *dir, unsigned count, size_t nops, unsigned threads) {
  static struct lm_op ops[4096];
  for (unsigned i = 0; i < count; i++) {
    char name[32];
    snprintf(name, sizeof name, "gen-%u", i);
    lm_ops_generate(1000 + i, nops, threads, ops);
    write_ops(dir, name, ops, nops);
  }
}

#define OP(...) ((struct lm_op){__VA_ARGS__})

int main(int argc, char **argv) {
  const char *root = argc > 1 ? argv[1] : "fuzz";
  char core[256], api[256], thr[256];
  snprintf(core, sizeof core, "%s/seeds/core", root);
  snprintf(api, sizeof api, "%s/seeds/api", root);
  snprintf(thr, sizeof thr, "%s/seeds/threads", root);

  generated(core, 6, 150, 1);
  generated(api, 6, 200, 1);
  generated(thr, 6, 300, 6);

  /* core: four order-0 blocks, free two that are not buddies, allocate
   * again (which free block is reused is the contract's business). */
  const struct lm_op core_reuse[] = {
    OP(.kind = LM_OP_CALLOC, .slot = 0), OP(.kind = LM_OP_CALLOC, .slot = 3),
    OP(.kind = LM_OP_CALLOC, .slot = 6), OP(.kind = LM_OP_CALLOC, .slot = 9),
    OP(.kind = LM_OP_FREE, .slot = 0),   OP(.kind = LM_OP_FREE, .slot = 6),
    OP(.kind = LM_OP_CALLOC, .slot = 12), OP(.kind = LM_OP_FREE, .slot = 0),
    OP(.kind = LM_OP_FREE, .slot = 3),   OP(.kind = LM_OP_FREE, .slot = 9),
  };
  write_ops(core, "buddy-reuse", core_reuse, sizeof core_reuse / sizeof core_reuse[0]);
  /* core: fill a slab of the largest class, free out of order, refill. */
  struct lm_op slab[64];
  size_t n = 0;
  slab[n++] = OP(.kind = LM_OP_PVALLOC, .slot = 1, .size = 2 * 35 + 1);
  for (unsigned i = 0; i < 6; i++) slab[n++] = OP(.kind = LM_OP_MALLOC, .slot = (uint16_t)(1 + 6 * i));
  slab[n++] = OP(.kind = LM_OP_FREE, .slot = 13);
  slab[n++] = OP(.kind = LM_OP_FREE, .slot = 1);
  slab[n++] = OP(.kind = LM_OP_FREE, .slot = 1); /* double free */
  slab[n++] = OP(.kind = LM_OP_REALLOC, .slot = 1, .size = 8); /* interior */
  for (unsigned i = 0; i < 3; i++) slab[n++] = OP(.kind = LM_OP_MALLOC, .slot = (uint16_t)(1 + 6 * i));
  write_ops(core, "slab-cycle", slab, n);

  /* api: every entry point at its edges. */
  const struct lm_op edges[] = {
    OP(.kind = LM_OP_MALLOC, .slot = 0, .size = 0),
    OP(.kind = LM_OP_MALLOC, .slot = 1, .size = SIZE_MAX),
    OP(.kind = LM_OP_MALLOC, .slot = 2, .size = (size_t)PTRDIFF_MAX + 1),
    OP(.kind = LM_OP_CALLOC, .slot = 3, .nmemb = (size_t)1 << 62, .size = 8),
    OP(.kind = LM_OP_CALLOC, .slot = 4, .nmemb = 100, .size = 100),
    OP(.kind = LM_OP_REALLOC, .slot = 4, .size = 20000),
    OP(.kind = LM_OP_REALLOC, .slot = 4, .size = 3 * MIB),
    OP(.kind = LM_OP_REALLOC, .slot = 4, .size = 5 * MIB),
    OP(.kind = LM_OP_REALLOC, .slot = 4, .size = 40),
    OP(.kind = LM_OP_REALLOC, .slot = 4, .size = 0),
    OP(.kind = LM_OP_REALLOCARRAY, .slot = 5, .nmemb = 3, .size = 7),
    OP(.kind = LM_OP_REALLOCARRAY, .slot = 5, .nmemb = SIZE_MAX / 2, .size = 3),
    OP(.kind = LM_OP_POSIX_MEMALIGN, .slot = 6, .align = 0, .size = 8),
    OP(.kind = LM_OP_POSIX_MEMALIGN, .slot = 6, .align = 4, .size = 8),
    OP(.kind = LM_OP_POSIX_MEMALIGN, .slot = 6, .align = 24, .size = 8),
    OP(.kind = LM_OP_POSIX_MEMALIGN, .slot = 6, .align = 64 * KIB, .size = 100),
    OP(.kind = LM_OP_ALIGNED_ALLOC, .slot = 7, .align = 3, .size = 9),
    OP(.kind = LM_OP_ALIGNED_ALLOC, .slot = 7, .align = 4096, .size = 4097),
    OP(.kind = LM_OP_MEMALIGN, .slot = 8, .align = 24, .size = 100),
    OP(.kind = LM_OP_MEMALIGN, .slot = 8, .align = (size_t)1 << 63, .size = 1),
    OP(.kind = LM_OP_VALLOC, .slot = 9, .size = 1),
    OP(.kind = LM_OP_PVALLOC, .slot = 10, .size = 0),
    OP(.kind = LM_OP_PVALLOC, .slot = 10, .size = 4097),
    OP(.kind = LM_OP_USABLE_SIZE, .slot = 11),
    OP(.kind = LM_OP_USABLE_SIZE, .slot = 10),
    OP(.kind = LM_OP_FILL, .slot = 9),
    OP(.kind = LM_OP_TRIM, .size = 0),
    OP(.kind = LM_OP_CHECK, .slot = 8),
    OP(.kind = LM_OP_BARRIER),
    OP(.kind = LM_OP_FREE, .slot = 0),
    OP(.kind = LM_OP_FREE, .slot = 0),
  };
  write_ops(api, "edges", edges, sizeof edges / sizeof edges[0]);
  /* api: one class filled and emptied twice, with trims in between. */
  struct lm_op churn[200];
  n = 0;
  for (unsigned round = 0; round < 2; round++) {
    for (unsigned i = 0; i < 40; i++) churn[n++] = OP(.kind = LM_OP_MALLOC, .slot = (uint16_t)i, .size = 48);
    churn[n++] = OP(.kind = LM_OP_TRIM);
    for (unsigned i = 0; i < 40; i += 1 + round) churn[n++] = OP(.kind = LM_OP_FREE, .slot = (uint16_t)i);
    churn[n++] = OP(.kind = LM_OP_BARRIER);
  }
  write_ops(api, "churn", churn, n);

  /* api, for make fuzz-coverage (fuzz/uncovered.txt): heap paths the
   * generated seeds miss. Partly freed slabs beyond the thread cache's
   * bound go back to the arena's address-ordered heap of non-full slabs
   * (freed high to low, so melds swap), which the next allocations drain. */
  static struct lm_op cov[512];
  n = 0;
  for (unsigned i = 0; i < 64; i++) cov[n++] = OP(.kind = LM_OP_MALLOC, .slot = (uint16_t)i, .size = 16000);
  for (unsigned i = 64; i-- > 0;)
    if (i % 4 != 0) cov[n++] = OP(.kind = LM_OP_FREE, .slot = (uint16_t)i);
  cov[n++] = OP(.kind = LM_OP_THREAD);
  for (unsigned i = 0; i < 64; i++)
    if (i % 4 != 0) cov[n++] = OP(.kind = LM_OP_MALLOC, .slot = (uint16_t)i, .size = 16000);
  cov[n++] = OP(.kind = LM_OP_BARRIER);
  for (unsigned i = 0; i < 64; i++) cov[n++] = OP(.kind = LM_OP_FREE, .slot = (uint16_t)i);
  write_ops(api, "cov-slab-heap", cov, n);
  /* api: the fast paths' list steps (heap/thread_slabs.c). Two slabs of 4
   * slots of 16 KiB; a free into the first, full one lists it without the
   * lock; the second, current, runs dry and the first becomes current. */
  n = 0;
  for (unsigned i = 0; i < 8; i++) cov[n++] = OP(.kind = LM_OP_MALLOC, .slot = (uint16_t)i, .size = 16000);
  cov[n++] = OP(.kind = LM_OP_FREE, .slot = 1);
  cov[n++] = OP(.kind = LM_OP_MALLOC, .slot = 8, .size = 16000);
  cov[n++] = OP(.kind = LM_OP_CHECK, .slot = 8);
  cov[n++] = OP(.kind = LM_OP_BARRIER);
  for (unsigned i = 0; i < 9; i++) cov[n++] = OP(.kind = LM_OP_FREE, .slot = (uint16_t)i);
  write_ops(api, "cov-list-steps", cov, n);
  /* api: huge blocks through the cache of freed mappings (a second 40 MiB
   * free evicts the first: 64 MiB bound), reuse, and huge realloc. */
  const struct lm_op huge[] = {
    OP(.kind = LM_OP_MALLOC, .slot = 0, .size = 40 * MIB),
    OP(.kind = LM_OP_MALLOC, .slot = 1, .size = 40 * MIB),
    OP(.kind = LM_OP_FILL, .slot = 1),
    OP(.kind = LM_OP_FREE, .slot = 0),
    OP(.kind = LM_OP_FREE, .slot = 1),
    OP(.kind = LM_OP_CALLOC, .slot = 2, .nmemb = 10, .size = 4 * MIB),
    OP(.kind = LM_OP_REALLOC, .slot = 2, .size = 50 * MIB),
    OP(.kind = LM_OP_REALLOC, .slot = 2, .size = 3 * MIB),
    OP(.kind = LM_OP_MEMALIGN, .slot = 3, .align = 8 * MIB, .size = 3 * MIB),
    OP(.kind = LM_OP_BARRIER),
    OP(.kind = LM_OP_FREE, .slot = 2),
    OP(.kind = LM_OP_FREE, .slot = 3),
    OP(.kind = LM_OP_TRIM),
  };
  write_ops(api, "cov-huge-cache", huge, sizeof huge / sizeof huge[0]);
  /* api: large runs resized in place and moved, aligned large blocks, and
   * the large-run cache (free, then the same size again). */
  const struct lm_op large[] = {
    OP(.kind = LM_OP_MALLOC, .slot = 0, .size = 100000),
    OP(.kind = LM_OP_FILL, .slot = 0),
    OP(.kind = LM_OP_REALLOC, .slot = 0, .size = 90000),
    OP(.kind = LM_OP_REALLOC, .slot = 0, .size = 102400),
    OP(.kind = LM_OP_REALLOC, .slot = 0, .size = 300000),
    OP(.kind = LM_OP_REALLOC, .slot = 0, .size = 20000),
    OP(.kind = LM_OP_CHECK, .slot = 0),
    OP(.kind = LM_OP_POSIX_MEMALIGN, .slot = 1, .align = 64 * KIB, .size = 100 * KIB),
    OP(.kind = LM_OP_ALIGNED_ALLOC, .slot = 2, .align = MIB, .size = MIB),
    OP(.kind = LM_OP_MALLOC, .slot = 3, .size = 200000),
    OP(.kind = LM_OP_FREE, .slot = 3),
    OP(.kind = LM_OP_MALLOC, .slot = 3, .size = 200000),
    OP(.kind = LM_OP_FREE, .slot = 1),
    OP(.kind = LM_OP_TRIM, .size = 0),
    OP(.kind = LM_OP_BARRIER),
    OP(.kind = LM_OP_FREE, .slot = 0),
    OP(.kind = LM_OP_FREE, .slot = 2),
    OP(.kind = LM_OP_FREE, .slot = 3),
    OP(.kind = LM_OP_MALLOC, .slot = 4, .size = ((size_t)5 << 32) + 12345), /* a 64-bit size: no memory */
  };
  write_ops(api, "cov-large", large, sizeof large / sizeof large[0]);

  /* threads: blocks passed round a ring of four threads, freed by the last. */
  struct lm_op ring[256];
  n = 0;
  for (unsigned t = 0; t < 4; t++) {
    ring[n++] = OP(.kind = LM_OP_THREAD, .thread = (uint8_t)t, .aux = (uint16_t)t);
    for (unsigned i = 0; i < 8; i++) {
      ring[n++] = OP(.kind = LM_OP_MALLOC, .thread = (uint8_t)t, .slot = (uint16_t)i, .size = 16u << i);
      ring[n++] = OP(.kind = LM_OP_HANDOFF, .thread = (uint8_t)t, .slot = (uint16_t)i, .aux = (uint16_t)(t * 8 + i));
    }
  }
  ring[n++] = OP(.kind = LM_OP_BARRIER, .thread = 3);
  for (unsigned t = 0; t < 4; t++) {
    ring[n++] = OP(.kind = LM_OP_THREAD, .thread = (uint8_t)t, .aux = (uint16_t)t);
    for (unsigned i = 0; i < 8; i++) {
      ring[n++] = OP(.kind = LM_OP_TAKE, .thread = (uint8_t)t, .slot = (uint16_t)i, .aux = (uint16_t)(((t + 1) % 4) * 8 + i));
      ring[n++] = OP(.kind = LM_OP_FREE, .thread = (uint8_t)t, .slot = (uint16_t)i);
    }
    ring[n++] = OP(.kind = LM_OP_TRIM, .thread = (uint8_t)t);
  }
  write_ops(thr, "ring", ring, n);

  /* threads, for make fuzz-coverage: frees of other threads' blocks. A
   * full slab thread 0 gives back by trimming gets two remote frees while
   * the arena owns it (pushed to the arena, collected into its non-full
   * heap by thread 2's next slab); a slab thread 0 keeps gets two remote
   * frees into its inbox, drained by its trim. */
  static struct lm_op rem[128];
  n = 0;
#define T(t) (rem[n++] = OP(.kind = LM_OP_THREAD, .thread = (t), .aux = (t)))
#define ON(t, ...) (rem[n++] = OP(.thread = (t), __VA_ARGS__))
  T(0);
  for (uint16_t i = 0; i < 4; i++) {
    ON(0, .kind = LM_OP_MALLOC, .slot = i, .size = 16000);
    ON(0, .kind = LM_OP_HANDOFF, .slot = i, .aux = i);
  }
  ON(0, .kind = LM_OP_TRIM);
  for (uint16_t i = 4; i < 8; i++) {
    ON(0, .kind = LM_OP_MALLOC, .slot = i, .size = 14000);
    ON(0, .kind = LM_OP_HANDOFF, .slot = i, .aux = i);
  }
  ON(0, .kind = LM_OP_BARRIER);
  T(1);
  for (uint16_t i = 0; i < 2; i++) {
    ON(1, .kind = LM_OP_TAKE, .slot = i, .aux = i);
    ON(1, .kind = LM_OP_FREE, .slot = i);
    ON(1, .kind = LM_OP_TAKE, .slot = (uint16_t)(4 + i), .aux = (uint16_t)(4 + i));
    ON(1, .kind = LM_OP_FREE, .slot = (uint16_t)(4 + i));
  }
  ON(1, .kind = LM_OP_BARRIER);
  T(2);
  for (uint16_t i = 0; i < 3; i++) ON(2, .kind = LM_OP_MALLOC, .slot = i, .size = 16000);
  T(0);
  ON(0, .kind = LM_OP_TRIM);
  ON(0, .kind = LM_OP_BARRIER);
  write_ops(thr, "cov-remote", rem, n);

  /* threads: remote frees into a full slab its owner keeps; the owner's
   * current slab runs dry with none listed, and its slow path drains the
   * inbox, lists the full slab again and takes it. */
  n = 0;
  T(0);
  for (uint16_t i = 0; i < 8; i++) ON(0, .kind = LM_OP_MALLOC, .slot = i, .size = 16000);
  for (uint16_t i = 0; i < 2; i++) ON(0, .kind = LM_OP_HANDOFF, .slot = i, .aux = i);
  ON(0, .kind = LM_OP_BARRIER);
  T(1);
  for (uint16_t i = 0; i < 2; i++) {
    ON(1, .kind = LM_OP_TAKE, .slot = i, .aux = i);
    ON(1, .kind = LM_OP_FREE, .slot = i);
  }
  ON(1, .kind = LM_OP_BARRIER);
  T(0);
  for (uint16_t i = 8; i < 10; i++) ON(0, .kind = LM_OP_MALLOC, .slot = i, .size = 16000);
  ON(0, .kind = LM_OP_BARRIER);
  for (uint16_t i = 2; i < 10; i++) ON(0, .kind = LM_OP_FREE, .slot = i);
#undef T
#undef ON
  write_ops(thr, "cov-refile", rem, n);

  /* The dictionary: one entry per op kind in its common form, so mutations
   * can splice whole ops. */
  char dpath[256];
  snprintf(dpath, sizeof dpath, "%s/ops.dict", root);
  FILE *d = fopen(dpath, "w");
  if (!d) { perror(dpath); return 1; }
  fprintf(d, "# Whole ops in lemmalloc's fuzz encoding (src/api/ops.c), written by fuzz/seedgen.c.\n");
  const struct lm_op words[] = {
    OP(.kind = LM_OP_MALLOC, .size = 24), OP(.kind = LM_OP_MALLOC, .size = 4096),
    OP(.kind = LM_OP_MALLOC, .size = 16384), OP(.kind = LM_OP_MALLOC, .size = 16385),
    OP(.kind = LM_OP_MALLOC, .size = 2 * MIB), OP(.kind = LM_OP_MALLOC, .size = 2 * MIB + 1),
    OP(.kind = LM_OP_MALLOC, .size = 5 * MIB), OP(.kind = LM_OP_CALLOC, .nmemb = 16, .size = 16),
    OP(.kind = LM_OP_REALLOC, .size = 100), OP(.kind = LM_OP_REALLOC, .size = 0),
    OP(.kind = LM_OP_REALLOCARRAY, .nmemb = 4, .size = 64), OP(.kind = LM_OP_FREE),
    OP(.kind = LM_OP_POSIX_MEMALIGN, .align = 64, .size = 64),
    OP(.kind = LM_OP_ALIGNED_ALLOC, .align = 4096, .size = 100),
    OP(.kind = LM_OP_MEMALIGN, .align = 24, .size = 100), OP(.kind = LM_OP_VALLOC, .size = 100),
    OP(.kind = LM_OP_PVALLOC, .size = 100), OP(.kind = LM_OP_USABLE_SIZE),
    OP(.kind = LM_OP_TRIM), OP(.kind = LM_OP_FILL), OP(.kind = LM_OP_CHECK),
    OP(.kind = LM_OP_HANDOFF, .aux = 1), OP(.kind = LM_OP_TAKE, .aux = 1),
    OP(.kind = LM_OP_THREAD, .thread = 1, .aux = 1), OP(.kind = LM_OP_BARRIER),
  };
  for (size_t i = 0; i < sizeof words / sizeof words[0]; i++) {
    uint8_t buf[64];
    size_t len = lm_ops_encode(&words[i], 1, buf, sizeof buf);
    char text[128];
    lm_op_format(&words[i], text, sizeof text);
    fprintf(d, "# %s\nop%zu=\"", text, i);
    for (size_t k = 0; k < len; k++) fprintf(d, "\\x%02x", buf[k]);
    fprintf(d, "\"\n");
  }
  return fclose(d) != 0;
}
