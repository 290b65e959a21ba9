/* lemmalloc-oracle: command line, fork-isolated runs, the footprint phase,
 * delta debugging of failing sequences, and the report. See README.md. */
#define _GNU_SOURCE
#include "oracle.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/personality.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

struct opts {
  const char *lib, *replay, *profile, *min_out, *save;
  uint64_t seed;
  size_t ops;
  unsigned threads;
  bool threads_given, footprint, quiet, edges, list;
  unsigned rounds, timeout;
  double min_time;
  size_t fill_max;
};

static struct target T;
static struct profile PR;
static bool have_profile;
static struct report *REP; /* shared with each child */

static double now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static void usage(void) {
  fprintf(stderr,
          "usage: lemmalloc-oracle --lib PATH|libc [options]\n"
          "  --seed S --ops N     generate N ops from seed S (default 1, 100000)\n"
          "  --threads T          T threads (generated: T streams; replay: run threaded)\n"
          "  --replay FILE        run a saved or recorded (LEMMALLOC_TRACE) trace\n"
          "  --profile FILE       expected deviations to excuse (see profiles/)\n"
          "  --min-out FILE       where to write the minimized trace (oracle-min.trace)\n"
          "  --min-time SEC       time budget for minimizing (default 30)\n"
          "  --save FILE          write the sequence run as a trace\n"
          "  --fill-max BYTES     fill blocks up to this size whole (default 1 MiB)\n"
          "  --rounds R           footprint phase rounds (default 12); --no-footprint\n"
          "  --timeout SEC        a run taking longer is a hang (default 300)\n"
          "  --no-edges           do not start generated sequences with the edge cases\n"
          "  --list               print the sequence, one op a line, and exit\n"
          "  --quiet              print only the result lines\n");
  exit(2);
}

/* ---- traces ------------------------------------------------------------ */

static bool write_trace(const char *path, const struct lm_op *ops, size_t n) {
  size_t cap = n * 32 + 64;
  uint8_t *buf = malloc(cap);
  size_t len = buf ? lm_ops_encode(ops, n, buf, cap) : 0;
  FILE *f = fopen(path, "wb");
  bool ok = f && (n == 0 || len) && fwrite(buf, 1, len, f) == len;
  if (f && fclose(f) != 0) ok = false;
  free(buf);
  if (!ok) fprintf(stderr, "oracle: cannot write %s\n", path);
  return ok;
}

static struct lm_op *read_trace(const char *path, size_t *n) {
  FILE *f = fopen(path, "rb");
  if (!f) {
    fprintf(stderr, "oracle: cannot read %s: %s\n", path, strerror(errno));
    return NULL;
  }
  size_t cap = 1 << 16, len = 0;
  uint8_t *buf = malloc(cap);
  size_t k;
  while (buf && (k = fread(buf + len, 1, cap - len, f)) > 0) {
    len += k;
    if (len == cap) buf = realloc(buf, cap *= 2);
  }
  fclose(f);
  struct lm_op *ops = buf ? malloc((len + 1) * sizeof *ops) : NULL;
  if (!ops) {
    fprintf(stderr, "oracle: out of memory reading %s\n", path);
    exit(2);
  }
  *n = lm_ops_decode(buf, len, ops, len + 1);
  free(buf);
  return ops;
}

/* ---- the edge prelude ---------------------------------------------------- */

/* Generated sequences start with these calls, so every property is
 * exercised whatever the generator's distribution: wrapping products,
 * failing reallocs, invalid alignments, zero sizes, recycled calloc. */
