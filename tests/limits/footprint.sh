#!/usr/bin/env bash
# What an idle process costs with the library preloaded, against glibc:
#   footprint.sh LIB [NPROCS]
# Starts NPROCS (20) idle `sleep` processes without the library and NPROCS
# with it, and compares, per process (medians):
#   - the commit charge: the bytes of its private writable mappings (what
#     the kernel charges to Committed_AS when they are made, touched or not;
#     under vm.overcommit_memory=2 a process fails once the sum passes
#     CommitLimit), from /proc/PID/maps;
#   - VmSize (what `ulimit -v` limits), from /proc/PID/status.
# Pass: commit <= glibc's + 8 MiB and VmSize <= glibc's + 64 MiB (issue 15).
# The change of the system-wide Committed_AS over the NPROCS processes is
# printed for information: other processes on the machine move it too.
set -u
lib=$1 n=${2:-20}
commit_kib() { # private writable mappings of PID, in KiB
  python3 -c '
import sys
kib = 0
for line in open("/proc/%s/maps" % sys.argv[1]):
    f = line.split()
    if len(f) > 1 and f[1][:2] == "rw" and f[1][3] == "p":
        a, b = (int(x, 16) for x in f[0].split("-"))
        kib += (b - a) // 1024
print(kib)' "$1"
}
vmsize_kib() { awk '/^VmSize:/ { print $2 }' "/proc/$1/status"; }
committed_as() { awk '/^Committed_AS:/ { print $2 }' /proc/meminfo; }
median() { sort -n | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }

measure() { # LABEL PRELOAD: prints "commit_kib vmsize_kib committed_delta_kib"
  local pre=$2 pids=() c0 c1 commits=() sizes=()
  c0=$(committed_as)
  for ((i = 0; i < n; i++)); do
    if [ -n "$pre" ]; then LD_PRELOAD=$pre sleep 30 & else sleep 30 & fi
    pids+=($!)
  done
  sleep 0.5 # let every process reach its sleep (the loader has run)
  c1=$(committed_as)
  for p in "${pids[@]}"; do
    commits+=("$(commit_kib "$p")")
    sizes+=("$(vmsize_kib "$p")")
  done
  kill "${pids[@]}" 2>/dev/null
  wait 2>/dev/null
  echo "$(printf '%s\n' "${commits[@]}" | median) $(printf '%s\n' "${sizes[@]}" | median) $((c1 - c0))"
}

# The library must really serve such a process.
if ! LD_PRELOAD=$lib sh -c 'grep -q liblemmalloc /proc/$$/maps'; then
  echo "FAIL: limits: footprint: $lib is not loaded"
  exit 1
fi
read -r gc gv gd <<<"$(measure glibc "")"
read -r lc lv ld <<<"$(measure lemmalloc "$lib")"
echo "limits: $n idle processes, per process (median): commit glibc ${gc} KiB, lemmalloc ${lc} KiB;" \
     "VmSize glibc ${gv} KiB, lemmalloc ${lv} KiB; Committed_AS rose by ${gd} KiB and ${ld} KiB"
rc=0
if [ "$lc" -le $((gc + 8192)) ]; then
  echo "PASS: limits: an idle process's commit charge is glibc's + $((lc - gc)) KiB (at most + 8 MiB)"
else
  echo "FAIL: limits: an idle process's commit charge is glibc's + $((lc - gc)) KiB (more than + 8 MiB)"; rc=1
fi
if [ "$lv" -le $((gv + 65536)) ]; then
  echo "PASS: limits: an idle process's VmSize is glibc's + $((lv - gv)) KiB (at most + 64 MiB)"
else
  echo "FAIL: limits: an idle process's VmSize is glibc's + $((lv - gv)) KiB (more than + 64 MiB)"; rc=1
fi
exit $rc
