#!/usr/bin/python3
"""Charts from the CSVs bench/run.py wrote (matplotlib, Debian's python3).

  bench/plot.py full|quick   <suite>-time.png, <suite>-memory.png: median
                             wall time and peak RSS per workload as a ratio
                             to glibc (log scale; left of 1 is better)
  bench/plot.py memory       memory-rss.png: VmRSS over time for each
                             allocator (the run with the median peak), with
                             peak and final RSS bars beside it
  bench/plot.py hotpath      hotpath-time.png, hotpath-memory.png as for full,
                             and hotpath-rss.png (burst-rb's RSS over time)
  bench/plot.py scaling      scaling.png: throughput per thread, M ops per CPU
                             second and peak RSS against 1..64 threads
"""
import csv
import os
import statistics
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

RESULTS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "results")
ORDER = ["glibc", "glibc-arena2", "jemalloc", "mimalloc", "tcmalloc", "lemmalloc"]
COLORS = {"glibc": "#7f7f7f", "glibc-arena2": "#bcbd22", "jemalloc": "#1f77b4",
          "mimalloc": "#2ca02c", "tcmalloc": "#9467bd", "lemmalloc": "#d62728"}


def read(name):
    with open(os.path.join(RESULTS, name)) as f:
        return list(csv.DictReader(f))


def ratio_chart(suite, key, title, out):
    summ = read(suite + "-summary.csv")
    workloads = list(dict.fromkeys(s["workload"] for s in summ))
    allocs = [a for a in ORDER if any(s["allocator"] == a for s in summ) and a != "glibc"]
    val = {(s["workload"], s["allocator"]): float(s[key]) for s in summ if s[key]}
    fig, ax = plt.subplots(figsize=(9, 0.45 * len(workloads) * (len(allocs) + 1) / 3 + 1.5))
    h = 0.8 / len(allocs)
    for i, a in enumerate(allocs):
        ys, xs = [], []
        for j, w in enumerate(workloads):
            if (w, a) in val and val.get((w, "glibc")):
                ys.append(j + (i - (len(allocs) - 1) / 2) * h)
                xs.append(val[(w, a)] / val[(w, "glibc")])
        # Bars grow from 1.0 (glibc): left is better, right is worse.
        ax.barh(ys, [x - 1 for x in xs], height=h, color=COLORS[a], label=a, left=1)
        for y, x in zip(ys, xs):
            ax.text(x * (1.03 if x >= 1 else 0.97), y, "%.2f" % x, va="center",
                    ha="left" if x >= 1 else "right", fontsize=6)
    ax.set_xscale("log")
    lo = min([v / val[(w, "glibc")] for (w, a), v in val.items() if val.get((w, "glibc"))] + [1])
    hi = max([v / val[(w, "glibc")] for (w, a), v in val.items() if val.get((w, "glibc"))] + [1])
    ticks = [t for t in (1 / 16, 1 / 8, 1 / 4, 1 / 2, 1, 2, 4, 8, 16, 32) if lo / 2 <= t <= hi * 2]
    ax.set_xticks(ticks)
    ax.set_xticklabels(["%g" % t for t in ticks])
    ax.set_xlim(lo / 1.5, hi * 1.5)
    ax.axvline(1.0, color="black", linewidth=1)
    ax.set_yticks(range(len(workloads)))
    ax.set_yticklabels(workloads)
    ax.invert_yaxis()
    ax.set_xlabel("ratio to glibc (log scale; < 1 is better)")
    ax.set_title(title)
    ax.grid(axis="x", which="both", alpha=0.3)
    ax.legend(loc="lower right", fontsize=8)
    fig.tight_layout()
    fig.savefig(os.path.join(RESULTS, out), dpi=110)
    plt.close(fig)


