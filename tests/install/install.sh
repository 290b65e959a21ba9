#!/usr/bin/env bash
# Check part `install`: make install / uninstall, pkg-config, the soname,
# and bin/lemmalloc (source tree and installed).
# usage: tests/install/install.sh VERSION SONAME   (from the repository root)
set -u
version=$1 soname=$2
repo=$PWD
rc=0
pass() { echo "PASS: install: $*"; }
fail() { echo "FAIL: install: $*"; rc=1; }
d=$(mktemp -d /tmp/lemmalloc-install.XXXXXX)
trap 'rm -rf "$d"' EXIT
unset LEMMALLOC_LIB LD_PRELOAD
CC=${CC:-cc}
out=
mk() { make --no-print-directory -s "$@"; }

# Helpers: a program that says who serves malloc, a library to preload.
$CC -O1 -o "$d/served" tests/install/served.c -ldl &&
  $CC -O1 -shared -fPIC -o "$d/marker.so" tests/install/marker.c ||
  { fail "build the helper programs"; exit 1; }

# ---- 1. into a DESTDIR, default PREFIX -------------------------------------
stage=$d/stage lib=$d/stage/usr/local/lib
if mk install DESTDIR="$stage" >"$d/install.log" 2>&1; then pass "make install DESTDIR=... (PREFIX=/usr/local)"
else cat "$d/install.log"; fail "make install DESTDIR=..."; fi
want="usr/local/bin/lemmalloc
usr/local/bin/lemmalloc-oracle
usr/local/include/lemmalloc.h
usr/local/lib/liblemmalloc.a
usr/local/lib/liblemmalloc.so
usr/local/lib/liblemmalloc.so.$version
usr/local/lib/$soname
usr/local/lib/pkgconfig/lemmalloc.pc"
got=$(cd "$stage" && find . -type f -o -type l | sed 's|^\./||' | LC_ALL=C sort)
if [ "$got" = "$(LC_ALL=C sort <<<"$want")" ]; then pass "installed exactly the 8 files"
else fail "installed files differ:"; diff <(LC_ALL=C sort <<<"$want") <(echo "$got") | sed 's/^/  /'; fi
if [ "$(readlink "$lib/liblemmalloc.so")" = "$soname" ] && [ "$(readlink "$lib/$soname")" = "liblemmalloc.so.$version" ] &&
   readelf -d "$lib/liblemmalloc.so.$version" | grep -q "Library soname: \[$soname\]"
then pass "liblemmalloc.so -> $soname -> liblemmalloc.so.$version, soname $soname"
else fail "library names: $(ls -l "$lib" | tail -n +2)"; fi

# pkg-config against the staged tree.
export PKG_CONFIG_PATH=$lib/pkgconfig PKG_CONFIG_SYSROOT_DIR=$stage
mv=$(pkg-config --modversion lemmalloc 2>&1)
[ "$mv" = "$version" ] && pass "pkg-config --modversion lemmalloc: $mv" || fail "pkg-config --modversion: '$mv'"
flags=$(pkg-config --cflags --libs lemmalloc)
if $CC -o "$d/hello" tests/install/hello.c $flags -ldl 2>"$d/cc.err"; then
  pass "cc hello.c \$(pkg-config --cflags --libs lemmalloc) [$flags]"
  if readelf -d "$d/hello" | grep -q "NEEDED.*\[$soname\]"; then pass "hello needs $soname (the soname)"
  else fail "hello does not need $soname: $(readelf -d "$d/hello" | grep NEEDED)"; fi
  out=$(LD_LIBRARY_PATH=$lib "$d/hello" 2>&1)
  if [ $? -eq 0 ]; then pass "hello runs against the installed library: $out"; else fail "hello: $out"; fi
else
  cat "$d/cc.err"; fail "build hello with pkg-config's flags"
fi
unset PKG_CONFIG_PATH PKG_CONFIG_SYSROOT_DIR
if $CC -rdynamic -o "$d/hello-static" tests/install/hello.c -I"$stage/usr/local/include" "$lib/liblemmalloc.a" -pthread -ldl &&
   out=$("$d/hello-static") && ! readelf -d "$d/hello-static" | grep -q liblemmalloc
