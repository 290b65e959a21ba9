#!/usr/bin/env python3
"""Recompress a PNG written by lemmalloc (stored deflate, so large) with
zlib level 9, e.g. before attaching a heap map to a bug report or a README:
    tools/heapmap/pngpack.py IN.png OUT.png
A heap map shrinks about 50x; the pixels are unchanged."""
import struct
import sys
import zlib


def chunks(data):
    at = 8
    while at < len(data):
        (n,) = struct.unpack(">I", data[at:at + 4])
        yield data[at + 4:at + 8], data[at + 8:at + 8 + n]
        at += 12 + n


def chunk(kind, body):
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def main():
    data = open(sys.argv[1], "rb").read()
    if data[:8] != b"\x89PNG\r\n\x1a\n":
        sys.exit("pngpack: %s is not a PNG" % sys.argv[1])
    parts = list(chunks(data))
    raw = zlib.decompress(b"".join(b for k, b in parts if k == b"IDAT"))
    out = [data[:8]]
    for k, b in parts:
        if k == b"IDAT":
            if raw is not None:
                out.append(chunk(b"IDAT", zlib.compress(raw, 9)))
                raw = None
        else:
            out.append(chunk(k, b))
    open(sys.argv[2], "wb").write(b"".join(out))


if __name__ == "__main__":
    main()
