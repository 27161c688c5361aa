#!/usr/bin/env bash
# Side-by-side comparison of Switchboard against small peer hubs (issue 5), in one invocation:
# each server pinned to one core, the load generator (`switchboard bench`) to another, servers
# alternated within every round. Prints a markdown table of medians and ratios.
# Run `Benchmarks/compare.sh --help` for the options.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"

ROUNDS=2
DURATION=5
SERVERS="switchboard gorilla node-ws"
WORKLOADS="fanout-1000x64 fanout-100x1k open-20 idle"
CONNECTIONS=10000
SERVER_CPU=0
BENCH_CPU=1
PORT_BASE=19100
BUILD=1
OUT=""
SB=""
BASELINE=""

usage() {
    cat <<EOF
Usage: Benchmarks/compare.sh [options]

Builds Switchboard (release, --scratch-path .build-release) and the Go peer (.build-peers/), then
for every round, every workload and every server: starts the server pinned with
'taskset -c SERVER_CPU', runs 'taskset -c BENCH_CPU switchboard bench ... --json' against it,
stops it. Servers are alternated within each round (their order rotates from round to round).
Finally prints a markdown table: per workload the median per server and the ratios
switchboard/gorilla and switchboard/node-ws.

Options:
  --rounds N           rounds (default $ROUNDS)
  --duration S         seconds of publishing per fan-out run (default $DURATION)
  --servers LIST       space- or comma-separated subset of: switchboard gorilla node-ws
                       node-ws-cork baseline switchboard-history (default "$SERVERS"; ratios
                       need switchboard). switchboard-history is this build with
                       --history-size 100: every channel keeps its last 100 messages
                       node-ws-cork is the Node hub with --cork: one write per subscriber per
                       event-loop tick instead of one per message (not idiomatic; shows how much
                       of the difference is write batching)
  --workloads LIST     space- or comma-separated (default "$WORKLOADS"):
                         fanout-1000x64  closed loop, 1 publisher -> 1000 subscribers, 64 B
                         fanout-100x1k   closed loop, 1 publisher -> 100 subscribers, 1 KB
                         open-R          open loop, R msg/s -> 1000 subscribers, 64 B (e.g. open-20, open-300)
                         echo-NxK        bench echo: N connections x K in flight, 64 B, on /echo
                                         (switchboard runs with --echo-route /echo), e.g. echo-50x8
                         idle            bench idle: bytes of server RSS per idle connection
  --connections N      idle connections (default $CONNECTIONS; needs open-files limit > N)
  --server-cpu C       core for the servers (default $SERVER_CPU)
  --bench-cpu C        core for the load generator (default $BENCH_CPU)
  --port-base P        first TCP port; every server start takes the next one (default $PORT_BASE)
  --no-build           use the existing .build-release and .build-peers binaries
  --switchboard PATH   use this switchboard binary (server and load generator) instead of
                       building .build-release, e.g. one built from a clean 'git archive' of a
                       commit while the work tree is being edited
  --baseline PATH      another switchboard binary (e.g. the previous commit's release build)
                       served as "baseline": add it to --servers to measure a change against
                       the code before it in the same invocation
  --out DIR            where raw results go (default .build-peers/compare-<date>)
  -h, --help           this text

Measured per run: deliveries/s, latency p50/p99 (bench fanout's HdrHistogram), lost messages and
closed subscribers; server and load-generator CPU (seconds per second, from utime+stime in
/proc/PID/stat, sampled at the first and the last-but-one progress line, i.e. while publishing);
how much of each of the two cores other processes and hypervisor steal took meanwhile (/proc/stat:
near 0 means a quiet run, read the other figures with it); bytes per idle connection (bench idle
--server-pid: server VmRSS before/after). Raw results: OUT/runs.jsonl, OUT/table.md, server logs
in OUT/runs/. On a shared machine use more rounds and compare quiet rounds.

Needs: swift, taskset, jq, python3, curl; golang-go and golang-github-gorilla-websocket-dev
(built offline with GO111MODULE=off GOPATH=/usr/share/gocode); node and node-ws
(/usr/share/nodejs/ws). Exit status: 0 when every run produced a result, 1 when a build fails or
a server does not start, 4 when some bench run produced no result (the table is still printed).
EOF
}

while [[ $# -gt 0 ]]; do
    case "$1" in
        --rounds) ROUNDS=$2; shift 2 ;;
        --duration) DURATION=$2; shift 2 ;;
        --servers) SERVERS=${2//,/ }; shift 2 ;;
        --workloads) WORKLOADS=${2//,/ }; shift 2 ;;
        --connections) CONNECTIONS=$2; shift 2 ;;
        --server-cpu) SERVER_CPU=$2; shift 2 ;;
        --bench-cpu) BENCH_CPU=$2; shift 2 ;;
        --port-base) PORT_BASE=$2; shift 2 ;;
        --no-build) BUILD=0; shift ;;
        --switchboard) SB=$2; shift 2 ;;
        --baseline) BASELINE=$2; shift 2 ;;
        --out) OUT=$2; shift 2 ;;
        -h | --help) usage; exit 0 ;;
        *) echo "compare.sh: unknown option $1 (see --help)" >&2; exit 2 ;;
    esac
