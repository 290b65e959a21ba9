/* Heap map: known allocation patterns give the cell counts they must.
 *
 * Linked with the library's sources (it reads the snapshot directly) and
 * run with one arena, no thread cache and no decay (mk/observe.mk sets
 * LEMMALLOC_ARENAS=1 LEMMALLOC_TCACHE_BYTES=0 LEMMALLOC_PURGE_MS=3600000),
 * so that every page's state follows from the calls below alone.
 *
 * Usage: heapmap_test OUTDIR. Writes OUTDIR/map.txt from one snapshot and
 * prints its counts on a line
 *   counts: live partly dirty purged meta
 * which tests/observe/check_snapshot.py compares with the file and with
 * what tools/heapmap/render.py draws from it. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <dirent.h>
#include <signal.h>
#include <sys/stat.h>
#include "../lib/test.h"
#include "lemmalloc.h"
#include "heap/heapmap.h"

static struct lm_heapmap *snap(void) {
  struct lm_heapmap *m = lm_heapmap_take();
  if (m == NULL) {
    printf("FAIL: heapmap: snapshot failed\n");
    exit(1);
  }
  return m;
}

static long delta(const struct lm_heapmap *a, const struct lm_heapmap *b, int s) {
  return (long)b->cells[s] - (long)a->cells[s];
}

/* Slots of the class serving n bytes, n a slot size: nothing may have used
 * that class yet, or the deltas below would mix with older slabs. */
static bool class_unused(size_t n) {
  struct lm_stats st;
  lm_stats(&st);
  for (unsigned c = 0; c < st.nclasses; c++)
    if (st.classes[c].size == n) return st.classes[c].nmalloc == 0;
  return false;
}

/* Every chunk's cells add up, and the live bytes seen page by page are the
 * live bytes the counters say (no thread cache, no huge block). */
static void check_consistent(const struct lm_heapmap *m) {
  size_t sum = 0;
  for (int s = 0; s < LM_HM_META; s++) sum += m->cells[s];
  CHECKF(sum == m->nchunks * LM_CHUNK_PAGES, "cells %zu, chunks %zu", sum, m->nchunks);
  CHECK(!m->truncated);
  struct lm_stats st;
  lm_stats(&st);
  CHECKF(m->live_bytes == st.allocated - st.huge_live, "map live %zu, stats allocated %zu - huge %zu",
         m->live_bytes, st.allocated, st.huge_live);
  CHECKF(m->cells[LM_HM_META] * LM_PAGE_SIZE == st.metadata, "meta cells %zu, metadata %zu bytes",
         m->cells[LM_HM_META], st.metadata);
  /* lm_stats' slab figures come from the same walk. */
  CHECKF(m->usage.slab_bytes == st.slabs, "map slab bytes %zu, stats %zu", m->usage.slab_bytes, st.slabs);
  CHECK(m->usage.narenas == st.narenas_used);
  for (unsigned c = 0; c < LM_STATS_CLASSES && c < LM_NUM_CLASSES; c++)
    CHECKF(m->usage.slots[c] == st.classes[c].slots && m->usage.used[c] == st.classes[c].slots_used,
           "class %u: map %llu/%llu slots, stats %llu/%llu", c, (unsigned long long)m->usage.used[c],
           (unsigned long long)m->usage.slots[c], (unsigned long long)st.classes[c].slots_used,
           (unsigned long long)st.classes[c].slots);
}

/* The first line of a file (without its newline), and whether its last
 * line is "end". */
static bool read_head_tail(const char *path, char *first, size_t cap, bool *ended) {
  static char text[1 << 20];
  FILE *f = fopen(path, "r");
  if (f == NULL) return false;
  size_t n = fread(text, 1, sizeof text - 1, f);
  fclose(f);
  text[n] = '\0';
  size_t k = strcspn(text, "\n");
  snprintf(first, cap, "%.*s", (int)k, text);
  *ended = n >= 5 && strcmp(text + n - 5, "\nend\n") == 0;
  return true;
}

/* One slab of `size`-byte slots, filled: its pages are live. Every other
 * slot freed: all its pages are partly used. All freed: its pages are free
 * and resident (the slab is the class's spare or back in the buddy). */
