/* LEMMALLOC_TRACE=FILE: record every malloc-family call of a program as an
 * op sequence in the fuzz codec's format (src/api/ops.h), which
 * `lemmalloc-oracle --replay FILE` runs against any allocator.
 *
 * Pointers become slots: each traced thread (up to LM_OPS_MAX_THREADS; more
 * threads share tables modulo that) owns a table of LM_OPS_SLOTS slots, and
 * a hash maps live pointers to (thread, slot). A call on another thread's
 * block is written as HANDOFF on the owner + TAKE on the caller, so a serial
 * replay sees exactly the program's order. When a thread's table is full,
 * its oldest-by-clock slot is evicted: a FREE is written and later calls on
 * that pointer are dropped (free) or start afresh (realloc), so the trace
 * stays a valid program whose live set is bounded by the slots.
 *
 * Never allocates: a static buffer, a static hash, open(2)/write(2). One
 * lock of its own orders the records; writes happen under it because
 * the file's order is the trace's meaning, and it is never held while any
 * allocator lock is taken. "%p" in FILE becomes the process id, so traced
 * programs that exec others do not overwrite each other's traces; a forked
 * child (same FILE, no exec) stops tracing. */
#define _GNU_SOURCE
#include "api/trace.h"
#include "heap/alloc.h"

#include <fcntl.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>
#include <unistd.h>

int lm_trace_enabled = 1; /* until the first call has started tracing or turned it off; atomic */
static int starting;      /* the first call has come */
static int ready;         /* the file is open (under mu) */

#define BUF_SIZE (64 * 1024)
#define MAP_CAP 8192 /* > 2 x LM_OPS_MAX_THREADS x LM_OPS_SLOTS: load <= 1/4 */

static struct {
  int fd;
  pid_t owner;
  unsigned cur;                 /* thread of the last op written */
  unsigned next_tid;
  unsigned clock[LM_OPS_MAX_THREADS];
  uintptr_t slot_ptr[LM_OPS_MAX_THREADS][LM_OPS_SLOTS]; /* 0: free */
  uintptr_t key[MAP_CAP];       /* pointer -> thread * LM_OPS_SLOTS + slot */
  uint16_t val[MAP_CAP];
  size_t len;
  uint8_t buf[BUF_SIZE];
} T; /* in .bss: T.fd is set before any use (tracing on) */

/* A mutex, not a spinlock: a thread may wait here while another's write(2)
 * blocks. Held across fork by the atfork handlers, so the child never
 * inherits it locked in the middle of a record. */
static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static __thread unsigned my_tid; /* 1 + trace thread index; 0: not yet */

static void lock(void) { pthread_mutex_lock(&mu); }
static void unlock(void) { pthread_mutex_unlock(&mu); }

static void fork_child(void) {
  /* The child writes nothing: the parent's trace is the program's. */
  __atomic_store_n(&lm_trace_enabled, 0, __ATOMIC_RELAXED);
  T.len = 0;
  pthread_mutex_init(&mu, NULL);
}

/* ---- output ------------------------------------------------------------- */

static void flush(void) {
  if (getpid() != T.owner) { /* forked child: the parent writes these bytes */
    __atomic_store_n(&lm_trace_enabled, 0, __ATOMIC_RELAXED);
    T.len = 0;
    return;
  }
  size_t off = 0;
  while (off < T.len) {
    ssize_t k = write(T.fd, T.buf + off, T.len - off);
    if (k <= 0) break; /* disk full or closed: lose the rest, never block the program */
    off += (size_t)k;
  }
  T.len = 0;
}

static void emit(unsigned kind, unsigned thread, unsigned slot, size_t size, size_t nmemb,
                 size_t align, unsigned aux) {
  if (thread != T.cur) {
    T.cur = thread;
    emit(LM_OP_THREAD, thread, 0, 0, 0, 0, thread); /* recursion ends: thread == T.cur */
  }
  /* Canonical op: thread 0 and explicit THREAD ops, so each op encodes alone. */
  struct lm_op op = {.kind = (uint8_t)kind, .slot = (uint16_t)slot, .aux = (uint16_t)aux,
                     .size = size, .nmemb = nmemb, .align = align};
  if (kind == LM_OP_THREAD) op.slot = 0;
  if (BUF_SIZE - T.len < 128) flush();
  T.len += lm_ops_encode(&op, 1, T.buf + T.len, BUF_SIZE - T.len);
}

