#!/usr/bin/env python3
"""Cross-node fan-out through Redis against the single-node hub on the same work, in one
invocation (issue 14's benchmark).

For each round: a redis-server and N nodes (`--redis`, one event-loop thread each) pinned to the
server core, `switchboard bench fanout` pinned to the bench core with the subscribers spread over
the nodes (`--subscriber-url` per node) and the publisher on the first node; then one node without
Redis serving all the subscribers itself. CPU seconds of every node and of redis-server are read
from /proc around each run. Then, one node with and one without Redis: publishes per second
(open loop at --publish-rate, 2 publishers, 1 subscriber) with the CPU each costs the node
and Redis, and server bytes per idle connection (`bench idle`). Prints markdown tables of medians.

    python3 Benchmarks/cluster_fanout.py --switchboard .build/release/switchboard --rounds 3
"""
import argparse
import json
import os
import shutil
import socket
import statistics
import subprocess
import tempfile
import time
import urllib.request

TICKS = os.sysconf("SC_CLK_TCK")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def cpu_seconds(pid: int) -> float:
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS


def wait_http(port: int) -> None:
    for _ in range(600):
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=1):
                return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"node on {port} did not start")


def start_redis(cpu: str, *args: str) -> tuple[subprocess.Popen, int, str]:
    """Starts redis-server (no persistence, `args` appended: `--replicaof HOST PORT`, …)."""
    port, directory = free_port(), tempfile.mkdtemp(prefix="bench-redis-")
    proc = subprocess.Popen(["taskset", "-c", cpu, "redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "",
                             "--appendonly", "no", "--dir", directory, *args], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    for _ in range(600):
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return proc, port, directory
        except OSError:
            time.sleep(0.02)
    raise RuntimeError("redis-server did not start")


def start_node(binary: str, cpu: str, *args: str) -> tuple[subprocess.Popen, int]:
    port = free_port()
    proc = subprocess.Popen(["taskset", "-c", cpu, binary, "serve", "--headless", "--port", str(port), "--threads", "1",
                             "--stats-interval", "0", "--log-level", "warning", *args], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wait_http(port)
    return proc, port


def stop(procs: list[subprocess.Popen], directory: str | None = None) -> None:
    """Terminates the processes (killed after 30 s) and removes Redis's directory."""
    for p in procs:
        p.terminate()
    for p in procs:
        try:
            p.wait(timeout=30)
        except subprocess.TimeoutExpired:
            p.kill()
    if directory:
        shutil.rmtree(directory, ignore_errors=True)


def bench(binary: str, cpu: str, subscriber_ports: list[int], publisher_port: int, args: argparse.Namespace, rate: float | None,
          subscribers: int | None = None, extra: tuple[str, ...] = ()) -> dict:
    command = ["taskset", "-c", cpu, binary, "bench", "fanout", "--json", "--subscribers", str(subscribers or args.subscribers), "--size", "64",
               "--duration", str(args.duration), "--publisher-url", f"ws://127.0.0.1:{publisher_port}/ws", *extra]
    for port in subscriber_ports:
        command += ["--subscriber-url", f"ws://127.0.0.1:{port}/ws"]
    if rate:
        command += ["--rate", str(rate)]
    result = subprocess.run(command, capture_output=True, text=True, timeout=600)
    if not result.stdout.strip():
        raise RuntimeError(f"bench failed: {result.stderr[-2000:]}")
    return json.loads(result.stdout)


def run(args: argparse.Namespace, clustered: bool, rate: float | None) -> dict:
    procs: list[subprocess.Popen] = []
    redis_proc, directory = None, None
    try:
        if clustered:
            redis_proc, redis_port, directory = start_redis(args.server_cpu)
            nodes = [start_node(args.switchboard, args.server_cpu, "--redis", f"redis://127.0.0.1:{redis_port}", "--node-name", f"n{i}")
                     for i in range(args.nodes)]
        else:
            nodes = [start_node(args.switchboard, args.server_cpu)]
        procs = [p for p, _ in nodes]
        watched = procs + ([redis_proc] if redis_proc else [])
        before = [cpu_seconds(p.pid) for p in watched]
        result = bench(args.switchboard, args.bench_cpu, [port for _, port in nodes], nodes[0][1], args, rate)
        after = [cpu_seconds(p.pid) for p in watched]
        used = [b - a for a, b in zip(before, after)]
        node_cpu = sum(used[:len(procs)])
        redis_cpu = used[len(procs)] if redis_proc else 0.0
        return {
            "deliveries_per_s": result["deliveriesPerSecond"],
            "deliveries": result["deliveries"],
            "lost": result["lost"],
            "p50_us": result["latencyMicroseconds"]["p50"],
            "p99_us": result["latencyMicroseconds"]["p99"],
            "node_cpu_s": node_cpu,
            "redis_cpu_s": redis_cpu,
            "deliveries_per_node_cpu_s": result["deliveries"] / node_cpu if node_cpu else 0,
            "deliveries_per_cpu_s_with_redis": result["deliveries"] / (node_cpu + redis_cpu) if node_cpu else 0,
            "published": result["published"],
        }
    finally:
        stop(procs + ([redis_proc] if redis_proc else []), directory)


def one_node(args: argparse.Namespace, clustered: bool, work) -> dict:
    """Runs `work(node_proc, node_port)` against one node (with its own Redis when clustered);
    returns its result with the node's and Redis's CPU seconds."""
    redis_proc, directory = None, None
    node_args: tuple[str, ...] = ()
    if clustered:
        redis_proc, redis_port, directory = start_redis(args.server_cpu)
        node_args = ("--redis", f"redis://127.0.0.1:{redis_port}", "--node-name", "n0")
    proc, port = start_node(args.switchboard, args.server_cpu, *node_args)
    try:
        before = (cpu_seconds(proc.pid), cpu_seconds(redis_proc.pid) if redis_proc else 0.0)
        result = work(proc, port)
        after = (cpu_seconds(proc.pid), cpu_seconds(redis_proc.pid) if redis_proc else 0.0)
        result["node_cpu_s"] = after[0] - before[0]
        result["redis_cpu_s"] = after[1] - before[1]
        return result
    finally:
        for p in [proc] + ([redis_proc] if redis_proc else []):
            p.terminate()
            p.wait(timeout=30)
        if directory:
            shutil.rmtree(directory, ignore_errors=True)


def publish_run(args: argparse.Namespace, clustered: bool) -> dict:
    def work(_, port):
        result = bench(args.switchboard, args.bench_cpu, [port], port, args, args.publish_rate, subscribers=1, extra=("--publishers", "2"))
        return {"published_per_s": result["published"] / args.duration, "lost": result["lost"], "published": result["published"]}
    return one_node(args, clustered, work)


def idle_run(args: argparse.Namespace, clustered: bool) -> dict:
    def work(proc, port):
        out = subprocess.run(["taskset", "-c", args.bench_cpu, args.switchboard, "bench", "idle", "--json", "--url", f"ws://127.0.0.1:{port}/ws",
                              "--connections", str(args.idle_connections), "--server-pid", str(proc.pid)],
                             capture_output=True, text=True, timeout=600)
        return {"bytes_per_connection": json.loads(out.stdout)["serverBytesPerConnection"]}
    return one_node(args, clustered, work)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--switchboard", default=".build/release/switchboard")
    parser.add_argument("--nodes", type=int, default=3)
    parser.add_argument("--subscribers", type=int, default=3000, help="in all, spread over the nodes")
    parser.add_argument("--duration", type=float, default=5)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--open-rate", type=float, default=300, help="msg/s of the open-loop run")
    parser.add_argument("--server-cpu", default="0")
    parser.add_argument("--bench-cpu", default="1")
    parser.add_argument("--idle-connections", type=int, default=10000)
    parser.add_argument("--publish-rate", type=float, default=30000, help="msg/s of the publish run (open loop, 2 publishers, 1 subscriber)")
    args = parser.parse_args()
    rows: dict[str, list[dict]] = {}
    for _ in range(args.rounds):
        for rate in (None, args.open_rate):
            for clustered in (True, False):
                key = f"{'cluster' if clustered else 'single'} {'closed' if rate is None else f'open {rate:g}/s'}"
                rows.setdefault(key, []).append(run(args, clustered, rate))
    publishes: dict[str, list[dict]] = {}
    idle: dict[str, list[dict]] = {}
    for _ in range(args.rounds):
        for clustered in (True, False):
            key = "through Redis" if clustered else "in process"
            publishes.setdefault(key, []).append(publish_run(args, clustered))
            idle.setdefault(key, []).append(idle_run(args, clustered))
    print(f"| run ({args.subscribers} subscribers, 64 B, {args.nodes} nodes) | deliveries/s | p50 µs | p99 µs | lost | node CPU s | redis CPU s | deliveries per node CPU-s | per CPU-s incl. redis |")
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for key, results in rows.items():
        med = lambda field: statistics.median(r[field] for r in results)
        print(f"| {key} | {med('deliveries_per_s'):,.0f} | {med('p50_us'):,.0f} | {med('p99_us'):,.0f} | {sum(r['lost'] for r in results)} | "
              f"{med('node_cpu_s'):.2f} | {med('redis_cpu_s'):.2f} | {med('deliveries_per_node_cpu_s'):,.0f} | {med('deliveries_per_cpu_s_with_redis'):,.0f} |")

    print()
    print(f"| one node, {args.publish_rate:g} msg/s open loop, 2 publishers -> 1 subscriber, 64 B | publishes/s | node CPU s | redis CPU s | redis µs per publish | lost |")
    print("| --- | ---: | ---: | ---: | ---: | ---: |")
    for key, results in publishes.items():
        med = lambda field: statistics.median(r[field] for r in results)
        per = statistics.median(r["redis_cpu_s"] / r["published"] * 1e6 if r["published"] else 0 for r in results)
        print(f"| {key} | {med('published_per_s'):,.0f} | {med('node_cpu_s'):.2f} | {med('redis_cpu_s'):.2f} | {per:.1f} | {sum(r['lost'] for r in results)} |")
    print()
    print(f"| idle, {args.idle_connections} connections | server bytes per connection |")
    print("| --- | ---: |")
    for key, results in idle.items():
        print(f"| {key} | {statistics.median(r['bytes_per_connection'] for r in results):,.0f} |")


if __name__ == "__main__":
    main()
