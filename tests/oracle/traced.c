/* A small multi-threaded program for the trace round trip: run under
 * LD_PRELOAD=liblemmalloc.so LEMMALLOC_TRACE=FILE, then replay FILE with the
 * oracle. It frees blocks on other threads than their allocator's (the
 * trace's HANDOFF/TAKE), keeps more blocks live than a thread has slots
 * (eviction), and calls every function of the family. */
#define _GNU_SOURCE
#include <malloc.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define N 600
static void *blocks[4][N];

static void *worker(void *arg) {
  unsigned me = (unsigned)(size_t)arg, seed = me * 7919 + 1;
  for (int round = 0; round < 3; round++) {
    for (int i = 0; i < N; i++) {
      seed = seed * 1103515245 + 12345;
      size_t n = (seed >> 8) % (i % 50 == 0 ? 100000 : 500);
      void **b = &blocks[(me + round) % 4][i]; /* other threads' blocks too */
      switch ((seed >> 20) % 6) {
      case 0: free(*b); *b = malloc(n); break;
      case 1: { void *q = realloc(*b, n + 1); if (q) *b = q; break; }
      case 2: free(*b); *b = calloc(n % 64 + 1, 8); break;
      case 3: free(*b); *b = aligned_alloc(64, n); break;
      case 4: free(*b); if (posix_memalign(b, 128, n)) *b = NULL; break;
      default: if (*b) memset(*b, 1, malloc_usable_size(*b)); break;
      }
    }
  }
  return NULL;
}

int main(void) {
  pthread_t t[4];
  for (unsigned i = 0; i < 4; i++) { /* one after another: the blocks array is shared */
    pthread_create(&t[i], NULL, worker, (void *)(size_t)i);
    pthread_join(t[i], NULL);
  }
  free(memalign(32, 100));
  free(valloc(10));
  free(pvalloc(10));
  free(reallocarray(NULL, 10, 10));
  malloc_trim(0);
  for (unsigned i = 0; i < 4; i++)
    for (int j = 0; j < N; j++) free(blocks[i][j]);
  puts("traced: done");
  return 0;
}
