/* What both OS backends share: configuration, messages, abort. */
#include "os.h"
#include <errno.h>
#include <stdlib.h>
#include <unistd.h>

const char *lm_os_getenv(const char *name) { return getenv(name); }

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
