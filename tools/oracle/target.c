/* Loading the allocator under test.
 *
 * RTLD_LOCAL keeps the target's symbols out of the global scope, so the
 * oracle itself (and libc's internal calls) keep using libc's malloc while
 * we call the target's through function pointers. dlsym on a handle also
 * searches the object's dependencies: an allocator without reallocarray
 * would hand us libc's, whose blocks the target's free does not own. Hence
 * every symbol is checked with dladdr to come from the object itself. */
#define _GNU_SOURCE
#include "oracle.h"

#include <dlfcn.h>
#include <link.h>
#include <stdio.h>
#include <string.h>

static void *own_sym(void *h, const char *obj, const char *name) {
  void *s = dlsym(h, name);
  Dl_info info;
  if (!s || !dladdr(s, &info) || !info.dli_fname || strcmp(info.dli_fname, obj) != 0)
    return NULL;
  return s;
}

int target_load(struct target *t, const char *spec, const char *prefix, char *missing, size_t cap,
                char *err, size_t errcap) {
  memset(t, 0, sizeof *t);
  missing[0] = 0;
  bool libc = strcmp(spec, "libc") == 0;
  void *h = libc ? dlopen("libc.so.6", RTLD_NOW | RTLD_NOLOAD)
                 : dlopen(spec, RTLD_NOW | RTLD_LOCAL);
  if (!h) {
    snprintf(err, errcap, "cannot load %s: %s", spec, dlerror());
    return -1;
  }
  struct link_map *lm;
  if (dlinfo(h, RTLD_DI_LINKMAP, &lm) != 0) {
    snprintf(err, errcap, "dlinfo(%s): %s", spec, dlerror());
    return -1;
  }
  const char *obj = lm->l_name;
  const char *base = strrchr(spec, '/');
  snprintf(t->name, sizeof t->name, "%s%s%s%s", libc ? "libc" : base ? base + 1 : spec,
           *prefix ? " (" : "", prefix, *prefix ? "*)" : "");

  struct {
    const char *name;
    void **slot;
    bool required;
  } syms[] = {
    {"malloc", (void **)&t->malloc, true},
    {"free", (void **)&t->free, true},
    {"calloc", (void **)&t->calloc, false},
    {"realloc", (void **)&t->realloc, false},
    {"reallocarray", (void **)&t->reallocarray, false},
    {"posix_memalign", (void **)&t->posix_memalign, false},
    {"aligned_alloc", (void **)&t->aligned_alloc, false},
    {"memalign", (void **)&t->memalign, false},
    {"valloc", (void **)&t->valloc, false},
    {"pvalloc", (void **)&t->pvalloc, false},
    {"malloc_usable_size", (void **)&t->usable_size, false},
    {"malloc_trim", (void **)&t->trim, false},
  };
  size_t used = 0;
  for (size_t i = 0; i < sizeof syms / sizeof syms[0]; i++) {
    char name[96];
    snprintf(name, sizeof name, "%s%s", prefix, syms[i].name);
    *syms[i].slot = own_sym(h, obj, name);
    if (*syms[i].slot) continue;
    if (syms[i].required) {
      snprintf(err, errcap, "%s does not define %s", obj, name);
      return -1;
    }
    int k = snprintf(missing + used, cap - used, "%s%s", used ? ", " : "", name);
    if (k > 0 && (size_t)k < cap - used) used += (size_t)k;
  }
  return 0;
}
