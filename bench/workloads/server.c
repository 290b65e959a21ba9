/* server: a request/response server with a thread pool, where almost every
 * buffer is freed by a thread that did not allocate it.
 *
 *   ACCEPTORS threads play the network side: each opens connections (a
 *   connection record and a request buffer of 256 B..16 KiB, log-uniform,
 *   holding a text request: a request line, 4..40 header lines, a body),
 *   hands each one to a random worker's queue, and keeps at most INFLIGHT
 *   of them open; it also "writes" the responses that come back: checks
 *   them and frees the response and the connection record.
 *   WORKERS threads parse each request into a list of header records with
 *   their own name and value strings (16..100 B each, freed at the end of
 *   the request: local frees), free the request buffer (a remote free: the
 *   acceptor allocated it), keep a session record (48..1024 B) for one
 *   request in four in a shared table, freeing the record it replaces
 *   (allocated by whichever worker stored it: a remote free), and build the
 *   response (64 B..32 KiB, grown with realloc as a string builder grows)
 *   that goes back to the connection's acceptor, which frees it (remote).
 * Unlike larson (threads that die and leave their blocks to their
 * successors), every thread lives for the whole run and the remote frees
 * flow both ways between two pools, request by request.
 *
 * Validation: the acceptor records a checksum of every request it writes;
 * the worker recomputes it from the parsed headers and body and puts it in
 * the response, which carries a size/tag pattern checked before its free;
 * every session record is checked before it is replaced or freed; requests
 * sent = responses checked, sessions stored - replaced = sessions left.
 *
 * usage: server [acceptors=2] [workers=4] [requests=40000 per acceptor]
 *               [inflight=64] [--seed=N]
 */
#include "common.h"

typedef struct conn {
  inbox_node link; /* first: queue link */
  int acceptor;
  uint32_t req_len;
  char *req;
  uint64_t want; /* checksum of the request, computed by the acceptor */
  uint64_t got;  /* the worker's checksum */
  char *resp;
  size_t resp_len;
  uint64_t resp_tag;
} conn;

typedef struct { /* a blocking queue of connections (intrusive list) */
  pthread_mutex_t lock;
  pthread_cond_t cond;
  inbox_node *head;
  int closed;
} queue;

typedef struct {
  _Alignas(LINE) pthread_t t;
  uint64_t rng;
  queue q;         /* workers: incoming requests; acceptors: responses */
  long sent, done; /* acceptors */
  long handled, headers, sessions_new, sessions_freed; /* workers */
} thr;

#define SESSIONS 4096
#define STRIPES 64
typedef struct {
  size_t size;
  uint64_t tag;
} session_hdr;
static struct {
  pthread_mutex_t lock[STRIPES];
  session_hdr *slot[SESSIONS];
} S;

static long g_acceptors, g_workers, g_requests, g_inflight;
static thr *g_acc, *g_wrk;

static void q_push(queue *q, conn *c) {
  pthread_mutex_lock(&q->lock);
  c->link.next = q->head;
  q->head = &c->link;
  pthread_cond_signal(&q->cond);
  pthread_mutex_unlock(&q->lock);
}

/* Everything queued (newest first), waiting if the queue is empty;
 * NULL once it is empty and closed. */
static conn *q_take_all(queue *q, int wait) {
  pthread_mutex_lock(&q->lock);
  while (wait && !q->head && !q->closed) pthread_cond_wait(&q->cond, &q->lock);
  inbox_node *n = q->head;
  q->head = NULL;
  pthread_mutex_unlock(&q->lock);
  return (conn *)n;
}

static uint64_t mix(uint64_t h, uint64_t v) { return (h ^ v) * 0x100000001b3ull + (h >> 29); }

static uint64_t hash_bytes(const char *p, size_t n) {
  uint64_t h = 0xcbf29ce484222325ull;
  for (size_t i = 0; i < n; i++) h = (h ^ (unsigned char)p[i]) * 0x100000001b3ull;
  return h;
}

static const char HEX[] = "0123456789abcdef";

/* The acceptor writes a request: "GET /r/<id> HTTP/1.1\n", header lines
 * "x-<k>: <value>\n", a blank line, then the body; the checksum mixes the
 * hashes of every header name and value and of the body. */
