/* realloc: growing buffers, the pattern of string builders, vectors and
 * read-until-EOF loops. BUFFERS buffers are grown round-robin by 1..STEP
 * bytes at a time with realloc until each reaches its own random target
 * (up to MAX bytes, most of them small), then checked and freed and started
 * again. In-place growth, moves between size classes and the switch to
 * page-sized blocks are all exercised.
 *
 * Validation: byte i of every buffer must be (i * 131 + seed) & 0xff when it
 * is freed, so a realloc that loses or misplaces data is caught.
 *
 * usage: realloc [buffers=64] [appends=3000000] [max=262144] [step=64]
 */
#include "common.h"

typedef struct {
  unsigned char *p;
  size_t len, target;
  uint8_t seed;
} buf;

static void check_free(buf *b) {
  for (size_t i = 0; i < b->len; i++)
    if (b->p[i] != (unsigned char)(i * 131 + b->seed)) fail("buffer byte %zu lost", i);
  free(b->p);
}

int main(int argc, char **argv) {
  long nbuf = arg_long(argc, argv, 1, 64), appends = arg_long(argc, argv, 2, 3000000);
  long max = arg_long(argc, argv, 3, 262144), step = arg_long(argc, argv, 4, 64);
  buf *bs = calloc((size_t)nbuf, sizeof *bs);
  if (!bs) fail("calloc");
  uint64_t rng = 9;
  long completed = 0;
  for (long a = 0; a < appends; a++) {
    buf *b = &bs[a % nbuf];
    if (b->len >= b->target) {
      if (b->p) check_free(b), completed++;
      b->p = NULL;
      b->len = 0;
      b->target = rng_size(&rng, 1, (size_t)max);
      /* Most real buffers stay small: shrink three of four targets. */
      if (rng_below(&rng, 4)) b->target = b->target / 64 + 1;
      b->seed = (uint8_t)rng_next(&rng);
    }
    size_t add = 1 + rng_below(&rng, (uint32_t)step);
    unsigned char *q = realloc(b->p, b->len + add);
    if (!q) fail("realloc(%zu) returned NULL", b->len + add);
    for (size_t i = b->len; i < b->len + add; i++) q[i] = (unsigned char)(i * 131 + b->seed);
    b->p = q;
    b->len += add;
  }
  for (long i = 0; i < nbuf; i++)
    if (bs[i].p) check_free(&bs[i]);
  free(bs);
  printf("RESULT ok buffers_completed=%ld\n", completed);
  return 0;
}
