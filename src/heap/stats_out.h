/* Statistics reports: text or one JSON object (docs/stats.md lists every
 * field), to stderr or to LEMMALLOC_STATS_FILE, at exit, from
 * malloc_stats(), and on LEMMALLOC_STATS_SIGNAL.
 *
 * The signal handler only sets lm_stats_pending; lm_heap_tick (every
 * allocator slow path) calls lm_stats_poll when it is set, which writes
 * the report from an ordinary context (locks, snprintf, open). */
#ifndef LM_STATS_OUT_H
#define LM_STATS_OUT_H
#include "heap.h"

extern volatile int lm_stats_pending LM_HIDDEN;
void lm_stats_poll(void) LM_HIDDEN;

/* The report at exit: LEMMALLOC_STATS's format, to its destination. */
void lm_stats_print(void) LM_HIDDEN;

#endif
