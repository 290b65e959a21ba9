/* Reports: one line on stderr for a bad pointer (then abort, unless
 * LEMMALLOC_ON_ERROR=warn) or for a broken invariant of the heap (always
 * abort). The one table of messages. */
#include "heap.h"

/* No stdio: it may allocate. */

static size_t put_str(char *buf, size_t at, size_t cap, const char *s) {
  while (*s && at + 1 < cap) buf[at++] = *s++;
  return at;
}

static size_t put_hex(char *buf, size_t at, size_t cap, uintptr_t v) {
  char tmp[2 + 2 * sizeof v];
  int n = 0;
  do tmp[n++] = "0123456789abcdef"[v & 15]; while ((v >>= 4) != 0);
  at = put_str(buf, at, cap, "0x");
  while (n > 0 && at + 1 < cap) buf[at++] = tmp[--n];
  return at;
}

/* The one table of messages: what is wrong, by call. */
static const char *const call_name[] = {
  [LM_CALL_FREE] = "free", [LM_CALL_REALLOC] = "realloc", [LM_CALL_USABLE_SIZE] = "malloc_usable_size",
};
static const char *why_text(enum lm_call call, enum lm_bad why) {
  switch (why) {
  case LM_BAD_FREED: return call == LM_CALL_FREE ? "double free of" : "pointer to a freed block";
  case LM_BAD_INTERIOR: return "interior pointer (not the start of a block)";
  case LM_BAD_FREE_MEMORY: return "invalid pointer (free memory)";
  case LM_BAD_FOREIGN: return "invalid pointer (not allocated by lemmalloc)";
  case LM_BAD_NONE: break;
  }
  return "invalid pointer";
}

static void say(const char *fn, const char *what, const void *p) {
  char buf[160];
  size_t n = put_str(buf, 0, sizeof buf, "lemmalloc: ");
  n = put_str(buf, n, sizeof buf, fn);
  n = put_str(buf, n, sizeof buf, "(): ");
  n = put_str(buf, n, sizeof buf, what);
  n = put_str(buf, n, sizeof buf, " ");
  n = put_hex(buf, n, sizeof buf, (uintptr_t)p);
  buf[n++] = '\n';
  lm_os_write_err(buf, n);
}

void lm_heap_report(enum lm_call call, enum lm_bad why, const void *p) {
  say(call_name[call], why_text(call, why), p);
  if (!lm_heap.cfg.warn_only) lm_os_abort();
}

_Noreturn void lm_heap_bug(const char *what, const void *p) {
  say("lemmalloc", what, p);
  lm_os_abort();
}