static size_t edge_prelude(struct lm_op *out) {
  const size_t half = SIZE_MAX / 2 + 2, huge = SIZE_MAX - 100;
  const struct lm_op e[] = {
    {.kind = LM_OP_MALLOC, .slot = 0, .size = 100},
    {.kind = LM_OP_USABLE_SIZE, .slot = 0},
    {.kind = LM_OP_FREE, .slot = 0},
    {.kind = LM_OP_USABLE_SIZE, .slot = 0}, /* NULL */
    {.kind = LM_OP_CALLOC, .slot = 1, .nmemb = half, .size = 2},
    {.kind = LM_OP_CALLOC, .slot = 1, .nmemb = (size_t)1 << 62, .size = 16},
    {.kind = LM_OP_MALLOC, .slot = 2, .size = 200},
    {.kind = LM_OP_REALLOC, .slot = 2, .size = huge},
    {.kind = LM_OP_REALLOCARRAY, .slot = 2, .nmemb = half, .size = 2},
    {.kind = LM_OP_CHECK, .slot = 2},
    {.kind = LM_OP_MALLOC, .slot = 3, .size = huge},
    {.kind = LM_OP_POSIX_MEMALIGN, .slot = 3, .align = 24, .size = 100},
    {.kind = LM_OP_POSIX_MEMALIGN, .slot = 3, .align = 0, .size = 100},
    {.kind = LM_OP_POSIX_MEMALIGN, .slot = 3, .align = 4, .size = 100},
    {.kind = LM_OP_ALIGNED_ALLOC, .slot = 3, .align = 3, .size = 64},
    {.kind = LM_OP_ALIGNED_ALLOC, .slot = 3, .align = 0, .size = 64},
    {.kind = LM_OP_ALIGNED_ALLOC, .slot = 3, .align = 256, .size = 256},
    {.kind = LM_OP_MALLOC, .slot = 4, .size = 0},
    {.kind = LM_OP_MALLOC, .slot = 5, .size = 0},
    {.kind = LM_OP_MALLOC, .slot = 6, .size = 1000},
    {.kind = LM_OP_FREE, .slot = 6},
    {.kind = LM_OP_CALLOC, .slot = 6, .nmemb = 10, .size = 100}, /* recycled */
    {.kind = LM_OP_MEMALIGN, .slot = 7, .align = 4096, .size = 100},
    {.kind = LM_OP_VALLOC, .slot = 8, .size = 1},
    {.kind = LM_OP_PVALLOC, .slot = 9, .size = 1},
    {.kind = LM_OP_REALLOC, .slot = 9, .size = 100000},
    {.kind = LM_OP_REALLOC, .slot = 9, .size = 10},
    {.kind = LM_OP_TRIM, .size = 0},
    /* Chunk-sized alignment of an empty block: crashed lemmalloc once. */
    {.kind = LM_OP_POSIX_MEMALIGN, .slot = 10, .align = (size_t)4 << 20, .size = 0},
    {.kind = LM_OP_ALIGNED_ALLOC, .slot = 11, .align = (size_t)4 << 20, .size = 0},
    {.kind = LM_OP_FREE, .slot = 10},
    {.kind = LM_OP_FREE, .slot = 11},
  };
  size_t n = sizeof e / sizeof e[0];
  memcpy(out, e, sizeof e);
  return n;
}

/* ---- one isolated run --------------------------------------------------- */

static void on_fatal(int sig) {
  if (!__atomic_exchange_n(&REP->claimed, 1, __ATOMIC_ACQ_REL)) {
    REP->v.prop = P_CRASH;
    REP->v.basis = B_C23;
    REP->v.op_index = REP->progress[oracle_thread_id()];
    strcpy(REP->v.fn, "*");
    strcpy(REP->v.when, sig == SIGALRM ? "hang" : "signal");
    strcpy(REP->v.detail, sig == SIGALRM ? "no answer within the timeout" : "killed by ");
    if (sig != SIGALRM) strcat(REP->v.detail, strsignal(sig)); /* a constant table */
  }
  signal(sig, SIG_DFL);
  raise(sig);
}

enum mode { RUN_OPS, RUN_FOOTPRINT };

static double last_cpu; /* CPU seconds (user + system) of the last child */

/* Run in a fresh child so every run starts from the target's initial state
 * and a crash or hang is reported, not suffered. Returns the wall time. */
