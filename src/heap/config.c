/* Settings: parsing, validation and the one-line reports (see config.h). */
#define _GNU_SOURCE
#include "config.h"
#include <signal.h>
#include <string.h>
#include <strings.h>

extern char **environ;

struct lm_stats_conf lm_stats_conf;
struct lm_heapmap_conf lm_heapmap_conf;
static bool stats_given; /* LEMMALLOC_STATS or stats: in LEMMALLOC_CONF was valid */

/* ---- the string builder ---- */

void lm_sb_str(struct lm_sb *b, const char *s) {
  while (*s) {
    if (b->n + 1 >= b->cap) {
      b->full = true;
      break;
    }
    b->s[b->n++] = *s++;
  }
  if (b->cap) b->s[b->n] = '\0';
}

void lm_sb_u64(struct lm_sb *b, uint64_t v) {
  char tmp[24];
  int k = (int)sizeof tmp - 1;
  tmp[k] = '\0';
  do tmp[--k] = (char)('0' + v % 10); while ((v /= 10) != 0);
  lm_sb_str(b, tmp + k);
}

void lm_sb_size(struct lm_sb *b, size_t v) {
  static const char suffix[] = "kmg";
  int shift = 0;
  while (shift < 3 && v != 0 && (v & 1023) == 0) {
    v >>= 10;
    shift++;
  }
  lm_sb_u64(b, v);
  if (shift) {
    char s[2] = {suffix[shift - 1], '\0'};
    lm_sb_str(b, s);
  }
}

void lm_sb_json(struct lm_sb *b, const char *s) {
  if (s == NULL) return lm_sb_str(b, "null");
  lm_sb_str(b, "\"");
  for (; *s; s++) {
    unsigned char c = (unsigned char)*s;
    char esc[8] = {0};
    if (c == '"' || c == '\\') {
      esc[0] = '\\';
      esc[1] = (char)c;
    } else if (c < 0x20 || c == 0x7f) {
      memcpy(esc, "\\u00", 4);
      esc[4] = "0123456789abcdef"[c >> 4];
      esc[5] = "0123456789abcdef"[c & 15];
    } else {
      esc[0] = (char)c; /* UTF-8 bytes pass through */
    }
    lm_sb_str(b, esc);
  }
  lm_sb_str(b, "\"");
}

/* ---- parsing ---- */

/* Decimal digits only, at most `max`: 0 ok, 1 not a number, 2 above max. */
static int parse_uint(const char *s, uint64_t max, uint64_t *out) {
  if (*s < '0' || *s > '9') return 1;
  uint64_t v = 0;
  bool over = false;
  for (; *s >= '0' && *s <= '9'; s++) {
    if (v > (UINT64_MAX - 9) / 10) over = true;
    else v = v * 10 + (uint64_t)(*s - '0');
  }
  if (*s != '\0') return 1;
  if (over || v > max) return 2;
  *out = v;
  return 0;
}

/* Digits with an optional k, m or g (and b) suffix, at most `max` bytes. */
static int parse_size(const char *s, uint64_t max, uint64_t *out) {
  if (*s < '0' || *s > '9') return 1;
  uint64_t v = 0;
  bool over = false;
  for (; *s >= '0' && *s <= '9'; s++) {
    if (v > (UINT64_MAX - 9) / 10) over = true;
    else v = v * 10 + (uint64_t)(*s - '0');
  }
  unsigned shift = 0;
  switch (*s) {
  case 'k': case 'K': shift = 10; s++; break;
  case 'm': case 'M': shift = 20; s++; break;
  case 'g': case 'G': shift = 30; s++; break;
  }
  if (*s == 'b' || *s == 'B') s++;
  if (*s != '\0') return 1;
  if (over || v > (max >> shift)) return 2;
  *out = v << shift;
  return 0;
}

