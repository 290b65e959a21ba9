/* Statistics reports (see stats_out.h): rendering as text or JSON into a
 * buffer of its own mapping (never malloc: this runs inside the allocator,
 * at exit and from slow paths), then one write to stderr or one O_APPEND
 * write to the stats file, so reports from several processes or signals
 * never interleave. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include "lemmalloc.h"
#include "heap/config.h"
#include "heap/stats_out.h"

const char *lm_version(void) { return LEMMALLOC_VERSION; }

#define OUT_CAP ((size_t)64 << 10) /* a report is under 10 KiB */

static void printf_sb(struct lm_sb *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* glibc's snprintf does not allocate for these formats (no positional
 * arguments, small precisions). */
static void printf_sb(struct lm_sb *b, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  int k = vsnprintf(b->s + b->n, b->cap - b->n, fmt, ap);
  va_end(ap);
  if (k < 0) return;
  if ((size_t)k >= b->cap - b->n) {
    b->n = b->cap - 1;
    b->full = true;
  } else {
    b->n += (size_t)k;
  }
}

static const char *program_name(void) {
  const char *n = program_invocation_short_name; /* set by libc from argv[0]: no allocation */
  return n && *n ? n : "?";
}

/* Why the report was written: "exit", "signal" or "malloc_stats". */
static void render_text(struct lm_sb *b, const struct lm_stats *st, const char *why) {
  const double M = 1024.0 * 1024.0;
  printf_sb(b, "lemmalloc stats: lemmalloc %s, pid %ld (%s), ", LEMMALLOC_VERSION, (long)getpid(),
            program_name());
  if (strcmp(why, "signal") == 0) {
    lm_sb_str(b, "on signal ");
    lm_sb_signal(b, lm_stats_conf.signal);
  } else {
    lm_sb_str(b, strcmp(why, "exit") == 0 ? "at exit" : "malloc_stats()");
  }
  printf_sb(b, "\n  %u arenas (%u used), %llu threads seen, %zu chunks, thread cache %zu KiB\n", st->narenas,
            st->narenas_used, (unsigned long long)st->nthreads, st->nchunks, lm_heap.cfg.tcache_bytes >> 10);
  lm_sb_str(b, "  settings: ");
  lm_config_describe(&lm_heap.cfg, b, false);
  lm_sb_str(b, "\n");
  printf_sb(b, "  live %.1f MiB (peak %.1f): %.1f MiB in slabs, %.1f MiB large, %.1f MiB huge\n",
            st->allocated / M, st->peak_allocated / M, st->slabs / M, st->large_live / M, st->huge_live / M);
  printf_sb(b, "  mapped %.1f MiB (peak %.1f), resident ~%.1f MiB (peak %.1f), metadata %.1f MiB\n",
            st->mapped / M, st->peak_mapped / M, st->resident / M, st->peak_resident / M, st->metadata / M);
  printf_sb(b, "  free but resident %.1f MiB in chunks, %.1f MiB in huge cache, %.1f MiB in threads' large caches; "
            "%.1f MiB of slabs owned by threads\n",
            st->dirty_free / M, st->huge_cached / M, st->tcache_bytes / M, st->thread_slabs / M);
  printf_sb(b, "  purged %.1f MiB in %llu passes, %llu trims, %llu chunks unmapped; huge: %llu maps, %llu reused\n",
            st->purged / M, (unsigned long long)st->npurge, (unsigned long long)st->ntrim,
            (unsigned long long)lm_heap.nunmapped_chunks, (unsigned long long)(st->huge_nmalloc - st->huge_nreuse),
            (unsigned long long)st->huge_nreuse);
  printf_sb(b, "  calls: %llu malloc, %llu free; served without a lock %.1f%%\n", (unsigned long long)st->nmalloc,
            (unsigned long long)st->nfree,
            st->nmalloc ? 100.0 * (double)st->tcache_hits / (double)st->nmalloc : 0.0);
  printf_sb(b, "  %7s %10s %10s %7s %9s\n", "class", "nmalloc", "nfree", "slabs", "occupancy");
  for (unsigned c = 0; c < st->nclasses; c++)
    if (st->classes[c].nmalloc)
      printf_sb(b, "  %7zu %10llu %10llu %7llu %8.1f%%\n", st->classes[c].size,
                (unsigned long long)st->classes[c].nmalloc, (unsigned long long)st->classes[c].nfree,
                (unsigned long long)st->classes[c].nslabs,
                st->classes[c].slots ? 100.0 * (double)st->classes[c].slots_used / (double)st->classes[c].slots
                                     : 0.0);
}

static void member(struct lm_sb *b, const char *name, uint64_t v) {
  lm_sb_str(b, ",\"");
  lm_sb_str(b, name);
  lm_sb_str(b, "\":");
  lm_sb_u64(b, v);
}