static conn *new_request(thr *a, int id, long seq) {
  conn *c = xmalloc(sizeof *c);
  memset(c, 0, sizeof *c);
  c->acceptor = id;
  size_t len = rng_log_size(&a->rng, 256, 16384);
  char *r = xmalloc(len);
  int pos = snprintf(r, len, "GET /r/%ld HTTP/1.1\n", seq);
  uint64_t sum = 0;
  int nh = 4 + (int)rng_below(&a->rng, 37);
  for (int h = 0; h < nh; h++) {
    int nl = 4 + (int)rng_below(&a->rng, 12), vl = 8 + (int)rng_below(&a->rng, 80);
    if ((size_t)(pos + nl + vl + 8) >= len) break;
    int ns = pos;
    r[pos++] = 'x';
    r[pos++] = '-';
    for (int k = 2; k < nl; k++) r[pos++] = "abcdefghijklmnop"[rng_below(&a->rng, 16)];
    int ne = pos;
    r[pos++] = ':';
    r[pos++] = ' ';
    int vs = pos;
    uint64_t v = rng_next(&a->rng);
    for (int k = 0; k < vl; k++) r[pos++] = HEX[(v >> (4 * (k % 16))) & 15];
    sum = mix(sum, hash_bytes(r + ns, (size_t)(ne - ns)));
    sum = mix(sum, hash_bytes(r + vs, (size_t)(pos - vs)));
    r[pos++] = '\n';
  }
  r[pos++] = '\n';
  size_t body = len - (size_t)pos;
  memset(r + pos, 'a' + (int)(seq % 26), body);
  sum = mix(sum, hash_bytes(r + pos, body));
  c->req = r;
  c->req_len = (uint32_t)len;
  c->want = sum;
  return c;
}

typedef struct header {
  struct header *next;
  char *name, *value;
} header;

static char *dup_range(const char *p, size_t n) {
  char *s = xmalloc(n + 1);
  memcpy(s, p, n);
  s[n] = 0;
  return s;
}

/* A string builder: grows by doubling with realloc. */
typedef struct {
  char *p;
  size_t n, cap;
} sbuf;
static void sb_put(sbuf *b, const char *s, size_t n) {
  if (b->n + n > b->cap) {
    size_t cap = b->cap ? b->cap : 64;
    while (cap < b->n + n) cap *= 2;
    char *q = realloc(b->p, cap);
    if (!q) fail("realloc(%zu)", cap);
    b->p = q;
    b->cap = cap;
  }
  memcpy(b->p + b->n, s, n);
  b->n += n;
}

static void handle(thr *w, conn *c) {
  /* Parse: the request line, then "name: value" lines up to a blank one. */
  const char *r = c->req, *end = r + c->req_len;
  const char *p = memchr(r, '\n', (size_t)(end - r));
  if (!p) fail("request without a request line");
  p++;
  uint64_t key = hash_bytes(r, (size_t)(p - r)); /* the request line */
  header *hs = NULL;
  uint64_t sum = 0;
  long nh = 0;
  while (p < end && *p != '\n') {
    const char *nl = memchr(p, '\n', (size_t)(end - p)), *colon = memchr(p, ':', (size_t)(nl - p));
    if (!nl || !colon) fail("malformed header line");
    header *h = xmalloc(sizeof *h);
    h->name = dup_range(p, (size_t)(colon - p));
    h->value = dup_range(colon + 2, (size_t)(nl - colon - 2));
    h->next = hs;
    hs = h;
    nh++;
    p = nl + 1;
  }
  /* The list is newest first: the checksum is over the request's order. */
  header *rev = NULL;
  while (hs) {
    header *n = hs->next;
    hs->next = rev;
    rev = hs;
    hs = n;
  }
  for (header *h = rev; h; h = h->next) {
    sum = mix(sum, hash_bytes(h->name, strlen(h->name)));
    sum = mix(sum, hash_bytes(h->value, strlen(h->value)));
  }
  p++;
  sum = mix(sum, hash_bytes(p, (size_t)(end - p)));
  c->got = sum;

  /* Response: a status line, the headers echoed back, a body; then the
   * size/tag pattern over the whole buffer. */
  sbuf b = {0};
  char line[160];
  int n = snprintf(line, sizeof line, "HTTP/1.1 200 OK\nx-sum: %016llx\n", (unsigned long long)sum);
  sb_put(&b, line, (size_t)n);
  for (header *h = rev; h; h = h->next) {
    sb_put(&b, h->name, strlen(h->name));
    sb_put(&b, ": ", 2);
    sb_put(&b, h->value, strlen(h->value));
    sb_put(&b, "\n", 1);
  }
  size_t body = rng_log_size(&w->rng, 64, 32768);
  while (body > 0) {
    size_t k = body < sizeof line ? body : sizeof line;
    memset(line, 'A' + (int)(key % 26), k);
    sb_put(&b, line, k);
    body -= k;
  }
  if (b.n < 16) sb_put(&b, "................", 16);
  c->resp = b.p;
  c->resp_len = b.n;
  c->resp_tag = rng_next(&w->rng);
  tag_fill(c->resp, c->resp_len, c->resp_tag);

  while (rev) {
    header *h = rev->next;
    free(rev->name);
    free(rev->value);
    free(rev);
    rev = h;
  }
  w->headers += nh;
  free(c->req); /* allocated by the acceptor */
  c->req = NULL;

  /* One request in four leaves a session record behind, replacing one. */
  if (rng_below(&w->rng, 4) == 0) {
    size_t sz = rng_log_size(&w->rng, 48, 1024);
    session_hdr *s = xmalloc(sz);
    s->size = sz;
    s->tag = rng_next(&w->rng);
    tag_fill((char *)(s + 1), sz - sizeof *s, s->tag);
    uint32_t i = (uint32_t)(key % SESSIONS) ^ rng_below(&w->rng, 64);
    pthread_mutex_lock(&S.lock[i % STRIPES]);
    session_hdr *old = S.slot[i];
    S.slot[i] = s;
    pthread_mutex_unlock(&S.lock[i % STRIPES]);
    w->sessions_new++;
    if (old) {
      tag_check((char *)(old + 1), old->size - sizeof *old, old->tag);
      free(old); /* stored by any worker */
      w->sessions_freed++;
    }
  }
  w->handled++;
}

