# Shared by the launch scripts: option parsing helpers and the dry-run runner.
# shellcheck shell=bash

dry_run=0

# --dry-run anywhere on the command line, even after `--`, means print only:
# a misplaced flag must never start (or bill) anything.
scan_dry_run() {
  local arg
  for arg in "$@"; do
    if [[ "$arg" == --dry-run ]]; then dry_run=1; fi
  done
}

# The flags after `--`, for jgc.main, less any --dry-run.
extra=()
take_extra() {
  local flag
  for flag in "$@"; do
    if [[ "$flag" != --dry-run ]]; then extra+=("$flag"); fi
  done
}

# Prints a command, shell-quoted so that it can be pasted; runs it unless --dry-run.
run() {
  printf '%q ' "$@" | sed 's/ $//'
  printf '\n'
  if [[ $dry_run -eq 0 ]]; then
    "$@"
  fi
}

die() {
  echo "$(basename "$0"): $*" >&2
  exit 2
}

# need NAME VALUE: fails unless the option NAME was given a value.
need() {
  [[ -n "$2" ]] || die "missing --$1"
}
