/* octree: an N-body simulation that rebuilds its octree every step (the
 * kind of barnes): the allocator sees bursts of thousands of equal-sized
 * tree nodes allocated in a row, used, and freed all together, then again.
 *
 * BODIES bodies (a Plummer-like cluster from the seed). Each of STEPS
 * steps inserts every body into a fresh octree (one malloc'd node per
 * cell; leaves hold one body, a cell splits into 8 children when a second
 * body arrives), computes every cell's mass and centre of mass, computes
 * the force on every body by walking the tree with the opening criterion
 * THETA = 0.7, moves the bodies (leapfrog), and frees the tree, post-order.
 *
 * Validation: every step the root's mass must equal the total mass and the
 * tree must hold exactly BODIES leaves; on the first and last step the
 * tree forces on 16 random bodies must agree with the direct sums within
 * 3% (root mean square of the error over that of the forces); the total
 * momentum must stay under 1% of the sum of |m v| (tree forces are not
 * exactly symmetric, so it drifts a little); no node may be leaked.
 *
 * usage: octree [bodies=3000] [steps=40] [--seed=N]
 */
#include "common.h"
#include <math.h>

typedef struct {
  double x[3], v[3], a[3], m;
} body;

typedef struct node {
  double c[3], half;   /* cube: centre, half side */
  double cm[3], m;     /* centre of mass, mass */
  struct node *kid[8]; /* all NULL for a leaf */
  body *b;             /* the body of a leaf (NULL in a cell) */
  int leaves;
} node;

static long g_nodes, g_live_nodes;

static node *node_new(const double c[3], double half) {
  node *n = xmalloc(sizeof *n);
  memset(n, 0, sizeof *n);
  memcpy(n->c, c, sizeof n->c);
  n->half = half;
  g_nodes++;
  g_live_nodes++;
  return n;
}

static int octant(const node *n, const double x[3]) {
  return (x[0] > n->c[0]) | (x[1] > n->c[1]) << 1 | (x[2] > n->c[2]) << 2;
}

static node *child(node *n, int o) {
  if (!n->kid[o]) {
    double c[3], h = n->half / 2;
    for (int d = 0; d < 3; d++) c[d] = n->c[d] + ((o >> d & 1) ? h : -h);
    n->kid[o] = node_new(c, h);
  }
  return n->kid[o];
}

static void insert(node *n, body *b) {
  for (int depth = 0;; depth++) {
    if (depth > 200) fail("octree too deep (two bodies at one point?)");
    int cell = 0;
    for (int o = 0; o < 8; o++) cell |= n->kid[o] != NULL;
    if (!cell && !n->b) { /* empty leaf */
      n->b = b;
      return;
    }
    if (!cell) { /* a leaf with a body: becomes a cell */
      body *old = n->b;
      n->b = NULL;
      insert(child(n, octant(n, old->x)), old);
    }
    n = child(n, octant(n, b->x));
  }
}

static void summarize(node *n) {
  if (n->b) {
    n->m = n->b->m;
    memcpy(n->cm, n->b->x, sizeof n->cm);
    n->leaves = 1;
    return;
  }
  n->m = 0;
  n->leaves = 0;
  double s[3] = {0, 0, 0};
  for (int o = 0; o < 8; o++) {
    node *k = n->kid[o];
    if (!k) continue;
    summarize(k);
    n->m += k->m;
    n->leaves += k->leaves;
    for (int d = 0; d < 3; d++) s[d] += k->m * k->cm[d];
  }
  for (int d = 0; d < 3; d++) n->cm[d] = n->m > 0 ? s[d] / n->m : n->c[d];
}

#define EPS2 1e-4
static void accel_from(const double x[3], const double y[3], double m, double a[3]) {
  double d[3] = {y[0] - x[0], y[1] - x[1], y[2] - x[2]};
  double r2 = d[0] * d[0] + d[1] * d[1] + d[2] * d[2] + EPS2, inv = m / (r2 * sqrt(r2));
  for (int k = 0; k < 3; k++) a[k] += d[k] * inv;
}

static void force(const node *n, const body *b, double a[3]) {
  if (n->m == 0 || n->b == b) return;
  double d[3] = {n->cm[0] - b->x[0], n->cm[1] - b->x[1], n->cm[2] - b->x[2]};
  double r2 = d[0] * d[0] + d[1] * d[1] + d[2] * d[2];
  double side = 2 * n->half;
  if (n->b || side * side < 0.49 * r2) { /* a body, or far enough: theta = 0.7 */
    accel_from(b->x, n->cm, n->m, a);
    return;
  }
  for (int o = 0; o < 8; o++)
    if (n->kid[o]) force(n->kid[o], b, a);
}

