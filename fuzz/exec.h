/* The op executor shared by the api and threads drivers: runs one op
 * against lemmalloc's lm_* API and has the malloc model
 * (tools/model/malloc_model.h, strict: the contract lemmalloc promises)
 * judge the result, with the model's fill pattern in every live block. */
#ifndef LM_FUZZ_EXEC_H
#define LM_FUZZ_EXEC_H
#include "driver.h"
#include "../tools/model/malloc_model.h"

#include <pthread.h>

/* A live block is the model's struct blk: its whole usable size carries the
 * pattern of its seed, lm_fuzz_key(p, request) (calloc'd blocks are
 * refilled at once). */

/* Blocks handed between threads. */
struct lm_fuzz_shared {
  pthread_mutex_t lock;
  struct blk b;
};

struct lm_fuzz_ctx {
  struct blk slots[LM_OPS_SLOTS];
  struct lm_fuzz_shared *shared; /* LM_OPS_SHARED entries */
  bool check_overlap;            /* single thread: new blocks must not overlap live ones */
  bool bad_frees;                /* single thread: ops on empty slots pass bad pointers */
  void *stale[LM_OPS_SLOTS];     /* the block each slot held last */
  size_t op_index;
  const struct lm_op *op;        /* the op being run (for failure reports) */
  struct lm_model model;         /* the contract, strict, reporting for op */
};

/* Set LEMMALLOC_* for the heap (tiny purge decay, warnings instead of
 * aborts are NOT set: a reported error is a finding). Runs as a
 * constructor before lemmalloc's own. */
void lm_fuzz_exec_setup(void);

void lm_fuzz_exec_init_shared(struct lm_fuzz_shared *sh);
void lm_fuzz_exec(struct lm_fuzz_ctx *ctx, const struct lm_op *op);
/* Check and free every block of the context (and, with shared, the shared slots). */
void lm_fuzz_exec_release(struct lm_fuzz_ctx *ctx, bool shared_too);
/* Check the pattern of every live block (after a trim or purge). */
void lm_fuzz_exec_check_all(struct lm_fuzz_ctx *ctx, const struct lm_op *op);
/* lm_stats().allocated must equal the driver's live bytes (quiescent heap). */
void lm_fuzz_check_counts(const struct lm_op *op);
/* With no block live anywhere and no other thread running, the allocator
 * must hold nothing: no bytes, no large or huge block, and every slot a slab
 * handed out back in a slab or a thread cache (a lost free leaves one out). */
void lm_fuzz_check_empty(void);
/* Bytes the driver holds in live blocks (usable sizes), all threads. */
size_t lm_fuzz_live_bytes(void);

#endif
