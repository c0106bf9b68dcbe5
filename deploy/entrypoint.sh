#!/bin/sh
# Container entrypoint: caps the V8 heap at ~75 % of MEMORY_LIMIT_MB, then execs the command (tini stays PID 1).
#
# MEMORY_LIMIT_MB comes from the environment, else from profiles/$PROFILE.env (basic: 2048), else 2048.
# The heap flag is only added when the command is `node ...` and neither the command nor NODE_OPTIONS
# already sets --max-old-space-size. HEAP_PERCENT (default 75) changes the share.
# ENTRYPOINT_DRY_RUN=1 prints the final command instead of running it (used by test/cluster.test.ts).
set -eu

APP_DIR="${APP_DIR:-$(CDPATH= cd -- "$(dirname -- "$0")/.." && pwd)}"

limit="${MEMORY_LIMIT_MB:-}"
if [ -z "$limit" ]; then
  profile_file="$APP_DIR/profiles/${PROFILE:-basic}.env"
  if [ -r "$profile_file" ]; then
    limit="$(sed -n 's/^[[:space:]]*MEMORY_LIMIT_MB[[:space:]]*=[[:space:]]*\([0-9][0-9]*\).*$/\1/p' "$profile_file" | tail -n 1)"
  fi
fi
limit="${limit:-2048}"
percent="${HEAP_PERCENT:-75}"

case "$limit" in *[!0-9]*|'') echo "entrypoint: MEMORY_LIMIT_MB must be an integer, got '$limit'" >&2; exit 2 ;; esac
case "$percent" in *[!0-9]*|'') echo "entrypoint: HEAP_PERCENT must be an integer, got '$percent'" >&2; exit 2 ;; esac

if [ "$#" -eq 0 ]; then
  set -- node --expose-gc --max-semi-space-size=8 dist/src/main.js
fi

add_heap=0
if [ "$1" = "node" ]; then
  add_heap=1
  case " ${NODE_OPTIONS:-} $* " in *--max-old-space-size*) add_heap=0 ;; esac
fi

if [ "$add_heap" = "1" ]; then
  heap=$((limit * percent / 100))
  [ "$heap" -lt 64 ] && heap=64
  shift
  set -- node "--max-old-space-size=$heap" "$@"
fi

if [ "${ENTRYPOINT_DRY_RUN:-0}" = "1" ]; then
  echo "$*"
  exit 0
fi
exec "$@"
