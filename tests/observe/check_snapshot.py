#!/usr/bin/python3
"""Check heap map snapshots and what tools/heapmap/render.py makes of them.

Usage: check_snapshot.py OUTDIR LIB STATSPROG LIVE PARTLY DIRTY PURGED META

OUTDIR holds what heapmap_test wrote: map.txt (one snapshot, whose cell
counts heapmap_test printed: LIVE ... META), hm-PID-0.txt and hm-PID-1.txt
(on its signal) and hm-PID-2.txt (at its exit). LIB is liblemmalloc.so,
preloaded into STATSPROG (tests/settings/statsprog.c) to take a map on a
signal and one at exit from a real process. Checks: the snapshot parses and
its totals agree with its cells; the renderer writes a valid, compressed PNG
(signature, CRCs, IHDR, Pillow reopens it) whose pixels are the cells, an
HTML page with the same cells and nothing from the network, and text; a
wrong version line, a file cut short, inconsistent totals and a file that
is not a snapshot are refused. Prints PASS:/FAIL: lines."""
import glob
import os
import re
import signal
import struct
import subprocess
import sys
import time
import zlib

HERE = os.path.dirname(os.path.abspath(__file__))
RENDER = os.path.join(HERE, "..", "..", "tools", "heapmap", "render.py")
sys.path.insert(0, os.path.dirname(RENDER))
import render  # noqa: E402

fails = 0


def check(ok, what):
    global fails
    print(("PASS: " if ok else "FAIL: ") + "heapmap: " + what)
    fails += 0 if ok else 1


def run_render(*args):
    p = subprocess.run([sys.executable, RENDER] + list(args), capture_output=True, text=True)
    return p.returncode, p.stderr.strip()


def check_totals(snap, want):
    """The snapshot's own figures agree with each other and with the test's."""
    check(snap["cells"] == want, "map.txt: cells per state %s == snapshot %s" % (snap["cells"], want))
    page, cp, c = snap["page_size"], snap["chunk_pages"], snap["cells"]
    check(sum(c[:4]) == snap["chunks"] * cp, "map.txt: the cells of live/partly/dirty/purged fill its %d chunks"
          % snap["chunks"])
    check(snap["truncated"] == 0 and snap["arenas"] == len({ch[0] for ch in snap["chunk"]}),
          "map.txt: not truncated; 'arenas' counts the arenas of its chunk lines")
    check(0 < snap["live_bytes"] <= (c[0] + c[1]) * page and snap["partly_free_bytes"] <= c[1] * page,
          "map.txt: live bytes fit in live and partly used pages, free slot bytes in partly used ones")
    slot_bytes = sum(k[0] * k[2] for k in snap["classes"])
    check(all(k[3] <= k[2] for k in snap["classes"]) and slot_bytes <= snap["slab_bytes"] <= sum(c[:4]) * page,
          "map.txt: per class allocated <= slots; slots fit in the slab bytes; slabs fit in the chunks")


def read_png_chunks(data):
    at, chunks = 8, []
    while at < len(data):
        (n,) = struct.unpack(">I", data[at:at + 4])
        kind, body = data[at + 4:at + 8], data[at + 8:at + 8 + n]
        (crc,) = struct.unpack(">I", data[at + 8 + n:at + 12 + n])
        if zlib.crc32(kind + body) != crc:
            raise ValueError("bad CRC in %r chunk" % kind)
        chunks.append((kind, body))
        at += 12 + n
    return chunks


def check_png(path, snap):
    data = open(path, "rb").read()
    try:
        if data[:8] != b"\x89PNG\r\n\x1a\n":
            raise ValueError("no PNG signature")
        chunks = read_png_chunks(data)
        if chunks[0][0] != b"IHDR" or chunks[-1][0] != b"IEND":
            raise ValueError("IHDR first and IEND last")
        w, h, depth, ctype = struct.unpack(">IIBB", chunks[0][1][:10])
        idat = sum(len(b) for k, b in chunks if k == b"IDAT")
        check(ctype == 3 and depth in (1, 2, 4, 8),
              "png: valid, %dx%d %d-bit palette image (signature, CRCs, IHDR)" % (w, h, depth))
        check(idat * 10 < w * h, "png: compressed (%d bytes of image data for %d pixels)" % (idat, w * h))
    except (ValueError, struct.error, IndexError) as e:
        check(False, "png: %s" % e)
        return
    from PIL import Image
    with Image.open(path) as im:
        im.verify()
    with Image.open(path) as im:
        hist = im.histogram()
    # Each cell is 3x3 pixels of its state's palette entry, each state has a
    # 10x10 legend swatch; metadata cells are capped (render.META_MAX_CELLS).
    drawn = snap["cells"][:4] + [render.meta_drawn(snap)]
    want = [100 + 9 * n for n in drawn]
    check(hist[:5] == want, "png: Pillow reopens it; pixels per state %s == 100 + 9 x cells %s" % (hist[:5], drawn))