then pass "hello linked with the installed liblemmalloc.a: $out"
else fail "hello with liblemmalloc.a: $out"; fi

w=$stage/usr/local/bin/lemmalloc
if grep -qx "installed_lib='/usr/local/lib/$soname'" "$w" && [ "$("$w" --version)" = "lemmalloc $version (/usr/local/lib/$soname)" ]
then pass "installed wrapper preloads /usr/local/lib/$soname: $("$w" --version)"
else fail "installed wrapper: $(grep '^installed_' "$w"; "$w" --version)"; fi
out=$("$stage/usr/local/bin/lemmalloc-oracle" --lib "$lib/$soname" --ops 2000 --no-footprint --quiet 2>&1)
grep -q "^result: pass" <<<"$out" && pass "installed lemmalloc-oracle passes the installed library" ||
  fail "installed lemmalloc-oracle: $out"

if mk uninstall DESTDIR="$stage" >"$d/uninstall.log" 2>&1; then
  left=$(cd "$stage" && find . -type f -o -type l)
  [ -z "$left" ] && pass "make uninstall DESTDIR=... leaves no file" || fail "make uninstall left: $left"
else cat "$d/uninstall.log"; fail "make uninstall DESTDIR=..."; fi

# ---- 2. into a PREFIX with a space, no DESTDIR ------------------------------
pre="$d/pre fix"
if mk install PREFIX="$pre" >"$d/install2.log" 2>&1; then pass "make install PREFIX='.../pre fix'"
else cat "$d/install2.log"; fail "make install PREFIX with a space"; fi
out=$("$pre/bin/lemmalloc" "$d/served" 2>&1)
if [ $? -eq 0 ] && grep -qF "malloc from $pre/lib/$soname" <<<"$out"; then
  pass "installed wrapper in a path with a space: $out"
else fail "installed wrapper in '$pre': $out"; fi
mkdir -p "$d/path"
ln -s "$pre/bin/lemmalloc" "$d/path/lemmalloc"
out=$(cd / && PATH="$d/path:$PATH" lemmalloc --stats "$d/served" 2>&1)
if [ $? -eq 0 ] && grep -q "^lemmalloc stats: lemmalloc $version, pid [0-9]* (served), at exit" <<<"$out"; then
  pass "installed wrapper symlinked into PATH, --stats: served and reported"
else fail "installed wrapper through a symlink in PATH: $out"; fi
mk uninstall PREFIX="$pre" >/dev/null 2>&1
left=$(find "$pre" -type f -o -type l)
[ -z "$left" ] && pass "make uninstall PREFIX=... leaves no file" || fail "make uninstall PREFIX=... left: $left"

# ---- 3. bin/lemmalloc from the source tree ----------------------------------
w=$repo/bin/lemmalloc
out=$("$w" --help); code=$?
[ $code -eq 0 ] && grep -q '^usage: lemmalloc' <<<"$out" && pass "bin/lemmalloc --help: usage on stdout, exit 0" ||
  fail "--help: exit $code, '$out'"
out=$("$w" --version); code=$?
[ $code -eq 0 ] && [ "$out" = "lemmalloc $version ($repo/build/liblemmalloc.so)" ] && pass "bin/lemmalloc --version: $out" ||
  fail "--version: exit $code, '$out'"
"$w" >/dev/null 2>&1; code=$?
[ $code -eq 2 ] && pass "bin/lemmalloc with no command: exit 2" || fail "no command: exit $code"
out=$("$w" --frobnicate true 2>&1); code=$?
[ $code -eq 2 ] && grep -q 'unknown option --frobnicate' <<<"$out" && pass "unknown option: exit 2 and says so" ||
  fail "unknown option: exit $code, '$out'"
