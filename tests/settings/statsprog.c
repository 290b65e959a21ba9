/* A program for the statistics tests, run preloaded:
 *   statsprog                 allocate, print "pid N", exit
 *   statsprog close-stderr    the same, closing stderr first (like ls, date)
 *   statsprog wait FILE       then keep allocating (large blocks: slow paths,
 *                             where lemmalloc polls its stats signal) until
 *                             FILE exists and is not empty, at most 20 s
 * Exit status 0, or 2 if FILE never appeared. */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static void *volatile keep[1000];

int main(int argc, char **argv) {
  for (int i = 0; i < 1000; i++) {
    keep[i] = malloc(100);
    memset(keep[i], i, 100);
  }
  for (int i = 0; i < 1000; i += 2) free(keep[i]);
  printf("pid %ld\n", (long)getpid());
  fflush(stdout);
  if (argc > 1 && strcmp(argv[1], "close-stderr") == 0) close(2);
  if (argc > 2 && strcmp(argv[1], "wait") == 0) {
    struct timespec ms = {0, 2000000};
    for (int i = 0; i < 10000; i++) {
      struct stat st;
      if (stat(argv[2], &st) == 0 && st.st_size > 0) return 0;
      void *volatile p = malloc(100000); /* volatile: the pair must not be optimized away */
      memset(p, 1, 64);
      free(p);
      nanosleep(&ms, NULL);
    }
    return 2;
  }
  return 0;
}
