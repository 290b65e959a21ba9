/* bloat: the multi-threaded memory-bloat workload of issue 4, in C.
 *
 * THREADS worker threads model a job server. Each keeps a working set of
 * SLOTS long-lived blocks (16..4096 bytes) and runs JOBS jobs:
 *   - most jobs allocate a few dozen to a few hundred short-lived blocks,
 *     use them, free them, and replace a few working-set blocks;
 *   - one job in BURST_EVERY builds 8..32 MiB of medium blocks (1..128 KiB),
 *     keeps allocating working-set blocks while it does (as a real job leaves
 *     a cached result or a log line behind), then drops the whole burst;
 *   - a quarter of all dropped blocks are freed by another thread (handed
 *     over through that thread's mailbox), as objects passed between
 *     threads are;
 *   - every few jobs the thread sleeps briefly, as if waiting for IO, so the
 *     threads drift out of step and collide in the allocator.
 * The long-lived blocks allocated during bursts pin the pages around them in
 * allocators that mix sizes, and per-thread arenas multiply the effect. The
 * memory really live at the end is the working sets: about THREADS * SLOTS *
 * 1 KiB.
 *
 * After the jobs comes a quiet period of QUIET_MS in which each thread runs
 * one small job every 20 ms (an idle server's heartbeat); then, with the
 * threads still alive, the main thread reads VmRSS as the "final RSS" and
 * lets the threads check and free everything. work_s is the jobs' time.
 *
 * Validation: every block carries a pattern (burst blocks are filled
 * completely) checked before it is freed; job and block counts are checked.
 *
 * usage: bloat [threads=8] [jobs=3000] [slots=4000] [burst_every=150] [quiet_ms=500]
 * prints: RESULT ok live_kib=.. peak_live_kib=.. final_rss_kib=.. baseline_rss_kib=.. work_s=..
 * (peak_live: the most bytes live at once, sampled every millisecond)
 */
#include "common.h"

typedef struct block {
  struct block *next; /* mailbox link, used only while handed over */
  size_t size;
  uint64_t tag;
} block; /* header of every block; the pattern follows */

typedef struct {
  pthread_mutex_t lock;
  block *head;
} mailbox;

typedef struct {
  _Alignas(LINE) pthread_t t;
  int id;
  uint64_t rng;
  mailbox box;
  block **ws;
  long jobs_done, blocks_made, blocks_freed;
  /* Bytes this thread allocated minus bytes it freed (negative when it frees
   * others' blocks). Written only by its thread; the main thread sums all of
   * them every millisecond to find the peak of the live bytes. */
  _Alignas(64) int64_t live;
} worker;

static long g_threads, g_jobs, g_slots, g_burst_every, g_quiet_ms;
static worker *g_w;
static pthread_barrier_t g_done, g_measured;
static long g_running; /* threads still doing jobs */

static block *blk_new(worker *w, size_t size, int fill_all) {
  if (size < sizeof(block) + 16) size = sizeof(block) + 16;
  block *b = xmalloc(size);
  __atomic_store_n(&w->live, w->live + (int64_t)size, __ATOMIC_RELAXED);
  w->blocks_made++;
  b->next = NULL;
  b->size = size;
  b->tag = rng_next(&w->rng);
  unsigned char *body = (unsigned char *)(b + 1);
  size_t n = size - sizeof(block);
  if (fill_all) memset(body, (int)(b->tag & 0xff), n);
  tag_fill(body, n, b->tag);
  return b;
}

static void blk_free(worker *w, block *b) {
  tag_check(b + 1, b->size - sizeof(block), b->tag);
  __atomic_store_n(&w->live, w->live - (int64_t)b->size, __ATOMIC_RELAXED);
  free(b);
  w->blocks_freed++;
}

/* Frees b here, or (one time in four) mails it to another thread. */
static void blk_drop(worker *w, block *b) {
  if (g_threads > 1 && rng_below(&w->rng, 4) == 0) {
    worker *to = &g_w[(w->id + 1 + (int)rng_below(&w->rng, (uint32_t)g_threads - 1)) % g_threads];
    pthread_mutex_lock(&to->box.lock);
    b->next = to->box.head;
    to->box.head = b;
    pthread_mutex_unlock(&to->box.lock);
  } else {
    blk_free(w, b);
  }
}

static void drain_mailbox(worker *w) {
  pthread_mutex_lock(&w->box.lock);
  block *b = w->box.head;
  w->box.head = NULL;
  pthread_mutex_unlock(&w->box.lock);
  while (b) {
    block *n = b->next;
    blk_free(w, b);
    b = n;
  }
}

static void ws_replace(worker *w) {
  uint32_t i = rng_below(&w->rng, (uint32_t)g_slots);
  if (w->ws[i]) blk_drop(w, w->ws[i]);
  w->ws[i] = blk_new(w, rng_size(&w->rng, 16, 4096), 0);
}

static void small_job(worker *w) {
  block *tmp[256];
  int n = 24 + (int)rng_below(&w->rng, 232);
  for (int i = 0; i < n; i++) tmp[i] = blk_new(w, rng_size(&w->rng, 16, 1024), 0);
  for (int i = n - 1; i >= 0; i--) blk_drop(w, tmp[i]);
  for (int k = 1 + (int)rng_below(&w->rng, 6); k > 0; k--) ws_replace(w);
}