done

[[ $ROUNDS =~ ^[1-9][0-9]*$ ]] || { echo "compare.sh: --rounds must be a positive integer" >&2; exit 2; }
[[ $DURATION =~ ^[0-9]+(\.[0-9]+)?$ ]] || { echo "compare.sh: --duration must be a number of seconds" >&2; exit 2; }
for s in $SERVERS; do
    case $s in switchboard | switchboard-history | gorilla | node-ws | node-ws-cork | baseline) ;; *) echo "compare.sh: unknown server $s" >&2; exit 2 ;; esac
done
for w in $WORKLOADS; do
    [[ $w =~ ^(fanout-1000x64|fanout-100x1k|open-[0-9]+(\.[0-9]+)?|echo-[0-9]+x[0-9]+|idle)$ ]] || { echo "compare.sh: unknown workload $w" >&2; exit 2; }
done
for tool in taskset jq python3 curl; do
    command -v $tool >/dev/null || { echo "compare.sh: $tool is required" >&2; exit 1; }
done

SB_GIVEN=${SB:+1}
SB=${SB:-.build-release/release/switchboard}
GORILLA=.build-peers/gorilla-hub
NODE_HUB=Benchmarks/peers/node-ws/hub.js
OUT=${OUT:-.build-peers/compare-$(date +%Y%m%d-%H%M%S)}
mkdir -p "$OUT/runs"
CLK_TCK=$(getconf CLK_TCK)

log() { printf '%s %s\n' "$(date +%H:%M:%S)" "$*" >&2; }

# ---------------------------------------------------------------- build

if [[ $BUILD == 1 ]]; then
    if [[ -z $SB_GIVEN ]]; then
        log "building switchboard (release, .build-release)"
        swift build -c release --product switchboard --scratch-path .build-release >"$OUT/build-swift.log" 2>&1 \
            || { tail -30 "$OUT/build-swift.log" >&2; echo "compare.sh: swift build failed ($OUT/build-swift.log)" >&2; exit 1; }
    fi
    if [[ " $SERVERS " == *" gorilla "* ]]; then
        log "building the gorilla peer (.build-peers/gorilla-hub)"
        command -v go >/dev/null && [[ -d /usr/share/gocode/src/github.com/gorilla/websocket ]] \
            || { echo "compare.sh: needs apt-get install -y golang-go golang-github-gorilla-websocket-dev" >&2; exit 1; }
        GO111MODULE=off GOPATH=/usr/share/gocode GOPROXY=off GOFLAGS= \
            go build -o "$GORILLA" ./Benchmarks/peers/gorilla >"$OUT/build-go.log" 2>&1 \
            || { cat "$OUT/build-go.log" >&2; echo "compare.sh: go build failed" >&2; exit 1; }
    fi
