#!/usr/bin/env bash
# The console at N idle clients: key → screen time and the CPU of the server and of the console
# process, local (`switchboard serve` in tmux) and attached (`switchboard attach` in tmux to a
# headless server), for this build and optionally a baseline binary in the same invocation.
# The measuring is Benchmarks/console_cost.py (its docstring says what each figure is).
#
#   Benchmarks/console-cost.sh [--baseline PATH] [--clients 1000,10000,19000] [--modes local,attached] [--seconds 30] [--consoles 1] [--sort COLUMN]
#
# `--consoles N` attaches N consoles at once (attached mode; the first is measured); `--sort idle`
# (or rate, msgs_in, …) puts the measured console on that order first.
# Needs tmux and a quiet machine: the server runs on core 0, the idle clients and the attached
# consoles on core 1. 19 000 clients is the most one process may hold here (20 000 open files).
set -euo pipefail
cd "$(dirname "$0")/.."
BINARIES=()
ARGS=()
while [ $# -gt 0 ]; do
  case "$1" in
    --baseline) BINARIES+=(--binary "baseline=$2"); shift 2 ;;
    --clients|--modes|--seconds|--consoles|--sort) ARGS+=("$1" "$2"); shift 2 ;;
    -h|--help) sed -n '2,12p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "console-cost.sh: unknown argument $1 (see --help)" >&2; exit 2 ;;
  esac
done
command -v tmux >/dev/null || { echo "console-cost.sh: needs tmux (apt-get install tmux)" >&2; exit 2; }
B=.build-release/release/switchboard
swift build -c release --product switchboard --scratch-path .build-release >/dev/null
exec python3 Benchmarks/console_cost.py "${BINARIES[@]}" --binary "this=$B" "${ARGS[@]}"
