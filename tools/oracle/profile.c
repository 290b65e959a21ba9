/* Expected-deviation profiles (the properties they name: tools/model/malloc_model.c).
 *
 * A profile line excuses one kind of violation:
 *     allow PROPERTY FUNCTION CASE  reason, with a reference
 * FUNCTION and CASE may be "*". Lines starting with '#' are comments. An excused violation
 * is counted and reported, and the run goes on following the target. */
#include "oracle.h"

#include <stdio.h>
#include <string.h>

int profile_load(struct profile *pr, const char *path) {
  memset(pr, 0, sizeof *pr);
  snprintf(pr->path, sizeof pr->path, "%s", path);
  FILE *f = fopen(path, "r");
  if (!f) {
    fprintf(stderr, "oracle: cannot read profile %s\n", path);
    return -1;
  }
  char line[512];
  int lineno = 0, rc = 0;
  while (fgets(line, sizeof line, f)) {
    lineno++;
    if (line[strspn(line, " \t")] == '#') continue;
    char word[16], prop[32], fn[24], when[24];
    int used = 0;
    if (sscanf(line, " %15s", word) != 1) continue; /* blank */
    if (sscanf(line, " %15s %31s %23s %23s %n", word, prop, fn, when, &used) < 4 ||
        strcmp(word, "allow") != 0 || lm_prop_by_name(prop) < 0 || pr->n == MAX_ALLOW) {
      fprintf(stderr, "%s:%d: expected 'allow PROPERTY FUNCTION CASE reason'\n", path, lineno);
      rc = -1;
      continue;
    }
    struct allow *a = &pr->a[pr->n++];
    a->prop = lm_prop_by_name(prop);
    snprintf(a->fn, sizeof a->fn, "%s", fn);
    snprintf(a->when, sizeof a->when, "%s", when);
    char *why = line + used;
    why[strcspn(why, "\n")] = 0;
    snprintf(a->why, sizeof a->why, "%s", why);
  }
  fclose(f);
  return rc;
}

int profile_match(const struct profile *pr, int prop, const char *fn, const char *when) {
  if (!pr) return -1;
  for (size_t i = 0; i < pr->n; i++) {
    const struct allow *a = &pr->a[i];
    if (a->prop == prop && (strcmp(a->fn, "*") == 0 || strcmp(a->fn, fn) == 0) &&
        (strcmp(a->when, "*") == 0 || strcmp(a->when, when) == 0))
      return (int)i;
  }
  return -1;
}
