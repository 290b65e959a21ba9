/* Byte <-> operation codec shared by the fuzz drivers, the regression
 * replayer, the oracle and the library's tracing. See ops.h for the
 * contract.
 *
 * Wire format, one op after another:
 *
 *   header  1 byte: bits 0-4 pick the kind through kind_table (weighted so
 *           that malloc/free dominate), bits 5-7 are the value mode of the
 *           op's size (see get_value).
 *   then, by kind (every field optional: bytes past the end read as 0):
 *     malloc, realloc, valloc, pvalloc     slot, size
 *     calloc, reallocarray                 slot, nmemb (mode byte + value), size
 *     posix_memalign, aligned_alloc, memalign  slot, align, size
 *     free, usable_size, fill, check       slot
 *     trim                                 size (the pad argument)
 *     handoff, take                        slot, shared slot (mod LM_OPS_SHARED)
 *     thread                               thread (mod LM_OPS_MAX_THREADS)
 *     barrier                              -
 *   align   1 byte a: a < 0x80 gives 2^(a & 63); otherwise a's low 3 bits are
 *           a value mode and the value follows (0, 3, 24, SIZE_MAX, ...).
 *
 * Value modes favour the sizes allocators get wrong: class and page edges,
 * powers of two plus or minus a little, and values near SIZE_MAX that make
 * size arithmetic overflow. Mode 3 carries any 64-bit value, so every op is
 * encodable and decode(encode(ops)) == ops for canonical ops (fields a kind
 * does not use are zero, thread follows the THREAD ops) -- which is what
 * lm_ops_decode and lm_ops_generate produce.
 */
#include "ops.h"

#include <stdbool.h>
#include <stdio.h>
#include <string.h>

/* 32 entries: one per value of the header's low 5 bits. */
static const uint8_t kind_table[32] = {
  LM_OP_MALLOC, LM_OP_MALLOC, LM_OP_MALLOC, LM_OP_MALLOC, LM_OP_MALLOC,
  LM_OP_FREE, LM_OP_FREE, LM_OP_FREE, LM_OP_FREE, LM_OP_FREE,
  LM_OP_REALLOC, LM_OP_REALLOC, LM_OP_REALLOC,
  LM_OP_CALLOC, LM_OP_CALLOC,
  LM_OP_FILL, LM_OP_FILL,
  LM_OP_CHECK,
  LM_OP_REALLOCARRAY,
  LM_OP_POSIX_MEMALIGN, LM_OP_ALIGNED_ALLOC, LM_OP_MEMALIGN,
  LM_OP_VALLOC, LM_OP_PVALLOC,
  LM_OP_USABLE_SIZE, LM_OP_TRIM,
  LM_OP_HANDOFF, LM_OP_HANDOFF, LM_OP_TAKE, LM_OP_TAKE,
  LM_OP_THREAD, LM_OP_BARRIER,
};

/* Which fields each kind carries on the wire. */
enum { F_SLOT = 1, F_SIZE = 2, F_NMEMB = 4, F_ALIGN = 8, F_AUX = 16 };

static unsigned kind_fields(unsigned kind) {
  switch (kind) {
  case LM_OP_MALLOC: case LM_OP_REALLOC: case LM_OP_VALLOC: case LM_OP_PVALLOC:
    return F_SLOT | F_SIZE;
  case LM_OP_CALLOC: case LM_OP_REALLOCARRAY:
    return F_SLOT | F_NMEMB | F_SIZE;
  case LM_OP_POSIX_MEMALIGN: case LM_OP_ALIGNED_ALLOC: case LM_OP_MEMALIGN:
    return F_SLOT | F_ALIGN | F_SIZE;
  case LM_OP_FREE: case LM_OP_USABLE_SIZE: case LM_OP_FILL: case LM_OP_CHECK:
    return F_SLOT;
  case LM_OP_TRIM:
    return F_SIZE;
  case LM_OP_HANDOFF: case LM_OP_TAKE:
    return F_SLOT | F_AUX;
  case LM_OP_THREAD:
    return F_AUX;
  default: /* LM_OP_BARRIER */
    return 0;
  }
}

