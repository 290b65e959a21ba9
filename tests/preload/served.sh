# Sourced by the preload scripts. `served CMD...` runs CMD with its stderr
# appended to $SERVED_LOG (when the runner sets it) and counts the run in
# $SERVED_LOG.runs, so that run.sh can check that every such program (and
# whatever it spawned) printed its own "lemmalloc stats" line: proof that
# lemmalloc served git itself, not only the shell around it.
served() {
  if [ -n "${SERVED_LOG:-}" ]; then
    echo "$1" >>"$SERVED_LOG.runs"
    "$@" 2>>"$SERVED_LOG"
  else
    "$@"
  fi
}
