/* A library whose constructor allocates: under LD_PRELOAD the dynamic
 * loader runs it before lemmalloc's own constructor (a program's libraries
 * are initialized first), so these calls reach lemmalloc before it has set
 * anything up. libselinux, linked by ls and many other programs, does the
 * same. The results are kept for the program (early.c) to check. */
#include <stdlib.h>
#include <string.h>

char *lt_early_block[64];
int lt_early_ok;

__attribute__((constructor)) static void allocate_early(void) {
  int ok = 1;
  for (int i = 0; i < 64; i++) {
    size_t n = (size_t)(i + 1) * 24;
    char *p = i % 3 == 0 ? calloc(1, n) : malloc(n);
    if (p == NULL) { ok = 0; continue; }
    if (i % 3 == 0)
      for (size_t k = 0; k < n; k++) ok &= p[k] == 0;
    memset(p, i, n);
    lt_early_block[i] = p;
  }
  void *q = realloc(malloc(10), 5000);
  ok &= q != NULL;
  free(q);
  free(lt_early_block[63]);
  lt_early_block[63] = NULL;
  lt_early_ok = ok;
}
