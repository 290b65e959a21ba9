/* What both OS backends share: configuration, messages, abort. */
#define _GNU_SOURCE /* mincore, secure_getenv */
#include "os.h"
#include <errno.h>
#include <signal.h>
#include <string.h>
#include <stdlib.h>
#include <sys/auxv.h>
#include <linux/membarrier.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <linux/futex.h>
#include <time.h>
#include <unistd.h>

/* Every setting is read here: in a setuid/setgid program the environment
 * is the caller's, so nothing of it is honoured (src/heap/config.c says so
 * in one line). */
const char *lm_os_getenv(const char *name) { return secure_getenv(name); }

bool lm_os_secure(void) { return getauxval(AT_SECURE) != 0; }

void lm_os_write_err(const char *s, size_t n) {
  while (n > 0) {
    ssize_t w = write(2, s, n);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) return;
    s += w;
    n -= (size_t)w;
  }
}

_Noreturn void lm_os_abort(void) { abort(); }

size_t lm_os_resident(const void *p, size_t size) {
  if (size == 0) return 0;
  const size_t page = 4096;
  uintptr_t a = (uintptr_t)p & ~(uintptr_t)(page - 1), end = ((uintptr_t)p + size + page - 1) & ~(uintptr_t)(page - 1);
  size_t n = 0;
  unsigned char vec[512];
  while (a < end) {
    size_t len = end - a > sizeof vec * page ? sizeof vec * page : end - a;
    if (mincore((void *)a, len, vec) != 0) return n + (end - a); /* unknown: count it */
    for (size_t i = 0; i < len / page; i++) n += (vec[i] & 1) * page;
    a += len;
  }
  return n;
}

/* membarrier(2): registered on first use; -1 once the kernel said no. */
static int membarrier_state;

bool lm_os_membarrier(void) {
  int st = __atomic_load_n(&membarrier_state, __ATOMIC_ACQUIRE);
  if (st == 0) {
    long cmds = syscall(SYS_membarrier, MEMBARRIER_CMD_QUERY, 0, 0);
    st = cmds >= 0 && (cmds & MEMBARRIER_CMD_PRIVATE_EXPEDITED) &&
                 syscall(SYS_membarrier, MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED, 0, 0) == 0
             ? 1 : -1;
    __atomic_store_n(&membarrier_state, st, __ATOMIC_RELEASE);
  }
  return st > 0 && syscall(SYS_membarrier, MEMBARRIER_CMD_PRIVATE_EXPEDITED, 0, 0) == 0;
}

bool lm_os_membarrier_refused(void) { return __atomic_load_n(&membarrier_state, __ATOMIC_ACQUIRE) < 0; }

void lm_os_on_signal(int sig, void (*handler)(int)) {
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = handler;
  sa.sa_flags = SA_RESTART;
  sigemptyset(&sa.sa_mask);
  sigaction(sig, &sa, NULL);
}

void lm_os_wait(uint32_t *word, uint32_t val, uint32_t ms) {
  struct timespec ts = {(time_t)(ms / 1000), (long)(ms % 1000) * 1000000L};
  int saved = errno;
  syscall(SYS_futex, word, FUTEX_WAIT_PRIVATE, val, ms ? &ts : NULL, NULL, 0);
  errno = saved;
}

void lm_os_wake(uint32_t *word) {
  int saved = errno;
  syscall(SYS_futex, word, FUTEX_WAKE_PRIVATE, 0x7fffffff, NULL, NULL, 0);
  errno = saved;
}