static void slab_pattern(size_t size) {
  CHECKF(class_unused(size), "class %zu already used before the test", size);
  struct lm_heapmap *m0 = snap();
  char *first = malloc(size);
  uintptr_t a = (uintptr_t)first;
  const struct lm_chunk *ch = (const struct lm_chunk *)lm_reg_lookup(a);
  const struct lm_slab *sl = &ch->slab[ch->page[(a - ch->base) >> LM_PAGE_SHIFT] - 1];
  uint32_t n = lm_slab_nslots(lm_slab_h(sl));
  long pages = 1L << lm_buddy_order(lm_chunk_c(ch), (uint32_t)((sl->base - ch->base) >> LM_PAGE_SHIFT));
  char **p = malloc(n * sizeof *p); /* another class: 8 bytes a slot */
  p[0] = first;
  for (uint32_t i = 1; i < n; i++) p[i] = malloc(size);
  for (uint32_t i = 0; i < n; i++)
    CHECKF((uintptr_t)p[i] - sl->base < (uintptr_t)pages * LM_PAGE_SIZE, "slot %u outside the slab", i);
  struct lm_heapmap *m1 = snap();
  CHECKF(delta(m0, m1, LM_HM_LIVE) >= pages, "full slab of %ld pages: live +%ld", pages, delta(m0, m1, LM_HM_LIVE));
  CHECKF(m1->live_bytes - m0->live_bytes >= n * size, "live bytes +%zu", m1->live_bytes - m0->live_bytes);
  for (uint32_t i = 0; i < n; i += 2) free(p[i]), p[i] = NULL;
  struct lm_heapmap *m2 = snap();
  CHECKF(delta(m1, m2, LM_HM_LIVE) == -pages, "live %ld", delta(m1, m2, LM_HM_LIVE));
  CHECKF(delta(m1, m2, LM_HM_PARTLY) == pages, "partly +%ld", delta(m1, m2, LM_HM_PARTLY));
  CHECKF(m2->partly_free_bytes - m1->partly_free_bytes == (n + 1) / 2 * size, "free slot bytes +%zu",
         m2->partly_free_bytes - m1->partly_free_bytes);
  CHECKF(m1->live_bytes - m2->live_bytes == (n + 1) / 2 * size, "live bytes -%zu", m1->live_bytes - m2->live_bytes);
  check_consistent(m2);
  for (uint32_t i = 1; i < n; i += 2) free(p[i]);
  struct lm_heapmap *m3 = snap();
  CHECKF(delta(m1, m3, LM_HM_LIVE) == -pages, "live %ld", delta(m1, m3, LM_HM_LIVE));
  CHECKF(delta(m1, m3, LM_HM_PARTLY) == 0, "partly %+ld", delta(m1, m3, LM_HM_PARTLY));
  CHECKF(delta(m1, m3, LM_HM_DIRTY) == pages, "dirty +%ld", delta(m1, m3, LM_HM_DIRTY));
  check_consistent(m3);
  free(p);
  lm_heapmap_release(m0), lm_heapmap_release(m1), lm_heapmap_release(m2), lm_heapmap_release(m3);
}

