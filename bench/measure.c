/* measure: runs one command and reports its wall time, CPU time and peak
 * RSS, optionally sampling its VmRSS over time.
 *
 *   measure [-e NAME=VALUE]... [-s MS SAMPLEFILE] [-t SECONDS] -o RESULTFILE -- command [args...]
 *
 * -e sets a variable for the command only (LD_PRELOAD must not load the
 * allocator under test into this launcher: its pages would count as the
 * command's, see below).
 * RESULTFILE gets one line: "wall_s user_s sys_s maxrss_kib exit_code"
 * (exit_code is 128+N if killed by signal N, 124 if it ran over -t SECONDS
 * and was killed). SAMPLEFILE gets "t_s rss_kib" lines every MS
 * milliseconds. The command runs in its own process group, so a time limit,
 * SIGINT or SIGTERM kills all of it (gcc's cc1 too).
 *
 * Why not fork from the Python runner directly: Linux carries the RSS
 * high-water mark of the forking process across exec, so every child of a
 * 15 MiB Python would report at least 15 MiB of peak RSS. This launcher is
 * small, so the peak it reports is the command's own. Sampling waits on
 * SIGCHLD with a timeout, so the end of the command is seen at once and the
 * wall time is not rounded up to a sampling period.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static double now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static long vmrss_kib(pid_t pid) {
  char path[64], buf[4096];
  snprintf(path, sizeof path, "/proc/%d/status", (int)pid);
  int fd = open(path, O_RDONLY);
  if (fd < 0) return -1;
  ssize_t n = read(fd, buf, sizeof buf - 1);
  close(fd);
  if (n <= 0) return -1;
  buf[n] = 0;
  char *p = strstr(buf, "VmRSS:");
  return p ? strtol(p + 6, NULL, 10) : -1;
}

static void usage(void) {
  fprintf(stderr, "usage: measure [-e NAME=VALUE]... [-s MS SAMPLEFILE] [-t SECONDS] -o RESULTFILE "
                  "-- command [args...]\n");
  exit(2);
}

int main(int argc, char **argv) {
  long period_ms = 0, limit_s = 0;
  const char *sample_path = NULL, *out_path = NULL;
  char *env[64];
  int nenv = 0, i = 1;
  for (; i < argc && strcmp(argv[i], "--"); i++) {
    if (!strcmp(argv[i], "-e") && i + 1 < argc && nenv < 64 && strchr(argv[i + 1], '=')) {
      env[nenv++] = argv[++i];
    } else if (!strcmp(argv[i], "-s") && i + 2 < argc) {
      period_ms = strtol(argv[++i], NULL, 10);
      sample_path = argv[++i];
    } else if (!strcmp(argv[i], "-t") && i + 1 < argc) {
      limit_s = strtol(argv[++i], NULL, 10);
    } else if (!strcmp(argv[i], "-o") && i + 1 < argc) {
      out_path = argv[++i];
    } else {
      usage();
    }
  }
  if (i + 1 >= argc || !out_path || (sample_path && period_ms <= 0)) usage();
  char **cmd = argv + i + 1;

  FILE *samples = NULL;
  if (sample_path && !(samples = fopen(sample_path, "w"))) {
    perror(sample_path);
    return 2;
  }
  /* SIGCHLD, SIGINT and SIGTERM are taken synchronously by sigtimedwait. */
  sigset_t sigs;
  sigemptyset(&sigs);
  sigaddset(&sigs, SIGCHLD);
  sigaddset(&sigs, SIGINT);
  sigaddset(&sigs, SIGTERM);
  sigprocmask(SIG_BLOCK, &sigs, NULL);

  double t0 = now();
  pid_t pid = fork();
  if (pid < 0) {
    perror("fork");
    return 2;
  }
  if (pid == 0) {
    setpgid(0, 0);
    sigprocmask(SIG_UNBLOCK, &sigs, NULL);
    for (int k = 0; k < nenv; k++) putenv(env[k]);
    execvp(cmd[0], cmd);
    fprintf(stderr, "measure: %s: %s\n", cmd[0], strerror(errno));
    _exit(127);
  }

  setpgid(pid, pid); /* also here: no race with the child's own call */
  int status, timed_out = 0, interrupted = 0;
  struct rusage ru;
  long tick_ms = samples ? period_ms : 200;
  for (;;) {
    if (samples) {
      long kib = vmrss_kib(pid);
      if (kib >= 0) fprintf(samples, "%.3f %ld\n", now() - t0, kib);
    }
    struct timespec ts = {tick_ms / 1000, (tick_ms % 1000) * 1000000L};
    int sig = sigtimedwait(&sigs, NULL, &ts);
    pid_t r = wait4(pid, &status, WNOHANG, &ru);
    if (r == pid) break;
    if (r < 0 && errno != EINTR) {
      perror("wait4");
      return 2;
    }
    if (sig == SIGINT || sig == SIGTERM) interrupted = sig;
    if (!timed_out && limit_s > 0 && now() - t0 > (double)limit_s) timed_out = 1;
    if (interrupted || timed_out) kill(-pid, SIGKILL);
  }
  kill(-pid, SIGKILL); /* whatever the command left behind in its group */
  double wall = now() - t0;
  if (samples) fclose(samples);

  if (interrupted) return 128 + interrupted;
  int code = timed_out ? 124 : WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  FILE *out = fopen(out_path, "w");
  if (!out) {
    perror(out_path);
    return 2;
  }
  fprintf(out, "%.4f %.4f %.4f %ld %d\n", wall,
          (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec * 1e-6,
          (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec * 1e-6, ru.ru_maxrss, code);
  fclose(out);
  return 0;
}
