# Sourced by the setup scripts: named steps with their output in a log, retries.
#
#   step NAME CMD...   run CMD (a command or a function) with its output in $logs/<short name>.log;
#                      on failure name the step and the failing command, print the log's tail, exit 1
#   soft_step NAME CMD...  the same, but a failure only sets $status (the caller has a fallback)
#   retry CMD...       run CMD up to three times (network steps)
#   checked CMD...     run CMD with `set -e` in force; its exit status lands in $status
#   in_background CMD...   run CMD (which runs its own steps) alongside what follows;
#                      join_background waits for it, and exits 1 if it failed (its step said why)
#
# bash ignores `set -e` inside anything run as a condition (`if ! f`, `f || ...`, `until f`), and
# inside every function and subshell called from there, so a failing middle command would go
# unnoticed. `checked` runs CMD as a plain command in a subshell of its own instead.

say() { echo "==> $*"; }

# The log of a step: a slug of its name, cut short, and a hash of the whole name (unique).
step_log() {
  local slug hash
  slug=$(printf '%s' "$1" | tr -cs 'a-zA-Z0-9' '-' | cut -c1-48)
  slug=${slug%-}
  slug=${slug#-}
  hash=$(printf '%s' "$1" | sha256sum | cut -c1-8)
  echo "$logs/${slug:-step}-$hash.log"
}

checked() {
  local outer_trap
  outer_trap=$(trap -p ERR)
  trap - ERR  # the subshell reports its own failure; a caller's trap would repeat it
  set +e
  (
    set -eE -o pipefail
    trap 'log_failure $? "$BASH_COMMAND" "$@"' ERR
    "$@"
  )
  status=$?
  set -e
  eval "${outer_trap:-trap - ERR}"
}

# The ERR trap's line in a step's log: the command that failed, with "$@" spelled out.
log_failure() {
  local code=$1 command=$2
  shift 2
  case "$command" in
    '"$@"') command="$*" ;;
    return*) return ;;  # a function's status, reported where it failed
  esac
  echo "### failed (exit $code)${command:+: $command}"
}

step() { run_step exit "$@"; }

# Like step, but a failure is only reported: the caller reads $status (it has a fallback).
# Never call a step as a condition (`if step ...`): set -e would be off inside it.
soft_step() { run_step : "$@"; }

run_step() {
  local on_failure=$1 name=$2 log where
  shift 2
  log=$(step_log "$name")
  mkdir -p "$logs"
  say "$name"
  checked "$@" >"$log" 2>&1
  if [ "$status" = 0 ]; then
    if [ -n "${in_background_job:-}" ]; then say "done: $name"; fi  # its end is not the next step's start
    return 0
  fi
  where=$(sed -n 's/^### failed (exit \([0-9]*\)): \(.*\)$/: `\2` exited with status \1/p' "$log" | head -n1)
  echo "${prog:-setup}: step '$name' failed$where. Last lines of $log:" >&2
  tail -n 40 "$log" | sed 's/^/    /' >&2
  [ "$on_failure" = : ] || wait_background  # nothing is left running behind a failed setup
  $on_failure 1
}

background_pids=()

in_background() {
  ( in_background_job=1; "$@" ) &
  background_pids+=("$!")
}

# Waits for every background job; $status is 1 if one of them failed.
wait_background() {
  local pid
  status=0
  for pid in "${background_pids[@]}"; do wait "$pid" || status=1; done
  background_pids=()
}

join_background() {
  wait_background
  [ "$status" = 0 ] || exit 1
}

retry() {
  local attempt
  for attempt in 1 2 3; do
    checked "$@"
    [ "$status" = 0 ] && return 0
    if [ "$attempt" -lt 3 ]; then
      echo "### attempt $attempt of 3 failed (exit $status); trying again in $((attempt * ${retry_delay:-5})) s"
      sleep $((attempt * ${retry_delay:-5}))
    fi
  done
  return "$status"
}
