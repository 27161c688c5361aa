#!/usr/bin/env python3
"""One Redis against a three-master Redis Cluster under the same load, in one invocation
(issue 30's benchmark).

Each round runs both topologies, one Redis then the cluster (ABAB: noise hits both):

  one Redis  a redis-server master and one replica (`--replicaof`, waited for until in sync);
             nodes on `--redis redis://…`
  cluster    three masters with a replica each (`redis-cli --cluster create … --cluster-replicas 1`,
             `cluster-node-timeout 1000`: Tests/EndToEnd/test_redis_cluster.py's RedisClusterSetup,
             imported); nodes on `--redis redis+cluster://` the three masters

Every redis-server and every node (`--threads 1`, `--publish-rate 0`) is pinned to the server
core; the load to the bench core. `switchboard bench fanout` uses one channel, so the load is one
`bench fanout` process per channel, all at once: --channels channels (`room-N`) chosen so that
their partitions' slots (pub/sub name `switchboard:{p}{channel}`, p = slot mod 64, checked with
CLUSTER KEYSLOT) fall on the masters in turn, channel i's publisher on node i mod N and its
subscribers spread over all nodes (the publisher's node first), so 2 of 3 deliveries cross nodes.
The same channels in both topologies. Runs:

  fan-out    --subscribers per channel (3 channels × 1000 = 1000 per node on 3 nodes), 64 B,
             closed loop (window 64 each), then open loop at --open-rate per channel
  publish    per channel 2 publishers (closed loop, window 64) → 1 subscriber on the next node:
             publishes per second and what each costs Redis, per shard

Around each run: CPU seconds (/proc) of every node and every redis-server, over the whole run
(connects included), divided by the publishes: node µs per publish, Redis µs per publish in
total, and per shard (a master, its replica) divided by the publishes to that shard's channels;
the server core's busy time less ours (other engineers' processes, steal). After each run:
the nodes' connections to every redis-server (`CLIENT LIST`, names `switchboard-<node>` and
`switchboard-<node>-sub`). Prints markdown tables of medians (ranges of the rates) and one JSON
line per run on stderr.

    .venv-test/bin/python Benchmarks/redis_cluster.py --switchboard .build-release/release/switchboard --rounds 3
"""
import argparse
import binascii
import concurrent.futures
import json
import os
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "..", "Tests", "EndToEnd"))
from ack_replicas import core_busy_seconds, median, print_others_on_server_core, spaced, spread, tenths, wait_in_sync  # noqa: E402
from cluster_fanout import bench, cpu_seconds, start_node, start_redis, stop  # noqa: E402
from conftest import pubsub_name  # noqa: E402
from test_redis_cluster import RedisClusterSetup  # noqa: E402


def slot(name: str) -> int:
    """Redis Cluster's key slot (CRC16-XMODEM of the first hash tag, mod 16384)."""
    start = name.find("{")
    if start >= 0:
        end = name.find("}", start + 1)
        if end > start + 1:
            name = name[start + 1:end]
    return binascii.crc_hqx(name.encode(), 0) % 16384


def spread_channels(count: int, shards: int = 3) -> list[str]:
    """`room-N` channels whose slots fall in the thirds `redis-cli --cluster create` gives the
    three masters (0–5460, 5461–10922, 10923–16383), channel i in third i mod 3."""
    bounds = [(0, 5460), (5461, 10922), (10923, 16383)][:shards]
    chosen: list[str] = []
    n = 0
    while len(chosen) < count:
        low, high = bounds[len(chosen) % len(bounds)]
        channel = f"room-{n}"
        if low <= slot(pubsub_name(channel)) <= high and channel not in chosen:
            chosen.append(channel)
            n = 0
        else:
            n += 1
    return chosen


def cli(port: int, *args: str) -> str:
    return subprocess.run(["redis-cli", "-p", str(port), *args], capture_output=True, text=True, timeout=30).stdout.strip()


def pin(pid: int, cpu: str) -> None:
    subprocess.run(["taskset", "-a", "-p", "-c", cpu, str(pid)], capture_output=True, check=True)


# MARK: - Topologies