/* ---- pointer -> slot ---------------------------------------------------- */

static size_t hash(uintptr_t p) { return (size_t)((p >> 4) * 0x9e3779b97f4a7c15u >> 51) % MAP_CAP; }

static int map_find(uintptr_t p) {
  for (size_t i = hash(p);; i = (i + 1) % MAP_CAP) {
    if (T.key[i] == p) return T.val[i];
    if (T.key[i] == 0) return -1;
  }
}

static void map_put(uintptr_t p, unsigned v) {
  size_t i = hash(p);
  while (T.key[i] != 0 && T.key[i] != p) i = (i + 1) % MAP_CAP;
  T.key[i] = p;
  T.val[i] = (uint16_t)v;
}

/* Linear probing deletion by backward shift: no tombstones to pile up. */
static void map_del(uintptr_t p) {
  size_t i = hash(p);
  while (T.key[i] != p) {
    if (T.key[i] == 0) return;
    i = (i + 1) % MAP_CAP;
  }
  for (size_t j = (i + 1) % MAP_CAP; T.key[j] != 0; j = (j + 1) % MAP_CAP) {
    size_t h = hash(T.key[j]);
    /* Move j into the hole at i unless j's home lies cyclically in (i, j]. */
    if ((j > i && (h <= i || h > j)) || (j < i && h <= i && h > j)) {
      T.key[i] = T.key[j];
      T.val[i] = T.val[j];
      i = j;
    }
  }
  T.key[i] = 0;
}

/* A free slot in thread t's table, evicting one if all are taken. */
static unsigned slot_new(unsigned t) {
  for (unsigned k = 0; k < LM_OPS_SLOTS; k++) {
    unsigned s = (T.clock[t] + k) % LM_OPS_SLOTS;
    if (!T.slot_ptr[t][s]) {
      T.clock[t] = (s + 1) % LM_OPS_SLOTS;
      return s;
    }
  }
  unsigned s = T.clock[t];
  T.clock[t] = (s + 1) % LM_OPS_SLOTS;
  map_del(T.slot_ptr[t][s]);
  T.slot_ptr[t][s] = 0;
  emit(LM_OP_FREE, t, s, 0, 0, 0, 0);
  return s;
}

static void bind(uintptr_t p, unsigned t, unsigned s) {
  T.slot_ptr[t][s] = p;
  map_put(p, t * LM_OPS_SLOTS + s);
}

static void unbind(uintptr_t p, unsigned t, unsigned s) {
  map_del(p);
  T.slot_ptr[t][s] = 0;
}

/* The slot of a live pointer, moved to thread t if another thread owns it;
 * -1 if the pointer is not traced (evicted, or from before tracing). */
static int slot_of(uintptr_t p, unsigned t) {
  int v = map_find(p);
  if (v < 0) return -1;
  unsigned owner = (unsigned)v / LM_OPS_SLOTS, s = (unsigned)v % LM_OPS_SLOTS;
  if (owner == t) return (int)s;
  emit(LM_OP_HANDOFF, owner, s, 0, 0, 0, 0);
  unbind(p, owner, s);
  unsigned mine = slot_new(t);
  emit(LM_OP_TAKE, t, mine, 0, 0, 0, 0);
  bind(p, t, mine);
  return (int)mine;
}

/* ---- the hooks ---------------------------------------------------------- */

/* The first call: read LEMMALLOC_TRACE and open the file, or turn tracing
 * off. Records that come meanwhile from other threads are dropped (not
 * ready); pthread_atfork may allocate, and those calls record nothing
 * (lm_trace_enabled is 0 until the end). */
