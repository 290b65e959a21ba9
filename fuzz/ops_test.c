/* Round-trip test of the op codec: decode(encode(x)) == x for decoded random
 * bytes and for generated workloads, plus the edge values the value modes
 * exist for. Prints PASS:/FAIL: lines for make check. */
#include "api/ops.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_OPS 4096

static struct lm_op a[MAX_OPS], b[MAX_OPS];
static uint8_t bytes[MAX_OPS * 24];
static int failures;

static bool same(const struct lm_op *x, const struct lm_op *y) {
  return x->kind == y->kind && x->thread == y->thread && x->slot == y->slot &&
         x->aux == y->aux && x->size == y->size && x->nmemb == y->nmemb &&
         x->align == y->align;
}

/* Encode n ops from a, decode into b, compare; report the first difference. */
static bool round_trip(const char *what, size_t n) {
  size_t len = lm_ops_encode(a, n, bytes, sizeof bytes);
  if (n && !len) {
    printf("  %s: encode ran out of room\n", what);
    return false;
  }
  size_t m = lm_ops_decode(bytes, len, b, MAX_OPS);
  if (m != n) {
    printf("  %s: %zu ops encoded, %zu decoded\n", what, n, m);
    return false;
  }
  for (size_t i = 0; i < n; i++) {
    if (!same(&a[i], &b[i])) {
      char x[160], y[160];
      lm_op_format(&a[i], x, sizeof x);
      lm_op_format(&b[i], y, sizeof y);
      printf("  %s: op %zu was \"%s\", came back \"%s\"\n", what, i, x, y);
      return false;
    }
  }
  return true;
}

static void check(bool ok, const char *what) {
  printf("%s: %s\n", ok ? "PASS" : "FAIL", what);
  failures += !ok;
}

int main(void) {
  uint64_t st = 12345;
  bool ok = true;

  /* Random bytes: every input must decode, and re-encode to the same ops. */
  for (int iter = 0; iter < 2000 && ok; iter++) {
    uint8_t in[512];
    size_t len = (size_t)(iter % 512);
    for (size_t i = 0; i < len; i++) {
      st = st * 6364136223846793005u + 1442695040888963407u;
      in[i] = (uint8_t)(st >> 56);
    }
    size_t n = lm_ops_decode(in, len, a, MAX_OPS);
    ok = n <= len && (len == 0 || n > 0) && round_trip("random bytes", n);
  }
  check(ok, "ops: decode(encode(decode(random bytes))) == decode(random bytes)");

  /* Generated workloads, single- and multi-threaded. */
  ok = true;
  for (unsigned t = 1; t <= LM_OPS_MAX_THREADS && ok; t++)
    for (uint64_t seed = 0; seed < 20 && ok; seed++)
      ok = lm_ops_generate(seed, MAX_OPS, t, a) == MAX_OPS && round_trip("generate", MAX_OPS);
  check(ok, "ops: decode(encode(generate(seed))) == generate(seed), 1..8 threads");

  /* Edge values of every field. */
  static const uint64_t vals[] = {0, 1, 15, 16, 17, 255, 256, 4095, 4096, 4097,
                                  16384, 65535, 65536, 1u << 20, (1u << 20) + 1,
                                  0xffffffffu, 0x100000000u, 0x123456789abcdefu,
                                  (uint64_t)1 << 63, ((uint64_t)1 << 63) - 1,
                                  UINT64_MAX, UINT64_MAX - 255, UINT64_MAX - 256};
  const size_t nv = sizeof vals / sizeof vals[0];
  size_t n = 0;
  for (size_t i = 0; i < nv; i++)
    for (size_t j = 0; j < nv; j++) {
      a[n++] = (struct lm_op){.kind = LM_OP_CALLOC, .slot = (uint16_t)i, .nmemb = vals[i], .size = vals[j]};
      a[n++] = (struct lm_op){.kind = LM_OP_MEMALIGN, .slot = 255, .align = vals[i], .size = vals[j]};
    }
  a[n++] = (struct lm_op){.kind = LM_OP_THREAD, .thread = 7, .aux = 7};
  a[n++] = (struct lm_op){.kind = LM_OP_HANDOFF, .thread = 7, .slot = 3, .aux = LM_OPS_SHARED - 1};
  a[n++] = (struct lm_op){.kind = LM_OP_BARRIER, .thread = 7};
  a[n++] = (struct lm_op){.kind = LM_OP_TRIM, .thread = 7, .size = 1 << 20};
  check(round_trip("edge values", n), "ops: edge values of size, nmemb, align, aux round-trip");

  /* An op on a new thread without a THREAD op gets one inserted. */
  a[0] = (struct lm_op){.kind = LM_OP_MALLOC, .thread = 3, .slot = 1, .size = 10};
  size_t len = lm_ops_encode(a, 1, bytes, sizeof bytes);
  n = lm_ops_decode(bytes, len, b, MAX_OPS);
  check(n == 2 && b[0].kind == LM_OP_THREAD && b[0].aux == 3 && same(&a[0], &b[1]),
        "ops: encode inserts the THREAD op a thread change needs");

  /* Short buffers are refused, not overrun. */
  a[0] = (struct lm_op){.kind = LM_OP_MALLOC, .size = UINT64_MAX / 3};
  uint8_t small[4] = {0, 0, 0, 0xAA};
  check(lm_ops_encode(a, 1, small, 3) == 0 && small[3] == 0xAA,
        "ops: encode returns 0 when the buffer is short and writes nothing past it");

  /* Formatting names the op the way the docs show. */
  char buf[128];
  a[0] = (struct lm_op){.kind = LM_OP_REALLOC, .thread = 1, .slot = 17, .size = 4096};
  lm_op_format(&a[0], buf, sizeof buf);
  check(strcmp(buf, "t1 s17 = realloc(s17, 4096)") == 0, "ops: format of realloc");

  return failures ? 1 : 0;
}
