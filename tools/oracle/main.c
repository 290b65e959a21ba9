/* lemmalloc-oracle: command line, fork-isolated runs, the footprint phase,
 * delta debugging of failing sequences, and the report. See README.md. */
#define _GNU_SOURCE
#include "oracle.h"
#include "lemmalloc.h" /* LEMMALLOC_VERSION */

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
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
  const char *lib, *prefix, *replay, *profile, *min_out, *save;
  uint64_t seed;
  size_t ops;
  unsigned threads;
  bool threads_given, footprint, quiet, edges, list, keep_going, json;
  unsigned rounds, timeout;
  double min_time;
  size_t fill_max;
};

static struct target T;
static struct profile PR;
static bool have_profile;
static size_t kg_first = MAX_ALLOW; /* profile entries from here on: --keep-going's own */
static struct report *REP; /* shared with each child */

static double now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static const char usage_text[] =
    "usage: lemmalloc-oracle --lib PATH|libc [options]\n"
    "Drives an allocator's malloc family and checks every result against\n"
    "lemmalloc's specification (see tools/oracle/README.md).\n"
    "  --lib PATH|libc      the allocator: a shared object, or the C library's own\n"
    "  --prefix P           its functions are named P + malloc (je_, mi_, ...)\n"
    "  --seed S --ops N     generate N ops from seed S (default 1, 100000)\n"
    "  --threads T          T threads (generated: T streams; replay: run threaded)\n"
    "  --replay FILE        run a saved or recorded (LEMMALLOC_TRACE) trace\n"
    "  --profile FILE       expected deviations to excuse (see profiles/)\n"
    "  --keep-going         after a violation, go on: report every property\n"
    "                       violated, each with a minimized trace of its own\n"
    "  --json               print the result as one JSON object (no text)\n"
    "  --min-out FILE       where to write the minimized trace (oracle-min.trace;\n"
    "                       with --keep-going FILE's name + -PROPERTY)\n"
    "  --min-time SEC       time budget for minimizing each violation (default 30)\n"
    "  --save FILE          write the sequence run as a trace\n"
    "  --fill-max BYTES     fill blocks up to this size whole (default 1 MiB)\n"
    "  --rounds R           footprint phase rounds (default 12, at least 3); --no-footprint\n"
    "  --timeout SEC        a run taking longer is a hang (default 300)\n"
    "  --no-edges           do not start generated sequences with the edge cases\n"
    "  --list               print the sequence, one op a line, and exit\n"
    "  --quiet              print only the result lines\n"
    "  --help, --version\n"
    "Exit status: 0 pass, 1 violation, 2 usage or load error.\n";

static _Noreturn void usage_error(const char *fmt, const char *a, const char *b) {
  fprintf(stderr, "lemmalloc-oracle: ");
  fprintf(stderr, fmt, a, b);
  fprintf(stderr, "\n(lemmalloc-oracle --help lists the options)\n");
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
    REP->v.prop = LM_PROP_CRASH;
    REP->v.basis = LM_B_C23;
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
    REP->v.prop = LM_PROP_CRASH;
    REP->v.basis = LM_B_C23;
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
  return basis == LM_B_C23 || basis == LM_B_POSIX ? "breaks C23/POSIX"
         : basis == LM_B_GLIBC                 ? "differs from glibc"
                                            : "breaks lemmalloc's guarantees";
}

/* ---- the command line --------------------------------------------------- */

/* A whole decimal (or 0x hex) number in [lo, hi]; anything else is an error. */
static uint64_t number(const char *opt, const char *v, uint64_t lo, uint64_t hi) {
  char *end;
  errno = 0;
  unsigned long long x = (v[0] >= '0' && v[0] <= '9') ? strtoull(v, &end, 0) : 0;
  if (!(v[0] >= '0' && v[0] <= '9') || *end != '\0' || errno == ERANGE)
    usage_error("--%s: '%s' is not a number", opt, v);
  if (x < lo || x > hi) {
    char range[96];
    snprintf(range, sizeof range, "%" PRIu64 " to %" PRIu64, lo, hi);
    fprintf(stderr, "lemmalloc-oracle: --%s: %s is out of range (%s)\n", opt, v, range);
    fprintf(stderr, "(lemmalloc-oracle --help lists the options)\n");
    exit(2);
  }
  return x;
}

