#!/usr/bin/env python3
"""Check the heap map files against the counts of the snapshot they came from.

Usage: check_files.py MAP.png MAP.html LIVE PARTLY DIRTY PURGED META

Decodes the PNG independently of lemmalloc's encoder (every chunk CRC, the
zlib stream with its Adler-32, the filter bytes, the palette), then counts
the pixels of each state colour: every cell is 3x3 pixels and each state
also has one 10x10 legend swatch. The HTML page must carry one letter per
page for exactly the same cells. Prints PASS:/FAIL: lines."""
import re
import struct
import sys
import zlib

STATES = ["live", "partly", "dirty", "purged", "meta"]
fails = 0


def check(ok, what):
    global fails
    print(("PASS: " if ok else "FAIL: ") + what)
    fails += 0 if ok else 1


def read_png(path):
    data = open(path, "rb").read()
    if data[:8] != b"\x89PNG\r\n\x1a\n":
        raise ValueError("no PNG signature")
    at, chunks = 8, []
    while at < len(data):
        (n,) = struct.unpack(">I", data[at:at + 4])
        kind, body = data[at + 4:at + 8], data[at + 8:at + 8 + n]
        (crc,) = struct.unpack(">I", data[at + 8 + n:at + 12 + n])
        if zlib.crc32(kind + body) != crc:
            raise ValueError("bad CRC in %r chunk" % kind)
        chunks.append((kind, body))
        at += 12 + n
    if chunks[0][0] != b"IHDR" or chunks[-1][0] != b"IEND":
        raise ValueError("IHDR first and IEND last")
    w, h, depth, ctype = struct.unpack(">IIBB", chunks[0][1][:10])
    if (depth, ctype) != (8, 3):
        raise ValueError("want 8-bit palette, got depth %d type %d" % (depth, ctype))
    plte = next(b for k, b in chunks if k == b"PLTE")
    raw = zlib.decompress(b"".join(b for k, b in chunks if k == b"IDAT"))  # checks Adler-32
    if len(raw) != h * (w + 1):
        raise ValueError("%d bytes of scanlines, want %d" % (len(raw), h * (w + 1)))
    if any(raw[y * (w + 1)] != 0 for y in range(h)):
        raise ValueError("filter type other than None")
    pixels = b"".join(raw[y * (w + 1) + 1:(y + 1) * (w + 1)] for y in range(h))
    return w, h, plte, pixels


def main():
    png, html = sys.argv[1], sys.argv[2]
    want = [int(x) for x in sys.argv[3:8]]
    try:
        w, h, plte, pixels = read_png(png)
        check(True, "heapmap png: valid PNG %dx%d (CRCs, zlib, Adler-32, filters)" % (w, h))
        hist = [pixels.count(bytes([s])) for s in range(len(STATES))]
        cells = [(n - 100) / 9 for n in hist]
        check(cells == want, "heapmap png: cells per state %s == snapshot %s" % (cells, want))
        check(len(plte) >= 3 * len(STATES) and len(set(plte[3 * i:3 * i + 3] for i in range(len(STATES)))) == 5,
              "heapmap png: five distinct state colours")
    except (ValueError, zlib.error, StopIteration) as e:
        check(False, "heapmap png: %s" % e)
    page = open(html, encoding="utf-8").read()
    letters = re.search(r"const LETTERS='([a-z]+)'", page).group(1)
    cells = re.findall(r"^\[(\d+),'(0x[0-9a-f]+)','([a-z]*)'\],$", page, re.M)
    check(len(cells) > 0 and all(len(c[2]) == 1024 for c in cells),
          "heapmap html: %d chunks of 1024 cells" % len(cells))
    counts = [sum(c[2].count(letters[s]) for c in cells) for s in range(4)]
    counts.append(int(re.search(r"const META=(\d+);", page).group(1)))
    check(counts == want, "heapmap html: cells per state %s == snapshot %s" % (counts, want))
    legend = [int(x) for x in re.findall(r'data-cells="(\d+)"', page)]
    check(legend == want, "heapmap html: legend counts %s" % legend)
    check("<script src" not in page and "http" not in page, "heapmap html: self-contained (no external resource)")
    return 1 if fails else 0


if __name__ == "__main__":
    sys.exit(main())
