#!/usr/bin/python3
"""Benchmark runner: every workload under every allocator, interleaved.

  bench/run.py --suite full      make bench          (< 30 min)
  bench/run.py --suite quick     make bench QUICK=1  (a few minutes)
  bench/run.py --suite memory    make bench-memory   (issue 4: RSS over time)
  bench/run.py --suite hotpath   make bench-hotpath  (issue 16: the suite's kinds, real
                                 programs' churn, the Ruby bloat pattern; ~20 min)
  bench/run.py --suite scaling   make bench-scaling  (issue 16: 1..64 threads; ~10 min)

Each run is one process started by the small launcher build/bench/measure
with the allocator's environment (LD_PRELOAD or MALLOC_ARENA_MAX); it
measures wall time, takes CPU time and peak RSS from wait4's rusage (which
includes the children the command waited for, so gcc's cc1 counts) and, for
the memory workloads, samples VmRSS every 50 ms. Runs are interleaved (run 1
of every workload under every allocator, then run 2, ...; the allocator
order rotates) so that a change in the machine's load spreads over all
allocators instead of landing on one. The tables report medians. LEMMALLOC_*
variables in the caller's environment reach every run and are listed in the
results.

A run counts only if the process exits 0 and prints its "RESULT ok" line
(every workload checks its own results); anything else is recorded as a
failure, shown in the tables, and left out of the medians.

Results: bench/results/<suite>-runs.csv (every run), <suite>-summary.csv
(medians), <suite>.md (tables with ratios to glibc and geometric means) and
PNG charts made by bench/plot.py. The memory suite also samples VmRSS every
50 ms into memory-rss.csv (and the hotpath suite, for burst-rb, into
hotpath-rss.csv). The hotpath and scaling suites pass --seed=N to their
workloads: run r uses --seed's value + r - 1 under every allocator.
"""
import argparse
import csv
import datetime
import math
import os
import platform
import re
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BIN = os.path.join(ROOT, "build", "bench")
RESULTS = os.path.join(ROOT, "bench", "results")
PROGRAMS = os.path.join(ROOT, "bench", "programs")
WORKLOADS_DIR = os.path.join(ROOT, "bench", "workloads")
# BENCH_LEMMALLOC points at another build (e.g. to compare two versions).
LEMMALLOC = os.environ.get("BENCH_LEMMALLOC", os.path.join(ROOT, "build", "liblemmalloc.so"))
MEASURE = os.path.join(BIN, "measure")
PYTHON = "/usr/bin/python3"  # Debian's, the one python3-matplotlib is installed for
SAMPLE_MS = 50
RUN_LIMIT_S = 300  # a run that hangs (a deadlocked allocator) is killed and counted as failed

ALLOCATOR_ORDER = ["glibc", "glibc-arena2", "jemalloc", "mimalloc", "tcmalloc", "lemmalloc", "lemmalloc-base"]
# BENCH_BASELINE points at an earlier lemmalloc build: it runs as
# "lemmalloc-base", interleaved with the others, never counted as a peer,
# and the reports compare lemmalloc with it ("before and after", same run).
BASELINE = os.environ.get("BENCH_BASELINE", "")
NOT_PEERS = {"lemmalloc", "lemmalloc-base"}


def find_lib(soname):
    """Path of a shared library from the dynamic linker's cache."""
    out = subprocess.run(["/sbin/ldconfig", "-p"], capture_output=True, text=True).stdout
    for line in out.splitlines():
        name, _, path = line.strip().partition(" => ")
        if name.split(" ")[0] == soname and os.path.exists(path):
            return path
    return None


def allocators(wanted):
    """name -> extra environment, for every allocator present."""
    found = {"glibc": {}, "glibc-arena2": {"MALLOC_ARENA_MAX": "2"}}
    for name, soname in [("jemalloc", "libjemalloc.so.2"), ("mimalloc", "libmimalloc.so.2"),
                         ("tcmalloc", "libtcmalloc_minimal.so.4")]:
        path = find_lib(soname)
        if path:
            found[name] = {"LD_PRELOAD": path}
        else:
            print("bench: %s not found (%s); skipped" % (name, soname), file=sys.stderr)
    if BASELINE:
        if os.path.exists(BASELINE):
            found["lemmalloc-base"] = {"LD_PRELOAD": os.path.abspath(BASELINE)}
        else:
            print("bench: BENCH_BASELINE %s not found" % BASELINE, file=sys.stderr)
    if os.path.exists(LEMMALLOC):
        found["lemmalloc"] = {"LD_PRELOAD": LEMMALLOC}
    else:
        print("bench: %s not built; lemmalloc skipped" % LEMMALLOC, file=sys.stderr)
    names = [a for a in ALLOCATOR_ORDER if a in found and (not wanted or a in wanted)]
    return {a: found[a] for a in names}


def result_line(out):
    """Metrics of the last 'RESULT ok k=v ...' line, or None."""
    for line in reversed(out.splitlines()):
        if line.startswith("RESULT ok"):
            return dict(kv.split("=", 1) for kv in line.split()[2:] if "=" in kv)
    return None


def sqlite_result(out):
    checks = re.findall(r"^check (\w+)$", out, re.M)
    return {"checks": str(len(checks))} if len(checks) == 4 and set(checks) == {"ok"} else None


class Workload:
    """group (hotpath and scaling suites): "suite" for the C workloads of the
    benchmark suite's kinds, "program" for real programs, "bloat" for the
    Ruby bloat workload, "local"/"remote" for the scaling curves; threads:
    the thread count a scaling row runs with. seeded workloads take
    --seed=N (bench/run.py --seed)."""

    def __init__(self, name, what, cmd, args, env=None, stdin=None, parse=result_line,
                 memory=False, seeded=False, group=None, threads=None):
        self.name, self.what, self.cmd, self.args = name, what, cmd, args
        self.env, self.stdin, self.parse, self.memory = env or {}, stdin, parse, memory
        self.seeded, self.group, self.threads = seeded, group, threads

    def argv(self, suite, seed=None):
        extra = ["--seed=%d" % seed] if self.seeded and seed is not None else []
        return self.cmd + [str(a) for a in self.args[suite]] + extra


def c(name):
    return [os.path.join(BIN, name)]