/* 1 true, 0 false, -1 neither. */
static int parse_bool(const char *s) {
  static const char *const yes[] = {"1", "yes", "true", "on"}, *const no[] = {"0", "no", "false", "off"};
  for (size_t i = 0; i < 4; i++) {
    if (strcasecmp(s, yes[i]) == 0) return 1;
    if (strcasecmp(s, no[i]) == 0) return 0;
  }
  return -1;
}

/* "USR1", "SIGUSR1", "10": a signal whose default action nobody misses
 * (lemmalloc takes it over). 0 if not one of those. */
static const struct { const char *name; int sig; } signal_names[] = {
  {"USR1", SIGUSR1}, {"USR2", SIGUSR2}, {"HUP", SIGHUP}, {"WINCH", SIGWINCH},
};
static int parse_signal(const char *s) {
  if (strncasecmp(s, "SIG", 3) == 0) s += 3;
  for (size_t i = 0; i < sizeof signal_names / sizeof signal_names[0]; i++)
    if (strcasecmp(s, signal_names[i].name) == 0) return signal_names[i].sig;
  uint64_t v;
  if (parse_uint(s, 64, &v) != 0 || v == 0) return 0;
  int n = (int)v;
  return n != SIGKILL && n != SIGSTOP && n != SIGSEGV && n != SIGBUS && n != SIGILL && n != SIGFPE &&
                 n != SIGABRT
             ? n
             : 0;
}

void lm_sb_signal(struct lm_sb *b, int sig) {
  for (size_t i = 0; i < sizeof signal_names / sizeof signal_names[0]; i++)
    if (signal_names[i].sig == sig) return lm_sb_str(b, signal_names[i].name);
  lm_sb_u64(b, (uint64_t)sig);
}

/* ---- the settings ---- */

/* Defaults: see README. The decay was picked by measurement (bench/). */
#define LM_DEFAULT_PURGE_MS 200
#define LM_MAX_PURGE_MS 3600000 /* an hour */
/* The free bytes a thread may keep in slabs it owns beyond its current
 * ones, and in its cache of large blocks: enough for a thread that frees
 * what it allocated to reuse its own slabs without the arena's lock (the
 * figures are in the commit that set it, and in bench/results/). */
#define LM_DEFAULT_TCACHE_BYTES (256u << 10)
/* 64 MiB per thread is the most that is not a typo. */
#define LM_MAX_TCACHE_BYTES ((uint64_t)64 << 20)
#define LM_DEFAULT_HUGE_CACHE ((size_t)64 << 20)
#define LM_MAX_HUGE_CACHE ((uint64_t)64 << 30)

/* Arenas: one per two CPUs. Blocks freed in one arena never serve another,
 * so each arena holds its own free pages; with threads allocating from
 * slabs they own, most calls take no arena lock, and fewer arenas cost
 * little contention (measured in the commit that set it). */
static unsigned default_arenas(unsigned ncpu) {
  unsigned n = (ncpu + 1) / 2;
  return n > LM_MAX_ARENAS ? LM_MAX_ARENAS : n;
}

enum kind {
  K_ARENAS, K_TCACHE, K_PURGE, K_HUGE, K_ON_ERROR, K_STATS, K_STATS_FILE, K_STATS_SIGNAL, K_HEAPMAP,
  K_HEAPMAP_SIGNAL, K_BACKGROUND, K_OTHER
};

/* Every LEMMALLOC_* variable lemmalloc reads; `key` names it inside
 * LEMMALLOC_CONF (NULL: a variable only: file paths, or read elsewhere). */
