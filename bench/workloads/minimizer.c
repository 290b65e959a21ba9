/* minimizer: many small, short-lived objects, the pattern of symbolic
 * programs (logic minimizers, computer algebra, compilers' IR passes).
 *
 * Minimizes random Boolean functions of NVARS variables with Quine-McCluskey:
 * every implicant is its own 24-byte heap node in linked lists grouped by
 * popcount, merged level by level through a chained hash set (one node per
 * entry), then a greedy cover with a heap array per prime. Nearly every
 * object dies within one level.
 *
 * Validation: the chosen cover must equal the function on every minterm
 * that is not a don't-care, which checks every implicant the heap held.
 *
 * usage: minimizer [functions=400] [nvars=10]
 */
#include "common.h"

typedef struct imp {
  uint32_t val, mask; /* mask bits are "don't care" positions; val is 0 there */
  int used;
  struct imp *next;
} imp;

typedef struct hnode {
  uint32_t val, mask;
  struct hnode *next;
} hnode;

static imp *imp_new(uint32_t val, uint32_t mask, imp *next) {
  imp *p = xmalloc(sizeof *p);
  p->val = val;
  p->mask = mask;
  p->used = 0;
  p->next = next;
  return p;
}

static void list_free(imp *p) {
  while (p) {
    imp *n = p->next;
    free(p);
    p = n;
  }
}

/* Returns 1 if (val, mask) was not in the set yet. */
static int set_add(hnode **tab, uint32_t nb, uint32_t val, uint32_t mask) {
  uint32_t h = (val * 2654435761u ^ mask * 40503u) & (nb - 1);
  for (hnode *e = tab[h]; e; e = e->next)
    if (e->val == val && e->mask == mask) return 0;
  hnode *e = xmalloc(sizeof *e);
  e->val = val;
  e->mask = mask;
  e->next = tab[h];
  tab[h] = e;
  return 1;
}

static void set_free(hnode **tab, uint32_t nb) {
  for (uint32_t i = 0; i < nb; i++)
    for (hnode *e = tab[i], *n; e; e = n) {
      n = e->next;
      free(e);
    }
  free(tab);
}

/* Minimizes one function; returns the number of literals in the cover. */
static long minimize(const uint8_t *fn, int nvars) {
  uint32_t nm = 1u << nvars;
  int ng = nvars + 1;
  imp **groups = calloc((size_t)ng, sizeof *groups);
  if (!groups) fail("calloc");
  for (uint32_t m = 0; m < nm; m++)
    if (fn[m]) groups[__builtin_popcount(m)] = imp_new(m, 0, groups[__builtin_popcount(m)]);

  imp *primes = NULL;
  for (;;) {
    imp **next = calloc((size_t)ng, sizeof *next);
    if (!next) fail("calloc");
    uint32_t nb = 256;
    hnode **seen = calloc(nb, sizeof *seen);
    if (!seen) fail("calloc");
    int merged = 0;
    for (int k = 0; k + 1 < ng; k++)
      for (imp *a = groups[k]; a; a = a->next)
        for (imp *b = groups[k + 1]; b; b = b->next) {
          uint32_t d = a->val ^ b->val;
          if (a->mask != b->mask || (d & (d - 1)) || (b->val & d) == 0) continue;
          a->used = b->used = 1;
          merged = 1;
          if (set_add(seen, nb, a->val, a->mask | d))
            next[k] = imp_new(a->val, a->mask | d, next[k]);
        }
    for (int k = 0; k < ng; k++) {
      for (imp *a = groups[k]; a; a = a->next)
        if (!a->used) primes = imp_new(a->val, a->mask, primes);
      list_free(groups[k]);
    }
    set_free(seen, nb);
    free(groups);
    groups = next;
    if (!merged) break;
  }
  for (int k = 0; k < ng; k++) list_free(groups[k]);
  free(groups);

  /* Greedy cover of the on-set (fn == 1; fn == 2 is don't-care). */
  int np = 0;
  for (imp *p = primes; p; p = p->next) np++;
  imp **pv = xmalloc((size_t)np * sizeof *pv);
  uint32_t **cov = xmalloc((size_t)np * sizeof *cov);
  uint32_t *ncov = xmalloc((size_t)np * sizeof *ncov);
  int i = 0;
  for (imp *p = primes; p; p = p->next, i++) {
    pv[i] = p;
    ncov[i] = 0;
    cov[i] = xmalloc(((size_t)1 << __builtin_popcount(p->mask)) * sizeof **cov);
    for (uint32_t m = 0; m < nm; m++)
      if ((m & ~p->mask) == p->val && fn[m] == 1) cov[i][ncov[i]++] = m;
  }
  uint8_t *covered = calloc(nm, 1), *chosen = calloc((size_t)np, 1);
  if (!covered || !chosen) fail("calloc");
  for (;;) {
    int best = -1;
    uint32_t best_n = 0;
    for (i = 0; i < np; i++) {
      uint32_t n = 0;
      for (uint32_t j = 0; j < ncov[i]; j++) n += !covered[cov[i][j]];
      if (n > best_n) best_n = n, best = i;
    }
    if (best < 0) break;
    chosen[best] = 1;
    for (uint32_t j = 0; j < ncov[best]; j++) covered[cov[best][j]] = 1;
  }

  /* Check the cover against the function, minterm by minterm. */
  long literals = 0;
  for (i = 0; i < np; i++)
    if (chosen[i]) literals += nvars - __builtin_popcount(pv[i]->mask);
  for (uint32_t m = 0; m < nm; m++) {
    if (fn[m] == 2) continue;
    int on = 0;
    for (i = 0; i < np && !on; i++) on = chosen[i] && (m & ~pv[i]->mask) == pv[i]->val;
    if (on != fn[m]) fail("cover wrong at minterm %u: %d, want %d", m, on, fn[m]);
  }
  for (i = 0; i < np; i++) free(cov[i]);
  free(cov);
  free(ncov);
  free(pv);
  free(covered);
  free(chosen);
  list_free(primes);
  return literals;
}

int main(int argc, char **argv) {
  long nfn = arg_long(argc, argv, 1, 400);
  int nvars = (int)arg_long(argc, argv, 2, 10);
  if (nvars > 16) fail("nvars must be at most 16");
  uint32_t nm = 1u << nvars;
  uint8_t *fn = xmalloc(nm);
  uint64_t seed = 42;
  long literals = 0;
  for (long f = 0; f < nfn; f++) {
    for (uint32_t m = 0; m < nm; m++) {
      uint32_t r = rng_below(&seed, 100);
      fn[m] = r < 30 ? 1 : r < 38 ? 2 : 0;
    }
    literals += minimize(fn, nvars);
  }
  free(fn);
  printf("RESULT ok functions=%ld literals=%ld\n", nfn, literals);
  return 0;
}