# Arguments per suite (full, quick, memory; demo for bench/demo.py). Quick
# sizes take 0.2-3 s each under glibc on a loaded 2-core machine, full ones
# about 2.5 times that; the full suite (5 runs) stays under 30 minutes.
WORKLOADS = [
    Workload("minimizer", "many small short-lived objects (Quine-McCluskey)", c("minimizer"),
             {"full": [600], "quick": [200]}),
    Workload("larson", "server: threads free blocks of threads gone (larson)", c("larson"),
             {"full": [4, 100, 30000], "quick": [4, 40, 20000]}),
    Workload("prodcons", "producer/consumer across threads", c("prodcons"),
             {"full": [2, 2, 60000], "quick": [2, 2, 15000]}),
    Workload("falseshare", "false-sharing probes (cache-thrash, cache-scratch)", c("falseshare"),
             {"full": [2, 10000, 5000], "quick": [2, 3000, 5000]}),
    Workload("realloc", "growing reallocs (string builders, vectors)", c("realloc"),
             {"full": [64, 2500000], "quick": [64, 1000000]}),
    Workload("large", "5-25 MiB blocks malloc/free in a loop", c("large"),
             {"full": [500], "quick": [200]}),
    Workload("fixed", "fixed-size churn, one thread (64 B)", c("fixed"),
             {"full": [60000000], "quick": [20000000]}),
    Workload("mtchurn", "multi-threaded churn, private blocks", c("mtchurn"),
             {"full": [4, 5000000], "quick": [4, 2000000]}),
    Workload("fastpath", "malloc/free fast path, ns per pair", c("fastpath"),
             {"full": [2000000, 4], "quick": [1000000, 3]}),
    Workload("bloat", "multi-threaded bloat: working sets, bursts, remote frees", c("bloat"),
             {"full": [8, 4000], "quick": [8, 1500], "memory": [8, 8000], "demo": [8, 4000]},
             memory=True),
    Workload("bloat-rb", "Sidekiq/Puma pattern in Ruby (20 threads)",
             ["ruby", os.path.join(WORKLOADS_DIR, "bloat.rb")],
             {"full": [12000], "quick": [5000], "memory": [30000]},
             memory=True),
    Workload("python", "python3 PYTHONMALLOC=malloc: trees, dicts, json",
             [PYTHON, os.path.join(PROGRAMS, "alloc.py")], {"full": [3], "quick": [1]},
             env={"PYTHONMALLOC": "malloc"}),
    Workload("ruby", "ruby: trees, strings, hashes, Marshal",
             ["ruby", os.path.join(PROGRAMS, "alloc.rb")], {"full": [2], "quick": [1]}),
    Workload("sqlite", "sqlite3: 200k rows, index, join, sort, update",
             ["sqlite3", ":memory:"], {"full": [], "quick": []},
             stdin=os.path.join(PROGRAMS, "sqlite.sql"), parse=sqlite_result),
    Workload("gcc", "gcc -O2 on six C files, then runs the result",
             ["sh", os.path.join(PROGRAMS, "gcc.sh"), os.path.join(ROOT, "build", "bench", "gcc-out")],
             {"full": [2], "quick": [1]}),
]


# Issue 16's suite (bench/run.py --suite hotpath, make bench-hotpath): C
# workloads of the kinds of a public allocator benchmark suite, written for
# this project (bench/README.md says what each models and checks), three
# real programs churning small objects, and a Ruby bloat workload. Sizes
# take 0.3-3 s each under glibc on this 2-core machine (the Ruby ones more).
# Every one takes --seed=N: run r of a suite uses seed S + r - 1 (S from
# --seed, 1 by default), the same for every allocator within a run.
def hw(name, what, cmd, args, group="suite", **kw):
    return Workload(name, what, cmd, {"hotpath": args}, seeded=True, group=group, **kw)


HOTPATH = [
    hw("server", "request/response server, remote frees both ways (2 acceptors, 4 workers)",
       c("server"), [2, 4, 40000, 64]),
    hw("xprodcons", "4 producers -> 4 consumers, block by block, mixed sizes (xmalloc-test's kind)",
       c("xprodcons"), [4, 4, 2500000, 256]),
    hw("workset", "4 threads, breathing working sets 16 B-8 KiB, 1 in 8 freed remotely (rptest's kind)",
       c("workset"), [4, 2000000, 4096, 8192, 8]),
    hw("randmix-1", "random malloc/free mix, 1 thread (alloc-test's kind)",
       c("randmix"), [1, 30000000, 8192]),
    hw("randmix-4", "random malloc/free mix, 4 threads (alloc-test's kind)",
       c("randmix"), [4, 8000000, 8192]),
    hw("cache-thrash", "per-thread small objects written hard, 2 threads (cache-thrash's kind)",
       c("cachelines"), ["thrash", 2, 20000, 5000, 8, 32]),
    hw("cache-scratch", "objects made by one thread, written and freed by another (cache-scratch's kind)",
       c("cachelines"), ["scratch", 2, 20000, 5000, 8, 32]),
    hw("lifespan", "32 threads x 10 rounds, lifetimes from a step to the run, transfers (mstress's kind)",
       c("lifespan"), [32, 10, 50000, 8192]),
    hw("bigblocks-1", "64 KiB-2 MiB blocks malloc/free, part touched, 1 thread (malloc-large's kind)",
       c("bigblocks"), [1, 80000, 8]),
    hw("bigblocks-4", "64 KiB-2 MiB blocks malloc/free, part touched, 4 threads",
       c("bigblocks"), [4, 20000, 8]),
    hw("contfrac", "continued-fraction factoring on heap bignums (cfrac's kind)",
       c("contfrac"), [150, 34, 80]),
    hw("octree", "N-body, octree rebuilt every step (barnes's kind)", c("octree"), [3000, 40]),
    hw("simple", "N blocks of one size, then freed, N 25..1600, 16 B-2 KiB (glibc bench-malloc-simple's kind)",
       c("simple"), [12000000]),
    hw("threadtest-1", "random replacement in a 1024-block working set, 8 B-32 KiB, 1 thread "
       "(glibc bench-malloc-thread's kind)", c("threadtest"), [1, 5000000, 1024]),
    hw("threadtest-8", "the same, 8 threads", c("threadtest"), [8, 1000000, 1024]),
    hw("churn-py", "python3 PYTHONMALLOC=malloc: event window, LRU sessions, tokens",
       [PYTHON, os.path.join(PROGRAMS, "churn.py")], [1], group="program",
       env={"PYTHONMALLOC": "malloc"}),
    hw("churn-rb", "ruby: event window, LRU sessions, tokens",
       ["ruby", os.path.join(PROGRAMS, "churn.rb")], [1], group="program"),
    hw("churn-pl", "perl: event window, LRU sessions, tokens",
       ["perl", os.path.join(PROGRAMS, "churn.pl")], [1], group="program"),
    hw("burst-rb", "Ruby, 32 threads: bursts of 100 B-64 KiB objects, 16-48 MB jobs, sleeps; 2 s idle",
       ["ruby", os.path.join(WORKLOADS_DIR, "burst.rb")], [32, 60, 40, 1024, 2000],
       group="bloat", memory=True),
]

