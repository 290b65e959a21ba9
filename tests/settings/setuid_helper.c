/* Linked with liblemmalloc.a and installed setuid root by secure.sh: a
 * program whose environment belongs to someone else. It allocates enough
 * to take every slow path (small, large, huge), says whether the kernel
 * set AT_SECURE, and exits normally (so destructors run: stats, heap map,
 * trace close). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/auxv.h>
#include <unistd.h>

int main(void) {
  static void *p[256];
  for (int round = 0; round < 4; round++) {
    for (int i = 0; i < 256; i++) {
      size_t n = i % 64 == 63 ? (size_t)3 << 20 : i % 8 == 7 ? 70000 : (size_t)(16 + i * 8);
      p[i] = malloc(n);
      if (p[i] == NULL) return 3;
      memset(p[i], i, n < 4096 ? n : 4096);
    }
    for (int i = 0; i < 256; i++) free(p[i]);
  }
  printf("secure=%lu euid=%d uid=%d\n", getauxval(AT_SECURE), (int)geteuid(), (int)getuid());
  return 0;
}