/* One line, one object: docs/stats.md documents every member. */
static void render_json(struct lm_sb *b, const struct lm_stats *st, const char *why) {
  lm_sb_str(b, "{\"lemmalloc\":");
  lm_sb_json(b, LEMMALLOC_VERSION);
  member(b, "pid", (uint64_t)getpid());
  lm_sb_str(b, ",\"program\":");
  lm_sb_json(b, program_name());
  lm_sb_str(b, ",\"reason\":");
  lm_sb_json(b, why);
  lm_sb_str(b, ",\"settings\":{");
  lm_config_describe(&lm_heap.cfg, b, true);
  lm_sb_str(b, "}");
  member(b, "narenas", st->narenas);
  member(b, "narenas_used", st->narenas_used);
  member(b, "nthreads", st->nthreads);
  member(b, "nchunks", st->nchunks);
  member(b, "allocated", st->allocated);
  member(b, "peak_allocated", st->peak_allocated);
  member(b, "slabs", st->slabs);
  member(b, "large_live", st->large_live);
  member(b, "huge_live", st->huge_live);
  member(b, "huge_count", st->huge_count);
  member(b, "mapped", st->mapped);
  member(b, "peak_mapped", st->peak_mapped);
  member(b, "chunks_mapped", st->chunks_mapped);
  member(b, "resident", st->resident);
  member(b, "peak_resident", st->peak_resident);
  member(b, "metadata", st->metadata);
  member(b, "dirty_free", st->dirty_free);
  member(b, "huge_cached", st->huge_cached);
  member(b, "tcache_bytes", st->tcache_bytes);
  member(b, "thread_slabs", st->thread_slabs);
  member(b, "purged", st->purged);
  member(b, "npurge", st->npurge);
  member(b, "ntrim", st->ntrim);
  member(b, "nunmapped_chunks", lm_heap.nunmapped_chunks);
  member(b, "nmalloc", st->nmalloc);
  member(b, "nfree", st->nfree);
  member(b, "tcache_hits", st->tcache_hits);
  member(b, "large_nmalloc", st->large_nmalloc);
  member(b, "huge_nmalloc", st->huge_nmalloc);
  member(b, "huge_nreuse", st->huge_nreuse);
  lm_sb_str(b, ",\"classes\":[");
  for (unsigned c = 0; c < st->nclasses; c++) {
    lm_sb_str(b, c ? ",{\"size\":" : "{\"size\":");
    lm_sb_u64(b, st->classes[c].size);
    member(b, "nmalloc", st->classes[c].nmalloc);
    member(b, "nfree", st->classes[c].nfree);
    member(b, "nslabs", st->classes[c].nslabs);
    member(b, "slots", st->classes[c].slots);
    member(b, "slots_used", st->classes[c].slots_used);
    lm_sb_str(b, "}");
  }
  lm_sb_str(b, "]}\n");
}

/* The stats file template with "%p" replaced by the pid (now: a forked
 * child gets its own) and "%%" by "%". */
static void expand(char *path, size_t cap, const char *tmpl) {
  char pid[24];
  struct lm_sb p = {pid, 0, sizeof pid, false};
  lm_sb_u64(&p, (uint64_t)getpid());
  struct lm_sb o = {path, 0, cap, false};
  path[0] = '\0';
  for (const char *t = tmpl; *t; t++) {
    if (t[0] == '%' && t[1] == 'p') {
      lm_sb_str(&o, pid);
      t++;
    } else {
      char c[2] = {t[0] == '%' && t[1] == '%' ? (t++, '%') : t[0], '\0'};
      lm_sb_str(&o, c);
    }
  }
}

static void write_all(int fd, const char *s, size_t n) {
  while (n > 0) {
    ssize_t w = write(fd, s, n);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) return;
    s += w;
    n -= (size_t)w;
  }
}

/* Render one report and write it where it goes. to_stderr forces stderr
 * (malloc_stats() is documented to print there). */
static void report(int format, const char *why, bool to_stderr) {
  int saved = errno;
  struct lm_stats st;
  lm_stats(&st);
  char *buf = lm_os_map(OUT_CAP, LM_PAGE_SIZE);
  if (buf == NULL) {
    errno = saved;
    return;
  }
  struct lm_sb b = {buf, 0, OUT_CAP, false};
  if (format == LM_STATS_JSON) render_json(&b, &st, why);
  else render_text(&b, &st, why);
  if (to_stderr || lm_stats_conf.file[0] == '\0') {
    lm_os_write_err(b.s, b.n);
  } else {
    char path[sizeof lm_stats_conf.file + 64];
    expand(path, sizeof path, lm_stats_conf.file);
    int fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (fd >= 0) {
      write_all(fd, b.s, b.n);
      close(fd);
    } else {
      char msg[sizeof path + 96];
      struct lm_sb m = {msg, 0, sizeof msg, false};
      lm_sb_str(&m, "lemmalloc: cannot write the statistics to ");
      lm_sb_str(&m, path);
      lm_sb_str(&m, " (");
      const char *e = strerrorname_np(errno); /* a constant string */
      lm_sb_str(&m, e ? e : "error");
      lm_sb_str(&m, ")\n");
      lm_os_write_err(m.s, m.n);
    }
  }
  lm_os_unmap(buf, OUT_CAP);
  errno = saved;
}

void lm_stats_print(void) {
  report(lm_stats_conf.format, "exit", false);
}

void lm_malloc_stats(void) {
  if (!lm_heap_ready()) lm_heap_init();
  report(LM_STATS_TEXT, "malloc_stats", true);
}

/* ---- the signal ---- */

volatile int lm_stats_pending;

static void on_signal(int sig) {
  (void)sig;
  __atomic_store_n(&lm_stats_pending, 1, __ATOMIC_RELAXED); /* all a handler may safely do here */
}

void lm_stats_poll(void) {
  if (__atomic_exchange_n(&lm_stats_pending, 0, __ATOMIC_ACQ_REL))
    report(lm_stats_conf.format == LM_STATS_JSON ? LM_STATS_JSON : LM_STATS_TEXT, "signal", false);
}

/* The settings are read by lm_heap_init (config.c); the handler is
 * installed by a constructor of this file, so heap.c needs only the poll in
 * its tick. */
__attribute__((constructor)) static void stats_out_ctor(void) {
  if (!lm_heap_ready()) lm_heap_init();
  if (lm_stats_conf.signal != 0) lm_os_on_signal(lm_stats_conf.signal, on_signal);
}
