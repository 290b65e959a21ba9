/* The heap map: snapshot under the arena locks, then written as text with
 * no lock held. See heapmap.h for what each cell state means and
 * tools/heapmap/README.md ("Format") for the file.
 *
 * Nothing here allocates through malloc: the snapshot is a mapping
 * (lm_os_map), numbers are formatted by hand (stdio may allocate), files
 * are written with open/write/rename. */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <fcntl.h>
#include <stdio.h> /* rename only: no stream is used */
#include <string.h>
#include <unistd.h>
#include "heapmap.h"
#include "config.h"
#include "thread.h"

#define PAGE ((size_t)LM_PAGE_SIZE)

/* The format's version: the first line is "lemmalloc-heapmap 1". Change it
 * when a line's meaning or layout changes, a key goes away or a state letter
 * is added; a new key line alone keeps it (readers skip unknown keys). */
#define HM_VERSION 1

/* ------------------------------------------------------------------ */
/* Snapshot: one walk for the cells and for lm_stats' slab usage        */

struct walk {
  struct lm_heapmap *m;     /* NULL: usage only */
  struct lm_hm_usage *u;
  struct lm_hm_chunk *cur;  /* the chunk whose cells are recorded; NULL if none */
  uint32_t last_arena;
};

static uint8_t free_state(const struct lm_chunk *ch, uint32_t pg) {
  return ch->dirty[pg / 64] >> (pg % 64) & 1 ? LM_HM_DIRTY : LM_HM_PURGED;
}

/* A slab's pages share its state: all live when every slot is allocated,
 * partly used when some are (the free slots keep the whole span from going
 * back), free when none is (an empty slab kept as the class's spare). */
static void slab_cells(struct walk *w, const struct lm_chunk *ch, uint32_t head, uint32_t npages,
                       size_t used, size_t nslots, size_t sz) {
  w->m->live_bytes += used * sz;
  if (used == 0) {
    for (uint32_t p = head; p < head + npages; p++) w->cur->cell[p] = free_state(ch, p);
    return;
  }
  if (used < nslots) w->m->partly_free_bytes += (nslots - used) * sz;
  memset(&w->cur->cell[head], used < nslots ? LM_HM_PARTLY : LM_HM_LIVE, npages);
}

static void on_block(const struct lm_chunk *ch, uint32_t pg, uint32_t order, bool allocated,
                     const struct lm_slab *sl, void *arg) {
  struct walk *w = arg;
  uint32_t n = 1u << order;
  if (allocated && sl != NULL) {
    size_t used = lm_slab_live(sl), nslots = lm_slab_nslots(lm_slab_h(sl));
    w->u->nslabs[sl->cls]++;
    w->u->slots[sl->cls] += nslots;
    w->u->used[sl->cls] += used;
    w->u->slab_bytes += (size_t)n << LM_PAGE_SHIFT;
    if (w->cur) slab_cells(w, ch, pg, n, used, nslots, lm_class_size_table[sl->cls]);
  } else if (w->cur == NULL) {
    return;
  } else if (allocated && (ch->page[pg] & LM_PM_LARGE)) {
    memset(&w->cur->cell[pg], LM_HM_LIVE, n);
    w->m->live_bytes += (size_t)n << LM_PAGE_SHIFT;
  } else {
    /* Free, or taken out of the buddy by a purge pass in progress (not
     * large, no slab): either way nothing lives there. */
    for (uint32_t i = pg; i < pg + n; i++) w->cur->cell[i] = free_state(ch, i);
  }
}

static void on_chunk(const struct lm_arena *a, const struct lm_chunk *ch, void *arg) {
  struct walk *w = arg;
  if (w->u->narenas == 0 || a->idx != w->last_arena) w->u->narenas++;
  w->last_arena = a->idx;
  w->cur = NULL;
  struct lm_heapmap *m = w->m;
  if (m != NULL && m->nchunks < m->cap) {
    w->cur = &m->chunk[m->nchunks++];
    w->cur->base = ch->base;
    w->cur->arena = a->idx;
  } else if (m != NULL) {
    m->truncated = true; /* no cells; its slabs still count in the usage */
  }
  lm_chunk_each_block(ch, on_block, w);
}