fi
[[ -x $SB ]] || { echo "compare.sh: $SB is missing (run without --no-build)" >&2; exit 1; }
SB=$(realpath "$SB")
if [[ " $SERVERS " == *" baseline "* ]]; then
    [[ -n $BASELINE && -x $BASELINE ]] || { echo "compare.sh: the baseline server needs --baseline PATH to a switchboard binary" >&2; exit 1; }
    BASELINE=$(realpath "$BASELINE")
fi
if [[ " $SERVERS " == *" gorilla "* ]]; then
    [[ -x $GORILLA ]] || { echo "compare.sh: $GORILLA is missing (run without --no-build)" >&2; exit 1; }
fi
if [[ " $SERVERS " == *" node-ws"* ]]; then
    command -v node >/dev/null || { echo "compare.sh: node is required for the node-ws peer" >&2; exit 1; }
    NODE_PATH=/usr/share/nodejs node -e "require('ws')" 2>/dev/null \
        || { echo "compare.sh: needs apt-get install -y node-ws" >&2; exit 1; }
fi

# Enough descriptors for the idle connections, on both sides (children inherit the limit).
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
if ((CONNECTIONS + 100 > $(ulimit -n))) && [[ " $WORKLOADS " == *" idle "* ]]; then
    echo "compare.sh: open-files limit $(ulimit -n) is too low for --connections $CONNECTIONS" >&2
    exit 1
fi

# ---------------------------------------------------------------- servers

SERVER_PID=""
BENCH_PID=""
cleanup() {
    local pid
    for pid in $BENCH_PID $SERVER_PID; do
        kill -TERM "$pid" 2>/dev/null || true
    done
    for pid in $BENCH_PID $SERVER_PID; do
        for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
        kill -KILL "$pid" 2>/dev/null || true
    done
}
trap cleanup EXIT
trap 'exit 130' INT TERM

NEXT_PORT=$PORT_BASE

# start_server NAME LOGFILE: starts it pinned, waits until it answers HTTP; sets SERVER_PID, PORT.
start_server() {
    local name=$1 logfile=$2
    # Skip ports something else already answers on, so we never measure a stranger.
    while curl -s -o /dev/null --max-time 1 "http://127.0.0.1:$NEXT_PORT/"; do NEXT_PORT=$((NEXT_PORT + 1)); done
    PORT=$NEXT_PORT
    NEXT_PORT=$((NEXT_PORT + 1))
    case $name in
        switchboard | baseline | switchboard-history)
            local binary=$SB
            local -a extra=()
            [[ $name == baseline ]] && binary=$BASELINE
            [[ $name == switchboard-history ]] && extra=(--history-size 100)
            taskset -c "$SERVER_CPU" "$binary" serve --headless --port "$PORT" --log-level warning --stats-interval 0 \
                --echo-route /echo "${extra[@]}" >"$logfile" 2>&1 &
            ;;
        gorilla)
            taskset -c "$SERVER_CPU" "$GORILLA" -port "$PORT" >"$logfile" 2>&1 &
            ;;
        node-ws)
            NODE_PATH=/usr/share/nodejs taskset -c "$SERVER_CPU" node "$NODE_HUB" --port "$PORT" >"$logfile" 2>&1 &
            ;;
        node-ws-cork)
            NODE_PATH=/usr/share/nodejs taskset -c "$SERVER_CPU" node "$NODE_HUB" --port "$PORT" --cork >"$logfile" 2>&1 &
            ;;
    esac
    SERVER_PID=$!
    local i
    for i in $(seq 150); do
        if ! kill -0 "$SERVER_PID" 2>/dev/null; then
            echo "compare.sh: $name exited during start-up (log $logfile):" >&2
            tail -20 "$logfile" >&2
            SERVER_PID=""
            exit 1
        fi
        # Any HTTP answer on /ws (426, 400, 404) means it is listening.
        if curl -s -o /dev/null --max-time 1 "http://127.0.0.1:$PORT/ws"; then
            return 0
        fi
        sleep 0.1
    done
    echo "compare.sh: $name did not answer on port $PORT within 15 s (log $logfile)" >&2
    tail -20 "$logfile" >&2
    exit 1
}