static double isolated(const struct opts *o, enum mode m, const struct lm_op *ops, size_t n,
                       bool threaded) {
  memset(REP, 0, sizeof *REP);
  REP->v.prop = -1;
  fflush(NULL);
  double t0 = now();
  pid_t pid = fork();
  if (pid < 0) {
    perror("oracle: fork");
    exit(2);
  }
  if (pid == 0) {
    static char altstack[1 << 16];
    stack_t ss = {.ss_sp = altstack, .ss_size = sizeof altstack};
    sigaltstack(&ss, NULL);
    struct sigaction sa = {.sa_handler = on_fatal, .sa_flags = SA_ONSTACK};
    int sigs[] = {SIGSEGV, SIGBUS, SIGABRT, SIGFPE, SIGILL, SIGALRM, SIGTRAP};
    for (size_t i = 0; i < sizeof sigs / sizeof sigs[0]; i++)
      sigaction(sigs[i], &sa, NULL);
    alarm(o->timeout);
    struct run_opts ro = {.t = &T, .pr = have_profile ? &PR : NULL, .rep = REP,
                          .threaded = threaded, .fill_max = o->fill_max};
    bool ok = m == RUN_FOOTPRINT ? run_footprint(&ro, o->seed, o->rounds) : run_ops(&ro, ops, n);
    _exit(ok ? 0 : 1);
  }
  int st;
  struct rusage ru;
  while (wait4(pid, &st, 0, &ru) < 0 && errno == EINTR) {
  }
  last_cpu = (double)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
             (double)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) * 1e-6;
  double dt = now() - t0;
  bool clean = WIFEXITED(st) && WEXITSTATUS(st) <= 1;
  if (!clean && REP->v.prop < 0) { /* died without a word: SIGKILL, OOM */
    REP->v.prop = P_CRASH;
    REP->v.basis = B_C23;
    REP->v.op_index = REP->progress[0];
    strcpy(REP->v.fn, "*");
    strcpy(REP->v.when, "signal");
    snprintf(REP->v.detail, sizeof REP->v.detail, "child ended with status 0x%x", st);
  }
  if (REP->v.prop >= 0 && REP->v.op_index < n && ops)
    lm_op_format(&ops[REP->v.op_index], REP->v.call, sizeof REP->v.call);
  return dt;
}

/* ---- delta debugging ---------------------------------------------------- */

static bool reproduces(const struct opts *o, const struct lm_op *ops, size_t n, bool threaded,
                       const struct violation *want) {
  for (int tries = threaded ? 3 : 1; tries > 0; tries--) {
    isolated(o, RUN_OPS, ops, n, threaded);
    if (REP->v.prop == want->prop && strcmp(REP->v.fn, want->fn) == 0) return true;
  }
  return false;
}

/* Zeller's ddmin on complements: drop one of k chunks while the failure
 * stays; halve the chunks when none can go. Stops at the time budget with
 * the smallest reproducing sequence so far (always a valid program: every
 * op sequence is). */
static size_t ddmin(const struct opts *o, struct lm_op *ops, size_t n, bool threaded,
                    const struct violation *want, unsigned *runs) {
  struct lm_op *cand = malloc((n + 1) * sizeof *cand);
  double deadline = now() + o->min_time;
  size_t k = 2;
  while (n >= 2 && now() < deadline) {
    size_t chunk = (n + k - 1) / k;
    bool reduced = false;
    for (size_t start = 0; start < n && now() < deadline; start += chunk) {
      size_t end = start + chunk < n ? start + chunk : n, m = 0;
      memcpy(cand, ops, start * sizeof *ops);
      m = start;
      memcpy(cand + m, ops + end, (n - end) * sizeof *ops);
      m += n - end;
      ++*runs;
      if (reproduces(o, cand, m, threaded, want)) {
        memcpy(ops, cand, m * sizeof *ops);
        n = m;
        k = k > 2 ? k - 1 : 2;
        reduced = true;
        break;
      }
    }
    if (!reduced) {
      if (k >= n) break;
      k = k * 2 < n ? k * 2 : n;
    }
  }
  free(cand);
  return n;
}

