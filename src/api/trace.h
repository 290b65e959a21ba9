/* Call tracing (LEMMALLOC_TRACE=FILE): every malloc-family call is recorded
 * so the oracle (tools/oracle) can replay a real program's allocation trace.
 * Owner of trace.c: the oracle. The API layer (malloc.c) calls
 * lm_trace_record from each entry point when lm_trace_enabled is non-zero;
 * tracing never allocates through the malloc family, except once, while
 * it starts (pthread_atfork), when it records nothing. The file is
 * flushed and closed by trace.c's own destructor. */
#ifndef LM_TRACE_H
#define LM_TRACE_H
#include <stddef.h>
#include "ops.h"

/* Non-zero while calls are recorded, and before the first call, which
 * reads LEMMALLOC_TRACE and opens the file (or turns tracing off): so the
 * first call's record is where tracing starts. */
extern int lm_trace_enabled;

/* kind: enum lm_op_kind. in: the pointer argument (realloc/free/usable_size)
 * or NULL; a, b: size / nmemb / align arguments as the call had them (for
 * posix_memalign and the aligned family: a = align, b = size; calloc and
 * reallocarray: a = nmemb, b = size; others: a = size); out: the result. */
void lm_trace_record(int kind, const void *in, size_t a, size_t b, const void *out);
#endif