static const struct setting {
  const char *env, *key;
  enum kind kind;
} settings[] = {
  {"LEMMALLOC_ARENAS", "arenas", K_ARENAS},
  {"LEMMALLOC_TCACHE_BYTES", "tcache_bytes", K_TCACHE},
  {"LEMMALLOC_PURGE_MS", "purge_ms", K_PURGE},
  {"LEMMALLOC_HUGE_CACHE", "huge_cache", K_HUGE},
  {"LEMMALLOC_ON_ERROR", "on_error", K_ON_ERROR},
  {"LEMMALLOC_BACKGROUND", "background", K_BACKGROUND},
  {"LEMMALLOC_STATS", "stats", K_STATS},
  {"LEMMALLOC_STATS_SIGNAL", "stats_signal", K_STATS_SIGNAL},
  {"LEMMALLOC_STATS_FILE", NULL, K_STATS_FILE},
  {"LEMMALLOC_CONF", NULL, K_OTHER},
  {"LEMMALLOC_TRACE", NULL, K_OTHER},          /* api/trace.c */
  {"LEMMALLOC_HEAPMAP", NULL, K_HEAPMAP},
  {"LEMMALLOC_HEAPMAP_SIGNAL", NULL, K_HEAPMAP_SIGNAL},
};
#define NSETTINGS (sizeof settings / sizeof settings[0])
/* Variables of the tools around the library, not settings: no report. */
static const char *const tool_prefixes[] = {"LEMMALLOC_LIB=", "LEMMALLOC_ORACLE_", "LEMMALLOC_FUZZ_",
                                            "LEMMALLOC_TEST_"};

/* "lemmalloc: <origin> <problem>; using <value>" on stderr, one write. */
static void report(const char *origin_a, const char *origin_b, const char *value, const char *problem,
                   const char *used) {
  char buf[320];
  struct lm_sb m = {buf, 0, sizeof buf, false};
  lm_sb_str(&m, "lemmalloc: ");
  lm_sb_str(&m, origin_a);
  lm_sb_str(&m, origin_b);
  /* The value as given, cut short and without control characters. */
  char v[80];
  size_t k = 0;
  for (; value[k] && k < sizeof v - 4; k++) v[k] = (unsigned char)value[k] < 0x20 ? '?' : value[k];
  if (value[k]) v[k++] = '.', v[k++] = '.', v[k++] = '.';
  v[k] = '\0';
  lm_sb_str(&m, v);
  lm_sb_str(&m, " ");
  lm_sb_str(&m, problem);
  if (used) {
    lm_sb_str(&m, "; using ");
    lm_sb_str(&m, used);
  }
  if (m.full) m.n = m.cap - 2;
  m.s[m.n++] = '\n';
  lm_os_write_err(m.s, m.n);
}

/* Apply one value. origin_a/origin_b name it in reports:
 * ("LEMMALLOC_ARENAS", "=") or ("LEMMALLOC_CONF ", "arenas:"). */
