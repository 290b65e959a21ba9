#!/usr/bin/env bash
# Run each check part (`make check-PART`), count its PASS:/FAIL: lines, and end
# with one summary line. A part that exits non-zero without printing a FAIL:
# line counts as one failure, so nothing fails silently.
set -u
cd "$(dirname "$0")/.."
passed=0; failed=0; failed_parts=()
log_dir=build/check-logs; mkdir -p "$log_dir"
for part in "$@"; do
  echo "=== check-$part"
  start=$(date +%s)
  log="$log_dir/$part.log"
  make --no-print-directory -s "check-$part" 2>&1 | tee "$log"
  rc=${PIPESTATUS[0]}
  p=$(grep -c '^PASS: ' "$log"); f=$(grep -c '^FAIL: ' "$log")
  if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then f=1; echo "FAIL: check-$part exited $rc"; fi
  if [ "$rc" -eq 0 ] && [ "$p" -eq 0 ] && [ "$f" -eq 0 ]; then p=1; fi
  passed=$((passed + p)); failed=$((failed + f))
  [ "$f" -gt 0 ] && failed_parts+=("$part")
  echo "=== check-$part: $p passed, $f failed ($(( $(date +%s) - start ))s)"
done
[ "${#failed_parts[@]}" -gt 0 ] && echo "failed parts: ${failed_parts[*]}"
echo "check: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