/* ---- the report --------------------------------------------------------- */

static const char *category(int basis) {
  return basis == B_C23 || basis == B_POSIX ? "breaks C23/POSIX"
         : basis == B_GLIBC                 ? "differs from glibc"
                                            : "breaks lemmalloc's guarantees";
}

static void print_table(const struct report *ops_rep, const struct report *fp_rep,
                        const struct violation *v) {
  printf("%-20s %12s  %s\n", "property", "checks", "result");
  for (int p = 0; p < P_COUNT; p++) {
    size_t c = 0;
    const struct report *r = p == P_FOOTPRINT ? fp_rep : ops_rep;
    for (int t = 0; r && t < LM_OPS_MAX_THREADS; t++)
      c += r->checks[t][p];
    size_t dev = 0;
    int worst = B_LEMMALLOC; /* the strictest rule an excused deviation broke */
    for (size_t i = 0; have_profile && i < PR.n; i++)
      if (PR.a[i].prop == p && ops_rep && ops_rep->allowed[i]) {
        dev += ops_rep->allowed[i];
        if (ops_rep->allowed_basis[i] < worst) worst = ops_rep->allowed_basis[i];
      }
    char res[96];
    if (v && v->prop == p) snprintf(res, sizeof res, "VIOLATED [%s]", category(v->basis));
    else if (dev) snprintf(res, sizeof res, "deviates, excused [%s]", category(worst));
    else snprintf(res, sizeof res, "%s", c || p == P_CRASH ? "ok" : "not exercised");
    if (p == P_CRASH) c = 0;
    printf("%-20s %12zu  %s\n", prop_name(p), c, res);
  }
}

static struct opts parse_args(int argc, char **argv) {
  struct opts o = {.seed = 1, .ops = 100000, .threads = 1, .footprint = true, .rounds = 12,
                   .timeout = 300, .min_time = 30, .fill_max = 1 << 20,
                   .min_out = "oracle-min.trace", .edges = true};
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i];
    const char *v = i + 1 < argc ? argv[i + 1] : NULL;
#define ARG(name) (strcmp(a, name) == 0 && (v || (usage(), 0)) && ++i)
    if (ARG("--lib")) o.lib = v;
    else if (ARG("--seed")) o.seed = strtoull(v, NULL, 0);
    else if (ARG("--ops")) o.ops = strtoull(v, NULL, 0);
    else if (ARG("--threads")) o.threads = (unsigned)atoi(v), o.threads_given = true;
    else if (ARG("--replay")) o.replay = v;
    else if (ARG("--profile")) o.profile = v;
    else if (ARG("--min-out")) o.min_out = v;
    else if (ARG("--min-time")) o.min_time = atof(v);
    else if (ARG("--save")) o.save = v;
    else if (ARG("--fill-max")) o.fill_max = strtoull(v, NULL, 0);
    else if (ARG("--rounds")) o.rounds = (unsigned)atoi(v);
    else if (ARG("--timeout")) o.timeout = (unsigned)atoi(v);
    else if (strcmp(a, "--no-footprint") == 0) o.footprint = false;
    else if (strcmp(a, "--quiet") == 0) o.quiet = true;
    else if (strcmp(a, "--no-edges") == 0) o.edges = false;
    else if (strcmp(a, "--list") == 0) o.list = true;
    else usage();
#undef ARG
  }
  if (!o.lib || o.threads < 1 || o.threads > LM_OPS_MAX_THREADS || o.rounds < 3) usage();
  return o;
}

/* Load the target; re-executes the oracle when the loader needs settings
 * that only take effect at start-up. Returns 0, or 2 after printing why. */
