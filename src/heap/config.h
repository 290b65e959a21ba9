/* Settings: the LEMMALLOC_* variables and LEMMALLOC_CONF, read and
 * validated once at start-up (lm_heap_init calls lm_config_read).
 *
 * Precedence, lowest first: the defaults, LEMMALLOC_CONF
 * ("arenas:2,purge_ms:100,stats:json"), then each LEMMALLOC_* variable.
 * A value that is not valid prints ONE line naming the setting, the value
 * and what is used instead ("lemmalloc: LEMMALLOC_ARENAS=abc is not a
 * number; using 1") and leaves the setting as it was before that value.
 * A LEMMALLOC_* variable lemmalloc does not know (a typo) gets one line too:
 * a new setting must be added to the table in config.c.
 *
 * In a secure-mode process (setuid, setgid: AT_SECURE) lm_os_getenv sees
 * no variable, so every setting keeps its default; if any LEMMALLOC_*
 * variable was set, one line says they were ignored.
 *
 * Nothing here allocates through malloc (it runs inside the first malloc).
 */
#ifndef LM_CONFIG_H
#define LM_CONFIG_H
#include "heap.h"

enum lm_stats_format { LM_STATS_OFF, LM_STATS_TEXT, LM_STATS_JSON };

/* The statistics output (what struct lm_config does not hold). */
struct lm_stats_conf {
  int format;          /* LEMMALLOC_STATS: at exit, off, text or json */
  int signal;          /* LEMMALLOC_STATS_SIGNAL: write them on this signal; 0 none */
  char file[1024];     /* LEMMALLOC_STATS_FILE: "" = stderr; "%p" = pid */
};
extern struct lm_stats_conf lm_stats_conf LM_HIDDEN;

/* The heap map's triggers (heapmap_trigger.c). Variables only. */
struct lm_heapmap_conf {
  char file[1024];     /* LEMMALLOC_HEAPMAP: written at exit; "" = off */
  int signal;          /* LEMMALLOC_HEAPMAP_SIGNAL: write it on this signal; 0 none */
};
extern struct lm_heapmap_conf lm_heapmap_conf LM_HIDDEN;

/* Fill *c, lm_stats_conf and lm_heapmap_conf from the environment (one line per bad value). */
void lm_config_read(struct lm_config *c) LM_HIDDEN;

/* A bounded string builder on a caller's buffer (never allocates; output
 * past cap is dropped and `full` set). */
struct lm_sb {
  char *s;
  size_t n, cap;
  bool full;
};
void lm_sb_str(struct lm_sb *b, const char *s) LM_HIDDEN;
void lm_sb_u64(struct lm_sb *b, uint64_t v) LM_HIDDEN;
/* A byte count as the settings take it: 64m, 256k, 4096. */
void lm_sb_size(struct lm_sb *b, size_t v) LM_HIDDEN;
/* A JSON string, quoted and escaped; NULL becomes null. */
void lm_sb_json(struct lm_sb *b, const char *s) LM_HIDDEN;

/* The settings in effect: "arenas=2 tcache_bytes=256k ..." (text), or the
 * members of a JSON object ("\"arenas\":2,..."), appended to b. */
void lm_config_describe(const struct lm_config *c, struct lm_sb *b, bool json) LM_HIDDEN;

/* Name of a signal number the settings accept ("USR1", or its number). */
void lm_sb_signal(struct lm_sb *b, int sig) LM_HIDDEN;

#endif