/* ---- decoding ---------------------------------------------------------- */

struct reader {
  const uint8_t *p, *end;
};

static uint8_t get8(struct reader *r) { return r->p < r->end ? *r->p++ : 0; }

static uint64_t get_le(struct reader *r, unsigned nbytes) {
  uint64_t v = 0;
  for (unsigned i = 0; i < nbytes; i++)
    v |= (uint64_t)get8(r) << (8 * i);
  return v;
}

/* Value modes. Keep in sync with put_value. */
enum {
  V_U8,        /* 1 byte */
  V_U16,       /* 2 bytes little-endian */
  V_U32,       /* 4 bytes */
  V_U64,       /* 8 bytes: any value */
  V_POW2,      /* 2^(b & 63) + (int8_t)d, wrapping */
  V_PAGES,     /* u16 * 4096 */
  V_NEAR_MAX,  /* SIZE_MAX - u8: overflow bait */
  V_QUANTA,    /* u8 * 16: small size-class edges */
};

static uint64_t get_value(struct reader *r, unsigned mode) {
  switch (mode & 7) {
  case V_U8: return get8(r);
  case V_U16: return get_le(r, 2);
  case V_U32: return get_le(r, 4);
  case V_U64: return get_le(r, 8);
  case V_POW2: {
    unsigned shift = get8(r) & 63;
    int8_t delta = (int8_t)get8(r);
    return ((uint64_t)1 << shift) + (uint64_t)(int64_t)delta;
  }
  case V_PAGES: return get_le(r, 2) << 12;
  case V_NEAR_MAX: return UINT64_MAX - get8(r);
  default: return (uint64_t)get8(r) << 4; /* V_QUANTA */
  }
}

static uint64_t get_align(struct reader *r) {
  uint8_t a = get8(r);
  if (a < 0x80)
    return (uint64_t)1 << (a & 63);
  return get_value(r, a & 7);
}

size_t lm_ops_decode(const uint8_t *data, size_t len, struct lm_op *out, size_t max) {
  struct reader r = {data, data + len};
  uint8_t thread = 0;
  size_t n = 0;
  while (n < max && r.p < r.end) {
    uint8_t h = get8(&r);
    struct lm_op op = {0};
    op.kind = kind_table[h & 31];
    unsigned f = kind_fields(op.kind);
    if (f & F_SLOT) op.slot = get8(&r);
    if (f & F_NMEMB) op.nmemb = (size_t)get_value(&r, get8(&r));
    if (f & F_ALIGN) op.align = (size_t)get_align(&r);
    if (f & F_SIZE) op.size = (size_t)get_value(&r, h >> 5);
    if (f & F_AUX) {
      uint8_t a = get8(&r);
      op.aux = op.kind == LM_OP_THREAD ? a % LM_OPS_MAX_THREADS : a % LM_OPS_SHARED;
    }
    if (op.kind == LM_OP_THREAD) thread = (uint8_t)op.aux;
    op.thread = thread;
    out[n++] = op;
  }
  return n;
}

/* ---- encoding ---------------------------------------------------------- */

struct writer {
  uint8_t *p, *end;
  bool overflow;
};

static void put8(struct writer *w, uint8_t b) {
  if (w->p < w->end) *w->p++ = b;
  else w->overflow = true;
}

static void put_le(struct writer *w, uint64_t v, unsigned nbytes) {
  for (unsigned i = 0; i < nbytes; i++)
    put8(w, (uint8_t)(v >> (8 * i)));
}

/* The shortest mode that reproduces v; its payload is written by put_payload. */
static unsigned value_mode(uint64_t v) {
  if (v < 256) return V_U8;
  if (v % 16 == 0 && v / 16 < 256) return V_QUANTA;
  if (v >= UINT64_MAX - 255) return V_NEAR_MAX;
  if (v < 65536) return V_U16;
  if (v % 4096 == 0 && v / 4096 < 65536) return V_PAGES;
  for (unsigned s = 0; s < 64; s++) {
    int64_t d = (int64_t)(v - ((uint64_t)1 << s));
    if (d >= -128 && d <= 127) return V_POW2;
  }
  if (v <= UINT32_MAX) return V_U32;
  return V_U64;
}