def check_html(path, snap):
    page = open(path, encoding="utf-8").read()
    letters = re.search(r'const LETTERS="([a-z]+)";', page).group(1)
    cells = re.findall(r'^\[(\d+), "(0x[0-9a-f]+)", "([a-z]*)"\]', page, re.M)
    check(len(cells) == snap["chunks"] and all(len(c[2]) == snap["chunk_pages"] for c in cells),
          "html: %d chunks of %d cells" % (len(cells), snap["chunk_pages"]))
    counts = [sum(c[2].count(letters[s]) for c in cells) for s in range(4)]
    counts.append(int(re.search(r"const META=(\d+);", page).group(1)))
    want = snap["cells"][:4] + [render.meta_drawn(snap)]
    check(counts == want, "html: cells per state %s == snapshot %s" % (counts, want))
    legend = [int(x) for x in re.findall(r'data-cells="(\d+)"', page)]
    check(legend == snap["cells"], "html: legend counts %s" % legend)
    check(not re.search(r"<script src|<link|http|url\(", page), "html: self-contained (no external resource)")


def check_rejects(good, outdir):
    text = open(good).read()
    lines = text.split("\n")
    bad = {
        "a wrong version line": ("lemmalloc-heapmap 2\n" + text.split("\n", 1)[1], "version 2"),
        "a file cut short": ("\n".join(lines[:-3]) + "\n", "truncated"),
        "a file cut mid-line": (text[:len(text) // 2], "truncated"),
        "totals that disagree with the cells": (re.sub(r"^cells l:(\d+)", lambda m: "cells l:%d" %
                                                       (int(m.group(1)) + 1), text, flags=re.M), "cells l:"),
        "a file that is not a snapshot": ("hello\n", "not a lemmalloc heap map"),
        "an empty file": ("", "not a lemmalloc heap map"),
    }
    for what, (body, reason) in bad.items():
        path = os.path.join(outdir, "bad.txt")
        with open(path, "w") as f:
            f.write(body)
        for fmt in ("png", "html", "text"):
            rc, err = run_render(path, "--format", fmt, "-o", os.path.join(outdir, "bad.out"))
            if rc != 1 or reason not in err:
                check(False, "render.py --format %s: %s: exit %d, %r" % (fmt, what, rc, err))
                break
        else:
            check(True, "render.py refuses %s (%s)" % (what, reason))


def check_signal_and_exit(outdir, lib, prog):
    """From the test (linked with the sources) and from a preloaded process."""
    files = sorted(glob.glob(os.path.join(outdir, "hm-*-[012].txt")))
    check(len(files) == 3 and files[-1].endswith("-2.txt"), "two maps on the test's signal, one at its exit: %s"
          % [os.path.basename(f) for f in files])
    for f in glob.glob(os.path.join(outdir, "so-*.txt")):
        os.unlink(f)
    env = dict(os.environ, LD_PRELOAD=lib, LEMMALLOC_HEAPMAP=os.path.join(outdir, "so-%n.txt"),
               LEMMALLOC_HEAPMAP_SIGNAL="USR2")
    p = subprocess.Popen([prog, "wait", os.path.join(outdir, "so-0.txt")], env=env, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True)
    p.stdout.readline()  # "pid N": past main's start, the handler is installed
    p.send_signal(signal.SIGUSR2)
    try:
        rc = p.wait(timeout=30)
    except subprocess.TimeoutExpired:
        p.kill()
        rc = "timeout"
    files += [os.path.join(outdir, "so-%d.txt" % n) for n in (0, 1)]
    check(rc == 0 and all(os.path.exists(f) for f in files[-2:]),
          "preloaded: a map on LEMMALLOC_HEAPMAP_SIGNAL=USR2 (so-0.txt) and one at exit (so-1.txt): exit %s" % rc)
    for f in files:
        try:
            render.parse(f)
            ok, why = True, ""
        except (render.SnapshotError, OSError) as e:
            ok, why = False, ": %s" % e
        check(ok, "%s parses%s" % (os.path.basename(f), why))


def main():
    outdir, lib, prog = sys.argv[1:4]
    want = [int(x) for x in sys.argv[4:9]]
    good = os.path.join(outdir, "map.txt")
    try:
        snap = render.parse(good)
        check(True, "map.txt parses (version %d)" % render.VERSION)
    except render.SnapshotError as e:
        check(False, "map.txt: %s" % e)
        return 1
    check_totals(snap, want)
    for name, args in (("map.png", []), ("map.html", []), ("map.out", ["--format", "text"])):
        rc, err = run_render(good, "-o", os.path.join(outdir, name), *args)
        check(rc == 0, "render.py %s writes %s%s" % (" ".join(args + ["-o"]), name, ": " + err if err else ""))
    check_png(os.path.join(outdir, "map.png"), snap)
    check_html(os.path.join(outdir, "map.html"), snap)
    text = open(os.path.join(outdir, "map.out")).read()
    check(text.count("\nchunk arena ") == snap["chunks"] and "resident in chunks" in text and "metadata: " in text,
          "text: legend, totals and a line per chunk")
    check_rejects(good, outdir)
    check_signal_and_exit(outdir, lib, prog)
    return 1 if fails else 0


if __name__ == "__main__":
    sys.exit(main())
