/* A small, correct malloc family -- and, with -DBROKEN=<defect>, the same
 * allocator with exactly one bug planted. tests/oracle/broken.mk builds one
 * shared object per defect and checks that the oracle names the property
 * each one breaks (and that the correct build passes).
 *
 * Design: size classes of 32 << c bytes (header included) carved from 64 MiB
 * arenas, one LIFO free list per class whose link lives in the first user
 * word (as in most allocators); blocks over 2 MiB are mapped directly. A
 * 16-byte header sits right before every user pointer. One lock. */
#define _GNU_SOURCE
#include <errno.h>
#include <malloc.h>
#include <pthread.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

/* The defects; each breaks one property of the oracle. */
#define OK 0
#define OVERLAP 1     /* no-overlap: carving steps 32 bytes short */
#define ALIGN 2       /* alignment: aligned family ignores alignments > 16 */
#define ERRNO 3       /* null-errno: failures leave errno alone */
#define CALLOC 4      /* calloc-zero: calloc assumes recycled memory is zero */
#define REALLOC 5     /* realloc-contents: copies from the header, not the data */
#define REALLOCFAIL 6 /* realloc-fail-keeps: a failing realloc frees the old block */
#define LEAK 7        /* footprint: blocks of 4 KiB and more never reused */
#define OVERFLOW 8    /* must-fail: calloc does not check nmemb * size */
#define EINVALID 9    /* invalid-alignment: posix_memalign rounds bad alignments */
#define POISON 10     /* fill-intact: free poisons 32 bytes too many */
#ifndef BROKEN
#define BROKEN OK
#endif

#define EXPORT __attribute__((visibility("default")))
#define HDR 16u
#define NCLS 17 /* 32 B .. 2 MiB */
#define BIG 0xffffffffu
#define ARENA ((size_t)64 << 20)

struct hdr {
  uint32_t cls;   /* size class, or BIG */
  uint32_t off;   /* user pointer - raw block start */
  size_t usable;  /* bytes from the user pointer to the block's end */
};

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static void *freelist[NCLS];
static char *bump, *bump_end;

static size_t cls_size(unsigned c) { return (size_t)32 << c; }
static struct hdr *hdr_of(void *p) { return (struct hdr *)((char *)p - HDR); }

static void *fail(int err) {
#if BROKEN != ERRNO
  errno = err;
#else
  (void)err;
#endif
  return NULL;
}