stop_server() {
    [[ -n $SERVER_PID ]] || return 0
    kill -TERM "$SERVER_PID" 2>/dev/null || true
    local i
    for i in $(seq 100); do kill -0 "$SERVER_PID" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$SERVER_PID" 2>/dev/null || true
    wait "$SERVER_PID" 2>/dev/null || true
    SERVER_PID=""
}

# proc_ticks PID: sets TICKS to utime+stime of the process (all its threads), in clock ticks.
# Builtins only, so sampling forks nothing.
proc_ticks() {
    local stat
    read -r stat <"/proc/$1/stat" 2>/dev/null || return 1
    stat=${stat##*) }
    local -a f
    read -r -a f <<<"$stat"
    TICKS=$((f[11] + f[12]))
}

# take_sample: sets SAMPLE to "time server-ticks bench-ticks S-busy S-steal B-busy B-steal", where
# S and B are the server's and the load generator's cores (busy = user+nice+system+irq+softirq,
# from /proc/stat; steal = time the hypervisor ran someone else).
take_sample() {
    local t=$EPOCHREALTIME sv bv name u n sy id io irq sirq st rest sbusy="" ssteal="" bbusy="" bsteal=""
    proc_ticks "$SERVER_PID" || return 1
    sv=$TICKS
    proc_ticks "$BENCH_PID" || return 1
    bv=$TICKS
    while read -r name u n sy id io irq sirq st rest; do
        if [[ $name == "cpu$SERVER_CPU" ]]; then sbusy=$((u + n + sy + irq + sirq)) ssteal=$st; fi
        if [[ $name == "cpu$BENCH_CPU" ]]; then bbusy=$((u + n + sy + irq + sirq)) bsteal=$st; fi
    done </proc/stat
    SAMPLE="$t $sv $bv ${sbusy:-0} ${ssteal:-0} ${bbusy:-0} ${bsteal:-0}"
}

# ---------------------------------------------------------------- one run

# run_one ROUND WORKLOAD SERVER: appends one JSON line to $OUT/runs.jsonl.
run_one() {
    local round=$1 workload=$2 server=$3
    local tag="r${round}-${workload}-${server}"
    local json="$OUT/runs/$tag.json" err="$OUT/runs/$tag.err"
    start_server "$server" "$OUT/runs/$tag.server.log"
    local url="ws://127.0.0.1:$PORT/ws"
    local -a cmd
    case $workload in
        fanout-1000x64) cmd=(bench fanout --url "$url" --subscribers 1000 --size 64 --duration "$DURATION" --json) ;;
        fanout-100x1k) cmd=(bench fanout --url "$url" --subscribers 100 --size 1024 --duration "$DURATION" --json) ;;
        open-*) cmd=(bench fanout --url "$url" --subscribers 1000 --size 64 --duration "$DURATION" --rate "${workload#open-}" --json) ;;
        echo-*)
            local shape=${workload#echo-}
            cmd=(bench echo --url "ws://127.0.0.1:$PORT/echo" --connections "${shape%x*}" --in-flight "${shape#*x}" --size 64
                --duration "$DURATION" --server-pid "$SERVER_PID" --json)
            ;;
        idle) cmd=(bench idle --url "$url" --connections "$CONNECTIONS" --server-pid "$SERVER_PID" --json) ;;
    esac
    # The word every progress line carries, to sample CPU once per line.
    local mark="deliveries/s"
    [[ $workload == echo-* ]] && mark="messages/s"
    local load_before
    load_before=$(cut -d' ' -f1-3 /proc/loadavg)
    log "round $round  $workload  $server (port $PORT)"
    : >"$err"
    taskset -c "$BENCH_CPU" "$SB" "${cmd[@]}" >"$json" 2>"$err" &
    BENCH_PID=$!

    # Sample CPU at every progress line (one a second while publishing); the window runs from the
    # first line to the last-but-one, so it lies within the publishing phase.
    local -a samples=()
    local lines=0 seen content stripped
    while kill -0 "$BENCH_PID" 2>/dev/null; do
        content=""
        read -r -d '' content <"$err" || true
        stripped=${content//"$mark"/}
        seen=$(((${#content} - ${#stripped}) / ${#mark}))
        if ((seen > lines)); then
            lines=$seen
            if take_sample; then samples+=("$SAMPLE"); fi
        fi
        sleep 0.05
    done
    local rc=0
    wait "$BENCH_PID" || rc=$?
    BENCH_PID=""
    stop_server

    local cpu=null
    if ((${#samples[@]} >= 2)); then
        local last=$((${#samples[@]} >= 3 ? ${#samples[@]} - 2 : ${#samples[@]} - 1))
        cpu=$(python3 - "$CLK_TCK" "${samples[0]}" "${samples[$last]}" <<'PY'
import json, sys
hz = float(sys.argv[1])
a = [float(x) for x in sys.argv[2].split()]
b = [float(x) for x in sys.argv[3].split()]
dt = b[0] - a[0]
d = [(y - x) / hz / dt for x, y in zip(a[1:], b[1:])]
print(json.dumps({
    "window_s": round(dt, 2),
    "server": round(d[0], 3), "bench": round(d[1], 3),
    "server_core_other": round(max(0.0, d[2] - d[0]), 3), "server_core_steal": round(d[3], 3),
    "bench_core_other": round(max(0.0, d[4] - d[1]), 3), "bench_core_steal": round(d[5], 3),
}))
PY
)
    fi
    local result=null error=null
    if jq -e . "$json" >/dev/null 2>&1; then
        result=$(jq -c . "$json")
    else
        error=$({ tr '\r' '\n' <"$err" | grep -v -e '^\[' -e '^opened' -e '^$' || true; } | tail -3 | jq -R -s -c .)
        log "  no result (exit $rc): $(tr '\r' '\n' <"$err" | tail -1)"
    fi
    jq -c -n --argjson round "$round" --arg workload "$workload" --arg server "$server" \
        --argjson exit "$rc" --argjson result "$result" --argjson cpu "$cpu" \
        --argjson error "$error" --arg loadavg "$load_before" \
        '{round:$round, workload:$workload, server:$server, exit:$exit, result:$result,
          cpu:$cpu, error:$error, loadavg_before:$loadavg}' \
        >>"$OUT/runs.jsonl"
    jq -r -n --argjson r "$result" --argjson c "$cpu" '
        if $r == null then empty
        elif $r.messagesPerServerCPUSecond != null then
          "  \($r.messagesPerSecond | floor) messages/s  \($r.messagesPerServerCPUSecond | floor) per server CPU-second  p99 \($r.latencyMicroseconds.p99 / 1000) ms  wrong \($r.mismatched)  closed \($r.closedConnections)"
        elif $r.deliveriesPerSecond != null then
          "  \($r.deliveriesPerSecond | floor) deliveries/s  p99 \($r.latencyMicroseconds.p99 / 1000) ms  lost \($r.lost)  closed \($r.closedSubscribers)  cpu s/s: server \($c.server // "?") bench \($c.bench // "?") other+steal on server core \(if $c then ($c.server_core_other + $c.server_core_steal) * 1000 | round / 1000 else "?" end)"
        else "  \(($r.serverBytesPerConnection // 0) | floor) B/connection  \($r.connectsPerSecond | floor) connects/s  failed \($r.failed)" end' >&2 || true
    sleep 1
}

# ---------------------------------------------------------------- the rounds

{
    echo "date: $(date -u +%Y-%m-%dT%H:%M:%SZ)"
    if [[ -n $SB_GIVEN ]]; then
        echo "switchboard: $SB (given with --switchboard; work tree at $(git rev-parse --short HEAD 2>/dev/null))"
    else
        echo "commit: $(git rev-parse --short HEAD 2>/dev/null)$(git diff --quiet HEAD -- Sources Package.swift 2>/dev/null || echo ' (Sources modified in the work tree: the build includes those edits)')"
    fi
    echo "cpu: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), $(nproc) CPUs"
    echo "kernel: $(uname -r)"
    echo "swift: $(swift --version 2>/dev/null | head -1)"
    [[ -n $BASELINE ]] && echo "baseline: $BASELINE"
    command -v go >/dev/null && echo "go: $(go version)"
    command -v node >/dev/null && echo "node: $(node --version), ws $(NODE_PATH=/usr/share/nodejs node -p "require('ws/package.json').version" 2>/dev/null || echo '?')"
    echo "gorilla/websocket: $(dpkg-query -W -f '${Version}' golang-github-gorilla-websocket-dev 2>/dev/null || echo '?')"
    echo "rounds: $ROUNDS, duration: $DURATION s, servers: $SERVERS, workloads: $WORKLOADS, idle connections: $CONNECTIONS"
    echo "pinning: servers taskset -c $SERVER_CPU, load generator taskset -c $BENCH_CPU"
} >"$OUT/info.txt"
cat "$OUT/info.txt" >&2

# From here on this script (its sampling loop, curl, jq, python3) runs on the load generator's
# core, never on the server's.
taskset -cp "$BENCH_CPU" $$ >/dev/null

START=$EPOCHSECONDS
read -r -a server_list <<<"$SERVERS"
for round in $(seq "$ROUNDS"); do
    for workload in $WORKLOADS; do
        n=${#server_list[@]}
        for k in $(seq 0 $((n - 1))); do
            run_one "$round" "$workload" "${server_list[$(((k + round - 1) % n))]}"
        done
    done
done
log "all runs done in $((EPOCHSECONDS - START)) s; raw results in $OUT/runs.jsonl"

# ---------------------------------------------------------------- the table

python3 - "$OUT/runs.jsonl" "$SERVERS" "$WORKLOADS" "$DURATION" >"$OUT/table.md" <<'PY'
import json, statistics, sys

runs = [json.loads(line) for line in open(sys.argv[1]) if line.strip()]
servers = sys.argv[2].split()
workloads = sys.argv[3].split()
duration = sys.argv[4]
peers = [s for s in servers if s != "switchboard"]

def label(w):
    if w == "fanout-1000x64": return f"fan-out 1→1000 × 64 B, closed loop, {duration} s"
    if w == "fanout-100x1k": return f"fan-out 1→100 × 1 KB, closed loop, {duration} s"
    if w.startswith("open-"): return f"open loop {w[5:]} msg/s → 1000 × 64 B, {duration} s"
    if w.startswith("echo-"):
        n, k = w[5:].split("x")
        return f"echo {n} connections × {k} in flight, 64 B, {duration} s"
    return "idle connections"

def values(w, s, get):
    out = []
    for r in runs:
        if r["workload"] == w and r["server"] == s:
            try:
                v = get(r)
            except (KeyError, TypeError):
                v = None
            if v is not None:
                out.append(v)
    return out

def fmt(v, unit):
    if v is None: return "—"
    if unit == "rate": return f"{v/1000:.0f}k" if v >= 10000 else f"{v:.0f}"
    if unit == "ms": return f"{v:.1f} ms" if v < 100 else f"{v:.0f} ms"
    if unit == "cpu": return f"{v:.2f}"
    if unit == "bytes": return f"{v:,.0f} B"
    return f"{v}"

def cell(vs, unit):
    if not vs: return "—", None
    m = statistics.median(vs)
    if len(vs) > 1:
        return f"**{fmt(m, unit)}** ({fmt(min(vs), unit)}–{fmt(max(vs), unit)})", m
    return f"**{fmt(m, unit)}**", m

fanout_metrics = [
    ("deliveries/s ↑", "rate", lambda r: r["result"]["deliveriesPerSecond"], True),
    ("latency p50", "ms", lambda r: r["result"]["latencyMicroseconds"]["p50"] / 1000, True),
    ("latency p99 ↓", "ms", lambda r: r["result"]["latencyMicroseconds"]["p99"] / 1000, True),
    ("server CPU s/s", "cpu", lambda r: r["cpu"]["server"], True),
    ("load-generator CPU s/s", "cpu", lambda r: r["cpu"]["bench"], False),
    ("server core: other processes + steal s/s", "cpu", lambda r: r["cpu"]["server_core_other"] + r["cpu"]["server_core_steal"], False),
    ("load-generator core: other processes + steal s/s", "cpu", lambda r: r["cpu"]["bench_core_other"] + r["cpu"]["bench_core_steal"], False),
]
echo_metrics = [
    ("messages/s ↑", "rate", lambda r: r["result"]["messagesPerSecond"], True),
    ("messages per server CPU-second ↑", "rate", lambda r: r["result"]["messagesPerServerCPUSecond"], True),
    ("latency p99 ↓", "ms", lambda r: r["result"]["latencyMicroseconds"]["p99"] / 1000, True),
    ("server CPU s/s", "cpu", lambda r: r["cpu"]["server"], True),
    ("load-generator CPU s/s", "cpu", lambda r: r["cpu"]["bench"], False),
    ("server core: other processes + steal s/s", "cpu", lambda r: r["cpu"]["server_core_other"] + r["cpu"]["server_core_steal"], False),
]
idle_metrics = [
    ("bytes per idle connection ↓", "bytes", lambda r: r["result"]["serverBytesPerConnection"], True),
    ("connects/s", "rate", lambda r: r["result"]["connectsPerSecond"], False),
]

header = ["workload", "metric"] + servers + [f"switchboard/{p}" for p in peers if "switchboard" in servers]
print("| " + " | ".join(header) + " |")
print("|" + "---|" * len(header))
for w in workloads:
    metrics = idle_metrics if w == "idle" else echo_metrics if w.startswith("echo-") else fanout_metrics
    for i, (name, unit, get, ratio) in enumerate(metrics):
        row = [label(w) if i == 0 else "", name]
        medians = {}
        for s in servers:
            text, m = cell(values(w, s, get), unit)
            row.append(text)
            medians[s] = m
        if "switchboard" in servers:
            for p in peers:
                a, b = medians.get("switchboard"), medians.get(p)
                row.append(f"{a / b:.2f}×" if ratio and a is not None and b else "")
        print("| " + " | ".join(row) + " |")
    # Losses: summed over rounds; failed runs counted.
    row = ["", "failed connections / failed runs (sum)" if w == "idle"
           else "wrong echoes / closed connections / failed runs (sum)" if w.startswith("echo-")
           else "lost msgs / closed subscribers / failed runs (sum)"]
    for s in servers:
        rs = [r for r in runs if r["workload"] == w and r["server"] == s]
        failed = sum(1 for r in rs if r["result"] is None)
        if w == "idle":
            row.append(f"{sum(r['result']['failed'] for r in rs if r['result'])} / {failed}")
        elif w.startswith("echo-"):
            row.append(f"{sum(r['result']['mismatched'] for r in rs if r['result'])} / "
                       f"{sum(r['result']['closedConnections'] for r in rs if r['result'])} / {failed}")
        else:
            row.append(f"{sum(r['result']['lost'] for r in rs if r['result'])} / "
                       f"{sum(r['result']['closedSubscribers'] for r in rs if r['result'])} / {failed}")
    row += [""] * (len(header) - len(row))
    print("| " + " | ".join(row) + " |")
print()
print("Cells: **median** over rounds (min–max). ↑ higher is better, ↓ lower is better; a ratio is "
      "switchboard's median divided by the peer's. CPU: seconds of CPU per second of wall time "
      "while publishing (utime+stime from /proc/PID/stat, 10 ms ticks, from the first progress line "
      "to the last but one); \"other processes + steal\": a core's busy time not spent in the server "
      "(or load generator) plus hypervisor steal (/proc/stat), i.e. how much the machine's noise took "
      "from it. Near 0 means a quiet run.")
PY

echo
cat "$OUT/info.txt"
echo
cat "$OUT/table.md"

if jq -e -s 'any(.[]; .result == null)' "$OUT/runs.jsonl" >/dev/null; then
    echo "compare.sh: some runs produced no result (see $OUT/runs.jsonl)" >&2
    exit 4
fi