static void *worker(void *arg) {
  thr *w = arg;
  conn *c;
  while ((c = q_take_all(&w->q, 1))) {
    while (c) {
      conn *next = (conn *)c->link.next;
      handle(w, c);
      q_push(&g_acc[c->acceptor].q, c);
      c = next;
    }
  }
  return NULL;
}

static void write_response(thr *a, conn *c) {
  if (c->got != c->want) fail("worker's checksum %llx, request's %llx", (unsigned long long)c->got,
                              (unsigned long long)c->want);
  tag_check(c->resp, c->resp_len, c->resp_tag);
  free(c->resp); /* allocated by the worker */
  free(c);
  a->done++;
}

static void *acceptor(void *arg) {
  thr *a = arg;
  int id = (int)(a - g_acc);
  long open = 0;
  while (a->done < g_requests) {
    while (a->sent < g_requests && open < g_inflight) {
      conn *c = new_request(a, id, a->sent);
      q_push(&g_wrk[rng_below(&a->rng, (uint32_t)g_workers)].q, c);
      a->sent++;
      open++;
      if (a->sent % 8 == 0) break; /* look at the responses now and then */
    }
    conn *c = q_take_all(&a->q, open >= g_inflight || a->sent == g_requests);
    while (c) {
      conn *next = (conn *)c->link.next;
      write_response(a, c);
      open--;
      c = next;
    }
  }
  return NULL;
}

static void q_init(queue *q) {
  pthread_mutex_init(&q->lock, NULL);
  pthread_cond_init(&q->cond, NULL);
}

int main(int argc, char **argv) {
  uint64_t seed = arg_seed(&argc, argv, 1);
  g_acceptors = arg_long(argc, argv, 1, 2);
  g_workers = arg_long(argc, argv, 2, 4);
  g_requests = arg_long(argc, argv, 3, 40000);
  g_inflight = arg_long(argc, argv, 4, 64);
  g_acc = xcalloc_lines((size_t)g_acceptors, sizeof *g_acc);
  g_wrk = xcalloc_lines((size_t)g_workers, sizeof *g_wrk);
  for (int i = 0; i < STRIPES; i++) pthread_mutex_init(&S.lock[i], NULL);
  for (long i = 0; i < g_acceptors; i++) {
    q_init(&g_acc[i].q);
    g_acc[i].rng = seed_mix(seed, (uint64_t)i);
  }
  for (long i = 0; i < g_workers; i++) {
    q_init(&g_wrk[i].q);
    g_wrk[i].rng = seed_mix(seed, 1000 + (uint64_t)i);
  }
  for (long i = 0; i < g_workers; i++) start_thread(&g_wrk[i].t, worker, &g_wrk[i]);
  for (long i = 0; i < g_acceptors; i++) start_thread(&g_acc[i].t, acceptor, &g_acc[i]);
  for (long i = 0; i < g_acceptors; i++) pthread_join(g_acc[i].t, NULL);
  for (long i = 0; i < g_workers; i++) {
    pthread_mutex_lock(&g_wrk[i].q.lock);
    g_wrk[i].q.closed = 1;
    pthread_cond_signal(&g_wrk[i].q.cond);
    pthread_mutex_unlock(&g_wrk[i].q.lock);
  }
  long handled = 0, headers = 0, snew = 0, sfreed = 0, sleft = 0;
  for (long i = 0; i < g_workers; i++) {
    pthread_join(g_wrk[i].t, NULL);
    handled += g_wrk[i].handled;
    headers += g_wrk[i].headers;
    snew += g_wrk[i].sessions_new;
    sfreed += g_wrk[i].sessions_freed;
  }
  for (int i = 0; i < SESSIONS; i++)
    if (S.slot[i]) {
      tag_check((char *)(S.slot[i] + 1), S.slot[i]->size - sizeof *S.slot[i], S.slot[i]->tag);
      free(S.slot[i]);
      sleft++;
    }
  long done = 0;
  for (long i = 0; i < g_acceptors; i++) done += g_acc[i].done;
  if (done != g_acceptors * g_requests || handled != done)
    fail("%ld requests handled, %ld answered, want %ld", handled, done, g_acceptors * g_requests);
  if (snew - sfreed != sleft) fail("sessions: %ld stored, %ld replaced, %ld left", snew, sfreed, sleft);
  free(g_acc);
  free(g_wrk);
  printf("RESULT ok requests=%ld headers=%ld sessions=%ld\n", done, headers, snew);
  return 0;
}