class Topology:
    """Redis (one master and replica, or the cluster) and the nodes on it.
    `shards`: [(name, master proc, master port, replica proc, replica port)]; `shard_of[channel]`."""

    name = ""

    def start_nodes(self, args: argparse.Namespace, url: str) -> None:
        self.nodes: list[tuple[subprocess.Popen, int]] = []
        for i in range(args.nodes):
            self.nodes.append(start_node(args.switchboard, args.server_cpu, "--redis", url, "--node-name", f"n{i}", "--publish-rate", "0"))

    def redis_procs(self) -> list[subprocess.Popen]:
        return [p for shard in self.shards for p in (shard[1], shard[3])]

    def connections(self) -> dict[str, dict[str, int]]:
        """Per node: its connections to Redis, commands and subscribers, over every server."""
        counts: dict[str, dict[str, int]] = {}
        for shard in self.shards:
            for port in (shard[2], shard[4]):
                for line in cli(port, "CLIENT", "LIST").splitlines():
                    fields = dict(part.split("=", 1) for part in line.split() if "=" in part)
                    name = fields.get("name", "")
                    if not name.startswith("switchboard-"):
                        if not name and "S" not in fields.get("flags", "") and fields.get("cmd") != "client|list":
                            counts.setdefault("unnamed", {"cmd": 0, "sub": 0, "on_replicas": 0})["cmd"] += 1
                        continue
                    node, kind = (name[len("switchboard-"):-len("-sub")], "sub") if name.endswith("-sub") else (name[len("switchboard-"):], "cmd")
                    entry = counts.setdefault(node, {"cmd": 0, "sub": 0, "on_replicas": 0})
                    entry[kind] += 1
                    if port == shard[4]:
                        entry["on_replicas"] += 1
        return counts

    def stop(self) -> None:
        stop([p for p, _ in getattr(self, "nodes", [])])


class OneRedis(Topology):
    name = "one Redis"

    def __init__(self, args: argparse.Namespace, channels: list[str]):
        master, master_port, master_dir = start_redis(args.server_cpu, "--repl-diskless-sync-delay", "0")
        replica, replica_port, replica_dir = start_redis(args.server_cpu, "--replicaof", "127.0.0.1", str(master_port))
        self.directories = [master_dir, replica_dir]
        self.shards = [("master", master, master_port, replica, replica_port)]
        self.shard_of = {channel: 0 for channel in channels}
        try:
            wait_in_sync(master_port, replica_port)
            self.start_nodes(args, f"redis://127.0.0.1:{master_port}")
        except BaseException:
            self.stop()
            raise

    def stop(self) -> None:
        super().stop()
        stop(self.redis_procs())
        for directory in self.directories:
            stop([], directory)


class RedisCluster(Topology):
    name = "cluster"

    def __init__(self, args: argparse.Namespace, channels: list[str]):
        self.setup = RedisClusterSetup()
        try:
            for proc in self.setup.procs.values():
                pin(proc.pid, args.server_cpu)
            by_id = {n[0]: n for n in self.setup.nodes()}
            port_of = lambda node: int(node[1].split(":")[1].split("@")[0])
            masters = sorted((n for n in by_id.values() if "master" in n[2]), key=lambda n: min(
                int(part.split("-")[0]) for part in n[8:] if not part.startswith("[")))
            self.shards = []
            for i, master in enumerate(masters):
                replica = next(n for n in by_id.values() if "slave" in n[2] and n[3] == master[0])
                self.shards.append((f"shard {i}", self.setup.procs[port_of(master)], port_of(master),
                                    self.setup.procs[port_of(replica)], port_of(replica)))
            self.shard_of = {}
            for channel in channels:
                keyslot = int(cli(self.shards[0][2], "CLUSTER", "KEYSLOT", pubsub_name(channel)))
                assert keyslot == slot(pubsub_name(channel)), (channel, keyslot)
                _, port = self.setup.master_of(keyslot)
                self.shard_of[channel] = next(i for i, shard in enumerate(self.shards) if shard[2] == port)
            self.start_nodes(args, self.setup.url)
        except BaseException:
            self.stop()
            raise

    def stop(self) -> None:
        super().stop()
        self.setup.stop()


# MARK: - Runs


