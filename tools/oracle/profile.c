/* Properties and expected-deviation profiles.
 *
 * A profile line excuses one kind of violation:
 *     allow PROPERTY FUNCTION CASE  reason, with a reference
 * FUNCTION and CASE may be "*". Lines starting with '#' are comments. An excused violation
 * is counted and reported, and the run goes on following the target. */
#include "oracle.h"

#include <stdio.h>
#include <string.h>

static const struct {
  const char *name, *desc;
} props[P_COUNT] = {
  [P_CRASH] = {"crash", "the target crashed or hung on a valid call"},
  [P_NULL_ERRNO] = {"null-errno", "a failure reports the right errno / error code"},
  [P_MUST_FAIL] = {"must-fail", "impossible requests (overflow, > PTRDIFF_MAX) fail"},
  [P_SPURIOUS_NULL] = {"spurious-null", "small satisfiable requests succeed"},
  [P_USABLE] = {"usable-size", "malloc_usable_size >= request, stable while live"},
  [P_ALIGN] = {"alignment", "fundamental alignment, or the requested one"},
  [P_OVERLAP] = {"no-overlap", "a new block overlaps no live block"},
  [P_FILL] = {"fill-intact", "every usable byte is the owner's: patterns survive"},
  [P_REALLOC] = {"realloc-contents", "realloc keeps min(old, new) bytes"},
  [P_REALLOC_FAIL] = {"realloc-fail-keeps", "a failed realloc leaves the block intact"},
  [P_CALLOC] = {"calloc-zero", "calloc memory is zero, also when recycled"},
  [P_BAD_ALIGN] = {"invalid-alignment", "invalid alignments give EINVAL / NULL"},
  [P_USABLE_NULL] = {"usable-null", "malloc_usable_size(NULL) == 0"},
  [P_FOOTPRINT] = {"footprint", "resident memory bounded for a steady live set"},
};

static const char *const bases[] = {"C23", "POSIX", "glibc", "lemmalloc"};

const char *prop_name(int p) { return p >= 0 && p < P_COUNT ? props[p].name : "none"; }
const char *prop_desc(int p) { return p >= 0 && p < P_COUNT ? props[p].desc : ""; }
const char *basis_name(int b) { return b >= 0 && b < 4 ? bases[b] : "?"; }

int prop_by_name(const char *name) {
  for (int p = 0; p < P_COUNT; p++)
    if (strcmp(props[p].name, name) == 0) return p;
  return -1;
}

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
        strcmp(word, "allow") != 0 || prop_by_name(prop) < 0 || pr->n == MAX_ALLOW) {
      fprintf(stderr, "%s:%d: expected 'allow PROPERTY FUNCTION CASE reason'\n", path, lineno);
      rc = -1;
      continue;
    }
    struct allow *a = &pr->a[pr->n++];
    a->prop = prop_by_name(prop);
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
