/* Built against an installed lemmalloc with
 *   cc hello.c $(pkg-config --cflags --libs lemmalloc)
 * (or with liblemmalloc.a): the header and the library agree on the
 * version, the lm_* API works, and malloc itself is lemmalloc's (the same
 * object defines malloc and lm_version). Prints one line, exit 0 if all
 * holds. */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <lemmalloc.h>

#if LEMMALLOC_VERSION_NUMBER < 100
#error "LEMMALLOC_VERSION_NUMBER"
#endif

int main(void) {
  if (strcmp(lm_version(), LEMMALLOC_VERSION) != 0) {
    printf("version mismatch: library %s, header %s\n", lm_version(), LEMMALLOC_VERSION);
    return 1;
  }
  char *p = lm_malloc(100);
  char *q = malloc(1000);
  if (p == NULL || q == NULL) return 1;
  memset(p, 1, 100);
  memset(q, 2, 1000);
  struct lm_stats st;
  lm_stats(&st);
  lm_free(p);
  free(q);
  Dl_info a, b;
  void *m = dlsym(RTLD_DEFAULT, "malloc");
  if (m == NULL || !dladdr(m, &a) || !dladdr((void *)lm_version, &b)) return 1;
  if (a.dli_fbase != b.dli_fbase) {
    printf("malloc comes from %s, lm_version from %s\n", a.dli_fname, b.dli_fname);
    return 1;
  }
  printf("lemmalloc %s (header %s): malloc served by %s, %llu mallocs\n", lm_version(), LEMMALLOC_VERSION,
         b.dli_fname, (unsigned long long)st.nmalloc);
  return st.nmalloc >= 2 ? 0 : 1;
}