def measure(args: argparse.Namespace, topology: Topology, channels: list[str], loads: list[dict]) -> dict:
    """Runs one `bench fanout` per channel at once (`loads[i]`: subscriber ports, publisher port,
    rate, subscribers, extra flags) and adds CPU per publish, per shard, and the connections."""
    procs = [p for p, _ in topology.nodes]
    redis = topology.redis_procs()
    before = [cpu_seconds(p.pid) for p in procs + redis]
    core_before, wall_before = core_busy_seconds(args.server_cpu), time.monotonic()
    with concurrent.futures.ThreadPoolExecutor(len(loads)) as pool:
        futures = [pool.submit(bench, args.switchboard, args.bench_cpu, load["subscriber_ports"], load["publisher_port"], args,
                               load["rate"], load["subscribers"], ("--channel", channel, *load["extra"]))
                   for channel, load in zip(channels, loads)]
        results = [f.result() for f in futures]
    core_after, wall_after = core_busy_seconds(args.server_cpu), time.monotonic()
    after = [cpu_seconds(p.pid) for p in procs + redis]
    used = [b - a for a, b in zip(before, after)]
    node_cpu, redis_used = sum(used[:len(procs)]), used[len(procs):]
    published = sum(r["published"] for r in results)
    cross = 0.0
    for load, r in zip(loads, results):
        ports = load["subscriber_ports"]
        subs = load["subscribers"] or args.subscribers
        on_publisher = sum(1 for i in range(subs) if ports[i % len(ports)] == load["publisher_port"])
        cross += r["deliveriesPerSecond"] * (subs - on_publisher) / subs
    out = {
        "deliveries": sum(r["deliveries"] for r in results),
        "deliveries_per_s": sum(r["deliveriesPerSecond"] for r in results),
        "cross_per_s": cross,
        "published": published, "published_per_s": published / args.duration,
        "lost": sum(r["lost"] for r in results), "refused": sum(r["refused"] for r in results),
        "closed": sum(r["closedSubscribers"] for r in results), "out_of_order": sum(r["outOfOrder"] for r in results),
        "p50_us": statistics.median(r["latencyMicroseconds"]["p50"] for r in results),
        "p99_us": max(r["latencyMicroseconds"]["p99"] for r in results),
        "per_channel": [{"channel": c, "published": r["published"], "lost": r["lost"], "p50": r["latencyMicroseconds"]["p50"],
                         "p99": r["latencyMicroseconds"]["p99"]} for c, r in zip(channels, results)],
        "node_cpu_s": node_cpu, "redis_cpu_s": sum(redis_used),
        "node_us": node_cpu * 1e6 / max(1, published), "redis_us": sum(redis_used) * 1e6 / max(1, published),
        "others_on_server_core": (core_after - core_before - node_cpu - sum(redis_used)) / (wall_after - wall_before),
        "connections": topology.connections(),
    }
    for i, shard in enumerate(topology.shards):
        shard_published = sum(r["published"] for c, r in zip(channels, results) if topology.shard_of[c] == i)
        master_s, replica_s = redis_used[2 * i], redis_used[2 * i + 1]
        out[f"shard{i}_published"] = shard_published
        out[f"shard{i}_master_s"], out[f"shard{i}_replica_s"] = master_s, replica_s
        out[f"shard{i}_master_us"] = master_s * 1e6 / shard_published if shard_published else None
        out[f"shard{i}_replica_us"] = replica_s * 1e6 / shard_published if shard_published else None
    return out


def fanout_loads(topology: Topology, channels: list[str], rate: float | None) -> list[dict]:
    ports = [port for _, port in topology.nodes]
    loads = []
    for i, _ in enumerate(channels):
        k = i % len(ports)
        loads.append({"subscriber_ports": ports[k:] + ports[:k], "publisher_port": ports[k], "rate": rate, "subscribers": None, "extra": ()})
    return loads


def publish_loads(topology: Topology, channels: list[str]) -> list[dict]:
    ports = [port for _, port in topology.nodes]
    return [{"subscriber_ports": [ports[(i + 1) % len(ports)]], "publisher_port": ports[i % len(ports)], "rate": None, "subscribers": 1,
             "extra": ("--publishers", "2")} for i, _ in enumerate(channels)]


# MARK: - Report


def connections_text(results: list[dict]) -> str:
    """`cmd + sub` per node as the last run saw them (all runs agree, or each differing one is listed)."""
    seen = sorted({json.dumps(r["connections"], sort_keys=True) for r in results})
    texts = []
    for text in seen:
        per_node = json.loads(text)
        texts.append(", ".join(f"{node}: {c['cmd']} + {c['sub']}" + (f" ({c['on_replicas']} on replicas)" if c["on_replicas"] else "")
                               for node, c in sorted(per_node.items())))
    return " / ".join(texts)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--switchboard", default=".build/release/switchboard")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--duration", type=float, default=5)
    parser.add_argument("--nodes", type=int, default=3)
    parser.add_argument("--channels", type=int, default=3, help="channels (one `bench fanout` each), over the masters in turn")
    parser.add_argument("--subscribers", type=int, default=1000, help="per channel, spread over the nodes")
    parser.add_argument("--open-rate", type=float, default=100, help="msg/s per channel of the open-loop fan-out (0: none)")
    parser.add_argument("--server-cpu", default="0")
    parser.add_argument("--bench-cpu", default="1")
    parser.add_argument("--only", choices=["one", "cluster"], default=None, help="run one topology only (a check)")
    args = parser.parse_args()
    channels = spread_channels(args.channels)
    kinds = [OneRedis, RedisCluster] if args.only is None else [OneRedis if args.only == "one" else RedisCluster]
    rates = [None] + ([args.open_rate] if args.open_rate else [])
    fanout: dict[tuple, list[dict]] = {}
    publishes: dict[str, list[dict]] = {}
    try:
        run_rounds(args, channels, kinds, rates, fanout, publishes)
    except KeyboardInterrupt:
        print("interrupted: the tables hold the runs finished so far", file=sys.stderr)
    print_tables(args, channels, fanout, publishes)


