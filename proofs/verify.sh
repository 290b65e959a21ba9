#!/usr/bin/env bash
# make verify: run Frama-C WP on each src/core/*.c on its own, print
# proved/total per function (and per lemma), and compare with the committed
# proofs/<name>.expected. See proofs/README.md.
#
# usage: proofs/verify.sh [--update] [NAME...]     NAME: sizeclass, slab, ...
#   --update          rewrite proofs/<name>.expected from this run
#   VERIFY_FCT=f,g    prove only these functions, in the files defining them
#                     (compares only them; --update rewrites only their lines)
#   VERIFY_TIMEOUT=s  per-goal prover timeout (default 10 s)
#   VERIFY_SMOKE=1    smoke tests on every file (the default): WP tries to
#                     prove false after each requires, in each block, loop
#                     and behaviour and after each call, with both provers
#                     for VERIFY_SMOKE_TIMEOUT seconds (default 1); a test
#                     fails when one succeeds (dead code, an inconsistent
#                     contract). Kept apart from the goal counts.
#   VERIFY_SMOKE=deep the same, 5 s per prover and local initializations
#                     too (make verify-smoke)
#   VERIFY_SMOKE=0    no smoke tests (quicker iteration; not a full verify)
#   VERIFY_TICK=s     while Frama-C runs, print a progress line every s
#                     seconds (default 60): elapsed time and the goals
#                     proved so far, counted in Frama-C's log
#
# Per-file extra flags (e.g. -wp-init-const, -wp-timeout, -wp-prover) are
# read from proofs/<name>.flags: whitespace-separated, `#` starts a comment.
# They come after the common flags, so they may override them.
#
# Fails (exit 1) on: a Frama-C error; a function or lemma of the expected
# file missing; fewer goals proved than expected; and any unproved goal that
# the expected file does not name (so a finished proof can never silently
# break, while work in progress lands honestly, its open goals listed).
set -u
cd "$(dirname "$0")/.."

update=0
names=()
for a in "$@"; do
  case "$a" in
    --update) update=1 ;;
    -*) echo "verify: unknown option $a" >&2; exit 2 ;;
    *) names+=("${a%.c}") ;;
  esac
