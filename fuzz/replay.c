/* Runs inputs through a driver's LLVMFuzzerTestOneInput without a fuzzing
 * engine: each argument is a file or a directory of files (not recursive).
 * Used by `make check` to replay tests/regress/ and the seed corpora, and
 * for builds where no engine fits (ThreadSanitizer: libFuzzer's coverage
 * counters are themselves racy across threads, and TSan reports them).
 *
 *   -seconds=N   a time budget: files for up to half of it (every file of
 *                the first path given at least), then generated workloads
 *                (lm_ops_generate, random seeds) for the rest
 *   -threads=N   threads those workloads use (default 6), -ops=N their length
 *   -seed=N      first seed (default: from the clock; printed)
 * Exits 0 if every input ran; a contract violation or sanitizer report
 * aborts the process. */
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "api/ops.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int run_file(const char *path) {
  FILE *f = fopen(path, "rb");
  if (!f) { perror(path); return 1; }
  uint8_t *buf = NULL;
  size_t len = 0, cap = 0, got;
  do {
    if (len == cap) {
      cap = cap ? 2 * cap : 4096;
      uint8_t *nb = realloc(buf, cap);
      if (!nb) { fclose(f); free(buf); return 1; }
      buf = nb;
    }
    got = fread(buf + len, 1, cap - len, f);
    len += got;
  } while (got > 0);
  fclose(f);
  fprintf(stderr, "replay: %s (%zu bytes)\n", path, len); /* the last one named crashed */
  LLVMFuzzerTestOneInput(buf, len);
  free(buf);
  return 0;
}

static double now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Generated workloads until `seconds` have passed; returns how many ran. */
static long generate(double seconds, unsigned threads, size_t nops, uint64_t seed) {
  struct lm_op *ops = calloc(nops, sizeof *ops);
  size_t cap = nops * 32;
  uint8_t *buf = malloc(cap);
  if (!ops || !buf) abort();
  double end = now() + seconds;
  long runs = 0;
  fprintf(stderr, "replay: generating from seed %llu\n", (unsigned long long)seed);
  while (now() < end) {
    lm_ops_generate(seed + (uint64_t)runs, nops, threads, ops);
    size_t len = lm_ops_encode(ops, nops, buf, cap);
    if (getenv("LEMMALLOC_FUZZ_TRACE"))
      fprintf(stderr, "replay: seed %llu\n", (unsigned long long)(seed + (uint64_t)runs));
    LLVMFuzzerTestOneInput(buf, len);
    runs++;
  }
  free(ops);
  free(buf);
  return runs;
}

int main(int argc, char **argv) {
  int bad = 0, n = 0, skipped = 0;
  double seconds = 0;
  unsigned threads = 6;
  size_t nops = 400;
  uint64_t seed = (uint64_t)time(NULL) * 1000003u;
  for (int i = 1; i < argc; i++) {
    if (sscanf(argv[i], "-seconds=%lf", &seconds) == 1) continue;
    if (sscanf(argv[i], "-threads=%u", &threads) == 1) continue;
    if (sscanf(argv[i], "-ops=%zu", &nops) == 1) continue;
    if (strncmp(argv[i], "-seed=", 6) == 0) seed = strtoull(argv[i] + 6, NULL, 0);
  }
  /* With -seconds, the budget covers the files too: the first path named
   * (seeds, regressions) always runs whole, a big corpus may be cut short. */
  double t0 = now(), deadline = t0 + seconds, files_deadline = t0 + seconds / 2;
  int first = 0; /* the first path given always runs whole */
  for (int i = 1; i < argc; i++) {
    struct stat st;
    if (argv[i][0] == '-') continue;
    if (!first) first = i;
    if (stat(argv[i], &st) != 0) { perror(argv[i]); bad++; continue; }
    if (!S_ISDIR(st.st_mode)) { bad += run_file(argv[i]); n++; continue; }
    DIR *d = opendir(argv[i]);
    if (!d) { perror(argv[i]); bad++; continue; }
    for (struct dirent *e; (e = readdir(d));) {
      if (e->d_name[0] == '.') continue; /* ., .., and hidden notes */
      char path[4096];
      snprintf(path, sizeof path, "%s/%s", argv[i], e->d_name);
      if (stat(path, &st) != 0 || !S_ISREG(st.st_mode)) continue;
      if (seconds > 0 && i != first && now() > files_deadline) { skipped++; continue; }
      bad += run_file(path);
      n++;
    }
    closedir(d);
  }
  fprintf(stderr, "replay: %d inputs, %d unreadable, %d left for lack of time\n", n, bad, skipped);
  if (seconds > 0 && now() < deadline) {
    double t1 = now();
    long runs = generate(deadline - t1, threads, nops ? nops : 1, seed);
    fprintf(stderr, "replay: %ld generated workloads in %.1f s: %.1f execs/s\n", runs,
            now() - t1, (double)runs / (now() - t1));
  }
  return bad ? 1 : 0;
}
