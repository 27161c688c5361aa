#!/usr/bin/env python3
"""100 000 idle connections across a cluster on this machine, and the console attached to one
node scrolling, sorting and filtering all of them (issue 14's last benchmark).

Each process here may hold 20 000 open files, so the connections are spread over `--nodes`
nodes (one event-loop thread each, all on one Redis) and one `bench idle` process per node, each
from its own source address (127.0.0.2, 127.0.0.3, …). Measured: connect time, each node's
resident memory per connection (VmRSS before and after), then the console (`switchboard attach`
in tmux, 160x50) attached to the first node: that its table counts every client of the cluster,
key -> screen times of Benchmarks/console_cost.py's key rounds, and the CPU of the first node
and of the console over 30 s idle and 30 s paging.

    python3 Benchmarks/cluster_100k.py --switchboard .build-release/release/switchboard --nodes 6 --connections 100000
"""
import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import time
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from cluster_fanout import cpu_seconds, free_port, start_redis, stop, wait_http  # noqa: E402
from console_cost import Tmux, first_row, key_rounds, page, until  # noqa: E402

TOKEN = "cluster-100k-token-0123456789abcdef"


def rss_bytes(pid):
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    return 0


def connections(port):
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=5) as response:
            return json.load(response).get("connections", 0)
    except OSError:
        return 0


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--switchboard", required=True)
    parser.add_argument("--nodes", type=int, default=6)
    parser.add_argument("--connections", type=int, default=100_000)
    parser.add_argument("--seconds", type=float, default=30, help="each CPU window (two of the server's 15 s heartbeats)")
    parser.add_argument("--rounds", type=int, default=2, help="key rounds of the console")
    args = parser.parse_args()
    binary = os.path.abspath(args.switchboard)
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    per_node = -(-args.connections // args.nodes)
    if per_node > hard - 200:
        sys.exit(f"{per_node} connections per node exceed the open-files limit {hard}: use more --nodes")
    redis_proc, redis_port, directory = start_redis("0,1")
    nodes, loads = [], []
    tmux = Tmux(f"cluster-100k-{os.getpid()}")
    try:
        for index in range(args.nodes):
            port = free_port()
            proc = subprocess.Popen(
                [binary, "serve", "--headless", "--port", str(port), "--threads", "1", "--stats-interval", "0", "--log-level", "warning",
                 "--admin-token", TOKEN, "--redis", f"redis://127.0.0.1:{redis_port}", "--node-name", f"n{index + 1}"],
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            wait_http(port)
            nodes.append((proc, port))
        time.sleep(2)
        rss_before = [rss_bytes(proc.pid) for proc, _ in nodes]
        start = time.monotonic()
        for index, (_, port) in enumerate(nodes):
            count = min(per_node, args.connections - index * per_node)
            loads.append(subprocess.Popen(
                [binary, "bench", "idle", "--url", f"ws://127.0.0.1:{port}/ws", "--connections", str(count), "--hold", "3600",
                 "--source", f"127.0.0.{index + 2}"], stdout=subprocess.DEVNULL, stderr=open(os.path.join(directory, f"idle-{index + 1}.log"), "w")))
        deadline = time.monotonic() + 900
        while True:
            held = [connections(port) for _, port in nodes]
            if sum(held) >= args.connections:
                break
            if time.monotonic() > deadline or all(load.poll() is not None for load in loads):
                for index in range(len(loads)):
                    with open(os.path.join(directory, f"idle-{index + 1}.log")) as log:
                        print(f"load generator {index + 1}: {log.read()[-400:]}", file=sys.stderr)
                raise RuntimeError(f"only {sum(held)} of {args.connections} connected: {held}")
            time.sleep(1)
        connect_seconds = time.monotonic() - start
        time.sleep(5)
        held = [connections(port) for _, port in nodes]
        per_connection = [(rss_bytes(proc.pid) - before) / max(1, count) for (proc, _), before, count in zip(nodes, rss_before, held)]
        print(f"{sum(held)} connections on {args.nodes} nodes {held} in {connect_seconds:.0f} s", file=sys.stderr, flush=True)
        print(f"resident bytes per connection per node: {[round(b) for b in per_connection]}", file=sys.stderr, flush=True)

        first_pid, first_port = nodes[0][0].pid, nodes[0][1]
        tmux.start(f"exec env TERM=tmux-256color LANG=C.UTF-8 {binary} attach http://127.0.0.1:{first_port} --token {TOKEN}")
        console_pid = tmux.pane_pid()
        shown = until(tmux, lambda lines: first_row(lines) is not None, timeout=60)
        total = f"of {sum(held):,}"
        counted = until(tmux, lambda lines: any(total in line for line in lines), timeout=60)
        screen = "\n".join(tmux.screen())
        print(screen, file=sys.stderr, flush=True)
        time.sleep(2)

        def cpu(during):
            pids = [first_pid, console_pid, redis_proc.pid]
            before = [cpu_seconds(pid) for pid in pids]
            began = time.monotonic()
            during()
            elapsed = time.monotonic() - began
            return [100 * (cpu_seconds(pid) - b) / elapsed for pid, b in zip(pids, before)]

        idle = cpu(lambda: time.sleep(args.seconds))

        busy = cpu(lambda: page(tmux, args.seconds))
        keys = key_rounds(tmux, args.rounds)
        per_key = {}
        for key, ms in keys:
            per_key.setdefault(key, []).append(None if ms is None else round(ms, 1))
        times = [ms for _, ms in keys if ms is not None]
        print(json.dumps({"held": held, "connect_s": connect_seconds, "bytes_per_connection": per_connection, "first_rows_ms": shown,
                          "cluster_total_shown_ms": counted, "cpu_idle_node_console_redis": idle, "cpu_paging_node_console_redis": busy,
                          "keys": per_key}), file=sys.stderr, flush=True)
        print(f"| connections | nodes | connect | bytes/conn per node (median) | console counts all | key → screen median | max | no answer in 5 s | first node CPU idle / paging | console idle / paging | redis idle / paging |")
        print("| ---: | ---: | ---: | ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: |")
        print(f"| {sum(held)} | {args.nodes} | {connect_seconds:.0f} s | {statistics.median(per_connection):.0f} | "
              f"{'yes' if counted is not None else 'no'} | {statistics.median(times) if times else float('nan'):.0f} ms | "
              f"{max(times) if times else float('nan'):.0f} ms | {sum(1 for _, ms in keys if ms is None)} | "
              f"{idle[0]:.1f} % / {busy[0]:.1f} % | {idle[1]:.1f} % / {busy[1]:.1f} % | {idle[2]:.1f} % / {busy[2]:.1f} % |")
    finally:
        tmux.stop()
        for load in loads:
            load.kill()
            load.wait()
        stop([proc for proc, _ in nodes] + [redis_proc], directory)


if __name__ == "__main__":
    main()