def run_rounds(args, channels, kinds, rates, fanout, publishes) -> None:
    for round_ in range(args.rounds):
        for kind in kinds:
            topology = kind(args, channels)
            try:
                for rate in rates:
                    result = measure(args, topology, channels, fanout_loads(topology, channels, rate))
                    print(json.dumps({"round": round_, "topology": topology.name, "rate": rate, **result}), file=sys.stderr, flush=True)
                    fanout.setdefault((rate, topology.name), []).append(result)
                result = measure(args, topology, channels, publish_loads(topology, channels))
                print(json.dumps({"round": round_, "topology": topology.name, "publish": True, **result}), file=sys.stderr, flush=True)
                publishes.setdefault(topology.name, []).append(result)
            finally:
                topology.stop()


def print_tables(args, channels, fanout, publishes) -> None:
    print(f"Channels: {', '.join(f'{c} (slot {slot(pubsub_name(c))})' for c in channels)}; "
          f"{args.rounds} rounds, {args.duration:g} s each run; medians, ranges in brackets.")
    print()
    per_node = args.subscribers * args.channels // args.nodes
    print(f"| fan-out, {args.channels} channels × 1 → {args.subscribers}, 64 B, {args.nodes} nodes ({per_node} subscribers each) | Redis | "
          f"deliveries/s | cross-node deliveries/s | publishes/s | p50 µs | p99 µs (worst channel) | node µs per publish | Redis µs per publish | "
          f"lost, refused, closed |")
    print("| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for (rate, name), results in sorted(fanout.items(), key=lambda item: (item[0][0] or 0, item[0][1] != "one Redis")):
        print(f"| {'closed loop' if rate is None else f'open loop {rate:g} msg/s per channel'} | {name} | {spread(results, 'deliveries_per_s')} | "
              f"{spaced(median(results, 'cross_per_s'))} | {spread(results, 'published_per_s')} | {spaced(median(results, 'p50_us'))} | "
              f"{spaced(median(results, 'p99_us'))} | {tenths(median(results, 'node_us'))} | {tenths(median(results, 'redis_us'))} | "
              f"{sum(r['lost'] for r in results)}, {sum(r['refused'] for r in results)}, {sum(r['closed'] for r in results)} |")
    print()
    print(f"| publishes, {args.channels} channels × (2 publishers → 1 subscriber on the next node), closed loop, 64 B | Redis | publishes/s | "
          f"p50 µs | p99 µs (worst channel) | node µs per publish | Redis µs per publish (all servers) | lost, refused |")
    print("| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |")
    for name, results in publishes.items():
        print(f"| publish → receive across nodes | {name} | {spread(results, 'published_per_s')} | {spaced(median(results, 'p50_us'))} | "
              f"{spaced(median(results, 'p99_us'))} | {tenths(median(results, 'node_us'))} | {tenths(median(results, 'redis_us'))} | "
              f"{sum(r['lost'] for r in results)}, {sum(r['refused'] for r in results)} |")
    print()
    print("| Redis CPU per publish, per shard (master µs + replica µs, ÷ that shard's publishes) | Redis | run | shard 0 | shard 1 | shard 2 | "
          "publishes per shard |")
    print("| --- | --- | --- | ---: | ---: | ---: | --- |")
    cases = [(f"fan-out {'closed loop' if rate is None else f'open loop {rate:g}/s'}", name, results) for (rate, name), results in
             sorted(fanout.items(), key=lambda item: (item[0][0] or 0, item[0][1] != "one Redis"))]
    cases += [("publishes", name, results) for name, results in publishes.items()]
    for run_name, name, results in cases:
        cells, counts = [], []
        for i in range(3):
            if f"shard{i}_master_us" not in results[0]:
                cells.append("—")
                continue
            cells.append(f"{tenths(median(results, f'shard{i}_master_us'))} + {tenths(median(results, f'shard{i}_replica_us'))}")
            counts.append(spaced(median(results, f"shard{i}_published")))
        print(f"| | {name} | {run_name} | {' | '.join(cells)} | {' / '.join(counts)} |")
    print()
    print("| nodes' connections to Redis, commands + subscribers (CLIENT LIST on every server) | Redis | per node |")
    print("| --- | --- | --- |")
    for name in dict.fromkeys(n for (_, n) in fanout):
        everything = [r for (rate, n), results in fanout.items() if n == name for r in results] + publishes.get(name, [])
        print(f"| | {name} | {connections_text(everything)} |")
    everything = [r for results in (*fanout.values(), *publishes.values()) for r in results]
    print_others_on_server_core(everything, args.server_cpu)


if __name__ == "__main__":
    main()
