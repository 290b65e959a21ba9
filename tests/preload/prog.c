/* Compiled by gcc in the preload test (gcc, cc1, as and ld all run with
 * lemmalloc preloaded); its assembly and its output are compared. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct entry { char key[16]; unsigned long count; };

static int by_count(const void *a, const void *b) {
  const struct entry *x = a, *y = b;
  return x->count != y->count ? (x->count < y->count) - (x->count > y->count) : strcmp(x->key, y->key);
}

int main(void) {
  enum { N = 997 };
  static struct entry table[N];
  unsigned long seed = 42;
  for (int i = 0; i < 200000; i++) {
    seed = seed * 6364136223846793005ul + 1442695040888963407ul;
    struct entry *e = &table[(seed >> 33) % N];
    snprintf(e->key, sizeof e->key, "k%lu", (unsigned long)((seed >> 33) % N));
    e->count++;
  }
  qsort(table, N, sizeof table[0], by_count);
  for (int i = 0; i < 5; i++) printf("%s %lu\n", table[i].key, table[i].count);
  return 0;
}
