#!/usr/bin/env bash
# The results table (allocator x property) in Markdown: each allocator runs
# N generated ops serially (with the footprint phase) and N on 4 threads;
# a cell is the worse of the two runs. Last row: CPU seconds per million ops
# (user + system of the checking child; wall time depends on the load).
# usage: tools/oracle/table.sh [N]   (after `make oracle oracle-tests`)
set -u
cd "$(dirname "$0")/../.."
n=${1:-200000}
oracle=build/lemmalloc-oracle prof=tools/oracle/profiles
lib() { ldconfig -p | awk -v n="$1" '$1 == n {print $NF; exit}'; }
names=(lemmalloc glibc jemalloc mimalloc tcmalloc)
paths=(build/liblemmalloc.so libc "$(lib libjemalloc.so.2)" "$(lib libmimalloc.so.2)" "$(lib libtcmalloc_minimal.so.4)")
profiles=("" "$prof/glibc.profile" "$prof/jemalloc.profile" "$prof/mimalloc.profile" "$prof/tcmalloc.profile")
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
for i in "${!names[@]}"; do
  args=(--lib "${paths[$i]}" --ops "$n" --min-time 5 --min-out "$tmp/min")
  [ -n "${profiles[$i]}" ] && args+=(--profile "${profiles[$i]}")
  nice "$oracle" "${args[@]}" --seed 1 >"$tmp/${names[$i]}.1" 2>&1
  nice "$oracle" "${args[@]}" --seed 2 --threads 4 --no-footprint >"$tmp/${names[$i]}.4" 2>&1
done
# cell: VIOLATED > deviates > ok > not exercised; abbreviate the category.
awk -v names="${names[*]}" -v dir="$tmp" '
function rank(r) { return r ~ /^VIOLATED/ ? 3 : r ~ /^deviates/ ? 2 : r == "ok" ? 1 : 0 }
function short(r) {
  if (r ~ /^VIOLATED/) return "**VIOLATED** " (r ~ /C23/ ? "(C23/POSIX)" : r ~ /glibc/ ? "(glibc)" : "(lemmalloc)")
  if (r ~ /^deviates/) return "deviates: " (r ~ /C23/ ? "C23/POSIX" : r ~ /glibc/ ? "glibc" : "lemmalloc")
  return r
}
BEGIN {
  k = split(names, nm, " ")
  for (i = 1; i <= k; i++)
    for (t = 1; t <= 4; t += 3) {
      f = dir "/" nm[i] "." t; intable = 0
      while ((getline line < f) > 0) {
        if (line ~ /^property/) { intable = 1; continue }
        if (line ~ /^time:/) { split(line, w, " "); secs[i] += w[2]; ops[i] += w[9] }
        if (!intable) continue
        if (line !~ /^[a-z-]+ +[0-9]+  /) { intable = 0; continue }
        p = line; sub(/ .*/, "", p)
        r = line; sub(/^[a-z-]+ +[0-9]+  /, "", r)
        if (!(p in seen)) { seen[p] = 1; order[++np] = p }
        if (rank(r) > rank(cell[p, i])) cell[p, i] = r
      }
      close(f)
    }
  printf "| property |"; for (i = 1; i <= k; i++) printf " %s |", nm[i]; printf "\n|---|"
  for (i = 1; i <= k; i++) printf "---|"; printf "\n"
  for (j = 1; j <= np; j++) {
    printf "| %s |", order[j]
    for (i = 1; i <= k; i++) printf " %s |", short(cell[order[j], i])
    printf "\n"
  }
  printf "| CPU s per million ops |"
  for (i = 1; i <= k; i++) printf " %.1f |", ops[i] ? secs[i] * 1e6 / ops[i] : 0
  printf "\n"
}'
for i in "${!names[@]}"; do
  grep -h '^VIOLATION\|^result: violation' "$tmp/${names[$i]}".* || true
done