static int load_target(const struct opts *o, char **argv, char *missing, size_t cap) {
  /* Without address randomization a serial run is reproducible: the same
   * sequence meets the same addresses, so minimizing and replaying find
   * the same failure (a bug may hang on where mmap puts things). */
  int pers = personality(0xffffffff);
  if (pers != -1 && !(pers & ADDR_NO_RANDOMIZE) && !getenv("LEMMALLOC_ORACLE_ASLR")) {
    setenv("LEMMALLOC_ORACLE_ASLR", "1", 1); /* try once */
    if (personality((unsigned long)pers | ADDR_NO_RANDOMIZE) != -1) execv("/proc/self/exe", argv);
  }
  char err[512];
  if (target_load(&T, o->lib, missing, cap, err, sizeof err) != 0) {
    /* Allocators built with initial-exec TLS (jemalloc) need static TLS
     * room that dlopen only finds if the loader reserved it at start-up. */
    if (strstr(err, "static TLS") && !getenv("LEMMALLOC_ORACLE_REEXEC")) {
      setenv("LEMMALLOC_ORACLE_REEXEC", "1", 1);
      const char *old = getenv("GLIBC_TUNABLES");
      char tun[1024];
      snprintf(tun, sizeof tun, "%s%sglibc.rtld.optional_static_tls=65536", old ? old : "",
               old ? ":" : "");
      setenv("GLIBC_TUNABLES", tun, 1);
      execv("/proc/self/exe", argv);
    }
    fprintf(stderr, "oracle: %s\n", err);
    return 2;
  }
  if (o->profile) {
    if (profile_load(&PR, o->profile) != 0) return 2;
    have_profile = true;
  }
  return 0;
}

/* The sequence to run: replayed, or the edge prelude + generated ops. */
static struct lm_op *load_sequence(const struct opts *o, size_t *n) {
  if (o->replay) return read_trace(o->replay, n);
  struct lm_op *ops = malloc((o->ops + 64) * sizeof *ops);
  if (!ops) return NULL;
  *n = o->edges ? edge_prelude(ops) : 0;
  *n += lm_ops_generate(o->seed, o->ops, o->threads, ops + *n);
  return ops;
}

static void print_summary(const struct opts *o, const struct report *ops_rep,
                          const struct report *fp_rep, const struct violation *v, size_t n,
                          double cpu, double wall) {
  print_table(ops_rep, fp_rep, v->prop >= 0 ? v : NULL);
  size_t sk = 0;
  for (int k = 0; k < LM_OP_KINDS; k++)
    sk += ops_rep->skipped[k];
  if (sk) printf("skipped: %zu ops whose function the target lacks\n", sk);
  for (size_t i = 0; have_profile && i < PR.n; i++) {
    const struct allow *a = &PR.a[i];
    if (ops_rep->allowed[i])
      printf("deviation %s %s %s: seen %zu times [%s, %s] -- %s\n", prop_name(a->prop), a->fn,
             a->when, ops_rep->allowed[i], category(ops_rep->allowed_basis[i]),
             basis_name(ops_rep->allowed_basis[i]), a->why);
    else
      printf("deviation %s %s %s: not seen -- %s\n", prop_name(a->prop), a->fn, a->when, a->why);
  }
  if (fp_rep)
    printf("footprint: %zu KiB resident after warm-up, %zu KiB after %u rounds\n",
           fp_rep->footprint_warm >> 10, fp_rep->footprint_end >> 10, o->rounds);
  /* CPU time is the figure to compare: wall time depends on the load. */
  printf("time: %.2f s CPU, %.2f s wall for %zu ops (%.2f s CPU per million)\n", cpu, wall, n,
         n ? cpu * 1e6 / (double)n : 0);
}

