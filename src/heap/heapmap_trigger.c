/* When the heap map is written without being asked through the API: at
 * exit (LEMMALLOC_HEAPMAP=FILE) and on LEMMALLOC_HEAPMAP_SIGNAL. config.c
 * reads and checks both settings (lm_heapmap_conf); heapmap.c takes and
 * writes the snapshot.
 *
 * The signal handler only sets lm_heapmap_pending; lm_heap_tick (every
 * allocator slow path) calls lm_heapmap_poll when it is set, which writes
 * the map from an ordinary context (locks, mmap, open). */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <string.h>
#include <unistd.h>
#include "heapmap.h"
#include "config.h"

static unsigned hm_seq; /* maps written from the configuration so far */
volatile int lm_heapmap_pending;

static void on_signal(int sig) {
  (void)sig;
  __atomic_store_n(&lm_heapmap_pending, 1, __ATOMIC_RELAXED); /* all a handler may safely do here */
}

/* The file with "%p" replaced by the pid (now: a forked child gets its
 * own) and "%n" by the number of maps this process wrote before (0, 1, ...),
 * so that a series of signals keeps every map. */
static void write_configured(void) {
  int saved = errno;
  char path[sizeof lm_heapmap_conf.file + 256];
  struct lm_sb b = {path, 0, sizeof path, false};
  for (const char *t = lm_heapmap_conf.file; *t; t++) {
    if (t[0] == '%' && t[1] == 'p') {
      lm_sb_u64(&b, (uint64_t)getpid());
      t++;
    } else if (t[0] == '%' && t[1] == 'n') {
      lm_sb_u64(&b, __atomic_fetch_add(&hm_seq, 1, __ATOMIC_RELAXED));
      t++;
    } else {
      char c[2] = {*t, '\0'};
      lm_sb_str(&b, c);
    }
  }
  if (b.full || lm_heapmap_write(path) != 0) {
    char msg[sizeof path + 64];
    struct lm_sb m = {msg, 0, sizeof msg - 1, false};
    lm_sb_str(&m, "lemmalloc: cannot write the heap map to ");
    lm_sb_str(&m, path);
    m.s[m.n++] = '\n';
    lm_os_write_err(m.s, m.n);
  }
  errno = saved;
}

void lm_heapmap_poll(void) {
  if (__atomic_exchange_n(&lm_heapmap_pending, 0, __ATOMIC_ACQ_REL) && lm_heapmap_conf.file[0])
    write_configured();
}

/* The handler is installed by a constructor of this file and the exit map
 * written by its destructor, so the heap needs only the poll in its tick. */
__attribute__((constructor)) static void heapmap_ctor(void) {
  if (!lm_heap_ready()) lm_heap_init(); /* reads lm_heapmap_conf */
  if (lm_heapmap_conf.signal != 0) lm_os_on_signal(lm_heapmap_conf.signal, on_signal);
}

__attribute__((destructor)) static void heapmap_dtor(void) {
  if (lm_heapmap_conf.file[0] && lm_heap_ready()) write_configured();
}
