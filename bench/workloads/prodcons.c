/* prodcons: producer/consumer across threads. PRODUCERS threads allocate
 * batches of BATCH blocks (16..SIZE bytes) and pass them through a bounded
 * queue to CONSUMERS threads, which check and free them: every free is a
 * remote free, and the allocating thread never sees its memory come back
 * directly. This is the pattern of pipelines and of request/response
 * servers with a thread pool.
 *
 * Validation: each block's pattern is checked before it is freed, and the
 * sum of tags produced must equal the sum consumed.
 *
 * usage: prodcons [producers=2] [consumers=2] [batches=20000] [batch=64] [size=1024]
 */
#include "common.h"

#define QCAP 64

typedef struct {
  size_t n;
  void *blk[];
} batch;

static struct {
  pthread_mutex_t lock;
  pthread_cond_t not_empty, not_full;
  batch *q[QCAP];
  unsigned head, count, producers_left;
} Q = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, PTHREAD_COND_INITIALIZER, {0}, 0, 0, 0};

static long g_batches, g_batch, g_size;

typedef struct {
  _Alignas(LINE) uint64_t rng;
  uint64_t sum;
  long blocks;
} worker;

static void *producer(void *arg) {
  worker *w = arg;
  for (long b = 0; b < g_batches; b++) {
    batch *bt = xmalloc(sizeof *bt + (size_t)g_batch * sizeof(void *));
    bt->n = (size_t)g_batch;
    for (long i = 0; i < g_batch; i++) {
      size_t n = rng_size(&w->rng, 24, (size_t)g_size);
      uint64_t tag = rng_next(&w->rng);
      char *p = xmalloc(n);
      tag_fill(p, n, tag);
      memcpy(p + 8, &n, sizeof n); /* size lives at offset 8, tag words at 0 and n-8 */
      bt->blk[i] = p;
      w->sum += tag;
      w->blocks++;
    }
    pthread_mutex_lock(&Q.lock);
    while (Q.count == QCAP) pthread_cond_wait(&Q.not_full, &Q.lock);
    Q.q[(Q.head + Q.count++) % QCAP] = bt;
    pthread_cond_signal(&Q.not_empty);
    pthread_mutex_unlock(&Q.lock);
  }
  pthread_mutex_lock(&Q.lock);
  Q.producers_left--;
  pthread_cond_broadcast(&Q.not_empty);
  pthread_mutex_unlock(&Q.lock);
  return NULL;
}

/* The consumer learns a block's size from offset 8 and its tag from the
 * first word (tag_word is the tag XOR a function of the size), then checks
 * the last word against both. */
static void *consumer(void *arg) {
  worker *w = arg;
  for (;;) {
    pthread_mutex_lock(&Q.lock);
    while (Q.count == 0 && Q.producers_left) pthread_cond_wait(&Q.not_empty, &Q.lock);
    if (Q.count == 0) {
      pthread_mutex_unlock(&Q.lock);
      return NULL;
    }
    batch *bt = Q.q[Q.head];
    Q.head = (Q.head + 1) % QCAP;
    Q.count--;
    pthread_cond_signal(&Q.not_full);
    pthread_mutex_unlock(&Q.lock);
    for (size_t i = 0; i < bt->n; i++) {
      char *p = bt->blk[i];
      size_t n;
      uint64_t first;
      memcpy(&n, p + 8, sizeof n);
      memcpy(&first, p, 8);
      uint64_t tag = first ^ tag_word(n, 0);
      tag_check(p, n, tag);
      w->sum += tag;
      w->blocks++;
      free(p);
    }
    free(bt);
  }
}

int main(int argc, char **argv) {
  long np = arg_long(argc, argv, 1, 2), nc = arg_long(argc, argv, 2, 2);
  g_batches = arg_long(argc, argv, 3, 20000);
  g_batch = arg_long(argc, argv, 4, 64);
  g_size = arg_long(argc, argv, 5, 1024);
  if (g_size < 24) fail("size must be at least 24");
  worker *w = xcalloc_lines((size_t)(np + nc), sizeof *w);
  pthread_t *t = calloc((size_t)(np + nc), sizeof *t);
  if (!w || !t) fail("calloc");
  Q.producers_left = (unsigned)np;
  for (long i = 0; i < np + nc; i++) {
    w[i].rng = 77 + (uint64_t)i;
    start_thread(&t[i], i < np ? producer : consumer, &w[i]);
  }
  uint64_t made = 0, eaten = 0;
  long nmade = 0, neaten = 0;
  for (long i = 0; i < np + nc; i++) {
    pthread_join(t[i], NULL);
    if (i < np) made += w[i].sum, nmade += w[i].blocks;
    else eaten += w[i].sum, neaten += w[i].blocks;
  }
  if (made != eaten || nmade != neaten)
    fail("produced %ld blocks (sum %llx), consumed %ld (sum %llx)", nmade,
         (unsigned long long)made, neaten, (unsigned long long)eaten);
  free(w);
  free(t);
  printf("RESULT ok blocks=%ld checksum=%016llx\n", nmade, (unsigned long long)made);
  return 0;
}
