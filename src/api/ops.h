/* One decoder from bytes to allocator operations, shared by every fuzz
 * driver (libFuzzer, AFL++), the regression replayer, the oracle
 * (tools/oracle) and the library's own call tracing (trace.c), which
 * writes programs in this format. It lives here so that the library
 * includes nothing outside src/; fuzz/ and tools/ include it from here.
 * Owner: fuzz/. Implementation: ops.c.
 *
 * An operation names a "slot" (an index into the driver's table of live
 * blocks, 0..LM_OPS_SLOTS-1) rather than a pointer, so every byte string is
 * a valid program. The decoder is total: any input decodes to some sequence.
 */
#ifndef LM_FUZZ_OPS_H
#define LM_FUZZ_OPS_H
#include <stddef.h>
#include <stdint.h>

#define LM_OPS_SLOTS 256
#define LM_OPS_MAX_THREADS 8
#define LM_OPS_SHARED 32   /* shared slots for HANDOFF/TAKE: aux < LM_OPS_SHARED */

enum lm_op_kind {
  LM_OP_MALLOC,          /* slot = malloc(size) */
  LM_OP_CALLOC,          /* slot = calloc(nmemb, size) */
  LM_OP_REALLOC,         /* slot = realloc(slot, size) */
  LM_OP_REALLOCARRAY,    /* slot = reallocarray(slot, nmemb, size) */
  LM_OP_FREE,            /* free(slot) */
  LM_OP_POSIX_MEMALIGN,  /* posix_memalign(&slot, align, size) */
  LM_OP_ALIGNED_ALLOC,   /* slot = aligned_alloc(align, size) */
  LM_OP_MEMALIGN,        /* slot = memalign(align, size) */
  LM_OP_VALLOC,          /* slot = valloc(size) */
  LM_OP_PVALLOC,         /* slot = pvalloc(size) */
  LM_OP_USABLE_SIZE,     /* malloc_usable_size(slot) */
  LM_OP_TRIM,            /* malloc_trim(size) */
  LM_OP_FILL,            /* write the slot's pattern over its usable size */
  LM_OP_CHECK,           /* check the slot's pattern */
  LM_OP_HANDOFF,         /* move slot to shared slot `aux` (cross-thread) */
  LM_OP_TAKE,            /* take shared slot `aux` into slot */
  LM_OP_THREAD,          /* following ops run on thread `aux` */
  LM_OP_BARRIER,         /* all threads meet */
  LM_OP_KINDS
};

struct lm_op {
  uint8_t kind;      /* enum lm_op_kind */
  uint8_t thread;    /* 0..LM_OPS_MAX_THREADS-1, set by the decoder */
  uint16_t slot;     /* 0..LM_OPS_SLOTS-1 */
  uint16_t aux;      /* shared slot / thread index */
  size_t size;       /* bytes; may be huge or overflowing on purpose */
  size_t nmemb;      /* calloc / reallocarray count */
  size_t align;      /* may be invalid on purpose (0, 3, 24, ...) */
};

/* Decode `len` bytes into at most `max` ops; returns how many were written. */
size_t lm_ops_decode(const uint8_t *data, size_t len, struct lm_op *out, size_t max);

/* Encode ops back to bytes that decode to the same ops (for minimized
 * traces and generated corpora). Returns bytes written, 0 if `cap` is short.
 * Exact for canonical ops, which decode and generate produce: fields a kind
 * does not use are zero, aux < LM_OPS_SHARED (handoff/take) or
 * < LM_OPS_MAX_THREADS (thread), and `thread` is the aux of the last THREAD
 * op (0 before any); where `thread` changes without one, encode inserts one. */
size_t lm_ops_encode(const struct lm_op *ops, size_t n, uint8_t *out, size_t cap);

/* Human-readable one-line form, e.g. "t1 s17 = realloc(s17, 4096)". */
int lm_op_format(const struct lm_op *op, char *buf, size_t cap);

/* Name of an op kind ("malloc", "posix_memalign", ...), "?" if out of range. */
const char *lm_op_kind_name(unsigned kind);

/* Pseudo-random op sequence from a seed (for the oracle's --seed/--ops). */
size_t lm_ops_generate(uint64_t seed, size_t n, unsigned threads, struct lm_op *out);

#endif
