/* The heap map: snapshot under the arena locks, then PNG or HTML written
 * with no lock held. See heapmap.h for what each cell state means.
 *
 * Nothing here allocates through malloc: the snapshot and the PNG canvas
 * are mappings (lm_os_map), text is formatted by hand into stack buffers
 * (stdio may allocate), files are written with open/write/rename. */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h> /* rename only: no stream is used */
#include <string.h>
#include <unistd.h>
#include "heapmap.h"
#include "thread.h"

#define PAGE ((size_t)LM_PAGE_SIZE)

static size_t page_round(size_t n) { return (n + PAGE - 1) & ~(PAGE - 1); }

/* ------------------------------------------------------------------ */
/* Snapshot                                                            */

struct walk {
  struct lm_heapmap *m;
  struct lm_hm_chunk *cur;
  uint32_t last_arena;
};

static uint8_t free_state(const struct lm_chunk *ch, uint32_t pg) {
  return ch->dirty[pg / 64] >> (pg % 64) & 1 ? LM_HM_DIRTY : LM_HM_PURGED;
}

/* A slab's pages share its state: all live when every slot is allocated,
 * partly used when some are (the free slots keep the whole span from going
 * back), free when none is (an empty slab kept as the class's spare). */
static void slab_cells(struct walk *w, const struct lm_chunk *ch, uint32_t head, uint32_t npages,
                       const struct lm_slab *sl) {
  size_t sz = lm_class_bytes[sl->cls], used = lm_slab_live(sl), nslots = lm_slab_nslots(lm_slab_h(sl));
  w->m->live_bytes += used * sz;
  if (used == 0) {
    for (uint32_t p = head; p < head + npages; p++) w->cur->cell[p] = free_state(ch, p);
    return;
  }
  if (used < nslots) w->m->partly_free_bytes += (nslots - used) * sz;
  memset(&w->cur->cell[head], used < nslots ? LM_HM_PARTLY : LM_HM_LIVE, npages);
}