static void put_payload(struct writer *w, unsigned mode, uint64_t v) {
  switch (mode) {
  case V_U8: put8(w, (uint8_t)v); break;
  case V_U16: put_le(w, v, 2); break;
  case V_U32: put_le(w, v, 4); break;
  case V_U64: put_le(w, v, 8); break;
  case V_POW2:
    for (unsigned s = 0; s < 64; s++) {
      int64_t d = (int64_t)(v - ((uint64_t)1 << s));
      if (d >= -128 && d <= 127) {
        put8(w, (uint8_t)s);
        put8(w, (uint8_t)(int8_t)d);
        return;
      }
    }
    break;
  case V_PAGES: put_le(w, v >> 12, 2); break;
  case V_NEAR_MAX: put8(w, (uint8_t)(UINT64_MAX - v)); break;
  default: put8(w, (uint8_t)(v >> 4)); break; /* V_QUANTA */
  }
}

static uint8_t header_for(unsigned kind, unsigned size_mode) {
  for (unsigned i = 0; i < 32; i++)
    if (kind_table[i] == kind) return (uint8_t)(i | size_mode << 5);
  return 0; /* unreachable: every kind is in the table */
}

static void put_op(struct writer *w, const struct lm_op *op) {
  unsigned f = kind_fields(op->kind);
  unsigned size_mode = (f & F_SIZE) ? value_mode(op->size) : 0;
  put8(w, header_for(op->kind, size_mode));
  if (f & F_SLOT) put8(w, (uint8_t)op->slot);
  if (f & F_NMEMB) {
    unsigned m = value_mode(op->nmemb);
    put8(w, (uint8_t)m);
    put_payload(w, m, op->nmemb);
  }
  if (f & F_ALIGN) {
    uint64_t a = op->align;
    if (a != 0 && (a & (a - 1)) == 0) {
      put8(w, (uint8_t)__builtin_ctzll(a));
    } else {
      unsigned m = value_mode(a);
      put8(w, (uint8_t)(0x80 | m));
      put_payload(w, m, a);
    }
  }
  if (f & F_SIZE) put_payload(w, size_mode, op->size);
  if (f & F_AUX) put8(w, (uint8_t)op->aux);
}

size_t lm_ops_encode(const struct lm_op *ops, size_t n, uint8_t *out, size_t cap) {
  struct writer w = {out, out + cap, false};
  unsigned thread = 0;
  for (size_t i = 0; i < n; i++) {
    const struct lm_op *op = &ops[i];
    if (op->kind >= LM_OP_KINDS) continue; /* not an op: nothing to say */
    /* An op on another thread with no THREAD op before it: insert one, so
     * the bytes at least run it on the right thread. */
    if (op->kind != LM_OP_THREAD && op->thread != thread) {
      struct lm_op sw = {.kind = LM_OP_THREAD, .thread = op->thread, .aux = op->thread};
      put_op(&w, &sw);
    }
    put_op(&w, op);
    thread = op->kind == LM_OP_THREAD ? op->aux % LM_OPS_MAX_THREADS : op->thread;
  }
  return w.overflow ? 0 : (size_t)(w.p - out);
}

/* ---- formatting -------------------------------------------------------- */

