#!/usr/bin/python3
"""Draw a lemmalloc heap map snapshot as a PNG, an HTML page or text.

    render.py SNAPSHOT [-o OUT] [--format png|html|text]

SNAPSHOT is the file the library writes (LEMMALLOC_HEAPMAP=FILE, the
heap map signal, lm_heapmap_write): versioned text, described in
tools/heapmap/README.md ("Format"). The format is --format, else OUT's
extension (.png, .html or .htm, .txt); without OUT, text on stdout.

PNG needs Pillow (Debian: python3-pil, which scripts/deps.sh installs for
/usr/bin/python3); HTML and text need only the standard library. A file
that is not a snapshot, has another version, is inconsistent or was cut
short is refused with one line saying why (exit status 1)."""
import argparse
import html
import json
import re
import sys

VERSION = 1
LETTERS = "lpdrm"  # live, partly, dirty, purged, meta: the file's cell letters
NAMES = ["live", "partly used slab", "free, resident (dirty)", "free, returned to the kernel", "metadata"]
SHORT = ["live", "partly", "dirty", "purged", "meta"]
RGB = [(38, 86, 184), (120, 190, 230), (242, 142, 43), (222, 222, 222), (140, 95, 176)]
INT_KEYS = ["page_size", "chunk_pages", "chunks", "truncated", "arenas", "live_bytes", "partly_free_bytes",
            "huge_live", "huge_cached", "tcache_bytes", "slab_bytes", "map_bytes"]
OPTIONAL_KEYS = ["pid"]

# Layout, in pixels (PNG and HTML alike): a cell is 3x3 with a 1-pixel gap,
# a chunk 64 cells wide, four chunks side by side.
CELL, COLS, PER_ROW, MARGIN, LINE, LABEL_H = 4, 64, 4, 8, 14, 14
META_COLS = PER_ROW * COLS
META_MAX_CELLS = META_COLS * 64  # a huge table cannot make a huge picture


class SnapshotError(Exception):
    pass


def parse_int(word, lineno, what):
    if not re.fullmatch(r"[0-9]+", word):
        raise SnapshotError("line %d: %s is not a number: %r" % (lineno, what, word[:40]))
    return int(word)


def check_version(first):
    m = re.fullmatch(r"lemmalloc-heapmap (\S+)", first)
    if m is None:
        raise SnapshotError("line 1: not a lemmalloc heap map snapshot (want 'lemmalloc-heapmap %d', got %r)"
                            % (VERSION, first[:60]))
    if m.group(1) != str(VERSION):
        raise SnapshotError("line 1: format version %s; this renderer reads version %d only"
                            % (m.group(1)[:20], VERSION))


def parse_line(snap, words, lineno):
    key = words[0]
    if key in INT_KEYS or key in OPTIONAL_KEYS:
        if len(words) != 2:
            raise SnapshotError("line %d: want '%s NUMBER'" % (lineno, key))
        snap[key] = parse_int(words[1], lineno, key)
    elif key == "cells":
        cells = {}
        for w in words[1:]:
            letter, _, n = w.partition(":")
            if letter not in LETTERS or letter in cells:
                raise SnapshotError("line %d: cells: unknown or repeated state %r" % (lineno, letter))
            cells[letter] = parse_int(n, lineno, "cells " + letter)
        if len(cells) != len(LETTERS):
            raise SnapshotError("line %d: cells: want a count for each of %s" % (lineno, " ".join(LETTERS)))
        snap["cells"] = [cells[c] for c in LETTERS]
    elif key == "class":
        if len(words) != 5:
            raise SnapshotError("line %d: want 'class SIZE SLABS SLOTS USED'" % lineno)
        snap["classes"].append([parse_int(w, lineno, "class") for w in words[1:]])
    elif key == "chunk":
        if len(words) != 4 or not re.fullmatch(r"0x[0-9a-f]+", words[2]):
            raise SnapshotError("line %d: want 'chunk ARENA 0xBASE CELLS'" % lineno)
        if "chunk_pages" not in snap or len(words[3]) != snap["chunk_pages"] or not re.fullmatch(r"[lpdr]*", words[3]):
            raise SnapshotError("line %d: a chunk's cells are chunk_pages letters out of l, p, d, r" % lineno)
        snap["chunk"].append((parse_int(words[1], lineno, "arena"), words[2], words[3]))
    # Any other key: added after this renderer was written (same version); skipped.


