#!/bin/sh
# Container entrypoint: caps the V8 heap at ~75 % of MEMORY_LIMIT_MB, preloads jemalloc, then execs the command (tini stays PID 1).
#
# MEMORY_LIMIT_MB comes from the environment, else from profiles/$PROFILE.env (basic: 2048), else 2048.
# The heap flag is only added when the command is `node ...` and neither the command nor NODE_OPTIONS
# already sets --max-old-space-size. HEAP_PERCENT (default 75) changes the share.
# MALLOC=jemalloc (the default) preloads jemalloc when its library is installed (the image installs it; JEMALLOC_LIB
# names another path), so that memory freed after a burst goes back to the system: glibc's malloc keeps what a burst
# of slow clients took (~300 KB per 64 KB-event stream, docs/performance.md). MALLOC=glibc keeps glibc's. An
# LD_PRELOAD already set is left alone.
# ENTRYPOINT_DRY_RUN=1 prints the final command instead of running it (used by test/cluster.test.ts), preceded by
# LD_PRELOAD=… MALLOC_CONF=… when jemalloc is preloaded.
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

malloc="${MALLOC:-jemalloc}"
case "$malloc" in jemalloc|glibc) ;; *) echo "entrypoint: MALLOC must be jemalloc or glibc, got '$malloc'" >&2; exit 2 ;; esac
preload=""
if [ "$malloc" = "jemalloc" ] && [ -z "${LD_PRELOAD:-}" ]; then
  for lib in ${JEMALLOC_LIB:-/usr/lib/*-linux-gnu/libjemalloc.so.2 /usr/lib/libjemalloc.so.2}; do
    if [ -r "$lib" ]; then preload="$lib"; break; fi
  done
  if [ -n "$preload" ]; then
    # freed pages go back over jemalloc's default 10 s, purged by its own thread (a 1 s decay cost paced
    # streams 10-20 % more CPU per event in two same-run A/Bs; docs/performance.md)
    export LD_PRELOAD="$preload"
    export MALLOC_CONF="${MALLOC_CONF:-background_thread:true}"
  elif [ -n "${JEMALLOC_LIB:-}" ]; then
    echo "entrypoint: JEMALLOC_LIB=$JEMALLOC_LIB is not readable; keeping glibc's malloc" >&2
  fi
fi

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
  if [ -n "$preload" ]; then echo "LD_PRELOAD=$LD_PRELOAD MALLOC_CONF=$MALLOC_CONF $*"; else echo "$*"; fi
  exit 0
fi
exec "$@"
