/* contfrac: factoring with the continued fraction method on heap-allocated
 * bignums (the kind of cfrac: a small-object compute program).
 *
 * Every number is a malloc'd block (an 8-byte header and 32-bit limbs, so
 * 12..40 bytes here) and every arithmetic operation returns a new one, as
 * in the bignum libraries of that era: the program allocates and frees
 * tiny blocks at a high rate and keeps a few hundred of them (relations,
 * exponent lists, bit rows) for longer.
 *
 * For each of COUNT numbers N = p*q (p, q random primes of BITS bits from
 * the seed): expand sqrt(kN) as a continued fraction (P, Q, a and the
 * convergent numerators A mod N, all bignums); every Q that factors
 * completely over a base of BASE small primes gives a relation
 * A^2 = (-1)^i Q (mod N); with BASE + 16 relations, Gaussian elimination
 * over GF(2) (bit rows on the heap) finds products that are squares on
 * both sides, and gcd(X - Y, N) splits N. A multiplier k = 1, 3, 5, 7...
 * is tried next if the expansion runs too long or no dependency splits N.
 *
 * Validation: the bignum routines are checked against 128-bit integer
 * arithmetic on random operands at start-up; every relation is verified
 * (A^2 mod N computed and compared with (-1)^i Q mod N); every factor
 * found must divide N and be p or q.
 *
 * usage: contfrac [count=40] [bits=34] [base=80] [--seed=N]
 */
#include "common.h"

typedef struct {
  uint32_t n; /* limbs in use, no leading zero limb; 0 is the number 0 */
  uint32_t pad;
  uint32_t d[];
} big;

static long g_live; /* bignums alive (checked at the end: none leaked) */

static big *b_alloc(uint32_t n) {
  big *b = xmalloc(sizeof(big) + (n ? n : 1) * sizeof(uint32_t));
  b->n = n;
  g_live++;
  return b;
}
static void b_free(big *b) {
  if (b) {
    free(b);
    g_live--;
  }
}
static big *b_trim(big *b) {
  while (b->n && !b->d[b->n - 1]) b->n--;
  return b;
}
static big *b_u64(uint64_t x) {
  big *b = b_alloc(2);
  b->d[0] = (uint32_t)x;
  b->d[1] = (uint32_t)(x >> 32);
  return b_trim(b);
}
static big *b_u128(unsigned __int128 x) {
  big *b = b_alloc(4);
  for (int i = 0; i < 4; i++) b->d[i] = (uint32_t)(x >> (32 * i));
  return b_trim(b);
}
static unsigned __int128 b_to128(const big *b) {
  unsigned __int128 x = 0;
  for (uint32_t i = b->n; i-- > 0;) x = (x << 32) | b->d[i];
  return x;
}
static big *b_copy(const big *a) {
  big *b = b_alloc(a->n);
  memcpy(b->d, a->d, a->n * sizeof(uint32_t));
  return b;
}
static int b_cmp(const big *a, const big *b) {
  if (a->n != b->n) return a->n < b->n ? -1 : 1;
  for (uint32_t i = a->n; i-- > 0;)
    if (a->d[i] != b->d[i]) return a->d[i] < b->d[i] ? -1 : 1;
  return 0;
}
static int b_is(const big *a, uint32_t v) { return v ? a->n == 1 && a->d[0] == v : a->n == 0; }