def parse(path):
    """The snapshot as a dict, or SnapshotError saying what is wrong."""
    try:
        with open(path, "rb") as f:
            data = f.read()
    except OSError as e:
        raise SnapshotError(e.strerror or str(e))
    try:
        text = data.decode("ascii")
    except UnicodeDecodeError:
        raise SnapshotError("not a lemmalloc heap map snapshot (not ASCII text)")
    lines = text.split("\n")
    check_version(lines[0])
    if "end" not in lines:
        raise SnapshotError("truncated: no 'end' line (the file was cut short, or is still being written)")
    snap = {"classes": [], "chunk": []}
    ended = False
    for lineno, line in enumerate(lines[1:], 2):
        if ended and line:
            raise SnapshotError("line %d: text after 'end'" % lineno)
        if line == "end":
            ended = True
        elif line:
            parse_line(snap, line.split(" "), lineno)
    check_consistent(snap)
    return snap


def check_consistent(snap):
    missing = [k for k in INT_KEYS + ["cells"] if k not in snap]
    if missing:
        raise SnapshotError("missing line(s): %s" % ", ".join(missing))
    if snap["chunk_pages"] % COLS:
        raise SnapshotError("chunk_pages %d is not a multiple of %d" % (snap["chunk_pages"], COLS))
    if len(snap["chunk"]) != snap["chunks"]:
        raise SnapshotError("'chunks %d' but %d chunk lines" % (snap["chunks"], len(snap["chunk"])))
    for s in range(4):
        n = sum(c[2].count(LETTERS[s]) for c in snap["chunk"])
        if n != snap["cells"][s]:
            raise SnapshotError("cells %s:%d, but the chunk lines have %d" % (LETTERS[s], snap["cells"][s], n))


# ---- figures, shared by every output ----

def size(x):
    return "%.1f KiB" % (x / 1024) if x < 1 << 20 else "%.1f MiB" % (x / (1 << 20))


def pct(num, den):
    return "-" if den == 0 else "%.1f%%" % (100.0 * num / den)


def legend(snap):
    return ["%s: %d pages (%s)" % (NAMES[s], n, size(n * snap["page_size"])) for s, n in enumerate(snap["cells"])]


def totals(snap):
    c, page = snap["cells"], snap["page_size"]
    resident = (c[0] + c[1] + c[2]) * page
    n, arenas = snap["chunks"], snap["arenas"]
    slots = sum(k[2] for k in snap["classes"])
    used = sum(k[3] for k in snap["classes"])
    return [
        "%d chunk%s (%s) in %d arena%s%s" % (n, "" if n == 1 else "s", size(n * snap["chunk_pages"] * page),
                                             arenas, "" if arenas == 1 else "s",
                                             ", more not drawn" if snap["truncated"] else ""),
        "live %s / resident in chunks %s = %s" % (size(snap["live_bytes"]), size(resident),
                                                  pct(snap["live_bytes"], resident)),
        "pages of partly used slabs: %d, free slots in them %s; free resident pages: %d"
        % (c[1], size(snap["partly_free_bytes"]), c[2]),
        "slabs: %s in %d slabs, %d of %d slots allocated (%s)"
        % (size(snap["slab_bytes"]), sum(k[1] for k in snap["classes"]), used, slots, pct(used, slots)),
        "huge mappings (not drawn): %s live, %s cached" % (size(snap["huge_live"]), size(snap["huge_cached"])),
        "free slots in other threads' caches (drawn live): %s" % size(snap["tcache_bytes"]),
        "snapshot%s: %s of memory for the snapshot itself"
        % (" of pid %d" % snap["pid"] if "pid" in snap else "", size(snap["map_bytes"])),
    ]


def chunk_counts(cells):
    return [cells.count(LETTERS[s]) for s in range(4)]


def meta_drawn(snap):
    return min(snap["cells"][4], META_MAX_CELLS)


# ---- text ----