static const char *const kind_name[LM_OP_KINDS] = {
  [LM_OP_MALLOC] = "malloc", [LM_OP_CALLOC] = "calloc",
  [LM_OP_REALLOC] = "realloc", [LM_OP_REALLOCARRAY] = "reallocarray",
  [LM_OP_FREE] = "free", [LM_OP_POSIX_MEMALIGN] = "posix_memalign",
  [LM_OP_ALIGNED_ALLOC] = "aligned_alloc", [LM_OP_MEMALIGN] = "memalign",
  [LM_OP_VALLOC] = "valloc", [LM_OP_PVALLOC] = "pvalloc",
  [LM_OP_USABLE_SIZE] = "malloc_usable_size", [LM_OP_TRIM] = "malloc_trim",
  [LM_OP_FILL] = "fill", [LM_OP_CHECK] = "check", [LM_OP_HANDOFF] = "handoff",
  [LM_OP_TAKE] = "take", [LM_OP_THREAD] = "thread", [LM_OP_BARRIER] = "barrier",
};

const char *lm_op_kind_name(unsigned kind) {
  return kind < LM_OP_KINDS ? kind_name[kind] : "?";
}

int lm_op_format(const struct lm_op *op, char *buf, size_t cap) {
  unsigned t = op->thread, s = op->slot, a = op->aux;
  const char *k = lm_op_kind_name(op->kind);
  switch (op->kind) {
  case LM_OP_MALLOC: case LM_OP_VALLOC: case LM_OP_PVALLOC:
    return snprintf(buf, cap, "t%u s%u = %s(%zu)", t, s, k, op->size);
  case LM_OP_CALLOC:
    return snprintf(buf, cap, "t%u s%u = calloc(%zu, %zu)", t, s, op->nmemb, op->size);
  case LM_OP_REALLOC:
    return snprintf(buf, cap, "t%u s%u = realloc(s%u, %zu)", t, s, s, op->size);
  case LM_OP_REALLOCARRAY:
    return snprintf(buf, cap, "t%u s%u = reallocarray(s%u, %zu, %zu)", t, s, s,
                    op->nmemb, op->size);
  case LM_OP_POSIX_MEMALIGN:
    return snprintf(buf, cap, "t%u posix_memalign(&s%u, %zu, %zu)", t, s, op->align,
                    op->size);
  case LM_OP_ALIGNED_ALLOC: case LM_OP_MEMALIGN:
    return snprintf(buf, cap, "t%u s%u = %s(%zu, %zu)", t, s, k, op->align, op->size);
  case LM_OP_FREE: case LM_OP_USABLE_SIZE:
    return snprintf(buf, cap, "t%u %s(s%u)", t, k, s);
  case LM_OP_TRIM:
    return snprintf(buf, cap, "t%u malloc_trim(%zu)", t, op->size);
  case LM_OP_FILL: case LM_OP_CHECK:
    return snprintf(buf, cap, "t%u %s s%u", t, k, s);
  case LM_OP_HANDOFF:
    return snprintf(buf, cap, "t%u shared%u = s%u; s%u = NULL", t, a, s, s);
  case LM_OP_TAKE:
    return snprintf(buf, cap, "t%u s%u = shared%u; shared%u = NULL", t, s, a, a);
  case LM_OP_THREAD:
    return snprintf(buf, cap, "thread t%u", a);
  case LM_OP_BARRIER:
    return snprintf(buf, cap, "barrier");
  default:
    return snprintf(buf, cap, "t%u op%u", t, (unsigned)op->kind);
  }
}

/* ---- generation -------------------------------------------------------- */

/* splitmix64: tiny, full-period, good enough to drive a workload. */
static uint64_t next_rand(uint64_t *state) {
  uint64_t z = (*state += 0x9e3779b97f4a7c15u);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9u;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebu;
  return z ^ (z >> 31);
}

static uint64_t below(uint64_t *st, uint64_t n) { return next_rand(st) % n; }

/* Sizes shaped like real programs: mostly small, a tail of pages and a few
 * huge blocks, plus the occasional edge case. */
static size_t gen_size(uint64_t *st) {
  uint64_t r = below(st, 1000);
  if (r < 600) return (size_t)below(st, 257);
  if (r < 850) return (size_t)below(st, 16385);
  if (r < 950) return (size_t)below(st, 256 * 1024);
  if (r < 985) return (size_t)(((uint64_t)1 << below(st, 23)) + below(st, 3) - 1);
  if (r < 995) return (size_t)below(st, 4 << 20);
  return (size_t)(UINT64_MAX - below(st, 64)); /* must fail cleanly */
}