static big *b_add(const big *a, const big *b) {
  if (a->n < b->n) {
    const big *t = a;
    a = b;
    b = t;
  }
  big *r = b_alloc(a->n + 1);
  uint64_t c = 0;
  for (uint32_t i = 0; i < a->n; i++) {
    c += (uint64_t)a->d[i] + (i < b->n ? b->d[i] : 0);
    r->d[i] = (uint32_t)c;
    c >>= 32;
  }
  r->d[a->n] = (uint32_t)c;
  return b_trim(r);
}
static big *b_sub(const big *a, const big *b) { /* a >= b */
  big *r = b_alloc(a->n);
  int64_t c = 0;
  for (uint32_t i = 0; i < a->n; i++) {
    c += (int64_t)a->d[i] - (i < b->n ? b->d[i] : 0);
    r->d[i] = (uint32_t)c;
    c >>= 32;
  }
  if (c) fail("b_sub: negative result");
  return b_trim(r);
}
static big *b_mul(const big *a, const big *b) {
  big *r = b_alloc(a->n + b->n);
  memset(r->d, 0, r->n * sizeof(uint32_t));
  for (uint32_t i = 0; i < a->n; i++) {
    uint64_t c = 0;
    for (uint32_t j = 0; j < b->n; j++) {
      c += (uint64_t)a->d[i] * b->d[j] + r->d[i + j];
      r->d[i + j] = (uint32_t)c;
      c >>= 32;
    }
    r->d[i + b->n] = (uint32_t)c;
  }
  return b_trim(r);
}
static big *b_mul_u32(const big *a, uint32_t m) {
  big *r = b_alloc(a->n + 1);
  uint64_t c = 0;
  for (uint32_t i = 0; i < a->n; i++) {
    c += (uint64_t)a->d[i] * m;
    r->d[i] = (uint32_t)c;
    c >>= 32;
  }
  r->d[a->n] = (uint32_t)c;
  return b_trim(r);
}
static uint32_t b_mod_u32(const big *a, uint32_t m) {
  uint64_t r = 0;
  for (uint32_t i = a->n; i-- > 0;) r = ((r << 32) | a->d[i]) % m;
  return (uint32_t)r;
}
static big *b_div_u32(const big *a, uint32_t m) {
  big *q = b_alloc(a->n);
  uint64_t r = 0;
  for (uint32_t i = a->n; i-- > 0;) {
    r = (r << 32) | a->d[i];
    q->d[i] = (uint32_t)(r / m);
    r %= m;
  }
  return b_trim(q);
}

/* Knuth's algorithm D (as in Hacker's Delight): u / v, v->n >= 2. */
static void b_divmod(const big *u, const big *v, big **qp, big **rp) {
  if (v->n == 0) fail("division by zero");
  if (b_cmp(u, v) < 0) {
    if (qp) *qp = b_alloc(0);
    if (rp) *rp = b_copy(u);
    return;
  }
  if (v->n == 1) {
    uint32_t r = b_mod_u32(u, v->d[0]);
    if (qp) *qp = b_div_u32(u, v->d[0]);
    if (rp) *rp = b_u64(r);
    return;
  }
  int m = (int)u->n, n = (int)v->n, s = __builtin_clz(v->d[n - 1]);
  uint32_t vn[16], un[17];
  if (n > 16 || m > 16) fail("b_divmod: operands too long");
  for (int i = n - 1; i > 0; i--) vn[i] = (v->d[i] << s) | (uint32_t)((uint64_t)v->d[i - 1] >> (32 - s));
  vn[0] = v->d[0] << s;
  un[m] = (uint32_t)((uint64_t)u->d[m - 1] >> (32 - s));
  for (int i = m - 1; i > 0; i--) un[i] = (u->d[i] << s) | (uint32_t)((uint64_t)u->d[i - 1] >> (32 - s));
  un[0] = u->d[0] << s;
  big *q = b_alloc((uint32_t)(m - n + 1));
  const uint64_t B = 1ull << 32;
  for (int j = m - n; j >= 0; j--) {
    uint64_t num = ((uint64_t)un[j + n] << 32) | un[j + n - 1];
    uint64_t qhat = num / vn[n - 1], rhat = num % vn[n - 1];
    while (qhat >= B || qhat * vn[n - 2] > ((rhat << 32) | un[j + n - 2])) {
      qhat--;
      rhat += vn[n - 1];
      if (rhat >= B) break;
    }
    int64_t k = 0, t;
    for (int i = 0; i < n; i++) {
      uint64_t p = qhat * vn[i];
      t = (int64_t)un[i + j] - k - (int64_t)(p & 0xffffffffu);
      un[i + j] = (uint32_t)t;
      k = (int64_t)(p >> 32) - (t >> 32);
    }
    t = (int64_t)un[j + n] - k;
    un[j + n] = (uint32_t)t;
    q->d[j] = (uint32_t)qhat;
    if (t < 0) {
      q->d[j]--;
      uint64_t c = 0;
      for (int i = 0; i < n; i++) {
        c += (uint64_t)un[i + j] + vn[i];
        un[i + j] = (uint32_t)c;
        c >>= 32;
      }
      un[j + n] += (uint32_t)c;
    }
  }
  if (qp) *qp = b_trim(q);
  else b_free(q);
  if (rp) {
    big *r = b_alloc((uint32_t)n);
    for (int i = 0; i < n - 1; i++) r->d[i] = (un[i] >> s) | (uint32_t)((uint64_t)un[i + 1] << (32 - s));
    r->d[n - 1] = un[n - 1] >> s;
    *rp = b_trim(r);
  }
}
static big *b_mod(const big *a, const big *m) {
  big *r;
  b_divmod(a, m, NULL, &r);
  return r;
}
static big *b_div(const big *a, const big *m) {
  big *q;
  b_divmod(a, m, &q, NULL);
  return q;
}
static big *b_mulmod(const big *a, const big *b, const big *m) {
  big *p = b_mul(a, b), *r = b_mod(p, m);
  b_free(p);
  return r;
}
static big *b_gcd(const big *a, const big *b) {
  big *x = b_copy(a), *y = b_copy(b);
  while (y->n) {
    big *r = b_mod(x, y);
    b_free(x);
    x = y;
    y = r;
  }
  b_free(y);
  return x;
}
static big *b_isqrt(const big *a) { /* floor(sqrt(a)), Newton from above */
  if (a->n == 0) return b_alloc(0);
  uint32_t bits = 32 * a->n - (uint32_t)__builtin_clz(a->d[a->n - 1]);
  big *x = b_alloc((bits + 1) / 2 / 32 + 1);
  memset(x->d, 0, x->n * sizeof(uint32_t));
  uint32_t e = (bits + 1) / 2; /* 2^e > sqrt(a) */
  x->d[e / 32] = 1u << (e % 32);
  b_trim(x);
  for (;;) {
    big *q = b_div(a, x), *s = b_add(x, q), *y = b_div_u32(s, 2);
    b_free(q);
    b_free(s);
    if (b_cmp(y, x) >= 0) {
      b_free(y);
      return x;
    }
    b_free(x);
    x = y;
  }
}

