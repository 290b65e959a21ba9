#!/usr/bin/env bash
# Statistics output: LEMMALLOC_STATS=json is one JSON object holding every
# field docs/stats.md documents (and no other); the text header carries the
# version, pid, program name and the settings in effect; LEMMALLOC_STATS_FILE
# (with %p) takes them instead of stderr, so programs that close stderr
# before exit (ls, date, statsprog close-stderr) still report; and
# LEMMALLOC_STATS_SIGNAL makes a running process write them.
# usage: stats.sh LIB STATSPROG
set -u
lib=$1 prog=$2
rc=0
version=$(sed -n 's/^#define LEMMALLOC_VERSION_\(MAJOR\|MINOR\|PATCH\) \([0-9]*\).*/\2/p' include/lemmalloc.h | paste -sd.)
d=$(mktemp -d /tmp/lemmalloc-stats.XXXXXX); trap 'rm -rf "$d"' EXIT
unset_all=(); for v in $(env | grep -o '^LEMMALLOC_[A-Za-z0-9_]*'); do unset_all+=(-u "$v"); done
lm() { env "${unset_all[@]}" LD_PRELOAD="$lib" "$@"; }
pass() { echo "PASS: stats: $*"; }
fail() { echo "FAIL: stats: $*"; rc=1; }

# check_json FILE PID PROGRAM REASON [ARENAS]: one object per line, each
# valid (json.tool), the last with these values and docs/stats.md's fields.
check_json() {
  local f=$1 pid=$2 name=$3 reason=$4 arenas=${5:-}
  if ! python3 -m json.tool --json-lines "$f" >/dev/null 2>"$d/jt.err"; then
    fail "$f is not JSON lines ($(head -c 300 "$d/jt.err"))"; return
  fi
  python3 - "$f" "$pid" "$name" "$reason" "$version" "$arenas" docs/stats.md <<'PY' || rc=1
import json, re, sys
f, pid, name, reason, version, arenas, doc = sys.argv[1:8]
objs = [json.loads(l) for l in open(f) if l.strip()]
o = objs[-1]
bad = []
want = {"lemmalloc": version, "pid": int(pid), "program": name, "reason": reason}
for k, v in want.items():
    if o.get(k) != v: bad.append("%s is %r, want %r" % (k, o.get(k), v))
if arenas and o["settings"].get("arenas") != int(arenas):
    bad.append("settings.arenas is %r, want %s" % (o["settings"].get("arenas"), arenas))
# Every member documented, every documented member present: the rows of
# docs/stats.md's tables start with | `name` |.
doc_top, doc_set, doc_cls, section = set(), set(), set(), None
for line in open(doc):
    if line.startswith("## "): section = line[3:].strip().split()[0]
    m = re.match(r"\| `([a-z_]+)` \|", line)
    if m: {"Report": doc_top, "settings": doc_set, "classes": doc_cls}.get(section, set()).add(m.group(1))
def diff(where, got, doc):
    if got - doc: bad.append("%s: not documented: %s" % (where, sorted(got - doc)))
    if doc - got: bad.append("%s: documented, missing: %s" % (where, sorted(doc - got)))
diff("top level", set(o), doc_top)
diff("settings", set(o["settings"]), doc_set)
diff("classes[0]", set(o["classes"][0]), doc_cls)
if len(o["classes"]) != 40: bad.append("%d classes" % len(o["classes"]))
if not o["nmalloc"] >= 1000: bad.append("nmalloc %r < the program's 1000 mallocs" % o["nmalloc"])
c112 = [c for c in o["classes"] if c["size"] == 112]
if not c112 or c112[0]["nmalloc"] < 500: bad.append("class 112 served fewer than the 500 blocks kept")
if bad:
    print("FAIL: stats: %s: %s" % (f, "; ".join(bad))); sys.exit(1)
print("PASS: stats: %s: JSON with %d documented members (%d settings, %d per class), %s pid %s %s"
      % (f.split("/")[-1], len(o), len(o["settings"]), len(o["classes"][0]), name, pid, reason))
PY
}

# 1. JSON on stderr, settings from LEMMALLOC_CONF.
lm LEMMALLOC_CONF=arenas:2,stats:json "$prog" >"$d/out" 2>"$d/err.json"
pid=$(awk '/^pid/ {print $2}' "$d/out")
[ "$(wc -l <"$d/err.json")" -eq 1 ] && pass "LEMMALLOC_STATS=json prints one line" || fail "LEMMALLOC_STATS=json printed $(wc -l <"$d/err.json") lines"
check_json "$d/err.json" "$pid" statsprog exit 2

# 2. Text: the header names version, pid and program; settings in effect.
lm LEMMALLOC_STATS=1 LEMMALLOC_PURGE_MS=150 "$prog" >"$d/out" 2>"$d/err.txt"
pid=$(awk '/^pid/ {print $2}' "$d/out")
head1="lemmalloc stats: lemmalloc $version, pid $pid (statsprog), at exit"
if [ "$(head -1 "$d/err.txt")" = "$head1" ]; then pass "text header: '$head1'"
else fail "text header is '$(head -1 "$d/err.txt")', want '$head1'"; fi
if grep -qE '^  settings: arenas=[0-9]+ tcache_bytes=256k purge_ms=150 huge_cache=64m on_error=abort background=yes stats=text ' "$d/err.txt"
then pass "text: the settings line shows purge_ms=150 in effect"
else fail "text: no settings line with purge_ms=150: $(grep settings "$d/err.txt")"; fi