done
if [ "${#names[@]}" -eq 0 ]; then
  for f in src/core/*.c; do names+=("$(basename "$f" .c)"); done
fi

command -v frama-c >/dev/null || { echo "FAIL: verify: frama-c not installed (run scripts/deps.sh)"; exit 1; }
# Why3 must know Z3 and CVC4 before WP can call them.
if ! [ -f "$HOME/.why3.conf" ] || ! grep -q 'name = "Z3"' "$HOME/.why3.conf"; then
  why3 config detect >/dev/null 2>&1 || why3 config --detect >/dev/null 2>&1
fi

CPP=(-cpp-extra-args="-Isrc -Iinclude${VERIFY_CPPFLAGS:+ $VERIFY_CPPFLAGS}")
COMMON=(-wp -wp-rte -warn-unsigned-overflow -warn-unsigned-downcast
        -wp-prover z3,cvc4 -wp-par 2 -wp-timeout "${VERIFY_TIMEOUT:-10}"
        "${CPP[@]}")
# Smoke tests on every file, every default kind: requires (default_requires),
# behaviours' assumes, dead code, dead loops (inconsistent invariants), dead
# calls. 1 s per prover: passing tests run both provers to the timeout, so
# this is their whole cost (see proofs/README.md for what 1 s catches).
case "${VERIFY_SMOKE:-1}" in
  0) ;;
  1) COMMON+=(-wp-smoke-tests -wp-smoke-timeout "${VERIFY_SMOKE_TIMEOUT:-1}") ;;
  deep) COMMON+=(-wp-smoke-tests -wp-smoke-dead-local-init -wp-smoke-timeout "${VERIFY_SMOKE_TIMEOUT:-5}") ;;
  *) echo "verify: VERIFY_SMOKE must be 0, 1 or deep" >&2; exit 2 ;;
esac
out=build/proofs
mkdir -p "$out"

# progress NAME LOG START PID: every VERIFY_TICK seconds while PID runs, one
# line with the elapsed time and the goals WP reported proved in LOG so far
# ("[wp] [Prover] Goal ... : Valid" lines) out of those it scheduled. Exits
# within a second of PID.
progress() {
  local name=$1 log=$2 start=$3 pid=$4 tick=${VERIFY_TICK:-60} next
  next=$(( start + tick ))
  while kill -0 "$pid" 2>/dev/null; do
    sleep 1
    [ "$(date +%s)" -lt "$next" ] && continue
    kill -0 "$pid" 2>/dev/null || break
    local now el sched valid
    now=$(date +%s); el=$(( now - start )); next=$(( next + tick ))
    sched=$(sed -n 's/^\[wp\] \([0-9]*\) goals* scheduled.*/\1/p' "$log" | tail -1)
    valid=$(grep -c -E '^\[wp\] (\[[^]]*\] Goal .* : Valid|\[Passed\] Smoke-test)' "$log")
    printf 'verify: %s.c: %dm%02ds, %s/%s goals proved so far\n' "$name" $(( el / 60 )) $(( el % 60 )) \
      "$valid" "${sched:-?}"
  done
}
rc=0
all_start=$(date +%s)
for name in "${names[@]}"; do
  src=src/core/$name.c
  [ -f "$src" ] || { echo "FAIL: verify: $src does not exist"; rc=1; continue; }
  flags=()
  if [ -f "proofs/$name.flags" ]; then
    # shellcheck disable=SC2207
    flags=($(sed 's/#.*//' "proofs/$name.flags"))
  fi
  # Tactic scripts (e.g. the Range case splits) live in proofs/<name>.session
  # and are replayed by the `script` prover; --update turns `script` into
  # `tip`, which also searches (-wp-auto) and saves scripts for open goals.
  flags+=(-wp-session "proofs/$name.session" -wp-cache none)
  if [ "$update" -eq 1 ]; then
    for i in "${!flags[@]}"; do
      [ "${flags[$i]}" = -wp-prover ] && flags[$((i + 1))]=$(sed 's/\bscript\b/tip/' <<<"${flags[$((i + 1))]}")
    done
  fi
  fct=() mine=
  if [ -n "${VERIFY_FCT:-}" ]; then
    # Only the named functions defined in this file; skip the file if none.
    mine=$(tr ',' '\n' <<<"$VERIFY_FCT" | while read -r f; do
             grep -qE "\b$f\(" "$src" && printf '%s,' "$f"; done)
    [ -z "$mine" ] && continue
    fct=(-wp-fct "${mine%,}")
  fi
  # The specification first: Frama-C's print of the file (macros expanded),
  # every contract and logic block digested and compared with the digests
  # recorded in proofs/<name>.expected. A changed contract fails here, before
  # any prover runs, until `make verify-update` records it on purpose.
  printed=$out/$name.print.c
  if ! frama-c "${CPP[@]}" "$src" -print -ocode "$printed" >"$out/$name.print.log" 2>&1; then
    echo "FAIL: verify: $name.c: frama-c could not parse it (log: $out/$name.print.log)"
    rc=1
    continue
  fi
  if [ "$update" -eq 0 ] && ! python3 proofs/specdigest.py --check "$printed" "proofs/$name.expected" "$name"; then
    rc=1
    continue
  fi
  json=$out/$name.json log=$out/$name.log
  rm -f "$json" # WP reuses an existing report to "stabilize" step counts
  start=$(date +%s)
  echo "verify: $name.c: running Frama-C WP (log: $log)"
  nice frama-c "${COMMON[@]}" "${flags[@]}" "${fct[@]}" -wp-report-json "$json" "$src" >"$log" 2>&1 &
  fpid=$!
  progress "$name" "$log" "$start" "$fpid" &
  tpid=$!
  wait "$fpid"
  frc=$?
  wait "$tpid"
  secs=$(( $(date +%s) - start ))
  if [ "$frc" -ne 0 ] || ! [ -s "$json" ]; then
    echo "FAIL: verify: $name.c: frama-c exited $frc after ${secs}s (log: $log)"
    grep -E 'error|Error' "$log" | head -5 | sed 's/^/  /'
    rc=1
    continue
  fi
  python3 - "$name" "$json" "proofs/$name.expected" "$update" "$secs" "${mine:-}" "$printed" <<'PY' || rc=1
import hashlib, json, os, subprocess, sys
name, jpath, epath, update, secs, only, printed = sys.argv[1:8]
update = update == "1"
only = set(f for f in only.split(",") if f)

# Current results: {entry: (proved, total, [unproved goals])}, where entry is
# a function name or "lemma:Name". Goal names drop the function prefix.
rep = json.load(open(jpath))
cur = {}
names = {}  # entry -> digest of the names of all its goals
smoke = {}  # entry -> (smoke tests passed, in total, [failed ones])
def add(entry, prefix, goals):
    proved = total = 0
    bad, every = [], []
    sp = st_ = 0
    sbad = []
    for goal, st in goals.items():
        if goal.startswith("wp:"):
            continue
        m = st.get("wp:main", {})
        t, v = m.get("total", 0), m.get("valid", 0)
        short = goal[len(prefix):] if goal.startswith(prefix) else goal
        if "wp_smoke_" in goal:
            # A smoke test is "valid" when no prover could prove false
            # there (WP reports it Passed); a failed one is dead code or an
            # inconsistent contract. Kept apart from the goals, so that
            # runs with and without smoke tests compare alike.
            sp += v; st_ += t
            if v < t:
                sbad.append(short)
            continue
        total += t; proved += v
        every.append(short)
        if v < t:
            bad.append(short)
    cur[entry] = (proved, total, sorted(bad))
    names[entry] = hashlib.sha256(" ".join(sorted(every)).encode()).hexdigest()[:12]
    if st_:
        smoke[entry] = (sp, st_, sorted(sbad))
