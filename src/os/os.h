/* The only door from the heap to its environment: memory mappings, time,
 * randomness, configuration, messages, locks.
 *
 * Two backends implement it: os_posix.c (mmap/madvise, the real library)
 * and os_static.c (serves memory from a static buffer and never maps: for
 * fuzzing, sanitizers and tests that must not depend on the kernel's
 * address space). Everything above this header is the same for both.
 *
 * Contracts common to every function:
 *  - sizes and alignments are multiples of LM_PAGE_SIZE, alignments are
 *    powers of two; none of them is 0;
 *  - no function allocates through the malloc family (they may run inside
 *    malloc) and none is called with a heap lock held unless stated;
 *  - failures are reported by the return value, never by errno to the user:
 *    callers that must preserve errno save it around calls.
 */
#ifndef LM_OS_H
#define LM_OS_H
#include <stddef.h>
#include <stdint.h>
#include <stdbool.h>
#include <pthread.h>

/* Map `size` bytes of zeroed read-write memory whose address is a multiple
 * of `align`. Returns NULL when the OS refuses. */
void *lm_os_map(size_t size, size_t align);

/* Give back a range obtained from lm_os_map (or a page-aligned part of it). */
void lm_os_unmap(void *p, size_t size);

/* Release the physical pages of [p, p+size) while keeping the range mapped:
 * resident memory drops at once and the range reads as zero afterwards. */
void lm_os_purge(void *p, size_t size);

/* Bytes of [p, p+size) (any memory of the process, page-aligned or not:
 * whole pages touching it count) that are resident now (mincore). */
size_t lm_os_resident(const void *p, size_t size);

/* Resize the mapping [p, p+old) to `size` bytes keeping its contents and an
 * address that is a multiple of `align`, moving it without copying if it
 * cannot grow in place. Returns the (maybe new) address, or NULL with the
 * old mapping untouched. Backends that cannot do it return NULL. */
void *lm_os_remap(void *p, size_t old, size_t size, size_t align);

/* Static backend only, for the fuzz drivers: bytes of its buffer handed out
 * and not given back (compared with the heap's own count when idle), and
 * how many maps the calling thread was refused (a call that failed without
 * a refusal did not run out of memory). */
size_t lm_os_static_used(void);
unsigned long lm_os_static_refusals(void);

/* Number of CPUs this process may run on (>= 1). */
unsigned lm_os_ncpus(void);

/* Milliseconds from an arbitrary origin, monotonic; cheap (vDSO). */
uint64_t lm_os_now_ms(void);

/* 64 random bits (secret keys); never fails, may be weak in the static
 * backend. */
uint64_t lm_os_random(void);

/* Value of environment variable `name`, or NULL. Safe before malloc works.
 * secure_getenv: NULL in a process the kernel runs in secure mode
 * (AT_SECURE: setuid, setgid, file capabilities), where the environment
 * belongs to a less privileged user and no LEMMALLOC_* setting is honoured
 * (LEMMALLOC_TRACE=/etc/shadow would otherwise be opened as root). */
const char *lm_os_getenv(const char *name);

/* True in a secure-mode process (getauxval(AT_SECURE)). */
bool lm_os_secure(void);

/* A full memory barrier on every thread of the process now running (and
 * so, with the context switches, on every thread): membarrier(2)
 * PRIVATE_EXPEDITED. false if the kernel cannot (the caller then does
 * without what needed it). */
bool lm_os_membarrier(void);
/* Has the kernel refused membarrier(2) (a call above returned false for
 * want of it)? */
bool lm_os_membarrier_refused(void);

/* Run fn on a thread of its own, detached, with every signal blocked (the
 * program's handlers never run on it) and named `name` (at most 15
 * characters). false if the backend or the OS will not. May allocate
 * (pthread_create does): call it with no heap lock held. */
bool lm_os_thread_start(void (*fn)(void), const char *name);

/* Sleep until *word != val, a wake-up, or `ms` milliseconds (0: no time
 * limit); may return early. lm_os_wake wakes every sleeper on word. */
void lm_os_wait(uint32_t *word, uint32_t val, uint32_t ms);
void lm_os_wake(uint32_t *word);

/* Write to standard error, without allocating. */
void lm_os_write_err(const char *s, size_t n);

/* Abort the process (SIGABRT). */
_Noreturn void lm_os_abort(void);
/* Call handler(sig) on signal sig (SA_RESTART, nothing masked). */
void lm_os_on_signal(int sig, void (*handler)(int));

/* Locks: plain pthread mutexes (futex-based, no allocation). The static
 * initializer lets locks work before the heap initializes. */
typedef pthread_mutex_t lm_lock_t;
#define LM_LOCK_INIT PTHREAD_MUTEX_INITIALIZER
#if defined(__x86_64__) || defined(__i386__)
#define LM_CPU_RELAX() __builtin_ia32_pause()
#elif defined(__aarch64__)
#define LM_CPU_RELAX() __asm__ __volatile__("yield")
#else
#define LM_CPU_RELAX() ((void)0)
#endif
/* Critical sections are short (a refill, a flush, a buddy step): a waiter
 * first spins while the holder runs on another CPU, reading the lock word
 * and trying only when it looks free, and sleeps in the kernel only after
 * that (a futex sleep and wake-up cost two context switches). */
#define LM_LOCK_SPINS 100
static inline void lm_lock(lm_lock_t *l) {
  if (__builtin_expect(pthread_mutex_trylock(l) == 0, 1)) return;
  for (int i = 0; i < LM_LOCK_SPINS; i++) {
    LM_CPU_RELAX();
    if (__atomic_load_n(&l->__data.__lock, __ATOMIC_RELAXED) == 0 && pthread_mutex_trylock(l) == 0) return;
  }
  pthread_mutex_lock(l);
}
static inline void lm_unlock(lm_lock_t *l) { pthread_mutex_unlock(l); }
static inline bool lm_trylock(lm_lock_t *l) { return pthread_mutex_trylock(l) == 0; }
/* Re-create a lock in a fork child (its state may belong to a dead thread). */
static inline void lm_lock_reinit(lm_lock_t *l) { pthread_mutex_init(l, NULL); }

#endif