static double seconds(const char *opt, const char *v) {
  char *end;
  errno = 0;
  double x = strtod(v, &end);
  if (end == v || *end != '\0' || errno == ERANGE || !(x >= 0) || x > 1e6)
    usage_error("--%s: '%s' is not a number of seconds", opt, v);
  return x;
}

static struct opts parse_args(int argc, char **argv) {
  struct opts o = {.seed = 1, .ops = 100000, .threads = 1, .footprint = true, .rounds = 12,
                   .timeout = 300, .min_time = 30, .fill_max = 1 << 20, .prefix = "",
                   .min_out = "oracle-min.trace", .edges = true};
  enum { O_LIB = 256, O_PREFIX, O_SEED, O_OPS, O_THREADS, O_REPLAY, O_PROFILE, O_MIN_OUT, O_MIN_TIME,
         O_SAVE, O_FILL_MAX, O_ROUNDS, O_TIMEOUT, O_NO_FOOTPRINT, O_QUIET, O_NO_EDGES, O_LIST,
         O_KEEP_GOING, O_JSON, O_HELP, O_VERSION };
  static const struct option longopts[] = {
    {"lib", required_argument, 0, O_LIB}, {"prefix", required_argument, 0, O_PREFIX},
    {"seed", required_argument, 0, O_SEED}, {"ops", required_argument, 0, O_OPS},
    {"threads", required_argument, 0, O_THREADS}, {"replay", required_argument, 0, O_REPLAY},
    {"profile", required_argument, 0, O_PROFILE}, {"min-out", required_argument, 0, O_MIN_OUT},
    {"min-time", required_argument, 0, O_MIN_TIME}, {"save", required_argument, 0, O_SAVE},
    {"fill-max", required_argument, 0, O_FILL_MAX}, {"rounds", required_argument, 0, O_ROUNDS},
    {"timeout", required_argument, 0, O_TIMEOUT}, {"no-footprint", no_argument, 0, O_NO_FOOTPRINT},
    {"quiet", no_argument, 0, O_QUIET}, {"no-edges", no_argument, 0, O_NO_EDGES},
    {"list", no_argument, 0, O_LIST}, {"keep-going", no_argument, 0, O_KEEP_GOING},
    {"json", no_argument, 0, O_JSON}, {"help", no_argument, 0, O_HELP},
    {"version", no_argument, 0, O_VERSION}, {0, 0, 0, 0},
  };
  opterr = 0;
  int c;
  while ((c = getopt_long(argc, argv, ":h", longopts, NULL)) != -1) {
    const char *v = optarg;
    switch (c) {
    case O_LIB: o.lib = v; break;
    case O_PREFIX:
      if (strlen(v) > 32 || strspn(v, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_") != strlen(v))
        usage_error("--prefix: '%s' is not a symbol prefix (letters, digits, _)", v, "");
      o.prefix = v;
      break;
    case O_SEED: o.seed = number("seed", v, 0, UINT64_MAX); break;
    case O_OPS: o.ops = (size_t)number("ops", v, 0, 100000000); break;
    case O_THREADS:
      o.threads = (unsigned)number("threads", v, 1, LM_OPS_MAX_THREADS);
      o.threads_given = true;
      break;
    case O_REPLAY: o.replay = v; break;
    case O_PROFILE: o.profile = v; break;
    case O_MIN_OUT: o.min_out = v; break;
    case O_MIN_TIME: o.min_time = seconds("min-time", v); break;
    case O_SAVE: o.save = v; break;
    case O_FILL_MAX: o.fill_max = (size_t)number("fill-max", v, 0, (uint64_t)1 << 40); break;
    case O_ROUNDS: o.rounds = (unsigned)number("rounds", v, 3, 10000); break;
    case O_TIMEOUT: o.timeout = (unsigned)number("timeout", v, 1, 86400); break;
    case O_NO_FOOTPRINT: o.footprint = false; break;
    case O_QUIET: o.quiet = true; break;
    case O_NO_EDGES: o.edges = false; break;
    case O_LIST: o.list = true; break;
    case O_KEEP_GOING: o.keep_going = true; break;
    case O_JSON: o.json = true; break;
    case 'h':
    case O_HELP: fputs(usage_text, stdout); exit(0);
    case O_VERSION: printf("lemmalloc-oracle %s\n", LEMMALLOC_VERSION); exit(0);
    case ':': usage_error("%s needs a value", argv[optind - 1], "");
    default: usage_error("unknown option %s", argv[optind - 1], "");
    }
  }
  if (optind < argc) usage_error("unexpected argument '%s'", argv[optind], "");
  if (!o.lib) usage_error("--lib PATH (or --lib libc) is required%s", "", "");
  if (o.replay && o.ops != 100000) {
    bool given = false;
    for (int i = 1; i < argc; i++) given |= strncmp(argv[i], "--ops", 5) == 0;
    if (given) usage_error("--ops and --replay exclude each other%s", "", "");
  }
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
  if (target_load(&T, o->lib, o->prefix, missing, cap, err, sizeof err) != 0) {
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

/* ---- the report --------------------------------------------------------- */

/* What a whole invocation found: every violation (one per property with
 * --keep-going), how far the op runs got, the footprint phase. */
struct found {
  struct violation v[LM_PROP_COUNT];
  size_t nv;
  char trace[LM_PROP_COUNT][512];     /* minimized trace written for v[i], "" if none */
  size_t min_ops[LM_PROP_COUNT];
  size_t total;                 /* ops in the sequence */
  size_t run;                   /* ops the last op run executed */
  bool stopped;                 /* the last op run ended before its end */
  const char *why_stopped;
  struct report ops_rep, fp_rep;
  bool have_fp;
  double cpu, wall;
};

static size_t sum_executed(const struct report *r) {
  size_t n = 0;
  for (int t = 0; t < LM_OPS_MAX_THREADS; t++) n += r->executed[t];
  return n;
}
static size_t sum_skipped(const struct report *r) {
  size_t n = 0;
  for (int k = 0; k < LM_OP_KINDS; k++) n += r->skipped[k];
  return n;
}

static int violated_basis(const struct found *f, int p) {
  for (size_t i = 0; i < f->nv; i++)
    if (f->v[i].prop == p) return f->v[i].basis;
  return -1;
}

/* checks, result word for property p */
static size_t prop_checks(const struct found *f, int p) {
  const struct report *r = p == LM_PROP_FOOTPRINT ? (f->have_fp ? &f->fp_rep : NULL) : &f->ops_rep;
  size_t c = 0;
  for (int t = 0; r && t < LM_OPS_MAX_THREADS; t++) c += r->checks[t][p];
  return p == LM_PROP_CRASH ? 0 : c;
}
static void prop_result(const struct found *f, int p, char *res, size_t cap, const char **word) {
  size_t dev = 0;
  int worst = LM_B_LEMMALLOC;
  for (size_t i = 0; have_profile && i < PR.n && i < kg_first; i++)
    if (PR.a[i].prop == p && f->ops_rep.allowed[i]) {
      dev += f->ops_rep.allowed[i];
      if (f->ops_rep.allowed_basis[i] < worst) worst = f->ops_rep.allowed_basis[i];
    }
  int vb = violated_basis(f, p);
  size_t c = 0;
  const struct report *r = p == LM_PROP_FOOTPRINT ? (f->have_fp ? &f->fp_rep : NULL) : &f->ops_rep;
  for (int t = 0; r && t < LM_OPS_MAX_THREADS; t++) c += r->checks[t][p];
  if (vb >= 0) {
    *word = "violated";
    snprintf(res, cap, "VIOLATED [%s]", category(vb));
  } else if (dev) {
    *word = "excused";
    snprintf(res, cap, "deviates, excused [%s]", category(worst));
  } else if (c || p == LM_PROP_CRASH) {
    *word = "ok";
    snprintf(res, cap, "ok");
  } else if (f->stopped && p != LM_PROP_FOOTPRINT) {
    *word = "not reached";
    snprintf(res, cap, "not reached (stopped early)");
  } else if (p == LM_PROP_FOOTPRINT && !f->have_fp) {
    *word = "not run";
    snprintf(res, cap, "not run");
  } else {
    *word = "not exercised";
    snprintf(res, cap, "not exercised");
  }
}

static void print_text(const struct opts *o, const struct found *f) {
  printf("%-20s %12s  %s\n", "property", "checks", "result");
  for (int p = 0; p < LM_PROP_COUNT; p++) {
    char res[96];
    const char *w;
    prop_result(f, p, res, sizeof res, &w);
    printf("%-20s %12zu  %s\n", lm_prop_name(p), prop_checks(f, p), res);
  }
  size_t sk = sum_skipped(&f->ops_rep);
  if (sk) printf("skipped: %zu ops whose function the target lacks\n", sk);
  for (size_t i = 0; have_profile && i < PR.n && i < kg_first; i++) {
    const struct allow *a = &PR.a[i];
    if (f->ops_rep.allowed[i])
      printf("deviation %s %s %s: seen %zu times [%s, %s] -- %s\n", lm_prop_name(a->prop), a->fn, a->when,
             f->ops_rep.allowed[i], category(f->ops_rep.allowed_basis[i]),
             lm_basis_name(f->ops_rep.allowed_basis[i]), a->why);
    else
      printf("deviation %s %s %s: not seen -- %s\n", lm_prop_name(a->prop), a->fn, a->when, a->why);
  }
  for (size_t i = kg_first; o->keep_going && i < PR.n; i++)
    if (f->ops_rep.allowed[i])
      printf("violation %s: %zu more times after the first (the last run went on past them)\n",
             lm_prop_name(PR.a[i].prop), f->ops_rep.allowed[i]);
  if (f->have_fp)
    printf("footprint: %zu KiB resident after warm-up, %zu KiB after %u rounds\n",
           f->fp_rep.footprint_warm >> 10, f->fp_rep.footprint_end >> 10, o->rounds);
  /* CPU time is the figure to compare: wall time depends on the load. */
  printf("time: %.2f s CPU, %.2f s wall for %zu of %zu ops", f->cpu, f->wall, f->run, f->total);
  if (f->run >= 10000) printf(" (%.2f s CPU per million)", f->cpu * 1e6 / (double)f->run);
  if (sk) printf("; %zu skipped", sk);
  if (f->stopped) printf("; stopped early: %s", f->why_stopped);
  printf("\n");
}

static void json_str(const char *s) {
  putchar('"');
  for (; s && *s; s++) {
    unsigned char c = (unsigned char)*s;
    if (c == '"' || c == '\\') printf("\\%c", c);
    else if (c < 0x20) printf("\\u%04x", c);
    else putchar(c);
  }
  putchar('"');
}

static void print_json(const struct opts *o, const struct found *f, const char *missing) {
  printf("{\"oracle\":");
  json_str(LEMMALLOC_VERSION);
  printf(",\"target\":");
  json_str(T.name);
  printf(",\"lib\":");
  json_str(o->lib);
  printf(",\"prefix\":");
  json_str(o->prefix);
  printf(",\"missing\":[");
  for (const char *m = missing; *m;) {
    size_t k = strcspn(m, ",");
    char name[64];
    snprintf(name, sizeof name, "%.*s", (int)(k < 63 ? k : 63), m);
    printf("%s", m == missing ? "" : ",");
    json_str(name);
    m += k;
    m += strspn(m, ", ");
  }
  printf("],\"sequence\":{\"source\":");
  json_str(o->replay ? "replay" : "generated");
  if (o->replay) {
    printf(",\"file\":");
    json_str(o->replay);
  } else {
    printf(",\"seed\":%" PRIu64, o->seed);
  }
  printf(",\"threads\":%u,\"ops\":%zu},", o->threads_given ? o->threads : 1u, f->total);
  printf("\"ops_run\":%zu,\"ops_skipped\":%zu,\"stopped_early\":%s,\"stopped_why\":", f->run,
         sum_skipped(&f->ops_rep), f->stopped ? "true" : "false");
  if (f->stopped) json_str(f->why_stopped);
  else printf("null");
  printf(",\"properties\":[");
  for (int p = 0; p < LM_PROP_COUNT; p++) {
    char res[96];
    const char *w;
    prop_result(f, p, res, sizeof res, &w);
    printf("%s{\"name\":", p ? "," : "");
    json_str(lm_prop_name(p));
    printf(",\"checks\":%zu,\"result\":", prop_checks(f, p));
    json_str(w);
    printf("}");
  }
  printf("],\"violations\":[");
  for (size_t i = 0; i < f->nv; i++) {
    const struct violation *v = &f->v[i];
    printf("%s{\"property\":", i ? "," : "");
    json_str(lm_prop_name(v->prop));
    printf(",\"basis\":");
    json_str(lm_basis_name(v->basis));
    printf(",\"category\":");
    json_str(category(v->basis));
    printf(",\"function\":");
    json_str(v->fn);
    printf(",\"case\":");
    json_str(v->when);
    printf(",\"op\":");
    if (v->op_index != SIZE_MAX) printf("%zu", v->op_index);
    else printf("null");
    printf(",\"call\":");
    json_str(v->call);
    printf(",\"detail\":");
    json_str(v->detail);
    printf(",\"minimized_ops\":");
    if (f->trace[i][0]) printf("%zu,\"trace\":", f->min_ops[i]), json_str(f->trace[i]);
    else printf("null,\"trace\":null");
    printf("}");
  }
  printf("],\"deviations\":[");
  bool first = true;
  for (size_t i = 0; have_profile && i < PR.n && i < kg_first; i++) {
    const struct allow *a = &PR.a[i];
    printf("%s{\"property\":", first ? "" : ",");
    first = false;
    json_str(lm_prop_name(a->prop));
    printf(",\"function\":");
    json_str(a->fn);
    printf(",\"case\":");
    json_str(a->when);
    printf(",\"seen\":%zu,\"reason\":", f->ops_rep.allowed[i]);
    json_str(a->why);
    printf("}");
  }
  printf("],\"footprint\":");
  if (f->have_fp)
    printf("{\"warm_kib\":%zu,\"end_kib\":%zu,\"rounds\":%u}", f->fp_rep.footprint_warm >> 10,
           f->fp_rep.footprint_end >> 10, o->rounds);
  else printf("null");
  printf(",\"cpu_s\":%.3f,\"wall_s\":%.3f,\"result\":", f->cpu, f->wall);
  json_str(f->nv ? "violation" : "pass");
  printf("}\n");
}

/* Where the minimized trace of a violation goes: --min-out as given, or
 * with --keep-going its name + "-PROPERTY" (before a .trace suffix). */
static void min_out_for(const struct opts *o, int prop, char *out, size_t cap) {
  if (!o->keep_going) {
    snprintf(out, cap, "%s", o->min_out);
    return;
  }
  const char *dot = strrchr(o->min_out, '.'), *slash = strrchr(o->min_out, '/');
  size_t stem = dot && (!slash || dot > slash) ? (size_t)(dot - o->min_out) : strlen(o->min_out);
  snprintf(out, cap, "%.*s-%s%s", (int)stem, o->min_out, lm_prop_name(prop), o->min_out + stem);
}

/* Print the violation, minimize a copy of the sequence and write it out. */
static void report_violation(const struct opts *o, struct found *f, size_t idx, const struct lm_op *seq,
                             size_t n, bool threaded) {
  const struct violation *v = &f->v[idx];
  bool text = !o->json;
  if (text) {
    printf("VIOLATION %s [%s, %s] in %s", lm_prop_name(v->prop), category(v->basis), lm_basis_name(v->basis), v->fn);
    if (strcmp(v->when, "*") != 0) printf(" (%s)", v->when);
    if (v->op_index != SIZE_MAX) printf(" at op %zu: %s\n", v->op_index, v->call);
    else printf(" in the footprint phase\n");
    printf("  %s\n", v->detail);
  }
  if (v->prop == LM_PROP_FOOTPRINT || v->op_index >= n) return;

  /* Serial runs stop at the violation, so later ops cannot matter. A
   * threaded failure is first tried serially: determinism makes
   * minimizing far cheaper. */
  size_t m = threaded ? n : v->op_index + 1;
  struct lm_op *ops = malloc((m + 1) * sizeof *ops);
  if (!ops) return;
  memcpy(ops, seq, m * sizeof *ops);
  bool mt = threaded && !reproduces(o, ops, m, false, v);
  unsigned runs = 0;
  m = ddmin(o, ops, m, mt, v, &runs);
  char path[512];
  min_out_for(o, v->prop, path, sizeof path);
  if (!write_trace(path, ops, m)) {
    free(ops);
    return;
  }
  snprintf(f->trace[idx], sizeof f->trace[idx], "%s", path);
  f->min_ops[idx] = m;
  if (text) {
    printf("minimized: %zu op%s (%u runs) -> %s\n", m, m == 1 ? "" : "s", runs, path);
    unsigned nt = 1;
    for (size_t i = 0; mt && i < m; i++)
      if (ops[i].thread + 1u > nt) nt = ops[i].thread + 1u;
    char thr[32] = "";
    if (mt) snprintf(thr, sizeof thr, " --threads %u", nt < 2 ? 2 : nt);
    printf("  replay: lemmalloc-oracle --lib %s%s%s --replay %s%s%s%s%s\n", o->lib, *o->prefix ? " --prefix " : "",
           o->prefix, path, thr, o->profile ? " --profile " : "", o->profile ? o->profile : "",
           idx > 0 && o->keep_going ? " --keep-going" : "");
    for (size_t i = 0; i < m && i < 20; i++) {
      char line[160];
      lm_op_format(&ops[i], line, sizeof line);
      printf("  %3zu  %s\n", i, line);
    }
    if (m > 20) printf("  ... %zu more\n", m - 20);
  }
  free(ops);
}

/* Excuse property p for the rest of this invocation (--keep-going). */
static bool excuse(int p) {
  if (PR.n >= MAX_ALLOW) return false;
  if (kg_first == MAX_ALLOW) kg_first = PR.n;
  struct allow *a = &PR.a[PR.n++];
  memset(a, 0, sizeof *a);
  a->prop = p;
  strcpy(a->fn, "*");
  strcpy(a->when, "*");
  snprintf(a->why, sizeof a->why, "--keep-going: reported above");
  have_profile = true;
  return true;
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
  bool text = !o.json;
  if (text && !o.quiet) {
    printf("target: %s", T.name);
    if (missing[0]) printf(" (missing, skipped: %s)", missing);
    printf("\n");
    if (o.replay) printf("ops: %zu replayed from %s, %s\n", n, o.replay, threaded ? "threaded" : "serial");
    else printf("ops: %zu generated (seed %llu, %u thread%s)\n", n, (unsigned long long)o.seed,
                o.threads, o.threads > 1 ? "s" : "");
  }

  static struct found f;
  f.total = n;
  /* Without --keep-going: one run, stop at the first violation. With it:
   * after each violation the run starts again with that property excused
   * (the model then follows the target), until a run gets through or
   * fails on a property it cannot follow past. */
  for (;;) {
    f.wall += isolated(&o, RUN_OPS, ops, n, threaded);
    f.cpu += last_cpu;
    f.ops_rep = *REP;
    f.run = sum_executed(REP);
    f.stopped = f.run + sum_skipped(REP) < n;
    struct violation v = REP->v;
    if (v.prop < 0) {
      if (f.stopped) f.why_stopped = "the run ended without a violation it could report";
      break;
    }
    f.v[f.nv++] = v;
    f.why_stopped = v.prop == LM_PROP_CRASH ? "the target crashed"
                    : !o.keep_going   ? "at the first violation (--keep-going goes on)"
                                      : "at a violation the model cannot follow past";
    if (!o.keep_going || v.prop == LM_PROP_CRASH || v.prop == LM_PROP_OVERLAP || f.nv >= LM_PROP_COUNT || !excuse(v.prop)) break;
  }
  f.have_fp = o.footprint && (f.nv == 0 || o.keep_going);
  if (f.have_fp) {
    isolated(&o, RUN_FOOTPRINT, NULL, 0, false);
    f.fp_rep = *REP;
    if (REP->v.prop >= 0 && f.nv < LM_PROP_COUNT) f.v[f.nv++] = REP->v;
  }
  if (text && !o.quiet) print_text(&o, &f);
  for (size_t i = 0; i < f.nv; i++) {
    /* Minimize each with the excuses in force when it was found: the
     * earlier properties only (kg entries are in discovery order). */
    size_t keep = PR.n;
    if (o.keep_going && kg_first != MAX_ALLOW) PR.n = kg_first + i < keep ? kg_first + i : keep;
    report_violation(&o, &f, i, ops, n, threaded);
    PR.n = keep;
  }
  if (o.json) {
    print_json(&o, &f, missing);
    return f.nv ? 1 : 0;
  }
  if (f.nv == 0) {
    printf("result: pass %s\n", T.name);
    return 0;
  }
  for (size_t i = 0; i < f.nv; i++)
    printf("result: violation %s %s %s\n", lm_prop_name(f.v[i].prop), f.v[i].fn, T.name);
  return 1;
}
