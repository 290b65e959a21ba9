/* Tiny test helper shared by the API, bad-input and thread tests.
 *
 *   lt_init("api");                    suite name; also checks LT_EXPECT
 *   TEST("realloc keeps contents") {   one named test ...
 *     CHECK(p != NULL);                ... of any number of checks
 *     CHECKF(n == 3, "n=%zu", n);      ... with a formatted detail
 *   }
 *   return lt_done();                  exit status: 0 iff nothing failed
 *
 * Each test prints one line "PASS: suite/ALLOC: name" or "FAIL: ..." (the
 * lines scripts/check.sh counts), ALLOC being whoever serves malloc here
 * (glibc, or the file name of the object that replaced it). Failed checks
 * print their file:line first. A crash inside a test still prints its FAIL
 * line before the process dies. */
#ifndef LT_TEST_H
#define LT_TEST_H
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <dlfcn.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char lt_name[160] = "(before lt_init)"; /* "suite/alloc: test", the test running now */
static char lt_suite[64];
static int lt_fails, lt_failed_tests, lt_passed_tests;
static int lt_strict;      /* malloc is not glibc's: check the spec where glibc 2.36 differs */

/* Who defines `sym` in this process: "glibc" or the defining object's file. */
static const char *lt_provider(const char *sym) {
  Dl_info info;
  void *f = dlsym(RTLD_DEFAULT, sym);
  if (!f || !dladdr(f, &info) || !info.dli_fname) return "?";
  if (strstr(info.dli_fname, "/libc.so")) return "glibc";
  const char *slash = strrchr(info.dli_fname, '/');
  return slash ? slash + 1 : info.dli_fname;
}

static void lt_write(const char *s) { ssize_t r = write(1, s, strlen(s)); (void)r; }
static void lt_crash(int sig) { /* async-signal-safe: write only */
  lt_write("FAIL: "); lt_write(lt_name); lt_write(" (crashed)\n");
  signal(sig, SIG_DFL);
  raise(sig);
}
static void lt_on_crash(void (*handler)(int)) {
  static const int sigs[] = { SIGSEGV, SIGBUS, SIGABRT, SIGFPE, SIGILL };
  for (size_t i = 0; i < sizeof sigs / sizeof sigs[0]; i++) signal(sigs[i], handler);
}

static void lt_fail(const char *file, int line, const char *fmt, ...) {
  va_list ap;
  if (++lt_fails > 8) return; /* one broken invariant can fail thousands of checks */
  printf("  %s:%d: ", file, line);
  va_start(ap, fmt); vprintf(fmt, ap); va_end(ap);
  putchar('\n');
}
#define CHECKF(c, ...) do { if (!(c)) lt_fail(__FILE__, __LINE__, "check failed: " #c "; " __VA_ARGS__); } while (0)
#define CHECK(c) CHECKF(c, "")

static void lt_begin(const char *test) {
  snprintf(lt_name, sizeof lt_name, "%s: %s", lt_suite, test);
  lt_fails = 0;
}
static void lt_end(void) {
  if (lt_fails) lt_failed_tests++; else lt_passed_tests++;
  printf("%s: %s\n", lt_fails ? "FAIL" : "PASS", lt_name);
  fflush(stdout);
}
#define TEST(test) for (int lt_once_ = (lt_begin(test), 1); lt_once_; lt_once_ = 0, lt_end())

/* LT_EXPECT=lemmalloc (set by the runners) asserts that malloc comes from
 * the object that defines lm_stats: liblemmalloc.so preloaded, or the
 * program itself when linked with liblemmalloc.a (and -rdynamic).
 * LT_LABEL names the allocator in the output instead of the default. */
static void lt_init(const char *suite) {
  const char *who = lt_provider("malloc"), *lm = lt_provider("lm_stats");
  const char *expect = getenv("LT_EXPECT"), *label = getenv("LT_LABEL");
  setvbuf(stdout, NULL, _IOLBF, 0);
  lt_strict = strcmp(who, "glibc") != 0;
  if (!label) label = strstr(who, "lemmalloc") ? "lemmalloc" : who;
  snprintf(lt_suite, sizeof lt_suite, "%s/%s", suite, label);
  snprintf(lt_name, sizeof lt_name, "%s: (outside a test)", lt_suite);
  lt_on_crash(lt_crash);
  if (expect) TEST("malloc is served by the expected allocator") {
    if (!strcmp(expect, "lemmalloc"))
      CHECKF(strcmp(who, "?") && !strcmp(who, lm), "malloc comes from %s, lm_stats from %s", who, lm);
    else
      CHECKF(!strcmp(who, expect), "malloc comes from %s, want %s", who, expect);
  }
}

/* This process's resident memory in KiB (/proc/self/statm), -1 if unknown. */
static inline long lt_rss_kib(void) {
  long pages = 0, rss = -1;
  FILE *f = fopen("/proc/self/statm", "r");
  if (f == NULL) return -1;
  if (fscanf(f, "%ld %ld", &pages, &rss) != 2) rss = -1;
  fclose(f);
  return rss < 0 ? -1 : rss * (sysconf(_SC_PAGESIZE) / 1024);
}

/* In a forked child that the parent judges: die plainly, print no FAIL line. */
static inline void lt_forked(void) { lt_on_crash(SIG_DFL); }

/* A check that cannot run here: says so, counts as neither pass nor fail. */
static inline void lt_skip(const char *test, const char *why) {
  printf("SKIP: %s: %s (%s)\n", lt_suite, test, why);
}

static int lt_done(void) {
  printf("%s: %d passed, %d failed\n", lt_suite, lt_passed_tests, lt_failed_tests);
  return lt_failed_tests ? 1 : 0;
}
#endif