static void on_block(const struct lm_chunk *ch, uint32_t pg, uint32_t order, bool allocated,
                     const struct lm_slab *slab, void *arg) {
  struct walk *w = arg;
  uint32_t n = 1u << order;
  if (allocated && slab != NULL) {
    slab_cells(w, ch, pg, n, slab);
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
  struct lm_heapmap *m = w->m;
  if (m->nchunks == m->cap) {
    m->truncated = true;
    return;
  }
  if (m->nchunks == 0 || a->idx != w->last_arena) m->narenas++;
  w->last_arena = a->idx;
  w->cur = &m->chunk[m->nchunks++];
  w->cur->base = ch->base;
  w->cur->arena = a->idx;
  lm_chunk_each_block(ch, on_block, w);
}

static struct lm_heapmap *take(size_t cap) {
  size_t bytes = page_round(sizeof(struct lm_heapmap) + cap * sizeof(struct lm_hm_chunk));
  struct lm_heapmap *m = lm_os_map(bytes, PAGE); /* zeroed */
  if (m == NULL) return NULL;
  m->cap = cap;
  m->map_bytes = bytes;
  struct walk w = {.m = m};
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

struct usage_walk {
  struct lm_hm_usage *u;
  uint32_t last_arena;
};

static void usage_block(const struct lm_chunk *ch, uint32_t pg, uint32_t order, bool allocated,
                        const struct lm_slab *sl, void *arg) {
  (void)ch, (void)pg;
  struct lm_hm_usage *u = ((struct usage_walk *)arg)->u;
  if (!allocated || sl == NULL) return;
  u->slots[sl->cls] += lm_slab_nslots(lm_slab_h(sl));
  u->used[sl->cls] += lm_slab_live(sl);
  u->slab_bytes += (size_t)LM_PAGE_SIZE << order;
}

static void usage_chunk(const struct lm_arena *a, const struct lm_chunk *ch, void *arg) {
  struct usage_walk *w = arg;
  if (w->u->narenas == 0 || a->idx != w->last_arena) w->u->narenas++;
  w->last_arena = a->idx;
  lm_chunk_each_block(ch, usage_block, w);
}

void lm_heapmap_usage(struct lm_hm_usage *u) {
  memset(u, 0, sizeof *u);
  struct usage_walk w = {.u = u};
  lm_heap_each_chunk(usage_chunk, &w);
}

/* ------------------------------------------------------------------ */
/* Text, formatted by hand                                             */

struct sb {
  char s[192];
  size_t n;
};

static void sb_str(struct sb *b, const char *s) {
  while (*s && b->n + 1 < sizeof b->s) b->s[b->n++] = *s++;
  b->s[b->n] = '\0';
}

static void sb_u64(struct sb *b, uint64_t v) {
  char t[24];
  int n = 0;
  do t[n++] = (char)('0' + v % 10); while ((v /= 10) != 0);
  while (n > 0 && b->n + 1 < sizeof b->s) b->s[b->n++] = t[--n];
  b->s[b->n] = '\0';
}

static void sb_hex(struct sb *b, uint64_t v) {
  char t[20];
  int n = 0;
  do t[n++] = "0123456789abcdef"[v & 15]; while ((v >>= 4) != 0);
  sb_str(b, "0x");
  while (n > 0 && b->n + 1 < sizeof b->s) b->s[b->n++] = t[--n];
  b->s[b->n] = '\0';
}

/* x / unit with one decimal, rounded. */
static void sb_dec1(struct sb *b, uint64_t x, uint64_t unit) {
  uint64_t tenths = (x * 10 + unit / 2) / unit;
  sb_u64(b, tenths / 10);
  sb_str(b, ".");
  sb_u64(b, tenths % 10);
}

static void sb_bytes(struct sb *b, uint64_t x) {
  if (x < ((uint64_t)1 << 20)) {
    sb_dec1(b, x, 1024);
    sb_str(b, " KiB");
  } else {
    sb_dec1(b, x, (uint64_t)1 << 20);
    sb_str(b, " MiB");
  }
}

static void sb_pct(struct sb *b, uint64_t num, uint64_t den) {
  if (den == 0) {
    sb_str(b, "-");
    return;
  }
  sb_dec1(b, num * 100, den);
  sb_str(b, "%");
}

static const char *const state_name[LM_HM_NSTATES] = {
  "live", "partly used slab", "free, resident (dirty)", "free, returned to the kernel", "metadata",
};
static const char *const state_short[LM_HM_NSTATES] = {"live", "partly", "dirty", "purged", "meta"};
static const char state_letter[LM_HM_NSTATES] = {'l', 'p', 'd', 'r', 'm'};
static const uint8_t state_rgb[LM_HM_NSTATES][3] = {
  {38, 86, 184},   /* live: blue */
  {120, 190, 230}, /* partly: light blue */
  {242, 142, 43},  /* dirty: orange, the memory a trim would give back */
  {222, 222, 222}, /* purged: light grey */
  {140, 95, 176},  /* metadata: purple */
};

/* Legend line for state s: "<name>: N pages (x MiB)". */
static void legend_line(const struct lm_heapmap *m, int s, struct sb *b) {
  b->n = 0;
  sb_str(b, state_name[s]);
  sb_str(b, ": ");
  sb_u64(b, m->cells[s]);
  sb_str(b, " pages (");
  sb_bytes(b, (uint64_t)m->cells[s] * PAGE);
  sb_str(b, ")");
}

static size_t chunk_resident_pages(const struct lm_heapmap *m) {
  return m->cells[LM_HM_LIVE] + m->cells[LM_HM_PARTLY] + m->cells[LM_HM_DIRTY];
}

#define NSUMMARY 5
/* Totals and fragmentation figures, one line each. */
static void summary_line(const struct lm_heapmap *m, int i, struct sb *b) {
  size_t res = chunk_resident_pages(m) * PAGE;
  b->n = 0;
  switch (i) {
  case 0:
    sb_u64(b, m->nchunks);
    sb_str(b, m->nchunks == 1 ? " chunk (" : " chunks (");
    sb_bytes(b, (uint64_t)m->nchunks * LM_CHUNK_SIZE);
    sb_str(b, ") in ");
    sb_u64(b, m->narenas);
    sb_str(b, m->narenas == 1 ? " arena" : " arenas");
    if (m->truncated) sb_str(b, ", more not drawn");
    break;
  case 1:
    sb_str(b, "live ");
    sb_bytes(b, m->live_bytes);
    sb_str(b, " / resident in chunks ");
    sb_bytes(b, res);
    sb_str(b, " = ");
    sb_pct(b, m->live_bytes, res);
    break;
  case 2:
    sb_str(b, "pages of partly used slabs: ");
    sb_u64(b, m->cells[LM_HM_PARTLY]);
    sb_str(b, ", free slots in them ");
    sb_bytes(b, m->partly_free_bytes);
    sb_str(b, "; free resident pages: ");
    sb_u64(b, m->cells[LM_HM_DIRTY]);
    break;
  case 3:
    sb_str(b, "huge mappings (not drawn): ");
    sb_bytes(b, m->huge_live);
    sb_str(b, " live, ");
    sb_bytes(b, m->huge_cached);
    sb_str(b, " cached");
    break;
  case 4:
    sb_str(b, "free slots in other threads' caches (drawn live): ");
    sb_bytes(b, m->tcache_bytes);
    break;
  }
}

/* ------------------------------------------------------------------ */
/* Output                                                              */

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

static void out_bytes(struct out *o, const void *p, size_t n) {
  const char *s = p;
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

/* ------------------------------------------------------------------ */
/* Layout, shared by the PNG and the HTML canvas                       */

#define CELL 4            /* pixels per cell: 3 coloured + 1 gap */
#define GRID_COLS 64      /* a chunk is drawn as 64 x 16 cells */
#define GRID_ROWS (LM_CHUNK_PAGES / GRID_COLS)
#define CHUNK_W (GRID_COLS * CELL)
#define CHUNK_H (GRID_ROWS * CELL)
#define MARGIN 8
#define PER_ROW 4         /* chunks side by side */
#define LINE 14           /* text line height (glyphs 6 x 10) */
#define LABEL_H 14
#define IMG_W (MARGIN + PER_ROW * (CHUNK_W + MARGIN))
#define META_COLS (PER_ROW * CHUNK_W / CELL)

static uint32_t header_h(void) { return MARGIN + LINE * (1 + LM_HM_NSTATES + NSUMMARY) + MARGIN; }

static uint32_t chunk_x(size_t i) { return MARGIN + (uint32_t)(i % PER_ROW) * (CHUNK_W + MARGIN); }
static uint32_t chunk_y(size_t i) { return header_h() + (uint32_t)(i / PER_ROW) * (LABEL_H + CHUNK_H + MARGIN) + LABEL_H; }

static uint32_t meta_y(const struct lm_heapmap *m) {
  return header_h() + (uint32_t)((m->nchunks + PER_ROW - 1) / PER_ROW) * (LABEL_H + CHUNK_H + MARGIN) + LABEL_H;
}

/* Metadata cells are capped so a huge table cannot make a huge picture. */
#define META_MAX_CELLS ((size_t)META_COLS * 64)
static size_t meta_drawn(const struct lm_heapmap *m) {
  return m->cells[LM_HM_META] < META_MAX_CELLS ? m->cells[LM_HM_META] : META_MAX_CELLS;
}

static uint32_t image_h(const struct lm_heapmap *m) {
  return meta_y(m) + (uint32_t)((meta_drawn(m) + META_COLS - 1) / META_COLS) * CELL + MARGIN;
}

/* ------------------------------------------------------------------ */
/* PNG: 8-bit palette image, zlib stream of stored (uncompressed)      */
/* deflate blocks, one IDAT chunk per block.                           */

enum { PX_BG = LM_HM_NSTATES, PX_TEXT, PX_NCOLORS };

struct canvas {
  uint8_t *px;
  uint32_t w, h;
};

static void fill(struct canvas *c, uint32_t x, uint32_t y, uint32_t w, uint32_t h, uint8_t v) {
  for (uint32_t j = y; j < y + h && j < c->h; j++)
    for (uint32_t i = x; i < x + w && i < c->w; i++) c->px[(size_t)j * c->w + i] = v;
}

/* A 3x5 font: the glyphs needed for the legend and totals, upper case
 * (lower case letters are drawn as upper case). Row 0 is bits 14..12. */
static const char font_chars[] = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ.,:%/()-+=;'";
static const uint16_t font_bits[] = {
  075557, 026227, 071747, 071717, 055711, 074717, 074757, 071122, 075757, 075717, /* 0-9 */
  025755, 065656, 034443, 065556, 074647, 074644, 034553, 055755, 072227, 011152, /* A-J */
  055655, 044447, 057755, 065555, 025552, 065644, 025563, 065655, 034216, 072222, /* K-T */
  055557, 055552, 055775, 055255, 055222, 071247,                                 /* U-Z */
  000002, 000024, 002020, 051245, 011244, 024442, 021112, 000700, 002720, 007070, 002024, 022000,
};
_Static_assert(sizeof font_bits / sizeof font_bits[0] == sizeof font_chars - 1, "one glyph per character");

static void draw_text(struct canvas *c, uint32_t x, uint32_t y, const char *s) {
  for (; *s; s++, x += 8) {
    char ch = *s >= 'a' && *s <= 'z' ? (char)(*s - 'a' + 'A') : *s;
    const char *f = ch == ' ' ? NULL : strchr(font_chars, ch);
    if (f == NULL) continue;
    uint16_t g = font_bits[f - font_chars];
    for (int r = 0; r < 5; r++)
      for (int k = 0; k < 3; k++)
        if (g >> (14 - 3 * r - k) & 1) fill(c, x + 2 * (uint32_t)k, y + 2 * (uint32_t)r, 2, 2, PX_TEXT);
  }
}

static void draw_cells(struct canvas *c, uint32_t x0, uint32_t y0, uint32_t cols, const uint8_t *cells, size_t n) {
  for (size_t i = 0; i < n; i++)
    fill(c, x0 + (uint32_t)(i % cols) * CELL, y0 + (uint32_t)(i / cols) * CELL, CELL - 1, CELL - 1, cells[i]);
}

static void draw(struct canvas *c, const struct lm_heapmap *m) {
  struct sb b;
  memset(c->px, PX_BG, (size_t)c->w * c->h);
  uint32_t y = MARGIN;
  draw_text(c, MARGIN, y, "lemmalloc heap map: one cell per 4 KiB page");
  for (int s = 0; s < LM_HM_NSTATES; s++) {
    y += LINE;
    fill(c, MARGIN, y, 10, 10, (uint8_t)s);
    legend_line(m, s, &b);
    draw_text(c, MARGIN + 16, y, b.s);
  }
  for (int i = 0; i < NSUMMARY; i++) {
    y += LINE;
    summary_line(m, i, &b);
    draw_text(c, MARGIN, y, b.s);
  }
  for (size_t i = 0; i < m->nchunks; i++) {
    const struct lm_hm_chunk *ch = &m->chunk[i];
    uint32_t x = chunk_x(i), cy = chunk_y(i);
    b.n = 0;
    sb_str(&b, "A");
    sb_u64(&b, ch->arena);
    sb_str(&b, " ");
    sb_hex(&b, ch->base);
    draw_text(c, x, cy - LABEL_H + 1, b.s);
    draw_cells(c, x, cy, GRID_COLS, ch->cell, LM_CHUNK_PAGES);
  }
  uint32_t my = meta_y(m);
  b.n = 0;
  sb_str(&b, "metadata: ");
  sb_u64(&b, m->cells[LM_HM_META]);
  sb_str(&b, " pages");
  draw_text(c, MARGIN, my - LABEL_H + 1, b.s);
  for (size_t i = 0; i < meta_drawn(m); i++)
    fill(c, MARGIN + (uint32_t)(i % META_COLS) * CELL, my + (uint32_t)(i / META_COLS) * CELL, CELL - 1, CELL - 1,
         LM_HM_META);
}

struct png {
  struct out *o;
  uint32_t crc_table[256];
  uint32_t crc;
  uint32_t a1, a2;        /* Adler-32 of the raw scanlines */
  uint8_t *blk;           /* current stored block's data */
  size_t nblk;
  bool first;
};

#define BLOCK_MAX 65535u

static void put_be32(uint8_t *p, uint32_t v) {
  p[0] = (uint8_t)(v >> 24), p[1] = (uint8_t)(v >> 16), p[2] = (uint8_t)(v >> 8), p[3] = (uint8_t)v;
}

static void crc_init(struct png *z) {
  for (uint32_t n = 0; n < 256; n++) {
    uint32_t c = n;
    for (int k = 0; k < 8; k++) c = c & 1 ? 0xedb88320u ^ (c >> 1) : c >> 1;
    z->crc_table[n] = c;
  }
}

static void chunk_data(struct png *z, const void *p, size_t n) {
  const uint8_t *s = p;
  for (size_t i = 0; i < n; i++) z->crc = z->crc_table[(z->crc ^ s[i]) & 0xff] ^ (z->crc >> 8);
  out_bytes(z->o, p, n);
}

static void chunk_begin(struct png *z, const char *type, uint32_t len) {
  uint8_t l[4];
  put_be32(l, len);
  out_bytes(z->o, l, 4);
  z->crc = 0xffffffffu;
  chunk_data(z, type, 4);
}

static void chunk_end(struct png *z) {
  uint8_t c[4];
  put_be32(c, z->crc ^ 0xffffffffu);
  out_bytes(z->o, c, 4);
}

/* Emit the buffered bytes as one stored block in its own IDAT chunk; the
 * first carries the zlib header, the final one the Adler-32. */
static void emit_block(struct png *z, bool final) {
  uint8_t hdr[7], *h = hdr, adler[4];
  size_t hn = 5;
  if (z->first) { /* CMF: deflate, 32 KiB window; FLG: no dict, check bits */
    *h++ = 0x78, *h++ = 0x01;
    hn += 2;
    z->first = false;
  }
  uint16_t len = (uint16_t)z->nblk, nlen = (uint16_t)~len;
  h[0] = final ? 1 : 0; /* BFINAL, BTYPE 00 = stored */
  h[1] = (uint8_t)len, h[2] = (uint8_t)(len >> 8);
  h[3] = (uint8_t)nlen, h[4] = (uint8_t)(nlen >> 8);
  put_be32(adler, z->a2 << 16 | z->a1);
  chunk_begin(z, "IDAT", (uint32_t)(hn + z->nblk + (final ? 4 : 0)));
  chunk_data(z, hdr, hn);
  chunk_data(z, z->blk, z->nblk);
  if (final) chunk_data(z, adler, 4);
  chunk_end(z);
  z->nblk = 0;
}

static void deflate_bytes(struct png *z, const uint8_t *p, size_t n) {
  for (size_t i = 0; i < n; i++) {
    z->a1 = (z->a1 + p[i]) % 65521u;
    z->a2 = (z->a2 + z->a1) % 65521u;
    z->blk[z->nblk++] = p[i];
    if (z->nblk == BLOCK_MAX) emit_block(z, false);
  }
}

int lm_heapmap_write_png(const struct lm_heapmap *m, int fd) {
  struct canvas c = {.w = IMG_W, .h = image_h(m)};
  size_t bytes = page_round((size_t)c.w * c.h + BLOCK_MAX);
  uint8_t *mem = lm_os_map(bytes, PAGE);
  if (mem == NULL) return -1;
  c.px = mem;
  draw(&c, m);

  struct out o = {.fd = fd};
  struct png z = {.o = &o, .a1 = 1, .blk = mem + (size_t)c.w * c.h, .first = true};
  crc_init(&z);
  out_bytes(&o, "\x89PNG\r\n\x1a\n", 8);
  uint8_t ihdr[13] = {0};
  put_be32(ihdr, c.w);
  put_be32(ihdr + 4, c.h);
  ihdr[8] = 8; /* bit depth */
  ihdr[9] = 3; /* palette */
  chunk_begin(&z, "IHDR", 13);
  chunk_data(&z, ihdr, 13);
  chunk_end(&z);
  uint8_t plte[PX_NCOLORS * 3];
  memcpy(plte, state_rgb, sizeof state_rgb);
  memcpy(plte + PX_BG * 3, "\xff\xff\xff" "\x20\x20\x20", 6);
  chunk_begin(&z, "PLTE", sizeof plte);
  chunk_data(&z, plte, sizeof plte);
  chunk_end(&z);
  for (uint32_t y = 0; y < c.h; y++) {
    static const uint8_t filter_none = 0;
    deflate_bytes(&z, &filter_none, 1);
    deflate_bytes(&z, c.px + (size_t)y * c.w, c.w);
  }
  emit_block(&z, true);
  chunk_begin(&z, "IEND", 0);
  chunk_end(&z);
  out_flush(&o);
  lm_os_unmap(mem, bytes);
  return o.err ? -1 : 0;
}

/* ------------------------------------------------------------------ */
/* HTML: the same picture drawn by a script from one string per chunk  */
/* (a letter per page), with a tooltip naming the page under the mouse. */

static void out_line(struct out *o, const char *pre, const struct sb *b, const char *post) {
  out_str(o, pre);
  out_str(o, b->s); /* only digits, letters and ",.:;%()/'- ": nothing to escape */
  out_str(o, post);
}

static void out_num(struct out *o, uint64_t v) {
  struct sb b = {.n = 0};
  sb_u64(&b, v);
  out_str(o, b.s);
}

int lm_heapmap_write_html(const struct lm_heapmap *m, int fd) {
  struct out o = {.fd = fd};
  struct sb b;
  out_str(&o, "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>lemmalloc heap map</title>\n"
              "<style>body{font:14px sans-serif;margin:16px}td{padding:1px 8px}"
              ".sw{display:inline-block;width:12px;height:12px;vertical-align:middle}"
              "#tip{position:fixed;background:#fff;border:1px solid #999;padding:2px 6px;display:none}"
              "</style></head><body>\n<h1>lemmalloc heap map</h1>\n<p>One cell per 4 KiB page; "
              "each block of 64 &times; 16 cells is one 4 MiB chunk.</p>\n<table id=\"legend\">\n");
  for (int s = 0; s < LM_HM_NSTATES; s++) {
    out_str(&o, "<tr><td><span class=\"sw\" style=\"background:rgb(");
    for (int k = 0; k < 3; k++) {
      out_num(&o, state_rgb[s][k]);
      out_str(&o, k < 2 ? "," : ")\"></span></td><td data-state=\"");
    }
    out_bytes(&o, &state_letter[s], 1);
    out_str(&o, "\" data-cells=\"");
    out_num(&o, m->cells[s]);
    legend_line(m, s, &b);
    out_line(&o, "\">", &b, "</td></tr>\n");
  }
  out_str(&o, "</table>\n<ul id=\"totals\">\n");
  for (int i = 0; i < NSUMMARY; i++) {
    summary_line(m, i, &b);
    out_line(&o, "<li>", &b, "</li>\n");
  }
  out_str(&o, "</ul>\n<canvas id=\"map\"></canvas><div id=\"tip\"></div>\n<script>\n"
              "const COLORS=[");
  for (int s = 0; s < LM_HM_NSTATES; s++) {
    out_str(&o, "'rgb(");
    for (int k = 0; k < 3; k++) {
      out_num(&o, state_rgb[s][k]);
      out_str(&o, k < 2 ? "," : ")',");
    }
  }
  out_str(&o, "];\nconst NAMES=[");
  for (int s = 0; s < LM_HM_NSTATES; s++) {
    out_str(&o, "'");
    out_str(&o, state_name[s]);
    out_str(&o, "',");
  }
  out_str(&o, "];\nconst LETTERS='");
  out_bytes(&o, state_letter, LM_HM_NSTATES);
  out_str(&o, "';\nconst META=");
  out_num(&o, meta_drawn(m));
  out_str(&o, ";\nconst CHUNKS=[\n");
  for (size_t i = 0; i < m->nchunks; i++) {
    const struct lm_hm_chunk *ch = &m->chunk[i];
    char cells[LM_CHUNK_PAGES];
    for (uint32_t p = 0; p < LM_CHUNK_PAGES; p++) cells[p] = state_letter[ch->cell[p]];
    b.n = 0;
    sb_str(&b, "[");
    sb_u64(&b, ch->arena);
    sb_str(&b, ",'");
    sb_hex(&b, ch->base);
    sb_str(&b, "','");
    out_str(&o, b.s);
    out_bytes(&o, cells, sizeof cells);
    out_str(&o, "'],\n");
  }
  /* Same geometry as the PNG: CELL px per cell, 64 x 16 cells per chunk. */
  out_str(&o,
          "];\n"
          "const CELL=4,COLS=64,ROWS=16,PER=4,M=8,LAB=14,CW=COLS*CELL,CH=ROWS*CELL,MCOLS=PER*COLS;\n"
          "const cv=document.getElementById('map'),tip=document.getElementById('tip');\n"
          "const crow=Math.ceil(CHUNKS.length/PER),my=crow*(LAB+CH+M)+LAB;\n"
          "cv.width=M+PER*(CW+M);cv.height=my+Math.ceil(META/MCOLS)*CELL+M;\n"
          "const g=cv.getContext('2d');g.font='11px monospace';\n"
          "function pos(i){return [M+(i%PER)*(CW+M),Math.floor(i/PER)*(LAB+CH+M)+LAB];}\n"
          "CHUNKS.forEach((c,i)=>{const [x,y]=pos(i);g.fillStyle='#222';"
          "g.fillText('arena '+c[0]+'  '+c[1],x,y-3);"
          "for(let p=0;p<c[2].length;p++){g.fillStyle=COLORS[LETTERS.indexOf(c[2][p])];"
          "g.fillRect(x+(p%COLS)*CELL,y+Math.floor(p/COLS)*CELL,CELL-1,CELL-1);}});\n"
          "g.fillStyle='#222';g.fillText('metadata',M,my-3);g.fillStyle=COLORS[4];\n"
          "for(let p=0;p<META;p++)g.fillRect(M+(p%MCOLS)*CELL,my+Math.floor(p/MCOLS)*CELL,CELL-1,CELL-1);\n"
          "cv.addEventListener('mousemove',e=>{const r=cv.getBoundingClientRect(),"
          "x=e.clientX-r.left,y=e.clientY-r.top;let t='';\n"
          " CHUNKS.forEach((c,i)=>{const [cx,cy]=pos(i),col=Math.floor((x-cx)/CELL),row=Math.floor((y-cy)/CELL);\n"
          "  if(col>=0&&col<COLS&&row>=0&&row<ROWS){const p=row*COLS+col;"
          "t='arena '+c[0]+', page '+p+' at 0x'+(BigInt(c[1])+BigInt(p*4096)).toString(16)+': '+"
          "NAMES[LETTERS.indexOf(c[2][p])];}});\n"
          " tip.style.display=t?'block':'none';tip.textContent=t;"
          "tip.style.left=(e.clientX+12)+'px';tip.style.top=(e.clientY+12)+'px';});\n"
          "</script>\n</body></html>\n");
  out_flush(&o);
  return o.err ? -1 : 0;
}

/* ------------------------------------------------------------------ */
/* Text: legend, totals and one line per chunk, for terminals and logs  */

int lm_heapmap_write_text(const struct lm_heapmap *m, int fd) {
  struct out o = {.fd = fd};
  struct sb b;
  out_str(&o, "lemmalloc heap map: one cell per 4 KiB page\n");
  for (int s = 0; s < LM_HM_NSTATES; s++) {
    legend_line(m, s, &b);
    out_line(&o, "  ", &b, "\n");
  }
  for (int i = 0; i < NSUMMARY; i++) {
    summary_line(m, i, &b);
    out_line(&o, "", &b, "\n");
  }
  for (size_t i = 0; i < m->nchunks; i++) {
    const struct lm_hm_chunk *ch = &m->chunk[i];
    uint32_t count[LM_HM_NSTATES] = {0};
    for (uint32_t p = 0; p < LM_CHUNK_PAGES; p++) count[ch->cell[p]]++;
    b.n = 0;
    sb_str(&b, "chunk arena ");
    sb_u64(&b, ch->arena);
    sb_str(&b, " ");
    sb_hex(&b, ch->base);
    for (int s = 0; s < LM_HM_META; s++) {
      sb_str(&b, s ? ", " : ": ");
      sb_u64(&b, count[s]);
      sb_str(&b, " ");
      sb_str(&b, state_short[s]);
    }
    out_line(&o, "", &b, "\n");
  }
  out_flush(&o);
  return o.err ? -1 : 0;
}

/* ------------------------------------------------------------------ */
/* Writing a file; configuration; the signal                           */

static bool ends_with(const char *s, const char *suffix) {
  size_t n = strlen(s), k = strlen(suffix);
  return n >= k && strcmp(s + n - k, suffix) == 0;
}

int lm_heapmap_write(const char *path) {
  if (!lm_heap_ready()) lm_heap_init();
  /* The caller's own cached slots are free: hand them back so they show so. */
  lm_th_flush_self();
  /* Written next to the target and renamed over it: a reader never sees
   * half a map. The name is unique to this call (pid and sequence). */
  static unsigned seq;
  char tmp[4096];
  struct sb suffix = {.n = 0};
  sb_str(&suffix, ".tmp");
  sb_u64(&suffix, (uint64_t)getpid());
  sb_str(&suffix, ".");
  sb_u64(&suffix, __atomic_fetch_add(&seq, 1, __ATOMIC_RELAXED));
  size_t n = strlen(path);
  if (n + suffix.n + 1 > sizeof tmp) {
    errno = ENAMETOOLONG;
    return -1;
  }
  memcpy(tmp, path, n);
  memcpy(tmp + n, suffix.s, suffix.n + 1);
  struct lm_heapmap *m = lm_heapmap_take();
  if (m == NULL) {
    errno = ENOMEM;
    return -1;
  }
  int r = -1, fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd >= 0) {
    r = ends_with(path, ".png")   ? lm_heapmap_write_png(m, fd)
        : ends_with(path, ".txt") ? lm_heapmap_write_text(m, fd)
                                  : lm_heapmap_write_html(m, fd);
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

/* LEMMALLOC_HEAPMAP as given; "" if unset. */
static char hm_tmpl[1024];
static unsigned hm_seq; /* maps written from the configuration so far */
volatile int lm_heapmap_pending;

static void on_signal(int sig) {
  (void)sig;
  __atomic_store_n(&lm_heapmap_pending, 1, __ATOMIC_RELAXED); /* all a handler may safely do here */
}

/* "USR1", "SIGUSR1", "10": a signal no default action of which is missed
 * (we take it over). 0 if not one of those. */
static int signal_number(const char *s) {
  static const struct { const char *name; int sig; } names[] = {
    {"USR1", SIGUSR1}, {"USR2", SIGUSR2}, {"HUP", SIGHUP}, {"WINCH", SIGWINCH},
  };
  if (strncmp(s, "SIG", 3) == 0) s += 3;
  for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
    if (strcmp(s, names[i].name) == 0) return names[i].sig;
  int v = 0;
  for (; *s >= '0' && *s <= '9' && v < 1000; s++) v = v * 10 + (*s - '0');
  return *s == '\0' && v > 0 && v < 65 && v != SIGKILL && v != SIGSTOP && v != SIGSEGV && v != SIGBUS ? v : 0;
}

static void say(const char *a, const char *b) {
  struct sb m = {.n = 0};
  sb_str(&m, "lemmalloc: ");
  sb_str(&m, a);
  sb_str(&m, b);
  sb_str(&m, "\n");
  lm_os_write_err(m.s, m.n);
}

static void heapmap_init(void) {
  const char *p = lm_os_getenv("LEMMALLOC_HEAPMAP");
  if (p != NULL && strlen(p) < sizeof hm_tmpl) memcpy(hm_tmpl, p, strlen(p) + 1);
  else if (p != NULL) say("LEMMALLOC_HEAPMAP: path too long", "");
  const char *s = lm_os_getenv("LEMMALLOC_HEAPMAP_SIGNAL");
  if (s == NULL || *s == '\0') return;
  int sig = signal_number(s);
  if (sig == 0) return say("LEMMALLOC_HEAPMAP_SIGNAL: not a signal lemmalloc may take: ", s);
  if (hm_tmpl[0] == '\0') return say("LEMMALLOC_HEAPMAP_SIGNAL needs LEMMALLOC_HEAPMAP=FILE", "");
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_signal;
  sa.sa_flags = SA_RESTART;
  sigemptyset(&sa.sa_mask);
  sigaction(sig, &sa, NULL);
}

/* The template with "%p" replaced by the pid (now: a forked child gets its
 * own) and "%n" by the number of maps this process wrote before (0, 1, ...),
 * so that a series of signals keeps every map. */
static void write_configured(void) {
  int saved = errno;
  struct sb pid = {.n = 0}, seq = {.n = 0};
  sb_u64(&pid, (uint64_t)getpid());
  sb_u64(&seq, __atomic_fetch_add(&hm_seq, 1, __ATOMIC_RELAXED));
  char path[sizeof hm_tmpl + 64];
  size_t n = 0;
  for (const char *t = hm_tmpl; *t && n + sizeof pid.s < sizeof path; t++) {
    const struct sb *v = t[0] == '%' && t[1] == 'p' ? &pid : t[0] == '%' && t[1] == 'n' ? &seq : NULL;
    if (v) {
      memcpy(path + n, v->s, v->n);
      n += v->n;
      t++;
    } else {
      path[n++] = *t;
    }
  }
  path[n] = '\0';
  if (lm_heapmap_write(path) != 0) say("cannot write the heap map to ", path);
  errno = saved;
}

void lm_heapmap_poll(void) {
  if (__atomic_exchange_n(&lm_heapmap_pending, 0, __ATOMIC_ACQ_REL) && hm_tmpl[0] != '\0') write_configured();
}

/* Configuration is read by a constructor of its own and the exit map is
 * written by a destructor, so the heap needs only the poll in its tick. */
__attribute__((constructor)) static void heapmap_ctor(void) { heapmap_init(); }

__attribute__((destructor)) static void heapmap_dtor(void) {
  if (hm_tmpl[0] != '\0' && lm_heap_ready()) write_configured();
}
