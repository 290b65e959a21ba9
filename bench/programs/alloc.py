"""alloc.py: an allocation-heavy CPython program (run with PYTHONMALLOC=malloc
so that every object goes to malloc instead of CPython's own pools).

Three phases, each checking its own result:
  trees: binary trees built and walked (the benchmarks game's binarytrees);
         a tree of depth d must have 2^(d+1) - 1 nodes.
  words: a word-frequency count over generated text, with string slicing
         and joining; the counts must add up to the words generated.
  json:  nested documents serialised and parsed back; must compare equal.

usage: python3 alloc.py [scale=1]
"""
import json
import random
import sys


def tree(d):
    return (tree(d - 1), tree(d - 1)) if d else (None, None)


def count(t):
    left, right = t
    return 1 if left is None else 1 + count(left) + count(right)


def fail(msg):
    print("FAIL: " + msg, file=sys.stderr)
    sys.exit(1)


def main():
    scale = int(sys.argv[1]) if len(sys.argv) > 1 else 1
    rng = random.Random(7)
    nodes = 0
    long_lived = tree(14)
    for d in range(4, 16, 2):
        for _ in range(scale * (1 << (16 - d)) // 4):
            n = count(tree(d))
            if n != (1 << (d + 1)) - 1:
                fail("tree of depth %d has %d nodes" % (d, n))
            nodes += n
    if count(long_lived) != (1 << 15) - 1:
        fail("long-lived tree damaged")

    vocab = ["".join(rng.choice("abcdefghij") for _ in range(rng.randint(2, 12)))
             for _ in range(5000)]
    freq = {}
    words = 0
    for _ in range(scale * 40):
        text = " ".join(rng.choice(vocab) for _ in range(5000))
        for w in text.split():
            key = w[: len(w) // 2 + 1] + "/" + w
            freq[key] = freq.get(key, 0) + 1
            words += 1
    if sum(freq.values()) != words:
        fail("word counts lost")

    docs = 0
    for i in range(scale * 300):
        doc = {"id": i, "items": [{"k": str(j), "v": [j] * (j % 7), "s": "x" * (j % 50)}
                                  for j in range(rng.randint(10, 200))]}
        if json.loads(json.dumps(doc)) != doc:
            fail("json round trip changed document %d" % i)
        docs += 1
    print("RESULT ok nodes=%d words=%d docs=%d" % (nodes, words, docs))


main()
