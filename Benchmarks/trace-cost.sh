#!/usr/bin/env bash
# What a running trace costs the fan-out (issue 31): `bench fanout` 1 -> SUBSCRIBERS x SIZE B
# against one server, alternating runs with no trace and runs with a trace on one subscriber
# (`switchboard trace --client ID --json > /dev/null`, started once the subscribers are in).
# Server pinned to SERVER_CPU, load generator and trace reader to BENCH_CPU. Prints
# deliveries/s per run and the medians.
#
#   Benchmarks/trace-cost.sh [SWITCHBOARD_BINARY] [ROUNDS] [SUBSCRIBERS] [SIZE] [DURATION]
#
# Defaults: .build-release/release/switchboard, 3 rounds, 1000 subscribers, 64 B, 10 s.
# Needs taskset, jq, curl. With no trace running the hub's cost is what `compare.sh --baseline`
# measures against the commit before (fanout-1000x64 and idle).
set -euo pipefail

BIN=${1:-.build-release/release/switchboard}
ROUNDS=${2:-3}
SUBSCRIBERS=${3:-1000}
SIZE=${4:-64}
DURATION=${5:-10}
SERVER_CPU=${SERVER_CPU:-0}
BENCH_CPU=${BENCH_CPU:-1}
PORT=${PORT:-19300}
TOKEN=trace-cost-admin-token-0123456789
ADMIN="http://127.0.0.1:$PORT"

run() {  # $1: plain | traced; prints deliveries/s
    taskset -c "$SERVER_CPU" "$BIN" serve --headless --port "$PORT" --admin-token "$TOKEN" --stats-interval 0 >/dev/null 2>&1 &
    local server=$!
    until curl -fs "$ADMIN/healthz" >/dev/null 2>&1; do sleep 0.1; done
    local result
    result=$(mktemp)
    taskset -c "$BENCH_CPU" "$BIN" bench fanout --url "ws://127.0.0.1:$PORT/ws" --subscribers "$SUBSCRIBERS" --size "$SIZE" \
        --duration "$DURATION" --json >"$result" 2>/dev/null &
    local bench=$!
    local reader=""
    if [ "$1" = traced ]; then
        local id=""
        until [ -n "$id" ] && [ "$id" != null ]; do
            sleep 0.2
            id=$("$BIN" clients --server "$ADMIN" --token "$TOKEN" --channel bench --limit 1 --json 2>/dev/null | jq -r '.rows[0].id // empty')
        done
        taskset -c "$BENCH_CPU" "$BIN" trace --client "$id" --json --server "$ADMIN" --token "$TOKEN" >/dev/null 2>&1 &
        reader=$!
    fi
    wait "$bench"
    [ -n "$reader" ] && kill "$reader" 2>/dev/null && wait "$reader" 2>/dev/null || true
    kill "$server" && wait "$server" 2>/dev/null || true
    jq -r '.deliveries_per_second // .deliveriesPerSecond' "$result"
    rm -f "$result"
}

median() { sort -n | awk '{a[NR]=$1} END {printf "%d\n", (NR % 2) ? a[(NR+1)/2] : (a[NR/2] + a[NR/2+1]) / 2}'; }

plain=()
traced=()
for round in $(seq "$ROUNDS"); do
    for mode in plain traced; do
        value=$(run "$mode")
        echo "round $round $mode: $value deliveries/s"
        if [ "$mode" = plain ]; then plain+=("$value"); else traced+=("$value"); fi
    done
done
p=$(printf '%s\n' "${plain[@]}" | median)
t=$(printf '%s\n' "${traced[@]}" | median)
echo "median: no trace $p, one traced subscriber $t deliveries/s ($(awk -v p="$p" -v t="$t" 'BEGIN {printf "%.1f", (t / p - 1) * 100}') %)"