/* Print the violation, minimize the sequence and write it out. */
static void report_violation(const struct opts *o, const struct violation *v, struct lm_op *ops,
                             size_t n, bool threaded) {
  printf("VIOLATION %s [%s, %s] in %s", prop_name(v->prop), category(v->basis),
         basis_name(v->basis), v->fn);
  if (strcmp(v->when, "*") != 0) printf(" (%s)", v->when);
  if (v->op_index != SIZE_MAX) printf(" at op %zu: %s\n", v->op_index, v->call);
  else printf(" in the footprint phase\n");
  printf("  %s\n", v->detail);
  if (v->prop == P_FOOTPRINT || v->op_index >= n) return;

  /* Serial runs stop at the violation, so later ops cannot matter. A
   * threaded failure is first tried serially: determinism makes
   * minimizing far cheaper. */
  size_t m = threaded ? n : v->op_index + 1;
  bool mt = threaded && !reproduces(o, ops, m, false, v);
  unsigned runs = 0;
  m = ddmin(o, ops, m, mt, v, &runs);
  if (!write_trace(o->min_out, ops, m)) return;
  printf("minimized: %zu op%s (%u runs) -> %s\n", m, m == 1 ? "" : "s", runs, o->min_out);
  unsigned nt = 1;
  for (size_t i = 0; mt && i < m; i++)
    if (ops[i].thread + 1u > nt) nt = ops[i].thread + 1u;
  char thr[32] = "";
  if (mt) snprintf(thr, sizeof thr, " --threads %u", nt < 2 ? 2 : nt);
  printf("  replay: lemmalloc-oracle --lib %s --replay %s%s%s%s\n", o->lib, o->min_out, thr,
         o->profile ? " --profile " : "", o->profile ? o->profile : "");
  for (size_t i = 0; i < m && i < 20; i++) {
    char line[160];
    lm_op_format(&ops[i], line, sizeof line);
    printf("  %3zu  %s\n", i, line);
  }
  if (m > 20) printf("  ... %zu more\n", m - 20);
}

int main(int argc, char **argv) {
  struct opts o = parse_args(argc, argv);
  char missing[256];
  if (load_target(&o, argv, missing, sizeof missing) != 0) return 2;
  REP = mmap(NULL, sizeof *REP, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
  if (REP == MAP_FAILED) return 2;

  size_t n = 0;
  struct lm_op *ops = load_sequence(&o, &n);
  if (!ops) return 2;
  bool threaded = o.threads_given && o.threads > 1;
  if (o.list) {
    for (size_t i = 0; i < n; i++) {
      char line[160];
      lm_op_format(&ops[i], line, sizeof line);
      printf("%zu\t%s\n", i, line);
    }
    return 0;
  }
  if (o.save && !write_trace(o.save, ops, n)) return 2;
  if (!o.quiet) {
    printf("target: %s", T.name);
    if (missing[0]) printf(" (missing, skipped: %s)", missing);
    printf("\n");
    if (o.replay) printf("ops: %zu replayed from %s, %s\n", n, o.replay, threaded ? "threaded" : "serial");
    else printf("ops: %zu generated (seed %llu, %u thread%s)\n", n, (unsigned long long)o.seed,
                o.threads, o.threads > 1 ? "s" : "");
  }

  static struct report ops_rep, fp_rep;
  double wall = isolated(&o, RUN_OPS, ops, n, threaded), cpu = last_cpu;
  ops_rep = *REP;
  struct violation v = REP->v;
  bool have_fp = v.prop < 0 && o.footprint;
  if (have_fp) {
    isolated(&o, RUN_FOOTPRINT, NULL, 0, false);
    fp_rep = *REP;
    if (REP->v.prop >= 0) v = REP->v;
  }
  if (!o.quiet) print_summary(&o, &ops_rep, have_fp ? &fp_rep : NULL, &v, n, cpu, wall);
  if (v.prop < 0) {
    printf("result: pass %s\n", T.name);
    return 0;
  }
  report_violation(&o, &v, ops, n, threaded);
  printf("result: violation %s %s %s\n", prop_name(v.prop), v.fn, T.name);
  return 1;
}
