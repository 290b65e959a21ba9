#!/usr/bin/python3
"""Resident metadata against the chunk bytes mapped, sampled during a run.

  bench/metadata.py [--lib build/liblemmalloc.so] [--period 0.25] -- CMD ARGS...

Runs CMD with lemmalloc preloaded and asks it for its statistics every
PERIOD seconds (LEMMALLOC_STATS_SIGNAL=USR2, LEMMALLOC_STATS=json into a
file), then prints, over the samples: the peak of chunks_mapped, metadata at
that sample and their ratio, and the highest ratio over the samples where at
least 8 chunks were mapped. Issue 15's goal: resident metadata at most 1% of
the chunk bytes mapped on `make bench-memory`'s workloads.

`metadata` is lemmalloc's own estimate of its resident metadata: the chunk
headers measured with mincore, the small-object pool and the registry's
leaves counted whole (docs/stats.md).
"""
import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--lib", default=os.path.join(ROOT, "build", "liblemmalloc.so"))
    ap.add_argument("--period", type=float, default=0.25)
    ap.add_argument("cmd", nargs=argparse.REMAINDER)
    a = ap.parse_args()
    cmd = a.cmd[1:] if a.cmd and a.cmd[0] == "--" else a.cmd
    if not cmd:
        ap.error("no command")
    with tempfile.TemporaryDirectory() as tmp:
        out = os.path.join(tmp, "stats.%p.json")
        env = dict(os.environ, LD_PRELOAD=os.path.abspath(a.lib), LEMMALLOC_STATS="json",
                   LEMMALLOC_STATS_FILE=out, LEMMALLOC_STATS_SIGNAL="USR2")
        p = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL)
        while p.poll() is None:
            time.sleep(a.period)
            try:
                p.send_signal(signal.SIGUSR2)
            except ProcessLookupError:
                break
        rc = p.wait()
        samples = []
        for name in os.listdir(tmp):
            with open(os.path.join(tmp, name)) as f:
                for line in f:
                    line = line.strip()
                    if line:
                        try:
                            samples.append(json.loads(line))
                        except ValueError:
                            pass
    if rc != 0 or not samples:
        print("metadata: %s exited %d with %d samples" % (cmd[0], rc, len(samples)), file=sys.stderr)
        return 1
    MiB = 1024.0 * 1024.0
    peak = max(samples, key=lambda s: s["chunks_mapped"])
    busy = [s for s in samples if s["chunks_mapped"] >= 8 * 4 * MiB]
    worst = max(busy, key=lambda s: s["metadata"] / s["chunks_mapped"]) if busy else None
    print("metadata: %s: %d samples; at the peak of chunks mapped: %.1f MiB of chunks, %.2f MiB of "
          "metadata, %.2f%%" % (os.path.basename(cmd[0]), len(samples), peak["chunks_mapped"] / MiB,
                                 peak["metadata"] / MiB, 100.0 * peak["metadata"] / peak["chunks_mapped"]))
    if worst:
        print("metadata: highest share with at least 8 chunks mapped: %.2f%% (%.2f MiB of %.1f MiB)" % (
            100.0 * worst["metadata"] / worst["chunks_mapped"], worst["metadata"] / MiB,
            worst["chunks_mapped"] / MiB))
    return 0


if __name__ == "__main__":
    sys.exit(main())