void lm_heapmap_usage(struct lm_hm_usage *u) {
  memset(u, 0, sizeof *u);
  struct walk w = {.u = u};
  lm_heap_each_chunk(on_chunk, &w);
}

static struct lm_heapmap *take(size_t cap) {
  size_t bytes = (sizeof(struct lm_heapmap) + cap * sizeof(struct lm_hm_chunk) + PAGE - 1) & ~(PAGE - 1);
  struct lm_heapmap *m = lm_os_map(bytes, PAGE); /* zeroed */
  if (m == NULL) return NULL;
  m->cap = cap;
  m->map_bytes = bytes;
  struct walk w = {.m = m, .u = &m->usage};
  lm_heap_each_chunk(on_chunk, &w);
  for (size_t c = 0; c < m->nchunks; c++)
    for (uint32_t p = 0; p < LM_CHUNK_PAGES; p++) m->cells[m->chunk[c].cell[p]]++;
  lm_lock(&lm_heap.huge_lock);
  m->huge_live = lm_heap.huge_live_bytes;
  m->huge_cached = lm_heap.huge_cached_bytes;
  lm_unlock(&lm_heap.huge_lock);
  m->cells[LM_HM_META] = lm_meta_resident() / PAGE; /* as lm_stats' metadata: resident pages */
  struct lm_thsum t;
  lm_th_summary(&t, &m->tcache_bytes);
  return m;
}

struct lm_heapmap *lm_heapmap_take(void) {
  if (!lm_heap_ready()) lm_heap_init();
  for (int attempt = 0; attempt < 4; attempt++) {
    lm_lock(&lm_heap.meta_lock);
    size_t n = lm_heap.chunk_bytes / LM_CHUNK_SIZE;
    lm_unlock(&lm_heap.meta_lock);
    struct lm_heapmap *m = take(n + 8 + (n << attempt)); /* room for chunks mapped meanwhile */
    if (m == NULL || !m->truncated || attempt == 3) return m;
    lm_heapmap_release(m);
  }
  return NULL;
}

void lm_heapmap_release(struct lm_heapmap *m) {
  if (m) lm_os_unmap(m, m->map_bytes);
}

/* ------------------------------------------------------------------ */
/* The text format, formatted by hand into a buffer                    */

struct out {
  int fd;
  int err;
  size_t n;
  char buf[4096];
};

static void out_flush(struct out *o) {
  size_t at = 0;
  while (at < o->n && !o->err) {
    ssize_t k = write(o->fd, o->buf + at, o->n - at);
    if (k < 0 && errno == EINTR) continue;
    if (k <= 0) o->err = 1;
    else at += (size_t)k;
  }
  o->n = 0;
}

static void out_bytes(struct out *o, const char *s, size_t n) {
  while (n > 0) {
    if (o->n == sizeof o->buf) out_flush(o);
    size_t k = sizeof o->buf - o->n < n ? sizeof o->buf - o->n : n;
    memcpy(o->buf + o->n, s, k);
    o->n += k;
    s += k;
    n -= k;
  }
}

static void out_str(struct out *o, const char *s) { out_bytes(o, s, strlen(s)); }

static void out_u64(struct out *o, uint64_t v) {
  char t[24];
  struct lm_sb b = {t, 0, sizeof t, false};
  lm_sb_u64(&b, v);
  out_bytes(o, t, b.n);
}

static void out_hex(struct out *o, uint64_t v) {
  char t[20];
  int n = 0;
  do t[n++] = "0123456789abcdef"[v & 15]; while ((v >>= 4) != 0);
  out_str(o, "0x");
  while (n > 0) out_bytes(o, &t[--n], 1);
}

/* "key value\n" */
static void out_kv(struct out *o, const char *key, uint64_t v) {
  out_str(o, key);
  out_str(o, " ");
  out_u64(o, v);
  out_str(o, "\n");
}

static const char state_letter[LM_HM_NSTATES] = {'l', 'p', 'd', 'r', 'm'};