# The scaling suite (bench/run.py --suite scaling): the same amount of work
# split over 1..64 threads, which a 2-core machine can only show as
# throughput per thread and per CPU second, and as RSS.
SCALING_THREADS = [1, 2, 4, 8, 16, 64]
SCALING_OPS = 16000000  # malloc/free steps in all, split over the threads
SCALING = []
for _t in SCALING_THREADS:
    SCALING.append(Workload(
        "local-%d" % _t, "randmix: each thread its own blocks (%d threads)" % _t, c("randmix"),
        {"scaling": [_t, SCALING_OPS // _t, 4096]}, seeded=True, group="local", threads=_t))
    SCALING.append(Workload(
        "remote-%d" % _t, "workset: 1 block in 4 freed by another thread (%d threads)" % _t, c("workset"),
        {"scaling": [_t, SCALING_OPS // 2 // _t, 1024, 4096, 4]}, seeded=True, group="remote",
        threads=_t))
WORKLOADS += HOTPATH + SCALING

PEERS = ["glibc", "jemalloc", "mimalloc", "tcmalloc"]  # "the best peer": the best of these


def measure(argv, env_extra, stdin=None, sample=False, period_ms=SAMPLE_MS):
    """Runs argv once under build/bench/measure (see bench/measure.c for why a
    launcher); returns (wall_s, user_s, sys_s, maxrss_kib, exit code, stdout,
    stderr, [(t_s, rss_kib)])."""
    env = dict(os.environ)
    for k in ("LD_PRELOAD", "MALLOC_ARENA_MAX", "PYTHONMALLOC"):
        env.pop(k, None)
    with tempfile.TemporaryDirectory(prefix="lm-bench-") as tmp:
        res, smp = os.path.join(tmp, "result"), os.path.join(tmp, "samples")
        launcher = [MEASURE, "-o", res, "-t", str(RUN_LIMIT_S)]
        for k, v in env_extra.items():
            launcher += ["-e", "%s=%s" % (k, v)]
        if sample:
            launcher += ["-s", str(period_ms), smp]
        with open(os.path.join(tmp, "out"), "w+b") as out, open(os.path.join(tmp, "err"), "w+b") as err:
            fin = open(stdin, "rb") if stdin else subprocess.DEVNULL
            try:
                rc = subprocess.run(launcher + ["--"] + argv, env=env, stdin=fin, stdout=out,
                                    stderr=err).returncode
            finally:
                if stdin:
                    fin.close()
            out.seek(0)
            err.seek(0)
            stdout, stderr = out.read().decode(errors="replace"), err.read().decode(errors="replace")
        if rc != 0 or not os.path.exists(res):
            sys.exit("bench: the launcher failed (%d): %s" % (rc, stderr[-500:]))
        with open(res) as f:
            wall, user, system, maxrss, code = f.read().split()
        samples = []
        if sample and os.path.exists(smp):
            with open(smp) as f:
                samples = [(float(t), int(k)) for t, k in (line.split() for line in f)]
        return (float(wall), float(user), float(system), int(maxrss), int(code), stdout, stderr,
                samples)


def machine_info():
    cpu = "?"
    with open("/proc/cpuinfo") as f:
        m = re.search(r"^model name\s*:\s*(.*)$", f.read(), re.M)
        cpu = m.group(1) if m else cpu
    glibc = platform.libc_ver()[1]

    def pkg(name):
        r = subprocess.run(["dpkg-query", "-W", "-f=${Version}", name], capture_output=True, text=True)
        return r.stdout or "?"
    commit = subprocess.run(["git", "-C", ROOT, "describe", "--always", "--dirty"],
                            capture_output=True, text=True).stdout.strip()
    if "BENCH_LEMMALLOC" in os.environ:
        commit = os.environ["BENCH_LEMMALLOC"]
    settings = " ".join("%s=%s" % kv for kv in sorted(os.environ.items())
                        if kv[0].startswith(("LEMMALLOC_", "MALLOC_CONF", "MIMALLOC_", "TCMALLOC_",
                                             "GLIBC_TUNABLES")))
    return {
        "date": datetime.datetime.utcnow().strftime("%Y-%m-%d %H:%M UTC"),
        "cpu": "%s, %d cores" % (cpu, os.cpu_count()),
        "kernel": platform.release(),
        "glibc": glibc,
        "jemalloc": pkg("libjemalloc2"), "mimalloc": pkg("libmimalloc2.0"),
        "tcmalloc": pkg("libtcmalloc-minimal4"), "lemmalloc": commit,
        "load": "%.2f %.2f %.2f" % os.getloadavg(),
        "settings": settings or "none",
    }


def median(xs):
    return statistics.median(xs) if xs else float("nan")


def geomean(xs):
    xs = [x for x in xs if x > 0 and not math.isnan(x)]
    return math.exp(sum(map(math.log, xs)) / len(xs)) if xs else float("nan")


def run_suite(suite, workloads, allocs, runs, seed=None):
    """Runs everything; every row also goes to <suite>-runs.csv.tmp at once,
    so an interrupted run leaves what it measured. Run r (from 1) gives the
    seeded workloads seed + r - 1, the same under every allocator."""
    os.makedirs(RESULTS, exist_ok=True)
    partial = os.path.join(RESULTS, suite + "-runs.csv.tmp")
    rows, rss_rows = [], []
    total = runs * len(workloads) * len(allocs)
    done, t_start = 0, time.monotonic()
    names = list(allocs)
    for r in range(runs):
        for w in workloads:
            order = names[r % len(names):] + names[:r % len(names)]
            run_seed = seed + r if seed is not None and w.seeded else None
            for a in order:
                wall, user, system, maxrss, rc, out, err, samples = measure(
                    w.argv(suite, run_seed), {**w.env, **allocs[a]}, w.stdin, sample=w.memory)
                metrics = w.parse(out) if rc == 0 else None
                ok = metrics is not None
                done += 1
                row = {"suite": suite, "workload": w.name, "allocator": a, "run": r + 1,
                       "seed": "" if run_seed is None else run_seed, "wall_s": round(wall, 4), "user_s": round(user, 4),
                       "sys_s": round(system, 4), "cpu_s": round(user + system, 4),
                       "maxrss_kib": maxrss, "ok": int(ok),
                       "metrics": " ".join("%s=%s" % kv for kv in (metrics or {}).items())}
                rows.append(row)
                write_csv(partial, rows)
                for t, kib in samples:
                    rss_rows.append({"workload": w.name, "allocator": a, "run": r + 1,
                                     "t_s": round(t, 3), "rss_kib": kib})
                elapsed = time.monotonic() - t_start
                eta = elapsed / done * (total - done)
                why = "TIMEOUT after %d s" % RUN_LIMIT_S if rc == 124 else \
                    (err.strip().splitlines() or ["no RESULT line"])[-1][:160]
                status = "ok" if ok else "FAILED (exit %d): %s" % (rc, why)
                print("[%3d/%d %3.0f%% eta %4.0fs] run %d/%d %-10s %-12s %7.2fs %7.1f MiB  %s"
                      % (done, total, 100.0 * done / total, eta, r + 1, runs, w.name, a, wall,
                         maxrss / 1024, status), flush=True)
    return rows, rss_rows


def write_csv(path, rows):
    if not rows:
        return
    with open(path, "w", newline="") as f:
        wr = csv.DictWriter(f, fieldnames=list(rows[0]))
        wr.writeheader()
        wr.writerows(rows)


def summarize(rows, workloads, allocs):
    """(workload, allocator) -> medians over the successful runs."""
    summ = []
    for w in workloads:
        for a in allocs:
            rs = [r for r in rows if r["workload"] == w.name and r["allocator"] == a]
            good = [r for r in rs if r["ok"]]
            s = {"workload": w.name, "allocator": a, "runs": len(rs), "failed": len(rs) - len(good)}
            for k in ("wall_s", "cpu_s", "maxrss_kib"):
                s[k] = round(median([r[k] for r in good]), 4) if good else ""
            metrics = {}
            for r in good:
                for kv in r["metrics"].split():
                    k, v = kv.split("=", 1)
                    try:
                        metrics.setdefault(k, []).append(float(v))
                    except ValueError:
                        pass
            s["metrics"] = " ".join("%s=%g" % (k, round(median(v), 3)) for k, v in metrics.items())
            summ.append(s)
    return summ


def fmt_ratio(x):
    return "%.2f×" % x if not math.isnan(x) else "–"


def ratio_table(summ, workloads, allocs, key, unit, scale, fmt):
    """Markdown: glibc absolute, everyone else as a ratio to glibc."""
    get = {(s["workload"], s["allocator"]): s for s in summ}
    head = "| workload | " + " | ".join(allocs) + " |"
    lines = [head, "|" + "---|" * (len(allocs) + 1)]
    ratios = {a: [] for a in allocs}
    for w in workloads:
        base = get[(w.name, "glibc")][key] if (w.name, "glibc") in get else ""
        cells = []
        for a in allocs:
            s = get[(w.name, a)]
            v = s[key]
            if v == "":
                cells.append("FAIL %d/%d" % (s["failed"], s["runs"]))
                continue
            if a == "glibc" or base == "":
                cells.append(fmt % (v * scale) + " " + unit)
            else:
                r = v / base if base else float("nan")
                ratios[a].append(r)
                cells.append(fmt_ratio(r) + ("" if not s["failed"] else " (%d failed)" % s["failed"]))
        lines.append("| %s | %s |" % (w.name, " | ".join(cells)))
    lines.append("| **geometric mean** | " + " | ".join(
        "1.00×" if a == "glibc" else "**%s**" % fmt_ratio(geomean(ratios[a])) for a in allocs) + " |")
    return "\n".join(lines)


def metric_table(summ, allocs, workload, keys, label):
    get = {(s["workload"], s["allocator"]): dict(kv.split("=", 1) for kv in s["metrics"].split())
           for s in summ if s["workload"] == workload}
    if not get:
        return ""
    lines = ["| %s | %s |" % (label, " | ".join(allocs)), "|" + "---|" * (len(allocs) + 1)]
    for k in keys:
        lines.append("| %s | %s |" % (k, " | ".join(get.get((workload, a), {}).get(k, "–") for a in allocs)))
    return "\n".join(lines)


def baseline_section(summ, workloads, allocs):
    """lemmalloc against the earlier build of the same run (BENCH_BASELINE)."""
    if "lemmalloc" not in allocs or "lemmalloc-base" not in allocs:
        return []
    get = {(s["workload"], s["allocator"]): s for s in summ}
    L = ["## lemmalloc against lemmalloc-base (%s), same run" % BASELINE, "",
         "Ratios lemmalloc / lemmalloc-base of the medians; above 1.03 is marked.", "",
         "| workload | wall time | CPU time | peak RSS |", "|---|---|---|---|"]
    acc = {"wall_s": [], "cpu_s": [], "maxrss_kib": []}
    for w in workloads:
        new, old = get.get((w.name, "lemmalloc")), get.get((w.name, "lemmalloc-base"))
        cells = []
        for k in ("wall_s", "cpu_s", "maxrss_kib"):
            if not new or not old or new[k] == "" or old[k] == "" or not old[k]:
                cells.append("–")
                continue
            r = new[k] / old[k]
            acc[k].append(r)
            cells.append("**%.3f**" % r if r > 1.03 else "%.3f" % r)
        L.append("| %s | %s |" % (w.name, " | ".join(cells)))
    L.append("| **geometric mean** | %s |" % " | ".join(
        "%.3f" % geomean(acc[k]) if acc[k] else "–" for k in ("wall_s", "cpu_s", "maxrss_kib")))
    return L + [""]


def write_markdown(path, suite, info, summ, workloads, allocs, runs, cmd):
    L = ["# Benchmark results: %s suite" % suite, "",
         "Command: `%s` — %d run(s) per workload and allocator, interleaved; medians." % (cmd, runs),
         "", "Machine: %(cpu)s; Linux %(kernel)s; glibc %(glibc)s; jemalloc %(jemalloc)s, "
         "mimalloc %(mimalloc)s, tcmalloc %(tcmalloc)s; lemmalloc %(lemmalloc)s; "
         "%(date)s; load average at start %(load)s; allocator settings in the environment: "
         "%(settings)s." % info, "",
         "The machine is shared with other work, so small differences (under ~10%) are noise.",
         "glibc-arena2 is glibc with MALLOC_ARENA_MAX=2.", "",
         "## Wall time (glibc in seconds, the others as a ratio to glibc; lower is better)", "",
         ratio_table(summ, workloads, allocs, "wall_s", "s", 1, "%.2f"), "",
         "## CPU time, user + system (ratio to glibc)", "",
         ratio_table(summ, workloads, allocs, "cpu_s", "s", 1, "%.2f"), "",
         "## Peak RSS (glibc in MiB, the others as a ratio to glibc; lower is better)", "",
         ratio_table(summ, workloads, allocs, "maxrss_kib", "MiB", 1 / 1024, "%.1f"), ""]
    fp = metric_table(summ, allocs, "fastpath",
                      ["pair_ns_%d" % n for n in (16, 64, 256, 1024)] +
                      ["batch_ns_%d" % n for n in (16, 64, 256, 1024)], "ns per malloc/free")
    if fp:
        L += ["## Fast path (fastpath workload, best of its repeats, ns per malloc/free pair)", "", fp, ""]
    fs = metric_table(summ, allocs, "falseshare", ["active_ns_per_write", "passive_ns_per_write"],
                      "ns per write")
    if fs:
        L += ["## False sharing (falseshare workload, ns per write; ~2 ns is no sharing)", "", fs, ""]
    if "lemmalloc" in allocs and "glibc" in allocs:
        L += goals_issue7(summ, workloads)
    L += baseline_section(summ, workloads, allocs)
    L += ["## Workloads", ""] + ["- **%s**: %s" % (w.name, w.what) for w in workloads] + [""]
    with open(path, "w") as f:
        f.write("\n".join(L))


def goals_issue7(summ, workloads):
    """Issue 7's goals for lemmalloc, checked against this run's medians."""
    get = {(s["workload"], s["allocator"]): s for s in summ}
    t, m, worst = [], [], (0, "")
    failed = [w.name for w in workloads if get[(w.name, "lemmalloc")]["wall_s"] == ""]
    for w in workloads:
        g, lm = get[(w.name, "glibc")], get[(w.name, "lemmalloc")]
        if g["wall_s"] == "" or lm["wall_s"] == "":
            continue
        t.append(lm["wall_s"] / g["wall_s"])
        m.append(lm["maxrss_kib"] / g["maxrss_kib"])
        worst = max(worst, (t[-1], w.name))
    gt, gm = geomean(t), geomean(m)
    L = ["## Issue 7 goals for lemmalloc (this run)", "",
         "- time, geometric mean: %.2f× glibc (goal ≤ 0.80): %s" % (gt, "met" if gt <= 0.80 else "NOT met"),
         "- peak RSS, geometric mean: %.2f× glibc (goal ≤ 1.00): %s" % (gm, "met" if gm <= 1.0 else "NOT met"),
         "- slowest workload: %s at %.2f× glibc (goal ≤ 1.30): %s" % (
             worst[1], worst[0], "met" if worst[0] <= 1.3 else "NOT met")]
    if failed:
        L.append("- workloads that FAILED their checks under lemmalloc: %s" % ", ".join(failed))
    return L + [""]


def memory_markdown(path, info, summ, rows, workloads, allocs, runs, cmd):
    L = ["# Memory results (issue 4)", "",
         "Command: `%s` — %d run(s) per workload and allocator, interleaved; medians." % (cmd, runs), "",
         "Machine: %(cpu)s; Linux %(kernel)s; glibc %(glibc)s; lemmalloc %(lemmalloc)s; %(date)s; "
         "load average at start %(load)s; allocator settings in the environment: %(settings)s."
         % info, "",
         "Peak RSS from wait4 (ru_maxrss); final RSS read by the workload itself after the work, "
         "with its threads alive and idle; live = bytes the program really holds at that point "
         "(C: the working sets' block sizes; Ruby: the bytes of every reachable string and array after a full GC, plus 40-byte slots in use); "
         "peak live = the most bytes live at once (C only, sampled every ms: no allocator can "
         "go under it; it depends on how many bursts overlap, which depends on speed and "
         "scheduling, so peak RSS / peak live, per run, is the fairer comparison there); "
         "baseline = RSS before the work; work = the jobs' time, wall = the process's (it adds "
         "start-up, a 0.5 s quiet period with a small heartbeat job every 20 ms before the final "
         "RSS is read, and exit; in Ruby, a full GC at the end of the work, and the quiet period twice with a full GC between). RSS over time: memory-rss.png.", ""]
    get = {(s["workload"], s["allocator"]): s for s in summ}
    for w in workloads:
        L += ["## %s — %s" % (w.name, w.what), "",
              "| allocator | peak RSS MiB | peak live MiB | peak RSS / peak live | final RSS MiB | live MiB | baseline MiB | work s | wall s | peak / glibc | work / glibc |",
              "|---|---|---|---|---|---|---|---|---|---|---|"]
        g = get.get((w.name, "glibc"))
        for a in allocs:
            s = get[(w.name, a)]
            good = [r for r in rows if r["workload"] == w.name and r["allocator"] == a and r["ok"]]
            if not good:
                L.append("| %s | FAIL %d/%d | | | | | | | | | |" % (a, s["failed"], s["runs"]))
                continue
            m = [dict(kv.split("=", 1) for kv in r["metrics"].split()) for r in good]
            fin = median([float(x["final_rss_kib"]) for x in m]) / 1024
            live = median([float(x["live_kib"]) for x in m]) / 1024
            base = median([float(x["baseline_rss_kib"]) for x in m]) / 1024
            pl = [float(x["peak_live_kib"]) / 1024 for x in m if "peak_live_kib" in x]
            peak_live = "%.1f" % median(pl) if pl else "–"
            # Per run, since how many bursts overlap (the peak live) differs from run to run.
            over = [r["maxrss_kib"] / float(x["peak_live_kib"]) for r, x in zip(good, m)
                    if float(x.get("peak_live_kib", 0)) > 0]
            overhead = "%.2f" % median(over) if over else "–"
            s["over"] = median(over) if over else None
            s["peak_live_mib"] = median(pl) if pl else None
            work = median([float(x["work_s"]) for x in m])
            # The goal's margin, run by run: each final RSS against its own
            # run's live bytes (a Ruby run may hold a dropped job's data).
            margin = median([(float(x["final_rss_kib"]) - 2 * float(x["live_kib"])
                              - float(x["baseline_rss_kib"])) / 1024 for x in m])
            s["final_mib"], s["live_mib"], s["base_mib"], s["work_s"] = fin, live, base, work
            s["margin_mib"] = margin
            pr = s["maxrss_kib"] / g["maxrss_kib"] if g and g["maxrss_kib"] else float("nan")
            wr = work / g["work_s"] if g and g.get("work_s") else float("nan")
            L.append("| %s | %.1f | %s | %s | %.1f | %.1f | %.1f | %.2f | %.2f | %s | %s |" % (
                a, s["maxrss_kib"] / 1024, peak_live, overhead, fin, live, base, work, s["wall_s"],
                fmt_ratio(pr), fmt_ratio(wr)))
        lm = get.get((w.name, "lemmalloc"))
        if lm and lm["maxrss_kib"] != "" and "final_mib" in lm:
            others = [get[(w.name, a)]["maxrss_kib"] for a in allocs
                      if a not in NOT_PEERS and get[(w.name, a)]["maxrss_kib"] != ""]
            best = min(others) if others else float("nan")
            L += ["", "Issue 4 goals for lemmalloc on %s:" % w.name,
                  "- peak RSS / best other allocator's: %.2f (goal ≤ 0.90): %s" % (
                      lm["maxrss_kib"] / best, "met" if lm["maxrss_kib"] <= 0.9 * best else "NOT met")]
            # The peak live moves with scheduling (how many bursts overlap), so
            # the same allocator's peak moves with it: at equal live bytes,
            # the overhead ratios compare the allocators themselves.
            b = min((get[(w.name, a)] for a in allocs if a not in NOT_PEERS and get[(w.name, a)].get("over")),
                    key=lambda r: r["over"], default=None)
            if lm.get("over") and b:
                L.append("  - at equal live bytes (median of each run's peak RSS / peak live): lemmalloc %.2f, "
                         "lowest other %.2f (%s): %.2f; peak live medians %.0f and %.0f MiB" % (
                             lm["over"], b["over"], b["allocator"], lm["over"] / b["over"],
                             lm["peak_live_mib"], b["peak_live_mib"]))
            L += [
                  "- final RSS − (2 × live + baseline), each run against its own live bytes, "
                  "median: %+.1f MiB (goal ≤ 0; medians of the columns: %.1f vs %.1f MiB): %s" % (
                      lm["margin_mib"], lm["final_mib"], 2 * lm["live_mib"] + lm["base_mib"],
                      "met" if lm["margin_mib"] <= 0 else "NOT met")]
            if g and g.get("work_s"):
                L.append("- work time / glibc: %.2f (goal ≤ 1.05): %s" % (
                    lm["work_s"] / g["work_s"], "met" if lm["work_s"] <= 1.05 * g["work_s"] else "NOT met"))
        L.append("")
    L += baseline_section(summ, workloads, allocs)
    with open(path, "w") as f:
        f.write("\n".join(L))


def peer_tables(summ, workloads, allocs, key, unit, scale, fmt):
    """Markdown: per workload the best peer (the best of PEERS) and every
    allocator's median as a ratio to it; the last row is each allocator's
    worst ratio over the workloads ("slowest vs best peer")."""
    get = {(s["workload"], s["allocator"]): s for s in summ}
    lines = ["| workload | best peer | " + " | ".join(allocs) + " |",
             "|" + "---|" * (len(allocs) + 2)]
    worst = {a: (0.0, "") for a in allocs}
    for w in workloads:
        peers = [(get[(w.name, a)][key], a) for a in PEERS
                 if a in allocs and (w.name, a) in get and get[(w.name, a)][key] != ""]
        if not peers:
            continue
        best, who = min(peers)
        cells = []
        for a in allocs:
            v = get[(w.name, a)][key] if (w.name, a) in get else ""
            if v == "" or not best:
                cells.append("FAIL" if v == "" else "–")
                continue
            r = v / best
            worst[a] = max(worst[a], (r, w.name))
            cell = "%.2f×" % r
            cells.append("**%s**" % cell if a == "lemmalloc" and r > 1.3 else cell)
        lines.append("| %s | %s %s | %s |" % (w.name, who, fmt % (best * scale) + " " + unit, " | ".join(cells)))
    lines.append("| **worst** | | " + " | ".join(
        "%.2f× (%s)" % worst[a] if worst[a][1] else "–" for a in allocs) + " |")
    return "\n".join(lines), worst


def burst_section(w, rows, summ, allocs):
    """The Ruby bloat workload: issue 16's goals are per run for the peak."""
    get = {(s["workload"], s["allocator"]): s for s in summ}
    L = ["## %s — %s" % (w.name, w.what), "",
         "Peak RSS from wait4; final RSS read by the script after the work, a full GC and 2 s "
         "with every thread blocked (no malloc call at all, the read included); wake RSS read "
         "after one heartbeat's worth of small strings right after that (what an allocator that "
         "purges only from its own calls gives back once the process does something); "
         "live = what Ruby still reaches "
         "after another full GC (strings > 23 B, arrays > 3 elements, 40 B per slot); baseline "
         "= RSS at the script's start; work = the bursts' time. Medians, and each run's peak.", "",
         "| allocator | peak RSS MiB | peak per run | final RSS MiB (idle) | wake RSS MiB | live MiB | "
         "baseline MiB | final − (2 × live + baseline) | work s | work / glibc | peak / glibc |",
         "|---|---|---|---|---|---|---|---|---|---|---|"]
    per_run, med = {}, {}
    for a in allocs:
        good = sorted((r for r in rows if r["workload"] == w.name and r["allocator"] == a and r["ok"]),
                      key=lambda r: r["run"])
        if not good:
            L.append("| %s | FAIL | | | | | | | | | |" % a)
            continue
        m = [dict(kv.split("=", 1) for kv in r["metrics"].split()) for r in good]
        per_run[a] = {r["run"]: r["maxrss_kib"] for r in good}
        med[a] = {
            "peak": median([r["maxrss_kib"] for r in good]) / 1024,
            "final": median([float(x["final_rss_kib"]) for x in m]) / 1024,
            "wake": median([float(x.get("wake_rss_kib", "nan")) for x in m]) / 1024,
            "wake_margins": [(float(x.get("wake_rss_kib", "nan")) - 2 * float(x["live_kib"])
                              - float(x["baseline_rss_kib"])) / 1024 for x in m],
            "live": median([float(x["live_kib"]) for x in m]) / 1024,
            "base": median([float(x["baseline_rss_kib"]) for x in m]) / 1024,
            "margin": median([(float(x["final_rss_kib"]) - 2 * float(x["live_kib"])
                               - float(x["baseline_rss_kib"])) / 1024 for x in m]),
            "margins": [(float(x["final_rss_kib"]) - 2 * float(x["live_kib"])
                         - float(x["baseline_rss_kib"])) / 1024 for x in m],
            "work": median([float(x["work_s"]) for x in m])}
    g = med.get("glibc")
    for a in allocs:
        if a not in med:
            continue
        d = med[a]
        L.append("| %s | %.1f | %s | %.1f | %.1f | %.1f | %.1f | %+.1f | %.2f | %s | %s |" % (
            a, d["peak"], " ".join("%.0f" % (per_run[a][k] / 1024) for k in sorted(per_run[a])),
            d["final"], d["wake"], d["live"], d["base"], d["margin"], d["work"],
            fmt_ratio(d["work"] / g["work"]) if g else "–", fmt_ratio(d["peak"] / g["peak"]) if g else "–"))
    goals = []
    lm = med.get("lemmalloc")
    if lm and g:
        wr = lm["work"] / g["work"]
        goals.append("- %s work time: %.2f× glibc (goal ≤ 1.05): %s" % (w.name, wr, "met" if wr <= 1.05 else "NOT met"))
        verdicts = []
        for run in sorted(per_run["lemmalloc"]):
            peers = [(per_run[a][run], a) for a in PEERS if a in per_run and run in per_run[a]]
            if peers:
                best, who = min(peers)
                verdicts.append((per_run["lemmalloc"][run] <= best,
                                 "run %d: %.0f vs %s %.0f MiB" % (run, per_run["lemmalloc"][run] / 1024, who, best / 1024)))
        if verdicts:
            goals.append("- %s peak RSS ≤ the best peer's in every run: %s (%s)" % (
                w.name, "met" if all(v for v, _ in verdicts) else "NOT met", "; ".join(t for _, t in verdicts)))
        ok = all(x <= 0 for x in lm["margins"])
        goals.append("- %s final RSS after 2 s idle under 2 × live + baseline, every run: %s (margins %s MiB; "
                     "after the wake-up call: %s MiB)" % (
                         w.name, "met" if ok else "NOT met", ", ".join("%+.1f" % x for x in lm["margins"]),
                         ", ".join("%+.1f" % x for x in lm["wake_margins"])))
    return L + [""], goals


def hotpath_markdown(path, info, summ, rows, workloads, allocs, runs, cmd):
    suite_w = [w for w in workloads if w.group == "suite"]
    prog_w = [w for w in workloads if w.group == "program"]
    bloat_w = [w for w in workloads if w.group == "bloat"]
    seeds = sorted({r["seed"] for r in rows if str(r.get("seed", "")) != ""}, key=int)
    L = ["# Benchmark results: hotpath suite (issue 16)", "",
         "Command: `%s` — %d run(s) per workload and allocator, interleaved; medians; "
         "seeds %s (run r uses the r-th, the same under every allocator)." % (cmd, runs, ", ".join(map(str, seeds)) or "–"),
         "", "Machine: %(cpu)s; Linux %(kernel)s; glibc %(glibc)s; jemalloc %(jemalloc)s, "
         "mimalloc %(mimalloc)s, tcmalloc %(tcmalloc)s; lemmalloc %(lemmalloc)s; "
         "%(date)s; load average at start %(load)s; allocator settings in the environment: "
         "%(settings)s." % info, "",
         "The machine is shared with other work (other engineers' proofs), so small differences "
         "(under ~10%) are noise; CPU time is less sensitive to the load than wall time. "
         "glibc-arena2 is glibc with MALLOC_ARENA_MAX=2. The best peer of a workload is the best "
         "of glibc, jemalloc, mimalloc and tcmalloc on it.", ""]
    goals = []
    if suite_w:
        L += ["## Workloads of the benchmark suite's kinds: wall time (glibc in s, others / glibc)", "",
              ratio_table(summ, suite_w, allocs, "wall_s", "s", 1, "%.2f"), "",
              "## The same: CPU time, user + system (ratio to glibc)", "",
              ratio_table(summ, suite_w, allocs, "cpu_s", "s", 1, "%.2f"), "",
              "## The same: peak RSS (glibc in MiB, others / glibc)", "",
              ratio_table(summ, suite_w, allocs, "maxrss_kib", "MiB", 1 / 1024, "%.1f"), ""]
    if prog_w:
        L += ["## Real programs churning small objects: wall time (glibc in s, others / glibc)", "",
              ratio_table(summ, prog_w, allocs, "wall_s", "s", 1, "%.2f"), "",
              "## The same: peak RSS", "",
              ratio_table(summ, prog_w, allocs, "maxrss_kib", "MiB", 1 / 1024, "%.1f"), ""]
    both = suite_w + prog_w
    if both:
        tt, tworst = peer_tables(summ, both, allocs, "wall_s", "s", 1, "%.2f")
        mt, mworst = peer_tables(summ, both, allocs, "maxrss_kib", "MiB", 1 / 1024, "%.1f")
        L += ["## Against the best peer: wall time / the best peer's (lemmalloc over 1.3× in bold)", "",
              tt, "", "## Against the best peer: peak RSS / the best peer's", "", mt, ""]
    for w in bloat_w:
        sec, g = burst_section(w, rows, summ, allocs)
        L += sec
        goals += g
    if "lemmalloc" in allocs and "glibc" in allocs:
        get = {(s["workload"], s["allocator"]): s for s in summ}
        t, m = [], []
        for w in suite_w:
            gl, lm = get[(w.name, "glibc")], get[(w.name, "lemmalloc")]
            if gl["wall_s"] != "" and lm["wall_s"] != "":
                t.append(lm["wall_s"] / gl["wall_s"])
                m.append(lm["maxrss_kib"] / gl["maxrss_kib"])
        head = []
        if t:
            gt, gm = geomean(t), geomean(m)
            head += ["- suite's kinds, time geometric mean: %.2f× glibc (goal ≤ 0.80): %s" % (gt, "met" if gt <= 0.8 else "NOT met"),
                     "- suite's kinds, peak RSS geometric mean: %.2f× glibc (goal ≤ 1.00): %s" % (gm, "met" if gm <= 1.0 else "NOT met")]
            _, worst = peer_tables(summ, suite_w, allocs, "wall_s", "s", 1, "%.2f")
            r, wn = worst.get("lemmalloc", (0.0, ""))
            over = []
            for w in suite_w:
                peers = [get[(w.name, a)]["wall_s"] for a in PEERS if (w.name, a) in get and get[(w.name, a)]["wall_s"] != ""]
                lm = get[(w.name, "lemmalloc")]["wall_s"]
                if peers and lm != "" and lm > 1.3 * min(peers):
                    over.append("%s %.2f×" % (w.name, lm / min(peers)))
            head.append("- no workload slower than 1.3× its best peer: %s (slowest: %s at %.2f×%s)" % (
                "met" if not over else "NOT met", wn, r, "; over: " + ", ".join(over) if over else ""))
        for w in prog_w:
            peers = [get[(w.name, a)]["wall_s"] for a in PEERS if (w.name, a) in get and get[(w.name, a)]["wall_s"] != ""]
            lm = get[(w.name, "lemmalloc")]["wall_s"]
            if peers and lm != "":
                head.append("- %s at or below the best peer's time: %.2f× (goal ≤ 1.00): %s" % (
                    w.name, lm / min(peers), "met" if lm <= min(peers) else "NOT met"))
        failed = [w.name for w in workloads if get[(w.name, "lemmalloc")]["wall_s"] == ""]
        if failed:
            head.append("- workloads that FAILED their checks under lemmalloc: %s" % ", ".join(failed))
        L += ["## Issue 16 goals for lemmalloc (this run)", ""] + head + goals + [""]
    for name, keys, label in (("simple", ["ns_25", "ns_100", "ns_400", "ns_1600"], "ns per malloc/free pair"),
                              ("cache-thrash", ["ns_per_write"], "ns per write"),
                              ("cache-scratch", ["ns_per_write"], "ns per write")):
        t = metric_table(summ, allocs, name, keys, label)
        if t:
            L += ["## %s (the workload's own figures, medians)" % name, "", t, ""]
    L += ["## Workloads", ""] + ["- **%s**: %s" % (w.name, w.what) for w in workloads] + [""]
    L += baseline_section(summ, workloads, allocs)
    with open(path, "w") as f:
        f.write("\n".join(L))


def scaling_data(rows, workloads, allocs):
    """(group, allocator, threads) -> medians of throughput per thread
    (Mops/s), ops per CPU second (M), peak RSS (MiB)."""
    out = {}
    for w in workloads:
        for a in allocs:
            good = [r for r in rows if r["workload"] == w.name and r["allocator"] == a and r["ok"]]
            if not good:
                continue
            m = [dict(kv.split("=", 1) for kv in r["metrics"].split()) for r in good]
            out[(w.group, a, w.threads)] = {
                "per_thread": median([float(x["mops_per_s"]) / w.threads for x in m]),
                "total": median([float(x["mops_per_s"]) for x in m]),
                "per_cpu": median([float(x["ops"]) / 1e6 / max(r["cpu_s"], 1e-3) for r, x in zip(good, m)]),
                "rss": median([r["maxrss_kib"] for r in good]) / 1024}
    return out


def scaling_markdown(path, info, rows, workloads, allocs, runs, cmd):
    data = scaling_data(rows, workloads, allocs)
    threads = sorted({w.threads for w in workloads})
    seeds = sorted({r["seed"] for r in rows if str(r.get("seed", "")) != ""}, key=int)
    L = ["# Benchmark results: scaling suite (issue 16)", "",
         "Command: `%s` — %d run(s) per point and allocator, interleaved; medians; seeds %s." % (
             cmd, runs, ", ".join(map(str, seeds)) or "–"), "",
         "Machine: %(cpu)s; Linux %(kernel)s; glibc %(glibc)s; jemalloc %(jemalloc)s, "
         "mimalloc %(mimalloc)s, tcmalloc %(tcmalloc)s; lemmalloc %(lemmalloc)s; %(date)s; "
         "load average at start %(load)s; allocator settings: %(settings)s." % info, "",
         "The same work (%d malloc/free steps in all for local, half as many for remote) split over "
         "1..64 threads. On 2 cores, throughput per thread falls as 1/threads past 2 threads even for "
         "a perfect allocator; what an allocator adds shows as total throughput falling, as CPU "
         "seconds per operation rising (M ops per CPU second falling: locks, spinning, cache misses) "
         "and as RSS growing faster than the threads' own working sets. On a machine shared with "
         "other work, more threads also take a larger share of the CPUs from other processes (the "
         "scheduler is fair per thread), so total throughput can rise with the threads: M ops per "
         "CPU second is the figure that load does not move much. local = randmix (every "
         "thread its own blocks, 4096 slots each); remote = workset (1024-block working sets, "
         "16 B..4 KiB, 1 block in 4 freed by another thread, less when receivers are not running "
         "and their inboxes are full: remote_share in scaling-runs.csv; at 1 thread all frees are local). "
         "Chart: scaling.png." % SCALING_OPS, ""]
    for group, title in (("local", "local churn"), ("remote", "remote-free churn")):
        for key, label, fmt in (("per_thread", "throughput per thread, M ops/s", "%.2f"),
                                ("total", "total throughput, M ops/s", "%.1f"),
                                ("per_cpu", "M ops per CPU second", "%.1f"),
                                ("rss", "peak RSS, MiB", "%.1f")):
            L += ["## %s: %s" % (title, label), "",
                  "| allocator | " + " | ".join("%d thr" % t for t in threads) + " |",
                  "|" + "---|" * (len(threads) + 1)]
            for a in allocs:
                L.append("| %s | %s |" % (a, " | ".join(
                    fmt % data[(group, a, t)][key] if (group, a, t) in data else "FAIL" for t in threads)))
            L.append("")
    with open(path, "w") as f:
        f.write("\n".join(L))


def load_report(base, workloads):
    """Rows, samples, machine info and command of the last run of a suite."""
    import ast
    with open(base + "-runs.csv") as f:
        rows = list(csv.DictReader(f))
    for r in rows:
        for k in ("wall_s", "user_s", "sys_s", "cpu_s"):
            r[k] = float(r[k])
        for k in ("run", "maxrss_kib", "ok"):
            r[k] = int(r[k])
    rss_rows = []
    if os.path.exists(base + "-rss.csv"):
        with open(base + "-rss.csv") as f:
            rss_rows = list(csv.DictReader(f))
    with open(base + ".info") as f:
        meta = ast.literal_eval(f.read())
    present = {r["allocator"] for r in rows}
    allocs = {a: {} for a in ALLOCATOR_ORDER if a in present}
    names = {r["workload"] for r in rows}
    return (rows, rss_rows, meta["info"], meta["cmd"], meta["runs"], allocs,
            [w for w in workloads if w.name in names])


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--suite", choices=["full", "quick", "memory", "hotpath", "scaling"], default="quick")
    ap.add_argument("--runs", type=int, help="runs per workload and allocator")
    ap.add_argument("--seed", type=int, default=1,
                    help="first seed of the seeded workloads (hotpath, scaling): run r uses seed + r - 1")
    ap.add_argument("--workloads", help="comma-separated subset")
    ap.add_argument("--allocators", help="comma-separated subset")
    ap.add_argument("--no-plot", action="store_true")
    ap.add_argument("--report", action="store_true",
                    help="only rebuild the tables and charts from <suite>-runs.csv")
    args = ap.parse_args()
    suite = args.suite
    runs = args.runs or {"full": 5, "quick": 3, "memory": 3, "hotpath": 3, "scaling": 3}[suite]
    allocs = allocators(args.allocators.split(",") if args.allocators else None)
    ws = [w for w in WORKLOADS if suite in w.args]
    if args.workloads:
        want = args.workloads.split(",")
        unknown = set(want) - {w.name for w in ws}
        if unknown:
            sys.exit("bench: unknown workload(s) for suite %s: %s" % (suite, ", ".join(sorted(unknown))))
        ws = [w for w in ws if w.name in want]
    cmd = " ".join(["bench/run.py"] + sys.argv[1:])
    base = os.path.join(RESULTS, suite)
    if args.report:
        rows, rss_rows, info, cmd, runs, allocs, ws = load_report(base, ws)
    else:
        info = machine_info()
        print("bench: suite %s, %d workloads x %d allocators x %d runs (%s)" % (
            suite, len(ws), len(allocs), runs, ", ".join(allocs)), flush=True)
        rows, rss_rows = run_suite(suite, ws, allocs, runs, args.seed)
    summ = summarize(rows, ws, allocs)
    write_csv(base + "-runs.csv", rows)
    if not args.report:
        os.remove(base + "-runs.csv.tmp")
    with open(base + ".info", "w") as f:
        f.write(repr({"info": info, "cmd": cmd, "runs": runs}))
    write_csv(base + "-summary.csv", summ)
    if suite in ("memory", "hotpath") and not args.report and rss_rows:
        write_csv(base + "-rss.csv", rss_rows)
    if suite == "memory":
        memory_markdown(base + ".md", info, summ, rows, ws, list(allocs), runs, cmd)
    elif suite == "hotpath":
        hotpath_markdown(base + ".md", info, summ, rows, ws, list(allocs), runs, cmd)
    elif suite == "scaling":
        scaling_markdown(base + ".md", info, rows, ws, list(allocs), runs, cmd)
    else:
        write_markdown(base + ".md", suite, info, summ, ws, list(allocs), runs, cmd)
    if not args.no_plot:
        subprocess.run([PYTHON, os.path.join(ROOT, "bench", "plot.py"), suite], check=False)
    print("bench: results in %s.md (and -runs.csv, -summary.csv, PNGs)" % os.path.relpath(base, ROOT))
    with open(base + ".md") as f:
        print(f.read())
    failed = sum(1 for r in rows if not r["ok"])
    if failed:
        print("bench: %d run(s) FAILED their own checks; see %s-runs.csv" % (failed, base))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
