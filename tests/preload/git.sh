#!/usr/bin/env bash
# git init, add, commit (three times), log, fsck, gc in the current (empty)
# directory. Dates, names and config are fixed so commit ids are reproducible.
set -eu
. "$(dirname "$0")/served.sh"
export HOME=$PWD GIT_CONFIG_NOSYSTEM=1 GIT_AUTHOR_NAME=T GIT_AUTHOR_EMAIL=t@example.org \
  GIT_COMMITTER_NAME=T GIT_COMMITTER_EMAIL=t@example.org TZ=UTC LC_ALL=C
served git init -q -b main repo
cd repo
for round in 1 2 3; do
  export GIT_AUTHOR_DATE="2024-01-0$round 12:00:00 +0000" GIT_COMMITTER_DATE="2024-01-0$round 12:00:00 +0000"
  for i in $(seq 1 150); do
    mkdir -p "d$((i % 10))"
    seq "$i" $((i * round * 7)) >"d$((i % 10))/f$i.txt"
  done
  served git add -A
  served git commit -q -m "round $round"
done
served git log --stat --format='%H %an %ad %s' | tail -n 40
served git log -p -1 | sha256sum
served git fsck --strict && echo fsck ok
served git gc -q
served git count-objects -v | grep -v size