mkdir -p "$d/dash"; cp "$d/served" "$d/dash/-served"
out=$(PATH="$d/dash:$PATH" "$w" -- -served 2>&1); code=$?
[ $code -eq 0 ] && grep -q 'liblemmalloc' <<<"$out" && pass "-- ends the options: runs a command named -served under lemmalloc" ||
  fail "--: exit $code, '$out'"
out=$("$w" --stats "$d/served" 2>&1); code=$?
[ $code -eq 0 ] && grep -q "^lemmalloc stats: lemmalloc $version, pid [0-9]* (served), at exit" <<<"$out" &&
  pass "--stats: served and the statistics at exit" || fail "--stats: exit $code, '$out'"
out=$(LD_PRELOAD=$d/marker.so "$w" "$d/served" 2>&1); code=$?
[ $code -eq 0 ] && grep -q 'marker preloaded' <<<"$out" && pass "an existing LD_PRELOAD is kept: $(echo $out)" ||
  fail "existing LD_PRELOAD: exit $code, '$out'"
ln -s "$w" "$d/path/lm-link"
out=$(cd / && PATH="$d/path:$PATH" lm-link "$d/served" 2>&1); code=$?
[ $code -eq 0 ] && grep -qF "malloc from $repo/build/liblemmalloc.so" <<<"$out" &&
  pass "bin/lemmalloc symlinked into PATH finds build/: $out" || fail "symlink into PATH: exit $code, '$out'"
# A copy of the tree in a path with a space: preloaded by name from its
# directory (LD_LIBRARY_PATH), since ld.so splits LD_PRELOAD at spaces.
sp="$d/with space"
mkdir -p "$sp/bin" "$sp/build" "$sp/include"
cp "$w" "$sp/bin/"; cp build/liblemmalloc.so "$sp/build/"; cp include/lemmalloc.h "$sp/include/"
out=$("$sp/bin/lemmalloc" "$d/served" 2>&1); code=$?
[ $code -eq 0 ] && grep -qF "malloc from $sp/build/liblemmalloc.so" <<<"$out" &&
  pass "from a path with a space: $out" || fail "path with a space: exit $code, '$out'"
cl="$d/a:b"
mkdir -p "$cl/bin" "$cl/build" "$cl/include"
cp "$w" "$cl/bin/"; cp build/liblemmalloc.so "$cl/build/"; cp include/lemmalloc.h "$cl/include/"
out=$("$cl/bin/lemmalloc" "$d/served" 2>&1); code=$?
[ $code -eq 127 ] && grep -q "cannot preload .*splits LD_PRELOAD" <<<"$out" &&
  pass "from a path with a colon: refused with a reason, exit 127" || fail "path with a colon: exit $code, '$out'"
rm "$sp/build/liblemmalloc.so"
out=$("$sp/bin/lemmalloc" true 2>&1); code=$?
[ $code -eq 127 ] && grep -q 'not found (run make in' <<<"$out" && pass "no library: exit 127 and says where" ||
  fail "no library: exit $code, '$out'"

# A setuid program: the loader ignores LD_PRELOAD for it; the wrapper says so.
if [ "$(id -u)" -eq 0 ]; then
  cp "$d/served" "$d/suid"; chown 65534 "$d/suid"; chmod 4755 "$d/suid"
  out=$("$w" "$d/suid" 2>&1); code=$?
  if ! grep -q 'secure mode' <<<"$out"; then
    echo "SKIP: install: setuid target: the kernel did not run it in secure mode (nosuid mount?): $out"
  elif [ $code -eq 1 ] && grep -q "lemmalloc: $d/suid is setuid/setgid: the loader ignores LD_PRELOAD" <<<"$out" &&
     grep -q 'malloc from .*libc' <<<"$out"; then pass "a setuid target: a line says it runs on the C library's malloc"
  else fail "setuid target: exit $code, '$out'"; fi
  out=$("$w" "$d/served" 2>&1)
  grep -q 'setuid' <<<"$out" && fail "a plain program got the setuid line: $out" || pass "control: no setuid line for a plain program"
else
  echo "SKIP: install: setuid target (needs root to make a file setuid to another user)"
fi
exit $rc
