/* Deliberately buggy (and deliberately clean) little programs for the
 * valgrind tests: `vg_bugs CASE` runs one. tests/observe/valgrind.sh runs
 * each under memcheck with lemmalloc preloaded and looks for the error
 * memcheck must report, at the line below that commits it.
 *
 * Built with -O0, and pointers go through `sink`, so that the compiler
 * keeps every bad access where it is written. */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "lemmalloc.h"

void *volatile sink, *volatile kept;
static char *launder(void *p) { sink = p; return sink; }

static int use_after_free(void) {
  char *p = launder(malloc(40));
  memset(p, 1, 40);
  free(p);
  return p[3]; /* BUG: read 3 bytes inside a freed block of 40 */
}

static int overflow(void) {
  char *p = launder(malloc(24)); /* a 32-byte slot: the slack is off limits too */
  p[24] = 1; /* BUG: one past the end */
  free(p);
  return 0;
}

static int large_overflow(void) {
  char *p = launder(malloc(20000)); /* a large block of 8 pages */
  p[20000] = 1; /* BUG */
  free(p);
  return 0;
}

static int uninit(void) {
  char *p = launder(malloc(64));
  int r = 0;
  if (p[10]) r = puts("set"); /* BUG: branch on a byte never written */
  free(p);
  return r;
}

static int double_free(void) {
  char *p = launder(malloc(48));
  free(p);
  free(p); /* BUG: memcheck reports it, then lemmalloc (LEMMALLOC_ON_ERROR=warn) */
  return 0;
}

static int stale_after_realloc(void) {
  char *p = launder(malloc(16));
  strcpy(p, "lemmalloc");
  char *q = launder(realloc(p, 4000)); /* moves: another class */
  int r = q[0] == 'l' && q[8] == 'c' ? 0 : 1; /* the copy is defined */
  r += p[0]; /* BUG: the old block is gone */
  free(q);
  return r;
}

static int realloc_shrink(void) {
  char *p = launder(malloc(100));
  memset(p, 7, 100);
  p = launder(realloc(p, 60)); /* in place: 112-byte slot */
  int r = p[59] == 7 ? 0 : 1;
  r += p[80]; /* BUG: beyond the new size, inside the old one */
  free(p);
  return r;
}

static int leak(void) {
  char *a = launder(malloc(100)); /* first slot of its slab */
  char *b = launder(malloc(100));
  char *l = launder(malloc(100000));
  char *h = launder(malloc(8 << 20));
  a[0] = b[0] = l[0] = h[0] = 1;
  kept = malloc(200); /* reachable: not a leak */
  sink = NULL;
  return 0; /* BUG: a, b, l, h are lost: 8,488,808 bytes in 4 blocks */
}

/* Everything a careful program does: no error may be reported. */
static int clean(void) {
  unsigned char *z = calloc(1000, 8);
  int r = 0;
  for (int i = 0; i < 8000; i++) r |= z[i]; /* calloc'd bytes are defined */
  free(z);
  char *p = NULL;
  for (size_t n = 1; n < (64u << 20); n = n * 3 + 1) { /* small, large, huge; moves and in place */
    size_t old = p ? malloc_usable_size(p) : 0;
    p = realloc(p, n);
    if (old) r |= p[0] != 'x';
    p[0] = 'x';
    memset(p + 1, 'y', n - 1); /* the whole request is writable */
  }
  free(p);
  void *a;
  if (posix_memalign(&a, 4096, 5000) == 0) memset(a, 0, 5000), free(a);
  char *m = memalign(64, 300);
  memset(m, 1, 300);
  r |= malloc_usable_size(m) < 300;
  free(m);
  char *s = aligned_alloc(1 << 16, 1 << 16);
  s[65535] = 1;
  free(s);
  void *many[1000];
  for (int i = 0; i < 1000; i++) many[i] = malloc((size_t)(i * 37 % 3000) + 1);
  for (int i = 0; i < 1000; i += 2) free(many[i]);
  for (int i = 1; i < 1000; i += 2) free(many[i]);
  malloc_trim(0);
  /* And lemmalloc served it all, not memcheck's own malloc. */
  int (*stats)(struct lm_stats *) = (int (*)(struct lm_stats *))dlsym(RTLD_DEFAULT, "lm_stats");
  struct lm_stats st;
  if (stats == NULL || stats(&st) != 0 || st.nmalloc < 1000) {
    fprintf(stderr, "vg_bugs: malloc was not served by lemmalloc\n");
    r = 1;
  }
  return r;
}

int main(int argc, char **argv) {
  static const struct { const char *name; int (*fn)(void); } cases[] = {
    {"use_after_free", use_after_free}, {"overflow", overflow}, {"large_overflow", large_overflow},
    {"uninit", uninit}, {"double_free", double_free}, {"stale_after_realloc", stale_after_realloc},
    {"realloc_shrink", realloc_shrink}, {"leak", leak}, {"clean", clean},
  };
  for (size_t i = 0; argc == 2 && i < sizeof cases / sizeof cases[0]; i++)
    if (strcmp(argv[1], cases[i].name) == 0) return cases[i].fn() ? 1 : 0;
  fprintf(stderr, "usage: %s CASE (use_after_free, overflow, ..., clean)\n", argv[0]);
  return 2;
}
