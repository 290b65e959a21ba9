#!/usr/bin/python3
"""make demo, the measuring half (bench/demo.sh installs and builds first).

Runs the multi-threaded bloat workload (bench/workloads/bloat.c, a short
version: 8 threads with working sets, bursts of tens of MB and cross-thread
frees) under glibc, glibc with MALLOC_ARENA_MAX=2 (the usual workaround) and
lemmalloc, interleaved, RUNS times each, and shows the medians side by side:
peak and final RSS, live bytes, wall and CPU time; an RSS-over-time chart in
the terminal and in build/demo/demo-rss.png; and lemmalloc's own statistics
(LEMMALLOC_STATS=1). Every number is measured here and now; where lemmalloc
loses, the verdict lines say so.
"""
import os
import statistics
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import run  # noqa: E402  (bench/run.py: measure(), the workload table)

RUNS = int(os.environ.get("DEMO_RUNS", "3"))
OUT_DIR = os.path.join(run.ROOT, "build", "demo")
PNG = os.path.join(OUT_DIR, "demo-rss.png")
SHOW = [("glibc", {}, "g"), ("glibc-arena2", {"MALLOC_ARENA_MAX": "2"}, "a"),
        ("lemmalloc", {"LD_PRELOAD": run.LEMMALLOC, "LEMMALLOC_STATS": "1"}, "L")]


def main():
    if not os.path.exists(run.LEMMALLOC):
        sys.exit("demo: %s is missing: the build failed" % run.LEMMALLOC)
    w = next(x for x in run.WORKLOADS if x.name == "bloat")
    argv = w.argv("demo")
    print("demo: %s, %d run(s) each, interleaved" % (" ".join(["bloat"] + argv[1:]), RUNS))
    res = {name: [] for name, _, _ in SHOW}
    for r in range(RUNS):
        for name, env, _ in SHOW:
            wall, user, system, maxrss, rc, out, err, samples = run.measure(argv, env, sample=True, period_ms=20)
            m = run.result_line(out) if rc == 0 else None
            if m is None:
                print(err, file=sys.stderr)
                sys.exit("demo: the workload FAILED under %s (exit %d)" % (name, rc))
            res[name].append({"wall": wall, "cpu": user + system, "peak": maxrss / 1024,
                              "final": int(m["final_rss_kib"]) / 1024, "live": int(m["live_kib"]) / 1024,
                              "peak_live": int(m["peak_live_kib"]) / 1024,
                              "samples": samples, "stderr": err})
            print("  run %d/%d %-13s %6.2f s  peak %7.1f MiB" % (r + 1, RUNS, name, wall, maxrss / 1024),
                  flush=True)

    med = {n: {k: statistics.median(x[k] for x in rs)
               for k in ("wall", "cpu", "peak", "final", "live", "peak_live")}
           for n, rs in res.items()}
    # The run whose peak is the median stands for its allocator in the charts.
    rep = {n: sorted(rs, key=lambda x: x["peak"])[len(rs) // 2] for n, rs in res.items()}

    print("\nmedians of %d run(s); \"live\" is what the program holds (peak: sampled every ms);" % RUNS)
    print("final RSS is read after the jobs and a 0.5 s quiet period (a small job every 20 ms), threads alive")
    print("%-14s %12s %12s %12s %10s %9s %9s" % (
        "allocator", "peak RSS", "peak live", "final RSS", "final live", "wall", "CPU"))
    for name, _, _ in SHOW:
        m = med[name]
        print("%-14s %8.1f MiB %8.1f MiB %8.1f MiB %6.1f MiB %7.2f s %7.2f s" % (
            name, m["peak"], m["peak_live"], m["final"], m["live"], m["wall"], m["cpu"]))
    g, lm = med["glibc"], med["lemmalloc"]
    print()
    for what, key, better, worse in (("peak RSS", "peak", "less memory", "MORE memory"),
                                     ("final RSS", "final", "less memory", "MORE memory"),
                                     ("wall time", "wall", "faster", "SLOWER"),
                                     ("CPU time", "cpu", "less CPU", "MORE CPU")):
        r = lm[key] / g[key]
        verdict = ("%.1f× %s" % (1 / r, better)) if r < 0.95 and key in ("peak", "final") else \
                  ("%.0f%% %s" % ((1 - r) * 100, better)) if r < 0.95 else \
                  ("%.0f%% %s" % ((r - 1) * 100, worse)) if r > 1.05 else "about the same (within 5%)"
        print("lemmalloc vs glibc, %-9s %.2f×: %s" % (what, r, verdict))
    a = med["glibc-arena2"]
    print("lemmalloc vs glibc with MALLOC_ARENA_MAX=2: peak RSS %.2f×, wall time %.2f×" % (
        lm["peak"] / a["peak"], lm["wall"] / a["wall"]))

    ascii_chart({n: rep[n]["samples"] for n, _, _ in SHOW}, {n: c for n, _, c in SHOW})
    png_chart({n: rep[n]["samples"] for n, _, _ in SHOW})

    print("\nlemmalloc's own statistics (LEMMALLOC_STATS=1, printed at exit, median-peak run):")
    stats = rep["lemmalloc"]["stderr"].strip()
    print(stats if stats else "  (none printed: this build of lemmalloc does not report statistics yet)")


def ascii_chart(series, marks, width=72, height=16):
    """Each series as a line: the last sample in each column (held until the
    next sample), joined vertically to the previous column's point; later
    series draw on top."""
    tmax = max((s[-1][0] for s in series.values() if s), default=1.0) or 1.0
    ymax = max((k for s in series.values() for _, k in s), default=1024) / 1024
    grid = [[" "] * width for _ in range(height)]
    for name, s in series.items():
        col = {}
        for t, kib in s:
            col[min(width - 1, int(t / tmax * (width - 1)))] = \
                min(height - 1, round(kib / 1024 / ymax * (height - 1)))
        prev = None
        for x in range(min(col, default=0), max(col, default=-1) + 1):
            y = col.get(x, prev)  # a step between samples
            lo, hi = (y, y) if prev is None else (min(y, prev), max(y, prev))
            for yy in range(lo, hi + 1):
                grid[height - 1 - yy][x] = marks[name]
            prev = y
    print("\nRSS over time (%s; one column = %.0f ms):" % (
        ", ".join("%s = %s" % (marks[n], n) for n in series), tmax / width * 1000))
    for i, row in enumerate(grid):
        label = "%6.0f MiB |" % (ymax * (height - 1 - i) / (height - 1)) if i % 3 == 0 else "           |"
        print(label + "".join(row))
    print("           +" + "-" * width)
    print("            0 s" + " " * (width - 12) + "%.1f s" % tmax)


def png_chart(series):
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("\n(no matplotlib: PNG chart skipped; scripts/deps.sh installs python3-matplotlib)")
        return
    os.makedirs(OUT_DIR, exist_ok=True)
    colors = {"glibc": "#7f7f7f", "glibc-arena2": "#bcbd22", "lemmalloc": "#d62728"}
    fig, ax = plt.subplots(figsize=(9, 4.5))
    for name, s in series.items():
        ax.plot([t for t, _ in s], [k / 1024 for _, k in s], label=name, color=colors[name],
                linewidth=2.2 if name == "lemmalloc" else 1.4)
    ax.set_title("bloat workload (8 threads): RSS over time")
    ax.set_xlabel("seconds")
    ax.set_ylabel("RSS (MiB)")
    ax.set_ylim(bottom=0)
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(PNG, dpi=100)
    plt.close(fig)
    print("\nchart written to %s" % os.path.relpath(PNG, run.ROOT))


if __name__ == "__main__":
    main()
