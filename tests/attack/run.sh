#!/usr/bin/env bash
# Attacks on the free lists (issue 16); tests/README.md, "attack", says what
# each does. Usage: tests/attack/run.sh LIB BIN [CASE...]
#   LIB  liblemmalloc.so to preload; BIN  the attack program (attack.c)
# Each case runs for every size and seed in its own process, under a timeout:
# on lemmalloc (default settings, then LEMMALLOC_ON_ERROR=warn) one PASS:/FAIL:
# line per case and size; on glibc, for reference, one NOTE: line (never a
# failure). The case `control` makes no attack: it checks the checks, and
# must end "HEAP CORRECT" on glibc and lemmalloc alike (PASS:/FAIL: on both). A run passes if the process dies of SIGABRT after lemmalloc's
# one-line report (warn mode: every stderr line is a report), or if it ends
# with "HEAP CORRECT" (nothing bad handed out, all contents intact). It fails
# on a bad block (BROKEN: a global, stack, overlapping or twice-handed-out
# block), on a crash, on a hang, or on an abort without a report.
#   ATTACK_SIZES       default "16 80 200 1000"
#   ATTACK_SEEDS       seeds 1..N, default 3
#   ATTACK_ITERATIONS  rounds of thread-double-free per run, default 2000
#   ATTACK_TIMEOUT     seconds per run, default 60
#   ATTACK_GLIBC=0     skip the glibc reference runs
set -u
lib=$1 bin=$2; shift 2
all=(control fresh-key-global fresh-key-stack fresh-key-interior freed-key-global zero-link nul-byte
     plain-pointer clear-marker-double-free thread-double-free)