static void apply(struct lm_config *c, const struct setting *st, const char *value, const char *oa,
                  const char *ob) {
  char used[64];
  struct lm_sb u = {used, 0, sizeof used, false};
  uint64_t v = 0;
  int r;
  switch (st->kind) {
  case K_ARENAS:
    r = parse_uint(value, LM_MAX_ARENAS, &v);
    if (r == 0) {
      c->narenas = v ? (unsigned)v : default_arenas(lm_os_ncpus()); /* 0: the default */
      return;
    }
    if (r == 2) c->narenas = LM_MAX_ARENAS;
    lm_sb_u64(&u, c->narenas);
    return report(oa, ob, value, r == 1 ? "is not a number" : "is above the maximum 64", used);
  case K_PURGE:
    r = parse_uint(value, LM_MAX_PURGE_MS, &v);
    if (r == 0) {
      c->purge_ms = (uint32_t)v;
      return;
    }
    if (r == 2) c->purge_ms = LM_MAX_PURGE_MS;
    lm_sb_u64(&u, c->purge_ms);
    return report(oa, ob, value,
                  r == 1 ? "is not a number of milliseconds" : "is above the maximum 3600000 (an hour)", used);
  case K_TCACHE:
  case K_HUGE: {
    size_t *field = st->kind == K_TCACHE ? &c->tcache_bytes : &c->huge_cache_bytes;
    uint64_t max = st->kind == K_TCACHE ? LM_MAX_TCACHE_BYTES : LM_MAX_HUGE_CACHE;
    r = parse_size(value, max, &v);
    if (r == 0) {
      *field = (size_t)v;
      return;
    }
    if (r == 2) *field = (size_t)max;
    lm_sb_size(&u, *field);
    return report(oa, ob, value,
                  r == 1 ? "is not a size (digits and an optional k, m or g)"
                  : st->kind == K_TCACHE ? "is above the maximum 64m"
                                         : "is above the maximum 64g",
                  used);
  }
  case K_ON_ERROR:
    if (strcasecmp(value, "warn") == 0) c->warn_only = true;
    else if (strcasecmp(value, "abort") == 0) c->warn_only = false;
    else return report(oa, ob, value, "is not warn or abort", c->warn_only ? "warn" : "abort");
    return;
  case K_BACKGROUND: {
    int b = parse_bool(value);
    if (b < 0) return report(oa, ob, value, "is not 1/0, yes/no, true/false or on/off", c->background ? "1" : "0");
    c->background = b;
    return;
  }
  case K_STATS: {
    int b = parse_bool(value);
    if (b >= 0) lm_stats_conf.format = b ? LM_STATS_TEXT : LM_STATS_OFF;
    else if (strcasecmp(value, "text") == 0) lm_stats_conf.format = LM_STATS_TEXT;
    else if (strcasecmp(value, "json") == 0) lm_stats_conf.format = LM_STATS_JSON;
    else
      return report(oa, ob, value, "is not 1/0, yes/no, true/false, on/off, text or json",
                    lm_stats_conf.format == LM_STATS_JSON ? "json"
                    : lm_stats_conf.format == LM_STATS_TEXT ? "text" : "off");
    stats_given = true;
    return;
  }
  case K_STATS_SIGNAL:
  case K_HEAPMAP_SIGNAL: {
    int *field = st->kind == K_STATS_SIGNAL ? &lm_stats_conf.signal : &lm_heapmap_conf.signal;
    int sig = parse_signal(value);
    if (sig == 0 && *value != '\0') {
      if (*field) lm_sb_signal(&u, *field);
      else lm_sb_str(&u, "none");
      return report(oa, ob, value, "is not a signal lemmalloc may take (USR1, USR2, HUP, WINCH or a number)",
                    used);
    }
    *field = sig;
    return;
  }
  case K_STATS_FILE:
  case K_HEAPMAP: {
    char *file = st->kind == K_STATS_FILE ? lm_stats_conf.file : lm_heapmap_conf.file;
    _Static_assert(sizeof lm_stats_conf.file == sizeof lm_heapmap_conf.file, "one length check for both");
    if (strlen(value) >= sizeof lm_stats_conf.file)
      return report(oa, ob, value, "is too long (1023 bytes at most)",
                    file[0] ? file : st->kind == K_STATS_FILE ? "stderr" : "none");
    memcpy(file, value, strlen(value) + 1);
    return;
  }
  case K_OTHER:
    return;
  }
}

/* LEMMALLOC_CONF: "key:value,key:value"; spaces around items are ignored. */
static void read_conf(struct lm_config *c, const char *conf) {
  const char *p = conf;
  while (*p) {
    while (*p == ' ' || *p == ',') p++;
    if (!*p) break;
    const char *end = p;
    while (*end && *end != ',') end++;
    char item[160];
    size_t len = (size_t)(end - p);
    if (len >= sizeof item) len = sizeof item - 1;
    memcpy(item, p, len);
    while (len && item[len - 1] == ' ') len--;
    item[len] = '\0';
    p = end;
    char *colon = strchr(item, ':');
    if (colon == NULL) {
      report("LEMMALLOC_CONF ", "", item, "is not key:value; ignored", NULL);
      continue;
    }
    const struct setting *st = NULL;
    for (size_t i = 0; i < NSETTINGS; i++)
      if (settings[i].key && strlen(settings[i].key) == (size_t)(colon - item) &&
          strncmp(settings[i].key, item, (size_t)(colon - item)) == 0)
        st = &settings[i];
    if (st == NULL) {
      report("LEMMALLOC_CONF ", "", item,
             "is not a setting (arenas, tcache_bytes, purge_ms, huge_cache, on_error, background, stats, stats_signal); "
             "ignored",
             NULL);
      continue;
    }
    char origin[48];
    struct lm_sb o = {origin, 0, sizeof origin, false};
    lm_sb_str(&o, st->key);
    lm_sb_str(&o, ":");
    apply(c, st, colon + 1, "LEMMALLOC_CONF ", origin);
  }
}

