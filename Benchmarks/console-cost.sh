#!/usr/bin/env bash
# Console cost under load: a headless server with N idle clients and a steady publish rate, the
# console attached from another process in tmux. Reports the console's CPU share (from
# /proc/PID/stat over a window), the server's CPU with and without the console attached, and
# key-press-to-screen latency (send-keys until capture-pane shows the change; includes tmux).
#
#   Benchmarks/console-cost.sh [connections=10000] [rate=5000] [seconds=20]
set -euo pipefail
cd "$(dirname "$0")/.."
N=${1:-10000}; RATE=${2:-5000}; SECS=${3:-20}
B=.build/release/switchboard
[ -x "$B" ] || swift build -c release --product switchboard
PORT=18300; TOKEN=console-cost-token-0123456789
SOCK=console-cost-$$
T="tmux -L $SOCK -f /dev/null"
cleanup() { $T kill-server 2>/dev/null || true; kill "${PIDS[@]}" 2>/dev/null || true; }
PIDS=(); trap cleanup EXIT

cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
measure() {  # measure PID SECONDS -> percent of one core
  local a b; a=$(cpu_ticks "$1"); sleep "$2"; b=$(cpu_ticks "$1")
  awk -v d=$((b - a)) -v s="$2" -v hz="$(getconf CLK_TCK)" 'BEGIN { printf "%.1f", 100 * d / hz / s }'
}

taskset -c 0 $B serve --headless --port $PORT --admin-token $TOKEN --log-level warning --stats-interval 0 &
SERVER=$!; PIDS+=($SERVER); sleep 1
taskset -c 1 $B bench idle --url ws://127.0.0.1:$PORT/ws --connections "$N" --hold $((SECS * 4 + 30)) >/dev/null 2>&1 &
PIDS+=($!)
until [ "$(curl -s localhost:$PORT/healthz | sed 's/.*"connections":\([0-9]*\).*/\1/')" -ge "$N" ]; do sleep 0.5; done
taskset -c 1 $B bench fanout --url ws://127.0.0.1:$PORT/ws --subscribers 10 --rate "$RATE" --duration $((SECS * 3 + 20)) >/dev/null 2>&1 &
PIDS+=($!); sleep 3

echo "server CPU without console: $(measure $SERVER "$SECS") %"
$T new-session -d -s s -x 160 -y 50 "env TERM=tmux-256color LANG=C.UTF-8 taskset -c 1 $B attach http://127.0.0.1:$PORT --token $TOKEN"
sleep 3
CONSOLE=$(pgrep -f "^[^ ]*switchboard attach http://127.0.0.1:$PORT" | head -1)
echo "console CPU (attach, $N clients, $RATE msg/s): $(measure "$CONSOLE" "$SECS") % of one core"
echo "server CPU with console attached: $(measure $SERVER "$SECS") %"

total=0; tries=10
for _ in $(seq $tries); do
  before=$($T capture-pane -t s -p | tail -1)
  start=$(date +%s%N)
  $T send-keys -t s p
  while [ "$($T capture-pane -t s -p | tail -1)" = "$before" ]; do sleep 0.002; done
  total=$((total + $(date +%s%N) - start))
  sleep 0.3
done
echo "key press → screen (p, mean of $tries, tmux included): $((total / tries / 1000000)) ms"