static void write_totals(struct out *o, const struct lm_heapmap *m) {
  out_kv(o, "lemmalloc-heapmap", HM_VERSION);
  out_kv(o, "pid", (uint64_t)getpid());
  out_kv(o, "page_size", PAGE);
  out_kv(o, "chunk_pages", LM_CHUNK_PAGES);
  out_kv(o, "chunks", m->nchunks);
  out_kv(o, "truncated", m->truncated);
  out_kv(o, "arenas", m->usage.narenas);
  out_str(o, "cells");
  for (int s = 0; s < LM_HM_NSTATES; s++) {
    char k[4] = {' ', state_letter[s], ':', '\0'};
    out_str(o, k);
    out_u64(o, m->cells[s]);
  }
  out_str(o, "\n");
  out_kv(o, "live_bytes", m->live_bytes);
  out_kv(o, "partly_free_bytes", m->partly_free_bytes);
  out_kv(o, "huge_live", m->huge_live);
  out_kv(o, "huge_cached", m->huge_cached);
  out_kv(o, "tcache_bytes", m->tcache_bytes);
  out_kv(o, "slab_bytes", m->usage.slab_bytes);
  out_kv(o, "map_bytes", m->map_bytes);
}

int lm_heapmap_write_fd(const struct lm_heapmap *m, int fd) {
  struct out o = {.fd = fd};
  write_totals(&o, m);
  for (uint32_t c = 0; c < LM_NUM_CLASSES; c++) { /* "class SIZE SLABS SLOTS USED" */
    if (m->usage.nslabs[c] == 0) continue;
    out_str(&o, "class ");
    out_u64(&o, lm_class_size_table[c]);
    const uint64_t v[3] = {m->usage.nslabs[c], m->usage.slots[c], m->usage.used[c]};
    for (int i = 0; i < 3; i++) {
      out_str(&o, " ");
      out_u64(&o, v[i]);
    }
    out_str(&o, "\n");
  }
  for (size_t i = 0; i < m->nchunks; i++) { /* "chunk ARENA BASE CELLS" */
    const struct lm_hm_chunk *ch = &m->chunk[i];
    char cells[LM_CHUNK_PAGES];
    for (uint32_t p = 0; p < LM_CHUNK_PAGES; p++) cells[p] = state_letter[ch->cell[p]];
    out_str(&o, "chunk ");
    out_u64(&o, ch->arena);
    out_str(&o, " ");
    out_hex(&o, ch->base);
    out_str(&o, " ");
    out_bytes(&o, cells, sizeof cells);
    out_str(&o, "\n");
  }
  out_str(&o, "end\n"); /* a reader tells a whole file from a cut one */
  out_flush(&o);
  return o.err ? -1 : 0;
}

/* ------------------------------------------------------------------ */
/* A file, replaced atomically                                          */

int lm_heapmap_write(const char *path) {
  if (!lm_heap_ready()) lm_heap_init();
  /* The caller's own cached slots are free: hand them back so they show so. */
  lm_th_flush_self();
  /* Written next to the target and renamed over it: a reader never sees
   * half a map. The name is unique to this call (pid and sequence). */
  static unsigned seq;
  char tmp[4096];
  size_t n = strlen(path);
  struct lm_sb b = {tmp, 0, sizeof tmp, false};
  lm_sb_str(&b, path);
  lm_sb_str(&b, ".tmp");
  lm_sb_u64(&b, (uint64_t)getpid());
  lm_sb_str(&b, ".");
  lm_sb_u64(&b, __atomic_fetch_add(&seq, 1, __ATOMIC_RELAXED));
  if (b.full || n == 0) {
    errno = n == 0 ? ENOENT : ENAMETOOLONG;
    return -1;
  }
  struct lm_heapmap *m = lm_heapmap_take();
  if (m == NULL) {
    errno = ENOMEM;
    return -1;
  }
  int r = -1, fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd >= 0) {
    r = lm_heapmap_write_fd(m, fd);
    if (close(fd) != 0) r = -1;
    if (r == 0 && rename(tmp, path) != 0) r = -1;
    if (r != 0) {
      int e = errno;
      unlink(tmp);
      errno = e ? e : EIO;
    }
  }
  int e = errno;
  lm_heapmap_release(m);
  errno = e;
  return r;
}