/* One line naming the LEMMALLOC_* variables a secure-mode process ignored,
 * or one per variable lemmalloc does not know. Reads only the names. */
static void check_names(bool secure) {
  char buf[400];
  struct lm_sb ign = {buf, 0, sizeof buf, false};
  for (char **e = environ; e && *e; e++) {
    const char *s = *e;
    if (strncmp(s, "LEMMALLOC_", 10) != 0) continue;
    size_t len = 0;
    while (s[len] && s[len] != '=') len++;
    bool known = false;
    for (size_t i = 0; i < NSETTINGS && !known; i++)
      known = strlen(settings[i].env) == len && strncmp(settings[i].env, s, len) == 0;
    for (size_t i = 0; i < sizeof tool_prefixes / sizeof tool_prefixes[0] && !known; i++)
      known = strncmp(s, tool_prefixes[i], strlen(tool_prefixes[i])) == 0;
    char name[64];
    if (len >= sizeof name) len = sizeof name - 1;
    memcpy(name, s, len);
    name[len] = '\0';
    if (secure) {
      if (strncmp(s, "LEMMALLOC_LIB=", 14) == 0) continue; /* the wrapper's */
      lm_sb_str(&ign, ign.n ? ", " : "lemmalloc: setuid/setgid program (AT_SECURE): ignoring ");
      lm_sb_str(&ign, name);
    } else if (!known) {
      report(name, "", "", "is not a lemmalloc setting (see README, Settings); ignored", NULL);
    }
  }
  if (ign.n) {
    lm_sb_str(&ign, "; no file is written");
    if (ign.full) ign.n = ign.cap - 2;
    ign.s[ign.n++] = '\n';
    lm_os_write_err(ign.s, ign.n);
  }
}

void lm_config_read(struct lm_config *c) {
  c->narenas = default_arenas(lm_os_ncpus());
  c->tcache_bytes = LM_DEFAULT_TCACHE_BYTES;
  c->purge_ms = LM_DEFAULT_PURGE_MS;
  c->huge_cache_bytes = LM_DEFAULT_HUGE_CACHE;
  c->warn_only = false;
  c->background = true;
  memset(&lm_stats_conf, 0, sizeof lm_stats_conf);
  memset(&lm_heapmap_conf, 0, sizeof lm_heapmap_conf);
  stats_given = false;

  bool secure = lm_os_secure();
  check_names(secure);
  if (secure) { /* lm_os_getenv sees nothing: the defaults stand */
    c->stats_at_exit = false;
    return;
  }
  const char *conf = lm_os_getenv("LEMMALLOC_CONF");
  if (conf) read_conf(c, conf);
  for (size_t i = 0; i < NSETTINGS; i++) {
    const char *v = lm_os_getenv(settings[i].env);
    if (v == NULL || *v == '\0' || settings[i].kind == K_OTHER) continue; /* empty: unset */
    apply(c, &settings[i], v, settings[i].env, "=");
  }
  /* A stats file alone asks for the text statistics there. */
  if (lm_stats_conf.file[0] && !stats_given)
    lm_stats_conf.format = LM_STATS_TEXT;
  char name[16];
  struct lm_sb n = {name, 0, sizeof name, false};
  if (lm_heapmap_conf.signal && !lm_heapmap_conf.file[0]) { /* a signal with nowhere to write */
    lm_sb_signal(&n, lm_heapmap_conf.signal);
    report("LEMMALLOC_HEAPMAP_SIGNAL=", "", name, "needs LEMMALLOC_HEAPMAP=FILE", "none");
    lm_heapmap_conf.signal = 0;
  }
  /* One handler per signal: the heap map's wins (heapmap_trigger.c and
   * stats_out.c install them from these values). */
  if (lm_stats_conf.signal && lm_stats_conf.signal == lm_heapmap_conf.signal) {
    n.n = 0;
    lm_sb_signal(&n, lm_stats_conf.signal);
    report("LEMMALLOC_STATS_SIGNAL=", "", name, "is also LEMMALLOC_HEAPMAP_SIGNAL", "none");
    lm_stats_conf.signal = 0;
  }
  c->stats_at_exit = lm_stats_conf.format != LM_STATS_OFF;
}