def render_text(snap):
    out = ["lemmalloc heap map: one cell per %d KiB page" % (snap["page_size"] // 1024)]
    out += ["  " + line for line in legend(snap)]
    out += totals(snap)
    for size_, nslabs, slots, used in snap["classes"]:
        out.append("class %d: %d slabs, %d of %d slots allocated (%s)" % (size_, nslabs, used, slots,
                                                                          pct(used, slots)))
    for arena, base, cells in snap["chunk"]:
        counts = chunk_counts(cells)
        out.append("chunk arena %d %s: " % (arena, base) + ", ".join("%d %s" % (counts[s], SHORT[s])
                                                                    for s in range(4)))
    return "\n".join(out) + "\n"


# ---- PNG (Pillow) ----

def png_geometry(snap):
    rows = snap["chunk_pages"] // COLS
    header = MARGIN + LINE * (1 + len(NAMES) + len(totals(snap))) + MARGIN
    chunk_h = LABEL_H + rows * CELL + MARGIN
    meta_y = header + (snap["chunks"] + PER_ROW - 1) // PER_ROW * chunk_h + LABEL_H
    height = meta_y + (meta_drawn(snap) + META_COLS - 1) // META_COLS * CELL + MARGIN
    return header, chunk_h, meta_y, MARGIN + PER_ROW * (COLS * CELL + MARGIN), height


def render_png(snap, path):
    try:
        from PIL import Image, ImageDraw
    except ImportError:
        raise SnapshotError("PNG output needs Pillow (Debian: apt-get install python3-pil, "
                            "then run with /usr/bin/python3), or use --format html")
    header, chunk_h, meta_y, width, height = png_geometry(snap)
    bg, ink = len(RGB), len(RGB) + 1  # palette: the states, then background and text
    img = Image.new("P", (width, height), bg)
    img.putpalette([v for rgb in RGB + [(255, 255, 255), (32, 32, 32)] for v in rgb])
    g = ImageDraw.Draw(img)
    y = MARGIN
    g.text((MARGIN, y), "lemmalloc heap map: one cell per %d KiB page" % (snap["page_size"] // 1024), fill=ink)
    for s, line in enumerate(legend(snap)):
        y += LINE
        g.rectangle([MARGIN, y, MARGIN + 9, y + 9], fill=s)  # a 10x10 swatch
        g.text((MARGIN + 16, y), line, fill=ink)
    for line in totals(snap):
        y += LINE
        g.text((MARGIN, y), line, fill=ink)

    def cell(x, y, state):
        g.rectangle([x, y, x + CELL - 2, y + CELL - 2], fill=state)  # 3x3, inclusive corners

    for i, (arena, base, cells) in enumerate(snap["chunk"]):
        x = MARGIN + i % PER_ROW * (COLS * CELL + MARGIN)
        cy = header + i // PER_ROW * chunk_h + LABEL_H
        g.text((x, cy - LABEL_H + 1), "arena %d  %s" % (arena, base), fill=ink)
        for p, letter in enumerate(cells):
            cell(x + p % COLS * CELL, cy + p // COLS * CELL, LETTERS.index(letter))
    g.text((MARGIN, meta_y - LABEL_H + 1), "metadata: %d pages" % snap["cells"][4], fill=ink)
    for p in range(meta_drawn(snap)):
        cell(MARGIN + p % META_COLS * CELL, meta_y + p // META_COLS * CELL, 4)
    img.save(path, format="PNG", optimize=True)  # zlib deflate, level 9


# ---- HTML (self-contained: canvas and script inline, no network) ----

HTML_SCRIPT = """
const cv=document.getElementById('map'),tip=document.getElementById('tip');
const ROWS=PAGES/COLS,CW=COLS*CELL,CH=ROWS*CELL,MCOLS=PER*COLS;
const crow=Math.ceil(CHUNKS.length/PER),my=crow*(LAB+CH+M)+LAB;
cv.width=M+PER*(CW+M);cv.height=my+Math.ceil(META/MCOLS)*CELL+M;
const g=cv.getContext('2d');g.font='11px monospace';
function pos(i){return [M+(i%PER)*(CW+M),Math.floor(i/PER)*(LAB+CH+M)+LAB];}
CHUNKS.forEach((c,i)=>{const [x,y]=pos(i);g.fillStyle='#222';g.fillText('arena '+c[0]+'  '+c[1],x,y-3);
 for(let p=0;p<c[2].length;p++){g.fillStyle=COLORS[LETTERS.indexOf(c[2][p])];
  g.fillRect(x+(p%COLS)*CELL,y+Math.floor(p/COLS)*CELL,CELL-1,CELL-1);}});
g.fillStyle='#222';g.fillText('metadata',M,my-3);g.fillStyle=COLORS[4];
for(let p=0;p<META;p++)g.fillRect(M+(p%MCOLS)*CELL,my+Math.floor(p/MCOLS)*CELL,CELL-1,CELL-1);
function count(s,l){let n=0;for(const ch of s)n+=ch===l;return n;}
cv.addEventListener('mousemove',e=>{const r=cv.getBoundingClientRect(),x=e.clientX-r.left,y=e.clientY-r.top;
 let t='';CHUNKS.forEach((c,i)=>{const [cx,cy]=pos(i),col=Math.floor((x-cx)/CELL),row=Math.floor((y-cy)/CELL);
  if(col>=0&&col<COLS&&row>=0&&row<ROWS){const p=row*COLS+col;
   t='arena '+c[0]+', page '+p+' at 0x'+(BigInt(c[1])+BigInt(p*PAGE)).toString(16)+': '+
     NAMES[LETTERS.indexOf(c[2][p])]+' \\u2014 this chunk: '+
     [0,1,2,3].map(s=>count(c[2],LETTERS[s])+' '+SHORT[s]).join(', ');}});
 tip.style.display=t?'block':'none';tip.textContent=t;
 tip.style.left=(e.clientX+12)+'px';tip.style.top=(e.clientY+12)+'px';});
"""


def html_tables(snap):
    rows = []
    for s, line in enumerate(legend(snap)):
        rows.append('<tr><td><span class="sw" style="background:rgb(%d,%d,%d)"></span></td>'
                    '<td data-state="%s" data-cells="%d">%s</td></tr>'
                    % (RGB[s] + (LETTERS[s], snap["cells"][s], html.escape(line))))
    items = "".join("<li>%s</li>\n" % html.escape(line) for line in totals(snap))
    classes = "".join("<tr><td>%d</td><td>%d</td><td>%d</td><td>%d</td><td>%s</td></tr>\n"
                      % (k[0], k[1], k[2], k[3], pct(k[3], k[2])) for k in snap["classes"])
    return ('<table id="legend">\n%s\n</table>\n<ul id="totals">\n%s</ul>\n'
            '<details><summary>slabs by size class</summary><table id="classes">'
            '<tr><th>size</th><th>slabs</th><th>slots</th><th>allocated</th><th>occupancy</th></tr>\n'
            '%s</table></details>\n' % ("\n".join(rows), items, classes))


def render_html(snap):
    data = {"COLORS": ["rgb(%d,%d,%d)" % c for c in RGB], "NAMES": NAMES, "SHORT": SHORT, "LETTERS": LETTERS,
            "META": meta_drawn(snap), "PAGE": snap["page_size"], "PAGES": snap["chunk_pages"],
            "CELL": CELL, "COLS": COLS, "PER": PER_ROW, "M": MARGIN, "LAB": LABEL_H}
    consts = "".join("const %s=%s;\n" % (k, json.dumps(v)) for k, v in data.items())
    chunks = ",\n".join(json.dumps([a, b, c]) for a, b, c in snap["chunk"])
    return ("<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>lemmalloc heap map</title>\n"
            "<style>body{font:14px sans-serif;margin:16px}td,th{padding:1px 8px;text-align:right}"
            ".sw{display:inline-block;width:12px;height:12px;vertical-align:middle}#legend td{text-align:left}"
            "#tip{position:fixed;background:#fff;border:1px solid #999;padding:2px 6px;display:none}</style>"
            "</head><body>\n<h1>lemmalloc heap map</h1>\n<p>One cell per %d KiB page; each block of %d &times; %d "
            "cells is one chunk. Point at a cell for its address and state.</p>\n%s"
            "<canvas id=\"map\"></canvas><div id=\"tip\"></div>\n<script>\n%sconst CHUNKS=[\n%s\n];\n%s</script>\n"
            "</body></html>\n" % (snap["page_size"] // 1024, COLS, snap["chunk_pages"] // COLS, html_tables(snap),
                                  consts, chunks, HTML_SCRIPT))


# ---- command line ----

FORMATS = {".png": "png", ".html": "html", ".htm": "html", ".txt": "text", ".text": "text"}


def main(argv=None):
    ap = argparse.ArgumentParser(description="Draw a lemmalloc heap map snapshot (tools/heapmap/README.md).")
    ap.add_argument("snapshot", help="the file LEMMALLOC_HEAPMAP or lm_heapmap_write wrote")
    ap.add_argument("-o", "--output", help="file to write (default: text on stdout)")
    ap.add_argument("--format", choices=["png", "html", "text"], help="default: from the output's extension")
    args = ap.parse_args(argv)
    fmt = args.format
    if fmt is None and args.output:
        ext = args.output[args.output.rfind("."):].lower() if "." in args.output else ""
        fmt = FORMATS.get(ext)
        if fmt is None:
            ap.error("cannot tell the format from %r: give --format png, html or text" % args.output)
    fmt = fmt or "text"
    if fmt == "png" and not args.output:
        ap.error("PNG output needs -o FILE")
    try:
        snap = parse(args.snapshot)
        if fmt == "png":
            render_png(snap, args.output)
            return 0
        page = render_text(snap) if fmt == "text" else render_html(snap)
        if args.output:
            with open(args.output, "w", encoding="utf-8") as f:
                f.write(page)
        else:
            sys.stdout.write(page)
    except SnapshotError as e:
        print("render.py: %s: %s" % (args.snapshot, e), file=sys.stderr)
        return 1
    except OSError as e:
        print("render.py: %s: %s" % (e.filename or args.output, e.strerror or e), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
