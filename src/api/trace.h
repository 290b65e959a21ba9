/* Call tracing (LEMMALLOC_TRACE=FILE): every malloc-family call is recorded
 * so the oracle (tools/oracle) can replay a real program's allocation trace.
 * Owner of trace.c: the oracle. The API layer (malloc.c) calls
 * lm_trace_record from each entry point when lm_trace_enabled is non-zero;
 * tracing must never allocate through the malloc family. */
#ifndef LM_TRACE_H
#define LM_TRACE_H
#include <stddef.h>
#include "../../fuzz/ops.h"

extern int lm_trace_enabled; /* set by lm_trace_init when LEMMALLOC_TRACE is set */

/* Called once at start-up (after the heap is usable), with getenv's value. */
void lm_trace_init(const char *path);

/* kind: enum lm_op_kind. in: the pointer argument (realloc/free/usable_size)
 * or NULL; a, b: size / nmemb / align arguments as the call had them (for
 * posix_memalign and the aligned family: a = align, b = size; calloc and
 * reallocarray: a = nmemb, b = size; others: a = size); out: the result. */
void lm_trace_record(int kind, const void *in, size_t a, size_t b, const void *out);

/* Flush and close (at exit). */
void lm_trace_close(void);
#endif
