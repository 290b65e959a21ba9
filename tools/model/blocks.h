/* The malloc model's state of live blocks (tools/model/README.md): each
 * block with its fill pattern, and a sorted set of their address ranges.
 * Shared by the oracle (tools/oracle) and the fuzz drivers (fuzz/exec.c);
 * malloc_model.h judges calls against the contract with them. */
#ifndef LM_MODEL_BLOCKS_H
#define LM_MODEL_BLOCKS_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct blk {
  uintptr_t p;      /* 0: slot empty */
  size_t req;       /* bytes the caller asked for */
  size_t usable;    /* bytes the target said are usable (>= req) */
  uint64_t seed;    /* fill pattern of bytes [0, usable) */
};

/* Fill pattern: byte o of a block with seed s is byte o%8 (little-endian) of
 * s + (o/8) * K. Cheap to write and check, differs between blocks and
 * between the words of one block, so a shifted copy does not match either.
 * Blocks larger than `fill_max` are sampled (see model.c): the first
 * fill_max bytes, 64 bytes of every 4 KiB beyond, and the last 64 bytes. */
void pat_fill(void *p, size_t len, uint64_t seed, size_t fill_max);

/* First offset in [0, min(len, upto)) whose byte differs from the pattern of
 * a block of length `len` (sampled as pat_fill did), or SIZE_MAX. */
size_t pat_check(const void *p, size_t len, size_t upto, uint64_t seed, size_t fill_max);

/* Expected byte at offset o. */
uint8_t pat_byte(uint64_t seed, size_t o);

/* First non-zero byte in [0, len) (sampled like pat_fill), or SIZE_MAX. */
size_t zero_check(const void *p, size_t len, size_t fill_max);

/* Sorted, disjoint address ranges of live blocks. Callers serialize. */
#define ISET_CAP 4096
struct iset {
  size_t n;
  uintptr_t lo[ISET_CAP], hi[ISET_CAP];
};
/* Insert [lo, hi); on overlap inserts nothing, stores the range it hits in
 * *olo and *ohi and returns false. */
bool iset_insert(struct iset *s, uintptr_t lo, uintptr_t hi, uintptr_t *olo, uintptr_t *ohi);
void iset_remove(struct iset *s, uintptr_t lo);

#endif
