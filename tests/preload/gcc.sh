#!/usr/bin/env bash
# gcc compiles prog.c to assembly (compared whole), then compiles and links
# it (cc1, as, collect2, ld) and runs the result.
set -eu
. "$(dirname "$0")/served.sh"
src=$(dirname "$0")/prog.c
served gcc -O2 -S -o - "$src" | grep -v '\.ident'
served gcc -O2 -o prog "$src"
./prog
