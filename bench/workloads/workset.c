/* workset: threads churning working sets that breathe, with a fraction of
 * the blocks passed to other threads (the kind of rptest).
 *
 * THREADS threads each own a working set of up to SLOTS blocks of 16 B to
 * MAX_SIZE bytes (log-uniform: as many 16..32 B blocks as 4..8 KiB ones).
 * The work runs in phases; each phase sets a new target size for the
 * working set (between an eighth of SLOTS and all of it), and each step
 * of the phase picks a random slot and:
 *   - frees its block (or, one time in REMOTE_EVERY, hands it to a random
 *     other thread's inbox instead: that thread frees it; if 1024 blocks
 *     already wait there, because that thread is not running, it tries
 *     up to 3 others, then frees the block itself), and
 *   - allocates a new block into it, unless the set is above its target,
 *     so the working set grows and shrinks from phase to phase;
 * every block is written (its first 64 bytes and its pattern), and every 32
 * steps a thread frees what other threads handed it (and once done, it
 * goes on doing so until every thread is done). Lifetimes are random
 * (not the FIFO of mtchurn), sizes span 16 B..8 KiB, and working sets
 * grow and shrink, so pages move between size classes.
 *
 * Validation: every block has a header (size, tag) and a pattern, checked
 * before every free, local or remote; mallocs = frees at the end; blocks
 * sent to inboxes = blocks taken from them.
 *
 * usage: workset [threads=4] [steps=2000000 per thread] [slots=4096]
 *                [max_size=8192] [remote_every=8] [--seed=N]
 * prints: RESULT ok ops=.. mops_per_s=.. remote=.. remote_share=.. (of all frees;
 *         below 1/REMOTE_EVERY when receivers were not running)
 */
#include "common.h"

typedef struct blk {
  inbox_node link; /* used only while handed over */
  size_t size;
  uint64_t tag;
} blk;

typedef struct {
  _Alignas(LINE) pthread_t t;
  int id;
  uint64_t rng;
  long mallocs, frees, sent, received;
  _Alignas(LINE) inbox_node *inbox; /* written by the senders */
  long pending;                      /* blocks in the inbox (about) */
} thr;

/* A thread that is not running (more threads than cores) cannot empty its
 * inbox; past this many blocks waiting there, a sender frees the block
 * itself, so the blocks in flight stay bounded whatever the scheduling. */
#define INBOX_MAX 1024

static long g_threads, g_steps, g_slots, g_max, g_remote_every;
static thr *g_t;
static long g_done;

static blk *blk_new(thr *w) {
  size_t n = rng_log_size(&w->rng, 16, (size_t)g_max);
  if (n < sizeof(blk) + 16) n = sizeof(blk) + 16;
  blk *b = xmalloc(n);
  b->size = n;
  b->tag = rng_next(&w->rng);
  char *body = (char *)(b + 1);
  size_t len = n - sizeof *b;
  memset(body, (int)(b->tag & 0x7f), len < 64 ? len : 64);
  tag_fill(body, len, b->tag);
  w->mallocs++;
  return b;
}

static void blk_free(thr *w, blk *b) {
  tag_check(b + 1, b->size - sizeof *b, b->tag);
  free(b);
  w->frees++;
}

static void drain(thr *w) {
  inbox_node *n = inbox_take(&w->inbox);
  long k = 0;
  while (n) {
    inbox_node *next = n->next;
    blk_free(w, (blk *)n);
    w->received++;
    k++;
    n = next;
  }
  if (k) __atomic_sub_fetch(&w->pending, k, __ATOMIC_RELAXED);
}

static void *run(void *arg) {
  thr *w = arg;
  blk **set = calloc((size_t)g_slots, sizeof *set);
  if (!set) fail("calloc");
  long live = 0, target = g_slots / 2;
  for (long s = 0; s < g_steps; s++) {
    if (s % 65536 == 0) target = g_slots / 8 + (long)rng_below(&w->rng, (uint32_t)(g_slots - g_slots / 8));
    uint32_t i = rng_below(&w->rng, (uint32_t)g_slots);
    if (set[i]) {
      thr *to = NULL;
      if (g_threads > 1 && rng_below(&w->rng, (uint32_t)g_remote_every) == 0)
        for (int tries = 0; tries < 4 && !to; tries++) {
          to = &g_t[(w->id + 1 + (int)rng_below(&w->rng, (uint32_t)g_threads - 1)) % g_threads];
          if (__atomic_load_n(&to->pending, __ATOMIC_RELAXED) >= INBOX_MAX) to = NULL;
        }
      if (to) {
        __atomic_add_fetch(&to->pending, 1, __ATOMIC_RELAXED);
        inbox_push(&to->inbox, &set[i]->link);
        w->sent++;
      } else {
        blk_free(w, set[i]);
      }
      set[i] = NULL;
      live--;
    }
    if (live < target) {
      set[i] = blk_new(w);
      live++;
    }
    if (s % 32 == 0) drain(w);
  }
  for (long i = 0; i < g_slots; i++)
    if (set[i]) blk_free(w, set[i]);
  free(set);
  /* Others may still send: keep taking them until every thread is done
   * (a finished thread's inbox would otherwise fill up until exit). */
  __atomic_add_fetch(&g_done, 1, __ATOMIC_RELEASE);
  while (__atomic_load_n(&g_done, __ATOMIC_ACQUIRE) < g_threads) {
    drain(w);
    usleep(200);
  }
  return NULL;
}

int main(int argc, char **argv) {
  uint64_t seed = arg_seed(&argc, argv, 1);
  g_threads = arg_long(argc, argv, 1, 4);
  g_steps = arg_long(argc, argv, 2, 2000000);
  g_slots = arg_long(argc, argv, 3, 4096);
  g_max = arg_long(argc, argv, 4, 8192);
  g_remote_every = arg_long(argc, argv, 5, 8);
  if (g_slots < 8 || g_max < 64) fail("slots must be >= 8 and max_size >= 64");
  g_t = xcalloc_lines((size_t)g_threads, sizeof *g_t);
  for (long i = 0; i < g_threads; i++) {
    g_t[i].id = (int)i;
    g_t[i].rng = seed_mix(seed, (uint64_t)i);
  }
  double t0 = now_s();
  for (long i = 0; i < g_threads; i++) start_thread(&g_t[i].t, run, &g_t[i]);
  for (long i = 0; i < g_threads; i++) pthread_join(g_t[i].t, NULL);
  double dt = now_s() - t0;
  long mallocs = 0, frees = 0, sent = 0, received = 0;
  for (long i = 0; i < g_threads; i++) {
    drain(&g_t[i]); /* what arrived after its thread's last look */
    mallocs += g_t[i].mallocs;
    frees += g_t[i].frees;
    sent += g_t[i].sent;
    received += g_t[i].received;
  }
  if (sent != received) fail("%ld blocks sent, %ld received", sent, received);
  if (mallocs != frees) fail("%ld mallocs, %ld frees", mallocs, frees);
  free(g_t);
  printf("RESULT ok ops=%ld mops_per_s=%.2f remote=%ld remote_share=%.3f\n", mallocs + frees,
         (double)(mallocs + frees) / dt / 1e6, sent, (double)sent / (double)(frees ? frees : 1));
  return 0;
}