cases=("$@"); [ ${#cases[@]} -eq 0 ] && cases=("${all[@]}")
sizes=${ATTACK_SIZES:-16 80 200 1000}
seeds=${ATTACK_SEEDS:-3}
iterations=${ATTACK_ITERATIONS:-2000}
limit=${ATTACK_TIMEOUT:-60}
out=$(mktemp /tmp/lemmalloc-attack-out.XXXXXX) err=$(mktemp /tmp/lemmalloc-attack-err.XXXXXX)
trap 'rm -f "$out" "$err"' EXIT

# A CRASH line from the program, in words; the inlined frames from addr2line.
crash_words() {
  local line=$1 sig addr obj off sym call thread frames=""
  sig=$(sed -n 's/.*sig=\([^ ]*\).*/\1/p' <<<"$line")
  addr=$(sed -n 's/.*addr=\([^ ]*\).*/\1/p' <<<"$line")
  obj=$(sed -n 's/.*obj=\([^ ]*\).*/\1/p' <<<"$line")
  off=$(sed -n 's/.*off=\([^ ]*\).*/\1/p' <<<"$line")
  sym=$(sed -n 's/.* sym=\([^ ]*\).*/\1/p' <<<"$line")
  call=$(sed -n 's/.*call=\([^ ]*\).*/\1/p' <<<"$line")
  thread=$(sed -n 's/.*thread=\([^ ]*\( [01]\)\{0,1\}\) phase=.*/\1/p' <<<"$line")
  if [ -f "$obj" ] && command -v addr2line >/dev/null; then
    frames=$(addr2line -f -i -e "$obj" "$off" 2>/dev/null | sed -n '1~2p' | grep -v '^??' | paste -sd '<' | sed 's/</ < /g')
  fi
  local where="in the test program"
  [ "$call" != none ] && where="inside $call"
  echo "SIG$sig $where (${thread:-main} thread) at ${frames:-$sym} ($(basename "$obj")+$off, fault address $addr), no report"
}

# Run one case once; print "ok WHAT" or "bad WHAT".
run() {
  local alloc=$1 mode=$2 c=$3 n=$4 seed=$5 rc
  local cmd=(env -u LD_PRELOAD -u LEMMALLOC_ON_ERROR -u LEMMALLOC_STATS)
  [ "$alloc" = lemmalloc ] && cmd+=(LD_PRELOAD="$lib")
  [ "$mode" = warn ] && cmd+=(LEMMALLOC_ON_ERROR=warn)
  timeout -k 5 "$limit" "${cmd[@]}" "$bin" "$c" "$n" "$seed" "$iterations" >"$out" 2>"$err"
  rc=$?
  local served lines reports broken crash
  served=$(sed -n 's/^ALLOC //p' "$out")
  lines=$(grep -c . "$err"); reports=$(grep -c '^lemmalloc: ' "$err")
  broken=$(sed -n 's/^BROKEN //p' "$out" | head -n1)
  crash=$(grep -m1 '^CRASH ' "$out")
  if [ "$alloc" = lemmalloc ] && [[ "$served" != *lemmalloc* ]]; then
    echo "bad malloc is served by '${served:-?}', not lemmalloc"
  elif [ "$rc" -eq 124 ] || [ "$rc" -eq 137 ]; then
    echo "bad hung: killed after ${limit} s"
  elif [ -n "$broken" ]; then
    echo "bad $broken"
  elif [ -n "$crash" ]; then
    echo "bad $(crash_words "$crash")"
  elif [ "$rc" -eq 134 ]; then
    if [ "$alloc" = glibc ]; then
      echo "ok aborted: $(head -n1 "$err")"
    elif [ "$lines" -ge 1 ] && [ "$reports" -eq "$lines" ] && { [ "$mode" = warn ] || [ "$lines" -eq 1 ]; }; then
      echo "ok aborted: $(tail -n1 "$err" | sed 's/0x[0-9a-f]*/0x.../g')"
    else
      echo "bad SIGABRT without a one-line lemmalloc report; stderr: $(head -c 300 "$err" | paste -sd '|')"
    fi
  elif [ "$rc" -eq 0 ] && grep -q '^HEAP CORRECT' "$out"; then
    # thread-double-free: how often the two frees really ran at once
    local raced; raced=$(sed -n 's/^INFO two frees of one block overlapped in time in \(.*\) rounds/; the frees overlapped in \1/p' "$out")
    if [ "$alloc" = glibc ] || [ "$lines" -eq 0 ]; then
      echo "ok heap stayed correct$raced"
    elif [ "$mode" = warn ] && [ "$reports" -eq "$lines" ]; then
      echo "ok heap stayed correct ($reports reports$raced)"
    else
      echo "bad heap correct, but stderr says: $(head -c 300 "$err" | paste -sd '|')"
    fi
  elif [ "$rc" -gt 128 ]; then
    echo "bad killed by SIG$(kill -l $((rc - 128)) 2>/dev/null || echo $((rc - 128)))"
  else
    echo "bad exit status $rc; stdout: $(tail -n2 "$out" | paste -sd '|')"
  fi
}

# Outcomes of the seeds in one line: each distinct outcome once (addresses
# and counts hidden), with how many seeds had it.
summary() {
  sed -E 's/0x[0-9a-f]+/0x.../g; s/(since|B,) malloc #[0-9]+/\1 malloc #N/g; s/\([0-9]+ reports/(reports/' |
    sort | uniq -c | sort -rn | sed -E 's/^ *([0-9]+) (.*)/\2 [seeds: \1]/' | paste -sd '\t' | sed 's/\t/; /g'
}

rc=0
for c in "${cases[@]}"; do
  for n in $sizes; do
    for run_as in lemmalloc lemmalloc,warn glibc; do
      [ "$run_as" = glibc ] && [ "${ATTACK_GLIBC:-1}" = 0 ] && continue
      alloc=${run_as%%,*} mode=default
      [ "$run_as" = lemmalloc,warn ] && mode=warn
      results=() nbad=0
      for seed in $(seq 1 "$seeds"); do
        r=$(run "$alloc" "$mode" "$c" "$n" "$seed")
        results+=("seed $seed: ${r#* }")
        [ "${r%% *}" = bad ] && nbad=$((nbad + 1))
        [ "${r%% *}" = bad ] && [ "$alloc" = lemmalloc ] && [ "${ATTACK_VERBOSE:-0}" = 1 ] && echo "  seed $seed: ${r#* }"
      done
      what=$(printf '%s\n' "${results[@]}" | sed 's/^seed [0-9]*: //' | summary)
      label="attack/lemmalloc"; [ "$mode" = warn ] && label="attack/lemmalloc, warn"
      if [ "$c" = control ]; then
        label="attack/$alloc"; [ "$mode" = warn ] && label="attack/lemmalloc, warn"
        if [ "$nbad" -gt 0 ] || [[ "$what" != "heap stayed correct [seeds: $seeds]" ]]; then
          echo "FAIL: $label: control (no attack), $n B: $what"; rc=1
        else
          echo "PASS: $label: control (no attack), $n B: $what"
        fi
      elif [ "$alloc" = glibc ]; then
        if [ "$nbad" -gt 0 ]; then echo "NOTE: attack/glibc: $c, $n B: attack worked in $nbad of $seeds: $what"
        else echo "NOTE: attack/glibc: $c, $n B: resisted: $what"; fi
      elif [ "$nbad" -gt 0 ]; then
        echo "FAIL: $label: $c, $n B: attack worked in $nbad of $seeds: $what"
        rc=1
      else
        echo "PASS: $label: $c, $n B: $what"
      fi
    done
  done
done
exit $rc