/* Start-up check of the routines against 128-bit arithmetic. */
static void self_test(uint64_t *rng) {
  for (int t = 0; t < 20000; t++) {
    int sh = (int)rng_below(rng, 64);
    unsigned __int128 x = ((unsigned __int128)rng_next(rng) << 64 | rng_next(rng)) >> rng_below(rng, 120);
    unsigned __int128 y = ((unsigned __int128)rng_next(rng) << sh | rng_next(rng)) >> rng_below(rng, 100);
    uint64_t lo = rng_next(rng) >> rng_below(rng, 60), hi = rng_next(rng) >> rng_below(rng, 60);
    if (!y) y = 3;
    big *a = b_u128(x), *b = b_u128(y), *c = b_u64(lo), *d = b_u64(hi);
    big *q, *r, *s = b_add(a, b), *p = b_mul(c, d);
    b_divmod(a, b, &q, &r);
    if (b_to128(q) != x / y || b_to128(r) != x % y) fail("bignum self-test: divmod");
    if ((x + y >= x) && b_to128(s) != x + y) fail("bignum self-test: add");
    if (b_to128(p) != (unsigned __int128)lo * hi) fail("bignum self-test: mul");
    if (x >= y) {
      big *e = b_sub(a, b);
      if (b_to128(e) != x - y) fail("bignum self-test: sub");
      b_free(e);
    }
    big *sq = b_isqrt(a);
    unsigned __int128 z = b_to128(sq);
    if (z * z > x || (z + 1) * (z + 1) <= x) fail("bignum self-test: isqrt");
    uint32_t m = (uint32_t)(rng_next(rng) | 1);
    if (b_mod_u32(a, m) != (uint32_t)(x % m)) fail("bignum self-test: mod_u32");
    big *all[] = {a, b, c, d, q, r, s, p, sq};
    for (size_t i = 0; i < sizeof all / sizeof *all; i++) b_free(all[i]);
  }
}

/* 64-bit primes for N = p*q (deterministic Miller-Rabin). */
static uint64_t mulmod64(uint64_t a, uint64_t b, uint64_t m) { return (uint64_t)((unsigned __int128)a * b % m); }
static int is_prime64(uint64_t n) {
  if (n < 2) return 0;
  static const uint64_t P[] = {2, 3, 5, 7, 11, 13, 17, 19, 23, 29, 31, 37};
  for (int i = 0; i < 12; i++)
    if (n % P[i] == 0) return n == P[i];
  uint64_t d = n - 1;
  int r = 0;
  while (!(d & 1)) d >>= 1, r++;
  for (int i = 0; i < 12; i++) {
    uint64_t x = 1, b = P[i], e = d;
    for (; e; e >>= 1, b = mulmod64(b, b, n))
      if (e & 1) x = mulmod64(x, b, n);
    if (x == 1 || x == n - 1) continue;
    int ok = 0;
    for (int k = 1; k < r && !ok; k++) ok = (x = mulmod64(x, x, n)) == n - 1;
    if (!ok) return 0;
  }
  return 1;
}
static uint64_t random_prime(uint64_t *rng, int bits) {
  for (;;) {
    uint64_t x = (rng_next(rng) >> (64 - bits)) | (1ull << (bits - 1)) | 1;
    if (is_prime64(x)) return x;
  }
}