static void burst_job(worker *w) {
  size_t target = (size_t)(8 + rng_below(&w->rng, 25)) << 20, total = 0;
  size_t cap = 1024, n = 0;
  block **bs = xmalloc(cap * sizeof *bs);
  while (total < target) {
    if (n == cap) {
      block **nb = realloc(bs, (cap *= 2) * sizeof *bs);
      if (!nb) fail("realloc");
      bs = nb;
    }
    size_t sz = rng_size(&w->rng, 1024, 128 * 1024);
    bs[n++] = blk_new(w, sz, 1);
    total += sz;
    if (n % 32 == 0) ws_replace(w);
  }
  for (size_t i = 0; i < n; i++) blk_drop(w, bs[i]);
  free(bs);
}

static void *run(void *arg) {
  worker *w = arg;
  w->ws = calloc((size_t)g_slots, sizeof *w->ws);
  if (!w->ws) fail("calloc");
  for (long i = 0; i < g_slots; i++) w->ws[i] = blk_new(w, rng_size(&w->rng, 16, 4096), 0);
  for (long j = 0; j < g_jobs; j++) {
    drain_mailbox(w);
    if (rng_below(&w->rng, (uint32_t)g_burst_every) == 0) burst_job(w);
    else small_job(w);
    if (j % 8 == 0) usleep(200); /* "IO" */
    w->jobs_done++;
  }
  __atomic_add_fetch(&g_running, -1, __ATOMIC_RELEASE);
  pthread_barrier_wait(&g_done);
  /* Quiet period: a server after a busy spell is idle but not dead; a small
   * heartbeat job now and then gives allocators that purge on their own
   * slow paths (no background thread) the calls they need. */
  for (long k = 0; k < g_quiet_ms / 20; k++) {
    usleep(20000);
    drain_mailbox(w);
    small_job(w);
  }
  pthread_barrier_wait(&g_done);
  drain_mailbox(w); /* nothing is mailed after the second g_done */
  pthread_barrier_wait(&g_measured); /* main reads RSS between the two */
  pthread_barrier_wait(&g_measured);
  for (long i = 0; i < g_slots; i++) blk_free(w, w->ws[i]);
  free(w->ws);
  return NULL;
}

int main(int argc, char **argv) {
  g_threads = arg_long(argc, argv, 1, 8);
  g_jobs = arg_long(argc, argv, 2, 3000);
  g_slots = arg_long(argc, argv, 3, 4000);
  g_burst_every = arg_long(argc, argv, 4, 150);
  g_quiet_ms = arg_long(argc, argv, 5, 500);
  long baseline = rss_kib();
  g_w = xcalloc_lines((size_t)g_threads, sizeof *g_w);
  if (!g_w) fail("calloc");
  pthread_barrier_init(&g_done, NULL, (unsigned)g_threads);
  pthread_barrier_init(&g_measured, NULL, (unsigned)g_threads + 1);
  g_running = g_threads;
  double t0 = now_s();
  /* Every mailbox exists before any thread can post to it. */
  for (long i = 0; i < g_threads; i++) {
    g_w[i].id = (int)i;
    g_w[i].rng = 0xb10a7 + (uint64_t)i;
    pthread_mutex_init(&g_w[i].box.lock, NULL);
  }
  for (long i = 0; i < g_threads; i++) start_thread(&g_w[i].t, run, &g_w[i]);
  /* The peak of the live bytes is the floor no allocator can go under. */
  int64_t peak_live = 0;
  while (__atomic_load_n(&g_running, __ATOMIC_ACQUIRE) > 0) {
    int64_t sum = 0;
    for (long i = 0; i < g_threads; i++) sum += __atomic_load_n(&g_w[i].live, __ATOMIC_RELAXED);
    if (sum > peak_live) peak_live = sum;
    usleep(1000);
  }
  double work = now_s() - t0;
  pthread_barrier_wait(&g_measured);
  long final_rss = rss_kib();
  size_t live = 0;
  for (long i = 0; i < g_threads; i++)
    for (long k = 0; k < g_slots; k++) live += g_w[i].ws[k]->size;
  pthread_barrier_wait(&g_measured);
  long jobs = 0, made = 0, freed = 0;
  for (long i = 0; i < g_threads; i++) {
    pthread_join(g_w[i].t, NULL);
    jobs += g_w[i].jobs_done;
    made += g_w[i].blocks_made;
    freed += g_w[i].blocks_freed;
  }
  if (jobs != g_threads * g_jobs) fail("%ld jobs done, want %ld", jobs, g_threads * g_jobs);
  if (made != freed) fail("%ld blocks allocated but %ld freed", made, freed);
  printf("RESULT ok live_kib=%zu peak_live_kib=%lld final_rss_kib=%ld baseline_rss_kib=%ld "
         "work_s=%.3f\n", live >> 10, (long long)(peak_live >> 10), final_rss, baseline, work);
  return 0;
}
