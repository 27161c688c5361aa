#!/usr/bin/env python3
"""What history costs (issue 15's benchmark), in one invocation, on one node and through Redis.

- Publishes: one node (`--threads 1`), 2 publishers → 1 subscriber, 64 B, open loop at
  --publish-rate, with history off and with `--history-size 100`; the node's CPU and, through
  Redis, redis-server's CPU per publish (the publish script then also appends to a stream).
- Replay: `switchboard bench replay` — N messages published, then clients resume with `since`
  (through Redis: on a second node) and the replay is timed.
- Memory: server RSS per channel holding 100 kept messages of 64 B (1000 channels).

    python3 Benchmarks/history.py --switchboard .build-release/release/switchboard --rounds 3

Needs the websockets Python package (the test venv has it) for the memory run.
"""
import argparse
import asyncio
import json
import statistics
import subprocess

from cluster_fanout import bench, cpu_seconds, start_node, start_redis, stop


def resident_bytes(pid: int) -> int:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    return 0


def cluster(args, nodes: int, *node_args: str):
    """A redis-server and `nodes` nodes; returns (redis proc, directory, [(proc, port)])."""
    redis_proc, redis_port, directory = start_redis(args.server_cpu)
    started = [start_node(args.switchboard, args.server_cpu, "--redis", f"redis://127.0.0.1:{redis_port}", "--node-name", f"n{i}", *node_args)
               for i in range(nodes)]
    return redis_proc, directory, started


def publish_run(args, clustered: bool, history: bool) -> dict:
    node_args = ("--history-size", "100") if history else ()
    redis_proc, directory = None, None
    if clustered:
        redis_proc, directory, [(proc, port)] = cluster(args, 1, *node_args)
    else:
        proc, port = start_node(args.switchboard, args.server_cpu, *node_args)
    watched = [proc] + ([redis_proc] if redis_proc else [])
    try:
        before = [cpu_seconds(p.pid) for p in watched]
        result = bench(args.switchboard, args.bench_cpu, [port], port, args, args.publish_rate, subscribers=1, extra=("--publishers", "2"))
        after = [cpu_seconds(p.pid) for p in watched]
        used = [b - a for a, b in zip(before, after)]
        published = result["published"]
        return {"published_per_s": published / args.duration, "lost": result["lost"],
                "node_us": used[0] / published * 1e6 if published else 0,
                "redis_us": (used[1] / published * 1e6 if published else 0) if redis_proc else 0}
    finally:
        stop(watched, directory)


def replay_run(args, clustered: bool) -> dict:
    node_args = ("--history-size", str(args.replay_messages))
    redis_proc, directory = None, None
    if clustered:
        redis_proc, directory, started = cluster(args, 2, *node_args)
    else:
        started = [start_node(args.switchboard, args.server_cpu, *node_args)]
    procs = [p for p, _ in started] + ([redis_proc] if redis_proc else [])
    try:
        urls = [f"ws://127.0.0.1:{port}/ws" for _, port in started]
        command = ["taskset", "-c", args.bench_cpu, args.switchboard, "bench", "replay", "--json", "--url", urls[0], "--replay-url", urls[-1],
                   "--messages", str(args.replay_messages), "--rounds", "3"]
        out = subprocess.run(command, capture_output=True, text=True, timeout=600)
        if not out.stdout.strip():
            raise RuntimeError(f"bench replay failed: {out.stderr[-2000:]}")
        return json.loads(out.stdout)
    finally:
        stop(procs, directory)


async def fill_channels(url: str, channels: int, per_channel: int) -> None:
    from websockets.asyncio.client import connect
    async with connect(url, max_size=None) as ws:
        await ws.recv()
        data = json.dumps("x" * 62)
        for c in range(channels):
            for n in range(per_channel):
                last = c == channels - 1 and n == per_channel - 1
                await ws.send('{"type":"publish","channel":"mem-%d","data":%s%s}' % (c, data, ',"id":"last"' if last else ""))
        while json.loads(await ws.recv()).get("id") != "last":
            pass


def memory_run(args) -> dict:
    proc, port = start_node(args.switchboard, args.server_cpu, "--history-size", "100", "--publish-rate", "0")
    try:
        before = resident_bytes(proc.pid)
        asyncio.run(fill_channels(f"ws://127.0.0.1:{port}/ws", args.memory_channels, 100))
        after = resident_bytes(proc.pid)
        return {"bytes_per_channel": (after - before) / args.memory_channels}
    finally:
        stop([proc])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--switchboard", default=".build-release/release/switchboard")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--duration", type=float, default=5)
    parser.add_argument("--publish-rate", type=float, default=30000, help="msg/s of the publish runs (open loop, 2 publishers)")
    parser.add_argument("--replay-messages", type=int, default=10000)
    parser.add_argument("--memory-channels", type=int, default=1000)
    parser.add_argument("--server-cpu", default="0")
    parser.add_argument("--bench-cpu", default="1")
    args = parser.parse_args()
    publishes: dict[str, list[dict]] = {}
    replays: dict[str, list[dict]] = {}
    memory: list[dict] = []
    for _ in range(args.rounds):
        for clustered in (False, True):
            for history in (False, True):
                key = f"{'through Redis' if clustered else 'in process'}, history {'100' if history else 'off'}"
                publishes.setdefault(key, []).append(publish_run(args, clustered, history))
            replays.setdefault("through Redis, resumed on a second node" if clustered else "in process", []).append(replay_run(args, clustered))
        memory.append(memory_run(args))
    med = lambda rows, field: statistics.median(r[field] for r in rows)
    print(f"| {args.publish_rate:g} msg/s open loop, 2 publishers -> 1 subscriber, 64 B, one node | publishes/s | node µs per publish | redis µs per publish | lost |")
    print("| --- | ---: | ---: | ---: | ---: |")
    for key, rows in publishes.items():
        print(f"| {key} | {med(rows, 'published_per_s'):,.0f} | {med(rows, 'node_us'):.1f} | {med(rows, 'redis_us'):.1f} | {sum(r['lost'] for r in rows)} |")
    print()
    print(f"| replay of {args.replay_messages} messages of 64 B (median of 3 clients per round) | reply ms | replay ms | messages/s | complete |")
    print("| --- | ---: | ---: | ---: | --- |")
    for key, rows in replays.items():
        print(f"| {key} | {med(rows, 'replyMilliseconds'):.2f} | {med(rows, 'replayMilliseconds'):.1f} | {med(rows, 'replayedPerSecond'):,.0f} | "
              f"{'yes' if all(r['complete'] for r in rows) else 'NO'} |")
    print()
    print(f"| memory, {args.memory_channels} channels × 100 kept messages of 64 B | server bytes per channel |")
    print("| --- | ---: |")
    print(f"| in process | {statistics.median(r['bytes_per_channel'] for r in memory):,.0f} |")


if __name__ == "__main__":
    main()
