#!/usr/bin/env python3
"""Digests of the specification a core file is proven against.

usage: specdigest.py PRINTED.c            print "spec:KEY DIGEST" lines
       specdigest.py --check PRINTED.c EXPECTED NAME
                                          compare with the spec: lines of
                                          proofs/NAME.expected; exit 1 on a
                                          difference (one FAIL: line each)

PRINTED.c is Frama-C's own print of the file (frama-c -print -ocode), so
macros are expanded and the text is normalized: what is digested is what
WP proves, not how the source spells it. Every annotation block at the top
level is digested:
  - a function contract (the block before a declaration or definition):
    key spec:<function>;
  - a global annotation (predicate, logic function, lemma, axiomatic
    block): key spec:logic:<first name it declares>.
Annotations inside function bodies (loop invariants, assertions, ghost
code) are proof steps, checked by WP themselves, and are not digested.
A digest is the first 12 hex digits of SHA-256 over the block's text with
runs of white space made one space.
"""
import hashlib
import re
import sys

FUNC = re.compile(r"([A-Za-z_]\w*)\s*\(")
GLOBAL = re.compile(r"\b(predicate|lemma|axiomatic|inductive|axiom)\s+([A-Za-z_]\w*)"
                    r"|\blogic\s+\S+\s+([A-Za-z_]\w*)")


def function_name(head):
    """The name a C declarator declares, attributes and parentheses aside."""
    head = re.sub(r"__attribute__\s*\(\(.*?\)\)", " ", head)
    head = re.sub(r"\(\s*([A-Za-z_]\w*)\s*\)(?=\s*\()", r" \1 ", head)
    m = FUNC.search(head)
    return m.group(1) if m else None


def digest(text):
    return hashlib.sha256(" ".join(text.split()).encode()).hexdigest()[:12]


def specs(path):
    lines = open(path, encoding="utf-8").read().split("\n")
    out = {}
    unnamed = 0
    i = 0
    while i < len(lines):
        if not lines[i].startswith("/*@"):
            i += 1
            continue
        block = []
        while i < len(lines):
            block.append(lines[i])
            i += 1
            if "*/" in block[-1]:
                break
        text = "\n".join(block)
        # What follows: a declarator up to ';' or '{' names a function.
        j, decl = i, []
        while j < len(lines) and not lines[j].strip():
            j += 1
        while j < len(lines) and not lines[j].startswith("/*@"):
            decl.append(lines[j])
            if ";" in lines[j] or "{" in lines[j]:
                break
            j += 1
        m = None
        if text.lstrip("/*@ \n").startswith("ghost") and "@/" in text:
            # A ghost function (a lemma proved as a C function): its
            # contract is what it states; its body is the proof.
            end = text.index("@/") + 2
            m = function_name(text[end:])
            text = text[:end]
        elif decl and not GLOBAL.search(text):
            m = function_name(" ".join(decl))
        if m:
            key = "spec:" + m
        else:
            g = GLOBAL.search(text)
            if g:
                key = "spec:logic:" + (g.group(2) or g.group(3))
            else:
                unnamed += 1
                key = "spec:logic:#%d" % unnamed
        d = digest(text)
        # A function's contract is printed with its declaration and again
        # with its definition: the same text, one key.
        if key in out and out[key] != d:
            d = digest(out[key] + d)
        out[key] = d
    return out


def read_expected(path):
    exp = {}
    try:
        for line in open(path):
            f = line.split("#")[0].split()
            if len(f) == 2 and f[0].startswith("spec:"):
                exp[f[0]] = f[1]
    except FileNotFoundError:
        pass
    return exp


def main(argv):
    if argv and argv[0] == "--check":
        printed, expected, name = argv[1:4]
        cur, exp = specs(printed), read_expected(expected)
        bad = 0
        for k in sorted(set(cur) | set(exp)):
            if k not in exp:
                print("FAIL: verify: %s.c %s: new, not in %s (run make verify-update and review the diff)"
                      % (name, k[5:], expected))
            elif k not in cur:
                print("FAIL: verify: %s.c %s: gone from the specification (recorded %s)" % (name, k[5:], exp[k]))
            elif cur[k] != exp[k]:
                print("FAIL: verify: %s.c %s: the specification changed (digest %s, recorded %s); "
                      "if on purpose, run make verify-update and review the diff" % (name, k[5:], cur[k], exp[k]))
            else:
                continue
            bad += 1
        if not bad:
            print("PASS: verify: %s.c: specification unchanged (%d contracts and logic blocks, digests in %s)"
                  % (name, len(cur), expected))
        return 1 if bad else 0
    for k, d in sorted(specs(argv[0]).items()):
        print(k, d)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