typedef struct {
  big *A;        /* A_{i-1} mod N */
  big *Q;        /* Q_i */
  int odd;       /* i odd: the sign is -1 */
  int nf;        /* factors in f[] */
  uint16_t *f;   /* indices into the factor base, with repetition */
  uint64_t *row; /* exponents mod 2: bit 0 the sign, bit 1+j prime j */
  uint64_t *hist;
} relation;

static int legendre(uint32_t a, uint32_t p) { /* a^((p-1)/2) mod p */
  uint64_t x = 1, b = a % p;
  for (uint32_t e = (p - 1) / 2; e; e >>= 1, b = b * b % p)
    if (e & 1) x = x * b % p;
  return x == 1 ? 1 : x == 0 ? 0 : -1;
}

/* Tries to split N with multiplier k; returns a factor or NULL. */
static big *cfrac(const big *N, uint32_t k, int base, long *iters, long *rels) {
  big *kN = b_mul_u32(N, k);
  uint32_t *fb = xmalloc((size_t)base * sizeof *fb);
  int nb = 0;
  for (uint32_t p = 2; nb < base; p++) {
    int prime = 1;
    for (uint32_t d = 2; d * d <= p && prime; d++) prime = p % d != 0;
    if (!prime) continue;
    if (p == 2 || k % p == 0 || legendre(b_mod_u32(kN, p), p) == 1) fb[nb++] = p;
  }
  int want = base + 16, nr = 0, words = (base + 1 + 63) / 64, hwords = (want + 63) / 64;
  relation *R = xmalloc((size_t)want * sizeof *R);
  big *g = b_isqrt(kN);
  big *P = b_alloc(0), *Q = b_u64(1), *a = b_copy(g);
  big *Aprev = b_u64(1), *A = b_mod(g, N);
  long limit = 400000;
  for (long i = 1; nr < want && i < limit; i++) {
    /* P_i = a Q - P; Q_i = (kN - P_i^2) / Q; a_i = (g + P_i) / Q_i */
    big *aq = b_mul(a, Q), *Pn = b_sub(aq, P), *P2 = b_mul(Pn, Pn), *num = b_sub(kN, P2);
    big *Qn = b_div(num, Q), *gp = b_add(g, Pn);
    b_free(aq);
    b_free(P2);
    b_free(num);
    b_free(P);
    b_free(Q);
    P = Pn;
    Q = Qn;
    if (Q->n == 0) break; /* kN is a square */
    big *an = b_div(gp, Q);
    b_free(gp);
    b_free(a);
    a = an;
    (*iters)++;
    /* A_{i-1}^2 = (-1)^i Q_i (mod N): trial-divide Q_i over the base. */
    big *rest = b_copy(Q);
    uint16_t f[256];
    int nf = 0;
    for (int j = 0; j < nb && !b_is(rest, 1); j++) {
      while (nf < 256 && b_mod_u32(rest, fb[j]) == 0) {
        big *t = b_div_u32(rest, fb[j]);
        b_free(rest);
        rest = t;
        f[nf++] = (uint16_t)j;
      }
    }
    if (b_is(rest, 1)) {
      relation *r = &R[nr++];
      r->A = b_copy(A);
      r->Q = b_copy(Q);
      r->odd = (int)(i & 1);
      r->nf = nf;
      r->f = xmalloc((size_t)(nf ? nf : 1) * sizeof *r->f);
      memcpy(r->f, f, (size_t)nf * sizeof *f);
      r->row = calloc((size_t)words, sizeof *r->row);
      r->hist = calloc((size_t)hwords, sizeof *r->hist);
      if (!r->row || !r->hist) fail("calloc");
      if (r->odd) r->row[0] ^= 1;
      for (int t = 0; t < nf; t++) r->row[(f[t] + 1) / 64] ^= 1ull << ((f[t] + 1) % 64);
      r->hist[(nr - 1) / 64] |= 1ull << ((nr - 1) % 64);
      /* Verify: A^2 mod N against (-1)^i Q mod N. */
      big *lhs = b_mulmod(A, A, N), *qm = b_mod(Q, N), *rhs = (r->odd && qm->n) ? b_sub(N, qm) : b_copy(qm);
      if (b_cmp(lhs, rhs)) fail("relation %d does not hold", nr);
      b_free(lhs);
      b_free(qm);
      b_free(rhs);
    }
    b_free(rest);
    /* A_i = a_i A_{i-1} + A_{i-2} mod N */
    big *t1 = b_mul(a, A), *t2 = b_add(t1, Aprev), *An = b_mod(t2, N);
    b_free(t1);
    b_free(t2);
    b_free(Aprev);
    Aprev = A;
    A = An;
  }
  big *found = NULL;
  *rels += nr;
  if (nr == want) {
    /* Gaussian elimination over GF(2), rows as bit sets. */
    int *used = calloc((size_t)want, sizeof *used);
    for (int col = 0; col <= nb; col++) {
      int piv = -1;
      for (int r = 0; r < nr && piv < 0; r++)
        if (!used[r] && (R[r].row[col / 64] >> (col % 64) & 1)) piv = r;
      if (piv < 0) continue;
      used[piv] = 1;
      for (int r = 0; r < nr; r++)
        if (r != piv && (R[r].row[col / 64] >> (col % 64) & 1)) {
          for (int w = 0; w < words; w++) R[r].row[w] ^= R[piv].row[w];
          for (int w = 0; w < hwords; w++) R[r].hist[w] ^= R[piv].hist[w];
        }
    }
    /* Each zero row is a dependency: X = prod A, Y = sqrt(prod Q). */
    for (int r = 0; r < nr && !found; r++) {
      int zero = 1;
      for (int w = 0; w < words; w++) zero &= R[r].row[w] == 0;
      if (!zero) continue;
      uint32_t *e = calloc((size_t)nb, sizeof *e);
      big *X = b_u64(1);
      for (int s = 0; s < nr; s++) {
        if (!(R[r].hist[s / 64] >> (s % 64) & 1)) continue;
        big *t = b_mulmod(X, R[s].A, N);
        b_free(X);
        X = t;
        for (int t2 = 0; t2 < R[s].nf; t2++) e[R[s].f[t2]]++;
      }
      big *Y = b_u64(1);
      for (int j = 0; j < nb; j++) {
        if (e[j] % 2) fail("dependency with an odd exponent");
        for (uint32_t h = 0; h < e[j] / 2; h++) {
          big *pj = b_u64(fb[j]), *t = b_mulmod(Y, pj, N);
          b_free(pj);
          b_free(Y);
          Y = t;
        }
      }
      free(e);
      big *d = b_cmp(X, Y) >= 0 ? b_sub(X, Y) : b_sub(Y, X);
      big *gg = b_gcd(d, N);
      if (!b_is(gg, 1) && b_cmp(gg, N) != 0) found = gg;
      else b_free(gg);
      b_free(d);
      b_free(X);
      b_free(Y);
    }
    free(used);
  }
  for (int r = 0; r < nr; r++) {
    b_free(R[r].A);
    b_free(R[r].Q);
    free(R[r].f);
    free(R[r].row);
    free(R[r].hist);
  }
  free(R);
  free(fb);
  b_free(kN);
  b_free(g);
  b_free(P);
  b_free(Q);
  b_free(a);
  b_free(A);
  b_free(Aprev);
  return found;
}