# 3. A stats file with %p, nothing on stderr.
lm LEMMALLOC_STATS=json LEMMALLOC_STATS_FILE="$d/s-%p.json" "$prog" >"$d/out" 2>"$d/err"
pid=$(awk '/^pid/ {print $2}' "$d/out")
if [ -s "$d/s-$pid.json" ] && [ ! -s "$d/err" ]; then pass "LEMMALLOC_STATS_FILE=s-%p.json wrote s-$pid.json, stderr empty"
else fail "LEMMALLOC_STATS_FILE=s-%p.json: files $(ls "$d"), stderr: $(head -c 200 "$d/err")"; fi
[ -s "$d/s-$pid.json" ] && check_json "$d/s-$pid.json" "$pid" statsprog exit

# 4. Programs that close stderr before exit.
lm LEMMALLOC_STATS=1 "$prog" close-stderr >/dev/null 2>"$d/err"
[ ! -s "$d/err" ] && pass "control: a program that closes stderr prints no statistics there" ||
  fail "control: statistics reached a closed stderr?"
lm LEMMALLOC_STATS=json LEMMALLOC_STATS_FILE="$d/c-%p.json" "$prog" close-stderr >"$d/out" 2>/dev/null
pid=$(awk '/^pid/ {print $2}' "$d/out")
[ -s "$d/c-$pid.json" ] && check_json "$d/c-$pid.json" "$pid" statsprog exit ||
  fail "statsprog close-stderr: no stats file c-$pid.json"
for cmd in ls date; do
  rm -f "$d"/p-*
  lm LEMMALLOC_STATS=json LEMMALLOC_STATS_FILE="$d/p-%p.json" $cmd / >/dev/null 2>&1
  f=$(ls "$d"/p-*.json 2>/dev/null | head -1)
  if [ -n "$f" ] && python3 -c 'import json,sys; o=json.loads(open(sys.argv[1]).readline()); sys.exit(o["program"] != sys.argv[2] or o["nmalloc"] == 0)' "$f" $cmd
  then pass "$cmd (closes stderr at exit) wrote its statistics to ${f##*/}"
  else fail "$cmd: no statistics in a file ($(ls "$d"))"; fi
done

# 5. On a signal, from a running process: the report says so; the exit
# report follows it in the same file.
lm LEMMALLOC_STATS=json LEMMALLOC_STATS_SIGNAL=USR1 LEMMALLOC_STATS_FILE="$d/sig-%p.json" \
   "$prog" wait "$d/sig.json" >"$d/out" 2>"$d/err" &
bg=$!
for _ in $(seq 400); do grep -q "^pid" "$d/out" && break; sleep 0.05; done
pid=$(awk '/^pid/ {print $2}' "$d/out")
kill -USR1 "$pid"
for _ in $(seq 200); do [ -s "$d/sig-$pid.json" ] && break; sleep 0.05; done
cp "$d/sig-$pid.json" "$d/sig.one.json" 2>/dev/null
ln -s "$d/sig-$pid.json" "$d/sig.json" # lets the program finish
wait "$bg"; code=$?
if [ -s "$d/sig.one.json" ] && [ "$code" -eq 0 ]; then
  check_json "$d/sig.one.json" "$pid" statsprog signal
  n=$(wc -l <"$d/sig-$pid.json")
  [ "$n" -eq 2 ] && check_json "$d/sig-$pid.json" "$pid" statsprog exit ||
    fail "signal: want the signal report and the exit report, $n lines"
else
  fail "LEMMALLOC_STATS_SIGNAL=USR1: no report within 10 s of the signal (exit $code; $(cat "$d/err"))"
fi
lm LEMMALLOC_STATS_SIGNAL=USR2 "$prog" wait "$d/none" >"$d/out" 2>"$d/err" &
bg=$!
for _ in $(seq 400); do grep -q "^pid" "$d/out" && break; sleep 0.05; done
kill -USR2 "$(awk '/^pid/ {print $2}' "$d/out")"
for _ in $(seq 200); do grep -q '^lemmalloc stats: .*on signal USR2' "$d/err" && break; sleep 0.05; done
echo x >"$d/none"; wait "$bg"
if grep -q '^lemmalloc stats: .*on signal USR2' "$d/err" && [ "$(grep -c '^lemmalloc stats' "$d/err")" -eq 1 ]
then pass "LEMMALLOC_STATS_SIGNAL=USR2 alone: text on stderr on the signal, nothing at exit"
else fail "LEMMALLOC_STATS_SIGNAL=USR2 alone: $(head -3 "$d/err")"; fi

# 6. A file that cannot be written says so.
lm LEMMALLOC_STATS=1 LEMMALLOC_STATS_FILE="$d/no/such/dir/s" "$prog" >/dev/null 2>"$d/err"
if grep -qxF "lemmalloc: cannot write the statistics to $d/no/such/dir/s (ENOENT)" "$d/err"
then pass "an unwritable stats file: one line says so"
else fail "unwritable stats file: $(cat "$d/err")"; fi
exit $rc
