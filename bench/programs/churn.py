"""churn.py: small-object churn in CPython (run with PYTHONMALLOC=malloc so
that every object goes to malloc instead of CPython's own pools).

Unlike alloc.py (trees built whole, one big word count, JSON round trips),
everything here is short-lived and replaced one by one, as in a service:
  events:   a stream of event dicts (5 fields, a list of tags, a payload
            string) through a sliding window of the last 2000; per-user
            aggregates (dicts of counters) updated as events enter and
            leave; every 5000 events a ranking (a sorted list of tuples)
            is rebuilt and dropped.
            Check: the window's aggregates, kept incrementally, must equal
            a recount of the window at the end; events in = events out.
  sessions: an LRU cache (OrderedDict) of session dicts, 3000 entries, hit
            by keys with a skewed distribution; misses build a session
            (strings, a list), hits update it, evictions drop the oldest.
            Check: hits + misses = requests; every session read back
            matches what its key regenerates.
  tokens:   lines of text built from pieces, split into (kind, text)
            tuples, filtered and joined back.
            Check: the joined tokens equal the line.

usage: python3 churn.py [scale=1] [--seed=N]
"""
import collections
import random
import sys


def fail(msg):
    print("FAIL: " + msg, file=sys.stderr)
    sys.exit(1)


def events(rng, n):
    window = collections.deque()
    agg = {}
    kinds = ["click", "view", "buy", "scroll", "login", "logout"]
    rankings = 0
    for i in range(n):
        user = "user%d" % int(rng.paretovariate(1.2) * 10)
        ev = {"id": i, "user": user, "kind": rng.choice(kinds),
              "tags": ["t%d" % rng.randrange(50) for _ in range(rng.randrange(1, 5))],
              "payload": "p" * rng.randrange(8, 120), "value": rng.randrange(1000)}
        window.append(ev)
        a = agg.setdefault(user, {"count": 0, "value": 0, "kinds": {}})
        a["count"] += 1
        a["value"] += ev["value"]
        a["kinds"][ev["kind"]] = a["kinds"].get(ev["kind"], 0) + 1
        if len(window) > 2000:
            old = window.popleft()
            b = agg[old["user"]]
            b["count"] -= 1
            b["value"] -= old["value"]
            b["kinds"][old["kind"]] -= 1
            if b["count"] == 0:
                del agg[old["user"]]
        if i % 5000 == 4999:
            ranking = sorted(((v["value"], k, dict(v["kinds"])) for k, v in agg.items()), reverse=True)
            rankings += len(ranking) > 0
    recount = {}
    for ev in window:
        r = recount.setdefault(ev["user"], [0, 0])
        r[0] += 1
        r[1] += ev["value"]
    for user, (c, v) in recount.items():
        if agg[user]["count"] != c or agg[user]["value"] != v:
            fail("aggregate of %s drifted" % user)
    if len(recount) != len(agg):
        fail("aggregates for users not in the window")
    return rankings


def make_session(key):
    return {"key": key, "name": "session-" + key, "roles": ["r%d" % (len(key) % 7), "user"],
            "hits": 0, "note": key * (1 + len(key) % 5)}


def sessions(rng, n):
    cache = collections.OrderedDict()
    hits = misses = 0
    for _ in range(n):
        key = "k%d" % int(rng.expovariate(1 / 2500.0))
        s = cache.get(key)
        if s is None:
            misses += 1
            s = make_session(key)
            cache[key] = s
            if len(cache) > 3000:
                cache.popitem(last=False)
        else:
            hits += 1
            cache.move_to_end(key)
            ref = make_session(key)
            if s["name"] != ref["name"] or s["note"] != ref["note"] or s["roles"] != ref["roles"]:
                fail("session %s corrupted" % key)
        s["hits"] += 1
    if hits + misses != n or len(cache) > 3000:
        fail("cache bookkeeping")
    return hits


WORDS = ["alpha", "beta", "gamma", "delta", "x", "yy", "zzz", "42", "7", "3.14", "(", ")", "+", "-"]


def tokens(rng, n):
    total = 0
    for _ in range(n):
        line = " ".join(rng.choice(WORDS) for _ in range(rng.randrange(5, 40)))
        toks = []
        for w in line.split(" "):
            kind = "num" if w[0].isdigit() else "word" if w[0].isalpha() else "op"
            toks.append((kind, w))
        words = [t for t in toks if t[0] == "word"]
        if " ".join(t[1] for t in toks) != line:
            fail("tokens do not join back to the line")
        total += len(words)
    return total


def main():
    args = [a for a in sys.argv[1:] if not a.startswith("--seed=")]
    seeds = [int(a[7:]) for a in sys.argv[1:] if a.startswith("--seed=")]
    scale = int(args[0]) if args else 1
    rng = random.Random(seeds[0] if seeds else 1)
    r = events(rng, scale * 150000)
    h = sessions(rng, scale * 300000)
    t = tokens(rng, scale * 60000)
    print("RESULT ok rankings=%d hits=%d words=%d" % (r, h, t))


main()
