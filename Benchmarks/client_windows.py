#!/usr/bin/env python3
"""What one window of the client list costs through the admin API, on one node and across a
cluster, for one or more binaries in the same invocation.

For each binary and each topology (`--nodes 1` or more, the clustered ones on one Redis): the
nodes on core 0 (one event-loop thread each), `bench idle` from core 1 holding `--clients`
idle connections spread over the nodes (each from its own 127.0.0.N), then every query of
QUERIES asked of the first node `--repeat` times in a row. Measured per query: the median and
slowest answer time (a fresh order is made on the first ask of a view; later asks of a view
share it while current), the answer's size, and, clustered, the bytes Redis carried between
the nodes per ask (`INFO stats` total_net_input_bytes; the heartbeats of the same seconds
included).

    python3 Benchmarks/client_windows.py --binary before=/tmp/old/switchboard --binary after=.build-release/release/switchboard --clients 18000 --nodes 1,3
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
from cluster_100k import connections  # noqa: E402
from cluster_fanout import free_port, start_redis, stop, wait_http  # noqa: E402

TOKEN = "client-windows-token-0123456789abcdef"
QUERIES = [
    "sort=id&limit=40",
    "sort=id&offset=9000&limit=40",
    "sort=remote&limit=40",
    "sort=remote&offset=9000&limit=40",
    "sort=idle&offset=9000&limit=40",
    "sort=rate&order=desc&limit=40",
]


def ask(port, query):
    request = urllib.request.Request(f"http://127.0.0.1:{port}/api/clients?{query}", headers={"Authorization": f"Bearer {TOKEN}"})
    began = time.monotonic()
    with urllib.request.urlopen(request, timeout=30) as response:
        body = response.read()
    return (time.monotonic() - began) * 1000, len(body)


def redis_input_bytes(port):
    info = subprocess.run(["redis-cli", "-p", str(port), "INFO", "stats"], capture_output=True, text=True).stdout
    for line in info.splitlines():
        if line.startswith("total_net_input_bytes:"):
            return int(line.split(":")[1])
    return 0


def run(binary, clients, node_count, repeat):
    redis_proc, redis_port, directory = start_redis("0") if node_count > 1 else (None, None, None)
    nodes, loads = [], []
    try:
        for index in range(node_count):
            port = free_port()
            cluster = ["--redis", f"redis://127.0.0.1:{redis_port}", "--node-name", f"n{index + 1}"] if redis_port else []
            nodes.append(subprocess.Popen(
                ["taskset", "-c", "0", binary, "serve", "--headless", "--port", str(port), "--threads", "1", "--stats-interval", "0",
                 "--log-level", "warning", "--admin-token", TOKEN, *cluster], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
            wait_http(port)
            nodes[-1].port = port
        per_node = -(-clients // node_count)
        for index, node in enumerate(nodes):
            loads.append(subprocess.Popen(
                ["taskset", "-c", "1", binary, "bench", "idle", "--url", f"ws://127.0.0.1:{node.port}/ws", "--connections",
                 str(min(per_node, clients - index * per_node)), "--hold", "3600", "--source", f"127.0.0.{index + 2}"],
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        deadline = time.monotonic() + 300
        while sum(connections(node.port) for node in nodes) < clients:
            if time.monotonic() > deadline:
                raise RuntimeError(f"only {[connections(node.port) for node in nodes]} of {clients} connected")
            time.sleep(0.5)
        time.sleep(3)
        results = {}
        for query in QUERIES:
            before = redis_input_bytes(redis_port) if redis_port else 0
            timings = [ask(nodes[0].port, query) for _ in range(repeat)]
            carried = (redis_input_bytes(redis_port) - before) / repeat if redis_port else None
            results[query] = {"median_ms": statistics.median(t for t, _ in timings), "max_ms": max(t for t, _ in timings),
                              "bytes": timings[-1][1], "redis_bytes_per_ask": carried}
        return results
    finally:
        for load in loads:
            load.kill()
            load.wait()
        stop(nodes + ([redis_proc] if redis_proc else []), directory)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--binary", action="append", required=True, help="NAME=PATH (repeat to compare in one invocation)")
    parser.add_argument("--clients", type=int, default=18_000)
    parser.add_argument("--nodes", default="1,3", help="topologies: node counts, comma-separated")
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    rows = []
    for node_count in [int(n) for n in args.nodes.split(",")]:
        for name, path in (entry.split("=", 1) for entry in args.binary):
            results = run(os.path.abspath(path), args.clients, node_count, args.repeat)
            print(json.dumps({"binary": name, "nodes": node_count, "results": results}), file=sys.stderr, flush=True)
            rows += [(name, node_count, query, result) for query, result in results.items()]
    print("| binary | nodes | `/api/clients?…` | median | slowest | answer | Redis bytes per ask |")
    print("| --- | ---: | --- | ---: | ---: | ---: | ---: |")
    for name, node_count, query, result in rows:
        carried = "-" if result["redis_bytes_per_ask"] is None else f"{result['redis_bytes_per_ask'] / 1024:.0f} KiB"
        print(f"| {name} | {node_count} | `{query}` | {result['median_ms']:.1f} ms | {result['max_ms']:.1f} ms | "
              f"{result['bytes'] / 1024:.1f} KiB | {carried} |")


if __name__ == "__main__":
    main()