/* Members of the settings description: "name=value" separated by spaces,
 * or JSON members separated by commas. */
struct members {
  struct lm_sb *b;
  bool json, first;
};
static void key(struct members *m, const char *name) {
  if (!m->first) lm_sb_str(m->b, m->json ? "," : " ");
  m->first = false;
  if (m->json) {
    lm_sb_json(m->b, name);
    lm_sb_str(m->b, ":");
  } else {
    lm_sb_str(m->b, name);
    lm_sb_str(m->b, "=");
  }
}
static void str_value(struct members *m, const char *v) {
  if (m->json) lm_sb_json(m->b, v);
  else lm_sb_str(m->b, v ? v : "none");
}
static void size_value(struct members *m, size_t v) {
  if (m->json) lm_sb_u64(m->b, v);
  else lm_sb_size(m->b, v);
}

void lm_config_describe(const struct lm_config *c, struct lm_sb *b, bool json) {
  static const char *const fmt[] = {"off", "text", "json"};
  struct members m = {b, json, true};
  key(&m, "arenas");
  lm_sb_u64(b, c->narenas);
  key(&m, "tcache_bytes");
  size_value(&m, c->tcache_bytes);
  key(&m, "purge_ms");
  lm_sb_u64(b, c->purge_ms);
  key(&m, "huge_cache");
  size_value(&m, c->huge_cache_bytes);
  key(&m, "on_error");
  str_value(&m, c->warn_only ? "warn" : "abort");
  key(&m, "background");
  lm_sb_str(b, c->background ? (json ? "true" : "yes") : (json ? "false" : "no"));
  key(&m, "stats");
  str_value(&m, fmt[lm_stats_conf.format]);
  key(&m, "stats_file");
  str_value(&m, lm_stats_conf.file[0] ? lm_stats_conf.file : NULL);
  key(&m, "stats_signal");
  char sig[16];
  struct lm_sb s = {sig, 0, sizeof sig, false};
  if (lm_stats_conf.signal) lm_sb_signal(&s, lm_stats_conf.signal);
  str_value(&m, lm_stats_conf.signal ? sig : NULL);
  /* Read by api/trace.c; shown here so one place has every setting. */
  const char *trace = lm_os_getenv("LEMMALLOC_TRACE");
  key(&m, "trace");
  str_value(&m, trace && *trace ? trace : NULL);
  key(&m, "heapmap");
  str_value(&m, lm_heapmap_conf.file[0] ? lm_heapmap_conf.file : NULL);
  key(&m, "heapmap_signal");
  s.n = 0;
  if (lm_heapmap_conf.signal) lm_sb_signal(&s, lm_heapmap_conf.signal);
  str_value(&m, lm_heapmap_conf.signal ? sig : NULL);
  key(&m, "secure");
  lm_sb_str(b, lm_os_secure() ? (json ? "true" : "yes") : (json ? "false" : "no"));
}