def rss_chart(suite="memory", out="memory-rss.png"):
    rows = read(suite + "-runs.csv")
    samples = read(suite + "-rss.csv")
    sampled = {s["workload"] for s in samples}
    workloads = [w for w in dict.fromkeys(r["workload"] for r in rows) if w in sampled]
    allocs = [a for a in ORDER if any(r["allocator"] == a for r in rows)]
    fig, axes = plt.subplots(len(workloads), 2, figsize=(12, 4.2 * len(workloads)),
                             gridspec_kw={"width_ratios": [3, 1]}, squeeze=False)
    for wi, w in enumerate(workloads):
        ax, bx = axes[wi]
        peaks, finals = [], []
        for a in allocs:
            good = [r for r in rows if r["workload"] == w and r["allocator"] == a and r["ok"] == "1"]
            if not good:
                peaks.append(0)
                finals.append(0)
                continue
            good.sort(key=lambda r: int(r["maxrss_kib"]))
            run = good[len(good) // 2]["run"]
            pts = [(float(s["t_s"]), int(s["rss_kib"]) / 1024) for s in samples
                   if s["workload"] == w and s["allocator"] == a and s["run"] == run]
            if pts:
                ax.plot([p[0] for p in pts], [p[1] for p in pts], color=COLORS[a], label=a,
                        linewidth=2.2 if a == "lemmalloc" else 1.3)
            peaks.append(statistics.median(int(r["maxrss_kib"]) for r in good) / 1024)
            fin = [float(kv.split("=")[1]) for r in good for kv in r["metrics"].split()
                   if kv.startswith("final_rss_kib=")]
            finals.append(statistics.median(fin) / 1024 if fin else 0)
        # What the program really held: no allocator can go under these.
        for key, style, label in (("peak_live_kib", "--", "peak live bytes (median, all runs)"), ("live_kib", ":", "live bytes at the end")):
            v = [float(kv.split("=")[1]) for r in rows if r["workload"] == w and r["ok"] == "1"
                 for kv in r["metrics"].split() if kv.startswith(key + "=")]
            if v:
                ax.axhline(statistics.median(v) / 1024, color="black", linestyle=style, linewidth=1,
                           label=label)
        ax.set_title("%s: RSS over time (VmRSS every 50 ms, median-peak run)" % w)
        ax.set_xlabel("seconds")
        ax.set_ylabel("RSS (MiB)")
        ax.set_ylim(bottom=0)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
        xs = range(len(allocs))
        bx.bar([x - 0.2 for x in xs], peaks, width=0.4, color=[COLORS[a] for a in allocs], label="peak")
        bx.bar([x + 0.2 for x in xs], finals, width=0.4, color=[COLORS[a] for a in allocs],
               alpha=0.45, hatch="//", label="final")
        bx.set_xticks(list(xs))
        bx.set_xticklabels(allocs, rotation=45, ha="right", fontsize=8)
        bx.set_title("MiB: peak (solid), final (hatched)", fontsize=10)
        bx.grid(axis="y", alpha=0.3)
    fig.tight_layout()
    fig.savefig(os.path.join(RESULTS, out), dpi=100)
    plt.close(fig)


def scaling_chart():
    """scaling.png: per workload (local, remote) throughput per thread, M ops
    per CPU second and peak RSS against the thread count (log x)."""
    rows = [r for r in read("scaling-runs.csv") if r["ok"] == "1"]
    groups = [("local", "local churn (randmix)"), ("remote", "remote-free churn (workset)")]
    allocs = [a for a in ORDER if any(r["allocator"] == a for r in rows)]
    fig, axes = plt.subplots(len(groups), 3, figsize=(15, 4.3 * len(groups)), squeeze=False)
    for gi, (g, title) in enumerate(groups):
        for a in allocs:
            pts = {}
            for r in rows:
                name, _, t = r["workload"].rpartition("-")
                if name != g or r["allocator"] != a:
                    continue
                m = dict(kv.split("=", 1) for kv in r["metrics"].split())
                t = int(t)
                pts.setdefault(t, []).append((float(m["mops_per_s"]) / t,
                                              float(m["ops"]) / 1e6 / max(float(r["cpu_s"]), 1e-3),
                                              int(r["maxrss_kib"]) / 1024))
            ts = sorted(pts)
            if not ts:
                continue
            for k in range(3):
                ys = [statistics.median(p[k] for p in pts[t]) for t in ts]
                axes[gi][k].plot(ts, ys, marker="o", color=COLORS[a], label=a,
                                 linewidth=2.2 if a == "lemmalloc" else 1.3)
        for k, label in enumerate(["throughput per thread (M ops/s)", "M ops per CPU second",
                                   "peak RSS (MiB)"]):
            ax = axes[gi][k]
            ax.set_xscale("log", base=2)
            if k == 0:
                ax.set_yscale("log")
            ax.set_xticks([1, 2, 4, 8, 16, 64])
            ax.set_xticklabels(["1", "2", "4", "8", "16", "64"])
            ax.set_xlabel("threads (2 cores)")
            ax.set_ylabel(label)
            ax.set_title("%s: %s" % (title, label), fontsize=10)
            ax.grid(alpha=0.3, which="both")
            if k != 0:
                ax.set_ylim(bottom=0)
        axes[gi][0].legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(os.path.join(RESULTS, "scaling.png"), dpi=100)
    plt.close(fig)


def main():
    suite = sys.argv[1] if len(sys.argv) > 1 else "full"
    if suite == "memory":
        rss_chart()
        print("plot: bench/results/memory-rss.png")
    elif suite == "scaling":
        scaling_chart()
        print("plot: bench/results/scaling.png")
    else:
        ratio_chart(suite, "wall_s", "Wall time relative to glibc (%s suite, medians)" % suite,
                    suite + "-time.png")
        ratio_chart(suite, "maxrss_kib", "Peak RSS relative to glibc (%s suite, medians)" % suite,
                    suite + "-memory.png")
        print("plot: bench/results/%s-time.png, bench/results/%s-memory.png" % (suite, suite))
        if suite == "hotpath" and os.path.exists(os.path.join(RESULTS, "hotpath-rss.csv")):
            rss_chart("hotpath", "hotpath-rss.png")
            print("plot: bench/results/hotpath-rss.png")


if __name__ == "__main__":
    main()
