/* Calls that reach lemmalloc before its constructor ran (early_lib.c's
 * constructor runs first): they must be served, and the blocks must stay
 * good through the rest of the program, on glibc and on lemmalloc. */
#include "../lib/test.h"

extern char *lt_early_block[64];
extern int lt_early_ok;

int main(void) {
  lt_init("early");
  TEST("a library's constructor allocates before lemmalloc's constructor ran") {
    CHECK(lt_early_ok);
    for (int i = 0; i < 63; i++) {
      size_t n = (size_t)(i + 1) * 24;
      CHECKF(lt_early_block[i] != NULL, "block %d", i);
      if (lt_early_block[i] == NULL) continue;
      int same = 1;
      for (size_t k = 0; k < n; k++) same &= lt_early_block[i][k] == (char)i;
      CHECKF(same, "block %d (%zu bytes) changed", i, n);
      free(lt_early_block[i]);
    }
  }
  TEST("and the heap serves normally afterwards") {
    for (int i = 0; i < 1000; i++) {
      char *p = malloc(48);
      CHECK(p != NULL);
      if (p) *p = 1;
      free(p);
    }
  }
  return lt_done();
}