static size_t gen_align(uint64_t *st) {
  uint64_t r = below(st, 100);
  if (r < 90) return (size_t)1 << below(st, 17); /* 1 .. 64 KiB */
  if (r < 95) return (size_t)1 << (20 + below(st, 3));
  static const size_t bad[] = {0, 3, 24, 48, 1000, (size_t)1 << 63};
  return bad[below(st, sizeof bad / sizeof bad[0])];
}

size_t lm_ops_generate(uint64_t seed, size_t n, unsigned threads, struct lm_op *out) {
  uint64_t st = seed;
  if (threads == 0) threads = 1;
  if (threads > LM_OPS_MAX_THREADS) threads = LM_OPS_MAX_THREADS;
  unsigned thread = 0;
  /* Few slots in use at a time, so frees and reallocs usually hit a block. */
  const unsigned slots = 48;
  for (size_t i = 0; i < n; i++) {
    struct lm_op op = {0};
    uint64_t r = below(&st, 1000);
    op.slot = (uint16_t)below(&st, slots);
    if (r < 330) {
      op.kind = LM_OP_MALLOC;
    } else if (r < 600) {
      op.kind = LM_OP_FREE;
    } else if (r < 700) {
      op.kind = LM_OP_REALLOC;
    } else if (r < 740) {
      op.kind = LM_OP_CALLOC;
      op.nmemb = (size_t)below(&st, 64) + (below(&st, 50) == 0 ? (size_t)1 << 62 : 0);
      op.size = gen_size(&st) / (op.nmemb ? op.nmemb : 1) + below(&st, 2);
    } else if (r < 750) {
      op.kind = LM_OP_REALLOCARRAY;
      op.nmemb = (size_t)below(&st, 64);
      op.size = (size_t)below(&st, 512);
    } else if (r < 790) {
      static const uint8_t k[] = {LM_OP_POSIX_MEMALIGN, LM_OP_ALIGNED_ALLOC, LM_OP_MEMALIGN};
      op.kind = k[below(&st, 3)];
      op.align = gen_align(&st);
    } else if (r < 800) {
      op.kind = below(&st, 2) ? LM_OP_VALLOC : LM_OP_PVALLOC;
    } else if (r < 830) {
      op.kind = LM_OP_USABLE_SIZE;
    } else if (r < 835) {
      op.kind = LM_OP_TRIM;
      op.size = below(&st, 4) ? 0 : (size_t)below(&st, 1 << 20);
      op.slot = 0;
    } else if (r < 900) {
      op.kind = LM_OP_FILL;
    } else if (r < 950) {
      op.kind = LM_OP_CHECK;
    } else if (threads == 1) {
      op.kind = LM_OP_FILL; /* the remaining kinds only matter across threads */
    } else if (r < 970) {
      op.kind = LM_OP_HANDOFF;
      op.aux = (uint16_t)below(&st, LM_OPS_SHARED);
    } else if (r < 990) {
      op.kind = LM_OP_TAKE;
      op.aux = (uint16_t)below(&st, LM_OPS_SHARED);
    } else if (r < 998) {
      op.kind = LM_OP_THREAD;
      op.slot = 0;
      op.aux = (uint16_t)below(&st, threads);
      thread = op.aux;
    } else {
      op.kind = LM_OP_BARRIER;
      op.slot = 0;
    }
    if (op.kind == LM_OP_MALLOC || op.kind == LM_OP_REALLOC || op.kind == LM_OP_VALLOC ||
        op.kind == LM_OP_PVALLOC || op.kind == LM_OP_POSIX_MEMALIGN ||
        op.kind == LM_OP_ALIGNED_ALLOC || op.kind == LM_OP_MEMALIGN)
      op.size = gen_size(&st);
    op.thread = (uint8_t)thread;
    out[i] = op;
  }
  return n;
}