static void release(node *n) {
  for (int o = 0; o < 8; o++)
    if (n->kid[o]) release(n->kid[o]);
  free(n);
  g_live_nodes--;
}

static double urand(uint64_t *s) { return (double)(rng_next(s) >> 11) * 0x1.0p-53; }

int main(int argc, char **argv) {
  uint64_t seed = arg_seed(&argc, argv, 1);
  long nb = arg_long(argc, argv, 1, 3000), steps = arg_long(argc, argv, 2, 40);
  uint64_t rng = seed_mix(seed, 0);
  body *B = calloc((size_t)nb, sizeof *B);
  if (!B) fail("calloc");
  double total = 0, vm[3] = {0, 0, 0};
  for (long i = 0; i < nb; i++) { /* Plummer-like radii, random directions */
    double r = 1.0 / sqrt(pow(urand(&rng) * 0.99 + 0.005, -2.0 / 3.0) - 1.0);
    double z = 2 * urand(&rng) - 1, t = 2 * M_PI * urand(&rng), s = sqrt(1 - z * z);
    B[i].x[0] = r * s * cos(t);
    B[i].x[1] = r * s * sin(t);
    B[i].x[2] = r * z;
    for (int d = 0; d < 3; d++) B[i].v[d] = 0.3 * (urand(&rng) - 0.5);
    B[i].m = 1.0 / (double)nb;
    total += B[i].m;
    for (int d = 0; d < 3; d++) vm[d] += B[i].m * B[i].v[d];
  }
  for (long i = 0; i < nb; i++) /* zero total momentum */
    for (int d = 0; d < 3; d++) B[i].v[d] -= vm[d] / total;
  double dt = 0.001, worst = 0;
  for (long s = 0; s < steps; s++) {
    double lo[3] = {1e300, 1e300, 1e300}, hi[3] = {-1e300, -1e300, -1e300};
    for (long i = 0; i < nb; i++)
      for (int d = 0; d < 3; d++) {
        if (B[i].x[d] < lo[d]) lo[d] = B[i].x[d];
        if (B[i].x[d] > hi[d]) hi[d] = B[i].x[d];
      }
    double c[3], half = 0;
    for (int d = 0; d < 3; d++) {
      c[d] = (lo[d] + hi[d]) / 2;
      if ((hi[d] - lo[d]) / 2 > half) half = (hi[d] - lo[d]) / 2;
    }
    node *root = node_new(c, half * 1.0001 + 1e-9);
    for (long i = 0; i < nb; i++) insert(root, &B[i]);
    summarize(root);
    if (root->leaves != nb || fabs(root->m - total) > 1e-9 * total)
      fail("step %ld: tree holds %d bodies, mass %g (want %ld, %g)", s, root->leaves, root->m, nb, total);
    for (long i = 0; i < nb; i++) {
      memset(B[i].a, 0, sizeof B[i].a);
      force(root, &B[i], B[i].a);
    }
    if (s == 0 || s == steps - 1) { /* tree force against the direct sum */
      double err = 0, mag = 0;
      for (int k = 0; k < 16; k++) {
        body *b = &B[rng_below(&rng, (uint32_t)nb)];
        double a[3] = {0, 0, 0};
        for (long j = 0; j < nb; j++)
          if (&B[j] != b) accel_from(b->x, B[j].x, B[j].m, a);
        for (int d = 0; d < 3; d++) err += (a[d] - b->a[d]) * (a[d] - b->a[d]), mag += a[d] * a[d];
      }
      double rel = sqrt(err / (mag + 1e-300));
      if (rel > worst) worst = rel;
      if (rel > 0.03) fail("step %ld: tree forces off by %.1f%% (rms)", s, 100 * rel);
    }
    for (long i = 0; i < nb; i++)
      for (int d = 0; d < 3; d++) {
        B[i].v[d] += dt * B[i].a[d];
        B[i].x[d] += dt * B[i].v[d];
      }
    release(root);
  }
  double p[3] = {0, 0, 0}, pm = 0;
  for (long i = 0; i < nb; i++)
    for (int d = 0; d < 3; d++) p[d] += B[i].m * B[i].v[d], pm += B[i].m * fabs(B[i].v[d]);
  double drift = sqrt(p[0] * p[0] + p[1] * p[1] + p[2] * p[2]) / (pm + 1e-300);
  if (drift > 0.01) fail("momentum drifted: %g of the total |p|", drift);
  if (g_live_nodes) fail("%ld tree nodes leaked", g_live_nodes);
  free(B);
  printf("RESULT ok nodes=%ld worst_force_error=%.4f momentum_drift=%.2e\n", g_nodes, worst, drift);
  return 0;
}