/* A raw block of at least `total` bytes; its size in *got. Lock held. */
static char *raw_alloc(size_t total, uint32_t *cls, size_t *got) {
  unsigned c = 0;
  while (c < NCLS && cls_size(c) < total) c++;
  if (c == NCLS) {
    size_t page = (size_t)sysconf(_SC_PAGESIZE);
    if (total > SIZE_MAX - page) return NULL;
    size_t len = (total + page - 1) / page * page;
    void *m = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (m == MAP_FAILED) return NULL;
    *cls = BIG, *got = len;
    return m;
  }
  *cls = c, *got = cls_size(c);
  char *r = freelist[c];
  if (r) {
    memcpy(&freelist[c], r + HDR, sizeof(void *)); /* the link lives in user space */
    return r;
  }
  if ((size_t)(bump_end - bump) < cls_size(c)) {
    void *m = mmap(NULL, ARENA, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (m == MAP_FAILED) return NULL;
    bump = m, bump_end = bump + ARENA;
  }
  r = bump;
#if BROKEN == OVERLAP
  bump += cls_size(c) - 2 * HDR; /* "the header was counted twice" */
#else
  bump += cls_size(c);
#endif
  return r;
}

static void raw_free(void *p) {
  struct hdr *h = hdr_of(p);
  char *raw = (char *)p - h->off;
#if BROKEN == POISON
  if (h->cls < 7) memset(p, 0xdd, h->usable + 32); /* small blocks: one header too far */
#endif
  if (h->cls == BIG) {
    munmap(raw, h->off + h->usable);
    return;
  }
  uint32_t c = h->cls; /* the link may land on the header of an aligned block */
#if BROKEN == LEAK
  if (cls_size(c) >= 4096) return;
#endif
  memcpy(raw + HDR, &freelist[c], sizeof(void *));
  freelist[c] = raw;
}

/* n bytes aligned to `align` (a power of two >= 16). */
static void *alloc(size_t align, size_t n) {
  if (n > PTRDIFF_MAX || align > ((size_t)1 << 40)) return fail(ENOMEM);
  size_t total = n + HDR + (align - 16);
  uint32_t cls;
  size_t got;
  pthread_mutex_lock(&lock);
  char *raw = raw_alloc(total, &cls, &got);
  pthread_mutex_unlock(&lock);
  if (!raw) return fail(ENOMEM);
  uintptr_t user = ((uintptr_t)raw + HDR + align - 1) & ~(uintptr_t)(align - 1);
  struct hdr *h = hdr_of((void *)user);
  h->cls = cls;
  h->off = (uint32_t)(user - (uintptr_t)raw);
  h->usable = got - h->off;
  return (void *)user;
}

EXPORT void *malloc(size_t n) { return alloc(16, n); }

/* Internal calls go through these static functions: a call to the exported
 * `free` would bind to libc's when the oracle loads us RTLD_LOCAL. */
static void release(void *p) {
  if (!p) return;
  pthread_mutex_lock(&lock);
  raw_free(p);
  pthread_mutex_unlock(&lock);
}

EXPORT void free(void *p) { release(p); }

EXPORT void *calloc(size_t m, size_t n) {
  size_t t;
#if BROKEN == OVERFLOW
  t = m * n;
#else
  if (__builtin_mul_overflow(m, n, &t)) return fail(ENOMEM);
#endif
  void *p = alloc(16, t);
#if BROKEN != CALLOC
  if (p) memset(p, 0, t);
#endif
  return p;
}

static void *resize(void *p, size_t n) {
  if (!p) return alloc(16, n);
  if (n == 0) { /* glibc's choice: free and return NULL */
    release(p);
    return NULL;
  }
  struct hdr *h = hdr_of(p);
  size_t old = h->usable;
  if (n <= old && h->off == HDR) {
    return p;
  }
  void *q = alloc(16, n);
  if (!q) {
#if BROKEN == REALLOCFAIL
    release(p); /* "nothing fits any more": but the caller still owns p */
#endif
    return NULL; /* the old block stays */
  }
#if BROKEN == REALLOC
  memcpy(q, (char *)p - HDR, old < n ? old : n); /* off by the header */
#else
  memcpy(q, p, old < n ? old : n);
#endif
  release(p);
  return q;
}

EXPORT void *realloc(void *p, size_t n) { return resize(p, n); }

EXPORT void *reallocarray(void *p, size_t m, size_t n) {
  size_t t;
  if (__builtin_mul_overflow(m, n, &t)) return fail(ENOMEM);
  return resize(p, t);
}

static int pow2(size_t a) { return a && !(a & (a - 1)); }

static void *aligned(size_t a, size_t n) {
#if BROKEN == ALIGN
  a = 16;
#endif
  return alloc(a < 16 ? 16 : a, n);
}

EXPORT int posix_memalign(void **out, size_t a, size_t n) {
#if BROKEN == EINVALID
  while (!pow2(a) || a < sizeof(void *)) a = a ? a + (a & -a) : 16;
#else
  if (!pow2(a) || a % sizeof(void *)) return EINVAL;
#endif
  int saved = errno;
  void *p = aligned(a, n);
  errno = saved;
  if (!p) return ENOMEM;
  *out = p;
  return 0;
}

EXPORT void *aligned_alloc(size_t a, size_t n) {
  if (!pow2(a)) return fail(EINVAL);
  return aligned(a, n);
}

EXPORT void *memalign(size_t a, size_t n) {
  if (!pow2(a)) return fail(EINVAL);
  return aligned(a, n);
}

EXPORT void *valloc(size_t n) { return aligned((size_t)sysconf(_SC_PAGESIZE), n); }

EXPORT void *pvalloc(size_t n) {
  size_t page = (size_t)sysconf(_SC_PAGESIZE);
  if (n > PTRDIFF_MAX - page) return fail(ENOMEM);
  return aligned(page, (n + page - 1) / page * page);
}

EXPORT size_t malloc_usable_size(void *p) { return p ? hdr_of(p)->usable : 0; }

EXPORT int malloc_trim(size_t pad) {
  (void)pad;
  return 0;
}