for fn, goals in rep.get("wp:functions", {}).items():
    add(fn, fn + "_", goals)
for ax, lemmas in rep.get("wp:axiomatics", {}).items():
    for lem, st in lemmas.items():
        if lem.startswith("wp:"):
            continue
        add("lemma:" + lem[len("lemma_"):] if lem.startswith("lemma_") else lem, "", {lem: st})

def read_expected(path):
    exp, goals = {}, {}
    if os.path.exists(path):
        for line in open(path):
            line = line.split("#")[0].split()
            if len(line) >= 3:
                exp[line[0]] = (int(line[1]), int(line[2]), sorted(line[3:]))
            elif len(line) == 2 and line[0].startswith("goals:"):
                goals[line[0][len("goals:"):]] = line[1]
    return exp, goals
exp, exp_names = read_expected(epath)

if update:
    new = dict(exp) if only else {}
    new.update(cur)
    new_names = dict(exp_names) if only else {}
    new_names.update(names)
    spec = subprocess.run([sys.executable, "proofs/specdigest.py", printed],
                          check=True, capture_output=True, text=True).stdout
    with open(epath, "w") as f:
        f.write("# proofs/%s.expected: written by `make verify-update`, reviewed in the diff.\n"
                "# name proved total [goals not yet proved...]: one line per function or lemma;\n"
                "# goals:name digest: the names of all its goals (none may go missing);\n"
                "# spec:name digest: its contract, or a logic block, as Frama-C prints it\n"
                "# (proofs/specdigest.py): make verify fails when it changes.\n" % name)
        for e in sorted(new):
            p, t, bad = new[e]
            f.write(" ".join([e, str(p), str(t)] + bad) + "\n")
        for e in sorted(new_names):
            f.write("goals:%s %s\n" % (e, new_names[e]))
        f.write(spec)
    print("verify: wrote %s (%d entries)" % (epath, len(new)))
    exp, exp_names = new, new_names

fail = False
for e in sorted(set(cur) | set(exp)):
    if only and e.split(":")[-1] not in only and e not in only:
        continue
    if e not in cur:
        print("FAIL: verify: %s.c %s: missing (expected %d/%d)" % (name, e, exp[e][0], exp[e][1]))
        fail = True
        continue
    p, t, bad = cur[e]
    msgs = []
    known = set(exp[e][2]) if e in exp else set()
    new_bad = [g for g in bad if g not in known]
    if e in exp and p < exp[e][0]:
        msgs.append("regression: %d proved, expected %d" % (p, exp[e][0]))
    if e in exp_names and names[e] != exp_names[e]:
        msgs.append("its goals changed (a goal gone or added): if on purpose, run make verify-update")
    if new_bad:
        msgs.append("unproved: " + " ".join(new_bad))
    if e in smoke and smoke[e][2]:
        msgs.append("smoke test failed (dead code or an inconsistent contract): " + " ".join(smoke[e][2]))
    line = "%s.c %s %d/%d" % (name, e, p, t)
    if e in smoke:
        line += " (smoke tests %d/%d)" % smoke[e][:2]
    if msgs:
        print("FAIL: verify: %s (%s)" % (line, "; ".join(msgs)))
        fail = True
    else:
        notes = []
        if bad:
            notes.append("known unproved: " + " ".join(bad))
        if e not in exp:
            notes.append("not in %s yet" % epath)
        if e in exp and set(exp[e][2]) - set(bad):
            notes.append("now proved, run make verify-update: " + " ".join(sorted(set(exp[e][2]) - set(bad))))
        print("PASS: verify: %s%s" % (line, " (" + "; ".join(notes) + ")" if notes else ""))
P = sum(v[0] for v in cur.values()); T = sum(v[1] for v in cur.values())
SP = sum(v[0] for v in smoke.values()); ST = sum(v[1] for v in smoke.values())
print("verify: %s.c: %d/%d goals proved%s in %ss" % (name, P, T,
      ", smoke tests %d/%d passed" % (SP, ST) if ST else "", secs))
sys.exit(1 if fail and not update else 0)
PY
done
echo "verify: total wall time $(( $(date +%s) - all_start ))s"
exit $rc
