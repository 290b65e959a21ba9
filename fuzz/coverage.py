#!/usr/bin/env python3
"""Summarize and check `make fuzz-coverage` (fuzz/coverage.sh runs it).

    fuzz/coverage.py DIR LIST

DIR holds llvm-cov's export.json (per-file summaries, per-function regions)
and lcov.info (per-line counts, computed as llvm-cov's own line coverage).
Prints the summary line (lines and branches per layer of src/, and the
total), then checks LIST (fuzz/uncovered.txt): every line of src/heap and
src/api that no committed input reaches must belong to a function the list
names, and that function must have no more uncovered lines than the list
allows. Lines are attributed to the innermost function whose regions span
them, so the keys are (file, function) and survive edits elsewhere.

LIST format, one entry a line (blank lines and `#` comments ignored):

    ## KIND                      starts a group: why these are not fuzzed
    FILE FUNCTION N REASON...    at most N uncovered lines in FUNCTION
    FILE FUNCTION * REASON...    any number (the function is out of reach)
    FILE * * REASON...           the whole file (not linked into the drivers)

    fuzz/coverage.py DIR LIST --dump    every function with uncovered lines
                                        of src/heap and src/api: FILE FUNCTION N

Exits 1, printing FILE:LINE: FUNCTION for each line not accounted for, when
the check fails (and an entry to start from for each such function); entries that allow more than is uncovered now (or name a
function that is covered or gone) are reported as notes, not failures.
"""
import json
import os
import sys
from collections import defaultdict

CHECKED = ("src/heap/", "src/api/")
LAYERS = ("src/core", "src/heap", "src/api", "src/os")


def rel(path):
    root = os.getcwd() + "/"
    return path[len(root):] if path.startswith(root) else path


def pct(covered, count):
    return "%.1f%%" % (100.0 * covered / count) if count else "n/a"


def load_list(path):
    entries, errors, kind = {}, [], "(no kind)"
    with open(path) as f:
        for no, line in enumerate(f, 1):
            s = line.strip()
            if s.startswith("##"):
                kind = s.lstrip("#").strip().split(":")[0]  # "## KIND: details"
                continue
            if not s or s.startswith("#"):
                continue
            parts = s.split(None, 3)
            if len(parts) < 4 or not (parts[2] == "*" or parts[2].isdigit()):
                errors.append("%s:%d: want FILE FUNCTION N|* REASON: %s" % (path, no, s))
                continue
            key = (parts[0], parts[1])
            if key in entries:
                errors.append("%s:%d: %s %s listed twice" % (path, no, *key))
            allow = None if parts[2] == "*" else int(parts[2])
            entries[key] = {"allow": allow, "reason": parts[3], "kind": kind, "line": no}
    return entries, errors


def main():
    out_dir, list_path = sys.argv[1], sys.argv[2]
    with open(os.path.join(out_dir, "export.json")) as f:
        data = json.load(f)["data"][0]

    # ---- the summary line ----
    sums = defaultdict(lambda: [0, 0, 0, 0])  # lines count, covered, branches count, covered
    for fi in data["files"]:
        name = rel(fi["filename"])
        layer = "/".join(name.split("/")[:2])
        sm = fi["summary"]
        for key in (layer, "total"):
            t = sums[key]
            t[0] += sm["lines"]["count"]
            t[1] += sm["lines"]["covered"]
            t[2] += sm["branches"]["count"]
            t[3] += sm["branches"]["covered"]
    parts = []
    for key in LAYERS + ("total",):
        t = sums[key]
        parts.append("%s lines %s branches %s" % (key, pct(t[1], t[0]), pct(t[3], t[2])))
    print("fuzz-coverage: " + "; ".join(parts))

    # ---- function extents, per file: (first line, last line, name) ----
    extents = defaultdict(set)
    for fn in data["functions"]:
        lines = [(r[0], r[2]) for r in fn["regions"] if r[5] == 0]
        if not lines:
            continue
        name = fn["name"].rsplit(":", 1)[-1]  # static functions: "heap.c:name"
        extents[rel(fn["filenames"][0])].add((min(a for a, _ in lines), max(b for _, b in lines), name))

    def owner(path, line):
        best = None
        for a, b, name in extents.get(path, ()):
            if a <= line <= b and (best is None or b - a < best[1] - best[0]):
                best = (a, b, name)
        return best[2] if best else "<file-scope>"

    # ---- uncovered lines of the checked layers (lcov: llvm-cov's line counts) ----
    uncovered = defaultdict(list)  # (file, function) -> [line]
    seen_files = set()
    path = None
    with open(os.path.join(out_dir, "lcov.info")) as f:
        for line in f:
            if line.startswith("SF:"):
                path = rel(line[3:].strip())
                seen_files.add(path)
            elif line.startswith("DA:") and path.startswith(CHECKED):
                no, count = line[3:].split(",")[:2]
                if int(count) == 0:
                    uncovered[(path, owner(path, int(no)))].append(int(no))

    if "--dump" in sys.argv[3:]:
        for (path, fn), lines in sorted(uncovered.items()):
            print(path, fn, len(lines), " ".join(map(str, lines)))
        return 0

    entries, errors = load_list(list_path)
    bad, notes, suggest = [], [], []
    listed_lines = defaultdict(int)
    for (path, fn), lines in sorted(uncovered.items()):
        e = entries.get((path, fn)) or entries.get((path, "*"))
        if e and (e["allow"] is None or len(lines) <= e["allow"]):
            listed_lines[e["kind"]] += len(lines)
            if e["allow"] is not None and len(lines) < e["allow"] and "(varies" not in e["reason"]:
                notes.append("%s %s: allows %d, %d uncovered now: lower it" % (path, fn, e["allow"], len(lines)))
            continue
        why = ("not in %s" % list_path if not e else
               "%s allows %d uncovered lines here, %d are" % (list_path, e["allow"], len(lines)))
        for no in lines:
            bad.append("%s:%d: %s: not covered by the fuzz inputs; %s" % (path, no, fn, why))
        suggest.append("%s %s %d REASON" % (path, fn, len(lines)))

    # Files of the checked layers no driver links: listed whole, or a failure.
    for root in CHECKED:
        for name in sorted(os.listdir(root)):
            p = root + name
            if p.endswith(".c") and p not in seen_files and (p, "*") not in entries:
                bad.append("%s:1: (whole file): not compiled into any fuzz driver; not in %s" % (p, list_path))

    for (path, fn), e in sorted(entries.items()):
        if fn == "*" or (path, fn) in uncovered or "(varies" in e["reason"]:
            continue
        there = any(name == fn for _, _, name in extents.get(path, ()))
        notes.append("%s %s: %s: drop the entry" % (path, fn, "fully covered now" if there else "no such function"))

    for n in notes:
        print("fuzz-coverage: note: %s:" % list_path, n)
    for e in errors:
        print(e)
    for b in bad:
        print(b)
    total = sum(listed_lines.values())
    kinds = ", ".join("%s %d" % (k, n) for k, n in sorted(listed_lines.items(), key=lambda kv: -kv[1]))
    if suggest:
        print("fuzz-coverage: reach these lines with an input (fuzz/README.md, Coverage), or list them:")
        for x in suggest:
            print("  " + x)
    if bad or errors:
        print("FAIL: fuzz-coverage: %d uncovered lines of src/heap and src/api are not accounted for in %s"
              % (len(bad), list_path))
        return 1
    print("PASS: fuzz-coverage: every uncovered line of src/heap and src/api is listed in %s "
          "(%d lines: %s)" % (list_path, total, kinds or "none"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
