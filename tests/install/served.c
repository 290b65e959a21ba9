/* Which object serves malloc in this process (a plain program, not linked
 * with lemmalloc): prints "malloc from PATH"; exit 0 if that is a
 * liblemmalloc, 1 if not. Also says whether a test library preloaded next
 * to lemmalloc (marker.c) is there, and whether the kernel ran it in
 * secure mode (AT_SECURE: setuid or setgid to someone else). */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/auxv.h>

int main(void) {
  void *volatile p = malloc(100);
  free(p);
  Dl_info i;
  void *m = dlsym(RTLD_DEFAULT, "malloc");
  if (m == NULL || !dladdr(m, &i) || i.dli_fname == NULL) return 2;
  printf("malloc from %s\n", i.dli_fname);
  if (dlsym(RTLD_DEFAULT, "lemmalloc_test_marker")) printf("marker preloaded\n");
  if (getauxval(AT_SECURE)) printf("secure mode\n");
  return strstr(i.dli_fname, "liblemmalloc") ? 0 : 1;
}