int main(int argc, char **argv) {
  uint64_t seed = arg_seed(&argc, argv, 1);
  long count = arg_long(argc, argv, 1, 40);
  int bits = (int)arg_long(argc, argv, 2, 34), base = (int)arg_long(argc, argv, 3, 80);
  if (bits < 16 || bits > 62 || base < 10 || base > 4000) fail("bits in 16..62, base in 10..4000");
  uint64_t rng = seed_mix(seed, 0);
  self_test(&rng);
  long iters = 0, rels = 0, tries = 0;
  for (long c = 0; c < count; c++) {
    uint64_t p = random_prime(&rng, bits), q;
    do q = random_prime(&rng, bits);
    while (q == p);
    big *N = b_u128((unsigned __int128)p * q), *f = NULL;
    for (uint32_t k = 1; !f && k < 200; k += 2) {
      tries++;
      f = cfrac(N, k, base, &iters, &rels);
    }
    if (!f) fail("could not factor %llu * %llu", (unsigned long long)p, (unsigned long long)q);
    big *r = b_mod(N, f);
    unsigned __int128 fv = b_to128(f);
    if (r->n || (fv != p && fv != q)) fail("wrong factor of %llu * %llu", (unsigned long long)p, (unsigned long long)q);
    b_free(r);
    b_free(f);
    b_free(N);
  }
  if (g_live) fail("%ld bignums leaked", g_live);
  printf("RESULT ok numbers=%ld tries=%ld iterations=%ld relations=%ld\n", count, tries, iters, rels);
  return 0;
}
