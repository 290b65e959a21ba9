# CPython doing real work with every allocation sent to malloc
# (PYTHONMALLOC=malloc): dicts, lists, sets, strings, JSON, regexes, sorting,
# threads handing objects to each other, a fork-based process pool started
# while a thread allocates. Prints a deterministic summary.
import json
import multiprocessing
import queue
import re
import threading
import zlib

q = queue.Queue()
results = [None] * 6


def work(t):
    index = {}
    for i in range(20000):
        w = "w%d-%s" % ((i * 7919 + t) % 1543, "y" * (i % 29))
        index.setdefault(w, []).append(i)
    docs = [{"id": i, "t": t, "name": "item-%d" % i * (1 + i % 4), "tags": list(range(i % 9))}
            for i in range(2000)]
    text = json.dumps(docs, sort_keys=True)
    back = json.loads(text)
    words = re.findall(r"item-(\d+)", text)
    q.put([d for d in back if d["id"] % 3 == 0])  # freed on the main thread
    results[t] = (len(index), sum(len(v) for v in index.values()), len(text),
                  zlib.crc32(text.encode()), len(set(words)), sorted(index)[:2])


threads = [threading.Thread(target=work, args=(t,)) for t in range(6)]
for th in threads:
    th.start()
for th in threads:
    th.join()
handed = 0
while not q.empty():
    handed += len(q.get())
for t, r in enumerate(results):
    print("thread", t, r)
print("handed over:", handed)


def square_words(n):
    return sum(len(str(i) * (i % 7)) for i in range(n * 1000))


stop = threading.Event()


def churn():
    while not stop.is_set():
        junk = [{"k": str(i)} for i in range(1000)]
        del junk


busy = threading.Thread(target=churn)
busy.start()
with multiprocessing.get_context("fork").Pool(2) as pool:
    print("pool:", pool.map(square_words, range(1, 13)))
stop.set()
busy.join()
big = {str(i) * 2: [i] * (i % 5) for i in range(200000)}
print("big dict:", len(big), sum(len(v) for v in big.values()), sorted(big)[-1])