int main(int argc, char **argv) {
  lt_init("heapmap");
  if (argc != 2) {
    fprintf(stderr, "usage: %s OUTDIR\n", argv[0]);
    return 2;
  }
  const char *dir = argv[1];
  TEST("runs with one arena, no thread cache, no decay") {
    CHECK(lm_heap.narenas == 1);
    CHECK(lm_heap.cfg.tcache_bytes == 0);
    CHECK(lm_heap.cfg.purge_ms >= 600000);
  }

  TEST("large blocks: live, then dirty when freed, then purged by a trim") {
    struct lm_heapmap *m0 = snap();
    void *p[10];
    for (int i = 0; i < 10; i++) p[i] = malloc(64 << 10); /* order 4: 16 pages each */
    struct lm_heapmap *m1 = snap();
    CHECKF(delta(m0, m1, LM_HM_LIVE) == 160, "live +%ld", delta(m0, m1, LM_HM_LIVE));
    CHECK(delta(m0, m1, LM_HM_PARTLY) == 0);
    CHECKF(m1->live_bytes - m0->live_bytes == 160 * LM_PAGE_SIZE, "live bytes +%zu", m1->live_bytes - m0->live_bytes);
    check_consistent(m1);
    for (int i = 0; i < 10; i++) free(p[i]);
    struct lm_heapmap *m2 = snap();
    CHECKF(delta(m1, m2, LM_HM_LIVE) == -160, "live %ld", delta(m1, m2, LM_HM_LIVE));
    CHECKF(delta(m1, m2, LM_HM_DIRTY) == 160, "dirty +%ld", delta(m1, m2, LM_HM_DIRTY));
    lm_trim();
    struct lm_heapmap *m3 = snap();
    CHECKF(m3->cells[LM_HM_DIRTY] == 0, "dirty after trim %zu", m3->cells[LM_HM_DIRTY]);
    CHECK(m3->cells[LM_HM_LIVE] == m2->cells[LM_HM_LIVE]);
    check_consistent(m3);
    lm_heapmap_release(m0), lm_heapmap_release(m1), lm_heapmap_release(m2), lm_heapmap_release(m3);
  }

  TEST("slab of 2048-byte slots: live when full, partly used, then free") slab_pattern(2048);
  TEST("slab of 3072-byte slots: live when full, partly used, then free") slab_pattern(3072);

  TEST("huge blocks are counted, not drawn") {
    struct lm_heapmap *m0 = snap();
    char *h = malloc(16 << 20);
    struct lm_heapmap *m1 = snap();
    CHECKF(m1->huge_live - m0->huge_live >= 16 << 20, "huge +%zu", m1->huge_live - m0->huge_live);
    for (int s = 0; s < LM_HM_META; s++) CHECK(delta(m0, m1, s) == 0);
    free(h);
    lm_heapmap_release(m0), lm_heapmap_release(m1);
  }

  TEST("lm_heapmap_write: the snapshot format whatever the name, atomic replace, errors reported") {
    static const char *const names[] = {"api.txt", "api.png", "api.html", "api"};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
      char path[4096], first[64] = "";
      bool ended = false;
      snprintf(path, sizeof path, "%s/%s", dir, names[i]);
      CHECKF(lm_heapmap_write(path) == 0 && read_head_tail(path, first, sizeof first, &ended), "%s", path);
      CHECKF(strcmp(first, "lemmalloc-heapmap 1") == 0 && ended, "%s: first line '%s', end %d", path, first, ended);
      unlink(path);
    }
    DIR *d = opendir(dir);
    struct dirent *e;
    int tmps = 0;
    while (d && (e = readdir(d)) != NULL) tmps += strstr(e->d_name, ".tmp") != NULL;
    if (d) closedir(d);
    CHECKF(tmps == 0, "%d temporary files left", tmps); /* each was renamed */
    errno = 0;
    CHECK(lm_heapmap_write("/nonexistent-dir/map.txt") == -1 && errno == ENOENT);
    errno = 0;
    CHECK(lm_heapmap_write("") == -1 && errno == ENOENT);
  }

  TEST("LEMMALLOC_HEAPMAP_SIGNAL: the handler only flags, the poll writes LEMMALLOC_HEAPMAP") {
    const char *want = getenv("LEMMALLOC_HEAPMAP"); /* DIR/hm-%p-%n.txt */
    const char *at = want ? strstr(want, "%p-%n") : NULL;
    CHECKF(at != NULL, "LEMMALLOC_HEAPMAP=%s", want ? want : "(unset)");
    for (int n = 0; at && n < 2; n++) {
      char path[4096];
      snprintf(path, sizeof path, "%.*s%d-%d%s", (int)(at - want), want, (int)getpid(), n, at + 5);
      unlink(path);
      raise(SIGUSR1);
      struct stat sb;
      CHECK(lm_heapmap_pending == 1 && stat(path, &sb) != 0); /* nothing written in the handler */
      lm_heapmap_poll();
      CHECKF(lm_heapmap_pending == 0 && stat(path, &sb) == 0 && sb.st_size > 1000, "%s not written", path);
      /* At exit the destructor writes number 2: check_snapshot.py looks. */
    }
  }

  TEST("one snapshot written to map.txt, for the renderer") {
    void *keep[200];
    for (int i = 0; i < 200; i++) keep[i] = malloc((size_t)(i % 7 + 1) * 100); /* some partly used slabs */
    void *big = malloc(300 << 10);
    struct lm_heapmap *m = snap();
    char path[4096];
    snprintf(path, sizeof path, "%s/map.txt", dir);
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    CHECK(fd >= 0 && lm_heapmap_write_fd(m, fd) == 0);
    close(fd);
    CHECK(m->cells[LM_HM_PARTLY] > 0 && m->cells[LM_HM_LIVE] > 0);
    printf("counts: %zu %zu %zu %zu %zu\n", m->cells[0], m->cells[1], m->cells[2], m->cells[3], m->cells[4]);
    lm_heapmap_release(m);
    for (int i = 0; i < 200; i++) free(keep[i]);
    free(big);
  }
  return lt_done();
}