static void start(void) {
  const char *path = lm_heap_setting("LEMMALLOC_TRACE");
  __atomic_store_n(&lm_trace_enabled, 0, __ATOMIC_RELAXED);
  if (path == NULL || *path == '\0') return;
  char name[4096];
  size_t n = 0;
  pid_t pid = getpid();
  for (const char *c = path; *c && n < sizeof name - 24; c++) {
    if (c[0] == '%' && c[1] == 'p') {
      char digits[16];
      int k = 0;
      for (unsigned long v = (unsigned long)pid; v || k == 0; v /= 10) digits[k++] = (char)('0' + v % 10);
      while (k) name[n++] = digits[--k];
      c++;
    } else {
      name[n++] = *c;
    }
  }
  name[n] = 0;
  int fd = open(name, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) return;
  pthread_atfork(lock, unlock, fork_child);
  lock();
  T.fd = fd;
  T.owner = pid;
  ready = 1;
  __atomic_store_n(&lm_trace_enabled, 1, __ATOMIC_RELAXED);
  unlock();
}

void lm_trace_record(int kind, const void *in, size_t a, size_t b, const void *out) {
  uintptr_t pin = (uintptr_t)in, pout = (uintptr_t)out;
  if (lm_unlikely(!__atomic_load_n(&starting, __ATOMIC_ACQUIRE)) && !__atomic_exchange_n(&starting, 1, __ATOMIC_ACQ_REL))
    start();
  lock();
  if (!__atomic_load_n(&lm_trace_enabled, __ATOMIC_RELAXED) || !ready) {
    unlock();
    return;
  }
  if (!my_tid) my_tid = 1 + T.next_tid++ % LM_OPS_MAX_THREADS;
  unsigned t = my_tid - 1;
  unsigned s;
  int found;
  switch (kind) {
  case LM_OP_MALLOC: case LM_OP_VALLOC: case LM_OP_PVALLOC: case LM_OP_CALLOC:
  case LM_OP_ALIGNED_ALLOC: case LM_OP_MEMALIGN: case LM_OP_POSIX_MEMALIGN: {
    bool two = kind == LM_OP_CALLOC || kind == LM_OP_ALIGNED_ALLOC ||
               kind == LM_OP_MEMALIGN || kind == LM_OP_POSIX_MEMALIGN;
    bool aligned = two && kind != LM_OP_CALLOC;
    s = slot_new(t);
    emit((unsigned)kind, t, s, two ? b : a, kind == LM_OP_CALLOC ? a : 0, aligned ? a : 0, 0);
    if (pout) bind(pout, t, s);
    break;
  }
  case LM_OP_REALLOC: case LM_OP_REALLOCARRAY: {
    size_t bytes = a;
    bool wrapped = kind == LM_OP_REALLOCARRAY && __builtin_mul_overflow(a, b, &bytes);
    found = pin ? slot_of(pin, t) : -1;
    s = found >= 0 ? (unsigned)found : slot_new(t); /* untraced: starts afresh */
    if (kind == LM_OP_REALLOC) emit(LM_OP_REALLOC, t, s, a, 0, 0, 0);
    else emit(LM_OP_REALLOCARRAY, t, s, b, a, 0, 0);
    if (pout) {
      if (found >= 0) unbind(pin, t, s);
      bind(pout, t, s);
    } else if (found >= 0 && pin && bytes == 0 && !wrapped) {
      unbind(pin, t, s); /* realloc(p, 0) freed p */
    }
    break;
  }
  case LM_OP_FREE:
    if (!pin || (found = slot_of(pin, t)) < 0) break;
    emit(LM_OP_FREE, t, (unsigned)found, 0, 0, 0, 0);
    unbind(pin, t, (unsigned)found);
    break;
  case LM_OP_USABLE_SIZE:
    if (pin) {
      if ((found = slot_of(pin, t)) >= 0) emit(LM_OP_USABLE_SIZE, t, (unsigned)found, 0, 0, 0, 0);
    } else {
      s = slot_new(t); /* an empty slot stands for NULL */
      emit(LM_OP_USABLE_SIZE, t, s, 0, 0, 0, 0);
    }
    break;
  case LM_OP_TRIM:
    emit(LM_OP_TRIM, t, 0, a, 0, 0, 0);
    break;
  default:
    break;
  }
  unlock();
}

/* At exit: flush and close. */
__attribute__((destructor)) static void stop(void) {
  lock();
  if (__atomic_load_n(&lm_trace_enabled, __ATOMIC_RELAXED) && ready) {
    flush();
    if (getpid() == T.owner) close(T.fd);
    __atomic_store_n(&lm_trace_enabled, 0, __ATOMIC_RELAXED);
  }
  unlock();
}
